// Which files the tailer follows: listing logdir/logmask in name order
// (classic mode), finding a rotated-away generation by its inode (rotated
// mode), and small stat helpers. Blocking calls; used by the detached tailer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace cc::tail {

/// What the tailer needs from stat(2).
struct file_id {
  uint64_t st_dev = 0;
  uint64_t st_ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // last modification, nanoseconds since the epoch

  bool same_file(const file_id& other) const {
    return st_dev == other.st_dev && st_ino == other.st_ino;
  }
};

/// stat(path) of a regular file; nullopt when it does not exist (ENOENT,
/// ENOTDIR) or is not a regular file; errc::io for other failures.
caf::expected<std::optional<file_id>> stat_file(const std::string& path);

/// fstat(fd); errc::io naming `path` on failure.
caf::expected<file_id> stat_fd(int fd, const std::string& path);

/// Full paths of the regular files in `dir` whose names match the glob
/// `mask` (fnmatch, no leading-dot special case beyond fnmatch's), sorted by
/// name bytewise (as the original's sorted(glob(...))). A missing `dir`
/// yields an empty list; other errors errc::io naming `dir`.
caf::expected<std::vector<std::string>> list_log_files(const std::string& dir,
                                                       const std::string& mask);

/// The first name in `files` (sorted) that sorts after `current`; nullopt if
/// none. `current` need not be in the list (it may have been removed).
std::optional<std::string> next_after(const std::vector<std::string>& files,
                                      const std::string& current);

/// The path of a regular file in `dir` with device `dev` and inode `ino`
/// (a generation renamed away by rotation); nullopt when none is there.
caf::expected<std::optional<std::string>>
find_by_inode(const std::string& dir, uint64_t dev, uint64_t ino);

/// Rotated-away generations of `name` in `dir`: regular files named
/// `name` + one of ".-_" + anything (app.log.1, app.log-20261126), except
/// compressed ones (.gz .bz2 .xz .zst .lz4 .Z: their bytes are not the log's).
/// Sorted by modification time, oldest first.
caf::expected<std::vector<std::pair<std::string, file_id>>>
rotated_generations(const std::string& dir, const std::string& name);

/// Files in `dir` a rotation of `name` may have made: `name` + one of ".-_"
/// + anything, compressed ones (.gz, .bz2) included, in no order.
caf::expected<std::vector<std::pair<std::string, file_id>>>
rotation_candidates(const std::string& dir, const std::string& name);

/// "dir/name" without doubling a trailing slash.
std::string join_path(const std::string& dir, const std::string& name);

} // namespace cc::tail
