#include "base/error.hpp"

#include <caf/message.hpp>

namespace cc {

const char* to_string(errc x) {
  switch (x) {
    case errc::none: return "none";
    case errc::config_syntax: return "config_syntax";
    case errc::config_invalid: return "config_invalid";
    case errc::io: return "io";
    case errc::malformed_frames: return "malformed_frames";
    case errc::invalid_type: return "invalid_type";
    case errc::invalid_body: return "invalid_body";
    case errc::decode_failed: return "decode_failed";
    case errc::too_large: return "too_large";
    case errc::path_refused: return "path_refused";
    case errc::queue_full: return "queue_full";
    case errc::no_route: return "no_route";
    case errc::role_denied: return "role_denied";
    case errc::unavailable: return "unavailable";
  }
  return "unknown";
}

std::string message_of(const caf::error& err) {
  const auto& ctx = err.context();
  if (err && ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return describe(err);
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  std::string out;
  if (err.category() == error_category)
    out = to_string(static_cast<errc>(err.code()));
  else
    out = caf::to_string(err.category()) + ":" + std::to_string(err.code());
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) {
    out += ": ";
    out += ctx.get_as<std::string>(0);
  }
  return out;
}

} // namespace cc
