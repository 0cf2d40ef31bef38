// Timers on the process's I/O loop (base/io_loop.hpp), for the actors the
// loop already runs (base/loop_jobs.hpp): a trickle's tailer. CAF's own
// timer (delayed_send) fires on CAF's clock thread, which wakes a scheduler
// worker for the actor: two threads woken per timer, and a tailer arms one
// after every ack (its .save is due once the source stays quiet). Here the
// loop waits until the earliest timer is due and calls its function there,
// which may run the actor in a loop_jobs scope: the loop's one wake, or none
// when the loop is awake anyway (bench/PROFILE.md, "Session 27").
//
// A function runs on the loop thread at its due time or later (the loop's
// waits have millisecond steps), outside every other client's code and lock,
// in due order (by arming order among equal times). It must be short and
// must not block, as anything on the loop. Armed from the loop thread it
// costs no system call; from another thread, a wake of the loop when it
// becomes the earliest.
//
// Owns: the pending timers (a mutex: arm() from any thread); its client on
// the loop from the first shared() until the last holder lets go, when
// timers not yet due are dropped without running.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace cc {

class io_attachment;

class loop_clock {
public:
  using clock = std::chrono::steady_clock;

  /// The process's instance, on io_loop::shared(): made on first use, kept
  /// by its users only.
  static std::shared_ptr<loop_clock> shared();

  ~loop_clock();
  loop_clock(const loop_clock&) = delete;
  loop_clock& operator=(const loop_clock&) = delete;

  /// Runs `fn` on the loop thread once `due` has passed.
  void arm(clock::time_point due, std::function<void()> fn);

  /// Timers armed and not run yet (tests).
  size_t pending() const;

  class timers;

private:
  loop_clock();
  std::shared_ptr<timers> timers_;
  std::unique_ptr<io_attachment> attachment_;
};

} // namespace cc
