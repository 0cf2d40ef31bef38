// The one place that registers every custom message type with CAF, so it can
// cross the middleman (cfg.add_message_type with an inspect overload).
#pragma once

#include <caf/actor_system_config.hpp>

namespace cc {

/// Registers cc_message, counters and the project's error category.
void register_types(caf::actor_system_config& cfg);

} // namespace cc
