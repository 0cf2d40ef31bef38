// A tailwriter worker: see tailwriter_worker.hpp for what it owns and takes.
#include "actors/write/tailwriter_worker.hpp"

#include <cerrno>
#include <tuple>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include "actors/write/dest_path.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "base/thread_name.hpp"
#include "wire/codec.hpp"

namespace cc::tw {

namespace {

constexpr const char* ack_type = "logtail.ack";

std::string range_text(uint64_t from, uint64_t to) {
  return std::to_string(from) + ".." + std::to_string(to);
}

} // namespace

counters writer_counters::snapshot() const {
  return {
    {"fragments", fragments.load()},
    {"bytes_written", bytes_written.load()},
    {"duplicates", duplicates.load()},
    {"duplicate_bytes", duplicate_bytes.load()},
    {"gaps", gaps.load()},
    {"gap_bytes", gap_bytes.load()},
    {"refused_paths", refused_paths.load()},
    {"invalid", invalid.load()},
    {"too_large", too_large.load()},
    {"open_files", open_files.load()},
    {"acks_sent", acks_sent.load()},
    {"fsyncs", fsyncs.load()},
    {"open_files_evicted", open_files_evicted.load()},
    {"queries", queries.load()},
    {"repaired_bytes", repaired_bytes.load()},
    {"copy_changed", copy_changed.load()},
    {"diverged", diverged.load()},
    {"sources_denied", sources_denied.load()},
  };
}

bool worker_core::ack_key::operator<(const ack_key& other) const {
  if (key < other.key)
    return true;
  if (other.key < key)
    return false;
  return gen < other.gen;
}

worker_core::worker_core(worker_options opts, counters_ptr counters)
  : opts_(std::move(opts)), counters_(std::move(counters)) {
  if (!counters_)
    counters_ = std::make_shared<writer_counters>();
}

worker_core::~worker_core() {
  for (auto& [identity, oc] : copies_) {
    if (auto err = oc.file->close())
      log::error(opts_.who, "closing " + oc.file->path() + ": " + describe(err));
    counters_->open_files -= 1;
  }
  copies_.clear();
  if (dstdir_fd_ >= 0)
    ::close(dstdir_fd_);
  if (state_fd_ >= 0)
    ::close(state_fd_);
}

caf::error worker_core::init() {
  if (auto err = make_directories(opts_.dstdir, 0755))
    return err;
  if (auto err = make_directories(opts_.state_dir, 0700))
    return err;
  dstdir_fd_ = ::open(opts_.dstdir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dstdir_fd_ < 0)
    return make_error(errc::io, "dstdir " + opts_.dstdir + ": " + errno_text(errno));
  state_fd_ = ::open(opts_.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (state_fd_ < 0)
    return make_error(errc::io,
                      "state-dir " + opts_.state_dir + ": " + errno_text(errno));
  owners_ = std::make_unique<source_owners>(state_fd_);
  return caf::none;
}

copy_spec worker_core::spec_for(const fragment& f, const source_key& key,
                                wire::compression comp) const {
  copy_spec spec;
  spec.base_path = f.dest_base;
  spec.rotated = f.body.op_mode == "rotated";
  switch (opts_.copy.mode) {
    case write_mode::plain:
      spec.out = wire::compression::none;
      break;
    case write_mode::keep:
      spec.out = comp;
      break;
    case write_mode::recompress:
      spec.out = opts_.copy.compression;
      break;
  }
  // Classic copies are one per destination (several keys may continue one
  // copy); rotated ones one per source generation.
  std::string mode = to_string(opts_.copy.mode);
  spec.identity = spec.rotated ? rotated_identity(mode, f.dest_base, key, f.body.gen)
                               : classic_identity(mode, f.dest_base);
  return spec;
}

caf::expected<copy_file*> worker_core::copy_for(const copy_spec& spec,
                                                clock::time_point now,
                                                outbox& out, bool touch) {
  auto i = copies_.find(spec.identity);
  if (i != copies_.end()) {
    if (touch)
      i->second.last_use = now;
    return i->second.file.get();
  }
  while (!copies_.empty() && copies_.size() >= opts_.max_open_copies) {
    auto lru = copies_.begin();
    for (auto j = copies_.begin(); j != copies_.end(); ++j)
      if (j->second.last_use < lru->second.last_use)
        lru = j;
    // The max-open-files limit: counted, and said once a minute at most.
    counters_->open_files_evicted += 1;
    if (auto n = evict_log_.admit("evict", log_limiter::clock::now()))
      log::info(opts_.who, "at " + std::to_string(opts_.max_open_copies) +
                             " open copies (max-open-files): closing the least "
                             "recently used, " + lru->second.file->path() +
                             (*n > 0 ? " (" + std::to_string(*n) +
                                         " more since the last line)"
                                     : std::string{}));
    evict(lru->first, out);
  }
  auto opened = copy_file::open(opts_.copy, dstdir_fd_, state_fd_, spec,
                                std::time(nullptr));
  if (!opened)
    return std::move(opened.error());
  auto* ptr = opened->get();
  collect(*ptr);
  rotated_.add(spec.identity, ptr->path());
  log::info(opts_.who, "opened " + ptr->path());
  copies_.emplace(spec.identity, open_copy{std::move(*opened), now, false, ++next_serial_,
                                           spec.base_path});
  counters_->open_files += 1;
  return ptr;
}

void worker_core::collect(copy_file& cf) {
  if (auto n = cf.take_fsyncs(); n > 0)
    counters_->fsyncs += n;
  if (auto n = cf.take_changed(); n > 0)
    counters_->copy_changed += n;
}

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
  wire::logtail_ack_body body;
  body.hdr = reply_header(ack_type);
  body.filename = key.filename;
  body.st_dev = key.st_dev;
  body.st_ino = key.st_ino;
  body.gen = gen;
  body.fpos = fpos;
  body.status = std::string{status};
  body.writer = opts_.writer_id;
  body.detail = detail;
  wire::cc_message msg;
  msg.route = route;
  msg.type = ack_type;
  msg.body = wire::make_body(body);
  counters_->acks_sent += 1;
  return msg;
}

bool worker_core::admit_source(const fragment& f, const source_key& key, bool may_claim,
                               std::string& why) {
  const auto& b = f.body;
  auto owner = owners_->owner(f.dest_base);
  if (!owner) {
    // Unknown: let it through rather than stop delivery on a state-dir
    // read error (logged); the next fragment looks again.
    log::error(opts_.who, describe(owner.error()));
    return true;
  }
  if (owner->source.empty()) {
    if (b.source.empty() || !may_claim)
      return true; // the original's way: whoever sends, as before
    source_owners::record r{b.source, b.hdr.hostname};
    if (auto err = owners_->claim(f.dest_base, r)) {
      log::error(opts_.who, describe(err));
      return true;
    }
    log::info(opts_.who, f.dest_base + " is written by source " + b.source + " (host '" +
                           b.hdr.hostname + "') from now on");
    return true;
  }
  if (owner->source == b.source)
    return true;
  counters_->sources_denied += 1;
  auto from = b.source.empty() ? std::string{"a source without an id (an original CC, "
                                             "or a server without source-id)"}
                               : "source " + b.source;
  why = f.dest_base + " is written by source " + owner->source + " (host '" +
        owner->hostname + "'); " + from + " also claims host '" + b.hdr.hostname +
        "' and " + key.filename + ": refused, never mixed in";
  if (denied_log_.occur(f.dest_base + "\n" + b.source))
    log::error(opts_.who, why + ". If it is that host reinstalled, set source-id = " +
                            owner->source + " in its [ccserver] section; if it is "
                            "another host, give it a hostname of its own");
  return false;
}

void worker_core::note_refusal(const source_key& key, const std::string& why) {
  auto text = "refused " + key.str() + ": " + why;
  // Every fragment of a refused file is refused: say so once per file.
  if (refused_logged_.size() < 10000 && refused_logged_.insert(key.str()).second)
    log::warning(opts_.who, text);
  else
    log::debug(opts_.who, text);
}

void worker_core::refuse(const fragment& f, const source_key& key, uint64_t end,
                         outbox& out) {
  if (f.body.ack)
    out.push_back(make_ack(f.msg.route, key, f.body.gen, end, "refused"));
}

void worker_core::leave_hole(const fragment& f, const source_key& key,
                             wire::compression comp, clock::time_point now,
                             outbox& out) {
  // A refused fragment the sender will not resend: if it sits exactly at the
  // end of its segment, the segment continues after it, so the next fragment
  // is not a gap forever.
  const auto& b = f.body;
  if (b.raw_size == 0 || f.dest_error)
    return;
  auto cf = copy_for(spec_for(f, key, comp), now, out);
  if (!cf)
    return;
  const auto* seg = (*cf)->find(key, b.gen);
  if (seg == nullptr || seg->src_end != b.fpos)
    return;
  if (auto err = (*cf)->skip_to(key, b.gen, b.fpos + b.raw_size))
    log::error(opts_.who, "skipping a refused range in " + (*cf)->path() + ": "
                            + describe(err));
  collect(**cf);
}

bool worker_core::decode(const fragment& f, const source_key& key,
                         clock::time_point now, outbox& out, payload& p) {
  const auto& b = f.body;
  uint64_t claimed_end = b.fpos + b.raw_size;
  auto bytes = wire::fragment_bytes(
    b, f.msg.blob ? f.msg.blob->view() : std::string_view{}, p.storage);
  auto comp = wire::parse_compression(b.comp);
  if (!bytes || !comp) {
    counters_->invalid += 1;
    log::warning(opts_.who, "dropped a fragment of " + key.str() + ": "
                              + (bytes ? "unknown comp '" + b.comp + "'"
                                       : describe(bytes.error())));
    refuse(f, key, claimed_end, out);
    return false;
  }
  p.comp = *comp;
  p.raw = *bytes;
  if (*comp == wire::compression::none)
    return true;
  if (b.raw_size > opts_.max_fragment_bytes) {
    counters_->too_large += 1;
    log::warning(opts_.who, "refused a fragment of " + key.str() + " at "
                              + std::to_string(b.fpos) + ": raw_size "
                              + std::to_string(b.raw_size) + " exceeds max-fragment-bytes");
    leave_hole(f, key, *comp, now, out);
    refuse(f, key, claimed_end, out);
    return false;
  }
  auto unpacked = wire::decompress(*bytes, *comp, opts_.max_fragment_bytes);
  if (!unpacked) {
    bool bomb = unpacked.error().code() == static_cast<uint8_t>(errc::too_large);
    (bomb ? counters_->too_large : counters_->invalid) += 1;
    log::warning(opts_.who, "refused a fragment of " + key.str() + " at "
                              + std::to_string(b.fpos) + ": "
                              + describe(unpacked.error()));
    leave_hole(f, key, *comp, now, out);
    refuse(f, key, claimed_end, out);
    return false;
  }
  p.inflated = std::move(*unpacked);
  p.raw = p.inflated;
  p.member = *bytes;
  return true;
}

void worker_core::handle(const fragment& f, clock::time_point now, outbox& out) {
  if (!f.body.query.empty()) {
    answer(f, now, out);
    return;
  }
  const auto& b = f.body;
  counters_->fragments += 1;
  source_key key{b.hdr.hostname, b.st_dev, b.st_ino, b.filename};
  if (f.dest_error) {
    counters_->refused_paths += 1;
    note_refusal(key, describe(f.dest_error));
    refuse(f, key, b.fpos + b.raw_size, out);
    return;
  }
  if (std::string why; !admit_source(f, key, true, why)) {
    // Not refused for good: the sender keeps the bytes and asks again.
    if (b.ack)
      out.push_back(make_ack(f.msg.route, key, b.gen, b.fpos, wire::ack_status::denied, why));
    return;
  }
  // The payload as received, then as source bytes.
  payload p;
  if (!decode(f, key, now, out, p))
    return;
  auto spec = spec_for(f, key, p.comp);
  auto cf_res = copy_for(spec, now, out);
  if (!cf_res) {
    if (cf_res.error().code() == static_cast<uint8_t>(errc::path_refused)) {
      counters_->refused_paths += 1;
      note_refusal(key, describe(cf_res.error()));
      refuse(f, key, b.fpos + p.raw.size(), out);
    } else {
      // No ack: the sender resends after its timeout, maybe with more luck.
      counters_->copies.failed(key.hostname, f.dest_base, now);
      log::error(opts_.who, "cannot open the copy of " + key.str() + ": "
                              + describe(cf_res.error()));
    }
    return;
  }
  copy_file& cf = **cf_res;
  ack_entry* entry = nullptr;
  if (b.ack) {
    copies_.at(spec.identity).ack_sender = true;
    ack_key ak{key, b.gen};
    entry = &acks_[ak];
    entry->route = f.msg.route; // the latest path back to the sender
    entry->identity = spec.identity;
    touched_.insert(std::move(ak));
  }
  // The copy is the authority: a size changed behind the writer's back is
  // adopted before the fragment is placed (never written past a hole).
  auto rewrites = cf.rewrites();
  if (auto m = cf.measure(); !m)
    log::error(opts_.who, "measuring " + cf.path() + ": " + describe(m.error()));
  if (!b.repair || !repair(f, cf, key, p.raw, entry, now, out))
    write(f, cf, key, p, entry, now, out);
  collect(cf);
  if (cf.rewrites() != rewrites)
    rewind_acks(spec.identity);
}

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

void worker_core::rewind_acks(const std::string& identity) {
  // The copy holds less (or other bytes) than some acks said: the next ack
  // of each of its keys names what it holds now, even if that is lower.
  auto c = copies_.find(identity);
  if (c == copies_.end())
    return;
  for (auto& [k, e] : acks_) {
    if (e.identity != identity)
      continue;
    const auto* seg = c->second.file->find(k.key, k.gen);
    e.acked = std::min(e.acked, seg != nullptr ? seg->durable_end : 0);
    touched_.insert(k);
  }
}

void worker_core::write(const fragment& f, copy_file& cf, const source_key& key,
                        payload& p, ack_entry* entry, clock::time_point now,
                        outbox& out) {
  const auto& b = f.body;
  uint64_t n = p.raw.size();
  // A generation this copy has not seen: its sender sends nothing more until
  // a writer confirms where the generation starts (a later fragment
  // overtaking the first would otherwise hide the first's bytes).
  bool unseen_gen = cf.find(key, b.gen) == nullptr;
  auto d = compare_overlap(f, cf, key, p.raw, cf.decide(key, b.gen, b.fpos, n, b.ack));
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
    for (auto& [k, e] : acks_) {
      if (e.identity != identity)
        continue;
      const copy_file::segment* seg = c == copies_.end() ? nullptr : c->second.file->find(k.key, k.gen);
      out.push_back(make_ack(e.route, k.key, k.gen, seg ? seg->durable_end : e.acked, "ok"));
    }
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
  if (!touched_.empty())
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
  for (auto i = touched_.begin(); i != touched_.end();) {
    auto e = acks_.find(*i);
    if (e != acks_.end() && e->second.identity == identity)
      i = touched_.erase(i);
    else
      ++i;
  }
  for (auto i = acks_.begin(); i != acks_.end();)
    i = i->second.identity == identity ? acks_.erase(i) : std::next(i);
  auto c = copies_.find(identity);
  if (c == copies_.end())
    return;
  c->second.file->close();
  copies_.erase(c);
  counters_->open_files -= 1;
}

void worker_core::sync_here(bool plain_too, outbox& out) {
  (void) out;
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
  sync_here(true, out);
  ack_ready(out);
}

sync_batch_ptr worker_core::start_sync(outbox& out) {
  sync_here(false, out);
  auto batch = std::make_shared<sync_batch>();
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
    batch->push_back({identity, oc.serial, std::move(*ticket), caf::none});
  }
  for (auto& identity : failed)
    drop_failed(identity);
  ack_ready(out);
  return batch;
}

void worker_core::finish_sync(sync_batch& batch, outbox& out) {
  std::vector<std::string> failed;
  for (auto& job : batch) {
    auto c = copies_.find(job.identity);
    if (c == copies_.end() || c->second.serial != job.serial)
      continue; // closed meanwhile: closing synced and answered it
    auto& cf = *c->second.file;
    auto err = cf.end_sync(job.ticket, job.err);
    collect(cf);
    if (job.err || err) {
      note_sync_failure(cf, job.err ? job.err : err);
      failed.push_back(job.identity);
    }
  }
  for (auto& identity : failed)
    drop_failed(identity);
  ack_ready(out);
}

void run_sync_jobs(sync_batch& batch) {
  for (auto& job : batch) {
    int fd = job.ticket.fd.get();
    if (::fdatasync(fd) != 0)
      job.err = make_error(errc::io, "fdatasync copy " + job.ticket.path + ": "
                                       + errno_text(errno));
    job.ticket.fd = unique_fd{};
  }
}

void worker_core::evict(const std::string& identity, outbox& out) {
  auto c = copies_.find(identity);
  if (c == copies_.end())
    return;
  auto& cf = *c->second.file;
  auto err = cf.finish_member();
  if (!err)
    err = cf.sync();
  collect(cf);
  if (err)
    log::error(opts_.who, "closing " + cf.path() + ": " + describe(err));
  for (auto i = acks_.begin(); i != acks_.end();) {
    if (i->second.identity != identity) {
      ++i;
      continue;
    }
    if (!err)
      ack_due(i->first, i->second, out);
    touched_.erase(i->first);
    i = acks_.erase(i);
  }
  if (auto cerr = cf.close())
    log::error(opts_.who, "closing " + cf.path() + ": " + describe(cerr));
  log::info(opts_.who, "closed " + cf.path());
  copies_.erase(c);
  counters_->open_files -= 1;
}

bool worker_core::has_open_members() const {
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
    for (auto& [k, e] : acks_)
      if (e.identity == identity)
        touched_.insert(k);
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
  for (auto& [identity, oc] : copies_)
    if (now - oc.last_use >= opts_.close_idle)
      idle.push_back(identity);
  sync_here(!opts_.sync_off_thread, out);
  ack_ready(out);
  for (auto& identity : idle)
    evict(identity, out);
}

void worker_core::close_all(outbox& out) {
  while (!copies_.empty())
    evict(copies_.begin()->first, out);
}

// -- the actor --------------------------------------------------------------------

namespace {

struct worker_state {
  std::unique_ptr<worker_core> core;
  caf::actor router;
  caf::actor syncer;
  worker_core::outbox out;
  bool tick_pending = false;
  bool sync_in_flight = false;
  std::chrono::steady_clock::time_point last_sync_start{};
  bool member_check_pending = false;
  bool retry_pending = false;
  static inline const char* name = "tailwriter_worker";
};

/// The syncer: blocks in fdatasync so its worker does not.
caf::behavior syncer_behavior(caf::event_based_actor*) {
  name_this_thread("cc-tw-syncer");  // detached: its own thread
  return {
    [](sync_atom, sync_batch_ptr& batch) {
      run_sync_jobs(*batch);
      return batch;
    },
  };
}

using worker_actor = caf::stateful_actor<worker_state>;

void deliver(worker_actor* self) {
  auto& st = self->state;
  for (auto& msg : st.out)
    if (st.router)
      self->send(st.router, reply_atom::value, std::move(msg));
  st.out.clear();
}

void schedule_sync(worker_actor* self) {
  auto& st = self->state;
  if (st.tick_pending || st.sync_in_flight || !st.core->needs_sync())
    return;
  st.tick_pending = true;
  // At most one sync starts per sync_interval, counted from when the last
  // one started: a sync that took part of the interval does not add it
  // again, so a busy copy is synced (and acknowledged) as often as the
  // interval allows, and an idle one waits the whole interval to group.
  using namespace std::chrono;
  auto since = duration_cast<milliseconds>(steady_clock::now() - st.last_sync_start);
  auto delay = st.core->options().sync_interval - since;
  if (delay.count() <= 0)
    self->send(self, tick_atom::value);
  else
    self->delayed_send(self, delay, tick_atom::value);
}

void start_sync(worker_actor* self) {
  auto& st = self->state;
  auto batch = st.core->start_sync(st.out);
  deliver(self);
  if (batch->empty()) {
    schedule_sync(self);
    return;
  }
  st.sync_in_flight = true;
  st.last_sync_start = std::chrono::steady_clock::now();
  self->request(st.syncer, caf::infinite, sync_atom::value, std::move(batch))
    .then(
      [self](sync_batch_ptr& done) {
        auto& st = self->state;
        st.sync_in_flight = false;
        st.core->finish_sync(*done, st.out);
        deliver(self);
        schedule_sync(self);
      },
      [self](caf::error& err) {
        // The syncer is linked: its loss ends this worker too, and the exit
        // handler syncs everything in place.
        log::error(self->state.core->options().who,
                   "syncer failed: " + describe(err));
        self->state.sync_in_flight = false;
      });
}

/// While a copy cannot be written, its senders are invited to send again
/// every retry_blocked_every (when the cause looks gone).
void schedule_retry(worker_actor* self) {
  auto& st = self->state;
  if (st.retry_pending || !st.core->blocked())
    return;
  st.retry_pending = true;
  self->delayed_send(self, worker_core::retry_blocked_every, resend_atom::value);
}

void schedule_member_check(worker_actor* self) {
  auto& st = self->state;
  if (st.member_check_pending || !st.core->has_open_members())
    return;
  st.member_check_pending = true;
  self->delayed_send(self, st.core->options().member_check, flush_atom::value);
}

caf::behavior worker_behavior(worker_actor* self, worker_options opts,
                              counters_ptr counters, caf::actor router) {
  name_this_thread("cc-tw-worker");  // detached: its own thread
  auto& st = self->state;
  auto maint = opts.maint_period;
  st.router = std::move(router);
  opts.sync_off_thread = true;
  st.core = std::make_unique<worker_core>(std::move(opts), std::move(counters));
  if (auto err = st.core->init()) {
    log::error(st.core->options().who, describe(err));
    self->quit(err);
    return {};
  }
  st.syncer = self->spawn<caf::detached + caf::linked>(syncer_behavior);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // Shutdown: nothing written may stay unsynced or unacknowledged.
    self->state.core->close_all(self->state.out);
    deliver(self);
    self->quit(msg.reason);
  });
  self->delayed_send(self, maint, maint_atom::value);
  return {
    [self](dispatch_atom, const fragment_ptr& f) {
      self->state.core->handle(*f, worker_core::clock::now(), self->state.out);
      deliver(self);
      schedule_sync(self);
      schedule_member_check(self);
      schedule_retry(self);
      // No answer: the fragment's receipt tells the tailwriter it is done.
    },
    [self](flush_atom) {
      self->state.member_check_pending = false;
      self->state.core->flush_members(worker_core::clock::now(), self->state.out);
      deliver(self);
      schedule_sync(self);
      schedule_member_check(self);
    },
    [self](tick_atom) {
      self->state.tick_pending = false;
      if (!self->state.sync_in_flight)
        start_sync(self);
    },
    [self](resend_atom) {
      self->state.retry_pending = false;
      self->state.core->retry_blocked(worker_core::clock::now(), self->state.out);
      deliver(self);
      schedule_retry(self);
    },
    [self, maint](maint_atom) {
      self->state.core->maintain(worker_core::clock::now(), self->state.out);
      deliver(self);
      schedule_sync(self);
      self->delayed_send(self, maint, maint_atom::value);
    },
  };
}

} // namespace

caf::actor spawn_tailwriter_worker(caf::actor_system& sys, worker_options opts,
                                   counters_ptr counters, caf::actor router) {
  return sys.spawn<caf::detached>(worker_behavior, std::move(opts),
                                  std::move(counters), std::move(router));
}

} // namespace cc::tw
