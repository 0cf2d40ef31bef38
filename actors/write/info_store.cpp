// The copies of info files: see info_store.hpp.
#include "actors/write/info_store.hpp"

#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/write/dest_path.hpp"
#include "base/error.hpp"
#include "wire/bodies.hpp"

namespace cc::info {

namespace {

/// Closes a descriptor on every way out.
struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

timespec timespec_of(int64_t ns) {
  timespec t;
  t.tv_sec = static_cast<time_t>(ns / 1000000000);
  t.tv_nsec = static_cast<long>(ns % 1000000000);
  if (t.tv_nsec < 0) {
    t.tv_nsec += 1000000000;
    t.tv_sec -= 1;
  }
  return t;
}

bool is(const caf::error& err, errc code) {
  return err.category() == error_category && static_cast<errc>(err.code()) == code;
}

outcome refused(std::string why) {
  return {std::string{wire::info_status::refused}, std::move(why)};
}

/// An errno that means "not now" (a full or read-only disk, an I/O error):
/// the sender tries again later.
outcome failed(const std::string& what, const std::string& rel, int err) {
  return {std::string{wire::info_status::error},
          what + " " + rel + ": " + errno_text(err)};
}

} // namespace

store_options::store_options() {
  read_store_options(*this, config::reader::defaults("infowriter"));
}

void read_store_options(store_options& o, const config::reader& r) {
  // The schema admits no, keep and yes; gzip and bzip2.
  auto mode = tw::parse_write_mode(r.str("write-compressed"));
  o.mode = mode ? *mode : tw::write_mode::plain;
  o.compression = wire::parse_compression(r.str("compression")).value_or(wire::compression::gzip);
  o.level = static_cast<int>(r.integer("compression-level"));
  o.bakext = r.str("bakext");
  o.max_bytes = r.size("max-file-bytes");
}

std::string name_for_mode(const std::string& filename, const store_options& o,
                          wire::compression received) {
  switch (o.mode) {
    case tw::write_mode::keep:
      return filename + wire::file_extension(received);
    case tw::write_mode::recompress:
      return filename + wire::file_extension(o.compression);
    case tw::write_mode::plain:
      break;
  }
  return filename;
}

store::store(int dstdir_fd, store_options opts)
  : dstdir_fd_(dstdir_fd), opts_(std::move(opts)) {
}

caf::expected<std::string> store::content(std::string_view payload,
                                          wire::compression comp) const {
  if (payload.size() > opts_.max_bytes)
    return make_error(errc::too_large,
                      std::to_string(payload.size()) + " bytes received, above "
                        "max-file-bytes (" + std::to_string(opts_.max_bytes) + ")");
  switch (opts_.mode) {
    case tw::write_mode::keep:
      return std::string{payload};
    case tw::write_mode::recompress:
      if (comp == opts_.compression)
        return std::string{payload};
      [[fallthrough]];
    case tw::write_mode::plain:
      break;
  }
  auto plain = wire::decompress(payload, comp, opts_.max_bytes);
  if (!plain)
    return std::move(plain.error());
  if (opts_.mode == tw::write_mode::plain)
    return std::move(*plain);
  return wire::compress(*plain, opts_.compression, opts_.level);
}

outcome store::write(const std::string& rel, int64_t mtime_ns,
                     std::string_view payload, wire::compression comp) const {
  auto parent = tw::open_parent_beneath(dstdir_fd_, rel, true);
  if (!parent) {
    if (is(parent.error(), errc::path_refused))
      return refused(describe(parent.error()));
    return {std::string{wire::info_status::error}, describe(parent.error())};
  }
  fd_guard dir{parent->fd};
  const auto& name = parent->name;
  struct stat st;
  bool exists = ::fstatat(dir.fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && errno != ENOENT)
    return failed("stat", rel, errno);
  if (exists && !S_ISREG(st.st_mode))
    return refused(rel + ": the copy's place holds something that is not a "
                         "regular file");
  if (exists && mtime_ns_of(st) >= mtime_ns)
    return {std::string{wire::info_status::skipped},
            mtime_ns_of(st) == mtime_ns ? "same mtime" : "copy is newer"};
  auto bytes = content(payload, comp);
  if (!bytes) {
    if (is(bytes.error(), errc::too_large) || is(bytes.error(), errc::decode_failed))
      return refused(rel + ": " + describe(bytes.error()));
    return {std::string{wire::info_status::error}, rel + ": " + describe(bytes.error())};
  }
  // A fresh `.new` every time: whatever a crash or a hostile peer left
  // under that name (a file, a link) is removed, never written through.
  auto tmp = name + ".new";
  if (::unlinkat(dir.fd, tmp.c_str(), 0) != 0 && errno != ENOENT)
    return errno == EISDIR || errno == EPERM
             ? refused(rel + ".new: not a file we may replace")
             : failed("unlink", rel + ".new", errno);
  fd_guard out{::openat(dir.fd, tmp.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)};
  if (out.fd < 0)
    return failed("create", rel + ".new", errno);
  timespec times[2] = {timespec_of(mtime_ns), timespec_of(mtime_ns)};
  if (write_all(out.fd, *bytes, rel + ".new"))
    return failed("write", rel + ".new", errno);
  if (::futimens(out.fd, times) != 0)
    return failed("set the mtime of", rel + ".new", errno);
  if (::fsync(out.fd) != 0)
    return failed("fsync", rel + ".new", errno);
  outcome done{std::string{wire::info_status::ok}, {}, bytes->size()};
  if (exists && !opts_.bakext.empty()) {
    // As the original: the previous copy stays under <copy><bakext>.
    auto bak = name + opts_.bakext;
    if (::unlinkat(dir.fd, bak.c_str(), 0) != 0 && errno != ENOENT)
      return failed("unlink", rel + opts_.bakext, errno);
    if (::linkat(dir.fd, name.c_str(), dir.fd, bak.c_str(), 0) != 0)
      return failed("link", rel + opts_.bakext, errno);
    done.backup = true;
  }
  if (::renameat(dir.fd, tmp.c_str(), dir.fd, name.c_str()) != 0)
    return failed("rename", rel + ".new", errno);
  if (::fsync(dir.fd) != 0)
    return failed("fsync the directory of", rel, errno);
  return done;
}

} // namespace cc::info
