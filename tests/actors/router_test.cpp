// The router actor (actors/core/router.hpp) on the test coordinator, with real
// small recording actors as handlers, endpoints and gateway.
#include <catch2/catch.hpp>

#include <chrono>

#include <nlohmann/json.hpp>

#include "actors/core/echo.hpp"
#include "actors/core/router.hpp"
#include "actors/spawn.hpp"
#include "base/logger.hpp"
#include "routes/route_table.hpp"
#include "tests/actors/router_fixture.hpp"
#include "tests/support/process.hpp"
#include "wire/bodies.hpp"

using namespace cc;
using wire::cc_message;

namespace {

struct router_fixture : actor_fixture {
  caf::actor router;

  explicit router_fixture(routes::route_table table = {}) {
    router_config rc;
    rc.table = std::move(table);
    rc.hostname = "centralhost";
    rc.job_name = "central";
    router = keep(spawn_router(sys, std::move(rc)));
  }

  caf::actor add_recorder(const std::string& section,
                          std::shared_ptr<record> rec) {
    auto a = keep(sys.spawn(recorder, rec));
    auto ok = ask<ok_atom>(sys, router, handler_atom::value, section, a);
    run();
    REQUIRE(ok->value);
    return a;
  }

  caf::actor add_endpoint(const std::string& name, std::shared_ptr<record> rec) {
    auto a = keep(sys.spawn(recorder, rec));
    auto ok = ask<ok_atom>(sys, router, register_atom::value, name, a);
    run();
    REQUIRE(ok->value);
    return a;
  }

  counters stats() {
    auto c = ask<counters>(sys, router, stats_atom::value);
    run();
    REQUIRE(c->value);
    return *c->value;
  }

  void dispatch(cc_message msg) {
    caf::anon_send(router, dispatch_atom::value, std::move(msg));
    run();
  }

  void reply(cc_message msg) {
    caf::anon_send(router, reply_atom::value, std::move(msg));
    run();
  }
};

routes::route_table sample_table() {
  routes::route_table t;
  t.add("pub", {"h:forward"});
  t.add("pub.logtail", {"h:tailwriter", "h:forward"});
  t.add("log", {"h:locallog"});
  t.add("*", {"h:audit"});
  return t;
}

std::string echo_request_body() {
  return nlohmann::json{{"req", "echo.request"},
                        {"time", 123.5},
                        {"hostname", "remotehost"},
                        {"blob_hash", ""},
                        {"target", "tcp://10.0.0.1:22632"}}
    .dump();
}

/// Sends cc::log to a file of `dir` for the scope of the object.
struct log_capture {
  std::string path;
  explicit log_capture(const test::temp_dir& dir) : path(dir / "ccserver.log") {
    std::string err;
    REQUIRE(log::open(path, err));
  }
  ~log_capture() {
    std::string err;
    log::open("", err);
  }
  std::string text() const { return read_file(path); }
};

} // namespace

TEST_CASE("router: a message goes to every matching handler exactly once",
          "[router]") {
  router_fixture f{sample_table()};
  auto forward = std::make_shared<record>();
  auto tailwriter = std::make_shared<record>();
  auto locallog = std::make_shared<record>();
  auto audit = std::make_shared<record>();
  f.add_recorder("h:forward", forward);
  f.add_recorder("h:tailwriter", tailwriter);
  f.add_recorder("h:locallog", locallog);
  f.add_recorder("h:audit", audit);
  auto blob = cc::wire::blob::from_string(std::string(1000, 'x'));
  f.dispatch(make_msg("pub.logtail.pg", R"({"req":"pub.logtail.pg"})",
                      {"peer-1"}, blob));
  // h:forward is named by two matching routes but is one instance: one copy.
  REQUIRE(forward->dispatched.size() == 1);
  REQUIRE(tailwriter->dispatched.size() == 1);
  REQUIRE(audit->dispatched.size() == 1);
  CHECK(locallog->dispatched.empty());
  auto& got = tailwriter->dispatched[0];
  CHECK(got.type == "pub.logtail.pg");
  CHECK(got.body == R"({"req":"pub.logtail.pg"})");
  CHECK(got.route == std::vector<std::string>{"peer-1"});
  // The blob is shared by reference, never copied.
  CHECK(got.blob.get() == blob.get());
  CHECK(forward->dispatched[0].blob.get() == blob.get());
  CHECK(audit->dispatched[0].blob.get() == blob.get());

  // A type only `*` covers goes to the `*` handlers alone.
  f.dispatch(make_msg("job.start"));
  CHECK(audit->dispatched.size() == 2);
  CHECK(forward->dispatched.size() == 1);
  f.dispatch(make_msg("log.info"));
  CHECK(locallog->dispatched.size() == 1);
  CHECK(audit->dispatched.size() == 3);
  // Whole segments only: "logx" is not covered by "log".
  f.dispatch(make_msg("logx"));
  CHECK(locallog->dispatched.size() == 1);
  CHECK(audit->dispatched.size() == 4);

  auto c = f.stats();
  CHECK(c["received"] == 4);
  CHECK(c["routed"] == 4);
  CHECK(c["unrouted"] == 0);
  CHECK(c["bytes"] > 1000);
}

TEST_CASE("router: an unrouted message is counted, logged rate-limited and "
          "answered no_route",
          "[router]") {
  test::temp_dir dir{"router"};
  log_capture logs{dir};
  routes::route_table t;
  t.add("log", {"h:locallog"});
  router_fixture f{t};
  auto locallog = std::make_shared<record>();
  f.add_recorder("h:locallog", locallog);

  auto answer = ask<ok_atom>(f.sys, f.router, dispatch_atom::value,
                             make_msg("foo.bar"));
  f.run();
  REQUIRE(answer->done);
  CHECK_FALSE(answer->value);
  CHECK(code_of(answer->error) == errc::no_route);

  for (int i = 0; i < 4; ++i)
    f.dispatch(make_msg("foo.bar"));
  CHECK(count_lines_with(logs.text(), "no route for message type 'foo.bar'") == 1);
  // Another type has its own allowance.
  f.dispatch(make_msg("other.type"));
  CHECK(count_lines_with(logs.text(), "'other.type'") == 1);
  // After the interval, one more line reports what was suppressed.
  f.sched.advance_time(std::chrono::seconds{11});
  f.dispatch(make_msg("foo.bar"));
  auto text = logs.text();
  CHECK(count_lines_with(text, "no route for message type 'foo.bar'") == 2);
  CHECK(count_lines_with(text, "(4 more since the last such line)") == 1);
  CHECK(locallog->dispatched.empty());

  auto c = f.stats();
  CHECK(c["received"] == 7);
  CHECK(c["unrouted"] == 7);
  CHECK(c["routed"] == 0);
}

TEST_CASE("router: a requesting sender waits for every handler (back-pressure)",
          "[router]") {
  routes::route_table t;
  t.add("pub", {"h:fast", "h:slow"});
  router_fixture f{t};
  auto fast = std::make_shared<record>();
  f.add_recorder("h:fast", fast);
  auto held = std::make_shared<held_answers>();
  auto slow = f.keep(f.sys.spawn(slow_handler, held));
  auto added = ask<ok_atom>(f.sys, f.router, handler_atom::value,
                            std::string{"h:slow"}, slow);
  f.run();
  REQUIRE(added->value);

  auto first = ask<ok_atom>(f.sys, f.router, dispatch_atom::value,
                            make_msg("pub.logtail"));
  auto second = ask<ok_atom>(f.sys, f.router, dispatch_atom::value,
                             make_msg("pub.logtail"));
  f.run();
  // Both handlers got both messages; the slow one has not answered yet, so
  // neither sender has its answer.
  CHECK(fast->dispatched.size() == 2);
  CHECK(held->received == 2);
  CHECK_FALSE(first->done);
  CHECK_FALSE(second->done);
  CHECK(f.stats()["in_flight"] == 2);

  caf::anon_send(slow, flush_atom::value);
  f.run();
  REQUIRE(first->done);
  REQUIRE(second->done);
  CHECK(first->value);
  CHECK(second->value);
  CHECK(f.stats()["handler_errors"] == 0);
  CHECK(f.stats()["in_flight"] == 0);
}

TEST_CASE("router: a handler's error reaches the requesting sender", "[router]") {
  routes::route_table t;
  t.add("pub", {"h:ok", "h:full"});
  router_fixture f{t};
  auto okay = std::make_shared<record>();
  f.add_recorder("h:ok", okay);
  auto full = f.keep(f.sys.spawn(refusing_handler));
  ask<ok_atom>(f.sys, f.router, handler_atom::value, std::string{"h:full"}, full);
  f.run();

  auto answer = ask<ok_atom>(f.sys, f.router, dispatch_atom::value,
                             make_msg("pub.x"));
  f.run();
  REQUIRE(answer->done);
  CHECK_FALSE(answer->value);
  CHECK(code_of(answer->error) == errc::queue_full);
  CHECK(okay->dispatched.size() == 1);
  CHECK(f.stats()["handler_errors"] == 1);
}

TEST_CASE("router: a handler that is gone no longer takes messages", "[router]") {
  routes::route_table t;
  t.add("pub", {"h:gone"});
  router_fixture f{t};
  auto rec = std::make_shared<record>();
  auto gone = f.add_recorder("h:gone", rec);
  caf::anon_send_exit(gone, caf::exit_reason::kill);
  f.run();
  auto answer = ask<ok_atom>(f.sys, f.router, dispatch_atom::value,
                             make_msg("pub.x"));
  f.run();
  REQUIRE(answer->done);
  CHECK(code_of(answer->error) == errc::no_route);
  CHECK(rec->dispatched.empty());
}

TEST_CASE("router: an invalid type from an in-process sender is refused",
          "[router]") {
  routes::route_table t;
  t.add("*", {"h:audit"});
  router_fixture f{t};
  auto audit = std::make_shared<record>();
  f.add_recorder("h:audit", audit);
  auto answer = ask<ok_atom>(f.sys, f.router, dispatch_atom::value,
                             make_msg("bad..type"));
  f.run();
  REQUIRE(answer->done);
  CHECK(code_of(answer->error) == errc::invalid_type);
  CHECK(audit->dispatched.empty());
  auto c = f.stats();
  CHECK(c["invalid"] == 1);
  CHECK(c["routed"] == 0);
}

TEST_CASE("router: a reply reaches its endpoint with the endpoint's frame popped",
          "[router]") {
  router_fixture f;
  auto tailer = std::make_shared<record>();
  f.add_endpoint("local.d:logtail", tailer);
  auto frame = wire::local_route_frame("local.d:logtail");
  auto blob = cc::wire::blob::from_string("payload");
  f.reply(make_msg("logtail.ack", R"({"req":"logtail.ack"})",
                   {frame, "inner-frame"}, blob));
  REQUIRE(tailer->replies.size() == 1);
  auto& got = tailer->replies[0];
  CHECK(got.type == "logtail.ack");
  CHECK(got.body == R"({"req":"logtail.ack"})");
  CHECK(got.route == std::vector<std::string>{"inner-frame"});
  CHECK(got.blob.get() == blob.get());
  CHECK(tailer->dispatched.empty());
  auto c = f.stats();
  CHECK(c["replies"] == 1);
  CHECK(c["undeliverable"] == 0);
}

TEST_CASE("router: a re-registered endpoint gets the replies of its predecessor",
          "[router]") {
  router_fixture f;
  auto old_tailer = std::make_shared<record>();
  auto new_tailer = std::make_shared<record>();
  auto first = f.add_endpoint("job.d:tail", old_tailer);
  auto frame = wire::local_route_frame("job.d:tail");
  f.reply(make_msg("logtail.ack", "{}", {frame}));
  CHECK(old_tailer->replies.size() == 1);

  // The restarted tailer registers under the same name, then the old one's
  // down message arrives: the new registration must survive it.
  f.add_endpoint("job.d:tail", new_tailer);
  caf::anon_send_exit(first, caf::exit_reason::kill);
  f.run();
  f.reply(make_msg("logtail.ack", "{}", {frame}));
  f.reply(make_msg("logtail.ack", "{}", {frame}));
  CHECK(old_tailer->replies.size() == 1);
  CHECK(new_tailer->replies.size() == 2);
  CHECK(f.stats()["undeliverable"] == 0);
}

TEST_CASE("router: a reply for a peer identity goes to the gateway unchanged",
          "[router]") {
  router_fixture f;
  auto gw_rec = std::make_shared<record>();
  auto gateway = f.keep(f.sys.spawn(recorder, gw_rec));
  auto ok = ask<ok_atom>(f.sys, f.router, gateway_atom::value, gateway);
  f.run();
  REQUIRE(ok->value);
  std::string peer{"\0\x8b\x45\x67\x01", 5};  // a ZeroMQ generated identity
  auto inner = wire::local_route_frame("local.d:logtail");
  f.reply(make_msg("logtail.ack", R"({"fpos":10})", {peer, inner}));
  REQUIRE(gw_rec->replies.size() == 1);
  CHECK(gw_rec->replies[0].route == std::vector<std::string>{peer, inner});
  CHECK(gw_rec->replies[0].body == R"({"fpos":10})");
}

TEST_CASE("router: replies it cannot deliver are counted, not crashed on",
          "[router]") {
  router_fixture f;
  // No route frame at all; an unknown endpoint; a peer identity without a
  // gateway.
  f.reply(make_msg("logtail.ack"));
  f.reply(make_msg("logtail.ack", "{}", {wire::local_route_frame("nobody")}));
  f.reply(make_msg("logtail.ack", "{}", {"peer"}));
  auto c = f.stats();
  CHECK(c["replies"] == 3);
  CHECK(c["undeliverable"] == 3);
}

TEST_CASE("router: an unrouted echo.request is answered along its route",
          "[router]") {
  router_fixture f;
  auto gw_rec = std::make_shared<record>();
  auto gateway = f.keep(f.sys.spawn(recorder, gw_rec));
  ask<ok_atom>(f.sys, f.router, gateway_atom::value, gateway);
  f.run();
  auto answer = ask<ok_atom>(f.sys, f.router, dispatch_atom::value,
                             make_msg("echo.request", echo_request_body(),
                                      {"peer-7"}));
  f.run();
  REQUIRE(answer->done);
  CHECK(answer->value);
  REQUIRE(gw_rec->replies.size() == 1);
  auto& rsp = gw_rec->replies[0];
  CHECK(rsp.type == "echo.response");
  CHECK(rsp.route == std::vector<std::string>{"peer-7"});
  auto body = wire::parse_echo(rsp.body);
  REQUIRE(body);
  CHECK(body->hdr.req == "echo.response");
  CHECK(body->hdr.hostname == "centralhost");
  CHECK(body->orig_hostname == "remotehost");
  CHECK(body->orig_target == "tcp://10.0.0.1:22632");
  CHECK(body->target == "tcp://10.0.0.1:22632");
  CHECK(body->orig_time == Approx(123.5));
  auto c = f.stats();
  CHECK(c["unrouted"] == 0);
  CHECK(c["replies"] == 1);

  // A forwarder's own ping frame: the response goes to that endpoint.
  auto fwd = std::make_shared<record>();
  f.add_endpoint("proxy:h:forward", fwd);
  f.dispatch(make_msg("echo.request", echo_request_body(),
                      {wire::local_route_frame("proxy:h:forward")}));
  REQUIRE(fwd->replies.size() == 1);
  CHECK(fwd->replies[0].type == "echo.response");
  CHECK(fwd->replies[0].route.empty());

  // A malformed ping is refused and counted, not answered.
  auto bad = ask<ok_atom>(f.sys, f.router, dispatch_atom::value,
                          make_msg("echo.request", "not json", {"peer-7"}));
  f.run();
  REQUIRE(bad->done);
  CHECK(code_of(bad->error) == errc::invalid_body);
  CHECK(gw_rec->replies.size() == 1);
  CHECK(f.stats()["invalid"] == 1);
}

TEST_CASE("router: the echo handler answers pings through the router",
          "[router][echo]") {
  routes::route_table t;
  t.add("echo", {"h:echo"});
  router_fixture f{t};
  config::server_config scfg;
  scfg.host_name = "echohost";
  config::section sec;
  sec.name = "h:echo";
  sec.kind = "echo";
  auto echo = f.keep(spawn_echo(spawn_context{f.sys, scfg, caf::actor_cast<router_actor>(f.router)}, sec));
  ask<ok_atom>(f.sys, f.router, handler_atom::value, std::string{"h:echo"}, echo);
  auto gw_rec = std::make_shared<record>();
  auto gateway = f.keep(f.sys.spawn(recorder, gw_rec));
  ask<ok_atom>(f.sys, f.router, gateway_atom::value, gateway);
  f.run();

  auto answer = ask<ok_atom>(f.sys, f.router, dispatch_atom::value,
                             make_msg("echo.request", echo_request_body(),
                                      {"peer-9"}));
  f.run();
  REQUIRE(answer->value);
  REQUIRE(gw_rec->replies.size() == 1);
  CHECK(gw_rec->replies[0].route == std::vector<std::string>{"peer-9"});
  auto body = wire::parse_echo(gw_rec->replies[0].body);
  REQUIRE(body);
  CHECK(body->hdr.hostname == "echohost");
  CHECK(body->orig_hostname == "remotehost");

  // Other types and broken pings are dropped, counted, and still accepted.
  f.dispatch(make_msg("echo.response", echo_request_body(), {"peer-9"}));
  f.dispatch(make_msg("echo.request", "[]", {"peer-9"}));
  CHECK(gw_rec->replies.size() == 1);
  auto c = ask<counters>(f.sys, echo, stats_atom::value);
  f.run();
  REQUIRE(c->value);
  CHECK((*c->value)["requests"] == 1);
  CHECK((*c->value)["other"] == 1);
  CHECK((*c->value)["malformed"] == 1);
  CHECK(f.stats()["handler_errors"] == 0);
}

TEST_CASE("router: log_limiter admits one line per key per interval",
          "[router]") {
  using namespace std::chrono;
  log_limiter lim{seconds{10}, 3};
  log_limiter::clock::time_point t0{};
  CHECK(lim.admit("a", t0) == uint64_t{0});
  CHECK_FALSE(lim.admit("a", t0 + seconds{1}));
  CHECK_FALSE(lim.admit("a", t0 + seconds{9}));
  CHECK(lim.admit("a", t0 + seconds{10}) == uint64_t{2});
  CHECK(lim.admit("b", t0) == uint64_t{0});
  CHECK(lim.admit("c", t0) == uint64_t{0});
  // Full: a new key evicts the quiet ones rather than growing.
  CHECK(lim.admit("d", t0 + seconds{15}) == uint64_t{0});
  CHECK(lim.size() <= 3);
  CHECK(printable_type(std::string{"a\nb\x01"}) == "a?b?");
  CHECK(printable_type(std::string(100, 'x')).size() == 67);
}

TEST_CASE("router: spawn_handler builds handlers by kind", "[router]") {
  router_fixture f;
  config::server_config scfg;
  scfg.host_name = "h";
  spawn_context ctx{f.sys, scfg, caf::actor_cast<router_actor>(f.router)};
  config::section sec;
  sec.name = "h:ll";
  sec.kind = "locallogger";
  auto ll = spawn_handler(ctx, sec);
  REQUIRE(ll);
  f.keep(*ll);
  sec.name = "h:echo";
  sec.kind = "echo";
  auto echo = spawn_handler(ctx, sec);
  REQUIRE(echo);
  f.keep(*echo);
  auto c = ask<counters>(f.sys, *echo, stats_atom::value);
  f.run();
  REQUIRE(c->value);
  CHECK(c->value->count("requests") == 1);
  sec.name = "h:odd";
  sec.kind = "nosuchkind";
  auto odd = spawn_handler(ctx, sec);
  REQUIRE_FALSE(odd);
  CHECK(code_of(odd.error()) == errc::config_invalid);
  CHECK(describe(odd.error()).find("h:odd") != std::string::npos);
}
