// Which source writes a destination; see source_owner.hpp.
#include "actors/write/source_owner.hpp"

#include <cerrno>
#include <cstdio>

#include <fcntl.h>
#include <unistd.h>

#include "actors/write/commit_log.hpp"
#include "actors/write/copy_writer.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/hash.hpp"

namespace cc::tw {

std::string source_owners::file_name(const std::string& dest_base) const {
  return hex64(fnv1a64(dest_base)) + ".owner";
}

caf::expected<source_owners::record> source_owners::owner(const std::string& dest_base) {
  if (auto i = cache_.find(dest_base); i != cache_.end())
    return i->second;
  auto name = file_name(dest_base);
  int fd = ::openat(state_fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  record r;
  if (fd < 0) {
    if (errno != ENOENT)
      return io_error("owner record " + name, errno);
  } else {
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0)
      text.append(buf, static_cast<size_t>(n));
    ::close(fd);
    // destination \n source \n hostname \n; another destination under the
    // same name (a hash collision) or a torn file counts as no owner.
    auto a = text.find('\n');
    auto b = a == std::string::npos ? a : text.find('\n', a + 1);
    auto c = b == std::string::npos ? b : text.find('\n', b + 1);
    if (c != std::string::npos && text.compare(0, a, dest_base) == 0) {
      r.source = text.substr(a + 1, b - a - 1);
      r.hostname = text.substr(b + 1, c - b - 1);
    }
  }
  if (cache_.size() >= max_cached)
    cache_.clear();
  cache_[dest_base] = r;
  return r;
}

caf::error source_owners::write_temp(const std::string& tmp, const std::string& text,
                                     bool sync) {
  int fd = ::openat(state_fd_, tmp.c_str(),
                    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error("owner record " + tmp, errno);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size())
            && (!sync || ::fsync(fd) == 0);
  auto saved = errno;
  ::close(fd);
  if (ok)
    return caf::none;
  ::unlinkat(state_fd_, tmp.c_str(), 0);
  return io_error("owner record " + tmp, saved);
}

caf::error source_owners::claim(const std::string& dest_base, const record& r,
                                bool defer_dir_sync) {
  auto name = file_name(dest_base);
  auto tmp = name + ".tmp";
  if (auto err = write_temp(tmp, dest_base + "\n" + r.source + "\n" + r.hostname + "\n", true))
    return err;
  if (::renameat(state_fd_, tmp.c_str(), state_fd_, name.c_str()) != 0) {
    auto saved = errno;
    ::unlinkat(state_fd_, tmp.c_str(), 0);
    return io_error("owner record " + name, saved);
  }
  cache_[dest_base] = r;
  dir_sync_owed_ = true;
  return defer_dir_sync ? caf::none : sync_dir();
}

caf::expected<bool> source_owners::claim_logged(const std::string& dest_base,
                                                const record& r, commit_log& log) {
  auto name = file_name(dest_base);
  auto tmp = name + ".tmp";
  auto text = dest_base + "\n" + r.source + "\n" + r.hostname + "\n";
  if (auto err = write_temp(tmp, text, false))
    return err;
  // Only where no record is: a file replaced unsynced could be lost with
  // the one it replaced.
  if (::renameat2(state_fd_, tmp.c_str(), state_fd_, name.c_str(), RENAME_NOREPLACE) != 0) {
    ::unlinkat(state_fd_, tmp.c_str(), 0);
    if (auto err = claim(dest_base, r, true))
      return err;
    return false;
  }
  cache_[dest_base] = r;
  if (auto err = log.add_owner(name, text))
    return err;
  return true;
}

caf::error source_owners::sync_dir() {
  if (::fsync(state_fd_) != 0)
    return io_error("owner records: fsync of the state directory", errno);
  dir_sync_owed_ = false;
  return caf::none;
}

} // namespace cc::tw
