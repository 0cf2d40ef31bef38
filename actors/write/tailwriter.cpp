// The tailwriter handler: see tailwriter.hpp for what it owns and takes.
#include "actors/write/tailwriter.hpp"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
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
#include "actors/core/router.hpp"
#include "actors/core/spawn_context.hpp"
#include "actors/link/host_binding.hpp"
#include "actors/write/dest_path.hpp"
#include "actors/write/source_limit.hpp"
#include "actors/write/tailwriter_worker.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/hash.hpp"
#include "base/logger.hpp"
#include "base/room_meter.hpp"
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

struct worker_slot {
  caf::actor actor;
  /// Bytes sent to the worker and not yet handled, counted down on the
  /// worker's thread by each fragment's receipt: the tailwriter hears of it
  /// (written_atom) only while senders wait for room at this worker.
  std::shared_ptr<room_meter> meter = std::make_shared<room_meter>();
  std::deque<caf::response_promise> waiting;
};

struct tailwriter_state {
  tailwriter_config cfg;
  std::string reserved; // state dir relative to dstdir, if inside it
  std::vector<worker_slot> workers;
  tw::counters_ptr counters;
  source_key_limit source_keys;
  int64_t too_many_sources = 0;
  int64_t backpressure_waits = 0;  // answers held for a worker's full queue
  log_limiter source_log{std::chrono::seconds{10}, 256};
  host_binding_check host_check{"tailwriter"}; // keys bound to host names
  router_actor router;       // for `denied` acks (the workers send the others)
  std::string writer_id;   // this start's instance id, in every ack
  static inline const char* name = "tailwriter";

  /// Parses and checks one message; a fragment for a worker, or why not.
  caf::expected<std::shared_ptr<tw::fragment>> prepare(wire::cc_message&& msg) const;
  /// The worker of a fragment: by its destination, so one copy is only ever
  /// written by one worker (and so is each key, whose destination is fixed).
  size_t pick(const tw::fragment& f) const;
};

using tailwriter_actor = caf::stateful_actor<tailwriter_state>;

caf::expected<std::shared_ptr<tw::fragment>>
tailwriter_state::prepare(wire::cc_message&& msg) const {
  auto body = wire::parse_logtail(msg.body);
  if (!body)
    return std::move(body.error());
  if (auto err = wire::check_req(body->hdr, msg.type))
    return err;
  if (msg.has_blob()) {
    // The original receiver drops a blob whose body has no blob_hash key.
    if (msg.body.find("\"blob_hash\"") == std::string::npos)
      return make_error(errc::invalid_body,
                        msg.type + " from " + body->hdr.hostname
                          + ": a blob without a blob_hash key");
    if (auto err = wire::verify_blob_hash(body->hdr.blob_hash, msg.blob->view()))
      return err;
  }
  auto f = std::make_shared<tw::fragment>();
  auto dest = tw::normalize_destination(
    tw::expand_dstmask(cfg.dstmask, body->hdr.hostname, body->filename), reserved);
  if (dest)
    f->dest_base = std::move(*dest);
  else
    f->dest_error = std::move(dest.error());
  f->body = std::move(*body);
  f->msg = std::move(msg);
  f->msg.body.clear(); // parsed; the worker needs the route and the blob
  return f;
}

size_t tailwriter_state::pick(const tw::fragment& f) const {
  std::string what = f.dest_base;
  if (what.empty()) // refused: any stable choice
    what = f.body.hdr.hostname + '\n' + f.body.filename;
  return static_cast<size_t>(cc::fnv1a64(what) % workers.size());
}

/// max_queued_bytes bounds the writer as a whole: each worker gets its
/// share, but at least a large fragment (the request past it is in the
/// worker's mailbox already, so a worker always has the next one at hand).
uint64_t worker_limit(const tailwriter_state& st) {
  return std::max<uint64_t>(st.cfg.max_queued_bytes / std::max<size_t>(1, st.workers.size()),
                            1ull << 20);
}

/// Answers the senders waiting for worker `idx` while it has room.
void release(tailwriter_actor* self, size_t idx) {
  auto& w = self->state.workers[idx];
  while (!w.waiting.empty() && w.meter->queued <= worker_limit(self->state)) {
    w.waiting.front().deliver(caf::ok_atom::value);
    w.waiting.pop_front();
  }
  if (w.waiting.empty())
    w.meter->waiters = false;
}

/// Keys bound to host names: a fragment (or question) claiming a host its
/// sender's key may not write is not taken. Counted and logged by the check;
/// the sender is answered `denied` (a logtail.ack, or a logtail.state for a
/// question) and keeps its bytes.
bool refuse_foreign_host(tailwriter_actor* self, const tw::fragment& f) {
  auto& st = self->state;
  auto why = st.host_check.refuse(f.msg.peer, f.body.hdr.hostname,
                                  printable_type(f.msg.type) + " of " +
                                    printable_type(f.body.filename));
  if (!why)
    return false;
  if (f.body.ack && st.router) {
    self->send(st.router, reply_atom::value,
               denied_reply(f.msg.route, f.body, std::move(*why), st.cfg.hostname,
                            st.writer_id));
    if (f.body.query.empty())
      st.counters->acks_sent += 1;
  }
  return true;
}

caf::result<caf::ok_atom> dispatch(tailwriter_actor* self, wire::cc_message& msg) {
  auto& st = self->state;
  // A tailer in this process may leave its fragment in the source file
  // (wire/file_range.hpp): read it here. Gone (the source shrank meanwhile),
  // the dispatch fails and the tailer sends those bytes again.
  if (auto err = wire::load_blob(msg))
    return err;
  auto prepared = st.prepare(std::move(msg));
  if (!prepared) {
    st.counters->invalid += 1;
    log::warning(st.cfg.section, "dropped an invalid message: "
                                   + describe(prepared.error()));
    return std::move(prepared.error());
  }
  auto& f = *prepared;
  if (refuse_foreign_host(self, *f))
    return caf::ok_atom::value;
  const auto& b = f->body;
  auto key = std::to_string(b.st_dev) + ':' + std::to_string(b.st_ino) + ':' +
             b.filename;
  // A question creates nothing, so it takes no place among a host's keys.
  if (b.query.empty()
      && !st.source_keys.admit(b.hdr.hostname, key, source_key_limit::clock::now())) {
    st.too_many_sources += 1;
    auto why = "host '" + printable_type(b.hdr.hostname) + "' already writes " +
               std::to_string(st.cfg.max_source_keys_per_host) +
               " source files (max-source-keys-per-host): " +
               printable_type(b.filename) + " refused";
    if (auto n = st.source_log.admit(b.hdr.hostname, log_limiter::clock::now()))
      log::warning(st.cfg.section,
                   why + (*n > 0 ? " (and " + std::to_string(*n) +
                                     " more since the last line)"
                                 : std::string{}));
    return make_error(errc::queue_full, why);
  }
  auto idx = st.pick(*f);
  auto& w = st.workers[idx];
  uint64_t size = (f->msg.blob ? f->msg.blob->size() : 0) + f->body.data.size() + 256;
  w.meter->queued += size;
  // Released when the worker lets go of the fragment.
  f->msg.receipt = wire::make_receipt(
    [meter = w.meter, size, tw = self->address(), idx] {
      if (meter->done(size))
        if (auto me = caf::actor_cast<caf::actor>(tw))
          caf::anon_send(me, written_atom::value, idx);
    });
  // No request: the worker's answer would wake this actor once per fragment.
  // A worker that fails takes the tailwriter with it (linked).
  caf::anon_send(w.actor, dispatch_atom::value, tw::fragment_ptr{std::move(f)});
  if (w.waiting.empty() && w.meter->queued <= worker_limit(st))
    return caf::ok_atom::value;
  // Back-pressure: answered once the worker caught up (written_atom). A
  // fragment done between the check above and this store went unreported:
  // release() runs once more for it.
  auto rp = self->make_response_promise();
  w.waiting.push_back(rp);
  ++st.backpressure_waits;
  w.meter->waiters = true;
  release(self, idx);
  return rp;
}

caf::behavior tailwriter_behavior(tailwriter_actor* self, tailwriter_config cfg,
                                  std::string reserved, router_actor router) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.reserved = std::move(reserved);
  st.counters = std::make_shared<tw::writer_counters>();
  st.host_check = host_binding_check{st.cfg.section};
  st.router = router;
  st.source_keys.max_per_host = std::max<size_t>(1, st.cfg.max_source_keys_per_host);
  const auto& c = st.cfg;
  tw::worker_options wo;
  wo.copy.mode = c.mode;
  wo.copy.compression = c.compression;
  wo.copy.level = c.compression_level;
  wo.copy.buffer_bytes = c.buffer_bytes;
  wo.dstdir = c.dstdir;
  wo.state_dir = c.state_dir;
  wo.max_fragment_bytes = c.max_fragment_bytes;
  wo.sync_interval = c.sync_interval;
  wo.sync_bytes = c.sync_bytes;
  wo.maint_period = c.maint_period;
  wo.flush_idle = c.flush_idle;
  wo.close_idle = c.close_idle;
  auto n = std::max<size_t>(1, c.worker_threads);
  // The open-file bound is shared out: no worker holds more than its part,
  // two descriptors per open copy (the copy and its journal).
  wo.max_open_copies = std::max<size_t>(1, c.max_open_files / n / 2);
  wo.hostname = c.hostname;
  // This start's instance id: a sender that sees it change reconciles
  // (docs/wire.md §6.2). Random like a generation id.
  wo.writer_id = st.writer_id = cc::new_gen();
  for (size_t i = 0; i < n; ++i) {
    auto opts = wo;
    opts.who = c.section + ".worker-" + std::to_string(i);
    opts.section = c.section;
    opts.index = i;
    auto worker = tw::spawn_tailwriter_worker(self->system(), std::move(opts),
                                              st.counters, router);
    self->link_to(worker);
    st.workers.push_back(worker_slot{worker, std::make_shared<room_meter>(), {}});
  }
  log::info(c.section, "writing to " + c.dstdir + " (dstmask " + c.dstmask
                         + ", write-compressed " + tw::to_string(c.mode) + ", "
                         + std::to_string(n) + " workers, state in " + c.state_dir
                         + ", writer id " + wo.writer_id + ")");
  return {
    [self](dispatch_atom, wire::cc_message& msg) { return dispatch(self, msg); },
    [self](written_atom, size_t idx) {
      if (idx < self->state.workers.size())
        release(self, idx);
    },
    [self](stats_atom) {
      auto out = self->state.counters->snapshot();
      self->state.counters->copies.add_to(out, tw::copy_stats::clock::now());
      out["too_many_sources"] = self->state.too_many_sources;
      out["backpressure_waits"] = self->state.backpressure_waits;
      out["host_denied"] = self->state.host_check.denied();
      return out;
    },
  };
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
  c.max_open_files = static_cast<size_t>(r.integer("max-open-files"));
  c.max_source_keys_per_host = static_cast<size_t>(r.integer("max-source-keys-per-host"));
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
                                                 router_actor router) {
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
  // Before any worker runs: new copies a crash left half-written come back
  // whole from the workers' commit logs (whatever the worker count was).
  if (auto state_fd = ::open(cfg.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      state_fd >= 0) {
    auto n = tw::replay_commit_logs(state_fd, tw::commit_log_prefix(cfg.section));
    ::close(state_fd);
    if (!n)
      return make_error(errc::io, cfg.section + ": state-dir: " + describe(n.error()));
  }
  // Before any worker runs: forget copies finished long ago.
  if (auto n = tw::prune_journals(cfg.state_dir, journal_max_age); n > 0)
    log::info(cfg.section, "removed " + std::to_string(n) + " journals unused for "
                             + std::to_string(journal_max_age.count() / 86400) + " days");
  return sys.spawn(tailwriter_behavior, std::move(cfg), std::move(reserved),
                   std::move(router));
}

caf::expected<caf::actor> spawn_tailwriter_handler(spawn_context ctx,
                                                   const config::section& sec) {
  auto cfg = tailwriter_config_from(sec, ctx.cfg.host_name);
  if (!cfg)
    return std::move(cfg.error());
  return spawn_tailwriter_actor(ctx.sys, std::move(*cfg), ctx.router);
}

} // namespace cc
