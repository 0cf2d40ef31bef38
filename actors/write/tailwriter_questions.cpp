// A tailwriter worker's answers to questions (docs/wire.md §6.1): what its
// copies hold of a source (query "state") and digests of those bytes (query
// "digest"), as one logtail.state reply along the question's route. Part of
// worker_core (tailwriter_worker.hpp has its Owns/Takes/Sends): a question
// is handled in the worker's order, after every fragment before it, and
// never creates a copy or a journal. The copy is the authority: it is
// measured (a change behind the writer's back is adopted), its member
// finished and its bytes synced before the answer, so every src_end given is
// durable.
#include <algorithm>

#include "actors/write/tailwriter_worker.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "wire/digest.hpp"

namespace cc::tw {

namespace {

constexpr const char* state_type = "logtail.state";
/// One question reads and gives at most this much (docs/wire.md §6.1).
constexpr uint64_t max_pieces = 4096;
constexpr uint64_t max_question_bytes = 64ull << 20;
/// Rotated copies of one source looked at for one question: the newest.
constexpr size_t max_rotated_copies = 16;

/// The digests of a segment's first and last block that `budget` (bytes a
/// plain copy may still read) allows; a digest a compressed copy does not
/// know is left out.
void add_digests(const copy_file& cf, const copy_file::segment& seg,
                 wire::segment_state& st, uint64_t& budget) {
  if (seg.src_end == seg.src_base)
    return;
  uint64_t first_to = block_to(seg.src_base, seg.src_end);
  uint64_t last_from = block_from(seg.src_base, seg.src_end);
  std::pair<uint64_t, uint64_t> ranges[] = {{seg.src_base, first_to},
                                            {last_from, seg.src_end}};
  bool plain = cf.out() == wire::compression::none;
  for (auto [from, to] : ranges) {
    if (!st.digests.empty() && st.digests.back().from == from)
      continue; // one block: first and last
    if (plain && to - from > budget)
      return;
    auto d = cf.digest(seg, from, to);
    if (plain)
      budget -= to - from;
    if (d)
      st.digests.push_back({from, to, wire::digest_hex(*d)});
  }
}

/// The segment of (key, gen) in `cf`, else one of the same file and gen
/// written under another name (the copy's last segment of another source,
/// as a state answer gives it).
const copy_file::segment* find_segment(const copy_file& cf, const source_key& key,
                                       const std::string& gen) {
  if (const auto* seg = cf.find(key, gen))
    return seg;
  const auto& all = cf.segments();
  for (auto i = all.rbegin(); i != all.rend(); ++i)
    if (i->gen == gen && i->key.st_dev == key.st_dev && i->key.st_ino == key.st_ino)
      return &*i;
  return nullptr;
}

} // namespace

void worker_core::answer(const fragment& f, clock::time_point now, outbox& out) {
  counters_->queries += 1;
  const auto& b = f.body;
  source_key key{b.hdr.hostname, b.st_dev, b.st_ino, b.filename};
  wire::logtail_state_body a;
  a.hdr = reply_header(state_type);
  a.filename = b.filename;
  a.st_dev = b.st_dev;
  a.st_ino = b.st_ino;
  a.gen = b.gen;
  a.query = b.query;
  a.writer = opts_.writer_id;
  if (f.dest_error) {
    counters_->refused_paths += 1;
    note_refusal(key, describe(f.dest_error));
    a.status = wire::state_status::refused;
    a.detail = describe(f.dest_error);
  } else if (std::string why; !admit_source(f, key, false, why)) {
    a.status = wire::state_status::denied;
    a.detail = why;
  } else if (b.query == wire::query_kind::state) {
    answer_state(f, key, now, out, a);
  } else {
    answer_digest(f, key, now, out, a);
  }
  wire::cc_message msg;
  msg.route = f.msg.route;
  msg.type = state_type;
  msg.body = wire::make_body(a);
  out.push_back(std::move(msg));
}

void worker_core::answer_state(const fragment& f, const source_key& key,
                               clock::time_point now, outbox& out,
                               wire::logtail_state_body& a) {
  auto copies = copies_holding(f, key, nullptr, now, out, a);
  if (copies.empty())
    return;
  // The copy named: the one holding the question's generation, else the
  // newest (rotated copies are one per generation).
  const copy_file* named = copies.back();
  std::vector<std::pair<const copy_file*, const copy_file::segment*>> held;
  for (const auto* cf : copies) {
    if (cf->find(key, f.body.gen) != nullptr)
      named = cf;
    const auto& segs = cf->segments();
    for (const auto& s : segs)
      if (s.key == key || &s == &segs.back())
        held.emplace_back(cf, &s);
  }
  a.copy = named->path();
  a.compressed = named->out() != wire::compression::none;
  a.segments.resize(held.size());
  uint64_t budget = max_question_bytes; // newest segments first
  for (size_t i = held.size(); i-- > 0;) {
    const auto& [cf, s] = held[i];
    auto& st = a.segments[i];
    st.st_dev = s->key.st_dev;
    st.st_ino = s->key.st_ino;
    st.gen = s->gen;
    st.src_base = s->src_base;
    st.src_end = s->src_end;
    st.last = s == &cf->segments().back();
    if (f.body.digests)
      add_digests(*cf, *s, st, budget);
  }
}

void worker_core::answer_digest(const fragment& f, const source_key& key,
                                clock::time_point now, outbox& out,
                                wire::logtail_state_body& a) {
  const auto& b = f.body;
  a.block = b.block;
  auto copies = copies_holding(f, key, &b.gen, now, out, a);
  if (copies.empty())
    return;
  const auto& cf = *copies.back();
  a.copy = cf.path();
  a.compressed = cf.out() != wire::compression::none;
  const auto* seg = find_segment(cf, key, b.gen);
  if (seg == nullptr) {
    a.status = wire::state_status::none;
    a.detail = "the copy holds nothing of generation '" + b.gen + "'";
    return;
  }
  uint64_t from = std::clamp(b.range_from, seg->src_base, seg->src_end);
  uint64_t to = std::clamp(b.range_to, from, seg->src_end);
  a.range_from = from;
  a.range_to = to;
  uint64_t pieces = b.block == 0 ? 0 : (to - from + b.block - 1) / b.block;
  if (b.block == 0 || pieces > max_pieces || to - from > max_question_bytes) {
    a.status = wire::state_status::unavailable;
    a.detail = b.block == 0
                   ? std::string{"block must be at least 1"}
                   : std::to_string(pieces) + " pieces of " + std::to_string(to - from)
                         + " bytes asked: at most " + std::to_string(max_pieces)
                         + " pieces and " + std::to_string(max_question_bytes)
                         + " bytes a question";
    return;
  }
  for (uint64_t at = from; at < to; at += b.block) {
    auto d = cf.digest(*seg, at, std::min(to, at + b.block));
    if (!d) {
      a.status = wire::state_status::unavailable;
      a.detail = describe(d.error());
      a.pieces.clear();
      return;
    }
    a.pieces.push_back(wire::digest_hex(*d));
  }
}

std::vector<copy_file*> worker_core::copies_holding(const fragment& f,
                                                    const source_key& key,
                                                    const std::string* gen,
                                                    clock::time_point now, outbox& out,
                                                    wire::logtail_state_body& a) {
  std::vector<copy_spec> specs;
  if (f.body.op_mode != "rotated") {
    specs.push_back(spec_for(f, key, wire::compression::none));
  } else {
    if (!rotated_.built())
      rotated_.build(journal_headers(*jlog_));
    auto found = rotated_.find(key, to_string(opts_.copy.mode), f.dest_base);
    if (gen != nullptr)
      found.erase(std::remove_if(found.begin(), found.end(),
                                 [&](const auto& e) { return e.gen != *gen; }),
                  found.end());
    // Opening them must not close one another (max-open-files).
    size_t keep =
        std::min(max_rotated_copies, std::max<size_t>(1, opts_.max_open_copies));
    if (found.size() > keep)
      found.erase(found.begin(), found.end() - static_cast<std::ptrdiff_t>(keep));
    for (auto& e : found) {
      copy_spec s;
      s.identity = e.identity;
      s.base_path = f.dest_base;
      s.rotated = true;
      specs.push_back(std::move(s));
    }
  }
  std::vector<std::string> opened;
  a.status = wire::state_status::none;
  a.detail = "no copy holds this source";
  for (auto& spec : specs) {
    spec.must_exist = true;
    auto cf = copy_for(spec, now, out, false);
    if (cf) {
      missing_.erase(spec.identity);
      if (settle(spec.identity)) {
        opened.push_back(spec.identity);
        copies_.at(spec.identity).pinned = true;
      }
      continue;
    }
    a.detail = describe(cf.error());
    if (cf.error().code() == static_cast<uint8_t>(errc::path_refused)) {
      a.status = wire::state_status::refused;
      unpin(opened);
      return {};
    }
    if (copy_missing(cf.error()) && missing_.size() < 10000
        && missing_.insert(spec.identity).second) {
      // Its journal is here, the copy is gone: changed behind our back.
      counters_->copy_changed += 1;
      log::warning(opts_.who, a.detail + " (deleted behind the writer's back)");
    }
  }
  unpin(opened);
  std::vector<copy_file*> result;
  for (auto& identity : opened)
    if (auto c = copies_.find(identity); c != copies_.end())
      result.push_back(c->second.file.get());
  if (!result.empty()) {
    a.status = wire::state_status::ok;
    a.detail.clear();
  }
  return result;
}

void worker_core::unpin(const std::vector<std::string>& identities) {
  for (auto& identity : identities)
    if (auto c = copies_.find(identity); c != copies_.end())
      c->second.pinned = false;
}

bool worker_core::settle(const std::string& identity) {
  auto& cf = *copies_.at(identity).file;
  auto changed = cf.measure();
  if (!changed)
    log::error(opts_.who, "measuring " + cf.path() + ": " + describe(changed.error()));
  else if (*changed)
    rewind_acks(identity);
  if (cf.member_open()) {
    if (auto err = cf.finish_member())
      log::error(opts_.who, cf.path() + ": " + describe(err));
    if (auto keys = keys_of_.find(identity); keys != keys_of_.end())
      touched_.insert(keys->second.begin(), keys->second.end()); // they may be acknowledged further now
  }
  bool ok = sync_in_place(cf);
  collect(cf);
  if (!ok)
    drop_failed(identity);
  return ok;
}

} // namespace cc::tw
