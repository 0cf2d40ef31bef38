// The jobmgr (handler kind jobmgr, SPEC §5): spawns every daemon section of
// its `daemons` list as a monitored child and restarts a child that fails,
// after watchdog-formula-a + watchdog-formula-b * (starts - 1) seconds
// (capped by watchdog-formula-cap unless 0); the start count goes back to 1
// once a child has run for watchdog-reset seconds.
//
// Owns: its children (daemon actors, e.g. tailers).
// Takes:  (dispatch_atom, cc_message)  job.* messages routed to it: logged at
//                                      debug, answered ok_atom
//         (stats_atom, stats_actor)    register every daemon with the stats
//                                      actor as (register_atom, section, daemon),
//                                      now and after each restart; -> ok_atom
//         (ready_atom)                 -> ok_atom once every running daemon
//                                      answered a (stats_atom) request (or
//                                      failed it): each has run its start-up
//         (restart_atom, section)      internal: the restart delay passed
//         (stats_atom)                 -> counters (daemons, running, starts,
//                                         restarts, failures, and per daemon
//                                         daemon_running{<section>} 1 or 0)
//         exit message                 stops every child with the same reason,
//                                      waits (bounded) for their down messages,
//                                      then quits; no restarts after that.
// Time is read from the actor clock, so tests drive it in virtual time.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "config/config.hpp"

namespace cc {

/// When a failed daemon starts again (per daemon: the original reads these
/// keys from the daemon's section; the loader fills them from the jobmgr's).
struct watchdog_options {
  /// The jobmgr schema's defaults (the original's: 0 + 5 s per start, no
  /// cap, reset after an hour).
  watchdog_options();

  std::chrono::milliseconds formula_a{};
  std::chrono::milliseconds formula_b{};
  std::chrono::milliseconds formula_cap{};  // 0: no cap
  std::chrono::milliseconds reset{};
};

/// The delay before the next start of a daemon that has been started
/// `starts` times (starts >= 1).
std::chrono::milliseconds restart_delay(const watchdog_options& w, int starts);

/// The watchdog-* keys of `sec` (a jobmgr, or a daemon: the loader gave it
/// its jobmgr's values for the keys it does not set); keys without a value
/// come from `fallback`.
watchdog_options make_watchdog_options(const config::section& sec,
                                       const watchdog_options& fallback = {});

struct daemon_spec {
  std::string section;  // "d:logtail"
  watchdog_options watchdog;
};

struct jobmgr_options {
  std::string name = "jobmgr";  // for log lines
  /// How long a shutdown waits for children to stop before quitting anyway.
  std::chrono::milliseconds stop_timeout{5000};
};

/// Builds the actor of daemon section `section`; errors count as failures
/// (logged, retried with the same back-off).
using daemon_factory =
  std::function<caf::expected<caf::actor>(const std::string& section)>;

/// A jobmgr supervising `daemons` built by `factory` (tests pass small
/// actors that fail on demand).
caf::actor spawn_jobmgr_with(caf::actor_system& sys, jobmgr_options opts,
                             std::vector<daemon_spec> daemons,
                             daemon_factory factory);

} // namespace cc
