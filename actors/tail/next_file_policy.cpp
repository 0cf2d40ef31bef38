// The classic and rotated choice of the next file; the contract is in
// next_file_policy.hpp.
#include "actors/tail/next_file_policy.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "base/logger.hpp"

namespace cc::tail {

namespace {

/// When after() looks the followed name up again to see whether it holds
/// another file now (deleted and re-created, or another renamed over it):
/// each of those is a directory event, so with a watch only after one, or
/// poll-interval after the last look in case events were lost. A lookup by
/// path on every line of a trickle was ~5 % of the tailer's thread
/// (bench/PROFILE.md, "Session 13: trickle"). Without a watch the directory
/// counts as changed at every look, as before. Once a look found another
/// file there, every look checks again until the tailer switches (its
/// probes and draining ask after() each time and need the same answer).
struct name_look {
  bool dirty = false; // a directory event since the last look
  bool other = false; // the last look found another file under the name
  tail_clock::time_point last{};

  bool due(const tail_clock& clock, std::chrono::milliseconds interval) {
    if (!dirty && !other && clock.now() - last < interval)
      return false;
    dirty = false;
    last = clock.now();
    return true;
  }

  /// Whether `id` (the name's file now, if any) is another than the open one.
  bool differs(const caf::expected<std::optional<file_id>>& id, const file_id& open) {
    other = id && *id && !(*id)->same_file(open);
    return other;
  }
};

/// logdir/logmask in name order. The listing is cached: read again when
/// inotify says the directory changed, after poll-interval, or when forced.
class classic_policy final : public next_file_policy {
public:
  classic_policy(const tailer_options& opts, const tail_clock& clock,
                 read_check already_read, dir_check dir_changed)
      : opts_(opts), clock_(clock), already_read_(std::move(already_read)),
        dir_changed_(std::move(dir_changed)) {}

  std::string label_for(const std::string& path) const override {
    return path;
  }

  /// The saved name, even when the generation was found renamed, so the
  /// writer's copy key stays the same.
  std::string label_for_saved(const position& pos) const override {
    return pos.filename;
  }

  std::vector<std::string> saved_names(const position& pos) const override {
    return {pos.filename};
  }

  std::optional<std::string> newest() override {
    refresh(true);
    if (listing_.empty())
      return std::nullopt;
    return listing_.back();
  }

  std::vector<std::string> newest_first() override {
    refresh(true);
    return {listing_.rbegin(), listing_.rend()};
  }

  std::vector<std::string> before(const std::string& label) override {
    refresh(true);
    std::vector<std::string> out;
    auto at = std::lower_bound(listing_.begin(), listing_.end(), label);
    for (auto i = std::make_reverse_iterator(at); i != listing_.rend(); ++i)
      out.push_back(*i);
    return out;
  }

  saved_gone_plan saved_gone(const position& pos) override {
    using kind = saved_gone_plan::kind;
    auto id = stat_file(pos.filename);
    if (id && *id)
      return {kind::open, pos.filename, "file changed while stopped, reading it from 0"};
    refresh(true);
    auto next = next_after(listing_, pos.filename);
    if (!next)
      return {kind::wait, "",
              "saved file " + pos.filename + " is gone; waiting for it or a newer file"};
    return {kind::after_grace, *next, ""};
  }

  std::optional<file_choice> first_file(const std::string& wait_after) override {
    refresh(false);
    // The file we wait after may itself come back: a saved file that was
    // gone at start-up and is created again under its name is a new file (a
    // finished one is recognised by already_read and skipped).
    if (!wait_after.empty()
        && std::binary_search(listing_.begin(), listing_.end(), wait_after)
        && !already_read_(wait_after))
      return file_choice{wait_after, "file created again under the name it had"};
    if (auto next = next_unread(wait_after))
      return file_choice{*next, "file appeared"};
    return std::nullopt;
  }

  std::optional<std::string> after(const open_source_ref& open) override {
    // The name we follow now holds another file (name_look says when).
    note_dir_change();
    if (look_.due(clock_, opts_.poll_interval)
        && look_.differs(stat_file(open.label), open.id))
      return open.label;
    refresh(false);
    return next_unread(open.label);
  }

  uint64_t newer_bytes(const open_source_ref& open) override {
    refresh(true);
    uint64_t bytes = 0;
    auto i = std::upper_bound(listing_.begin(), listing_.end(), open.label);
    for (; i != listing_.end(); ++i)
      if (auto id = stat_file(*i); id && *id)
        bytes += (*id)->size;
    return bytes;
  }

  std::string wait_after(const std::string& finished) const override {
    return finished;
  }

  bool listing_failing() const override {
    return listing_failing_;
  }

private:
  /// The first listed file after `after` that is not the open file or a
  /// finished one under a new name.
  std::optional<std::string> next_unread(const std::string& after) {
    auto next = next_after(listing_, after);
    while (next && already_read_(*next))
      next = next_after(listing_, *next);
    return next;
  }

  /// Takes inotify's "the directory changed" (read once) into both things
  /// that depend on it: the listing and the open name's lookup in after().
  void note_dir_change() {
    if (dir_changed_())
      listing_dirty_ = look_.dirty = true;
  }

  void refresh(bool force) {
    note_dir_change();
    if (!force && listing_valid_ && !listing_dirty_
        && clock_.now() - last_listing_ < opts_.poll_interval)
      return;
    listing_dirty_ = false;
    auto files = list_log_files(opts_.logdir, opts_.logmask);
    listing_failing_ = !files;
    if (!files) {
      log::warning(opts_.job_name, describe(files.error()));
      return;
    }
    listing_ = std::move(*files);
    listing_valid_ = true;
    last_listing_ = clock_.now();
  }

  const tailer_options& opts_;
  const tail_clock& clock_;
  read_check already_read_;
  dir_check dir_changed_;
  std::vector<std::string> listing_; // logdir/logmask, sorted
  bool listing_valid_ = false;
  bool listing_failing_ = false;
  bool listing_dirty_ = false; // the directory changed since it was listed
  name_look look_;
  tail_clock::time_point last_listing_;
};

/// logdir/logname and the generations rotated away from it.
class rotated_policy final : public next_file_policy {
public:
  rotated_policy(const tailer_options& opts, const tail_clock& clock,
                 read_check already_read, dir_check dir_changed)
      : opts_(opts), clock_(clock), current_(opts.rotated_path()),
        already_read_(std::move(already_read)), dir_changed_(std::move(dir_changed)) {}

  std::string label_for(const std::string&) const override {
    return current_;
  }

  std::string label_for_saved(const position&) const override {
    return current_;
  }

  std::vector<std::string> saved_names(const position& pos) const override {
    if (pos.filename == current_)
      return {pos.filename};
    return {pos.filename, current_};
  }

  std::optional<std::string> newest() override {
    if (exists(current_))
      return current_;
    return std::nullopt;
  }

  std::vector<std::string> newest_first() override {
    std::vector<std::string> out;
    if (exists(current_))
      out.push_back(current_);
    auto older = before(current_);
    out.insert(out.end(), older.begin(), older.end());
    return out;
  }

  std::vector<std::string> before(const std::string&) override {
    std::vector<std::string> out;
    if (auto gens = rotated_generations(opts_.logdir, opts_.logname))
      for (auto i = gens->rbegin(); i != gens->rend(); ++i)
        out.push_back(i->first);
    return out;
  }

  saved_gone_plan saved_gone(const position& pos) override {
    using kind = saved_gone_plan::kind;
    if (exists(current_))
      return {kind::open, current_,
              "saved generation gone, reading the current file from 0"};
    return {kind::wait, "", "saved file " + pos.filename + " is gone; waiting for it"};
  }

  std::optional<file_choice> first_file(const std::string&) override {
    if (exists(current_))
      return file_choice{current_, "file appeared"};
    return std::nullopt;
  }

  std::optional<std::string> after(const open_source_ref& open) override {
    // A rotation renames logname away and creates it again: directory events.
    if (dir_changed_())
      look_.dirty = true;
    if (!look_.due(clock_, opts_.poll_interval))
      return std::nullopt;
    auto id = stat_file(current_);
    if (!look_.differs(id, open.id))
      return std::nullopt;
    if (auto between = skipped_generation(open, **id))
      return between;
    return current_;
  }

  uint64_t newer_bytes(const open_source_ref& open) override {
    auto id = stat_file(current_);
    if (id && *id && !(*id)->same_file(open.id))
      return (*id)->size;
    return 0;
  }

  std::string wait_after(const std::string&) const override {
    return "";
  }

  bool listing_failing() const override {
    return false;
  }

private:
  static bool exists(const std::string& path) {
    auto id = stat_file(path);
    return id && *id;
  }

  /// A generation rotated away after the open one but before the one now
  /// at logname. It exists when the tailer could not move on in time: acks
  /// held it on a generation (the writer was unreachable) or it was stopped
  /// across several rotations. The oldest such comes first.
  std::optional<std::string> skipped_generation(const open_source_ref& open,
                                                const file_id& current) {
    auto mine = stat_fd(open.fd, open.path);
    auto gens = rotated_generations(opts_.logdir, opts_.logname);
    if (!mine || !gens)
      return std::nullopt;
    for (const auto& [path, id] : *gens) {
      // File times are coarse (a kernel tick): the generation written right
      // after the open one may carry the same time, so only older ones skip.
      if (id.mtime_ns < mine->mtime_ns || id.same_file(open.id) || id.same_file(current)
          || already_read_(path))
        continue;
      return path;
    }
    return std::nullopt;
  }

  const tailer_options& opts_;
  const tail_clock& clock_;
  std::string current_; // logdir/logname
  read_check already_read_;
  dir_check dir_changed_;
  name_look look_;
};

} // namespace

std::unique_ptr<next_file_policy> next_file_policy::make(const tailer_options& opts,
                                                         const tail_clock& clock,
                                                         read_check already_read,
                                                         dir_check dir_changed) {
  if (opts.op == tailer_options::mode::rotated)
    return std::make_unique<rotated_policy>(opts, clock, std::move(already_read),
                                            std::move(dir_changed));
  return std::make_unique<classic_policy>(opts, clock, std::move(already_read),
                                          std::move(dir_changed));
}

} // namespace cc::tail
