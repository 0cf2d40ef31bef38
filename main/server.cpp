// The server's lifetime: start-up order, the signal thread, reload and the
// ordered shutdown. Owns the actor system and every top-level actor.
//
// Start:    router, handlers (jobmgrs last, so their daemons find the handlers
//           registered), stats, gateway last (nothing arrives before the
//           handlers exist).
// Stop:     gateway (stop accepting), jobmgrs (tailers persist positions),
//           a round trip through the router (what it holds reaches the
//           handlers first), remaining handlers (forwarders drain within
//           zmq_linger, the tailwriter flushes), router, stats; each group by
//           send_exit with exit_reason::user_shutdown and a bounded wait for
//           its down messages.
// SIGHUP:   reopen the logfile, reload the config: invalid -> every diagnostic
//           logged, nothing changes; valid -> the handlers, router and stats
//           are rebuilt in the same order while the gateway holds incoming
//           messages (kept when cc-socket is unchanged).
// Signals are taken by one thread in sigwait (blocked everywhere else) and
// handed to the main thread as messages; an actor of ours that goes down
// unexpectedly also ends the server (exit status 1).
// Watching: the stats actor leaves a snapshot on the status board after
// every round; the HTTP endpoint (http-listen) and the control socket serve
// it from their own thread (actors/http_endpoint.hpp). They start after the
// actors and stop after them, so /health says 503 through a shutdown.
// Under systemd (main/notify.hpp): READY=1 once up, RELOADING=1 and READY=1
// around a reload, STOPPING=1, and WATCHDOG=1 while the router answers.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include <pthread.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/http_endpoint.hpp"
#include "actors/core/router.hpp"
#include "actors/core/stats.hpp"
#include "actors/core/status_board.hpp"
#include "actors/core/types.hpp"
#include "actors/link/caf_listen.hpp"
#include "actors/link/gateway.hpp"
#include "actors/spawn.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/logger.hpp"
#include "base/thread_name.hpp"
#include "config/config.hpp"
#include "main/commands.hpp"
#include "main/daemon.hpp"
#include "main/notify.hpp"
#include "main/pidfile.hpp"

namespace cc::cli {

namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr const char* who = "main";

// Bounds of the shutdown, per group. A forwarder needs zmq_linger at most, a
// tailwriter a flush and fsync; past these the server goes on without them.
constexpr milliseconds gateway_stop_bound = 10s;
constexpr milliseconds group_stop_bound = 30s;
// Bound of a registration round trip at start-up.
constexpr milliseconds request_bound = 10s;

// Our errors by cc::describe, CAF's by its own rendering ("system:2" says
// nothing to an operator).
caf::actor_system* rendering_system = nullptr;

std::string text(const caf::error& err) {
  if (err.category() == error_category || rendering_system == nullptr)
    return message_of(err);
  return rendering_system->render(err);
}

/// One generation of actors built from one configuration.
struct generation {
  // Handlers may keep their spawn_context, which refers to this config, so
  // it lives as long as they do.
  std::shared_ptr<const config::server_config> cfg;
  caf::actor router;
  caf::actor stats;
  std::vector<std::pair<std::string, caf::actor>> handlers; // not jobmgrs
  std::vector<std::pair<std::string, caf::actor>> jobmgrs;
};

class server {
public:
  server(caf::actor_system& sys, caf::scoped_actor& self,
         std::shared_ptr<status_board> board)
    : sys_(sys), self_(self), board_(std::move(board)) {
  }

  /// Everything, in start-up order.
  caf::error start(std::shared_ptr<const config::server_config> cfg) {
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
    auto gw = spawn_gateway(sys_, current_.cfg->main, current_.router);
    if (!gw)
      return std::move(gw.error());
    adopt_gateway(*gw, current_.cfg->main.str("cc-socket"));
    if (auto err = attach_gateway())
      return err;
    return start_caf_listen();
  }

  /// Everything, in stop order. Whether every actor went down in time.
  bool stop() {
    board_->set_stopping();
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

  enum class reload_outcome { reloaded, kept_previous, failed };

  /// Rebuilds router, handlers and stats from `cfg`; the gateway stays when
  /// cc-socket is unchanged. When the new set cannot start, the previous
  /// configuration is started again (kept_previous); failed when not even
  /// that works.
  reload_outcome reload(std::shared_ptr<const config::server_config> cfg) {
    auto endpoint = cfg->main.str("cc-socket");
    caf::actor new_gateway;
    if (endpoint != gateway_endpoint_) {
      // Bind the new endpoint before letting go of the old one: if it fails,
      // nothing has changed yet. It holds what arrives until the new router.
      auto gw = spawn_gateway(sys_, cfg->main, caf::actor{});
      if (!gw) {
        log::error(who, "reload: " + text(gw.error()) +
                          "; keeping the running configuration");
        return reload_outcome::kept_previous;
      }
      new_gateway = *gw;
      self_->monitor(new_gateway);
    } else if (auto err = ask(gateway_, reload_atom::value,
                              cfg->main.file("curve-secret-key"),
                              cfg->main.file("curve-allowed-keys"))) {
      // The gateway stays: it re-reads its CURVE allow-list (the old list
      // stays in force when the new one cannot be read).
      log::warning(who, "reload: curve-allowed-keys: " + text(err));
    }
    // Incoming messages wait (ZeroMQ's queue, the gateway's hold) while the
    // handlers are rebuilt.
    if (auto err = ask(gateway_, router_atom::value, caf::actor{}))
      log::warning(who, "reload: pausing the gateway: " + text(err));
    if (caf_listen_)
      if (auto err = ask(caf_listen_, router_atom::value, caf::actor{}))
        log::warning(who, "reload: pausing caf-listen: " + text(err));
    if (cfg->main.str("caf-listen") != caf_listen_address_)
      log::warning(who, "reload: caf-listen changed to '" +
                          cfg->main.str("caf-listen") +
                          "'; it takes effect at the next restart");
    auto previous = std::move(current_);
    current_ = generation{};
    stop_core(previous);
    generation fresh;
    fresh.cfg = std::move(cfg);
    auto outcome = reload_outcome::reloaded;
    if (auto err = start_core(fresh)) {
      log::error(who, "reload: " + text(err) +
                        "; starting the previous configuration again");
      stop_core(fresh);
      if (new_gateway) {
        stop_group({new_gateway}, "new gateway", gateway_stop_bound);
        new_gateway = nullptr;
      }
      fresh = generation{};
      fresh.cfg = previous.cfg;
      if (auto err2 = start_core(fresh)) {
        log::error(who, "restarting the previous configuration failed too: " +
                          text(err2));
        current_ = std::move(fresh);
        return reload_outcome::failed;
      }
      outcome = reload_outcome::kept_previous;
    }
    current_ = std::move(fresh);
    if (new_gateway) {
      stop_group({gateway_}, "previous gateway", gateway_stop_bound);
      adopt_gateway(new_gateway, endpoint);
    }
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

  /// A down message: the name of our actor that went down unexpectedly, or
  /// "" when it was being stopped or is not ours.
  std::string unexpected_down(const caf::down_msg& dm) {
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

  /// Whether the router answers within `bound`: the actor system runs
  /// (the watchdog's liveness check).
  bool alive(milliseconds bound) {
    if (!current_.router)
      return false;
    bool answered = false;
    self_->request(current_.router, bound, stats_atom::value)
      .receive([&](counters&) { answered = true; }, [](caf::error&) {});
    return answered;
  }

  /// Signals that arrived while the server waited for something else.
  std::vector<int> deferred_signals;
  /// Set when an actor went down unexpectedly during a stop or reload wait.
  std::string failed_actor;

private:
  template <class... Ts>
  caf::error ask(const caf::actor& dest, Ts&&... xs) {
    if (!dest)
      return make_error(errc::unavailable, "no such actor");
    caf::error result;
    self_->request(dest, request_bound, std::forward<Ts>(xs)...)
      .receive([](ok_atom) {},
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::error start_core(generation& gen) {
    const auto& cfg = *gen.cfg;
    router_config rc;
    rc.table = routes::route_table{cfg.routes};
    rc.hostname = cfg.host_name;
    rc.job_name = cfg.job_name;
    // One per generation: a reload may change writers and forwarders.
    auto acks = std::make_shared<ack_registry>();
    rc.acks = acks;
    gen.router = spawn_router(sys_, std::move(rc));
    self_->monitor(gen.router);
    spawn_context ctx{sys_, cfg, gen.router, acks};
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
          return make_error(errc::unavailable,
                            "registering " + name + ": " + text(err));
        log::debug(who, "started " + name + " (" + sec.kind + ")");
      }
    }
    auto stats = stats_settings_from(cfg);
    stats.board = board_;
    gen.stats = spawn_stats(sys_, std::move(stats));
    self_->monitor(gen.stats);
    board_->set_source(gen.stats);
    board_->set_health(health_settings_from(cfg.main));
    if (auto err = ask(gen.stats, register_atom::value, std::string{"router"},
                       gen.router))
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
    return caf::none;
  }

  bool stop_core(generation& gen) {
    bool clean = true;
    auto actors_of = [](const auto& list) {
      std::vector<caf::actor> out;
      for (auto& entry : list)
        out.push_back(entry.second);
      return out;
    };
    clean &= stop_group(actors_of(gen.jobmgrs), "jobmgrs", group_stop_bound);
    // Nothing new reaches the router now (gateway paused or gone, daemons
    // stopped). One round trip through its mailbox means everything it had
    // queued is in the handlers' mailboxes, ahead of their exit messages.
    if (gen.router)
      self_->request(gen.router, request_bound, stats_atom::value)
        .receive([](counters&) {}, [](caf::error&) {});
    clean &= stop_group(actors_of(gen.handlers), "handlers", group_stop_bound);
    if (gen.router)
      clean &= stop_group({gen.router}, "router", group_stop_bound);
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
  bool stop_group(std::vector<caf::actor> group, const char* what,
                  milliseconds bound) {
    std::set<caf::actor_addr> left;
    for (auto& a : group) {
      if (!a)
        continue;
      left.insert(a.address());
      stopping_.insert(a.address());
      self_->send_exit(a, caf::exit_reason::user_shutdown);
    }
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
                        " did not stop within " +
                        std::to_string(bound.count()) + " ms");
      return false;
    }
    return true;
  }

  void adopt_gateway(caf::actor gw, std::string endpoint) {
    gateway_ = std::move(gw);
    gateway_endpoint_ = std::move(endpoint);
    self_->monitor(gateway_);
  }

  // Connects the gateway and the current router both ways and lets the
  // stats actor watch the gateway.
  caf::error attach_gateway() {
    if (auto err = ask(current_.router, gateway_atom::value, gateway_))
      return err;
    if (auto err = ask(gateway_, router_atom::value, current_.router))
      return err;
    return ask(current_.stats, register_atom::value, std::string{"gateway"},
               gateway_);
  }

  // caf-listen: publishes the CAF gateway (actors/caf_listen) in front of
  // the router; kept across reloads like the ZeroMQ gateway.
  caf::error start_caf_listen() {
    const auto& main = current_.cfg->main;
    if (!main.has("caf-listen"))
      return caf::none;
    auto gw = spawn_caf_listen(sys_, main);
    if (!gw)
      return std::move(gw.error());
    caf_listen_ = *gw;
    caf_listen_address_ = main.str("caf-listen");
    self_->monitor(caf_listen_);
    return attach_caf_listen();
  }

  caf::error attach_caf_listen() {
    if (!caf_listen_)
      return caf::none;
    if (auto err = ask(caf_listen_, router_atom::value, current_.router))
      return err;
    return ask(current_.stats, register_atom::value, std::string{"caf-listen"},
               caf_listen_);
  }

  caf::actor_system& sys_;
  caf::scoped_actor& self_;
  std::shared_ptr<status_board> board_;
  generation current_;
  caf::actor caf_listen_;
  std::string caf_listen_address_;
  caf::actor gateway_;
  std::string gateway_endpoint_;
  std::set<caf::actor_addr> stopping_; // their down messages are expected
};

// The only thread that takes SIGINT, SIGTERM and SIGHUP (blocked in every
// other thread, which inherit the mask set before any of them starts).
class signal_thread {
public:
  explicit signal_thread(caf::actor target) {
    thread_ = std::thread{[this, target] {
      name_this_thread("cc-signals");
      sigset_t set = handled();
      for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
          continue;
        if (done_)
          return;
        if (sig != SIGUSR1)
          caf::anon_send(target, sig);
      }
    }};
  }
  ~signal_thread() {
    done_ = true;
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }

  /// Blocks the handled signals in the calling thread (and every thread it
  /// starts afterwards).
  static void block() {
    sigset_t set = handled();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

private:
  static sigset_t handled() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1); // wakes the thread to end it
    return set;
  }
  std::atomic<bool> done_{false};
  std::thread thread_;
};

void log_diagnostics(const config::load_result& res) {
  for (const auto& d : res.diagnostics) {
    if (d.severity == config::diagnostic::error)
      log::error(who, d.str());
    else
      log::warning(who, d.str());
  }
}

// SIGHUP: reopen the log, load the file again and rebuild the actors from
// it. False when the server must stop (status set).
bool reload(server& srv, std::shared_ptr<const config::server_config>& cfg,
            const std::string& config_path, std::string& logfile, int& status) {
  log::reopen();
  log::info(who, "got SIGHUP: reloading " + config_path);
  auto res = config::load(config_path);
  log_diagnostics(res);
  if (!res.ok()) {
    log::error(who, "reload: the configuration has errors; keeping "
                    "the running one");
    return true;
  }
  auto next = std::make_shared<const config::server_config>(std::move(*res.config));
  auto next_logfile = absolute(next->main.file("logfile"));
  if (next_logfile != logfile) {
    std::string err;
    if (log::open(next_logfile, err))
      logfile = next_logfile;
    else
      log::error(who, "reload: logfile " + err);
  }
  log::set_format(next->main.str("log-format") == "json" ? log::format::json
                                                         : log::format::text);
  for (const char* key : {"http-listen", "http-allow-remote", "control-socket"})
    if (next->main.str(key) != cfg->main.str(key))
      log::warning(who, std::string{"reload: "} + key + " changed to '" +
                          next->main.str(key) +
                          "'; it takes effect at the next restart");
  switch (srv.reload(next)) {
    case server::reload_outcome::reloaded:
      cfg = next;
      log::info(who, "reloaded");
      return true;
    case server::reload_outcome::kept_previous:
      return true;
    case server::reload_outcome::failed:
      status = exit_failure;
      return false;
  }
  return true;
}

// The HTTP endpoint (http-listen) and the control socket, if configured.
caf::expected<std::vector<std::unique_ptr<http_endpoint>>>
start_endpoints(const config::section& main, const std::shared_ptr<status_board>& board) {
  std::vector<std::unique_ptr<http_endpoint>> out;
  if (main.has("http-listen")) {
    auto ep = http_endpoint::listen_tcp(main.str("http-listen"),
                                        main.boolean("http-allow-remote"), board);
    if (!ep)
      return std::move(ep.error());
    log::info(who, "http: /metrics, /health and /status on " + (*ep)->address());
    out.push_back(std::move(*ep));
  }
  if (main.has("control-socket")) {
    auto ep = http_endpoint::listen_unix(absolute(main.file("control-socket")), board);
    if (!ep)
      return std::move(ep.error());
    log::debug(who, "control socket " + (*ep)->address());
    out.push_back(std::move(*ep));
  }
  return out;
}

// systemd's watchdog (WATCHDOG_USEC): WATCHDOG=1 every half interval, and
// only while the router answers within a quarter of it.
class watchdog {
public:
  explicit watchdog(systemd_notifier& notifier)
    : notifier_(notifier), every_(notifier.watchdog_every()) {
    next_ = std::chrono::steady_clock::now();
  }

  /// How long the main loop may wait for a message before check() is due.
  milliseconds wait() const {
    if (!every_)
      return milliseconds{std::chrono::hours{24}};
    auto left = std::chrono::duration_cast<milliseconds>(
      next_ - std::chrono::steady_clock::now());
    return std::max(left, milliseconds{1});
  }

  void check(server& srv) {
    if (!every_ || std::chrono::steady_clock::now() < next_)
      return;
    next_ = std::chrono::steady_clock::now() + *every_;
    if (srv.alive(std::max(*every_ / 2, milliseconds{1})))
      notifier_.send("WATCHDOG=1");
    else
      log::warning(who, "watchdog: the router did not answer; no keep-alive "
                        "for systemd this time");
  }

private:
  systemd_notifier& notifier_;
  std::optional<milliseconds> every_;
  std::chrono::steady_clock::time_point next_;
};

// The actor system's lifetime, after the process has become what it will be
// (daemonized, pidfile written). Returns the exit status.
int serve(std::shared_ptr<const config::server_config> cfg,
          const std::string& config_path, const std::string& pidfile,
          bool echo_to_terminal, int& report_fd) {
  signal_thread::block();
  caf::actor_system_config sys_cfg;
  register_types(sys_cfg);
  // Work stealing polls with short sleeps while idle: for a server that mostly
  // waits on sockets and files, sharing halves the CPU per GB (bench/PROFILE.md).
  sys_cfg.set("scheduler.policy", cfg->main.str("caf-scheduler") == "stealing"
                                    ? caf::atom("stealing")
                                    : caf::atom("sharing"));
  if (auto n = cfg->main.integer("caf-threads"); n > 0)
    sys_cfg.set("scheduler.max-threads", static_cast<size_t>(n));
  sys_cfg.load<caf::io::middleman>(); // for the CAF transport and clusters
  // TLS for every CAF link of this node (caf-listen and caf:// forwarders):
  // CAF's OpenSSL module with mutual authentication against caf-cafile.
  if (auto tls = caf_tls_settings_of(cfg->main); tls.enabled()) {
    sys_cfg.openssl_certificate = tls.certificate;
    sys_cfg.openssl_key = tls.key;
    sys_cfg.openssl_cafile = tls.cafile;
    sys_cfg.load<caf::openssl::manager>();
  }
  caf::actor_system sys{sys_cfg};
  rendering_system = &sys;
  struct forget_system {
    ~forget_system() { rendering_system = nullptr; }
  } forget_on_return;
  int status = exit_ok;
  bool clean = true;
  systemd_notifier notifier;
  auto board = std::make_shared<status_board>(health_settings_from(cfg->main));
  {
    caf::scoped_actor self{sys};
    server srv{sys, self, board};
    auto fail_start = [&](const caf::error& err) {
      log::error(who, "cannot start: " + text(err));
      if (echo_to_terminal)
        std::cerr << "ccserver: cannot start: " << text(err) << "\n";
      srv.stop();
      int code = err.category() == error_category &&
                     err.code() == static_cast<uint8_t>(errc::config_invalid)
                   ? exit_usage
                   : exit_failure;
      report_to_parent(report_fd, code);
      return code;
    };
    if (auto err = srv.start(cfg))
      return fail_start(err);
    auto endpoints = start_endpoints(cfg->main, board);
    if (!endpoints)
      return fail_start(endpoints.error());
    auto up = "up: " + cfg->main.str("cc-socket") + ", " +
              std::to_string(cfg->handlers.size()) + " handlers, " +
              std::to_string(cfg->daemons.size()) + " daemons";
    log::info(who, up);
    report_to_parent(report_fd, exit_ok);
    notifier.send("READY=1\nSTATUS=" + up + "\nMAINPID=" +
                  std::to_string(::getpid()));
    signal_thread signals{caf::actor_cast<caf::actor>(self)};
    auto logfile = absolute(cfg->main.file("logfile"));
    watchdog dog{notifier};
    bool running = true;
    while (running) {
      int sig = 0;
      if (!srv.deferred_signals.empty()) {
        sig = srv.deferred_signals.front();
        srv.deferred_signals.erase(srv.deferred_signals.begin());
      } else {
        self->receive([&](int s) { sig = s; },
                      [&](caf::down_msg& dm) {
                        auto name = srv.unexpected_down(dm);
                        if (!name.empty())
                          srv.failed_actor = name + ": " + text(dm.reason);
                      },
                      caf::after(dog.wait()) >> [] {});
      }
      dog.check(srv);
      if (!srv.failed_actor.empty()) {
        log::error(who, "stopped unexpectedly: " + srv.failed_actor +
                          "; shutting down");
        status = exit_failure;
        break;
      }
      if (sig == SIGINT || sig == SIGTERM) {
        log::info(who, std::string{"got "} + strsignal(sig) + ", stopping");
        running = false;
      } else if (sig == SIGHUP) {
        notifier.send("RELOADING=1\n" + systemd_notifier::monotonic_now() +
                      "\nSTATUS=reloading " + config_path);
        running = reload(srv, cfg, config_path, logfile, status);
        notifier.send("READY=1\nSTATUS=" +
                      std::string{running ? "up" : "reload failed"});
      }
    }
    notifier.send("STOPPING=1\nSTATUS=stopping");
    clean = srv.stop();
    // The endpoints go last: /health says 503 (shutting down) until here.
    endpoints->clear();
  }
  if (!clean) {
    // Something did not stop within its bound; the actor system's destructor
    // would wait for it, maybe forever. Leave without it.
    status = status == exit_ok ? exit_failure : status;
    if (!pidfile.empty())
      release_pidfile(pidfile);
    log::error(who, "exiting without waiting for the actors that did not "
                    "stop, exit status " + std::to_string(status));
    report_to_parent(report_fd, status);
    std::_Exit(status);
  }
  return status;
}

} // namespace

int run_server(const options& opts) {
  // A write to a closed pipe (stderr of a vanished terminal) must not kill
  // the server; ZeroMQ itself never raises SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  // A file-size limit (ulimit -f, systemd's LimitFSIZE=) makes a write fail
  // with EFBIG: an error on that one copy, reported and retried, not the end
  // of the server.
  std::signal(SIGXFSZ, SIG_IGN);
  log::set_level(opts.verbosity > 0   ? log::level::debug
                 : opts.verbosity < 0 ? log::level::warning
                                      : log::level::info);
  auto config_path = absolute(opts.config_file);
  auto res = config::load(config_path);
  for (const auto& d : res.diagnostics)
    std::cerr << (d.severity == config::diagnostic::error ? "error: "
                                                          : "warning: ")
              << d.str() << "\n";
  if (!res.ok())
    return exit_usage;
  auto cfg =
    std::make_shared<const config::server_config>(std::move(*res.config));
  auto logfile = absolute(cfg->main.file("logfile"));
  auto pidfile = absolute(cfg->main.file("pidfile"));
  log::set_format(cfg->main.str("log-format") == "json" ? log::format::json
                                                        : log::format::text);
  if (!logfile.empty()) {
    std::string err;
    if (!log::open(logfile, err)) {
      std::cerr << "ccserver: logfile " << err << "\n";
      return exit_failure;
    }
  }
  if (!pidfile.empty()) {
    if (auto err = check_pidfile(pidfile)) {
      std::cerr << "ccserver: " << text(err) << "\n";
      return exit_failure;
    }
  }
  int report_fd = -1;
  if (opts.daemonize) {
    report_fd = daemonize();
    if (report_fd < 0) {
      std::cerr << "ccserver: cannot go to the background: "
                << std::strerror(errno) << "\n";
      return exit_failure;
    }
  }
  // From here on stderr may be /dev/null: errors go to the log.
  log::info(who, std::string{"ccserver "} + CC_VERSION + " starting, pid " +
                   std::to_string(::getpid()) + ", config " + config_path);
  log_diagnostics(res);
  if (!pidfile.empty()) {
    if (auto err = take_pidfile(pidfile)) {
      log::error(who, text(err));
      if (!opts.daemonize && !logfile.empty())
        std::cerr << "ccserver: " << text(err) << "\n";
      report_to_parent(report_fd, exit_failure);
      return exit_failure;
    }
  }
  // A foreground server with a logfile also tells the terminal why it could
  // not start.
  bool echo = !opts.daemonize && !logfile.empty();
  int status = serve(cfg, config_path, pidfile, echo, report_fd);
  if (!pidfile.empty())
    release_pidfile(pidfile);
  log::info(who, "stopped, exit status " + std::to_string(status));
  report_to_parent(report_fd, status);
  return status;
}

} // namespace cc::cli
