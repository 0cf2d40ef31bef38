// The acks of every tailer of a process that publish one message type (so
// reach one central the same way), as one clock of the central's progress.
// A tailer whose fragment waits for its ack asks it before it resends: while
// acks keep arriving for fragments that were sent before its own, the
// central is behind (a loaded machine, a burst of new copies), not silent,
// and a resend would only add to what it has to get through.
//
// Owns: per message type, the recent acks as (when the acknowledged
// fragment was sent, when its ack came), only those that no other
// dominates (sent no later and acked no earlier), for at most `window`.
// Shared between tailer threads behind a mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace cc::tail {

class ack_progress {
public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  /// Acks older than `window` are forgotten.
  explicit ack_progress(duration window) : window_(window) {
  }

  /// The process's clock for `msg_type` (made at the first call; acks are
  /// remembered for the longest ack timeout: 8 × `ack_timeout`).
  static std::shared_ptr<ack_progress> shared(const std::string& msg_type,
                                              duration ack_timeout);

  /// An ack moved a tailer's position; the newest fragment it covers left
  /// at `sent`.
  void acked(time_point sent, time_point now);

  /// Whether an ack came after `since` for a fragment sent no later than
  /// `sent`.
  bool behind(time_point sent, time_point since) const;

  /// Entries kept (tests).
  size_t size() const;

private:
  void forget(time_point now);

  duration window_;
  mutable std::mutex mutex_;
  /// Increasing in both: each entry was sent later and acked later than
  /// the one before it.
  std::deque<std::pair<time_point, time_point>> acks_;
  static constexpr size_t max_entries = 4096;
};

} // namespace cc::tail
