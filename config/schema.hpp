// Every option of every section type, declared once: name, type, default,
// range, floor and documentation. Everything else reads these tables:
// - the loader (config.cpp) checks each value against its option, fills the
//   defaults in, raises a value below its floor (with a warning) and adds
//   the computed defaults, so a validated section holds every value an
//   actor will use;
// - --check (describe.cpp) prints that section, marking the defaults;
// - docs/config.md and the man page (schema_markdown, schema_roff) print the
//   tables (tests/config/docs_test.cpp fails when the file differs);
// - each actor's option struct (tailer_options, tailwriter_config, ...) is
//   filled by one function through config::reader (reader.hpp), whose typed
//   getters refuse a key the section's kind does not declare and read an
//   absent key as the schema's default. A default-constructed struct is the
//   struct of an empty section (reader::defaults), so neither a struct nor a
//   reader can hold a default of its own (tests/actors/options_test.cpp).
#pragma once

#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace cc::config {

enum class value_type {
  string,
  integer,    // signed decimal
  boolean,    // yes/no, true/false, on/off, 1/0
  size,       // 256 MB, 64K, 1048576 (powers of 1024)
  seconds,    // decimal seconds, fractions allowed: 0.5, 30
  list,       // comma-separated, items trimmed
  file,       // path; a leading ~ expands to $HOME
  endpoint,   // tcp://host:port, ipc://path, (caf://host:port where allowed)
  choice,     // one of `choices`
};

const char* to_string(value_type t);

struct option {
  std::string_view name;
  value_type type;
  /// Default as text ("" and !has_default: no default).
  std::string_view default_value;
  bool has_default;
  bool required;
  std::string_view description;
  std::vector<std::string_view> choices = {};

  // -- additions: validation details and documentation -----------------------

  /// Inclusive range for integer, seconds and size values.
  double min_value = -std::numeric_limits<double>::infinity();
  double max_value = std::numeric_limits<double>::infinity();
  /// Endpoint options only: whether caf://HOST:PORT is accepted.
  bool allow_caf = false;
  /// One of this project's extensions to the original CC (marked in docs).
  bool extension = false;
  /// For a default computed from other keys: how, for docs and --check
  /// (has_default is false then; config::validate fills the value in).
  std::string_view default_note = {};
  /// Seconds options that also take a boolean (the original `ping = yes`):
  /// the value a true boolean stands for; false stands for "0".
  std::string_view boolean_means = {};
  /// An extra check after the type's own (HOST:PORT syntax, a readable
  /// file): false with `why` set when `text` is refused.
  bool (*check)(const std::string& text, std::string& why) = nullptr;
  /// Seconds, size and integer options: a value below this is accepted but
  /// raised to it, with a warning (the loader stores the raised value, so
  /// --check and the actor see the same). 0 when there is no floor.
  double floor = 0;
  /// With a floor: 0 means "off" for this key and is not raised.
  bool floor_keeps_zero = false;

  option between(double lo, double hi) const;
  option at_least(double lo) const;
  option one_of(std::vector<std::string_view> values) const;
  option ext() const;
  option computed(std::string_view note) const;
  option caf_allowed() const;
  option yes_means(std::string_view seconds) const;
  option checked(bool (*fn)(const std::string&, std::string&)) const;
  option raised_to(double least, bool zero_is_off = false) const;
};

/// A section type: "ccserver", "routes", and one per handler and daemon type.
struct section_schema {
  std::string_view kind;
  /// Names accepted in `handler =` / `module =` (module paths and short names).
  std::vector<std::string_view> type_names;
  /// cc-role values this handler may run in ("local", "remote"); empty: any.
  std::vector<std::string_view> roles;
  bool is_daemon;
  std::string_view description;
  std::vector<option> options;

  const option* find(std::string_view key) const;
};

/// All section types known to this build, ccserver first.
const std::vector<section_schema>& schemas();

/// The schema whose kind equals `kind` (nullptr if unknown).
const section_schema* schema_by_kind(std::string_view kind);

/// The handler or daemon schema named by `handler =` / `module =`
/// (e.g. "cc.handler.tailwriter" or "tailwriter"); nullptr if unknown.
const section_schema* schema_by_type_name(std::string_view name, bool daemon);

/// Parses `text` as `type`; on failure returns false and sets `why` to what was
/// expected ("a size like 64K, 256 MB or 1048576").
bool check_value(const option& opt, const std::string& text, std::string& why);

/// `v` as the docs and messages write it: 0.05, 64, 1e+06.
std::string number_text(double v);

/// The key naming a section's type: "handler" for handlers ("plugin" is its
/// old synonym), "module" for daemons.
std::string_view type_key(const section_schema& schema);

/// Every accepted type name of handlers (daemon = false) or daemons, for
/// "unknown type" messages: "cc.handler.echo (echo), ...".
std::string known_type_names(bool daemon);

/// Every section table as Markdown, with a short preamble on the file format,
/// interpolation, sizes, booleans and lists: the text of docs/config.md
/// (tests/config/docs_test.cpp fails when the two differ).
std::string schema_markdown();

/// The same tables as the CONFIGURATION section of the man page ccserver(8)
/// (roff, -man macros).
std::string schema_roff();

} // namespace cc::config
