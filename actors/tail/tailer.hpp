// The tailer (daemon kind logtail, SPEC §6 and §9): follows the newest log
// file of a directory (classic) or one rotated file name (rotated) and
// publishes every appended byte range as a pub.logtail fragment.
//
// Owns: the open source file, its read buffer, the window of sent but not
// yet acknowledged bytes, the .save file (positions advance only on acks),
// and its watches on the process's inotify instance (file_watch, read on the
// I/O loop), whose events wake it.
// Runs on CAF's scheduler by default, like the router: its reads are preads
// of a file just written (the page cache), so no thread of its own is needed
// and 10,000 tailers do not mean 10,000 threads. A tailer that compresses
// (compression = gzip/bzip2) is detached by the jobmgr's factory
// (actors/spawn.cpp): compressing is CPU work that would otherwise take turns
// with the router on the one scheduler thread. The .save file is written by
// the process's position saver thread (actors/tail/position_saver.hpp); the
// tailer waits for that (an fsync, on its scheduler thread) only when it
// starts a new file or generation (which must be durable before its first
// fragment) and when it ends. An inotify wake of a settled tailer runs its
// look on the I/O loop's thread: the loop calls the look itself, with no
// message (watch_signal::look_here, under a mutex the tailer's handlers
// hold too), or, when the tailer is busy on a worker or takes its timers
// from CAF's clock (the test coordinator), sends a wake_atom that a
// loop_jobs scope runs there (base/loop_jobs.hpp); there it does only a
// trickle's reads and sends, and leaves for a worker (off_loop_atom to
// itself) before anything that would block the loop: the durable .save, a
// new file or generation, a compressed copy, a read past 64 KiB, a
// writer's answer, its own end (tail_effects::may_block).
//
// Takes:  (reply_atom, cc_message logtail.ack)  acknowledgements from a writer
//         (reply_atom, cc_message logtail.state) a writer's answers
//         (wake_atom)                           new data / directory change
//         (off_loop_atom)                       from itself: a look on the I/O
//                                               loop's thread goes on here
//         (owed_atom)                           from the loop's look: it made
//                                               dispatches, sent from here
//         (tail_poll_atom)                      periodic poll (poll-interval;
//                                               10 x less often while idle
//                                               under inotify)
//         (tail_due_atom)                       internal one-shot timer: probes,
//                                               idle-flush, retry, .save
//         (stats_atom)                          -> counters: bytes_read,
//             fragments_sent, bytes_sent, acked_bytes, resends, gaps_reported,
//             files_switched, skipped_bytes, send_errors, refused, generations,
//             stale_acks, reconciles, questions, writer_restarts,
//             resumed_below_acked, copies_cut_back, moved_generation_reads,
//             lost_bytes, verify_mismatch_bytes, repaired_bytes, polls (the metric
//             catalog, actors/core/metrics.cpp, says what each means); gauges
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

#include "actors/core/router_actor.hpp"
#include "actors/tail/tailer_options.hpp"

namespace cc {

/// Where the tailer runs: scheduled like any actor (the default, and what
/// tests on the test coordinator need: a detached actor's delayed messages
/// would not run in virtual time), or detached (a thread of its own, as
/// before: for a file system whose reads may block for long).
enum class tailer_thread { detached, scheduled };

/// Spawns a tailer sending to `router`.
caf::actor spawn_tailer_actor(caf::actor_system& sys, tailer_options opts,
                              router_actor router,
                              tailer_thread thread = tailer_thread::scheduled);

} // namespace cc
