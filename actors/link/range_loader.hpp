// Reading a fragment left in its source file (wire/file_range.hpp) into
// memory for a transport that sends bytes (a ZeroMQ socket, a caf:// link),
// at the moment it goes out. One whose bytes are gone (the source shrank or
// became a new generation since it was cut) is dropped, never sent short or
// with another generation's bytes: the writer's gap answer or the tailer's
// ack timeout sends those bytes again from where they are now.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "actors/core/router.hpp" // log_limiter
#include "wire/message.hpp"

namespace cc {

class range_loader {
public:
  /// `read` and `gone` count what ready() read and dropped (aliasing
  /// pointers into the transport's counters keep them alive); `on_sent` is
  /// the transport's callback, told of a dropped message so the sender's
  /// queue lets go of its room.
  range_loader(std::string who, std::shared_ptr<std::atomic<int64_t>> read,
               std::shared_ptr<std::atomic<int64_t>> gone,
               std::function<void(uint64_t)> on_sent);

  /// True: `msg` holds its bytes in memory now (or held them already).
  /// False: dropped (counted, logged at most 4 lines per 10 s, on_sent told).
  /// Safe from several threads.
  bool ready(wire::cc_message& msg);

private:
  std::string who_;
  std::shared_ptr<std::atomic<int64_t>> read_;
  std::shared_ptr<std::atomic<int64_t>> gone_;
  std::function<void(uint64_t)> on_sent_;
  std::mutex mtx_; // guards limiter_
  log_limiter limiter_{std::chrono::seconds{10}, 4};
};

} // namespace cc
