// The tailer core's view of time: "now" and its one one-shot timer. The
// actor shell implements it with CAF's actor clock, so under the test
// coordinator time is virtual and moves only when a test advances it; the
// core never reads steady_clock itself.
#pragma once

#include <chrono>

namespace cc::tail {

class tail_clock {
public:
  using time_point = std::chrono::steady_clock::time_point;

  virtual ~tail_clock() = default;

  virtual time_point now() const = 0;

  /// The core's timer handler runs at or after `due`. Every call arms one
  /// more wake-up; the core drops early and superseded ones itself.
  virtual void arm(time_point due) = 0;
};

} // namespace cc::tail
