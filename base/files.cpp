// See files.hpp.
#include "base/files.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <sys/stat.h>
#include <unistd.h>

#include "base/error.hpp"
#include "base/hash.hpp"

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

int sync_file_system(int fd) {
  for (int round = 0; round < 2; ++round)
    if (::syncfs(fd) != 0)
      return -1;
  return 0;
}

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

caf::expected<uint64_t> file_size(int fd, const std::string& path) {
  uint64_t dev = 0;
  return file_size(fd, path, dev);
}

caf::expected<uint64_t> file_size(int fd, const std::string& path, uint64_t& dev) {
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return io_error("fstat " + path, errno);
  dev = static_cast<uint64_t>(st.st_dev);
  return static_cast<uint64_t>(st.st_size);
}

caf::expected<std::string> pread_some(int fd, uint64_t offset, uint64_t len,
                                      const std::string& path) {
  std::string out(static_cast<size_t>(len), '\0');
  auto got = pread_full(fd, out.data(), out.size(), offset, path);
  if (!got)
    return std::move(got.error());
  out.resize(*got);
  return out;
}

caf::expected<std::string> read_all(int fd, const std::string& path) {
  auto size = file_size(fd, path);
  if (!size)
    return std::move(size.error());
  return pread_some(fd, 0, *size, path);
}

caf::expected<bool> prefix_matches(int fd, uint64_t length, uint64_t hash,
                                   const std::string& path) {
  char buf[4096];
  uint64_t h = fnv1a64_basis;
  for (uint64_t at = 0; at < length;) {
    auto want = static_cast<size_t>(std::min<uint64_t>(sizeof(buf), length - at));
    auto n = pread_full(fd, buf, want, at, path);
    if (!n)
      return std::move(n.error());
    if (*n < want)
      return false;
    h = fnv1a64(std::string_view{buf, *n}, h);
    at += *n;
  }
  return h == hash;
}

} // namespace cc
