// The server's actor tree, built from one configuration: its start-up
// order, its ordered stop, and its rebuild on a reload. Used by the
// ccserver program (main/serve.cpp) from its main thread, through a
// scoped_actor: every step is a blocking request with a bound, so the
// order below is the order in which things happen.
//
// Owns:  one generation of router, handlers, jobmgrs and stats (and the
//        configuration they were built from), the ZeroMQ gateway and the
//        caf-listen gateway (both kept across reloads), and the direct
//        lanes (actors/core/direct_lanes.hpp: prepared with each
//        generation, open while a gateway is attached to it).
// Start: router, handlers (jobmgrs last, so their daemons find the handlers
//        registered), stats, a wait (request_bound, then a warning) for
//        every daemon's start-up (the jobmgrs' ready_atom: a tailer has
//        taken its start position), gateway last (nothing arrives before
//        the handlers exist), caf-listen.
// Stop:  gateway (stop accepting), caf-listen, jobmgrs (tailers persist
//        positions), a round trip through the router (what it holds reaches
//        the handlers first), remaining handlers (forwarders drain within
//        zmq_linger, the tailwriter flushes), router, stats; each group by
//        send_exit with exit_reason::user_shutdown and a bounded wait for
//        its down messages.
// Reload: router, handlers and stats rebuilt in the same order while the
//        gateway holds incoming messages; the gateway stays when cc-socket
//        is unchanged (it re-reads its CURVE allow-list), else a new one is
//        bound first; when the new set cannot start, the previous one is
//        started again.
// Each step is named to an observer (on_step), which logs it at debug level
// by default: "router", "handler NAME", "jobmgr NAME", "stats", "daemons", "gateway",
// "caf-listen", and "stop GROUP" for each group stopped.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>

#include "actors/core/direct_lanes.hpp"
#include "actors/core/router_actor.hpp"
#include "actors/core/router.hpp"
#include "actors/core/status_board.hpp"
#include "config/config.hpp"

namespace cc {

class actor_tree {
public:
  using config_ptr = std::shared_ptr<const config::server_config>;
  using step_observer = std::function<void(const std::string&)>;

  /// Bounds of the shutdown, per group. A forwarder needs zmq_linger at
  /// most, a tailwriter a flush and fsync; past these the server goes on
  /// without them.
  static constexpr std::chrono::milliseconds gateway_stop_bound{10000};
  static constexpr std::chrono::milliseconds group_stop_bound{30000};
  /// Bound of one request (a registration, a pause) to an actor of the tree.
  static constexpr std::chrono::milliseconds request_bound{10000};

  actor_tree(caf::actor_system& sys, caf::scoped_actor& self,
             std::shared_ptr<status_board> board);

  /// Names each step to `observer` instead of the debug log.
  void on_step(step_observer observer);

  /// Everything, in start-up order. On an error, what started stays for
  /// stop() to end.
  caf::error start(config_ptr cfg);

  /// Everything, in stop order. Whether every actor went down in time.
  bool stop();

  enum class reload_outcome { reloaded, kept_previous, failed };

  /// Rebuilds router, handlers and stats from `cfg`; the gateway stays when
  /// cc-socket is unchanged. When the new set cannot start, the previous
  /// configuration is started again (kept_previous); failed when not even
  /// that works.
  reload_outcome reload(config_ptr cfg);

  /// A down message: the name of our actor that went down unexpectedly, or
  /// "" when it was being stopped or is not ours.
  std::string unexpected_down(const caf::down_msg& dm);

  /// Whether the router answers within `bound`: the actor system runs
  /// (the watchdog's liveness check).
  bool alive(std::chrono::milliseconds bound);

  /// The configuration of the running generation (null before start).
  const config_ptr& config() const {
    return current_.cfg;
  }
  /// Names of the running handlers and jobmgrs, in start order.
  std::vector<std::string> part_names() const;
  const router_actor& router() const {
    return current_.router;
  }
  const caf::actor& gateway() const {
    return gateway_;
  }

  /// Our errors by cc::describe, CAF's by the actor system's rendering
  /// ("system:2" says nothing to an operator).
  std::string text(const caf::error& err) const;

  /// Signals (int messages) that arrived while the tree waited for its
  /// actors; the caller handles them next.
  std::vector<int> deferred_signals;
  /// Set when an actor went down unexpectedly during a stop or reload wait.
  std::string failed_actor;

private:
  /// One generation of actors built from one configuration.
  struct generation {
    // Handlers may keep their spawn_context, which refers to this config,
    // so it lives as long as they do.
    config_ptr cfg;
    router_actor router;
    caf::actor stats;
    std::vector<std::pair<std::string, caf::actor>> handlers; // not jobmgrs
    std::vector<std::pair<std::string, caf::actor>> jobmgrs;
  };

  template <class Handle, class... Ts>
  caf::error ask(const Handle& dest, Ts&&... xs);
  void step(const std::string& what);
  std::string name_of_down(const caf::down_msg& dm);
  caf::error start_core(generation& gen);
  caf::error start_handlers(generation& gen, std::shared_ptr<ack_registry> acks);
  caf::error start_stats(generation& gen);
  bool stop_core(generation& gen);
  bool stop_group(std::vector<caf::actor> group, const char* what,
                  std::chrono::milliseconds bound);
  caf::expected<caf::actor> gateway_for(const config::section& main);
  void pause_gateways(const config::section& main);
  reload_outcome restart_previous(config_ptr previous, caf::actor& new_gateway);
  reload_outcome attach_all(reload_outcome outcome);
  void adopt_gateway(caf::actor gw, std::string endpoint);
  caf::error attach_gateway();
  caf::error start_caf_listen();
  caf::error attach_caf_listen();

  caf::actor_system& sys_;
  caf::scoped_actor& self_;
  std::shared_ptr<status_board> board_;
  step_observer observer_;
  generation current_;
  caf::actor caf_listen_;
  std::string caf_listen_address_;
  caf::actor gateway_;
  std::string gateway_endpoint_;
  // The gateway's data port, for every generation's echo answers.
  std::shared_ptr<std::atomic<int>> data_offer_ = std::make_shared<std::atomic<int>>(0);
  // Data connections' messages past the router: each generation's route
  // table and handler doors, open while its gateway is attached.
  direct_lanes_ptr lanes_ = std::make_shared<direct_lanes>();
  std::set<caf::actor_addr> stopping_; // their down messages are expected
  std::set<caf::actor_addr> gone_;     // went down unexpectedly: not waited for
};

} // namespace cc
