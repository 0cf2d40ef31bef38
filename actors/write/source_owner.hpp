// One source per copy (docs/guarantees.md, docs/wire.md §6.5): which source
// server (its `source-id`) writes the copies of a destination. A classic
// copy is one per destination; a rotated source's generations share their
// destination base, so one record covers them all.
//
// Owns: the owner records of the writer's state directory and a cache of
// them. A record is one sealed line `W <destination> <source> <host>` in an
// **owner log** (`ow-<16 hex of the section>-<worker>`, one per worker,
// append-only, never synced itself: the line is also in the worker's commit
// log, whose round makes it durable before the first byte of that source is
// written, commit_log.hpp). Every worker reads every owner log of its state
// directory (the first record of a destination holds); a destination
// without one is looked up in its `<16 hex digits of the destination>.owner`
// file (destination, owner's id, host, one per line), as written by
// builds before session 12, still honoured and never written now: only when
// the listing that found the logs (at the first lookup) had that name, so a
// new destination costs no failed lookup (a file put there later is read
// after a restart). No
// actor: a worker asks it, and a destination is only ever handled by one
// worker.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace cc::tw {

class commit_log;

/// The owner log of `worker` of the tailwriter section `section`.
std::string owner_log_name(const std::string& section, size_t worker);

/// Appends a sealed owner line to the owner log `file` of `state_fd` (made
/// if missing), after a newline when a torn line ends it; fdatasync'ed when
/// `sync`. The commit log's replay writes a lost record again through it.
caf::error append_owner_line(int state_fd, const std::string& file,
                             const std::string& line, bool sync);

/// Whether the owner log text `text` holds `line` (sealed, with its
/// newline) as a whole line.
bool owner_log_holds(const std::string& text, const std::string& line);

class source_owners {
public:
  struct record {
    std::string source;   // the owner's source-id ("": none yet)
    std::string hostname; // the host it claimed when it took the copy
  };

  /// Reads records in the directory `state_fd` (not owned).
  explicit source_owners(int state_fd) : state_fd_(state_fd) {
  }
  ~source_owners();
  source_owners(const source_owners&) = delete;
  source_owners& operator=(const source_owners&) = delete;

  /// Opens (creates) the owner log this instance claims into; the caller
  /// syncs the state directory before a claim relies on its name.
  caf::error open_log(const std::string& name);

  /// The owner of `dest_base`; a record with an empty source when none.
  caf::expected<record> owner(const std::string& dest_base);

  /// Group commit: records `source` as the owner of `dest_base` in the
  /// owner log, unsynced, and in `log` for its next round: durable when
  /// that round is back.
  caf::error claim_logged(const std::string& dest_base, const record& r,
                          commit_log& log);

private:
  std::string file_name(const std::string& dest_base) const;
  /// Every owner log of the state directory, once (first owner()).
  void load_logs();
  /// The record of an old `.owner` file (none when missing or torn).
  caf::expected<record> read_file(const std::string& dest_base);

  int state_fd_;
  int log_fd_ = -1;
  std::string log_name_;
  bool torn_ = false;  // a failed append may have left a partial line
  bool loaded_ = false;
  // Hashed: looked up for every fragment and question (a path compared
  // with ~14 others sharing long prefixes in an ordered map).
  std::unordered_map<std::string, record> logged_; // every record of the owner logs
  std::unordered_map<std::string, record> cache_;  // `.owner` files read
  /// The `.owner` files of older builds in the state directory when the
  /// logs were loaded (legacy_listed_: the listing worked); a destination
  /// without a name here has none and is not looked up.
  std::unordered_set<std::string> legacy_files_;
  bool legacy_listed_ = false;
  static constexpr size_t max_cached = 100000;
};

} // namespace cc::tw
