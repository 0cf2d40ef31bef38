// The commit log of a tailwriter worker and its rounds: see commit_log.hpp.
#include "actors/write/commit_log.hpp"

#include <algorithm>
#include <cerrno>
#include <functional>
#include <optional>

#include <fcntl.h>
#include <unistd.h>

#include "actors/write/copy_journal.hpp"
#include "actors/write/dest_path.hpp"
#include "actors/write/source_owner.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/hash.hpp"
#include "base/logger.hpp"
#include "base/sync_thread.hpp"

namespace cc::tw {

namespace {

constexpr std::string_view who = "tailwriter";

caf::error sync_call(int (*call)(int), int fd, const char* what, int64_t& syncs) {
  ++syncs;
  if (call(fd) != 0)
    return io_error(std::string{"commit round: "} + what, errno);
  return caf::none;
}

/// One log file's entries, with its generation.
struct log_file {
  std::string name;
  uint64_t generation = 0;
  std::vector<std::pair<char, std::pair<std::string, std::string>>> entries;
};

std::optional<log_file> read_log(int state_fd, const std::string& name) {
  int fd = ::openat(state_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  auto text = read_all(fd, name);
  ::close(fd);
  if (!text)
    return std::nullopt;
  log_file out;
  out.name = name;
  size_t pos = 0;
  bool first = true;
  // Whole, valid lines from the start: a torn tail was never synced.
  for (size_t nl; (nl = text->find('\n', pos)) != std::string::npos; pos = nl + 1) {
    auto t = journal::unseal(std::string_view{*text}.substr(pos, nl - pos));
    if (!t)
      break;
    if (first) {
      if (t->size() != 2 || (*t)[0] != "G" || !parse_u64((*t)[1], out.generation))
        return std::nullopt;
      first = false;
      continue;
    }
    if (t->size() != 3 || ((*t)[0] != "J" && (*t)[0] != "W" && (*t)[0] != "O"))
      break;
    auto file = journal_unescape((*t)[1]);
    auto body = journal_unescape((*t)[2]);
    if (!file || !body || file->empty() || file->find('/') != std::string::npos)
      break;
    out.entries.push_back({(*t)[0][0], {std::move(*file), std::move(*body)}});
  }
  if (first)
    return std::nullopt;
  return out;
}

std::string read_state_file(int state_fd, const std::string& name) {
  int fd = ::openat(state_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return {};
  auto text = read_all(fd, name);
  ::close(fd);
  return text ? std::move(*text) : std::string{};
}

/// Whether the journal on disk still holds what the log wrote (or was
/// rewritten since: compacted, or another copy's by now).
bool journal_holds(const std::string& current, const std::string& logged) {
  if (current.compare(0, logged.size(), logged) == 0)
    return true;
  auto now = journal::parse(current);
  auto then = journal::parse(logged);
  if (!now.header || !then.header)
    return false;
  if (now.header->identity != then.header->identity)
    return true;
  return now.claimed && std::any_of(now.records.begin(), now.records.end(),
                                    [](const auto& r) { return r.kind == 'S'; });
}

/// An owner record is three lines; a torn or empty one is not.
bool record_holds(const std::string& current) {
  return !current.empty() && current.back() == '\n'
         && std::count(current.begin(), current.end(), '\n') == 3;
}

caf::error write_again(int state_fd, const std::string& name, const std::string& text) {
  int fd = ::openat(state_fd, name.c_str(),
                    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error("commit log replay: " + name, errno);
  auto err = write_all(fd, text, name);
  if (!err && ::fdatasync(fd) != 0)
    err = io_error("commit log replay: fdatasync " + name, errno);
  ::close(fd);
  return err;
}

std::vector<std::string> log_names(int state_fd, const std::string& prefix) {
  auto out = journal::names(state_fd, [&](const std::string& name) {
    return name.compare(0, 3, "cl-") == 0 && name.compare(0, prefix.size(), prefix) == 0;
  });
  return out ? std::move(*out) : std::vector<std::string>{};
}

} // namespace

void run_commit_round(commit_round& r) {
  // The log's sync, the journal log's and each copy directory's are
  // independent (nothing of the round's copies is written before all are
  // back): side by side on the sync thread's helpers.
  std::vector<std::function<caf::error(int64_t&)>> calls;
  if (r.log)
    calls.emplace_back([&r](int64_t& n) {
      return r.checkpoint ? sync_call(sync_file_system, r.log->get(), "syncfs", n)
                          : sync_call(::fdatasync, r.log->get(), "fdatasync log", n);
    });
  if (r.journal && !r.checkpoint)
    calls.emplace_back([&r](int64_t& n) {
      return sync_call(::fdatasync, r.journal->get(), "fdatasync journal log", n);
    });
  for (const auto& path : r.dirs)
    if (r.dstdir)
      calls.emplace_back([&r, &path](int64_t& n) -> caf::error {
        auto dir = open_parent_beneath(r.dstdir->get(), path, false);
        if (!dir)
          return dir.error();
        unique_fd owned{dir->fd};
        return sync_call(::fsync, owned.get(), "fsync a copy's directory", n);
      });
  std::vector<caf::error> errs(calls.size());
  std::vector<int64_t> syncs(calls.size(), 0);
  sync_thread::for_each(calls.size(), [&](size_t i) { errs[i] = calls[i](syncs[i]); });
  for (size_t i = 0; i < calls.size(); ++i) {
    r.syncs += syncs[i];
    if (errs[i] && !r.err)
      r.err = std::move(errs[i]);
  }
  r.dirs.clear();
  r.log.reset();
  r.journal.reset();
  r.dstdir.reset();
}

std::string commit_log_prefix(const std::string& section) {
  return "cl-" + hex64(fnv1a64(section)) + "-";
}

caf::expected<std::unique_ptr<commit_log>>
commit_log::open(int state_fd, int dstdir_fd, const std::string& section, size_t worker) {
  std::unique_ptr<commit_log> cl{new commit_log};
  cl->state_fd_ = state_fd;
  cl->base_ = commit_log_prefix(section) + std::to_string(worker) + ".";
  if (auto n = replay_commit_logs(state_fd, cl->base_); !n)
    return std::move(n.error());
  int dir = ::fcntl(state_fd, F_DUPFD_CLOEXEC, 0);
  if (dir < 0)
    return io_error("commit log: state-dir", errno);
  cl->state_dir_ = std::make_shared<unique_fd>(dir);
  int dst = ::fcntl(dstdir_fd, F_DUPFD_CLOEXEC, 0);
  if (dst < 0)
    return io_error("commit log: dstdir", errno);
  cl->dstdir_ = std::make_shared<unique_fd>(dst);
  for (size_t i = 0; i < 2; ++i) {
    auto name = cl->base_ + std::to_string(i);
    int fd = ::openat(state_fd, name.c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
      return io_error("commit log " + name, errno);
    cl->files_[i] = std::make_shared<unique_fd>(fd);
  }
  if (auto err = cl->start_file(0))
    return err;
  // Their names survive a crash from here on: rounds sync only their data.
  if (::fsync(state_fd) != 0)
    return io_error("commit log: fsync state-dir", errno);
  return cl;
}

commit_log::~commit_log() = default;

caf::error commit_log::start_file(size_t index) {
  if (::ftruncate(files_[index]->get(), 0) != 0)
    return io_error("commit log " + base_ + std::to_string(index), errno);
  current_ = index;
  entries_ = 0;
  return append("G " + std::to_string(++generation_));
}

caf::error commit_log::append(const std::string& line) {
  return write_all(files_[current_]->get(), journal::seal(line),
                   base_ + std::to_string(current_));
}

void commit_log::buffer(std::string_view line) {
  // Written by take(), before the round that syncs it: one write per round.
  auto at = buffered_.size();
  buffered_ += line;
  journal::append_seal(buffered_, at);
}

caf::error commit_log::write_buffered() {
  if (buffered_.empty())
    return caf::none;
  auto err = write_all(files_[current_]->get(), buffered_, base_ + std::to_string(current_));
  buffered_.clear();
  if (buffered_.capacity() > (size_t{1} << 20))
    buffered_.shrink_to_fit();
  return err;
}

caf::error commit_log::add_owner_line(const std::string& owner_log,
                                      const std::string& line) {
  // No new name: the owner log's was synced when it was opened.
  pending_ = true;
  ++entries_;
  buffer(journal::line{"O", 32 + owner_log.size() + 2 * line.size()}
           .text(owner_log)
           .text(line)
           .take());
  return caf::none;
}

void commit_log::add_copy(const std::string& path) {
  pending_ = true;
  auto slash = path.rfind('/');
  if (dir_keys_.insert(slash == std::string::npos ? "" : path.substr(0, slash)).second)
    dirs_.push_back(path);
}

commit_round commit_log::take() {
  // One round at a time: the file a checkpoint retires was emptied when
  // the previous checkpoint came back.
  commit_round r;
  // The entries since the last round, in one write. Should it fail (a
  // torn line may end the file), this round syncs the file system instead
  // (syncfs: the journals and owner lines themselves are written) and the
  // log goes on in the other file.
  if (auto err = write_buffered()) {
    log::error(who, describe(err) + "; syncing the file system instead");
    failed_ = true;
  }
  r.number = ++rounds_;
  r.log = files_[current_];
  r.dstdir = dstdir_;
  r.dirs = std::move(dirs_);
  dirs_.clear();
  dir_keys_.clear();
  pending_ = false;
  if (entries_ >= checkpoint_entries || failed_) {
    r.checkpoint = true;
    if (!retiring_) {
      if (auto err = start_file(1 - current_))
        log::error(who, describe(err)); // the next round's fdatasync fails too
      retiring_ = true;
    }
  }
  return r;
}

void commit_log::finished(const commit_round& r) {
  failed_ = static_cast<bool>(r.err);
  if (!r.checkpoint || r.err || !retiring_)
    return;
  // Everything the older file names is durable on its own now.
  if (::ftruncate(files_[1 - current_]->get(), 0) != 0)
    log::error(who, "commit log: emptying " + base_ + std::to_string(1 - current_)
                      + ": " + errno_text(errno));
  retiring_ = false;
}

caf::error commit_log::sync_all(int64_t& syncs) {
  pending_ = false;
  // The entries not yet taken: a failed write is covered by the syncfs.
  if (auto err = write_buffered())
    log::error(who, describe(err));
  for (const auto& dir : {state_dir_, dstdir_})
    if (dir)
      if (auto err = sync_call(sync_file_system, dir->get(), "syncfs at shutdown", syncs))
        return err;
  return caf::none;
}

caf::expected<size_t> replay_commit_logs(int state_fd, const std::string& prefix) {
  std::vector<log_file> logs;
  auto names = log_names(state_fd, prefix);
  for (const auto& name : names)
    if (auto l = read_log(state_fd, name))
      logs.push_back(std::move(*l));
  std::sort(logs.begin(), logs.end(), [](const log_file& x, const log_file& y) {
    return x.generation < y.generation;
  });
  size_t written = 0;
  for (const auto& l : logs) {
    for (const auto& [kind, entry] : l.entries) {
      const auto& [file, text] = entry;
      auto current = read_state_file(state_fd, file);
      bool holds = kind == 'J'   ? journal_holds(current, text)
                   : kind == 'O' ? owner_log_holds(current, text)
                                 : record_holds(current);
      if (holds)
        continue;
      auto err = kind == 'O' ? append_owner_line(state_fd, file, text, false)
                             : write_again(state_fd, file, text);
      if (err)
        return err;
      log::warning(who, "recovery: " + file + " written again from the commit log "
                          + l.name);
      ++written;
    }
  }
  if (names.empty())
    return written;
  // What the logs covered is durable without them from here on.
  if (sync_file_system(state_fd) != 0)
    return io_error("commit log replay: syncfs", errno);
  for (const auto& name : names)
    ::unlinkat(state_fd, name.c_str(), 0);
  if (::fsync(state_fd) != 0)
    return io_error("commit log replay: fsync state-dir", errno);
  return written;
}

} // namespace cc::tw
