// INI parsing on top of inih, and skytools-style interpolation on read.
// inih does the syntax; our reader feeds it one line at a time so we know the
// line of every callback (inih's own callback has none in Debian's build),
// which tells continuation lines from repeated keys and lets errors name lines.
#include "config/ini.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <unistd.h>
#include <utility>

#include <ini.h>

#include "base/error.hpp"
#include "config/text.hpp"

namespace cc::config {

namespace {

// Longest line we accept. Debian's inih reads its line-buffer size from the
// global `ini_max_line` (default 200, too short for long lists); we raise it
// once. A longer line is reported as an error, never silently cut.
constexpr int max_line_length = 16 * 1024;

// Python's ConfigParser stops at 10 levels; cycles are caught exactly below,
// this only bounds long acyclic chains.
constexpr size_t max_interpolation_depth = 32;

// Longest interpolated value. References that double the text at every level
// would otherwise grow towards 2^32 times a line (found by fuzzing).
constexpr size_t max_interpolated_size = size_t{1} << 20;

void raise_inih_line_limit() {
  static std::once_flag once;
  std::call_once(once, [] { ini_max_line = max_line_length; });
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

std::string short_host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0)
    return "localhost";
  std::string name = buf;
  return name.substr(0, name.find('.'));
}

// os.path.splitext(os.path.basename(path))[0]
std::string job_name_of(const std::string& path) {
  auto slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  auto dot = base.rfind('.');
  if (dot == std::string::npos || base.find_first_not_of('.') >= dot)
    return base;
  return base.substr(0, dot);
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  if (ec)
    return path;
  return abs.lexically_normal().string();
}

} // namespace

// -- parsing ------------------------------------------------------------------

struct ini::parser {
  parser(ini& d, const std::string& t) : doc(d), text(t) {
  }

  ini& doc;
  const std::string& text;
  size_t pos = 0;
  int lineno = 0;
  std::string line;        // the line inih is working on, without '\n'
  std::string section;     // the section inih is in, per our own reading
  std::string prev_key;    // the last key of `section`, for continuations
  std::vector<std::pair<int, std::string>> errors;

  void error(int at, std::string what) {
    errors.emplace_back(at, std::move(what));
  }

  // Registers `[name]` headers ourselves: inih reports keys only, and an
  // empty section must still exist (has_section, the error for [ccserver]).
  void note_section_header() {
    auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] != '[')
      return;
    auto end = line.find(']', start + 1);
    if (end == std::string::npos)
      return;
    section = line.substr(start + 1, end - start - 1);
    prev_key.clear();
    if (section != "DEFAULT" && !doc.has_section(section)) {
      doc.order_.push_back(section);
      doc.values_[section];
    }
  }

  // fgets-style reader handed to ini_parse_stream.
  static char* read(char* buf, int size, void* self_ptr) {
    auto& self = *static_cast<parser*>(self_ptr);
    if (self.pos >= self.text.size())
      return nullptr;
    auto nl = self.text.find('\n', self.pos);
    auto end = nl == std::string::npos ? self.text.size() : nl + 1;
    std::string chunk = self.text.substr(self.pos, end - self.pos);
    self.pos = end;
    ++self.lineno;
    self.line = chunk;
    while (!self.line.empty()
           && (self.line.back() == '\n' || self.line.back() == '\r'))
      self.line.pop_back();
    if (chunk.size() + 1 > static_cast<size_t>(size)) {
      self.error(self.lineno, "line is longer than "
                                + std::to_string(size - 2) + " characters");
      chunk = "\n"; // skipped: a cut line would parse as something else
    }
    self.note_section_header();
    std::memcpy(buf, chunk.data(), chunk.size());
    buf[chunk.size()] = '\0';
    return buf;
  }

  static int on_value(void* self_ptr, const char* sec, const char* name,
                      const char* value) {
    static_cast<parser*>(self_ptr)->add(sec, name, value);
    return 1; // our own errors are collected, not inih's "line N"
  }

  void add(const std::string& sec, const std::string& name,
           const std::string& value) {
    auto key = lower(name);
    bool continuation = !line.empty() && is_blank(line[0]) && sec == section
                        && key == prev_key;
    if (sec.empty()) {
      error(lineno, "'" + key + "' is outside any [section]");
      return;
    }
    prev_key = key;
    if (sec == "DEFAULT") {
      auto& slot = doc.defaults_[key];
      slot = continuation ? slot + "\n" + value : value;
      return;
    }
    if (!doc.has_section(sec))
      doc.order_.push_back(sec);
    auto& entries = doc.values_[sec];
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const auto& kv) { return kv.first == key; });
    if (continuation && it != entries.end()) {
      it->second += "\n" + value;
      return;
    }
    if (it != entries.end()) {
      doc.warnings_.push_back(doc.path_ + ":" + std::to_string(lineno)
                              + ": '" + key + "' is given twice in [" + sec
                              + "]; the later value is used");
      it->second = value;
      return;
    }
    entries.emplace_back(key, value);
    doc.lines_[sec][key] = lineno;
  }

  std::string line_text(int at) const {
    size_t start = 0;
    for (int n = 1; n < at && start != std::string::npos; ++n) {
      start = text.find('\n', start);
      if (start != std::string::npos)
        ++start;
    }
    if (start == std::string::npos || start >= text.size())
      return {};
    auto end = text.find('\n', start);
    return trim(text.substr(start, end == std::string::npos ? end : end - start));
  }

  // What inih objected to at line `at` (it says only where).
  std::string syntax_message(int at) const {
    auto txt = line_text(at);
    if (!txt.empty() && txt[0] == '[')
      return "section header without a closing ']': " + txt;
    return "expected '[section]', 'key = value' or a comment, found: " + txt;
  }
};

caf::expected<ini> ini::parse(const std::string& text, const std::string& path) {
  raise_inih_line_limit();
  ini doc;
  doc.path_ = path;
  doc.defaults_["job_name"] = job_name_of(path);
  doc.defaults_["service_name"] = main_section;
  doc.defaults_["host_name"] = short_host_name();
  auto abs = absolute_path(path);
  doc.defaults_["config_file"] = abs;
  doc.defaults_["config_dir"] = abs.substr(0, abs.rfind('/') == 0 ? 1 : abs.rfind('/'));
  parser p(doc, text);
  int rc = ini_parse_stream(&parser::read, &p, &parser::on_value, &p);
  if (rc > 0
      && std::none_of(p.errors.begin(), p.errors.end(),
                      [&](const auto& e) { return e.first == rc; }))
    p.error(rc, p.syntax_message(rc));
  else if (rc < 0)
    p.error(0, "inih could not parse the text (code " + std::to_string(rc) + ")");
  if (!p.errors.empty()) {
    std::sort(p.errors.begin(), p.errors.end());
    std::string msg;
    for (const auto& [at, what] : p.errors) {
      if (!msg.empty())
        msg += "\n";
      msg += path + ":" + std::to_string(at) + ": " + what;
    }
    return make_error(errc::config_syntax, msg);
  }
  for (auto& [sec, entries] : doc.values_)
    for (auto& kv : entries)
      kv.second = trim(kv.second);
  for (auto& kv : doc.defaults_)
    kv.second = trim(kv.second);
  return doc;
}

caf::expected<ini> ini::load(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(errc::io, path + ": " + std::strerror(errno));
  std::string text;
  char buf[65536];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = errno;
      ::close(fd);
      return make_error(errc::io, path + ": " + std::strerror(err));
    }
    if (n == 0)
      break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return parse(text, path);
}

// -- access -------------------------------------------------------------------

bool ini::has_section(const std::string& section) const {
  return values_.count(section) > 0;
}

std::vector<std::string> ini::keys(const std::string& section) const {
  std::vector<std::string> out;
  auto it = values_.find(section);
  if (it != values_.end())
    for (const auto& kv : it->second)
      out.push_back(kv.first);
  return out;
}

std::optional<std::string> ini::raw(const std::string& section,
                                    const std::string& key) const {
  auto it = values_.find(section);
  if (it == values_.end())
    return std::nullopt;
  for (const auto& kv : it->second)
    if (kv.first == key)
      return kv.second;
  return std::nullopt;
}

void ini::set_default(const std::string& key, std::string value) {
  defaults_[lower(key)] = std::move(value);
}

void ini::set_section_default(const std::string& section, const std::string& key,
                              std::string value) {
  section_defaults_[section][lower(key)] = std::move(value);
}

int ini::line(const std::string& section, const std::string& key) const {
  auto s = lines_.find(section);
  if (s == lines_.end())
    return 0;
  auto k = s->second.find(key);
  return k == s->second.end() ? 0 : k->second;
}

bool ini::has(const std::string& section, const std::string& key) const {
  if (raw(section, key))
    return true;
  auto sd = section_defaults_.find(section);
  if (sd != section_defaults_.end() && sd->second.count(key))
    return true;
  return defaults_.count(key) > 0;
}

// -- interpolation --------------------------------------------------------------

struct ini::resolver {
  const ini& doc;
  const std::vector<std::string>& verbatim;
  std::string top_section;
  std::string top_key;
  std::vector<std::pair<std::string, std::string>> stack;
  // Values already resolved in this get(): a key referenced many times is
  // expanded once, so fan-out cannot make resolution exponential.
  std::map<std::pair<std::string, std::string>, std::string> done;

  caf::error fail(const std::string& what) const {
    return make_error(errc::config_invalid,
                      doc.path_ + ":" + top_section + ":" + top_key + ": " + what);
  }

  std::optional<std::string> lookup(const std::string& section,
                                    const std::string& key) const {
    if (auto v = doc.raw(section, key))
      return v;
    auto sd = doc.section_defaults_.find(section);
    if (sd != doc.section_defaults_.end()) {
      auto it = sd->second.find(key);
      if (it != sd->second.end())
        return it->second;
    }
    auto it = doc.defaults_.find(key);
    if (it != doc.defaults_.end())
      return it->second;
    return std::nullopt;
  }

  // The value of section:key, references resolved; `ref` is how it was
  // referenced ("" at the top level), for the message when it is missing.
  caf::expected<std::string> value(const std::string& section,
                                   const std::string& key,
                                   const std::string& ref) {
    auto here = std::make_pair(section, key);
    if (auto it = done.find(here); it != done.end())
      return it->second;
    if (std::find(stack.begin(), stack.end(), here) != stack.end()) {
      std::string chain;
      for (const auto& [s, k] : stack)
        chain += s + ":" + k + " -> ";
      return fail("interpolation loop: " + chain + section + ":" + key);
    }
    if (stack.size() >= max_interpolation_depth)
      return fail("interpolation nested deeper than "
                  + std::to_string(max_interpolation_depth) + " levels at "
                  + ref);
    auto text = lookup(section, key);
    if (!text) {
      if (ref.empty())
        return fail("no such key in [" + section + "] or the defaults");
      return fail(ref + ": no key '" + key + "' in [" + section
                  + "] or the defaults");
    }
    stack.push_back(here);
    auto result = expand(section, *text);
    stack.pop_back();
    if (result)
      done.emplace(here, *result);
    return result;
  }

  bool keep_verbatim(const std::string& name) const {
    return std::find(verbatim.begin(), verbatim.end(), name) != verbatim.end();
  }

  caf::expected<std::string> expand(const std::string& section,
                                    const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      char next = i + 1 < text.size() ? text[i + 1] : '\0';
      if ((c == '%' && next == '%') || (c == '$' && next == '$')) {
        out += c;
        ++i;
      } else if (c == '%' && next == '(') {
        auto close = text.find(')', i + 2);
        if (close == std::string::npos || close + 1 >= text.size()
            || text[close + 1] != 's')
          return fail("malformed reference at '" + text.substr(i)
                      + "': expected %(name)s");
        auto ref = text.substr(i, close + 2 - i);
        auto name = lower(text.substr(i + 2, close - i - 2));
        if (keep_verbatim(name)) {
          out += ref;
        } else {
          auto v = value(section, name, ref);
          if (!v)
            return v.error();
          out += *v;
        }
        i = close + 1;
      } else if (c == '$' && next == '{') {
        auto close = text.find('}', i + 2);
        if (close == std::string::npos)
          return fail("malformed reference at '" + text.substr(i)
                      + "': expected ${name} or ${section:name}");
        auto ref = text.substr(i, close + 1 - i);
        auto inner = text.substr(i + 2, close - i - 2);
        auto colon = inner.find(':');
        std::string sec = section;
        std::string name = inner;
        if (colon != std::string::npos) {
          // Section names hold ':' themselves ("h:tailwriter"): the key is
          // what follows the last colon.
          colon = inner.rfind(':');
          sec = inner.substr(0, colon);
          name = inner.substr(colon + 1);
          if (sec != "DEFAULT" && !doc.has_section(sec))
            return fail(ref + ": no section [" + sec + "]");
        }
        auto v = value(sec, lower(name), ref);
        if (!v)
          return v.error();
        out += *v;
        i = close;
      } else {
        out += c; // a lone % or $ is literal
      }
      if (out.size() > max_interpolated_size)
        return fail("interpolated value longer than "
                    + std::to_string(max_interpolated_size) + " bytes");
    }
    return out;
  }
};

caf::expected<std::string> ini::get(const std::string& section,
                                    const std::string& key) const {
  static const std::vector<std::string> none;
  return get(section, key, none);
}

caf::expected<std::string>
ini::get(const std::string& section, const std::string& key,
         const std::vector<std::string>& verbatim) const {
  auto k = lower(key);
  resolver r{*this, verbatim, section, k, {}, {}};
  return r.value(section, k, "");
}

} // namespace cc::config
