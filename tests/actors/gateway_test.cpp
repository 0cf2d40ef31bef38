// The gateway's in-flight budget (actors/link/gateway.hpp) with real parts: a
// ZeroMQ client on 127.0.0.1, the gateway's socket thread, the router, and a
// handler that holds its answers. The socket thread sends each message
// straight to the router with a receipt; the router drops the receipt once
// the handler answered. Past the budget (8 MiB) the socket stops reading;
// answers bring it back. Nothing is lost on the way.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <zmq.h>

#include "actors/core/atoms.hpp"
#include "actors/core/router.hpp"
#include "actors/core/types.hpp"
#include "actors/link/gateway.hpp"
#include "config/config.hpp"
#include "tests/support/actor_stats.hpp"
#include "tests/support/process.hpp"
#include "tests/support/zmq_peer.hpp"

using namespace std::chrono_literals;

using cc::test::stats_of;

namespace {

/// A handler that answers nothing until told to (flush_atom answers all).
struct holding_state {
  std::vector<caf::response_promise> held;
  int64_t received = 0;
  int64_t blob_bytes = 0;
};

caf::behavior holding_handler(caf::stateful_actor<holding_state>* self) {
  return {
    [=](cc::dispatch_atom, const cc::wire::cc_message& msg) -> caf::result<cc::ok_atom> {
      ++self->state.received;
      if (msg.has_blob())
        self->state.blob_bytes += static_cast<int64_t>(msg.blob->size());
      auto rp = self->make_response_promise();
      self->state.held.push_back(rp);
      return rp;
    },
    [=](cc::flush_atom) {
      for (auto& rp : self->state.held)
        rp.deliver(cc::ok_atom::value);
      self->state.held.clear();
      return cc::ok_atom::value;
    },
    [=](cc::stats_atom) -> cc::counters {
      return {{"received", self->state.received},
              {"held", static_cast<int64_t>(self->state.held.size())},
              {"blob_bytes", self->state.blob_bytes}};
    },
  };
}

/// Polls `a`'s counter `key` (bounded: 100 x 50 ms) until `done(value)`.
template <class Pred>
int64_t wait_counter(caf::scoped_actor& self, const caf::actor& a,
                     const std::string& key, Pred done) {
  int64_t v = -1;
  for (int i = 0; i < 100; ++i) {
    v = stats_of(self, a)[key];
    if (done(v))
      break;
    std::this_thread::sleep_for(50ms);
  }
  return v;
}

} // namespace

TEST_CASE("gateway: past its in-flight budget it stops reading until the "
          "handlers answer, and loses nothing", "[gateway]") {
  caf::actor_system_config cfg;
  cc::register_types(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  auto handler = sys.spawn(holding_handler);
  cc::router_config rc;
  rc.table = cc::routes::route_table{{cc::config::route{"pub", {"h:hold"}}}};
  rc.hostname = "testhost";
  rc.job_name = "gwtest";
  auto router = cc::spawn_router(sys, rc);
  bool registered = false;
  self->request(router, 5s, cc::handler_atom::value, std::string{"h:hold"}, handler)
    .receive([&](cc::ok_atom) { registered = true; }, [&](caf::error&) {});
  REQUIRE(registered);

  int port = cc::test::free_port();
  cc::config::section main;
  main.name = "ccserver";
  main.kind = "ccserver";
  main.values = {{"cc-socket", "tcp://127.0.0.1:" + std::to_string(port)},
                 {"zmq_linger", "0"}};
  auto gw = cc::spawn_gateway(sys, main, router);
  REQUIRE(gw);

  cc::test::zmq_peer client{ZMQ_DEALER};
  REQUIRE(client.connect("tcp://127.0.0.1:" + std::to_string(port)));
  const size_t mib = 1 << 20;
  const int total = 12;
  for (int i = 0; i < total; ++i)
    REQUIRE(client.send({"", "pub.logtail", "{\"n\":" + std::to_string(i) + "}",
                         "", std::string(mib, static_cast<char>('a' + i))}));

  // 8 MiB budget, 1 MiB messages: the eighth goes over it and reading stops.
  auto held = wait_counter(self, handler, "held", [](int64_t v) { return v >= 8; });
  CHECK(held >= 8);
  std::this_thread::sleep_for(300ms);  // time for more, if reading went on
  auto c = stats_of(self, *gw);
  CHECK(stats_of(self, handler)["held"] < total);
  CHECK(c["throttled"] >= 1);
  CHECK(c["in_flight_bytes"] > static_cast<int64_t>(8 * mib));

  // Answers release the receipts: reading resumes until every message is in.
  int64_t received = 0;
  for (int round = 0; round < 50 && received < total; ++round) {
    self->request(handler, 5s, cc::flush_atom::value)
      .receive([](cc::ok_atom) {}, [](caf::error&) {});
    received = wait_counter(self, handler, "received",
                            [&](int64_t v) { return v >= total; });
  }
  CHECK(received == total);
  self->request(handler, 5s, cc::flush_atom::value)
    .receive([](cc::ok_atom) {}, [](caf::error&) {});
  auto in_flight = wait_counter(self, *gw, "in_flight_bytes",
                                [](int64_t v) { return v == 0; });
  CHECK(in_flight == 0);
  auto hs = stats_of(self, handler);
  CHECK(hs["blob_bytes"] == static_cast<int64_t>(total * mib));
  CHECK(stats_of(self, *gw)["dispatched"] == total);

  for (auto& a : {*gw, caf::actor_cast<caf::actor>(router), handler}) {
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {},
                  caf::after(10s) >> [] { FAIL("an actor did not stop within 10 s"); });
  }
}
