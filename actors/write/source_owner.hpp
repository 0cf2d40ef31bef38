// One source per copy (docs/guarantees.md, docs/wire.md §6.5): which source
// server (its `source-id`) writes the copies of a destination. A classic
// copy is one per destination; a rotated source's generations share their
// destination base, so one record covers them all.
//
// Owns: per destination, the owner's id in a small file of the writer's state
// directory (`<16 hex digits of the destination>.owner`: the destination, the
// owner's id, the host it claimed, one per line), written atomically (temp
// file, fsync, rename, fsync of the directory; or, for a worker's new
// destination, renamed unsynced and made durable by its commit round)
// before the first byte of that source is written; and a cache of the records read. No actor: a worker
// asks it, and a destination is only ever handled by one worker.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace cc::tw {

class commit_log;

class source_owners {
public:
  struct record {
    std::string source;   // the owner's source-id ("": none yet)
    std::string hostname; // the host it claimed when it took the copy
  };

  /// Reads and writes records in the directory `state_fd` (not owned).
  explicit source_owners(int state_fd) : state_fd_(state_fd) {
  }

  /// The owner of `dest_base`; a record with an empty source when none.
  caf::expected<record> owner(const std::string& dest_base);

  /// Records `source` as the owner of `dest_base`; durable when it returns,
  /// or with `defer_dir_sync` once the state directory is synced
  /// (dir_synced, sync_dir): the caller's duty before the source's first byte
  /// is written (a new copy's journal syncs that directory anyway).
  caf::error claim(const std::string& dest_base, const record& r,
                   bool defer_dir_sync = false);
  /// Group commit: a claim of a destination without a record file is
  /// written and renamed without a sync and left to `log`'s next round
  /// (true); one that replaces a file (a torn record, a hash collision)
  /// is made as claim() with defer_dir_sync does (false).
  caf::expected<bool> claim_logged(const std::string& dest_base, const record& r,
                                   commit_log& log);
  /// A deferred claim waits for the state directory's sync.
  bool dir_sync_owed() const {
    return dir_sync_owed_;
  }
  /// The state directory was fsync'ed since the last claim (by a new journal).
  void dir_synced() {
    dir_sync_owed_ = false;
  }
  /// fsync's the state directory: every claim so far is durable.
  caf::error sync_dir();

private:
  std::string file_name(const std::string& dest_base) const;
  /// Writes the record's temporary file (fsync'ed when `sync`).
  caf::error write_temp(const std::string& tmp, const std::string& text, bool sync);

  int state_fd_;
  bool dir_sync_owed_ = false;
  std::map<std::string, record> cache_;
  static constexpr size_t max_cached = 100000;
};

} // namespace cc::tw
