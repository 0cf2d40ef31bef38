// A range of an open file standing in for a blob's bytes (wire/blob.hpp,
// docs/wire.md §6.8): the tailer cuts an uncompressed fragment as one, the
// data connection sends it with sendfile(2) straight from the page cache,
// and whoever needs the bytes in memory (ZeroMQ, a writer in the same
// process, CAF's serializer) reads them then (wire::load).
//
// The bytes are read later than they were cut, and the file may change in
// between: copytruncate shrinks it, and the new generation may regrow it
// past the range. So a range is good only while the file still holds
// `length` bytes at `offset` and still starts with the bytes the guard was
// taken from (the tailer's own fingerprint test, actors/tail/position.hpp);
// otherwise its bytes are gone, and a message carrying it is lost, never
// sent short or with another generation's bytes (the writer's gap answer or
// the tailer's ack timeout sends them again, from where they are now).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace cc::wire {

/// A descriptor of its own (a dup) for the ranges cut from one open file:
/// the reader that cut them may close it or move on while they are in
/// flight. Closed with the last range.
class shared_file {
  struct private_tag {};

public:
  /// A dup of `fd` (close-on-exec); errc::io naming `path` on failure.
  static caf::expected<std::shared_ptr<const shared_file>> dup_of(int fd,
                                                                  std::string path);

  shared_file(private_tag, int fd, std::string path);
  ~shared_file();
  shared_file(const shared_file&) = delete;
  shared_file& operator=(const shared_file&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

private:
  int fd_;
  std::string path_;
};

/// The file's first `length` bytes, hashed (FNV-1a 64), when the range was
/// cut; length 0 checks nothing.
struct file_guard {
  uint64_t length = 0;
  uint64_t hash = 0;
};

struct file_range {
  std::shared_ptr<const shared_file> file;
  uint64_t offset = 0;
  uint64_t length = 0;
  file_guard guard;
};

/// Whether the file still starts with the guard's bytes: errc::io naming
/// the path when it does not (a new generation under the same name) or
/// cannot be read.
caf::error check_guard(const file_range& r);

/// Reads the range into `out` (at least `r.length` bytes of room): errc::io
/// when the file holds fewer bytes there now or, once they are read, the
/// guard fails.
caf::error read_range(const file_range& r, char* out);

/// errc::io: the file holds only `held` bytes, fewer than the range's end.
caf::error range_shrunk(const file_range& r, uint64_t held);

} // namespace cc::wire
