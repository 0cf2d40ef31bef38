// The signals a server takes (SIGINT, SIGTERM, SIGHUP): blocked in every
// thread, and read from a signalfd on the process's I/O loop
// (base/io_loop.hpp), which hands each to an actor (the main thread's
// scoped_actor) as an int message. No thread of its own.
#pragma once

#include <memory>

#include <caf/actor.hpp>

#include "base/io_attachment.hpp"

namespace cc::cli {

class signal_watch {
public:
  /// Opens the signalfd and puts it on the loop; each signal goes to
  /// `target`. Throws std::system_error when signalfd fails.
  explicit signal_watch(caf::actor target);
  /// Takes it off the loop and closes it.
  ~signal_watch();
  signal_watch(const signal_watch&) = delete;
  signal_watch& operator=(const signal_watch&) = delete;

  /// Blocks the handled signals in the calling thread (and every thread it
  /// starts afterwards, which inherit the mask): call before any starts, so
  /// that they stay pending for the signalfd whichever thread they hit.
  static void block();

private:
  std::unique_ptr<io_attachment> on_loop_;
};

} // namespace cc::cli
