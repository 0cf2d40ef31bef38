// File helpers every layer shares: errno as text (for messages that name
// the path and the call), absolute paths, and the read/write loops that
// retry short transfers and EINTR. Plain POSIX; no actors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace cc {

/// strerror(err), safe on any thread.
std::string errno_text(int err);

/// "what path: strerror(errno)": the message for a failed call `what` on
/// `path`. Reads errno, so call it before anything that may change errno.
std::string errno_text(const std::string& what, const std::string& path);

/// `path` against the working directory, lexically normalised; "" stays ""
/// (and a path the working directory cannot be found for stays as it is).
std::string absolute(const std::string& path);

/// pread until `n` bytes or end of file: the byte count read. errc::io
/// "read PATH: ..." on an error.
caf::expected<size_t> pread_full(int fd, char* buf, size_t n, uint64_t offset,
                                 const std::string& path);

/// write until every byte is out. errc::io "write PATH: ..." on an error
/// (errno is left as the failed write set it).
caf::error write_all(int fd, std::string_view bytes, const std::string& path);

/// errc::io with "`what`: <errno text of err>".
caf::error io_error(const std::string& what, int err);

/// pwrite all of `bytes` at `offset`. errc::io "write PATH: ..." on an error.
caf::error pwrite_all(int fd, std::string_view bytes, uint64_t offset,
                      const std::string& path);

/// The file's size now (fstat). errc::io "fstat PATH: ..." on an error.
caf::expected<uint64_t> file_size(int fd, const std::string& path);
/// The same, and the device of the file system that holds it in `dev`.
caf::expected<uint64_t> file_size(int fd, const std::string& path, uint64_t& dev);

/// Up to `len` bytes from `offset` (fewer at the end of the file).
caf::expected<std::string> pread_some(int fd, uint64_t offset, uint64_t len,
                                      const std::string& path);

/// The whole file, as long as it is now.
caf::expected<std::string> read_all(int fd, const std::string& path);

/// Whether the file's first `length` bytes hash (base/hash's FNV-1a 64) to
/// `hash`: false when it holds fewer. A file's fingerprint, and the guard of
/// a range cut from it (wire/file_range.hpp).
caf::expected<bool> prefix_matches(int fd, uint64_t length, uint64_t hash,
                                   const std::string& path);

/// Makes everything written to the file system of `fd` durable: syncfs(2),
/// twice. Once is not enough where the file system leaves metadata in its
/// block device's page cache (ext2, ext4 without a journal): syncfs asks the
/// device to flush its write cache before it writes those blocks (the inode
/// tables: a new file's size and extents), so the second call's flush is the
/// one that covers them; on a journaling file system the second call finds
/// little to do. 0, or -1 with errno set by the call that failed. An error
/// is that of any file of the file system since `fd` was opened or last
/// synced by syncfs (Linux 5.8 and later), not necessarily one of the
/// caller's.
int sync_file_system(int fd);

} // namespace cc
