// Fuzz target "zstd": the input as one received zstd fragment; see
// codec_target.hpp for the properties checked.
#include "codec_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cc_fuzz::check_codec(data, size, cc::wire::compression::zstd);
  return 0;
}
