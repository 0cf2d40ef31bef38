// How main builds the process's actors from validated config sections: the
// top of actors/, the one place that knows every kind. Each actor's files
// implement their own spawn function from a spawn_context
// (actors/core/spawn_context.hpp); spawn_handler picks one by the section's
// schema kind, spawn_jobmgr gives the jobmgr its daemon factory.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/core/spawn_context.hpp"
#include "config/config.hpp"

namespace cc {

caf::actor spawn_locallogger(spawn_context ctx, const config::section& sec);
caf::actor spawn_forwarder(spawn_context ctx, const config::section& sec);
caf::actor spawn_jobmgr(spawn_context ctx, const config::section& sec);

/// The handler for `sec` by its kind; errc::config_invalid for an unknown kind.
caf::expected<caf::actor> spawn_handler(spawn_context ctx,
                                        const config::section& sec);

} // namespace cc
