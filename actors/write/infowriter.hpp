// The infowriter handler (cc.handler.infowriter): writes every pub.infofile
// as a whole copy under dstdir (actors/write/info_store.hpp does the writing),
// with worker-threads detached workers; a copy is always written by the
// worker its destination hashes to, so writes of one copy never overlap.
//
// Owns: its workers (linked), the per-host bound on copies, the counters.
// Takes:  (dispatch_atom, cc_message) -> ok_atom when the file's worker has
//         written it (or skipped or refused it): the answer is delegated to
//         the worker, so the router (and the gateway's in-flight budget)
//         holds the message until then. A bad body (does not parse, `req`
//         differs from the type, a blob without `blob_hash`, a wrong blob
//         hash) is dropped, logged, counted as `invalid`: -> errc::invalid_body.
//         (stats_atom) -> counters: files, written, bytes_written, skipped,
//         refused (paths, sizes, corrupt data, not a regular file), errors
//         (I/O: the sender is told to try again), invalid, too_many_files,
//         backups, acks_sent, host_denied (files whose claimed hostname
//         the sender's CURVE key may not write: not taken, answered
//         infofile.ack `denied`, actors/link/host_binding.hpp).
// Sends:  router <- (reply_atom, cc_message infofile.ack) status `denied`,
//         for a file its sender's key may not write;
//         worker <- (dispatch_atom, info::job_ptr) delegated;
//         router <- (reply_atom, cc_message infofile.ack) from the workers,
//         along the file's route, when the sender set `ack`.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/expected.hpp>

#include "actors/core/router_actor.hpp"
#include "actors/core/atoms.hpp"
#include "actors/write/info_store.hpp"
#include "config/config.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

namespace cc {

struct spawn_context;

/// Every option of a `[h:...]` section with `handler = infowriter`, typed.
/// The fields bound to keys (store's too) are filled through
/// config::reader: the schema's defaults.
struct infowriter_config {
  /// The schema's defaults (config::reader::defaults("infowriter")).
  infowriter_config();

  std::string section = "h:infowriter"; // for log lines
  std::string dstdir;
  std::string dstmask;                  // validated, from host-subdirs if unset
  info::store_options store;
  size_t worker_threads{};
  size_t max_files_per_host{};
  std::string hostname;                 // this server's, sent in acks
};

/// Reads a validated section; errc::config_invalid for a bad dstmask or
/// compression.
caf::expected<infowriter_config>
infowriter_config_from(const config::section& sec, const std::string& hostname);

/// Spawns the handler and its workers; creates dstdir first (an error names
/// it). Acks go to `router` (null: none are sent).
caf::expected<caf::actor> spawn_infowriter_actor(caf::actor_system& sys,
                                                 infowriter_config cfg,
                                                 router_actor router);

/// What spawn_handler calls.
caf::expected<caf::actor> spawn_infowriter_handler(spawn_context ctx,
                                                   const config::section& sec);

namespace info {

/// A parsed, checked pub.infofile on its way to a worker.
struct job {
  wire::cc_message msg;      // route (for the ack), blob
  wire::infofile_body body;
  std::string dest;          // normalised copy path; "" when refused
  caf::error dest_error;
};

using job_ptr = std::shared_ptr<const job>;

/// The counters of one infowriter, shared by its handler and workers.
struct writer_counters {
  std::atomic<int64_t> files{0};
  std::atomic<int64_t> written{0};
  std::atomic<int64_t> bytes_written{0};
  std::atomic<int64_t> skipped{0};
  std::atomic<int64_t> refused{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> invalid{0};
  std::atomic<int64_t> too_many_files{0};
  std::atomic<int64_t> backups{0};
  std::atomic<int64_t> acks_sent{0};

  counters snapshot() const;
};

/// The infofile.ack answering `j` with `o` (route: the file's).
wire::cc_message make_ack(const job& j, const outcome& o,
                          const std::string& hostname);

} // namespace info

} // namespace cc

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cc::info::job_ptr)
