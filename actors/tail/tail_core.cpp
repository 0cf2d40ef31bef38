// The tailer core's loop, timers, acknowledgements and counters; the
// contract is in tail_core.hpp.
#include "actors/tail/ack_progress.hpp"
#include "actors/tail/tail_core.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.hpp"
#include "base/hash.hpp"
#include "base/logger.hpp"

namespace cc::tail {

tail_core::tail_core(tailer_options options, tail_clock& clock, tail_effects& effects)
    : opts(std::move(options)), clock_(clock), fx(effects) {
  policy = next_file_policy::make(
      opts, clock_, [this](const std::string& path) { return already_read(path); },
      [this] { return !watch || watch->take_dir_changed(); });
}

tail_core::~tail_core() {
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

const char* to_string(tail_phase p) {
  switch (p) {
  case tail_phase::idle:
    return "idle";
  case tail_phase::unsure:
    return "unsure";
  case tail_phase::asking:
    return "asking";
  case tail_phase::streaming:
    return "streaming";
  case tail_phase::draining:
    return "draining";
  case tail_phase::held:
    return "held";
  }
  return "?";
}

namespace {

/// The moves between phases (from -> the phases it may go to). Staying in
/// a phase is always allowed (asked again, held again). Any phase may go to
/// idle (the source closed) and, with acks, to unsure (its copy in doubt)
/// or held (the writer refuses or cannot write).
bool allowed(tail_phase from, tail_phase to) {
  using p = tail_phase;
  if (from == to || to == p::idle || to == p::unsure || to == p::held)
    return true;
  switch (from) {
  case p::idle:
    return to == p::streaming; // opened without acks
  case p::unsure:
    return to == p::asking || to == p::streaming; // asked; no writer
  case p::asking:
    return to == p::streaming; // settled
  case p::streaming:
    return to == p::draining; // a newer file waits
  case p::draining:
    return to == p::streaming; // it went away again
  case p::held:
    return false; // only by asking again
  }
  return false;
}

} // namespace

void tail_core::enter(tail_phase next) {
  if (!allowed(phase_, next))
    log::error(who(), std::string{"internal: phase "} + to_string(phase_) + " -> "
                          + to_string(next) + " is not in the table");
  phase_ = next;
}

open_source_ref tail_core::source_ref() const {
  return {src->fd, src->path, src->label, src->id};
}

/// An I/O failure we cannot work around: end with the error, so the
/// jobmgr logs it and restarts the tailer from its saved position.
void tail_core::fail(const caf::error& err) {
  if (failed)
    return;
  failed = true;
  log::error(who(), describe(err));
  fx.quit(err);
}

void tail_core::on_reply(const wire::cc_message& msg) {
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
  if (!src || ack->filename != src->label || ack->st_dev != src->id.st_dev
      || ack->st_ino != src->id.st_ino || ack->gen != src->gen) {
    stats[tail_counts::stale_acks] += 1;
    return;
  }
  src->gen_confirmed = true;
  ever_acked = true;
  if (ack->status == wire::ack_status::denied || ack->status == wire::ack_status::error) {
    hold(ack->status, ack->detail);
  } else if (ack->status == "ok" && phase_ == tail_phase::held) {
    // The writer can take it again (it invites held senders): ask, then go.
    unsure();
  } else if (ack->status == "ok") {
    if (ack->fpos >= src->acked)
      ack_timeout_now = opts.ack_timeout; // the writer answers: no backoff
    if (!held_said.empty() && ack->fpos > src->acked) {
      log::info(who(), "the central takes " + src->label + " again");
      held_said.clear();
      denied_wait = ms{0};
    }
    advance_acked(ack->fpos);
  } else if (ack->status == "gap" && ack->fpos < src->acked) {
    // The copy holds less than it acknowledged: lost or cut behind the
    // writer's back. Ask what it holds; the source still has the bytes.
    stats[tail_counts::gaps_reported] += 1;
    log::warning(who(), "the central holds " + src->label + " only up to "
                            + std::to_string(ack->fpos) + ", below the "
                            + std::to_string(src->acked)
                            + " bytes it acknowledged: asking what it holds");
    unsure();
  } else if (ack->status == "gap") {
    on_gap(ack->fpos);
  } else if (ack->status == "refused") {
    stats[tail_counts::refused] += 1;
    log::error(who(),
               "the writer refuses " + src->label + "; dropping the bytes sent so far");
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
void tail_core::on_gap(uint64_t fpos) {
  stats[tail_counts::gaps_reported] += 1;
  advance_acked(fpos);
  if (gap_target && *gap_target == fpos) {
    // The same gap, reported by another fragment that was in flight:
    // one rewind (and one line) answers them all.
    if (src->sent <= fpos)
      rewind(fpos);
    return;
  }
  log::info(who(), "writer reports a gap in " + src->label + " at " + std::to_string(fpos)
                       + " (sent up to " + std::to_string(src->sent) + "); resending");
  gap_target = fpos;
  rewind(fpos);
}

/// The one place that decides whether this tailer works with a writer
/// that acknowledges: ack = yes / no as configured; ack = auto as the
/// route's forwarder learned from its remote (actors/core/ack_caps.hpp).
/// unknown (not learned yet): a source waits before its first question,
/// and nothing is sent (an original writer would append a resend again).
peer_acks tail_core::acks() const {
  if (opts.auto_acks)
    return opts.auto_acks->now();
  return opts.ack ? peer_acks::yes : peer_acks::no;
}

void tail_core::check_ack_timeout() {
  auto mode = acks();
  if (mode == peer_acks::no && src && streaming() && outstanding == 0
      && src->sent > src->acked) {
    // ack = auto that turned out `no`: what the router took is delivered,
    // as with ack = no (every answer is in: nothing outstanding).
    advance_acked(src->sent);
    return;
  }
  if (mode != peer_acks::yes || !src || !streaming() || src->sent == src->acked)
    return;
  if (ack_timeout_now < opts.ack_timeout)
    ack_timeout_now = opts.ack_timeout;
  if (now() - last_ack_progress < ack_timeout_now)
    return;
  // Acks still come for fragments sent before ours: the central is behind,
  // not silent (up to the longest backoff, a bound for an ack that is lost).
  auto oldest = src->in_flight.empty() ? last_ack_progress : src->in_flight.front().second;
  if (opts.ack_clock && now() - last_ack_progress < opts.ack_timeout * max_ack_backoff
      && opts.ack_clock->behind(oldest, now() - ack_timeout_now))
    return; // looked at again at the next tick
  stats[tail_counts::resends] += 1;
  log::warning(who(), "no ack for " + src->label + " past " + std::to_string(src->acked)
                          + " within " + std::to_string(ack_timeout_now.count())
                          + " ms; asking the central what it holds, then resending");
  last_ack_progress = now();
  ack_timeout_now = std::min(ack_timeout_now * 2, opts.ack_timeout * max_ack_backoff);
  unsure();
}

/// Everything that reacts to new data, acks and time.
void tail_core::check() {
  if (failed)
    return;
  if (watch)
    watch->rearm();
  // After the look: may the next inotify wake run it on the loop thread?
  struct settle {
    tail_core& core;
    ~settle() {
      core.note_settled();
    }
  } settle_after{*this};
  // A switch opens a file whose bytes raise no new inotify event: go on
  // with it at once (bounded, in case files appear faster than we switch).
  for (int files = 0; files < 64; ++files) {
    if (!src && leave_loop())
      return; // opening a file (and its durable .save) is not the loop's
    if (!src)
      pick_waiting();
    if (!src)
      return;
    if (src->reader->compressed() && leave_loop())
      return; // a rotation's compressed copy: decompressing is not the loop's
    if (!verify_generation() || !src)
      return;
    if (!streaming()) {
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

bool tail_core::leave_loop() {
  if (fx.may_block())
    return false;
  fx.leave_loop();
  return true;
}

void tail_core::note_settled() {
  // Not whether bytes are in flight: a 50 MB/s stream's look (an append a
  // millisecond) on the loop saves the scheduler worker's wake-up per append
  // (bench/PROFILE.md, "Session 18: latency on a quiet host").
  if (watch)
    watch->set_settled(outstanding == 0);
}

/// Reads and sends until neither makes progress (window, outstanding
/// requests and end of file bound it). False when the actor failed.
bool tail_core::pump() {
  uint64_t read_here = 0;
  for (;;) {
    bool progressed = false;
    if (can_read()) {
      if (read_here >= loop_read_max && leave_loop())
        return true; // a stream, not a trickle: the rest off the loop
      auto n = read_block();
      if (!n) {
        fail(n.error());
        return false;
      }
      progressed = *n > 0;
      read_here += *n;
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
bool tail_core::handle_end_of_file() {
  auto& s = *src;
  if (!s.at_eof)
    return false;
  auto next = newer_source();
  if (!next) {
    if (phase_ == tail_phase::draining)
      enter(tail_phase::streaming); // the newer file went away again
    return false;
  }
  if (now() < s.next_probe)
    return false;
  if (s.probes_left > 0) {
    --s.probes_left;
    s.next_probe = now() + opts.probe_interval;
    return false;
  }
  if (phase_ != tail_phase::draining) {
    enter(tail_phase::draining);
    if (!pump())
      return false;
  }
  if (src->buffered() > 0 || src->sent != src->acked || outstanding > 0)
    return false; // the acks of the rest will call check() again
  if (leave_loop())
    return false; // the next file's open and durable .save: off the loop
  switch_to(*next);
  return src.has_value();
}

/// Arms the one-shot timer for the earliest thing that waits on time.
void tail_core::schedule_deadlines() {
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
    schedule_at(save_due());
}

void tail_core::schedule_at(time_point t) {
  auto n = now();
  if (t < n)
    t = n;
  if (timer_at && *timer_at <= t && *timer_at >= n)
    return;
  timer_at = t;
  clock_.arm(t);
}

namespace {

/// The names of logdir whose events concern the tailer: classic mode's
/// logmask; rotated mode's logname and its rotations (a superset of what
/// rotation_candidates looks at), the name taken literally.
std::string watched_names(const tailer_options& o) {
  if (o.op == tailer_options::mode::classic)
    return o.logmask;
  std::string glob;
  for (char c : o.logname) {
    if (c == '*' || c == '?' || c == '[' || c == '\\')
      glob += '\\';
    glob += c;
  }
  return glob + "*";
}

} // namespace

void tail_core::ensure_watch() {
  if (!opts.inotify || watch)
    return;
  auto w = fx.watch(opts.logdir, watched_names(opts));
  if (!w) {
    if (!watch_failed_logged)
      log::warning(who(), describe(w.error()) + "; polling every "
                              + std::to_string(opts.poll_interval.count()) + " ms");
    watch_failed_logged = true;
    return;
  }
  watch = std::move(*w);
  if (src)
    watch->watch_file(src->path);
}

void tail_core::on_tick() {
  stats[tail_counts::polls] += 1;
  if (watch && watch->dir_lost())
    watch.reset(); // logdir was replaced: watch the new one
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
}

// An idle tailer polled every poll-interval for an event inotify already
// reports: 10,000 idle tailers took a third of a core in wake-ups and
// directory listings. Under a working watch the poll is only the safety net,
// so an idle one polls quiet_ticks times less often; anything in flight
// keeps the full rate (ack timeouts, unanswered questions).
bool tail_core::quiet() const {
  if (failed || !watch || watch->dir_lost() || asked || verifying || checking
      || outstanding > 0 || !to_recheck.empty())
    return false;
  if (!src)
    return true; // waiting for a file: the directory watch reports it
  const auto& s = *src;
  return streaming() && s.at_eof && s.sent == s.acked && s.buffered() == 0;
}

std::chrono::milliseconds tail_core::next_tick() const {
  using std::chrono::milliseconds;
  auto poll = opts.poll_interval;
  if (!quiet())
    return poll;
  auto t = now();
  auto until = t + poll * quiet_ticks;
  if (src && acks() == peer_acks::yes)
    until = std::min(until, last_contact + opts.ack_timeout); // heartbeat
  if (src && opts.verify_period.count() > 0 && next_verify != time_point{})
    until = std::min(until, next_verify);
  auto wait = std::chrono::duration_cast<milliseconds>(until - t);
  return std::max(wait, poll);
}

void tail_core::on_timer() {
  if (timer_at && now() >= *timer_at)
    timer_at.reset();
  if (save_dirty && now() >= save_due())
    save();
  check();
}

/// End of the newest file minus the delivered position, in bytes.
uint64_t tail_core::lag_bytes() {
  if (!src)
    return 0;
  uint64_t lag = 0;
  auto cur = stat_fd(src->fd, src->path);
  if (cur && cur->size > src->acked)
    lag = cur->size - src->acked;
  return lag + policy->newer_bytes(source_ref());
}

const char* const tail_counts::names[tail_counts::size_] = {
    "bytes_read",
    "fragments_sent",
    "bytes_sent",
    "acked_bytes",
    "resends",
    "gaps_reported",
    "files_switched",
    "skipped_bytes",
    "send_errors",
    "refused",
    "generations",
    "stale_acks",
    "reconciles",
    "copies_cut_back",
    "resumed_below_acked",
    "moved_generation_reads",
    "lost_bytes",
    "writer_restarts",
    "questions",
    "verify_mismatch_bytes",
    "repaired_bytes",
    "denied",
    "central_write_errors",
    "polls",
};

void tail_counts::add_to(counters& out) const {
  for (size_t i = 0; i < size_; ++i)
    out.emplace(names[i], values[i]);
}

counters tail_core::snapshot() {
  counters out;
  stats.add_to(out);
  if (src) {
    // Per file (the metric catalog labels them file="..."): where the
    // tailer stands in it, so lag is one subtraction for anyone.
    auto per_file = [&](const char* name) {
      return std::string{name} + "{" + src->label + "}";
    };
    out[per_file("lag_bytes")] = static_cast<int64_t>(lag_bytes());
    if (auto id = stat_fd(src->fd, src->path))
      out[per_file("file_size")] = static_cast<int64_t>(id->size);
    out[per_file("read_offset")] = static_cast<int64_t>(src->read_pos());
    out[per_file("sent_offset")] = static_cast<int64_t>(src->sent);
    out[per_file("acked_offset")] = static_cast<int64_t>(src->acked);
    if (last_ack_at)
      out[per_file("last_ack_age_ms")] =
          std::chrono::duration_cast<ms>(now() - *last_ack_at).count();
  }
  out["failing"] = policy->listing_failing() || open_failing ? 1 : 0;
  out["outstanding"] = outstanding;
  if (opts.ack)
    out["ack_timeout_ms"] = std::max(ack_timeout_now, opts.ack_timeout).count();
  return out;
}

} // namespace cc::tail
