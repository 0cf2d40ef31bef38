// Health and status from a server snapshot (actors/core/metrics.hpp): whether the
// server does its job (/health, ccserver --status's exit status, the
// ccserver_healthy metric), the facts as JSON for tools (/status), and the
// human table of `ccserver --status`. Plain functions, unit-tested directly.
//
// Unhealthy when any of these holds (each becomes one problem with a reason):
//   - a shutdown is under way;
//   - a part ended with an error and is not running again, or was restarted
//     after one less than health-failure-hold ago (a daemon that keeps
//     failing stays unhealthy between its restarts);
//   - a part reports a `failing` gauge above 0 (a tailer that cannot list its
//     directory or open its file, a tailwriter with copies it cannot write);
//   - a forwarder's link has been down longer than health-link-timeout;
//   - the snapshot is stale: the server did not answer a stats round in time
//     (set by whoever asked for it: status_board).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/core/metrics.hpp"
#include "config/config.hpp"

namespace cc {

struct health_settings {
  /// The [ccserver] schema's defaults.
  health_settings();

  std::chrono::milliseconds link_timeout{}; // health-link-timeout
  std::chrono::milliseconds failure_hold{}; // health-failure-hold
};

/// health-link-timeout and health-failure-hold of [ccserver].
health_settings health_settings_from(const config::section& main);

struct health_problem {
  std::string part;    // "h:forward", "d:pg", "server"
  std::string kind;    // the part's kind; "server" for the whole
  std::string problem; // short: "link down", "failed", "cannot write", ...
  std::string detail;  // what, where, for how long
};

struct health_report {
  std::vector<health_problem> problems;
  bool healthy() const {
    return problems.empty();
  }
};

/// The snapshot's health at `now` (epoch seconds).
health_report evaluate_health(const server_snapshot& snap,
                              const health_settings& settings, double now);

/// {"status": "ok"|"unhealthy", "problems": [{part, kind, problem, detail}]}
nlohmann::json health_json(const health_report& report);

/// Everything /status says: server (job, version, pid, role, started,
/// uptime, snapshot age), health, tailers (one row per source file: size,
/// read, sent, acked offsets, lag, last ack age, state), links (peer,
/// connected, queued bytes, reconnects, down for, last pong age), copies
/// (host, file, written bytes, last write age, write errors) and every
/// part's raw counters.
nlohmann::json status_json(const server_snapshot& snap, const health_report& report,
                           double now);

/// The human table of `ccserver --status`, from status_json's document.
std::string status_table(const nlohmann::json& status);

} // namespace cc
