// The journal log: records, their index, the start's merge of every log and
// legacy journal into one file per worker, and a worker's log (see
// journal_log.hpp).
#include "actors/write/journal_log.hpp"

#include <algorithm>
#include <cerrno>
#include <optional>
#include <set>
#include <tuple>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/write/copy_journal.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/hash.hpp"

namespace cc::tw {

namespace jlog {

namespace {

constexpr size_t seal_size = 11; // " #" + 8 hex digits + "\n"

/// One line of a log: its id and body when the checksum holds.
struct parsed_line {
  bool ok = false;
  std::string_view id;   // also for a bad line, when one can be read
  std::string_view body;
  size_t body_off = 0;   // in the line
};

bool plausible_id(std::string_view id) {
  if (id.size() < 16 || id.size() > 24)
    return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
  });
}

parsed_line parse_line(std::string_view line) {
  parsed_line p;
  auto sp = line.find(' ');
  if (sp != std::string_view::npos && plausible_id(line.substr(0, sp)))
    p.id = line.substr(0, sp);
  auto mark = line.rfind(" #");
  if (p.id.empty() || mark == std::string_view::npos || mark <= sp
      || line.size() - mark != 10)
    return p;
  auto sum = static_cast<uint32_t>(fnv1a64(line.substr(0, mark)));
  if (line.substr(mark + 2) != journal::hex(sum, 8))
    return p;
  p.ok = true;
  p.body_off = sp + 1;
  p.body = line.substr(sp + 1, mark - sp - 1);
  return p;
}

bool parse_count(std::string_view body, std::string_view kind, uint64_t& n) {
  return body.size() > kind.size() + 1 && body.substr(0, kind.size()) == kind
         && body[kind.size()] == ' ' && parse_u64(body.substr(kind.size() + 1), n);
}

} // namespace

namespace {

/// What a live record takes in a log.
uint64_t record_bytes(std::string_view id, const index::span& s) {
  return s.len + id.size() + 1 + seal_size;
}

uint64_t records_bytes(std::string_view id, const std::vector<index::span>& recs) {
  uint64_t n = 0;
  for (const auto& s : recs)
    n += record_bytes(id, s);
  return n;
}

} // namespace

std::string prefix(const std::string& section) {
  return "jl-" + hex64(fnv1a64(section)) + ".";
}

std::string file_name(const std::string& prefix, uint64_t seq, size_t worker) {
  return prefix + std::to_string(seq) + "." + std::to_string(worker);
}

void index::erase(std::string_view id) {
  if (auto i = lookup(id); i != ids_.end()) {
    live_ -= records_bytes(id, i->second.recs);
    ids_.erase(i);
  }
}

void index::add_batch(std::string_view id, std::vector<span> recs, std::time_t time) {
  auto i = lookup(id);
  if (i == ids_.end())
    i = ids_.emplace(std::string{id}, entry{}).first;
  auto& e = i->second;
  live_ -= records_bytes(id, e.recs);
  live_ += records_bytes(id, recs);
  e.recs = std::move(recs);
  e.damaged = false;
  e.time = time;
}

void index::add(std::string_view id, const std::vector<span>& recs, std::time_t time) {
  add(id, recs.data(), recs.size(), time);
}

void index::add(std::string_view id, const span* recs, size_t n, std::time_t time) {
  auto i = lookup(id);
  if (i == ids_.end())
    i = ids_.emplace(std::string{id}, entry{}).first;
  auto& e = i->second;
  if (e.damaged)
    return; // as apply(): no more records until a batch
  e.recs.insert(e.recs.end(), recs, recs + n);
  for (size_t k = 0; k < n; ++k)
    live_ += record_bytes(id, recs[k]);
  if (n > 0)
    e.time = time;
}

size_t index::apply(uint32_t file, std::string_view text, uint64_t base, std::time_t mtime) {
  size_t pos = 0;
  // A batch being read: its id, the records still to come, what it holds.
  std::string batch_id;
  uint64_t batch_left = 0;
  std::vector<span> batch_recs;
  std::time_t batch_time = mtime;
  size_t batch_start = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      ++torn_;
      break; // a torn tail; a batch it cuts counts not at all
    }
    auto p = parse_line(text.substr(pos, nl - pos));
    span s{file, static_cast<uint32_t>(p.body.size()), base + pos + p.body_off};
    size_t next = nl + 1;
    if (!p.ok) {
      ++bad_;
      if (batch_left > 0) { // the batch is not whole: its id is damaged
        ids_[batch_id].damaged = true;
        batch_left = 0;
      }
      if (!p.id.empty())
        ids_[std::string{p.id}].damaged = true;
      pos = next;
      continue;
    }
    bool member = !p.body.empty() && p.body.front() == '+';
    if (batch_left > 0 && (p.id != batch_id || !member)) {
      // Not what a batch's one write holds: it is not whole (its id is
      // damaged); the record itself is read on its own.
      ids_[batch_id].damaged = true;
      batch_left = 0;
    }
    uint64_t n = 0;
    if (batch_left > 0) {
      s.off += 1; // without the '+'
      s.len -= 1;
      uint64_t t = 0;
      if (parse_count(p.body.substr(1), "T", t))
        batch_time = static_cast<std::time_t>(t);
      else
        batch_recs.push_back(s);
      if (--batch_left == 0)
        add_batch(batch_id, std::move(batch_recs), batch_time);
    } else if (member) {
      // A batch's record without its start (a hole in an unsynced tail):
      // not to be read as an append to what the id had.
      ids_[std::string{p.id}].damaged = true;
    } else if (parse_count(p.body, "R", n)) {
      batch_start = pos;
      batch_id = std::string{p.id};
      batch_recs.clear();
      batch_time = mtime;
      batch_left = n;
      if (n == 0)
        add_batch(batch_id, {}, batch_time);
    } else {
      auto& e = ids_[std::string{p.id}];
      if (!e.damaged) {
        e.recs.push_back(s);
        live_ += record_bytes(p.id, s);
        e.time = mtime;
      }
    }
    pos = next;
  }
  if (batch_left > 0) {
    // The text ends inside a batch (its one write was torn): it does not
    // count, and what is read ends before it.
    torn_ += pos == text.size() ? 1 : 0;
    return batch_start;
  }
  return pos;
}

std::string journal_text(const index::entry& e,
                         const std::function<std::string(const index::span&)>& read) {
  std::string out;
  for (const auto& s : e.recs)
    out += journal::seal(read(s));
  return out;
}

} // namespace jlog

namespace {

/// A log file of the state directory: `<prefix><seq>.<worker>`.
struct log_file {
  std::string name;
  uint64_t seq = 0;
  uint64_t worker = 0;
};

std::optional<log_file> parse_log_name(const std::string& prefix, const std::string& name) {
  if (name.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  std::string_view rest{name};
  rest.remove_prefix(prefix.size());
  auto dot = rest.find('.');
  log_file f{name};
  if (dot == std::string_view::npos || !parse_u64(rest.substr(0, dot), f.seq)
      || !parse_u64(rest.substr(dot + 1), f.worker))
    return std::nullopt;
  return f;
}

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() > tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

/// A whole file and its mtime; nullopt when it cannot be opened.
caf::expected<std::pair<std::string, std::time_t>> read_file(int state_fd,
                                                             const std::string& name) {
  int fd = ::openat(state_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return io_error("journal log " + name, errno);
  struct stat st;
  std::time_t mtime = ::fstat(fd, &st) == 0 ? st.st_mtime : 0;
  auto text = read_all(fd, name);
  ::close(fd);
  if (!text)
    return std::move(text.error());
  return std::make_pair(std::move(*text), mtime);
}

/// Writes `text` as `name` durably: a temporary name, fdatasync, rename.
/// `mtime` (when not 0) becomes its modification time.
caf::error write_durably(int state_fd, const std::string& name, std::string_view text,
                         std::time_t mtime = 0) {
  auto tmp = name + ".tmp";
  int fd = ::openat(state_fd, tmp.c_str(),
                    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error("journal log " + tmp, errno);
  auto err = write_all(fd, text, tmp);
  if (!err && mtime != 0) {
    struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
    if (::futimens(fd, times) != 0)
      err = io_error("journal log " + tmp + ": set its time", errno);
  }
  if (!err && ::fdatasync(fd) != 0)
    err = io_error("fdatasync journal log " + tmp, errno);
  ::close(fd);
  if (!err && ::renameat(state_fd, tmp.c_str(), state_fd, name.c_str()) != 0)
    err = io_error("rename journal log " + tmp, errno);
  if (err)
    ::unlinkat(state_fd, tmp.c_str(), 0);
  return err;
}

struct state_listing {
  std::vector<log_file> logs;
  std::vector<std::string> legacy;   // *.j
  std::vector<std::string> leftover; // *.j.tmp and the logs' *.tmp
};

caf::expected<state_listing> list_state(int state_fd, const std::string& prefix) {
  state_listing out;
  auto names = journal::names(state_fd, [](const std::string&) { return true; });
  if (!names)
    return make_error(errc::io, "the state directory cannot be read");
  for (auto& name : *names) {
    if (auto f = parse_log_name(prefix, name))
      out.logs.push_back(std::move(*f));
    else if (name.compare(0, prefix.size(), prefix) == 0 && ends_with(name, ".tmp"))
      out.leftover.push_back(name);
    else if (ends_with(name, ".j.tmp"))
      out.leftover.push_back(name);
    else if (ends_with(name, ".j"))
      out.legacy.push_back(name);
  }
  std::sort(out.logs.begin(), out.logs.end(), [](const log_file& a, const log_file& b) {
    return std::tie(a.seq, a.worker) < std::tie(b.seq, b.worker);
  });
  return out;
}

/// A copy's journal for the new files.
struct merged {
  std::string text;
  std::time_t time = 0;
};

/// Every id's journal in the logs of `listing`, read in sequence order as
/// a start reads them (counts and the highest sequence number in `res`).
caf::expected<std::map<std::string, merged>>
read_logs(int state_fd, const state_listing& listing, journal_prepare_result& res) {
  jlog::index idx;
  std::vector<std::string> texts;
  for (const auto& f : listing.logs) {
    auto read = read_file(state_fd, f.name);
    if (!read)
      return std::move(read.error());
    idx.apply(static_cast<uint32_t>(texts.size()), read->first, 0, read->second);
    texts.push_back(std::move(read->first));
    res.seq = std::max(res.seq, f.seq);
  }
  res.bad_records += idx.bad_records();
  res.torn_tails += idx.torn_tails();
  std::map<std::string, merged> copies;
  for (const auto& [id, e] : idx.entries())
    copies[id] = {jlog::journal_text(e, [&](const jlog::index::span& s) {
                    return texts[s.file].substr(s.off, s.len);
                  }),
                  e.time};
  return copies;
}

} // namespace

caf::expected<journal_prepare_result>
prepare_journal_logs(int state_fd, const std::string& prefix, size_t workers,
                     const std::function<size_t(const std::string&)>& assign,
                     std::chrono::seconds max_age, std::time_t now) {
  journal_prepare_result res;
  auto listing = list_state(state_fd, prefix);
  if (!listing)
    return std::move(listing.error());
  auto read = read_logs(state_fd, *listing, res);
  if (!read)
    return std::move(read.error());
  auto& copies = *read;
  // Legacy journals of ids the logs do not hold a journal of (a crash
  // after their migration, before their unlink, left them: the log's
  // records win; a log text without a header is no journal).
  for (const auto& name : listing->legacy) {
    auto id = name.substr(0, name.size() - 2);
    if (auto c = copies.find(id);
        c != copies.end() && journal::parse(c->second.text).header)
      continue;
    auto read = read_file(state_fd, name);
    if (!read)
      continue; // gone meanwhile; or unreadable: as today, not a journal
    copies[id] = {std::move(read->first), read->second};
    ++res.migrated;
  }
  std::vector<std::string> out(std::max<size_t>(workers, 1));
  for (auto& [id, m] : copies) {
    auto parsed = journal::parse(m.text);
    if (!parsed.header)
      continue; // empty or torn before its header: no journal
    if (now - m.time >= max_age.count()) {
      ++res.pruned;
      continue;
    }
    out[assign(parsed.header->identity) % out.size()]
      += jlog::batch(id, m.text, m.time);
    ++res.copies;
  }
  ++res.seq;
  for (size_t w = 0; w < out.size(); ++w)
    if (auto err = write_durably(state_fd, jlog::file_name(prefix, res.seq, w), out[w]))
      return err;
  if (::fsync(state_fd) != 0)
    return io_error("fsync of the state directory", errno);
  // Only now: what the new files hold may go.
  for (const auto& f : listing->logs)
    ::unlinkat(state_fd, f.name.c_str(), 0);
  for (const auto& name : listing->legacy)
    ::unlinkat(state_fd, name.c_str(), 0);
  for (const auto& name : listing->leftover)
    ::unlinkat(state_fd, name.c_str(), 0);
  ::fsync(state_fd);
  return res;
}

caf::error lock_state_dir(int state_fd, bool exclusive) {
  while (::flock(state_fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    if (errno == EINTR)
      continue;
    if (errno == EWOULDBLOCK)
      return make_error(errc::unavailable,
                        exclusive ? "the state directory is in use by a running server"
                                  : "the state directory is being exported"
                                    " (ccserver --export-journals)");
    return io_error("lock of the state directory", errno);
  }
  return caf::none;
}

caf::expected<journal_export_result> export_journal_files(int state_fd) {
  journal_export_result res;
  // Every section's logs: `jl-<16 hex digits>.` names a section's prefix.
  auto names = journal::names(state_fd, [](const std::string& name) {
    return name.size() > 20 && name.compare(0, 3, "jl-") == 0 && name[19] == '.';
  });
  if (!names)
    return make_error(errc::io, "the state directory cannot be read");
  std::set<std::string> prefixes;
  for (const auto& name : *names)
    prefixes.insert(name.substr(0, 20));
  std::vector<state_listing> done;
  for (const auto& prefix : prefixes) {
    auto listing = list_state(state_fd, prefix);
    if (!listing)
      return std::move(listing.error());
    journal_prepare_result counts;
    auto copies = read_logs(state_fd, *listing, counts);
    if (!copies)
      return std::move(copies.error());
    res.bad_records += counts.bad_records;
    res.torn_tails += counts.torn_tails;
    res.logs += listing->logs.size();
    for (const auto& [id, m] : *copies) {
      // An id without a header holds no journal (dropped, or torn before
      // it): a legacy journal of it, if any, stays as it is.
      if (!journal::parse(m.text).header)
        continue;
      if (auto err = write_durably(state_fd, id + ".j", m.text, m.time))
        return err;
      ++res.copies;
    }
    done.push_back(std::move(*listing));
  }
  if (::fsync(state_fd) != 0)
    return io_error("fsync of the state directory", errno);
  // Only now: the journal files hold what the logs held. (A log left
  // behind would win over the journal files an older build writes on.)
  for (const auto& listing : done) {
    for (const auto& f : listing.logs)
      ::unlinkat(state_fd, f.name.c_str(), 0);
    for (const auto& name : listing.leftover)
      if (name.compare(0, 3, "jl-") == 0)
        ::unlinkat(state_fd, name.c_str(), 0);
  }
  if (::fsync(state_fd) != 0)
    return io_error("fsync of the state directory", errno);
  return res;
}

std::vector<journal_header> journal_headers(const journal_log& log) {
  std::vector<journal_header> out;
  for (const auto& id : log.id_list()) {
    auto text = log.text(id);
    if (!text)
      continue;
    auto parsed = journal::parse(*text);
    if (parsed.header && (parsed.claimed || !parsed.records.empty()))
      out.push_back({parsed.header->identity, parsed.header->path});
  }
  return out;
}

// -- journal_log --------------------------------------------------------------

caf::expected<std::unique_ptr<journal_log>>
journal_log::open(int state_fd, const std::string& prefix, size_t worker) {
  std::unique_ptr<journal_log> jl{new journal_log};
  jl->state_fd_ = state_fd;
  jl->prefix_ = prefix;
  jl->worker_ = worker;
  auto listing = list_state(state_fd, prefix);
  if (!listing)
    return std::move(listing.error());
  // The newest file holds everything (prepare_journal_logs and compact()
  // write each id whole before an older file goes).
  for (const auto& f : listing->logs)
    if (f.worker == worker)
      jl->seq_ = std::max(jl->seq_, f.seq);
  if (jl->seq_ == 0)
    jl->seq_ = 1;
  jl->name_ = jlog::file_name(prefix, jl->seq_, worker);
  int fd = ::openat(state_fd, jl->name_.c_str(),
                    O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error("journal log " + jl->name_, errno);
  jl->fd_ = std::make_shared<unique_fd>(fd);
  auto text = read_all(fd, jl->name_);
  if (!text)
    return std::move(text.error());
  struct stat st;
  std::time_t mtime = ::fstat(fd, &st) == 0 ? st.st_mtime : std::time(nullptr);
  auto used = jl->index_.apply(0, *text, 0, mtime);
  if (used != text->size() && ::ftruncate(fd, static_cast<off_t>(used)) != 0)
    return io_error("truncate journal log " + jl->name_, errno); // a torn tail
  jl->size_ = used;
  return jl;
}

journal_log::~journal_log() = default;

std::vector<std::string> journal_log::id_list() const {
  std::vector<std::string> out;
  out.reserve(index_.entries().size());
  for (const auto& kv : index_.entries())
    if (!kv.second.recs.empty())
      out.push_back(kv.first);
  std::sort(out.begin(), out.end());
  return out;
}

caf::expected<std::string> journal_log::text(std::string_view id) const {
  auto e = index_.find(id);
  if (e == nullptr)
    return std::string{};
  caf::error err;
  auto out = jlog::journal_text(*e, [&](const jlog::index::span& s) {
    auto got = pread_some(fd_->get(), s.off, s.len, name_);
    if (!got) {
      err = std::move(got.error());
      return std::string{};
    }
    return std::move(*got);
  });
  if (err)
    return err;
  return out;
}

caf::error journal_log::write(std::string_view text) {
  // The caller indexes what it wrote (index::add, add_batch).
  ++writes_;
  if (auto err = write_all(fd_->get(), text, name_)) {
    // A part written would be a bad record before the next one.
    int saved = errno;
    if (::ftruncate(fd_->get(), static_cast<off_t>(size_)) != 0) {
      // Cannot take it back: what follows starts on a line of its own
      // (the part is a bad record for the next start).
      (void)write_all(fd_->get(), "\n", name_);
      if (auto now = file_size(fd_->get(), name_))
        size_ = *now;
    }
    errno = saved;
    return err;
  }
  size_ += text.size();
  return caf::none;
}

caf::error journal_log::append_each(const std::pair<std::string_view, std::string_view>* each,
                                    size_t n) {
  // Indexed from the spans made while sealing: each record is hashed once
  // here, not parsed and hashed again.
  if (n == 0)
    return caf::none;
  // One text and one span list for them all (span_end: where each one's
  // spans end), sized once.
  size_t lines = 0;
  for (size_t i = 0; i < n; ++i)
    lines += static_cast<size_t>(std::count(each[i].second.begin(), each[i].second.end(), '\n'));
  std::vector<jlog::index::span> spans;
  spans.reserve(lines);
  std::vector<size_t> span_end(n);
  std::string text;
  for (size_t i = 0; i < n; ++i) {
    jlog::records_at(text, each[i].first, each[i].second, size_ + text.size(), &spans);
    span_end[i] = spans.size();
  }
  if (auto err = write(text))
    return err; // a part written is taken back
  auto now = std::time(nullptr);
  for (size_t i = 0, from = 0; i < n; from = span_end[i], ++i)
    index_.add(each[i].first, spans.data() + from, span_end[i] - from, now);
  return caf::none;
}

caf::error journal_log::replace(std::string_view id, std::string_view journal_text) {
  std::vector<jlog::index::span> spans;
  auto text = jlog::batch_at(id, journal_text, 0, size_, &spans);
  if (auto err = write(text))
    return err;
  index_.add_batch(id, std::move(spans), std::time(nullptr));
  return caf::none;
}

caf::error journal_log::sync() {
  if (::fdatasync(fd_->get()) != 0)
    return io_error("fdatasync journal log " + name_, errno);
  return caf::none;
}

bool journal_log::compaction_due(uint64_t max_bytes) const {
  return size_ > max_bytes && size_ > 2 * index_.live_bytes();
}

caf::error journal_log::compact() {
  std::string out;
  for (const auto& id : id_list()) { // sorted: the file as before the index was hashed
    auto t = text(id);
    if (!t)
      return std::move(t.error());
    if (!t->empty())
      out += jlog::batch(id, *t, index_.find(id)->time);
  }
  auto name = jlog::file_name(prefix_, seq_ + 1, worker_);
  if (auto err = write_durably(state_fd_, name, out))
    return err;
  if (::fsync(state_fd_) != 0)
    return io_error("fsync of the state directory", errno);
  int fd = ::openat(state_fd_, name.c_str(), O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return io_error("journal log " + name, errno);
  ::unlinkat(state_fd_, name_.c_str(), 0); // the new file holds it all
  ++seq_;
  name_ = name;
  fd_ = std::make_shared<unique_fd>(fd); // a sync in flight keeps the old one
  index_ = jlog::index{};
  size_ = 0;
  index_.apply(0, out, 0, std::time(nullptr));
  size_ = out.size();
  return caf::none;
}

} // namespace cc::tw
