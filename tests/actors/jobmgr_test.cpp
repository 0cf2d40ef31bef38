// The jobmgr on CAF's test coordinator: children are small real actors that
// fail when sent a string; time moves only when the test advances it, so
// restart delays are checked to the millisecond without sleeping.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/jobmgr.hpp"
#include "actors/core/types.hpp"
#include "actors/spawn.hpp"
#include "base/error.hpp"
#include "config/config.hpp"
#include "wire/message.hpp"

using namespace std::chrono_literals;
using cc::daemon_spec;
using cc::watchdog_options;
using ms = std::chrono::milliseconds;

namespace {

caf::actor_system_config& jobmgr_test_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cc::register_types(cfg);
  return cfg;
}

/// A daemon stand-in: lives until it is sent a string, then fails with it.
caf::behavior fragile_daemon(caf::event_based_actor* self) {
  return {
    [self](const std::string& why) {
      self->quit(cc::make_error(cc::errc::io, why));
    },
  };
}

/// Watches an actor and records its exit reason.
struct watched {
  bool down = false;
  caf::error reason;
};

/// Monitors the actor it is sent. (Monitoring inside the factory of an actor
/// spawned from outside any actor did not deliver down messages on CAF
/// 0.17.6's test coordinator; from a handler it does.)
caf::behavior watcher(caf::event_based_actor* self,
                      std::shared_ptr<watched> out) {
  self->set_down_handler([out](caf::down_msg& m) {
    out->down = true;
    out->reason = m.reason;
  });
  return {[self](caf::actor target) { self->monitor(target); }};
}

struct jobmgr_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  /// Every child the factory built, per section, in order.
  std::map<std::string, std::vector<caf::actor>> built;
  /// Sections whose factory call fails (counts as a failed start).
  std::map<std::string, int> factory_failures;
  caf::actor mgr;
  std::vector<caf::actor> watchers;

  jobmgr_fixture()
    : sys(jobmgr_test_config(cfg)),
      sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
  }

  ~jobmgr_fixture() {
    if (mgr)
      caf::anon_send_exit(mgr, caf::exit_reason::kill);
    for (auto& w : watchers)
      caf::anon_send_exit(w, caf::exit_reason::kill);
    for (auto& [name, actors] : built)
      for (auto& a : actors)
        caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
    sys.await_actors_before_shutdown(false);
  }

  cc::daemon_factory factory() {
    return [this](const std::string& section) -> caf::expected<caf::actor> {
      if (factory_failures[section] > 0) {
        --factory_failures[section];
        return cc::make_error(cc::errc::config_invalid, "no " + section);
      }
      auto a = sys.spawn(fragile_daemon);
      built[section].push_back(a);
      return a;
    };
  }

  void start(std::vector<daemon_spec> daemons) {
    mgr = cc::spawn_jobmgr_with(sys, cc::jobmgr_options{}, std::move(daemons),
                                factory());
    sched.run();
  }

  void watch(caf::actor target, std::shared_ptr<watched> out) {
    auto w = sys.spawn(watcher, std::move(out));
    watchers.push_back(w);
    caf::anon_send(w, std::move(target));
  }

  size_t starts(const std::string& section) {
    return built[section].size();
  }

  void fail_latest(const std::string& section) {
    REQUIRE(!built[section].empty());
    caf::anon_send(built[section].back(), std::string{"disk on fire"});
    sched.run();
  }

  /// Advances virtual time by `d` and runs what became due.
  void advance(ms d) {
    sched.advance_time(d);
    sched.run();
  }

  cc::counters stats() {
    auto out = std::make_shared<cc::counters>();
    sys.spawn([out, m = mgr](caf::event_based_actor* self) {
      self->request(m, caf::infinite, cc::stats_atom::value)
        .then([out](const cc::counters& c) { *out = c; });
    });
    sched.run();
    return *out;
  }
};

watchdog_options watchdog(ms a, ms b, ms cap, ms reset) {
  watchdog_options w;
  w.formula_a = a;
  w.formula_b = b;
  w.formula_cap = cap;
  w.reset = reset;
  return w;
}

} // namespace

TEST_CASE("restart delay is a + b * (starts - 1), capped", "[jobmgr]") {
  auto w = watchdog(2s, 5s, 0s, 3600s);
  CHECK(cc::restart_delay(w, 1) == 2s);
  CHECK(cc::restart_delay(w, 2) == 7s);
  CHECK(cc::restart_delay(w, 4) == 17s);
  w.formula_cap = 10s;
  CHECK(cc::restart_delay(w, 2) == 7s);
  CHECK(cc::restart_delay(w, 3) == 10s);
  CHECK(cc::restart_delay(w, 30) == 10s);
  CHECK(cc::restart_delay(watchdog_options{}, 1) == 0s);  // original defaults
  CHECK(cc::restart_delay(watchdog_options{}, 2) == 5s);
}

TEST_CASE("every daemon of the list is started once", "[jobmgr]") {
  jobmgr_fixture f;
  f.start({{"d:a", watchdog_options{}}, {"d:b", watchdog_options{}}});
  CHECK(f.starts("d:a") == 1);
  CHECK(f.starts("d:b") == 1);
  auto s = f.stats();
  CHECK(s["daemons"] == 2);
  CHECK(s["running"] == 2);
  CHECK(s["starts"] == 2);
  CHECK(s["failures"] == 0);
}

TEST_CASE("a failed daemon restarts after the computed delay, not before",
          "[jobmgr]") {
  jobmgr_fixture f;
  f.start({{"d:a", watchdog(2s, 3s, 0s, 3600s)}});
  REQUIRE(f.starts("d:a") == 1);

  // First failure: a + b * 0 = 2 s.
  f.fail_latest("d:a");
  CHECK(f.stats()["running"] == 0);
  f.advance(1999ms);
  CHECK(f.starts("d:a") == 1);
  f.advance(1ms);
  CHECK(f.starts("d:a") == 2);

  // Second failure: a + b * 1 = 5 s.
  f.fail_latest("d:a");
  f.advance(4999ms);
  CHECK(f.starts("d:a") == 2);
  f.advance(1ms);
  CHECK(f.starts("d:a") == 3);

  // Third: a + b * 2 = 8 s.
  f.fail_latest("d:a");
  f.advance(7999ms);
  CHECK(f.starts("d:a") == 3);
  f.advance(1ms);
  CHECK(f.starts("d:a") == 4);

  auto s = f.stats();
  CHECK(s["failures"] == 3);
  CHECK(s["restarts"] == 3);
  CHECK(s["running"] == 1);
}

TEST_CASE("the restart delay respects the cap", "[jobmgr]") {
  jobmgr_fixture f;
  f.start({{"d:a", watchdog(1s, 10s, 15s, 3600s)}});
  std::vector<ms> expected{1s, 11s, 15s, 15s};
  for (size_t i = 0; i < expected.size(); ++i) {
    f.fail_latest("d:a");
    f.advance(expected[i] - 1ms);
    CHECK(f.starts("d:a") == i + 1);
    f.advance(1ms);
    CHECK(f.starts("d:a") == i + 2);
  }
}

TEST_CASE("the start count resets after watchdog-reset of good health",
          "[jobmgr]") {
  jobmgr_fixture f;
  f.start({{"d:a", watchdog(0s, 5s, 0s, 60s)}});
  // Starts 1 -> fails at once: restart after 0 s.
  f.fail_latest("d:a");
  CHECK(f.starts("d:a") == 2);
  // Start 2 fails at once: 5 s.
  f.fail_latest("d:a");
  f.advance(4999ms);
  CHECK(f.starts("d:a") == 2);
  f.advance(1ms);
  CHECK(f.starts("d:a") == 3);
  // Start 3 runs 59 s, then fails: not yet healthy long enough, 10 s.
  f.advance(59s);
  f.fail_latest("d:a");
  f.advance(9999ms);
  CHECK(f.starts("d:a") == 3);
  f.advance(1ms);
  CHECK(f.starts("d:a") == 4);
  // Start 4 runs 60 s: the count resets to 1, so the restart is immediate.
  f.advance(60s);
  f.fail_latest("d:a");
  CHECK(f.starts("d:a") == 5);
  // And the next failure right away waits a + b * 1 again.
  f.fail_latest("d:a");
  f.advance(4999ms);
  CHECK(f.starts("d:a") == 5);
  f.advance(1ms);
  CHECK(f.starts("d:a") == 6);
}

TEST_CASE("a failing factory counts as a failed start and is retried",
          "[jobmgr]") {
  jobmgr_fixture f;
  f.factory_failures["d:a"] = 2;
  f.start({{"d:a", watchdog(1s, 1s, 0s, 3600s)}});
  CHECK(f.starts("d:a") == 0);
  f.advance(1s);  // start 1 failed: a = 1 s
  CHECK(f.starts("d:a") == 0);
  f.advance(1999ms);  // start 2 failed: a + b = 2 s
  CHECK(f.starts("d:a") == 0);
  f.advance(1ms);
  CHECK(f.starts("d:a") == 1);
  auto s = f.stats();
  CHECK(s["failures"] == 2);
  CHECK(s["starts"] == 3);
  CHECK(s["running"] == 1);
}

TEST_CASE("on shutdown the jobmgr stops its daemons and restarts none",
          "[jobmgr]") {
  jobmgr_fixture f;
  f.start({{"d:a", watchdog(0s, 0s, 0s, 3600s)},
           {"d:b", watchdog(0s, 0s, 0s, 3600s)}});
  auto child_a = std::make_shared<watched>();
  auto child_b = std::make_shared<watched>();
  auto mgr = std::make_shared<watched>();
  f.watch(f.built["d:a"].back(), child_a);
  f.watch(f.built["d:b"].back(), child_b);
  f.watch(f.mgr, mgr);
  f.sched.run();

  caf::anon_send_exit(f.mgr, caf::exit_reason::user_shutdown);
  f.sched.run();
  f.advance(10s);
  CHECK(child_a->down);
  CHECK(child_b->down);
  CHECK(child_a->reason == caf::exit_reason::user_shutdown);
  CHECK(mgr->down);
  CHECK(mgr->reason == caf::exit_reason::user_shutdown);
  CHECK(f.starts("d:a") == 1);
  CHECK(f.starts("d:b") == 1);
}

TEST_CASE("a daemon that ignores shutdown does not hold the jobmgr forever",
          "[jobmgr]") {
  jobmgr_fixture f;
  // This child traps exits and stays: the stop timeout ends the wait.
  cc::daemon_factory stubborn = [&f](const std::string& s)
    -> caf::expected<caf::actor> {
    auto a = f.sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
      self->set_exit_handler([](caf::exit_msg&) {});
      return {[](int) {}};
    });
    f.built[s].push_back(a);
    return a;
  };
  cc::jobmgr_options opts;
  opts.stop_timeout = 3s;
  f.mgr = cc::spawn_jobmgr_with(f.sys, opts, {{"d:a", watchdog_options{}}},
                                stubborn);
  f.sched.run();
  auto mgr = std::make_shared<watched>();
  f.watch(f.mgr, mgr);
  f.sched.run();
  caf::anon_send_exit(f.mgr, caf::exit_reason::user_shutdown);
  f.sched.run();
  CHECK_FALSE(mgr->down);
  f.advance(2999ms);
  CHECK_FALSE(mgr->down);
  f.advance(1ms);
  CHECK(mgr->down);
}

TEST_CASE("job messages are accepted", "[jobmgr]") {
  jobmgr_fixture f;
  f.start({});
  auto answered = std::make_shared<bool>(false);
  f.sys.spawn([answered, m = f.mgr](caf::event_based_actor* self) {
    cc::wire::cc_message msg;
    msg.type = "job.config";
    msg.body = "{}";
    self->request(m, caf::infinite, cc::dispatch_atom::value, msg)
      .then([answered](cc::ok_atom) { *answered = true; });
  });
  f.sched.run();
  CHECK(*answered);
}

TEST_CASE("ready is answered once every running daemon took a message",
          "[jobmgr]") {
  jobmgr_fixture f;
  // A daemon that takes (stats) but keeps its answer until it is sent a
  // string: the jobmgr's ready must wait for it.
  auto held = std::make_shared<size_t>(0);
  auto silent = f.sys.spawn([held](caf::event_based_actor* self) -> caf::behavior {
    auto promises = std::make_shared<std::vector<caf::response_promise>>();
    return {
      [self, held, promises](cc::stats_atom) {
        auto rp = self->make_response_promise();
        promises->push_back(rp);
        ++*held;
        return rp;
      },
      [promises](const std::string&) {
        for (auto& rp : *promises)
          rp.deliver(cc::counters{});
        promises->clear();
      },
    };
  });
  f.factory_failures["d:broken"] = 1000; // never runs: not waited for
  auto base = f.factory();
  f.mgr = cc::spawn_jobmgr_with(
    f.sys, cc::jobmgr_options{},
    {{"d:a", watchdog_options{}}, {"d:silent", watchdog_options{}},
     {"d:broken", watchdog(3600s, 0s, 0s, 3600s)}},
    [&](const std::string& section) -> caf::expected<caf::actor> {
      if (section == "d:silent")
        return silent;
      return base(section);
    });
  f.sched.run();
  auto ready = std::make_shared<bool>(false);
  f.sys.spawn([ready, m = f.mgr](caf::event_based_actor* self) {
    self->request(m, caf::infinite, cc::ready_atom::value)
      .then([ready](cc::ok_atom) { *ready = true; });
  });
  f.sched.run();
  // d:a (no stats handler: its error answer counts) answered; d:silent not.
  REQUIRE(*held == 1);
  CHECK_FALSE(*ready);
  caf::anon_send(silent, std::string{"answer now"});
  f.sched.run();
  CHECK(*ready);
  caf::anon_send_exit(silent, caf::exit_reason::kill);
}

TEST_CASE("spawn_jobmgr takes the watchdog from the daemon sections",
          "[jobmgr]") {
  auto doc = cc::config::ini::parse("[ccserver]\n"
                                    "cc-socket = tcp://127.0.0.1:22999\n"
                                    "cc-role = local\n"
                                    "pidfile = /tmp/cc-jobmgr-test/%(job_name)s.pid\n"
                                    "[routes]\n"
                                    "job = h:jobmgr\n"
                                    "[h:jobmgr]\n"
                                    "handler = jobmgr\n"
                                    "daemons = d:tail\n"
                                    "watchdog-formula-a = 3\n"
                                    "[d:tail]\n"
                                    "module = logtail\n"
                                    "logdir = /nonexistent/logs\n"
                                    "logmask = *.log\n"
                                    "watchdog-formula-b = 7\n",
                                    "/tmp/jobmgr_test.ini");
  REQUIRE(doc);
  auto loaded = cc::config::validate(*doc);
  for (auto& d : loaded.diagnostics)
    INFO(d.str());
  REQUIRE(loaded.ok());
  const auto& daemon = loaded.config->daemons.at("d:tail");
  auto mgr_w = cc::make_watchdog_options(loaded.config->handlers.at("h:jobmgr"));
  auto w = cc::make_watchdog_options(daemon, mgr_w);
  CHECK(w.formula_a == 3s);
  CHECK(w.formula_b == 7s);
  CHECK(w.formula_cap == 0s);
  CHECK(w.reset == 3600s);
  CHECK(daemon.str("save-file") == "/tmp/cc-jobmgr-test/jobmgr_test.d:tail.save");
}

TEST_CASE("daemons are registered with the stats actor, again after a restart",
          "[jobmgr]") {
  jobmgr_fixture f;
  f.start({{"d:a", watchdog(0s, 0s, 0s, 3600s)},
           {"d:b", watchdog(0s, 0s, 0s, 3600s)}});
  using entry = std::pair<std::string, caf::actor>;
  auto seen = std::make_shared<std::vector<entry>>();
  auto stats = f.sys.spawn([seen](caf::event_based_actor*) -> caf::behavior {
    return {[seen](cc::register_atom, const std::string& name, caf::actor a) {
      seen->emplace_back(name, a);
      return cc::ok_atom::value;
    }};
  });
  f.watchers.push_back(stats);  // ended with the fixture
  caf::anon_send(f.mgr, cc::stats_atom::value, stats);
  f.sched.run();
  REQUIRE(seen->size() == 2);
  CHECK((*seen)[0] == entry{"d:a", f.built["d:a"].back()});
  CHECK((*seen)[1] == entry{"d:b", f.built["d:b"].back()});
  f.fail_latest("d:a");  // restarted at once (a = b = 0)
  REQUIRE(f.starts("d:a") == 2);
  REQUIRE(seen->size() == 3);
  CHECK((*seen)[2] == entry{"d:a", f.built["d:a"].back()});
}
