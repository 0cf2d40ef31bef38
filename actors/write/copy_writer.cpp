// Writing a copy (copy_file; copy_writer.hpp has the contract): where a
// fragment goes (decide), appending plain or compressed bytes and their
// journal lines (segments, members), syncing (in place, or a ticket for the
// syncer), compacting the journal, and closing clean. Opening is
// copy_open.cpp, the digests and the copy as the authority copy_digest.cpp,
// the journal's text copy_journal.cpp.
#include <algorithm>
#include <cerrno>
#include <tuple>

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

caf::expected<write_mode> parse_write_mode(std::string_view text) {
  if (text.empty() || text == "no")
    return write_mode::plain;
  if (text == "keep")
    return write_mode::keep;
  if (text == "yes")
    return write_mode::recompress;
  return make_error(errc::config_invalid,
                    "write-compressed: '" + std::string{text}
                      + "' is not one of no, keep, yes");
}

const char* to_string(write_mode m) {
  switch (m) {
    case write_mode::plain:
      return "no";
    case write_mode::keep:
      return "keep";
    case write_mode::recompress:
      return "yes";
  }
  return "no";
}

std::string source_key::str() const {
  return hostname + ":" + filename + " (dev " + std::to_string(st_dev) + ", ino "
         + std::to_string(st_ino) + ")";
}

bool operator==(const source_key& x, const source_key& y) {
  return x.st_ino == y.st_ino && x.st_dev == y.st_dev && x.hostname == y.hostname
         && x.filename == y.filename;
}

bool operator<(const source_key& x, const source_key& y) {
  return std::tie(x.hostname, x.st_dev, x.st_ino, x.filename)
         < std::tie(y.hostname, y.st_dev, y.st_ino, y.filename);
}

const copy_file::segment* copy_file::find(const source_key& key,
                                          const std::string& gen) const {
  for (auto i = segments_.rbegin(); i != segments_.rend(); ++i)
    if (i->gen == gen && i->key == key)
      return &*i;
  return nullptr;
}

decision copy_file::decide(const source_key& key, const std::string& gen,
                           uint64_t fpos, uint64_t n, bool ack) const {
  decision d;
  const segment* seg = find(key, gen);
  if (seg == nullptr) {
    // A new key or a generation not seen: a new segment where it starts.
    d.new_segment = true;
    d.src_base = fpos;
    return d;
  }
  bool is_last = seg == &segments_.back();
  uint64_t end = seg->src_end;
  d.src_end = end;
  if (gen.empty() && fpos == 0 && end > 0 && n > 0) {
    // A sender without generations starting over at 0: the source was
    // truncated or replaced; the original appends it, so do we.
    d.new_segment = true;
    d.src_base = 0;
    return d;
  }
  if (n == 0 || fpos + n <= end) {
    d.kind = decision::duplicate;
    return d;
  }
  if (fpos <= end) {
    d.skip = end - fpos;
    d.new_segment = !is_last;
    d.src_base = end;
    return d;
  }
  d.gap_bytes = fpos - end;
  if (ack) {
    d.kind = decision::gap;
    return d;
  }
  d.new_segment = true;
  d.src_base = fpos;
  return d;
}

caf::error copy_file::datasync(int fd, const char* what) {
  if (::fdatasync(fd) != 0)
    return io_error(std::string{"fdatasync "} + what + " " + path_, errno);
  ++fsyncs_;
  return caf::none;
}

int64_t copy_file::take_fsyncs() {
  auto n = fsyncs_;
  fsyncs_ = 0;
  return n;
}

bool copy_file::needs_sync() const {
  return out_ == wire::compression::none ? dirty_ : pending_checkpoint_;
}

caf::error copy_file::journal_write(const std::string& lines) {
  if (!log_fresh_)
    return opts_.log->append(journal_name_, lines);
  // A new journal: what the id had (a copy dropped, a torn start) goes.
  log_fresh_ = false;
  return opts_.log->replace(journal_name_, lines);
}

caf::error copy_file::journal_sync() {
  if (auto err = opts_.log->sync())
    return err;
  ++fsyncs_;
  return caf::none;
}

void copy_file::journal_let_go() {
  log_open_ = false;
}

caf::error copy_file::append_journal(std::string body) {
  auto line = journal::seal(std::move(body));
  // A new copy's first lines (H, O, its first S) are written in one go
  // (write_held_journal): they become durable by its commit round anyway.
  if (!hold_journal_)
    if (auto err = journal_write(line)) {
      last_write_errno_ = errno;
      return err;
    }
  if (awaiting_commit_)
    creation_text_ += line;
  ++journal_lines_;
  closed_clean_ = false; // the journal no longer ends with a C line
  return caf::none;
}

caf::error copy_file::write_held_journal() {
  if (!hold_journal_)
    return caf::none;
  hold_journal_ = false;
  if (!log_open_ || creation_text_.empty())
    return caf::none;
  if (auto err = journal_write(creation_text_)) {
    last_write_errno_ = errno;
    return err;
  }
  return caf::none;
}

caf::error copy_file::journal_checkpoint() {
  if (!pending_checkpoint_)
    return caf::none;
  if (auto err = append_journal(journal::member_line(pending_src_end_, pending_copy_size_)))
    return err;
  if (auto err = journal_sync())
    return err;
  pending_checkpoint_ = false;
  if (!segments_.empty())
    segments_.back().durable_end = pending_src_end_;
  durable_copy_end_ = pending_copy_size_;
  return caf::none;
}

caf::error copy_file::start_segment(const source_key& key, const std::string& gen,
                                    uint64_t src_base) {
  // After a clean close nothing is open or unsynced: the A line becomes
  // durable with the S line below, before the copy changes.
  if (auto err = reopen_for_writing(false))
    return err;
  if (auto err = finish_member())
    return err;
  // Every byte before the new segment's start must be durable, and the end of
  // the previous segment journaled, before the S line claims what follows.
  if (dirty_) {
    if (auto err = datasync(fd_, "copy"))
      return err;
    dirty_ = false;
    if (out_ == wire::compression::none)
      for (auto& s : segments_)
        s.durable_end = s.src_end;
  }
  if (pending_checkpoint_)
    if (auto err = append_journal(journal::member_line(pending_src_end_, pending_copy_size_)))
      return err;
  keep_partial_block(); // the previous segment's last block is final
  segment seg;
  seg.key = key;
  seg.gen = gen;
  seg.src_base = seg.src_end = seg.durable_end = src_base;
  seg.copy_base = size_;
  if (auto err = append_journal(journal::segment_line(seg)))
    return err;
  // A new copy's first S line: its commit round syncs it (before any byte).
  if (!awaiting_commit_)
    if (auto err = journal_sync())
      return err;
  if (pending_checkpoint_ && !segments_.empty())
    segments_.back().durable_end = pending_src_end_;
  pending_checkpoint_ = false;
  segments_.push_back(std::move(seg));
  member_end_src_ = src_base;
  member_end_copy_ = size_;
  durable_copy_end_ = size_;
  hasher_.restart(src_base); // current: the new segment's first block
  restart_src_ = src_base;
  restart_copy_ = size_;
  trim_segments();
  return caf::none;
}

caf::error copy_file::skip_to(const source_key& key, const std::string& gen,
                              uint64_t src_base) {
  return start_segment(key, gen, src_base);
}

void copy_file::trim_segments() {
  if (segments_.size() > opts_.max_segments && opts_.max_segments > 0)
    segments_.erase(segments_.begin(),
                    segments_.begin()
                      + static_cast<std::ptrdiff_t>(segments_.size()
                                                    - opts_.max_segments));
}

caf::error copy_file::write_copy(std::string_view bytes) {
  if (bytes.empty())
    return caf::none;
  // A stale hasher is rebuilt from the copy before the copy grows (a
  // compressed copy's rebuild decompresses up to its size).
  hasher();
  if (auto err = pwrite_all(fd_, bytes, size_, path_)) {
    last_write_errno_ = errno;
    // Drop a partial write: the copy ends where our bookkeeping says.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0)
      log::error(who, "truncate " + path_ + " after a failed write: "
                        + errno_text(errno));
    return err;
  }
  size_ += bytes.size();
  dirty_ = true;
  return caf::none;
}

void copy_file::roll_back_member() {
  // The open member is lost; the copy goes back to the last member end.
  compressor_.reset();
  member_open_ = false;
  member_src_bytes_ = 0;
  if (::ftruncate(fd_, static_cast<off_t>(member_end_copy_)) != 0)
    log::error(who, "truncate " + path_ + ": " + errno_text(errno));
  size_ = member_end_copy_;
  if (!segments_.empty())
    segments_.back().src_end = member_end_src_;
  hasher_.mark_stale(); // it had been fed the bytes rolled back
}

void copy_file::member_ended() {
  auto& seg = segments_.back();
  member_end_src_ = seg.src_end;
  member_end_copy_ = size_;
  pending_checkpoint_ = true;
  pending_src_end_ = seg.src_end;
  pending_copy_size_ = size_;
  // A member boundary at the start of the block being written: its bytes
  // can be decompressed from here again.
  if (const auto& h = hasher(); h.valid() && member_end_src_ <= h.from()) {
    restart_src_ = member_end_src_;
    restart_copy_ = member_end_copy_;
  }
}

caf::expected<uint64_t>
copy_file::append(const source_key& key, const std::string& gen, const decision& d,
                  std::string_view raw, std::string_view member,
                  wire::compression member_comp, clock::time_point now) {
  bool starts_segment = d.new_segment || segments_.empty();
  if (auto err = reopen_for_writing(!starts_segment))
    return err;
  if (starts_segment)
    if (auto err = start_segment(key, gen, d.new_segment ? d.src_base : 0))
      return err;
  if (raw.empty())
    return uint64_t{0};
  // A stale hasher is rebuilt now, from the copy as it is, before a member
  // opens or a byte is written (write_copy asks again, for its other callers).
  hasher();
  auto before = size_;
  auto& seg = segments_.back();
  if (out_ == wire::compression::none) {
    if (auto err = write_copy(raw))
      return err;
    hash_written(seg.src_end, raw);
    seg.src_end += raw.size();
  } else if (mode_ != write_mode::recompress
             || (!member_open_ && !member.empty() && member_comp == out_)) {
    // One complete member per fragment: the received one when it fits.
    std::string_view bytes = member;
    if (member.empty() || member_comp != out_) {
      auto packed = wire::compress(raw, out_, opts_.level);
      if (!packed)
        return std::move(packed.error());
      scratch_ = std::move(*packed);
      bytes = scratch_;
    }
    if (auto err = write_copy(bytes))
      return err;
    hash_written(seg.src_end, raw);
    seg.src_end += raw.size();
    member_ended();
  } else {
    if (!member_open_) {
      if (!compressor_)
        compressor_ = std::make_unique<wire::stream_compressor>(out_, opts_.level);
      member_open_ = true;
      member_opened_ = now;
      member_src_bytes_ = 0;
    }
    scratch_.clear();
    auto err = compressor_->write(raw, scratch_);
    if (!err)
      err = write_copy(scratch_);
    if (err) {
      roll_back_member();
      return err;
    }
    hash_written(seg.src_end, raw);
    seg.src_end += raw.size();
    member_src_bytes_ += raw.size();
    if (member_src_bytes_ >= opts_.buffer_bytes)
      if (auto err2 = finish_member())
        return err2;
  }
  last_write_ = now;
  return size_ - before;
}

caf::error copy_file::finish_member() {
  if (!member_open_)
    return caf::none;
  scratch_.clear();
  auto err = compressor_->finish(scratch_);
  if (!err)
    err = write_copy(scratch_);
  if (err) {
    roll_back_member();
    return err;
  }
  member_open_ = false;
  member_src_bytes_ = 0;
  member_ended();
  return caf::none;
}

unique_fd::~unique_fd() {
  if (fd_ >= 0)
    ::close(fd_);
}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

void copy_file::own_fd(int fd) {
  fd_ = fd;
  fd_owner_ = std::make_shared<unique_fd>(fd);
}

void copy_file::drop_fd() {
  fd_ = -1;
  fd_owner_.reset();
}

caf::expected<copy_file::sync_ticket> copy_file::begin_sync() {
  sync_ticket t;
  if (!fd_owner_)
    return make_error(errc::io, "sync of " + path_ + ": the copy is closed");
  t.fd = fd_owner_;
  t.path = path_;
  t.epoch = rewrite_epoch_;
  t.dev = dev_;
  if (opts_.drop_synced_pages && out_ == wire::compression::none) {
    // Whole pages only: the page the next append goes into stays (dropped,
    // that append would read it back from the disk first, on the I/O loop
    // for an inline write). From before the last one's end: the kernel drops
    // only whole folios inside the range (up to 2 MiB each), so one that
    // held that end is dropped now.
    static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    constexpr uint64_t folio_max = 2u << 20;
    uint64_t to = size_ - size_ % page;
    uint64_t from = std::min(dropped_to_, to);
    t.drop_from = from - from % folio_max;
    t.drop_to = to;
    dropped_to_ = to;
  }
  t.marks.reserve(segments_.size());
  for (const auto& seg : segments_)
    t.marks.push_back({seg.key, seg.gen, seg.src_base, seg.src_end});
  dirty_ = false;
  sync_in_flight_ = true;
  return t;
}

caf::error copy_file::end_sync(const sync_ticket& t, const caf::error& err, bool own_call) {
  sync_in_flight_ = false;
  if (err) {
    dirty_ = true; // what it covered is not known durable
    return caf::none;
  }
  fsyncs_ += own_call ? 1 : 0;
  if (t.epoch != rewrite_epoch_) {
    // Bytes were rewritten in place meanwhile: the next sync covers them.
    dirty_ = true;
    return caf::none;
  }
  for (const auto& m : t.marks)
    for (auto& seg : segments_)
      if (seg.src_base == m.src_base && seg.gen == m.gen && seg.key == m.key)
        seg.durable_end = std::max(seg.durable_end, std::min(m.src_end, seg.src_end));
  if (compaction_due())
    return compact_journal();
  return caf::none;
}

caf::error copy_file::sync() {
  if (fd_ < 0)
    return caf::none;
  if (out_ == wire::compression::none) {
    // A sync in flight elsewhere may not be done yet: this one covers it.
    if (!dirty_ && !sync_in_flight_)
      return caf::none;
    if (auto err = datasync(fd_, "copy"))
      return err;
    dirty_ = false;
    for (auto& s : segments_)
      s.durable_end = s.src_end;
  } else {
    if (!pending_checkpoint_)
      return caf::none;
    if (auto err = datasync(fd_, "copy"))
      return err;
    if (!member_open_)
      dirty_ = false;
    if (auto err = journal_checkpoint())
      return err;
  }
  if (compaction_due())
    return compact_journal();
  return caf::none;
}

bool copy_file::compaction_due() const {
  return journal_lines_ > std::max(opts_.compact_after, compacted_digests_);
}

std::string copy_file::compacted_segment(size_t i, size_t& lines) const {
  const auto& s = segments_[i];
  bool last = i + 1 == segments_.size();
  bool compressed = out_ != wire::compression::none;
  // The last segment of a compressed copy: only what is journaled durable
  // (an open or unsynced member is not).
  uint64_t src_end = compressed && last ? s.durable_end : s.src_end;
  uint64_t copy_end = last ? durable_copy_end_ : segments_[i + 1].copy_base;
  std::string text = journal::seal(journal::segment_line(s));
  ++lines;
  for (const auto& [to, d] : s.blocks)
    if (journal::digest_holds(s, to))
      text += journal::seal(journal::digest_line(s.copy_base, to, d));
  if (last) {
    const auto& h = hasher();
    if (h.valid() && h.pos() == src_end && src_end > h.from()
        && src_end % wire::digest_block != 0)
      text += journal::seal(journal::digest_line(s.copy_base, src_end, h.value()));
  }
  if (!compressed || src_end == s.src_base)
    return text;
  if (last && restart_src_ > s.src_base && restart_src_ < src_end
      && restart_copy_ <= copy_end) {
    text += journal::seal(journal::member_line(restart_src_, restart_copy_));
    ++lines;
  }
  text += journal::seal(journal::member_line(src_end, copy_end));
  ++lines;
  return text;
}

caf::error copy_file::compact_journal() {
  // Header, the remembered segments with their digests, and for compressed
  // copies each segment's durable end (and the member boundary the block
  // being written can be decompressed from): the same recovery result in a
  // few lines. D and P lines do not count towards compact_after: they only
  // grow with the data and compaction would not shorten them; but the next
  // compaction waits for at least as many new lines as it would copy.
  std::string text = journal::seal(header_line()) + journal::seal("O");
  size_t lines = 0;
  for (size_t i = 0; i < segments_.size(); ++i)
    text += compacted_segment(i, lines);
  compacted_digests_ = 0;
  for (const auto& seg : segments_)
    compacted_digests_ += seg.blocks.size();
  // One batch replaces the copy's records, synced.
  log_fresh_ = true;
  if (auto err = journal_write(text))
    return err;
  if (auto err = journal_sync())
    return err;
  log_damaged_ = false;
  journal_lines_ = lines;
  closed_clean_ = false;
  return caf::none;
}

caf::error copy_file::close() {
  auto held = write_held_journal(); // reported, after the close below
  caf::error result;
  if (fd_ >= 0) {
    result = finish_member();
    if (!result)
      result = sync();
    if (!result)
      result = journal_close();
    drop_fd();
  }
  journal_let_go();
  return held ? held : result;
}

std::string copy_file::close_unsynced() {
  if (auto err = write_held_journal())
    log::error(who, "journal of " + path_ + ": " + describe(err));
  // As a clean close, the partial block's line before the C line: both
  // written by the caller once the sync is back.
  auto closing = log_open_ ? partial_block_line() : std::string{};
  drop_fd();
  journal_let_go();
  return closing;
}

std::string copy_file::closed_clean_line(uint64_t size) {
  return journal::line{"C", 40}.num(size).sealed();
}

caf::error copy_file::journal_close() {
  // Nothing written since the last clean close: its C line still holds.
  if (!log_open_ || closed_clean_)
    return caf::none;
  // The partial block's D line and the C line in one write (a copy closed
  // at max-open-files pays one system call, not two).
  auto text = partial_block_line();
  text += closed_clean_line(size_);
  if (auto err = journal_write(text)) {
    last_write_errno_ = errno;
    return err;
  }
  ++journal_lines_;
  // Not synced: lost only with the machine, and then the next start merely
  // cannot tell a change from a crash. A copy written again says so first
  // (reopen_for_writing, synced).
  closed_clean_ = true;
  return caf::none;
}

} // namespace cc::tw
