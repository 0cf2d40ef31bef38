// The journal log's record texts (journal_log.hpp): a copy's sealed journal
// lines as records of its id, one by one or as a batch, and where each
// record's body lands in the file.
#include <algorithm>
#include <charconv>

#include "actors/write/copy_journal.hpp"
#include "actors/write/journal_log.hpp"
#include "base/hash.hpp"

namespace cc::tw::jlog {

namespace {

constexpr size_t seal_size = 11; // " #" + 8 hex digits + "\n"

/// The bodies of a text of sealed journal lines, up to a damaged or torn one.
std::vector<std::string_view> bodies(std::string_view text) {
  std::vector<std::string_view> out;
  out.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')));
  size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos)
      break;
    auto line = text.substr(pos, nl - pos);
    // journal::unseal without its tokens: the checksum alone.
    if (line.size() < seal_size - 1 || line.substr(line.size() - 10, 2) != " #")
      break;
    auto body = line.substr(0, line.size() - (seal_size - 1));
    if (line.substr(line.size() - 8) != journal::hex(static_cast<uint32_t>(fnv1a64(body)), 8))
      break;
    out.push_back(body);
    pos = nl + 1;
  }
  return out;
}

/// append_record of `lead` (if not 0) followed by `body`, without making
/// that body first: where the record's body (`lead` included) starts.
size_t append_record_led(std::string& out, std::string_view id, char lead,
                         std::string_view body) {
  auto start = out.size();
  out.append(id) += ' ';
  if (lead != 0)
    out += lead;
  out.append(body);
  journal::append_seal(out, start);
  return start + id.size() + 1;
}

/// "<kind> <n>" in `buf`, for the R and +T records.
std::string_view count_body(char (&buf)[40], std::string_view kind, uint64_t n) {
  std::copy(kind.begin(), kind.end(), buf);
  buf[kind.size()] = ' ';
  auto end = std::to_chars(buf + kind.size() + 1, buf + sizeof buf, n).ptr;
  return {buf, static_cast<size_t>(end - buf)};
}

} // namespace

size_t append_record(std::string& out, std::string_view id, std::string_view body) {
  return append_record_led(out, id, 0, body);
}

std::string record(std::string_view id, std::string_view body) {
  std::string out;
  out.reserve(id.size() + body.size() + seal_size + 1);
  append_record(out, id, body);
  return out;
}

void records_at(std::string& out, std::string_view id, std::string_view journal_text,
                uint64_t base, std::vector<index::span>* spans) {
  auto lines = bodies(journal_text);
  size_t size = out.size();
  for (auto body : lines)
    size += id.size() + 1 + body.size() + seal_size;
  out.reserve(size);
  if (spans != nullptr)
    spans->reserve(spans->size() + lines.size());
  auto start = out.size();
  for (auto body : lines) {
    auto at = append_record(out, id, body);
    if (spans != nullptr)
      spans->push_back({0, static_cast<uint32_t>(body.size()), base + at - start});
  }
}

std::string batch_at(std::string_view id, std::string_view journal_text, std::time_t time,
                     uint64_t base, std::vector<index::span>* spans) {
  auto lines = bodies(journal_text);
  char buf[40];
  auto count = count_body(buf, "R", lines.size() + (time != 0 ? 1 : 0));
  std::string out;
  size_t size = id.size() + 1 + count.size() + seal_size;
  if (time != 0)
    size += id.size() + 1 + 3 + 20 + seal_size;
  for (auto body : lines)
    size += id.size() + 2 + body.size() + seal_size;
  out.reserve(size);
  append_record(out, id, count);
  if (time != 0)
    append_record(out, id, count_body(buf, "+T", static_cast<uint64_t>(time)));
  if (spans != nullptr)
    spans->reserve(lines.size());
  for (auto body : lines) {
    auto at = append_record_led(out, id, '+', body);
    if (spans != nullptr)
      spans->push_back({0, static_cast<uint32_t>(body.size()), base + at + 1});
  }
  return out;
}

std::string records(std::string_view id, std::string_view journal_text) {
  std::string out;
  records_at(out, id, journal_text, 0, nullptr);
  return out;
}

std::string batch(std::string_view id, std::string_view journal_text, std::time_t time) {
  return batch_at(id, journal_text, time, 0, nullptr);
}

} // namespace cc::tw::jlog
