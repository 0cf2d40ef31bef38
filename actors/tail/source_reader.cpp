// Reading source generations by offset; see source_reader.hpp.
#include "actors/tail/source_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.hpp"
#include "base/files.hpp"
#include "wire/codec.hpp"
#include "wire/digest.hpp"

namespace cc::tail {

namespace {

constexpr size_t input_chunk = 64 * 1024;

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size()
         && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

wire::compression compression_of(const std::string& path) {
  if (ends_with(path, ".gz"))
    return wire::compression::gzip;
  if (ends_with(path, ".bz2"))
    return wire::compression::bzip2;
  return wire::compression::none;
}

} // namespace

/// A compressed file's decompressed stream, read forward.
struct source_reader::unpacking {
  wire::compression method;
  std::unique_ptr<wire::stream_decompressor> stream;
  std::string input;     // read from the file, not yet decompressed
  size_t input_head = 0; // first unconsumed byte of `input`
  uint64_t file_pos = 0; // file offset of the next read
  uint64_t pos = 0;      // stream offset of the next byte produced
  bool at_file_end = false;

  explicit unpacking(wire::compression c) : method(c) {
    restart();
  }

  void restart() {
    stream = std::make_unique<wire::stream_decompressor>(method);
    input.clear();
    input_head = 0;
    file_pos = 0;
    pos = 0;
    at_file_end = false;
  }

  /// Produces up to `n` bytes into `out` (nullptr: discard); 0 at the end
  /// of what the file holds now.
  caf::expected<size_t> produce(int fd, const std::string& path, char* out, size_t n) {
    char scratch[16 * 1024];
    for (;;) {
      if (input_head == input.size()) {
        input.resize(input_chunk);
        ssize_t r;
        do {
          r = ::pread(fd, input.data(), input_chunk, static_cast<off_t>(file_pos));
        } while (r < 0 && errno == EINTR);
        if (r < 0)
          return make_error(errc::io, errno_text("read", path));
        input.resize(static_cast<size_t>(r));
        input_head = 0;
        file_pos += static_cast<uint64_t>(r);
        at_file_end = r == 0;
        if (r == 0)
          return size_t{0};
      }
      std::string_view in{input.data() + input_head, input.size() - input_head};
      auto before = in.size();
      char* dst = out != nullptr ? out : scratch;
      size_t room = out != nullptr ? n : std::min(n, sizeof scratch);
      auto made = stream->read(in, dst, room);
      if (!made)
        return make_error(errc::decode_failed, path + ": " + describe(made.error()));
      input_head += before - in.size();
      if (*made > 0) {
        pos += *made;
        return *made;
      }
    }
  }
};

source_reader::~source_reader() {
  if (fd_ >= 0)
    ::close(fd_);
}

caf::expected<std::unique_ptr<source_reader>> source_reader::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(errc::io, errno_text("open", path));
  std::unique_ptr<source_reader> r{new source_reader};
  r->path_ = path;
  r->fd_ = fd;
  auto c = compression_of(path);
  if (c != wire::compression::none)
    r->unpack_ = std::make_unique<unpacking>(c);
  return r;
}

bool source_reader::compressed() const {
  return unpack_ != nullptr;
}

bool source_reader::complete() const {
  return !unpack_ || (unpack_->at_file_end && unpack_->stream->at_member_end()
                      && unpack_->input_head == unpack_->input.size());
}

caf::expected<file_id> source_reader::stat() const {
  return stat_fd(fd_, path_);
}

caf::expected<size_t> source_reader::read_at(uint64_t offset, char* buf, size_t n) {
  if (!unpack_)
    return pread_full(fd_, buf, n, offset, path_);
  auto& u = *unpack_;
  if (offset < u.pos)
    u.restart();
  while (u.pos < offset) {
    auto skipped = u.produce(fd_, path_, nullptr, offset - u.pos);
    if (!skipped)
      return skipped;
    if (*skipped == 0)
      return size_t{0};
  }
  size_t got = 0;
  while (got < n) {
    auto made = u.produce(fd_, path_, buf + got, n - got);
    if (!made)
      return made;
    if (*made == 0)
      break;
    got += *made;
  }
  return got;
}

caf::expected<std::optional<uint64_t>> digest_range(source_reader& src, uint64_t from,
                                                    uint64_t to) {
  wire::digest_stream d;
  std::string buf(std::min<uint64_t>(to - std::min(from, to), 1 << 20), '\0');
  for (uint64_t at = from; at < to;) {
    auto want = static_cast<size_t>(std::min<uint64_t>(buf.size(), to - at));
    auto n = src.read_at(at, buf.data(), want);
    if (!n)
      return std::move(n.error());
    if (*n < want)
      return std::optional<uint64_t>{};
    d.update(std::string_view{buf.data(), *n});
    at += *n;
  }
  return std::optional<uint64_t>{d.value()};
}

caf::expected<std::optional<uint64_t>> last_line_end(source_reader& src, uint64_t from,
                                                     uint64_t to) {
  // A line's end is usually within the last few KiB: read backwards in
  // pieces that double (4 KiB first, 1 MiB at most).
  std::string buf;
  size_t piece = 4096;
  for (uint64_t hi = to; hi > from;) {
    auto want = static_cast<size_t>(std::min<uint64_t>(piece, hi - from));
    auto lo = hi - want;
    buf.resize(want);
    auto n = src.read_at(lo, buf.data(), want);
    if (!n)
      return std::move(n.error());
    if (*n < want)
      return std::optional<uint64_t>{}; // shrunk: nothing to cut here now
    auto nl = std::string_view{buf}.rfind('\n');
    if (nl != std::string_view::npos)
      return std::optional<uint64_t>{lo + nl + 1};
    hi = lo;
    piece = std::min<size_t>(piece * 2, 1 << 20);
  }
  return std::optional<uint64_t>{};
}

caf::expected<std::vector<std::optional<uint64_t>>>
digest_pieces(source_reader& src, uint64_t from, uint64_t to, uint64_t block) {
  std::vector<std::optional<uint64_t>> out;
  if (block == 0)
    return out;
  for (uint64_t at = from; at < to; at += block) {
    auto d = digest_range(src, at, std::min(to, at + block));
    if (!d)
      return std::move(d.error());
    out.push_back(*d);
  }
  return out;
}

caf::expected<bool> starts_with(source_reader& src, const fingerprint& fp) {
  if (fp.length == 0)
    return true;
  char buf[fingerprint_max_bytes];
  auto want = static_cast<size_t>(std::min<uint64_t>(fp.length, sizeof buf));
  auto n = src.read_at(0, buf, want);
  if (!n)
    return std::move(n.error());
  return *n == fp.length && fnv1a64(std::string_view{buf, *n}) == fp.hash;
}

caf::expected<std::optional<std::string>>
find_moved_generation(const std::string& dir, const std::string& name,
                      const fingerprint& fp, uint64_t beyond, const file_id& except) {
  if (fp.length == 0)
    return std::optional<std::string>{};
  auto candidates = rotation_candidates(dir, name);
  if (!candidates)
    return std::move(candidates.error());
  // Newest first; an uncompressed copy before a compressed one.
  auto& list = *candidates;
  std::stable_sort(list.begin(), list.end(), [](const auto& x, const auto& y) {
    bool xc = compression_of(x.first) != wire::compression::none;
    bool yc = compression_of(y.first) != wire::compression::none;
    if (xc != yc)
      return !xc;
    return x.second.mtime_ns > y.second.mtime_ns;
  });
  for (const auto& [path, id] : list) {
    if (id.same_file(except))
      continue;
    auto reader = source_reader::open(path);
    if (!reader)
      continue; // unreadable or gone meanwhile: not this one
    auto same = starts_with(**reader, fp);
    if (!same || !*same)
      continue;
    char byte;
    auto more = (*reader)->read_at(beyond, &byte, 1);
    if (more && *more == 1)
      return std::optional<std::string>{path};
  }
  return std::optional<std::string>{};
}

} // namespace cc::tail
