// The validated configuration of one ccserver process: the main section, the
// routes, and every handler and daemon section with defaults filled in and
// values interpolated. Built by load(); validation reports every problem at once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/ini.hpp"
#include "config/schema.hpp"

namespace cc::config {

struct diagnostic {
  enum severity_t { warning, error } severity;
  std::string file;
  std::string section;
  std::string key;
  std::string message;
  /// Line in `file`, for syntax errors found before sections exist; 0: none.
  int line = 0;
  /// "file:section:key: message" (section/key omitted when empty);
  /// "file:line: message" when there is a line and no section.
  std::string str() const;
};

/// One resolved section. Values are interpolated text; a key not in
/// `values` reads as the schema default of the section's kind (it is not
/// filled in: with a tailer per file that was about 4 KB per daemon). The
/// typed getters cannot fail on a validated section (they return 0 / false /
/// empty for an absent optional key without default).
struct section {
  std::string name;   // "h:tailwriter"
  std::string kind;   // schema kind: "ccserver", "tailwriter", "logtail", ...
  /// What was written (interpolated, checked) and what load() computed.
  std::map<std::string, std::string> values;
  /// Keys of `values` not written in this section: computed defaults
  /// (dstmask, save-file, ...), inherited ones (a daemon's pidfile and
  /// watchdog-*) and those from [DEFAULT]. describe() marks them, and the
  /// schema's defaults, with is_default().
  std::set<std::string> defaulted;

  /// The key's text: written, computed, or the schema's default.
  std::optional<std::string> text(const std::string& key) const;
  /// Whether the key has a value: written, computed or a schema default.
  bool has(const std::string& key) const;
  /// Whether the key's value was not written in this section.
  bool is_default(const std::string& key) const;
  std::string str(const std::string& key) const;
  int64_t integer(const std::string& key) const;
  bool boolean(const std::string& key) const;
  uint64_t size(const std::string& key) const;
  double seconds(const std::string& key) const;
  std::vector<std::string> list(const std::string& key) const;
  /// Like str() with a leading ~ expanded.
  std::string file(const std::string& key) const;
};

struct route {
  std::string prefix;                  // "pub.logtail", "log" or "*"
  std::vector<std::string> handlers;   // handler section names, in order
};

struct server_config {
  std::string file;                    // the config file's path
  std::string job_name;
  std::string host_name;
  section main;                        // kind "ccserver"
  std::vector<route> routes;           // in file order
  std::map<std::string, section> handlers;  // by section name
  /// Daemon sections named by any jobmgr's `daemons`. Each has job_name
  /// "<server job_name>.<section>", service_name "<section>", the server's
  /// pidfile template re-interpolated with that job_name, and "save-file" set
  /// to the pidfile without its extension plus ".save" (unless given).
  std::map<std::string, section> daemons;
};

struct load_result {
  std::optional<server_config> config;  // set when there is no error
  std::vector<diagnostic> diagnostics;  // warnings and errors, in file order
  bool ok() const { return config.has_value(); }
};

/// Loads, interpolates and validates `path` against the schemas.
load_result load(const std::string& path);

/// The same for an already parsed document (tests, fuzzing).
load_result validate(const ini& doc);

/// An empty section of `kind` resolved as load() resolves one: schema
/// defaults and computed ones; required keys unset (config::reader's
/// defaults, which default-constructed option structs are filled from).
section default_section(std::string_view kind);

/// The writers' computed defaults, shared by the loader (which shows them
/// in --check) and a writer given a section without them: dstmask from
/// host-subdirs, state-dir from dstdir.
std::string default_dstmask(bool host_subdirs);
std::string default_state_dir(std::string dstdir);

/// Human-readable dump for `--check`: server settings, routes, handlers and
/// daemons with every option (defaults included) and its source.
std::string describe(const server_config& cfg);

/// A source identity of this machine for a server named `job_name`: 16 hex
/// digits of a hash of /etc/machine-id (or /var/lib/dbus/machine-id), an
/// application key and `job_name` (the machine-id itself is not shown, as
/// machine-id(5) asks). "" when the machine has none.
std::string derived_source_id(const std::string& job_name);

/// Size text ("256 MB", "64K", "1048576") to bytes; nullopt if malformed.
std::optional<uint64_t> parse_size(const std::string& text);
/// yes/no, true/false, on/off, 1/0 (case-insensitive).
std::optional<bool> parse_bool(const std::string& text);
/// Comma-separated, items trimmed, empty items dropped.
std::vector<std::string> parse_list(const std::string& text);
/// Leading "~" or "~/" expanded with $HOME.
std::string expand_user(const std::string& path);

} // namespace cc::config
