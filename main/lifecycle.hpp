// The running server's main loop, apart from the process around it (main/
// serve.cpp) so that a test can drive it: what each event does, in which
// order, and what systemd is told (main/notify.hpp).
//
// Events:  SIGINT, SIGTERM: stop. SIGHUP: RELOADING=1, reload_config,
//          READY=1 (STATUS=up, or "reload failed" and stop). An actor of
//          the tree down unexpectedly: stop with exit status 1. Between
//          events, the watchdog's keep-alive when due.
// reload_config (SIGHUP's steps): reopen the logfile, load the file again;
//          invalid -> every diagnostic logged, nothing changes; valid ->
//          logfile and log format switched, settings that need a restart
//          named, the actor tree rebuilt (actors/actor_tree.hpp).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/scoped_actor.hpp>

#include "actors/actor_tree.hpp"
#include "config/config.hpp"

namespace cc::cli {

/// Where the loop's state changes go: systemd's notifier in the server, a
/// list in a test.
using notify_fn = std::function<void(const std::string&)>;

/// Every diagnostic of a load, to the log.
void log_diagnostics(const config::load_result& res);

/// SIGHUP's steps (above), compared with the tree's running configuration;
/// `logfile` is the log's path, before and after. reloaded and
/// kept_previous leave the server running, failed ends it. Without
/// `middleman_loaded` a file that uses a CAF link (main/serve.hpp
/// caf_link_use) is refused as kept_previous, the use named.
actor_tree::reload_outcome reload_config(actor_tree& tree, const std::string& config_path,
                                         std::string& logfile, bool middleman_loaded = true);

/// systemd's watchdog (WATCHDOG_USEC): WATCHDOG=1 every `every`, and only
/// while the tree's router answers within half of it.
class watchdog {
public:
  watchdog(std::optional<std::chrono::milliseconds> every, notify_fn notify);

  /// How long the main loop may wait for a message before check() is due.
  std::chrono::milliseconds wait() const;

  /// Sends the keep-alive if it is due and `tree` answers.
  void check(actor_tree& tree);

private:
  std::optional<std::chrono::milliseconds> every_;
  notify_fn notify_;
  std::chrono::steady_clock::time_point next_;
};

/// The loop of a started server: takes signals (int messages) and down
/// messages on `self` until it must stop.
class server_loop {
public:
  server_loop(actor_tree& tree, caf::scoped_actor& self, std::string config_path,
              std::string logfile, notify_fn notify, watchdog& dog);

  /// Until SIGINT, SIGTERM, a failed reload or an actor down unexpectedly.
  /// The exit status: exit_ok, or exit_failure.
  int run();

  /// One signal: false when the server must stop (status set).
  bool on_signal(int sig);

  int status() const {
    return status_;
  }

private:
  /// The next signal (a deferred one first), or 0 after a down message or
  /// the watchdog's wait.
  int next_event();

  actor_tree& tree_;
  caf::scoped_actor& self_;
  std::string config_path_;
  std::string logfile_;
  notify_fn notify_;
  watchdog& dog_;
  int status_;
};

} // namespace cc::cli
