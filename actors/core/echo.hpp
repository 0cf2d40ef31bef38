// The echo handler (handler kind `echo`, cc.handler.echo): answers every
// echo.request it is handed with an echo.response sent back along the
// request's route, so a forwarder's pings (or the original's Echo handler)
// get their pongs from this server. Other message types are logged and
// dropped.
//
// Takes:  (dispatch_atom, cc_message)  -> ok_atom (always: a malformed ping is
//                                          logged and counted, not retried)
//         (stats_atom)                 -> counters
// Sends:  router <- (reply_atom, echo.response)
//
// make_echo_response() is also what the router uses to answer an unrouted
// echo.request itself.
#pragma once

#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include "actors/core/router_actor.hpp"
#include "actors/core/ack_caps.hpp"
#include "actors/core/atoms.hpp"
#include "actors/core/spawn_context.hpp"
#include "config/config.hpp"
#include "wire/message.hpp"

namespace cc {

/// The echo.response to `request` (an echo.request): target, orig_hostname,
/// orig_target and orig_time copied from the request (orig_hostname from its
/// `hostname`, orig_time from its `time`), `hostname` = `our_hostname`,
/// `acks` = what this server says of acknowledgements (actors/core/ack_caps.hpp;
/// no registry: false), and the request's route unchanged, so the router
/// delivers it back the way the request came. errc::invalid_body when the
/// request's body does not parse.
caf::expected<wire::cc_message>
make_echo_response(const wire::cc_message& request,
                   const std::string& our_hostname,
                   const ack_registry* acks);

struct echo_state {
  std::string who;       // the handler's section name, for log lines
  std::string hostname;  // this server's short host name
  router_actor router;     // where responses go, as (reply_atom, msg)
  ack_registry_ptr acks; // what the responses say of acknowledgements

  int64_t requests = 0;  // echo.request messages answered
  int64_t malformed = 0; // echo.request whose body did not parse
  int64_t other = 0;     // messages of any other type (logged, dropped)

  /// The response to send for `msg`, or none (counted and logged).
  caf::optional<wire::cc_message> handle(const wire::cc_message& msg);

  counters stats() const;
};

/// The echo handler of section `sec`; responses go to `ctx.router`.
caf::actor spawn_echo(spawn_context ctx, const config::section& sec);

} // namespace cc
