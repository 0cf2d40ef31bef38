// See files.hpp.
#include "base/files.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <unistd.h>

#include "base/error.hpp"

namespace cc {

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r returns the message pointer (maybe not buf).
  return ::strerror_r(err, buf, sizeof(buf));
}

std::string errno_text(const std::string& what, const std::string& path) {
  auto err = errno;
  return what + " " + path + ": " + errno_text(err);
}

std::string absolute(const std::string& path) {
  if (path.empty())
    return path;
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

caf::expected<size_t> pread_full(int fd, char* buf, size_t n, uint64_t offset,
                                 const std::string& path) {
  size_t got = 0;
  while (got < n) {
    auto r = ::pread(fd, buf + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return make_error(errc::io, errno_text("read", path));
    }
    if (r == 0)
      break;
    got += static_cast<size_t>(r);
  }
  return got;
}

caf::error write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    auto r = ::write(fd, bytes.data(), bytes.size());
    if (r < 0) {
      if (errno == EINTR)
        continue;
      auto err = errno;
      auto e = make_error(errc::io, errno_text("write", path));
      errno = err;
      return e;
    }
    bytes.remove_prefix(static_cast<size_t>(r));
  }
  return caf::none;
}

} // namespace cc
