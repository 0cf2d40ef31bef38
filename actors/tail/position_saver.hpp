// The position saver: writes the tailers' .save files (tail::save_position:
// temp file, fsync, rename, fsync of the directory) as jobs of the
// process's sync thread (base/sync_thread.hpp, shared with the tailwriter's
// fdatasyncs), so a tailer does not stop reading and sending for the 5-9 ms
// an fsync takes.
//
// Owns: per .save path the newest position not yet written
// (older ones are dropped: coalescing), whether a write of the path is under
// way, and whether the path's last write failed. One process-wide instance is
// shared by every tailer (shared()); it ends with the last tailer holding it,
// after writing what is pending.
//
// Ordering: writes of one path never overlap and run in store order, so the
// file never goes back to an older position. store() does not block;
// store_now() and flush() wait for the one write of that path under way (if
// any), then write on the caller's thread: they never wait behind other paths.
//
// Failures are logged here with the storing tailer's name, as the tailer did:
// "cannot save the position: ..." once when a path's writes start failing,
// "position saved again to <path>" when one succeeds again.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <caf/error.hpp>

#include "actors/tail/position.hpp"
#include "base/sync_thread.hpp"

namespace cc::tail {

class position_saver {
public:
  /// What the saver did since it started (for tests and diagnostics).
  struct counts {
    uint64_t stores = 0;    // store() and store_now() calls
    uint64_t unchanged = 0; // of those, the path's newest position again
    uint64_t writes = 0;    // save_position calls (coalescing: <= stores)
    uint64_t failures = 0; // writes that returned an error
  };

  /// The process-wide saver: created on first use, kept only by its users
  /// (a weak reference here), so it ends when the last tailer drops it.
  static std::shared_ptr<position_saver> shared();

  /// Writes on `writer` (default: the process's sync thread). Prefer
  /// shared(); a separate instance is for tests.
  explicit position_saver(std::shared_ptr<sync_thread> writer = sync_thread::shared());

  /// Waits until every pending position is written. Blocks.
  ~position_saver();

  position_saver(const position_saver&) = delete;
  position_saver& operator=(const position_saver&) = delete;

  /// Queues `pos` as the newest position of `path` and returns at once; a
  /// position of `path` queued earlier and not yet being written is dropped.
  /// `pos` equal to the path's newest position (queued, being written or
  /// written) is not written again, unless that write failed. `who` names
  /// the tailer in the log lines of a failure.
  void store(const std::string& path, const position& pos, const std::string& who);

  /// As store(), then waits until `pos` (or a newer position of `path`) is
  /// durable or failed, and returns that write's error. Waits at most for
  /// the write of `path` under way, then writes on the caller's thread.
  caf::error store_now(const std::string& path, const position& pos,
                       const std::string& who);

  /// Waits until every position of `path` stored before the call is written,
  /// writing on the caller's thread what is still queued. Returns the error
  /// of the newest write of `path` (none if it was never written).
  caf::error flush(const std::string& path);

  counts stats() const;

private:
  struct pending_write {
    position pos;
    uint64_t seq;
    std::string who;
  };

  /// One .save path.
  struct entry {
    std::optional<pending_write> pending; // newest position not yet taken
    std::optional<position> newest;       // the last one stored
    bool queued = false;                  // a job of the sync thread will take it
    bool writing = false;                 // a thread is in save_position for this path
    uint64_t stored_seq = 0;              // seq of the newest position stored
    uint64_t written_seq = 0; // seq of the newest position written (or failed)
    caf::error last_error;    // of that write
    bool failing = false;     // last write failed (logged once per episode)
  };

  using lock_type = std::unique_lock<std::mutex>;

  /// Stores under the lock; returns the position's sequence number.
  uint64_t store_locked(const std::string& path, const position& pos,
                        const std::string& who);

  /// Waits until `seq` of `path` is written, writing it on this thread if
  /// no other thread is writing the path. `lock` is held on entry and exit.
  caf::error wait_written(lock_type& lock, const std::string& path, uint64_t seq);

  /// Takes e.pending and writes it with the lock released; `lock` is held on
  /// entry and exit. Re-queues the path for the thread when a newer
  /// position arrived meanwhile.
  void write_one(lock_type& lock, const std::string& path, entry& e);

  /// Hands `path` to a job of the sync thread; under the lock.
  void queue(const std::string& path, entry& e);
  /// That job: writes the path's pending position unless taken meanwhile.
  void run_job(const std::string& path);

  mutable std::mutex mtx_;
  std::condition_variable done_cv_;      // a write or a job finished
  std::map<std::string, entry> entries_; // one per path ever stored (a few)
  uint64_t next_seq_ = 0;
  uint64_t jobs_ = 0;                    // queued on the sync thread, not yet run
  counts counts_;
  std::shared_ptr<sync_thread> writer_;
};

} // namespace cc::tail
