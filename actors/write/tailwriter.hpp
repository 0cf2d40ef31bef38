// The tailwriter handler (SPEC §8, §9): appends every pub.logtail fragment to
// its copy under dstdir, with the help of worker_threads detached workers.
//
// Owns: its workers (linked; a copy always goes to the same worker: the one
// its destination hashes to), the back-pressure per worker, the counters,
// and its instance id (16 hex digits drawn at start, docs/wire.md §6.2),
// which its workers put in every logtail.ack and logtail.state. Its door
// (tailwriter_door.hpp) checks each message and hands it to its worker,
// for this actor and for the direct lane, which brings a data connection's
// messages from the I/O loop without the router and this actor.
// Takes:  (dispatch_atom, cc_message) -> ok_atom once the fragment's worker
//         accepted it; the answer waits while that worker has more than
//         its share of max_queued_bytes queued. A question (`query`, docs/
//         wire.md §6.1) goes the same way to the worker of its destination,
//         so it is answered after the fragments before it, and takes no
//         place among the host's source keys. A bad body (does not parse,
//         `req` differs from the type, a blob without `blob_hash`, a wrong
//         blob hash) is dropped, logged, counted as `invalid`:
//         -> errc::invalid_body.
//         (stats_atom) -> counters: fragments, bytes_written, duplicates,
//         duplicate_bytes, gaps, gap_bytes, refused_paths, invalid,
//         too_large, open_files, acks_sent, fsyncs, open_files_evicted,
//         queries (questions answered), repaired_bytes (copy bytes rewritten
//         or cut to match the source: compare-on-overlap and repairs),
//         copy_changed (copies found changed behind the writer's back:
//         another size, a block that no longer matches its digest, a copy
//         deleted), diverged (fragments whose overlap differed from the
//         copy), too_many_sources (fragments refused by
//         max-source-keys-per-host), backpressure_waits (answers held until
//         a worker's queue had room), write_errors, failing (copies whose
//         last open, write or sync failed), host_denied (fragments and
//         questions whose claimed hostname the sender's CURVE key may not
//         write: not taken, answered `denied`, actors/link/host_binding.hpp) and
//         per copy (actors/write/copy_stats.hpp) copy_written_bytes,
//         copy_last_write_age_ms, copy_write_errors.
//         (written_atom, size_t worker) from a worker's thread while senders
//         wait for room at that worker.
// Sends:  router <- (reply_atom, cc_message "logtail.ack") status `denied`,
//         for a fragment its sender's key may not write (the workers send
//         every other ack).
//         workers <- (dispatch_atom, fragment_ptr), not as a request: the
//         fragment's message carries a receipt that counts its bytes down
//         when the worker let go of it; the workers send logtail.ack and
//         logtail.state replies to the router themselves.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/core/direct_lanes.hpp"
#include "actors/core/router_actor.hpp"
#include "actors/write/copy_writer.hpp"
#include "config/config.hpp"
#include "wire/codec.hpp"

namespace cc {

/// Every option of a `[h:...]` section with `handler = tailwriter`, typed.
/// The fields bound to keys are filled through config::reader (schema
/// defaults); flush_idle, max_queued_bytes and hostname are not options.
struct tailwriter_config {
  /// The schema's defaults (config::reader::defaults("tailwriter")).
  tailwriter_config();

  std::string section = "h:tailwriter"; // for log lines
  std::string dstdir;
  std::string dstmask;                  // "": from host_subdirs
  bool host_subdirs{};
  tw::write_mode mode{};
  wire::compression compression{};
  int compression_level{};
  uint64_t buffer_bytes{};
  std::chrono::milliseconds maint_period{};
  std::chrono::milliseconds close_idle{};
  std::chrono::milliseconds flush_idle{3000};
  size_t worker_threads{};
  std::string state_dir;                // "": <dstdir>/.ccstate
  uint64_t max_fragment_bytes{};
  std::chrono::milliseconds sync_interval{};
  uint64_t sync_bytes{};
  size_t syncfs_batch{};
  bool drop_synced_pages{};
  size_t max_open_files{};
  /// Distinct source keys one hostname may write (seen within a day).
  size_t max_source_keys_per_host{};
  /// Back-pressure: bytes queued at the workers (each its share, at least
  /// 1 MiB) before answers wait. Bounds the central's memory with the
  /// gateway's in-flight budget: the router's answer frees that budget.
  uint64_t max_queued_bytes = 8ull << 20;
  std::string hostname;                 // this server's, sent in acks
};

/// Reads a validated section; errc::config_invalid for a bad dstmask.
caf::expected<tailwriter_config>
tailwriter_config_from(const config::section& sec, const std::string& hostname);

/// Spawns the handler and its workers. Creates dstdir and state-dir first
/// (an error names the path); acks go to `router` (null: none are sent).
/// With `lanes`, its door takes data connections' messages directly and the
/// workers' replies to them go straight back (actors/core/direct_lanes.hpp).
caf::expected<caf::actor> spawn_tailwriter_actor(caf::actor_system& sys,
                                                 tailwriter_config cfg,
                                                 router_actor router,
                                                 direct_lanes_ptr lanes = nullptr);

struct spawn_context;

/// spawn_tailwriter with its errors (a bad dstmask, a directory that cannot
/// be created) returned instead of logged: what spawn_handler calls.
caf::expected<caf::actor> spawn_tailwriter_handler(spawn_context ctx,
                                                   const config::section& sec);

} // namespace cc
