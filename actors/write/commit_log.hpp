// Group commit of new copies (docs/wire.md §6.7): a worker's commit log in
// its state directory, and the round that makes a batch of new copies
// durable with a few syncs on the sync thread instead of ~5 in a row per
// copy on the worker.
//
// Owns: the worker's two log files (`cl-<section hash>-<worker>.0` and `.1`,
// used in turn), each a run of sealed lines: `G <generation>` first, then
// per new owner record `O <owner log> <its line>` (source_owner.hpp; logs
// of builds before session 18 also have `J <journal file> <its text>`, a
// new copy's journal file, and before session 12 `W <record file> <its
// text>`: both still replayed, the journal files then migrated into the
// journal log). A new copy's journal records (in the worker's journal log,
// journal_log.hpp) and owner record are written without a sync of their
// own; the round fdatasyncs the log and the journal log once and fsyncs
// each copy directory that got a new name once. Nothing of a new copy is
// written before its round is back, so a crash at any point leaves either
// no byte of it, or its journal records durable in the journal log.
// Replay (at start, before any worker runs) writes again the files and
// records the log has but the files lost, syncs the file system, and
// empties the logs. Every checkpoint_entries entries a round syncs the
// whole file system of the state directory (syncfs) instead, after which
// the older log file is emptied: the log stays small.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/write/copy_writer.hpp"

namespace cc::tw {

/// What one round makes durable; run_commit_round runs it (sync thread).
struct commit_round {
  uint64_t number = 0;
  std::shared_ptr<unique_fd> log;       // fdatasync'ed (syncfs at a checkpoint)
  /// The worker's journal log (journal_log.hpp), fdatasync'ed: the new
  /// copies' journal records are there, not in `log`.
  std::shared_ptr<unique_fd> journal;
  std::shared_ptr<unique_fd> dstdir;
  /// A new copy's path (relative to dstdir) per directory that got one:
  /// that directory is opened and fsync'ed (no descriptor held meanwhile).
  std::vector<std::string> dirs;
  bool checkpoint = false;
  caf::error err;   // set by run_commit_round
  int64_t syncs = 0; // calls made (the fsyncs counter)
};

/// The log's sync and the directories', side by side on the sync thread's
/// helpers (sync_thread::for_each). Sets err to the first failure.
void run_commit_round(commit_round& round);

class commit_log {
public:
  /// A checkpoint round (syncfs) after this many entries in one file.
  static constexpr size_t checkpoint_entries = 4096;

  /// The log of `worker` (0, 1, ...) of the tailwriter section `section`
  /// in the state directory `state_fd` (borrowed), replayed first (crash)
  /// and then started empty.
  static caf::expected<std::unique_ptr<commit_log>>
  open(int state_fd, int dstdir_fd, const std::string& section, size_t worker);

  ~commit_log();
  commit_log(const commit_log&) = delete;
  commit_log& operator=(const commit_log&) = delete;

  /// A new copy whose journal records are in the worker's journal log:
  /// the round syncs that log (commit_round::journal), no entry here.
  void add_journal_log() { pending_ = true; }
  /// A new owner record: its line as appended (not synced) to the owner
  /// log `owner_log`. The log's entries are kept until take() writes them,
  /// one write per round.
  caf::error add_owner_line(const std::string& owner_log, const std::string& line);
  /// A new copy at `path` (relative to dstdir): its directory is fsync'ed
  /// by the round, once per directory.
  void add_copy(const std::string& path);

  /// Whether anything waits for a round.
  bool pending() const { return pending_; }
  /// The round for everything added so far (its number: rounds()): the
  /// entries added since the last one are written to the log now (a failed
  /// write makes this round a checkpoint, syncfs).
  commit_round take();
  /// A round came back (run or not): a checkpoint's older file is emptied.
  void finished(const commit_round& round);
  /// A round failed: the next one (a syncfs) is due for what it held.
  void retry() { pending_ = true; }
  /// Rounds taken so far: an entry added now is in round rounds() + 1.
  uint64_t rounds() const { return rounds_; }
  /// At shutdown, when a round cannot be waited for: syncfs of the state
  /// directory's and dstdir's file systems makes everything added so far
  /// durable (a round on the sync thread may still be running; harmless).
  caf::error sync_all(int64_t& syncs);

private:
  commit_log() = default;
  caf::error append(const std::string& line);
  /// A sealed line for the log, written by take() (or sync_all()).
  void buffer(std::string_view line);
  caf::error write_buffered();
  caf::error start_file(size_t index);

  int state_fd_ = -1;
  std::string base_; // file names without ".0" / ".1"
  std::shared_ptr<unique_fd> files_[2];
  std::shared_ptr<unique_fd> state_dir_;
  std::shared_ptr<unique_fd> dstdir_;
  size_t current_ = 0;
  uint64_t generation_ = 0;
  size_t entries_ = 0; // in the current file
  bool pending_ = false;
  bool failed_ = false;   // the last round failed: the next one syncs all
  bool retiring_ = false; // a checkpoint's older file is not emptied yet
  uint64_t rounds_ = 0;
  std::string buffered_; // entries added since the last take()
  std::set<std::string> dir_keys_;
  std::vector<std::string> dirs_;
};

/// The file name prefix of a section's commit logs.
std::string commit_log_prefix(const std::string& section);

/// Replays the commit logs in the state directory whose names start with
/// `prefix` (all when empty): a journal or owner record they name that is
/// missing, torn or without what the log holds is written again; then the
/// file system is synced and the logs removed. Only while none of their
/// workers runs. Returns how many files were written again.
caf::expected<size_t> replay_commit_logs(int state_fd, const std::string& prefix);

} // namespace cc::tw
