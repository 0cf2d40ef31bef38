// The tailer actor; the contract is in tailer.hpp, the protocol in SPEC §6, §9.
//
// Offsets of the open source (all source-file offsets):
//   acked <= sent <= sent + buffered() == read_pos
//   [acked, sent)     sent, waiting for an ack (ack = no: for the router's ok)
//   [sent, read_pos)  read into the buffer, not yet sent
// The .save file always holds `acked`, so after a crash or restart the tailer
// resends from the oldest byte a writer has not confirmed; the writer drops
// what it already holds. The window (read_pos - acked) bounds memory: when it
// is full the tailer stops reading and the file is the buffer.
#include "actors/tail/tailer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <variant>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/spawn_context.hpp"
#include "actors/tail/file_watch.hpp"
#include "actors/tail/log_files.hpp"
#include "actors/tail/position.hpp"
#include "actors/tail/position_saver.hpp"
#include "actors/tail/reconcile.hpp"
#include "actors/tail/source_reader.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "base/thread_name.hpp"
#include "wire/base64.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

namespace cc {

namespace {

using steady = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

constexpr uint64_t read_chunk_bytes = 1 << 20;
/// The ack timeout doubles per timeout up to this many times ack-timeout.
constexpr int max_ack_backoff = 8;

/// Whether the writer's view of the open source is known (docs/wire.md §6.1).
enum class sync_phase {
  unsure,  // not asked yet (just opened, the writer restarted, acks stalled)
  asking,  // a question is out; nothing is read or sent until it is settled
  ready,   // streaming
  held,    // the writer cannot write it now, or will not (another source
           // owns the copy): nothing is sent until invited or held_until
};

/// The open source file: one generation of one file.
struct source_file {
  std::string path;   // where the bytes are read (a rotated-away name, maybe)
  std::string label;  // `filename` in fragments and in the .save file
  /// Reads `path` (decompressed, for a .gz/.bz2 copy a rotation left).
  std::unique_ptr<tail::source_reader> reader;
  int fd = -1;        // reader's descriptor: fstat, fingerprints (plain files)
  tail::file_id id;   // dev/ino of the generation (kept when read elsewhere)
  std::string gen;
  tail::fingerprint fp;
  uint64_t base = 0;  // where delivery of this generation began
  uint64_t acked = 0;
  uint64_t sent = 0;
  sync_phase phase = sync_phase::ready;
  std::optional<tail::reconciler> reconcile;
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
  std::string why;    // why it was opened where it was, for the log line
  wire::byte_buffer buf;  // bytes [sent, read_pos) start at buf[head]
  size_t head = 0;
  bool at_eof = false;
  steady::time_point last_growth;
  int probes_left = 0;
  steady::time_point next_probe;
  bool switching = false;  // a newer file waits: flush everything, then switch
  /// A writer acked this generation. Until then one fragment at a time: a
  /// writer starts a generation it has not seen at the first fpos it gets,
  /// so a later fragment overtaking the first would hide the first's bytes.
  bool gen_confirmed = false;
  /// The file's size when its first bytes last matched the fingerprint.
  uint64_t checked_size = UINT64_MAX;

  size_t buffered() const { return buf.size() - head; }
  uint64_t read_pos() const { return sent + buffered(); }
  std::string_view pending() const {
    return buf.view().substr(head);
  }
};

struct tailer_state {
  static inline const char* name = "tailer";

  caf::stateful_actor<tailer_state>* self;
  tailer_options opts;
  caf::actor router;
  std::unique_ptr<tail::file_watch> watch;
  bool watch_failed_logged = false;
  std::optional<source_file> src;
  /// Classic: while no file is open, the next file is the first whose name
  /// sorts after this one ("" = any). Such a file is read from 0.
  std::string wait_after;

  std::vector<std::string> listing;  // classic: logdir/logmask, sorted
  /// Classic: files read to their end, so a finished file renamed to a name
  /// that sorts later (logrotate's app.log -> app.log.1) is not read again.
  /// The fingerprint tells a reused inode from the same file.
  struct finished_file {
    tail::file_id id;
    tail::fingerprint fp;
    std::string path;   // where it was read
    std::string label;
    std::string gen;
    uint64_t base = 0;  // delivered [base, end)
    uint64_t end = 0;
  };
  std::deque<finished_file> finished;
  static constexpr size_t max_finished = 64;
  /// After a writer restart, the files finished last are asked about too
  /// (their copies may have been touched while it was down): the queue, and
  /// the one being asked about.
  std::deque<finished_file> to_recheck;
  static constexpr size_t recheck_count = 4;
  struct recheck {
    finished_file file;
    std::unique_ptr<tail::source_reader> reader;
    tail::reconciler reconcile;
  };
  std::optional<recheck> checking;
  steady::time_point last_listing;
  bool listing_valid = false;

  int outstanding = 0;       // dispatch requests without answer
  uint64_t epoch = 0;        // bumped on every rewind: stale answers are ignored
  steady::time_point retry_until;
  bool send_failing = false; // logged once per failure episode
  steady::time_point last_ack_progress;
  /// The ack timeout now: doubled after each timeout without progress (a
  /// slow or overloaded writer is not made slower by resends), back to
  /// ack-timeout when an ack moves the position.
  ms ack_timeout_now{0};
  std::optional<uint64_t> gap_target;  // rewound here on a gap ack already
  bool ever_acked = false;   // any logtail.ack for our files in this run
  /// The writer's instance id as last seen in an ack or answer: a change
  /// means it restarted, and its copies may have changed meanwhile.
  std::string writer_id;
  /// What a question is for.
  enum class purpose { reconcile, heartbeat, verify, recheck };
  /// The question out, what for, when it left, and how long a reconcile
  /// question may stay unanswered (doubling like the ack timeout).
  std::optional<tail::question> asked;
  purpose asked_for = purpose::reconcile;
  steady::time_point asked_at;
  ms question_timeout{0};
  bool question_overdue = false; // said once, until an answer comes
  uint64_t heartbeat_acked = 0;    // acked when the heartbeat left
  /// The background verify (verify-period) of the open generation.
  std::optional<tail::range_verify> verifying;
  steady::time_point next_verify;
  steady::time_point last_contact; // the last ack or answer from a writer
  /// Start without a usable .save: older files still to ask about, newest
  /// first (classic: by name; rotated: by time), and the newest one, where
  /// a tail -f start begins when the copy holds none of them.
  std::vector<std::string> walk;
  std::string walk_newest;
  uint64_t walk_newest_end = 0;  // its size when the walk began (tail -f)
  /// A saved position whose file exists but cannot be opened now (a
  /// permission, a moment moved away): nothing else is read until it can.
  std::optional<tail::position> waiting_for;
  std::string waiting_said;  // what was logged about it (once per reason)
  /// Held (sync_phase::held): until when, and what was said about it (one
  /// line per episode: the same cause again says nothing).
  steady::time_point held_until;
  std::string held_said;
  static constexpr ms denied_retry{30000};
  /// Since when the saved file is gone while a newer one exists; it is
  /// waited for gone_grace before the tailer goes on without it.
  std::optional<steady::time_point> gone_since;
  static constexpr ms gone_grace{10000};
  bool failed = false;        // quit with an error; do no more work
  /// Writes the .save file off this thread (one thread per process, shared
  /// with the other tailers); it also logs failed saves under our name. Set
  /// by start(), on our own thread (taking it may wait for a previous saver
  /// to finish its writes).
  std::shared_ptr<tail::position_saver> saver;
  /// Acks can arrive hundreds of times a second: the .save file is replaced
  /// at most once per save_interval (a crash resends at most that much; the
  /// writer drops what it holds; a busy saver thread coalesces to the newest
  /// position, so it may be less often), and always on open, switch and exit.
  static constexpr ms save_interval{50};
  bool save_dirty = false;
  steady::time_point last_save;
  std::optional<steady::time_point> timer_at;  // pending flush_atom
  std::map<std::string, bool> open_failed;     // paths whose open error is logged
  /// For health (the `failing` gauge): the last listing of logdir, or the
  /// last open of a file to follow, failed for another reason than the file
  /// not being there. Cleared by the next success.
  bool listing_failing = false;
  bool open_failing = false;
  std::optional<steady::time_point> last_ack_at;  // an ack last moved `acked`

  counters stats{{"bytes_read", 0},    {"fragments_sent", 0},
                 {"bytes_sent", 0},    {"acked_bytes", 0},
                 {"resends", 0},       {"gaps_reported", 0},
                 {"files_switched", 0}, {"skipped_bytes", 0},
                 {"send_errors", 0},   {"refused", 0},
                 {"generations", 0},   {"stale_acks", 0},
                 {"reconciles", 0},    {"copies_cut_back", 0},
                 {"resumed_below_acked", 0}, {"moved_generation_reads", 0},
                 {"lost_bytes", 0},    {"writer_restarts", 0},
                 {"questions", 0},     {"verify_mismatch_bytes", 0},
                 {"repaired_bytes", 0}, {"denied", 0},
                 {"central_write_errors", 0}};

  explicit tailer_state(caf::stateful_actor<tailer_state>* ptr) : self(ptr) {
  }

  ~tailer_state() {
    watch.reset();
    // The last position is durable before the jobmgr or main hears of our
    // end: a restarted tailer, or the next process, reads it.
    if (saver) {
      if (save_dirty)
        save(durability::now);
      saver->flush(opts.save_file);
    }
    close_source();
  }

  const std::string& who() const { return opts.job_name; }

  steady::time_point now() const { return steady::now(); }

  // -- start-up ---------------------------------------------------------------

  void start() {
    log::info(who(), "watching " +
                       (opts.op == tailer_options::mode::classic
                          ? tail::join_path(opts.logdir, opts.logmask)
                          : opts.rotated_path()) +
                       ", positions in " + opts.save_file);
    ensure_watch();
    saver = tail::position_saver::shared();
    // A tailer of this process that ended before us may have left its last
    // position with the saver: read the newest, not the file before it.
    saver->flush(opts.save_file);
    auto saved = tail::load_position(opts.save_file);
    if (!saved) {
      // The .save is a cache: without it the central says where we were.
      log::error(who(), message_of(saved.error()) +
                          (opts.ack ? "; asking the central what it holds instead"
                                    : "; starting at the end of the newest file"));
      begin_walk();
    } else if (!*saved) {
      begin_walk();
    } else {
      resume(**saved);
    }
    if (src && opts.lag_max_bytes > 0)
      apply_lag_limit();
    queue_recent_files();
  }

  /// No saved position: tail -f on the newest file that exists now.
  void start_fresh() {
    auto newest = newest_file();
    if (!newest) {
      log::info(who(), "no log file yet; the first one is read from its start");
      return;
    }
    auto id = tail::stat_file(*newest);
    if (!id || !*id)
      return;
    open_source(*newest, label_for(*newest), (*id)->size, cc::new_gen(),
                "new position at the end (tail -f)");
  }

  /// Without a usable .save (none, lost, corrupt), where the last run was is
  /// what the central holds: the newest files are asked about, newest first;
  /// the newest one it holds anything of resumes where its copy ends, and
  /// every newer file follows from its start. If it holds none of them, this
  /// is a first start: tail -f. Acks off: no one to ask, tail -f.
  void begin_walk() {
    if (acks() == peer_acks::no) {
      start_fresh();
      return;
    }
    auto files = walk_candidates();
    if (files.empty()) {
      log::info(who(), "no log file yet; the first one is read from its start");
      return;
    }
    walk_newest = files.front();
    walk.assign(files.begin() + 1, files.end());
    log::info(who(), "no saved position: asking the central what it holds of " +
                       walk_newest +
                       (walk.empty() ? std::string{}
                                     : " and up to " + std::to_string(walk.size()) +
                                         " older files"));
    probe(walk_newest, true);
  }

  /// The files a walk asks about, newest first, at most max_walk.
  std::vector<std::string> walk_candidates() {
    std::vector<std::string> out;
    if (opts.op == tailer_options::mode::rotated) {
      if (auto id = tail::stat_file(opts.rotated_path()); id && *id)
        out.push_back(opts.rotated_path());
      if (auto gens = tail::rotated_generations(opts.logdir, opts.logname))
        for (auto i = gens->rbegin(); i != gens->rend(); ++i)
          out.push_back(i->first);
    } else {
      refresh_listing(true);
      out.assign(listing.rbegin(), listing.rend());
    }
    if (out.size() > max_walk)
      out.resize(max_walk);
    return out;
  }

  static constexpr size_t max_walk = 64;

  /// Opens `path` to ask about it; the newest is opened where tail -f would
  /// start, so that is where it goes on if nothing is found.
  void probe(const std::string& path, bool newest) {
    auto id = tail::stat_file(path);
    uint64_t at = newest && id && *id ? (*id)->size : 0;
    if (newest)
      walk_newest_end = at;
    opening o{path, label_for(path), at, at, cc::new_gen()};
    o.why = "asking the central what it holds of it";
    if (open_source(std::move(o)))
      src->probe = true;
    else
      next_probe();
  }

  /// The probed file is not in the copy: ask about the next older one, or,
  /// when none is left, start at the end of the newest (tail -f).
  void next_probe() {
    close_source();
    if (!walk.empty()) {
      auto next = walk.front();
      walk.erase(walk.begin());
      probe(next, false);
      return;
    }
    // A first start: tail -f from where the newest file ended when the
    // walk began (what was written since is new, and shipped).
    log::info(who(), "the central holds none of the newest files: a first start");
    auto newest = std::move(walk_newest);
    walk_newest.clear();
    auto id = tail::stat_file(newest);
    if (newest.empty() || !id || !*id || (*id)->size < walk_newest_end) {
      start_fresh();
      return;
    }
    opening o{newest, label_for(newest), walk_newest_end, walk_newest_end, cc::new_gen()};
    o.why = "new position at the end (tail -f)";
    open_source(std::move(o));
  }

  std::string label_for(const std::string& path) const {
    return opts.op == tailer_options::mode::rotated ? opts.rotated_path() : path;
  }

  /// Classic: the saved name, even when the generation was found renamed, so
  /// the writer's copy key stays the same. Rotated: always logdir/logname.
  std::string label_for_saved(const tail::position& pos) const {
    return opts.op == tailer_options::mode::rotated ? opts.rotated_path()
                                                    : pos.filename;
  }

  std::optional<std::string> newest_file() {
    if (opts.op == tailer_options::mode::rotated) {
      auto id = tail::stat_file(opts.rotated_path());
      if (id && *id)
        return opts.rotated_path();
      return std::nullopt;
    }
    refresh_listing(true);
    if (listing.empty())
      return std::nullopt;
    return listing.back();
  }

  /// Resumes at a saved position: the same generation if it still exists
  /// (by name, or by inode after a rotation), else the next file from 0.
  void resume(const tail::position& pos) {
    // A saved file that exists but cannot be opened now (a permission, a
    // moment of maintenance) is waited for: going on with another file
    // would resend files already shipped, or leave this one's end behind.
    if (auto why = unreadable(pos.filename)) {
      wait_for(pos, "cannot open the saved file " + pos.filename + " (" + *why +
                      "): waiting for it; nothing else is read meanwhile");
      return;
    }
    bool was_waiting = waiting_for.has_value();
    waiting_for.reset();
    auto label = label_for_saved(pos);
    auto gen = pos.gen.empty() ? cc::new_gen() : pos.gen;
    if (auto where = locate_saved(pos)) {
      opening o{*where, label, pos.offset, pos.base, gen};
      o.saved = true;
      o.why = was_waiting ? "the saved file is back; resuming its saved position"
                          : "resuming saved position";
      open_source(std::move(o));
      if (src && *where != pos.filename)
        log::info(who(), "saved generation of " + pos.filename +
                           " was rotated to " + *where + "; finishing it first");
      return;
    }
    if (resume_moved(pos, label, gen))
      return;
    // The saved generation is gone or changed: continue after it, from 0.
    if (opts.op == tailer_options::mode::rotated) {
      if (auto id = tail::stat_file(opts.rotated_path()); id && *id)
        open_source(opts.rotated_path(), opts.rotated_path(), 0, cc::new_gen(),
                    "saved generation gone, reading the current file from 0");
      else
        wait_for(pos, "saved file " + pos.filename + " is gone; waiting for it");
      return;
    }
    auto id = tail::stat_file(pos.filename);
    if (id && *id) {
      open_source(pos.filename, pos.filename, 0, cc::new_gen(),
                  "file changed while stopped, reading it from 0");
      return;
    }
    refresh_listing(true);
    auto next = tail::next_after(listing, pos.filename);
    if (!next) {
      wait_for(pos, "saved file " + pos.filename + " is gone; waiting for it or a newer file");
      return;
    }
    // It may be moved back in a moment: going on at once would leave its
    // rest behind for good (it sorts before the next file).
    if (!gone_since)
      gone_since = now();
    if (now() - *gone_since < gone_grace) {
      wait_for(pos, "saved file " + pos.filename + " is gone; waiting up to " +
                      std::to_string(gone_grace.count() / 1000) + " s for it before " +
                      *next);
      return;
    }
    log::warning(who(), "saved file " + pos.filename + " did not come back: going on with " +
                          *next + "; what it held past " + std::to_string(pos.offset) +
                          " is not sent");
    open_source(*next, *next, 0, cc::new_gen(),
                "saved file gone, continuing with the next file");
  }

  /// Keeps `pos` to try again at every check; says `why` once.
  void wait_for(const tail::position& pos, const std::string& why) {
    if (why != waiting_said)
      log::warning(who(), why);
    waiting_said = why;
    waiting_for = pos;
  }

  /// Why `path` cannot be opened for reading, if it exists and cannot.
  static std::optional<std::string> unreadable(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (errno == ENOENT || errno == ENOTDIR)
      return std::nullopt;
    return std::string{std::strerror(errno)};
  }

  /// The saved generation was truncated in place or moved by a rotation
  /// while we were stopped, and a copy of it is in logdir (logrotate's
  /// app.log.1, maybe compressed): its unsent rest is read from there.
  bool resume_moved(const tail::position& pos, const std::string& label,
                    const std::string& gen) {
    if (!pos.has_identity)
      return false;
    auto moved = moved_generation(label, pos.fp, pos.offset,
                                  tail::file_id{pos.st_dev, pos.st_ino, 0});
    if (!moved)
      return false;
    opening o{*moved, label, pos.offset, pos.base, gen};
    o.saved = true;
    o.identity = tail::file_id{pos.st_dev, pos.st_ino, 0};
    o.fp = pos.fp;
    o.why = "the saved generation of " + pos.filename + " is in " + *moved +
            " now (a rotation moved it): finishing it from there";
    if (!open_source(std::move(o)))
      return false;
    src->reopen_label_after = true;
    stats["moved_generation_reads"] += 1;
    return true;
  }

  /// A file in logdir holding a generation of `label` that a rotation
  /// copied or moved away, with more than `beyond` bytes.
  std::optional<std::string> moved_generation(const std::string& label,
                                              const tail::fingerprint& fp,
                                              uint64_t beyond,
                                              const tail::file_id& except) {
    auto slash = label.rfind('/');
    auto name = slash == std::string::npos ? label : label.substr(slash + 1);
    auto found = tail::find_moved_generation(opts.logdir, name, fp, beyond, except);
    if (!found) {
      log::warning(who(), describe(found.error()));
      return std::nullopt;
    }
    return *found;
  }

  /// The path holding the saved generation, checked by inode, size and
  /// fingerprint; nullopt if that generation no longer exists.
  std::optional<std::string> locate_saved(const tail::position& pos) {
    std::vector<std::string> candidates{pos.filename};
    if (opts.op == tailer_options::mode::rotated &&
        pos.filename != opts.rotated_path())
      candidates.push_back(opts.rotated_path());
    for (const auto& path : candidates) {
      auto id = tail::stat_file(path);
      if (!id || !*id)
        continue;
      if (pos.has_identity &&
          !(*id)->same_file(tail::file_id{pos.st_dev, pos.st_ino, 0}))
        continue;
      if (same_content(path, pos, (*id)->size))
        return path;
    }
    if (!pos.has_identity)
      return std::nullopt;
    auto found = tail::find_by_inode(opts.logdir, pos.st_dev, pos.st_ino);
    if (!found) {
      log::warning(who(), describe(found.error()));
      return std::nullopt;
    }
    if (*found && std::find(candidates.begin(), candidates.end(), **found) ==
                    candidates.end()) {
      auto id = tail::stat_file(**found);
      if (id && *id && same_content(**found, pos, (*id)->size))
        return *found;
    }
    return std::nullopt;
  }

  bool same_content(const std::string& path, const tail::position& pos,
                    uint64_t size) {
    if (size < pos.offset) {
      log::warning(who(), path + " is shorter (" + std::to_string(size) +
                            ") than the saved position " +
                            std::to_string(pos.offset) + ": a new generation");
      return false;
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return false;
    auto ok = tail::fingerprint_matches(fd, path, pos.fp);
    ::close(fd);
    if (ok && !*ok)
      log::warning(who(), path + ": first bytes differ from the saved "
                                 "fingerprint: a new generation");
    return ok && *ok;
  }

  /// After a restart: if the saved position lags the newest data by more
  /// than lag-max-bytes, skip to the end of the newest file (new gen).
  void apply_lag_limit() {
    auto lag = lag_bytes();
    if (lag <= opts.lag_max_bytes)
      return;
    auto newest = newest_file();
    if (!newest)
      return;
    auto id = tail::stat_file(*newest);
    if (!id || !*id)
      return;
    log::warning(who(), "lagging " + std::to_string(lag) +
                          " bytes behind (lag-max-bytes " +
                          std::to_string(opts.lag_max_bytes) +
                          "): skipping them, continuing at the end of " + *newest);
    stats["skipped_bytes"] += static_cast<int64_t>(lag);
    close_source();
    open_source(*newest, label_for(*newest), (*id)->size, cc::new_gen(),
                "position after skipping");
  }

  // -- sources ---------------------------------------------------------------

  void close_source() {
    if (src && save_dirty)
      save();
    src.reset(); // the reader closes the file
  }

  /// What open_source opens, and where it starts.
  struct opening {
    opening(std::string p, std::string l, uint64_t at, uint64_t from, std::string g)
      : path(std::move(p)), label(std::move(l)), offset(at), base(from), gen(std::move(g)) {
    }
    std::string path;
    std::string label;
    uint64_t offset = 0;
    uint64_t base = 0;
    std::string gen;
    /// The position came from the .save: its gen is ours to vouch for.
    bool saved = false;
    /// Keep this identity and fingerprint: the bytes are a generation's
    /// that a rotation copied (`path` is not the file the key names).
    std::optional<tail::file_id> identity;
    std::optional<tail::fingerprint> fp;
    std::string why;
  };

  bool open_source(const std::string& path, const std::string& label,
                   uint64_t offset, std::string gen, const std::string& why) {
    opening o{path, label, offset, offset, std::move(gen)};
    o.why = why;
    return open_source(std::move(o));
  }

  /// Opens o.path at o.offset as generation o.gen. With acks the writer is
  /// asked first (nothing is read or sent until then, and the position is
  /// saved once settled); without, the position is saved at once, so a
  /// crash before the first ack resumes here.
  bool open_source(opening o) {
    auto reader = tail::source_reader::open(o.path);
    if (!reader) {
      open_failing = open_failing || errno != ENOENT;
      if (errno != ENOENT && !open_failed[o.path]) {
        open_failed[o.path] = true;
        log::error(who(), describe(reader.error()));
      }
      return false;
    }
    open_failed.erase(o.path);
    auto id = (*reader)->stat();
    auto fp = o.fp ? caf::expected<tail::fingerprint>{*o.fp} : fingerprint_of(**reader);
    open_failing = !id || !fp;
    if (!id || !fp) {
      log::error(who(), describe(!id ? id.error() : fp.error()));
      return false;
    }
    auto size = (*reader)->compressed() ? UINT64_MAX : id->size;
    close_source();
    source_file s;
    s.path = o.path;
    s.label = o.label;
    s.reader = std::move(*reader);
    s.fd = s.reader->fd();
    s.id = o.identity ? *o.identity : *id;
    s.gen = std::move(o.gen);
    s.fp = *fp;
    s.base = std::min(o.base, o.offset);
    s.acked = s.sent = o.offset;
    s.counted = o.offset;
    s.last_growth = now();
    s.probes_left = opts.probes;
    if (acks() != peer_acks::no) {
      s.phase = sync_phase::unsure;
      s.reconcile.emplace(s.id, size,
                          tail::own_position{s.gen, s.acked, s.base, o.saved});
    }
    src = std::move(s);
    ++epoch;
    gap_target.reset();
    wait_after.clear();
    if (watch)
      watch->watch_file(o.path);
    src->why = o.why;
    waiting_said.clear();
    gone_since.reset();
    if (acks() != peer_acks::no) {
      log::debug(who(), "opened " + o.path + " at " + std::to_string(o.offset) +
                          ": " + o.why + "; asking the central what it holds");
      return true;
    }
    log_tailing(o.why);
    // Without acks, durable before the first fragment: a crash after
    // sending must resume with this gen, or the writer would take the same
    // bytes as a new generation and append them twice.
    save(durability::now);
    return true;
  }

  void log_tailing(const std::string& why) {
    const auto& s = *src;
    log::info(who(), "tailing " + s.path + (s.label != s.path ? " (as " + s.label + ")" : "") +
                       " from " + std::to_string(s.sent) + ", gen " + s.gen + ": " + why);
  }

  /// The fingerprint of a source's first bytes, read through its reader
  /// (a compressed copy's decompressed bytes).
  static caf::expected<tail::fingerprint> fingerprint_of(tail::source_reader& r) {
    char buf[tail::fingerprint_max_bytes];
    auto n = r.read_at(0, buf, sizeof buf);
    if (!n)
      return std::move(n.error());
    return tail::fingerprint{cc::fnv1a64(std::string_view{buf, *n}), *n};
  }

  /// Truncation (copytruncate) or new first bytes under the same inode:
  /// the same file becomes a new generation, read from 0.
  void new_generation(const std::string& why) {
    auto& s = *src;
    log::warning(who(), s.path + ": " + why + "; new generation from 0");
    s.gen = cc::new_gen();
    s.acked = s.sent = s.counted = 0;
    s.streamed = false;
    s.buf.clear();
    s.head = 0;
    s.at_eof = false;
    s.switching = false;
    s.gen_confirmed = false;
    s.probes_left = opts.probes;
    s.checked_size = UINT64_MAX;
    if (auto fp = tail::read_fingerprint(s.fd, s.path))
      s.fp = *fp;
    s.base = 0;
    ++epoch;
    gap_target.reset();
    stats["generations"] += 1;
    if (acks() != peer_acks::no) {
      // Asked about like a file just opened; saved once settled.
      s.phase = sync_phase::unsure;
      s.reconcile.emplace(s.id, UINT64_MAX, tail::own_position{s.gen, 0, 0, false});
      return;
    }
    save(durability::now);  // the new gen is on disk before its first fragment
  }

  /// The open generation was cut short under its name (copytruncate). Its
  /// bytes past what the writer confirmed are looked for in a copy a
  /// rotation left in logdir (app.log.1, or compressed); found, the rest of
  /// the generation is read from there, and the name afterwards, as a new
  /// generation. Returns false when there is no such copy: what was read
  /// and not confirmed is then lost with the truncation, said and counted.
  bool follow_moved_generation(const std::string& why) {
    auto& s = *src;
    if (s.reopen_label_after)
      return false; // the copy itself changed: give up on it
    auto moved = moved_generation(s.label, s.fp, s.acked, s.id);
    if (!moved) {
      if (s.read_pos() > s.acked) {
        stats["lost_bytes"] += static_cast<int64_t>(s.read_pos() - s.acked);
        log::error(who(), s.label + ": " + why + ", and no copy of it was found in " +
                            opts.logdir + ": bytes " + std::to_string(s.acked) + ".." +
                            std::to_string(s.read_pos()) + " of generation " + s.gen +
                            " (and any written after them before the cut) are lost");
      }
      return false;
    }
    auto reader = tail::source_reader::open(*moved);
    if (!reader) {
      log::warning(who(), describe(reader.error()));
      return false;
    }
    log::warning(who(), s.label + ": " + why + "; the rest of generation " + s.gen +
                          " from " + std::to_string(s.acked) + " is read from " +
                          *moved + ", then " + s.label + " again from 0");
    stats["moved_generation_reads"] += 1;
    s.reader = std::move(*reader);
    s.fd = s.reader->fd();
    s.path = *moved;
    s.reopen_label_after = true;
    s.checked_size = UINT64_MAX;
    rewind(s.acked);
    return true;
  }

  /// Checks that the open file is still the generation we follow.
  /// Returns false when the source was dropped.
  bool verify_generation() {
    auto& s = *src;
    if (s.reader->compressed())
      return true; // a rotation's compressed copy does not change
    auto id = tail::stat_fd(s.fd, s.path);
    if (!id) {
      fail(id.error());
      return false;
    }
    if (id->size < s.read_pos()) {
      auto why = "truncated from " + std::to_string(s.read_pos()) + " to " +
                 std::to_string(id->size) + " bytes";
      if (!follow_moved_generation(why))
        new_generation(why);
      return true;
    }
    // Compare the first bytes when the size changed since they last
    // matched: before new bytes are read (a file truncated and regrown past
    // our position only looks grown), not again for every answer and ack
    // that finds the file as it was.
    if (id->size == s.checked_size)
      return true;
    auto same = tail::fingerprint_matches(s.fd, s.path, s.fp);
    if (!same) {
      fail(same.error());
      return false;
    }
    if (!*same) {
      if (!follow_moved_generation("first bytes changed"))
        new_generation("first bytes changed");
      return true;
    }
    // Grow a short fingerprint as the file grows (its prefix just matched).
    if (s.fp.length < tail::fingerprint_max_bytes && id->size > s.fp.length)
      if (auto fp = tail::read_fingerprint(s.fd, s.path))
        s.fp = *fp;
    s.checked_size = id->size;
    return true;
  }

  /// The file to follow once the current one is exhausted, if one exists.
  std::optional<std::string> newer_source() {
    auto& s = *src;
    if (s.reopen_label_after)
      return s.label;
    if (opts.op == tailer_options::mode::rotated) {
      auto id = tail::stat_file(opts.rotated_path());
      if (!id || !*id || (*id)->same_file(s.id))
        return std::nullopt;
      if (auto between = skipped_generation(**id))
        return between;
      return opts.rotated_path();
    }
    // The name we follow now holds another file (deleted and re-created).
    auto id = tail::stat_file(s.label);
    if (id && *id && !(*id)->same_file(s.id))
      return s.label;
    refresh_listing(false);
    return next_unread(s.label);
  }

  /// Rotated mode: a generation rotated away after the open one but before
  /// the one now at logname. It exists when the tailer could not move on in
  /// time: acks held it on a generation (the writer was unreachable) or it
  /// was stopped across several rotations. The oldest such comes first.
  std::optional<std::string> skipped_generation(const tail::file_id& current) {
    auto mine = tail::stat_fd(src->fd, src->path);
    auto gens = tail::rotated_generations(opts.logdir, opts.logname);
    if (!mine || !gens)
      return std::nullopt;
    for (const auto& [path, id] : *gens) {
      // File times are coarse (a kernel tick): the generation written right
      // after the open one may carry the same time, so only older ones skip.
      if (id.mtime_ns < mine->mtime_ns || id.same_file(src->id) ||
          id.same_file(current) || already_read(path))
        continue;
      return path;
    }
    return std::nullopt;
  }

  /// The first listed file after `after` that is not the open file or a
  /// finished one under a new name.
  std::optional<std::string> next_unread(const std::string& after) {
    auto next = tail::next_after(listing, after);
    while (next && already_read(*next))
      next = tail::next_after(listing, *next);
    return next;
  }

  bool already_read(const std::string& path) {
    auto id = tail::stat_file(path);
    if (!id || !*id)
      return false;
    if (src && (*id)->same_file(src->id))
      return true;
    for (const auto& f : finished) {
      if (!f.id.same_file(**id))
        continue;
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        return false;
      auto same = tail::fingerprint_matches(fd, path, f.fp);
      ::close(fd);
      return same && *same;
    }
    return false;
  }

  void refresh_listing(bool force) {
    bool changed = !watch || watch->take_dir_changed();
    if (!force && listing_valid && !changed &&
        now() - last_listing < opts.poll_interval)
      return;
    auto files = tail::list_log_files(opts.logdir, opts.logmask);
    listing_failing = !files;
    if (!files) {
      log::warning(who(), describe(files.error()));
      return;
    }
    listing = std::move(*files);
    listing_valid = true;
    last_listing = now();
  }

  /// Opens the first file to follow while none is open (read from 0).
  void pick_waiting() {
    if (waiting_for) {
      // A saved file that could not be opened, or was gone: try it again.
      auto pos = *waiting_for;
      resume(pos);
      return;
    }
    if (opts.op == tailer_options::mode::rotated) {
      auto id = tail::stat_file(opts.rotated_path());
      if (id && *id)
        open_source(opts.rotated_path(), opts.rotated_path(), 0, cc::new_gen(),
                    "file appeared");
      return;
    }
    refresh_listing(false);
    // The file we wait after may itself come back: a saved file that was gone
    // at start-up and is created again under its name is a new file (a
    // finished one is recognised by already_read and skipped).
    auto after = wait_after; // open_source clears it
    if (!after.empty() && std::binary_search(listing.begin(), listing.end(), after)
        && !already_read(after)) {
      open_source(after, after, 0, cc::new_gen(),
                   "file created again under the name it had");
      return;
    }
    if (auto next = next_unread(after))
      open_source(*next, *next, 0, cc::new_gen(), "file appeared");
  }

  void switch_to(const std::string& path) {
    auto old = src->path;
    stats["files_switched"] += 1;
    log::info(who(), "finished " + old + " at " + std::to_string(src->acked));
    finished.push_back({src->id, src->fp, src->path, src->label, src->gen, src->base,
                        src->acked});
    if (finished.size() > max_finished)
      finished.pop_front();
    auto label = label_for(path);
    if (opts.op == tailer_options::mode::rotated && path != label)
      log::warning(who(), path + " was rotated away before it was read; "
                                 "reading it before " + label);
    close_source();
    if (!open_source(path, label, 0, cc::new_gen(), "next file")) {
      // Vanished between listing and open: look again later.
      wait_after = opts.op == tailer_options::mode::classic ? old : "";
    }
  }

  // -- reading and sending ------------------------------------------------------

  uint64_t window() const {
    return std::max(opts.ack_window, opts.fragment_bytes);
  }

  /// What is read but not yet sent stays within one fragment: a sender held
  /// back (the generation's first fragment unconfirmed, the router pushing
  /// back) must not pull the window into memory, again after every resend;
  /// and a fragment is then most of the buffer, so it leaves by handing the
  /// buffer over (send_fragment), not by copying it out of a bigger one.
  uint64_t read_cap() const {
    return std::max<uint64_t>(opts.fragment_bytes, read_chunk_bytes);
  }

  /// Reading stops at the window (unacknowledged bytes) and at read_cap().
  bool can_read() const {
    return src && src->phase == sync_phase::ready
           && src->read_pos() - src->acked < window() && src->buffered() < read_cap();
  }

  /// Reads one block; returns the byte count (0 at end of file).
  caf::expected<size_t> read_block() {
    auto& s = *src;
    auto want = std::min<uint64_t>({read_chunk_bytes,
                                    window() - (s.read_pos() - s.acked),
                                    read_cap() - s.buffered()});
    if (s.head > 0 && s.head >= s.buf.size() / 2) {
      s.buf.erase_front(s.head);
      s.head = 0;
    }
    auto offset = s.read_pos();  // before the buffer grows for the read
    // Read only what the file holds: a poll at end of file must cost a
    // stat, not a 1 MiB allocation (the buffer's new room is not zeroed).
    struct stat st;
    uint64_t size = UINT64_MAX;
    if (!s.reader->compressed() && ::fstat(s.fd, &st) == 0) {
      size = static_cast<uint64_t>(st.st_size);
      if (size <= offset) {
        s.at_eof = true;
        return size_t{0};
      }
      want = std::min<uint64_t>(want, size - offset);
    }
    char* room = s.buf.append_space(want);
    auto got = s.reader->read_at(offset, room, want);
    if (!got) {
      s.buf.commit(0);
      return std::move(got.error());
    }
    auto n = *got;
    s.buf.commit(n);
    if (n > 0) {
      s.last_growth = now();
      stats["bytes_read"] += static_cast<int64_t>(n);
    }
    s.at_eof = n < want || offset + n >= size;
    return n;
  }

  /// Whether a partial line (text) or a short compressed buffer goes now.
  bool flush_all() const {
    const auto& s = *src;
    return s.switching ||
           (s.buffered() > 0 && now() - s.last_growth >= opts.idle_flush);
  }

  /// How many buffered bytes form the next fragment now (0: wait).
  size_t fragment_length() const {
    const auto& s = *src;
    auto data = s.pending();
    auto cap = std::min<size_t>(data.size(), opts.fragment_bytes);
    auto view = data.substr(0, cap);
    bool full = data.size() >= opts.fragment_bytes;
    if (opts.fragment_lines > 0) {
      size_t pos = 0;
      int64_t lines = 0;
      while (lines < opts.fragment_lines) {
        auto nl = view.find('\n', pos);
        if (nl == std::string_view::npos)
          break;
        pos = nl + 1;
        ++lines;
      }
      if (lines == opts.fragment_lines) {
        view = view.substr(0, pos);
        full = true;
      }
    }
    bool force = flush_all();
    size_t n = view.size();
    if (!opts.binary) {
      auto nl = view.rfind('\n');
      if (nl != std::string_view::npos)
        n = nl + 1;
      else if (!full && !force)
        return 0;  // a partial line waits for its newline
      // else: one line longer than a fragment, or a flush: send it as is
    }
    bool ready = full || force ||
                 (opts.comp == wire::compression::none && s.at_eof);
    return ready ? n : 0;
  }

  /// Sends what is ready; returns whether anything was sent.
  bool send_ready() {
    bool any = false;
    if (src && src->phase == sync_phase::ready && src->truncate_next &&
        src->buffered() == 0 && src->at_eof && outstanding < opts.max_outstanding &&
        now() >= retry_until) {
      // The copy holds more than the source has: cut it back, with nothing
      // to append.
      if (!send_fragment(0))
        return false;
      any = true;
    }
    while (src && src->phase == sync_phase::ready && src->buffered() > 0 &&
           outstanding < opts.max_outstanding && now() >= retry_until) {
      if (acks() != peer_acks::no && !src->gen_confirmed && src->sent > src->acked)
        break;  // the generation's first fragment is still unconfirmed
      auto n = fragment_length();
      if (n == 0)
        break;
      if (!send_fragment(n))
        return any;
      any = true;
    }
    return any;
  }

  bool send_fragment(size_t n) {
    auto& s = *src;
    wire::blob_ptr raw;
    if (s.head == 0 && n * 2 >= s.buf.size()) {
      // The fragment is most of the buffer: hand the buffer itself over and
      // keep only the rest (a partial line, usually) for the next one.
      wire::byte_buffer rest;
      rest.append(s.pending().substr(n));
      s.buf.truncate(n);
      raw = wire::blob::from_buffer(std::move(s.buf));
      s.buf = std::move(rest);
    } else {
      raw = wire::blob::copy_of(s.pending().substr(0, n));
      s.head += n;
      if (s.head == s.buf.size()) {
        s.buf.clear();
        s.head = 0;
      }
    }
    auto fpos = s.sent;
    auto end = fpos + n;
    wire::blob_ptr payload = std::move(raw);
    if (opts.comp != wire::compression::none) {
      auto packed = wire::compress(payload->view(), opts.comp, opts.comp_level);
      if (!packed) {
        fail(packed.error());
        return false;
      }
      payload = wire::blob::from_string(std::move(*packed));
    }
    wire::logtail_body body;
    body.hdr.req = opts.msg_type;
    body.hdr.time = wire::now_seconds();
    body.hdr.hostname = opts.hostname;
    body.filename = s.label;
    body.comp = opts.comp == wire::compression::none
                  ? ""
                  : wire::to_string(opts.comp);
    body.op_mode = opts.op_mode;
    body.fpos = fpos;
    body.st_dev = s.id.st_dev;
    body.st_ino = s.id.st_ino;
    body.ack = opts.ack;
    body.gen = s.gen;
    body.raw_size = n;
    body.source = opts.source_id;
    if (s.truncate_next) {
      // Reconcile found the copy holding bytes the source does not have
      // from here on: this fragment replaces them (docs/wire.md §6.1).
      body.repair = true;
      body.truncate = true;
      s.truncate_next = false;
      stats["copies_cut_back"] += 1;
    }
    wire::cc_message msg;
    if (opts.use_blob)
      msg.blob = std::move(payload);
    else
      body.data = wire::base64_encode(payload->view());
    msg.route.push_back(wire::local_route_frame(opts.job_name));
    msg.type = opts.msg_type;
    msg.body = wire::make_body(body);
    if (s.sent == s.acked)
      last_ack_progress = now();  // the ack clock starts with the first byte
    s.sent = end;
    ++outstanding;
    stats["fragments_sent"] += 1;
    stats["bytes_sent"] += static_cast<int64_t>(n);
    auto gen = s.gen;
    auto ep = epoch;
    self
      ->request(router, caf::infinite, dispatch_atom::value, std::move(msg))
      .then([this, gen, ep, end](caf::ok_atom) { on_dispatched(gen, ep, end); },
            [this, gen, fpos](caf::error& err) {
              on_dispatch_failed(gen, fpos, err);
            });
    return true;
  }

  void on_dispatched(const std::string& gen, uint64_t ep, uint64_t end) {
    --outstanding;
    if (send_failing) {
      send_failing = false;
      log::info(who(), "the router accepts fragments again");
    }
    // Fire and forget: the router's ok is the delivery we can know of.
    if (acks() == peer_acks::no && src && src->gen == gen && ep == epoch)
      advance_acked(end);
    check();
  }

  void on_dispatch_failed(const std::string& gen, uint64_t fpos,
                          const caf::error& err) {
    --outstanding;
    stats["send_errors"] += 1;
    if (!send_failing) {
      send_failing = true;
      log::warning(who(), "fragment not sent (" + describe(err) +
                            "); retrying every " +
                            std::to_string(opts.retry_delay.count()) + " ms");
    }
    if (src && src->gen == gen && fpos < src->sent)
      rewind(fpos);
    retry_until = now() + opts.retry_delay;
    schedule_at(retry_until);
  }

  /// Forgets everything from `to` on (sent or buffered) and reads it again.
  void rewind(uint64_t to) {
    auto& s = *src;
    to = std::max(to, s.acked);
    if (to >= s.sent && s.buffered() == 0)
      return;
    s.sent = std::min(to, s.sent);
    s.buf.clear();
    s.head = 0;
    s.at_eof = false;
    ++epoch;
  }

  /// Bytes before `to` are delivered: persist the new position.
  void advance_acked(uint64_t to) {
    auto& s = *src;
    if (to <= s.acked)
      return;
    count_delivered(to);
    s.acked = to;
    last_ack_progress = now();
    last_ack_at = last_ack_progress;
    ack_timeout_now = opts.ack_timeout;
    if (gap_target && *gap_target < to)
      gap_target.reset();
    if (to > s.sent) {
      // The writer holds more than this run sent (an earlier run's bytes).
      s.sent = to;
      s.buf.clear();
      s.head = 0;
      s.at_eof = false;
      ++epoch;
    }
    save_soon();
  }

  /// Counts acknowledged bytes of this run once each.
  void count_delivered(uint64_t to) {
    auto& s = *src;
    if (to > s.counted) {
      stats["acked_bytes"] += static_cast<int64_t>(to - s.counted);
      s.counted = to;
    }
  }

  void save_soon() {
    save_dirty = true;
    auto due = last_save + save_interval;
    if (now() >= due)
      save();
    else
      schedule_at(due);
  }

  /// progress: hand the position to the saver thread and go on (acks).
  /// now: wait until it is durable (a new file or generation; exit).
  enum class durability { progress, now };

  /// Persists the open source's acknowledged position. A failure is logged
  /// by the saver under our name (once per episode, and when it recovers);
  /// the tailer goes on either way, as a crash would only resend more.
  void save(durability d = durability::progress) {
    if (!src || src->probe)
      return; // a file only asked about is not where we are
    save_dirty = false;
    last_save = now();
    const auto& s = *src;
    tail::position pos;
    pos.filename = s.label;
    pos.st_dev = s.id.st_dev;
    pos.st_ino = s.id.st_ino;
    pos.gen = s.gen;
    pos.fp = s.fp;
    pos.offset = s.acked;
    pos.base = std::min(s.base, s.acked);
    if (d == durability::now)
      saver->store_now(opts.save_file, pos, who());
    else
      saver->store(opts.save_file, pos, who());
  }

  /// An I/O failure we cannot work around: end with the error, so the
  /// jobmgr logs it and restarts the tailer from its saved position.
  void fail(const caf::error& err) {
    if (failed)
      return;
    failed = true;
    log::error(who(), describe(err));
    self->quit(err);
  }

  // -- acknowledgements ---------------------------------------------------------

  void on_reply(const wire::cc_message& msg) {
    if (msg.type == "logtail.state") {
      on_state(msg);
      return;
    }
    if (msg.type != "logtail.ack") {
      log::debug(who(), "ignoring reply of type " + msg.type);
      return;
    }
    auto ack = wire::parse_logtail_ack(msg.body);
    if (!ack) {
      log::warning(who(), "bad logtail.ack: " + describe(ack.error()));
      return;
    }
    last_contact = now();
    if (note_writer(ack->writer))
      return; // a restarted writer: what it acks now is settled by asking
    if (!src || ack->filename != src->label || ack->st_dev != src->id.st_dev ||
        ack->st_ino != src->id.st_ino || ack->gen != src->gen) {
      stats["stale_acks"] += 1;
      return;
    }
    src->gen_confirmed = true;
    ever_acked = true;
    if (ack->status == wire::ack_status::denied || ack->status == wire::ack_status::error) {
      hold(ack->status, ack->detail);
    } else if (ack->status == "ok" && src->phase == sync_phase::held) {
      // The writer can take it again (it invites held senders): ask, then go.
      unsure();
    } else if (ack->status == "ok") {
      if (ack->fpos >= src->acked)
        ack_timeout_now = opts.ack_timeout; // the writer answers: no backoff
      if (!held_said.empty() && ack->fpos > src->acked) {
        log::info(who(), "the central takes " + src->label + " again");
        held_said.clear();
      }
      advance_acked(ack->fpos);
    } else if (ack->status == "gap" && ack->fpos < src->acked) {
      // The copy holds less than it acknowledged: lost or cut behind the
      // writer's back. Ask what it holds; the source still has the bytes.
      stats["gaps_reported"] += 1;
      log::warning(who(), "the central holds " + src->label + " only up to " +
                            std::to_string(ack->fpos) + ", below the " +
                            std::to_string(src->acked) +
                            " bytes it acknowledged: asking what it holds");
      unsure();
    } else if (ack->status == "gap") {
      on_gap(ack->fpos);
    } else if (ack->status == "refused") {
      stats["refused"] += 1;
      log::error(who(), "the writer refuses " + src->label +
                          "; dropping the bytes sent so far");
      advance_acked(src->sent);
    } else {
      log::warning(who(), "logtail.ack with unknown status " + ack->status);
      return;
    }
    check();
  }

  /// The writer holds bytes up to `fpos` only and got a later fragment: send
  /// again from `fpos`. Later in-flight fragments report the same gap; one
  /// rewind answers them all.
  void on_gap(uint64_t fpos) {
    stats["gaps_reported"] += 1;
    advance_acked(fpos);
    if (gap_target && *gap_target == fpos) {
      // The same gap, reported by another fragment that was in flight:
      // one rewind (and one line) answers them all.
      if (src->sent <= fpos)
        rewind(fpos);
      return;
    }
    log::info(who(), "writer reports a gap in " + src->label + " at " +
                       std::to_string(fpos) + " (sent up to " +
                       std::to_string(src->sent) + "); resending");
    gap_target = fpos;
    rewind(fpos);
  }

  /// The one place that decides whether this tailer works with a writer
  /// that acknowledges: ack = yes / no as configured; ack = auto as the
  /// route's forwarder learned from its remote (actors/ack_caps.hpp).
  /// unknown (not learned yet): a source waits before its first question,
  /// and nothing is sent (an original writer would append a resend again).
  peer_acks acks() const {
    if (opts.auto_acks)
      return opts.auto_acks->now();
    return opts.ack ? peer_acks::yes : peer_acks::no;
  }

  void check_ack_timeout() {
    auto mode = acks();
    if (mode == peer_acks::no && src && src->phase == sync_phase::ready &&
        outstanding == 0 && src->sent > src->acked) {
      // ack = auto that turned out `no`: what the router took is delivered,
      // as with ack = no (every answer is in: nothing outstanding).
      advance_acked(src->sent);
      return;
    }
    if (mode != peer_acks::yes || !src || src->phase != sync_phase::ready ||
        src->sent == src->acked)
      return;
    if (ack_timeout_now < opts.ack_timeout)
      ack_timeout_now = opts.ack_timeout;
    if (now() - last_ack_progress < ack_timeout_now)
      return;
    stats["resends"] += 1;
    log::warning(who(), "no ack for " + src->label + " past " +
                          std::to_string(src->acked) + " within " +
                          std::to_string(ack_timeout_now.count()) +
                          " ms; asking the central what it holds, then resending");
    last_ack_progress = now();
    ack_timeout_now = std::min(ack_timeout_now * 2, opts.ack_timeout * max_ack_backoff);
    unsure();
  }

  // -- reconcile (docs/wire.md §6.1) -------------------------------------------

  /// The writer will not take the open source now ("denied": another source
  /// owns its copy, or this link may not write this host) or cannot
  /// ("error": no space, an I/O error): its bytes stay in the file, nothing
  /// is sent, and it is asked again when the writer invites it (an "ok"
  /// ack) or after a while. One line per cause.
  void hold(const std::string& kind, const std::string& detail) {
    if (!src)
      return;
    auto& s = *src;
    bool denied = kind == wire::ack_status::denied;
    stats[denied ? "denied" : "central_write_errors"] += 1;
    if (kind + detail != held_said) {
      held_said = kind + detail;
      if (denied)
        log::error(who(), "the central refuses " + s.label + ": " + detail +
                            "; its bytes stay here; asking again every " +
                            std::to_string(denied_retry.count() / 1000) + " s");
      else
        log::warning(who(), "central cannot write " + s.label + ": " + detail +
                              "; holding (the file is the buffer) until it can");
    }
    rewind(s.acked);
    gap_target.reset();
    s.truncate_next = false;
    s.phase = sync_phase::held;
    s.reconcile.reset();
    asked.reset();
    verifying.reset();
    held_until = now() + (denied ? denied_retry : std::max(ack_timeout_now, opts.ack_timeout));
    schedule_at(held_until);
  }

  /// The writer's view of the open source is in doubt: stop sending, forget
  /// what was read past the acknowledged position, and ask.
  void unsure() {
    if (!src || acks() == peer_acks::no)
      return;
    auto& s = *src;
    rewind(s.acked);
    gap_target.reset();
    s.truncate_next = false;
    s.phase = sync_phase::unsure;
    // Ours to vouch for: this run streamed this generation.
    s.reconcile.emplace(s.id, s.reader->compressed() ? UINT64_MAX : current_size(),
                        tail::own_position{s.gen, s.acked, s.base, true});
    asked.reset();
    drop_aside();
  }

  /// Forgets the questions asked beside the stream (background verify,
  /// finished files); a finished file is asked about again later.
  void drop_aside() {
    verifying.reset();
    if (checking) {
      to_recheck.push_front(checking->file);
      checking.reset();
    }
  }

  uint64_t current_size() {
    auto id = tail::stat_fd(src->fd, src->path);
    return id ? id->size : 0;
  }

  /// Notes the writer's instance id; true when it changed (the writer
  /// restarted): the open source is then asked about again.
  bool note_writer(const std::string& id) {
    if (id.empty() || id == writer_id)
      return false;
    bool first = writer_id.empty();
    writer_id = id;
    if (first)
      return false;
    stats["writer_restarts"] += 1;
    to_recheck.assign(finished.size() > recheck_count ? finished.end() - recheck_count
                                                      : finished.begin(),
                      finished.end());
    std::reverse(to_recheck.begin(), to_recheck.end()); // the newest first
    if (!src || src->phase != sync_phase::ready)
      return false;
    log::info(who(), "the central's writer restarted: asking what it holds of " +
                       src->label);
    unsure();
    check();
    return true;
  }

  /// Asks the first question of a reconcile, or asks the last one again
  /// when its answer is overdue. Nothing is sent meanwhile.
  void reconcile_step() {
    auto& s = *src;
    if (s.phase == sync_phase::held) {
      if (now() < held_until)
        return;
      unsure(); // ask again
    }
    if (now() < retry_until)
      return;
    auto mode = acks();
    if (mode == peer_acks::unknown)
      return; // ack = auto before the forwarder learned: ask no one yet
    if (mode == peer_acks::no) {
      go_without_writer();
      return;
    }
    if (s.phase == sync_phase::unsure) {
      if (!s.reconcile)
        s.reconcile.emplace(s.id, UINT64_MAX,
                            tail::own_position{s.gen, s.acked, s.base, true});
      s.phase = sync_phase::asking;
      question_timeout = std::max(ack_timeout_now, opts.ack_timeout);
      ask(s.reconcile->first(), purpose::reconcile);
      return;
    }
    if (s.phase == sync_phase::asking && asked && asked_for == purpose::reconcile &&
        now() - asked_at >= question_timeout) {
      // Once per episode: the forwarder says whether the link is down.
      if (!question_overdue)
        log::warning(who(), "no answer from the central about " + s.label + " within " +
                              std::to_string(question_timeout.count()) +
                              " ms; asking again until it answers");
      question_overdue = true;
      question_timeout = std::min(question_timeout * 2, opts.ack_timeout * max_ack_backoff);
      ask(*asked, purpose::reconcile);
    }
  }

  /// ack = auto towards a writer that never answers (an original CC): the
  /// source goes on as with ack = no, from where it was opened (tail -f on
  /// a first start, the saved position otherwise).
  void go_without_writer() {
    auto& s = *src;
    asked.reset();
    verifying.reset();
    if (s.probe) {
      walk.clear();
      walk_newest.clear();
      s.probe = false;
    }
    s.phase = sync_phase::ready;
    s.reconcile.reset();
    s.truncate_next = false;
    log_tailing(s.why);
    s.why.clear();
    save(durability::now); // durable before the first fragment, as ack = no
  }

  /// Sends a question about the open source along the fragments' route.
  void ask(const tail::question& q, purpose what) {
    ask(q, what, src->label);
  }

  /// A question about the file named `label` in fragments.
  void ask(const tail::question& q, purpose what, const std::string& label) {
    // One question at a time: a reconcile goes first, what was asked beside
    // the stream is asked again later.
    if (asked && asked_for != what)
      drop_aside();
    auto body = tail::question_body(q, {opts.msg_type, opts.hostname, label, opts.op_mode,
                                        opts.source_id});
    wire::cc_message msg;
    msg.route.push_back(wire::local_route_frame(opts.job_name));
    msg.type = opts.msg_type;
    msg.body = wire::make_body(body);
    asked = q;
    asked_at = now();
    asked_for = what;
    stats["questions"] += 1;
    auto ep = epoch;
    self->request(router, caf::infinite, dispatch_atom::value, std::move(msg))
      .then([](caf::ok_atom) {},
            [this, ep](caf::error& err) {
              // Not sent (no route, a full queue): ask again after a pause.
              if (ep != epoch || !src)
                return;
              stats["send_errors"] += 1;
              log::debug(who(), "question not sent: " + describe(err));
              asked.reset();
              verifying.reset();
              if (src->phase == sync_phase::asking)
                src->phase = sync_phase::unsure;
              retry_until = now() + opts.retry_delay;
              schedule_at(retry_until);
            });
  }

  void on_state(const wire::cc_message& msg) {
    auto a = wire::parse_logtail_state(msg.body);
    if (!a) {
      log::warning(who(), "bad logtail.state: " + describe(a.error()));
      return;
    }
    last_contact = now();
    if (question_overdue) {
      log::info(who(), "the central answers again");
      question_overdue = false;
    }
    if (note_writer(a->writer))
      return;
    if (!src || !asked || !tail::answers(*a, *asked)) {
      stats["stale_acks"] += 1;
      return;
    }
    asked.reset();
    if (asked_for == purpose::heartbeat) {
      on_heartbeat(*a);
      check();
      return;
    }
    if (asked_for == purpose::verify) {
      on_verify_answer(*a);
      return;
    }
    if (asked_for == purpose::recheck) {
      on_recheck_answer(*a);
      return;
    }
    if (src->phase != sync_phase::asking || !src->reconcile)
      return;
    if (a->status == wire::state_status::denied) {
      hold(std::string{wire::ack_status::denied}, a->detail);
      return;
    }
    auto r = src->reconcile->feed(*a, *src->reader);
    if (!r) {
      fail(r.error());
      return;
    }
    if (auto* next = std::get_if<tail::question>(&*r)) {
      ask(*next, purpose::reconcile);
      return;
    }
    settle(std::get<tail::resume_plan>(*r));
    check();
  }

  /// The writer said where the open source goes on.
  void settle(const tail::resume_plan& plan) {
    auto& s = *src;
    if (s.probe && !plan.found && !(walk.empty() && s.path == walk_newest)) {
      next_probe();
      return;
    }
    if (s.probe && !plan.found)
      log::info(who(), "the central holds none of " + s.path + ": a first start");
    if (s.probe) {
      walk.clear();
      walk_newest.clear();
    }
    s.probe = false;
    if (plan.gen == s.gen && plan.offset < s.acked) {
      stats["resumed_below_acked"] += 1;
      log::warning(who(), "the central holds " + s.label + " only up to " +
                            std::to_string(plan.offset) + ", below the " +
                            std::to_string(s.acked) +
                            " bytes acknowledged before: sending them again");
    }
    if (s.streamed && plan.gen == s.gen)
      count_delivered(plan.offset); // sent by this run, its ack lost
    else
      s.counted = plan.offset;
    s.streamed = true;
    s.gen = plan.gen;
    s.base = plan.base;
    s.acked = s.sent = plan.offset;
    s.buf.clear();
    s.head = 0;
    s.at_eof = false;
    s.gen_confirmed = plan.writer_has_gen;
    s.truncate_next = plan.truncate;
    s.phase = sync_phase::ready;
    s.reconcile.reset();
    ++epoch;
    gap_target.reset();
    // The ack timeout's backoff stays: an answer is not an ack.
    last_ack_progress = now();
    stats["reconciles"] += 1;
    log_tailing(s.why.empty() ? plan.why : s.why + "; " + plan.why);
    s.why.clear();
    save(durability::now);
  }

  /// An idle source's writer is asked, once per ack-timeout, whether it
  /// still holds what it acknowledged (a copy cut or extended behind its
  /// back while it was down, a restart without traffic since).
  void maybe_heartbeat() {
    if (acks() != peer_acks::yes || !src || asked || outstanding > 0)
      return;
    const auto& s = *src;
    if (s.phase != sync_phase::ready || s.sent != s.acked || s.buffered() > 0 ||
        now() - last_contact < opts.ack_timeout)
      return;
    tail::question q;
    q.query = std::string{wire::query_kind::state};
    q.st_dev = s.id.st_dev;
    q.st_ino = s.id.st_ino;
    q.gen = s.gen;
    heartbeat_acked = s.acked;
    ask(q, purpose::heartbeat);
  }

  // -- background verify (verify-period) -----------------------------------------

  /// Every verify-period, the open generation's delivered bytes are compared
  /// with the copy, block by block, between other work; what differs is
  /// sent again as repairs (docs/wire.md §6.1).
  void maybe_verify() {
    if (opts.verify_period.count() == 0 || acks() != peer_acks::yes || !src || asked ||
        verifying)
      return;
    const auto& s = *src;
    if (s.phase != sync_phase::ready || s.acked <= s.base)
      return;
    if (next_verify == steady::time_point{}) {
      next_verify = now() + opts.verify_period;
      return;
    }
    if (now() < next_verify)
      return;
    next_verify = now() + opts.verify_period;
    tail::question segment;
    segment.st_dev = s.id.st_dev;
    segment.st_ino = s.id.st_ino;
    segment.gen = s.gen;
    verifying.emplace(segment, s.base, s.acked);
    ask(*verifying->next(), purpose::verify);
  }

  void on_verify_answer(const wire::logtail_state_body& a) {
    if (!verifying || !src || src->gen != verifying->next()->gen)
      return;
    if (a.status != wire::state_status::ok) {
      log::info(who(), "background verify of " + src->label + " stopped: the writer says " +
                         a.status + (a.detail.empty() ? "" : " (" + a.detail + ")"));
      verifying.reset();
      return;
    }
    if (auto err = verifying->feed(a.pieces, *src->reader)) {
      fail(err);
      return;
    }
    if (auto next = verifying->next()) {
      ask(*next, purpose::verify);
      return;
    }
    auto differences = verifying->differences();
    verifying.reset();
    for (auto [from, to] : differences) {
      stats["verify_mismatch_bytes"] += static_cast<int64_t>(to - from);
      log::warning(who(), "background verify: the copy of " + src->label + " differs at " +
                            std::to_string(from) + ".." + std::to_string(to) +
                            "; sending those bytes again");
      for (auto at = from; at < to; at += opts.fragment_bytes)
        send_repair(at, std::min<uint64_t>(opts.fragment_bytes, to - at));
    }
  }

  /// Sends source bytes [from, from + n) of the open generation as a repair
  /// that overwrites them in the copy; the stream's offsets do not move.
  void send_repair(uint64_t from, uint64_t n) {
    auto& s = *src;
    send_aside(*s.reader, s.label, s.id, s.gen, from, n, true, false);
  }

  /// Sends source bytes [from, from + n) of a generation beside the stream
  /// (a repair, or a finished file's missing end); offsets do not move.
  /// Repairs overwrite what the copy holds there; `truncate` cuts the copy
  /// after them.
  void send_aside(tail::source_reader& reader, const std::string& label,
                  const tail::file_id& id, const std::string& gen, uint64_t from,
                  uint64_t n, bool repair, bool truncate) {
    std::string bytes(n, '\0');
    auto got = reader.read_at(from, bytes.data(), n);
    if (!got || *got != n)
      return; // the source changed meanwhile: the next verify sees it
    auto body = tail::question_body({}, {opts.msg_type, opts.hostname, label, opts.op_mode, opts.source_id});
    body.query.clear();
    body.st_dev = id.st_dev;
    body.st_ino = id.st_ino;
    body.gen = gen;
    body.fpos = from;
    body.raw_size = n;
    body.repair = repair;
    body.truncate = truncate;
    wire::cc_message msg;
    msg.route.push_back(wire::local_route_frame(opts.job_name));
    msg.type = opts.msg_type;
    msg.body = wire::make_body(body);
    msg.blob = wire::blob::from_string(std::move(bytes));
    stats["repaired_bytes"] += static_cast<int64_t>(n);
    self->request(router, caf::infinite, dispatch_atom::value, std::move(msg))
      .then([](caf::ok_atom) {}, [](caf::error&) {
        // Not sent: the next verify finds the bytes still differing.
      });
  }

  // -- finished files after a writer restart --------------------------------

  /// At start, the files just before the one we are on may have been
  /// finished by the run before, and their copies touched since (the central
  /// down at the same time): they are asked about like files finished after
  /// a writer restart. Nothing is known of them but their bytes: a copy that
  /// holds none of a file (one before the first start) is left so.
  void queue_recent_files() {
    if (!src || !opts.ack)
      return;
    std::vector<std::string> before;
    if (opts.op == tailer_options::mode::rotated) {
      if (auto gens = tail::rotated_generations(opts.logdir, opts.logname))
        for (auto i = gens->rbegin(); i != gens->rend(); ++i)
          before.push_back(i->first);
    } else {
      refresh_listing(true);
      auto at = std::lower_bound(listing.begin(), listing.end(), src->label);
      for (auto i = std::make_reverse_iterator(at); i != listing.rend(); ++i)
        before.push_back(*i);
    }
    for (const auto& path : before) {
      if (to_recheck.size() >= recheck_count)
        break;
      auto id = tail::stat_file(path);
      if (!id || !*id || (*id)->same_file(src->id))
        continue;
      to_recheck.push_back({**id, tail::fingerprint{}, path, label_for(path), "", 0,
                            (*id)->size});
    }
  }

  /// Asks about the next recently finished file, one at a time, while the
  /// open source streams.
  void maybe_recheck() {
    if (acks() != peer_acks::yes || asked || checking || to_recheck.empty() || !src ||
        src->phase != sync_phase::ready)
      return;
    auto f = to_recheck.front();
    to_recheck.pop_front();
    auto reader = tail::source_reader::open(f.path);
    if (!reader)
      return; // gone: nothing to send from
    auto id = (*reader)->stat();
    auto same = tail::starts_with(**reader, f.fp);
    if (!id || !id->same_file(f.id) || !same || !*same)
      return; // not that file any more
    auto size = (*reader)->compressed() ? UINT64_MAX : id->size;
    checking.emplace(recheck{f, std::move(*reader),
                             tail::reconciler{f.id, size, {f.gen, f.end, f.base, !f.gen.empty()}}});
    ask(checking->reconcile.first(), purpose::recheck, f.label);
  }

  void on_recheck_answer(const wire::logtail_state_body& a) {
    if (!checking)
      return;
    auto r = checking->reconcile.feed(a, *checking->reader);
    if (!r) {
      log::warning(who(), "asking about " + checking->file.label + ": " + describe(r.error()));
      checking.reset();
      return;
    }
    if (auto* next = std::get_if<tail::question>(&*r)) {
      ask(*next, purpose::recheck, checking->file.label);
      return;
    }
    auto plan = std::get<tail::resume_plan>(*r);
    auto c = std::move(*checking);
    checking.reset();
    const auto& f = c.file;
    if (plan.offset >= f.end && !plan.truncate)
      return; // whole
    log::warning(who(), "the central's copy of " + f.label + " (finished) holds it up to " +
                          std::to_string(plan.offset) + " of " + std::to_string(f.end) +
                          " bytes delivered" + (plan.truncate ? ", then bytes it does not have" : "") +
                          ": sending the rest again");
    // The first piece cuts the copy back where it differs, if it must; the
    // rest follow it.
    auto at = plan.offset;
    bool cut = plan.truncate;
    do {
      auto n = std::min<uint64_t>(opts.fragment_bytes, f.end > at ? f.end - at : 0);
      send_aside(*c.reader, f.label, f.id, plan.gen, at, n, cut, cut);
      cut = false;
      at += n;
    } while (at < f.end);
  }

  void on_heartbeat(const wire::logtail_state_body& a) {
    auto& s = *src;
    if (s.phase != sync_phase::ready || a.status == wire::state_status::refused ||
        s.acked != heartbeat_acked)
      return; // busy again meanwhile: the acks tell
    std::optional<uint64_t> holds;
    for (const auto& seg : a.segments)
      if (seg.st_dev == s.id.st_dev && seg.st_ino == s.id.st_ino && seg.gen == s.gen)
        holds = seg.src_end;
    if (holds ? *holds == s.acked : s.acked == s.base)
      return; // as it should be (nothing of this generation sent yet, or all of it)
    log::warning(who(), "the central holds " +
                          (holds ? std::to_string(*holds) + " bytes" : std::string{"nothing"}) +
                          " of " + s.label + " (gen " + s.gen + "), " +
                          std::to_string(s.acked) +
                          " were acknowledged: asking what it holds");
    unsure();
  }

  // -- the loop -------------------------------------------------------------

  /// Everything that reacts to new data, acks and time.
  void check() {
    if (failed)
      return;
    if (watch)
      watch->rearm();
    // A switch opens a file whose bytes raise no new inotify event: go on
    // with it at once (bounded, in case files appear faster than we switch).
    for (int files = 0; files < 64; ++files) {
      if (!src)
        pick_waiting();
      if (!src)
        return;
      if (!verify_generation() || !src)
        return;
      if (src->phase != sync_phase::ready) {
        reconcile_step();
        break;
      }
      if (!pump())
        return;
      if (!handle_end_of_file())
        break;
    }
    schedule_deadlines();
  }

  /// Reads and sends until neither makes progress (window, outstanding
  /// requests and end of file bound it). False when the actor failed.
  bool pump() {
    for (;;) {
      bool progressed = false;
      if (can_read()) {
        auto n = read_block();
        if (!n) {
          fail(n.error());
          return false;
        }
        progressed = *n > 0;
      }
      if (send_ready())
        progressed = true;
      if (!src || failed)
        return false;
      if (!progressed)
        return true;
    }
  }

  /// At the end of a file with a newer one waiting: look for late writes
  /// `probes` times, then flush the rest, wait for the acks, and switch.
  /// Returns whether it switched.
  bool handle_end_of_file() {
    auto& s = *src;
    if (!s.at_eof)
      return false;
    auto next = newer_source();
    if (!next) {
      s.switching = false;  // the newer file went away again
      return false;
    }
    if (now() < s.next_probe)
      return false;
    if (s.probes_left > 0) {
      --s.probes_left;
      s.next_probe = now() + opts.probe_interval;
      return false;
    }
    if (!s.switching) {
      s.switching = true;
      if (!pump())
        return false;
    }
    if (src->buffered() > 0 || src->sent != src->acked || outstanding > 0)
      return false;  // the acks of the rest will call check() again
    switch_to(*next);
    return src.has_value();
  }

  /// Arms the one-shot timer for the earliest thing that waits on time.
  void schedule_deadlines() {
    if (!src)
      return;
    const auto& s = *src;
    if (s.at_eof && s.next_probe > now())
      schedule_at(s.next_probe);
    // A due flush that cannot go now (window, first fragment unconfirmed,
    // requests in flight) is retried by the ack or answer that unblocks it.
    if (s.buffered() > 0 && s.last_growth + opts.idle_flush > now())
      schedule_at(s.last_growth + opts.idle_flush);
    if (retry_until > now())
      schedule_at(retry_until);
    if (save_dirty)
      schedule_at(last_save + save_interval);
  }

  void schedule_at(steady::time_point t) {
    auto n = now();
    if (t < n)
      t = n;
    if (timer_at && *timer_at <= t && *timer_at >= n)
      return;
    timer_at = t;
    self->delayed_send(self, std::chrono::duration_cast<ms>(t - n) + ms{1},
                       flush_atom::value);
  }

  void ensure_watch() {
    if (!opts.inotify || watch)
      return;
    auto w = tail::file_watch::start(caf::actor{self}, opts.logdir);
    if (!w) {
      if (!watch_failed_logged)
        log::warning(who(), describe(w.error()) + "; polling every " +
                              std::to_string(opts.poll_interval.count()) +
                              " ms");
      watch_failed_logged = true;
      return;
    }
    watch = std::move(*w);
    if (src)
      watch->watch_file(src->path);
  }

  void on_tick() {
    if (watch && watch->dir_lost())
      watch.reset();  // logdir was replaced: watch the new one
    ensure_watch();
    check_ack_timeout();
    if (asked && asked_for != purpose::reconcile && now() - asked_at >= opts.ack_timeout) {
      asked.reset(); // unanswered: the next one goes after the next period
      verifying.reset();
      if (checking) {
        to_recheck.push_front(checking->file); // asked again later
        checking.reset();
      }
    }
    check();
    maybe_recheck();
    maybe_heartbeat();
    maybe_verify();
    self->delayed_send(self, opts.poll_interval, tick_atom::value);
  }

  void on_timer() {
    if (timer_at && now() >= *timer_at)
      timer_at.reset();
    if (save_dirty && now() >= last_save + save_interval)
      save();
    check();
  }

  /// End of the newest file minus the delivered position, in bytes.
  uint64_t lag_bytes() {
    if (!src)
      return 0;
    uint64_t lag = 0;
    auto cur = tail::stat_fd(src->fd, src->path);
    if (cur && cur->size > src->acked)
      lag = cur->size - src->acked;
    if (opts.op == tailer_options::mode::rotated) {
      auto id = tail::stat_file(opts.rotated_path());
      if (id && *id && !(*id)->same_file(src->id))
        lag += (*id)->size;
      return lag;
    }
    refresh_listing(true);
    auto i = std::upper_bound(listing.begin(), listing.end(), src->label);
    for (; i != listing.end(); ++i)
      if (auto id = tail::stat_file(*i); id && *id)
        lag += (*id)->size;
    return lag;
  }

  counters snapshot() {
    auto out = stats;
    if (src) {
      // Per file (the metric catalog labels them file="..."): where the
      // tailer stands in it, so lag is one subtraction for anyone.
      auto per_file = [&](const char* name) {
        return std::string{name} + "{" + src->label + "}";
      };
      out[per_file("lag_bytes")] = static_cast<int64_t>(lag_bytes());
      if (auto id = tail::stat_fd(src->fd, src->path))
        out[per_file("file_size")] = static_cast<int64_t>(id->size);
      out[per_file("read_offset")] = static_cast<int64_t>(src->read_pos());
      out[per_file("sent_offset")] = static_cast<int64_t>(src->sent);
      out[per_file("acked_offset")] = static_cast<int64_t>(src->acked);
      if (last_ack_at)
        out[per_file("last_ack_age_ms")] =
          std::chrono::duration_cast<ms>(now() - *last_ack_at).count();
    }
    out["failing"] = listing_failing || open_failing ? 1 : 0;
    out["outstanding"] = outstanding;
    if (opts.ack)
      out["ack_timeout_ms"] = std::max(ack_timeout_now, opts.ack_timeout).count();
    return out;
  }
};

caf::behavior tailer_actor(caf::stateful_actor<tailer_state>* self,
                           tailer_options opts, caf::actor router) {
  name_this_thread("cc-tailer");  // detached: its own thread
  auto& st = self->state;
  st.opts = std::move(opts);
  st.router = std::move(router);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // Positions are saved as acks arrive; the state's destructor waits until
    // the last one is on disk.
    log::info(self->state.who(),
              "stopping: " + self->system().render(msg.reason));
    self->quit(msg.reason);
  });
  self->request(st.router, caf::infinite, register_atom::value, st.opts.job_name,
                caf::actor{self})
    .then([](caf::ok_atom) {},
          [self](caf::error& err) {
            log::warning(self->state.who(),
                         "router did not register us: " + describe(err));
          });
  st.start();
  st.check();
  self->delayed_send(self, st.opts.poll_interval, tick_atom::value);
  return {
    [self](reply_atom, const wire::cc_message& msg) {
      self->state.on_reply(msg);
    },
    [self](wake_atom) { self->state.check(); },
    [self](tick_atom) { self->state.on_tick(); },
    [self](flush_atom) { self->state.on_timer(); },
    [self](stats_atom) { return self->state.snapshot(); },
  };
}

} // namespace

caf::actor spawn_tailer_actor(caf::actor_system& sys, tailer_options opts,
                              caf::actor router) {
  return sys.spawn<caf::detached>(tailer_actor, std::move(opts),
                                  std::move(router));
}

} // namespace cc
