// A tailwriter worker places a fragment's bytes in its copy (worker_core,
// tailwriter_worker.hpp): the copy's decision (append, duplicate, gap), the
// comparison where a fragment overlaps what a plain copy holds (differing
// bytes rewritten), a repair's rewrite in place, and a copy that cannot be
// written (blocked: its senders told the cause and invited again once the
// disk has room or is writable).
#include <algorithm>
#include <cerrno>

#include <sys/statvfs.h>

#include "actors/write/tailwriter_worker.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/logger.hpp"

namespace cc::tw {

namespace {

std::string range_text(uint64_t from, uint64_t to) {
  return std::to_string(from) + ".." + std::to_string(to);
}

} // namespace

decision worker_core::compare_overlap(const fragment& f, copy_file& cf,
                                      const source_key& key, std::string_view raw,
                                      decision d) {
  const auto& b = f.body;
  // Only bytes the copy holds are compared, and only in plain copies (a
  // compressed copy's overlap is skipped as before).
  if (cf.out() != wire::compression::none || d.kind == decision::gap
      || (d.kind == decision::append && d.skip == 0))
    return d;
  const auto* seg = cf.find(key, b.gen);
  if (seg == nullptr)
    return d;
  uint64_t from = std::max(b.fpos, seg->src_base);
  uint64_t to = std::min(b.fpos + raw.size(), seg->src_end);
  if (from >= to)
    return d;
  auto diff = cf.first_difference(*seg, from, raw.substr(from - b.fpos, to - from));
  if (!diff) {
    log::error(opts_.who, "comparing " + cf.path() + ": " + describe(diff.error()));
    return d;
  }
  if (*diff == to)
    return d; // a true duplicate
  counters_->diverged += 1;
  bool last = seg == &cf.segments().back();
  uint64_t end = seg->src_end;
  uint64_t at_copy = seg->copy_base + (*diff - seg->src_base);
  auto err = last ? cf.cut(*diff)
                  : cf.overwrite(*seg, *diff, raw.substr(*diff - b.fpos, to - *diff));
  log::warning(opts_.who, cf.path() + " differs from " + key.str() + " gen '" + b.gen
                            + "' at source offset " + std::to_string(*diff)
                            + " (copy offset " + std::to_string(at_copy) + "): "
                            + (last ? "cut back from source offset " + std::to_string(end)
                                        + ", written from the source again"
                                    : "source bytes " + range_text(*diff, to)
                                        + " rewritten in place"));
  if (err) {
    log::error(opts_.who, "repairing " + cf.path() + ": " + describe(err));
    return d;
  }
  counters_->repaired_bytes += static_cast<int64_t>(last ? end - *diff : to - *diff);
  return last ? cf.decide(key, b.gen, b.fpos, raw.size(), b.ack) : d;
}

bool worker_core::repair(const fragment& f, copy_file& cf, const source_key& key,
                         std::string_view raw, ack_entry* entry, clock::time_point now,
                         outbox& out) {
  const auto& b = f.body;
  if (cf.out() != wire::compression::none) {
    note_refusal(key, "a repair of " + cf.path()
                        + ": compressed copies are not rewritten in place");
    refuse(f, key, b.fpos + raw.size(), out);
    return true;
  }
  const auto* seg = cf.find(key, b.gen);
  if (seg == nullptr || b.fpos > seg->src_end)
    return false; // not held: an ordinary fragment
  bool last = seg == &cf.segments().back();
  uint64_t end = seg->src_end;
  uint64_t from = std::max(b.fpos, seg->src_base);
  uint64_t to = std::min(b.fpos + raw.size(), end);
  uint64_t changed = 0;
  if (from < to) {
    auto held = raw.substr(from - b.fpos, to - from);
    auto diff = cf.first_difference(*seg, from, held);
    caf::error err = diff ? caf::error{} : diff.error();
    if (diff && *diff < to) {
      err = cf.overwrite(*seg, *diff, held.substr(*diff - from));
      changed += to - *diff;
    }
    if (err) {
      // Nothing acknowledged: the sender asks again.
      log::error(opts_.who, "repairing " + cf.path() + ": " + describe(err));
      return true;
    }
  }
  uint64_t appended = 0;
  if (last && b.fpos + raw.size() > end) {
    auto d = cf.decide(key, b.gen, b.fpos, raw.size(), b.ack);
    auto written = cf.append(key, b.gen, d, raw.substr(d.skip), {},
                             wire::compression::none, now);
    if (!written)
      log::error(opts_.who, "writing " + cf.path() + ": " + describe(written.error()));
    else
      appended = *written;
  } else if (b.truncate && last && b.fpos + raw.size() < end) {
    if (auto err = cf.cut(b.fpos + raw.size()))
      log::error(opts_.who, "cutting " + cf.path() + ": " + describe(err));
    else
      changed += end - (b.fpos + raw.size());
  } else if (b.truncate && !last) {
    log::info(opts_.who, "a repair of " + key.str() + " asks to truncate " + cf.path()
                           + " but its segment is not the copy's last: not truncated");
  }
  counters_->repaired_bytes += static_cast<int64_t>(changed);
  counters_->bytes_written += static_cast<int64_t>(appended);
  written_since_sync_ += appended;
  if (changed > 0)
    log::info(opts_.who, "repaired " + cf.path() + " from " + key.str() + " gen '"
                           + b.gen + "': " + std::to_string(changed)
                           + " bytes rewritten or cut in source range "
                           + range_text(from, std::max(end, b.fpos + raw.size()))
                           + (appended > 0 ? ", " + std::to_string(appended) + " appended"
                                           : std::string{}));
  if (entry != nullptr)
    entry->forced = true;
  return true;
}

void worker_core::write(const fragment& f, copy_file& cf, const source_key& key,
                        payload& p, ack_entry* entry, clock::time_point now,
                        outbox& out, bool started) {
  const auto& b = f.body;
  uint64_t n = p.raw.size();
  // A generation this copy has not seen (or whose segment its commit round
  // started): its sender sends nothing more until a writer confirms where
  // the generation starts (a later fragment overtaking the first would
  // otherwise hide the first's bytes).
  bool unseen_gen = started || cf.find(key, b.gen) == nullptr;
  auto d = compare_overlap(f, cf, key, p.raw, cf.decide(key, b.gen, b.fpos, n, b.ack));
  if (log::enabled(log::level::debug))
    log::debug(opts_.who, "fragment of " + key.str() + " gen '" + b.gen + "' "
                            + range_text(b.fpos, b.fpos + n) + ": "
                            + (d.kind == decision::duplicate ? "held"
                               : d.kind == decision::gap     ? "past a gap"
                                                             : "append, skip "
                                                                 + std::to_string(d.skip)));
  switch (d.kind) {
    case decision::duplicate:
      counters_->duplicates += 1;
      counters_->duplicate_bytes += static_cast<int64_t>(n);
      if (entry != nullptr)
        entry->forced = true;
      break;
    case decision::gap: {
      const auto& identity = cf.identity();
      if (auto blocked = blocked_.find(identity); blocked != blocked_.end()) {
        // Not a gap: the bytes before it could not be written. Answered
        // with the cause, not counted as a gap.
        answer_blocked(f, cf, key, blocked->second.err, out);
        break;
      }
      counters_->gaps += 1;
      // One line and one count of the missing bytes per gap, however many
      // fragments in flight arrive past it.
      if (gap_log_.occur(identity + "\n" + key.str() + "\n" + b.gen)) {
        counters_->gap_bytes += static_cast<int64_t>(d.gap_bytes);
        log::warning(opts_.who, "gap of " + std::to_string(d.gap_bytes) + " bytes in "
                                  + key.str() + " gen '" + b.gen + "': have up to "
                                  + std::to_string(d.src_end) + ", got "
                                  + range_text(b.fpos, b.fpos + n)
                                  + "; asking for a resend");
      }
      entry->forced = true;
      entry->gap = true;
      // The gap ack names the durable end: close the member so it is.
      if (auto err = cf.finish_member())
        log::error(opts_.who, cf.path() + ": " + describe(err));
      break;
    }
    case decision::append:
      append(f, cf, key, p, d, entry, unseen_gen, now, out);
      break;
  }
}

void worker_core::append(const fragment& f, copy_file& cf, const source_key& key,
                         payload& p, const decision& d, ack_entry* entry,
                         bool unseen_gen, clock::time_point now, outbox& out) {
  const auto& b = f.body;
  if (d.gap_bytes > 0) {
    counters_->gaps += 1;
    counters_->gap_bytes += static_cast<int64_t>(d.gap_bytes);
    log::warning(opts_.who, "gap of " + std::to_string(d.gap_bytes) + " bytes in "
                              + key.str() + ": have up to " + std::to_string(d.src_end)
                              + ", got " + range_text(b.fpos, b.fpos + p.raw.size())
                              + "; appending (sender does not ask for acks)");
  }
  std::string_view raw = p.raw;
  std::string_view member = p.member;
  if (d.skip > 0) {
    counters_->duplicate_bytes += static_cast<int64_t>(d.skip);
    raw.remove_prefix(static_cast<size_t>(d.skip));
    member = {};
  }
  const auto& identity = cf.identity();
  auto written = cf.append(key, b.gen, d, raw, member, p.comp, now);
  if (!written) {
    // Nothing is acknowledged for these bytes; the sender holds and resends.
    counters_->copies.failed(key.hostname, f.dest_base, now);
    write_failed(f, cf, key, identity, out, now);
    return;
  }
  if (!blocked_.empty())
    write_worked(cf, identity, now);
  if (gap_log_.open() > 0)
    if (auto n = gap_log_.end(identity + "\n" + key.str() + "\n" + b.gen))
      log::info(opts_.who, "the gap in " + key.str() + " gen '" + b.gen + "' is filled (" +
                             std::to_string(*n) + " fragment(s) past it came meanwhile)");
  counters_->bytes_written += static_cast<int64_t>(*written);
  written_since_sync_ += *written;
  counters_->copies.written(key.hostname, f.dest_base, *written, now);
  if (unseen_gen && entry != nullptr)
    confirm_start(cf, key, b.gen, *entry, out);
}

void worker_core::answer_blocked(const fragment& f, const copy_file& cf,
                                 const source_key& key, int err, outbox& out) {
  if (!f.body.ack)
    return;
  const auto* seg = cf.find(key, f.body.gen);
  out.push_back(make_ack(f.msg.route, key, f.body.gen, seg ? seg->durable_end : f.body.fpos,
                         wire::ack_status::error, errno_text(err)));
}

void worker_core::write_failed(const fragment& f, copy_file& cf, const source_key& key,
                               const std::string& identity, outbox& out,
                               clock::time_point now) {
  // Counted per copy in counters_->copies (write_errors, failing).
  int err = cf.last_write_errno() != 0 ? cf.last_write_errno() : EIO;
  auto [it, first] = blocked_.try_emplace(identity, blocked_copy{err, now, 0});
  ++it->second.failures;
  it->second.err = err;
  if (first)
    log::error(opts_.who, "cannot write " + cf.path() + ": " + errno_text(err) +
                            "; nothing of it is acknowledged until it can, and its "
                            "senders hold their bytes; asking them to send again "
                            "once it may work");
  answer_blocked(f, cf, key, err, out);
}

void worker_core::write_worked(const copy_file& cf, const std::string& identity,
                               clock::time_point now) {
  auto it = blocked_.find(identity);
  if (it == blocked_.end())
    return;
  auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second.since);
  log::info(opts_.who, "writing " + cf.path() + " works again after " +
                         std::to_string(secs.count() / 1000.0).substr(0, 5) + " s (" +
                         std::to_string(it->second.failures) + " write(s) failed meanwhile)");
  blocked_.erase(it);
}

void worker_core::retry_blocked(clock::time_point now, outbox& out) {
  (void) now;
  if (blocked_.empty())
    return;
  struct statvfs fs;
  bool have_fs = ::fstatvfs(dstdir_fd_, &fs) == 0;
  for (auto& [identity, b] : blocked_) {
    bool may = true;
    if (have_fs && (b.err == ENOSPC || b.err == EDQUOT))
      may = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize >= (uint64_t{1} << 20);
    else if (have_fs && b.err == EROFS)
      may = (fs.f_flag & ST_RDONLY) == 0;
    if (!may)
      continue;
    // Invite the copy's senders: an ok ack of what is durable (they go on
    // from there; a failing write blocks them again, with no new line).
    auto c = copies_.find(identity);
    auto keys = keys_of_.find(identity);
    if (keys == keys_of_.end())
      continue;
    for (const auto& k : keys->second) {
      const auto& e = acks_.at(k);
      const copy_file::segment* seg = c == copies_.end() ? nullptr : c->second.file->find(k.key, k.gen);
      out.push_back(make_ack(e.route, k.key, k.gen, seg ? seg->durable_end : e.acked, "ok"));
    }
  }
}

} // namespace cc::tw
