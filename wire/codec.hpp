// Fragment compression (SPEC §6, §7): each compressed fragment is one complete
// gzip or bzip2 stream (or zstd frame), so concatenated fragments form a valid
// multi-member file. zstd is our extension, sent only to peers that announce it
// (docs/wire.md §6.6); the original CC knows gzip and bzip2 only.
// decompress() is the receiver's guard against bombs: it never holds more than
// `cap` bytes of output and stops the moment the output would pass the cap.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace cc::wire {

enum class compression { none, gzip, bzip2, zstd };

/// "", "none" -> none; "gzip"; "bzip2"; "zstd"; anything else nullopt.
std::optional<compression> parse_compression(std::string_view name);
/// "none", "gzip", "bzip2" or "zstd".
const char* to_string(compression c);
/// ".gz", ".bz2", ".zst" or "".
const char* file_extension(compression c);

/// The level used for `level` 0 (unset): 6 for gzip, 3 for bzip2, as the
/// original's cc.util.compress; 3 for zstd (its own default).
int default_level(compression c);

/// One complete stream of `bytes` at `level` (1..9; 0 means default_level).
/// Level outside 0..9: errc::config_invalid. none: the bytes unchanged.
/// gzip is the gzip format (RFC 1952, as `gzip` and Python's gzip module
/// write it), bzip2 the .bz2 format, zstd one zstd frame (RFC 8878) that
/// declares its content size.
caf::expected<std::string> compress(std::string_view bytes, compression c,
                                    int level);

/// Decompresses every member of `bytes`. Fails with errc::too_large as soon as
/// the output would exceed `cap` bytes (a bomb is refused, not inflated), and
/// with errc::decode_failed on corrupt or truncated input (an empty input is
/// truncated; bytes after a member must form another whole member). zstd is
/// refused before any output is made when the frames' declared content sizes
/// add up past `cap`, or a frame asks for a window larger than the cap needs.
/// none: the bytes unchanged, too_large if longer than `cap`.
caf::expected<std::string> decompress(std::string_view bytes, compression c,
                                      size_t cap);

/// Streaming compressor for writers that append to a compressed copy: each
/// finish() closes one member.
class stream_compressor {
public:
  /// `level` as for compress(); a bad level makes every call fail.
  stream_compressor(compression c, int level);
  ~stream_compressor();
  stream_compressor(const stream_compressor&) = delete;
  stream_compressor& operator=(const stream_compressor&) = delete;

  /// Appends compressed output for `bytes` to `out`. Opens a member if none
  /// is open (even for empty `bytes`). For none, appends `bytes` as they are.
  caf::error write(std::string_view bytes, std::string& out);
  /// Ends the current member, appending its tail to `out`; the next write
  /// starts a new member. Without an open member it appends nothing.
  caf::error finish(std::string& out);
  /// Whether a member is open (written to and not finished).
  bool member_open() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Streaming decompressor for a multi-member gzip or bzip2 file read piece by
/// piece (a log generation that a rotation compressed): output is produced as
/// asked, never more than the room given, so memory stays bounded whatever
/// the file's size.
class stream_decompressor {
public:
  explicit stream_decompressor(compression c);
  ~stream_decompressor();
  stream_decompressor(const stream_decompressor&) = delete;
  stream_decompressor& operator=(const stream_decompressor&) = delete;

  /// Decompresses from the front of `in` (consumed bytes are removed) into
  /// `out`, appending at most `room` bytes. Returns the bytes appended; 0
  /// with `in` empty means it needs more input. errc::decode_failed on
  /// corrupt data. For none, copies.
  caf::expected<size_t> read(std::string_view& in, char* out, size_t room);
  /// Whether the input consumed so far ends exactly at the end of a member
  /// (a file that ends here is complete; one that ends elsewhere was cut).
  bool at_member_end() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace cc::wire
