// The tailwriter handler: see tailwriter.hpp for what it owns and takes.
#include "actors/write/tailwriter.hpp"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/spawn_context.hpp"
#include "actors/write/copy_index.hpp"
#include "actors/write/dest_path.hpp"
#include "actors/write/journal_log.hpp"
#include "actors/write/tailwriter_door.hpp"
#include "actors/write/tailwriter_worker.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/hash.hpp"
#include "base/logger.hpp"
#include "config/reader.hpp"
#include "wire/bodies.hpp"

namespace cc {

namespace {

/// Journals of copies untouched this long are removed at start-up.
constexpr std::chrono::seconds journal_max_age{30 * 86400};

caf::expected<std::string> real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr)
    return make_error(errc::io, path + ": " + errno_text(errno));
  return std::string{buf};
}

/// What a worker's senders wait for: room in its queue (its meter is the
/// door's).
using waiting_list = std::deque<caf::response_promise>;

struct tailwriter_state {
  tailwriter_config cfg;
  /// The state directory's lock (tw::lock_state_dir, shared), taken before
  /// the start's merge; each worker holds its own too.
  std::shared_ptr<tw::unique_fd> state_lock;
  tw::counters_ptr counters;
  /// Every message's way to a worker, also the direct lane's.
  std::shared_ptr<tw::tailwriter_door> door;
  std::vector<waiting_list> waiting;  // per worker
  int64_t backpressure_waits = 0;  // answers held for a worker's full queue
  static inline const char* name = "tailwriter";

  tailwriter_state() = default;
  /// The direct lane stops taking messages for workers that go with us.
  ~tailwriter_state() {
    if (door)
      door->close();
  }
  tailwriter_state(const tailwriter_state&) = delete;
  tailwriter_state& operator=(const tailwriter_state&) = delete;
};

using tailwriter_actor = caf::stateful_actor<tailwriter_state>;

/// Answers the senders waiting for worker `idx` while it has room.
void release(tailwriter_actor* self, size_t idx) {
  auto& st = self->state;
  auto& meter = *st.door->worker(idx).meter;
  auto& waiting = st.waiting[idx];
  while (!waiting.empty() && meter.queued <= st.door->worker_limit()) {
    waiting.front().deliver(caf::ok_atom::value);
    waiting.pop_front();
  }
  if (waiting.empty())
    meter.waiters = false;
}

caf::result<caf::ok_atom> dispatch(tailwriter_actor* self, wire::cc_message& msg) {
  auto& st = self->state;
  // A tailer in this process may leave its fragment in the source file
  // (wire/file_range.hpp): read it here. Gone (the source shrank meanwhile),
  // the dispatch fails and the tailer sends those bytes again.
  if (auto err = wire::load_blob(msg))
    return err;
  auto passed = st.door->pass(std::move(msg));
  if (!passed)
    return std::move(passed.error());
  if (!*passed) // answered (denied)
    return caf::ok_atom::value;
  auto idx = **passed;
  auto& meter = *st.door->worker(idx).meter;
  if (st.waiting[idx].empty() && meter.queued <= st.door->worker_limit())
    return caf::ok_atom::value;
  // Back-pressure: answered once the worker caught up (written_atom). A
  // fragment done between the check above and this store went unreported:
  // release() runs once more for it.
  auto rp = self->make_response_promise();
  st.waiting[idx].push_back(rp);
  ++st.backpressure_waits;
  meter.waiters = true;
  release(self, idx);
  return rp;
}

/// The workers' options from the tailwriter's.
tw::worker_options worker_options_of(const tailwriter_config& c, size_t workers) {
  tw::worker_options wo;
  wo.copy.mode = c.mode;
  wo.copy.compression = c.compression;
  wo.copy.level = c.compression_level;
  wo.copy.buffer_bytes = c.buffer_bytes;
  wo.copy.drop_synced_pages = c.drop_synced_pages;
  wo.dstdir = c.dstdir;
  wo.state_dir = c.state_dir;
  wo.max_fragment_bytes = c.max_fragment_bytes;
  wo.sync_interval = c.sync_interval;
  wo.sync_bytes = c.sync_bytes;
  wo.syncfs_batch = c.syncfs_batch;
  wo.maint_period = c.maint_period;
  wo.flush_idle = c.flush_idle;
  wo.close_idle = c.close_idle;
  // The open-file bound is shared out: no worker holds more than its part,
  // two descriptors per open copy (the copy, and one for a sync in flight
  // after it closed; the journals are records in the worker's log).
  wo.max_open_copies = std::max<size_t>(1, c.max_open_files / workers / 2);
  wo.hostname = c.hostname;
  wo.section = c.section;
  return wo;
}

caf::behavior tailwriter_behavior(tailwriter_actor* self, tailwriter_config cfg,
                                  std::shared_ptr<tw::tailwriter_door> door,
                                  tw::counters_ptr counters,
                                  std::shared_ptr<tw::unique_fd> state_lock) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.state_lock = std::move(state_lock);
  st.counters = std::move(counters);
  st.door = std::move(door);
  // A worker that fails takes the tailwriter with it.
  for (size_t i = 0; i < st.door->workers(); ++i)
    self->link_to(st.door->worker(i).actor);
  st.waiting.resize(st.door->workers());
  return {
    [self](dispatch_atom, wire::cc_message& msg) { return dispatch(self, msg); },
    [self](written_atom, size_t idx) {
      if (idx < self->state.waiting.size())
        release(self, idx);
    },
    [self](stats_atom) {
      auto& st = self->state;
      auto out = st.counters->snapshot();
      st.counters->copies.add_to(out, tw::copy_stats::clock::now());
      out["too_many_sources"] = st.door->too_many_sources();
      out["backpressure_waits"] = st.backpressure_waits;
      out["host_denied"] = st.door->host_denied();
      return out;
    },
  };
}

/// The workers, their door and the tailwriter; the door is in `lanes`
/// (when given) once the tailwriter runs, so the direct lane never finds a
/// door without its actor.
caf::actor start_tailwriter(caf::actor_system& sys, const tailwriter_config& c,
                            std::string reserved, router_actor router,
                            direct_lanes_ptr lanes, std::shared_ptr<tw::unique_fd> state_lock) {
  auto counters = std::make_shared<tw::writer_counters>();
  auto n = std::max<size_t>(1, c.worker_threads);
  auto wo = worker_options_of(c, n);
  // This start's instance id: a sender that sees it change reconciles
  // (docs/wire.md §6.2). Random like a generation id.
  wo.writer_id = cc::new_gen();
  std::vector<tw::tailwriter_door::slot> slots;
  for (size_t i = 0; i < n; ++i) {
    auto opts = wo;
    opts.who = c.section + ".worker-" + std::to_string(i);
    opts.index = i;
    auto inlet = std::make_shared<tw::worker_inline>();
    slots.push_back({tw::spawn_tailwriter_worker(sys, std::move(opts), counters, router,
                                                 lanes, inlet),
                     std::make_shared<room_meter>(), inlet});
  }
  auto door = std::make_shared<tw::tailwriter_door>(c, std::move(reserved), std::move(slots),
                                                    counters, router, wo.writer_id);
  auto actor = sys.spawn(tailwriter_behavior, c, door, counters, std::move(state_lock));
  door->set_tailwriter(actor.address());
  // Data connections' messages reach the workers through the door directly.
  if (lanes)
    lanes->add_door(c.section, door);
  log::info(c.section, "writing to " + c.dstdir + " (dstmask " + c.dstmask
                         + ", write-compressed " + tw::to_string(c.mode) + ", "
                         + std::to_string(n) + " workers, state in " + c.state_dir
                         + ", writer id " + wo.writer_id + ")");
  return actor;
}

} // namespace

namespace {

void read_config(tailwriter_config& c, const config::reader& r) {
  c.dstdir = r.file("dstdir");
  c.host_subdirs = r.boolean("host-subdirs");
  c.dstmask = r.str("dstmask");
  // The schema admits no, keep and yes; gzip and bzip2.
  auto mode = tw::parse_write_mode(r.str("write-compressed"));
  c.mode = mode ? *mode : tw::write_mode::plain;
  c.compression = wire::parse_compression(r.str("compression")).value_or(wire::compression::gzip);
  c.compression_level = static_cast<int>(r.integer("compression-level"));
  c.buffer_bytes = r.size("buffer-bytes");
  c.maint_period = r.millis("maint-period");
  c.close_idle = r.millis("close-idle");
  c.worker_threads = static_cast<size_t>(r.integer("worker-threads"));
  c.state_dir = r.file("state-dir");
  c.max_fragment_bytes = r.size("max-fragment-bytes");
  c.sync_interval = r.millis("sync-interval");
  c.sync_bytes = r.size("sync-bytes");
  c.syncfs_batch = static_cast<size_t>(r.integer("syncfs-batch"));
  c.drop_synced_pages = r.boolean("drop-synced-pages");
  c.max_open_files = static_cast<size_t>(r.integer("max-open-files"));
  c.max_source_keys_per_host = static_cast<size_t>(r.integer("max-source-keys-per-host"));
}

/// Merges the section's journal logs and the legacy journal files into one
/// log per worker (tw::prepare_journal_logs): only while no worker runs.
caf::error prepare_journals(const tailwriter_config& cfg) {
  int state_fd = ::open(cfg.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (state_fd < 0)
    return make_error(errc::io, cfg.section + ": state-dir: " + errno_text(errno));
  auto workers = std::max<size_t>(1, cfg.worker_threads);
  // The worker the door picks for a copy's destination (tailwriter_door::pick).
  auto assign = [workers](const std::string& identity) {
    return static_cast<size_t>(fnv1a64(tw::identity_dest_base(identity)) % workers);
  };
  auto r = tw::prepare_journal_logs(state_fd, tw::jlog::prefix(cfg.section), workers, assign,
                                    journal_max_age, std::time(nullptr));
  ::close(state_fd);
  if (!r)
    return make_error(errc::io, cfg.section + ": state-dir: " + describe(r.error()));
  if (r->migrated > 0)
    log::info(cfg.section, "took " + std::to_string(r->migrated)
                             + " journal files of an older build into the journal logs");
  if (r->pruned > 0)
    log::info(cfg.section, "removed the journals of " + std::to_string(r->pruned)
                             + " copies unused for "
                             + std::to_string(journal_max_age.count() / 86400) + " days");
  if (r->bad_records > 0)
    log::warning(cfg.section, "journal logs: " + std::to_string(r->bad_records)
                                + " damaged records skipped");
  return caf::none;
}

} // namespace

tailwriter_config::tailwriter_config() {
  read_config(*this, config::reader::defaults("tailwriter"));
}

caf::expected<tailwriter_config>
tailwriter_config_from(const config::section& sec, const std::string& hostname) {
  tailwriter_config c;
  read_config(c, config::reader{sec});
  c.section = sec.name;
  if (c.dstmask.empty())
    c.dstmask = config::default_dstmask(c.host_subdirs);
  if (auto err = tw::validate_dstmask(c.dstmask))
    return make_error(errc::config_invalid, sec.name + ": " + describe(err));
  c.hostname = hostname;
  return c;
}

caf::expected<caf::actor> spawn_tailwriter_actor(caf::actor_system& sys,
                                                 tailwriter_config cfg,
                                                 router_actor router,
                                                 direct_lanes_ptr lanes) {
  if (cfg.dstdir.empty())
    return make_error(errc::config_invalid, cfg.section + ": dstdir: empty");
  if (cfg.state_dir.empty())
    cfg.state_dir = config::default_state_dir(cfg.dstdir);
  if (cfg.hostname.empty())
    cfg.hostname = wire::short_hostname();
  // Both directories exist from here on; their real paths tell whether the
  // state directory sits inside the copy tree (then no copy may go there).
  if (auto err = tw::make_directories(absolute(cfg.dstdir), 0755))
    return make_error(errc::io, cfg.section + ": dstdir: " + describe(err));
  if (auto err = tw::make_directories(absolute(cfg.state_dir), 0700))
    return make_error(errc::io, cfg.section + ": state-dir: " + describe(err));
  auto dst = real_path(absolute(cfg.dstdir));
  if (!dst)
    return dst.error();
  auto state = real_path(absolute(cfg.state_dir));
  if (!state)
    return state.error();
  auto reserved = tw::relative_inside(*dst, *state);
  if (reserved == ".")
    return make_error(errc::config_invalid,
                      cfg.section + ": state-dir must not be dstdir itself");
  cfg.dstdir = *dst;
  cfg.state_dir = *state;
  // Held from here until the tailwriter goes: --export-journals refuses.
  auto state_lock = std::make_shared<tw::unique_fd>(
    ::open(cfg.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (state_lock->get() < 0)
    return make_error(errc::io, cfg.section + ": state-dir: " + errno_text(errno));
  if (auto err = tw::lock_state_dir(state_lock->get(), false))
    return make_error(errc::io, cfg.section + ": state-dir: " + describe(err));
  // Before any worker runs: new copies a crash left half-written come back
  // whole from the workers' commit logs (whatever the worker count was).
  if (auto state_fd = ::open(cfg.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      state_fd >= 0) {
    auto n = tw::replay_commit_logs(state_fd, tw::commit_log_prefix(cfg.section));
    ::close(state_fd);
    if (!n)
      return make_error(errc::io, cfg.section + ": state-dir: " + describe(n.error()));
  }
  // Before any worker runs: every worker's journal log, and the journal
  // files of older builds, merged into one log per worker (whatever the
  // worker count was), copies finished long ago left out.
  if (auto err = prepare_journals(cfg))
    return err;
  return start_tailwriter(sys, cfg, std::move(reserved), std::move(router),
                          std::move(lanes), std::move(state_lock));
}

caf::expected<caf::actor> spawn_tailwriter_handler(spawn_context ctx,
                                                   const config::section& sec) {
  auto cfg = tailwriter_config_from(sec, ctx.cfg.host_name);
  if (!cfg)
    return std::move(cfg.error());
  return spawn_tailwriter_actor(ctx.sys, std::move(*cfg), ctx.router, ctx.lanes);
}

} // namespace cc
