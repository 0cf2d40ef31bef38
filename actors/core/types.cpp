#include "actors/core/types.hpp"

#include "actors/core/atoms.hpp"
#include "base/error.hpp"
#include "wire/message.hpp"

namespace cc {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<wire::cc_message>("cc_message");
  cfg.add_message_type<counters>("cc_counters");
  cfg.add_error_category(error_category, [](uint8_t code, caf::atom_value,
                                           const caf::message& ctx) {
    return describe(caf::error{code, error_category, ctx});
  });
}

} // namespace cc
