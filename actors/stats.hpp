// The stats actor: every `stats-period` seconds asks each watched actor for its
// counters and reports them: one summary line per actor in the log (cc-stats 1:
// the counters that changed, 2: all, 0: none), the human-readable `infofile`
// (header at infofile-level 1, counters from 2) and the Prometheus text-format
// `metrics-file`; both files are replaced atomically (temp file + rename).
// It runs on its own thread by default, because it writes files.
//
// Takes:  (register_atom, name, actor)  -> ok_atom: watch `actor` as `name`;
//              the same name again replaces the actor (a restarted tailer);
//              a watched actor that goes down keeps its last counters.
//         (flush_atom)                   -> ok_atom once a round of polling
//              and writing is done (shutdown, tests).
//         (tick_atom)                    internal: the period's timer.
// Sends:  watched actor <- request (stats_atom) -> counters
//
// Metric names: ccserver_<actor>_<counter>, the actor's name with every
// character outside [A-Za-z0-9_] made '_'. Counters get `_total`. Gauges are
// the names with a per-file label ("lag_bytes{/x.log}" becomes
// ccserver_<actor>_lag_bytes{file="/x.log"}) and the few names is_gauge()
// lists (queued_bytes, unacked_bytes, open_files, ...).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/response_promise.hpp>

#include "actors/atoms.hpp"
#include "config/config.hpp"

namespace cc {

struct stats_settings {
  int64_t level = 1;                     // cc-stats: 0, 1 or 2
  std::chrono::milliseconds period{30000};  // stats-period
  std::string infofile;                  // empty: none
  int64_t infofile_level = 2;
  std::string metrics_file;              // empty: none
  std::string job_name;                  // for the infofile header
  bool detached = true;                  // own thread; false: CAF's scheduler
                                         // (tests on the test coordinator)
};

/// The settings of `main` ([ccserver]): cc-stats, stats-period, infofile,
/// infofile-level, metrics-file (and job_name if the section has it).
stats_settings stats_settings_from(const config::section& main);
/// The same, with the server's job_name for the infofile header.
stats_settings stats_settings_from(const config::server_config& cfg);

caf::actor spawn_stats(caf::actor_system& sys, const config::section& main);
caf::actor spawn_stats(caf::actor_system& sys, const config::server_config& cfg);
caf::actor spawn_stats(caf::actor_system& sys, stats_settings settings);

/// `text` made a Prometheus metric-name fragment: [A-Za-z0-9_] kept, every
/// other character '_'.
std::string metric_fragment(std::string_view text);

/// Whether counter `name` (its label, if any, removed) is a gauge.
bool is_gauge(std::string_view name);

/// `key` split into name and per-file label: "lag_bytes{/x}" -> {"lag_bytes",
/// "/x"}; no braces -> {key, nullopt}.
std::pair<std::string, std::optional<std::string>>
split_label(const std::string& key);

/// One watched actor's counters.
struct watched_actor {
  std::string name;
  caf::actor actor;   // null once it went down (its counters stay)
  counters previous;  // as of the last report
  counters current;   // latest answer
};

struct stats_state {
  stats_settings settings;
  std::vector<watched_actor> watched;  // in registration order
  double started = 0;                  // epoch seconds
  uint64_t round = 0;                  // current polling round
  size_t waiting = 0;                  // answers outstanding in `round`
  std::vector<caf::response_promise> flush_waiters;
  std::string last_write_error;        // logged once per new error

  /// Watches `actor` as `name` (replacing an actor of the same name).
  void watch(const std::string& name, caf::actor actor);
  /// `gone` went down: its entry stays, without an actor.
  void forget(const caf::actor_addr& gone);
  /// Stores an answer of round `r` (ignored when stale).
  void store(uint64_t r, const std::string& name, counters values);

  /// The summary line for one actor ("router: received=12(+2) ...") per
  /// settings.level; nullopt when there is nothing to say.
  std::optional<std::string> summary_line(const watched_actor& w) const;
  /// The infofile's text at settings.infofile_level (empty at level 0).
  std::string infofile_text(double now, long pid) const;
  /// The metrics file's text (Prometheus text format 0.0.4).
  std::string metrics_text() const;

  /// Ends a round: logs, writes the files, current becomes previous.
  void report(double now);
};

/// Writes `text` to `path` atomically: `path`.tmp, then rename over `path`.
/// Errors name the path and errno text.
caf::error write_atomically(const std::string& path, const std::string& text);

} // namespace cc
