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
// shared() gives the process's instance, kept only by its users (a weak
// reference here): it ends with the last of them, after running every job
// submitted before; a job must not hold it. A separate instance is for
// tests.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

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

private:
  void run();

  mutable std::mutex mtx_;
  std::condition_variable work_cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  uint64_t run_ = 0;
  std::thread thread_; // last: started after what it uses exists
};

} // namespace cc
