// sd_notify's protocol (contract: main/notify.hpp).
#include "main/notify.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace cc::cli {

systemd_notifier::systemd_notifier() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path != nullptr && (path[0] == '/' || path[0] == '@')
      && std::strlen(path) < sizeof(sockaddr_un::sun_path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    path_ = path;
  }
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  bool ours = pid == nullptr || std::strtol(pid, nullptr, 10) == ::getpid();
  if (usec != nullptr && ours) {
    char* end = nullptr;
    auto us = std::strtoull(usec, &end, 10);
    if (end != usec && *end == '\0' && us > 0)
      watchdog_every_ =
          std::chrono::milliseconds{std::max<unsigned long long>(1, us / 2000)};
  }
}

systemd_notifier::~systemd_notifier() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool systemd_notifier::send(const std::string& state) {
  if (fd_ < 0)
    return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  if (path_[0] == '@')
    addr.sun_path[0] = '\0'; // abstract namespace: no terminating NUL
  else
    len += 1;
  for (;;) {
    auto n = ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                      reinterpret_cast<sockaddr*>(&addr), len);
    if (n >= 0)
      return true;
    if (errno != EINTR)
      return false;
  }
}

std::string systemd_notifier::monotonic_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  auto us = static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL
            + static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
  return "MONOTONIC_USEC=" + std::to_string(us);
}

} // namespace cc::cli
