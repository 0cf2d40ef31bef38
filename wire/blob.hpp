// The blob frame's bytes: immutable and shared (blob_ptr), so handing a
// fragment to several actors or to ZeroMQ costs a reference count, never a
// copy. Where the bytes live depends on who made them:
//   from_string  a std::string moved in (small frames, compressed payloads,
//                bytes loaded from CAF's serializer);
//   from_buffer  a byte_buffer moved in: the tailer reads into one (no
//                zero-fill) and hands it over as the fragment's blob;
//   external     memory someone else owns, given back by a release callback
//                when the last handle goes: the gateway keeps a large
//                received frame in its zmq_msg_t (actors/link/zmq_transport.cpp),
//                so wire/ does not depend on libzmq.
// data()/size() read two fields: no dispatch on the way the bytes are owned.
#pragma once

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

namespace cc::wire {

/// A growable byte buffer whose new bytes are not initialised: append_space()
/// hands out room to fill (a pread), commit() counts what was filled.
class byte_buffer {
public:
  byte_buffer() = default;
  byte_buffer(byte_buffer&& other) noexcept;
  byte_buffer& operator=(byte_buffer&& other) noexcept;
  byte_buffer(const byte_buffer&) = delete;
  byte_buffer& operator=(const byte_buffer&) = delete;

  const char* data() const { return bytes_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {bytes_.get(), size_}; }

  /// At least `n` writable bytes after size(), uninitialised; the buffer
  /// grows (at least doubling, keeping its bytes) when it has less room.
  char* append_space(size_t n);
  /// The first `n` bytes of the last append_space() are now content.
  void commit(size_t n) { size_ += n; }
  /// Appends a copy of `bytes`.
  void append(std::string_view bytes);
  /// Keeps the first `n` bytes (n <= size()); the capacity stays.
  void truncate(size_t n) { size_ = n < size_ ? n : size_; }
  /// Drops the first `n` bytes, moving the rest to the front.
  void erase_front(size_t n);
  void clear() { size_ = 0; }

private:
  std::unique_ptr<char[]> bytes_;
  size_t size_ = 0;
  size_t capacity_ = 0;

  friend class blob;
};

class blob;
using blob_ptr = std::shared_ptr<const blob>;

class blob {
  struct private_tag {};  // only the factories below make blobs

public:
  /// How the bytes are held (for tests and diagnostics).
  enum class storage { string, buffer, external };
  /// Gives external bytes back; runs exactly once, on whichever thread drops
  /// the last handle.
  using release_fn = void (*)(void* context);

  /// Takes `bytes` over (moved, not copied).
  static blob_ptr from_string(std::string bytes);
  /// A copy of `bytes` in a fresh buffer.
  static blob_ptr copy_of(std::string_view bytes);
  /// Takes the buffer's bytes over (its capacity too); `bytes` is left empty.
  static blob_ptr from_buffer(byte_buffer&& bytes);
  /// `size` bytes at `data`, owned elsewhere and valid until
  /// `release(context)`, which runs exactly once: when the last handle goes,
  /// or at once if this throws (std::bad_alloc).
  static blob_ptr external(const char* data, size_t size, release_fn release,
                           void* context);

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data_, size_}; }
  storage kind() const { return kind_; }

  // Constructed in place by the factories (make_shared); never moved, so
  // data() stays valid for the blob's life (a short string's bytes live
  // inside the blob itself).
  blob(private_tag, std::string bytes);
  blob(private_tag, byte_buffer&& bytes);
  blob(private_tag, const char* data, size_t size, release_fn release,
       void* context);
  ~blob();
  blob(const blob&) = delete;
  blob& operator=(const blob&) = delete;

  friend bool operator==(const blob& a, const blob& b) {
    return a.view() == b.view();
  }
  friend bool operator==(const blob& a, std::string_view b) {
    return a.view() == b;
  }
  friend bool operator==(std::string_view a, const blob& b) {
    return a == b.view();
  }
  friend bool operator!=(const blob& a, const blob& b) { return !(a == b); }
  friend bool operator!=(const blob& a, std::string_view b) {
    return !(a == b);
  }
  friend bool operator!=(std::string_view a, const blob& b) {
    return !(a == b);
  }
  /// The size, not the bytes: a blob may be megabytes of binary.
  friend std::ostream& operator<<(std::ostream& out, const blob& b) {
    return out << "blob(" << b.size() << " bytes)";
  }

private:
  const char* data_ = nullptr;
  size_t size_ = 0;
  storage kind_;
  std::string string_;              // storage::string
  std::unique_ptr<char[]> buffer_;  // storage::buffer
  release_fn release_ = nullptr;    // storage::external
  void* context_ = nullptr;
};

} // namespace cc::wire
