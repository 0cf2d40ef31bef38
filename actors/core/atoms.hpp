// Every atom the system uses, and the message contracts between actors.
//
// CC message types ("pub.logtail", "log.info") are runtime strings matched by the
// route table; atoms only name what an actor is asked to do.
//
//   router    <- (dispatch_atom, cc_message)      route by type to every matching
//                                                 handler. As a request: answered
//                                                 with ok_atom once every handler
//                                                 accepted it, else the first error
//                                                 (errc::no_route when none matched).
//   router    <- (reply_atom, cc_message)         deliver along the route: pop
//                                                 route[0]; an in-process endpoint
//                                                 frame goes to that actor, a peer
//                                                 identity to the gateway.
//   router    <- (register_atom, name, actor)     in-process endpoint `name` (its
//                                                 frame: wire::local_route_frame)
//                                                 now lives at `actor`; -> ok_atom.
//   router    <- (handler_atom, section, actor)   the handler instance of section
//                                                 `section` (h:...); -> ok_atom.
//   router    <- (gateway_atom, actor)            where replies to socket peers go.
//                                                 -> ok_atom.
//   handler   <- (dispatch_atom, cc_message)      a request: handle it, answer
//                                                 ok_atom when accepted (a full queue
//                                                 delays the answer: back-pressure).
//   endpoint  <- (reply_atom, cc_message)         a reply addressed to this actor
//                                                 (its own route frame popped).
//   gateway   <- (reply_atom, cc_message)         send out of cc-socket; route[0] is
//                                                 the peer identity.
//   any actor <- (stats_atom)                     -> counters (name -> value).
//   stats     <- (register_atom, name, actor)     poll `actor` for counters every
//                                                 stats-period; -> ok_atom.
//   stats     <- (flush_atom)                     poll and write now; -> ok_atom.
//   stats     <- (refresh_atom)                   poll now for the status board
//                                                 (actors/core/status_board.hpp); no
//                                                 answer, no files written.
//   gateway   <- (router_atom, actor)             deliver incoming messages to this
//                                                 router from now on; a null actor
//                                                 pauses reading (config reload);
//                                                 -> ok_atom.
//   forwarder <- (reply_atom, cc_message)         from its transport: a message from
//                                                 the remote, route as received.
//   forwarder <- (sent_atom, uint64_t bytes)      from its transport, only while
//                                                 senders wait: queued bytes left.
//   tailwriter <- (written_atom, size_t worker)   from a worker's thread, only
//                                                 while senders wait for that
//                                                 worker: fragments it queued
//                                                 are done.
//   forwarder <- (linkstate_atom, bool, string)   from its transport: link up/down.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <caf/atom.hpp>

namespace cc {

using dispatch_atom = caf::atom_constant<caf::atom("dispatch")>;
using reply_atom = caf::atom_constant<caf::atom("reply")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
/// The tailer's own timers: its periodic poll (poll-interval) and its one
/// one-shot deadline (probes, idle-flush, retry, .save).
using tail_poll_atom = caf::atom_constant<caf::atom("tailpoll")>;
using tail_due_atom = caf::atom_constant<caf::atom("taildue")>;
/// A tailer woken on the I/O loop's thread that found blocking work (a new
/// file or generation, a big read, a writer's answer) goes on on a
/// scheduler worker: sent to itself from the loop (base/loop_jobs.hpp).
using off_loop_atom = caf::atom_constant<caf::atom("offloop")>;
/// A tailer's look that the I/O loop ran itself (inotify_hub.hpp's
/// look_here) left dispatches for the actor to make: sent to itself.
using owed_atom = caf::atom_constant<caf::atom("owed")>;
using maint_atom = caf::atom_constant<caf::atom("maint")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using resend_atom = caf::atom_constant<caf::atom("resend")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using reload_atom = caf::atom_constant<caf::atom("reload")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using handler_atom = caf::atom_constant<caf::atom("handler")>;
using gateway_atom = caf::atom_constant<caf::atom("gateway")>;
using router_atom = caf::atom_constant<caf::atom("router")>;
using sent_atom = caf::atom_constant<caf::atom("sent")>;
using written_atom = caf::atom_constant<caf::atom("written")>;
using linkstate_atom = caf::atom_constant<caf::atom("linkstate")>;
using refresh_atom = caf::atom_constant<caf::atom("refresh")>;
/// A socket loop finished closing its socket (the gateway, to itself).
using closed_atom = caf::atom_constant<caf::atom("closed")>;
/// Asked of a jobmgr at start and reload: answered once every daemon it
/// started has taken its first message (its start-up, e.g. a tailer's first
/// look at its directory, is done).
using ready_atom = caf::atom_constant<caf::atom("ready")>;
/// The forwarder's probe for the remote's `acks` is due or late.
using probe_atom = caf::atom_constant<caf::atom("probe")>;
/// The positive answer named by the contracts above; the same type as
/// caf::ok_atom (CAF 0.17.6 declares it in caf/type_id.hpp).
using ok_atom = caf::atom_constant<caf::atom("ok")>;

/// What every actor answers to stats_atom: counter or gauge name -> value.
/// Per-file gauges put the file in braces: "lag_bytes{/pg_log/x.log}".
using counters = std::map<std::string, int64_t>;

} // namespace cc
