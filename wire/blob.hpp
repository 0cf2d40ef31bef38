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
//   file         no bytes in memory: a range of an open file (file_range.hpp).
//                The tailer cuts uncompressed fragments so; the data
//                connection sendfile()s them; every other consumer must
//                load() one first (data() of an unloaded range is a bug and
//                aborts, loudly, rather than hand out bytes it does not have).
// data()/size() read fields: no dispatch on the way bytes in memory are owned.
#pragma once

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "wire/file_range.hpp"

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
  /// How the bytes are held.
  enum class storage { string, buffer, external, file };
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
  /// The bytes of `range`, left in the file until someone reads them.
  static blob_ptr from_file(file_range range);

  /// The bytes in memory; never for storage::file (load() first).
  const char* data() const {
    if (kind_ == storage::file)
      unloaded_access();
    return data_;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data(), size_}; }
  storage kind() const { return kind_; }
  /// The file range of a storage::file blob, else null.
  const file_range* file() const {
    return kind_ == storage::file ? &range_ : nullptr;
  }

  // Constructed in place by the factories (make_shared); never moved, so
  // data() stays valid for the blob's life (a short string's bytes live
  // inside the blob itself).
  blob(private_tag, std::string bytes);
  blob(private_tag, byte_buffer&& bytes);
  blob(private_tag, const char* data, size_t size, release_fn release,
       void* context);
  blob(private_tag, file_range range);
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
  [[noreturn]] static void unloaded_access();

  const char* data_ = nullptr;
  size_t size_ = 0;
  storage kind_;
  std::string string_;              // storage::string
  std::unique_ptr<char[]> buffer_;  // storage::buffer
  release_fn release_ = nullptr;    // storage::external
  void* context_ = nullptr;
  file_range range_;                // storage::file
};

/// `b` with its bytes in memory: `b` itself unless it is a file range,
/// which is read into a fresh buffer (errc::io when the file no longer
/// holds it: file_range.hpp). Null stays null.
caf::expected<blob_ptr> load(const blob_ptr& b);

} // namespace cc::wire
