// The stats actor: every `stats-period` seconds asks each watched actor for its
// counters and reports them: one summary line per actor in the log (cc-stats 1:
// the counters that changed, 2: all, 0: none), the human-readable `infofile`
// (header at infofile-level 1, counters from 2) and the Prometheus text-format
// `metrics-file` (actors/core/metrics.hpp: names, labels, the catalog); both files
// are replaced atomically (temp file + rename). At the end of every round,
// and of every extra round a reader of the status board asks for, it leaves
// a snapshot of the server on the board (actors/core/status_board.hpp) for the
// HTTP endpoint and the control socket.
// It runs on CAF's scheduler by default: its files are small, written without
// fsync once a period (microseconds in the page cache), which does not earn
// it a thread of its own and a wake-up per round; `detached` gives it one.
//
// Takes:  (register_atom, name, actor)  -> ok_atom: watch `actor` as `name`;
//              the same name again replaces the actor (a restarted tailer);
//              a watched actor that goes down keeps its last counters, and
//              the reason when it ended with an error (health).
//         (flush_atom)                   -> ok_atom once a round of polling
//              and writing is done (shutdown, tests).
//         (refresh_atom)                 a round for the board only (no log
//              lines, no files); joined to a round already under way.
//         (round_atom)                   internal: the period's timer.
// Sends:  watched actor <- request (stats_atom) -> counters
//
// A watched name is a part of the server: "router", "gateway", "caf-listen",
// or a handler or daemon section; the section's kind (from the config)
// names the metrics' subsystem, and the section (and a proxy's remote-cc)
// become labels.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/response_promise.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/metrics.hpp"
#include "actors/core/status.hpp"
#include "config/config.hpp"

namespace cc {

class status_board;

/// What the config says about one watched name.
struct part_info {
  std::string kind;   // the section's kind ("proxy", "logtail", ...)
  label_list labels;  // section, and peer for a proxy
};

struct stats_settings {
  /// The [ccserver] schema's defaults for the keys below (role too).
  stats_settings();

  int64_t level{};                       // cc-stats: 0, 1 or 2
  std::chrono::milliseconds period{};    // stats-period
  std::string infofile;                  // empty: none
  int64_t infofile_level{};
  std::string metrics_file;              // empty: none
  std::string job_name;                  // for the infofile header
  bool detached = false;                 // false: CAF's scheduler (ccserver,
                                         // tests); true: a thread of its own
  std::string role;                      // cc-role, for the snapshot
  std::string version;                   // of this binary
  health_settings health;                // for ccserver_healthy
  /// Handler and daemon sections by name; other names are the server's own
  /// parts (router, gateway, caf-listen: their name is their kind).
  std::map<std::string, part_info> parts;
  /// Where snapshots go (may be null: tests, no endpoint).
  std::shared_ptr<status_board> board;
};

/// The settings of `main` ([ccserver]): cc-stats, stats-period, infofile,
/// infofile-level, metrics-file, cc-role, health-* (and job_name if the
/// section has it).
stats_settings stats_settings_from(const config::section& main);
/// The same, with the server's job_name for the infofile header and the
/// kinds and labels of its handler and daemon sections.
stats_settings stats_settings_from(const config::server_config& cfg);

caf::actor spawn_stats(caf::actor_system& sys, const config::section& main);
caf::actor spawn_stats(caf::actor_system& sys, const config::server_config& cfg);
caf::actor spawn_stats(caf::actor_system& sys, stats_settings settings);

/// One watched actor's counters.
struct watched_actor {
  std::string name;
  caf::actor actor;   // null once it went down (its counters stay)
  shared_counters previous;  // as of the last report
  shared_counters current;   // latest answer (a report shares it as previous)
  std::string failure;   // why it last ended with an error ("" never)
  double failed_at = 0;  // epoch seconds of that end
  double up_since = 0;   // epoch seconds of its (re)registration
};

struct stats_state {
  stats_settings settings;
  std::vector<watched_actor> watched;  // in registration order
  /// Position in `watched` by name: a round's answers are thousands with a
  /// tailer per file.
  std::unordered_map<std::string, size_t> by_name;
  double started = 0;                  // epoch seconds
  uint64_t round = 0;                  // current polling round
  size_t waiting = 0;                  // answers outstanding in `round`
  bool report_due = false;             // the round in progress is reported
  std::vector<caf::response_promise> flush_waiters;
  std::string last_write_error;        // logged once per new error

  /// Watches `actor` as `name` (replacing an actor of the same name) from
  /// `now` on.
  void watch(const std::string& name, caf::actor actor, double now = 0);
  /// `gone` went down: its entry stays, without an actor; `failure` (""
  /// for a requested stop) is kept with the time.
  void forget(const caf::actor_addr& gone, const std::string& failure = {},
              double now = 0);
  /// Stores an answer of round `r` (ignored when stale).
  void store(uint64_t r, const std::string& name, counters values);

  /// The summary line for one actor ("router: received=12(+2) ...") per
  /// settings.level; nullopt when there is nothing to say.
  std::optional<std::string> summary_line(const watched_actor& w) const;
  /// The infofile's text at settings.infofile_level (empty at level 0).
  std::string infofile_text(double now, long pid) const;
  /// The server as of the last answers (actors/core/metrics.hpp).
  server_snapshot snapshot(double now) const;
  /// The metrics file's text (Prometheus text format 0.0.4): the
  /// snapshot's exposition with its health, without process_* metrics.
  std::string metrics_text(double now = 0) const;

  /// Ends a round: logs, writes the files, current becomes previous.
  void report(double now);
};

/// Writes `text` to `path` atomically: `path`.tmp, then rename over `path`.
/// Errors name the path and errno text.
caf::error write_atomically(const std::string& path, const std::string& text);

} // namespace cc
