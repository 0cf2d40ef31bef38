// One destination copy and its bookkeeping (SPEC §8, §9; the acknowledged-
// delivery protocol and its reconcile extension in docs/wire.md §6, §6.1).
//
// Owns: the copy file's descriptor, its journal (records in its worker's
// journal log, journal_log.hpp),
// the segments that map source bytes (per source key and generation) to copy
// offsets, each segment's block digests (block_digests.hpp), and for
// compressed copies the member boundaries that are safe to recover to. No
// actor and no messages: a worker (tailwriter_worker) drives it.
// Implemented in copy_open.cpp (opening, recovery), copy_writer.cpp
// (writing, syncing, the journal's compaction, closing), copy_digest.cpp
// (digests, the copy as the authority) and copy_journal.cpp (the journal's
// lines, copy_journal.hpp).
//
// Journal (one per copy, append-only lines, each with a checksum: the copy's
// records in its worker's journal log, journal_log.hpp, whose fdatasync is
// the journal's sync; builds before session 18 kept a file `<id>.j` per
// copy, which the start migrates into the log):
//   H <version> <write mode> <out compression> <copy path> <identity>
//   S <hostname> <st_dev> <st_ino> <filename> <gen> <src_base> <copy_base>
//   M <src_end> <copy_size>      (compressed copies: a member ends here)
//   D <copy_base> <block_end> <xxh3>  a complete block of the segment that
//                                starts at copy offset copy_base (the latest
//                                S line with it): XXH3-64 of its source bytes
//   P <copy_base> <src_end> <xxh3>    that segment's partial last block, up
//                                to where it ends (written when the segment
//                                ends, at compaction and at a clean close)
//   C <copy_size>                a clean close: the copy's size then (read
//                                only as the journal's last line)
//   A                            written and synced before the copy changes
//                                again after a C line
// An S line is written and fdatasync'ed (after the copy's data) before the
// first byte of its segment, so every copy byte after it belongs to it. A
// new copy of a worker (copy_spec::defer_sync) is the exception: its H, O
// and first S lines are made durable by its worker's commit round (one
// fdatasync of the worker's journal log for a batch of new copies,
// commit_log.hpp), also before its first byte. An M
// line is written after the data it covers was fdatasync'ed. D lines are
// written as blocks complete, without a sync of their own: they become
// durable with the journal's next sync (a segment start, a member end of a
// compressed copy, a compaction, a clean close); a later line for the same
// block overrides an earlier one (a repair rewrote it). Recovery:
//   plain copies: the last S not beyond the copy's size owns every byte up to
//     that size (bytes beyond the last sync are valid source bytes);
//   compressed copies: truncate to the last S/M boundary not beyond the size.
// Then digests beyond a segment's end are dropped. The copy is the authority
// on what it holds: a size other than a C line's, or a last complete block
// whose bytes no longer match its D line, is logged and counted as a copy
// changed behind the writer's back (copy_changed), and what the file says is
// adopted. Journals of older builds (no D, P, C or A lines) recover as before;
// an older build reading a newer journal stops at its first D line.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/write/block_digests.hpp"
#include "base/hash.hpp"
#include "wire/codec.hpp"

namespace cc::tw {

/// `write-compressed`: no (plain bytes), keep (as received), yes (recompress).
enum class write_mode { plain, keep, recompress };

/// "", "no" -> plain; "keep"; "yes" -> recompress. Else config_invalid.
caf::expected<write_mode> parse_write_mode(std::string_view text);
/// "no", "keep", "yes".
const char* to_string(write_mode m);

/// Identifies a source file: the copy key of the protocol.
struct source_key {
  std::string hostname;
  uint64_t st_dev = 0;
  uint64_t st_ino = 0;
  std::string filename;

  /// "host:/path (dev 2049, ino 1234)" for log lines.
  std::string str() const;
};

bool operator==(const source_key& x, const source_key& y);
bool operator<(const source_key& x, const source_key& y);


class journal_log;

/// How copies are written; shared by every copy of one worker.
struct copy_options {
  /// The worker's journal log (journal_log.hpp), borrowed, required: each
  /// copy's journal is its records there.
  journal_log* log = nullptr;
  write_mode mode = write_mode::plain;
  wire::compression compression = wire::compression::gzip; // recompress output
  int level = 6;
  /// recompress: a member ends after this many source bytes.
  uint64_t buffer_bytes = 1 << 20;
  /// Segments remembered per copy (old generations are recognised as long as
  /// they are among these).
  size_t max_segments = 64;
  /// Journal lines before the journal is compacted.
  size_t compact_after = 1024;
  /// Plain copies: bytes a sync made durable leave the page cache
  /// (sync_ticket::drop_from/drop_to, run_sync_jobs).
  bool drop_synced_pages = true;
};

/// Which copy a fragment goes to. `identity` is unique per copy; the journal
/// file name is derived from it.
struct copy_spec {
  std::string identity;
  /// Normalised, relative to dstdir, no suffix/extension: a view of the
  /// fragment's destination (a spec lives while its fragment does).
  std::string_view base_path;
  bool rotated = false;   // name + extension + rotated_suffix(first open)
  wire::compression out = wire::compression::none; // for a new copy
  /// Questions: open only a copy that has a journal, never create one
  /// (errc::unavailable "no copy" otherwise, or "missing" when the journal's
  /// copy file is gone).
  bool must_exist = false;
  /// Group commit (commit_log.hpp): a new copy's journal lines and
  /// directory entries are not synced here but by its worker's commit
  /// round (awaiting_commit), before any byte of it is written.
  bool defer_sync = false;
};

/// What to do with a fragment of `n` source bytes at `fpos`.
struct decision {
  enum kind_t { append, duplicate, gap } kind = append;
  /// append: leading bytes the copy already holds (overlap), not to be written.
  uint64_t skip = 0;
  /// append: the bytes start a new segment at `src_base`.
  bool new_segment = false;
  uint64_t src_base = 0;
  /// duplicate / gap: the end of the (key, gen) segment.
  uint64_t src_end = 0;
  /// gap, or an append after a gap (ack false): missing source bytes.
  uint64_t gap_bytes = 0;
};

/// A descriptor with one owner, closed when the owner goes.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd();
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

private:
  int fd_ = -1;
};

/// A copy's journal as read back (copy_writer.cpp).
struct journal_text;

class copy_file {
public:
  using clock = std::chrono::steady_clock;

  /// An fdatasync of a plain copy made by another thread while this one goes
  /// on writing (begin_sync / end_sync). `fd` is the copy's own descriptor,
  /// shared: a copy closed meanwhile leaves it open until the ticket lets go
  /// (no duplicate: an open copy holds two descriptors, synced or not);
  /// `marks` are the segments' ends when it began: what the fdatasync makes
  /// durable.
  struct sync_ticket {
    struct mark {
      source_key key;
      std::string gen;
      uint64_t src_base = 0;
      uint64_t src_end = 0;
    };
    std::shared_ptr<unique_fd> fd;
    std::vector<mark> marks;
    std::string path; // for error messages
    /// Bytes rewritten in place after it began are not covered: its marks
    /// then make nothing durable (see rewrites()).
    uint64_t epoch = 0;
    /// The copy's file system (st_dev) when the copy was measured: an open
    /// file's never changes, so run_sync_jobs need not fstat it again.
    std::optional<uint64_t> dev;
    /// Copy bytes [drop_from, drop_to) were written before the sync began
    /// (whole pages, the one holding the copy's end excluded): once it
    /// succeeded they leave the page cache (POSIX_FADV_DONTNEED;
    /// copy_options::drop_synced_pages; empty when off).
    uint64_t drop_from = 0;
    uint64_t drop_to = 0;
  };

  struct segment {
    source_key key;
    std::string gen;
    uint64_t src_base = 0;
    uint64_t src_end = 0;     // source offset reached (written, maybe not synced)
    uint64_t copy_base = 0;   // copy offset of src_base
    uint64_t durable_end = 0; // source offset up to which the bytes are durable
    block_map blocks;         // digests of its blocks (block_digests.hpp)
  };

  /// Finds the copy's journal in opts.log (by spec.identity) and recovers
  /// the copy, or creates both (rotated copies get a fresh suffix of `now`).
  static caf::expected<std::unique_ptr<copy_file>>
  open(const copy_options& opts, int dstdir_fd, const copy_spec& spec, std::time_t now);
  /// For a question (spec.must_exist): the error open() gives when no
  /// journal was ever made for spec.identity (no record of its first id in
  /// `log`), found by one lookup; none when there may be a copy. The
  /// worker asks before it opens a copy a question names (must_exist).
  static caf::error never_made(const journal_log& log, const copy_spec& spec);

  ~copy_file();
  copy_file(const copy_file&) = delete;
  copy_file& operator=(const copy_file&) = delete;

  /// The protocol's decision for a fragment of (key, gen) at `fpos` with `n`
  /// source bytes; `ack` is the sender's ack flag (gaps are only written
  /// without it).
  decision decide(const source_key& key, const std::string& gen, uint64_t fpos,
                  uint64_t n, bool ack) const;

  /// Writes `raw` (source bytes, the overlap already cut off) as decided.
  /// `member`, when not empty, is the same bytes as one complete compressed
  /// stream in `member_comp` (what was received): a compressed copy in that
  /// compression appends it as is instead of compressing again. Returns the
  /// bytes appended to the copy file.
  caf::expected<uint64_t> append(const source_key& key, const std::string& gen,
                                 const decision& d, std::string_view raw,
                                 std::string_view member,
                                 wire::compression member_comp, clock::time_point now);

  /// Starts a segment of (key, gen) at `src_base` without writing bytes
  /// (a refused fragment leaves a hole the sender will not fill).
  caf::error skip_to(const source_key& key, const std::string& gen,
                     uint64_t src_base);

  /// Ends the open compressed member (recompress copies), so its bytes become
  /// durable at the next sync.
  caf::error finish_member();

  /// fdatasync's the data (and the journal for compressed copies) when
  /// something changed; afterwards durable_end is current for every segment.
  caf::error sync();

  /// Plain copies: whether begin_sync has something to start (written
  /// since the last sync began, and no sync of this copy in flight).
  bool can_begin_sync() const {
    return out_ == wire::compression::none && dirty_ && !sync_in_flight_;
  }
  /// Starts an fdatasync for another thread (plain copies, can_begin_sync):
  /// the bytes written so far become durable when end_sync is called with
  /// its result. Nothing else may sync this copy's data meanwhile but sync().
  caf::expected<sync_ticket> begin_sync();
  /// The fdatasync of `t` returned `err`: on success the segments it covered
  /// are durable up to their marks (durable_end never moves back); on error
  /// the bytes count as unsynced again. Returns a journal compaction error.
  /// `own_call`: an fdatasync of this copy's (counted), not a sync of its
  /// whole file system (run_sync_jobs' fs_sync).
  caf::error end_sync(const sync_ticket& t, const caf::error& err, bool own_call = true);
  bool sync_in_flight() const { return sync_in_flight_; }

  /// finish_member + sync + close descriptors. Idempotent.
  caf::error close();
  /// Closes a plain copy whose last bytes a sync_ticket in flight makes
  /// durable: no sync here, and its closing lines are the caller's once
  /// that sync is back: returned, the partial block's digest line (sealed;
  /// "" when there is none), to be appended with closed_clean_line in one
  /// write (until then a reopen syncs what it finds, and digests that block
  /// from the copy when it is next used).
  std::string close_unsynced();
  /// The C line of a copy closed at `size`, sealed, for close_unsynced's
  /// caller to append to its journal once the copy's sync is back.
  static std::string closed_clean_line(uint64_t size);

  /// Whether sync() has something to make durable.
  bool needs_sync() const;
  /// fdatasync calls made since the last call (for the fsyncs counter).
  int64_t take_fsyncs();
  /// The errno of the last failed write of the copy or its journal (ENOSPC,
  /// EIO, EDQUOT, EROFS, EFBIG...), 0 when none failed.
  int last_write_errno() const { return last_write_errno_; }
  /// Changes behind the writer's back found since the last call (for the
  /// copy_changed counter; one per change adopted).
  int64_t take_changed();

  // -- the copy as the authority (docs/wire.md §6.1) ---------------------------

  /// Measures the copy file (fstat) against what the writer holds. Another
  /// size means the copy was changed behind the writer's back: logged and
  /// counted once (an episode ends when the change is adopted), and
  /// adopted: a plain copy's last segment follows the size (segments that
  /// start beyond it are gone); a compressed copy, with its open member
  /// dropped, is recovered from the journal to the last member end within
  /// the size. Returns whether the size differed.
  caf::expected<bool> measure();

  /// Plain copies: the first source offset in [from, from + bytes.size()) of
  /// `seg` where the copy's bytes differ from `bytes` (a copy that ends
  /// before differs where it ends); from + bytes.size() when all are equal.
  caf::expected<uint64_t> first_difference(const segment& seg, uint64_t from,
                                           std::string_view bytes) const;
  /// Plain copies: writes `bytes` over source offsets [from, from + size) of
  /// `seg`, which must hold them; the touched blocks are digested again and
  /// journaled, and the segment is durable only up to `from` until the next
  /// sync.
  caf::error overwrite(const segment& seg, uint64_t from, std::string_view bytes);
  /// Plain copies: the last segment, and so the copy, end at source offset
  /// `at` (src_base <= at <= src_end).
  caf::error cut(uint64_t at);
  /// XXH3-64 of the source range [from, to) of `seg` (within it): read from
  /// a plain copy; for a compressed copy known only for a whole block of the
  /// journal or the block being written (errc::unavailable otherwise).
  caf::expected<uint64_t> digest(const segment& seg, uint64_t from, uint64_t to) const;
  /// Bumped by every rewrite in place (overwrite, cut, an adopted change):
  /// a sync_ticket from before makes nothing durable.
  uint64_t rewrites() const { return rewrite_epoch_; }
  /// How often the digest of the block being written was rebuilt from the
  /// copy (read back, decompressed for a compressed copy, hashed): once after
  /// a reopen, a cut or a rewrite of that block, and only when the hasher is
  /// used next (an append, a partial block's P line, a compressed copy's
  /// digest of it, compaction), never for a reopen that writes nothing.
  uint64_t hasher_rebuilds() const { return hasher_rebuilds_; }

  /// The last segment of (key, gen), or nullptr.
  const segment* find(const source_key& key, const std::string& gen) const;

  const std::string& path() const { return path_; }
  /// The copy's id in the journal log, `<hex>` or `<hex>-<n>` (the stem of
  /// the journal file name of builds before session 18).
  const std::string& journal_file() const { return journal_name_; }
  const std::string& identity() const { return identity_; }
  wire::compression out() const { return out_; }
  uint64_t size() const { return size_; }
  const std::vector<segment>& segments() const { return segments_; }
  bool member_open() const { return member_open_; }
  clock::time_point last_write() const { return last_write_; }
  clock::time_point member_opened() const { return member_opened_; }
  /// Journal lines written since it was opened or compacted.
  size_t journal_lines() const { return journal_lines_; }

  // -- group commit (copy_spec::defer_sync) ------------------------------------
  /// Created with defer_sync: nothing of it is synced until committed().
  bool awaiting_commit() const { return awaiting_commit_; }
  /// What its journal holds so far (held until write_held_journal()).
  const std::string& creation_text() const { return creation_text_; }
  /// Whether its name is new in its directory (that directory's fsync is
  /// the commit round's), not a file that was there before.
  bool created_name() const { return created_name_; }
  /// Its commit round is back: its journal's lines so far are durable;
  /// later ones are synced as for any copy.
  void committed();
  /// A new copy's first journal lines (H, O, its first S) are kept in
  /// creation_text() until this writes them to its journal in one write
  /// (its worker, once the S line is there; close() at the latest).
  caf::error write_held_journal();

private:
  copy_file() = default;

  /// Finds this copy's journal in the log by identity (true, its text in
  /// `text`), or the free id a new one gets (false).
  caf::expected<bool> find_journal(const copy_spec& spec, std::string& text);
  /// Opens and recovers the copy an existing journal names; false when the
  /// name belongs to another generation (then a new copy is named).
  caf::expected<bool> open_existing(const copy_spec& spec, const std::string& text);
  /// Names and creates a new copy and its journal.
  caf::error create(const copy_spec& spec, std::time_t now);
  /// create() failed: the new journal goes (an empty batch).
  void drop_new_journal();
  caf::error recover(const std::string& text);
  caf::error recover_plain(const journal_text& parsed, uint64_t actual,
                           bool& rewrite);
  caf::error recover_compressed(const journal_text& parsed,
                                uint64_t actual, bool& rewrite);
  /// After recovery: a clean close's size and the last complete block of a
  /// plain copy checked against the file.
  void check_recovered(const journal_text& parsed, uint64_t actual);
  /// Recovers again from the journal (a compressed copy that changed).
  caf::error reload();
  void adopt_plain_size(uint64_t actual);
  void note_changed(const std::string& what);
  /// Feeds source bytes written at `at` to the end of the last segment into
  /// the block hasher; completed blocks are kept and journaled.
  void hash_written(uint64_t at, std::string_view raw);
  /// The block hasher, rebuilt first when stale (rebuild_hasher): every
  /// use of it goes through here (or restarts it at a segment's start).
  block_hasher& hasher() const;
  /// The block being written at the end of the last segment, digested
  /// again from the copy (plain: read; compressed: decompressed from the
  /// member boundary restart_src_) into `h`. Invalid (and logged) when it
  /// cannot be. Only through hasher(), when stale.
  void rebuild_hasher(block_hasher& h) const;
  caf::expected<std::string> read_copy(uint64_t offset, uint64_t len) const;
  caf::expected<std::string> read_source(const segment& seg, uint64_t from,
                                         uint64_t to) const;
  /// Digests again the blocks of segment `index` that overlap [from, to).
  void rehash(size_t index, uint64_t from, uint64_t to);
  void journal_digest(const segment& seg, uint64_t to, uint64_t digest);
  /// The journal ends with a C line: say the copy is written again first
  /// (an A line; `sync_now` false: a segment's start syncs it before the
  /// copy changes).
  caf::error reopen_for_writing(bool sync_now = true);
  void drop_digests_beyond(segment& seg);
  caf::error start_segment(const source_key& key, const std::string& gen,
                           uint64_t src_base);
  caf::error write_copy(std::string_view bytes);
  caf::error append_journal(std::string line);
  /// Sealed journal lines, written as the copy's records in the log (the
  /// first write after create() replaces what the id had there). Not
  /// synced.
  caf::error journal_write(const std::string& lines);
  /// fdatasync of the journal (the worker's log).
  caf::error journal_sync();
  /// Lets go of the journal (nothing more is written to it).
  void journal_let_go();
  /// Whether another id in the log has claimed the copy at path_ (read
  /// only when a crash left a rotated name unclaimed).
  bool claimed_elsewhere() const;
  caf::error compact_journal();
  /// More S and M lines than compact_after, and than the digest lines the
  /// last compaction copied (a long copy's digests are not rewritten often).
  bool compaction_due() const;
  /// The lines compaction writes for segment `i` (`lines`: S and M lines).
  std::string compacted_segment(size_t i, size_t& lines) const;
  /// The P and C lines of a clean close (unless the journal ends with a
  /// true one already).
  caf::error journal_close();
  caf::error journal_checkpoint();
  caf::error datasync(int fd, const char* what);
  void roll_back_member();
  /// The open member (or the member just written) ended at the copy's end.
  void member_ended();
  /// Keeps and journals the last segment's partial last block (P line)
  /// when the hasher holds it.
  void keep_partial_block();
  /// keep_partial_block() without the write: the D line ("" when none),
  /// the digest kept in the segment.
  std::string partial_block_line();
  void trim_segments();
  std::string header_line() const;

  /// The copy's descriptor becomes fd_ (shared with sync tickets), or is
  /// let go of (closed when no ticket holds it).
  void own_fd(int fd);
  void drop_fd();

  copy_options opts_;
  int dstdir_fd_ = -1;
  int fd_ = -1;
  std::shared_ptr<unique_fd> fd_owner_; // owns fd_
  std::string identity_;
  std::string journal_name_;
  std::string path_;
  wire::compression out_ = wire::compression::none;
  write_mode mode_ = write_mode::plain;
  uint64_t size_ = 0;
  std::optional<uint64_t> dev_; // st_dev, from the last fstat of fd_
  std::vector<segment> segments_;
  bool dirty_ = false;
  bool sync_in_flight_ = false; // a begin_sync without its end_sync yet
  uint64_t dropped_to_ = 0;      // pages below were handed to a sync to drop
  // Compressed copies: the member end (src_end, copy size) not yet journaled.
  bool pending_checkpoint_ = false;
  uint64_t pending_src_end_ = 0;
  uint64_t pending_copy_size_ = 0;
  // Compressed copies: the last member end of the last segment (journaled or
  // pending); a failed write rolls back to it.
  uint64_t member_end_src_ = 0;
  uint64_t member_end_copy_ = 0;
  // Compressed copies: the copy size at the last journaled boundary.
  uint64_t durable_copy_end_ = 0;
  int64_t fsyncs_ = 0;
  int last_write_errno_ = 0;
  // recompress copies: the open member.
  std::unique_ptr<wire::stream_compressor> compressor_;
  bool member_open_ = false;
  uint64_t member_src_bytes_ = 0;
  clock::time_point member_opened_{};
  clock::time_point last_write_{};
  size_t journal_lines_ = 0;
  std::string scratch_;
  // Digests: the block being written at the end of the last segment, and
  // (compressed copies) a member boundary of that segment at or before the
  // block's start, from which its bytes can be decompressed again.
  // Stale after a reopen, a cut, a rewrite of that block or an adopted
  // change (mark_stale); rebuilt by hasher() when next used. The copy is not
  // appended to while it is stale (write_copy asks for it first), so the
  // rebuild reads what the eager one would have.
  mutable lazy_block_hasher hasher_;
  mutable uint64_t hasher_rebuilds_ = 0;
  uint64_t restart_src_ = 0;
  uint64_t restart_copy_ = 0;
  uint64_t rewrite_epoch_ = 0;
  size_t compacted_digests_ = 0; // D and P lines the last compaction wrote
  int64_t changed_ = 0;
  bool changed_logged_ = false; // the change being adopted was said
  clock::time_point changed_said_{}; // the last line about a change
  int64_t changed_unsaid_ = 0;       // changes not said since
  bool closed_clean_ = false;   // the journal ends with a C line (of this size)
  bool awaiting_commit_ = false;  // see awaiting_commit()
  std::string creation_text_;     // the journal's lines while awaiting it
  bool created_name_ = false;     // see created_name()
  bool hold_journal_ = false;     // see write_held_journal()
  bool log_open_ = false;         // the journal is open (written to)
  bool log_fresh_ = false;        // its next write replaces the id's records
  bool log_damaged_ = false;      // the log read a bad record of it: rewrite
};

/// Whether `err`, from copy_file::open with must_exist, says the journal's
/// copy file is gone (rather than that there is no copy).
bool copy_missing(const caf::error& err);

/// The copy a journal names (journal_headers(), journal_log.hpp).
struct journal_header {
  std::string identity;
  std::string path; // relative to dstdir
};

// -- journal line codec (exposed for tests) -----------------------------------

/// Percent-escapes everything but [A-Za-z0-9._/:@+-]; prefixed with '=' so an
/// empty string is "=".
std::string journal_escape(std::string_view text);
/// journal_escape(text) appended to `out`.
void append_journal_escaped(std::string& out, std::string_view text);
/// Inverse of journal_escape; nullopt-like empty expected on malformed input.
caf::expected<std::string> journal_unescape(std::string_view text);

} // namespace cc::tw
