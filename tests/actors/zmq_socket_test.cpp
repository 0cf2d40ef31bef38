// ZeroMQ sockets on the process's one I/O loop (actors/link/zmq_socket.hpp,
// actors/link/zap.hpp), on real sockets on 127.0.0.1: a ROUTER and a DEALER
// of one process talk to each other through the same loop thread; two CURVE
// ROUTERs share the one ZAP socket and each keeps its own allow-list (the
// other's client is refused); the ZAP socket goes with its last user and
// comes back for the next; a socket stopped with messages queued sends them
// within its linger and closes, or counts them dropped when they cannot
// leave; stop_async's `done` runs once.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq.h>

#include "actors/link/curve_keys.hpp"
#include "actors/link/zap.hpp"
#include "actors/link/zmq_socket.hpp"
#include "base/error.hpp"
#include "tests/support/process.hpp"
#include "tests/support/zmq_peer.hpp"
#include "wire/message.hpp"

using namespace std::chrono_literals;
using cc::zmq_socket_loop;
using cc::wire::cc_message;

namespace {

std::string endpoint(int port) {
  return "tcp://127.0.0.1:" + std::to_string(port);
}

/// What one socket's callbacks handed over, and on which thread.
struct received {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<cc_message> messages;
  std::vector<std::thread::id> threads;

  zmq_socket_loop::events events() {
    zmq_socket_loop::events ev;
    ev.on_frames = [this](std::vector<std::string>&& frames, cc::wire::blob_ptr&& last,
                          cc::wire::peer_ptr&&) {
      auto msg = cc::wire::parse(std::move(frames), std::move(last));
      std::lock_guard<std::mutex> guard{mtx};
      threads.push_back(std::this_thread::get_id());
      if (msg)
        messages.push_back(std::move(*msg));
      cv.notify_all();
    };
    return ev;
  }
  /// Waits (bounded) for at least `n` messages.
  bool wait_for(size_t n) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, 10s, [&] { return messages.size() >= n; });
  }
  size_t count() {
    std::lock_guard<std::mutex> guard{mtx};
    return messages.size();
  }
};

cc_message request(const std::string& body) {
  cc_message m;
  m.type = "log.info";
  m.body = body;
  return m;
}

/// Polls `done` (bounded: 200 x 25 ms).
template <class Pred>
bool eventually(Pred done) {
  for (int i = 0; i < 200; ++i) {
    if (done())
      return true;
    std::this_thread::sleep_for(25ms);
  }
  return done();
}

struct key_pair {
  std::string pub, secret; // binary, 32 bytes each
  std::string z85;         // the public key's text
};

key_pair fresh_pair() {
  char p[41] = {}, s[41] = {};
  REQUIRE(zmq_curve_keypair(p, s) == 0);
  auto pub = cc::curve::decode(p, "public");
  auto secret = cc::curve::decode(s, "secret");
  REQUIRE(pub);
  REQUIRE(secret);
  return {*pub, *secret, p};
}

std::shared_ptr<cc::zap_handler> allowing(const key_pair& client) {
  cc::curve::allow_list list;
  auto id = std::make_shared<cc::wire::peer_identity>();
  id->key = client.z85;
  list.emplace(client.z85, id);
  return std::make_shared<cc::zap_handler>(std::move(list), "test");
}

cc::zmq_options curve_server(const key_pair& server,
                             std::shared_ptr<cc::zap_handler> policy) {
  cc::zmq_options o;
  o.linger_ms = 0;
  o.curve_secret = server.secret;
  o.curve_public = server.pub;
  o.zap = std::move(policy);
  return o;
}

cc::zmq_options curve_client(const key_pair& client, const key_pair& server) {
  cc::zmq_options o;
  o.linger_ms = 0;
  o.curve_server = server.pub;
  o.curve_public = client.pub;
  o.curve_secret = client.secret;
  return o;
}

} // namespace

TEST_CASE("zmq sockets: a ROUTER and a DEALER of one process talk through the "
          "one loop thread",
          "[zmq_socket]") {
  int port = cc::test::free_port();
  received at_router, at_dealer;
  cc::zmq_options opts;
  opts.linger_ms = 0;
  zmq_socket_loop router{zmq_socket_loop::role::router_bind, endpoint(port), opts,
                         at_router.events(), "test-router"};
  zmq_socket_loop dealer{zmq_socket_loop::role::dealer_connect, endpoint(port), opts,
                         at_dealer.events(), "test-dealer"};
  REQUIRE_FALSE(router.start());
  REQUIRE_FALSE(dealer.start());

  dealer.send(request("{\"n\":1}"));
  REQUIRE(at_router.wait_for(1));
  cc_message reply;
  {
    std::lock_guard<std::mutex> guard{at_router.mtx};
    auto& got = at_router.messages[0];
    CHECK(got.body == "{\"n\":1}");
    REQUIRE(got.route.size() == 1); // the identity the ROUTER gave the dealer
    reply.route = got.route;
  }
  reply.type = "log.ack";
  reply.body = "{\"n\":2}";
  router.send(std::move(reply));
  REQUIRE(at_dealer.wait_for(1));
  CHECK(at_dealer.messages[0].body == "{\"n\":2}");

  // Both callbacks ran on the same thread: the loop's, not a thread per
  // socket (nor this one).
  REQUIRE(at_router.threads.size() == 1);
  REQUIRE(at_dealer.threads.size() == 1);
  CHECK(at_router.threads[0] == at_dealer.threads[0]);
  CHECK(at_router.threads[0] != std::this_thread::get_id());
  CHECK(router.counters().received == 1);
  CHECK(router.counters().sent == 1);
  CHECK(dealer.counters().sent == 1);
  CHECK(dealer.counters().received == 1);
  dealer.stop();
  router.stop();
}

// ZeroMQ signals a socket's news on its ZMQ_FD once; the loop waits on a
// quiet socket (its last ZMQ_EVENTS: nothing in; nothing done with it since)
// by that descriptor alone, without asking ZMQ_EVENTS every round, and what
// comes later still wakes it, message after message.
TEST_CASE("zmq sockets: a quiet socket is waited on by its descriptor, and "
          "later messages still arrive",
          "[zmq_socket]") {
  int port = cc::test::free_port();
  received at_router, at_dealer;
  cc::zmq_options opts;
  opts.linger_ms = 0;
  zmq_socket_loop router{zmq_socket_loop::role::router_bind, endpoint(port), opts,
                         at_router.events(), "test-router"};
  zmq_socket_loop dealer{zmq_socket_loop::role::dealer_connect, endpoint(port), opts,
                         at_dealer.events(), "test-dealer"};
  REQUIRE_FALSE(router.start());
  REQUIRE_FALSE(dealer.start());
  dealer.send(request("{\"n\":0}"));
  REQUIRE(at_router.wait_for(1));
  std::vector<std::string> route;
  {
    std::lock_guard<std::mutex> guard{at_router.mtx};
    route = at_router.messages[0].route;
  }
  const int n = 20;
  for (int i = 1; i <= n; ++i) {
    std::this_thread::sleep_for(10ms); // the dealer goes quiet meanwhile
    cc_message reply;
    reply.route = route;
    reply.type = "log.ack";
    reply.body = "{\"n\":" + std::to_string(i) + "}";
    router.send(std::move(reply));
    REQUIRE(at_dealer.wait_for(static_cast<size_t>(i)));
  }
  {
    std::lock_guard<std::mutex> guard{at_dealer.mtx};
    REQUIRE(at_dealer.messages.size() == static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
      CHECK(at_dealer.messages[i].body == "{\"n\":" + std::to_string(i + 1) + "}");
  }
  // The router's sends woke the loop while the dealer was quiet.
  CHECK(dealer.counters().quiet_waits > 0);
  CHECK(dealer.counters().received == n);
  dealer.stop();
  router.stop();
}

TEST_CASE("zmq sockets: two CURVE ROUTERs in one process keep their own "
          "allow-lists, each refusing the other's client",
          "[zmq_socket][curve]") {
  REQUIRE(cc::curve::available());
  auto server_a = fresh_pair(), server_b = fresh_pair();
  auto client_a = fresh_pair(), client_b = fresh_pair();
  auto policy_a = allowing(client_a), policy_b = allowing(client_b);
  int port_a = cc::test::free_port(), port_b = cc::test::free_port();
  received at_a, at_b, ignored;
  zmq_socket_loop router_a{zmq_socket_loop::role::router_bind, endpoint(port_a),
                           curve_server(server_a, policy_a), at_a.events(), "gw-a"};
  zmq_socket_loop router_b{zmq_socket_loop::role::router_bind, endpoint(port_b),
                           curve_server(server_b, policy_b), at_b.events(), "gw-b"};
  REQUIRE_FALSE(router_a.start());
  REQUIRE_FALSE(router_b.start());
  CHECK(cc::zap_domains() == 2); // one ZAP socket, two domains

  {
    // Each client to the other's server: refused by that server's list.
    zmq_socket_loop a_to_b{zmq_socket_loop::role::dealer_connect, endpoint(port_b),
                           curve_client(client_a, server_b), ignored.events(), "a-to-b"};
    zmq_socket_loop b_to_a{zmq_socket_loop::role::dealer_connect, endpoint(port_a),
                           curve_client(client_b, server_a), ignored.events(), "b-to-a"};
    REQUIRE_FALSE(a_to_b.start());
    REQUIRE_FALSE(b_to_a.start());
    a_to_b.send(request("{\"from\":\"a\"}"));
    b_to_a.send(request("{\"from\":\"b\"}"));
    CHECK(eventually([&] { return policy_b->refused >= 1 && policy_a->refused >= 1; }));
    a_to_b.stop();
    b_to_a.stop();
  }
  CHECK(policy_a->accepted == 0);
  CHECK(policy_b->accepted == 0);

  // Each client to its own server: let in, by that server's list alone.
  zmq_socket_loop a_to_a{zmq_socket_loop::role::dealer_connect, endpoint(port_a),
                         curve_client(client_a, server_a), ignored.events(), "a-to-a"};
  zmq_socket_loop b_to_b{zmq_socket_loop::role::dealer_connect, endpoint(port_b),
                         curve_client(client_b, server_b), ignored.events(), "b-to-b"};
  REQUIRE_FALSE(a_to_a.start());
  REQUIRE_FALSE(b_to_b.start());
  a_to_a.send(request("{\"to\":\"a\"}"));
  b_to_b.send(request("{\"to\":\"b\"}"));
  REQUIRE(at_a.wait_for(1));
  REQUIRE(at_b.wait_for(1));
  CHECK(policy_a->accepted == 1);
  CHECK(policy_b->accepted == 1);
  // Nothing of the refused clients got through, to either.
  CHECK(at_a.count() == 1);
  CHECK(at_b.count() == 1);
  CHECK(at_a.messages[0].body == "{\"to\":\"a\"}");
  CHECK(at_b.messages[0].body == "{\"to\":\"b\"}");
  a_to_a.stop();
  b_to_b.stop();

  // The ZAP socket goes with its last user and is bound again for the next.
  router_a.stop();
  CHECK(cc::zap_domains() == 1);
  router_b.stop();
  CHECK(cc::zap_domains() == 0);
  int port_c = cc::test::free_port();
  received at_c;
  zmq_socket_loop router_c{zmq_socket_loop::role::router_bind, endpoint(port_c),
                           curve_server(server_a, policy_a), at_c.events(), "gw-c"};
  REQUIRE_FALSE(router_c.start());
  CHECK(cc::zap_domains() == 1);
  zmq_socket_loop a_to_c{zmq_socket_loop::role::dealer_connect, endpoint(port_c),
                         curve_client(client_a, server_a), ignored.events(), "a-to-c"};
  REQUIRE_FALSE(a_to_c.start());
  a_to_c.send(request("{\"to\":\"c\"}"));
  REQUIRE(at_c.wait_for(1));
  CHECK(policy_a->accepted == 2);
  a_to_c.stop();
  router_c.stop();
  CHECK(cc::zap_domains() == 0);
}

TEST_CASE("zmq sockets: a socket stopped with messages queued sends them "
          "within its linger, or counts them dropped, and closes",
          "[zmq_socket]") {
  const int total = 50;
  SECTION("a peer that takes them") {
    int port = cc::test::free_port();
    cc::test::zmq_peer peer{ZMQ_ROUTER};
    REQUIRE(peer.bind(endpoint(port)));
    received ignored;
    cc::zmq_options opts;
    opts.linger_ms = 5000;
    std::atomic<bool> up{false};
    auto ev = ignored.events();
    ev.on_link = [&up](bool is_up, const std::string&) { up = is_up; };
    zmq_socket_loop dealer{zmq_socket_loop::role::dealer_connect, endpoint(port), opts,
                           ev, "test-drain"};
    REQUIRE_FALSE(dealer.start());
    REQUIRE(eventually([&] { return up.load(); }));
    for (int i = 0; i < total; ++i)
      dealer.send(request("{\"n\":" + std::to_string(i) + "}"));
    dealer.stop(); // returns once everything was handed to ZeroMQ
    CHECK(dealer.counters().sent == total);
    CHECK(dealer.counters().dropped == 0);
    CHECK(dealer.counters().queued_bytes == 0);
    for (int i = 0; i < total; ++i) {
      auto got = peer.receive(10s);
      REQUIRE(got);
      REQUIRE(got->size() == 5); // identity, delimiter, type, body, signature
      CHECK((*got)[3] == "{\"n\":" + std::to_string(i) + "}");
    }
  }
  SECTION("no peer: given up after the linger, counted") {
    cc::zmq_options opts;
    opts.linger_ms = 100;
    received ignored;
    // Nobody listens there; ZMQ_IMMEDIATE keeps the messages in our queue.
    zmq_socket_loop dealer{zmq_socket_loop::role::dealer_connect,
                           endpoint(cc::test::free_port()), opts, ignored.events(),
                           "test-drop"};
    REQUIRE_FALSE(dealer.start());
    for (int i = 0; i < total; ++i)
      dealer.send(request("{}"));
    dealer.stop();
    CHECK(dealer.counters().sent == 0);
    CHECK(dealer.counters().dropped == total);
    CHECK(dealer.counters().queued_bytes == 0);
  }
}

TEST_CASE("zmq sockets: stop_async's done runs once, also when stopped again",
          "[zmq_socket]") {
  int port = cc::test::free_port();
  received ignored;
  cc::zmq_options opts;
  opts.linger_ms = 0;
  std::atomic<int> first{0}, second{0}, late{0}, never_started{0};
  {
    zmq_socket_loop router{zmq_socket_loop::role::router_bind, endpoint(port), opts,
                           ignored.events(), "test-async"};
    REQUIRE_FALSE(router.start());
    router.stop_async([&] { ++first; });
    router.stop_async([&] { ++second; });
    router.stop(); // waits for the close
    CHECK(first == 1);
    CHECK(second == 1);
    router.stop_async([&] { ++late; }); // closed already: at once
    CHECK(late == 1);
    router.stop();
  }
  CHECK(first == 1);
  CHECK(second == 1);
  CHECK(late == 1);
  zmq_socket_loop idle{zmq_socket_loop::role::router_bind, endpoint(port), opts,
                       ignored.events(), "test-idle"};
  idle.stop_async([&] { ++never_started; });
  CHECK(never_started == 1);
  // The port is free again: the first socket is closed.
  REQUIRE_FALSE(idle.start());
  idle.stop();
}

TEST_CASE("zmq sockets: a failed bind leaves nothing on the loop and names the "
          "endpoint",
          "[zmq_socket]") {
  int port = cc::test::free_port();
  received ignored;
  cc::zmq_options opts;
  opts.linger_ms = 0;
  zmq_socket_loop first{zmq_socket_loop::role::router_bind, endpoint(port), opts,
                        ignored.events(), "test-first"};
  REQUIRE_FALSE(first.start());
  zmq_socket_loop second{zmq_socket_loop::role::router_bind, endpoint(port), opts,
                         ignored.events(), "test-second"};
  auto err = second.start();
  REQUIRE(err);
  CHECK_THAT(cc::describe(err), Catch::Contains(endpoint(port)));
  std::atomic<int> done{0};
  second.stop_async([&] { ++done; });
  CHECK(done == 1);
  second.stop();
  first.stop();
}
