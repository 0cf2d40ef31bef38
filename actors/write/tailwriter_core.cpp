// A tailwriter worker takes a fragment (worker_core, tailwriter_worker.hpp
// has its Owns/Takes/Sends): opens its copy (least recently used closed at
// max-open-files), checks the source that claims the destination, decodes
// and inflates the payload (refusing what it cannot), and hands the bytes to
// their placing (tailwriter_place.cpp); a new copy's fragments first wait for
// its commit round (tailwriter_commit.cpp). Questions go to
// tailwriter_questions.cpp, syncing and acks to tailwriter_sync.cpp, the
// worker's threads to tailwriter_worker.cpp.
#include <algorithm>
#include <ctime>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/write/dest_path.hpp"
#include "actors/write/tailwriter_worker.hpp"
#include "actors/write/journal_log.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/logger.hpp"
#include "wire/codec.hpp"

namespace cc::tw {

bool worker_core::ack_key::operator<(const ack_key& other) const {
  if (key < other.key)
    return true;
  if (other.key < key)
    return false;
  return gen < other.gen;
}

bool worker_core::ack_key::operator==(const ack_key& other) const {
  return key.st_ino == other.key.st_ino && key.st_dev == other.key.st_dev && gen == other.gen
         && key.filename == other.key.filename && key.hostname == other.key.hostname;
}

size_t worker_core::ack_key_hash::operator()(const ack_key& k) const {
  std::hash<std::string> h;
  size_t x = h(k.key.filename);
  for (size_t v : {h(k.key.hostname), h(k.gen), static_cast<size_t>(k.key.st_ino),
                   static_cast<size_t>(k.key.st_dev)})
    x ^= v + 0x9e3779b97f4a7c15ull + (x << 6) + (x >> 2);
  return x;
}

std::vector<std::string> worker_core::sorted_identities() const {
  std::vector<std::string> out;
  out.reserve(copies_.size());
  for (const auto& kv : copies_)
    out.push_back(kv.first);
  std::sort(out.begin(), out.end());
  return out;
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
  // Held while this worker lives: no export of the journals meanwhile.
  if (auto err = lock_state_dir(state_fd_, false))
    return make_error(errc::io, "state-dir " + opts_.state_dir + ": " + describe(err));
  if (opts_.syncfs_batch > 0) {
    // Its own open file, before any copy's: the syncfs error state it
    // samples now predates every copy this worker writes.
    auto plan = std::make_shared<fs_sync>();
    plan->fd = unique_fd{::open(opts_.dstdir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    struct stat st {};
    if (plan->fd.get() >= 0 && ::fstat(plan->fd.get(), &st) == 0) {
      plan->dev = st.st_dev;
      plan->min_copies = opts_.syncfs_batch;
      fs_sync_ = std::move(plan);
    }
  }
  owners_ = std::make_unique<source_owners>(state_fd_);
  // Before the commit log's open, whose state-directory sync makes its name durable.
  if (auto err = owners_->open_log(owner_log_name(opts_.section, opts_.index)))
    return err;
  auto commits = commit_log::open(state_fd_, dstdir_fd_, opts_.section, opts_.index);
  if (!commits)
    return std::move(commits.error());
  commits_ = std::move(*commits);
  auto jl = journal_log::open(state_fd_, jlog::prefix(opts_.section), opts_.index);
  if (!jl)
    return std::move(jl.error());
  jlog_ = std::move(*jl);
  opts_.copy.log = jlog_.get();
  if (jlog_->bad_records() > 0)
    log::warning(opts_.who, "journal log " + jlog_->file() + ": "
                              + std::to_string(jlog_->bad_records())
                              + " damaged records skipped");
  return caf::none;
}

wire::compression worker_core::copy_out(wire::compression comp) const {
  switch (opts_.copy.mode) {
    case write_mode::plain:
      return wire::compression::none;
    case write_mode::keep:
      // zstd is a wire format only: the copy people's tools read is gzip.
      return comp == wire::compression::zstd ? wire::compression::gzip : comp;
    case write_mode::recompress:
      return opts_.copy.compression;
  }
  return wire::compression::none;
}

copy_spec worker_core::spec_for(const fragment& f, const source_key& key,
                                wire::compression comp) const {
  copy_spec spec;
  spec.base_path = f.dest_base;
  spec.rotated = f.body.op_mode == "rotated";
  spec.out = copy_out(comp);
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
    if (touch) {
      i->second.last_use = now;
      lru_.splice(lru_.end(), lru_, i->second.lru);
    }
    return i->second.file.get();
  }
  // A question about a copy never made (a source file new to the writer:
  // asked about once before its first fragment) closes no other copy to
  // make room for it: it is answered at once. With every slot taken, each
  // new file's question closed a copy for nothing, opened again by its next
  // fragment (bench/PROFILE.md, session 16). With slots free it opens
  // nothing either: copy_file::open would only build a copy's state to find
  // no journal under the identity's id and give the same error.
  if (spec.must_exist)
    if (auto err = copy_file::never_made(*jlog_, spec))
      return err;
  // Descriptors: two per open copy, one per copy closed while its sync runs.
  while (!lru_.empty()
         && 2 * (copies_.size() + 1) + lingering_ > 2 * opts_.max_open_copies) {
    // Copies held by the question being answered or waiting for their
    // commit round stay: the least recently used other one goes, or none
    // (the bound waits for the answer's or the round's end).
    auto pick = std::find_if(lru_.begin(), lru_.end(),
                             [this](const std::string* id) { return evictable(*id); });
    if (pick == lru_.end())
      break;
    auto lru = copies_.find(**pick);
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
  auto opened = copy_file::open(opts_.copy, dstdir_fd_, spec, std::time(nullptr));
  if (!opened)
    return std::move(opened.error());
  auto* ptr = opened->get();
  collect(*ptr);
  rotated_.add(spec.identity, ptr->path());
  // Per copy at debug; counted for the summary line at info.
  if (ptr->created_name())
    ++events_.created;
  else
    ++events_.reopened;
  if (!events_since_)
    events_since_ = now;
  if (log::enabled(log::level::debug))
    log::debug(opts_.who, "opened " + ptr->path());
  auto c = copies_.emplace(spec.identity, open_copy{std::move(*opened), now, false,
                                                    ++next_serial_, std::string{spec.base_path}}).first;
  c->second.lru = lru_.insert(lru_.end(), &c->first);
  counters_->open_files += 1;
  return ptr;
}

void worker_core::collect(copy_file& cf) {
  if (auto n = cf.take_fsyncs(); n > 0)
    counters_->fsyncs += n;
  if (auto n = cf.take_changed(); n > 0)
    counters_->copy_changed += n;
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
    // Durable with the next commit round, before any byte of the source.
    if (auto err = owners_->claim_logged(f.dest_base, r, *commits_)) {
      log::error(opts_.who, describe(err));
      return true;
    }
    claim_logged_ = true;
    ++events_.claimed; // said in the summary line (copy_summary)
    if (log::enabled(log::level::debug))
      log::debug(opts_.who, f.dest_base + " is written by source " + b.source + " (host '" +
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
  handle(std::make_shared<const fragment>(f), now, out);
}

void worker_core::handle(const fragment_ptr& fp, clock::time_point now, outbox& out) {
  const auto& f = *fp;
  if (!f.body.query.empty()) {
    // Asked after a new copy of its destination: answered once it is durable.
    if (waiting_dests_.count(f.dest_base) != 0)
      held_.push_back({fp, commits_->pending() ? commits_->rounds() + 1 : commits_->rounds()});
    else
      answer(f, now, out);
  } else {
    counters_->fragments += 1;
    take(fp, false, now, out);
  }
  // Without a sync thread the round runs here and now (then so do the
  // fragments it held): a round per new copy, synced in place.
  for (int i = 0; i < 4 && !opts_.group_commit && commit_due(); ++i) {
    auto round = start_commit();
    run_commit_round(*round);
    finish_commit(*round, now, out);
  }
}

bool worker_core::cheap(const fragment& f) const {
  const auto& b = f.body;
  // Questions, repairs, new copies and blocked ones may measure, open,
  // create or wait: the worker's to do.
  if (!b.query.empty() || b.repair || f.dest_error || !held_.empty()
      || opts_.copy.mode != write_mode::plain)
    return false;
  source_key key{b.hdr.hostname, b.st_dev, b.st_ino, b.filename};
  auto identity = spec_for(f, key, wire::compression::none).identity;
  return copies_.count(identity) != 0 && waiting_.count(identity) == 0
         && blocked_.count(identity) == 0;
}

void worker_core::take(const fragment_ptr& fp, bool started, clock::time_point now,
                       outbox& out) {
  const auto& f = *fp;
  const auto& b = f.body;
  source_key key{b.hdr.hostname, b.st_dev, b.st_ino, b.filename};
  if (f.dest_error) {
    counters_->refused_paths += 1;
    note_refusal(key, describe(f.dest_error));
    refuse(f, key, b.fpos + b.raw_size, out);
    return;
  }
  // Behind a new copy of its own that is not durable yet: in its order.
  // (The identity does not depend on the payload's compression: the spec's
  // output is set once the payload is decoded.)
  auto spec = spec_for(f, key, wire::compression::none);
  const auto& identity = spec.identity;
  if (hold_if_waiting(fp, identity))
    return;
  // At most half the open copies wait for a round: the others can be
  // closed for a new one (max-open-files holds), which waits for a round.
  if (copies_.count(identity) == 0
      && waiting_.size() >= std::max<size_t>(1, opts_.max_open_copies / 2)) {
    held_.push_back({fp, commits_->pending() ? commits_->rounds() + 1 : commits_->rounds()});
    return;
  }
  claim_logged_ = false;
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
  spec.out = copy_out(p.comp);
  spec.defer_sync = true; // a new copy waits for its commit round
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
  if (cf.awaiting_commit() || claim_logged_) {
    await_commit(fp, cf, key, cf.awaiting_commit());
    return;
  }
  ack_entry* entry = nullptr;
  if (b.ack) {
    copies_.at(spec.identity).ack_sender = true;
    ack_key ak{key, b.gen};
    entry = &acks_[ak];
    entry->route = f.msg.route; // the latest path back to the sender
    bind_key(ak, *entry, spec.identity);
    touched_.insert(std::move(ak));
  }
  // The copy is the authority: a size changed behind the writer's back is
  // adopted before the fragment is placed (never written past a hole).
  auto rewrites = cf.rewrites();
  if (auto m = cf.measure(); !m)
    log::error(opts_.who, "measuring " + cf.path() + ": " + describe(m.error()));
  if (!b.repair || !repair(f, cf, key, p.raw, entry, now, out))
    write(f, cf, key, p, entry, now, out, started);
  collect(cf);
  if (cf.rewrites() != rewrites)
    rewind_acks(spec.identity);
}

} // namespace cc::tw
