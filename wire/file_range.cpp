// Ranges of open files as blob bytes: see file_range.hpp.
#include "wire/file_range.hpp"

#include <cerrno>

#include <fcntl.h>
#include <unistd.h>

#include "base/error.hpp"
#include "base/files.hpp"

namespace cc::wire {

caf::expected<std::shared_ptr<const shared_file>> shared_file::dup_of(int fd,
                                                                      std::string path) {
  int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0)
    return make_error(errc::io, errno_text("dup", path));
  return std::make_shared<const shared_file>(private_tag{}, own, std::move(path));
}

shared_file::shared_file(private_tag, int fd, std::string path)
  : fd_(fd), path_(std::move(path)) {
}

shared_file::~shared_file() {
  ::close(fd_);
}

caf::error check_guard(const file_range& r) {
  if (r.guard.length == 0)
    return caf::none;
  auto same = prefix_matches(r.file->fd(), r.guard.length, r.guard.hash, r.file->path());
  if (!same)
    return std::move(same.error());
  if (!*same)
    return make_error(errc::io, r.file->path() + ": its first bytes changed (a new "
                                  "generation) before bytes " + std::to_string(r.offset)
                                  + ".." + std::to_string(r.offset + r.length)
                                  + " were sent");
  return caf::none;
}

caf::error range_shrunk(const file_range& r, uint64_t held) {
  return make_error(errc::io, r.file->path() + ": holds " + std::to_string(held)
                                + " bytes now, fewer than the "
                                + std::to_string(r.offset + r.length)
                                + " a pending fragment ends at (it shrank under the send)");
}

caf::error read_range(const file_range& r, char* out) {
  auto n = pread_full(r.file->fd(), out, r.length, r.offset, r.file->path());
  if (!n)
    return std::move(n.error());
  if (*n < r.length)
    return range_shrunk(r, r.offset + *n);
  // After the read, not before: bytes that were read are the generation's
  // only if it is still there once they are in.
  return check_guard(r);
}

} // namespace cc::wire
