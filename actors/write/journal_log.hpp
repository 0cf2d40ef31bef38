// The journal log (issue 20; docs/wire.md §6.7): the journals of a
// tailwriter's copies as records in one append-only log file per worker,
// instead of the file per copy of builds before session 18 (taken in by
// prepare_journal_logs at start; written back by export_journal_files for
// a downgrade).
//
// Owns: the worker's current log file (`jl-<section hash>.<seq>.<worker>` in
// the state directory) and an index of the ids with records in it.
//
// A record is one line: `<id> <body> #<fnv32 of "<id> <body>">`, where
// `<body>` is a line of today's journal (copy_journal.hpp: H, O, S, M, D, P,
// C, A) and `<id>` names the copy as its journal file did (`<hex>` or
// `<hex>-<n>`, without ".j"). A copy's journal text is its records' bodies,
// sealed as journal lines, in order: copy_file's parse and recovery stay as
// they are. A batch `<id> R <n>` followed by n records of that id, each
// body marked `+` (one write), replaces what the id had (a copy's
// compaction, the whole log's compaction, the migration of a legacy
// journal); a `+` record outside a whole batch damages its id (a hole in
// an unsynced tail must not read as an append); `+T <unix time>` inside a
// batch keeps the time the id was last written across compactions (else
// the file's mtime is its time). Reading: records in order; a line without
// its newline is a torn tail (ignored); a line whose checksum fails is
// skipped and counted, and when its id can be read, that id takes no more
// records until a whole batch replaces it (as a damaged line ended what was
// read of a per-copy journal); a batch counts only whole.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/write/copy_writer.hpp"

namespace cc::tw {

class journal_log;

namespace jlog {

/// `<id> <body> #<checksum>\n`.
std::string record(std::string_view id, std::string_view body);
/// record() appended to `out`; returns where its body starts in `out`.
size_t append_record(std::string& out, std::string_view id, std::string_view body);
/// The batch replacing `id`'s records by the journal lines of
/// `journal_text` (sealed journal lines; a damaged or torn line ends it),
/// with `T <time>` first when `time` is not 0.
std::string batch(std::string_view id, std::string_view journal_text, std::time_t time);
/// A copy's sealed journal lines as records of `id` (a damaged line ends it).
std::string records(std::string_view id, std::string_view journal_text);

/// The file name prefix of a section's journal logs.
std::string prefix(const std::string& section);
/// The name of worker `worker`'s log file `seq`.
std::string file_name(const std::string& prefix, uint64_t seq, size_t worker);

/// Where each id's records are in a run of log texts, in the order applied.
class index {
public:
  struct span {
    uint32_t file = 0;
    uint32_t len = 0; // the record's body, without id, checksum, newline
    uint64_t off = 0;
  };
  struct entry {
    std::vector<span> recs;
    bool damaged = false;  // a bad record of it: no more until a batch
    std::time_t time = 0;  // last written (T record, else the file's mtime)
  };

  /// Applies the records of `text`, file number `file` (mtime `mtime`),
  /// which starts at offset `base` of that file. Returns the bytes of
  /// `text` applied: whole lines, up to a batch its end cuts (the rest is
  /// a torn tail, to be cut off before anything is appended).
  size_t apply(uint32_t file, std::string_view text, uint64_t base, std::time_t mtime);

  /// Records of `id` just written (`recs`: their bodies), read as apply()
  /// would read them (none when the id is damaged), without parsing them
  /// again.
  void add(std::string_view id, const std::vector<span>& recs, std::time_t time);
  void add(std::string_view id, const span* recs, size_t n, std::time_t time);
  /// A whole batch of `id` (`recs`: its members' bodies), read by apply()
  /// or just written: it replaces the id's records and ends its damage.
  void add_batch(std::string_view id, std::vector<span> recs, std::time_t time);

  /// By id, hashed (looked up several times per new copy among every
  /// copy's id): a walk whose order shows sorts the ids first.
  using entry_map = std::unordered_map<std::string, entry>;
  const entry_map& entries() const { return ids_; }
  const entry* find(std::string_view id) const {
    auto i = ids_.find(key_of(id));
    return i == ids_.end() ? nullptr : &i->second;
  }
  void erase(std::string_view id);
  /// What the live records take in a log (each as `<id> <body> #<8 hex>\n`),
  /// kept as records come and go: the compaction check reads it instead
  /// of walking every record.
  uint64_t live_bytes() const { return live_; }
  /// Records whose checksum failed, and torn tails seen.
  size_t bad_records() const { return bad_; }
  size_t torn_tails() const { return torn_; }

private:
  entry_map::iterator lookup(std::string_view id) {
    return ids_.find(key_of(id));
  }
  /// `id` as a key in this thread's buffer (C++17's unordered_map finds by
  /// its key type only, and an id is longer than the short-string buffer):
  /// a lookup allocates nothing once the buffer has grown, and lookups on
  /// different threads share nothing, so find() is const in fact.
  static const std::string& key_of(std::string_view id) {
    thread_local std::string probe;
    probe.assign(id.data(), id.size());
    return probe;
  }

  entry_map ids_;
  uint64_t live_ = 0;
  size_t bad_ = 0;
  size_t torn_ = 0;
};

/// records() appended to `out`, whose end is at offset `base` in the log
/// file: where each record's body lands goes to `spans` (if not null).
void records_at(std::string& out, std::string_view id, std::string_view journal_text,
                uint64_t base, std::vector<index::span>* spans);
/// batch() written at offset `base`: where each member's body (without its
/// '+') lands goes to `spans` (if not null).
std::string batch_at(std::string_view id, std::string_view journal_text, std::time_t time,
                     uint64_t base, std::vector<index::span>* spans);

/// The sealed journal lines an entry's spans say, with `read(span)` giving
/// each body.
std::string journal_text(const index::entry& e,
                         const std::function<std::string(const index::span&)>& read);

} // namespace jlog

/// The header of every journal in the log whose copy exists (claimed or
/// written to), for the worker's index of rotated copies (copy_index.hpp).
std::vector<journal_header> journal_headers(const journal_log& log);

/// What prepare_journal_logs did.
struct journal_prepare_result {
  size_t copies = 0;     // ids written into the new files
  size_t migrated = 0;   // legacy journals taken in
  size_t pruned = 0;     // ids (and legacy journals) left out for their age
  size_t bad_records = 0;
  size_t torn_tails = 0;
  uint64_t seq = 0;      // the new files' sequence number
};

/// Before any worker runs: reads every journal log of `prefix` in the state
/// directory (in sequence order) and every legacy journal (`*.j`) whose id
/// has no record in them, leaves out ids not written for `max_age`, and
/// writes each id's journal as one batch into the new log of the worker
/// `assign(identity)` (of `workers`): fdatasync'ed each, renamed into place,
/// the directory fsync'ed; only then the old logs and the legacy journals
/// are unlinked (and *.tmp leftovers of a crash). A crash at any point
/// leaves a state the next call reads the same.
caf::expected<journal_prepare_result>
prepare_journal_logs(int state_fd, const std::string& prefix, size_t workers,
                     const std::function<size_t(const std::string&)>& assign,
                     std::chrono::seconds max_age, std::time_t now);

/// What export_journal_files did.
struct journal_export_result {
  size_t copies = 0; // journal files written
  size_t logs = 0;   // log files read (and removed)
  size_t bad_records = 0;
  size_t torn_tails = 0;
};

/// For a downgrade to a build before session 18, which reads a journal
/// file per copy and no log: reads every journal log in the state
/// directory (every section's, as prepare_journal_logs reads them) and
/// writes each copy's journal as the legacy file `<id>.j` (its text, the
/// time it was last written as its mtime; a file of that name is
/// replaced), each fdatasync'ed and renamed into place, the directory
/// fsync'ed; only then the logs are unlinked. Only while no server uses
/// the state directory. Legacy journals of ids the logs hold no journal of
/// are left as they are.
caf::expected<journal_export_result> export_journal_files(int state_fd);

/// The lock of a state directory (flock(2) of the directory, `state_fd`
/// an open descriptor of it, released when that closes): a tailwriter
/// holds it shared from its start's merge until its workers are gone;
/// --export-journals takes it exclusive. errc::unavailable when the other
/// kind is held (it never waits).
caf::error lock_state_dir(int state_fd, bool exclusive);

/// One worker's journal log (single-threaded: its worker's).
class journal_log {
public:
  /// Opens the newest log file of `worker` (made by prepare_journal_logs;
  /// an empty one when there is none) and indexes it.
  static caf::expected<std::unique_ptr<journal_log>>
  open(int state_fd, const std::string& prefix, size_t worker);
  ~journal_log();
  journal_log(const journal_log&) = delete;
  journal_log& operator=(const journal_log&) = delete;

  bool has(std::string_view id) const { return index_.find(id) != nullptr; }
  /// A bad record of `id` was read: what follows it is not read until a
  /// batch (replace) makes its journal whole again.
  bool damaged(std::string_view id) const {
    auto e = index_.find(id);
    return e != nullptr && e->damaged;
  }
  /// Every id with records, in order.
  std::vector<std::string> id_list() const;
  /// The copy's journal text (sealed journal lines), "" for an unknown id.
  caf::expected<std::string> text(std::string_view id) const;
  /// Appends `journal_lines` (sealed journal lines) as records of `id`:
  /// one write, not synced.
  caf::error append(std::string_view id, std::string_view journal_lines) {
    std::pair<std::string_view, std::string_view> one{id, journal_lines};
    return append_each(&one, 1);
  }
  /// append() of each of `n` (id, journal lines), all in one write: none
  /// of them on an error.
  caf::error append_each(const std::pair<std::string_view, std::string_view>* each, size_t n);
  /// Replaces what `id` has by `journal_text` (a batch; not synced).
  caf::error replace(std::string_view id, std::string_view journal_text);
  /// fdatasync of the log: every record appended so far is durable.
  caf::error sync();
  /// The log's descriptor (for a sync on another thread).
  std::shared_ptr<unique_fd> fd() const { return fd_; }
  /// Writes a new file holding each id's journal as one batch (what a
  /// restart would read), fdatasync, rename, directory fsync, then drops
  /// the old file. Due when the file is larger than `max_bytes` and more
  /// than twice what the live records need.
  caf::error compact();
  bool compaction_due(uint64_t max_bytes) const;
  uint64_t size() const { return size_; }
  /// Test hook: the writes (appends, batches) made since it was opened.
  uint64_t writes() const { return writes_; }
  const std::string& file() const { return name_; }
  size_t ids() const { return index_.entries().size(); }
  size_t bad_records() const { return index_.bad_records(); }
  /// Where each id's records are (exposed for tests).
  const jlog::index& records_index() const { return index_; }

private:
  journal_log() = default;
  caf::error write(std::string_view text);

  int state_fd_ = -1;
  std::string prefix_;
  size_t worker_ = 0;
  uint64_t seq_ = 0;
  std::string name_;
  std::shared_ptr<unique_fd> fd_;
  uint64_t size_ = 0;
  uint64_t writes_ = 0;
  jlog::index index_;
};

} // namespace cc::tw
