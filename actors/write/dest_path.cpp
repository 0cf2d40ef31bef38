// Destination naming and path safety: see dest_path.hpp for the contract.
#include "actors/write/dest_path.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/error.hpp"
#include "config/config.hpp"

namespace cc::tw {

namespace {

std::atomic<bool> use_openat2{true};

constexpr size_t max_component = 255; // NAME_MAX on Linux file systems

/// Owns one descriptor; `borrowed` ones (the caller's dirfd) are not closed.
class dir_handle {
public:
  dir_handle(int fd, bool owned) : fd_(fd), owned_(owned) {}
  dir_handle(dir_handle&& other) noexcept
    : fd_(other.fd_), owned_(other.owned_) {
    other.fd_ = -1;
  }
  dir_handle& operator=(dir_handle&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.fd_;
      owned_ = other.owned_;
      other.fd_ = -1;
    }
    return *this;
  }
  ~dir_handle() {
    reset();
  }
  int get() const {
    return fd_;
  }
  /// The descriptor, now the caller's: a borrowed one is duplicated.
  int release() {
    int fd = owned_ ? fd_ : ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
    fd_ = -1;
    return fd;
  }

private:
  void reset() {
    if (owned_ && fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }
  int fd_;
  bool owned_;
};

caf::error refused(const std::string& path, const std::string& why) {
  // The path comes from the wire: show control bytes as \xNN so a log line
  // never carries a NUL or an escape sequence.
  std::string shown;
  shown.reserve(path.size());
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      shown += "\\x";
      shown += hex[c >> 4];
      shown += hex[c & 15];
    } else {
      shown += static_cast<char>(c);
    }
  }
  return make_error(errc::path_refused, "destination " + shown + ": " + why);
}

/// Errors of path resolution that mean "this path can never be written
/// safely" rather than "the system failed".
bool is_refusal(int err) {
  return err == ELOOP || err == EXDEV || err == ENOTDIR || err == EISDIR
         || err == ENAMETOOLONG || err == ENXIO; // ENXIO: a FIFO or socket
}

caf::error open_error(const std::string& path, int err) {
  if (is_refusal(err))
    return refused(path, err == ELOOP ? "a component is a symbolic link"
                                      : errno_text(err));
  return make_error(errc::io, path + ": " + errno_text(err));
}

std::vector<std::string> split_components(const std::string& rel) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= rel.size()) {
    auto end = rel.find('/', start);
    if (end == std::string::npos)
      end = rel.size();
    if (end > start)
      parts.emplace_back(rel.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string join_components(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0)
      out += '/';
    out += parts[i];
  }
  return out;
}

/// The directory `parts[0..n)` beneath `dirfd`, walking one component at a
/// time with O_NOFOLLOW so no symlink is ever traversed; missing directories
/// are created when `create` (and their parent fsync'ed).
caf::expected<dir_handle> walk_dirs(int dirfd, const std::vector<std::string>& parts,
                                    size_t n, bool create,
                                    const std::string& shown) {
  dir_handle cur{dirfd, false};
  for (size_t i = 0; i < n; ++i) {
    const auto& comp = parts[i];
    if (comp == "." || comp == "..")
      return refused(shown, "contains '" + comp + "'");
    int fd = -1;
    for (int attempt = 0; attempt < 3 && fd < 0; ++attempt) {
      fd = ::openat(cur.get(), comp.c_str(),
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0)
        break;
      int err = errno;
      if (err != ENOENT || !create)
        return open_error(shown, err);
      if (::mkdirat(cur.get(), comp.c_str(), 0755) == 0) {
        // The new directory's name must survive a crash like the file's.
        ::fsync(cur.get());
      } else if (errno != EEXIST) {
        return open_error(shown, errno);
      }
    }
    if (fd < 0)
      return open_error(shown, errno);
    cur = dir_handle{fd, true};
  }
  return cur;
}

/// The directory `parts[0..n)` beneath `dirfd` in one openat2 call that
/// refuses symlinks and escapes; falls back to walk_dirs when the directory
/// does not exist yet (and `create`) or the kernel lacks openat2.
caf::expected<dir_handle> resolve_dirs(int dirfd,
                                       const std::vector<std::string>& parts,
                                       size_t n, bool create,
                                       const std::string& shown) {
  if (n == 0)
    return dir_handle{dirfd, false};
  if (use_openat2.load(std::memory_order_relaxed)) {
    auto joined = join_components(parts, n);
    open_how how;
    std::memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve =
      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0; attempt < 4; ++attempt) {
      long fd = ::syscall(SYS_openat2, dirfd, joined.c_str(), &how, sizeof(how));
      if (fd >= 0)
        return dir_handle{static_cast<int>(fd), true};
      int err = errno;
      if (err == EAGAIN || err == EINTR)
        continue; // a concurrent rename raced the lookup: try again
      if (err == ENOSYS) {
        use_openat2.store(false, std::memory_order_relaxed);
        break;
      }
      if (err == ENOENT && create)
        break; // create the missing directories below
      return open_error(shown, err);
    }
  }
  return walk_dirs(dirfd, parts, n, create, shown);
}

void append_escaped_char(std::string& out, char c) {
  out += c == '\\' ? '/' : c;
}

} // namespace

caf::error make_directories(const std::string& path, mode_t mode) {
  if (path.empty())
    return make_error(errc::config_invalid, "empty directory path");
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    auto prefix = path.substr(0, pos);
    if (prefix.empty() || prefix.back() == '/')
      continue;
    if (::mkdir(prefix.c_str(), pos == std::string::npos ? mode : 0755) != 0
        && errno != EEXIST)
      return make_error(errc::io, "mkdir " + prefix + ": " + errno_text(errno));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return make_error(errc::io, path + ": " + errno_text(errno));
  if (!S_ISDIR(st.st_mode))
    return make_error(errc::io, path + ": not a directory");
  return caf::none;
}

void set_openat2_enabled(bool enabled) {
  use_openat2.store(enabled, std::memory_order_relaxed);
}

bool openat2_enabled() {
  return use_openat2.load(std::memory_order_relaxed);
}

std::string default_dstmask(bool host_subdirs) {
  return config::default_dstmask(host_subdirs);
}

caf::error validate_dstmask(std::string_view mask) {
  for (size_t i = 0; i < mask.size(); ++i) {
    if (mask[i] != '%')
      continue;
    if (i + 1 < mask.size() && mask[i + 1] == '%') {
      ++i;
      continue;
    }
    auto close = mask.find(")s", i);
    if (i + 1 >= mask.size() || mask[i + 1] != '(' || close == std::string_view::npos)
      return make_error(errc::config_invalid,
                        "dstmask: a lone '%' at offset " + std::to_string(i)
                          + " (write %% for a literal percent sign)");
    auto name = mask.substr(i + 2, close - i - 2);
    if (name != "hostname" && name != "filename" && name != "filepath")
      return make_error(errc::config_invalid,
                        "dstmask: unknown placeholder %(" + std::string{name}
                          + ")s (known: hostname, filename, filepath)");
    i = close + 1;
  }
  if (mask.empty())
    return make_error(errc::config_invalid, "dstmask: empty");
  return caf::none;
}

std::string expand_dstmask(std::string_view mask, std::string_view hostname,
                           std::string_view filename) {
  std::string host{hostname};
  for (auto& c : host)
    if (c == '/')
      c = '_';
  std::string path;
  path.reserve(filename.size());
  for (char c : filename)
    append_escaped_char(path, c);
  auto slash = path.rfind('/');
  std::string_view base{path};
  if (slash != std::string::npos)
    base.remove_prefix(slash + 1);
  std::string out;
  out.reserve(mask.size() + host.size() + path.size());
  for (size_t i = 0; i < mask.size(); ++i) {
    if (mask[i] == '%' && i + 1 < mask.size() && mask[i + 1] == '%') {
      out += '%';
      ++i;
      continue;
    }
    if (mask[i] == '%' && i + 1 < mask.size() && mask[i + 1] == '(') {
      auto close = mask.find(")s", i);
      if (close != std::string_view::npos) {
        auto name = mask.substr(i + 2, close - i - 2);
        std::optional<std::string_view> value;
        if (name == "hostname")
          value = host;
        else if (name == "filename")
          value = base;
        else if (name == "filepath")
          value = path;
        if (value) {
          out += *value;
          i = close + 1;
          continue;
        }
      }
    }
    out += mask[i];
  }
  return out;
}

namespace {

/// Calls f with each '/'-separated component of `path` (empty ones too)
/// until f returns false; false if it did.
template <class F>
bool each_component(std::string_view path, F&& f) {
  size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos)
      end = path.size();
    if (!f(path.substr(start, end - start)))
      return false;
    start = end + 1;
  }
  return true;
}

/// Whether `path` is normalised as it is: relative, no empty, "." or ".."
/// component, none longer than max_component (no NUL: checked before).
bool plainly_normal(std::string_view path) {
  return each_component(path, [](std::string_view comp) {
    return !(comp.empty() || comp == "." || comp == ".." || comp.size() > max_component);
  });
}

/// The normalised path (components joined by one '/', "." dropped, ".."
/// taking one back), or why not; `shown` is the path as given.
caf::expected<std::string> join_normalised(std::string_view path, const std::string& shown) {
  std::vector<std::string_view> stack;
  std::string_view last;
  const char* why = nullptr;
  each_component(path, [&](std::string_view comp) {
    last = comp;
    if (comp.empty() || comp == ".")
      return true;
    if (comp == "..") {
      if (stack.empty())
        why = "climbs above dstdir";
      else
        stack.pop_back();
    } else if (comp.size() > max_component) {
      why = "a component is longer than 255 bytes";
    } else {
      stack.push_back(comp);
    }
    return why == nullptr;
  });
  if (why != nullptr)
    return refused(shown, why);
  if (last.empty() || last == "." || last == "..")
    return refused(shown, "names a directory, not a file");
  if (stack.empty())
    return refused(shown, "names dstdir itself");
  std::string out;
  for (size_t i = 0; i < stack.size(); ++i) {
    if (i > 0)
      out += '/';
    out += stack[i];
  }
  return out;
}

} // namespace

namespace {

/// Whether the normalised `o` is `reserved` or under it (empty: nothing is).
bool inside_reserved(std::string_view o, std::string_view reserved) {
  return !reserved.empty()
         && (o == reserved
             || (o.size() > reserved.size() && o.compare(0, reserved.size(), reserved) == 0
                 && o[reserved.size()] == '/'));
}

} // namespace

caf::expected<std::string> normalize_destination(std::string_view path,
                                                 std::string_view reserved) {
  if (path.empty())
    return refused("\"\"", "empty");
  if (path.find('\0') != std::string_view::npos)
    return refused(std::string{path}, "contains a NUL byte");
  // Most paths are normalised already (every fragment passes here): then
  // they are the result as they are, without the walk's allocations.
  caf::expected<std::string> out{std::string{}};
  if (plainly_normal(path))
    *out = std::string{path};
  else
    out = join_normalised(path, std::string{path});
  if (!out)
    return out;
  if (inside_reserved(*out, reserved))
    return refused(std::string{path}, "inside the writer's state directory");
  return out;
}

caf::expected<std::string> normalize_destination_of(std::string path,
                                                    std::string_view reserved) {
  if (!path.empty() && path.find('\0') == std::string::npos && plainly_normal(path)
      && !inside_reserved(path, reserved))
    return path;
  return normalize_destination(path, reserved);
}

std::string rotated_suffix(std::time_t t) {
  std::tm parts{};
  ::localtime_r(&t, &parts);
  char buf[64];
  auto n = std::strftime(buf, sizeof(buf), ".%Y-%m-%d_%H-%M-%S", &parts);
  return std::string(buf, n);
}

std::string relative_inside(std::string_view base, std::string_view dir) {
  while (base.size() > 1 && base.back() == '/')
    base.remove_suffix(1);
  while (dir.size() > 1 && dir.back() == '/')
    dir.remove_suffix(1);
  if (dir == base)
    return ".";
  if (dir.size() > base.size() && dir.compare(0, base.size(), base) == 0
      && (dir[base.size()] == '/' || base == "/"))
    return std::string{dir.substr(base == "/" ? 1 : base.size() + 1)};
  return {};
}

namespace {

/// `rel` split into normalised components, or why it cannot be one.
caf::expected<std::vector<std::string>> checked_components(const std::string& rel) {
  // The kernel reads each component up to its first NUL: "..\0x" would be
  // "..". Refuse before splitting so no component can hide one.
  if (rel.find('\0') != std::string::npos)
    return refused(rel, "contains a NUL byte");
  auto parts = split_components(rel);
  if (parts.empty())
    return refused(rel, "empty path");
  for (auto& p : parts)
    if (p == "." || p == "..")
      return refused(rel, "not normalised ('" + p + "')");
  return parts;
}

} // namespace

caf::expected<opened_parent> open_parent_beneath(int dirfd,
                                                 const std::string& rel,
                                                 bool create) {
  auto parts = checked_components(rel);
  if (!parts)
    return std::move(parts.error());
  auto parent = resolve_dirs(dirfd, *parts, parts->size() - 1, create, rel);
  if (!parent)
    return std::move(parent.error());
  opened_parent out;
  out.fd = parent->release();
  if (out.fd < 0)
    return make_error(errc::io, rel + ": dup: " + errno_text(errno));
  out.name = parts->back();
  return out;
}

namespace {

/// A new file whose directory need not be synced here, created by one
/// openat2 of the whole path with the checks resolve_dirs and the O_EXCL
/// open below make (every component beneath dirfd, no symlink anywhere,
/// the last one new: O_EXCL fails on anything there, a symlink included):
/// no descriptor of the parent to open and close. -1 when that does not
/// make it (no openat2, a missing directory, a name taken, a refusal):
/// the caller's component-wise way then decides, with its own errors.
int create_in_one_call(int dirfd, const std::string& rel, int flags, mode_t mode) {
  if (!use_openat2.load(std::memory_order_relaxed))
    return -1;
  open_how how;
  std::memset(&how, 0, sizeof(how));
  how.flags = static_cast<uint64_t>((flags & ~O_NONBLOCK) | O_CREAT | O_EXCL | O_NOFOLLOW
                                    | O_CLOEXEC);
  how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof(how));
  if (fd < 0)
    return -1;
  return static_cast<int>(fd);
}
} // namespace

caf::expected<opened_file> open_beneath(int dirfd, const std::string& rel,
                                        int flags, mode_t mode,
                                        bool defer_parent_sync, bool create_first) {
  auto checked = checked_components(rel);
  if (!checked)
    return std::move(checked.error());
  const auto& parts = *checked;
  bool create = (flags & O_CREAT) != 0;
  if (create && create_first && defer_parent_sync && parts.size() > 1) {
    // Most likely new, in a directory that exists: one system call where
    // the parent's open, the create and the parent's close were three.
    int fd = create_in_one_call(dirfd, rel, flags, mode);
    if (fd >= 0)
      return opened_file{fd, open_way::one_call};
  }
  auto parent = resolve_dirs(dirfd, parts, parts.size() - 1, create, rel);
  if (!parent)
    return std::move(parent.error());
  const auto& name = parts.back();
  // O_NONBLOCK: a FIFO planted under the name must not hang the worker.
  // Not needed for O_CREAT | O_EXCL: that creates a regular file or fails
  // (EEXIST, also for a symlink or a FIFO there).
  int plain_flags = (flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW | O_CLOEXEC;
  int base_flags = plain_flags | O_NONBLOCK;
  opened_file result;
  bool try_create = create && create_first;
  for (int attempt = 0; attempt < 3 && result.fd < 0; ++attempt) {
    if (!try_create) {
      result.fd = ::openat(parent->get(), name.c_str(), base_flags);
      if (result.fd >= 0)
        break;
      int err = errno;
      if (err != ENOENT || !create)
        return open_error(rel, err);
    }
    try_create = false;
    result.fd = ::openat(parent->get(), name.c_str(), plain_flags | O_CREAT | O_EXCL,
                         mode);
    if (result.fd >= 0) {
      result.way = open_way::created;
      if (!defer_parent_sync)
        ::fsync(parent->get());
      // New, regular, one link, opened without O_NONBLOCK: nothing to check.
      return result;
    }
    if (errno != EEXIST)
      return open_error(rel, errno);
    // Someone created it in between (or it was there, or a dangling
    // symlink sits there): the next plain open decides.
  }
  if (result.fd < 0)
    return open_error(rel, errno);
  struct stat st;
  if (::fstat(result.fd, &st) != 0) {
    int err = errno;
    ::close(result.fd);
    return make_error(errc::io, rel + ": fstat: " + errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(result.fd);
    return refused(rel, "not a regular file");
  }
  if (st.st_nlink > 1) {
    ::close(result.fd);
    return refused(rel, "has " + std::to_string(st.st_nlink)
                          + " hard links (a planted link could redirect writes)");
  }
  int fl = ::fcntl(result.fd, F_GETFL);
  if (fl >= 0)
    ::fcntl(result.fd, F_SETFL, fl & ~O_NONBLOCK);
  return result;
}

} // namespace cc::tw
