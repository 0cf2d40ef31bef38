// The tailer's questions to the writer (docs/wire.md §6.1): the reconcile of
// a source whose copy is in doubt, holding while the writer cannot take it,
// the idle heartbeat, the background verify, and the recheck of finished
// files after a writer restart. The contract is in tail_core.hpp.
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
#include <variant>

namespace cc::tail {

/// The writer will not take the open source now ("denied": another source
/// owns its copy, or this link may not write this host) or cannot
/// ("error": no space, an I/O error): its bytes stay in the file, nothing
/// is sent, and it is asked again when the writer invites it (an "ok"
/// ack) or after a while (a denial: 1 s, doubling up to 30 s while it
/// lasts). One line per cause.
void tail_core::hold(const std::string& kind, const std::string& detail) {
  if (!src)
    return;
  auto& s = *src;
  bool denied = kind == wire::ack_status::denied;
  stats[denied ? tail_counts::denied : tail_counts::central_write_errors] += 1;
  if (denied)
    denied_wait = denied_wait.count() == 0 ? denied_retry_first
                                           : std::min(denied_wait * 2, denied_retry);
  if (kind + detail != held_said) {
    held_said = kind + detail;
    if (denied)
      log::error(who(), "the central refuses " + s.label + ": " + detail
                            + "; its bytes stay here; asking again after "
                            + std::to_string(denied_wait.count() / 1000)
                            + " s, then at doubling waits up to every "
                            + std::to_string(denied_retry.count() / 1000) + " s");
    else
      log::warning(who(), "central cannot write " + s.label + ": " + detail
                              + "; holding (the file is the buffer) until it can");
  }
  rewind(s.acked);
  gap_target.reset();
  s.truncate_next = false;
  enter(tail_phase::held);
  s.reconcile.reset();
  asked.reset();
  verifying.reset();
  held_until =
      now() + (denied ? denied_wait : std::max(ack_timeout_now, opts.ack_timeout));
  schedule_at(held_until);
}

/// The writer's view of the open source is in doubt: stop sending, forget
/// what was read past the acknowledged position, and ask.
void tail_core::unsure() {
  if (!src || acks() == peer_acks::no)
    return;
  auto& s = *src;
  rewind(s.acked);
  gap_target.reset();
  s.truncate_next = false;
  enter(tail_phase::unsure);
  // Ours to vouch for: this run streamed this generation.
  s.reconcile.emplace(s.id, s.reader->compressed() ? UINT64_MAX : current_size(),
                      own_position{s.gen, s.acked, s.base, true});
  asked.reset();
  drop_aside();
}

/// Forgets the questions asked beside the stream (background verify,
/// finished files); a finished file is asked about again later.
void tail_core::drop_aside() {
  verifying.reset();
  if (checking) {
    to_recheck.push_front(checking->file);
    checking.reset();
  }
}

uint64_t tail_core::current_size() {
  auto id = stat_fd(src->fd, src->path);
  return id ? id->size : 0;
}

/// Notes the writer's instance id; true when it changed (the writer
/// restarted): the open source is then asked about again.
bool tail_core::note_writer(const std::string& id) {
  if (id.empty() || id == writer_id)
    return false;
  bool first = writer_id.empty();
  writer_id = id;
  if (first)
    return false;
  stats[tail_counts::writer_restarts] += 1;
  to_recheck.assign(finished.size() > recheck_count ? finished.end() - recheck_count
                                                    : finished.begin(),
                    finished.end());
  std::reverse(to_recheck.begin(), to_recheck.end()); // the newest first
  if (!src || !streaming())
    return false;
  log::info(who(),
            "the central's writer restarted: asking what it holds of " + src->label);
  unsure();
  check();
  return true;
}

/// Asks the first question of a reconcile, or asks the last one again
/// when its answer is overdue. Nothing is sent meanwhile.
void tail_core::reconcile_step() {
  auto& s = *src;
  if (phase_ == tail_phase::held) {
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
    if (!leave_loop()) // its durable .save is not the loop's
      go_without_writer();
    return;
  }
  if (phase_ == tail_phase::unsure) {
    if (!s.reconcile)
      s.reconcile.emplace(s.id, UINT64_MAX, own_position{s.gen, s.acked, s.base, true});
    enter(tail_phase::asking);
    question_timeout = std::max(ack_timeout_now, opts.ack_timeout);
    ask(s.reconcile->first(), purpose::reconcile);
    return;
  }
  if (phase_ == tail_phase::asking && asked && asked_for == purpose::reconcile
      && now() - asked_at >= question_timeout) {
    // Once per episode: the forwarder says whether the link is down.
    if (!question_overdue)
      log::warning(who(), "no answer from the central about " + s.label + " within "
                              + std::to_string(question_timeout.count())
                              + " ms; asking again until it answers");
    question_overdue = true;
    question_timeout = std::min(question_timeout * 2, opts.ack_timeout * max_ack_backoff);
    ask(*asked, purpose::reconcile);
  }
}

/// ack = auto towards a writer that never answers (an original CC): the
/// source goes on as with ack = no, from where it was opened (tail -f on
/// a first start, the saved position otherwise).
void tail_core::go_without_writer() {
  auto& s = *src;
  asked.reset();
  verifying.reset();
  if (s.probe) {
    walk.clear();
    walk_newest.clear();
    s.probe = false;
  }
  enter(tail_phase::streaming);
  s.reconcile.reset();
  s.truncate_next = false;
  log_tailing(s.why);
  s.why.clear();
  save(durability::now); // durable before the first fragment, as ack = no
}

/// Sends a question about the open source along the fragments' route.
void tail_core::ask(const question& q, purpose what) {
  ask(q, what, src->label);
}

/// A question about the file named `label` in fragments.
void tail_core::ask(const question& q, purpose what, const std::string& label) {
  // One question at a time: a reconcile goes first, what was asked beside
  // the stream is asked again later.
  if (asked && asked_for != what)
    drop_aside();
  auto body = question_body(
      q, {opts.msg_type, opts.hostname, label, opts.op_mode, opts.source_id});
  wire::cc_message msg;
  msg.route.push_back(wire::local_route_frame(opts.job_name));
  msg.type = opts.msg_type;
  msg.body = wire::make_body(body);
  asked = q;
  asked_at = now();
  asked_for = what;
  stats[tail_counts::questions] += 1;
  auto ep = epoch;
  route(
      std::move(msg), [] {},
      [this, ep](const caf::error& err) {
        // Not sent (no route, a full queue): ask again after a pause.
        if (ep != epoch || !src)
          return;
        stats[tail_counts::send_errors] += 1;
        log::debug(who(), "question not sent: " + describe(err));
        asked.reset();
        verifying.reset();
        if (phase_ == tail_phase::asking)
          enter(tail_phase::unsure);
        retry_until = now() + opts.retry_delay;
        schedule_at(retry_until);
      });
}

void tail_core::on_state(const wire::cc_message& msg) {
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
  if (!src || !asked || !answers(*a, *asked)) {
    stats[tail_counts::stale_acks] += 1;
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
  if (phase_ != tail_phase::asking || !src->reconcile)
    return;
  if (a->status == wire::state_status::denied) {
    hold(std::string{wire::ack_status::denied}, a->detail);
    return;
  }
  if (log::enabled(log::level::debug)) {
    std::string segs;
    for (const auto& s : a->segments)
      segs += " [" + s.gen + " " + std::to_string(s.src_base) + ".." + std::to_string(s.src_end)
              + (s.last ? " last" : "") + ", " + std::to_string(s.digests.size()) + " digests]";
    log::debug(who(), "answer for " + src->path + ": " + std::string{a->status} + segs);
  }
  auto r = src->reconcile->feed(*a, *src->reader);
  if (!r) {
    fail(r.error());
    return;
  }
  if (auto* next = std::get_if<question>(&*r)) {
    ask(*next, purpose::reconcile);
    return;
  }
  settle(std::get<resume_plan>(*r));
  check();
}

/// The writer said where the open source goes on.
void tail_core::settle(const resume_plan& plan) {
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
    stats[tail_counts::resumed_below_acked] += 1;
    log::warning(who(), "the central holds " + s.label + " only up to "
                            + std::to_string(plan.offset) + ", below the "
                            + std::to_string(s.acked)
                            + " bytes acknowledged before: sending them again");
  }
  if (s.streamed && plan.gen == s.gen)
    count_delivered(plan.offset); // sent by this run, its ack lost
  else
    s.counted = plan.offset;
  s.streamed = true;
  s.gen = plan.gen;
  s.base = plan.base;
  s.acked = s.sent = plan.offset;
  s.drop_pending();
  s.at_eof = false;
  s.gen_confirmed = plan.writer_has_gen;
  s.truncate_next = plan.truncate;
  enter(tail_phase::streaming);
  s.reconcile.reset();
  ++epoch;
  gap_target.reset();
  // The ack timeout's backoff stays: an answer is not an ack.
  last_ack_progress = now();
  stats[tail_counts::reconciles] += 1;
  log_tailing(s.why.empty() ? plan.why : s.why + "; " + plan.why);
  s.why.clear();
  save(durability::now);
}

/// An idle source's writer is asked, once per ack-timeout, whether it
/// still holds what it acknowledged (a copy cut or extended behind its
/// back while it was down, a restart without traffic since).
void tail_core::maybe_heartbeat() {
  if (acks() != peer_acks::yes || !src || asked || outstanding > 0)
    return;
  const auto& s = *src;
  if (!streaming() || s.sent != s.acked || s.buffered() > 0
      || now() - last_contact < opts.ack_timeout)
    return;
  question q;
  q.query = std::string{wire::query_kind::state};
  q.st_dev = s.id.st_dev;
  q.st_ino = s.id.st_ino;
  q.gen = s.gen;
  heartbeat_acked = s.acked;
  ask(q, purpose::heartbeat);
}

/// Every verify-period, the open generation's delivered bytes are compared
/// with the copy, block by block, between other work; what differs is
/// sent again as repairs (docs/wire.md §6.1).
void tail_core::maybe_verify() {
  if (opts.verify_period.count() == 0 || acks() != peer_acks::yes || !src || asked
      || verifying)
    return;
  const auto& s = *src;
  if (!streaming() || s.acked <= s.base)
    return;
  if (next_verify == time_point{}) {
    next_verify = now() + opts.verify_period;
    return;
  }
  if (now() < next_verify)
    return;
  next_verify = now() + opts.verify_period;
  question segment;
  segment.st_dev = s.id.st_dev;
  segment.st_ino = s.id.st_ino;
  segment.gen = s.gen;
  verifying.emplace(segment, s.base, s.acked);
  ask(*verifying->next(), purpose::verify);
}

void tail_core::on_verify_answer(const wire::logtail_state_body& a) {
  if (!verifying || !src || src->gen != verifying->next()->gen)
    return;
  if (a.status != wire::state_status::ok) {
    log::info(who(), "background verify of " + src->label + " stopped: the writer says "
                         + a.status + (a.detail.empty() ? "" : " (" + a.detail + ")"));
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
    stats[tail_counts::verify_mismatch_bytes] += static_cast<int64_t>(to - from);
    log::warning(who(), "background verify: the copy of " + src->label + " differs at "
                            + std::to_string(from) + ".." + std::to_string(to)
                            + "; sending those bytes again");
    for (auto at = from; at < to; at += opts.fragment_bytes)
      send_repair(at, std::min<uint64_t>(opts.fragment_bytes, to - at));
  }
}

/// Sends source bytes [from, from + n) of the open generation as a repair
/// that overwrites them in the copy; the stream's offsets do not move.
void tail_core::send_repair(uint64_t from, uint64_t n) {
  auto& s = *src;
  send_aside(*s.reader, s.label, s.id, s.gen, from, n, true, false);
}

/// Sends source bytes [from, from + n) of a generation beside the stream
/// (a repair, or a finished file's missing end); offsets do not move.
/// Repairs overwrite what the copy holds there; `truncate` cuts the copy
/// after them.
void tail_core::send_aside(source_reader& reader, const std::string& label,
                           const file_id& id, const std::string& gen, uint64_t from,
                           uint64_t n, bool repair, bool truncate) {
  std::string bytes(n, '\0');
  auto got = reader.read_at(from, bytes.data(), n);
  if (!got || *got != n)
    return; // the source changed meanwhile: the next verify sees it
  auto body = question_body(
      {}, {opts.msg_type, opts.hostname, label, opts.op_mode, opts.source_id});
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
  stats[tail_counts::repaired_bytes] += static_cast<int64_t>(n);
  route(
      std::move(msg), [] {},
      [](const caf::error&) {
        // Not sent: the next verify finds the bytes still differing.
      });
}

/// At start, the files just before the one we are on may have been
/// finished by the run before, and their copies touched since (the central
/// down at the same time): they are asked about like files finished after
/// a writer restart. Nothing is known of them but their bytes: a copy that
/// holds none of a file (one before the first start) is left so.
void tail_core::queue_recent_files() {
  if (!src || !opts.ack)
    return;
  std::vector<std::string> before;
  before = policy->before(src->label);
  for (const auto& path : before) {
    if (to_recheck.size() >= recheck_count)
      break;
    auto id = stat_file(path);
    if (!id || !*id || (*id)->same_file(src->id))
      continue;
    to_recheck.push_back(
        {**id, fingerprint{}, path, policy->label_for(path), "", 0, (*id)->size});
  }
}

/// Asks about the next recently finished file, one at a time, while the
/// open source streams.
void tail_core::maybe_recheck() {
  if (acks() != peer_acks::yes || asked || checking || to_recheck.empty() || !src
      || !streaming())
    return;
  auto f = to_recheck.front();
  to_recheck.pop_front();
  auto reader = source_reader::open(f.path);
  if (!reader)
    return; // gone: nothing to send from
  auto id = (*reader)->stat();
  auto same = starts_with(**reader, f.fp);
  if (!id || !id->same_file(f.id) || !same || !*same)
    return; // not that file any more
  auto size = (*reader)->compressed() ? UINT64_MAX : id->size;
  checking.emplace(
      recheck_job{f, std::move(*reader),
                  reconciler{f.id, size, {f.gen, f.end, f.base, !f.gen.empty()}}});
  ask(checking->reconcile.first(), purpose::recheck, f.label);
}

void tail_core::on_recheck_answer(const wire::logtail_state_body& a) {
  if (!checking)
    return;
  auto r = checking->reconcile.feed(a, *checking->reader);
  if (!r) {
    log::warning(who(),
                 "asking about " + checking->file.label + ": " + describe(r.error()));
    checking.reset();
    return;
  }
  if (auto* next = std::get_if<question>(&*r)) {
    ask(*next, purpose::recheck, checking->file.label);
    return;
  }
  auto plan = std::get<resume_plan>(*r);
  auto c = std::move(*checking);
  checking.reset();
  const auto& f = c.file;
  if (plan.offset >= f.end && !plan.truncate)
    return; // whole
  log::warning(who(), "the central's copy of " + f.label + " (finished) holds it up to "
                          + std::to_string(plan.offset) + " of " + std::to_string(f.end)
                          + " bytes delivered"
                          + (plan.truncate ? ", then bytes it does not have" : "")
                          + ": sending the rest again");
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

void tail_core::on_heartbeat(const wire::logtail_state_body& a) {
  auto& s = *src;
  if (!streaming() || a.status == wire::state_status::refused
      || s.acked != heartbeat_acked)
    return; // busy again meanwhile: the acks tell
  std::optional<uint64_t> holds;
  for (const auto& seg : a.segments)
    if (seg.st_dev == s.id.st_dev && seg.st_ino == s.id.st_ino && seg.gen == s.gen)
      holds = seg.src_end;
  if (holds ? *holds == s.acked : s.acked == s.base)
    return; // as it should be (nothing of this generation sent yet, or all of it)
  log::warning(who(),
               "the central holds "
                   + (holds ? std::to_string(*holds) + " bytes" : std::string{"nothing"})
                   + " of " + s.label + " (gen " + s.gen + "), " + std::to_string(s.acked)
                   + " were acknowledged: asking what it holds");
  unsure();
}

} // namespace cc::tail
