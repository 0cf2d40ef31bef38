// Bytes handed to another thread and not yet done, shared by the owner of a
// bounded queue (an actor that holds its senders' answers while the queue is
// full) and the thread that empties it. The emptying thread counts down
// without a message; it tells the owner only while senders wait for room.
//
// The owner sets `waiters` after queueing a waiting sender and then checks
// for room once more; done() counts down and then reads `waiters`. Both use
// sequentially consistent atomics, so at least one of the two sees the other:
// no room that frees goes unnoticed. Users: the forwarder (its transport's
// sends) and the tailwriter (each worker's fragments).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace cc {

struct room_meter {
  std::atomic<uint64_t> queued{0};   // bytes handed over, not yet done
  std::atomic<bool> waiters{false};  // senders wait for room

  /// On the emptying thread: `bytes` are done. Saturating: a size reported
  /// a little differently from the one added must not wrap the count.
  /// Returns whether the owner must be told (senders wait).
  bool done(uint64_t bytes) {
    auto q = queued.load();
    while (!queued.compare_exchange_weak(q, q - std::min(q, bytes))) {
    }
    return waiters.load();
  }
};

} // namespace cc
