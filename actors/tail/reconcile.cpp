// The sender's half of reconcile, verify and repair; see reconcile.hpp.
#include "actors/tail/reconcile.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "wire/digest.hpp"

namespace cc::tail {

namespace {

constexpr uint64_t block = wire::digest_block;
/// Pieces per narrowing question.
constexpr uint64_t fan_out = 64;
/// A copy's segment of another generation than the tailer's own, or found
/// without a .save, is only cut back where at least this many of its first
/// bytes equal the source: log lines of two different files may share a
/// line's worth of prefix (a timestamp), not a page.
constexpr uint64_t strong_prefix = fingerprint_max_bytes;

uint64_t ceil_div(uint64_t x, uint64_t y) {
  return (x + y - 1) / y;
}

question digest_question(const question& segment, uint64_t from, uint64_t to,
                         uint64_t piece) {
  question q = segment;
  q.query = std::string{wire::query_kind::digest};
  q.digests = false;
  q.from = from;
  q.to = to;
  q.block = piece;
  return q;
}

/// Indexes of the pieces that differ: a piece missing on either side
/// differs.
caf::expected<std::vector<size_t>>
differing_pieces(const std::vector<std::string>& remote, source_reader& src,
                 uint64_t from, uint64_t to, uint64_t piece) {
  auto local = digest_pieces(src, from, to, piece);
  if (!local)
    return std::move(local.error());
  std::vector<size_t> out;
  for (size_t i = 0; i < local->size(); ++i) {
    auto theirs = i < remote.size() ? wire::parse_digest_hex(remote[i]) : std::nullopt;
    auto& ours = (*local)[i];
    if (!theirs || !ours || *theirs != *ours)
      out.push_back(i);
  }
  return out;
}

} // namespace

wire::logtail_body question_body(const question& q, const asker_identity& who) {
  wire::logtail_body body;
  body.hdr.req = who.msg_type;
  body.hdr.time = wire::now_seconds();
  body.hdr.hostname = who.hostname;
  body.filename = who.label;
  body.op_mode = who.op_mode;
  body.st_dev = q.st_dev;
  body.st_ino = q.st_ino;
  body.gen = q.gen;
  body.ack = true;
  body.query = q.query;
  body.digests = q.digests;
  body.range_from = q.from;
  body.range_to = q.to;
  body.block = q.block;
  body.source = who.source;
  return body;
}

bool answers(const wire::logtail_state_body& a, const question& q) {
  if (a.query != q.query || a.st_dev != q.st_dev || a.st_ino != q.st_ino || a.gen != q.gen)
    return false;
  if (q.query == wire::query_kind::digest)
    return a.status != wire::state_status::ok
           || (a.range_from == q.from && a.block == q.block);
  return true;
}

// -- difference_search ------------------------------------------------------------

difference_search::difference_search(question segment, uint64_t from, uint64_t to)
  : segment_(std::move(segment)), from_(from), to_(to) {
  if (from >= to) {
    done_ = true;
    result_ = to;
    return;
  }
  lo_ = from / block;
  hi_ = (to - 1) / block;
  if (lo_ == hi_)
    narrow(from, to);
  else
    probe_ = lo_ + (hi_ - lo_) / 2;
}

void difference_search::narrow(uint64_t from, uint64_t to) {
  blocks_ = false;
  piece_from_ = from;
  piece_to_ = to;
  piece_ = std::max<uint64_t>(1, ceil_div(to - from, fan_out));
}

std::optional<question> difference_search::next() const {
  if (done_)
    return std::nullopt;
  if (blocks_)
    return digest_question(segment_, std::max(from_, probe_ * block),
                           std::min(to_, (probe_ + 1) * block), block);
  return digest_question(segment_, piece_from_, piece_to_, piece_);
}

caf::error difference_search::feed(const std::vector<std::string>& pieces,
                                   source_reader& src) {
  auto q = next();
  if (!q)
    return caf::none;
  auto diff = differing_pieces(pieces, src, q->from, q->to, q->block);
  if (!diff)
    return std::move(diff.error());
  if (blocks_) {
    // Invariant: every block before lo_ equals; block hi_ differs.
    if (diff->empty())
      lo_ = probe_ + 1;
    else
      hi_ = probe_;
    if (lo_ >= hi_)
      narrow(std::max(from_, hi_ * block), std::min(to_, (hi_ + 1) * block));
    else
      probe_ = lo_ + (hi_ - lo_) / 2;
    return caf::none;
  }
  if (diff->empty()) {
    // Nothing differs here after all (the copy changed meanwhile): the
    // difference, if any, starts after this range.
    done_ = true;
    result_ = piece_to_;
    return caf::none;
  }
  auto first = piece_from_ + diff->front() * piece_;
  if (piece_ == 1) {
    done_ = true;
    result_ = first;
    return caf::none;
  }
  narrow(first, std::min(piece_to_, first + piece_));
  return caf::none;
}

// -- range_verify -------------------------------------------------------------------

range_verify::range_verify(question segment, uint64_t from, uint64_t to, size_t budget,
                           uint64_t page)
  : segment_(std::move(segment)), from_(from), to_(std::max(from, to)), paged_(from),
    page_(std::max(page, block)), budget_(budget) {
}

std::optional<question> range_verify::next() const {
  if (paged_ < to_) {
    // Whole blocks of the grid, so a compressed copy's journaled digests
    // can answer; an unaligned start is asked alone first.
    if (paged_ % block != 0) {
      auto end = std::min(to_, (paged_ / block + 1) * block);
      return digest_question(segment_, paged_, end, end - paged_);
    }
    return digest_question(segment_, paged_, std::min(to_, paged_ + page_ / block * block),
                           block);
  }
  if (pending_.empty() || budget_ == 0)
    return std::nullopt;
  auto [from, to] = pending_.front();
  return digest_question(segment_, from, to, std::max<uint64_t>(1, ceil_div(to - from, fan_out)));
}

caf::error range_verify::feed(const std::vector<std::string>& pieces, source_reader& src) {
  auto q = next();
  if (!q)
    return caf::none;
  auto diff = differing_pieces(pieces, src, q->from, q->to, q->block);
  if (!diff)
    return std::move(diff.error());
  auto piece_range = [&](size_t i) {
    auto from = q->from + i * q->block;
    return byte_range{from, std::min(q->to, from + q->block)};
  };
  if (paged_ < to_) {
    auto count = ceil_div(q->to - q->from, q->block);
    blocks_differing_ += diff->size();
    blocks_equal_ += count - diff->size();
    compared_ += q->to - q->from;
    paged_ = q->to;
    for (auto i : *diff)
      pending_.push_back(piece_range(i));
    return caf::none;
  }
  pending_.erase(pending_.begin());
  --budget_;
  for (auto i : *diff) {
    auto r = piece_range(i);
    if (r.second - r.first == 1)
      found_.push_back(r);
    else
      pending_.push_back(r);
  }
  return caf::none;
}

std::vector<byte_range> range_verify::differences() const {
  std::vector<byte_range> all = found_;
  all.insert(all.end(), pending_.begin(), pending_.end());
  std::sort(all.begin(), all.end());
  std::vector<byte_range> merged;
  for (const auto& r : all) {
    if (!merged.empty() && merged.back().second >= r.first)
      merged.back().second = std::max(merged.back().second, r.second);
    else
      merged.push_back(r);
  }
  return merged;
}

// -- reconciler -------------------------------------------------------------------

reconciler::reconciler(file_id id, uint64_t size, own_position own)
  : id_(id), size_(size), own_(std::move(own)) {
}

question reconciler::first() const {
  question q;
  q.query = std::string{wire::query_kind::state};
  q.digests = true;
  q.st_dev = id_.st_dev;
  q.st_ino = id_.st_ino;
  q.gen = own_.gen;
  return q;
}

caf::expected<reconciler::verdict> reconciler::check(const wire::segment_state& seg,
                                                     source_reader& src) {
  if (seg.src_base > size_)
    return verdict::none;
  if (seg.digests.empty())
    return seg.src_end == seg.src_base ? verdict::full : verdict::unknown;
  bool all = seg.src_end <= size_;
  bool first = false;
  for (size_t i = 0; i < seg.digests.size(); ++i) {
    const auto& d = seg.digests[i];
    auto theirs = wire::parse_digest_hex(d.xxh3);
    auto ours = digest_range(src, d.from, d.to);
    if (!ours)
      return std::move(ours.error());
    bool same = theirs && *ours && **ours == *theirs;
    all = all && same;
    // Equal, or the source ends inside it. A segment of one block has one
    // digest for its first and last block: when that differs, where is
    // not known (junk appended after the source grew past the copy's end
    // differs there too), so the search decides.
    if (i == 0)
      first = same || !*ours || (seg.digests.size() == 1 && d.to == seg.src_end);
  }
  if (all)
    return verdict::full;
  return first ? verdict::prefix : verdict::none;
}

resume_plan reconciler::adopt(const wire::segment_state& seg, uint64_t end, bool truncate,
                              const std::string& why) const {
  bool ours = seg.st_dev == id_.st_dev && seg.st_ino == id_.st_ino;
  resume_plan p;
  p.found = true;
  p.offset = end;
  p.truncate = truncate;
  p.why = why;
  if (ours) {
    p.gen = seg.gen;
    p.writer_has_gen = true;
    p.base = seg.src_base;
  } else {
    // The same content under another inode: the writer starts a segment of
    // ours where the other ends, at the copy's end.
    p.gen = own_.gen;
    p.base = end;
  }
  return p;
}

resume_plan reconciler::own_plan(const wire::logtail_state_body& answer) const {
  resume_plan p;
  p.gen = own_.gen;
  p.offset = own_.offset;
  p.base = own_.base;
  bool has_gen = std::any_of(answer.segments.begin(), answer.segments.end(),
                             [&](const auto& s) {
                               return s.st_dev == id_.st_dev && s.st_ino == id_.st_ino
                                      && s.gen == own_.gen;
                             });
  if (answer.status == wire::state_status::refused) {
    p.why = "the writer refuses this file (" + answer.detail + ")";
  } else if (own_.saved && !has_gen && own_.offset > own_.base) {
    p.offset = own_.base;
    p.why = "the copy lacks this generation: sending it again from " +
            std::to_string(own_.base);
  } else {
    p.why = answer.status == wire::state_status::none ? "the copy holds none of it"
                                                      : "the copy holds none of its content";
  }
  return p;
}

caf::expected<std::variant<question, resume_plan>>
reconciler::feed(const wire::logtail_state_body& answer, source_reader& src) {
  using result = std::variant<question, resume_plan>;
  if (search_) {
    if (answer.status != wire::state_status::ok)
      return result{own_plan(answer)};
    if (auto err = search_->feed(answer.pieces, src))
      return err;
    if (!search_->done())
      return result{*search_->next()};
    const auto& seg = *searching_;
    auto d = search_->result();
    bool vouched = own_.saved && seg.gen == own_.gen;
    if (d >= seg.src_end && seg.src_end <= size_)
      return result{adopt(seg, seg.src_end, false, "the copy holds it up to here")};
    if (d > seg.src_base && (vouched || d - seg.src_base >= strong_prefix))
      return result{adopt(seg, d, true,
                          "the copy differs from the source at " + std::to_string(d)
                            + " (it holds " + std::to_string(seg.src_end)
                            + " bytes, the source " + std::to_string(size_)
                            + "): cutting it back there")};
    searching_.reset();
    search_.reset();
    return result{own_plan(answer)};
  }
  if (answer.status != wire::state_status::ok)
    return result{own_plan(answer)};
  auto ours = [&](const wire::segment_state& s) {
    return s.st_dev == id_.st_dev && s.st_ino == id_.st_ino;
  };
  std::vector<const wire::segment_state*> candidates;
  for (const auto& s : answer.segments)
    if (s.last && ours(s))
      candidates.push_back(&s);
  for (const auto& s : answer.segments)
    if (!s.last && ours(s) && !own_.gen.empty() && s.gen == own_.gen)
      candidates.push_back(&s);
  for (const auto& s : answer.segments)
    if (s.last && !ours(s))
      candidates.push_back(&s);
  for (const auto* s : candidates) {
    auto v = check(*s, src);
    if (!v)
      return std::move(v.error());
    switch (*v) {
      case verdict::full:
        return result{adopt(*s, s->src_end, false, "the copy holds it up to here")};
      case verdict::unknown:
        // A compressed copy: lengths only, for our own generation.
        if (ours(*s) && (s->gen == own_.gen || s->last) && s->src_end <= size_)
          return result{adopt(*s, s->src_end, false,
                              "the copy (compressed: lengths only) holds it up to here")};
        break;
      case verdict::prefix:
        if (s->last && ours(*s)) {
          question seg;
          seg.st_dev = s->st_dev;
          seg.st_ino = s->st_ino;
          seg.gen = s->gen;
          searching_ = *s;
          search_.emplace(seg, s->src_base, s->src_end);
          if (search_->done())
            break;
          return result{*search_->next()};
        }
        break;
      case verdict::none:
        break;
    }
  }
  return result{own_plan(answer)};
}

} // namespace cc::tail
