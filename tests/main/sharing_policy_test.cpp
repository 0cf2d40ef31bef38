// The server's scheduler (main/sharing_policy.hpp): `caf-scheduler =
// sharing` installs the prompt sharing coordinator, `stealing` leaves CAF's;
// messages from threads outside the scheduler, from actors on it and delayed
// ones all arrive, with one worker and with several. Every wait bounded by
// count and time; no timing asserted.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/core/atoms.hpp"
#include "config/config.hpp"
#include "main/serve.hpp"
#include "main/sharing_policy.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;

namespace {

/// The [ccserver] section of a minimal configuration with `extra` lines.
std::shared_ptr<const cc::config::server_config> server_config(const std::string& extra) {
  cc::test::temp_dir dir{"ccsched"};
  auto path = dir / "server.ini";
  cc::test::write_file(path, "[ccserver]\ncc-socket = tcp://127.0.0.1:" +
                               std::to_string(cc::test::free_port()) + "\n" + extra +
                               "\n[routes]\necho = h:echo\n\n[h:echo]\n"
                               "handler = cc.handler.echo\n");
  auto res = cc::config::load(path);
  for (const auto& d : res.diagnostics)
    UNSCOPED_INFO(d.str());
  REQUIRE(res.ok());
  return std::make_shared<const cc::config::server_config>(std::move(*res.config));
}

bool prompt(caf::actor_system& sys) {
  return dynamic_cast<cc::cli::prompt_sharing_coordinator*>(&sys.scheduler()) != nullptr;
}

/// Counts wakes; a stats_atom answers the count. Each wake also goes on to
/// `next` (when set), so a message crosses actors on the scheduler too.
caf::behavior counter(caf::event_based_actor* self, std::shared_ptr<std::atomic<int>> n,
                      caf::actor next) {
  return {
    [=](cc::wake_atom) {
      ++*n;
      if (next)
        self->send(next, cc::wake_atom::value);
    },
    [=](cc::tail_poll_atom) {
      self->delayed_send(self, 1ms, cc::wake_atom::value);
    },
  };
}

/// Sends `per_thread` wakes from each of `threads` plain threads and one
/// delayed wake per thread; true once every one went through both actors.
bool deliver_all(caf::actor_system& sys, int threads, int per_thread) {
  auto second = std::make_shared<std::atomic<int>>(0);
  auto first = std::make_shared<std::atomic<int>>(0);
  auto b = sys.spawn(counter, second, caf::actor{});
  auto a = sys.spawn(counter, first, b);
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t)
    senders.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        caf::anon_send(a, cc::wake_atom::value);
        if (i % 64 == 0)
          std::this_thread::yield(); // let the workers fall asleep now and then
      }
      caf::anon_send(a, cc::tail_poll_atom::value);
    });
  for (auto& s : senders)
    s.join();
  int want = threads * (per_thread + 1);
  bool ok = cc::test::wait_until([&] { return second->load() == want; }, 20000ms);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
  UNSCOPED_INFO("delivered " << first->load() << " and " << second->load() << " of " << want);
  return ok && first->load() == want;
}

} // namespace

TEST_CASE("caf-scheduler = sharing runs the prompt sharing scheduler, "
          "stealing CAF's own", "[scheduler]") {
  {
    caf::actor_system_config sys_cfg;
    cc::cli::configure_system(sys_cfg, server_config("")->main);
    caf::actor_system sys{sys_cfg};
    CHECK(prompt(sys));
  }
  {
    caf::actor_system_config sys_cfg;
    cc::cli::configure_system(sys_cfg, server_config("caf-scheduler = stealing")->main);
    caf::actor_system sys{sys_cfg};
    CHECK_FALSE(prompt(sys));
  }
}

TEST_CASE("the prompt sharing scheduler delivers every message from outside "
          "threads, between actors and delayed", "[scheduler]") {
  for (int workers : {1, 3}) {
    caf::actor_system_config sys_cfg;
    cc::cli::configure_system(
      sys_cfg, server_config("caf-threads = " + std::to_string(workers))->main);
    caf::actor_system sys{sys_cfg};
    REQUIRE(prompt(sys));
    INFO(workers << " worker(s)");
    CHECK(deliver_all(sys, 4, 2000));
    // A request answered from the scheduler reaches a scoped actor's thread.
    caf::scoped_actor self{sys};
    auto echo = sys.spawn([]() -> caf::behavior {
      return {[](int x) { return x + 1; }};
    });
    int got = 0;
    self->request(echo, caf::infinite, 41).receive([&](int x) { got = x; },
                                                   [](caf::error&) {});
    CHECK(got == 42);
    self->send_exit(echo, caf::exit_reason::user_shutdown);
  }
}
