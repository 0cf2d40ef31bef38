// Which rotated copies hold a source file: see copy_index.hpp.
#include "actors/write/copy_index.hpp"

#include <algorithm>

#include "actors/write/copy_journal.hpp"

namespace cc::tw {

namespace {

constexpr char sep = '\n';

/// Splits `text` at every separator.
std::vector<std::string_view> split(std::string_view text) {
  std::vector<std::string_view> out;
  for (;;) {
    auto at = text.find(sep);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos)
      return out;
    text.remove_prefix(at + 1);
  }
}

} // namespace

std::string classic_identity(std::string_view mode, std::string_view dest_base) {
  std::string out;
  out.reserve(3 + mode.size() + dest_base.size());
  out += 'C';
  for (auto part : {mode, dest_base})
    (out += sep) += part;
  return out;
}

std::string rotated_identity(std::string_view mode, std::string_view dest_base,
                             const source_key& key, std::string_view gen) {
  std::string out = "R";
  auto dev = std::to_string(key.st_dev);
  auto ino = std::to_string(key.st_ino);
  for (std::string_view part :
       {mode, dest_base, std::string_view{key.hostname}, std::string_view{dev},
        std::string_view{ino}, std::string_view{key.filename}, gen})
    (out += sep) += part;
  return out;
}

std::optional<rotated_parts> parse_rotated_identity(std::string_view identity) {
  auto parts = split(identity);
  // A file name may hold the separator: everything between ino and gen is it.
  if (parts.size() < 8 || parts[0] != "R")
    return std::nullopt;
  rotated_parts r;
  if (!parse_u64(parts[4], r.key.st_dev) || !parse_u64(parts[5], r.key.st_ino))
    return std::nullopt;
  r.mode = parts[1];
  r.dest_base = parts[2];
  r.key.hostname = parts[3];
  auto file_at = static_cast<size_t>(parts[6].data() - identity.data());
  auto gen_at = static_cast<size_t>(parts.back().data() - identity.data());
  r.key.filename = identity.substr(file_at, gen_at - 1 - file_at);
  r.gen = parts.back();
  return r;
}

std::string identity_dest_base(std::string_view identity) {
  if (auto r = parse_rotated_identity(identity))
    return r->dest_base;
  // "C" sep mode sep dest_base (which may hold the separator itself).
  if (identity.size() < 2 || identity[0] != 'C' || identity[1] != sep)
    return {};
  auto at = identity.find(sep, 2);
  return at == std::string_view::npos ? std::string{} : std::string{identity.substr(at + 1)};
}

void rotated_index::build(const std::vector<journal_header>& headers) {
  built_ = true;
  for (auto& h : headers)
    add(h.identity, h.path);
}

void rotated_index::add(const std::string& identity, const std::string& path) {
  if (!built_)
    return;
  auto parts = parse_rotated_identity(identity);
  if (!parts)
    return;
  auto& refs = by_key_[parts->key];
  for (auto& r : refs)
    if (r.e.identity == identity) {
      r.e.path = path;
      return;
    }
  refs.push_back({parts->mode, parts->dest_base, {identity, path, parts->gen}});
}

std::vector<rotated_index::entry> rotated_index::find(const source_key& key,
                                                      std::string_view mode,
                                                      std::string_view dest_base) const {
  std::vector<entry> out;
  auto i = by_key_.find(key);
  if (i == by_key_.end())
    return out;
  for (auto& r : i->second)
    if (r.mode == mode && r.dest_base == dest_base)
      out.push_back(r.e);
  std::sort(out.begin(), out.end(),
            [](const entry& x, const entry& y) { return x.path < y.path; });
  return out;
}

} // namespace cc::tw
