// The ZeroMQ gateway: the ROUTER socket bound on cc-socket, owned by one thread
// that no other thread touches. Incoming multipart messages are parsed
// (wire::parse) and sent to the router as (dispatch_atom, cc_message); frames
// that fail to parse are logged and counted, never routed. The gateway actor
// takes (reply_atom, cc_message) and sends it out by route[0] (the peer
// identity). Its blocking poll runs on its own thread, not on CAF's scheduler.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "config/config.hpp"

namespace cc {

/// Binds `main`'s cc-socket with its zmq_* options. Errors name the endpoint.
caf::expected<caf::actor> spawn_gateway(caf::actor_system& sys,
                                        const config::section& main,
                                        caf::actor router);

} // namespace cc
