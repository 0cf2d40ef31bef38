// The writer's side of the acknowledged-delivery protocol (docs/wire.md) for
// tailer tests, shared by tailer_test (real time, a detached tailer) and
// tail_core_test (virtual time on the test coordinator): a stand-in that
// applies every fragment at its fpos per generation, drops duplicates
// (checking they repeat the same bytes), reports gaps, answers questions,
// and acks -- or withholds acks, refuses, or loses fragments on demand; and
// a router stand-in that hands it every dispatch; and the tailer options
// both start from (tailer_test_options). Everything is in an
// anonymous namespace so each test file may define its own fixtures.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <catch2/catch.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/types.hpp"
#include "actors/tail/position.hpp"
#include "actors/tail/tailer_options.hpp"
#include "base/error.hpp"
#include "config/config.hpp"
#include "wire/base64.hpp"
#include "wire/bodies.hpp"
#include "wire/codec.hpp"
#include "wire/digest.hpp"
#include "wire/message.hpp"

namespace {

// -- the writer side of the protocol ------------------------------------------

struct copy_key {
  std::string filename;
  uint64_t st_dev;
  uint64_t st_ino;
  bool operator<(const copy_key& o) const {
    return std::tie(filename, st_dev, st_ino) <
           std::tie(o.filename, o.st_dev, o.st_ino);
  }
};

/// One copy: its bytes and the current segment (SPEC §9 / docs/wire.md).
struct copy_state {
  std::string bytes;
  std::string gen;
  uint64_t src_base = 0;   // source offset of the segment's first byte
  uint64_t src_end = 0;    // source offset reached
  size_t copy_base = 0;    // where the segment starts in `bytes`
  std::map<std::string, uint64_t> finished;  // gen -> end
  struct old_segment {
    uint64_t src_base;
    uint64_t src_end;
    size_t copy_base;
  };
  std::map<std::string, old_segment> history;  // finished gens, for questions
};

struct fragment_record {
  std::string type;
  std::vector<std::string> route;
  cc::wire::logtail_body body;
  bool had_blob = false;
  bool had_range = false;    // the blob was a file range (wire/file_range.hpp)
  std::string wire_payload;  // as sent (compressed or not)
  std::string raw;           // decoded and decompressed
};

struct fake_writer {
  std::mutex mtx;
  std::map<copy_key, copy_state> copies;
  std::vector<copy_key> order;  // keys by first appearance
  std::vector<fragment_record> fragments;
  int dispatches = 0;
  int duplicates = 0;
  int overlaps = 0;
  int gaps = 0;
  int mismatches = 0;   // resent bytes that differ from the first copy
  int bad = 0;          // fragments that failed to parse or decode
  int ranges_gone = 0;  // file ranges whose bytes were gone when read
  int acks_sent = 0;
  int questions = 0;     // state and digest questions answered
  int repairs = 0;       // repair fragments applied
  std::string writer_id = "1111111111111111";  // change it: a restart
  bool answer_questions = true;  // false: questions go unanswered
  // Fault injection:
  bool send_acks = true;      // false: apply fragments, send no ack
  bool refuse_acks = false;   // ack with status "refused"
  // Every fragment and question answered "denied" (this link may not write
  // the host, as the central's host check says), nothing applied.
  bool deny_host = false;
  int denials = 0;
  int refuse_dispatch = 0;    // answer this many dispatches with queue_full
  int lose_dispatch_no = 0;   // the n-th dispatch (1-based) is accepted, lost
  // Dispatches accepted and kept unread (as a forwarder's queue keeps them)
  // while set; the test hands them on later (its file ranges read then).
  bool defer = false;
  std::vector<cc::wire::cc_message> deferred;
  caf::actor endpoint;
  std::string endpoint_name;
  int registrations = 0;
  /// When set: the tailer's .save file, read at the first fragment of each
  /// generation (it must already name that generation).
  std::string save_file;
  struct first_fragment {
    std::string gen;
    uint64_t fpos;
    std::string saved_gen;  // "" when there was no .save file
    uint64_t saved_offset;
  };
  std::vector<first_fragment> firsts;

  std::optional<cc::wire::cc_message> handle(cc::wire::cc_message& msg) {
    ++dispatches;
    fragment_record rec;
    rec.type = msg.type;
    rec.route = msg.route;
    rec.had_blob = msg.has_blob();
    auto body = cc::wire::parse_logtail(msg.body);
    if (!body) {
      ++bad;
      return std::nullopt;
    }
    if (deny_host)
      return denial(*body);
    if (!body->query.empty()) {
      --dispatches; // questions are not fragments
      if (!answer_questions)
        return std::nullopt;
      ++questions;
      return answer(*body);
    }
    rec.body = *body;
    if (!save_file.empty() &&
        std::none_of(firsts.begin(), firsts.end(),
                     [&](const first_fragment& f) { return f.gen == body->gen; })) {
      auto saved = cc::tail::load_position(save_file);
      bool have = saved && *saved;
      firsts.push_back({body->gen, body->fpos, have ? (*saved)->gen : "",
                        have ? (*saved)->offset : 0});
    }
    if (msg.has_blob()) {
      // As a writer in the tailer's process does (actors/write/tailwriter):
      // a fragment left in the source file is read now; gone, it is lost.
      rec.had_range = msg.blob->file() != nullptr;
      if (cc::wire::load_blob(msg)) {
        ++ranges_gone;
        return std::nullopt;
      }
      rec.wire_payload = std::string{msg.blob->view()};
    } else {
      auto decoded = cc::wire::base64_decode(body->data);
      if (!decoded) {
        ++bad;
        return std::nullopt;
      }
      rec.wire_payload = std::move(*decoded);
    }
    auto comp = cc::wire::parse_compression(body->comp);
    if (!comp) {
      ++bad;
      return std::nullopt;
    }
    if (*comp == cc::wire::compression::none) {
      rec.raw = rec.wire_payload;
    } else {
      auto raw = cc::wire::decompress(rec.wire_payload, *comp, 64u << 20);
      if (!raw) {
        ++bad;
        return std::nullopt;
      }
      rec.raw = std::move(*raw);
    }
    if (rec.raw.size() != body->raw_size)
      ++bad;
    fragments.push_back(rec);
    if (dispatches == lose_dispatch_no)
      return std::nullopt;
    return apply(rec);
  }

  /// What the central's host check answers (docs/security.md): a
  /// fragment gets a "denied" ack, a question a "denied" state.
  cc::wire::cc_message denial(const cc::wire::logtail_body& b) {
    ++denials;
    const std::string why = "client key K may not write host 'h'";
    if (b.query.empty())
      return make_ack(b.filename, b.st_dev, b.st_ino, b.gen, 0, "denied", writer_id, why);
    auto a = state_for(b);
    a.status = "denied";
    a.detail = why;
    return state_message(a);
  }

  /// The writer's answer to a question (docs/wire.md §6.1), from the bytes
  /// this stand-in holds.
  cc::wire::cc_message answer(const cc::wire::logtail_body& q) {
    auto a = state_for(q);
    copy_key key{q.filename, q.st_dev, q.st_ino};
    auto it = copies.find(key);
    if (it == copies.end() || it->second.gen.empty()) {
      a.status = "none";
      return state_message(a);
    }
    auto& c = it->second;
    auto digest = [&](size_t copy_base, uint64_t src_base, uint64_t from, uint64_t to) {
      return cc::wire::digest_hex(cc::wire::xxh3(
        std::string_view{c.bytes}.substr(copy_base + (from - src_base), to - from)));
    };
    auto segment = [&](const std::string& gen, uint64_t base, uint64_t end, size_t copy_base,
                       bool last) {
      cc::wire::segment_state seg;
      seg.st_dev = q.st_dev;
      seg.st_ino = q.st_ino;
      seg.gen = gen;
      seg.src_base = base;
      seg.src_end = end;
      seg.last = last;
      if (q.digests && end > base) {
        const uint64_t b = cc::wire::digest_block;
        auto first_to = std::min(end, (base / b + 1) * b);
        seg.digests.push_back({base, first_to, digest(copy_base, base, base, first_to)});
        auto last_from = std::max(base, (end - 1) / b * b);
        if (last_from >= first_to)
          seg.digests.push_back({last_from, end, digest(copy_base, base, last_from, end)});
      }
      return seg;
    };
    if (q.query == "state") {
      for (auto& [gen, h] : c.history)
        a.segments.push_back(segment(gen, h.src_base, h.src_end, h.copy_base, false));
      a.segments.push_back(segment(c.gen, c.src_base, c.src_end, c.copy_base, true));
      return state_message(a);
    }
    // digest: the current segment or a finished one
    uint64_t base = c.src_base, end = c.src_end;
    size_t copy_base = c.copy_base;
    if (q.gen != c.gen) {
      auto h = c.history.find(q.gen);
      if (h == c.history.end()) {
        a.status = "none";
        return state_message(a);
      }
      base = h->second.src_base;
      end = h->second.src_end;
      copy_base = h->second.copy_base;
    }
    auto from = std::max(q.range_from, base);
    auto to = std::min(q.range_to, end);
    a.range_from = q.range_from;
    a.range_to = to;
    a.block = q.block;
    for (uint64_t at = from; at < to; at += q.block)
      a.pieces.push_back(digest(copy_base, base, at, std::min(to, at + q.block)));
    return state_message(a);
  }

  /// An answer to question `q`, its head filled in.
  cc::wire::logtail_state_body state_for(const cc::wire::logtail_body& q) const {
    cc::wire::logtail_state_body a;
    a.hdr.req = "logtail.state";
    a.hdr.time = cc::wire::now_seconds();
    a.hdr.hostname = "central";
    a.filename = q.filename;
    a.st_dev = q.st_dev;
    a.st_ino = q.st_ino;
    a.gen = q.gen;
    a.query = q.query;
    a.writer = writer_id;
    return a;
  }

  static cc::wire::cc_message state_message(const cc::wire::logtail_state_body& a) {
    cc::wire::cc_message m;
    m.type = "logtail.state";
    m.body = cc::wire::make_body(a);
    return m;
  }

  /// A repair (docs/wire.md §6.1): overwrite in place, maybe cut the copy.
  std::optional<cc::wire::cc_message> repair(const fragment_record& rec, copy_state& c) {
    const auto& b = rec.body;
    ++repairs;
    if (b.gen == c.gen && b.fpos >= c.src_base) {
      auto at = c.copy_base + (b.fpos - c.src_base);
      if (at > c.bytes.size())
        at = c.bytes.size();
      c.bytes.replace(at, std::min(rec.raw.size(), c.bytes.size() - at), rec.raw);
      if (b.truncate) {
        c.bytes.resize(at + rec.raw.size());
        c.src_end = b.fpos + rec.raw.size();
      } else {
        c.src_end = std::max<uint64_t>(c.src_end, b.fpos + rec.raw.size());
      }
    }
    return ack(rec, c.src_end, "ok");
  }

  /// Applies a fragment; returns the ack to send (when one is wanted).
  std::optional<cc::wire::cc_message> apply(const fragment_record& rec) {
    const auto& b = rec.body;
    copy_key key{b.filename, b.st_dev, b.st_ino};
    if (!copies.count(key))
      order.push_back(key);
    auto& c = copies[key];
    if (b.repair)
      return repair(rec, c);
    std::string status = "ok";
    uint64_t n = rec.raw.size();
    if (c.gen != b.gen && c.finished.count(b.gen)) {
      ++duplicates;  // a late resend of a finished generation
      return ack(rec, c.finished[b.gen], status);
    }
    if (c.gen != b.gen) {
      if (!c.gen.empty()) {
        c.finished[c.gen] = c.src_end;
        c.history[c.gen] = {c.src_base, c.src_end, c.copy_base};
      }
      c.gen = b.gen;
      c.src_base = c.src_end = b.fpos;
      c.copy_base = c.bytes.size();
    }
    auto check_same = [&](uint64_t from, uint64_t to) {
      // Bytes [from, to) of the source, already in the copy, must repeat.
      from = std::max(from, c.src_base);
      if (from >= to)
        return;
      auto have = c.bytes.substr(c.copy_base + (from - c.src_base), to - from);
      if (have != rec.raw.substr(from - b.fpos, to - from))
        ++mismatches;
    };
    if (b.fpos + n <= c.src_end) {
      ++duplicates;
      check_same(b.fpos, b.fpos + n);
    } else if (b.fpos < c.src_end) {
      ++overlaps;
      check_same(b.fpos, c.src_end);
      c.bytes += rec.raw.substr(c.src_end - b.fpos);
      c.src_end = b.fpos + n;
    } else if (b.fpos == c.src_end) {
      c.bytes += rec.raw;
      c.src_end += n;
    } else {
      ++gaps;
      if (b.ack)
        return ack(rec, c.src_end, "gap");
      c.bytes += rec.raw;  // the original receiver appends anyway
      c.src_end = b.fpos + n;
    }
    if (refuse_acks)
      status = "refused";
    return ack(rec, c.src_end, status);
  }

  std::optional<cc::wire::cc_message>
  ack(const fragment_record& rec, uint64_t fpos, const std::string& status) {
    if (!rec.body.ack || !send_acks)
      return std::nullopt;
    return make_ack(rec.body.filename, rec.body.st_dev, rec.body.st_ino,
                    rec.body.gen, fpos, status, writer_id);
  }

  static cc::wire::cc_message make_ack(const std::string& filename,
                                       uint64_t dev, uint64_t ino,
                                       const std::string& gen, uint64_t fpos,
                                       const std::string& status,
                                       const std::string& writer = "",
                                       const std::string& detail = "") {
    cc::wire::logtail_ack_body a;
    a.hdr.req = "logtail.ack";
    a.hdr.time = cc::wire::now_seconds();
    a.hdr.hostname = "central";
    a.filename = filename;
    a.st_dev = dev;
    a.st_ino = ino;
    a.gen = gen;
    a.fpos = fpos;
    a.status = status;
    a.writer = writer;
    a.detail = detail;
    cc::wire::cc_message m;
    m.type = "logtail.ack";
    m.body = cc::wire::make_body(a);
    return m;  // route frame already popped by the router
  }

  /// Acks for the current state of every copy (after acks were withheld).
  std::vector<cc::wire::cc_message> current_acks() {
    std::vector<cc::wire::cc_message> out;
    for (auto& [k, c] : copies)
      out.push_back(make_ack(k.filename, k.st_dev, k.st_ino, c.gen, c.src_end,
                             "ok", writer_id));
    return out;
  }
};

[[maybe_unused]] caf::behavior fake_router(caf::event_based_actor* self,
                          std::shared_ptr<fake_writer> w) {
  return {
    [w](cc::register_atom, const std::string& name, caf::actor a) {
      std::lock_guard<std::mutex> guard{w->mtx};
      w->endpoint = a;
      w->endpoint_name = name;
      ++w->registrations;
      return cc::ok_atom::value;
    },
    [self, w](cc::dispatch_atom,
              cc::wire::cc_message& msg) -> caf::result<cc::ok_atom> {
      std::optional<cc::wire::cc_message> reply;
      caf::actor to;
      {
        std::lock_guard<std::mutex> guard{w->mtx};
        if (w->refuse_dispatch > 0) {
          --w->refuse_dispatch;
          return cc::make_error(cc::errc::queue_full, "test: queue full");
        }
        if (w->defer) {
          w->deferred.push_back(std::move(msg));
          return cc::ok_atom::value;
        }
        reply = w->handle(msg);
        to = w->endpoint;
        if (reply)
          ++w->acks_sent;
      }
      if (reply && to)
        self->send(to, cc::reply_atom::value, std::move(*reply));
      return cc::ok_atom::value;
    },
  };
}

/// The options of a tailer of `logdir` saving to `save_file`, as the
/// configuration reader makes them, with a short poll-interval (50 ms),
/// idle-flush (200 ms) and retry-delay (50 ms), and ack-timeout 5 s.
/// `extra`: more lines of the [d:tail] section (logmask, operation-mode..);
/// `ini`: where the configuration is said to come from.
inline cc::tailer_options tailer_test_options(const std::string& logdir,
                                              const std::string& save_file,
                                              const std::string& extra,
                                              const std::string& ini) {
  auto text = "[ccserver]\ncc-socket = tcp://127.0.0.1:22998\ncc-role = local\n"
              "[routes]\njob = h:jobmgr\n[h:jobmgr]\nhandler = jobmgr\ndaemons = d:tail\n"
              "[d:tail]\nmodule = logtail\nlogdir = " + logdir +
              "\nsave-file = " + save_file +
              "\nhostname = testhost\npoll-interval = 0.05\nidle-flush = 0.2\n"
              "ack-timeout = 5\n" + extra;
  auto doc = cc::config::ini::parse(text, ini);
  REQUIRE(doc);
  auto loaded = cc::config::validate(*doc);
  for (auto& d : loaded.diagnostics)
    UNSCOPED_INFO(d.str());
  REQUIRE(loaded.ok());
  auto o = cc::make_tailer_options(loaded.config->daemons.at("d:tail"));
  REQUIRE(o);
  auto opts = *o;
  opts.retry_delay = std::chrono::milliseconds{50};
  return opts;
}

/// `count` numbered lines of test data, `width` bytes each with the newline.
[[maybe_unused]] std::string numbered_lines(const std::string& tag, int first, int count,
                           size_t width = 60) {
  std::string out;
  for (int i = first; i < first + count; ++i) {
    auto line = tag + " line " + std::to_string(i) + " ";
    while (line.size() < width - 1)
      line += static_cast<char>('a' + (i + line.size()) % 26);
    out += line + "\n";
  }
  return out;
}

} // namespace
