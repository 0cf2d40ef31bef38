// One destination copy and its journal: see copy_writer.hpp for the contract.
#include "actors/write/copy_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <map>
#include <cstdio>
#include <optional>
#include <tuple>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/write/dest_path.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"

namespace cc::tw {

namespace {

constexpr std::string_view who = "tailwriter";
constexpr int journal_version = 1;
constexpr int rotated_name_attempts = 120;
constexpr std::string_view missing_text = " is missing";

std::string hex(uint64_t value, int digits) {
  static constexpr char table[] = "0123456789abcdef";
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<size_t>(i)] = table[value & 0xf];
    value >>= 4;
  }
  return out;
}

/// A journal line: `body #checksum\n`.
std::string seal(const std::string& body) {
  auto sum = static_cast<uint32_t>(fnv1a64(body));
  return body + " #" + hex(sum, 8) + "\n";
}

/// Tokens of a sealed line (without the newline), or nullopt when the
/// checksum does not match.
std::optional<std::vector<std::string_view>> unseal(std::string_view line) {
  auto mark = line.rfind(" #");
  if (mark == std::string_view::npos || line.size() - mark != 10)
    return std::nullopt;
  auto body = line.substr(0, mark);
  auto sum = static_cast<uint32_t>(fnv1a64(body));
  if (line.substr(mark + 2) != hex(sum, 8))
    return std::nullopt;
  std::vector<std::string_view> tokens;
  size_t start = 0;
  while (start <= body.size()) {
    auto end = body.find(' ', start);
    if (end == std::string_view::npos)
      end = body.size();
    tokens.push_back(body.substr(start, end - start));
    start = end + 1;
  }
  return tokens;
}

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty())
    return false;
  auto res = std::from_chars(text.data(), text.data() + text.size(), out);
  return res.ec == std::errc{} && res.ptr == text.data() + text.size();
}

caf::error io_error(const std::string& what, int err) {
  return make_error(errc::io, what + ": " + errno_text(err));
}

caf::error pwrite_all(int fd, std::string_view bytes, uint64_t offset,
                      const std::string& path) {
  while (!bytes.empty()) {
    auto n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return io_error("write " + path, errno);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return caf::none;
}

caf::error write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return io_error("write " + path, errno);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return caf::none;
}

caf::expected<uint64_t> file_size(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return io_error("fstat " + path, errno);
  return static_cast<uint64_t>(st.st_size);
}

/// pread until `len` bytes or the end of the file.
caf::expected<std::string> pread_some(int fd, uint64_t offset, uint64_t len,
                                      const std::string& path) {
  std::string out(static_cast<size_t>(len), '\0');
  size_t got = 0;
  while (got < out.size()) {
    auto n = ::pread(fd, out.data() + got, out.size() - got,
                     static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return io_error("read " + path, errno);
    }
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

/// The whole file (a journal), as long as it is now.
caf::expected<std::string> read_all(int fd, const std::string& path) {
  auto size = file_size(fd, path);
  if (!size)
    return std::move(size.error());
  return pread_some(fd, 0, *size, path);
}

wire::compression compression_named(std::string_view name) {
  auto c = wire::parse_compression(name);
  return c ? *c : wire::compression::none;
}

} // namespace

/// The parsed journal of one copy.
struct journal_text {
  struct header_t {
    std::string mode;
    std::string out;
    std::string path;
    std::string identity;
  };
  struct record {
    /// 'S' segment start, 'M' member end, 'D' block digest, 'P' partial
    /// last-block digest, 'C' clean close, 'A' written again.
    char kind = 'S';
    copy_file::segment seg;  // S
    uint64_t src_end = 0;    // M; D and P: the block's end
    uint64_t copy_size = 0;  // M, C; D and P: the segment's copy_base
    uint64_t digest = 0;     // D, P
  };
  std::optional<header_t> header;
  /// An 'O' line follows the header once the copy named there was created by
  /// this journal's generation (or proven its own after a crash). Until then the
  /// name is only a candidate: another generation may hold it.
  bool claimed = false;
  std::vector<record> records;
  size_t good_bytes = 0; // prefix of whole, valid lines
};

namespace {

std::optional<journal_text::header_t>
parse_header_line(const std::vector<std::string_view>& t) {
  auto mode = journal_unescape(t[2]);
  auto comp = journal_unescape(t[3]);
  auto path = journal_unescape(t[4]);
  auto id = journal_unescape(t[5]);
  if (t[1] != std::to_string(journal_version) || !mode || !comp || !path || !id)
    return std::nullopt;
  return journal_text::header_t{*mode, *comp, *path, *id};
}

std::optional<journal_text::record>
parse_segment_line(const std::vector<std::string_view>& t) {
  journal_text::record r;
  r.kind = 'S';
  auto host = journal_unescape(t[1]);
  auto file = journal_unescape(t[4]);
  auto gen = journal_unescape(t[5]);
  if (!host || !file || !gen || !parse_u64(t[2], r.seg.key.st_dev)
      || !parse_u64(t[3], r.seg.key.st_ino) || !parse_u64(t[6], r.seg.src_base)
      || !parse_u64(t[7], r.seg.copy_base))
    return std::nullopt;
  r.seg.key.hostname = std::move(*host);
  r.seg.key.filename = std::move(*file);
  r.seg.gen = std::move(*gen);
  r.seg.src_end = r.seg.durable_end = r.seg.src_base;
  return r;
}

/// M, D, P, C and A lines.
std::optional<journal_text::record>
parse_record_line(const std::vector<std::string_view>& t) {
  journal_text::record r;
  r.kind = t[0].size() == 1 ? t[0][0] : '?';
  switch (r.kind) {
    case 'M':
      if (t.size() == 3 && parse_u64(t[1], r.src_end) && parse_u64(t[2], r.copy_size))
        return r;
      break;
    case 'D':
    case 'P':
      if (t.size() == 4 && parse_u64(t[1], r.copy_size) && parse_u64(t[2], r.src_end))
        if (auto d = wire::parse_digest_hex(t[3])) {
          r.digest = *d;
          return r;
        }
      break;
    case 'C':
      if (t.size() == 2 && parse_u64(t[1], r.copy_size))
        return r;
      break;
    case 'A':
      if (t.size() == 1)
        return r;
      break;
  }
  return std::nullopt;
}

journal_text parse_journal(const std::string& text) {
  journal_text out;
  size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos)
      break; // a torn last line
    auto tokens = unseal(std::string_view{text}.substr(pos, nl - pos));
    if (!tokens || tokens->empty())
      break;
    auto& t = *tokens;
    bool ok = false;
    if (t[0] == "H" && t.size() == 6 && !out.header) {
      out.header = parse_header_line(t);
      ok = out.header.has_value();
    } else if (t[0] == "S" && t.size() == 8 && out.header) {
      auto r = parse_segment_line(t);
      if ((ok = r.has_value()))
        out.records.push_back(std::move(*r));
    } else if (t[0] == "O" && t.size() == 1 && out.header && !out.claimed
               && out.records.empty()) {
      out.claimed = true;
      ok = true;
    } else if (out.header) {
      auto r = parse_record_line(t);
      if ((ok = r.has_value()))
        out.records.push_back(std::move(*r));
    }
    if (!ok)
      break;
    pos = nl + 1;
    out.good_bytes = pos;
  }
  return out;
}

std::string segment_line(const copy_file::segment& s) {
  return "S " + journal_escape(s.key.hostname) + " " + std::to_string(s.key.st_dev)
         + " " + std::to_string(s.key.st_ino) + " " + journal_escape(s.key.filename)
         + " " + journal_escape(s.gen) + " " + std::to_string(s.src_base) + " "
         + std::to_string(s.copy_base);
}

std::string member_line(uint64_t src_end, uint64_t copy_size) {
  return "M " + std::to_string(src_end) + " " + std::to_string(copy_size);
}

/// D (a complete block, ending at a block boundary) or P (the segment's
/// partial last block).
std::string digest_line(uint64_t copy_base, uint64_t to, uint64_t digest) {
  return std::string{to % wire::digest_block == 0 ? "D " : "P "}
         + std::to_string(copy_base) + " " + std::to_string(to) + " "
         + wire::digest_hex(digest);
}

/// Whether a block digest ending at `to` still describes segment `s`: a
/// complete block inside it, or its partial last block.
bool digest_holds(const copy_file::segment& s, uint64_t to) {
  return to > s.src_base && to <= s.src_end
         && (to % wire::digest_block == 0 || to == s.src_end);
}


bool keep_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
         || c == '.' || c == '_' || c == '/' || c == ':' || c == '@' || c == '+'
         || c == '-';
}

} // namespace

// -- small helpers --------------------------------------------------------------

caf::expected<write_mode> parse_write_mode(std::string_view text) {
  if (text.empty() || text == "no")
    return write_mode::plain;
  if (text == "keep")
    return write_mode::keep;
  if (text == "yes")
    return write_mode::recompress;
  return make_error(errc::config_invalid,
                    "write-compressed: '" + std::string{text}
                      + "' is not one of no, keep, yes");
}

const char* to_string(write_mode m) {
  switch (m) {
    case write_mode::plain:
      return "no";
    case write_mode::keep:
      return "keep";
    case write_mode::recompress:
      return "yes";
  }
  return "no";
}

std::string source_key::str() const {
  return hostname + ":" + filename + " (dev " + std::to_string(st_dev) + ", ino "
         + std::to_string(st_ino) + ")";
}

bool operator==(const source_key& x, const source_key& y) {
  return x.st_ino == y.st_ino && x.st_dev == y.st_dev && x.hostname == y.hostname
         && x.filename == y.filename;
}

bool operator<(const source_key& x, const source_key& y) {
  return std::tie(x.hostname, x.st_dev, x.st_ino, x.filename)
         < std::tie(y.hostname, y.st_dev, y.st_ino, y.filename);
}

std::string journal_escape(std::string_view text) {
  std::string out = "=";
  out.reserve(text.size() + 1);
  for (unsigned char c : text) {
    if (keep_char(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex(c, 2);
    }
  }
  return out;
}

caf::expected<std::string> journal_unescape(std::string_view text) {
  if (text.empty() || text.front() != '=')
    return make_error(errc::invalid_body, "journal field without '='");
  std::string out;
  for (size_t i = 1; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size())
      return make_error(errc::invalid_body, "journal field: truncated escape");
    unsigned value = 0;
    auto res = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (res.ec != std::errc{} || res.ptr != text.data() + i + 3)
      return make_error(errc::invalid_body, "journal field: bad escape");
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

size_t prune_journals(const std::string& state_dir, std::chrono::seconds max_age) {
  DIR* dir = ::opendir(state_dir.c_str());
  if (dir == nullptr)
    return 0;
  size_t removed = 0;
  auto now = std::time(nullptr);
  while (auto* entry = ::readdir(dir)) {
    std::string_view name{entry->d_name};
    bool journal = name.size() > 2 && name.substr(name.size() - 2) == ".j";
    bool leftover = name.size() > 6 && name.substr(name.size() - 6) == ".j.tmp";
    if (!journal && !leftover)
      continue;
    struct stat st;
    if (::fstatat(::dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0
        || !S_ISREG(st.st_mode))
      continue;
    if (journal && now - st.st_mtime < max_age.count())
      continue;
    if (::unlinkat(::dirfd(dir), entry->d_name, 0) == 0)
      ++removed;
  }
  ::closedir(dir);
  return removed;
}

namespace {

/// Calls `visit(name, parsed)` for every journal in the state directory
/// until it returns false. False when the directory cannot be read.
template <class F>
bool for_each_journal(int state_fd, F&& visit) {
  int fd = ::openat(state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return false;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return false;
  }
  while (auto* entry = ::readdir(dir)) {
    std::string name{entry->d_name};
    if (name.size() < 3 || name.compare(name.size() - 2, 2, ".j") != 0)
      continue;
    int jfd = ::openat(state_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (jfd < 0)
      continue;
    auto text = read_all(jfd, name);
    ::close(jfd);
    if (text && !visit(name, parse_journal(*text)))
      break;
  }
  ::closedir(dir);
  return true;
}

/// Whether a journal other than `own` in the state directory has claimed the
/// copy at `path`. Read only when a crash left a rotated copy's name unclaimed.
bool claimed_elsewhere(int state_fd, const std::string& own, const std::string& path) {
  bool found = false;
  bool read = for_each_journal(state_fd, [&](const std::string& name,
                                             const journal_text& parsed) {
    found = name != own && parsed.header && parsed.header->path == path
            && (parsed.claimed || !parsed.records.empty());
    return !found;
  });
  return found || !read; // a directory not read proves no name free
}

/// For a question: errc::unavailable unless the journal's copy is there to
/// be read ("no copy": not claimed yet; "missing": deleted).
caf::error must_exist(int dstdir_fd, const std::string& path, bool claimed) {
  if (!claimed)
    return make_error(errc::unavailable, "no copy");
  struct stat st;
  if (::fstatat(dstdir_fd, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
    return make_error(errc::unavailable, "the copy " + path + std::string{missing_text});
  return caf::none;
}

} // namespace

bool copy_missing(const caf::error& err) {
  return err.category() == error_category
         && err.code() == static_cast<uint8_t>(errc::unavailable)
         && describe(err).find(missing_text) != std::string::npos;
}

std::vector<journal_header> journal_headers(int state_fd) {
  std::vector<journal_header> out;
  for_each_journal(state_fd, [&](const std::string&, const journal_text& parsed) {
    if (parsed.header && (parsed.claimed || !parsed.records.empty()))
      out.push_back({parsed.header->identity, parsed.header->path});
    return true;
  });
  return out;
}

// -- copy_file -------------------------------------------------------------------

caf::expected<std::unique_ptr<copy_file>>
copy_file::open(const copy_options& opts, int dstdir_fd, int state_fd,
                const copy_spec& spec, std::time_t now) {
  std::unique_ptr<copy_file> cf{new copy_file};
  cf->opts_ = opts;
  cf->mode_ = opts.mode;
  cf->dstdir_fd_ = dstdir_fd;
  cf->state_fd_ = state_fd;
  cf->identity_ = spec.identity;
  std::string text;
  auto existing = cf->find_journal(spec, text);
  if (!existing)
    return std::move(existing.error());
  if (spec.must_exist && !*existing)
    return make_error(errc::unavailable, "no copy");
  if (*existing) {
    auto ours = cf->open_existing(spec, text);
    if (!ours)
      return std::move(ours.error());
    if (*ours)
      return cf;
  }
  if (auto err = cf->create(spec, now))
    return err;
  return cf;
}

caf::expected<bool> copy_file::find_journal(const copy_spec& spec, std::string& text) {
  // A different identity under the same hash (a collision) moves on to the
  // next name.
  auto base_name = hex(fnv1a64(spec.identity), 16);
  for (int probe = 0; probe < 16; ++probe) {
    auto name = base_name + (probe == 0 ? "" : "-" + std::to_string(probe)) + ".j";
    int fd = ::openat(state_fd_, name.c_str(),
                      O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno != ENOENT)
        return io_error("journal " + name, errno);
      journal_name_ = name;
      return false;
    }
    auto read = read_all(fd, name);
    if (!read) {
      ::close(fd);
      return std::move(read.error());
    }
    auto parsed = parse_journal(*read);
    if (parsed.header && parsed.header->identity == spec.identity) {
      journal_fd_ = fd;
      journal_name_ = name;
      text = std::move(*read);
      return true;
    }
    ::close(fd);
    if (!parsed.header) {
      // An empty or torn journal (crash right after creating it): reuse it.
      if (!spec.must_exist)
        ::unlinkat(state_fd_, name.c_str(), 0);
      journal_name_ = name;
      return false;
    }
  }
  return make_error(errc::io, "no free journal name for " + spec.base_path);
}

caf::expected<bool> copy_file::open_existing(const copy_spec& spec,
                                             const std::string& text) {
  auto parsed = parse_journal(text);
  path_ = parsed.header->path;
  out_ = compression_named(parsed.header->out);
  // A classic copy's name is its identity. A rotated copy's name was only a
  // candidate until the 'O' line: a crash while the naming loop of create()
  // held a name that another generation owns must not append to that copy.
  bool claimed = !spec.rotated || parsed.claimed || !parsed.records.empty();
  if (spec.must_exist)
    if (auto err = must_exist(dstdir_fd_, path_, claimed))
      return err;
  // Read and write: the copy's bytes are compared and digested too.
  auto opened = open_beneath(dstdir_fd_, path_,
                             spec.must_exist ? O_RDWR : O_RDWR | O_CREAT);
  if (!opened)
    return std::move(opened.error());
  if (!claimed) {
    claimed = opened->created || !claimed_elsewhere(state_fd_, journal_name_, path_);
    if (!claimed) {
      log::warning(who, "recovery: " + path_ + " belongs to another generation;"
                          " naming this generation's copy anew");
      ::close(opened->fd);
      return false;
    }
    if (auto err = append_journal("O"))
      return err;
    if (auto err = datasync(journal_fd_, "journal"))
      return err;
  }
  fd_ = opened->fd;
  if (auto err = recover(text))
    return err;
  return true;
}

caf::error copy_file::create(const copy_spec& spec, std::time_t now) {
  // A new copy: its journal first (naming the copy), then the copy, then the
  // 'O' line claiming it. A crash in between leaves a journal whose copy the
  // next start creates or claims; never a copy without bookkeeping, which a
  // restart would not find again (a rotated copy's name holds the time it
  // was first opened).
  out_ = spec.out;
  bool reuse_journal = journal_fd_ >= 0;
  if (!reuse_journal) {
    journal_fd_ = ::openat(state_fd_, journal_name_.c_str(),
                           O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                           0600);
    if (journal_fd_ < 0)
      return io_error("journal " + journal_name_, errno);
  }
  auto drop_journal = [&] {
    ::close(journal_fd_);
    journal_fd_ = -1;
    ::unlinkat(state_fd_, journal_name_.c_str(), 0);
  };
  std::string ext = wire::file_extension(spec.out);
  for (int k = 0; k < (spec.rotated ? rotated_name_attempts : 1); ++k) {
    // The original's order: extension first, then the rotated suffix: the
    // time the generation is first opened. A second generation in the same
    // second gets "-1", "-2"... after it (they sort right after it, before
    // the next second), never a later second's name.
    path_ = spec.base_path + ext
            + (spec.rotated ? rotated_suffix(now) + (k > 0 ? "-" + std::to_string(k) : "")
                            : std::string{});
    caf::error err;
    if ((k > 0 || reuse_journal) && ::ftruncate(journal_fd_, 0) != 0)
      err = io_error("truncate journal " + journal_name_, errno);
    journal_lines_ = 0;
    if (!err)
      err = append_journal(header_line());
    if (!err)
      err = datasync(journal_fd_, "journal");
    if (err) {
      drop_journal();
      return err;
    }
    if (k == 0 && !reuse_journal)
      ::fsync(state_fd_); // the journal's name must survive a crash
    auto opened = open_beneath(dstdir_fd_, path_, O_RDWR | O_CREAT);
    if (!opened) {
      drop_journal();
      return std::move(opened.error());
    }
    if (spec.rotated && !opened->created) {
      ::close(opened->fd); // that second's name is taken by another generation
      continue;
    }
    fd_ = opened->fd;
    break;
  }
  auto err = fd_ < 0 ? make_error(errc::io, "no free rotated name for " + spec.base_path)
                     : append_journal("O");
  if (!err)
    err = datasync(journal_fd_, "journal");
  if (err) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
    drop_journal();
    return err;
  }
  auto size = file_size(fd_, path_);
  if (!size)
    return std::move(size.error());
  size_ = *size;
  if (size_ > 0)
    log::warning(who, "appending to " + path_ + " (" + std::to_string(size_)
                        + " bytes) that has no bookkeeping");
  member_end_copy_ = size_;
  durable_copy_end_ = size_;
  return caf::none;
}

copy_file::~copy_file() {
  if (fd_ >= 0 || journal_fd_ >= 0) {
    if (auto err = close())
      log::error(who, "closing " + path_ + ": " + describe(err));
  }
}

std::string copy_file::header_line() const {
  return "H " + std::to_string(journal_version) + " " + journal_escape(to_string(mode_))
         + " " + journal_escape(wire::to_string(out_)) + " " + journal_escape(path_)
         + " " + journal_escape(identity_);
}

namespace {

/// Every segment the journal names, in order, with the digests its D and P
/// lines give (a later line for a block overrides an earlier one).
std::vector<copy_file::segment> journal_segments(const journal_text& parsed) {
  std::vector<copy_file::segment> all;
  std::map<uint64_t, size_t> by_base; // copy_base -> the latest segment there
  for (const auto& r : parsed.records) {
    if (r.kind == 'S') {
      by_base[r.seg.copy_base] = all.size();
      all.push_back(r.seg);
    } else if (r.kind == 'D' || r.kind == 'P') {
      if (auto i = by_base.find(r.copy_size); i != by_base.end())
        all[i->second].blocks[r.src_end] = r.digest;
    }
  }
  return all;
}

size_t count_lines(const journal_text& parsed) {
  return static_cast<size_t>(std::count_if(
    parsed.records.begin(), parsed.records.end(),
    [](const journal_text::record& r) { return r.kind == 'S' || r.kind == 'M'; }));
}

} // namespace

caf::error copy_file::recover(const std::string& text) {
  auto parsed = parse_journal(text);
  bool rewrite = parsed.good_bytes != text.size();
  auto actual = file_size(fd_, path_);
  if (!actual)
    return std::move(actual.error());
  segments_.clear();
  auto err = out_ == wire::compression::none
               ? recover_plain(parsed, *actual, rewrite)
               : recover_compressed(parsed, *actual, rewrite);
  if (err)
    return err;
  for (auto& s : segments_)
    drop_digests_beyond(s);
  durable_copy_end_ = size_;
  trim_segments();
  rebuild_hasher();
  closed_clean_ = !parsed.records.empty() && parsed.records.back().kind == 'C';
  check_recovered(parsed, *actual);
  changed_logged_ = false; // adopted: a later change is another episode
  if (rewrite)
    return compact_journal();
  journal_lines_ = count_lines(parsed);
  return caf::none;
}

caf::error copy_file::recover_plain(const journal_text& parsed, uint64_t a,
                                    bool& rewrite) {
  // Every byte after a segment's start belongs to it, up to the next start
  // or the copy's end.
  for (auto& seg : journal_segments(parsed)) {
    if (seg.copy_base > a) {
      rewrite = true;
      break;
    }
    segments_.push_back(std::move(seg));
  }
  for (size_t i = 0; i < segments_.size(); ++i) {
    auto& s = segments_[i];
    uint64_t copy_end = i + 1 < segments_.size() ? segments_[i + 1].copy_base : a;
    s.src_end = s.durable_end = s.src_base + (copy_end - s.copy_base);
  }
  size_ = a;
  // The bytes beyond the last sync survived in the page cache: make them
  // durable before anything is acknowledged.
  return datasync(fd_, "copy");
}

caf::error copy_file::recover_compressed(const journal_text& parsed, uint64_t a,
                                         bool& rewrite) {
  // The last member boundary not beyond the copy's size.
  struct boundary {
    size_t seg_count;
    uint64_t src_end;
    uint64_t copy_size;
  };
  auto all = journal_segments(parsed);
  std::optional<boundary> best;
  size_t best_record = 0;
  size_t seen = 0;
  for (size_t i = 0; i < parsed.records.size(); ++i) {
    auto& r = parsed.records[i];
    boundary b{};
    if (r.kind == 'S')
      b = {++seen, r.seg.src_base, r.seg.copy_base};
    else if (r.kind == 'M' && seen > 0)
      b = {seen, r.src_end, r.copy_size};
    else
      continue;
    if (b.copy_size <= a) {
      best = b;
      best_record = i;
    }
  }
  if (!best) {
    if (!parsed.records.empty())
      rewrite = true;
    size_ = a; // nothing known: keep what is there, append after it
    member_end_copy_ = size_;
    member_end_src_ = 0;
    return caf::none;
  }
  all.resize(best->seg_count);
  // Each segment ends where its last boundary up to `best` says; the last
  // one's digest of its block being written restarts from its last
  // boundary at or before that block's start.
  size_t seg = 0;
  for (size_t i = 0; i <= best_record; ++i) {
    auto& r = parsed.records[i];
    if (r.kind == 'S') {
      ++seg;
      restart_src_ = r.seg.src_base;
      restart_copy_ = r.seg.copy_base;
    } else if (r.kind == 'M' && seg > 0) {
      all[seg - 1].src_end = all[seg - 1].durable_end = r.src_end;
    }
  }
  auto& last = all.back();
  last.src_end = last.durable_end = best->src_end;
  uint64_t hash_from = std::max(last.src_base, block_floor(last.src_end));
  for (size_t i = 0, n = 0; i <= best_record; ++i) {
    auto& r = parsed.records[i];
    n += r.kind == 'S';
    if (r.kind == 'M' && n == best->seg_count && r.src_end <= hash_from) {
      restart_src_ = r.src_end;
      restart_copy_ = r.copy_size;
    }
  }
  for (size_t i = best_record + 1; i < parsed.records.size(); ++i)
    rewrite = rewrite || parsed.records[i].kind == 'S' || parsed.records[i].kind == 'M';
  segments_ = std::move(all);
  size_ = best->copy_size;
  member_end_copy_ = size_;
  member_end_src_ = segments_.back().src_end;
  if (a > size_) {
    log::info(who, "recovery: truncating " + path_ + " from " + std::to_string(a)
                     + " to " + std::to_string(size_) + " bytes (last member end)");
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0)
      return io_error("truncate " + path_, errno);
    if (auto err = datasync(fd_, "copy"))
      return err;
  }
  return caf::none;
}

void copy_file::check_recovered(const journal_text& parsed, uint64_t a) {
  if (closed_clean_ && parsed.records.back().copy_size != a) {
    note_changed("holds " + std::to_string(a) + " bytes; it had "
                 + std::to_string(parsed.records.back().copy_size)
                 + " when the writer closed it");
    // That C line is stale now: the next clean close writes a true one.
    if (auto err = reopen_for_writing())
      log::error(who, "journal of " + path_ + ": " + describe(err));
  }
  if (out_ != wire::compression::none)
    return;
  // The last complete block the journal knows, against the copy's bytes.
  for (auto s = segments_.rbegin(); s != segments_.rend(); ++s) {
    auto b = std::find_if(s->blocks.rbegin(), s->blocks.rend(), [](const auto& kv) {
      return kv.first % wire::digest_block == 0;
    });
    if (b == s->blocks.rend())
      continue;
    uint64_t to = b->first;
    uint64_t from = block_from(s->src_base, to);
    auto bytes = read_source(*s, from, to);
    if (!bytes) {
      log::warning(who, "recovery: checking a block of " + path_ + ": "
                          + describe(bytes.error()));
      return;
    }
    auto d = wire::xxh3(*bytes);
    if (d != b->second) {
      note_changed("source bytes " + std::to_string(from) + ".." + std::to_string(to)
                   + " of " + s->key.str() + " no longer match their digest");
      s->blocks[to] = d;
      journal_digest(*s, to, d);
    }
    return;
  }
}

const copy_file::segment* copy_file::find(const source_key& key,
                                          const std::string& gen) const {
  for (auto i = segments_.rbegin(); i != segments_.rend(); ++i)
    if (i->gen == gen && i->key == key)
      return &*i;
  return nullptr;
}

decision copy_file::decide(const source_key& key, const std::string& gen,
                           uint64_t fpos, uint64_t n, bool ack) const {
  decision d;
  const segment* seg = find(key, gen);
  if (seg == nullptr) {
    // A new key or a generation not seen: a new segment where it starts.
    d.new_segment = true;
    d.src_base = fpos;
    return d;
  }
  bool is_last = seg == &segments_.back();
  uint64_t end = seg->src_end;
  d.src_end = end;
  if (gen.empty() && fpos == 0 && end > 0 && n > 0) {
    // A sender without generations starting over at 0: the source was
    // truncated or replaced; the original appends it, so do we.
    d.new_segment = true;
    d.src_base = 0;
    return d;
  }
  if (n == 0 || fpos + n <= end) {
    d.kind = decision::duplicate;
    return d;
  }
  if (fpos <= end) {
    d.skip = end - fpos;
    d.new_segment = !is_last;
    d.src_base = end;
    return d;
  }
  d.gap_bytes = fpos - end;
  if (ack) {
    d.kind = decision::gap;
    return d;
  }
  d.new_segment = true;
  d.src_base = fpos;
  return d;
}

caf::error copy_file::datasync(int fd, const char* what) {
  if (::fdatasync(fd) != 0)
    return io_error(std::string{"fdatasync "} + what + " " + path_, errno);
  ++fsyncs_;
  return caf::none;
}

int64_t copy_file::take_fsyncs() {
  auto n = fsyncs_;
  fsyncs_ = 0;
  return n;
}

bool copy_file::needs_sync() const {
  return out_ == wire::compression::none ? dirty_ : pending_checkpoint_;
}

caf::error copy_file::append_journal(const std::string& body) {
  if (auto err = write_all(journal_fd_, seal(body), journal_name_)) {
    last_write_errno_ = errno;
    return err;
  }
  ++journal_lines_;
  closed_clean_ = false; // the journal no longer ends with a C line
  return caf::none;
}

caf::error copy_file::journal_checkpoint() {
  if (!pending_checkpoint_)
    return caf::none;
  if (auto err = append_journal(member_line(pending_src_end_, pending_copy_size_)))
    return err;
  if (auto err = datasync(journal_fd_, "journal"))
    return err;
  pending_checkpoint_ = false;
  if (!segments_.empty())
    segments_.back().durable_end = pending_src_end_;
  durable_copy_end_ = pending_copy_size_;
  return caf::none;
}

caf::error copy_file::start_segment(const source_key& key, const std::string& gen,
                                    uint64_t src_base) {
  if (auto err = reopen_for_writing())
    return err;
  if (auto err = finish_member())
    return err;
  // Every byte before the new segment's start must be durable, and the end of
  // the previous segment journaled, before the S line claims what follows.
  if (dirty_) {
    if (auto err = datasync(fd_, "copy"))
      return err;
    dirty_ = false;
    if (out_ == wire::compression::none)
      for (auto& s : segments_)
        s.durable_end = s.src_end;
  }
  if (pending_checkpoint_)
    if (auto err = append_journal(member_line(pending_src_end_, pending_copy_size_)))
      return err;
  keep_partial_block(); // the previous segment's last block is final
  segment seg;
  seg.key = key;
  seg.gen = gen;
  seg.src_base = seg.src_end = seg.durable_end = src_base;
  seg.copy_base = size_;
  if (auto err = append_journal(segment_line(seg)))
    return err;
  if (auto err = datasync(journal_fd_, "journal"))
    return err;
  if (pending_checkpoint_ && !segments_.empty())
    segments_.back().durable_end = pending_src_end_;
  pending_checkpoint_ = false;
  segments_.push_back(std::move(seg));
  member_end_src_ = src_base;
  member_end_copy_ = size_;
  durable_copy_end_ = size_;
  hasher_.restart(src_base);
  restart_src_ = src_base;
  restart_copy_ = size_;
  trim_segments();
  return caf::none;
}

caf::error copy_file::skip_to(const source_key& key, const std::string& gen,
                              uint64_t src_base) {
  return start_segment(key, gen, src_base);
}

void copy_file::trim_segments() {
  if (segments_.size() > opts_.max_segments && opts_.max_segments > 0)
    segments_.erase(segments_.begin(),
                    segments_.begin()
                      + static_cast<std::ptrdiff_t>(segments_.size()
                                                    - opts_.max_segments));
}

caf::error copy_file::write_copy(std::string_view bytes) {
  if (bytes.empty())
    return caf::none;
  if (auto err = pwrite_all(fd_, bytes, size_, path_)) {
    last_write_errno_ = errno;
    // Drop a partial write: the copy ends where our bookkeeping says.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0)
      log::error(who, "truncate " + path_ + " after a failed write: "
                        + errno_text(errno));
    return err;
  }
  size_ += bytes.size();
  dirty_ = true;
  return caf::none;
}

void copy_file::roll_back_member() {
  // The open member is lost; the copy goes back to the last member end.
  compressor_.reset();
  member_open_ = false;
  member_src_bytes_ = 0;
  if (::ftruncate(fd_, static_cast<off_t>(member_end_copy_)) != 0)
    log::error(who, "truncate " + path_ + ": " + errno_text(errno));
  size_ = member_end_copy_;
  if (!segments_.empty())
    segments_.back().src_end = member_end_src_;
  rebuild_hasher(); // it had been fed the bytes rolled back
}

void copy_file::member_ended() {
  auto& seg = segments_.back();
  member_end_src_ = seg.src_end;
  member_end_copy_ = size_;
  pending_checkpoint_ = true;
  pending_src_end_ = seg.src_end;
  pending_copy_size_ = size_;
  // A member boundary at the start of the block being written: its bytes
  // can be decompressed from here again.
  if (hasher_.valid() && member_end_src_ <= hasher_.from()) {
    restart_src_ = member_end_src_;
    restart_copy_ = member_end_copy_;
  }
}

caf::expected<uint64_t>
copy_file::append(const source_key& key, const std::string& gen, const decision& d,
                  std::string_view raw, std::string_view member,
                  wire::compression member_comp, clock::time_point now) {
  if (auto err = reopen_for_writing())
    return err;
  if (d.new_segment || segments_.empty())
    if (auto err = start_segment(key, gen, d.new_segment ? d.src_base : 0))
      return err;
  if (raw.empty())
    return uint64_t{0};
  auto before = size_;
  auto& seg = segments_.back();
  if (out_ == wire::compression::none) {
    if (auto err = write_copy(raw))
      return err;
    hash_written(seg.src_end, raw);
    seg.src_end += raw.size();
  } else if (mode_ != write_mode::recompress
             || (!member_open_ && !member.empty() && member_comp == out_)) {
    // One complete member per fragment: the received one when it fits.
    std::string_view bytes = member;
    if (member.empty() || member_comp != out_) {
      auto packed = wire::compress(raw, out_, opts_.level);
      if (!packed)
        return std::move(packed.error());
      scratch_ = std::move(*packed);
      bytes = scratch_;
    }
    if (auto err = write_copy(bytes))
      return err;
    hash_written(seg.src_end, raw);
    seg.src_end += raw.size();
    member_ended();
  } else {
    if (!member_open_) {
      if (!compressor_)
        compressor_ = std::make_unique<wire::stream_compressor>(out_, opts_.level);
      member_open_ = true;
      member_opened_ = now;
      member_src_bytes_ = 0;
    }
    scratch_.clear();
    auto err = compressor_->write(raw, scratch_);
    if (!err)
      err = write_copy(scratch_);
    if (err) {
      roll_back_member();
      return err;
    }
    hash_written(seg.src_end, raw);
    seg.src_end += raw.size();
    member_src_bytes_ += raw.size();
    if (member_src_bytes_ >= opts_.buffer_bytes)
      if (auto err2 = finish_member())
        return err2;
  }
  last_write_ = now;
  return size_ - before;
}

caf::error copy_file::finish_member() {
  if (!member_open_)
    return caf::none;
  scratch_.clear();
  auto err = compressor_->finish(scratch_);
  if (!err)
    err = write_copy(scratch_);
  if (err) {
    roll_back_member();
    return err;
  }
  member_open_ = false;
  member_src_bytes_ = 0;
  member_ended();
  return caf::none;
}

unique_fd::~unique_fd() {
  if (fd_ >= 0)
    ::close(fd_);
}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

caf::expected<copy_file::sync_ticket> copy_file::begin_sync() {
  sync_ticket t;
  t.fd = unique_fd{::fcntl(fd_, F_DUPFD_CLOEXEC, 0)};
  if (t.fd.get() < 0)
    return io_error("dup " + path_, errno);
  t.path = path_;
  t.epoch = rewrite_epoch_;
  t.marks.reserve(segments_.size());
  for (const auto& seg : segments_)
    t.marks.push_back({seg.key, seg.gen, seg.src_base, seg.src_end});
  dirty_ = false;
  sync_in_flight_ = true;
  return t;
}

caf::error copy_file::end_sync(const sync_ticket& t, const caf::error& err) {
  sync_in_flight_ = false;
  if (err) {
    dirty_ = true; // what it covered is not known durable
    return caf::none;
  }
  ++fsyncs_;
  if (t.epoch != rewrite_epoch_) {
    // Bytes were rewritten in place meanwhile: the next sync covers them.
    dirty_ = true;
    return caf::none;
  }
  for (const auto& m : t.marks)
    for (auto& seg : segments_)
      if (seg.src_base == m.src_base && seg.gen == m.gen && seg.key == m.key)
        seg.durable_end = std::max(seg.durable_end, std::min(m.src_end, seg.src_end));
  if (compaction_due())
    return compact_journal();
  return caf::none;
}

caf::error copy_file::sync() {
  if (fd_ < 0)
    return caf::none;
  if (out_ == wire::compression::none) {
    // A sync in flight elsewhere may not be done yet: this one covers it.
    if (!dirty_ && !sync_in_flight_)
      return caf::none;
    if (auto err = datasync(fd_, "copy"))
      return err;
    dirty_ = false;
    for (auto& s : segments_)
      s.durable_end = s.src_end;
  } else {
    if (!pending_checkpoint_)
      return caf::none;
    if (auto err = datasync(fd_, "copy"))
      return err;
    if (!member_open_)
      dirty_ = false;
    if (auto err = journal_checkpoint())
      return err;
  }
  if (compaction_due())
    return compact_journal();
  return caf::none;
}

bool copy_file::compaction_due() const {
  return journal_lines_ > std::max(opts_.compact_after, compacted_digests_);
}

std::string copy_file::compacted_segment(size_t i, size_t& lines) const {
  const auto& s = segments_[i];
  bool last = i + 1 == segments_.size();
  bool compressed = out_ != wire::compression::none;
  // The last segment of a compressed copy: only what is journaled durable
  // (an open or unsynced member is not).
  uint64_t src_end = compressed && last ? s.durable_end : s.src_end;
  uint64_t copy_end = last ? durable_copy_end_ : segments_[i + 1].copy_base;
  std::string text = seal(segment_line(s));
  ++lines;
  for (const auto& [to, d] : s.blocks)
    if (digest_holds(s, to))
      text += seal(digest_line(s.copy_base, to, d));
  if (last && hasher_.valid() && hasher_.pos() == src_end && src_end > hasher_.from()
      && src_end % wire::digest_block != 0)
    text += seal(digest_line(s.copy_base, src_end, hasher_.value()));
  if (!compressed || src_end == s.src_base)
    return text;
  if (last && restart_src_ > s.src_base && restart_src_ < src_end
      && restart_copy_ <= copy_end) {
    text += seal(member_line(restart_src_, restart_copy_));
    ++lines;
  }
  text += seal(member_line(src_end, copy_end));
  ++lines;
  return text;
}

caf::error copy_file::compact_journal() {
  // Header, the remembered segments with their digests, and for compressed
  // copies each segment's durable end (and the member boundary the block
  // being written can be decompressed from): the same recovery result in a
  // few lines. D and P lines do not count towards compact_after: they only
  // grow with the data and compaction would not shorten them; but the next
  // compaction waits for at least as many new lines as it would copy.
  std::string text = seal(header_line()) + seal("O");
  size_t lines = 0;
  for (size_t i = 0; i < segments_.size(); ++i)
    text += compacted_segment(i, lines);
  compacted_digests_ = 0;
  for (const auto& seg : segments_)
    compacted_digests_ += seg.blocks.size();
  auto tmp = journal_name_ + ".tmp";
  int fd = ::openat(state_fd_, tmp.c_str(),
                    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error("journal " + tmp, errno);
  auto err = write_all(fd, text, tmp);
  if (!err && ::fdatasync(fd) != 0)
    err = io_error("fdatasync journal " + tmp, errno);
  ::close(fd);
  if (!err && ::renameat(state_fd_, tmp.c_str(), state_fd_, journal_name_.c_str()) != 0)
    err = io_error("rename journal " + tmp, errno);
  if (err) {
    ::unlinkat(state_fd_, tmp.c_str(), 0);
    return err;
  }
  ::fsync(state_fd_);
  ++fsyncs_;
  int jfd = ::openat(state_fd_, journal_name_.c_str(),
                     O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (jfd < 0)
    return io_error("journal " + journal_name_, errno);
  if (journal_fd_ >= 0)
    ::close(journal_fd_);
  journal_fd_ = jfd;
  journal_lines_ = lines;
  closed_clean_ = false;
  return caf::none;
}

caf::error copy_file::close() {
  caf::error result;
  if (fd_ >= 0) {
    result = finish_member();
    if (!result)
      result = sync();
    if (!result)
      result = journal_close();
    ::close(fd_);
    fd_ = -1;
  }
  if (journal_fd_ >= 0) {
    ::close(journal_fd_);
    journal_fd_ = -1;
  }
  return result;
}

caf::error copy_file::journal_close() {
  // Nothing written since the last clean close: its C line still holds.
  if (journal_fd_ < 0 || closed_clean_)
    return caf::none;
  keep_partial_block();
  if (auto err = append_journal("C " + std::to_string(size_)))
    return err;
  // Not synced: lost only with the machine, and then the next start merely
  // cannot tell a change from a crash. A copy written again says so first
  // (reopen_for_writing, synced).
  closed_clean_ = true;
  return caf::none;
}

// -- digests and the copy as the authority ----------------------------------------

int64_t copy_file::take_changed() {
  auto n = changed_;
  changed_ = 0;
  return n;
}

void copy_file::note_changed(const std::string& what) {
  if (changed_logged_)
    return;
  changed_logged_ = true;
  ++changed_;
  // Every change is counted; a copy changed again and again (a second
  // writer?) is said once per 10 s.
  auto now = clock::now();
  if (changed_said_ != clock::time_point{} && now - changed_said_ < std::chrono::seconds{10}) {
    ++changed_unsaid_;
    return;
  }
  log::warning(who, path_ + " was changed behind the writer's back: it " + what
                      + "; going by what the copy holds"
                      + (changed_unsaid_ > 0 ? " (" + std::to_string(changed_unsaid_)
                                                 + " more changes since the last line)"
                                             : std::string{}));
  changed_said_ = now;
  changed_unsaid_ = 0;
}

void copy_file::journal_digest(const segment& seg, uint64_t to, uint64_t digest) {
  if (journal_fd_ < 0)
    return;
  // Not counted in journal_lines_ (see compact_journal) and not synced here.
  if (auto err = write_all(journal_fd_, seal(digest_line(seg.copy_base, to, digest)),
                           journal_name_))
    log::error(who, "journal of " + path_ + ": " + describe(err));
  closed_clean_ = false; // the journal no longer ends with a C line
}

void copy_file::keep_partial_block() {
  if (segments_.empty() || !hasher_.valid())
    return;
  auto& seg = segments_.back();
  uint64_t to = hasher_.pos();
  if (to != seg.src_end || to == hasher_.from() || to % wire::digest_block == 0)
    return;
  seg.blocks[to] = hasher_.value();
  journal_digest(seg, to, hasher_.value());
}

void copy_file::drop_digests_beyond(segment& seg) {
  for (auto i = seg.blocks.begin(); i != seg.blocks.end();)
    i = digest_holds(seg, i->first) ? std::next(i) : seg.blocks.erase(i);
}

caf::error copy_file::reopen_for_writing() {
  if (!closed_clean_)
    return caf::none;
  // A C line says what a clean close left; once the copy is written again
  // it no longer holds, and must not be read as a change after a crash:
  // the line after it is durable before the copy changes.
  if (auto err = append_journal("A"))
    return err;
  return datasync(journal_fd_, "journal");
}

void copy_file::hash_written(uint64_t at, std::string_view raw) {
  auto& seg = segments_.back();
  hasher_.feed(at, raw, [&](uint64_t end, uint64_t digest) {
    seg.blocks[end] = digest;
    journal_digest(seg, end, digest);
    // The next block starts here: the last member boundary is at or before.
    restart_src_ = member_end_src_;
    restart_copy_ = member_end_copy_;
  });
}

caf::expected<std::string> copy_file::read_copy(uint64_t offset, uint64_t len) const {
  return pread_some(fd_, offset, len, path_);
}

caf::expected<std::string> copy_file::read_source(const segment& seg, uint64_t from,
                                                  uint64_t to) const {
  if (out_ == wire::compression::none) {
    auto bytes = read_copy(seg.copy_base + (from - seg.src_base), to - from);
    if (bytes && bytes->size() != to - from)
      return make_error(errc::io, path_ + " ends before source offset "
                                    + std::to_string(to) + " of " + seg.key.str());
    return bytes;
  }
  // Compressed: the last segment's bytes from a member boundary on.
  constexpr uint64_t max_inflate = 64ull << 20;
  if (segments_.empty() || &seg != &segments_.back() || member_open_
      || from < restart_src_ || restart_src_ < seg.src_base || to > seg.src_end
      || seg.src_end - restart_src_ > max_inflate)
    return make_error(errc::unavailable, "no member boundary of " + path_
                                           + " to decompress source offset "
                                           + std::to_string(from) + " from");
  auto packed = read_copy(restart_copy_, size_ - restart_copy_);
  if (!packed)
    return std::move(packed.error());
  auto raw = wire::decompress(*packed, out_, seg.src_end - restart_src_);
  if (!raw)
    return std::move(raw.error());
  if (raw->size() != seg.src_end - restart_src_)
    return make_error(errc::decode_failed, path_ + ": the members after copy offset "
                                             + std::to_string(restart_copy_)
                                             + " hold other than the journal says");
  return raw->substr(static_cast<size_t>(from - restart_src_),
                     static_cast<size_t>(to - from));
}

void copy_file::rebuild_hasher() {
  hasher_.invalidate();
  if (segments_.empty())
    return;
  const auto& seg = segments_.back();
  uint64_t from = std::max(seg.src_base, block_floor(seg.src_end));
  std::string bytes;
  if (from < seg.src_end) {
    auto got = read_source(seg, from, seg.src_end);
    if (!got) {
      // The block's digest is given up; the next one starts afresh.
      log::info(who, "digest of the block being written in " + path_ + ": "
                       + describe(got.error()));
      return;
    }
    bytes = std::move(*got);
  }
  hasher_.restart(from);
  hasher_.feed(from, bytes, [](uint64_t, uint64_t) {});
}

void copy_file::rehash(size_t index, uint64_t from, uint64_t to) {
  auto& s = segments_[index];
  bool last = index + 1 == segments_.size();
  for (uint64_t x = std::max(from, s.src_base); x < to && x < s.src_end;) {
    uint64_t bfrom = std::max(s.src_base, block_floor(x));
    uint64_t bto = block_to(bfrom, s.src_end);
    if (last && bto == s.src_end && bto % wire::digest_block != 0) {
      rebuild_hasher(); // the block being written
      return;
    }
    auto bytes = read_source(s, bfrom, bto);
    if (bytes) {
      auto d = wire::xxh3(*bytes);
      s.blocks[bto] = d;
      journal_digest(s, bto, d);
    } else {
      s.blocks.erase(bto);
      log::warning(who, "digest of " + path_ + ": " + describe(bytes.error()));
    }
    x = bto;
  }
}

caf::expected<bool> copy_file::measure() {
  if (fd_ < 0)
    return false;
  auto actual = file_size(fd_, path_);
  if (!actual)
    return std::move(actual.error());
  if (*actual == size_)
    return false;
  note_changed("holds " + std::to_string(*actual) + " bytes where the writer wrote "
               + std::to_string(size_));
  ++rewrite_epoch_;
  if (out_ == wire::compression::none) {
    adopt_plain_size(*actual);
    changed_logged_ = false; // adopted: a later change is another episode
    return true;
  }
  // Compressed: the open member went with the change; recover from the
  // journal to the last member end within the file.
  compressor_.reset();
  member_open_ = false;
  member_src_bytes_ = 0;
  if (auto err = sync())
    return err;
  if (auto err = reload()) // ends the episode as a recovery does
    return err;
  return true;
}

void copy_file::adopt_plain_size(uint64_t a) {
  if (auto err = reopen_for_writing()) // a C line no longer holds
    log::error(who, "journal of " + path_ + ": " + describe(err));
  if (a < size_)
    while (!segments_.empty() && segments_.back().copy_base > a)
      segments_.pop_back();
  if (!segments_.empty()) {
    auto& s = segments_.back();
    s.src_end = s.src_base + (a - s.copy_base);
    s.durable_end = std::min(s.durable_end, s.src_end);
    drop_digests_beyond(s);
  }
  size_ = a;
  dirty_ = true; // the size the writer now goes by must be durable too
  rebuild_hasher();
}

caf::error copy_file::reload() {
  auto text = read_all(journal_fd_, journal_name_);
  if (!text)
    return std::move(text.error());
  pending_checkpoint_ = false;
  return recover(*text);
}

caf::expected<uint64_t> copy_file::first_difference(const segment& seg, uint64_t from,
                                                    std::string_view bytes) const {
  constexpr size_t chunk = 1 << 20;
  for (size_t done = 0; done < bytes.size();) {
    auto want = std::min(chunk, bytes.size() - done);
    auto have = read_copy(seg.copy_base + (from + done - seg.src_base), want);
    if (!have)
      return std::move(have.error());
    auto part = bytes.substr(done, want);
    auto m = std::mismatch(have->begin(), have->end(), part.begin());
    auto same = static_cast<size_t>(m.first - have->begin());
    if (same < want)
      return from + done + same;
    done += want;
  }
  return from + bytes.size();
}

caf::error copy_file::overwrite(const segment& seg, uint64_t from,
                                std::string_view bytes) {
  if (auto err = reopen_for_writing())
    return err;
  auto index = static_cast<size_t>(&seg - segments_.data());
  auto& s = segments_[index];
  if (auto err = pwrite_all(fd_, bytes, s.copy_base + (from - s.src_base), path_))
    return err;
  ++rewrite_epoch_;
  dirty_ = true;
  s.durable_end = std::min(s.durable_end, from);
  rehash(index, from, from + bytes.size());
  return caf::none;
}

caf::error copy_file::cut(uint64_t at) {
  if (auto err = reopen_for_writing())
    return err;
  auto& s = segments_.back();
  uint64_t copy_end = s.copy_base + (at - s.src_base);
  if (::ftruncate(fd_, static_cast<off_t>(copy_end)) != 0)
    return io_error("truncate " + path_, errno);
  ++rewrite_epoch_;
  dirty_ = true;
  size_ = copy_end;
  s.src_end = at;
  s.durable_end = std::min(s.durable_end, at);
  drop_digests_beyond(s);
  rebuild_hasher();
  return caf::none;
}

caf::expected<uint64_t> copy_file::digest(const segment& seg, uint64_t from,
                                          uint64_t to) const {
  if (out_ == wire::compression::none) {
    wire::digest_stream stream;
    constexpr uint64_t chunk = 1 << 20;
    for (uint64_t at = from; at < to; at += chunk) {
      auto bytes = read_source(seg, at, std::min(to, at + chunk));
      if (!bytes)
        return std::move(bytes.error());
      stream.update(*bytes);
    }
    return stream.value();
  }
  bool last = !segments_.empty() && &seg == &segments_.back();
  if (last && hasher_.valid() && hasher_.from() == from && hasher_.pos() == to)
    return hasher_.value();
  if (from == block_from(seg.src_base, to) && digest_holds(seg, to))
    if (auto i = seg.blocks.find(to); i != seg.blocks.end())
      return i->second;
  return make_error(errc::unavailable,
                    "a compressed copy has digests of whole journaled blocks only; "
                    "source range " + std::to_string(from) + ".." + std::to_string(to)
                      + " is not one");
}

} // namespace cc::tw
