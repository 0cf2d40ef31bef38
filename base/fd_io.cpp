// Whole reads and writes on a file descriptor: see fd_io.hpp.
#include "base/fd_io.hpp"

#include <cerrno>

#include <sys/stat.h>
#include <unistd.h>

#include "base/error.hpp"

namespace cc {

caf::error io_error(const std::string& what, int err) {
  return make_error(errc::io, what + ": " + errno_text(err));
}

caf::error pwrite_all(int fd, std::string_view bytes, uint64_t offset,
                      const std::string& path) {
  while (!bytes.empty()) {
    auto n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return io_error("write " + path, errno);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return caf::none;
}

caf::error write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return io_error("write " + path, errno);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return caf::none;
}

caf::expected<uint64_t> file_size(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return io_error("fstat " + path, errno);
  return static_cast<uint64_t>(st.st_size);
}

caf::expected<std::string> pread_some(int fd, uint64_t offset, uint64_t len,
                                      const std::string& path) {
  std::string out(static_cast<size_t>(len), '\0');
  size_t got = 0;
  while (got < out.size()) {
    auto n = ::pread(fd, out.data() + got, out.size() - got,
                     static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return io_error("read " + path, errno);
    }
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

caf::expected<std::string> read_all(int fd, const std::string& path) {
  auto size = file_size(fd, path);
  if (!size)
    return std::move(size.error());
  return pread_some(fd, 0, *size, path);
}

} // namespace cc
