// spawn_handler: the one place that maps a handler section's schema kind to
// the actor that implements it (declarations: actors/spawn.hpp).
#include "actors/spawn.hpp"

#include "actors/core/ack_caps.hpp"
#include "actors/core/echo.hpp"
#include "actors/core/jobmgr.hpp"
#include "actors/core/locallogger.hpp"
#include "actors/link/forwarder.hpp"
#include "actors/tail/ack_progress.hpp"
#include "actors/tail/infosender.hpp"
#include "actors/tail/tailer.hpp"
#include "actors/write/infowriter.hpp"
#include "actors/write/tailwriter.hpp"
#include "base/error.hpp"

namespace cc {

caf::actor spawn_jobmgr(spawn_context ctx, const config::section& sec) {
  // The jobmgr builds its daemons from the configuration long after its
  // start (restarts), also after a reload has replaced it: it keeps the
  // loaded configuration alive (a copy only where nothing shares it).
  auto cfg = ctx.shared_cfg
               ? ctx.shared_cfg
               : std::make_shared<const config::server_config>(ctx.cfg);
  auto* sys = &ctx.sys;
  auto router = ctx.router;
  auto acks = ctx.acks;
  auto lanes = ctx.lanes;
  daemon_factory factory =
    [cfg, sys, router, acks, lanes](const std::string& name) -> caf::expected<caf::actor> {
    auto i = cfg->daemons.find(name);
    if (i == cfg->daemons.end())
      return make_error(errc::config_invalid,
                        "no daemon section [" + name + "] in " + cfg->file);
    const auto& sec = i->second;
    if (sec.kind == "infosender")
      return spawn_infosender_daemon(*sys, *cfg, sec, router, acks);
    if (sec.kind != "logtail")
      return make_error(errc::config_invalid,
                        cfg->file + ":" + name + ": unknown daemon kind " +
                          sec.kind);
    auto opts = make_tailer_options(sec);
    if (!opts)
      return opts.error();
    opts->auto_acks = auto_ack_view(sec, *cfg, opts->msg_type, acks);
    opts->zstd_peers = zstd_view_for(sec, *cfg, opts->msg_type, acks);
    opts->data_lanes = data_view_for(sec, *cfg, opts->msg_type, acks);
    opts->lanes = lanes;
    opts->ack_clock = tail::ack_progress::shared(opts->msg_type, opts->ack_timeout);
    // A compressing tailer spends a core's worth of CPU on gzip at full
    // speed: on its own thread it runs beside the router instead of taking
    // turns with it on the one scheduler thread (ours-gzip 21-28 against
    // 37-47 MB/s scheduled, bench/run.sh --only ours --size 268435456).
    auto where = opts->comp == wire::compression::none ? tailer_thread::scheduled
                                                       : tailer_thread::detached;
    return spawn_tailer_actor(*sys, std::move(*opts), router, where);
  };
  jobmgr_options opts;
  opts.name = sec.name;
  auto mgr_watchdog = make_watchdog_options(sec);
  std::vector<daemon_spec> daemons;
  for (auto& name : sec.list("daemons")) {
    auto i = cfg->daemons.find(name);
    daemons.push_back(
      {name, i == cfg->daemons.end()
               ? mgr_watchdog
               : make_watchdog_options(i->second, mgr_watchdog)});
  }
  return spawn_jobmgr_with(ctx.sys, std::move(opts), std::move(daemons),
                           std::move(factory));
}


caf::expected<caf::actor> spawn_handler(spawn_context ctx,
                                        const config::section& sec) {
  if (sec.kind == "locallogger")
    return spawn_locallogger(ctx, sec);
  if (sec.kind == "echo")
    return spawn_echo(ctx, sec);
  if (sec.kind == "proxy") {
    // Known before any sender asks (the forwarder's own thread registers it
    // too, later): a tailer started before that must wait, not take the
    // route for one without a writer and tail -f.
    if (ctx.acks)
      ctx.acks->set_forwarder(sec.name, peer_acks::unknown);
    return spawn_forwarder(ctx, sec);
  }
  if (sec.kind == "jobmgr")
    return spawn_jobmgr(ctx, sec);
  // Our writers acknowledge: what this server says in its echo answers and
  // what senders with ack = auto of this process go by.
  if ((sec.kind == "tailwriter" || sec.kind == "infowriter") && ctx.acks)
    ctx.acks->add_writer(sec.name);
  if (sec.kind == "tailwriter")
    return spawn_tailwriter_handler(ctx, sec);
  if (sec.kind == "infowriter")
    return spawn_infowriter_handler(ctx, sec);
  return make_error(errc::config_invalid,
                    sec.name + ": unknown handler type '" + sec.kind + "'");
}

} // namespace cc
