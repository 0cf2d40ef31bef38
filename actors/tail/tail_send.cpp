// Reading the open source and sending it: fragments cut at lines and sizes,
// the router's answers, rewinds, the acknowledged position and its .save.
// The contract is in tail_core.hpp.
#include "actors/tail/ack_progress.hpp"
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
#include "wire/base64.hpp"
#include "wire/codec.hpp"

namespace cc::tail {

/// Unacknowledged bytes at most. ack-window bounds what a transport's
/// queue may hold of them (libzmq's holds up to its high-water mark of
/// fragments, loaded into memory). File ranges sent over the data
/// connection wait in no queue as bytes (the data link's holds descriptors,
/// within the forwarder's queue-bytes; sendfile takes them from the page
/// cache), and the central holds its unsynced bytes in its page cache only:
/// there the larger ack-window-ranges lets the stream go on through a sync
/// that takes seconds, while an ack still means the bytes are synced. It
/// holds only while the data connection is up: when it goes (the central
/// stopped, the link broke) reading stops at ack-window again, and what the
/// data link still queued goes to ZeroMQ within the forwarder's queue-bytes.
uint64_t tail_core::window() const {
  auto w = opts.ack_window;
  if (opts.data_lanes && src && range_capable() && opts.data_lanes->up())
    w = std::max(w, opts.ack_window_ranges);
  return std::max(w, opts.fragment_bytes);
}

/// What is read but not yet sent stays within one fragment: a sender held
/// back (the generation's first fragment unconfirmed, the router pushing
/// back) must not pull the window into memory, again after every resend;
/// and a fragment is then most of the buffer, so it leaves by handing the
/// buffer over (send_fragment), not by copying it out of a bigger one.
uint64_t tail_core::read_cap() const {
  return std::max<uint64_t>(opts.fragment_bytes, read_chunk_bytes);
}

/// Reading stops at the window (unacknowledged bytes) and at read_cap().
bool tail_core::can_read() const {
  return src && streaming() && src->read_pos() - src->acked < window()
         && src->buffered() < read_cap();
}

/// Whether the open source's unsent bytes may stay in the file, to be cut
/// as file ranges that the data connection sends with sendfile (docs/wire.md
/// §6.8): only where the fragment is those very bytes (no compression, in
/// the blob, not cut by a line count, which needs every byte) and the file
/// is plain (a .gz a rotation left is read decompressed).
bool tail_core::range_capable() const {
  return opts.sendfile && opts.use_blob && opts.comp == wire::compression::none
         && opts.fragment_lines == 0 && !src->reader->compressed();
}

/// The open plain file's size: the one verify_generation saw in this look
/// (taken once), else fstat's; UINT64_MAX when fstat fails.
uint64_t tail_core::size_now(source_file& s) {
  if (s.size_seen) {
    auto size = *s.size_seen;
    s.size_seen.reset();
    return size;
  }
  struct stat st;
  if (::fstat(s.fd, &st) != 0)
    return UINT64_MAX;
  return static_cast<uint64_t>(st.st_size);
}

/// Reads one block; returns the byte count (0 at end of file).
caf::expected<size_t> tail_core::read_block() {
  auto& s = *src;
  // The window may have shrunk since can_read() (the data connection went:
  // ack-window-ranges no longer holds): read nothing rather than wrap.
  auto w = window();
  if (s.read_pos() - s.acked >= w)
    return size_t{0};
  auto want = std::min<uint64_t>(
      {read_chunk_bytes, w - (s.read_pos() - s.acked), read_cap() - s.buffered()});
  if (s.head > 0 && s.head >= s.buf.size() / 2) {
    s.buf.erase_front(s.head);
    s.head = 0;
  }
  auto offset = s.read_pos(); // before the buffer grows for the read
  // Read only what the file holds: a poll at end of file must cost a
  // stat, not a 1 MiB allocation (the buffer's new room is not zeroed).
  // The first read after verify_generation takes the size it just saw
  // (bytes written since are the next wake's): one fstat less per look,
  // of ~3.5 looks per trickle line (bench/PROFILE.md, "Session 13: trickle").
  uint64_t size = UINT64_MAX;
  if (!s.reader->compressed())
    size = size_now(s);
  if (size != UINT64_MAX) {
    if (size <= offset) {
      s.at_eof = true;
      return size_t{0};
    }
    want = std::min<uint64_t>(want, size - offset);
  }
  if (size != UINT64_MAX && range_capable()
      && (s.in_file > 0 || s.buffered() + want >= range_min_bytes)) {
    // Left in the file, bytes in memory included (the file holds them too):
    // "read" costs nothing until a fragment is cut (cut_from_file).
    s.in_file = s.buffered() + want;
    s.buf.clear();
    s.head = 0;
    s.last_growth = now();
    stats[tail_counts::bytes_read] += static_cast<int64_t>(want);
    s.at_eof = offset + want >= size;
    return static_cast<size_t>(want);
  }
  char* room = s.buf.append_space(want);
  auto got = s.reader->read_at(offset, room, want);
  if (!got) {
    s.buf.commit(0);
    return std::move(got.error());
  }
  auto n = *got;
  s.buf.commit(n);
  if (n > 0) {
    s.last_growth = now();
    stats[tail_counts::bytes_read] += static_cast<int64_t>(n);
  }
  s.at_eof = n < want || offset + n >= size;
  return n;
}

/// Whether a partial line (text) or a short compressed buffer goes now.
bool tail_core::flush_all() const {
  const auto& s = *src;
  return phase_ == tail_phase::draining
         || (s.buffered() > 0 && now() - s.last_growth >= opts.idle_flush);
}

/// How many buffered bytes form the next fragment now (0: wait).
size_t tail_core::fragment_length() {
  const auto& s = *src;
  auto cap = static_cast<size_t>(std::min<uint64_t>(s.buffered(), opts.fragment_bytes));
  bool full = s.buffered() >= opts.fragment_bytes;
  if (opts.fragment_lines > 0) { // never with in_file (range_capable)
    auto view = s.pending().substr(0, cap);
    size_t pos = 0;
    int64_t lines = 0;
    while (lines < opts.fragment_lines) {
      auto nl = view.find('\n', pos);
      if (nl == std::string_view::npos)
        break;
      pos = nl + 1;
      ++lines;
    }
    if (lines == opts.fragment_lines) {
      cap = pos;
      full = true;
    }
  }
  bool force = flush_all();
  size_t n = cap;
  if (!opts.binary) {
    auto end = line_end(cap);
    if (failed)
      return 0;
    if (end)
      n = *end;
    else if (!full && !force)
      return 0; // a partial line waits for its newline
    // else: one line longer than a fragment, or a flush: send it as is
  }
  // At the end of the file uncompressed bytes go at once. Compressed ones
  // wait for more (idle-flush) to make a fragment worth compressing, unless
  // the fragment before was full: a bulk stream just ran out, and holding
  // its tail for idle-flush would end every transfer a second late.
  bool ready = full || force
               || (s.at_eof && (opts.comp == wire::compression::none || s.after_full));
  return ready ? n : 0;
}

/// One past the last newline among the first `cap` unsent bytes; nullopt
/// when there is none. Bytes left in the file are searched from the end,
/// so a fragment cut there reads a few KiB, not the fragment.
std::optional<size_t> tail_core::line_end(uint64_t cap) {
  auto& s = *src;
  if (s.in_file == 0) {
    auto nl = s.pending().substr(0, cap).rfind('\n');
    return nl == std::string_view::npos ? std::nullopt : std::optional<size_t>{nl + 1};
  }
  auto end = last_line_end(*s.reader, s.sent, s.sent + cap);
  if (!end) {
    fail(end.error());
    return std::nullopt;
  }
  if (!*end)
    return std::nullopt;
  return static_cast<size_t>(**end - s.sent);
}

/// Sends what is ready; returns whether anything was sent.
bool tail_core::send_ready() {
  bool any = false;
  if (src && streaming() && src->truncate_next && src->buffered() == 0 && src->at_eof
      && outstanding < opts.max_outstanding && now() >= retry_until) {
    // The copy holds more than the source has: cut it back, with nothing
    // to append.
    if (!send_fragment(0))
      return false;
    any = true;
  }
  while (src && streaming() && src->buffered() > 0 && outstanding < opts.max_outstanding
         && now() >= retry_until) {
    if (acks() != peer_acks::no && !src->gen_confirmed && src->sent > src->acked)
      break; // the generation's first fragment is still unconfirmed
    auto n = fragment_length();
    if (n == 0)
      break;
    src->after_full = src->buffered() >= opts.fragment_bytes;
    if (!send_fragment(n))
      return any;
    any = true;
  }
  return any;
}

/// The next `n` bytes of a source whose unsent bytes are left in the file:
/// a file range, which the data connection sends by sendfile (anyone else
/// reads it: wire::load); a fragment below range_min_bytes is read now.
/// Null when the file no longer holds them (it shrank: the next check()
/// finds out why).
caf::expected<wire::blob_ptr> tail_core::cut_from_file(size_t n) {
  auto& s = *src;
  wire::blob_ptr raw;
  if (n >= range_min_bytes) {
    if (!s.shared) {
      auto shared = wire::shared_file::dup_of(s.fd, s.path);
      if (!shared)
        return std::move(shared.error());
      s.shared = std::move(*shared);
    }
    raw = wire::blob::from_file({s.shared, s.sent, n, {s.fp.length, s.fp.hash}});
  } else {
    wire::byte_buffer bytes;
    auto got = s.reader->read_at(s.sent, bytes.append_space(n), n);
    if (!got)
      return std::move(got.error());
    if (*got < n)
      return nullptr;
    bytes.commit(n);
    raw = wire::blob::from_buffer(std::move(bytes));
  }
  s.in_file -= n;
  return raw;
}

/// The next `n` bytes of the read buffer.
wire::blob_ptr tail_core::cut_from_buffer(size_t n) {
  auto& s = *src;
  if (s.head == 0 && n * 2 >= s.buf.size()) {
    // The fragment is most of the buffer: hand the buffer itself over and
    // keep only the rest (a partial line, usually) for the next one.
    wire::byte_buffer rest;
    rest.append(s.pending().substr(n));
    s.buf.truncate(n);
    auto raw = wire::blob::from_buffer(std::move(s.buf));
    s.buf = std::move(rest);
    return raw;
  }
  auto raw = wire::blob::copy_of(s.pending().substr(0, n));
  s.head += n;
  if (s.head == s.buf.size()) {
    s.buf.clear();
    s.head = 0;
  }
  return raw;
}

bool tail_core::send_fragment(size_t n) {
  auto& s = *src;
  wire::blob_ptr raw;
  if (s.in_file > 0) {
    auto cut = cut_from_file(n);
    if (!cut) {
      fail(cut.error());
      return false;
    }
    if (!*cut)
      return false;
    raw = std::move(*cut);
  } else {
    raw = cut_from_buffer(n);
  }
  auto fpos = s.sent;
  auto end = fpos + n;
  wire::blob_ptr payload = std::move(raw);
  auto comp = wire_compression(opts);
  if (comp != wire::compression::none) {
    auto packed = wire::compress(payload->view(), comp, opts.comp_level);
    if (!packed) {
      fail(packed.error());
      return false;
    }
    payload = wire::blob::from_string(std::move(*packed));
  }
  wire::logtail_body body;
  body.hdr.req = opts.msg_type;
  body.hdr.time = wire::now_seconds();
  body.hdr.hostname = opts.hostname;
  body.filename = s.label;
  body.comp = comp == wire::compression::none ? "" : wire::to_string(comp);
  body.op_mode = opts.op_mode;
  body.fpos = fpos;
  body.st_dev = s.id.st_dev;
  body.st_ino = s.id.st_ino;
  body.ack = opts.ack;
  body.gen = s.gen;
  body.raw_size = n;
  body.source = opts.source_id;
  if (s.truncate_next) {
    // Reconcile found the copy holding bytes the source does not have
    // from here on: this fragment replaces them (docs/wire.md §6.1).
    body.repair = true;
    body.truncate = true;
    s.truncate_next = false;
    stats[tail_counts::copies_cut_back] += 1;
  }
  wire::cc_message msg;
  if (opts.use_blob)
    msg.blob = std::move(payload);
  else
    body.data = wire::base64_encode(payload->view());
  msg.route.push_back(wire::local_route_frame(opts.job_name));
  msg.type = opts.msg_type;
  msg.body = wire::make_body(body);
  if (s.sent == s.acked) {
    last_ack_progress = now(); // the ack clock starts with the first byte
    busy_since = last_ack_progress;
  }
  if (opts.ack_clock)
    s.in_flight.emplace_back(end, now());
  s.sent = end;
  stats[tail_counts::fragments_sent] += 1;
  stats[tail_counts::bytes_sent] += static_cast<int64_t>(n);
  hand_on(std::move(msg), fpos, end);
  return true;
}

/// The open source's fragment [fpos, end) goes: by the local direct lane
/// (actors/core/direct_lanes.hpp) straight into the forwarder's data
/// connection when it takes it now, which is the router's ok at once; else
/// through the router. The lane only while nothing of ours is unanswered
/// through the router: its ok means the forwarder handed it on, so nothing
/// sent by the lane overtakes it.
void tail_core::hand_on(wire::cc_message msg, uint64_t fpos, uint64_t end) {
  if (via_router == 0 && opts.lanes && opts.lanes->take_local(msg)) {
    on_handed_on(end);
    return;
  }
  ++outstanding;
  auto gen = src->gen;
  auto ep = epoch;
  route(
      std::move(msg), [this, gen, ep, end] { on_dispatched(gen, ep, end); },
      [this, gen, fpos](const caf::error& err) { on_dispatch_failed(gen, fpos, err); });
}

void tail_core::route(wire::cc_message msg, tail_effects::on_ok ok,
                      tail_effects::on_error failed) {
  ++via_router;
  fx.dispatch(
      std::move(msg),
      [this, ok = std::move(ok)] {
        --via_router;
        ok();
      },
      [this, failed = std::move(failed)](const caf::error& err) {
        --via_router;
        failed(err);
      });
}

void tail_core::on_dispatched(const std::string& gen, uint64_t ep, uint64_t end) {
  --outstanding;
  sending_again();
  // Fire and forget: the router's ok is the delivery we can know of.
  if (acks() == peer_acks::no && src && src->gen == gen && ep == epoch)
    advance_acked(end);
  check();
}

/// The direct lane took the open source's fragment up to `end`: as the
/// router's ok, without the look after it (the caller goes on sending).
void tail_core::on_handed_on(uint64_t end) {
  sending_again();
  if (acks() == peer_acks::no)
    advance_acked(end);
}

void tail_core::sending_again() {
  if (send_failing) {
    send_failing = false;
    log::info(who(), "the router accepts fragments again");
  }
}

void tail_core::on_dispatch_failed(const std::string& gen, uint64_t fpos,
                                   const caf::error& err) {
  --outstanding;
  stats[tail_counts::send_errors] += 1;
  if (!send_failing) {
    send_failing = true;
    log::warning(who(), "fragment not sent (" + describe(err) + "); retrying every "
                            + std::to_string(opts.retry_delay.count()) + " ms");
  }
  if (src && src->gen == gen && fpos < src->sent)
    rewind(fpos);
  retry_until = now() + opts.retry_delay;
  schedule_at(retry_until);
}

/// Forgets everything from `to` on (sent or buffered) and reads it again.
void tail_core::rewind(uint64_t to) {
  auto& s = *src;
  to = std::max(to, s.acked);
  if (to >= s.sent && s.buffered() == 0)
    return;
  s.sent = std::min(to, s.sent);
  while (!s.in_flight.empty() && s.in_flight.back().first > s.sent)
    s.in_flight.pop_back(); // sent again later, with a time of its own
  s.drop_pending();
  s.at_eof = false;
  ++epoch;
}

/// Bytes before `to` are delivered: persist the new position.
void tail_core::advance_acked(uint64_t to) {
  auto& s = *src;
  if (to <= s.acked)
    return;
  count_delivered(to);
  s.acked = to;
  std::optional<time_point> left;
  while (!s.in_flight.empty() && s.in_flight.front().first <= to) {
    left = s.in_flight.front().second;
    s.in_flight.pop_front();
  }
  if (left && opts.ack_clock)
    opts.ack_clock->acked(*left, now());
  last_ack_progress = now();
  last_ack_at = last_ack_progress;
  ack_timeout_now = opts.ack_timeout;
  if (gap_target && *gap_target < to)
    gap_target.reset();
  if (to > s.sent) {
    // The writer holds more than this run sent (an earlier run's bytes).
    s.sent = to;
    s.drop_pending();
    s.at_eof = false;
    ++epoch;
  }
  save_soon();
}

/// Counts acknowledged bytes of this run once each.
void tail_core::count_delivered(uint64_t to) {
  auto& s = *src;
  if (to > s.counted) {
    stats[tail_counts::acked_bytes] += static_cast<int64_t>(to - s.counted);
    s.counted = to;
  }
}

void tail_core::save_soon() {
  save_dirty = true;
  auto due = save_due();
  if (now() >= due)
    save();
  else
    schedule_at(due);
}

/// When the dirty position is written. Each write costs a temp file, two
/// fsyncs and a rename on the source host (whose disk and CPU belong to the
/// application that writes the log), and a stale .save loses nothing (the
/// question at restart finds the copy longer; the writer drops what it
/// holds), so while acks keep coming it is written once per save-interval:
/// at a trickle, one write per many lines. Once everything sent is acked
/// the source may have stopped: after a burst that took a while (a bulk
/// write, a backlog) the end is written at once (the durable end of a
/// transfer is not delayed); after a short one (a trickle line) once it
/// stays quiet for a while, as the next line usually comes first.
tail_core::time_point tail_core::save_due() const {
  auto due = last_save + opts.save_interval;
  if (!src || src->sent != src->acked || !last_ack_at)
    return due;
  auto quiet = std::min<ms>(opts.save_interval / 4, save_quiet_max);
  if (*last_ack_at - busy_since >= quiet)
    return std::min(due, *last_ack_at);
  return std::min(due, *last_ack_at + quiet);
}

/// Persists the open source's acknowledged position. A failure is logged
/// by the saver under our name (once per episode, and when it recovers);
/// the tailer goes on either way, as a crash would only resend more.
void tail_core::save(durability d) {
  if (!src || src->probe)
    return; // a file only asked about is not where we are
  save_dirty = false;
  last_save = now();
  const auto& s = *src;
  position pos;
  pos.filename = s.label;
  pos.st_dev = s.id.st_dev;
  pos.st_ino = s.id.st_ino;
  pos.gen = s.gen;
  pos.fp = s.fp;
  pos.offset = s.acked;
  pos.base = std::min(s.base, s.acked);
  if (d == durability::now)
    saver->store_now(opts.save_file, pos, who());
  else
    saver->store(opts.save_file, pos, who());
}

} // namespace cc::tail
