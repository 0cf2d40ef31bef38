// The values of a section: text rules (config/text.hpp), diagnostics, the
// section's getters, sizes, booleans, lists, ~ paths, the derived source id
// and the writers' computed defaults.
#include "config/config.hpp"
#include "config/text.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <pwd.h>
#include <sstream>
#include <unistd.h>

#include <xxhash.h>

namespace cc::config {

// -- text -------------------------------------------------------------------------

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return {};
  auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

bool valid_type_words(const std::string& s) {
  if (s.empty())
    return false;
  bool word = false;
  for (char c : s) {
    if (c == '.') {
      if (!word)
        return false;
      word = false;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_'
               || c == '-') {
      word = true;
    } else {
      return false;
    }
  }
  return word;
}

std::string without_extension(const std::string& path) {
  auto slash = path.rfind('/');
  auto base_start = slash == std::string::npos ? 0 : slash + 1;
  auto dot = path.rfind('.');
  if (dot == std::string::npos || dot < base_start)
    return path;
  auto first_non_dot = path.find_first_not_of('.', base_start);
  if (first_non_dot == std::string::npos || first_non_dot >= dot)
    return path;
  return path.substr(0, dot);
}

// -- diagnostic, section ------------------------------------------------------

std::string diagnostic::str() const {
  std::string out = file;
  if (!section.empty()) {
    out += ":" + section;
    if (!key.empty())
      out += ":" + key;
  } else if (line > 0) {
    out += ":" + std::to_string(line);
  }
  return out + ": " + message;
}

// A key load() did not write into `values` reads as its schema's default:
// a daemon section holds what was written and computed, not the ~60 defaults
// of its kind (about 4 KB per tailer with a tailer per file).
std::optional<std::string> section::text(const std::string& key) const {
  if (auto it = values.find(key); it != values.end())
    return it->second;
  if (const auto* schema = schema_by_kind(kind))
    if (const auto* opt = schema->find(key); opt != nullptr && opt->has_default)
      return std::string{opt->default_value};
  return std::nullopt;
}

bool section::has(const std::string& key) const {
  return text(key).has_value();
}

bool section::is_default(const std::string& key) const {
  return defaulted.count(key) > 0 || (values.count(key) == 0 && has(key));
}

std::string section::str(const std::string& key) const {
  return text(key).value_or(std::string{});
}

int64_t section::integer(const std::string& key) const {
  auto t = text(key);
  return t ? std::strtoll(t->c_str(), nullptr, 10) : 0;
}

bool section::boolean(const std::string& key) const {
  auto t = text(key);
  return t && parse_bool(*t).value_or(false);
}

uint64_t section::size(const std::string& key) const {
  auto t = text(key);
  return t ? parse_size(*t).value_or(0) : 0;
}

double section::seconds(const std::string& key) const {
  auto t = text(key);
  return t ? std::strtod(t->c_str(), nullptr) : 0;
}

std::vector<std::string> section::list(const std::string& key) const {
  auto t = text(key);
  return t ? parse_list(*t) : std::vector<std::string>{};
}

std::string section::file(const std::string& key) const {
  return expand_user(str(key));
}

// -- value parsing --------------------------------------------------------------

std::string derived_source_id(const std::string& job_name) {
  for (const char* path : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
    std::ifstream in{path};
    std::string id;
    if (!(in >> id) || id.size() < 16)
      continue;
    auto text = "ccserver source\n" + id + "\n" + job_name;
    auto h = XXH3_64bits(text.data(), text.size());
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, h >>= 4)
      out[static_cast<size_t>(i)] = digits[h & 0xf];
    return out;
  }
  return {};
}

std::optional<uint64_t> parse_size(const std::string& text) {
  auto s = trim(text);
  size_t i = 0;
  uint64_t n = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    auto d = static_cast<uint64_t>(s[i] - '0');
    if (n > (UINT64_MAX - d) / 10)
      return std::nullopt;
    n = n * 10 + d;
    ++i;
  }
  if (i == 0)
    return std::nullopt;
  while (i < s.size() && s[i] == ' ')
    ++i;
  int shift = 0;
  if (i < s.size()) {
    switch (std::toupper(static_cast<unsigned char>(s[i]))) {
      case 'K': shift = 10; ++i; break;
      case 'M': shift = 20; ++i; break;
      case 'G': shift = 30; ++i; break;
      case 'T': shift = 40; ++i; break;
      default: break;
    }
  }
  if (i < s.size() && std::toupper(static_cast<unsigned char>(s[i])) == 'B')
    ++i;
  if (i != s.size())
    return std::nullopt;
  if (shift > 0 && n > (UINT64_MAX >> shift))
    return std::nullopt;
  return n << shift;
}

std::optional<bool> parse_bool(const std::string& text) {
  auto s = lower(trim(text));
  if (s == "yes" || s == "true" || s == "on" || s == "1")
    return true;
  if (s == "no" || s == "false" || s == "off" || s == "0")
    return false;
  return std::nullopt;
}

std::vector<std::string> parse_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    auto t = trim(item);
    if (!t.empty())
      out.push_back(std::move(t));
  }
  return out;
}

std::string expand_user(const std::string& path) {
  if (path.empty() || path[0] != '~')
    return path;
  auto slash = path.find('/');
  auto user = path.substr(1, slash == std::string::npos ? std::string::npos
                                                         : slash - 1);
  auto rest = slash == std::string::npos ? std::string() : path.substr(slash);
  std::string home;
  if (user.empty()) {
    if (const char* h = std::getenv("HOME"); h && *h)
      home = h;
  }
  if (home.empty()) {
    struct passwd pw;
    struct passwd* found = nullptr;
    std::vector<char> buf(16384);
    int rc = user.empty()
               ? getpwuid_r(getuid(), &pw, buf.data(), buf.size(), &found)
               : getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || found == nullptr || found->pw_dir == nullptr)
      return path; // as Python's expanduser: unknown users stay unexpanded
    home = found->pw_dir;
  }
  if (home.size() > 1 && home.back() == '/' && !rest.empty())
    home.pop_back();
  return home + rest;
}

std::string default_dstmask(bool host_subdirs) {
  return host_subdirs ? "%(hostname)s/%(filename)s" : "%(hostname)s--%(filename)s";
}

std::string default_state_dir(std::string dstdir) {
  while (dstdir.size() > 1 && dstdir.back() == '/')
    dstdir.pop_back();
  return dstdir + "/.ccstate";
}

} // namespace cc::config
