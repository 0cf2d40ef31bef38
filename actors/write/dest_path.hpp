// Destination naming and path safety for the tailwriter (SPEC §8).
//
// Owns: turning a fragment's (hostname, filename) into a copy path relative to
// dstdir (dstmask expansion, sanitising, lexical normalisation, refusal of
// anything that escapes dstdir or reaches the writer's own state directory),
// the rotated-mode suffix, and opening paths beneath a directory descriptor
// without ever following a symbolic link (openat2 RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS, or a component-wise O_NOFOLLOW walk when the kernel has
// no openat2). No actor, no messages: plain functions the workers call.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include <sys/types.h>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "base/files.hpp"

namespace cc::tw {

/// `%(hostname)s/%(filename)s` with host-subdirs, else `%(hostname)s--%(filename)s`.
std::string default_dstmask(bool host_subdirs);

/// Checks that `mask` uses only %(hostname)s, %(filename)s, %(filepath)s and
/// %%; errc::config_invalid naming the bad placeholder otherwise.
caf::error validate_dstmask(std::string_view mask);

/// Fills `mask` for one source file: `/` in the hostname becomes `_`, `\` in the
/// path becomes `/`; %(filename)s is the base name, %(filepath)s the whole
/// path. The result is not yet checked: see normalize_destination().
std::string expand_dstmask(std::string_view mask, std::string_view hostname,
                           std::string_view filename);

/// Lexically normalises `path` as a path relative to dstdir (it is joined to
/// dstdir as text, so a leading '/' stays inside: "%(filepath)s" mirrors the
/// source tree under dstdir): empty and "." components vanish, ".." removes
/// the previous one. Refused with errc::path_refused (context names the path
/// and why) when `path` contains a NUL byte, climbs above dstdir, names dstdir itself or
/// ends in a directory ("x/"), or lies at or under `reserved` (the state
/// directory's path relative to dstdir when it is inside dstdir; empty: none).
caf::expected<std::string> normalize_destination(std::string_view path,
                                                 std::string_view reserved = {});
/// normalize_destination() of a path the caller lets go of (expand_dstmask's):
/// the same result, in `path`'s own string when it is normalised already
/// (every fragment's destination passes here: no copy of it).
caf::expected<std::string> normalize_destination_of(std::string path,
                                                    std::string_view reserved = {});

/// `.%Y-%m-%d_%H-%M-%S` of `t` in local time, as the original's
/// datetime.today().strftime(...) writes it.
std::string rotated_suffix(std::time_t t);

/// The path of `dir` relative to `base` when `dir` is `base` or inside it
/// (lexically, both absolute and normalised by the caller); else empty.
std::string relative_inside(std::string_view base, std::string_view dir);

/// How open_beneath got a file: which way it went is part of its answer
/// (tests check it on the result, not on process-wide counts).
enum class open_way : uint8_t {
  one_call, ///< created by one openat2 of the whole path
  created,  ///< created beneath its parent's descriptor (O_EXCL)
  checked,  ///< there before: opened, then checked with fstat
};

/// Result of open_beneath: the descriptor and how it was got.
struct opened_file {
  int fd = -1;
  open_way way = open_way::checked;

  /// This call created the file (either way of creating it).
  bool created() const {
    return way != open_way::checked;
  }
};

/// Opens the regular file `rel` (a normalised relative path) beneath the
/// directory `dirfd` with `flags` (O_WRONLY, O_RDWR, ... ; O_CREAT allowed)
/// without following a symlink in any component, creating missing parent
/// directories (0755) when O_CREAT is given. A file or directory created
/// here has its parent directory fsync'ed, so its name survives a crash.
/// Refused (errc::path_refused) when a component is a symlink, a component
/// that must be a directory is not one, the target is not a regular file, or
/// it has more than one hard link; other failures are errc::io with the path
/// and strerror. Never blocks on a FIFO. `defer_parent_sync`: a created
/// file's directory is not fsync'ed here (the caller does, before the name
/// must survive a crash: a batch of new files costs one fsync per
/// directory, the tailwriter's commit rounds). `create_first` (with
/// O_CREAT): the file is most likely new, so its creation (O_EXCL) is tried
/// before the plain open, one failed lookup fewer. A file this call created
/// (O_EXCL: a new regular file with one link, never a FIFO) is returned
/// without the checks of an existing one (fstat, O_NONBLOCK cleared). With
/// both `create_first` and `defer_parent_sync`, a new file in a directory
/// that is there is created by one openat2 of the whole path (beneath
/// `dirfd`, no symlink, O_EXCL): no descriptor of its parent is opened.
caf::expected<opened_file> open_beneath(int dirfd, const std::string& rel,
                                        int flags, mode_t mode = 0644,
                                        bool defer_parent_sync = false,
                                        bool create_first = false);

/// The directory that holds `rel` (a normalised relative path) beneath
/// `dirfd`, opened with the same care as open_beneath (no symlink in any
/// component, nothing outside dirfd), its missing directories created
/// (0755, parents fsync'ed) when `create`; and the name of `rel`'s last
/// component in it. For writers that replace a file by a rename in that
/// directory. The caller owns (closes) `fd`.
struct opened_parent {
  int fd = -1;
  std::string name;
};
caf::expected<opened_parent> open_parent_beneath(int dirfd,
                                                 const std::string& rel,
                                                 bool create);

/// Test hook: false makes open_beneath behave as on a kernel without openat2
/// (the component-wise walk). Process-wide.
void set_openat2_enabled(bool enabled);
bool openat2_enabled();

/// mkdir -p `path` (absolute); directories it creates get 0755, the last
/// one `mode`. errc::io naming the path when it fails or is not a directory.
caf::error make_directories(const std::string& path, mode_t mode);

} // namespace cc::tw
