// The copy journal's text and the state directory's names: see
// copy_journal.hpp. The escaping of fields (journal_escape) is
// copy_writer.hpp's public part.
#include "actors/write/copy_journal.hpp"

#include <array>
#include <charconv>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.hpp"
#include "base/files.hpp"
#include "base/hash.hpp"
#include "wire/digest.hpp"

namespace cc::tw {

namespace {

bool keep_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
         || c == '.' || c == '_' || c == '/' || c == ':' || c == '@' || c == '+'
         || c == '-';
}

} // namespace

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty())
    return false;
  auto res = std::from_chars(text.data(), text.data() + text.size(), out);
  return res.ec == std::errc{} && res.ptr == text.data() + text.size();
}

namespace journal {

std::string hex(uint64_t value, int digits) {
  std::string out(static_cast<size_t>(digits), '0');
  write_hex(out.data(), value, digits);
  return out;
}

void append_seal(std::string& text, size_t from) {
  auto sum = static_cast<uint32_t>(fnv1a64(std::string_view{text}.substr(from)));
  char tail[11] = {' ', '#'};
  write_hex(tail + 2, sum, 8);
  tail[10] = '\n';
  text.append(tail, sizeof tail);
}

std::string seal(const std::string& body) {
  std::string out;
  out.reserve(body.size() + 11);
  out += body;
  append_seal(out, 0);
  return out;
}

std::string seal(std::string&& body) {
  append_seal(body, 0);
  return std::move(body);
}

line& line::text(std::string_view v) {
  s_ += ' ';
  append_journal_escaped(s_, v);
  return *this;
}

line& line::num(uint64_t v) {
  char buf[24];
  buf[0] = ' ';
  auto end = std::to_chars(buf + 1, buf + sizeof buf, v).ptr;
  s_.append(buf, end);
  return *this;
}

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

namespace {

std::optional<journal_text::header_t>
parse_header_line(const std::vector<std::string_view>& t) {
  auto mode = journal_unescape(t[2]);
  auto comp = journal_unescape(t[3]);
  auto path = journal_unescape(t[4]);
  auto id = journal_unescape(t[5]);
  if (t[1] != std::to_string(version) || !mode || !comp || !path || !id)
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

} // namespace

journal_text parse(const std::string& text) {
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
  return line{"S", 64 + s.key.hostname.size() + s.key.filename.size() + s.gen.size()}
    .text(s.key.hostname)
    .num(s.key.st_dev)
    .num(s.key.st_ino)
    .text(s.key.filename)
    .text(s.gen)
    .num(s.src_base)
    .num(s.copy_base)
    .take();
}

std::string member_line(uint64_t src_end, uint64_t copy_size) {
  return line{"M", 56}.num(src_end).num(copy_size).take();
}

std::string digest_line(uint64_t copy_base, uint64_t to, uint64_t digest) {
  char hex16[16];
  write_hex(hex16, digest, 16); // wire::digest_hex's text
  return line{to % wire::digest_block == 0 ? "D" : "P", 72}
    .num(copy_base)
    .num(to)
    .word({hex16, sizeof hex16})
    .take();
}

bool digest_holds(const copy_file::segment& s, uint64_t to) {
  return to > s.src_base && to <= s.src_end
         && (to % wire::digest_block == 0 || to == s.src_end);
}

std::optional<std::vector<std::string>>
names(int state_fd, const std::function<bool(const std::string&)>& keep) {
  std::vector<std::string> out;
  int fd = ::openat(state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return std::nullopt;
  }
  while (auto* entry = ::readdir(dir))
    if (std::string name{entry->d_name}; keep(name))
      out.push_back(std::move(name));
  ::closedir(dir);
  return out;
}

} // namespace journal

void append_journal_escaped(std::string& out, std::string_view text) {
  // Sized first, then filled in place: a new copy's journal text goes
  // through here whole (commit_log's J line), with an escape per space and
  // line end.
  static const auto kept = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c)
      t[static_cast<size_t>(c)] = keep_char(static_cast<unsigned char>(c));
    return t;
  }();
  size_t size = 1;
  for (unsigned char c : text)
    size += kept[c] ? 1 : 3;
  size_t at = out.size();
  out.resize(at + size, '=');
  static constexpr char digits[] = "0123456789abcdef";
  ++at;
  for (unsigned char c : text) {
    if (kept[c]) {
      out[at++] = static_cast<char>(c);
    } else {
      out[at++] = '%';
      out[at++] = digits[c >> 4];
      out[at++] = digits[c & 15];
    }
  }
}

std::string journal_escape(std::string_view text) {
  std::string out;
  append_journal_escaped(out, text);
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

} // namespace cc::tw
