// spawn_handler: the one place that maps a handler section's schema kind to
// the actor that implements it (declarations: actors/spawn.hpp).
#include "actors/spawn.hpp"

#include "actors/ack_caps.hpp"
#include "actors/echo.hpp"
#include "actors/infowriter.hpp"
#include "actors/tailwriter.hpp"
#include "config/error.hpp"

namespace cc {

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
