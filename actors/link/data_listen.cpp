// The central end of data connections: see data_listen.hpp.
#include "actors/link/data_listen.hpp"

#include <cerrno>
#include <cstring>
#include <optional>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actors/core/router.hpp"
#include "actors/link/data_frame.hpp"
#include "actors/link/zmq_roles.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"

namespace cc {

namespace {

const char* who = "gateway";

// A connection reads at most this much per round of the loop, so one busy
// sender does not hold the loop from the others.
constexpr size_t read_per_round = 4u << 20;

struct connection {
  int fd = -1;
  std::string peer;  // IP address, for log lines
  data_frame::decoder dec;

  connection(int f, std::string p, uint64_t max_blob)
    : fd(f), peer(std::move(p)), dec(max_blob) {
  }
};

caf::error io_error(const std::string& what) {
  return make_error(errc::io, std::string{"data-port: "} + what + ": " +
                                std::strerror(errno));
}

// A listening descriptor on host:port (nonblocking).
caf::expected<int> listen_on(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  bool any = host.empty() || host == "*";
  if (int rc = ::getaddrinfo(any ? nullptr : host.c_str(), service.c_str(),
                             &hints, &found);
      rc != 0 || found == nullptr)
    return make_error(errc::config_invalid,
                      "data-port: cannot resolve '" + host + "': " + gai_strerror(rc));
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  bool ok = fd >= 0 &&
            ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
            ::bind(fd, found->ai_addr, found->ai_addrlen) == 0 &&
            ::listen(fd, 128) == 0;
  ::freeaddrinfo(found);
  if (ok)
    return fd;
  auto err = io_error("cannot listen on " + host + ":" + service);
  if (fd >= 0)
    ::close(fd);
  return err;
}

int bound_port(int fd) {
  sockaddr_storage sa{};
  socklen_t len = sizeof(sa);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return 0;
  if (sa.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
}

} // namespace

class data_listener::engine : public io_client {
public:
  engine(int fd, uint64_t max_blob, events ev)
    : listen_fd_(fd), max_blob_(max_blob), ev_(std::move(ev)) {
  }

  ~engine() override {
    close_all();
  }

  data_listen_counters counters;

  void poll_items(std::vector<zmq_pollitem_t>& items) override {
    if (listen_fd_ < 0)
      return;
    items.push_back({nullptr, listen_fd_, ZMQ_POLLIN, 0});
    reading_ = !(ev_.paused && ev_.paused());
    polled_ = reading_ ? conns_.size() : 0;
    for (size_t i = 0; i < polled_; ++i)
      items.push_back({nullptr, conns_[i]->fd, ZMQ_POLLIN, 0});
  }

  void on_ready(zmq_pollitem_t* items, size_t count) override {
    if (count == 0)
      return;
    // Backwards: a closed connection is swapped out with the last one.
    for (size_t i = std::min(polled_, count - 1); i > 0; --i)
      if ((items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) != 0)
        read_from(i - 1);
    if ((items[0].revents & ZMQ_POLLIN) != 0)
      accept_all();
  }

  void on_loop_end() override {
    close_all();
  }

  void close_all() {
    for (auto& c : conns_)
      ::close(c->fd);
    counters.open -= static_cast<int64_t>(conns_.size());
    conns_.clear();
    if (listen_fd_ >= 0)
      ::close(listen_fd_);
    listen_fd_ = -1;
  }

private:
  void accept_all() {
    for (;;) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        return;
      auto peer = zmq_detail::peer_ip(fd);
      if (conns_.size() >= max_connections) {
        ::close(fd);
        refuse(peer, "more than " + std::to_string(max_connections) +
                       " data connections");
        continue;
      }
      ++counters.accepted;
      ++counters.open;
      conns_.push_back(std::make_unique<connection>(fd, std::move(peer), max_blob_));
    }
  }

  // Reads what connection `i` has (up to read_per_round); closes it at its
  // end or at bad input.
  void read_from(size_t i) {
    auto& c = *conns_[i];
    size_t taken = 0;
    while (taken < read_per_round && !(ev_.paused && ev_.paused())) {
      auto space = c.dec.want();
      auto n = ::read(c.fd, space.data, space.size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      if (n <= 0)
        return drop(i, c.dec.at_boundary() ? std::string{}
                       : n == 0 ? "closed in the middle of a message"
                                : std::string{"read: "} + std::strerror(errno));
      taken += static_cast<size_t>(n);
      counters.bytes += n;
      if (auto err = c.dec.commit(static_cast<size_t>(n)))
        return drop(i, describe(err));
      if (auto msg = c.dec.take())
        deliver(c, std::move(*msg));
    }
  }

  void deliver(connection& c, data_frame::decoded&& msg) {
    ++counters.messages;
    std::vector<std::string> frames;
    frames.reserve(msg.frames.size() + 1);
    frames.push_back(*c.dec.routing_id());
    for (auto& f : msg.frames)
      frames.push_back(std::move(f));
    if (ev_.on_frames)
      ev_.on_frames(std::move(frames), std::move(msg.blob));
  }

  // Closes connection `i`; `why` non-empty: bad input (counted, logged).
  void drop(size_t i, const std::string& why) {
    auto peer = conns_[i]->peer;
    ::close(conns_[i]->fd);
    --counters.open;
    conns_[i] = std::move(conns_.back());
    conns_.pop_back();
    if (!why.empty())
      refuse(peer, why);
  }

  void refuse(const std::string& peer, const std::string& why) {
    ++counters.refused;
    if (auto n = refusal_log_.admit(peer + "\n" + why, log_limiter::clock::now()))
      log::warning(who, "data connection from " +
                          (peer.empty() ? std::string{"an unknown address"} : peer) +
                          " closed: " + why +
                          (*n > 0 ? " (" + std::to_string(*n) + " more since the last line)"
                                  : std::string{}));
  }

  int listen_fd_;
  uint64_t max_blob_;
  events ev_;
  std::vector<std::unique_ptr<connection>> conns_;
  size_t polled_ = 0;
  bool reading_ = true;
  log_limiter refusal_log_{std::chrono::minutes{1}, 4096};
};

caf::expected<std::unique_ptr<data_listener>>
data_listener::start(std::shared_ptr<io_loop> loop, const std::string& host,
                     int port, uint64_t max_blob, events ev) {
  auto fd = listen_on(host, port);
  if (!fd)
    return std::move(fd.error());
  std::unique_ptr<data_listener> out{new data_listener};
  out->port_ = bound_port(*fd);
  out->engine_ = std::make_shared<engine>(*fd, max_blob, std::move(ev));
  out->attachment_ = std::make_unique<io_attachment>(std::move(loop), out->engine_);
  out->attachment_->loop().wake();
  return out;
}

void data_listener::stop() {
  attachment_.reset();
  engine_->close_all();
}

data_listener::~data_listener() {
  stop();
}

const data_listen_counters& data_listener::counters() const {
  return engine_->counters;
}

void data_listener::add_stats(cc::counters& out) const {
  const auto& c = engine_->counters;
  out["data_port"] = port_;
  out["data_accepted"] = c.accepted.load();
  out["data_open"] = c.open.load();
  out["data_messages"] = c.messages.load();
  out["data_bytes_in"] = c.bytes.load();
  out["data_refused"] = c.refused.load();
}

} // namespace cc
