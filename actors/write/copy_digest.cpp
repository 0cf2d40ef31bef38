// The copy as the authority (copy_file; copy_writer.hpp has the contract):
// block digests kept as bytes are written (D and P journal lines), a change
// behind the writer's back measured and adopted (measure, reload), and the
// comparison and repair of held bytes (first_difference, overwrite, cut,
// digest) that questions and repairs use.
#include <algorithm>
#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/write/copy_journal.hpp"
#include "actors/write/copy_writer.hpp"
#include "actors/write/journal_log.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/logger.hpp"

namespace cc::tw {

namespace {

constexpr std::string_view who = "tailwriter";

} // namespace

int64_t copy_file::take_changed() {
  auto n = changed_;
  changed_ = 0;
  return n;
}

void copy_file::note_changed(const std::string& what) {
  if (changed_logged_)
    return;
  changed_logged_ = true;
  ++changed_;
  // Every change is counted; a copy changed again and again (a second
  // writer?) is said once per 10 s.
  auto now = clock::now();
  if (changed_said_ != clock::time_point{} && now - changed_said_ < std::chrono::seconds{10}) {
    ++changed_unsaid_;
    return;
  }
  log::warning(who, path_ + " was changed behind the writer's back: it " + what
                      + "; going by what the copy holds"
                      + (changed_unsaid_ > 0 ? " (" + std::to_string(changed_unsaid_)
                                                 + " more changes since the last line)"
                                             : std::string{}));
  changed_said_ = now;
  changed_unsaid_ = 0;
}

void copy_file::journal_digest(const segment& seg, uint64_t to, uint64_t digest) {
  if (!log_open_)
    return;
  // Not counted in journal_lines_ (see compact_journal) and not synced here.
  if (auto err = journal_write(journal::seal(journal::digest_line(seg.copy_base, to, digest))))
    log::error(who, "journal of " + path_ + ": " + describe(err));
  closed_clean_ = false; // the journal no longer ends with a C line
}

std::string copy_file::partial_block_line() {
  if (segments_.empty())
    return {};
  auto& h = hasher();
  if (!h.valid())
    return {};
  auto& seg = segments_.back();
  uint64_t to = h.pos();
  if (to != seg.src_end || to == h.from() || to % wire::digest_block == 0)
    return {};
  seg.blocks[to] = h.value();
  return journal::seal(journal::digest_line(seg.copy_base, to, h.value()));
}

void copy_file::keep_partial_block() {
  auto line = partial_block_line();
  if (line.empty() || !log_open_)
    return;
  // As journal_digest: not counted in journal_lines_, not synced here.
  if (auto err = journal_write(line))
    log::error(who, "journal of " + path_ + ": " + describe(err));
  closed_clean_ = false;
}

void copy_file::drop_digests_beyond(segment& seg) {
  for (auto i = seg.blocks.begin(); i != seg.blocks.end();)
    i = journal::digest_holds(seg, i->first) ? std::next(i) : seg.blocks.erase(i);
}

caf::error copy_file::reopen_for_writing(bool sync_now) {
  if (!closed_clean_)
    return caf::none;
  // A C line says what a clean close left; once the copy is written again
  // it no longer holds, and must not be read as a change after a crash:
  // the line after it is durable before the copy changes (a segment's start
  // syncs it with its S line).
  if (auto err = append_journal("A"))
    return err;
  return sync_now ? journal_sync() : caf::none;
}

void copy_file::hash_written(uint64_t at, std::string_view raw) {
  auto& seg = segments_.back();
  hasher().feed(at, raw, [&](uint64_t end, uint64_t digest) {
    seg.blocks[end] = digest;
    journal_digest(seg, end, digest);
    // The next block starts here: the last member boundary is at or before.
    restart_src_ = member_end_src_;
    restart_copy_ = member_end_copy_;
  });
}

caf::expected<std::string> copy_file::read_copy(uint64_t offset, uint64_t len) const {
  return pread_some(fd_, offset, len, path_);
}

caf::expected<std::string> copy_file::read_source(const segment& seg, uint64_t from,
                                                  uint64_t to) const {
  if (out_ == wire::compression::none) {
    auto bytes = read_copy(seg.copy_base + (from - seg.src_base), to - from);
    if (bytes && bytes->size() != to - from)
      return make_error(errc::io, path_ + " ends before source offset "
                                    + std::to_string(to) + " of " + seg.key.str());
    return bytes;
  }
  // Compressed: the last segment's bytes from a member boundary on.
  constexpr uint64_t max_inflate = 64ull << 20;
  if (segments_.empty() || &seg != &segments_.back() || member_open_
      || from < restart_src_ || restart_src_ < seg.src_base || to > seg.src_end
      || seg.src_end - restart_src_ > max_inflate)
    return make_error(errc::unavailable, "no member boundary of " + path_
                                           + " to decompress source offset "
                                           + std::to_string(from) + " from");
  auto packed = read_copy(restart_copy_, size_ - restart_copy_);
  if (!packed)
    return std::move(packed.error());
  auto raw = wire::decompress(*packed, out_, seg.src_end - restart_src_);
  if (!raw)
    return std::move(raw.error());
  if (raw->size() != seg.src_end - restart_src_)
    return make_error(errc::decode_failed, path_ + ": the members after copy offset "
                                             + std::to_string(restart_copy_)
                                             + " hold other than the journal says");
  return raw->substr(static_cast<size_t>(from - restart_src_),
                     static_cast<size_t>(to - from));
}

block_hasher& copy_file::hasher() const {
  return hasher_.get([this](block_hasher& h) { rebuild_hasher(h); });
}

void copy_file::rebuild_hasher(block_hasher& h) const {
  h.invalidate();
  if (segments_.empty())
    return;
  ++hasher_rebuilds_;
  const auto& seg = segments_.back();
  uint64_t from = std::max(seg.src_base, block_floor(seg.src_end));
  std::string bytes;
  if (from < seg.src_end) {
    auto got = read_source(seg, from, seg.src_end);
    if (!got) {
      // The block's digest is given up; the next one starts afresh.
      log::info(who, "digest of the block being written in " + path_ + ": "
                       + describe(got.error()));
      return;
    }
    bytes = std::move(*got);
  }
  h.restart(from);
  h.feed(from, bytes, [](uint64_t, uint64_t) {});
}

void copy_file::rehash(size_t index, uint64_t from, uint64_t to) {
  auto& s = segments_[index];
  bool last = index + 1 == segments_.size();
  for (uint64_t x = std::max(from, s.src_base); x < to && x < s.src_end;) {
    uint64_t bfrom = std::max(s.src_base, block_floor(x));
    uint64_t bto = block_to(bfrom, s.src_end);
    if (last && bto == s.src_end && bto % wire::digest_block != 0) {
      hasher_.mark_stale(); // the block being written: digested when next used
      return;
    }
    auto bytes = read_source(s, bfrom, bto);
    if (bytes) {
      auto d = wire::xxh3(*bytes);
      s.blocks[bto] = d;
      journal_digest(s, bto, d);
    } else {
      s.blocks.erase(bto);
      log::warning(who, "digest of " + path_ + ": " + describe(bytes.error()));
    }
    x = bto;
  }
}

caf::expected<bool> copy_file::measure() {
  if (fd_ < 0)
    return false;
  uint64_t dev = 0;
  auto actual = file_size(fd_, path_, dev);
  if (!actual)
    return std::move(actual.error());
  dev_ = dev;
  if (*actual == size_)
    return false;
  note_changed("holds " + std::to_string(*actual) + " bytes where the writer wrote "
               + std::to_string(size_));
  ++rewrite_epoch_;
  if (out_ == wire::compression::none) {
    adopt_plain_size(*actual);
    changed_logged_ = false; // adopted: a later change is another episode
    return true;
  }
  // Compressed: the open member went with the change; recover from the
  // journal to the last member end within the file.
  compressor_.reset();
  member_open_ = false;
  member_src_bytes_ = 0;
  if (auto err = sync())
    return err;
  if (auto err = reload()) // ends the episode as a recovery does
    return err;
  return true;
}

void copy_file::adopt_plain_size(uint64_t a) {
  if (auto err = reopen_for_writing()) // a C line no longer holds
    log::error(who, "journal of " + path_ + ": " + describe(err));
  if (a < size_)
    while (!segments_.empty() && segments_.back().copy_base > a)
      segments_.pop_back();
  if (!segments_.empty()) {
    auto& s = segments_.back();
    s.src_end = s.src_base + (a - s.copy_base);
    s.durable_end = std::min(s.durable_end, s.src_end);
    drop_digests_beyond(s);
  }
  size_ = a;
  dirty_ = true; // the size the writer now goes by must be durable too
  hasher_.mark_stale();
}

caf::error copy_file::reload() {
  auto text = opts_.log->text(journal_name_);
  if (!text)
    return std::move(text.error());
  pending_checkpoint_ = false;
  return recover(*text);
}

caf::expected<uint64_t> copy_file::first_difference(const segment& seg, uint64_t from,
                                                    std::string_view bytes) const {
  constexpr size_t chunk = 1 << 20;
  for (size_t done = 0; done < bytes.size();) {
    auto want = std::min(chunk, bytes.size() - done);
    auto have = read_copy(seg.copy_base + (from + done - seg.src_base), want);
    if (!have)
      return std::move(have.error());
    auto part = bytes.substr(done, want);
    auto m = std::mismatch(have->begin(), have->end(), part.begin());
    auto same = static_cast<size_t>(m.first - have->begin());
    if (same < want)
      return from + done + same;
    done += want;
  }
  return from + bytes.size();
}

caf::error copy_file::overwrite(const segment& seg, uint64_t from,
                                std::string_view bytes) {
  if (auto err = reopen_for_writing())
    return err;
  auto index = static_cast<size_t>(&seg - segments_.data());
  auto& s = segments_[index];
  if (auto err = pwrite_all(fd_, bytes, s.copy_base + (from - s.src_base), path_))
    return err;
  ++rewrite_epoch_;
  dirty_ = true;
  s.durable_end = std::min(s.durable_end, from);
  rehash(index, from, from + bytes.size());
  return caf::none;
}

caf::error copy_file::cut(uint64_t at) {
  if (auto err = reopen_for_writing())
    return err;
  auto& s = segments_.back();
  uint64_t copy_end = s.copy_base + (at - s.src_base);
  if (::ftruncate(fd_, static_cast<off_t>(copy_end)) != 0)
    return io_error("truncate " + path_, errno);
  ++rewrite_epoch_;
  dirty_ = true;
  size_ = copy_end;
  s.src_end = at;
  s.durable_end = std::min(s.durable_end, at);
  drop_digests_beyond(s);
  hasher_.mark_stale();
  return caf::none;
}

caf::expected<uint64_t> copy_file::digest(const segment& seg, uint64_t from,
                                          uint64_t to) const {
  if (out_ == wire::compression::none) {
    wire::digest_stream stream;
    constexpr uint64_t chunk = 1 << 20;
    for (uint64_t at = from; at < to; at += chunk) {
      auto bytes = read_source(seg, at, std::min(to, at + chunk));
      if (!bytes)
        return std::move(bytes.error());
      stream.update(*bytes);
    }
    return stream.value();
  }
  bool last = !segments_.empty() && &seg == &segments_.back();
  if (last) {
    const auto& h = hasher(); // a question about the block being written
    if (h.valid() && h.from() == from && h.pos() == to)
      return h.value();
  }
  if (from == block_from(seg.src_base, to) && journal::digest_holds(seg, to))
    if (auto i = seg.blocks.find(to); i != seg.blocks.end())
      return i->second;
  return make_error(errc::unavailable,
                    "a compressed copy has digests of whole journaled blocks only; "
                    "source range " + std::to_string(from) + ".." + std::to_string(to)
                      + " is not one");
}

} // namespace cc::tw
