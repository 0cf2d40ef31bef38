// The bound on what one sending hostname may make a writer create and
// track (the tailwriter's source keys, the infowriter's copies): a hostile or
// broken sender cannot grow it without end. Used by one actor at a time.
#pragma once

#include <chrono>
#include <iterator>
#include <map>
#include <string>

namespace cc {

/// The bound on distinct source keys per sending hostname: a hostile or
/// broken sender cannot make the writer create and track copies without
/// end. A key counts while it was seen within `memory`; a host's idle keys
/// are forgotten when its table is full. Hosts without keys are dropped.
struct source_key_limit {
  using clock = std::chrono::steady_clock;
  size_t max_per_host = 10000;
  clock::duration memory = std::chrono::hours{24};
  std::map<std::string, std::map<std::string, clock::time_point>> hosts;

  /// Whether a fragment of `key` from `host` may be written now.
  bool admit(const std::string& host, const std::string& key,
             clock::time_point now) {
    auto& keys = hosts[host];
    auto it = keys.find(key);
    if (it != keys.end()) {
      it->second = now;
      return true;
    }
    if (keys.size() >= max_per_host)
      for (auto k = keys.begin(); k != keys.end();)
        k = now - k->second > memory ? keys.erase(k) : std::next(k);
    if (keys.size() >= max_per_host)
      return false;
    keys.emplace(key, now);
    return true;
  }
};

} // namespace cc
