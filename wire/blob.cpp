#include "wire/blob.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace cc::wire {

// -- byte_buffer ---------------------------------------------------------------

byte_buffer::byte_buffer(byte_buffer&& other) noexcept
  : bytes_(std::move(other.bytes_)),
    size_(other.size_),
    capacity_(other.capacity_) {
  other.size_ = other.capacity_ = 0;
}

byte_buffer& byte_buffer::operator=(byte_buffer&& other) noexcept {
  bytes_ = std::move(other.bytes_);
  size_ = other.size_;
  capacity_ = other.capacity_;
  other.size_ = other.capacity_ = 0;
  return *this;
}

char* byte_buffer::append_space(size_t n) {
  if (capacity_ - size_ < n) {
    auto capacity = std::max(size_ + n, 2 * capacity_);
    // new char[] leaves the bytes uninitialised (make_unique would zero them).
    std::unique_ptr<char[]> bytes{new char[capacity]};
    if (size_ > 0)
      std::memcpy(bytes.get(), bytes_.get(), size_);
    bytes_ = std::move(bytes);
    capacity_ = capacity;
  }
  return bytes_.get() + size_;
}

void byte_buffer::append(std::string_view bytes) {
  if (bytes.empty())
    return;
  std::memcpy(append_space(bytes.size()), bytes.data(), bytes.size());
  commit(bytes.size());
}

void byte_buffer::erase_front(size_t n) {
  n = std::min(n, size_);
  if (n < size_)
    std::memmove(bytes_.get(), bytes_.get() + n, size_ - n);
  size_ -= n;
}

// -- blob ------------------------------------------------------------------------

blob::blob(private_tag, std::string bytes)
  : kind_(storage::string), string_(std::move(bytes)) {
  data_ = string_.data();
  size_ = string_.size();
}

blob::blob(private_tag, byte_buffer&& bytes)
  : size_(bytes.size_), kind_(storage::buffer), buffer_(std::move(bytes.bytes_)) {
  data_ = buffer_.get();
  bytes.size_ = bytes.capacity_ = 0;
}

blob::blob(private_tag, const char* data, size_t size, release_fn release,
           void* context)
  : data_(data),
    size_(size),
    kind_(storage::external),
    release_(release),
    context_(context) {
}

blob::blob(private_tag, file_range range)
  : size_(range.length), kind_(storage::file), range_(std::move(range)) {
}

blob::~blob() {
  if (release_ != nullptr)
    release_(context_);
}

blob_ptr blob::from_string(std::string bytes) {
  return std::make_shared<const blob>(private_tag{}, std::move(bytes));
}

blob_ptr blob::copy_of(std::string_view bytes) {
  byte_buffer buf;
  buf.append(bytes);
  return from_buffer(std::move(buf));
}

blob_ptr blob::from_buffer(byte_buffer&& bytes) {
  return std::make_shared<const blob>(private_tag{}, std::move(bytes));
}

blob_ptr blob::external(const char* data, size_t size, release_fn release,
                        void* context) {
  try {
    return std::make_shared<const blob>(private_tag{}, data, size, release,
                                        context);
  } catch (...) {
    release(context);
    throw;
  }
}

blob_ptr blob::from_file(file_range range) {
  return std::make_shared<const blob>(private_tag{}, std::move(range));
}

void blob::unloaded_access() {
  // A consumer took the bytes of a file range without load(): a bug. Bytes
  // made up here would end up in a copy; stopping shows the bug at once.
  std::fputs("ccserver: BUG: the bytes of a file-range blob were used without "
             "wire::load()\n",
             stderr);
  std::abort();
}

caf::expected<blob_ptr> load(const blob_ptr& b) {
  const file_range* range = b ? b->file() : nullptr;
  if (range == nullptr)
    return b;
  byte_buffer bytes;
  char* room = bytes.append_space(range->length);
  if (auto err = read_range(*range, room))
    return err;
  bytes.commit(range->length);
  return blob::from_buffer(std::move(bytes));
}

} // namespace cc::wire
