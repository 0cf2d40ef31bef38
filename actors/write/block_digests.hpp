// Block digests of a copy's segments (docs/wire.md §6.1): XXH3-64 of the
// source bytes of every block of wire::digest_block source offsets
// ([k MiB, (k + 1) MiB), clipped to the segment), computed from the bytes as
// they are written rather than read back later.
//
// Owns: values only. A block_map holds the digests of one segment's blocks;
// a block_hasher runs the digest of the block being written at the end of a
// copy's last segment. copy_file keeps one of each and journals what they
// produce (D and P lines, see copy_writer.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string_view>

#include "wire/digest.hpp"

namespace cc::tw {

/// The start of the block holding source offset `x`.
constexpr uint64_t block_floor(uint64_t x) {
  return x - x % wire::digest_block;
}

/// Where the block of a segment starting at `src_base` that ends at `to`
/// begins: a block start, or the segment's base for its first block.
constexpr uint64_t block_from(uint64_t src_base, uint64_t to) {
  uint64_t start = to == 0 ? 0 : block_floor(to - 1);
  return start < src_base ? src_base : start;
}

/// The end of the block that starts at `from` in a segment ending at
/// `src_end`: the next block boundary, or the segment's end.
constexpr uint64_t block_to(uint64_t from, uint64_t src_end) {
  uint64_t end = block_floor(from) + wire::digest_block;
  return end < src_end ? end : src_end;
}

/// Digests of one segment's blocks, by the block's end offset. A complete
/// block ends at a multiple of digest_block; an entry ending elsewhere is
/// the segment's partial last block and holds only while the segment ends
/// there.
using block_map = std::map<uint64_t, uint64_t>;

/// The running XXH3-64 of the block being written: source bytes
/// [from(), pos()). Invalid until restart(); while invalid it resumes by
/// itself at the next block boundary the fed bytes cross.
class block_hasher {
public:
  /// Starts a block at `at` (a block start or a segment's base), empty.
  void restart(uint64_t at) {
    stream_.reset();
    from_ = pos_ = at;
    valid_ = true;
  }
  void invalidate() {
    valid_ = false;
  }
  bool valid() const {
    return valid_;
  }
  uint64_t from() const {
    return from_;
  }
  uint64_t pos() const {
    return pos_;
  }
  /// The digest of [from(), pos()); meaningful while valid().
  uint64_t value() const {
    return stream_.value();
  }

  /// Feeds `bytes`, the source bytes at offset `at`. Each block completed on
  /// the way is handed to `done(block_end, digest)` and the next starts
  /// empty. Bytes that do not continue pos() invalidate the hasher first.
  template <class F>
  void feed(uint64_t at, std::string_view bytes, F&& done) {
    if (valid_ && at != pos_)
      valid_ = false;
    if (!valid_) {
      // Resume at the first block boundary inside the bytes, if any.
      uint64_t next =
          block_floor(at) + (at % wire::digest_block ? wire::digest_block : 0);
      if (next >= at + bytes.size())
        return;
      bytes.remove_prefix(static_cast<size_t>(next - at));
      restart(next);
      at = next;
    }
    while (!bytes.empty()) {
      uint64_t end = block_floor(pos_) + wire::digest_block;
      auto take = static_cast<size_t>(std::min<uint64_t>(bytes.size(), end - pos_));
      stream_.update(bytes.substr(0, take));
      bytes.remove_prefix(take);
      pos_ += take;
      if (pos_ == end) {
        done(end, stream_.value());
        restart(end);
      }
    }
  }

private:
  wire::digest_stream stream_;
  uint64_t from_ = 0;
  uint64_t pos_ = 0;
  bool valid_ = false;
};

/// A block_hasher that may be stale: what its copy holds changed under it
/// (a reopen, a cut, a rewrite of the block being written) and it has not
/// been rebuilt from the copy yet. The hasher is reached only through get(),
/// which rebuilds it first when stale, or restart(), which makes it current:
/// a reopen that writes nothing never pays the rebuild, and no use of a
/// stale hasher is possible.
class lazy_block_hasher {
public:
  /// The hasher, rebuilt by `rebuild(block_hasher&)` first when stale.
  template <class Rebuild>
  block_hasher& get(Rebuild&& rebuild) {
    if (stale_) {
      stale_ = false;
      rebuild(hasher_);
    }
    return hasher_;
  }
  /// Starts a block at `at`, empty (no rebuild: nothing before it counts).
  block_hasher& restart(uint64_t at) {
    stale_ = false;
    hasher_.restart(at);
    return hasher_;
  }
  /// The block being written must be digested again from the copy before
  /// the hasher is used next.
  void mark_stale() {
    stale_ = true;
  }
  bool stale() const {
    return stale_;
  }

private:
  block_hasher hasher_;
  bool stale_ = false;
};

} // namespace cc::tw
