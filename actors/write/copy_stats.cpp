// Per-copy counters (contract: actors/write/copy_stats.hpp).
#include "actors/write/copy_stats.hpp"

#include <algorithm>

#include "actors/core/counter_key.hpp"

namespace cc::tw {

namespace {

constexpr std::chrono::hours forget_after{24};

} // namespace

copy_stats::entry& copy_stats::at(const std::string& host, const std::string& path,
                                  clock::time_point now) {
  auto i = by_path_.find(path);
  if (i == by_path_.end()) {
    if (by_path_.size() >= max_entries_) {
      auto oldest = std::min_element(
          by_path_.begin(), by_path_.end(), [](const auto& a, const auto& b) {
            return a.second.last_activity < b.second.last_activity;
          });
      by_path_.erase(oldest);
    }
    i = by_path_.emplace(path, entry{}).first;
    i->second.host = host;
  }
  i->second.last_activity = now;
  return i->second;
}

void copy_stats::written(const std::string& host, const std::string& path, uint64_t bytes,
                         clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& e = at(host, path, now);
  e.bytes += static_cast<int64_t>(bytes);
  e.failing = false;
  e.any_write = true;
  e.last_write = now;
}

void copy_stats::failed(const std::string& host, const std::string& path,
                        clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& e = at(host, path, now);
  e.errors += 1;
  e.failing = true;
  write_errors_ += 1;
}

void copy_stats::add_to(counters& out, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  int64_t failing = 0;
  for (auto i = by_path_.begin(); i != by_path_.end();) {
    auto& [path, e] = *i;
    if (now - e.last_activity > forget_after && !e.failing) {
      i = by_path_.erase(i);
      continue;
    }
    std::initializer_list<std::pair<std::string_view, std::string_view>> labels{
        {"host", e.host}, {"file", path}};
    out[counter_key("copy_written_bytes", labels)] = e.bytes;
    out[counter_key("copy_write_errors", labels)] = e.errors;
    if (e.any_write)
      out[counter_key("copy_last_write_age_ms", labels)] =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - e.last_write)
              .count();
    failing += e.failing ? 1 : 0;
    ++i;
  }
  out["write_errors"] = write_errors_;
  out["failing"] = failing;
}

} // namespace cc::tw
