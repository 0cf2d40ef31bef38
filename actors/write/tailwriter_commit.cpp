// A tailwriter worker's group commit of new copies (worker_core,
// tailwriter_worker.hpp; the log and its rounds in commit_log.hpp): a new
// copy's journal lines (H, O, its first S) and owner record are written
// without a sync of their own and logged; the fragment that created it, and
// whatever follows for that copy or asks about its destination, is held
// until a commit round made all of it durable (one fdatasync of the log,
// one fsync per directory that got a name), so no byte of a new copy is
// written before its bookkeeping is durable, as before, at a few syncs per
// batch of new copies instead of ~5 in a row per copy on the worker.
#include <algorithm>

#include "actors/write/tailwriter_worker.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"

namespace cc::tw {

bool worker_core::evictable(const std::string& identity) const {
  auto c = copies_.find(identity);
  return c != copies_.end() && !c->second.pinned && waiting_.count(identity) == 0;
}

bool worker_core::hold_if_waiting(const fragment_ptr& fp, const std::string& identity) {
  auto w = waiting_.find(identity);
  if (w == waiting_.end())
    return false;
  held_.push_back({fp, w->second.round, false});
  return true;
}

void worker_core::await_commit(const fragment_ptr& fp, copy_file& cf,
                               const source_key& key, bool created) {
  const auto& b = fp->body;
  uint64_t round = commits_->rounds() + 1;
  if (created) {
    // The segment starts now, so its S line is in the round with the
    // journal's H and O lines; the held fragment continues it.
    if (auto err = cf.skip_to(key, b.gen, b.fpos))
      log::error(opts_.who, "starting a segment of " + cf.path() + ": " + describe(err));
    // Its H, O and S lines in one write (durable by the round, as the log's).
    auto held = cf.write_held_journal();
    if (held)
      log::error(opts_.who, "journal of " + cf.path() + ": " + describe(held));
    if (held) {
      // Its journal is not in the log: written now, the copy would be
      // found again without it (its bytes appended a second time). It goes
      // unwritten and unacknowledged; its sender sends it again.
      auto identity = cf.identity(); // cf goes with it
      drop_failed(identity);
      return;
    }
    commits_->add_journal_log(); // the round syncs the journal log
    if (cf.created_name())
      commits_->add_copy(cf.path());
    collect(cf);
  }
  if (waiting_.emplace(cf.identity(), waiting_copy{round, fp->dest_base}).second)
    ++waiting_dests_[fp->dest_base];
  held_.push_back({fp, round, created});
}

bool worker_core::commit_due() const {
  return commits_ && commits_->pending() && !commit_in_flight_;
}

commit_round_ptr worker_core::start_commit() {
  commit_in_flight_ = true;
  auto round = std::make_shared<commit_round>(commits_->take());
  round->journal = jlog_->fd();
  return round;
}

void worker_core::finish_commit(commit_round& round, clock::time_point now, outbox& out) {
  commit_in_flight_ = false;
  commits_->finished(round);
  counters_->fsyncs += round.syncs;
  if (round.err) {
    // Nothing of its copies was written: the next round (a syncfs) covers
    // them; what waits for this one waits for that one.
    log::error(opts_.who, describe(round.err) + "; trying again");
    commits_->retry();
    for (auto& [identity, w] : waiting_)
      w.round = std::max(w.round, commits_->rounds() + 1);
    for (auto& h : held_)
      h.round = std::max(h.round, commits_->rounds() + 1);
    return;
  }
  release_through(round.number, now, out);
  compact_journal_log();
}

/// Copies whose round is `number` or earlier are durable: written from now
/// on, and what was held for them handled in the order it came (a question
/// about a destination still waiting for a later round waits on).
void worker_core::release_through(uint64_t number, clock::time_point now, outbox& out) {
  for (auto w = waiting_.begin(); w != waiting_.end();) {
    if (w->second.round > number) {
      ++w;
      continue;
    }
    if (auto c = copies_.find(w->first); c != copies_.end())
      c->second.file->committed();
    auto d = waiting_dests_.find(w->second.dest_base);
    if (d != waiting_dests_.end() && --d->second == 0)
      waiting_dests_.erase(d);
    w = waiting_.erase(w);
  }
  // The ready ones out, in order; the others stay in order (no temporary
  // buffer, nothing moved twice).
  std::vector<held_fragment> ready;
  size_t kept = 0;
  for (auto& h : held_) {
    if (h.round > number) {
      if (&held_[kept] != &h)
        held_[kept] = std::move(h);
      ++kept;
    } else {
      ready.push_back(std::move(h));
    }
  }
  held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(kept), held_.end());
  for (auto& h : ready) {
    if (h.f->body.query.empty())
      take(h.f, h.started, now, out);
    else if (waiting_dests_.count(h.f->dest_base) != 0)
      held_.push_back({h.f, commits_->rounds() + 1, false});
    else
      answer(*h.f, now, out);
  }
}

void worker_core::commit_at_exit(clock::time_point now, outbox& out) {
  if (!commits_ || (held_.empty() && waiting_.empty() && !commits_->pending()))
    return;
  int64_t syncs = 0;
  auto err = commits_->sync_all(syncs);
  counters_->fsyncs += syncs;
  if (err) {
    // Not durable: nothing held is written or acknowledged; its senders
    // send it again to the next start (their acks never came).
    log::error(opts_.who, describe(err) + "; " + std::to_string(held_.size())
                            + " held fragments and questions are left unanswered");
    return;
  }
  release_through(UINT64_MAX, now, out); // every round, the one in flight too
}

} // namespace cc::tw
