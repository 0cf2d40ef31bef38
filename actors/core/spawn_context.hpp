// What every handler and daemon is built with: the actor system, the
// validated configuration, the router and the ack-capability registry.
// Each actor's files implement their own spawn function from it; actors/spawn
// picks one by the section's schema kind.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <memory>

#include "actors/core/ack_caps.hpp"
#include "actors/core/direct_lanes.hpp"
#include "actors/core/router_actor.hpp"
#include "config/config.hpp"

namespace cc {

/// What every handler and daemon is built with.
struct spawn_context {
  caf::actor_system& sys;
  const config::server_config& cfg;
  router_actor router;  // the process's router (its contract: router_actor.hpp)
  /// Who acknowledges, for ack = auto and the echo answers (null: tests
  /// that do not care; then nothing is advertised or learned).
  ack_registry_ptr acks = nullptr;
  /// The process's direct lanes (null: none), where a handler that can take
  /// data connections' messages on the I/O loop puts its door.
  direct_lanes_ptr lanes = nullptr;
  /// `cfg` itself, shared (null: a test's configuration on its stack). An
  /// actor that keeps the configuration past its start (the jobmgr, which
  /// builds its daemons from it at every restart) holds this instead of a
  /// copy: a copy is about 5 KB per daemon section.
  std::shared_ptr<const config::server_config> shared_cfg = nullptr;
};

} // namespace cc
