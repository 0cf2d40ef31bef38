// The tailer (daemon kind logtail, SPEC §6 and §9): follows the newest log
// file of a directory (classic) or one rotated file name (rotated) and
// publishes every appended byte range as a pub.logtail fragment.
//
// Owns: the open source file, its read buffer, the window of sent but not
// yet acknowledged bytes, the .save file (positions advance only on acks),
// and the inotify thread (file_watch) that wakes it.
// Runs detached (its own thread): file reads block. The .save file is written
// by the process's position saver thread (actors/position_saver.hpp); the
// tailer waits for that only when it starts a new file or generation (which
// must be durable before its first fragment) and when it ends.
//
// Takes:  (reply_atom, cc_message logtail.ack)  acknowledgements from a writer
//         (wake_atom)                           new data / directory change
//         (tick_atom)                           periodic poll (poll-interval)
//         (flush_atom)                          internal one-shot timer: probes,
//                                               idle-flush, retry, .save
//         (stats_atom)                          -> counters: bytes_read,
//             fragments_sent, bytes_sent, acked_bytes, resends, gaps_reported,
//             files_switched, skipped_bytes, send_errors, refused, generations,
//             stale_acks, reconciles, questions, writer_restarts,
//             resumed_below_acked, copies_cut_back, moved_generation_reads,
//             lost_bytes, verify_mismatch_bytes, repaired_bytes (the metric
//             catalog, actors/metrics.cpp, says what each means); gauges
//             outstanding, failing (1 while listing
//             logdir or opening a file fails, ENOENT aside), and per file
//             lag_bytes{<file>} (end of the newest file minus the
//             acknowledged position), file_size, read_offset, sent_offset,
//             acked_offset and last_ack_age_ms (after the first ack)
// Sends:  router <- (register_atom, job_name, self) once at start
//         router <- request (dispatch_atom, cc_message pub.logtail[.suffix]),
//                   at most max_outstanding at a time; an error answer means
//                   "not sent": rewind and retry after retry_delay. With
//                   ack = yes a generation's first fragment goes alone until
//                   a writer acks it (a writer starts an unknown generation
//                   at the first fpos it sees, so nothing may overtake it).
// Ends with an errc::io error when its file cannot be read (the jobmgr
// restarts it from the .save file).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/core/ack_caps.hpp"
#include "config/config.hpp"
#include "wire/codec.hpp"

namespace cc {

/// The tailer's options, read once from its [d:...] section.
struct tailer_options {
  enum class mode { classic, rotated };

  mode op = mode::classic;
  std::string op_mode;        // operation-mode as written ("" when unset)
  std::string logdir;
  std::string logmask;        // classic
  std::string logname;        // rotated
  bool binary = false;        // file-mode = binary
  uint64_t lag_max_bytes = 0; // 0: never skip
  /// Largest fragment (uncompressed bytes); at least 64 KiB with compression.
  uint64_t fragment_bytes = 1 << 20;
  int64_t fragment_lines = 0; // 0: no line limit
  wire::compression comp = wire::compression::none;
  int comp_level = 6;
  std::string msg_type = "pub.logtail";
  bool use_blob = true;
  bool ack = true;             // ack = yes (or auto), as sent in `ack`
  /// ack = auto: whether the route acknowledges (actors/ack_caps.hpp); set
  /// by the spawner, which knows the routes. Null: `ack` decides alone.
  std::shared_ptr<const ack_view> auto_acks;
  uint64_t ack_window = 32 << 20;
  std::chrono::milliseconds ack_timeout{10000};
  std::chrono::milliseconds poll_interval{500};
  std::chrono::milliseconds idle_flush{1000};
  /// Background verify of the open generation against its copy; 0: never.
  std::chrono::milliseconds verify_period{0};
  std::string hostname;
  /// This server's identity as a source ([ccserver] source-id): one copy is
  /// written by one source only. "" sends none (as the original).
  std::string source_id;
  std::string save_file;
  bool inotify = true;
  std::string job_name;       // registered with the router; names the route
  /// Requests to the router in flight at once (back-pressure).
  int max_outstanding = 4;
  /// Pause after the router refused a fragment (no_route, queue_full).
  std::chrono::milliseconds retry_delay{500};
  /// Pause between the two looks at an exhausted file for late writes.
  std::chrono::milliseconds probe_interval{100};
  /// How often an exhausted file is looked at again before switching.
  int probes = 2;

  /// The logdir/logname path of rotated mode.
  std::string rotated_path() const;
};

/// Reads and checks a logtail section (already validated by the loader).
/// errc::config_invalid naming the section and key for what the schema
/// cannot check (e.g. an unknown compression name).
caf::expected<tailer_options> make_tailer_options(const config::section& sec);

/// Spawns a detached tailer sending to `router`.
caf::actor spawn_tailer_actor(caf::actor_system& sys, tailer_options opts,
                              caf::actor router);

} // namespace cc
