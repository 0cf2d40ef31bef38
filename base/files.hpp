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

} // namespace cc
