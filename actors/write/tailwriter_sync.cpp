// A tailwriter worker makes its copies durable and says so (worker_core,
// tailwriter_worker.hpp): logtail.ack replies, the grouping of syncs (in
// place, or handed to the sync thread as a sync_batch and finished when it
// comes back), a copy whose sync failed dropped with nothing acknowledged, the
// finishing of compressed members, and closing copies (idle, evicted, at
// shutdown; a plain copy with unsynced bytes leaves its sync and its acks to
// the next batch). The fdatasync itself runs on the process's sync thread
// (run_sync_jobs, tailwriter_worker.cpp).
#include <fcntl.h>
#include <unistd.h>

#include "actors/write/tailwriter_worker.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/logger.hpp"
#include "wire/codec.hpp"

namespace cc::tw {

namespace {

constexpr const char* ack_type = "logtail.ack";

} // namespace

wire::header worker_core::reply_header(const char* type) const {
  wire::header hdr;
  hdr.req = type;
  hdr.time = wire::now_seconds();
  hdr.hostname = opts_.hostname;
  return hdr;
}

wire::cc_message worker_core::make_ack(const std::vector<std::string>& route,
                                       const source_key& key,
                                       const std::string& gen, uint64_t fpos,
                                       std::string_view status,
                                       const std::string& detail) {
  // The body written from its parts (wire::make_ack_body: the text
  // make_body(logtail_ack_body) writes), without copying each string into
  // a struct first.
  wire::cc_message msg;
  msg.route = route;
  msg.type = ack_type;
  msg.body = wire::make_ack_body(wire::now_seconds(), opts_.hostname, key.filename, key.st_dev,
                                 key.st_ino, gen, fpos, status, opts_.writer_id, detail);
  counters_->acks_sent += 1;
  return msg;
}

void worker_core::rewind_acks(const std::string& identity) {
  // The copy holds less (or other bytes) than some acks said: the next ack
  // of each of its keys names what it holds now, even if that is lower.
  auto c = copies_.find(identity);
  auto keys = keys_of_.find(identity);
  if (c == copies_.end() || keys == keys_of_.end())
    return;
  for (const auto& k : keys->second) {
    auto& e = acks_.at(k);
    const auto* seg = c->second.file->find(k.key, k.gen);
    e.acked = std::min(e.acked, seg != nullptr ? seg->durable_end : 0);
    touched_.insert(k);
  }
}

void worker_core::confirm_start(const copy_file& cf, const source_key& key,
                                const std::string& gen, ack_entry& e, outbox& out) {
  // The segment's S line is durable (start_segment synced the journal), so
  // its start is: acknowledge that at once rather than after the next data
  // sync, and the sender goes on streaming a sync interval earlier.
  const auto* seg = cf.find(key, gen);
  if (seg == nullptr)
    return;
  uint64_t fpos = e.any_sent && seg->durable_end < e.acked ? e.acked : seg->durable_end;
  out.push_back(make_ack(e.route, key, gen, fpos, "ok"));
  e.acked = fpos;
  e.any_sent = true;
}

bool worker_core::needs_sync() const {
  if (!touched_.empty() || !closed_unsynced_.empty())
    return true;
  for (auto& [identity, oc] : copies_)
    if (oc.file->needs_sync())
      return true;
  return false;
}

void worker_core::ack_due(const ack_key& k, ack_entry& e, outbox& out) {
  auto i = copies_.find(e.identity);
  if (i == copies_.end())
    return;
  const auto* seg = i->second.file->find(k.key, k.gen);
  if (seg == nullptr)
    return;
  uint64_t durable = seg->durable_end;
  // Acks only move forward; a duplicate or gap is answered even without
  // progress (the sender is waiting for it).
  if (e.forced || durable > e.acked) {
    uint64_t fpos = e.any_sent && durable < e.acked ? e.acked : durable;
    out.push_back(make_ack(e.route, k.key, k.gen, fpos, e.gap ? "gap" : "ok"));
    e.acked = fpos;
    e.any_sent = true;
  }
  e.forced = false;
  e.gap = false;
}

void worker_core::drop_failed(const std::string& identity) {
  // What the kernel lost cannot be told: forget the copy's state; it is
  // recovered from the file and the journal when it is next written.
  outbox none;
  drop_keys(identity, false, none);
  auto c = copies_.find(identity);
  if (c == copies_.end())
    return;
  c->second.file->close();
  forget(c);
}

void worker_core::bind_key(const ack_key& k, ack_entry& e, const std::string& identity) {
  if (e.identity == identity)
    return;
  if (auto old = keys_of_.find(e.identity); old != keys_of_.end()) {
    old->second.erase(k);
    if (old->second.empty())
      keys_of_.erase(old);
  }
  e.identity = identity;
  keys_of_[identity].insert(k);
}

void worker_core::drop_keys(const std::string& identity, bool ack, outbox& out) {
  auto keys = keys_of_.find(identity);
  if (keys == keys_of_.end())
    return;
  for (const auto& k : keys->second) {
    auto e = acks_.find(k);
    if (e == acks_.end())
      continue;
    if (ack)
      ack_due(e->first, e->second, out);
    touched_.erase(k);
    acks_.erase(e);
  }
  keys_of_.erase(keys);
}

void worker_core::forget(copy_map::iterator c) {
  if (c->second.file->sync_in_flight())
    ++lingering_; // its batch holds the descriptor until it is back
  lru_.erase(c->second.lru);
  copies_.erase(c);
  counters_->open_files -= 1;
}

void worker_core::sync_here(bool plain_too, outbox& out) {
  (void) out;
  // Compressed copies only, and plain mode has none (a copy's identity
  // names its mode): no walk over every open copy at each sync's start.
  if (!plain_too && opts_.copy.mode == write_mode::plain)
    return;
  std::vector<std::string> failed;
  for (auto& [identity, oc] : copies_) {
    auto& cf = *oc.file;
    if (!plain_too && cf.out() == wire::compression::none)
      continue;
    if (!cf.needs_sync() && !cf.sync_in_flight())
      continue;
    if (!sync_in_place(cf))
      failed.push_back(identity);
  }
  for (auto& identity : failed)
    drop_failed(identity);
}

bool worker_core::sync_in_place(copy_file& cf) {
  auto err = cf.sync();
  collect(cf);
  if (err)
    note_sync_failure(cf, err);
  return !err;
}

void worker_core::note_sync_failure(const copy_file& cf, const caf::error& err) {
  for (const auto& [identity, oc] : copies_)
    if (oc.file.get() == &cf)
      counters_->copies.failed({}, oc.dest_base, clock::now());
  log::error(opts_.who, "sync " + cf.path() + ": " + describe(err)
                          + "; closing it, nothing acknowledged");
}

void worker_core::ack_ready(outbox& out) {
  for (auto i = touched_.begin(); i != touched_.end();) {
    auto e = acks_.find(*i);
    auto c = e == acks_.end() ? copies_.end() : copies_.find(e->second.identity);
    if (c == copies_.end()) {
      i = touched_.erase(i);
      continue;
    }
    auto& cf = *c->second.file;
    if (cf.sync_in_flight()) {
      ++i; // answered when its sync is back
      continue;
    }
    ack_due(e->first, e->second, out);
    // Bytes written since the last sync began are acknowledged after the
    // next one: the key keeps waiting.
    if (cf.needs_sync())
      ++i;
    else
      i = touched_.erase(i);
  }
}

void worker_core::sync(outbox& out) {
  written_since_sync_ = 0;
  sync_here(true, out);
  ack_ready(out);
}

sync_batch_ptr worker_core::start_sync(outbox& out) {
  written_since_sync_ = 0; // what this sync covers
  sync_here(false, out);
  auto batch = std::make_shared<sync_batch>();
  for (auto& job : closed_unsynced_)
    batch->push_back(std::move(job));
  closed_unsynced_.clear();
  std::vector<std::string> failed;
  for (auto& [identity, oc] : copies_) {
    auto& cf = *oc.file;
    if (!cf.can_begin_sync())
      continue;
    auto ticket = cf.begin_sync();
    if (!ticket) {
      // No descriptor to spare (EMFILE): sync here instead.
      log::warning(opts_.who, describe(ticket.error()) + "; syncing in place");
      if (!sync_in_place(cf))
        failed.push_back(identity);
      continue;
    }
    batch->push_back(sync_job::of(identity, oc.serial, std::move(*ticket)));
  }
  for (auto& identity : failed)
    drop_failed(identity);
  ack_ready(out);
  return batch;
}

void worker_core::finish_sync(sync_batch& batch, outbox& out) {
  std::vector<std::string> failed;
  int64_t by_syncfs = 0;
  for (const auto& job : batch)
    by_syncfs += job.by_syncfs ? 1 : 0;
  if (by_syncfs > 0) {
    counters_->syncfs_rounds += 1;
    counters_->syncfs_copies += by_syncfs;
  }
  std::vector<std::pair<std::string, std::string>> closes;
  for (auto& job : batch) {
    auto c = copies_.find(job.identity);
    if (c == copies_.end() || c->second.serial != job.serial) {
      // Closed meanwhile: closing synced and answered it, or left both to
      // this sync (owed); its descriptor closed when the sync thread let
      // go of it. Not opened again since: nothing was appended to its
      // journal meanwhile, and its closing lines go now.
      lingering_ -= lingering_ > 0 ? 1 : 0;
      if (!job.err && !job.journal.empty() && c == copies_.end())
        closes.emplace_back(std::move(job.journal),
                            std::move(job.closing)
                              + copy_file::closed_clean_line(job.closed_size));
      for (const auto& a : job.owed) {
        // Not below what the copy, opened again meanwhile, acknowledged.
        auto e = acks_.find({a.key, a.gen});
        if (!job.err && (e == acks_.end() || !e->second.any_sent || e->second.acked < a.fpos))
          out.push_back(make_ack(a.route, a.key, a.gen, a.fpos, "ok"));
      }
      continue;
    }
    auto& cf = *c->second.file;
    auto err = cf.end_sync(job.ticket, job.err, !job.by_syncfs);
    collect(cf);
    if (job.err || err) {
      note_sync_failure(cf, job.err ? job.err : err);
      failed.push_back(job.identity);
    }
  }
  close_clean(closes);
  for (auto& identity : failed)
    drop_failed(identity);
  ack_ready(out);
}

void worker_core::close_clean(const std::vector<std::pair<std::string, std::string>>& closes) {
  if (closes.empty())
    return;
  // Lost lines cost nothing but a sync: a copy without its C line is
  // synced again when it is next opened.
  std::vector<std::pair<std::string_view, std::string_view>> each(closes.begin(), closes.end());
  if (auto err = jlog_->append_each(each.data(), each.size()))
    log::error(opts_.who, describe(err) + " (the closing lines of "
                            + std::to_string(closes.size()) + " copies)");
}

bool worker_core::evict_unsynced(copy_map::iterator c) {
  auto& cf = *c->second.file;
  if (!opts_.sync_off_thread || closing_all_ || !cf.can_begin_sync())
    return false;
  auto keys = keys_of_.find(c->first);
  if (keys != keys_of_.end())
    for (const auto& k : keys->second)
      if (acks_.at(k).gap)
        return false; // a gap's answer is due now
  auto ticket = cf.begin_sync();
  if (!ticket)
    return false;
  auto job = sync_job::of(c->first, c->second.serial, std::move(*ticket));
  if (keys != keys_of_.end())
    for (const auto& k : keys->second) {
      const auto& e = acks_.at(k);
      const auto* seg = cf.find(k.key, k.gen);
      if (seg != nullptr && (seg->src_end > e.acked || e.forced || !e.any_sent))
        job.owed.push_back({e.route, k.key, k.gen, std::max(seg->src_end, e.acked)});
    }
  job.journal = cf.journal_file();
  job.closed_size = cf.size();
  outbox none;
  drop_keys(c->first, false, none);
  job.closing = cf.close_unsynced();
  closed_unsynced_.push_back(std::move(job));
  ++events_.closed;
  if (log::enabled(log::level::debug))
    log::debug(opts_.who, "closed " + cf.path() + " (its last bytes synced with the next batch)");
  forget(c);
  return true;
}

void worker_core::evict(const std::string& identity, outbox& out) {
  auto c = copies_.find(identity);
  if (c == copies_.end())
    return;
  auto& cf = *c->second.file;
  if (cf.out() == wire::compression::none && evict_unsynced(c))
    return;
  auto err = cf.finish_member();
  if (!err)
    err = cf.sync();
  collect(cf);
  if (err)
    log::error(opts_.who, "closing " + cf.path() + ": " + describe(err));
  drop_keys(identity, !err, out);
  if (auto cerr = cf.close())
    log::error(opts_.who, "closing " + cf.path() + ": " + describe(cerr));
  ++events_.closed;
  if (log::enabled(log::level::debug))
    log::debug(opts_.who, "closed " + cf.path());
  forget(c);
}

bool worker_core::has_open_members() const {
  // Asked after every fragment: only recompress copies have members, so the
  // other modes answer without a walk over every open copy (up to
  // max-open-files of them per fragment, the scale bench's profile).
  if (opts_.copy.mode != write_mode::recompress)
    return false;
  for (auto& [identity, oc] : copies_)
    if (oc.file->member_open())
      return true;
  return false;
}

bool worker_core::finish_due_members(clock::time_point now) {
  bool any = false;
  for (auto& [identity, oc] : copies_) {
    auto& cf = *oc.file;
    if (!cf.member_open())
      continue;
    auto idle = now - cf.last_write();
    auto age = now - cf.member_opened();
    bool due = idle >= opts_.flush_idle || age >= opts_.flush_idle
               || (oc.ack_sender
                   && (idle >= opts_.ack_flush_idle || age >= opts_.ack_member_age));
    if (!due)
      continue;
    if (auto err = cf.finish_member()) {
      log::error(opts_.who, cf.path() + ": " + describe(err));
      continue;
    }
    log::debug(opts_.who, "finished a member of " + cf.path());
    any = true;
    // Its keys may now be acknowledged further.
    if (auto keys = keys_of_.find(identity); keys != keys_of_.end())
      touched_.insert(keys->second.begin(), keys->second.end());
  }
  return any;
}

void worker_core::flush_members(clock::time_point now, outbox& out) {
  if (!finish_due_members(now))
    return;
  // Only compressed copies have members; plain ones wait for their tick.
  sync_here(!opts_.sync_off_thread, out);
  ack_ready(out);
}

void worker_core::maintain(clock::time_point now, outbox& out) {
  finish_due_members(now);
  std::vector<std::string> idle;
  for (auto& identity : sorted_identities()) // closed in order: their acks too
    if (now - copies_.at(identity).last_use >= opts_.close_idle && evictable(identity))
      idle.push_back(identity);
  sync_here(!opts_.sync_off_thread, out);
  ack_ready(out);
  for (auto& identity : idle)
    evict(identity, out);
  compact_journal_log();
  copy_summary(now, false);
}

void worker_core::compact_journal_log() {
  if (!jlog_ || !jlog_->compaction_due(opts_.journal_log_compact_bytes))
    return;
  auto before = jlog_->size();
  if (auto err = jlog_->compact()) {
    log::error(opts_.who, "compacting the journal log: " + describe(err));
    return;
  }
  counters_->fsyncs += 2;
  log::info(opts_.who, "journal log compacted from " + std::to_string(before) + " to "
                         + std::to_string(jlog_->size()) + " bytes");
}

void worker_core::copy_summary(clock::time_point now, bool force) {
  if (!events_.any() || !events_since_
      || (!force && now - *events_since_ < opts_.summary_period))
    return;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - *events_since_).count();
  log::info(opts_.who, "copies in the last " + std::to_string(secs) + " s: " +
                         std::to_string(events_.created) + " created, " +
                         std::to_string(events_.reopened) + " opened again, " +
                         std::to_string(events_.closed) + " closed, " +
                         std::to_string(events_.claimed) +
                         " destinations claimed by a source; " +
                         std::to_string(copies_.size()) + " open (of at most " +
                         std::to_string(opts_.max_open_copies) + ")");
  events_ = {};
  events_since_.reset();
}

void worker_core::close_all(outbox& out) {
  // Nothing may stay unsynced or unacknowledged: copies closed earlier
  // whose sync waits for a batch are synced here, and so is every other.
  if (!closed_unsynced_.empty()) {
    sync_batch owed;
    std::swap(owed, closed_unsynced_);
    run_sync_jobs(owed);
    finish_sync(owed, out);
  }
  closing_all_ = true;
  for (const auto& identity : sorted_identities()) // in order: their acks too
    evict(identity, out);
  closing_all_ = false;
  copy_summary(clock::now(), true);
}

} // namespace cc::tw
