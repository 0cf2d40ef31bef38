// inotify for one tailer: its log directory and the open source file,
// watched through the process's one inotify instance (inotify_hub.hpp, read
// on the I/O loop; no thread of its own). Each burst of events sends one
// (wake_atom) to the target actor; no further wake is sent until the target
// calls rearm(), so a busy log costs at most one queued message. Directory
// changes (a file created, moved or deleted) are also flagged, so the tailer
// lists the directory only when it changed. Only events naming a file that
// matches `names` (the tailer's logmask, or its logname and rotations) are
// taken from the directory: tailers sharing a directory are not woken by
// each other's files.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include "actors/tail/inotify_hub.hpp"

namespace cc::tail {

class file_watch {
public:
  /// Starts watching `dir` for files whose names match the glob `names`.
  /// Fails (errc::io with the path and errno) when inotify is unavailable or
  /// `dir` cannot be watched; the caller then polls.
  /// `run_here`: the wakes may run `target` on the I/O loop's thread
  /// (watch_signal::run_here) while it is settled (set_settled); and with
  /// `look_here`, the loop runs that instead of waking `target`
  /// (watch_signal::look_here).
  static caf::expected<std::unique_ptr<file_watch>>
  start(caf::actor target, const std::string& dir, const std::string& names = "*",
        bool run_here = false, std::function<bool()> look_here = {});

  /// Removes this watcher's watches (the kernel's go with their last user).
  ~file_watch();
  file_watch(const file_watch&) = delete;
  file_watch& operator=(const file_watch&) = delete;

  /// Watches `path` (the open source file) instead of the previous one; ""
  /// removes the file watch. Failures only lose latency (polling still runs).
  void watch_file(const std::string& path);

  /// The target took the last wake: the next event sends another.
  void rearm() { sig_->pending.store(false); }

  /// Whether the target is settled: no dispatch of its last look waits for
  /// its answer (between a trickle's lines; between a stream's appends, its
  /// bytes unacknowledged): only then does a wake run it on the I/O loop's
  /// thread, if start() allowed that. While a dispatch waits (a catch-up,
  /// the forwarder's queue full) its looks stay on the scheduler.
  void set_settled(bool settled) {
    sig_->run_here.store(may_run_here_ && settled, std::memory_order_relaxed);
  }

  /// Whether the directory changed since the last call.
  bool take_dir_changed() { return sig_->dir_changed.exchange(false); }

  /// Whether the directory itself was deleted or moved (the watch is gone).
  bool dir_lost() const { return sig_->dir_lost.load(); }

private:
  file_watch(std::shared_ptr<inotify_hub> hub, std::shared_ptr<watch_signal> sig);

  std::shared_ptr<inotify_hub> hub_;
  std::shared_ptr<watch_signal> sig_;
  int dir_wd_ = -1;
  bool may_run_here_ = false;
  std::mutex file_mtx_;  // guards file_wd_ (tailer thread only, but cheap)
  int file_wd_ = -1;
};

} // namespace cc::tail
