// The forwarder (actors/link/forwarder.hpp): its bookkeeping directly, then the
// actor with its real ZeroMQ transport against a ROUTER socket this test
// binds on 127.0.0.1, as a central server's gateway would. The "router" the
// forwarder hands replies to is a scoped_actor recording what it gets.
//
// The transport has its own thread, so these tests run on CAF's threaded
// scheduler; every wait is bounded and nothing asserts on timing.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <zmq.h>

#include "actors/core/atoms.hpp"
#include "actors/core/types.hpp"
#include "actors/link/forwarder.hpp"
#include "actors/link/zmq_transport.hpp"
#include "actors/spawn.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "tests/support/actor_stats.hpp"
#include "tests/support/process.hpp"
#include "tests/support/zmq_peer.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

using namespace std::chrono_literals;

using cc::test::stats_of;

namespace {

std::string endpoint(int port) {
  return "tcp://127.0.0.1:" + std::to_string(port);
}

cc::wire::cc_message make_msg(std::string type, std::string body,
                              std::string blob = {}) {
  cc::wire::cc_message m;
  m.route.push_back(cc::wire::local_route_frame("tailer:d:test"));
  m.type = std::move(type);
  m.body = std::move(body);
  if (!blob.empty())
    m.blob = cc::wire::blob::from_string(std::move(blob));
  return m;
}

cc::config::section proxy_section(const std::string& remote,
                                  std::map<std::string, std::string> extra = {}) {
  cc::config::section sec;
  sec.name = "h:fwd";
  sec.kind = "proxy";
  sec.values = {{"remote-cc", remote}, {"zmq_linger", "500"}};
  for (auto& [k, v] : extra)
    sec.values[k] = v;
  return sec;
}

/// The far end: a ROUTER, like a central server's cc-socket.
struct remote_router : cc::test::zmq_peer {
  remote_router() : zmq_peer(ZMQ_ROUTER) {}
};

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  cc::config::server_config server;

  fixture() {
    cc::register_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    server.host_name = "testhost";
    server.job_name = "fwdtest";
  }

  caf::actor spawn(const cc::config::section& sec, caf::scoped_actor& router,
                   cc::ack_registry_ptr acks = nullptr) {
    cc::spawn_context ctx{*sys, server, caf::actor_cast<cc::router_actor>(router),
                          std::move(acks)};
    return cc::spawn_forwarder(ctx, sec);
  }
};

// Stops `a` and waits (bounded) for it to be gone.
void stop(caf::scoped_actor& self, const caf::actor& a) {
  self->monitor(a);
  self->send_exit(a, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {}, caf::after(10s) >> [] {
    FAIL("the forwarder did not stop within 10 s");
  });
}

} // namespace

TEST_CASE("forwarder_state: room, order and release by sent bytes",
          "[forwarder]") {
  // The bookkeeping needs a transport to hand messages to: a real one,
  // connected to a port nobody listens on, so nothing leaves.
  cc::forwarder_state st;
  cc::forwarder_settings s;
  s.section = "h:fwd";
  s.remote = endpoint(cc::test::free_port());
  s.queue_bytes = 100;
  st.init(s);
  auto link = cc::make_transport(s.remote, cc::zmq_options{}, "test");
  REQUIRE(link);
  st.link = std::move(*link);
  REQUIRE_FALSE(st.link->connect(s.remote, {}));

  auto big = make_msg("log.info", std::string(150, 'x'));
  auto small = make_msg("log.info", std::string(10, 'y'));
  // An empty queue takes one message even above queue-bytes.
  CHECK(st.has_room(big.wire_size()));
  CHECK(st.admit(big, {}));
  CHECK(st.queued_bytes() == big.wire_size());
  // Full: the next ones wait, in order, even a small one.
  CHECK_FALSE(st.admit(small, {}));
  CHECK_FALSE(st.admit(big, {}));
  CHECK(st.waiting.size() == 2);
  // The big one left: the small one moves in; the next big one still waits.
  auto released = st.on_sent(big.wire_size());
  CHECK(released.size() == 1);
  CHECK(st.queued_bytes() == small.wire_size());
  CHECK(st.waiting.size() == 1);
  released = st.on_sent(small.wire_size());
  CHECK(released.size() == 1);
  CHECK(st.waiting.empty());
  CHECK(st.stats().at("received") == 3);
  st.link->close();
}

TEST_CASE("forwarder_state: pongs are recognised by the forwarder's own frame",
          "[forwarder]") {
  cc::forwarder_state st;
  cc::forwarder_settings s;
  s.section = "h:fwd";
  s.remote = "tcp://127.0.0.1:1";
  s.ping_interval = 1;
  s.ping_timeout = 5;
  s.hostname = "here";
  st.init(s);
  CHECK(st.own_frame == cc::wire::local_route_frame("proxy:h:fwd"));

  auto ping = st.make_ping(1000.0);
  REQUIRE(ping.route.size() == 1);
  CHECK(ping.route[0] == st.own_frame);
  CHECK(ping.type == "echo.request");
  auto req = cc::wire::parse_echo(ping.body);
  REQUIRE(req);
  CHECK(req->target == s.remote);
  CHECK(req->hdr.hostname == "here");

  // The answer a server's router sends back along the route.
  cc::wire::echo_body pong;
  pong.hdr.req = "echo.response";
  pong.hdr.time = 1000.5;
  pong.hdr.hostname = "central";
  pong.orig_hostname = "here";
  pong.orig_target = s.remote;
  pong.orig_time = 1000.0;
  cc::wire::cc_message reply;
  reply.route = {st.own_frame};
  reply.type = "echo.response";
  reply.body = cc::wire::make_body(pong);
  auto [mine, popped] = st.classify(reply);
  CHECK(mine);
  CHECK(popped.route.empty());

  auto other = reply;
  other.route = {cc::wire::local_route_frame("tailer:d:x")};
  auto [mine2, kept] = st.classify(other);
  CHECK_FALSE(mine2);
  CHECK(kept.route == other.route);

  // No pong for ping-timeout: one warning, then silence until a pong.
  st.last_pong = 1000.0;
  CHECK_FALSE(st.check_pongs(1004.0));
  CHECK(st.check_pongs(1006.0));
  CHECK_FALSE(st.check_pongs(1007.0));
  st.on_pong(popped, 1008.0);
  CHECK(st.pongs == 1);
  CHECK_FALSE(st.pong_missing);
  CHECK(st.last_pong == 1008.0);

  // A pong for another target is not ours to count.
  pong.orig_target = "tcp://elsewhere:1";
  popped.body = cc::wire::make_body(pong);
  st.on_pong(popped, 1009.0);
  CHECK(st.pongs == 1);
}

TEST_CASE("forwarder: messages go out with their route, replies come back to "
          "the router",
          "[forwarder]") {
  fixture f;
  int port = cc::test::free_port();
  remote_router remote;
  REQUIRE(remote.bind(endpoint(port)));
  caf::scoped_actor self{*f.sys};
  caf::scoped_actor router{*f.sys};
  auto fwd = f.spawn(proxy_section(endpoint(port)), router);

  std::string blob(100000, '\0');
  for (size_t i = 0; i < blob.size(); ++i)
    blob[i] = static_cast<char>(i * 7);
  auto msg = make_msg("pub.logtail", R"({"req":"pub.logtail"})", blob);
  bool answered = false;
  self->request(fwd, 5s, cc::dispatch_atom::value, msg)
    .receive([&](cc::ok_atom) { answered = true; },
             [&](caf::error& err) { FAIL(caf::to_string(err)); });
  CHECK(answered);

  auto frames = remote.receive(10s);
  REQUIRE(frames);
  // identity, our route frame, delimiter, type, body, signature, blob
  REQUIRE(frames->size() == 7);
  auto identity = (*frames)[0];
  CHECK((*frames)[1] == msg.route[0]);
  CHECK((*frames)[2].empty());
  CHECK((*frames)[3] == "pub.logtail");
  CHECK((*frames)[4] == msg.body);
  CHECK((*frames)[6] == blob);

  // The writer's ack, along the route: the forwarder gives it to the router
  // with the route as received (the router pops the tailer's frame).
  REQUIRE(remote.send({identity, msg.route[0], "", "logtail.ack",
                       R"({"req":"logtail.ack"})", ""}));
  std::optional<cc::wire::cc_message> reply;
  router->receive(
    [&](cc::reply_atom, cc::wire::cc_message& m) { reply = std::move(m); },
    caf::after(10s) >> [] {});
  REQUIRE(reply);
  CHECK(reply->route == msg.route);
  CHECK(reply->type == "logtail.ack");

  // Frames that are not a CC message: counted, never passed on.
  REQUIRE(remote.send({identity, "no delimiter"}));
  CHECK(cc::test::wait_until(
    [&] { return stats_of(self, fwd)["invalid"] == 1; }, 10s));
  auto c = stats_of(self, fwd);
  CHECK(c["received"] == 1);
  CHECK(c["replies"] == 1);
  CHECK(c["connected"] == 1);
  bool leaked = false;
  router->receive([&](cc::reply_atom, cc::wire::cc_message&) { leaked = true; },
                  caf::after(200ms) >> [] {});
  CHECK_FALSE(leaked);
  stop(self, fwd);
}

TEST_CASE("forwarder: a full queue holds the sender's answer until there is "
          "room, nothing is dropped",
          "[forwarder]") {
  fixture f;
  int port = cc::test::free_port();
  caf::scoped_actor self{*f.sys};
  caf::scoped_actor router{*f.sys};
  // Nobody listens yet: ZeroMQ takes a message or so (zmq_hwm 1), then the
  // forwarder's own queue (queue-bytes 1000) fills.
  auto fwd = f.spawn(proxy_section(endpoint(port), {{"queue-bytes", "1000"},
                                                    {"zmq_hwm", "1"}}),
                     router);
  constexpr int total = 20;
  // A small sender actor with all its requests in flight at once, reporting
  // each answer to `self`.
  auto report_to = caf::actor_cast<caf::actor>(self);
  auto sender = f.sys->spawn([=](caf::event_based_actor* s) -> caf::behavior {
    for (int i = 0; i < total; ++i)
      s->request(fwd, caf::infinite, cc::dispatch_atom::value,
                 make_msg("log.info",
                          "m" + std::to_string(i) + std::string(600, '.')))
        .then([=](cc::ok_atom) { s->send(report_to, cc::ok_atom::value); });
    return {[](cc::ping_atom) {}};
  });
  // Count the answers that come while the remote is away.
  int early = 0;
  bool quiet = false;
  while (!quiet && early < total)
    self->receive([&](cc::ok_atom) { ++early; },
                  caf::after(500ms) >> [&] { quiet = true; });
  CHECK(early < total);
  auto c = stats_of(self, fwd);
  CHECK(c["waiting"] > 0);
  CHECK(c["waiting"] + early <= total);

  // The remote comes up: every message arrives, in order, every sender gets
  // its answer.
  remote_router remote;
  REQUIRE(remote.bind(endpoint(port)));
  int late = 0;
  std::vector<std::string> bodies;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((late + early < total || static_cast<int>(bodies.size()) < total) &&
         std::chrono::steady_clock::now() < deadline) {
    if (auto frames = remote.receive(50ms))
      bodies.push_back((*frames)[4]);
    self->receive([&](cc::ok_atom) { ++late; }, caf::after(0ms) >> [] {});
  }
  CHECK(early + late == total);
  REQUIRE(bodies.size() == static_cast<size_t>(total));
  for (int i = 0; i < total; ++i)
    CHECK(bodies[i] == "m" + std::to_string(i) + std::string(600, '.'));
  c = stats_of(self, fwd);
  CHECK(c["waiting"] == 0);
  CHECK(c["queued_bytes"] == 0);
  self->send_exit(sender, caf::exit_reason::user_shutdown);
  stop(self, fwd);
}

TEST_CASE("forwarder: pings go out with its own frame and the pongs stay "
          "with it",
          "[forwarder]") {
  fixture f;
  int port = cc::test::free_port();
  remote_router remote;
  REQUIRE(remote.bind(endpoint(port)));
  caf::scoped_actor self{*f.sys};
  caf::scoped_actor router{*f.sys};
  auto fwd = f.spawn(proxy_section(endpoint(port), {{"ping", "0.05"}}), router);
  int answered = 0;
  for (int i = 0; i < 50 && answered < 3; ++i) {
    auto frames = remote.receive(5s);
    REQUIRE(frames);
    REQUIRE(frames->size() == 6);
    CHECK((*frames)[1] == cc::wire::local_route_frame("proxy:h:fwd"));
    CHECK((*frames)[3] == "echo.request");
    auto req = cc::wire::parse_echo((*frames)[4]);
    REQUIRE(req);
    CHECK(req->target == endpoint(port));
    cc::wire::echo_body pong;
    pong.hdr.req = "echo.response";
    pong.hdr.time = cc::wire::now_seconds();
    pong.hdr.hostname = "remote";
    pong.orig_hostname = req->hdr.hostname;
    pong.orig_target = req->target;
    pong.orig_time = req->hdr.time;
    REQUIRE(remote.send({(*frames)[0], (*frames)[1], "", "echo.response",
                         cc::wire::make_body(pong), ""}));
    ++answered;
  }
  CHECK(cc::test::wait_until(
    [&] { return stats_of(self, fwd)["pongs"] >= 3; }, 10s));
  CHECK(stats_of(self, fwd)["pings"] >= 3);
  bool leaked = false;
  router->receive([&](cc::reply_atom, cc::wire::cc_message&) { leaked = true; },
                  caf::after(200ms) >> [] {});
  CHECK_FALSE(leaked);
  stop(self, fwd);
}

TEST_CASE("forwarder: on exit, queued messages are sent within zmq_linger",
          "[forwarder]") {
  fixture f;
  int port = cc::test::free_port();
  remote_router remote;
  REQUIRE(remote.bind(endpoint(port)));
  caf::scoped_actor self{*f.sys};
  caf::scoped_actor router{*f.sys};
  auto fwd = f.spawn(proxy_section(endpoint(port), {{"zmq_linger", "2000"}}),
                     router);
  constexpr int total = 200;
  // Every message accepted (answered) before the exit; most still sit in
  // the transport's queue or ZeroMQ's pipe (zmq_hwm 100) when it comes.
  int accepted = 0;
  for (int i = 0; i < total; ++i)
    self->request(fwd, 5s, cc::dispatch_atom::value,
                  make_msg("log.info", "drain-" + std::to_string(i)))
      .receive([&](cc::ok_atom) { ++accepted; }, [](caf::error&) {});
  CHECK(accepted == total);
  stop(self, fwd);
  int got = 0;
  while (got < total) {
    auto frames = remote.receive(5s);
    if (!frames)
      break;
    CHECK((*frames)[4] == "drain-" + std::to_string(got));
    ++got;
  }
  CHECK(got == total);
}

TEST_CASE("forwarder: senders still waiting when it stops get an error, not "
          "silence",
          "[forwarder]") {
  fixture f;
  int port = cc::test::free_port(); // nobody listens: the queue fills
  caf::scoped_actor self{*f.sys};
  caf::scoped_actor router{*f.sys};
  auto fwd = f.spawn(proxy_section(endpoint(port), {{"queue-bytes", "1000"},
                                                    {"zmq_hwm", "1"},
                                                    {"zmq_linger", "100"}}),
                     router);
  constexpr int total = 10;
  auto report_to = caf::actor_cast<caf::actor>(self);
  auto sender = f.sys->spawn([=](caf::event_based_actor* s) -> caf::behavior {
    for (int i = 0; i < total; ++i)
      s->request(fwd, caf::infinite, cc::dispatch_atom::value,
                 make_msg("log.info", std::string(600, 'w')))
        .then([=](cc::ok_atom) { s->send(report_to, cc::ok_atom::value); },
              [=](caf::error& err) { s->send(report_to, std::move(err)); });
    return {[](cc::ping_atom) {}};
  });
  REQUIRE(cc::test::wait_until(
    [&] { return stats_of(self, fwd)["waiting"] > 0; }, 10s));
  auto waiting = stats_of(self, fwd)["waiting"];
  stop(self, fwd);
  int ok = 0, errors = 0;
  bool quiet = false;
  while (!quiet && ok + errors < total)
    self->receive([&](cc::ok_atom) { ++ok; },
                  [&](caf::error& err) {
                    CHECK(cc::describe(err).find("stopped before") !=
                          std::string::npos);
                    ++errors;
                  },
                  caf::after(5s) >> [&] { quiet = true; });
  CHECK(ok + errors == total);
  CHECK(errors == waiting);
  self->send_exit(sender, caf::exit_reason::user_shutdown);
}

TEST_CASE("forwarder: a flapping link logs its first reconnect and disconnect, "
          "then is quiet, the counters keep every event",
          "[forwarder]") {
  cc::test::temp_dir dir{"ccfwdlog"};
  auto log_path = dir / "fwd.log";
  std::string err;
  REQUIRE(cc::log::open(log_path, err));
  cc::forwarder_state st;
  st.settings.remote = "tcp://127.0.0.1:1";
  st.who = "forwarder[h:test]";
  for (int i = 0; i < 50; ++i) {
    st.on_link(true, "peer");
    st.on_link(false, "peer");
  }
  REQUIRE(cc::log::open("", err));
  auto text = cc::test::read_file(log_path);
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos;
         at = text.find(needle, at + 1))
      ++n;
    return n;
  };
  CHECK(count("] connected to") + count(": connected to") == 1);
  CHECK(count("reconnected to") == 1);
  CHECK(count("disconnected from") == 1);
  auto c = st.stats();
  CHECK(c["reconnects"] == 49);
  CHECK(c["connected"] == 0);
}

namespace {

/// Answers the next echo.request the remote receives as `answer` says:
/// "ours-yes", "ours-no" (our echo.response with acks true / false),
/// "original" (the original's EchoResponseMessage: no acks field). Returns
/// whether a request came.
bool answer_probe(remote_router& remote, const std::string& answer,
                  std::chrono::milliseconds wait = 5s) {
  for (int i = 0; i < 20; ++i) {
    auto frames = remote.receive(wait);
    if (!frames)
      return false;
    if ((*frames)[3] != "echo.request")
      continue;
    auto req = cc::wire::parse_echo((*frames)[4]);
    REQUIRE(req);
    std::string body;
    if (answer == "original") {
      // As the original's cc/handler/echo.py builds it (Python 2 json.dumps
      // of EchoResponseMessage): no target, no acks.
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "{\"hostname\": \"central\", \"req\": \"echo.response\", "
                    "\"orig_time\": %.17g, \"orig_target\": \"%s\", "
                    "\"blob_hash\": \"\", \"time\": %.17g, "
                    "\"orig_hostname\": \"%s\"}",
                    req->hdr.time, req->target.c_str(), cc::wire::now_seconds(),
                    req->hdr.hostname.c_str());
      body = buf;
    } else {
      cc::wire::echo_body pong;
      pong.hdr = cc::wire::make_header("echo.response");
      pong.orig_hostname = req->hdr.hostname;
      pong.orig_target = req->target;
      pong.orig_time = req->hdr.time;
      pong.acks = answer == "ours-yes" || answer == "ours-zstd";
      if (answer == "ours-zstd")
        pong.zstd = true;
      body = cc::wire::make_body(pong);
    }
    REQUIRE(remote.send({(*frames)[0], (*frames)[1], "", "echo.response", body, ""}));
    return true;
  }
  return false;
}

} // namespace

TEST_CASE("forwarder: at connect it probes the remote and learns whether it "
          "acknowledges",
          "[forwarder][acks]") {
  fixture f;
  int port = cc::test::free_port();
  remote_router remote;
  REQUIRE(remote.bind(endpoint(port)));
  caf::scoped_actor self{*f.sys};
  caf::scoped_actor router{*f.sys};
  auto acks = std::make_shared<cc::ack_registry>();
  const std::vector<std::string> route{"h:fwd"};
  caf::actor fwd;
  // A failed REQUIRE must not leave it running (the system would wait).
  struct killer {
    caf::actor& a;
    ~killer() {
      if (a)
        caf::anon_send_exit(a, caf::exit_reason::kill);
    }
  } guard{fwd};
  SECTION("one of ours with a writer: yes") {
    fwd = f.spawn(proxy_section(endpoint(port)), router, acks);
    REQUIRE(answer_probe(remote, "ours-yes"));
    CHECK(cc::test::wait_until(
      [&] { return acks->of(route) == cc::peer_acks::yes; }, 10s));
    CHECK(stats_of(self, fwd)["remote_acks"] == 1);
    CHECK(acks->advertises()); // a relay passes it on
    // An answer without `zstd` (a ccserver before it): no zstd.
    CHECK(cc::test::wait_until(
      [&] { return acks->zstd_of(route) == cc::peer_acks::no; }, 10s));
    CHECK_FALSE(acks->advertises_zstd());
    stop(self, fwd);
  }
  SECTION("the first probe lost (the remote still starting): the next one, within "
          "seconds, is answered: yes, no verdict") {
    fwd = f.spawn(proxy_section(endpoint(port)), router, acks);
    auto first = remote.receive(5s);
    REQUIRE(first);
    REQUIRE((*first)[3] == "echo.request"); // dropped unanswered
    REQUIRE(answer_probe(remote, "ours-yes", 5s));
    CHECK(cc::test::wait_until(
      [&] { return acks->of(route) == cc::peer_acks::yes; }, 5s));
    CHECK(stats_of(self, fwd)["probes"] >= 2);
    stop(self, fwd);
  }
  SECTION("one of ours that takes zstd: zstd yes, and a relay says so") {
    fwd = f.spawn(proxy_section(endpoint(port)), router, acks);
    CHECK(cc::test::wait_until(
      [&] { return acks->zstd_of(route) == cc::peer_acks::unknown; }, 10s));
    REQUIRE(answer_probe(remote, "ours-zstd"));
    CHECK(cc::test::wait_until(
      [&] { return acks->zstd_of(route) == cc::peer_acks::yes; }, 10s));
    CHECK(acks->advertises_zstd());
    stop(self, fwd);
  }
  SECTION("the original's echo answer, without acks: no") {
    fwd = f.spawn(proxy_section(endpoint(port)), router, acks);
    // Unknown from its start until the answer.
    CHECK(cc::test::wait_until(
      [&] { return acks->of(route) == cc::peer_acks::unknown; }, 10s));
    REQUIRE(answer_probe(remote, "original"));
    CHECK(cc::test::wait_until(
      [&] { return acks->of(route) == cc::peer_acks::no; }, 10s));
    CHECK(stats_of(self, fwd)["remote_acks"] == 2);
    CHECK_FALSE(acks->advertises());
    CHECK(acks->zstd_of(route) == cc::peer_acks::no);
    CHECK_FALSE(acks->advertises_zstd());
    stop(self, fwd);
  }
  SECTION("ours, not able yet (acks: false): asked again, then yes") {
    fwd = f.spawn(proxy_section(endpoint(port)), router, acks);
    REQUIRE(answer_probe(remote, "ours-no"));
    CHECK(cc::test::wait_until(
      [&] { return acks->of(route) == cc::peer_acks::no; }, 10s));
    // The next probe comes ack_probe_again (10 s) later.
    REQUIRE(answer_probe(remote, "ours-yes", 30s));
    CHECK(cc::test::wait_until(
      [&] { return acks->of(route) == cc::peer_acks::yes; }, 10s));
    CHECK(stats_of(self, fwd)["probes"] >= 2);
    stop(self, fwd);
  }
  fwd = nullptr;
  // The probe's own frame keeps its pong away from the router.
  bool leaked = false;
  router->receive([&](cc::reply_atom, cc::wire::cc_message&) { leaked = true; },
                  caf::after(100ms) >> [] {});
  CHECK_FALSE(leaked);
}

namespace {

/// A forwarder's bookkeeping with a registry (so it probes), connected.
void init_probing(cc::forwarder_state& st) {
  cc::forwarder_settings s;
  s.section = "h:fwd";
  s.remote = "tcp://127.0.0.1:1";
  st.init(s);
  st.acks_registry = std::make_shared<cc::ack_registry>();
  st.on_link(true, "test");
}

} // namespace

TEST_CASE("forwarder_state: a probe with no answer means an original CC "
          "without an echo route",
          "[forwarder][acks]") {
  cc::forwarder_state st;
  init_probing(st);
  auto probe = st.make_probe(1000.0);
  REQUIRE(probe);
  CHECK(probe->route.at(0) == st.own_frame);
  CHECK(st.probes == 1);
  CHECK(st.pings == 0);
  // Not answered yet: sent again meanwhile, no verdict before the timeout.
  CHECK(st.probe_unanswered(1000.0 + cc::ack_probe_retry));
  CHECK_FALSE(st.on_probe_timer(1000.0 + cc::ack_probe_timeout - 1));
  CHECK(st.remote_acks == cc::peer_acks::unknown);
  // A connection that dropped meanwhile proves nothing: no verdict.
  st.on_link(false, "test");
  CHECK_FALSE(st.on_probe_timer(1000.0 + cc::ack_probe_timeout));
  CHECK(st.remote_acks == cc::peer_acks::unknown);
  st.on_link(true, "test");
  REQUIRE(st.make_probe(1000.0));
  REQUIRE(st.make_probe(1000.5));
  CHECK_FALSE(st.make_probe(1001.0)); // max_unanswered_probes are out
  CHECK_FALSE(st.on_probe_timer(1000.0 + cc::ack_probe_timeout));
  CHECK(st.remote_acks == cc::peer_acks::no);
  CHECK(st.acks_registry->of({"h:fwd"}) == cc::peer_acks::no);
  CHECK(st.acks_registry->zstd_of({"h:fwd"}) == cc::peer_acks::no);
  // A late pong from one of ours still counts.
  st.learn_acks(true);
  CHECK(st.remote_acks == cc::peer_acks::yes);
  CHECK(st.acks_registry->of({"h:fwd"}) == cc::peer_acks::yes);
}

TEST_CASE("forwarder_state: a probe lost at the remote's start is sent again, and the "
          "answer to the next one decides",
          "[forwarder][acks]") {
  cc::forwarder_state st;
  init_probing(st);
  REQUIRE(st.make_probe(1000.0)); // lost: the remote's router was not ready
  REQUIRE(st.probe_unanswered(1000.0 + cc::ack_probe_retry));
  REQUIRE(st.make_probe(1000.0 + cc::ack_probe_retry));
  CHECK(st.probes == 2);
  st.learn_acks(true); // the second one's answer
  CHECK(st.remote_acks == cc::peer_acks::yes);
  // Answered: not sent again, and no verdict at the first one's timeout.
  CHECK_FALSE(st.probe_unanswered(1000.0 + 2 * cc::ack_probe_retry));
  CHECK_FALSE(st.on_probe_timer(1000.0 + cc::ack_probe_timeout + 1));
  CHECK(st.remote_acks == cc::peer_acks::yes);
  CHECK(st.acks_registry->of({"h:fwd"}) == cc::peer_acks::yes);
}

TEST_CASE("ack_registry: what a message type's handlers promise",
          "[acks]") {
  cc::ack_registry r;
  CHECK(r.of({"h:tailwriter"}) == cc::peer_acks::no); // nothing known: no one acks
  CHECK_FALSE(r.advertises());
  r.add_writer("h:tailwriter");
  CHECK(r.of({"h:tailwriter"}) == cc::peer_acks::yes);
  CHECK(r.of({"h:locallog", "h:tailwriter"}) == cc::peer_acks::yes);
  CHECK(r.advertises());
  r.set_forwarder("h:fwd", cc::peer_acks::unknown);
  CHECK(r.of({"h:fwd"}) == cc::peer_acks::unknown);
  CHECK(r.of({"h:tailwriter", "h:fwd"}) == cc::peer_acks::unknown);
  r.set_forwarder("h:fwd", cc::peer_acks::no);
  // A local writer acks, but the remote behind the forwarder would take
  // resends as new bytes: no.
  CHECK(r.of({"h:tailwriter", "h:fwd"}) == cc::peer_acks::no);
  r.set_forwarder("h:fwd", cc::peer_acks::yes);
  CHECK(r.of({"h:fwd"}) == cc::peer_acks::yes);
}

TEST_CASE("ack_registry: whose data connections are up", "[acks][data]") {
  cc::ack_registry r;
  auto up = std::make_shared<std::atomic<bool>>(false);
  auto up2 = std::make_shared<std::atomic<bool>>(true);
  CHECK_FALSE(r.data_up_of({"h:fwd"})); // not known: never
  r.set_forwarder_data("h:fwd", up);
  CHECK_FALSE(r.data_up_of({"h:fwd"}));
  *up = true;
  CHECK(r.data_up_of({"h:fwd"}));
  CHECK(r.data_up_of({"h:fwd", "h:echo"})); // a section of no part in it
  r.set_forwarder_data("h:fwd2", nullptr);  // a transport without one
  CHECK_FALSE(r.data_up_of({"h:fwd", "h:fwd2"}));
  r.set_forwarder_data("h:fwd2", up2);
  CHECK(r.data_up_of({"h:fwd", "h:fwd2"}));
  r.add_writer("h:tailwriter"); // reads ranges into memory in this process
  CHECK_FALSE(r.data_up_of({"h:fwd", "h:tailwriter"}));
  *up = false; // the connection went
  CHECK_FALSE(r.data_up_of({"h:fwd"}));
  CHECK_FALSE(r.data_up_of({}));
}

TEST_CASE("ack_registry: who takes zstd", "[acks][zstd]") {
  cc::ack_registry r;
  CHECK(r.advertises_zstd()); // nothing here but what takes it
  r.add_writer("h:tailwriter");
  CHECK(r.zstd_of({"h:tailwriter"}) == cc::peer_acks::yes);
  CHECK(r.advertises_zstd());
  r.set_forwarder("h:fwd", cc::peer_acks::yes);
  // Acks and zstd are learned apart.
  CHECK(r.zstd_of({"h:tailwriter", "h:fwd"}) == cc::peer_acks::unknown);
  CHECK_FALSE(r.advertises_zstd());
  r.set_forwarder_zstd("h:fwd", cc::peer_acks::yes);
  CHECK(r.zstd_of({"h:tailwriter", "h:fwd"}) == cc::peer_acks::yes);
  CHECK(r.advertises_zstd());
  r.set_forwarder_zstd("h:fwd2", cc::peer_acks::no);
  // A relay with one forwarder to an original says no for all its routes.
  CHECK(r.zstd_of({"h:fwd"}) == cc::peer_acks::yes);
  CHECK(r.zstd_of({"h:fwd", "h:fwd2"}) == cc::peer_acks::no);
  CHECK_FALSE(r.advertises_zstd());
}
