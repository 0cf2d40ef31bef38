// Which source writes a destination; see source_owner.hpp.
#include "actors/write/source_owner.hpp"

#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/write/commit_log.hpp"
#include "actors/write/copy_journal.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/hash.hpp"
#include "base/logger.hpp"

namespace cc::tw {

namespace {

constexpr std::string_view owner_log_prefix = "ow-";
constexpr std::string_view legacy_suffix = ".owner";

/// The record of a sealed owner line, or none when damaged.
bool parse_owner_line(std::string_view line, std::string& dest,
                      source_owners::record& r) {
  auto t = journal::unseal(line);
  if (!t || t->size() != 4 || (*t)[0] != "W")
    return false;
  auto d = journal_unescape((*t)[1]);
  auto s = journal_unescape((*t)[2]);
  auto h = journal_unescape((*t)[3]);
  if (!d || !s || !h || d->empty() || s->empty())
    return false;
  dest = std::move(*d);
  r = {std::move(*s), std::move(*h)};
  return true;
}

} // namespace

std::string owner_log_name(const std::string& section, size_t worker) {
  return std::string{owner_log_prefix} + hex64(fnv1a64(section)) + "-"
         + std::to_string(worker);
}

bool owner_log_holds(const std::string& text, const std::string& line) {
  for (size_t pos = 0; (pos = text.find(line, pos)) != std::string::npos; ++pos)
    if (pos == 0 || text[pos - 1] == '\n')
      return true;
  return false;
}

caf::error append_owner_line(int state_fd, const std::string& file,
                             const std::string& line, bool sync) {
  int fd = ::openat(state_fd, file.c_str(),
                    O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error("owner log " + file, errno);
  unique_fd owned{fd};
  struct stat st{};
  char last = '\n';
  if (::fstat(fd, &st) != 0
      || (st.st_size > 0 && ::pread(fd, &last, 1, st.st_size - 1) != 1))
    return io_error("owner log " + file, errno);
  // A torn last line stays a damaged line of its own (the reader skips it).
  auto text = last == '\n' ? line : "\n" + line;
  if (auto err = write_all(fd, text, file))
    return err;
  if (sync && ::fdatasync(fd) != 0)
    return io_error("owner log: fdatasync " + file, errno);
  return caf::none;
}

source_owners::~source_owners() {
  if (log_fd_ >= 0)
    ::close(log_fd_);
}

caf::error source_owners::open_log(const std::string& name) {
  // Mends a torn tail once (an empty append), then appends on its own.
  if (auto err = append_owner_line(state_fd_, name, "", false))
    return err;
  int fd = ::openat(state_fd_, name.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return io_error("owner log " + name, errno);
  log_fd_ = fd;
  log_name_ = name;
  return caf::none;
}

void source_owners::load_logs() {
  loaded_ = true;
  // The same listing finds the record files of older builds: a destination
  // is looked up in one only when its name is here (none in a state
  // directory these builds made, so a new destination costs no failed
  // lookup). They are never written now; the commit log's replay, which
  // may write one again, runs before any worker.
  std::unordered_set<std::string> legacy;
  auto names = journal::names(state_fd_, [&legacy](const std::string& name) {
    if (name.size() > legacy_suffix.size()
        && name.compare(name.size() - legacy_suffix.size(), legacy_suffix.size(),
                        legacy_suffix) == 0)
      legacy.insert(name);
    return name.compare(0, owner_log_prefix.size(), owner_log_prefix) == 0;
  });
  if (!names)
    return; // not listed: every destination is looked up (legacy_listed_ stays false)
  legacy_files_ = std::move(legacy);
  legacy_listed_ = true;
  size_t damaged = 0;
  for (const auto& name : *names) {
    int fd = ::openat(state_fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      continue;
    unique_fd owned{fd};
    auto text = read_all(fd, name);
    if (!text)
      continue;
    std::string_view all{*text};
    // Whole lines only: a torn tail was never durable (its commit log
    // entry wrote it again at start, if its round had come back).
    for (size_t pos = 0, nl; (nl = all.find('\n', pos)) != std::string_view::npos;
         pos = nl + 1) {
      std::string dest;
      record r;
      if (nl == pos)
        continue;
      if (parse_owner_line(all.substr(pos, nl - pos), dest, r))
        logged_.emplace(std::move(dest), std::move(r)); // the first one holds
      else
        ++damaged;
    }
  }
  if (damaged > 0)
    log::warning("tailwriter", std::to_string(damaged)
                                 + " damaged lines in the owner logs skipped");
}

std::string source_owners::file_name(const std::string& dest_base) const {
  return hex64(fnv1a64(dest_base)) + ".owner";
}

caf::expected<source_owners::record> source_owners::owner(const std::string& dest_base) {
  if (!loaded_)
    load_logs();
  if (auto i = logged_.find(dest_base); i != logged_.end())
    return i->second;
  if (auto i = cache_.find(dest_base); i != cache_.end())
    return i->second;
  if (legacy_listed_ && (legacy_files_.empty() || legacy_files_.count(file_name(dest_base)) == 0))
    return record{};
  auto r = read_file(dest_base);
  if (!r)
    return r;
  if (cache_.size() >= max_cached)
    cache_.clear();
  cache_[dest_base] = *r;
  return r;
}

caf::expected<source_owners::record> source_owners::read_file(const std::string& dest_base) {
  auto name = file_name(dest_base);
  int fd = ::openat(state_fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  record r;
  if (fd < 0) {
    if (errno != ENOENT)
      return io_error("owner record " + name, errno);
    return r;
  }
  unique_fd owned{fd};
  auto text = read_all(fd, name);
  if (!text)
    return std::move(text.error());
  // destination \n source \n hostname \n; another destination under the
  // same name (a hash collision) or a torn file counts as no owner.
  auto a = text->find('\n');
  auto b = a == std::string::npos ? a : text->find('\n', a + 1);
  auto c = b == std::string::npos ? b : text->find('\n', b + 1);
  if (c != std::string::npos && text->compare(0, a, dest_base) == 0) {
    r.source = text->substr(a + 1, b - a - 1);
    r.hostname = text->substr(b + 1, c - b - 1);
  }
  return r;
}

caf::error source_owners::claim_logged(const std::string& dest_base, const record& r,
                                       commit_log& log) {
  if (log_fd_ < 0)
    return make_error(errc::io, "owner log: not open");
  auto line = journal::line{"W", 48 + dest_base.size() + r.source.size() + r.hostname.size()}
                .text(dest_base)
                .text(r.source)
                .text(r.hostname)
                .sealed();
  // After a failed append, a newline first: the partial line stays apart.
  if (auto err = write_all(log_fd_, torn_ ? "\n" + line : line, log_name_)) {
    torn_ = true;
    return err;
  }
  torn_ = false;
  if (!loaded_)
    load_logs();
  logged_.emplace(dest_base, r);
  return log.add_owner_line(log_name_, line);
}

} // namespace cc::tw
