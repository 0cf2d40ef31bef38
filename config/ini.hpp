// The raw INI document: sections and keys in file order, keys lower-cased,
// continuation lines joined with '\n', and interpolation on read.
// Parsing is inih's (the original's syntax: `#`/`;` comments at line start,
// `key = value` or `key: value`, indented continuation lines); this class adds
// line numbers for errors, empty sections, duplicate-key warnings, a
// `[DEFAULT]` section (Python's ConfigParser: keys visible in every section)
// and the `%(k)s` / `${k}` / `${sec:k}` interpolation of skytools' Config.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace cc::config {

class ini {
public:
  /// Parses `path` with inih. Errors name the file and the line
  /// (errc::config_syntax), or the path and errno text (errc::io).
  static caf::expected<ini> load(const std::string& path);

  /// Parses text as if read from `path` (for tests and fuzzing).
  static caf::expected<ini> parse(const std::string& text,
                                  const std::string& path = "<string>");

  const std::string& path() const { return path_; }

  /// Section names in file order (a section with no keys included;
  /// `[DEFAULT]` excluded: its keys are defaults, as in ConfigParser).
  const std::vector<std::string>& sections() const { return order_; }
  bool has_section(const std::string& section) const;

  /// Lower-cased keys of `section` in file order (defaults excluded).
  std::vector<std::string> keys(const std::string& section) const;

  /// The value as written, before interpolation; defaults are not consulted.
  std::optional<std::string> raw(const std::string& section,
                                 const std::string& key) const;

  /// Sets a default visible in every section (job_name, host_name, ...).
  void set_default(const std::string& key, std::string value);

  /// Sets a per-section default, visible only in `section` and overriding the
  /// global ones (a daemon's job_name and service_name).
  void set_section_default(const std::string& section, const std::string& key,
                           std::string value);

  /// The value of `key` in `section` (or its defaults) with `%(k)s`, `${k}`,
  /// `${sec:k}`, `%%` and `$$` resolved. A missing key or a loop is an error
  /// naming file:section:key. Returns an error with errc::config_invalid when
  /// the key is absent everywhere.
  caf::expected<std::string> get(const std::string& section,
                                 const std::string& key) const;

  /// Like get(), but `%(name)s` for every name in `verbatim` is left as
  /// written: such references are filled later by the reader of the value
  /// (tailwriter's dstmask keeps %(hostname)s, %(filename)s, %(filepath)s).
  caf::expected<std::string> get(const std::string& section,
                                 const std::string& key,
                                 const std::vector<std::string>& verbatim) const;

  /// Whether `key` exists in `section` or in its defaults.
  bool has(const std::string& section, const std::string& key) const;

  /// Defaults: job_name (file name without directory and extension),
  /// service_name (the main section's name), host_name, config_dir,
  /// config_file; set by load() and parse().
  const std::map<std::string, std::string>& defaults() const { return defaults_; }

  /// Problems that do not stop parsing, as "file:line: text" (a key given
  /// twice in one section: the later value wins, as in the original).
  const std::vector<std::string>& warnings() const { return warnings_; }

  /// Line of `key` in `section` (its first line), 0 if unknown.
  int line(const std::string& section, const std::string& key) const;

  /// The name of the main section; service_name's default.
  static constexpr const char* main_section = "ccserver";

private:
  struct parser;
  struct resolver;

  std::string path_;
  std::vector<std::string> order_;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> values_;
  std::map<std::string, std::string> defaults_;
  std::map<std::string, std::map<std::string, std::string>> section_defaults_;
  std::vector<std::string> warnings_;
  std::map<std::string, std::map<std::string, int>> lines_;
};

} // namespace cc::config
