#include "actors/link/gateway.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/link/curve_keys.hpp"
#include "actors/link/data_frame.hpp"
#include "actors/link/data_link.hpp"
#include "actors/link/zap.hpp"
#include "actors/link/zmq_transport.hpp"
#include "base/error.hpp"
#include "base/io_loop.hpp"
#include "base/logger.hpp"
#include "config/reader.hpp"

namespace cc {

void gateway_inbox::on_frames(std::vector<std::string>&& frames, wire::blob_ptr&& last,
                              wire::peer_ptr&& peer, bool direct) {
  auto msg = wire::parse(std::move(frames), std::move(last));
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
  msg->peer = std::move(peer);
  std::lock_guard<std::mutex> guard{mtx};
  if (!router) {
    held.push_back(std::move(*msg));
    held_direct.push_back(direct);
    return;
  }
  forward(std::move(*msg), direct);
}

void gateway_inbox::forward(wire::cc_message&& msg, bool direct) {
  ++dispatched;
  auto bytes = static_cast<int64_t>(msg.wire_size());
  if ((in_flight_bytes += bytes) > in_flight_budget && socket != nullptr && pause()) {
    if (auto n = invalid_log.admit("throttled", log_limiter::clock::now()))
      log::info("gateway", "reading paused: " +
                             std::to_string(in_flight_bytes.load()) +
                             " bytes handed to the router and not yet taken "
                             "(budget " + std::to_string(in_flight_budget) +
                             "); ZeroMQ's queues hold the rest" +
                             (*n > 0 ? " (" + std::to_string(*n) +
                                         " more pauses since the last line)"
                                     : std::string{}));
  }
  // Straight to the router, from this thread: no hop through the gateway
  // actor, and no answer back to anyone. The receipt does the accounting:
  // the router drops it once every handler answered (or at once when none
  // takes the message).
  msg.receipt = wire::make_receipt(
    [inbox = shared_from_this(), bytes] { inbox->on_answered(bytes); });
  // A data connection's fragment: from this thread straight to the worker
  // when its handler has a door (the receipt then travels with it, so the
  // budget also holds what waits at the worker).
  if (direct && lanes && lanes->take(msg))
    return;
  caf::anon_send(router, dispatch_atom::value, std::move(msg));
}

bool gateway_inbox::pause() {
  std::lock_guard<std::mutex> guard{pause_mtx};
  // Checked again under the lock: an answer that came meanwhile saw no
  // pause to end.
  if (paused || in_flight_bytes <= in_flight_budget)
    return false;
  ++throttled;
  paused = true;
  socket->set_throttled(true);
  return true;
}

void gateway_inbox::on_answered(int64_t bytes) {
  if ((in_flight_bytes -= bytes) > in_flight_budget / 2)
    return;
  std::lock_guard<std::mutex> guard{pause_mtx};
  if (paused && in_flight_bytes <= in_flight_budget / 2) {
    paused = false;
    if (socket != nullptr)
      socket->set_throttled(false);
  }
}

void gateway_inbox::set_router(router_actor r) {
  std::lock_guard<std::mutex> guard{mtx};
  router = std::move(r);
  if (!router)
    return;
  for (size_t i = 0; i < held.size(); ++i)
    forward(std::move(held[i]), held_direct[i]);
  held.clear();
  held_direct.clear();
}

void gateway_inbox::detach_socket() {
  std::lock_guard<std::mutex> guard{mtx};
  std::lock_guard<std::mutex> pause_guard{pause_mtx};
  router = nullptr;  // drop the router handle with the gateway
  socket = nullptr;
}

gateway_state::~gateway_state() {
  stop_data();
  if (socket)
    socket->stop();
  if (inbox)
    inbox->detach_socket();
}

void gateway_state::stop_data() {
  if (!data)
    return;
  int mine = data->port();
  if (data_offer) // a reload's new gateway may have published its own
    data_offer->compare_exchange_strong(mine, 0);
  if (lanes)
    lanes->set_reply_path({}, data.get());
  data->stop(); // closed now, whoever else still holds it
  data.reset();
}

void gateway_state::send(wire::cc_message msg) {
  if (data && data->send(msg))
    return; // its peer's data connection is open: the reply goes there
  socket->send(std::move(msg));
}

counters gateway_state::stats() const {
  const auto& c = socket->counters();
  counters out{
    {"received", c.received.load()},
    {"dispatched", inbox->dispatched.load()},
    {"invalid", inbox->invalid.load()},
    {"sent", c.sent.load()},
    {"bytes_in", c.bytes_in.load()},
    {"bytes_out", c.bytes_out.load()},
    {"queued_bytes", c.queued_bytes.load()},
    {"unroutable", c.unroutable.load()},
    {"dropped", c.dropped.load()},
    {"oversize", c.oversize.load()},
    {"disconnects", c.disconnects.load()},
    {"handshake_failed", c.handshake_failed.load()},
    {"in_flight_bytes", inbox->in_flight_bytes.load()},
    {"throttled", inbox->throttled.load()},
  };
  if (data) {
    data->add_stats(out);
    if (lanes) {
      out["data_direct"] = lanes->taken();
      out["data_direct_replies"] = lanes->replies();
    }
  }
  if (zap) {
    out["curve_accepted"] = zap->accepted.load();
    out["curve_refused"] = zap->refused.load() + zap->malformed.load();
    out["delisted_dropped"] = c.not_admitted.load();
    out["allowed_keys"] = static_cast<int64_t>(zap->allowed_count());
    out["bound_keys"] = static_cast<int64_t>(zap->bound_count());
  }
  return out;
}

namespace {

const std::string main_section = "[ccserver]";

} // namespace

caf::error gateway_state::reload(const std::string& secret_key_path,
                                 const std::string& allowed_keys_path) {
  if (secret_key_path != this->secret_key_path)
    log::warning("gateway", "curve-secret-key changed from '" +
                              this->secret_key_path + "' to '" +
                              secret_key_path +
                              "': takes effect at the next restart");
  if (!zap)
    return caf::none;
  auto keys = curve::read_allow_list(allowed_keys_path,
                                     main_section + " curve-allowed-keys");
  if (!keys) {
    log::error("gateway", "reload: " + describe(keys.error()) +
                            "; keeping the previous allow-list");
    return std::move(keys.error());
  }
  auto count = keys->size();
  auto bound = curve::bound_count(*keys);
  auto removed = zap->set_allowed(std::move(*keys));
  this->allowed_keys_path = allowed_keys_path;
  log::info("gateway", "allow-list reloaded from " + allowed_keys_path + ": " +
                         std::to_string(count) + " keys (" + std::to_string(bound) +
                         " bound to host names), " + std::to_string(removed) +
                         " removed (their messages are dropped from now on); "
                         "bindings apply to messages read from now on");
  return caf::none;
}

caf::error load_gateway_keys(zmq_options& o, curve::allow_list& allowed) {
  bool has_secret = !o.curve_secret_key_file.empty();
  bool has_list = !o.curve_allowed_keys_file.empty();
  if (!has_secret && !has_list)
    return caf::none;
  if (!has_secret)
    return make_error(errc::config_invalid,
                      main_section + " curve-allowed-keys: needs "
                                     "curve-secret-key (CURVE is off without it)");
  if (!has_list)
    return make_error(errc::config_invalid,
                      main_section + " curve-secret-key: needs curve-allowed-keys "
                                     "(the client keys let in)");
  if (!curve::available())
    return make_error(errc::config_invalid,
                      main_section + " curve-secret-key: this libzmq has no "
                                     "CURVE support");
  auto secret = curve::read_secret_file(o.curve_secret_key_file,
                                        main_section + " curve-secret-key");
  if (!secret)
    return std::move(secret.error());
  auto keys = curve::read_allow_list(o.curve_allowed_keys_file,
                                     main_section + " curve-allowed-keys");
  if (!keys)
    return std::move(keys.error());
  auto pub = curve::public_of(*secret);
  if (!pub)
    return std::move(pub.error());
  o.curve_secret = std::move(*secret);
  o.curve_public = std::move(*pub);
  allowed = std::move(*keys);
  return caf::none;
}

namespace {

using gateway_actor_t = caf::stateful_actor<gateway_state>;

// The socket drains (within zmq_linger) and closes on the loop thread; the
// actor quits when it is done (closed_atom), so whoever waits for the
// gateway's down message still finds the socket closed then, and no thread
// of CAF's waits meanwhile.
void stop_socket(gateway_actor_t* self, const caf::error& reason) {
  auto& st = self->state;
  if (st.stopping)
    return;
  st.stopping = true;
  st.exit_reason = reason;
  st.stop_data();
  st.socket->stop_async([addr = self->address()] {
    if (auto gw = caf::actor_cast<caf::actor>(addr))
      caf::anon_send(gw, closed_atom::value);
  });
}

caf::behavior gateway_actor(gateway_actor_t* self,
                            std::shared_ptr<zmq_socket_loop> socket,
                            std::shared_ptr<gateway_inbox> inbox,
                            zmq_options opts,
                            std::shared_ptr<data_listener> data,
                            std::shared_ptr<std::atomic<int>> data_offer,
                            direct_lanes_ptr lanes) {
  self->state.data = std::move(data);
  self->state.data_offer = std::move(data_offer);
  self->state.lanes = std::move(lanes);
  self->state.socket = std::move(socket);
  self->state.inbox = std::move(inbox);
  self->state.zap = opts.zap;
  self->state.secret_key_path = opts.curve_secret_key_file;
  self->state.allowed_keys_path = opts.curve_allowed_keys_file;
  self->set_exit_handler([self](caf::exit_msg& msg) { stop_socket(self, msg.reason); });
  return {
    [=](reply_atom, wire::cc_message& msg) {
      if (!self->state.stopping) // as if gone: the socket is draining
        self->state.send(std::move(msg));
    },
    [=](closed_atom) {
      self->state.socket->stop(); // closed already: returns at once
      self->quit(self->state.exit_reason);
    },
    [=](router_atom, caf::actor& r) -> ok_atom {
      bool paused = !r;
      // Under the inbox's lock: once this returns, the loop thread sends
      // nothing more to the old router, and what it sent before is already
      // in that router's mailbox, so a reload's round trip through that
      // router finds it there first.
      self->state.inbox->set_router(caf::actor_cast<router_actor>(std::move(r)));
      self->state.socket->set_reading(!paused);
      return ok_atom::value;
    },
    [=](stats_atom) -> counters { return self->state.stats(); },
    [=](reload_atom, const std::string& secret,
        const std::string& allowed) -> caf::result<ok_atom> {
      if (auto err = self->state.reload(secret, allowed))
        return err;
      return ok_atom::value;
    },
  };
}

} // namespace

namespace {

// The data port beside cc-socket (plain TCP: never where CURVE is on),
// published in `offer` for the echo answers; null where there is none.
caf::expected<std::shared_ptr<data_listener>>
open_data_port(const config::section& main, const zmq_options& opts,
               const std::shared_ptr<gateway_inbox>& inbox,
               const std::shared_ptr<std::atomic<int>>& offer,
               const direct_lanes_ptr& lanes) {
  if (!offer)
    return std::shared_ptr<data_listener>{};
  auto endpoint = main.str("cc-socket");
  auto port = config::reader{main}.integer("data-port");
  // A local server's gateway serves its own daemons and tools, which never
  // open data connections: no port there.
  if (port < 0 || !opts.curve_secret.empty() || endpoint.rfind("tcp://", 0) != 0 ||
      main.str("cc-role") == "local")
    return std::shared_ptr<data_listener>{};
  inbox->lanes = lanes; // before the port opens: its messages may take the lane
  data_listener::events ev;
  ev.on_frames = [inbox](std::vector<std::string>&& frames, wire::blob_ptr&& blob) {
    inbox->on_frames(std::move(frames), std::move(blob), nullptr, true);
  };
  ev.paused = [inbox] { return inbox->paused.load(); };
  ev.fallback = [socket = inbox->socket](wire::cc_message msg) {
    socket->send(std::move(msg));
  };
  auto max_blob = opts.max_message_size > 0
                    ? static_cast<uint64_t>(opts.max_message_size)
                    : data_frame::default_max_blob;
  // The receive buffers kept free: one in-flight budget's worth (reading
  // pauses past it, so that much is what a burst uses) and the message
  // read past it; receive_pool.hpp.
  auto pool = receive_pool::make(static_cast<size_t>(inbox->in_flight_budget) +
                                 receive_pool::max_pooled);
  auto made = data_listener::start(io_loop::shared(opts.io_threads),
                                   tcp_host_of(endpoint).value_or("*"),
                                   static_cast<int>(port), max_blob, std::move(ev),
                                   std::move(pool));
  if (!made)
    return std::move(made.error());
  std::shared_ptr<data_listener> listener{std::move(*made)};
  // Replies to a data connection's peer may skip the router and the
  // gateway actor: a writer's worker hands them to the connection itself.
  if (lanes)
    lanes->set_reply_path(
      [weak = std::weak_ptr<data_listener>{listener}](wire::cc_message& msg) {
        auto alive = weak.lock();
        return alive && alive->send(msg);
      },
      listener.get());
  offer->store(listener->port());
  log::info("gateway", "data connections for pub.logtail on port " +
                         std::to_string(listener->port()) +
                         " (plain TCP, offered in echo answers: data-port)");
  return listener;
}

} // namespace

caf::expected<caf::actor> spawn_gateway(caf::actor_system& sys,
                                        const config::section& main,
                                        router_actor router,
                                        std::shared_ptr<std::atomic<int>> data_offer,
                                        direct_lanes_ptr lanes) {
  auto endpoint = main.str("cc-socket");
  auto opts = zmq_options_of(main);
  curve::allow_list allowed;
  if (auto err = load_gateway_keys(opts, allowed))
    return err;
  const bool curve_on = !opts.curve_secret.empty();
  if (!curve_on && curve::reachable_from_outside(endpoint))
    log::warning("gateway", endpoint + " is reachable from other hosts and "
                              "not encrypted: anyone who can connect may send "
                              "messages (set curve-secret-key and "
                              "curve-allowed-keys, docs/security.md)");
  auto inbox = std::make_shared<gateway_inbox>();
  inbox->router = std::move(router);
  zmq_socket_loop::events ev;
  ev.on_frames = [inbox](std::vector<std::string>&& frames, wire::blob_ptr&& last,
                         wire::peer_ptr&& peer) {
    inbox->on_frames(std::move(frames), std::move(last), std::move(peer));
  };
  // Refusals are logged once per peer (key and address) per hour; the
  // counters count every one. Both run on the loop thread only.
  auto refusal_log = std::make_shared<log_limiter>(std::chrono::hours{1}, 4096);
  ev.on_handshake_failed = [refusal_log](const std::string& why,
                                         const std::string& address) {
    auto peer = address.empty() ? std::string{"an unknown address"} : address;
    if (auto n = refusal_log->admit("hs\n" + peer, log_limiter::clock::now()))
      log::warning("gateway", "refused a connection from " + peer + ": " + why +
                                (*n > 0 ? " (" + std::to_string(*n) +
                                            " more since the last line)"
                                        : std::string{}));
  };
  if (curve_on) {
    opts.zap = std::make_shared<zap_handler>(std::move(allowed), "gateway");
    ev.admit = [zap = opts.zap, refusal_log](const std::string& user_id,
                                             const std::string& address) {
      if (auto peer = zap->identity_of(user_id))
        return peer;
      if (auto n = refusal_log->admit("del\n" + user_id + "\n" + address,
                                      log_limiter::clock::now()))
        log::warning("gateway",
                     "dropped a message of client key " + user_id + " from " +
                       address + ": no longer in curve-allowed-keys" +
                       (*n > 0 ? " (" + std::to_string(*n) +
                                   " more since the last line)"
                               : std::string{}));
      return wire::peer_ptr{};
    };
  }
  auto socket = std::make_shared<zmq_socket_loop>(
    zmq_socket_loop::role::router_bind, endpoint, opts, std::move(ev),
    "gateway");
  // A message bigger than the budget still passes, alone: the check comes
  // after it was handed over.
  inbox->socket = socket.get();
  // Without a router yet (a reload binding a new endpoint), incoming
  // messages wait in ZeroMQ's queue rather than in memory of ours.
  if (!inbox->router)
    socket->set_reading(false);
  if (auto err = socket->start())
    return err;
  auto data = open_data_port(main, opts, inbox, data_offer, lanes);
  if (!data)
    return std::move(data.error());
  log::info("gateway", "listening on " + endpoint +
                        (curve_on ? " (CURVE, server key " +
                                      curve::encode(opts.curve_public) + ", " +
                                      std::to_string(opts.zap->allowed_count()) +
                                      " client keys allowed, " +
                                      std::to_string(opts.zap->bound_count()) +
                                      " of them bound to host names)"
                                  : std::string{}));
  // On CAF's scheduler: on exit the socket drains on the loop thread
  // (stop_socket); only a killed gateway waits for it in its destructor.
  return sys.spawn(gateway_actor, std::move(socket), inbox, std::move(opts),
                   std::move(*data), std::move(data_offer), std::move(lanes));
}

} // namespace cc
