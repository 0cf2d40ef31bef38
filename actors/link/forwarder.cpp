#include "actors/link/forwarder.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/router.hpp"
#include "actors/link/caf_transport.hpp"
#include "actors/link/forwarder_door.hpp"
#include "actors/link/zmq_transport.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "base/loop_jobs.hpp"
#include "base/thread_name.hpp"
#include "config/reader.hpp"
#include "wire/bodies.hpp"

namespace cc {

namespace {

/// Answers ok to the senders whose messages release() moved in.
void deliver_released(forwarder_state& st) {
  for (auto& promise : st.release())
    if (promise.pending() && !promise.async())
      promise.deliver(ok_atom::value);
}

std::string seconds_text(double s) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.3f s", s);
  return buf;
}

} // namespace

namespace {

void read_settings(forwarder_settings& s, const config::reader& r) {
  s.remote = r.str("remote-cc");
  s.queue_bytes = r.size("queue-bytes");
  // The loader has already turned the original's boolean into seconds
  // (yes = its one-second tick).
  s.ping_interval = r.seconds("ping");
  s.ping_timeout = r.seconds("ping-timeout");
}

} // namespace

forwarder_settings::forwarder_settings() {
  read_settings(*this, config::reader::defaults("proxy"));
}

forwarder_settings forwarder_settings_from(const config::section& sec,
                                           const std::string& hostname) {
  forwarder_settings s;
  read_settings(s, config::reader{sec});
  s.section = sec.name;
  s.hostname = hostname;
  return s;
}

forwarder_state::~forwarder_state() {
  if (door)
    door->close();
  if (link)
    link->close();
  // Senders still waiting learn that their message was not taken.
  for (auto& [msg, promise] : waiting)
    if (promise.pending() && !promise.async())
      promise.deliver(make_error(errc::unavailable,
                                 who + ": stopped before " + msg.type +
                                   " could be queued"));
}

void forwarder_state::init(forwarder_settings s) {
  settings = std::move(s);
  who = "forwarder[" + settings.section + "]";
  host_check = host_binding_check{who};
  own_frame = wire::local_route_frame("proxy:" + settings.section);
  last_pong = last_ping = link_changed = wire::now_seconds();
}

bool forwarder_state::has_room(uint64_t size) const {
  auto queued = meter->queued.load();
  return queued == 0 || queued + size <= settings.queue_bytes;
}

bool forwarder_state::admit(wire::cc_message msg,
                            caf::response_promise promise) {
  ++received;
  auto size = msg.wire_size();
  if (waiting.empty() && has_room(size)) {
    send_now(std::move(msg));
    return true;
  }
  waiting.emplace_back(std::move(msg), std::move(promise));
  // From now on the transport's thread reports every message sent. One that
  // left between has_room and this store went unreported: the caller runs
  // release() after admit for that (base/room_meter.hpp).
  meter->waiters = true;
  return false;
}

void forwarder_state::send_now(wire::cc_message msg) {
  meter->queued += msg.wire_size();
  link->send(std::move(msg));
}

std::vector<caf::response_promise> forwarder_state::release() {
  std::vector<caf::response_promise> released;
  while (!waiting.empty() && has_room(waiting.front().first.wire_size())) {
    auto& [msg, promise] = waiting.front();
    send_now(std::move(msg));
    released.push_back(std::move(promise));
    waiting.pop_front();
  }
  if (waiting.empty())
    meter->waiters = false;
  return released;
}

std::vector<caf::response_promise> forwarder_state::on_sent(uint64_t bytes) {
  meter->record(bytes);
  return release();
}

std::pair<bool, wire::cc_message>
forwarder_state::classify(wire::cc_message msg) const {
  bool mine = !msg.route.empty() && msg.route.front() == own_frame;
  if (mine)
    msg.route.erase(msg.route.begin());
  return {mine, std::move(msg)};
}

void forwarder_state::on_pong(const wire::cc_message& msg, double now) {
  if (msg.type != "echo.response") {
    log::warning(who, "unexpected " + msg.type + " addressed to the forwarder");
    return;
  }
  auto body = wire::parse_echo(msg.body);
  if (!body) {
    ++invalid;
    log::warning(who, "bad echo.response: " + describe(body.error()));
    return;
  }
  if (body->orig_target != settings.remote) {
    log::warning(who, "pong for another target: " + body->orig_target);
    return;
  }
  ++pongs;
  last_pong = now;
  learn_acks(body->acks);
  learn_zstd(body->zstd);
  if (link)
    link->offer_data(static_cast<int>(body->data_port.value_or(0)));
  double rtt = now - body->orig_time;
  log::debug(who, "pong from " + settings.remote + ": " + seconds_text(rtt));
  if (pong_missing) {
    pong_missing = false;
    log::info(who, "pongs from " + settings.remote + " resumed (round trip " +
                     seconds_text(rtt) + ")");
  }
}

wire::cc_message forwarder_state::make_ping(double now) {
  ++pings;
  last_ping = now;
  return echo_request(now);
}

std::optional<wire::cc_message> forwarder_state::make_probe(double now) {
  if (unanswered_probes >= max_unanswered_probes)
    return std::nullopt;
  ++unanswered_probes;
  ++probes;
  if (probe_sent == 0 && connected)
    probe_sent = now;
  return echo_request(now);
}

wire::cc_message forwarder_state::echo_request(double now) const {
  wire::echo_body body;
  body.hdr.req = "echo.request";
  body.hdr.time = now;
  body.hdr.hostname = settings.hostname;
  body.target = settings.remote;
  wire::cc_message msg;
  msg.route.push_back(own_frame);
  msg.type = "echo.request";
  msg.body = wire::make_body(body);
  return msg;
}

void forwarder_state::learn_acks(std::optional<bool> advertised) {
  probe_sent = 0;
  unanswered_probes = 0;
  probe_again = advertised && !*advertised;
  auto learned = advertised && *advertised ? peer_acks::yes : peer_acks::no;
  if (learned == remote_acks)
    return;
  remote_acks = learned;
  if (acks_registry)
    acks_registry->set_forwarder(settings.section, learned);
  if (learned == peer_acks::yes)
    log::info(who, settings.remote + " acknowledges: senders with ack = auto "
                                     "wait for its acknowledgements");
  else if (advertised)
    log::info(who, settings.remote + " is a ccserver that cannot acknowledge "
                                     "now (a relay whose own remote does "
                                     "not, or not yet): senders with ack = "
                                     "auto send without waiting; asking again "
                                     "every " + seconds_text(ack_probe_again));
  else
    log::warning(who, settings.remote + " is an original CC: its echo.response "
                        "carries no 'acks', so it never acknowledges. Senders "
                        "with ack = auto send to it as with ack = no: nothing "
                        "is resent, what is in flight when the link or the "
                        "central fails is lost");
}

void forwarder_state::learn_zstd(std::optional<bool> advertised) {
  // false: a relay that may learn later (its remote not heard yet); ask
  // again as for acks. Absent: an original CC or an older ccserver, for good.
  if (advertised && !*advertised)
    probe_again = true;
  auto learned = advertised && *advertised ? peer_acks::yes : peer_acks::no;
  if (learned == remote_zstd)
    return;
  remote_zstd = learned;
  if (acks_registry)
    acks_registry->set_forwarder_zstd(settings.section, learned);
  log::info(who, settings.remote + (learned == peer_acks::yes
                                      ? " takes zstd on the wire"
                                      : " does not take zstd on the wire: "
                                        "tailers with compression = zstd "
                                        "send gzip"));
}

bool forwarder_state::on_probe_timer(double now) {
  if (probe_sent != 0 && connected && now - probe_sent >= ack_probe_timeout) {
    probe_sent = 0;
    unanswered_probes = 0;
    if (remote_acks == peer_acks::unknown) {
      remote_acks = peer_acks::no;
      if (acks_registry)
        acks_registry->set_forwarder(settings.section, peer_acks::no);
      learn_zstd(std::nullopt);
      log::warning(who, settings.remote + " did not answer an echo.request "
                          "within " + seconds_text(ack_probe_timeout) +
                          ": taken for an original CC without an echo route, "
                          "which never acknowledges. Senders with ack = auto "
                          "send to it as with ack = no: nothing is resent, "
                          "what is in flight when the link or the central "
                          "fails is lost");
    }
    return false;
  }
  return probe_again && probe_sent == 0;
}

bool forwarder_state::probe_unanswered(double now) const {
  return probe_sent != 0 && connected && remote_acks == peer_acks::unknown
         && now - probe_sent < ack_probe_timeout;
}

std::optional<std::string> forwarder_state::check_pongs(double now) {
  if (pong_missing || now - last_pong < settings.ping_timeout)
    return std::nullopt;
  pong_missing = true;
  return "no pong from " + settings.remote + " for " +
         seconds_text(now - last_pong) +
         (connected ? "" : " (not connected)");
}

void forwarder_state::on_link(bool up, const std::string& peer) {
  if (up != connected)
    link_changed = wire::now_seconds();
  connected = up;
  if (!up)
    probe_sent = 0; // only an answer-less connection that stays up counts
  // A link that flaps (a server that refuses our key drops us after each
  // handshake, ~8 times a second) logs its first reconnect and disconnect,
  // then at most one line of each per 30 s with the count in between.
  auto suffix = [](std::optional<uint64_t> n) {
    return n && *n > 0 ? " (" + std::to_string(*n) + " more since the last such line)"
                       : std::string{};
  };
  auto now = log_limiter::clock::now();
  if (up) {
    ++connects;
    if (connects == 1)
      log::info(who, "connected to " + settings.remote + " (" + peer + ")");
    else if (auto n = link_log.admit("up", now))
      log::info(who, "reconnected to " + settings.remote + " (" + peer + ")" + suffix(n));
  } else if (auto n = link_log.admit("down", now)) {
    log::warning(who, "disconnected from " + settings.remote + " (" + peer +
                        "); the transport reconnects by itself" + suffix(n));
  }
}

counters forwarder_state::stats() const {
  auto now = wire::now_seconds();
  auto ms_since = [now](double then) {
    return static_cast<int64_t>(std::max(0.0, now - then) * 1000);
  };
  counters out{
    {"received", received},
    {"sent", meter->sent.load()},
    {"queued_bytes", static_cast<int64_t>(meter->queued.load())},
    {"waiting", static_cast<int64_t>(waiting.size())},
    {"replies", replies},
    {"invalid", invalid},
    {"pings", pings},
    {"pongs", pongs},
    {"connected", connected ? 1 : 0},
    {"reconnects", std::max<int64_t>(0, connects - 1)},
    {"link_down_ms", connected ? 0 : ms_since(link_changed)},
    {"probes", probes},
    {"host_denied", host_check.denied()},
    {"remote_acks", static_cast<int64_t>(remote_acks)},
  };
  if (settings.ping_interval > 0)
    out["last_pong_age_ms"] = ms_since(last_pong);
  if (door)
    out["lane"] = door->taken();
  return out;
}

namespace {

// Frames from the remote that are not a CC message arrive on the transport's
// thread; they are counted there and logged at most once per 10 s.
struct remote_garbage {
  std::atomic<int64_t> count{0};
  std::mutex mtx;
  log_limiter limiter;
};

using forwarder_actor_t = caf::stateful_actor<forwarder_state>;

// On CAF's scheduler (a ZeroMQ link): at an exit the link drains within
// zmq_linger on the I/O loop while the actor, as if gone already,
// takes nothing more (requests fail as to a dead actor); it quits with the
// exit's reason once the link is closed (closed_atom), so whoever waits for
// its down message finds the link closed, as when it ran detached.
void close_then_quit(forwarder_actor_t* self, caf::error reason) {
  if (self->state.door)
    self->state.door->close(); // the lane takes the router's way from now on
  self->set_default_handler(
    [](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
      return caf::sec::request_receiver_down;
    });
  self->become([self, reason](closed_atom) {
    if (self->state.link)
      self->state.link->close(); // closed already: returns at once
    self->quit(reason);
  });
  auto done = [addr = self->address()] {
    if (auto me = caf::actor_cast<caf::actor>(addr))
      caf::anon_send(me, closed_atom::value);
  };
  if (self->state.link)
    self->state.link->close_async(std::move(done));
  else
    done();
}

/// What the link's own thread tells the forwarder: messages, sent bytes and
/// link changes arrive as messages; invalid frames are counted (`garbage`)
/// and logged there, rate-limited.
transport::callbacks link_callbacks(forwarder_actor_t* self,
                                    std::shared_ptr<remote_garbage> garbage) {
  auto me = caf::actor_cast<caf::actor>(self);
  transport::callbacks cb;
  cb.on_message = [me](wire::cc_message msg) {
    caf::anon_send(me, reply_atom::value, std::move(msg));
  };
  // A trickle's ack on the I/O loop: this forwarder, the router and the
  // tailer it is for run there (within loop_jobs' bounds) instead of
  // waking a scheduler worker per line for them (bench/PROFILE.md,
  // "Session 27"). A tailer that must not run on the loop leaves it. The
  // forwarder's own replies (pongs) go to a worker: one that offers another
  // data port makes it resolve the remote's name, which may wait for a
  // name server.
  cb.on_message_here = [me, own = self->state.own_frame](wire::cc_message msg) {
    if (!msg.route.empty() && msg.route.front() == own) {
      caf::anon_send(me, reply_atom::value, std::move(msg));
      return;
    }
    loop_jobs::send_and_run(me, reply_atom::value, std::move(msg));
  };
  cb.on_invalid = [garbage, who = self->state.who](const caf::error& err) {
    ++garbage->count;
    std::lock_guard<std::mutex> guard{garbage->mtx};
    if (auto n = garbage->limiter.admit("invalid",
                                        log_limiter::clock::now()))
      log::warning(who, "invalid message from the remote dropped: " +
                          describe(err) +
                          (*n > 0 ? " (and " + std::to_string(*n) + " more)"
                                  : std::string{}));
  };
  cb.on_sent = [me, meter = self->state.meter](uint64_t bytes) {
    if (meter->record(bytes))
      caf::anon_send(me, sent_atom::value, bytes);
  };
  cb.on_link = [me](bool up, const std::string& peer) {
    caf::anon_send(me, linkstate_atom::value, up, peer);
  };
  return cb;
}

/// Makes the link to remote-cc (caf:// gives the CAF transport,
/// actors/link/caf_transport; others ZeroMQ) and connects it. False when it
/// cannot: the reason is logged and the actor quits with it.
bool open_link(forwarder_actor_t* self, const config::section& main,
               const zmq_options& opts, std::shared_ptr<remote_garbage> garbage) {
  auto& st = self->state;
  auto made = make_transport(self->system(), main, st.settings.remote, opts,
                             st.who);
  if (!made) {
    log::error(st.who, describe(made.error()));
    self->quit(made.error());
    return false;
  }
  st.link = std::move(*made);
  if (auto err = st.link->connect(st.settings.remote,
                                  link_callbacks(self, std::move(garbage)))) {
    log::error(st.who, describe(err));
    st.link.reset();
    self->quit(err);
    return false;
  }
  return true;
}

/// The link is open: what the senders learn of it (the ack registry), and
/// this process's tailers may hand their fragments to its data connection
/// through the door (actors/link/forwarder_door.hpp) from now on.
void publish_link(forwarder_actor_t* self) {
  auto& st = self->state;
  if (st.acks_registry) {
    st.acks_registry->set_forwarder(st.settings.section, peer_acks::unknown);
    st.acks_registry->set_forwarder_zstd(st.settings.section, peer_acks::unknown);
    st.acks_registry->set_forwarder_data(st.settings.section, st.link->data_up());
  }
  auto gate = st.link->data_path();
  if (!st.door || !gate)
    return;
  forwarder_door::attachment a;
  a.meter = st.meter;
  a.queue_bytes = st.settings.queue_bytes;
  a.gate = std::move(gate);
  a.room_freed = [addr = self->address()] {
    if (auto me = caf::actor_cast<caf::actor>(addr))
      caf::anon_send(me, sent_atom::value, uint64_t{0});
  };
  st.door->attach(std::move(a));
}

/// The forwarder's state from its settings; on the scheduler (a ZeroMQ
/// link) an exit closes the link first, detached (a caf:// link) the thread
/// gets its name.
void init_forwarder(forwarder_actor_t* self, forwarder_settings settings,
                    ack_registry_ptr acks, forwarder_door_ptr door, bool detached) {
  if (detached)
    name_this_thread("cc-forwarder"); // its own thread (a caf:// link)
  else
    self->set_exit_handler([self](caf::exit_msg& msg) {
      close_then_quit(self, std::move(msg.reason));
    });
  self->state.init(std::move(settings));
  self->state.acks_registry = std::move(acks);
  self->state.door = std::move(door);
}

/// The timer of a probe sent again while the first is unanswered.
using reprobe_atom = caf::atom_constant<caf::atom("reprobe")>;

const auto reprobe_every = std::chrono::milliseconds{std::llround(ack_probe_retry * 1000)};
const auto probe_again_every = std::chrono::milliseconds{std::llround(ack_probe_again * 1000)};

/// Asks the remote whether it acknowledges, and again after `every` while
/// it has not said (that timer also brings the verdict at
/// ack_probe_timeout); meanwhile the probe goes again every
/// ack_probe_retry (reprobe_atom) while unanswered. Only when someone asks
/// (a server has a registry; tests without one see the forwarder's other
/// traffic alone).
void probe_remote(forwarder_actor_t* self, std::chrono::milliseconds every) {
  auto& st = self->state;
  if (!st.acks_registry)
    return;
  if (auto msg = st.make_probe(wire::now_seconds())) {
    st.send_now(std::move(*msg));
    self->delayed_send(self, every, probe_atom::value);
    if (st.remote_acks == peer_acks::unknown)
      self->delayed_send(self, reprobe_every, reprobe_atom::value);
  }
}

/// A probe sent again while the first has no answer: one lost at the
/// remote's start (its router not ready) costs seconds, not the verdict.
void reprobe_remote(forwarder_actor_t* self) {
  auto& st = self->state;
  auto now = wire::now_seconds();
  if (!st.probe_unanswered(now))
    return;
  if (auto msg = st.make_probe(now))
    st.send_now(std::move(*msg));
  self->delayed_send(self, reprobe_every, reprobe_atom::value);
}

caf::behavior forwarder_actor(forwarder_actor_t* self,
                              forwarder_settings settings, zmq_options opts,
                              router_actor router,
                              std::shared_ptr<const config::section> main,
                              ack_registry_ptr acks, forwarder_door_ptr door,
                              bool detached) {
  init_forwarder(self, std::move(settings), std::move(acks), std::move(door), detached);
  auto& st = self->state;
  auto garbage = std::make_shared<remote_garbage>();
  if (!open_link(self, *main, opts, garbage))
    return {};
  publish_link(self);
  log::info(st.who, "forwarding to " + st.settings.remote);
  auto probe = [self] { probe_remote(self, probe_again_every); };
  auto ping_every = std::chrono::milliseconds(
    static_cast<int64_t>(std::llround(st.settings.ping_interval * 1000)));
  if (ping_every.count() > 0)
    self->delayed_send(self, ping_every, ping_atom::value);
  return {
    // A mutable reference: CAF hands over the router's message without a
    // copy when no one else holds it, and admit() takes it by move (a const
    // reference copied every fragment's blob here).
    [=](dispatch_atom, wire::cc_message& msg) -> caf::result<ok_atom> {
      auto& st = self->state;
      if (auto v = st.host_check.screen(msg, st.settings.hostname); v.denied) {
        if (v.reply)
          self->send(router, reply_atom::value, std::move(*v.reply));
        return ok_atom::value;
      }
      if (st.waiting.empty() && st.has_room(msg.wire_size())) {
        st.admit(std::move(msg), caf::response_promise{});
        return ok_atom::value;
      }
      auto promise = self->make_response_promise();
      st.admit(std::move(msg), promise);
      deliver_released(st);  // room that freed before admit saw it waiting
      return promise;
    },
    [=](sent_atom, uint64_t) { deliver_released(self->state); },
    [=](reply_atom, wire::cc_message& msg) {
      auto& st = self->state;
      auto [mine, classified] = st.classify(std::move(msg));
      if (mine) {
        st.on_pong(classified, wire::now_seconds());
        return;
      }
      ++st.replies;
      self->send(router, reply_atom::value, std::move(classified));
    },
    [=](linkstate_atom, bool up, const std::string& peer) {
      self->state.on_link(up, peer);
      if (up) // a reconnect may reach another server: ask again
        probe();
    },
    [=](probe_atom) {
      if (self->state.on_probe_timer(wire::now_seconds()))
        probe();
    },
    [=](reprobe_atom) { reprobe_remote(self); },
    [=](ping_atom) {
      auto& st = self->state;
      auto now = wire::now_seconds();
      if (auto warning = st.check_pongs(now))
        log::warning(st.who, *warning);
      st.send_now(st.make_ping(now)); // small: not held back by queue-bytes
      self->delayed_send(self, ping_every, ping_atom::value);
    },
    [=](stats_atom) -> counters {
      auto c = self->state.stats();
      c["invalid"] += garbage->count.load();
      if (self->state.link)
        self->state.link->add_stats(c);
      return c;
    },
  };
}

} // namespace

caf::actor spawn_forwarder(spawn_context ctx, const config::section& sec) {
  auto settings = forwarder_settings_from(sec, ctx.cfg.host_name);
  auto main = std::make_shared<const config::section>(ctx.cfg.main);
  // This process's tailers reach its data connection through the door
  // (the local direct lane), once the actor attached it.
  auto door = std::make_shared<forwarder_door>();
  if (ctx.lanes)
    ctx.lanes->add_local_door(sec.name, door);
  // A ZeroMQ link closes without waiting (close_then_quit); the CAF link's
  // close waits up to zmq_linger for its link actor, which must not hold
  // one of CAF's scheduler threads: that forwarder runs detached.
  if (transport_closes_async(settings.remote))
    return ctx.sys.spawn(forwarder_actor, std::move(settings),
                         zmq_options_of(sec), ctx.router, std::move(main),
                         ctx.acks, std::move(door), false);
  return ctx.sys.spawn<caf::detached>(forwarder_actor, std::move(settings),
                                      zmq_options_of(sec), ctx.router,
                                      std::move(main), ctx.acks, std::move(door), true);
}

} // namespace cc
