// Whole reads and writes on a file descriptor, retried on EINTR, whose
// errors (errc::io) name the operation and the path: the copy, its journal
// and the writer's other state files are written with these.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace cc {

/// errc::io with "`what`: <errno text>".
caf::error io_error(const std::string& what, int err);

/// Writes all of `bytes` at `offset` (pwrite).
caf::error pwrite_all(int fd, std::string_view bytes, uint64_t offset,
                      const std::string& path);

/// Writes all of `bytes` at the descriptor's position (write).
caf::error write_all(int fd, std::string_view bytes, const std::string& path);

/// The file's size now (fstat).
caf::expected<uint64_t> file_size(int fd, const std::string& path);

/// pread until `len` bytes or the end of the file.
caf::expected<std::string> pread_some(int fd, uint64_t offset, uint64_t len,
                                      const std::string& path);

/// The whole file, as long as it is now.
caf::expected<std::string> read_all(int fd, const std::string& path);

} // namespace cc
