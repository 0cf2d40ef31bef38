// Opening a copy (copy_file::open; copy_writer.hpp has the contract): find
// its journal by identity, or create both (a rotated copy under a fresh
// name, claimed by an O line), and recover what a crash or a change behind
// the writer's back left: the journal's segments checked against the copy's
// size (plain) or its members (compressed), the copy cut back or adopted.
#include <algorithm>
#include <cerrno>
#include <map>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/write/dest_path.hpp"
#include "actors/write/copy_journal.hpp"
#include "actors/write/copy_writer.hpp"
#include "actors/write/journal_log.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/hash.hpp"
#include "base/logger.hpp"

namespace cc::tw {

namespace {

constexpr std::string_view who = "tailwriter";
constexpr int rotated_name_attempts = 120;
constexpr std::string_view missing_text = " is missing";

wire::compression compression_named(std::string_view name) {
  auto c = wire::parse_compression(name);
  return c ? *c : wire::compression::none;
}

/// For a question: errc::unavailable unless the journal's copy is there to
/// be read ("no copy": not claimed yet; "missing": deleted).
caf::error must_exist(int dstdir_fd, const std::string& path, bool claimed) {
  if (!claimed)
    return make_error(errc::unavailable, "no copy");
  struct stat st;
  if (::fstatat(dstdir_fd, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
    return make_error(errc::unavailable, "the copy " + path + std::string{missing_text});
  return caf::none;
}

} // namespace

bool copy_missing(const caf::error& err) {
  return err.category() == error_category
         && err.code() == static_cast<uint8_t>(errc::unavailable)
         && describe(err).find(missing_text) != std::string::npos;
}

caf::expected<std::unique_ptr<copy_file>>
copy_file::open(const copy_options& opts, int dstdir_fd, const copy_spec& spec,
                std::time_t now) {
  if (opts.log == nullptr)
    return make_error(errc::io, "no journal log for " + std::string{spec.base_path});
  std::unique_ptr<copy_file> cf{new copy_file};
  cf->opts_ = opts;
  cf->mode_ = opts.mode;
  cf->dstdir_fd_ = dstdir_fd;
  cf->identity_ = spec.identity;
  std::string text;
  auto existing = cf->find_journal(spec, text);
  if (!existing)
    return std::move(existing.error());
  if (spec.must_exist && !*existing)
    return make_error(errc::unavailable, "no copy");
  if (*existing) {
    auto ours = cf->open_existing(spec, text);
    if (!ours)
      return std::move(ours.error());
    if (*ours)
      return cf;
  }
  if (auto err = cf->create(spec, now))
    return err;
  return cf;
}

caf::error copy_file::never_made(const journal_log& log, const copy_spec& spec) {
  if (!log.has(hex64(fnv1a64(spec.identity))))
    return make_error(errc::unavailable, "no copy");
  return caf::none;
}

caf::expected<bool> copy_file::find_journal(const copy_spec& spec, std::string& text) {
  // The ids `<hex>`, `<hex>-1`... in turn (a different identity under the
  // same hash, a collision, moves on; never_made() looks at the first
  // only); an id with no journal (never made, dropped, torn before its
  // header) is free, and the first write of a new journal there replaces
  // what it had.
  auto base_name = hex64(fnv1a64(spec.identity));
  for (int probe = 0; probe < 16; ++probe) {
    auto id = base_name + (probe == 0 ? "" : "-" + std::to_string(probe));
    auto read = opts_.log->text(id);
    if (!read)
      return std::move(read.error());
    journal_name_ = id;
    log_fresh_ = true;
    if (read->empty())
      return false;
    auto parsed = journal::parse(*read);
    if (!parsed.header)
      return false;
    if (parsed.header->identity == spec.identity) {
      log_open_ = true;
      log_fresh_ = false;
      log_damaged_ = opts_.log->damaged(id);
      text = std::move(*read);
      return true;
    }
  }
  return make_error(errc::io, "no free journal id for " + std::string{spec.base_path});
}

bool copy_file::claimed_elsewhere() const {
  for (const auto& id : opts_.log->id_list()) {
    if (id == journal_name_)
      continue;
    auto text = opts_.log->text(id);
    if (!text)
      return true; // a journal not read proves no name free
    auto parsed = journal::parse(*text);
    if (parsed.header && parsed.header->path == path_
        && (parsed.claimed || !parsed.records.empty()))
      return true;
  }
  return false;
}

caf::expected<bool> copy_file::open_existing(const copy_spec& spec,
                                             const std::string& text) {
  auto parsed = journal::parse(text);
  path_ = parsed.header->path;
  out_ = compression_named(parsed.header->out);
  // A classic copy's name is its identity. A rotated copy's name was only a
  // candidate until the 'O' line: a crash while the naming loop of create()
  // held a name that another generation owns must not append to that copy.
  bool claimed = !spec.rotated || parsed.claimed || !parsed.records.empty();
  if (spec.must_exist)
    if (auto err = must_exist(dstdir_fd_, path_, claimed))
      return err;
  // Read and write: the copy's bytes are compared and digested too.
  auto opened = open_beneath(dstdir_fd_, path_,
                             spec.must_exist ? O_RDWR : O_RDWR | O_CREAT);
  if (!opened)
    return std::move(opened.error());
  if (!claimed) {
    claimed = opened->created() || !claimed_elsewhere();
    if (!claimed) {
      log::warning(who, "recovery: " + path_ + " belongs to another generation;"
                          " naming this generation's copy anew");
      ::close(opened->fd);
      return false;
    }
    if (auto err = append_journal("O"))
      return err;
    if (auto err = journal_sync())
      return err;
  }
  own_fd(opened->fd);
  if (auto err = recover(text))
    return err;
  return true;
}

caf::error copy_file::create(const copy_spec& spec, std::time_t now) {
  // A new copy: its journal first (naming the copy), then the copy, then the
  // 'O' line claiming it. A crash in between leaves a journal whose copy the
  // next start creates or claims; never a copy without bookkeeping, which a
  // restart would not find again (a rotated copy's name holds the time it
  // was first opened).
  out_ = spec.out;
  awaiting_commit_ = hold_journal_ = spec.defer_sync; // its H, O, S: one write later
  log_open_ = true;
  auto drop_journal = [this] { drop_new_journal(); };
  std::string ext = wire::file_extension(spec.out);
  for (int k = 0; k < (spec.rotated ? rotated_name_attempts : 1); ++k) {
    // The original's order: extension first, then the rotated suffix: the
    // time the generation is first opened. A second generation in the same
    // second gets "-1", "-2"... after it (they sort right after it, before
    // the next second), never a later second's name.
    path_ = std::string{spec.base_path} + ext
            + (spec.rotated ? rotated_suffix(now) + (k > 0 ? "-" + std::to_string(k) : "")
                            : std::string{});
    log_fresh_ = true; // its header replaces what the id had
    journal_lines_ = 0;
    creation_text_.clear();
    auto err = append_journal(header_line());
    if (!err && !awaiting_commit_)
      err = journal_sync();
    if (err) {
      drop_journal();
      return err;
    }
    auto opened = open_beneath(dstdir_fd_, path_, O_RDWR | O_CREAT, 0644, awaiting_commit_,
                               true); // the journal was new: so is, most likely, the copy
    if (!opened) {
      drop_journal();
      return std::move(opened.error());
    }
    if (spec.rotated && !opened->created()) {
      ::close(opened->fd); // that second's name is taken by another generation
      continue;
    }
    own_fd(opened->fd);
    created_name_ = opened->created();
    break;
  }
  // The O line is made durable by the first S line's sync, before the copy's
  // first byte: a crash before that leaves an empty copy whose claim a
  // restart makes again (open_existing), as after a crash before the O line.
  auto err = fd_ < 0 ? make_error(errc::io, "no free rotated name for " + std::string{spec.base_path})
                     : append_journal("O");
  if (err) {
    drop_fd();
    drop_journal();
    return err;
  }
  auto size = created_name_ ? caf::expected<uint64_t>{uint64_t{0}} : file_size(fd_, path_);
  if (!size)
    return std::move(size.error());
  size_ = *size;
  if (size_ > 0)
    log::warning(who, "appending to " + path_ + " (" + std::to_string(size_)
                        + " bytes) that has no bookkeeping");
  member_end_copy_ = size_;
  durable_copy_end_ = size_;
  return caf::none;
}

void copy_file::drop_new_journal() {
  // Its records go (an empty batch); not synced: a crash before the next
  // sync leaves a journal whose copy the next start creates or claims.
  if (!log_fresh_)
    if (auto err = opts_.log->replace(journal_name_, ""))
      log::error(who, "journal of " + path_ + ": " + describe(err));
  log_open_ = false;
}

copy_file::~copy_file() {
  if (fd_ >= 0 || log_open_) {
    if (auto err = close())
      log::error(who, "closing " + path_ + ": " + describe(err));
  }
}

void copy_file::committed() {
  awaiting_commit_ = false;
  creation_text_.clear();
  creation_text_.shrink_to_fit();
}

std::string copy_file::header_line() const {
  return journal::line{"H", 48 + path_.size() + identity_.size()}
    .num(journal::version)
    .text(to_string(mode_))
    .text(wire::to_string(out_))
    .text(path_)
    .text(identity_)
    .take();
}

namespace {

/// Every segment the journal names, in order, with the digests its D and P
/// lines give (a later line for a block overrides an earlier one).
std::vector<copy_file::segment> journal_segments(const journal_text& parsed) {
  std::vector<copy_file::segment> all;
  std::map<uint64_t, size_t> by_base; // copy_base -> the latest segment there
  for (const auto& r : parsed.records) {
    if (r.kind == 'S') {
      by_base[r.seg.copy_base] = all.size();
      all.push_back(r.seg);
    } else if (r.kind == 'D' || r.kind == 'P') {
      if (auto i = by_base.find(r.copy_size); i != by_base.end())
        all[i->second].blocks[r.src_end] = r.digest;
    }
  }
  return all;
}

size_t count_lines(const journal_text& parsed) {
  return static_cast<size_t>(std::count_if(
    parsed.records.begin(), parsed.records.end(),
    [](const journal_text::record& r) { return r.kind == 'S' || r.kind == 'M'; }));
}

} // namespace

caf::error copy_file::recover(const std::string& text) {
  auto parsed = journal::parse(text);
  // A bad record in the log: the copy's records after it are not read
  // until a compaction (below) writes its journal whole again.
  bool rewrite = parsed.good_bytes != text.size() || log_damaged_;
  uint64_t dev = 0;
  auto actual = file_size(fd_, path_, dev);
  if (!actual)
    return std::move(actual.error());
  dev_ = dev;
  segments_.clear();
  auto err = out_ == wire::compression::none
               ? recover_plain(parsed, *actual, rewrite)
               : recover_compressed(parsed, *actual, rewrite);
  if (err)
    return err;
  for (auto& s : segments_)
    drop_digests_beyond(s);
  durable_copy_end_ = size_;
  trim_segments();
  // The block being written is digested again from the copy when the hasher
  // is next used (an append, its P line, a question about it), not here: a
  // copy reopened for a question or a duplicate writes nothing.
  hasher_.mark_stale();
  closed_clean_ = !parsed.records.empty() && parsed.records.back().kind == 'C';
  check_recovered(parsed, *actual);
  changed_logged_ = false; // adopted: a later change is another episode
  if (rewrite)
    return compact_journal();
  journal_lines_ = count_lines(parsed);
  return caf::none;
}

caf::error copy_file::recover_plain(const journal_text& parsed, uint64_t a,
                                    bool& rewrite) {
  // Every byte after a segment's start belongs to it, up to the next start
  // or the copy's end.
  for (auto& seg : journal_segments(parsed)) {
    if (seg.copy_base > a) {
      rewrite = true;
      break;
    }
    segments_.push_back(std::move(seg));
  }
  for (size_t i = 0; i < segments_.size(); ++i) {
    auto& s = segments_[i];
    uint64_t copy_end = i + 1 < segments_.size() ? segments_[i + 1].copy_base : a;
    s.src_end = s.durable_end = s.src_base + (copy_end - s.copy_base);
  }
  size_ = a;
  // A clean close synced the copy before its C line: when the copy still
  // has that size (reopened after max-open-files or close-idle closed it)
  // there is nothing to make durable.
  const auto& r = parsed.records;
  if (!r.empty() && r.back().kind == 'C' && r.back().copy_size == a)
    return caf::none;
  // The bytes beyond the last sync survived in the page cache: make them
  // durable before anything is acknowledged.
  return datasync(fd_, "copy");
}

caf::error copy_file::recover_compressed(const journal_text& parsed, uint64_t a,
                                         bool& rewrite) {
  // The last member boundary not beyond the copy's size.
  struct boundary {
    size_t seg_count;
    uint64_t src_end;
    uint64_t copy_size;
  };
  auto all = journal_segments(parsed);
  std::optional<boundary> best;
  size_t best_record = 0;
  size_t seen = 0;
  for (size_t i = 0; i < parsed.records.size(); ++i) {
    auto& r = parsed.records[i];
    boundary b{};
    if (r.kind == 'S')
      b = {++seen, r.seg.src_base, r.seg.copy_base};
    else if (r.kind == 'M' && seen > 0)
      b = {seen, r.src_end, r.copy_size};
    else
      continue;
    if (b.copy_size <= a) {
      best = b;
      best_record = i;
    }
  }
  if (!best) {
    if (!parsed.records.empty())
      rewrite = true;
    size_ = a; // nothing known: keep what is there, append after it
    member_end_copy_ = size_;
    member_end_src_ = 0;
    return caf::none;
  }
  all.resize(best->seg_count);
  // Each segment ends where its last boundary up to `best` says; the last
  // one's digest of its block being written restarts from its last
  // boundary at or before that block's start.
  size_t seg = 0;
  for (size_t i = 0; i <= best_record; ++i) {
    auto& r = parsed.records[i];
    if (r.kind == 'S') {
      ++seg;
      restart_src_ = r.seg.src_base;
      restart_copy_ = r.seg.copy_base;
    } else if (r.kind == 'M' && seg > 0) {
      all[seg - 1].src_end = all[seg - 1].durable_end = r.src_end;
    }
  }
  auto& last = all.back();
  last.src_end = last.durable_end = best->src_end;
  uint64_t hash_from = std::max(last.src_base, block_floor(last.src_end));
  for (size_t i = 0, n = 0; i <= best_record; ++i) {
    auto& r = parsed.records[i];
    n += r.kind == 'S';
    if (r.kind == 'M' && n == best->seg_count && r.src_end <= hash_from) {
      restart_src_ = r.src_end;
      restart_copy_ = r.copy_size;
    }
  }
  for (size_t i = best_record + 1; i < parsed.records.size(); ++i)
    rewrite = rewrite || parsed.records[i].kind == 'S' || parsed.records[i].kind == 'M';
  segments_ = std::move(all);
  size_ = best->copy_size;
  member_end_copy_ = size_;
  member_end_src_ = segments_.back().src_end;
  if (a > size_) {
    log::info(who, "recovery: truncating " + path_ + " from " + std::to_string(a)
                     + " to " + std::to_string(size_) + " bytes (last member end)");
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0)
      return io_error("truncate " + path_, errno);
    if (auto err = datasync(fd_, "copy"))
      return err;
  }
  return caf::none;
}

void copy_file::check_recovered(const journal_text& parsed, uint64_t a) {
  if (closed_clean_ && parsed.records.back().copy_size != a) {
    note_changed("holds " + std::to_string(a) + " bytes; it had "
                 + std::to_string(parsed.records.back().copy_size)
                 + " when the writer closed it");
    // That C line is stale now: the next clean close writes a true one.
    if (auto err = reopen_for_writing())
      log::error(who, "journal of " + path_ + ": " + describe(err));
  }
  if (out_ != wire::compression::none)
    return;
  // The last complete block the journal knows, against the copy's bytes.
  for (auto s = segments_.rbegin(); s != segments_.rend(); ++s) {
    auto b = std::find_if(s->blocks.rbegin(), s->blocks.rend(), [](const auto& kv) {
      return kv.first % wire::digest_block == 0;
    });
    if (b == s->blocks.rend())
      continue;
    uint64_t to = b->first;
    uint64_t from = block_from(s->src_base, to);
    auto bytes = read_source(*s, from, to);
    if (!bytes) {
      log::warning(who, "recovery: checking a block of " + path_ + ": "
                          + describe(bytes.error()));
      return;
    }
    auto d = wire::xxh3(*bytes);
    if (d != b->second) {
      note_changed("source bytes " + std::to_string(from) + ".." + std::to_string(to)
                   + " of " + s->key.str() + " no longer match their digest");
      s->blocks[to] = d;
      journal_digest(*s, to, d);
    }
    return;
  }
}

} // namespace cc::tw
