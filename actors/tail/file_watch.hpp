// inotify for the tailer: one thread, owned by a file_watch object, polls an
// inotify descriptor (the log directory plus the open source file) and an
// eventfd (to stop it). Each burst of events sends one (wake_atom) to the
// target actor; no further wake is sent until the target calls rearm(), so a
// busy log costs at most one queued message. Directory changes (a file
// created, moved or deleted) are also flagged, so the tailer lists the
// directory only when it changed.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <caf/actor.hpp>
#include <caf/expected.hpp>

namespace cc::tail {

class file_watch {
public:
  /// Starts watching `dir`. Fails (errc::io with the path and errno) when
  /// inotify is unavailable or `dir` cannot be watched; the caller then polls.
  static caf::expected<std::unique_ptr<file_watch>> start(caf::actor target,
                                                          const std::string& dir);

  /// Stops and joins the thread.
  ~file_watch();
  file_watch(const file_watch&) = delete;
  file_watch& operator=(const file_watch&) = delete;

  /// Watches `path` (the open source file) instead of the previous one; ""
  /// removes the file watch. Failures only lose latency (polling still runs).
  void watch_file(const std::string& path);

  /// The target took the last wake: the next event sends another.
  void rearm() { pending_->store(false); }

  /// Whether the directory changed since the last call.
  bool take_dir_changed() { return dir_changed_->exchange(false); }

  /// Whether the directory itself was deleted or moved (the watch is gone).
  bool dir_lost() const { return dir_lost_->load(); }

private:
  file_watch(int inotify_fd, int event_fd, int dir_wd);
  void run(caf::actor target);

  int inotify_fd_;
  int event_fd_;
  int dir_wd_;
  std::mutex file_mtx_;  // guards file_wd_ (tailer thread only, but cheap)
  int file_wd_ = -1;
  std::shared_ptr<std::atomic<bool>> pending_;
  std::shared_ptr<std::atomic<bool>> dir_changed_;
  std::shared_ptr<std::atomic<bool>> dir_lost_;
  std::thread thread_;
};

} // namespace cc::tail
