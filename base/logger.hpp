// The process log: one line per event,
//   2026-11-26 14:05:01.123 INFO  router: text
// or, with log-format = json, one JSON object per line,
//   {"time":"2026-11-26T14:05:01.123+01:00","level":"info",
//    "component":"router","message":"text","pid":4242}
// written with a single write(2) to the configured logfile (O_APPEND) or to
// stderr. CAF's own logging is compiled out in Debian's build; this is ours.
// Thread-safe; cheap when the level is filtered out.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace cc::log {

enum class level { debug = 0, info = 1, warning = 2, error = 3 };

const char* to_string(level l);

enum class format { text, json };

/// How lines are written from now on. Default: text.
void set_format(format f);

/// One line as set_format(f) writes it (tests): `stamp` is the local time.
std::string render(format f, level l, std::string_view who, std::string_view text,
                   long epoch_seconds, long millis);

/// Lines below `l` are dropped. Default: info.
void set_level(level l);
level current_level();
inline bool enabled(level l) { return l >= current_level(); }

/// Sends lines to `path` (created, appended). Empty: stderr. Returns false and
/// sets `err` (path and strerror) when the file cannot be opened.
bool open(const std::string& path, std::string& err);

/// Re-opens the current file (after logrotate moved it; on SIGHUP).
void reopen();

/// Writes one line: timestamp, level, `who` (the actor or component), text.
void write(level l, std::string_view who, std::string_view text);

inline void debug(std::string_view who, std::string_view text) {
  if (enabled(level::debug))
    write(level::debug, who, text);
}
inline void info(std::string_view who, std::string_view text) {
  if (enabled(level::info))
    write(level::info, who, text);
}
inline void warning(std::string_view who, std::string_view text) {
  if (enabled(level::warning))
    write(level::warning, who, text);
}
inline void error(std::string_view who, std::string_view text) {
  if (enabled(level::error))
    write(level::error, who, text);
}

/// One line when something starts going wrong for a key (a gap in a copy,
/// a disk that cannot be written), one when it is over with how often it
/// happened meanwhile: never a line per occurrence. Bounded: past max_keys
/// open episodes a new one is not remembered (its lines are not said).
class episodes {
public:
  explicit episodes(size_t max_keys = 10000) : max_keys_(max_keys) {
  }
  /// Counts an occurrence; true when it opens an episode (say so now).
  bool occur(const std::string& key) {
    auto i = open_.find(key);
    if (i != open_.end()) {
      ++i->second;
      return false;
    }
    if (open_.size() >= max_keys_)
      return false;
    open_.emplace(key, 1);
    return true;
  }
  /// Ends `key`'s episode: how many occurrences it had (say so now), or
  /// nullopt when none was open.
  std::optional<uint64_t> end(const std::string& key) {
    auto i = open_.find(key);
    if (i == open_.end())
      return std::nullopt;
    auto n = i->second;
    open_.erase(i);
    return n;
  }
  bool is_open(const std::string& key) const { return open_.count(key) > 0; }
  size_t open() const { return open_.size(); }

private:
  size_t max_keys_;
  std::map<std::string, uint64_t> open_;
};

} // namespace cc::log
