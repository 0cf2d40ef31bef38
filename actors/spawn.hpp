// How main and the jobmgr build actors from validated config sections.
// Each actor's file pair implements its spawn_* function; spawn_handler picks
// one by the section's schema kind.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/ack_caps.hpp"
#include "config/config.hpp"

namespace cc {

/// What every handler and daemon is built with.
struct spawn_context {
  caf::actor_system& sys;
  const config::server_config& cfg;
  caf::actor router;  // the process's router (dispatch_atom / reply_atom)
  /// Who acknowledges, for ack = auto and the echo answers (null: tests
  /// that do not care; then nothing is advertised or learned).
  ack_registry_ptr acks = nullptr;
};

caf::actor spawn_locallogger(spawn_context ctx, const config::section& sec);
caf::actor spawn_forwarder(spawn_context ctx, const config::section& sec);
caf::actor spawn_jobmgr(spawn_context ctx, const config::section& sec);
caf::actor spawn_tailwriter(spawn_context ctx, const config::section& sec);
/// Daemon: the tailer of `[d:...]` with `module = logtail`.
caf::actor spawn_tailer(spawn_context ctx, const config::section& sec);

/// The handler for `sec` by its kind; errc::config_invalid for an unknown kind.
caf::expected<caf::actor> spawn_handler(spawn_context ctx,
                                        const config::section& sec);

} // namespace cc
