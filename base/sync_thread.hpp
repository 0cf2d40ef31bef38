// The process's one thread for durability work that its owners must not
// wait for: the tailwriter workers' grouped fdatasyncs of plain copies
// (actors/write/tailwriter_worker.cpp) and the tailers' .save writes with
// their fsyncs (actors/tail/position_saver.hpp). An fsync takes 5-9 ms; a
// worker or tailer that made it itself would stop writing or reading for
// that long.
//
// Jobs run one at a time, in the order submitted; each reports back its own
// way (the worker's job sends its actor the synced batch, the saver's
// signals a condition variable), and nothing is acknowledged before its job
// ran: the durability order stays its owner's (docs/guarantees.md). One job
// that hangs (a dead NFS server) holds up those behind it, as a disk that
// hangs would anyway.
//
// A job with many independent syncs (a batch of copies' fdatasyncs, a
// commit round's directories) spreads them with for_each over the thread
// and up to `helpers` helper threads ("cc-sync-help"): the disk takes them
// together where one after the other each waits ~1 ms for its flush
// (10,000 new copies: the scale bench, bench/PROFILE.md session 11). The
// job still returns only when every one of them did. Helpers start for a
// call of at least min_spread syncs and end after helper_idle without one,
// so a quiet process runs none.
//
// shared() gives the process's instance, kept only by its users (a weak
// reference here): it ends with the last of them, after running every job
// submitted before; a job must not hold it. A separate instance is for
// tests.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace cc {

class sync_thread {
public:
  static std::shared_ptr<sync_thread> shared();

  /// Starts the thread ("cc-sync").
  sync_thread();
  /// Runs every job submitted, then joins the thread.
  ~sync_thread();
  sync_thread(const sync_thread&) = delete;
  sync_thread& operator=(const sync_thread&) = delete;

  /// Queues `job` to run on the thread after the jobs submitted before it.
  /// Returns at once.
  void submit(std::function<void()> job);

  /// Jobs run so far (tests).
  uint64_t jobs_run() const;

  /// Helper threads for_each uses beside the sync thread, at most.
  static constexpr size_t helpers = 7;
  /// Fewer calls than this run on the sync thread alone.
  static constexpr size_t min_spread = 4;
  /// A helper without a call for this long ends.
  static constexpr std::chrono::seconds helper_idle{5};

  /// Calls fn(0) ... fn(n - 1), each once, and returns when all returned.
  /// From a job of a sync thread: spread over it and its helpers (fn must
  /// be safe to call for different indexes at once); from anywhere else (a
  /// worker syncing in place, tests): one after the other, here.
  static void for_each(size_t n, const std::function<void(size_t)>& fn);

private:
  void run();
  void spread(size_t n, const std::function<void(size_t)>& fn);
  void help(size_t slot);

  mutable std::mutex mtx_;
  std::condition_variable work_cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  uint64_t run_ = 0;

  // for_each's helpers and the call they work on (help_mtx_).
  std::mutex help_mtx_;
  std::condition_variable help_cv_;      // a call to help with, or stopping
  std::condition_variable help_done_cv_; // a helper left the call
  struct helper_slot {
    std::thread thread; // joinable after it ended, until joined
    bool live = false;
  };
  std::vector<helper_slot> helpers_ = std::vector<helper_slot>(helpers);
  size_t help_live_ = 0;
  const std::function<void(size_t)>* help_fn_ = nullptr; // null: none open
  size_t help_n_ = 0;
  uint64_t help_call_ = 0;   // which call help_fn_ is
  size_t help_active_ = 0;   // helpers inside it
  bool help_stopping_ = false;
  std::atomic<size_t> help_next_{0}; // the next index to take

  std::thread thread_; // last: started after what it uses exists
};

} // namespace cc
