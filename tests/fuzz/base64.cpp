// Fuzz target "base64": the input as the `data` field of a pub.logtail body
// (base64 text), and as raw bytes to encode.
//
// Properties: base64_decode fails only with decode_failed; what it decodes
// encodes back to text that decodes to the same bytes; encoding any bytes
// gives exactly base64_encoded_size() characters in lines of at most 76,
// which decode back to those bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "wire/base64.hpp"

using namespace cc::wire;
using cc::errc;
using cc_fuzz::code_of;

namespace {

void check_encoding(std::string_view bytes) {
  auto text = base64_encode(bytes);
  FUZZ_CHECK(text.size() == base64_encoded_size(bytes.size()),
             "base64_encoded_size disagrees with base64_encode");
  size_t line = 0;
  for (char c : text) {
    if (c == '\n') {
      line = 0;
      continue;
    }
    ++line;
    FUZZ_CHECK(line <= 76, "an encoded line is longer than 76 characters");
  }
  FUZZ_CHECK(text.empty() || text.back() == '\n',
             "encoded text does not end with a newline");
  auto back = base64_decode(text);
  FUZZ_CHECK(static_cast<bool>(back),
             "base64_decode refuses base64_encode's text");
  FUZZ_CHECK(*back == bytes, "decode(encode(x)) != x");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input{reinterpret_cast<const char*>(data), size};
  auto decoded = base64_decode(input);
  if (decoded) {
    FUZZ_CHECK(decoded->size() <= size / 4 * 3,
               "decoded more bytes than the text can hold");
    check_encoding(*decoded);
  } else {
    FUZZ_CHECK(code_of(decoded.error()) == errc::decode_failed,
               "base64_decode failed with an undocumented code");
  }
  check_encoding(input);
  return 0;
}
