// The body of the "gzip", "bzip2" and "zstd" fuzz targets: the input as one
// received fragment, given to wire::decompress with a 1 MiB cap
// (tests/fuzz/gzip.cpp, bzip2.cpp and zstd.cpp only pick the format).
//
// Properties: a failure is decode_failed or too_large; a success holds at most
// the cap, the cap is exact (the same input with cap = size - 1 is too_large,
// with cap = size it decodes to the same bytes), and the bytes survive a
// round trip through compress() and through a stream_compressor written in
// two pieces. Memory: while decompress() runs, the heap it holds (measured
// with the sanitizer allocator's hooks) stays within twice the cap (while the
// output grows, the old buffer and the bigger one coexist for a moment) plus
// the decoder's fixed state, whatever sizes the input claims.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <sanitizer/allocator_interface.h>

#include "fuzz_check.hpp"
#include "wire/codec.hpp"

namespace cc_fuzz {

constexpr size_t fragment_cap = 1 << 20;

/// Live heap bytes allocated between arm() and disarm(), and their peak.
/// The hooks run on the allocating thread; the targets are single-threaded.
struct heap_meter {
  static inline bool armed = false;
  static inline long long live = 0;
  static inline long long peak = 0;

  static void on_malloc(const volatile void*, size_t size) {
    if (!armed)
      return;
    live += static_cast<long long>(size);
    if (live > peak)
      peak = live;
  }
  static void on_free(const volatile void* ptr) {
    if (armed && ptr != nullptr)
      live -= static_cast<long long>(__sanitizer_get_allocated_size(ptr));
  }
  static void install() {
    static bool done = false;
    if (!done)
      __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    done = true;
  }
  static void arm() {
    live = peak = 0;
    armed = true;
  }
  static void disarm() {
    armed = false;
  }
};

/// Heap a decoder may hold besides its output: zlib's inflate state and
/// window (~40 KiB); libbz2's state for 900k blocks (~3.6 MiB); zstd's
/// context (~160 KiB) and a window of up to 8 MiB (the floor of the window
/// limit, for frames without a declared size; wire/codec_zstd.cpp); error
/// texts.
inline size_t decoder_state_bound(cc::wire::compression c) {
  if (c == cc::wire::compression::zstd)
    return (size_t{9} << 20) + (256 << 10);
  return c == cc::wire::compression::bzip2 ? (size_t{4} << 20) + (256 << 10)
                                           : size_t{256} << 10;
}

inline void check_codec(const uint8_t* data, size_t size,
                        cc::wire::compression c) {
  using namespace cc::wire;
  using cc::errc;
  heap_meter::install();
  std::string_view input{reinterpret_cast<const char*>(data), size};
  heap_meter::arm();
  auto plain = decompress(input, c, fragment_cap);
  heap_meter::disarm();
  FUZZ_CHECK(
      heap_meter::peak <=
          static_cast<long long>(2 * fragment_cap + decoder_state_bound(c)),
      "decompress held " + std::to_string(heap_meter::peak) +
          " bytes of heap with a cap of " + std::to_string(fragment_cap));
  if (!plain) {
    auto code = code_of(plain.error());
    FUZZ_CHECK(code == errc::decode_failed || code == errc::too_large,
               "decompress failed with an undocumented code: " +
                   cc::describe(plain.error()));
    return;
  }
  FUZZ_CHECK(plain->size() <= fragment_cap, "decompress passed its cap");
  if (!plain->empty()) {
    auto under = decompress(input, c, plain->size() - 1);
    FUZZ_CHECK(!under && code_of(under.error()) == errc::too_large,
               "a cap one byte short of the output is not too_large");
  }
  auto exact = decompress(input, c, plain->size());
  FUZZ_CHECK(exact && *exact == *plain,
             "a cap equal to the output does not give the same bytes");
  auto packed = compress(*plain, c, 1);
  FUZZ_CHECK(static_cast<bool>(packed),
             "compress failed on decompressed bytes");
  auto again = decompress(*packed, c, fragment_cap);
  FUZZ_CHECK(again && *again == *plain, "compress/decompress round trip");
  // The copy writer's way: a stream_compressor fed in pieces, one member.
  std::string streamed;
  stream_compressor sc{c, 1};
  auto half = plain->size() / 2;
  FUZZ_CHECK(!sc.write(std::string_view{*plain}.substr(0, half), streamed) &&
                 !sc.write(std::string_view{*plain}.substr(half), streamed) &&
                 !sc.finish(streamed),
             "stream_compressor failed");
  FUZZ_CHECK(!sc.member_open(), "a member is still open after finish()");
  auto streamed_back = decompress(streamed, c, fragment_cap);
  FUZZ_CHECK(streamed_back && *streamed_back == *plain,
             "stream_compressor output does not decompress to its input");
}

} // namespace cc_fuzz
