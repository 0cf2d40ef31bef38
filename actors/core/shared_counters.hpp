// One actor's answer to stats_atom as the stats actor keeps it: shared, not
// copied, between its current and previous rounds and the snapshot it leaves
// on the status board. With a tailer per file a server keeps thousands of
// these maps, each a few KB (per-file keys carry the path): copies per round
// were about 11 KB per tailer (bench/PROFILE.md, session 17).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "actors/core/atoms.hpp"

namespace cc {

/// Read like the `counters` map it holds; copying shares it; a write through
/// operator[] first copies a map someone else holds, so a holder never sees
/// it change (the board is read from other threads).
class shared_counters {
public:
  shared_counters() = default;
  shared_counters(counters values) // NOLINT: implicit, as the map it stands for
      : map_(std::make_shared<counters>(std::move(values))) {}
  shared_counters(std::initializer_list<counters::value_type> values)
      : shared_counters(counters(values)) {}

  const counters& get() const { return map_ ? *map_ : none(); }
  counters::const_iterator begin() const { return get().begin(); }
  counters::const_iterator end() const { return get().end(); }
  counters::const_iterator find(const std::string& key) const {
    return get().find(key);
  }
  const int64_t& at(const std::string& key) const { return get().at(key); }
  size_t count(const std::string& key) const { return get().count(key); }
  size_t size() const { return get().size(); }
  bool empty() const { return get().empty(); }

  int64_t& operator[](const std::string& key) {
    if (!map_)
      map_ = std::make_shared<counters>();
    else if (map_.use_count() > 1)
      map_ = std::make_shared<counters>(*map_);
    return (*map_)[key];
  }

  /// Whether both hold the very same map (tests).
  bool shares(const shared_counters& other) const { return map_ == other.map_; }

private:
  static const counters& none() {
    static const counters nothing;
    return nothing;
  }

  std::shared_ptr<counters> map_;
};

} // namespace cc
