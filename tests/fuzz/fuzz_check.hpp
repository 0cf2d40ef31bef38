// Shared by the libFuzzer targets in tests/fuzz/: a check that aborts (so
// libFuzzer saves the input as a crash) and the error-code helpers the
// targets use to hold results to their documented contracts.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <caf/error.hpp>

#include "base/error.hpp"

/// Aborts with the condition's text and `what` when `cond` is false. Property
/// violations are crashes to libFuzzer, like sanitizer reports.
#define FUZZ_CHECK(cond, what)                                                 \
  do {                                                                         \
    if (!(cond))                                                               \
      ::cc_fuzz::fail(__FILE__, __LINE__, #cond, (what));                      \
  } while (false)

namespace cc_fuzz {

[[noreturn]] inline void fail(const char* file, int line, const char* cond,
                              const std::string& what) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", file, line, cond,
               what.c_str());
  std::abort();
}

/// The cc::errc of `err`, or none when it is not one of ours.
inline cc::errc code_of(const caf::error& err) {
  if (err.category() != cc::error_category)
    return cc::errc::none;
  return static_cast<cc::errc>(err.code());
}

/// Printable form of possibly binary text, for failure messages.
inline std::string shown(std::string_view s, size_t max = 200) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max)
    out += "...";
  return out;
}

} // namespace cc_fuzz
