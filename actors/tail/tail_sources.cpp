// Where the tailer reads: the start-up (a saved position, or a walk asking
// the central what it holds), opening a source, new generations under the
// same name (truncation, copytruncate), and the switch to the next file.
// The contract is in tail_core.hpp.
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

namespace cc::tail {

void tail_core::start() {
  log::info(who(), "watching "
                       + (opts.op == tailer_options::mode::classic
                              ? join_path(opts.logdir, opts.logmask)
                              : opts.rotated_path())
                       + ", positions in " + opts.save_file);
  ensure_watch();
  saver = position_saver::shared();
  // A tailer of this process that ended before us may have left its last
  // position with the saver: read the newest, not the file before it.
  saver->flush(opts.save_file);
  auto saved = load_position(opts.save_file);
  if (!saved) {
    // The .save is a cache: without it the central says where we were.
    log::error(who(), message_of(saved.error())
                          + (opts.ack ? "; asking the central what it holds instead"
                                      : "; starting at the end of the newest file"));
    begin_walk();
  } else if (!*saved) {
    begin_walk();
  } else if ((*saved)->no_file_yet) {
    start_after_no_file();
  } else {
    resume(**saved);
  }
  // A skip for lag-max-bytes gives up every byte before the newest file's
  // end: the files before it are not rechecked, or the recheck would send
  // what was skipped.
  bool skipped = src && opts.lag_max_bytes > 0 && apply_lag_limit();
  if (!skipped)
    queue_recent_files();
}

/// No saved position: tail -f on the newest file that exists now.
void tail_core::start_fresh() {
  auto newest = policy->newest();
  if (!newest) {
    no_file_yet();
    return;
  }
  auto id = stat_file(*newest);
  if (!id || !*id)
    return;
  open_source(*newest, policy->label_for(*newest), (*id)->size, cc::new_gen(),
              "new position at the end (tail -f)");
}

/// Without a usable .save (none, lost, corrupt), where the last run was is
/// what the central holds: the newest files are asked about, newest first;
/// the newest one it holds anything of resumes where its copy ends, and
/// every newer file follows from its start. If it holds none of them, this
/// is a first start: tail -f. Acks off: no one to ask, tail -f.
void tail_core::begin_walk() {
  if (acks() == peer_acks::no) {
    start_fresh();
    return;
  }
  auto files = walk_candidates();
  if (files.empty()) {
    no_file_yet();
    return;
  }
  walk_newest = files.front();
  walk.assign(files.begin() + 1, files.end());
  log::info(who(), "no saved position: asking the central what it holds of " + walk_newest
                       + (walk.empty() ? std::string{}
                                       : " and up to " + std::to_string(walk.size())
                                             + " older files"));
  probe(walk_newest, true);
}

/// A start with no log file: the first one that appears is read from its
/// start, and so it is after a restart before one appeared: the .save says
/// so (position::before_any_file), or the next start, finding files that
/// appeared meanwhile, would take itself for a first start (tail -f) and
/// skip what they hold.
void tail_core::no_file_yet() {
  log::info(who(), "no log file yet; the first one is read from its start");
  saver->store(opts.save_file, position::before_any_file(), who());
}

/// The .save says the last run saw no log file: every file here appeared
/// since, and is read from its start, oldest first (at most max_walk of
/// them, as a walk asks about).
void tail_core::start_after_no_file() {
  auto files = walk_candidates();
  if (files.empty()) {
    log::info(who(), "still no log file; the first one is read from its start");
    return;
  }
  const auto& oldest = files.back();
  open_source(oldest, policy->label_for(oldest), 0, cc::new_gen(),
              "no log file existed when the last run started (its .save says so): "
              "reading every file from its start, beginning with the oldest");
}

/// The files a walk asks about, newest first, at most max_walk.
std::vector<std::string> tail_core::walk_candidates() {
  std::vector<std::string> out;
  out = policy->newest_first();
  if (out.size() > max_walk)
    out.resize(max_walk);
  return out;
}

/// Opens `path` to ask about it; the newest is opened where tail -f would
/// start, so that is where it goes on if nothing is found.
void tail_core::probe(const std::string& path, bool newest) {
  auto id = stat_file(path);
  uint64_t at = newest && id && *id ? (*id)->size : 0;
  if (newest)
    walk_newest_end = at;
  opening o{path, policy->label_for(path), at, at, cc::new_gen()};
  o.why = "asking the central what it holds of it";
  o.probe = true;
  if (!open_source(std::move(o)))
    next_probe();
}

/// The probed file is not in the copy: ask about the next older one, or,
/// when none is left, start at the end of the newest (tail -f).
void tail_core::next_probe() {
  close_source();
  if (!walk.empty()) {
    auto next = walk.front();
    walk.erase(walk.begin());
    probe(next, false);
    return;
  }
  // A first start: tail -f from where the newest file ended when the
  // walk began (what was written since is new, and shipped).
  log::info(who(), "the central holds none of the newest files: a first start");
  auto newest = std::move(walk_newest);
  walk_newest.clear();
  auto id = stat_file(newest);
  if (newest.empty() || !id || !*id || (*id)->size < walk_newest_end) {
    start_fresh();
    return;
  }
  opening o{newest, policy->label_for(newest), walk_newest_end, walk_newest_end,
            cc::new_gen()};
  o.why = "new position at the end (tail -f)";
  open_source(std::move(o));
}

/// Resumes at a saved position: the same generation if it still exists
/// (by name, or by inode after a rotation), else the next file from 0.
void tail_core::resume(const position& pos) {
  // A saved file that exists but cannot be opened now (a permission, a
  // moment of maintenance) is waited for: going on with another file
  // would resend files already shipped, or leave this one's end behind.
  if (auto why = unreadable(pos.filename)) {
    wait_for(pos, "cannot open the saved file " + pos.filename + " (" + *why
                      + "): waiting for it; nothing else is read meanwhile");
    return;
  }
  bool was_waiting = waiting_for.has_value();
  waiting_for.reset();
  auto label = policy->label_for_saved(pos);
  auto gen = pos.gen.empty() ? cc::new_gen() : pos.gen;
  if (auto where = locate_saved(pos)) {
    opening o{*where, label, pos.offset, pos.base, gen};
    o.saved = true;
    o.why = was_waiting ? "the saved file is back; resuming its saved position"
                        : "resuming saved position";
    open_source(std::move(o));
    if (src && *where != pos.filename)
      log::info(who(), "saved generation of " + pos.filename + " was rotated to " + *where
                           + "; finishing it first");
    return;
  }
  if (resume_moved(pos, label, gen))
    return;
  resume_gone(pos);
}

/// The saved generation is gone or changed: continue after it, from 0.
void tail_core::resume_gone(const position& pos) {
  using kind = saved_gone_plan::kind;
  auto plan = policy->saved_gone(pos);
  if (plan.what == kind::open) {
    open_source(plan.path, policy->label_for(plan.path), 0, cc::new_gen(), plan.why);
    return;
  }
  if (plan.what == kind::wait) {
    wait_for(pos, plan.why);
    return;
  }
  const auto& next = plan.path;
  // It may be moved back in a moment: going on at once would leave its
  // rest behind for good (it sorts before the next file).
  if (!gone_since)
    gone_since = now();
  if (now() - *gone_since < gone_grace) {
    wait_for(pos, "saved file " + pos.filename + " is gone; waiting up to "
                      + std::to_string(gone_grace.count() / 1000) + " s for it before "
                      + next);
    return;
  }
  log::warning(who(), "saved file " + pos.filename + " did not come back: going on with "
                          + next + "; what it held past " + std::to_string(pos.offset)
                          + " is not sent");
  open_source(next, policy->label_for(next), 0, cc::new_gen(),
              "saved file gone, continuing with the next file");
}

/// Keeps `pos` to try again at every check; says `why` once.
void tail_core::wait_for(const position& pos, const std::string& why) {
  if (why != waiting_said)
    log::warning(who(), why);
  waiting_said = why;
  waiting_for = pos;
}

/// Why `path` cannot be opened for reading, if it exists and cannot.
std::optional<std::string> tail_core::unreadable(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return std::nullopt;
  }
  if (errno == ENOENT || errno == ENOTDIR)
    return std::nullopt;
  return std::string{std::strerror(errno)};
}

/// The saved generation was truncated in place or moved by a rotation
/// while we were stopped, and a copy of it is in logdir (logrotate's
/// app.log.1, maybe compressed): its unsent rest is read from there.
bool tail_core::resume_moved(const position& pos, const std::string& label,
                             const std::string& gen) {
  if (!pos.has_identity)
    return false;
  auto moved =
      moved_generation(label, pos.fp, pos.offset, file_id{pos.st_dev, pos.st_ino, 0});
  if (!moved)
    return false;
  opening o{*moved, label, pos.offset, pos.base, gen};
  o.saved = true;
  o.identity = file_id{pos.st_dev, pos.st_ino, 0};
  o.fp = pos.fp;
  o.why = "the saved generation of " + pos.filename + " is in " + *moved
          + " now (a rotation moved it): finishing it from there";
  if (!open_source(std::move(o)))
    return false;
  src->reopen_label_after = true;
  stats[tail_counts::moved_generation_reads] += 1;
  return true;
}

/// A file in logdir holding a generation of `label` that a rotation
/// copied or moved away, with more than `beyond` bytes.
std::optional<std::string> tail_core::moved_generation(const std::string& label,
                                                       const fingerprint& fp,
                                                       uint64_t beyond,
                                                       const file_id& except) {
  auto slash = label.rfind('/');
  auto name = slash == std::string::npos ? label : label.substr(slash + 1);
  auto found = find_moved_generation(opts.logdir, name, fp, beyond, except);
  if (!found) {
    log::warning(who(), describe(found.error()));
    return std::nullopt;
  }
  return *found;
}

/// The path holding the saved generation, checked by inode, size and
/// fingerprint; nullopt if that generation no longer exists.
std::optional<std::string> tail_core::locate_saved(const position& pos) {
  auto candidates = policy->saved_names(pos);
  for (const auto& path : candidates) {
    auto id = stat_file(path);
    if (!id || !*id)
      continue;
    if (pos.has_identity && !(*id)->same_file(file_id{pos.st_dev, pos.st_ino, 0}))
      continue;
    if (same_content(path, pos, (*id)->size))
      return path;
  }
  if (!pos.has_identity)
    return std::nullopt;
  auto found = find_by_inode(opts.logdir, pos.st_dev, pos.st_ino);
  if (!found) {
    log::warning(who(), describe(found.error()));
    return std::nullopt;
  }
  if (*found
      && std::find(candidates.begin(), candidates.end(), **found) == candidates.end()) {
    auto id = stat_file(**found);
    if (id && *id && same_content(**found, pos, (*id)->size))
      return *found;
  }
  return std::nullopt;
}

bool tail_core::same_content(const std::string& path, const position& pos,
                             uint64_t size) {
  if (size < pos.offset) {
    log::warning(who(), path + " is shorter (" + std::to_string(size)
                            + ") than the saved position " + std::to_string(pos.offset)
                            + ": a new generation");
    return false;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  auto ok = fingerprint_matches(fd, path, pos.fp);
  ::close(fd);
  if (ok && !*ok)
    log::warning(who(), path
                            + ": first bytes differ from the saved "
                              "fingerprint: a new generation");
  return ok && *ok;
}

/// After a restart: if the saved position lags the newest data by more
/// than lag-max-bytes, skip to the end of the newest file (new gen).
/// Whether it skipped.
bool tail_core::apply_lag_limit() {
  auto lag = lag_bytes();
  if (lag <= opts.lag_max_bytes)
    return false;
  auto newest = policy->newest();
  if (!newest)
    return false;
  auto id = stat_file(*newest);
  if (!id || !*id)
    return false;
  log::warning(who(), "lagging " + std::to_string(lag) + " bytes behind (lag-max-bytes "
                          + std::to_string(opts.lag_max_bytes)
                          + "): skipping them, continuing at the end of " + *newest);
  stats[tail_counts::skipped_bytes] += static_cast<int64_t>(lag);
  close_source();
  open_source(*newest, policy->label_for(*newest), (*id)->size, cc::new_gen(),
              "position after skipping");
  return true;
}

void tail_core::close_source() {
  if (src && save_dirty)
    save();
  src.reset(); // the reader closes the file
  enter(tail_phase::idle);
}

bool tail_core::open_source(const std::string& path, const std::string& label,
                            uint64_t offset, std::string gen, const std::string& why) {
  opening o{path, label, offset, offset, std::move(gen)};
  o.why = why;
  return open_source(std::move(o));
}

/// Opens o.path at o.offset as generation o.gen. With acks the writer is
/// asked first (nothing is read or sent until then); the position is saved
/// at once either way (but for a walk's probe), so a crash before the
/// first answer or ack resumes here.
bool tail_core::open_source(opening o) {
  auto reader = source_reader::open(o.path);
  if (!reader) {
    open_failing = open_failing || errno != ENOENT;
    if (errno != ENOENT && !open_failed[o.path]) {
      open_failed[o.path] = true;
      log::error(who(), describe(reader.error()));
    }
    return false;
  }
  open_failed.erase(o.path);
  auto id = (*reader)->stat();
  auto fp = o.fp ? caf::expected<fingerprint>{*o.fp} : fingerprint_of(**reader);
  open_failing = !id || !fp;
  if (!id || !fp) {
    log::error(who(), describe(!id ? id.error() : fp.error()));
    return false;
  }
  auto size = (*reader)->compressed() ? UINT64_MAX : id->size;
  close_source();
  source_file s;
  s.path = o.path;
  s.label = o.label;
  s.reader = std::move(*reader);
  s.fd = s.reader->fd();
  s.id = o.identity ? *o.identity : *id;
  s.gen = std::move(o.gen);
  s.fp = *fp;
  s.base = std::min(o.base, o.offset);
  s.acked = s.sent = o.offset;
  s.counted = o.offset;
  s.last_growth = now();
  s.probes_left = opts.probes;
  bool ask_first = acks() != peer_acks::no;
  if (ask_first)
    s.reconcile.emplace(s.id, size, own_position{s.gen, s.acked, s.base, o.saved});
  src = std::move(s);
  enter(ask_first ? tail_phase::unsure : tail_phase::streaming);
  ++epoch;
  gap_target.reset();
  wait_after.clear();
  if (watch)
    watch->watch_file(o.path);
  src->why = o.why;
  src->probe = o.probe;
  waiting_said.clear();
  gone_since.reset();
  if (acks() != peer_acks::no) {
    log::debug(who(), "opened " + o.path + " at " + std::to_string(o.offset) + ": "
                          + o.why + "; asking the central what it holds");
    // Where this run decided to go (a first start's end of file, the next
    // file from 0) is saved now, not only once the answer comes: that can
    // take a central outage, and a restart meanwhile without it would
    // decide afresh (tail -f) past what was written in between. The
    // question at that restart checks it as any saved position.
    save();
    return true;
  }
  log_tailing(o.why);
  // Without acks, durable before the first fragment: a crash after
  // sending must resume with this gen, or the writer would take the same
  // bytes as a new generation and append them twice.
  save(durability::now);
  return true;
}

void tail_core::log_tailing(const std::string& why) {
  const auto& s = *src;
  log::info(who(), "tailing " + s.path
                       + (s.label != s.path ? " (as " + s.label + ")" : "") + " from "
                       + std::to_string(s.sent) + ", gen " + s.gen + ": " + why);
}

/// The fingerprint of a source's first bytes, read through its reader
/// (a compressed copy's decompressed bytes).
caf::expected<fingerprint> tail_core::fingerprint_of(source_reader& r) {
  char buf[fingerprint_max_bytes];
  auto n = r.read_at(0, buf, sizeof buf);
  if (!n)
    return std::move(n.error());
  return fingerprint{cc::fnv1a64(std::string_view{buf, *n}), *n};
}

/// Truncation (copytruncate) or new first bytes under the same inode:
/// the same file becomes a new generation, read from 0.
void tail_core::new_generation(const std::string& why) {
  auto& s = *src;
  log::warning(who(), s.path + ": " + why + "; new generation from 0");
  s.gen = cc::new_gen();
  s.acked = s.sent = s.counted = 0;
  s.streamed = false;
  s.drop_pending();
  s.at_eof = false;
  if (phase_ == tail_phase::draining)
    enter(tail_phase::streaming); // this file is not finished after all
  s.gen_confirmed = false;
  s.probes_left = opts.probes;
  s.checked_size = UINT64_MAX;
  if (auto fp = read_fingerprint(s.fd, s.path))
    s.fp = *fp;
  s.base = 0;
  ++epoch;
  gap_target.reset();
  stats[tail_counts::generations] += 1;
  if (acks() != peer_acks::no) {
    // Asked about like a file just opened; saved once settled.
    enter(tail_phase::unsure);
    s.reconcile.emplace(s.id, UINT64_MAX, own_position{s.gen, 0, 0, false});
    return;
  }
  save(durability::now); // the new gen is on disk before its first fragment
}

/// The open generation was cut short under its name (copytruncate). Its
/// bytes past what the writer confirmed are looked for in a copy a
/// rotation left in logdir (app.log.1, or compressed); found, the rest of
/// the generation is read from there, and the name afterwards, as a new
/// generation. Returns false when there is no such copy: what was read
/// and not confirmed is then lost with the truncation, said and counted.
bool tail_core::follow_moved_generation(const std::string& why) {
  auto& s = *src;
  if (s.reopen_label_after)
    return false; // the copy itself changed: give up on it
  auto moved = moved_generation(s.label, s.fp, s.acked, s.id);
  if (!moved) {
    if (s.read_pos() > s.acked) {
      stats[tail_counts::lost_bytes] += static_cast<int64_t>(s.read_pos() - s.acked);
      log::error(who(), s.label + ": " + why + ", and no copy of it was found in "
                            + opts.logdir + ": bytes " + std::to_string(s.acked) + ".."
                            + std::to_string(s.read_pos()) + " of generation " + s.gen
                            + " (and any written after them before the cut) are lost");
    }
    return false;
  }
  auto reader = source_reader::open(*moved);
  if (!reader) {
    log::warning(who(), describe(reader.error()));
    return false;
  }
  log::warning(who(), s.label + ": " + why + "; the rest of generation " + s.gen
                          + " from " + std::to_string(s.acked) + " is read from " + *moved
                          + ", then " + s.label + " again from 0");
  stats[tail_counts::moved_generation_reads] += 1;
  s.reader = std::move(*reader);
  s.fd = s.reader->fd();
  s.shared.reset(); // ranges in flight keep the old file's descriptor
  s.path = *moved;
  s.reopen_label_after = true;
  s.checked_size = UINT64_MAX;
  rewind(s.acked);
  return true;
}

/// Checks that the open file is still the generation we follow.
/// Returns false when the source was dropped.
bool tail_core::verify_generation() {
  auto& s = *src;
  s.size_seen.reset();
  if (s.reader->compressed())
    return true; // a rotation's compressed copy does not change
  auto id = stat_fd(s.fd, s.path);
  if (!id) {
    fail(id.error());
    return false;
  }
  if (id->size < s.read_pos()) {
    // A copy to look for (maybe compressed), or a new generation made
    // durable: not on the loop.
    if (leave_loop())
      return false;
    auto why = "truncated from " + std::to_string(s.read_pos()) + " to "
               + std::to_string(id->size) + " bytes";
    if (!follow_moved_generation(why))
      new_generation(why);
    return true;
  }
  // Compare the first bytes when the size changed since they last
  // matched: before new bytes are read (a file truncated and regrown past
  // our position only looks grown), not again for every answer and ack
  // that finds the file as it was.
  if (id->size == s.checked_size) {
    s.size_seen = id->size;
    return true;
  }
  // A short fingerprint grows as the file grows (its prefix just matched).
  auto same = check_first_bytes(s.fd, s.path, s.fp, s.kept);
  if (!same) {
    fail(same.error());
    return false;
  }
  if (!*same) {
    if (leave_loop())
      return false;
    if (!follow_moved_generation("first bytes changed"))
      new_generation("first bytes changed");
    return true;
  }
  s.checked_size = id->size;
  s.size_seen = id->size;
  return true;
}

/// The file to follow once the current one is exhausted, if one exists.
std::optional<std::string> tail_core::newer_source() {
  auto& s = *src;
  if (s.reopen_label_after)
    return s.label;
  return policy->after(source_ref());
}

bool tail_core::already_read(const std::string& path) {
  auto id = stat_file(path);
  if (!id || !*id)
    return false;
  if (src && (*id)->same_file(src->id))
    return true;
  for (const auto& f : finished) {
    if (!f.id.same_file(**id))
      continue;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return false;
    auto same = fingerprint_matches(fd, path, f.fp);
    ::close(fd);
    return same && *same;
  }
  return false;
}

/// Opens the first file to follow while none is open (read from 0).
void tail_core::pick_waiting() {
  if (waiting_for) {
    // A saved file that could not be opened, or was gone: try it again.
    auto pos = *waiting_for;
    resume(pos);
    return;
  }
  if (auto next = policy->first_file(wait_after))
    open_source(next->path, policy->label_for(next->path), 0, cc::new_gen(), next->why);
}

void tail_core::switch_to(const std::string& path) {
  auto old = src->path;
  stats[tail_counts::files_switched] += 1;
  log::info(who(), "finished " + old + " at " + std::to_string(src->acked));
  finished.push_back(
      {src->id, src->fp, src->path, src->label, src->gen, src->base, src->acked});
  if (finished.size() > max_finished)
    finished.pop_front();
  auto label = policy->label_for(path);
  if (path != label)
    log::warning(who(), path
                            + " was rotated away before it was read; "
                              "reading it before "
                            + label);
  close_source();
  if (!open_source(path, label, 0, cc::new_gen(), "next file")) {
    // Vanished between listing and open: look again later.
    wait_after = policy->wait_after(old);
  }
}

} // namespace cc::tail
