// The tailer's core: everything the tailer decides, as a plain class with no
// actor inside (the actor, tailer.cpp, is a thin shell around it).
//
// Offsets of the open source (all source-file offsets):
//   acked <= sent <= sent + buffered() == read_pos
//   [acked, sent)     sent, waiting for an ack (ack = no: for the router's ok)
//   [sent, read_pos)  read into the buffer, not yet sent
// The .save file holds `acked` as of its last write (at most save-interval
// old: save_due), never more, so after a crash or restart the tailer resends
// from at or before the oldest byte a writer has not confirmed; the writer
// drops what it already holds. The window (read_pos - acked) bounds memory: when it
// is full the tailer stops reading and the file is the buffer.
//
// Events in: start(), check() (new data, a directory change), on_tick()
// (poll-interval; less often when idle under inotify: next_tick()),
// on_timer() (the one-shot deadline), on_reply() (a
// writer's logtail.ack or logtail.state), and the router's answers to
// dispatches (callbacks given to tail_effects::dispatch).
// Effects out, through tail_effects: fragments and questions to the router,
// quitting with an error, an inotify watch; through tail_clock: "now" and
// the one-shot timer. Positions go to the process's position_saver thread,
// log lines to the logger, counters into snapshot().
//
// Files: tail_core.cpp (the loop, timers, acks, counters), tail_sources.cpp
// (start-up, resume, opening, generations, switching files), tail_send.cpp
// (reading, fragments, the acked position and its .save),
// tail_questions.cpp (the reconcile, heartbeat, background verify and the
// recheck of finished files, docs/wire.md §6.1). The classic/rotated choice
// of the next file is next_file_policy.hpp.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/core/atoms.hpp"
#include "actors/tail/file_watch.hpp"
#include "actors/tail/log_files.hpp"
#include "actors/tail/next_file_policy.hpp"
#include "actors/tail/position.hpp"
#include "actors/tail/position_saver.hpp"
#include "actors/tail/reconcile.hpp"
#include "actors/tail/source_reader.hpp"
#include "actors/tail/tail_clock.hpp"
#include "actors/tail/tailer_options.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

namespace cc::tail {

/// What the core asks of its shell besides time.
class tail_effects {
public:
  using on_ok = std::function<void()>;
  using on_error = std::function<void(const caf::error&)>;

  virtual ~tail_effects() = default;

  /// Sends `msg` to the router as a dispatch request; exactly one of the
  /// callbacks runs later, on the core's thread, with the router's answer.
  virtual void dispatch(wire::cc_message msg, on_ok ok, on_error failed) = 0;
  /// Ends the tailer with `err` (the jobmgr restarts it from the .save).
  virtual void quit(const caf::error& err) = 0;
  /// An inotify watch of `dir` (for the files whose names match the glob
  /// `names`) whose events make the shell call check().
  virtual caf::expected<std::unique_ptr<file_watch>> watch(const std::string& dir,
                                                           const std::string& names) = 0;
  /// Whether this thread may wait for the disk: false on the I/O loop's
  /// thread, where an inotify wake may run a settled tailer's look
  /// (base/loop_jobs.hpp). There a look does only a trickle's work (reads
  /// of the open generation, up to loop_read_max, and its fragments); what
  /// would block (a durable .save, opening or switching files, a new
  /// generation, a truncation's copy, a big read) waits for check() on a
  /// thread that may (leave_loop).
  virtual bool may_block() const {
    return true;
  }
  /// Asked where may_block() is false: calls check() again soon on a
  /// thread where it is true.
  virtual void leave_loop() {}
};

/// The tailer's phase: one value for what used to be spread over flags (an
/// open source or none, the writer's view of it known or not, a switch to a
/// newer file under way). An enum and one transition function,
/// tail_core::enter(), rather than CAF behaviours with `become`: the core is
/// a plain class, tested without an actor, and every event (an ack, a
/// timer, an answer) is taken in every phase -- what changes per phase is
/// a few conditions, not the set of messages handled. The allowed moves are
/// the table in tail_core.cpp (docs/wire.md §6.1 for the reconcile).
enum class tail_phase {
  idle,      // no source open: waiting for a file, or for a saved one
  unsure,    // open; the writer's view of it is unknown (just opened, the
             // writer restarted, acks stalled, a gap below acked)
  asking,    // a reconcile question is out; nothing is read or sent
  streaming, // reading and sending
  draining,  // streaming, with a newer file waiting: flush everything,
             // wait for the acks, then switch
  held,      // the writer cannot write it now, or will not (another source
             // owns the copy): nothing is sent until invited or held_until
};

const char* to_string(tail_phase p);

/// The open source file: one generation of one file.
struct source_file {
  std::string path;  // where the bytes are read (a rotated-away name, maybe)
  std::string label; // `filename` in fragments and in the .save file
  /// Reads `path` (decompressed, for a .gz/.bz2 copy a rotation left).
  std::unique_ptr<source_reader> reader;
  int fd = -1; // reader's descriptor: fstat, fingerprints (plain files)
  file_id id;  // dev/ino of the generation (kept when read elsewhere)
  std::string gen;
  fingerprint fp;
  uint64_t base = 0; // where delivery of this generation began
  uint64_t acked = 0;
  uint64_t sent = 0;
  /// With an ack clock (ack_progress.hpp): per fragment not acked yet, its
  /// end and when it left.
  std::deque<std::pair<uint64_t, tail_clock::time_point>> in_flight;
  std::optional<reconciler> reconcile;
  /// The next fragment is a repair that cuts the copy back to its end.
  bool truncate_next = false;
  /// Read from a rotated copy after `label` was truncated (copytruncate):
  /// once it is delivered, `label` is read again, as a new generation.
  bool reopen_label_after = false;
  /// A start without a usable .save: this file is asked about, and passed
  /// over for the next older one if the copy holds nothing of it.
  bool probe = false;
  /// Settled with the writer once in this run: a later reconcile's answer
  /// confirms bytes this run sent (an ack lost with a writer's restart).
  bool streamed = false;
  /// acked_bytes counts this run's deliveries up to here, once each (bytes
  /// sent again after a copy lost them are not counted twice).
  uint64_t counted = 0;
  std::string why;       // why it was opened where it was, for the log line
  wire::byte_buffer buf; // bytes [sent, read_pos) start at buf[head]
  size_t head = 0;
  /// Instead of buf (which is empty meanwhile): bytes [sent, read_pos) left
  /// in the file, cut into fragments as file ranges (tail_send.cpp).
  uint64_t in_file = 0;
  /// A descriptor of reader's own for those ranges (wire/file_range.hpp):
  /// made at the first one, dropped when the reader changes.
  std::shared_ptr<const wire::shared_file> shared;
  bool at_eof = false;
  /// The last fragment was cut at buffer-bytes (a bulk stream), not sent
  /// by a flush or at the end of the file.
  bool after_full = false;
  tail_clock::time_point last_growth;
  int probes_left = 0;
  tail_clock::time_point next_probe;
  /// A writer acked this generation. Until then one fragment at a time: a
  /// writer starts a generation it has not seen at the first fpos it gets,
  /// so a later fragment overtaking the first would hide the first's bytes.
  bool gen_confirmed = false;
  /// The file's size when its first bytes last matched the fingerprint.
  uint64_t checked_size = UINT64_MAX;
  /// Those first bytes, compared at the next check (check_first_bytes).
  first_bytes kept;
  /// The size verify_generation saw in this look, for the first read_block
  /// after it (instead of a second fstat); taken by that read.
  std::optional<uint64_t> size_seen;

  size_t buffered() const {
    return buf.size() - head + in_file;
  }
  uint64_t read_pos() const {
    return sent + buffered();
  }
  /// The unsent bytes in memory (none while in_file > 0).
  std::string_view pending() const {
    return buf.view().substr(head);
  }
  /// Forgets what is read and not sent: it is read again.
  void drop_pending() {
    buf.clear();
    head = 0;
    in_file = 0;
  }
};

/// A file read to its end (classic: not read again under a later name).
struct finished_file {
  file_id id;
  fingerprint fp;
  std::string path; // where it was read
  std::string label;
  std::string gen;
  uint64_t base = 0; // delivered [base, end)
  uint64_t end = 0;
};

/// A finished file being asked about, and what reads it.
struct recheck_job {
  finished_file file;
  std::unique_ptr<source_reader> reader;
  reconciler reconcile;
};

/// What open_source opens, and where it starts.
struct opening {
  opening(std::string p, std::string l, uint64_t at, uint64_t from, std::string g)
      : path(std::move(p)), label(std::move(l)), offset(at), base(from),
        gen(std::move(g)) {}
  std::string path;
  std::string label;
  uint64_t offset = 0;
  uint64_t base = 0;
  std::string gen;
  /// The position came from the .save: its gen is ours to vouch for.
  bool saved = false;
  /// Keep this identity and fingerprint: the bytes are a generation's
  /// that a rotation copied (`path` is not the file the key names).
  std::optional<file_id> identity;
  std::optional<fingerprint> fp;
  std::string why;
  /// Only asked about (a walk without a .save): not where the tailer is,
  /// so not saved.
  bool probe = false;
};

/// The tailer's own counters: a number per name, every one reported from the
/// start, zero or not (snapshot() turns them into the answer's map). An array,
/// not a map: a server with a tailer per file keeps thousands of them.
struct tail_counts {
  enum id : uint8_t {
    bytes_read,
    fragments_sent,
    bytes_sent,
    acked_bytes,
    resends,
    gaps_reported,
    files_switched,
    skipped_bytes,
    send_errors,
    refused,
    generations,
    stale_acks,
    reconciles,
    copies_cut_back,
    resumed_below_acked,
    moved_generation_reads,
    lost_bytes,
    writer_restarts,
    questions,
    verify_mismatch_bytes,
    repaired_bytes,
    denied,
    central_write_errors,
    polls,
    size_
  };
  static const char* const names[size_];

  int64_t& operator[](id i) { return values[i]; }
  /// Into `out`, by name.
  void add_to(counters& out) const;

  std::array<int64_t, size_> values{};
};

class tail_core {
public:
  using time_point = tail_clock::time_point;
  using ms = std::chrono::milliseconds;

  tail_core(tailer_options opts, tail_clock& clock, tail_effects& fx);
  /// Makes the last position durable before the owner hears of the end.
  ~tail_core();
  tail_core(const tail_core&) = delete;
  tail_core& operator=(const tail_core&) = delete;

  const std::string& who() const {
    return opts.job_name;
  }
  const tailer_options& options() const {
    return opts;
  }

  /// Loads the .save file and opens where delivery goes on.
  void start();
  /// Everything that reacts to new data, acks and time.
  void check();
  /// The periodic poll (every poll-interval, or next_tick()).
  void on_tick();
  /// How long until the next poll: poll-interval, unless the tailer is idle
  /// under a working inotify watch; then up to quiet_ticks poll-intervals,
  /// but never past a duty that is due sooner (heartbeat, verify).
  std::chrono::milliseconds next_tick() const;
  /// An idle watched tailer polls this many times less often.
  static constexpr int quiet_ticks = 10;
  /// The one-shot timer armed through tail_clock::arm.
  void on_timer();
  /// A reply addressed to the tailer: logtail.ack or logtail.state.
  void on_reply(const wire::cc_message& msg);
  /// Counters and gauges (tailer.hpp lists them).
  counters snapshot();

private:
  /// What a question is for.
  enum class purpose { reconcile, heartbeat, verify, recheck };
  /// progress: hand the position to the saver thread and go on (acks).
  /// now: wait until it is durable (a new file or generation; exit).
  enum class durability { progress, now };

  time_point now() const {
    return clock_.now();
  }
  /// Nothing in flight, nothing buffered, nothing asked: only a file
  /// event or a duty (heartbeat, verify) has anything for the tailer.
  bool quiet() const;
  /// Where the look must not block (tail_effects::may_block): asks for it
  /// to go on elsewhere and returns true; the caller stops before the
  /// blocking work, with nothing changed. False: go on here.
  bool leave_loop();
  /// The one place the phase changes (tail_core.cpp has the table).
  void enter(tail_phase next);
  /// Whether the open source streams (draining included).
  bool streaming() const {
    return phase_ == tail_phase::streaming || phase_ == tail_phase::draining;
  }
  peer_acks acks() const;
  void fail(const caf::error& err);

  // tail_core.cpp: the loop and timers
  bool pump();
  bool handle_end_of_file();
  void schedule_deadlines();
  void schedule_at(time_point t);
  void ensure_watch();
  /// Tells the watch whether no dispatch waits for its answer now
  /// (file_watch::set_settled): then the next inotify wake may run the look
  /// on the I/O loop's thread, a stream's as a trickle's (unacknowledged
  /// bytes do not matter: the look is bounded by loop_read_max, and the acks
  /// come on the scheduler).
  void note_settled();
  uint64_t lag_bytes();
  open_source_ref source_ref() const;

  // tail_core.cpp: acknowledgements
  void on_gap(uint64_t fpos);
  void check_ack_timeout();

  // tail_sources.cpp
  void start_fresh();
  void begin_walk();
  void no_file_yet();
  void start_after_no_file();
  std::vector<std::string> walk_candidates();
  void probe(const std::string& path, bool newest);
  void next_probe();
  void resume(const position& pos);
  void resume_gone(const position& pos);
  void wait_for(const position& pos, const std::string& why);
  static std::optional<std::string> unreadable(const std::string& path);
  bool resume_moved(const position& pos, const std::string& label,
                    const std::string& gen);
  std::optional<std::string> moved_generation(const std::string& label,
                                              const fingerprint& fp, uint64_t beyond,
                                              const file_id& except);
  std::optional<std::string> locate_saved(const position& pos);
  bool same_content(const std::string& path, const position& pos, uint64_t size);
  bool apply_lag_limit();
  void close_source();
  bool open_source(const std::string& path, const std::string& label, uint64_t offset,
                   std::string gen, const std::string& why);
  bool open_source(opening o);
  void log_tailing(const std::string& why);
  static caf::expected<fingerprint> fingerprint_of(source_reader& r);
  void new_generation(const std::string& why);
  bool follow_moved_generation(const std::string& why);
  bool verify_generation();
  std::optional<std::string> newer_source();
  bool already_read(const std::string& path);
  void pick_waiting();
  void switch_to(const std::string& path);

  // tail_send.cpp
  uint64_t window() const;
  uint64_t read_cap() const;
  bool can_read() const;
  bool range_capable() const;
  caf::expected<size_t> read_block();
  static uint64_t size_now(source_file& s);
  bool flush_all() const;
  size_t fragment_length();
  std::optional<size_t> line_end(uint64_t cap);
  bool send_ready();
  bool send_fragment(size_t n);
  caf::expected<wire::blob_ptr> cut_from_file(size_t n);
  wire::blob_ptr cut_from_buffer(size_t n);
  void hand_on(wire::cc_message msg, uint64_t fpos, uint64_t end);
  /// fx.dispatch, counted in via_router until answered.
  void route(wire::cc_message msg, tail_effects::on_ok ok, tail_effects::on_error failed);
  void on_dispatched(const std::string& gen, uint64_t ep, uint64_t end);
  void on_handed_on(uint64_t end);
  void sending_again();
  void on_dispatch_failed(const std::string& gen, uint64_t fpos, const caf::error& err);
  void rewind(uint64_t to);
  void advance_acked(uint64_t to);
  void count_delivered(uint64_t to);
  void save_soon();
  time_point save_due() const;
  void save(durability d = durability::progress);

  // tail_questions.cpp
  void hold(const std::string& kind, const std::string& detail);
  void unsure();
  void drop_aside();
  uint64_t current_size();
  bool note_writer(const std::string& id);
  void reconcile_step();
  void go_without_writer();
  void ask(const question& q, purpose what);
  void ask(const question& q, purpose what, const std::string& label);
  void on_state(const wire::cc_message& msg);
  void settle(const resume_plan& plan);
  void maybe_heartbeat();
  void maybe_verify();
  void on_verify_answer(const wire::logtail_state_body& a);
  void send_repair(uint64_t from, uint64_t n);
  void send_aside(source_reader& reader, const std::string& label, const file_id& id,
                  const std::string& gen, uint64_t from, uint64_t n, bool repair,
                  bool truncate);
  void queue_recent_files();
  void maybe_recheck();
  void on_recheck_answer(const wire::logtail_state_body& a);
  void on_heartbeat(const wire::logtail_state_body& a);

  static constexpr uint64_t read_chunk_bytes = 1 << 20;
  /// Smaller fragments are read and sent from memory even where they could
  /// stay in the file: for a trickle's lines one pread and one sendmsg cost
  /// less than the sendfile path's calls (head, guard, sendfile).
  static constexpr uint64_t range_min_bytes = 64 << 10;
  /// A look on the I/O loop's thread reads at most this much, then goes on
  /// elsewhere (tail_effects::may_block): a trickle's lines are far less.
  static constexpr uint64_t loop_read_max = 64 << 10;
  /// The ack timeout doubles per timeout up to this many times ack-timeout.
  static constexpr int max_ack_backoff = 8;
  static constexpr size_t max_finished = 64;
  static constexpr size_t recheck_count = 4;
  static constexpr size_t max_walk = 64;
  /// A denied source is asked about again after denied_retry_first, the
  /// wait doubling per denial in a row up to denied_retry: a binding fixed
  /// on the central at once (a SIGHUP) takes effect within a second or two.
  static constexpr ms denied_retry_first{1000};
  static constexpr ms denied_retry{30000};
  /// Since when the saved file is gone while a newer one exists; it is
  /// waited for gone_grace before the tailer goes on without it.
  static constexpr ms gone_grace{10000};
  /// How long a caught-up source stays quiet before its position is
  /// written (save_due): a quarter of save-interval, at most this; also
  /// the length of a burst whose end is written at once.
  static constexpr ms save_quiet_max{250};

  tailer_options opts;
  tail_clock& clock_;
  tail_effects& fx;
  std::unique_ptr<next_file_policy> policy;
  std::unique_ptr<file_watch> watch;
  bool watch_failed_logged = false;
  std::optional<source_file> src; // open exactly when phase_ != idle
  tail_phase phase_ = tail_phase::idle;
  /// Classic: while no file is open, the next file is the first whose name
  /// sorts after this one ("" = any). Such a file is read from 0.
  std::string wait_after;
  /// Classic: files read to their end, so a finished file renamed to a name
  /// that sorts later (logrotate's app.log -> app.log.1) is not read again.
  /// The fingerprint tells a reused inode from the same file.
  std::deque<finished_file> finished;
  /// After a writer restart, the files finished last are asked about too
  /// (their copies may have been touched while it was down): the queue, and
  /// the one being asked about.
  std::deque<finished_file> to_recheck;
  std::optional<recheck_job> checking;

  int outstanding = 0; // dispatch requests without answer
  /// Messages of any kind (fragments, questions, repairs) given to the
  /// router and not answered yet: the direct lane only while none is, so
  /// nothing overtakes them.
  int via_router = 0;
  uint64_t epoch = 0;  // bumped on every rewind: stale answers are ignored
  time_point retry_until;
  bool send_failing = false; // logged once per failure episode
  time_point last_ack_progress;
  /// The ack timeout now: doubled after each timeout without progress (a
  /// slow or overloaded writer is not made slower by resends), back to
  /// ack-timeout when an ack moves the position.
  ms ack_timeout_now{0};
  std::optional<uint64_t> gap_target; // rewound here on a gap ack already
  bool ever_acked = false;            // any logtail.ack for our files in this run
  /// The writer's instance id as last seen in an ack or answer: a change
  /// means it restarted, and its copies may have changed meanwhile.
  std::string writer_id;
  /// The question out, what for, when it left, and how long a reconcile
  /// question may stay unanswered (doubling like the ack timeout).
  std::optional<question> asked;
  purpose asked_for = purpose::reconcile;
  time_point asked_at;
  ms question_timeout{0};
  bool question_overdue = false; // said once, until an answer comes
  uint64_t heartbeat_acked = 0;  // acked when the heartbeat left
  /// The background verify (verify-period) of the open generation.
  std::optional<range_verify> verifying;
  time_point next_verify;
  time_point last_contact; // the last ack or answer from a writer
  /// Start without a usable .save: older files still to ask about, newest
  /// first (classic: by name; rotated: by time), and the newest one, where
  /// a tail -f start begins when the copy holds none of them.
  std::vector<std::string> walk;
  std::string walk_newest;
  uint64_t walk_newest_end = 0; // its size when the walk began (tail -f)
  /// A saved position whose file exists but cannot be opened now (a
  /// permission, a moment moved away): nothing else is read until it can.
  std::optional<position> waiting_for;
  std::string waiting_said; // what was logged about it (once per reason)
  /// Held (tail_phase::held): until when, and what was said about it (one
  /// line per episode: the same cause again says nothing).
  time_point held_until;
  /// The wait before the next question about a denied source; 0 until the
  /// first denial, again 0 once the writer takes the source (an ack that
  /// moves it on).
  ms denied_wait{0};
  std::string held_said;
  std::optional<time_point> gone_since;
  bool failed = false; // quit with an error; do no more work
  /// Writes the .save file off this thread (one thread per process, shared
  /// with the other tailers); it also logs failed saves under our name. Set
  /// by start(), on our own thread (taking it may wait for a previous saver
  /// to finish its writes).
  std::shared_ptr<position_saver> saver;
  bool save_dirty = false;
  time_point last_save;
  /// When the last fragment sent with everything before it acked left:
  /// the start of the burst the next ack that catches up ends.
  time_point busy_since;
  std::optional<time_point> timer_at;      // the armed one-shot timer
  std::map<std::string, bool> open_failed; // paths whose open error is logged
  /// For health (the `failing` gauge): the last open of a file to follow
  /// failed for another reason than the file not being there (the policy
  /// says the same of listing logdir). Cleared by the next success.
  bool open_failing = false;
  std::optional<time_point> last_ack_at; // an ack last moved `acked`
  tail_counts stats;
};

} // namespace cc::tail
