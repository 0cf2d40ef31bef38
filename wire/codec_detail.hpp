// What the codec's files share and nobody else uses (wire/codec.cpp for gzip
// and bzip2, wire/codec_zstd.cpp for zstd): the capped output buffer of the
// one-shot decompressors, their errors, and the zstd entry points that
// codec.cpp dispatches to. Not part of the wire library's interface.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace cc::wire::detail {

/// errc::decode_failed: `format` input of `size` bytes ends inside a stream.
caf::error truncated(const char* format, size_t size);
/// errc::too_large: `in_size` bytes of `format` decompress past `cap`.
caf::error over_cap(const char* format, size_t in_size, size_t cap);

// The decompressor's output: grows geometrically but never past `cap`, and
// with exactly the capacity asked for (std::string::resize may double).
class capped_output {
public:
  capped_output(size_t cap, size_t first_size) : cap_(cap) {
    resize_to(std::min(cap, first_size));
  }

  /// Room to write into; when the cap is reached, a 1-byte probe whose use
  /// means the output would exceed the cap.
  std::pair<char*, size_t> room() {
    if (used_ == buf_.size() && buf_.size() < cap_)
      resize_to(std::min(cap_, std::max<size_t>(buf_.size() * 2, 64 * 1024)));
    if (used_ < buf_.size())
      return {buf_.data() + used_, buf_.size() - used_};
    return {&probe_, 1};
  }

  bool at_cap() const {
    return used_ == buf_.size() && buf_.size() == cap_;
  }

  void produced(size_t n) {
    used_ += n;
  }

  std::string take() {
    buf_.resize(used_);
    return std::move(buf_);
  }

private:
  void resize_to(size_t size) {
    if (size <= buf_.capacity()) {
      buf_.resize(size);
      return;
    }
    std::string bigger;
    bigger.reserve(size); // from an empty string: exactly `size`
    bigger.append(buf_, 0, used_);
    bigger.resize(size);
    buf_.swap(bigger);
  }

  size_t cap_;
  size_t used_ = 0;
  std::string buf_;
  char probe_ = 0;
};

/// One zstd frame of `bytes` at `level` (already checked: 1..9), its content
/// size declared in the frame header.
caf::expected<std::string> zstd_compress(std::string_view bytes, int level);

/// Every frame of `bytes`, never more than `cap` bytes of output (see
/// wire::decompress).
caf::expected<std::string> zstd_decompress(std::string_view bytes, size_t cap);

/// zstd under stream_compressor: frames opened and ended on request.
class zstd_writer {
public:
  explicit zstd_writer(int level);
  ~zstd_writer();
  zstd_writer(const zstd_writer&) = delete;
  zstd_writer& operator=(const zstd_writer&) = delete;

  /// Appends the compressed form of `bytes` to `out`; with `end`, ends the
  /// frame (the next write starts another).
  caf::error write(std::string_view bytes, bool end, std::string& out);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// zstd under stream_decompressor (see its read()).
class zstd_reader {
public:
  zstd_reader();
  ~zstd_reader();
  zstd_reader(const zstd_reader&) = delete;
  zstd_reader& operator=(const zstd_reader&) = delete;

  caf::expected<size_t> read(std::string_view& in, char* out, size_t room);
  bool at_frame_end() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace cc::wire::detail
