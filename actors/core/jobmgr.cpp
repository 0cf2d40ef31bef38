// The jobmgr actor; the contract is in jobmgr.hpp.
#include "actors/core/jobmgr.hpp"

#include <algorithm>
#include <memory>

#include <caf/actor_clock.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/ack_caps.hpp"
#include "actors/core/atoms.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "config/reader.hpp"
#include "wire/message.hpp"

namespace cc {

namespace {

using ms = std::chrono::milliseconds;

std::string seconds_text(ms x) {
  auto s = std::to_string(static_cast<double>(x.count()) / 1000.0);
  // "5.000000" -> "5", "0.500000" -> "0.5"
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.')
    s.pop_back();
  return s + " s";
}

struct daemon_child {
  std::string section;
  watchdog_options watchdog;
  caf::actor actor;       // empty while stopped or waiting for a restart
  int starts = 0;         // since the last reset
  caf::actor_clock::time_point last_start;
  bool restart_pending = false;
};

struct jobmgr_state {
  static inline const char* name = "jobmgr";

  caf::stateful_actor<jobmgr_state>* self;
  jobmgr_options opts;
  daemon_factory factory;
  std::vector<daemon_child> children;
  bool stopping = false;
  caf::error stop_reason;
  caf::actor stats_actor;  // where daemons' counters are collected, if known
  counters stats{{"starts", 0}, {"restarts", 0}, {"failures", 0}};

  explicit jobmgr_state(caf::stateful_actor<jobmgr_state>* ptr) : self(ptr) {
  }

  /// Children still alive when the jobmgr itself ends (killed, or the stop
  /// timeout passed) are told to stop too: none outlives its supervisor.
  ~jobmgr_state() {
    for (auto& c : children)
      if (c.actor)
        caf::anon_send_exit(c.actor, caf::exit_reason::user_shutdown);
  }

  const std::string& who() const { return opts.name; }

  daemon_child* find(const caf::actor_addr& addr) {
    for (auto& c : children)
      if (c.actor && c.actor.address() == addr)
        return &c;
    return nullptr;
  }

  daemon_child* find(const std::string& section) {
    for (auto& c : children)
      if (c.section == section)
        return &c;
    return nullptr;
  }

  void start(daemon_child& c) {
    c.restart_pending = false;
    ++c.starts;
    c.last_start = self->clock().now();
    stats["starts"] += 1;
    auto a = factory(c.section);
    if (!a) {
      log::error(who(), "cannot start " + c.section + ": " + describe(a.error()));
      stats["failures"] += 1;
      schedule_restart(c);
      return;
    }
    c.actor = std::move(*a);
    self->monitor(c.actor);
    report_to_stats(c);
    log::info(who(), "started " + c.section + " (start " +
                       std::to_string(c.starts) + ")");
  }

  /// The stats actor polls daemons by name; a restarted daemon replaces its
  /// predecessor under the same name.
  void report_to_stats(const daemon_child& c) {
    if (!stats_actor || !c.actor)
      return;
    auto section = c.section;
    self->request(stats_actor, caf::infinite, register_atom::value, c.section,
                  c.actor)
      .then([](caf::ok_atom) {},
            [this, section](caf::error& err) {
              log::warning(who(), "stats did not take " + section + ": " +
                                    self->system().render(err));
            });
  }

  void set_stats_actor(caf::actor stats) {
    stats_actor = std::move(stats);
    for (auto& c : children)
      report_to_stats(c);
  }

  void schedule_restart(daemon_child& c) {
    auto healthy = self->clock().now() - c.last_start;
    if (healthy >= c.watchdog.reset && c.starts > 1) {
      log::info(who(), c.section + " ran for " +
                         seconds_text(std::chrono::duration_cast<ms>(healthy)) +
                         ": start count reset");
      c.starts = 1;
    }
    auto delay = restart_delay(c.watchdog, c.starts);
    log::info(who(), "restarting " + c.section + " in " + seconds_text(delay));
    c.restart_pending = true;
    if (delay.count() == 0)
      self->send(self, restart_atom::value, c.section);
    else
      self->delayed_send(self, delay, restart_atom::value, c.section);
  }

  void on_down(const caf::down_msg& msg) {
    auto* c = find(msg.source);
    if (c == nullptr)
      return;
    c->actor = nullptr;
    if (stopping) {
      log::info(who(), c->section + " stopped");
      if (running() == 0)
        self->quit(stop_reason);
      return;
    }
    stats["failures"] += 1;
    log::warning(who(), c->section + " failed: " +
                          self->system().render(msg.reason));
    schedule_restart(*c);
  }

  void on_restart(const std::string& section) {
    auto* c = find(section);
    if (stopping || c == nullptr || !c->restart_pending)
      return;
    stats["restarts"] += 1;
    start(*c);
  }

  void on_exit(const caf::exit_msg& msg) {
    if (stopping)
      return;
    stopping = true;
    stop_reason = msg.reason;
    log::info(who(), "stopping " + std::to_string(running()) + " daemon(s)");
    for (auto& c : children) {
      c.restart_pending = false;
      if (c.actor)
        self->send_exit(c.actor, msg.reason);
    }
    if (running() == 0) {
      self->quit(stop_reason);
      return;
    }
    self->delayed_send(self, opts.stop_timeout, drain_atom::value);
  }

  void on_stop_timeout() {
    log::warning(who(), std::to_string(running()) +
                          " daemon(s) did not stop within " +
                          seconds_text(opts.stop_timeout) + "; leaving anyway");
    self->quit(stop_reason);
  }

  /// `rp` once every running daemon answered: a daemon takes messages only
  /// after its start-up (a tailer's first look at its files), so its answer
  /// says that is done.
  void when_started(caf::response_promise rp) {
    auto left = std::make_shared<size_t>(running());
    if (*left == 0) {
      rp.deliver(caf::ok_atom::value);
      return;
    }
    auto one_more = [rp, left]() mutable {
      if (--*left == 0)
        rp.deliver(caf::ok_atom::value);
    };
    for (auto& c : children)
      if (c.actor)
        self->request(c.actor, caf::infinite, stats_atom::value)
          .then([one_more](const counters&) mutable { one_more(); },
                [one_more](caf::error&) mutable { one_more(); });
  }

  size_t running() const {
    return static_cast<size_t>(
      std::count_if(children.begin(), children.end(),
                    [](const daemon_child& c) { return c.actor != nullptr; }));
  }

  counters snapshot() const {
    auto out = stats;
    out["daemons"] = static_cast<int64_t>(children.size());
    out["running"] = static_cast<int64_t>(running());
    // Per daemon, so health can name one that is down (also one that could
    // not even be started, which no other part reports).
    for (const auto& c : children)
      out["daemon_running{" + c.section + "}"] = c.actor ? 1 : 0;
    return out;
  }
};

caf::behavior jobmgr_actor(caf::stateful_actor<jobmgr_state>* self,
                           jobmgr_options opts, std::vector<daemon_spec> daemons,
                           daemon_factory factory) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.factory = std::move(factory);
  for (auto& spec : daemons) {
    daemon_child c;
    c.section = std::move(spec.section);
    c.watchdog = spec.watchdog;
    st.children.push_back(std::move(c));
  }
  self->set_down_handler([self](caf::down_msg& msg) { self->state.on_down(msg); });
  self->set_exit_handler([self](caf::exit_msg& msg) { self->state.on_exit(msg); });
  for (auto& c : st.children)
    st.start(c);
  return {
    [self](dispatch_atom, const wire::cc_message& msg) {
      log::debug(self->state.who(), "message " + msg.type);
      return caf::ok_atom::value;
    },
    [self](restart_atom, const std::string& section) {
      self->state.on_restart(section);
    },
    [self](drain_atom) {
      if (self->state.stopping)
        self->state.on_stop_timeout();
    },
    [self](stats_atom) { return self->state.snapshot(); },
    [self](ready_atom) {
      auto rp = self->make_response_promise();
      self->state.when_started(rp);
      return rp;
    },
    [self](stats_atom, caf::actor stats) {
      self->state.set_stats_actor(std::move(stats));
      return caf::ok_atom::value;
    },
  };
}

} // namespace

std::chrono::milliseconds restart_delay(const watchdog_options& w, int starts) {
  auto n = std::max(starts, 1) - 1;
  auto delay = w.formula_a + w.formula_b * n;
  if (w.formula_cap.count() > 0 && delay > w.formula_cap)
    delay = w.formula_cap;
  return delay;
}

namespace {

/// The four watchdog keys; one without a value keeps what `w` holds.
void read_watchdog(watchdog_options& w, const config::reader& r) {
  auto get = [&](const char* key, ms& field) {
    if (r.has(key))
      field = r.millis(key);
  };
  get("watchdog-formula-a", w.formula_a);
  get("watchdog-formula-b", w.formula_b);
  get("watchdog-formula-cap", w.formula_cap);
  get("watchdog-reset", w.reset);
}

} // namespace

watchdog_options::watchdog_options() {
  read_watchdog(*this, config::reader::defaults("jobmgr"));
}

watchdog_options make_watchdog_options(const config::section& sec,
                                       const watchdog_options& fallback) {
  auto w = fallback;
  read_watchdog(w, config::reader{sec});
  return w;
}

caf::actor spawn_jobmgr_with(caf::actor_system& sys, jobmgr_options opts,
                             std::vector<daemon_spec> daemons,
                             daemon_factory factory) {
  return sys.spawn(jobmgr_actor, std::move(opts), std::move(daemons),
                   std::move(factory));
}


} // namespace cc
