// Project error codes. Every fallible function returns caf::error or
// caf::expected<T>; the context string names the file, section and key, or the
// path and errno, so a message is useful without a debugger.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace cc {

enum class errc : uint8_t {
  none = 0,
  config_syntax,     // the INI file does not parse
  config_invalid,    // a value, a missing key, an unknown type
  io,                // a system call failed (context: path and strerror)
  malformed_frames,  // multipart shape is wrong (no delimiter, too few frames)
  invalid_type,      // message type is not dot-separated [A-Za-z0-9_-] words
  invalid_body,      // JSON does not parse or lacks a required field
  decode_failed,     // base64 / gzip / bzip2 data is corrupt
  too_large,         // decompressed size would exceed the cap
  path_refused,      // a destination escapes dstdir
  queue_full,        // a bounded queue pushes back
  no_route,          // no handler for a message type
  role_denied,       // a handler may not run in this cc-role
  unavailable,       // remote side not connected
};

const char* to_string(errc x);

/// The error category of every cc::errc.
constexpr caf::atom_value error_category = caf::atom("cc");

inline caf::error make_error(errc x) {
  return {static_cast<uint8_t>(x), error_category};
}

inline caf::error make_error(errc x, std::string context) {
  return {static_cast<uint8_t>(x), error_category,
          caf::make_message(std::move(context))};
}

/// "io: /var/log/x: No such file or directory" style text for any error of
/// ours; falls back to CAF's rendering for other categories.
/// The message alone, for people: "already running as pid 12" rather than
/// describe()'s "io: already running as pid 12" (the code name is ours, not
/// theirs). Falls back to describe() when there is no message.
std::string message_of(const caf::error& err);

std::string describe(const caf::error& err);

} // namespace cc
