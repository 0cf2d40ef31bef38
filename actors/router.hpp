// The router: owns the route table and the map from handler section names and
// in-process endpoint names to actors. Takes (dispatch_atom, cc_message) from the
// gateway and from in-process senders and hands each message to every matching
// handler; takes (reply_atom, cc_message) and delivers it along its route.
// Counts received, routed, unrouted, invalid, replies and bytes (stats_atom).
// Message contracts: actors/atoms.hpp.
#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "routes/route_table.hpp"

namespace cc {

struct router_config {
  routes::route_table table;
  std::string hostname;  // this server's short host name (echo responses)
  std::string job_name;  // for log lines
};

caf::actor spawn_router(caf::actor_system& sys, router_config cfg);

} // namespace cc
