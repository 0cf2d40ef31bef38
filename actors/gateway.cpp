#include "actors/gateway.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/logger.hpp"
#include "actors/zmq_transport.hpp"
#include "config/error.hpp"

namespace cc {

void gateway_inbox::on_frames(std::vector<std::string>&& frames) {
  auto msg = wire::parse(std::move(frames));
  if (!msg) {
    ++invalid;
    std::lock_guard<std::mutex> guard{mtx};
    if (auto suppressed = invalid_log.admit("invalid", log_limiter::clock::now()))
      log::warning("gateway",
                   "invalid message dropped: " + describe(msg.error()) +
                     (*suppressed > 0 ? " (and " + std::to_string(*suppressed) +
                                          " more since the last line)"
                                      : std::string{}));
    return;
  }
  std::lock_guard<std::mutex> guard{mtx};
  if (!router) {
    held.push_back(std::move(*msg));
    return;
  }
  ++dispatched;
  caf::anon_send(router, dispatch_atom::value, std::move(*msg));
}

void gateway_inbox::set_router(caf::actor r) {
  std::lock_guard<std::mutex> guard{mtx};
  router = std::move(r);
  if (!router)
    return;
  for (auto& msg : held) {
    ++dispatched;
    caf::anon_send(router, dispatch_atom::value, std::move(msg));
  }
  held.clear();
}

gateway_state::~gateway_state() {
  if (socket)
    socket->stop();
  if (inbox)
    inbox->set_router(caf::actor{}); // drop the router handle with us
}

void gateway_state::send(wire::cc_message msg) {
  socket->send(std::move(msg));
}

counters gateway_state::stats() const {
  const auto& c = socket->counters();
  return {
    {"received", c.received.load()},
    {"dispatched", inbox->dispatched.load()},
    {"invalid", inbox->invalid.load()},
    {"sent", c.sent.load()},
    {"bytes_in", c.bytes_in.load()},
    {"bytes_out", c.bytes_out.load()},
    {"queued_bytes", c.queued_bytes.load()},
    {"unroutable", c.unroutable.load()},
    {"dropped", c.dropped.load()},
  };
}

namespace {

caf::behavior gateway_actor(caf::stateful_actor<gateway_state>* self,
                            std::shared_ptr<zmq_socket_thread> socket,
                            std::shared_ptr<gateway_inbox> inbox) {
  self->state.socket = std::move(socket);
  self->state.inbox = std::move(inbox);
  return {
    [=](reply_atom, wire::cc_message& msg) {
      self->state.send(std::move(msg));
    },
    [=](router_atom, caf::actor& r) -> ok_atom {
      bool paused = !r;
      self->state.inbox->set_router(std::move(r));
      self->state.socket->set_reading(!paused);
      return ok_atom::value;
    },
    [=](stats_atom) -> counters { return self->state.stats(); },
  };
}

} // namespace

caf::expected<caf::actor> spawn_gateway(caf::actor_system& sys,
                                        const config::section& main,
                                        caf::actor router) {
  auto endpoint = main.str("cc-socket");
  auto inbox = std::make_shared<gateway_inbox>();
  inbox->router = std::move(router);
  zmq_socket_thread::events ev;
  ev.on_frames = [inbox](std::vector<std::string>&& frames) {
    inbox->on_frames(std::move(frames));
  };
  auto socket = std::make_shared<zmq_socket_thread>(
    zmq_socket_thread::role::router_bind, endpoint, zmq_options_of(main),
    std::move(ev), "gateway");
  // Without a router yet (a reload binding a new endpoint), incoming
  // messages wait in ZeroMQ's queue rather than in memory of ours.
  if (!inbox->router)
    socket->set_reading(false);
  if (auto err = socket->start())
    return err;
  log::info("gateway", "listening on " + endpoint);
  // Detached: on exit the state's destructor joins the socket thread, which
  // may take up to zmq_linger; that must not hold a scheduler thread.
  return sys.spawn<caf::detached>(gateway_actor, std::move(socket),
                                  std::move(inbox));
}

} // namespace cc
