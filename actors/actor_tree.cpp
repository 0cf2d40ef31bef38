// The server's actor tree: see actor_tree.hpp for its order of start, stop
// and reload.
#include "actors/actor_tree.hpp"

#include <caf/after.hpp>
#include <caf/exit_reason.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/router.hpp"
#include "actors/core/stats.hpp"
#include "actors/core/status.hpp"
#include "actors/core/types.hpp"
#include "actors/link/caf_listen.hpp"
#include "actors/link/gateway.hpp"
#include "actors/spawn.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"

namespace cc {

namespace {

using std::chrono::milliseconds;

constexpr const char* who = "main";

std::vector<caf::actor> actors_of(
  const std::vector<std::pair<std::string, caf::actor>>& list) {
  std::vector<caf::actor> out;
  for (auto& entry : list)
    out.push_back(entry.second);
  return out;
}

} // namespace

actor_tree::actor_tree(caf::actor_system& sys, caf::scoped_actor& self,
                       std::shared_ptr<status_board> board)
  : sys_(sys), self_(self), board_(std::move(board)) {
}

void actor_tree::on_step(step_observer observer) {
  observer_ = std::move(observer);
}

void actor_tree::step(const std::string& what) {
  if (observer_)
    observer_(what);
  else
    log::debug(who, "step: " + what);
}

std::string actor_tree::text(const caf::error& err) const {
  if (!err)
    return "no error"; // CAF 0.17: category() of an empty error crashes
  if (err.category() == error_category)
    return message_of(err);
  return sys_.render(err);
}

template <class Handle, class... Ts>
caf::error actor_tree::ask(const Handle& dest, Ts&&... xs) {
  if (!dest)
    return make_error(errc::unavailable, "no such actor");
  caf::error result;
  self_->request(dest, request_bound, std::forward<Ts>(xs)...)
    .receive([](ok_atom) {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::error actor_tree::start(config_ptr cfg) {
  // CAF's OpenSSL module throws on a file it cannot load, inside the
  // middleman: refuse such files here, with their names.
  if (auto err = check_caf_tls_files(caf_tls_settings_of(cfg->main)))
    return err;
  generation gen;
  gen.cfg = std::move(cfg);
  auto err = start_core(gen);
  current_ = std::move(gen);
  if (err)
    return err;
  // Without a router until attach_gateway: the router must know the
  // gateway before the first message (an echo.request at connect) comes, or
  // its reply has nowhere to go and is dropped (`undeliverable`).
  auto gw = spawn_gateway(sys_, current_.cfg->main, router_actor{}, data_offer_, lanes_);
  if (!gw)
    return std::move(gw.error());
  step("gateway");
  adopt_gateway(*gw, current_.cfg->main.str("cc-socket"));
  if (auto err = attach_gateway())
    return err;
  return start_caf_listen();
}

bool actor_tree::stop() {
  board_->set_stopping();
  lanes_->close(); // from here on everything takes the router, as it stops
  bool clean = true;
  if (gateway_) {
    clean &= stop_group({gateway_}, "gateway", gateway_stop_bound);
    gateway_ = nullptr;
  }
  if (caf_listen_) {
    clean &= stop_group({caf_listen_}, "caf-listen", gateway_stop_bound);
    caf_listen_ = nullptr;
  }
  clean &= stop_core(current_);
  return clean;
}

// -- reload -------------------------------------------------------------------

actor_tree::reload_outcome actor_tree::reload(config_ptr cfg) {
  auto endpoint = cfg->main.str("cc-socket");
  auto new_gateway = gateway_for(cfg->main);
  if (!new_gateway) {
    log::error(who, "reload: " + text(new_gateway.error()) +
                      "; keeping the running configuration");
    return reload_outcome::kept_previous;
  }
  pause_gateways(cfg->main);
  // The previous generation is stopped out of current_, so that its actors'
  // downs are not taken for failures of the running tree.
  auto previous = std::move(current_);
  auto previous_cfg = previous.cfg;
  current_ = generation{};
  stop_core(previous);
  generation fresh;
  fresh.cfg = std::move(cfg);
  auto outcome = reload_outcome::reloaded;
  if (auto err = start_core(fresh)) {
    log::error(who, "reload: " + text(err) +
                      "; starting the previous configuration again");
    stop_core(fresh);
    outcome = restart_previous(std::move(previous_cfg), *new_gateway);
    if (outcome == reload_outcome::failed)
      return outcome;
  } else {
    current_ = std::move(fresh);
  }
  if (*new_gateway) {
    stop_group({gateway_}, "previous gateway", gateway_stop_bound);
    adopt_gateway(*new_gateway, endpoint);
  }
  return attach_all(outcome);
}

// The gateway for a reload to `main`: a new one (bound before letting go of
// the old, so that if it fails nothing has changed yet; it holds what
// arrives until the new router), or none when cc-socket is unchanged (the
// running one then re-reads its CURVE allow-list; the old list stays in
// force when the new one cannot be read).
caf::expected<caf::actor> actor_tree::gateway_for(const config::section& main) {
  if (main.str("cc-socket") != gateway_endpoint_) {
    auto gw = spawn_gateway(sys_, main, router_actor{}, data_offer_, lanes_);
    if (!gw)
      return gw;
    step("gateway");
    self_->monitor(*gw);
    return gw;
  }
  if (auto err = ask(gateway_, reload_atom::value, main.file("curve-secret-key"),
                     main.file("curve-allowed-keys")))
    log::warning(who, "reload: curve-allowed-keys: " + text(err));
  return caf::actor{};
}

// Incoming messages wait (ZeroMQ's queue, the gateway's hold) while the
// handlers are rebuilt.
void actor_tree::pause_gateways(const config::section& main) {
  if (auto err = ask(gateway_, router_atom::value, caf::actor{}))
    log::warning(who, "reload: pausing the gateway: " + text(err));
  lanes_->close(); // the gateway holds what comes; the handlers go
  if (caf_listen_)
    if (auto err = ask(caf_listen_, router_atom::value, caf::actor{}))
      log::warning(who, "reload: pausing caf-listen: " + text(err));
  if (main.str("caf-listen") != caf_listen_address_)
    log::warning(who, "reload: caf-listen changed to '" + main.str("caf-listen") +
                        "'; it takes effect at the next restart");
}

// The new configuration did not start: the previous one again, and the
// gateway bound for the new one let go.
actor_tree::reload_outcome actor_tree::restart_previous(config_ptr previous,
                                                        caf::actor& new_gateway) {
  if (new_gateway) {
    stop_group({new_gateway}, "new gateway", gateway_stop_bound);
    new_gateway = nullptr;
  }
  generation again;
  again.cfg = std::move(previous);
  auto err = start_core(again);
  current_ = std::move(again);
  if (err) {
    log::error(who, "restarting the previous configuration failed too: " + text(err));
    return reload_outcome::failed;
  }
  return reload_outcome::kept_previous;
}

// The (new or kept) gateways connected to the rebuilt router.
actor_tree::reload_outcome actor_tree::attach_all(reload_outcome outcome) {
  if (auto err = attach_gateway()) {
    log::error(who, "reload: " + text(err));
    return reload_outcome::failed;
  }
  if (auto err = attach_caf_listen()) {
    log::error(who, "reload: caf-listen: " + text(err));
    return reload_outcome::failed;
  }
  return outcome;
}

// -- watching -----------------------------------------------------------------

std::string actor_tree::unexpected_down(const caf::down_msg& dm) {
  auto name = name_of_down(dm);
  // Gone already: a stop does not wait for its down message again.
  if (!name.empty())
    gone_.insert(dm.source);
  return name;
}

std::string actor_tree::name_of_down(const caf::down_msg& dm) {
  if (stopping_.erase(dm.source) > 0)
    return {};
  if (gateway_ && dm.source == gateway_.address())
    return "gateway";
  if (caf_listen_ && dm.source == caf_listen_.address())
    return "caf-listen";
  if (dm.source == current_.router.address())
    return "router";
  if (dm.source == current_.stats.address())
    return "stats";
  for (auto* list : {&current_.handlers, &current_.jobmgrs})
    for (auto& [name, actor] : *list)
      if (dm.source == actor.address())
        return name;
  return {};
}

bool actor_tree::alive(milliseconds bound) {
  if (!current_.router)
    return false;
  bool answered = false;
  self_->request(current_.router, bound, stats_atom::value)
    .receive([&](counters&) { answered = true; }, [](caf::error&) {});
  return answered;
}

std::vector<std::string> actor_tree::part_names() const {
  std::vector<std::string> out;
  for (auto* list : {&current_.handlers, &current_.jobmgrs})
    for (auto& entry : *list)
      out.push_back(entry.first);
  return out;
}

// -- one generation -------------------------------------------------------------

caf::error actor_tree::start_core(generation& gen) {
  const auto& cfg = *gen.cfg;
  router_config rc;
  rc.table = routes::route_table{cfg.routes};
  lanes_->prepare(rc.table); // closed until the gateway is attached to it
  rc.hostname = cfg.host_name;
  rc.job_name = cfg.job_name;
  // One per generation: a reload may change writers and forwarders.
  auto acks = std::make_shared<ack_registry>();
  acks->set_data_offer(data_offer_);
  rc.acks = acks;
  gen.router = spawn_router(sys_, std::move(rc));
  self_->monitor(gen.router);
  step("router");
  if (auto err = start_handlers(gen, std::move(acks)))
    return err;
  if (auto err = start_stats(gen))
    return err;
  // "up" (and READY=1) once every daemon took its start position: a log
  // file made right after it is one a tailer saw appear, not one that was
  // there at its first start (which tail -f would read from its end).
  for (auto& [name, actor] : gen.jobmgrs)
    if (auto err = ask(actor, ready_atom::value))
      log::warning(who, name + ": its daemons did not all start within "
                          + std::to_string(request_bound.count() / 1000) + " s ("
                          + text(err) + "); going on");
  step("daemons");
  return caf::none;
}

caf::error actor_tree::start_handlers(generation& gen,
                                      std::shared_ptr<ack_registry> acks) {
  const auto& cfg = *gen.cfg;
  spawn_context ctx{sys_, cfg, gen.router, acks, lanes_, gen.cfg};
  // Jobmgrs last: their daemons send at once and need the handlers.
  for (bool jobmgrs : {false, true}) {
    for (const auto& [name, sec] : cfg.handlers) {
      if ((sec.kind == "jobmgr") != jobmgrs)
        continue;
      auto handler = spawn_handler(ctx, sec);
      if (!handler)
        return std::move(handler.error());
      self_->monitor(*handler);
      (jobmgrs ? gen.jobmgrs : gen.handlers).emplace_back(name, *handler);
      if (auto err = ask(gen.router, handler_atom::value, name, *handler))
        return make_error(errc::unavailable, "registering " + name + ": " + text(err));
      step((jobmgrs ? "jobmgr " : "handler ") + name);
      log::debug(who, "started " + name + " (" + sec.kind + ")");
    }
  }
  return caf::none;
}

caf::error actor_tree::start_stats(generation& gen) {
  const auto& cfg = *gen.cfg;
  auto stats = stats_settings_from(cfg);
  stats.board = board_;
  gen.stats = spawn_stats(sys_, std::move(stats));
  self_->monitor(gen.stats);
  board_->set_source(gen.stats);
  board_->set_health(health_settings_from(cfg.main));
  if (auto err = ask(gen.stats, register_atom::value, std::string{"router"},
                     caf::actor_cast<caf::actor>(gen.router)))
    return err;
  for (auto* list : {&gen.handlers, &gen.jobmgrs})
    for (auto& [name, actor] : *list)
      if (auto err = ask(gen.stats, register_atom::value, name, actor))
        return err;
  // Each jobmgr registers its daemons (and their restarts) with the stats
  // actor, so tailer counters and lag reach the metrics file.
  for (auto& [name, actor] : gen.jobmgrs)
    if (auto err = ask(actor, stats_atom::value, gen.stats))
      return make_error(errc::unavailable, "stats for " + name + ": " + text(err));
  step("stats");
  return caf::none;
}

bool actor_tree::stop_core(generation& gen) {
  bool clean = stop_group(actors_of(gen.jobmgrs), "jobmgrs", group_stop_bound);
  // Nothing new reaches the router now (gateway paused or gone, daemons
  // stopped). One round trip through its mailbox means everything it had
  // queued is in the handlers' mailboxes, ahead of their exit messages.
  if (gen.router)
    self_->request(gen.router, request_bound, stats_atom::value)
      .receive([](counters&) {}, [](caf::error&) {});
  clean &= stop_group(actors_of(gen.handlers), "handlers", group_stop_bound);
  if (gen.router)
    clean &= stop_group({caf::actor_cast<caf::actor>(gen.router)}, "router", group_stop_bound);
  if (gen.stats) {
    board_->set_source(caf::actor{});
    // One last round, so the files show the final counters.
    self_->request(gen.stats, request_bound, flush_atom::value)
      .receive([](ok_atom) {}, [](caf::error&) {});
    clean &= stop_group({gen.stats}, "stats", group_stop_bound);
  }
  gen = generation{};
  return clean;
}

// send_exit to every actor of `group`, then waits (bounded) for their down
// messages. Signals arriving meanwhile are kept for later.
bool actor_tree::stop_group(std::vector<caf::actor> group, const char* what,
                            milliseconds bound) {
  std::set<caf::actor_addr> left;
  for (auto& a : group) {
    if (!a || gone_.count(a.address()) > 0)
      continue;
    left.insert(a.address());
    stopping_.insert(a.address());
    self_->send_exit(a, caf::exit_reason::user_shutdown);
  }
  if (!left.empty())
    step(std::string{"stop "} + what);
  auto deadline = std::chrono::steady_clock::now() + bound;
  bool timed_out = false;
  while (!left.empty() && !timed_out) {
    auto remaining = std::chrono::duration_cast<milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (remaining.count() <= 0)
      break;
    self_->receive(
      [&](caf::down_msg& dm) {
        if (left.erase(dm.source) > 0) {
          stopping_.erase(dm.source);
          return;
        }
        auto name = unexpected_down(dm);
        if (!name.empty() && failed_actor.empty())
          failed_actor = name;
      },
      [&](int sig) { deferred_signals.push_back(sig); },
      caf::after(remaining) >> [&] { timed_out = true; });
  }
  if (!left.empty()) {
    log::error(who, std::to_string(left.size()) + " of the " + what +
                      " did not stop within " + std::to_string(bound.count()) + " ms");
    return false;
  }
  return true;
}

// -- the gateways ---------------------------------------------------------------

void actor_tree::adopt_gateway(caf::actor gw, std::string endpoint) {
  gateway_ = std::move(gw);
  gateway_endpoint_ = std::move(endpoint);
  self_->monitor(gateway_);
}

// Connects the gateway and the current router both ways and lets the stats
// actor watch the gateway.
caf::error actor_tree::attach_gateway() {
  if (auto err = ask(current_.router, gateway_atom::value, gateway_))
    return err;
  // Open before the gateway reads again: what it held goes the way that
  // what follows it will go.
  lanes_->open();
  if (auto err = ask(gateway_, router_atom::value, caf::actor_cast<caf::actor>(current_.router)))
    return err;
  return ask(current_.stats, register_atom::value, std::string{"gateway"}, gateway_);
}

// caf-listen: publishes the CAF gateway (actors/link/caf_listen) in front of
// the router; kept across reloads like the ZeroMQ gateway.
caf::error actor_tree::start_caf_listen() {
  const auto& main = current_.cfg->main;
  if (!main.has("caf-listen"))
    return caf::none;
  auto gw = spawn_caf_listen(sys_, main);
  if (!gw)
    return std::move(gw.error());
  caf_listen_ = *gw;
  caf_listen_address_ = main.str("caf-listen");
  self_->monitor(caf_listen_);
  step("caf-listen");
  return attach_caf_listen();
}

caf::error actor_tree::attach_caf_listen() {
  if (!caf_listen_)
    return caf::none;
  if (auto err = ask(caf_listen_, router_atom::value, caf::actor_cast<caf::actor>(current_.router)))
    return err;
  return ask(current_.stats, register_atom::value, std::string{"caf-listen"},
             caf_listen_);
}

} // namespace cc
