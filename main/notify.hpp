// systemd's service notification protocol (sd_notify(3)), spoken directly:
// one datagram per state change to the AF_UNIX socket named by
// $NOTIFY_SOCKET ('@' at its start: the abstract namespace). Without that
// variable every call does nothing, so the server behaves the same outside
// systemd. The watchdog interval comes from $WATCHDOG_USEC (ignored when
// $WATCHDOG_PID names another process), as sd_watchdog_enabled(3) reads it.
//
// The server sends READY=1 once cc-socket is bound and every handler and
// daemon started, RELOADING=1 ... READY=1 around a SIGHUP reload, STOPPING=1
// when a shutdown begins, and WATCHDOG=1 every half interval while its
// router answers (a stuck actor system stops the pings; systemd restarts it).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace cc::cli {

class systemd_notifier {
public:
  /// Reads the environment.
  systemd_notifier();
  ~systemd_notifier();
  systemd_notifier(const systemd_notifier&) = delete;
  systemd_notifier& operator=(const systemd_notifier&) = delete;

  bool enabled() const {
    return fd_ >= 0;
  }

  /// Sends `state` ("READY=1\nSTATUS=...") as one datagram; false when it
  /// could not be sent (or notification is off).
  bool send(const std::string& state);

  /// How often WATCHDOG=1 is due (half of WATCHDOG_USEC), if systemd asked.
  std::optional<std::chrono::milliseconds> watchdog_every() const {
    return watchdog_every_;
  }

  /// "MONOTONIC_USEC=<now>", which systemd wants with RELOADING=1.
  static std::string monotonic_now();

private:
  int fd_ = -1;
  std::string path_; // as in $NOTIFY_SOCKET
  std::optional<std::chrono::milliseconds> watchdog_every_;
};

} // namespace cc::cli
