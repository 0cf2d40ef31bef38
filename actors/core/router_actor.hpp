// The router's contract as a type: what any actor may send it and what it
// answers (actors/core/atoms.hpp describes each message). Senders hold a
// router_actor, so a message the router does not take is a compile error, not
// an "unexpected message" at run time.
//
// Only the router is typed. Why the others stay untyped handles (CAF 0.17):
//   - handlers (tailwriter, infowriter, echo, locallogger, forwarder) are
//     reached through the route table, and the router fans one dispatched
//     caf::message out to all of them unchanged (blob and body shared, never
//     copied); a typed request takes typed arguments and would rebuild the
//     message per handler.
//   - the daemons and handlers run their own timers (delayed_send to
//     themselves: tail_poll_atom, syncdue, round...); a typed actor in 0.17
//     can only receive what its signature lists, so every private timer
//     would become part of its public contract.
//   - the middleman's remote actors (caf:// links) arrive as untyped proxies
//     from remote_actor(); typed remote lookups check the signature against
//     the remote node's and make mixed-version clusters fail at connect.
#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/core/atoms.hpp"
#include "wire/message.hpp"

namespace cc {

using router_actor = caf::typed_actor<
  // As a request: ok once every handler took it, else the first error
  // (errc::no_route when none matched). Sent without asking: no answer.
  caf::replies_to<dispatch_atom, wire::cc_message>::with<ok_atom>,
  caf::reacts_to<reply_atom, wire::cc_message>,
  caf::replies_to<register_atom, std::string, caf::actor>::with<ok_atom>,
  caf::replies_to<handler_atom, std::string, caf::actor>::with<ok_atom>,
  caf::replies_to<gateway_atom, caf::actor>::with<ok_atom>,
  caf::replies_to<stats_atom>::with<counters>>;

} // namespace cc
