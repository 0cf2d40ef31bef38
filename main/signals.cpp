// The signal descriptor on the I/O loop: see signals.hpp.
#include "main/signals.hpp"

#include <cerrno>
#include <csignal>
#include <system_error>

#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <caf/send.hpp>

namespace cc::cli {

namespace {

sigset_t handled() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

class signal_client : public io_client {
public:
  signal_client(int fd, caf::actor target) : fd_(fd), target_(std::move(target)) {
  }

  ~signal_client() override {
    ::close(fd_);
  }

  void poll_items(std::vector<zmq_pollitem_t>& items) override {
    items.push_back(zmq_pollitem_t{nullptr, fd_, ZMQ_POLLIN, 0});
  }

  void on_ready(zmq_pollitem_t* items, size_t count) override {
    if (count == 0 || (items[0].revents & ZMQ_POLLIN) == 0)
      return;
    signalfd_siginfo info;
    while (::read(fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info)))
      caf::anon_send(target_, static_cast<int>(info.ssi_signo));
  }

private:
  int fd_;
  caf::actor target_;
};

} // namespace

signal_watch::signal_watch(caf::actor target) {
  sigset_t set = handled();
  int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0)
    throw std::system_error{errno, std::generic_category(), "signalfd"};
  on_loop_ = std::make_unique<io_attachment>(
    io_loop::shared(), std::make_shared<signal_client>(fd, std::move(target)));
}

signal_watch::~signal_watch() = default;

void signal_watch::block() {
  sigset_t set = handled();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

} // namespace cc::cli
