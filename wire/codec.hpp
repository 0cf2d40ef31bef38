// Fragment compression (SPEC §6, §7): each compressed fragment is one complete
// gzip or bzip2 stream, so concatenated fragments form a valid multi-member file.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace cc::wire {

enum class compression { none, gzip, bzip2 };

/// "", "none" -> none; "gzip"; "bzip2"; anything else nullopt.
std::optional<compression> parse_compression(std::string_view name);
const char* to_string(compression c);
/// ".gz", ".bz2" or "".
const char* file_extension(compression c);

/// One complete stream of `bytes` at `level` (1..9).
caf::expected<std::string> compress(std::string_view bytes, compression c,
                                    int level);

/// Decompresses every member of `bytes`. Fails with errc::too_large as soon as
/// the output would exceed `cap` bytes (a bomb is refused, not inflated), and
/// with errc::decode_failed on corrupt or truncated input.
caf::expected<std::string> decompress(std::string_view bytes, compression c,
                                      size_t cap);

/// Streaming compressor for writers that append to a compressed copy: each
/// finish() closes one member.
class stream_compressor {
public:
  stream_compressor(compression c, int level);
  ~stream_compressor();
  stream_compressor(const stream_compressor&) = delete;
  stream_compressor& operator=(const stream_compressor&) = delete;

  /// Appends compressed output for `bytes` to `out`.
  caf::error write(std::string_view bytes, std::string& out);
  /// Ends the current member, appending its tail to `out`; the next write
  /// starts a new member.
  caf::error finish(std::string& out);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace cc::wire
