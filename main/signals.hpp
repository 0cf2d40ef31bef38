// The signals a server takes (SIGINT, SIGTERM, SIGHUP): blocked in every
// thread, and taken by one thread in sigwait that hands each to an actor
// (the main thread's scoped_actor) as an int message.
#pragma once

#include <atomic>
#include <thread>

#include <caf/actor.hpp>

namespace cc::cli {

class signal_thread {
public:
  /// Starts the thread; each signal goes to `target`.
  explicit signal_thread(caf::actor target);
  /// Wakes the thread (SIGUSR1) and joins it.
  ~signal_thread();
  signal_thread(const signal_thread&) = delete;
  signal_thread& operator=(const signal_thread&) = delete;

  /// Blocks the handled signals in the calling thread (and every thread it
  /// starts afterwards, which inherit the mask): call before any starts.
  static void block();

private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

} // namespace cc::cli
