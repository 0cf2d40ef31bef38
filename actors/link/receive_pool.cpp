// The central's receive buffers: see receive_pool.hpp.
#include "actors/link/receive_pool.hpp"

#include <algorithm>

#include <sys/mman.h>

namespace cc {

struct receive_pool::buffer {
  char* data = nullptr;
  size_t capacity = 0;
  // Set while the buffer is in use: a blob released after the gateway is
  // gone still has a pool to go back to. Null while kept (no cycle).
  std::shared_ptr<receive_pool> owner;
};

namespace {

receive_pool::buffer* map_buffer(size_t capacity) {
  void* at = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (at == MAP_FAILED)
    return nullptr;
  auto* b = new receive_pool::buffer;
  b->data = static_cast<char*>(at);
  b->capacity = capacity;
  return b;
}

void unmap_buffer(receive_pool::buffer* b) {
  ::munmap(b->data, b->capacity);
  delete b;
}

} // namespace

// -- lease ---------------------------------------------------------------------

receive_pool::lease::lease(lease&& other) noexcept : buf_(other.buf_) {
  other.buf_ = nullptr;
}

receive_pool::lease& receive_pool::lease::operator=(lease&& other) noexcept {
  if (this != &other) {
    lease dropped{std::move(*this)};
    buf_ = other.buf_;
    other.buf_ = nullptr;
  }
  return *this;
}

receive_pool::lease::~lease() {
  if (buf_ != nullptr)
    buf_->owner->give_back(buf_);
}

char* receive_pool::lease::data() const {
  return buf_ != nullptr ? buf_->data : nullptr;
}

size_t receive_pool::lease::capacity() const {
  return buf_ != nullptr ? buf_->capacity : 0;
}

// -- pool ----------------------------------------------------------------------

std::shared_ptr<receive_pool> receive_pool::make(size_t keep_bytes) {
  std::shared_ptr<receive_pool> pool{new receive_pool{keep_bytes}};
  // A class never holds more than keep_bytes of its buffers.
  for (size_t k = 0, capacity = min_pooled; k < classes; ++k, capacity *= 2)
    pool->free_[k].reserve(keep_bytes / capacity);
  return pool;
}

receive_pool::~receive_pool() {
  // Every buffer in use holds the pool: only kept ones are left here.
  for (auto& list : free_)
    for (auto* b : list)
      unmap_buffer(b);
}

size_t receive_pool::class_capacity(size_t size) {
  size_t capacity = min_pooled;
  while (capacity < size)
    capacity *= 2;
  return capacity;
}

size_t receive_pool::class_of(size_t capacity) {
  size_t k = 0;
  for (size_t c = min_pooled; c < capacity; c *= 2)
    ++k;
  return k;
}

receive_pool::lease receive_pool::take(size_t size) {
  if (!pooled(size))
    return lease{};
  auto capacity = class_capacity(size);
  buffer* b = nullptr;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto& list = free_[class_of(capacity)];
    if (!list.empty()) {
      b = list.back();
      list.pop_back();
      kept_bytes_ -= b->capacity;
    }
  }
  if (b != nullptr)
    ++hits_;
  else if ((b = map_buffer(capacity)) != nullptr)
    ++misses_;
  else
    return lease{};
  b->owner = shared_from_this();
  ++in_use_;
  return lease{b};
}

wire::blob_ptr receive_pool::seal(lease&& l, size_t size) {
  auto* b = l.buf_;
  l.buf_ = nullptr;
  // external() gives the buffer back itself if it cannot make the blob.
  return wire::blob::external(b->data, std::min(size, b->capacity), &release_blob, b);
}

void receive_pool::release_blob(void* context) {
  auto* b = static_cast<buffer*>(context);
  b->owner->give_back(b);
}

void receive_pool::give_back(buffer* b) {
  // The last reference to this pool may be the buffer's own: drop it only
  // after the lock is released.
  auto self = std::move(b->owner);
  --in_use_;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (kept_bytes_ + b->capacity <= keep_bytes_) {
      // Never reallocates (reserved in make()): this may run in a
      // blob's destructor.
      free_[class_of(b->capacity)].push_back(b);
      kept_bytes_ += b->capacity;
      return;
    }
  }
  ++unmapped_;
  unmap_buffer(b);
}

receive_pool::figures receive_pool::counts() const {
  figures f;
  f.hits = hits_.load();
  f.misses = misses_.load();
  f.unmapped = unmapped_.load();
  f.in_use = in_use_.load();
  std::lock_guard<std::mutex> guard{mtx_};
  f.kept_bytes = static_cast<int64_t>(kept_bytes_);
  return f;
}

} // namespace cc
