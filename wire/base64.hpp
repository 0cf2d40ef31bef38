#pragma once

#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace cc::wire {

/// Base64 as Python 2's base64.encodestring writes it: a '\n' after every 76
/// output characters and after the last line.
std::string base64_encode(std::string_view bytes);

/// Decodes base64, skipping whitespace; errc::decode_failed on bad input.
caf::expected<std::string> base64_decode(std::string_view text);

} // namespace cc::wire
