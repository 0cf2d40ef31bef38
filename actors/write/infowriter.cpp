// The infowriter handler and its workers: see infowriter.hpp.
#include "actors/write/infowriter.hpp"

#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/router.hpp"
#include "actors/core/spawn_context.hpp"
#include "actors/link/host_binding.hpp"
#include "actors/write/dest_path.hpp"
#include "actors/write/received_blob.hpp"
#include "actors/write/source_limit.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/hash.hpp"
#include "base/logger.hpp"
#include "base/thread_name.hpp"
#include "config/reader.hpp"
#include "wire/base64.hpp"
#include "wire/replies.hpp"

namespace cc {

namespace info {

counters writer_counters::snapshot() const {
  return {{"files", files.load()},
          {"written", written.load()},
          {"bytes_written", bytes_written.load()},
          {"skipped", skipped.load()},
          {"refused", refused.load()},
          {"errors", errors.load()},
          {"invalid", invalid.load()},
          {"too_many_files", too_many_files.load()},
          {"backups", backups.load()},
          {"acks_sent", acks_sent.load()}};
}

wire::cc_message make_ack(const job& j, const outcome& o,
                          const std::string& hostname) {
  return wire::infofile_reply(j.msg.route, j.body, o.status, o.reason, hostname);
}

namespace {

using counters_ptr = std::shared_ptr<writer_counters>;

struct worker_state {
  std::string who;
  std::string hostname;
  router_actor router;
  counters_ptr stats;
  int dstdir_fd = -1;
  std::unique_ptr<store> files;
  log_limiter trouble_log{std::chrono::seconds{10}, 256};
  static inline const char* name = "infowriter.worker";

  ~worker_state() {
    if (dstdir_fd >= 0)
      ::close(dstdir_fd);
  }

  /// The copy for `j`, or why there is none.
  outcome handle(const job& j) {
    if (j.dest_error)
      return {std::string{wire::info_status::refused}, describe(j.dest_error)};
    auto comp = wire::parse_compression(j.body.comp);
    // zstd is a compression of log fragments between our peers only (our
    // infosenders never send it): an info file in it is not one of ours.
    if (!comp || *comp == wire::compression::zstd)
      return {std::string{wire::info_status::refused},
              "unknown compression '" + j.body.comp.substr(0, 32) + "'"};
    std::string decoded;
    std::string_view payload;
    if (j.msg.has_blob() && j.msg.blob->size() > 0) {
      payload = j.msg.blob->view();
    } else {
      auto bytes = wire::base64_decode(j.body.data);
      if (!bytes)
        return {std::string{wire::info_status::refused},
                "data: " + describe(bytes.error())};
      decoded = std::move(*bytes);
      payload = decoded;
    }
    return files->write(j.dest, wire::infofile_mtime_ns(j.body), payload, *comp);
  }

  void count_and_log(const job& j, const outcome& o) {
    const auto& s = o.status;
    if (s == wire::info_status::ok) {
      stats->written += 1;
      stats->bytes_written += static_cast<int64_t>(o.bytes);
      if (o.backup)
        stats->backups += 1;
      log::debug(who, "wrote " + j.dest + " (" + std::to_string(o.bytes) + " bytes)");
      return;
    }
    if (s == wire::info_status::skipped) {
      stats->skipped += 1;
      log::debug(who, "skipped " + j.dest + ": " + o.reason);
      return;
    }
    (s == wire::info_status::refused ? stats->refused : stats->errors) += 1;
    // One line per sender and file per 10 s: a sender retrying a failing
    // write must not flood the log.
    auto key = j.body.hdr.hostname + '\n' + j.body.filename;
    if (auto n = trouble_log.admit(key, log_limiter::clock::now()))
      log::warning(who, std::string{s == wire::info_status::refused
                                      ? "refused "
                                      : "cannot write now "} +
                          printable_type(j.body.filename) + " from " +
                          printable_type(j.body.hdr.hostname) + ": " + o.reason +
                          (*n > 0 ? " (" + std::to_string(*n) + " more such lines)"
                                  : std::string{}));
  }
};

caf::behavior info_worker(caf::stateful_actor<worker_state>* self,
                          std::string who, std::string dstdir,
                          store_options opts, std::string hostname,
                          counters_ptr stats, router_actor router) {
  name_this_thread("cc-info-worker"); // detached: its own thread
  auto& st = self->state;
  st.who = std::move(who);
  st.hostname = std::move(hostname);
  st.router = std::move(router);
  st.stats = std::move(stats);
  st.dstdir_fd = ::open(dstdir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (st.dstdir_fd < 0) {
    auto err = make_error(errc::io, dstdir + ": " + errno_text(errno));
    log::error(st.who, describe(err));
    self->quit(err);
    return {};
  }
  st.files = std::make_unique<store>(st.dstdir_fd, std::move(opts));
  return {
    [self](dispatch_atom, const job_ptr& j) {
      auto& st = self->state;
      auto o = st.handle(*j);
      st.count_and_log(*j, o);
      if (j->body.ack && st.router) {
        self->send(st.router, reply_atom::value, make_ack(*j, o, st.hostname));
        st.stats->acks_sent += 1;
      }
      return ok_atom::value;
    },
  };
}

} // namespace

} // namespace info

namespace {

struct infowriter_state {
  infowriter_config cfg;
  std::vector<caf::actor> workers;
  std::shared_ptr<info::writer_counters> stats;
  source_key_limit copies_per_host;
  log_limiter limit_log{std::chrono::seconds{10}, 256};
  host_binding_check host_check{"infowriter"}; // keys bound to host names
  router_actor router;                           // for `denied` acks
  static inline const char* name = "infowriter";

  /// Parses and checks one message: a job for a worker (without its
  /// destination yet), or why not.
  caf::expected<std::shared_ptr<info::job>> prepare(wire::cc_message&& msg);
  /// Sets the job's destination, or why there is none (the path, the
  /// per-host bound).
  void place(info::job& j);
};

caf::expected<std::shared_ptr<info::job>>
infowriter_state::prepare(wire::cc_message&& msg) {
  auto body = wire::parse_infofile(msg.body);
  if (!body)
    return std::move(body.error());
  if (auto err = wire::check_req(body->hdr, msg.type))
    return err;
  if (auto err = tw::check_received_blob(msg, body->hdr))
    return err;
  auto j = std::make_shared<info::job>();
  j->body = std::move(*body);
  j->msg = std::move(msg);
  j->msg.body.clear(); // parsed; the worker needs the route and the blob
  return j;
}

void infowriter_state::place(info::job& j) {
  const auto& host = j.body.hdr.hostname;
  auto comp = wire::parse_compression(j.body.comp).value_or(wire::compression::none);
  auto name = info::name_for_mode(j.body.filename, cfg.store, comp);
  auto dest = tw::normalize_destination(tw::expand_dstmask(cfg.dstmask, host, name));
  if (!dest) {
    j.dest_error = std::move(dest.error());
  } else if (!copies_per_host.admit(host, *dest, source_key_limit::clock::now())) {
    stats->too_many_files += 1;
    auto why = "host '" + printable_type(host) + "' already writes " +
               std::to_string(cfg.max_files_per_host) +
               " copies (max-files-per-host): " + printable_type(*dest) + " refused";
    if (auto n = limit_log.admit(host, log_limiter::clock::now()))
      log::warning(cfg.section, why + (*n > 0 ? " (and " + std::to_string(*n) +
                                                  " more since the last line)"
                                              : std::string{}));
    j.dest_error = make_error(errc::path_refused, why);
  } else {
    j.dest = std::move(*dest);
  }
}

/// Keys bound to host names: a file claiming a host its sender's key may not
/// write is not taken (counted and logged by the check); the sender is
/// answered `denied` and sends it again later.
bool refuse_foreign_host(caf::stateful_actor<infowriter_state>* self,
                         const info::job& j) {
  auto& st = self->state;
  auto why = st.host_check.refuse(j.msg.peer, j.body.hdr.hostname, j.msg.type,
                                  j.body.filename);
  if (!why)
    return false;
  if (j.body.ack && st.router) {
    info::outcome o{std::string{wire::info_status::denied}, std::move(*why)};
    self->send(st.router, reply_atom::value, info::make_ack(j, o, st.cfg.hostname));
    st.stats->acks_sent += 1;
  }
  return true;
}

caf::behavior infowriter_behavior(caf::stateful_actor<infowriter_state>* self,
                                  infowriter_config cfg, router_actor router) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.stats = std::make_shared<info::writer_counters>();
  st.copies_per_host.max_per_host = std::max<size_t>(1, st.cfg.max_files_per_host);
  st.host_check = host_binding_check{st.cfg.section};
  st.router = router;
  auto n = std::max<size_t>(1, st.cfg.worker_threads);
  for (size_t i = 0; i < n; ++i) {
    auto worker = self->system().spawn<caf::detached>(
      info::info_worker, st.cfg.section + ".worker-" + std::to_string(i),
      st.cfg.dstdir, st.cfg.store, st.cfg.hostname, st.stats, router);
    self->link_to(worker);
    st.workers.push_back(worker);
  }
  log::info(st.cfg.section,
            "writing info files to " + st.cfg.dstdir + " (dstmask " + st.cfg.dstmask +
              ", write-compressed " + tw::to_string(st.cfg.store.mode) +
              (st.cfg.store.bakext.empty() ? std::string{}
                                           : ", bakext " + st.cfg.store.bakext) +
              ", " + std::to_string(n) + " workers)");
  return {
    [self](dispatch_atom, wire::cc_message& msg) -> caf::result<ok_atom> {
      auto& st = self->state;
      st.stats->files += 1;
      auto j = st.prepare(std::move(msg));
      if (!j) {
        st.stats->invalid += 1;
        log::warning(st.cfg.section, "dropped an invalid message: " +
                                       describe(j.error()));
        return std::move(j.error());
      }
      if (refuse_foreign_host(self, **j))
        return ok_atom::value;
      st.place(**j);
      // One copy, one worker: writes of a copy never overlap.
      const auto& key = (*j)->dest.empty()
                          ? (*j)->body.hdr.hostname + '\n' + (*j)->body.filename
                          : (*j)->dest;
      auto& worker = st.workers[cc::fnv1a64(key) % st.workers.size()];
      auto rp = self->make_response_promise();
      rp.delegate(worker, dispatch_atom::value, info::job_ptr{std::move(*j)});
      return rp;
    },
    [self](stats_atom) {
      auto out = self->state.stats->snapshot();
      out["host_denied"] = self->state.host_check.denied();
      return out;
    },
  };
}

} // namespace

namespace {

void read_config(infowriter_config& c, const config::reader& r) {
  c.dstdir = r.file("dstdir");
  c.dstmask = r.str("dstmask");
  if (c.dstmask.empty())
    c.dstmask = config::default_dstmask(r.boolean("host-subdirs"));
  info::read_store_options(c.store, r);
  c.worker_threads = static_cast<size_t>(r.integer("worker-threads"));
  c.max_files_per_host = static_cast<size_t>(r.integer("max-files-per-host"));
}

} // namespace

infowriter_config::infowriter_config() {
  read_config(*this, config::reader::defaults("infowriter"));
}

caf::expected<infowriter_config>
infowriter_config_from(const config::section& sec, const std::string& hostname) {
  infowriter_config c;
  read_config(c, config::reader{sec});
  c.section = sec.name;
  if (auto err = tw::validate_dstmask(c.dstmask))
    return make_error(errc::config_invalid, sec.name + ": " + describe(err));
  c.hostname = hostname.empty() ? wire::short_hostname() : hostname;
  return c;
}

caf::expected<caf::actor> spawn_infowriter_actor(caf::actor_system& sys,
                                                 infowriter_config cfg,
                                                 router_actor router) {
  if (cfg.dstdir.empty())
    return make_error(errc::config_invalid, cfg.section + ": dstdir: empty");
  cfg.dstdir = absolute(cfg.dstdir);
  if (auto err = tw::make_directories(cfg.dstdir, 0755))
    return make_error(errc::io, cfg.section + ": dstdir: " + describe(err));
  return sys.spawn(infowriter_behavior, std::move(cfg), std::move(router));
}

caf::expected<caf::actor> spawn_infowriter_handler(spawn_context ctx,
                                                   const config::section& sec) {
  auto cfg = infowriter_config_from(sec, ctx.cfg.host_name);
  if (!cfg)
    return std::move(cfg.error());
  return spawn_infowriter_actor(ctx.sys, std::move(*cfg), ctx.router);
}

} // namespace cc
