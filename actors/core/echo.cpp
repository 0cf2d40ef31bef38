#include "actors/core/echo.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "base/error.hpp"
#include "base/logger.hpp"
#include "wire/bodies.hpp"

namespace cc {

caf::expected<wire::cc_message>
make_echo_response(const wire::cc_message& request,
                   const std::string& our_hostname,
                   const ack_registry* acks) {
  auto req = wire::parse_echo(request.body);
  if (!req)
    return std::move(req.error());
  wire::echo_body rsp;
  rsp.hdr.req = "echo.response";
  rsp.hdr.time = wire::now_seconds();
  rsp.hdr.hostname = our_hostname;
  rsp.target = req->target;
  rsp.orig_hostname = req->hdr.hostname;
  rsp.orig_target = req->target;
  rsp.orig_time = req->hdr.time;
  rsp.acks = acks != nullptr && acks->advertises();
  rsp.zstd = acks != nullptr && acks->advertises_zstd();
  if (int port = acks != nullptr ? acks->data_port() : 0; port > 0)
    rsp.data_port = port;
  wire::cc_message out;
  out.route = request.route;
  out.type = "echo.response";
  out.body = wire::make_body(rsp);
  return out;
}

caf::optional<wire::cc_message> echo_state::handle(const wire::cc_message& msg) {
  if (msg.type != "echo.request") {
    ++other;
    log::info(who, "not an echo.request, dropped: " + msg.type.substr(0, 64));
    return caf::none;
  }
  auto rsp = make_echo_response(msg, hostname, acks.get());
  if (!rsp) {
    ++malformed;
    log::warning(who, "malformed echo.request dropped: " + describe(rsp.error()));
    return caf::none;
  }
  ++requests;
  return std::move(*rsp);
}

counters echo_state::stats() const {
  return {{"requests", requests}, {"malformed", malformed}, {"other", other}};
}

namespace {

caf::behavior echo_actor(caf::stateful_actor<echo_state>* self, std::string who,
                         std::string hostname, router_actor router,
                         ack_registry_ptr acks) {
  self->state.who = std::move(who);
  self->state.hostname = std::move(hostname);
  self->state.router = std::move(router);
  self->state.acks = std::move(acks);
  return {
    [=](dispatch_atom, const wire::cc_message& msg) {
      if (auto rsp = self->state.handle(msg))
        self->send(self->state.router, reply_atom::value, std::move(*rsp));
      return ok_atom::value;
    },
    [=](stats_atom) { return self->state.stats(); },
  };
}

} // namespace

caf::actor spawn_echo(spawn_context ctx, const config::section& sec) {
  return ctx.sys.spawn(echo_actor, sec.name, ctx.cfg.host_name, ctx.router,
                       ctx.acks);
}

} // namespace cc
