// The raw INI document: sections and keys in file order, keys lower-cased,
// continuation lines joined with '\n', and interpolation on read.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace cc::config {

class ini {
public:
  /// Parses `path` with inih. Errors name the file and the line.
  static caf::expected<ini> load(const std::string& path);

  /// Parses text as if read from `path` (for tests and fuzzing).
  static caf::expected<ini> parse(const std::string& text,
                                  const std::string& path = "<string>");

  const std::string& path() const { return path_; }

  /// Section names in file order.
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

  /// Whether `key` exists in `section` or in its defaults.
  bool has(const std::string& section, const std::string& key) const;

  /// Defaults: job_name (file name without directory and extension),
  /// service_name (the main section's name), host_name, config_dir,
  /// config_file; set by load() and parse().
  const std::map<std::string, std::string>& defaults() const { return defaults_; }

private:
  std::string path_;
  std::vector<std::string> order_;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> values_;
  std::map<std::string, std::string> defaults_;
  std::map<std::string, std::map<std::string, std::string>> section_defaults_;
};

} // namespace cc::config
