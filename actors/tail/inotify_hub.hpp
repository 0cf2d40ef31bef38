// The process's one inotify instance, read on the process's I/O loop
// (base/io_loop.hpp) instead of a thread per watch. Created when the first
// file_watch needs it and gone (descriptor closed, off the loop) with the
// last one: a process without tailers has none.
//
// inotify gives one watch descriptor (wd) per inode and instance, and
// inotify_add_watch on an inode already watched replaces its mask. So the hub
// keeps, per wd, every watcher that asked for it with its own mask, asks the
// kernel for the union of those masks (IN_MASK_ADD), and removes the kernel
// watch with its last watcher. Each event goes to every watcher of its wd whose mask wants
// it and, for an event naming a file in a watched directory, whose name glob
// matches that name (two tailers of one directory do not wake each other for
// each other's files). An overflow (IN_Q_OVERFLOW) goes to every watcher.
//
// What a watcher is told is its watch_signal: flags and one wake_atom per
// burst, as file_watch.hpp describes; a watcher several events of one read
// name (a file's watch and its directory's both see an append) is woken once.
// A watcher with run_here is woken inside a loop_jobs scope: its target (and
// the actors it messages, within the scope's bounds) runs on the loop thread
// right after the read, not on a scheduler worker woken for it
// (base/loop_jobs.hpp); one that also has a look_here (a settled tailer) is
// not woken at all: the loop runs its look itself, within that scope
// (loop_jobs::run_inline), past CAF's mailbox and resume. The table is guarded by a mutex: the tailers (CAF
// threads) add and remove watches, the loop thread dispatches.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>

namespace cc {
class io_loop;
}

namespace cc::tail {

/// What one file_watch shares with the hub: where to send the wake and the
/// flags its tailer reads.
struct watch_signal {
  caf::actor target;
  std::string names;                // glob of the names it follows in its dir
  std::atomic<bool> pending{false}; // a wake is queued and not yet taken
  std::atomic<bool> dir_changed{false};
  std::atomic<bool> dir_lost{false};
  // Whether the next wake may run its target on the loop thread, right after
  // the read (base/loop_jobs.hpp): a tailer whose look is cheap (no
  // compression on its thread) and that has no dispatch waiting for its
  // answer says so, after each look (file_watch::set_settled).
  std::atomic<bool> run_here{false};
  // Such a wake's look, run by the loop itself with no actor job (the
  // tailer's, tailer.cpp): true when it ran; false (the tailer busy on
  // another thread, or gone): the target is woken as before. Set before
  // the watch is added, read only after.
  std::function<bool()> look_here;
};

/// Drops repeated watchers from one batch's list (order not kept): each is
/// woken once per batch.
void keep_unique(std::vector<std::shared_ptr<watch_signal>>& sigs);

class inotify_hub {
public:
  /// The process's hub, created (inotify_init1, added to the I/O loop) when
  /// none exists. errc::io when inotify is unavailable.
  static caf::expected<std::shared_ptr<inotify_hub>> shared();

  /// Takes the hub off the loop (waits for that unless called on the loop
  /// thread) and closes the descriptor.
  ~inotify_hub();
  inotify_hub(const inotify_hub&) = delete;
  inotify_hub& operator=(const inotify_hub&) = delete;

  /// Adds `sig` as a watcher of `path` with `mask`; returns the wd (shared
  /// with other watchers of the same inode) or errc::io with path and errno.
  /// `dir`: events naming a file are filtered by sig->names.
  caf::expected<int> add(const std::string& path, uint32_t mask, bool dir,
                         const std::shared_ptr<watch_signal>& sig);

  /// Removes `sig` as a watcher of `wd`; the kernel watch goes with its last
  /// watcher.
  void remove(int wd, const watch_signal* sig);

  /// Kernel watches held now (tests).
  size_t watch_count() const;

  /// Wakes taken by a watcher's look_here on the loop, process-wide (tests).
  static uint64_t looks_here();

  class client;

private:
  inotify_hub() = default;
  std::shared_ptr<io_loop> loop_; // held as long as the hub is
  std::shared_ptr<client> client_;
};

} // namespace cc::tail
