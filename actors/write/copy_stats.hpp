// Per-copy facts of a tailwriter, for /metrics, /status and health: bytes
// this process appended to each copy, when it last did, and how often
// opening, writing or syncing it failed (and whether the last attempt did).
// Shared by the tailwriter and its workers (they write from their own
// threads): one mutex, held for a map lookup per fragment.
//
// Bounded: a copy not written for a day is forgotten, and beyond
// max_entries the least recently written goes first.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "actors/core/atoms.hpp"

namespace cc::tw {

class copy_stats {
public:
  using clock = std::chrono::steady_clock;

  explicit copy_stats(size_t max_entries = 10000) : max_entries_(max_entries) {}

  /// `bytes` appended to the copy at `path` (from `host`) at `now`.
  void written(const std::string& host, const std::string& path, uint64_t bytes,
               clock::time_point now);
  /// Opening, writing or syncing the copy at `path` failed at `now`.
  void failed(const std::string& host, const std::string& path, clock::time_point now);

  /// Adds write_errors, failing (copies whose last attempt failed) and per
  /// copy copy_written_bytes, copy_last_write_age_ms (after a first write)
  /// and copy_write_errors, labelled host and file.
  void add_to(counters& out, clock::time_point now);

private:
  struct entry {
    std::string host;
    int64_t bytes = 0;
    int64_t errors = 0;
    bool failing = false;
    bool any_write = false;
    clock::time_point last_write;
    clock::time_point last_activity;
  };
  entry& at(const std::string& host, const std::string& path, clock::time_point now);

  std::mutex mtx_;
  // Hashed: looked up for every fragment written (among up to max_entries
  // paths sharing long prefixes); add_to's output is a sorted map anyway.
  std::unordered_map<std::string, entry> by_path_;
  int64_t write_errors_ = 0;
  size_t max_entries_;
};

} // namespace cc::tw
