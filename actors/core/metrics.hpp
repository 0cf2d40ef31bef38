// What the server knows about itself, as data: a snapshot of every part (each
// actor the stats actor watches, with its kind and fixed labels), the metric
// catalog that gives each counter its Prometheus name, type, labels and
// meaning, and the text exposition format (0.0.4) served on /metrics and
// written to metrics-file. Plain functions, no actors: unit-tested directly.
//
// Names follow Prometheus's conventions: ccserver_<subsystem>_<name>_<unit>,
// counters end in _total, bytes are _bytes, durations _seconds; the section,
// the peer, the source file and the sending host are labels, never parts of
// the name. The subsystem is the part's kind (tail for logtail, forward for
// proxy); a counter the catalog does not know still appears, under
// ccserver_<subsystem>_<counter>[_total], so a new actor's counters are never
// lost (docs/operations.md lists the catalog; a test keeps the two equal).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/core/atoms.hpp"
#include "actors/core/shared_counters.hpp"

namespace cc {

using label_list = std::vector<std::pair<std::string, std::string>>;

/// One part of the server as the stats actor last saw it.
struct part_snapshot {
  std::string name;     // "router", "gateway", "caf-listen", "h:forward", "d:pg"
  std::string kind;     // "router", "gateway", "caf-listen", or the section's
                        // kind: "proxy", "logtail", "tailwriter", "jobmgr", ...
  label_list labels;    // fixed labels: section, peer
  shared_counters values; // its last answer to (stats_atom), the stats
                          // actor's own map (shared, not copied)
  bool up = true;       // the actor is alive
  std::string failure;  // why it last ended with an error; "" if it never did
  double failed_at = 0; // epoch seconds of that end; 0: never
  double up_since = 0;  // epoch seconds of its (re)registration
};

/// The whole server at one moment.
struct server_snapshot {
  std::string job_name;
  std::string role; // cc-role
  std::string version;
  long pid = 0;
  double started = 0;    // epoch seconds
  double taken = 0;      // epoch seconds of the round that made it
  bool stopping = false; // a shutdown is under way
  std::vector<part_snapshot> parts;

  const part_snapshot* find(std::string_view name) const;
};

// -- the catalog ----------------------------------------------------------------

enum class metric_type { counter, gauge };

struct metric_spec {
  std::string_view kind; // part kind the counter belongs to
  std::string_view key;  // counter name as the actor reports it
  std::string_view name; // Prometheus name
  metric_type type;
  std::string_view help;
  /// The labels the actor puts in the key, comma-separated ("" none;
  /// "file" for the tailer's per-file gauges, "host, file" per copy). A
  /// bare "{value}" key is the one label named here.
  std::string_view key_labels = "";
  /// The reported integer times this is exposed (milliseconds -> seconds).
  double scale = 1;

  /// What a bare "{value}" in the key is.
  std::string_view bare_label() const;
};

/// Every counter of every actor of this build.
const std::vector<metric_spec>& metric_catalog();

/// The labels every metric of a part of kind `kind` has: "section" for
/// handler and daemon sections, plus "peer" for a proxy; "" for the
/// server's own parts (router, gateway, caf-listen).
std::string_view fixed_labels(std::string_view kind);

/// The catalog as the Markdown tables of docs/operations.md (between its
/// metrics markers; tests/actors/metrics_test.cpp keeps them equal).
std::string metrics_markdown();

/// The catalog's entry for counter `key` (labels removed) of kind `kind`.
const metric_spec* find_metric(std::string_view kind, std::string_view key);

/// Metrics that do not come from an actor's counters (process, build,
/// health), with their type and meaning: for docs and the catalog test.
struct server_metric {
  std::string_view name;
  metric_type type;
  std::string_view labels; // "" or "version"
  std::string_view help;
};
const std::vector<server_metric>& server_metrics();

/// The subsystem of metric names for a part kind: logtail -> tail,
/// proxy -> forward, caf-listen -> caf_listen, others as they are.
std::string subsystem_of(std::string_view kind);

/// `text` made a Prometheus metric-name fragment: [A-Za-z0-9_] kept, every
/// other character '_'.
std::string metric_fragment(std::string_view text);

/// A counters key split into its name and labels: "lag_bytes{/x}" ->
/// {"lag_bytes", {{bare_label, "/x"}}}; "c{host=\"a\",file=\"b\"}" -> {"c",
/// {{"host","a"},{"file","b"}}}; "received" -> {"received", {}}.
std::pair<std::string, label_list> parse_counter_key(const std::string& key,
                                                     std::string_view bare_label);

/// Whether counter `key` (labels allowed) is a gauge that moves with the
/// clock (an age: last_pong_age_ms, link_down_ms, ...): it changes every
/// period, so the stats log line at cc-stats 1 leaves it out.
bool is_clock_gauge(std::string_view key);

/// The value of counter `key` of a part, if reported.
std::optional<int64_t> value_of(const part_snapshot& part, const std::string& key);

// -- the process -----------------------------------------------------------------

/// This process as the kernel sees it (/proc/self).
struct process_sample {
  double cpu_seconds = 0; // user + system
  int64_t resident_bytes = 0;
  int64_t virtual_bytes = 0;
  int64_t open_fds = 0;
  int64_t max_fds = 0;
  int64_t threads = 0;
  double start_time = 0; // epoch seconds
};

/// Reads /proc/self; fields it cannot read stay 0.
process_sample sample_process();

// -- exposition ------------------------------------------------------------------

struct exposition_options {
  /// process_* metrics (CPU, memory, fds, threads, start time). Off for
  /// metrics-file: node_exporter's textfile collector has its own process_*
  /// series and refuses a file that repeats them.
  std::optional<process_sample> process;
  /// ccserver_healthy and ccserver_health_problems, when known.
  std::optional<std::pair<bool, size_t>> health;
};

/// The snapshot in Prometheus text format 0.0.4: per metric a # HELP and a
/// # TYPE line, then its samples; metrics sorted by name, samples in part
/// order. Always ccserver_build_info and ccserver_part_up.
std::string exposition(const server_snapshot& snap, const exposition_options& opts = {});

/// The exposition's media type.
constexpr const char* exposition_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

} // namespace cc
