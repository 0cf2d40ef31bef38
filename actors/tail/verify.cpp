// Verify and repair; see verify.hpp.
#include "actors/tail/verify.hpp"

#include <algorithm>

#include "actors/tail/position.hpp"
#include "actors/tail/source_reader.hpp"
#include "base/error.hpp"

namespace cc::tail {

namespace {

constexpr uint64_t repair_piece = 1 << 20;

asker_identity identity_of(const tailer_options& opts, const std::string& label) {
  return {opts.msg_type, opts.hostname, label, opts.op_mode, opts.source_id};
}

std::string bytes_text(uint64_t n) {
  return std::to_string(n) + (n == 1 ? " byte" : " bytes");
}

/// The last segment of (dev, ino) the answer lists, if any.
std::optional<wire::segment_state> latest_of(const wire::logtail_state_body& a,
                                             const file_id& id) {
  std::optional<wire::segment_state> out;
  for (const auto& s : a.segments)
    if (s.st_dev == id.st_dev && s.st_ino == id.st_ino)
      out = s;
  return out;
}

/// Compares [from, to) of `seg`; false (status set) when the writer cannot.
bool compare(verify_result& r, const wire::segment_state& seg, uint64_t to,
             source_reader& src, const tailer_options& opts, writer_link& link,
             const verify_progress& progress) {
  question segment;
  segment.st_dev = seg.st_dev;
  segment.st_ino = seg.st_ino;
  segment.gen = seg.gen;
  range_verify v{segment, seg.src_base, to};
  auto who = identity_of(opts, r.target.label);
  while (auto q = v.next()) {
    auto a = link.ask(question_body(*q, who));
    if (!a) {
      r.status = "error: " + describe(a.error());
      return false;
    }
    if (a->status != wire::state_status::ok) {
      r.status = a->status + (a->detail.empty() ? "" : ": " + a->detail);
      return false;
    }
    if (auto err = v.feed(a->pieces, src)) {
      r.status = "error: " + describe(err);
      return false;
    }
    if (progress)
      progress(v.bytes_compared(), to - seg.src_base);
  }
  r.blocks_equal = v.blocks_equal();
  r.blocks_differing = v.blocks_differing();
  r.differences = v.differences();
  return true;
}

} // namespace

std::vector<verify_target> verify_targets(const tailer_options& opts) {
  std::vector<verify_target> out;
  std::optional<position> saved;
  if (auto p = load_position(opts.save_file); p && *p)
    saved = **p;
  if (opts.op == tailer_options::mode::rotated) {
    // Rotated-away generations first (oldest first), then the current one.
    if (auto gens = rotated_generations(opts.logdir, opts.logname))
      for (const auto& [path, id] : *gens)
        out.push_back({path, opts.rotated_path(), std::nullopt, ""});
    out.push_back({opts.rotated_path(), opts.rotated_path(), std::nullopt, ""});
  } else if (auto files = list_log_files(opts.logdir, opts.logmask)) {
    for (const auto& path : *files)
      out.push_back({path, path, std::nullopt, ""});
  }
  if (!saved)
    return out;
  // What the .save says: its file was delivered up to its offset. (Of the
  // other files nothing is known for sure: one before the tailer's first
  // start was never meant to be sent.)
  for (auto& t : out) {
    auto id = stat_file(t.path);
    if (!id || !*id)
      continue;
    if ((*id)->st_dev == saved->st_dev && (*id)->st_ino == saved->st_ino
        && t.label == (opts.op == tailer_options::mode::rotated ? opts.rotated_path()
                                                                 : saved->filename)) {
      t.delivered = saved->offset;
      t.delivered_gen = saved->gen;
    }
  }
  return out;
}

verify_result verify_file(const verify_target& target, const tailer_options& opts,
                          writer_link& link, const verify_progress& progress) {
  verify_result r;
  r.target = target;
  auto src = source_reader::open(target.path);
  if (!src) {
    r.status = "error: " + describe(src.error());
    r.ok = false;
    return r;
  }
  auto id = (*src)->stat();
  if (!id) {
    r.status = "error: " + describe(id.error());
    r.ok = false;
    return r;
  }
  r.source_bytes = id->size;
  question state;
  state.query = std::string{wire::query_kind::state};
  state.st_dev = id->st_dev;
  state.st_ino = id->st_ino;
  auto a = link.ask(question_body(state, identity_of(opts, target.label)));
  if (!a) {
    r.status = "error: " + describe(a.error());
    r.ok = false;
    return r;
  }
  if (a->status == wire::state_status::refused) {
    r.status = "refused: " + a->detail;
    r.ok = false;
    return r;
  }
  auto seg = latest_of(*a, *id);
  if (!seg) {
    r.status = "not shipped";
    r.lag = r.source_bytes;
    if (target.delivered && *target.delivered > 0) {
      r.missing = *target.delivered;
      r.status = "missing";
      r.ok = false;
    }
    return r;
  }
  r.segment = seg;
  r.lag = r.source_bytes > seg->src_end ? r.source_bytes - seg->src_end : 0;
  r.extra = seg->src_end > r.source_bytes ? seg->src_end - r.source_bytes : 0;
  if (target.delivered && (target.delivered_gen.empty() || target.delivered_gen == seg->gen)
      && *target.delivered > seg->src_end)
    r.missing = *target.delivered - seg->src_end;
  auto to = std::min(seg->src_end, r.source_bytes);
  if (!compare(r, *seg, to, **src, opts, link, progress)) {
    r.ok = false;
    return r;
  }
  r.ok = r.differences.empty() && r.extra == 0 && r.missing == 0;
  if (!r.differences.empty() || r.extra > 0)
    r.status = "differs";
  else if (r.missing > 0)
    r.status = "missing";
  else
    r.status = r.lag > 0 ? "equal, lagging" : "equal";
  return r;
}

caf::expected<uint64_t> repair_file(const verify_result& r, const tailer_options& opts,
                                    writer_link& link) {
  if (!r.segment)
    return uint64_t{0};
  const auto& seg = *r.segment;
  auto src = source_reader::open(r.target.path);
  if (!src)
    return std::move(src.error());
  std::vector<byte_range> ranges = r.differences;
  if (r.missing > 0)
    ranges.push_back({seg.src_end, seg.src_end + r.missing});
  wire::logtail_body body;
  body.hdr.req = opts.msg_type;
  body.hdr.hostname = opts.hostname;
  body.filename = r.target.label;
  body.op_mode = opts.op_mode;
  body.source = opts.source_id;
  body.st_dev = seg.st_dev;
  body.st_ino = seg.st_ino;
  body.gen = seg.gen;
  body.ack = true;
  body.repair = true;
  uint64_t sent = 0;
  auto send = [&](uint64_t from, uint64_t n, bool truncate) -> caf::error {
    std::string payload(n, '\0');
    auto got = (*src)->read_at(from, payload.data(), n);
    if (!got)
      return std::move(got.error());
    if (*got != n)
      return make_error(errc::io, r.target.path + " shrank while being repaired");
    body.hdr.time = wire::now_seconds();
    body.fpos = from;
    body.raw_size = n;
    body.truncate = truncate;
    auto ack = link.send(body, std::move(payload));
    if (!ack)
      return std::move(ack.error());
    if (ack->status != wire::ack_status::ok)
      return make_error(errc::io, "the writer answered " + ack->status + " to a repair of "
                                    + r.target.label + " at " + std::to_string(from));
    sent += n;
    return caf::none;
  };
  for (auto [from, to] : ranges)
    for (auto at = from; at < to; at += repair_piece)
      if (auto err = send(at, std::min(repair_piece, to - at), false))
        return err;
  if (r.extra > 0) {
    if (!seg.last)
      return make_error(errc::io, "the copy of " + r.target.label + " holds "
                                    + bytes_text(r.extra)
                                    + " past the source's end in a segment that is "
                                      "not its last: not cut back");
    if (auto err = send(r.source_bytes, 0, true))
      return err;
  }
  return sent;
}

} // namespace cc::tail
