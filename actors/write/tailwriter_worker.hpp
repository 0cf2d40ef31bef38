// A tailwriter worker: writes the fragments of the copies hashed to it
// (SPEC §8, §9). Runs detached (writes block), so workers write in
// parallel; a copy is only ever written by one worker.
//
// Owns: its open copies (copy_file, at most max_open_copies, least recently
// used closed first), the ack bookkeeping per (source key, generation), the
// grouping of fdatasync over sync-interval (sooner once sync-bytes were
// written), the index of its rotated copies by source key (copy_index.hpp,
// built at its first question), its commit log and the fragments held
// until a commit round made their new copies durable (group commit,
// commit_log.hpp, tailwriter_commit.cpp). The
// fdatasyncs of plain copies (also of a copy closed with unsynced bytes,
// whose acks ride on that sync) and the commit rounds run as jobs of the
// process's sync thread
// (base/sync_thread.hpp, one for all workers and the tailers' .save
// writes), so the worker goes on writing (and the bytes stay visible in the
// copy within a millisecond) while the disk flushes. Compressed copies journal each
// member end after its data is synced and are synced by the worker itself.
// Takes:  (dispatch_atom, fragment_ptr): a fragment is written, skipped,
//         compared with the copy where they overlap (plain copies: bytes
//         that differ are rewritten, docs/wire.md §6.1), or refused; a
//         repair (`repair`) overwrites in place; a question (`query`) is
//         answered from the copy after every fragment handled before it
//         (tailwriter_questions.cpp). No answer to the tailwriter: the
//         receipt it attached to the fragment's message counts it done when
//         the worker lets go of it. A fragment of a data connection (up to
//         inline_max_bytes) may instead be handled on the I/O loop's thread under the core's
//         lock (write_inline, worker_inline below): the steps after it
//         (sync timer, commit round) are then started from there;
//         (sync_due_atom, internal) its own sync timer; (synced_atom,
//         internal, sync_batch_ptr) its batch back from the sync thread;
//         (committed_atom, internal, commit_round_ptr) its commit round
//         back; (flush_atom) its own check of open
//         compressed members; (maint_atom) its own maintenance timer;
//         exit_msg: finish members, sync, acknowledge, close.
// Sends:  router <- (reply_atom, cc_message "logtail.ack") along the
//         fragment's route, for senders that set `ack`, with the writer's
//         instance id (straight to the sender's data connection instead
//         when one is open: actors/core/direct_lanes.hpp);
//         router <- (reply_atom, cc_message "logtail.state") along a
//         question's route, one per question;
//         sync thread <- a job: run_sync_jobs on the batch, then the
//         batch back to the worker: one batch at a time per worker; and
//         a job running a commit round: one at a time per worker.
#pragma once

#include <atomic>
#include <chrono>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/error.hpp>

#include "actors/core/direct_lanes.hpp"
#include "actors/core/router_actor.hpp"
#include "actors/core/atoms.hpp"
#include "actors/core/router.hpp"
#include "actors/write/commit_log.hpp"
#include "actors/write/journal_log.hpp"
#include "actors/write/copy_index.hpp"
#include "actors/write/copy_stats.hpp"
#include "actors/write/copy_writer.hpp"
#include "actors/write/source_owner.hpp"
#include "base/logger.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

namespace cc {
class sync_thread;
struct room_meter;
} // namespace cc

namespace cc::tw {

/// A parsed, checked pub.logtail message on its way to a worker. The handler
/// parses the body once; the worker decodes and decompresses the payload.
struct fragment {
  wire::cc_message msg;     // route (for the ack), blob
  wire::logtail_body body;
  std::string dest_base;    // normalised copy path without suffix/extension
  caf::error dest_error;    // set when the destination is refused
};

using fragment_ptr = std::shared_ptr<const fragment>;

/// The counters of one tailwriter, shared by its handler and workers.
struct writer_counters {
  std::atomic<int64_t> fragments{0};
  std::atomic<int64_t> bytes_written{0};
  std::atomic<int64_t> duplicates{0};
  std::atomic<int64_t> duplicate_bytes{0};
  std::atomic<int64_t> gaps{0};
  std::atomic<int64_t> gap_bytes{0};
  std::atomic<int64_t> refused_paths{0};
  std::atomic<int64_t> invalid{0};
  std::atomic<int64_t> too_large{0};
  std::atomic<int64_t> open_files{0};
  std::atomic<int64_t> acks_sent{0};
  std::atomic<int64_t> fsyncs{0};
  std::atomic<int64_t> syncfs_rounds{0}; // sync rounds made durable by one syncfs
  std::atomic<int64_t> syncfs_copies{0}; // copies those rounds made durable
  std::atomic<int64_t> open_files_evicted{0}; // closed early: max-open-files
  std::atomic<int64_t> queries{0};        // questions answered (logtail.state)
  std::atomic<int64_t> repaired_bytes{0}; // copy bytes rewritten or cut to match the source
  std::atomic<int64_t> copy_changed{0};   // copies found changed behind the writer's back
  std::atomic<int64_t> diverged{0};       // fragments whose overlap differed from the copy
  std::atomic<int64_t> sources_denied{0}; // fragments and questions of a source
                                          // that does not own the copy
  std::atomic<int64_t> written_inline{0}; // small fragments written by the I/O
                                          // loop itself (worker_inline)
  /// Per copy (by destination path under dstdir, without suffix and
  /// extension): bytes, last write, failed opens, writes and syncs.
  copy_stats copies;

  counters snapshot() const;
};

using counters_ptr = std::shared_ptr<writer_counters>;

struct worker_options {
  copy_options copy;
  std::string dstdir;     // absolute; created if missing
  std::string state_dir;  // absolute; created if missing (0700)
  uint64_t max_fragment_bytes = 64ull << 20;
  std::chrono::milliseconds sync_interval{20};
  /// A sync starts before sync_interval once this many bytes were written
  /// since the last one began (0: only the interval). A bulk stream is then
  /// acknowledged as fast as the disk syncs, not once per interval: its
  /// sender's ack-window no longer waits on the timer.
  uint64_t sync_bytes = 4ull << 20;
  /// A sync round with at least this many copies on the destination's file
  /// system makes them durable with one sync_file_system (syncfs) instead of
  /// one fdatasync each (0: never). Many small copies cost far less that way
  /// (bench/PROFILE.md, "Session 18: one sync for many copies").
  size_t syncfs_batch = 8;
  std::chrono::milliseconds maint_period{3000};
  /// A member (recompress) open or idle this long is finished at maintenance.
  std::chrono::milliseconds flush_idle{3000};
  /// recompress copies written by a sender that waits for acks: the open
  /// member is finished (so its bytes can be acknowledged) once no fragment
  /// came for ack_flush_idle, or it is ack_member_age old. Bounds the ack
  /// latency a tailer sees; quiet sources get smaller members.
  std::chrono::milliseconds ack_flush_idle{250};
  std::chrono::milliseconds ack_member_age{2000};
  /// How often open members are looked at for the two rules above.
  std::chrono::milliseconds member_check{100};
  /// A copy idle this long is closed at maintenance.
  std::chrono::milliseconds close_idle{30000};
  /// The per-copy events (a copy opened, closed, a destination claimed by a
  /// source) are debug lines; at info one line says how many of each there
  /// were, at most this often (at maintenance) and at close_all.
  std::chrono::milliseconds summary_period{60000};
  /// Open copies (max-open-files / 2 shared out: each holds the copy's and
  /// the journal's descriptor).
  size_t max_open_copies = 100;
  std::string hostname;   // the writer's, sent in acks
  /// The tailwriter's instance id (16 hex digits, new at each start), in
  /// every logtail.ack and logtail.state.
  std::string writer_id;
  std::string who = "tailwriter.worker"; // for log lines
  /// Set by the worker actor: plain copies are synced on the sync thread
  /// (start_sync / finish_sync), so maintain() and flush_members() leave
  /// them to the next sync tick instead of syncing them on the spot.
  bool sync_off_thread = false;
  /// Set by the worker actor: a new copy's journal lines and directory
  /// entries are made durable by a commit round on the sync thread
  /// (start_commit / finish_commit) while the worker goes on, its
  /// fragments held until then; otherwise the round runs at once, here.
  bool group_commit = false;
  /// The journal log is compacted once it is larger than this and more
  /// than twice what its live records need.
  uint64_t journal_log_compact_bytes = 16ull << 20;
  /// Names this worker's commit log (commit_log.hpp): the tailwriter's
  /// section and the worker's index in it.
  std::string section;
  size_t index = 0;
};

/// One copy's fdatasync, run on the sync thread.
struct sync_job {
  std::string identity;    // the copy's
  uint64_t serial = 0;     // which opening of it (a copy closed and opened
                           // again is another)
  copy_file::sync_ticket ticket;
  caf::error err;          // the fdatasync's result, set by run_sync_jobs
  /// A copy closed (max-open-files, idle) with bytes not yet synced: the
  /// acks its senders are owed once this sync is back.
  struct owed_ack {
    std::vector<std::string> route;
    source_key key;
    std::string gen;
    uint64_t fpos = 0;
  };
  std::vector<owed_ack> owed;
  /// Its journal (its id in the journal log) and size then: the C line
  /// written once it is synced, after `closing` (close_unsynced's lines).
  std::string journal;
  uint64_t closed_size = 0;
  std::string closing;
  /// Made durable by its batch's syncfs (fs_sync), not by an fdatasync of
  /// its own; set by run_sync_jobs.
  bool by_syncfs = false;

  /// A job for `ticket` of the copy `identity` (opening `serial`), the rest
  /// as yet empty.
  static sync_job of(std::string identity, uint64_t serial, copy_file::sync_ticket ticket) {
    sync_job job;
    job.identity = std::move(identity);
    job.serial = serial;
    job.ticket = std::move(ticket);
    return job;
  }
};

using sync_batch = std::vector<sync_job>;
using sync_batch_ptr = std::shared_ptr<sync_batch>;
using commit_round_ptr = std::shared_ptr<commit_round>;

/// How a worker makes many copies durable at once: one sync_file_system of
/// the destination's file system. The descriptor is the worker's own,
/// opened on dstdir before any copy: syncfs reports every writeback error
/// of that file system since then, so none of a copy's can slip past it.
struct fs_sync {
  unique_fd fd;
  dev_t dev = 0;          // that file system
  size_t min_copies = 0;  // worker_options::syncfs_batch; 0: never
};

/// Makes each job's copy durable and records the result; closes their
/// descriptors. With `fs` and at least fs->min_copies jobs on its file
/// system: one sync_file_system for those (by_syncfs), an fdatasync for each
/// other one; a failed syncfs (an error anywhere on that file system) falls
/// back to an fdatasync per job, which tells whose copy it was.
void run_sync_jobs(sync_batch& batch, const fs_sync* fs = nullptr);

/// The worker's logic without an actor around it: unit-testable, and the
/// actor below only feeds it messages and timer ticks. Acks to send are
/// appended to `out`.
class worker_core {
public:
  using clock = std::chrono::steady_clock;
  using outbox = std::vector<wire::cc_message>;

  worker_core(worker_options opts, counters_ptr counters);
  /// Closes every copy (members finished, synced) without acknowledging.
  ~worker_core();
  worker_core(const worker_core&) = delete;
  worker_core& operator=(const worker_core&) = delete;

  /// Creates dstdir and the state directory if needed and opens them.
  caf::error init();

  /// Writes, skips or refuses one fragment (protocol in docs/wire.md). The
  /// first fragment of a new copy (and what follows it for that copy) is
  /// held until the copy's commit round is back.
  void handle(const fragment_ptr& f, clock::time_point now, outbox& out);
  void handle(const fragment& f, clock::time_point now, outbox& out);

  /// Group commit: whether a commit round should start now (new copies
  /// wait for one, none is in flight).
  bool commit_due() const;
  /// The round for the new copies so far, for run_commit_round.
  commit_round_ptr start_commit();
  /// A round came back: its copies may be written; what was held for them
  /// is handled now (in the order it came).
  void finish_commit(commit_round& round, clock::time_point now, outbox& out);
  /// Fragments and questions held for a commit round.
  size_t held() const { return held_.size(); }
  /// Whether handle(f) is a plain append to a copy that is open, not
  /// waiting for a round and not blocked, with nothing held: cheap enough
  /// for the I/O loop's thread (worker_inline).
  bool cheap(const fragment& f) const;
  /// Shutdown: what waits for a round (one may be on the sync thread, its
  /// answer will not be read) is made durable here and handled now.
  void commit_at_exit(clock::time_point now, outbox& out);

  /// Whether sync() has data to make durable or acks to send.
  bool needs_sync() const;

  /// Whether sync_bytes were written since the last sync began: the next
  /// one need not wait for sync_interval.
  bool sync_early() const {
    return opts_.sync_bytes > 0 && written_since_sync_ >= opts_.sync_bytes;
  }

  /// fdatasync's every changed copy, then acks every key that asked.
  void sync(outbox& out);

  /// The off-thread form of sync(): syncs the compressed copies here, and
  /// returns the plain copies' fdatasyncs for the sync thread (run_sync_jobs);
  /// answers the keys whose copy waits for nothing. One batch at a time.
  sync_batch_ptr start_sync(outbox& out);
  /// A batch came back: what it synced is durable; acks the keys waiting.
  void finish_sync(sync_batch& batch, outbox& out);
  /// How start_sync's batches may be made durable at once (run_sync_jobs);
  /// null before init() or when the file system could not be opened.
  std::shared_ptr<const fs_sync> fs_sync_plan() const { return fs_sync_; }

  /// Finishes idle members, syncs, closes copies idle for close_idle.
  void maintain(clock::time_point now, outbox& out);

  /// Copies that could not be written (disk full, an I/O error): whether
  /// any is waiting, and the invitation of their senders to send again once
  /// the cause looks gone (room on the file system, writable again; other
  /// causes: every time). Called every retry_blocked_every while blocked().
  bool blocked() const { return !blocked_.empty(); }
  void retry_blocked(clock::time_point now, outbox& out);
  static constexpr std::chrono::milliseconds retry_blocked_every{500};

  /// Finishes the open members due by the ack_flush_idle / ack_member_age /
  /// flush_idle rules, then syncs. Called every member_check while
  /// has_open_members().
  void flush_members(clock::time_point now, outbox& out);

  /// Whether a recompress copy has an open member.
  bool has_open_members() const;

  /// Finishes, syncs, acknowledges and closes every copy.
  void close_all(outbox& out);

  size_t open_copies() const { return copies_.size(); }
  /// Test hook: the write(2) calls of this worker's journal log so far.
  uint64_t journal_writes() const { return jlog_ ? jlog_->writes() : 0; }
  const worker_options& options() const { return opts_; }

private:
  struct ack_key {
    source_key key;
    std::string gen;
    bool operator<(const ack_key& other) const;
    bool operator==(const ack_key& other) const;
  };
  struct ack_key_hash {
    size_t operator()(const ack_key& k) const;
  };
  struct ack_entry {
    std::vector<std::string> route;
    std::string identity; // the copy holding this (key, gen)
    uint64_t acked = 0;
    bool any_sent = false;
    bool forced = false;  // a duplicate or gap must be answered
    bool gap = false;
  };
  /// A fragment's payload: as received, and as source bytes (`raw`; views
  /// into the message's blob, `storage` or `inflated`).
  struct payload {
    std::string storage;
    std::string inflated;
    std::string_view raw;
    std::string_view member;
    wire::compression comp = wire::compression::none;
  };
  /// A fragment or question that waits for commit round `round`.
  void release_through(uint64_t number, clock::time_point now, outbox& out);
  struct held_fragment {
    fragment_ptr f;
    uint64_t round = 0;
    bool started = false; // its segment was started (and its copy created) for it
  };
  struct open_copy {
    std::unique_ptr<copy_file> file;
    clock::time_point last_use;
    bool ack_sender = false; // a fragment with `ack` went into it
    uint64_t serial = 0;     // distinguishes reopenings of one identity
    std::string dest_base = {};  // spec.base_path: its copy_stats entry
    /// Its place in lru_ (least recently used first).
    std::list<const std::string*>::iterator lru = {};
    /// Opened for the question being answered: not closed for another
    /// copy of that answer (the bound is exceeded for its length instead).
    bool pinned = false;
  };
  /// The open copies by identity. Hashed: looked up several times per
  /// fragment among up to max-open-files identities that share long
  /// prefixes; a loop over it whose order shows (acks sent, copies closed)
  /// walks its identities sorted instead (sorted_identities).
  using copy_map = std::unordered_map<std::string, open_copy>;

  /// Syncs the copies `which` selects here and now; a failed one is closed
  /// and its state forgotten (nothing acknowledged).
  void sync_here(bool plain_too, outbox& out);
  /// cf.sync() here and now, counted; false (logged) when it failed.
  bool sync_in_place(copy_file& cf);
  void note_sync_failure(const copy_file& cf, const caf::error& err);
  /// Closes a copy whose sync failed, forgetting its acks.
  void drop_failed(const std::string& identity);
  /// Answers the waiting keys whose copy has nothing unsynced or in flight.
  void ack_ready(outbox& out);

  /// Finishes the members the rules select; true if it finished any.
  bool finish_due_members(clock::time_point now);

  /// The payload's source bytes; false (answered, counted) when refused.
  bool decode(const fragment& f, const source_key& key, clock::time_point now,
              outbox& out, payload& p);
  /// handle() once nothing holds the fragment back.
  void take(const fragment_ptr& fp, bool started, clock::time_point now, outbox& out);
  /// Holds `fp` until commit round `round` is back; true when it was held
  /// (its copy or destination waits for a round).
  bool hold_if_waiting(const fragment_ptr& fp, const std::string& identity);
  /// A new copy (or a destination claimed through the commit log) waits for
  /// the next round; its segment is started now for a new copy.
  void await_commit(const fragment_ptr& fp, copy_file& cf, const source_key& key,
                    bool created);
  /// Whether the copy may be closed now (not waiting for a round, not
  /// pinned by a question).
  bool evictable(const std::string& identity) const;
  void write(const fragment& f, copy_file& cf, const source_key& key, payload& p,
             ack_entry* entry, clock::time_point now, outbox& out, bool started = false);
  void append(const fragment& f, copy_file& cf, const source_key& key, payload& p,
              const decision& d, ack_entry* entry, bool unseen_gen,
              clock::time_point now, outbox& out);
  /// Plain copies: compares the bytes of a duplicate or overlap with the
  /// copy's; where they differ the copy is cut back (its last segment) or
  /// rewritten in place (another), and the decision taken again.
  decision compare_overlap(const fragment& f, copy_file& cf, const source_key& key,
                           std::string_view raw, decision d);
  /// A repair fragment (docs/wire.md §6.1); false when the copy holds nothing
  /// of its segment (then it is an ordinary fragment).
  bool repair(const fragment& f, copy_file& cf, const source_key& key,
              std::string_view raw, ack_entry* entry, clock::time_point now,
              outbox& out);
  /// After a rewrite, cut or adopted change: the next acks of the copy's
  /// keys name what it holds, even below what was acknowledged before.
  void rewind_acks(const std::string& identity);

  // Questions (tailwriter_questions.cpp).
  void answer(const fragment& f, clock::time_point now, outbox& out);
  void answer_state(const fragment& f, const source_key& key, clock::time_point now,
                    outbox& out, wire::logtail_state_body& a);
  void answer_digest(const fragment& f, const source_key& key, clock::time_point now,
                     outbox& out, wire::logtail_state_body& a);
  /// The copies holding `key` (classic: the destination's; rotated: from the
  /// index, of generation `gen` only when given), opened without creating
  /// anything, measured and synced; oldest first. None: `a` says why.
  std::vector<copy_file*> copies_holding(const fragment& f, const source_key& key,
                                         const std::string* gen, clock::time_point now,
                                         outbox& out, wire::logtail_state_body& a);
  /// Measures, finishes the member and syncs an open copy before it
  /// answers; false (dropped) when its sync failed.
  bool settle(const std::string& identity);
  /// The question is answered: its copies may be closed again.
  void unpin(const std::vector<std::string>& identities);

  /// The copy's compression for a payload of `comp` (the write mode's).
  wire::compression copy_out(wire::compression comp) const;
  copy_spec spec_for(const fragment& f, const source_key& key,
                     wire::compression comp) const;
  /// The open copy of `spec`, opened (or created) if need be. `touch`:
  /// counts as a use (a question does not keep an idle copy open).
  caf::expected<copy_file*> copy_for(const copy_spec& spec, clock::time_point now,
                                     outbox& out, bool touch = true);
  void evict(const std::string& identity, outbox& out);
  /// evict() of a plain copy with unsynced bytes while syncs run off the
  /// thread: its fdatasync joins the next batch instead of running here,
  /// with the acks it owes; false when it cannot (then evict syncs here).
  bool evict_unsynced(copy_map::iterator c);
  /// Copies closed unsynced, synced since: their journals' closing and C
  /// lines, one write for all (each: its journal id, its lines).
  void close_clean(const std::vector<std::pair<std::string, std::string>>& closes);
  /// Forgets an open copy (its descriptors closed by the caller).
  void forget(copy_map::iterator c);
  /// The open copies' identities in order (what std::map's walk gave).
  std::vector<std::string> sorted_identities() const;
  void ack_due(const ack_key& k, ack_entry& e, outbox& out);
  /// Acknowledges the durable start of a generation new to `cf` at once.
  void confirm_start(const copy_file& cf, const source_key& key,
                     const std::string& gen, ack_entry& e, outbox& out);
  void refuse(const fragment& f, const source_key& key, uint64_t end,
              outbox& out);
  void leave_hole(const fragment& f, const source_key& key,
                  wire::compression comp, clock::time_point now, outbox& out);
  void note_refusal(const source_key& key, const std::string& why);
  /// Adds the copy's fsyncs and copy_changed episodes to the counters.
  void collect(copy_file& cf);
  /// The header of a reply this worker sends (logtail.ack, logtail.state).
  wire::header reply_header(const char* type) const;
  wire::cc_message make_ack(const std::vector<std::string>& route,
                            const source_key& key, const std::string& gen,
                            uint64_t fpos, std::string_view status,
                            const std::string& detail = {});
  /// One copy per source: whether the fragment's `source` may write its
  /// destination; a first source with an id claims it (`may_claim`: not for
  /// questions). `why` says why not.
  bool admit_source(const fragment& f, const source_key& key, bool may_claim,
                    std::string& why);

  worker_options opts_;
  counters_ptr counters_;
  log_limiter evict_log_{std::chrono::minutes{1}, 4}; // max-open-files lines
  /// Per-copy events since the last summary line (copy_summary()).
  struct copy_events {
    uint64_t created = 0;  // copies whose file this worker created
    uint64_t reopened = 0; // opened again (evicted, idle, a restart)
    uint64_t closed = 0;
    uint64_t claimed = 0;  // destinations claimed by a source
    bool any() const { return created + reopened + closed + claimed > 0; }
  };
  copy_events events_;
  std::optional<clock::time_point> events_since_;
  /// The info line with events_'s counts, once summary_period has passed
  /// since the first event counted (or now, `force`).
  void copy_summary(clock::time_point now, bool force);
  int dstdir_fd_ = -1;
  std::shared_ptr<const fs_sync> fs_sync_;
  int state_fd_ = -1;
  copy_map copies_;    // by copy identity
  /// The open copies' identities (keys of copies_), least recently used
  /// first: the copy max-open-files closes is found without a walk.
  std::list<const std::string*> lru_;
  /// Copies closed while their fdatasync ran on the sync thread: each keeps
  /// its copy's descriptor open until its batch is back (max-open-files
  /// counts them).
  size_t lingering_ = 0;
  std::unordered_map<ack_key, ack_entry, ack_key_hash> acks_;
  /// acks_'s keys by the copy holding them: closing a copy touches its own.
  std::unordered_map<std::string, std::set<ack_key>> keys_of_;
  /// Binds an ack entry to its copy (keys_of_).
  void bind_key(const ack_key& k, ack_entry& e, const std::string& identity);
  /// Forgets the ack entries of a copy (closed or dropped); `ack` sends
  /// what is due first.
  void drop_keys(const std::string& identity, bool ack, outbox& out);
  // Group commit (commit_log.hpp).
  std::unique_ptr<commit_log> commits_;
  /// The journal log (journal_log.hpp: the copies' journals as records;
  /// the tailwriter merged every log and legacy journal into it before the
  /// workers started); opts_.copy.log points to it.
  std::unique_ptr<journal_log> jlog_;
  /// Compacts the journal log when it is due (after a sync or a round).
  void compact_journal_log();
  bool commit_in_flight_ = false;
  /// Copies waiting for a round (by identity), and the round; and their
  /// destinations (a question about one waits too).
  struct waiting_copy {
    uint64_t round = 0;
    std::string dest_base;
  };
  std::unordered_map<std::string, waiting_copy> waiting_;
  std::unordered_map<std::string, size_t> waiting_dests_;
  std::vector<held_fragment> held_;          // in the order they came
  /// Syncs of copies closed with unsynced bytes, for the next batch.
  std::vector<sync_job> closed_unsynced_;
  bool closing_all_ = false; // close_all: every copy synced here
  bool claim_logged_ = false;                // admit_source claimed through the log
  std::set<ack_key> touched_;                  // keys waiting for an answer
  uint64_t written_since_sync_ = 0;            // bytes, for sync_early()
  uint64_t next_serial_ = 0;
  std::set<std::string> refused_logged_;       // keys whose refusal was logged
  rotated_index rotated_;                      // built at the first question
  std::set<std::string> missing_;              // identities whose missing copy was said
  std::unique_ptr<source_owners> owners_;      // who writes each destination
  log::episodes denied_log_;                   // (destination, source) refused
  /// Copies whose last write failed, by identity: the cause and since when.
  struct blocked_copy {
    int err = 0;
    clock::time_point since;
    uint64_t failures = 0;
  };
  std::map<std::string, blocked_copy> blocked_;
  log::episodes gap_log_;                      // (copy, key, gen) with a gap

  /// A write of `cf` failed: said once per episode, counted, answered.
  void write_failed(const fragment& f, copy_file& cf, const source_key& key,
                    const std::string& identity, outbox& out, clock::time_point now);
  /// A write of `cf` worked: a blocked episode is over.
  void write_worked(const copy_file& cf, const std::string& identity,
                    clock::time_point now);
  /// The "error" ack of a fragment not written while its copy is blocked.
  void answer_blocked(const fragment& f, const copy_file& cf, const source_key& key,
                      int err, outbox& out);
};

/// A worker's core and its schedule, shared by the worker's thread and the
/// direct lane: a fragment the worker has nothing before is written on the
/// I/O loop's thread (write_inline), so the copy shows it without waking the
/// worker (CAF 0.17 wakes a detached actor twice per message). The worker
/// then only syncs and acknowledges, on its own timer. Every member is used
/// under `mtx` only; `core` is null before the worker ran and after it ended.
struct worker_inline {
  std::mutex mtx;
  std::unique_ptr<worker_core> core;
  router_actor router;
  direct_lanes_ptr lanes;  // replies to a data connection go there directly
  std::shared_ptr<sync_thread> syncer;
  worker_core::outbox out;
  bool tick_pending = false;
  /// A batch of this worker's fdatasyncs was handed to the sync thread and
  /// is not back yet (finish_sync): the next one starts after it.
  bool sync_in_flight = false;
  /// Held by the sync thread while it runs this worker's batch
  /// (run_sync_jobs: the fdatasyncs or the syncfs in the kernel), and by
  /// write_inline while it writes: the loop writes nothing while one of
  /// them runs (an append may wait in the kernel behind that sync's
  /// writeback: the worker's thread may wait, the loop's may not), and a
  /// batch starts after the loop's write in progress. Not held for the
  /// rest of the batch's way (queued on the sync thread; back, not yet
  /// taken by the worker), so the loop goes on writing then. Its own
  /// object: a sync job holds it, never the worker_inline.
  std::shared_ptr<std::mutex> disk_gate = std::make_shared<std::mutex>();
  std::chrono::steady_clock::time_point last_sync_start{};
  /// A sync due after a fragment written inline waits for the I/O loop's
  /// next wait (write_inline): any sync started meanwhile covers it.
  bool sync_after_wait = false;
  /// The loop holds a call to start it (io_loop::after_next_wait). The one
  /// member not under `mtx`: the call clears it also when the worker holds
  /// the lock (and asks the worker to start the sync).
  std::atomic<bool> after_wait_queued{false};
  bool member_check_pending = false;
  bool retry_pending = false;
};

using worker_inline_ptr = std::shared_ptr<worker_inline>;

/// Below this a fragment (as received and as source bytes) may be written
/// inline: a trickle's lines and a 50 MB/s stream's fragments (tens of KiB,
/// one per append), not a catch-up's MiB-sized ones, which stay with the
/// worker so that no single write holds the loop long. Until session 18 the
/// bound was one page and a stream stayed with the worker (5 ms between
/// fragments): a hop, two wake-ups of the worker's thread per fragment,
/// which on an idle host cost more than the write (bench/PROFILE.md,
/// "Session 18: latency on a quiet host").
constexpr uint64_t inline_max_bytes = 256 * 1024;

/// On the caller's thread (the I/O loop): handles `f` as `worker` would,
/// when the worker is not busy (its lock free), nothing sent to it is
/// pending (`meter`: order holds), none of its syncs is in the kernel
/// (worker_inline::disk_gate) and the write is cheap
/// (worker_core::cheap); its sync and ack follow on the worker. A sync due
/// at once starts after the loop's next wait (io_loop::after_next_wait),
/// not before the loop sleeps: the write woke the copy's readers, and on a
/// busy host they wait for this thread's CPU, where handing the batch to
/// the sync thread (a wake-up of another CPU) cost the loop more than the
/// write. False: send it to the worker instead.
bool write_inline(const worker_inline_ptr& in, const caf::actor& worker,
                  const room_meter& meter, const fragment_ptr& f);

/// Spawns a detached worker; acks go to `router` (may be null: no acks),
/// or with `lanes` straight to their peer's data connection when it is open.
/// `in`: its core, shared with the caller for write_inline (null: its own).
caf::actor spawn_tailwriter_worker(caf::actor_system& sys, worker_options opts,
                                   counters_ptr counters, router_actor router,
                                   std::shared_ptr<direct_lanes> lanes = nullptr,
                                   worker_inline_ptr in = nullptr);

} // namespace cc::tw

// Fragments only travel between actors of one process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cc::tw::fragment_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cc::tw::sync_batch_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cc::tw::commit_round_ptr)
