// The central's receive buffers for data connections (docs/wire.md §6.8,
// docs/architecture.md "Where a fragment's bytes live"): a bounded pool of
// reusable buffers that a fragment's blob is read into on the I/O loop and
// that goes back to the pool, not to free(), when the blob's last handle
// drops — usually on a tailwriter worker's thread once the fragment is
// written.
//
// Why not malloc: a blob allocated on `cc-io` and freed on a worker lands in
// glibc's arenas once its dynamic mmap threshold has risen past the blob
// size; the freed ~1 MiB chunks stay in the arena's free lists and the
// process's RSS keeps their high-water mark (session 12: 33 -> 45 MiB over
// a 10 GB backlog with a live heap of 9.6 MB). The pool's buffers are their
// own mappings (mmap), never in an arena: what the pool keeps is reused as
// is, and what it does not keep goes back to the kernel at once.
//
// Size classes: powers of two from min_pooled (64 KiB) to max_pooled
// (4 MiB); a blob takes a buffer of the smallest class that holds it.
// Smaller and larger blobs are not pooled (the caller allocates them as
// before): small ones are cheap for malloc and a trickle's many small
// fragments would each pin a whole class buffer; larger ones are rare.
//
// Bound: the pool keeps at most `keep_bytes` of free buffers; a buffer
// given back beyond that is unmapped. Buffers in use are not the pool's to
// bound: the gateway's in-flight budget is (reading pauses once that many
// bytes were handed on and not yet written), so the gateway sizes
// keep_bytes from it (gateway.cpp: budget + max_pooled, one budget's worth
// of fragments in flight plus the one read past it).
//
// Thread safety: take() and the release of a blob run on any threads; one
// mutex guards the free lists (a push or pop per blob, ~1,500 a second at
// 1.5 GB/s). The pool lives until its last buffer is back (each buffer in
// use holds it).
//
// Owns: its free buffers' mappings; a buffer in use is owned by its lease,
// then by its blob.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "wire/blob.hpp"

namespace cc {

class receive_pool : public std::enable_shared_from_this<receive_pool> {
public:
  static constexpr size_t min_pooled = size_t{64} << 10;
  static constexpr size_t max_pooled = size_t{4} << 20;

  struct buffer;  // one mapping, and the pool it returns to while in use

  /// One buffer, taken: filled by its holder, then sealed into a blob or
  /// given back when dropped. Empty when the pool had none to give.
  class lease {
  public:
    lease() = default;
    lease(lease&&) noexcept;
    lease& operator=(lease&&) noexcept;
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease();

    explicit operator bool() const { return buf_ != nullptr; }
    char* data() const;
    size_t capacity() const;

  private:
    friend class receive_pool;
    explicit lease(buffer* b) : buf_(b) {}
    buffer* buf_ = nullptr;
  };

  /// What the pool did so far (for the gateway's stats).
  struct figures {
    int64_t hits = 0;        // takes served by a kept buffer
    int64_t misses = 0;      // takes that mapped a new one
    int64_t unmapped = 0;    // buffers given back past keep_bytes
    int64_t kept_bytes = 0;  // gauge: free buffers' bytes held now
    int64_t in_use = 0;      // gauge: buffers taken and not back yet
  };

  static std::shared_ptr<receive_pool> make(size_t keep_bytes);
  ~receive_pool();
  receive_pool(const receive_pool&) = delete;
  receive_pool& operator=(const receive_pool&) = delete;

  /// Whether a blob of `size` bytes is pooled (its class exists).
  static bool pooled(size_t size) {
    return size >= min_pooled && size <= max_pooled;
  }
  /// The capacity of the class that holds `size` (pooled(size)).
  static size_t class_capacity(size_t size);

  /// A buffer of at least `size` bytes (uninitialised; a kept one holds
  /// an earlier blob's bytes); empty when `size` is not pooled or the
  /// mapping failed (the caller allocates as before).
  lease take(size_t size);

  /// A blob of the first `size` bytes of `l` (size <= capacity), which it
  /// owns from now on: the buffer returns to its pool when the blob's last
  /// handle drops, on whichever thread that is.
  static wire::blob_ptr seal(lease&& l, size_t size);

  figures counts() const;
  size_t keep_bytes() const { return keep_bytes_; }

private:
  static constexpr size_t classes = 7;  // 64 KiB .. 4 MiB
  explicit receive_pool(size_t keep_bytes) : keep_bytes_(keep_bytes) {}
  static size_t class_of(size_t capacity);
  /// A buffer comes back (lease dropped or blob released): kept, or
  /// unmapped past keep_bytes.
  void give_back(buffer* b);
  static void release_blob(void* context);

  const size_t keep_bytes_;
  mutable std::mutex mtx_;  // guards free_, kept_bytes_
  std::array<std::vector<buffer*>, classes> free_;
  size_t kept_bytes_ = 0;
  std::atomic<int64_t> hits_{0}, misses_{0}, unmapped_{0}, in_use_{0};
};

using receive_pool_ptr = std::shared_ptr<receive_pool>;

} // namespace cc
