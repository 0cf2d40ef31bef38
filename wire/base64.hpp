// Base64 for the `data` field of pub.logtail (SPEC §7) when use-blob = no.
// The original sends Python 2's `str.encode('base64')` (= base64.encodestring):
// standard alphabet, '=' padding, a '\n' after every 76 output characters and
// after the last line. Decoding skips whitespace, so any line length works.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace cc::wire {

/// Base64 as Python 2's base64.encodestring writes it: a '\n' after every 76
/// output characters and after the last line. Empty input gives "".
std::string base64_encode(std::string_view bytes);

/// Exact length of base64_encode(bytes) for `n` input bytes.
size_t base64_encoded_size(size_t n);

/// Decodes base64, skipping whitespace (space, \t, \n, \v, \f, \r); fails with
/// errc::decode_failed on a character outside the alphabet, misplaced '='
/// padding, or a length (whitespace excluded) that is not a multiple of 4.
caf::expected<std::string> base64_decode(std::string_view text);

} // namespace cc::wire
