// Listing and identifying the tailer's source files; see log_files.hpp.
#include "actors/tail/log_files.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <dirent.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include "base/error.hpp"
#include "base/files.hpp"

namespace cc::tail {

namespace {

/// Calls f(name, full_path, stat) for every regular file in `dir`.
template <class F>
caf::error for_each_file(const std::string& dir, F f) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR)
      return caf::none;
    return make_error(errc::io, errno_text("opendir", dir));
  }
  for (;;) {
    errno = 0;
    dirent* e = ::readdir(d);
    if (e == nullptr) {
      auto saved = errno;
      ::closedir(d);
      if (saved != 0) {
        errno = saved;
        return make_error(errc::io, errno_text("readdir", dir));
      }
      return caf::none;
    }
    std::string name = e->d_name;
    if (name == "." || name == "..")
      continue;
    auto path = join_path(dir, name);
    struct stat st;
    // A file may vanish between readdir and stat: skip it.
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    if (!f(name, path, st))
      break;
  }
  ::closedir(d);
  return caf::none;
}

file_id id_of(const struct stat& st) {
  return file_id{static_cast<uint64_t>(st.st_dev),
                 static_cast<uint64_t>(st.st_ino),
                 static_cast<uint64_t>(st.st_size),
                 static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                   st.st_mtim.tv_nsec};
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty())
    return name;
  if (dir.back() == '/')
    return dir + name;
  return dir + "/" + name;
}

caf::expected<std::optional<file_id>> stat_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return std::optional<file_id>{};
    return make_error(errc::io, errno_text("stat", path));
  }
  if (!S_ISREG(st.st_mode))
    return std::optional<file_id>{};
  return std::optional<file_id>{id_of(st)};
}

caf::expected<file_id> stat_fd(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return make_error(errc::io, errno_text("fstat", path));
  return id_of(st);
}

caf::expected<std::vector<std::string>> list_log_files(const std::string& dir,
                                                       const std::string& mask) {
  std::vector<std::string> out;
  auto err = for_each_file(dir, [&](const std::string& name,
                                    const std::string& path, const struct stat&) {
    if (::fnmatch(mask.c_str(), name.c_str(), FNM_PERIOD) == 0)
      out.push_back(path);
    return true;
  });
  if (err)
    return err;
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string> next_after(const std::vector<std::string>& files,
                                      const std::string& current) {
  auto i = std::upper_bound(files.begin(), files.end(), current);
  if (i == files.end())
    return std::nullopt;
  return *i;
}

caf::expected<std::vector<std::pair<std::string, file_id>>>
rotated_generations(const std::string& dir, const std::string& name) {
  std::vector<std::pair<std::string, file_id>> out;
  auto err = for_each_file(dir, [&](const std::string& entry,
                                    const std::string& path,
                                    const struct stat& st) {
    if (entry.size() <= name.size() + 1 || entry.compare(0, name.size(), name) != 0)
      return true;
    auto sep = entry[name.size()];
    if (sep != '.' && sep != '-' && sep != '_')
      return true;
    for (const char* ext : {".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z"})
      if (ends_with(entry, ext))
        return true;
    out.emplace_back(path, id_of(st));
    return true;
  });
  if (err)
    return err;
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    return x.second.mtime_ns < y.second.mtime_ns;
  });
  return out;
}

caf::expected<std::vector<std::pair<std::string, file_id>>>
rotation_candidates(const std::string& dir, const std::string& name) {
  std::vector<std::pair<std::string, file_id>> out;
  auto err = for_each_file(dir, [&](const std::string& entry, const std::string& path,
                                    const struct stat& st) {
    if (entry.size() > name.size() + 1 && entry.compare(0, name.size(), name) == 0) {
      auto sep = entry[name.size()];
      if (sep == '.' || sep == '-' || sep == '_')
        out.emplace_back(path, id_of(st));
    }
    return true;
  });
  if (err)
    return err;
  return out;
}

caf::expected<std::optional<std::string>>
find_by_inode(const std::string& dir, uint64_t dev, uint64_t ino) {
  std::optional<std::string> found;
  auto err = for_each_file(dir, [&](const std::string&, const std::string& path,
                                    const struct stat& st) {
    if (static_cast<uint64_t>(st.st_dev) == dev &&
        static_cast<uint64_t>(st.st_ino) == ino) {
      found = path;
      return false;
    }
    return true;
  });
  if (err)
    return err;
  return found;
}

} // namespace cc::tail
