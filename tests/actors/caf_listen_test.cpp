// The CAF gateway's bookkeeping (actors/link/caf_listen): HOST:PORT parsing, the
// peer route frames pushed on the way in and popped on the way back, peers
// forgotten when they go down, and the TLS file check done before CAF's
// OpenSSL module would throw. Real traffic between nodes is covered by
// tests/integration/cluster_test.cpp.
#include <catch2/catch.hpp>

#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/link/caf_listen.hpp"
#include "base/error.hpp"
#include "tests/support/process.hpp"

namespace {

caf::behavior idle_actor(caf::event_based_actor*) {
  return {[](int) {}};
}

cc::wire::cc_message message_with_route(std::vector<std::string> route) {
  cc::wire::cc_message m;
  m.route = std::move(route);
  m.type = "logtail.ack";
  m.body = "{}";
  return m;
}

} // namespace

TEST_CASE("parse_host_port takes HOST:PORT and refuses the rest", "[caf_listen]") {
  auto ok = cc::parse_host_port("127.0.0.1:4242");
  REQUIRE(ok);
  CHECK(ok->first == "127.0.0.1");
  CHECK(ok->second == 4242);
  auto v6 = cc::parse_host_port("[::1]:65535");
  REQUIRE(v6);
  CHECK(v6->first == "::1");
  CHECK(v6->second == 65535);
  for (auto bad : {"127.0.0.1", ":4242", "host:", "host:0", "host:65536",
                   "host:12a", "host:123456"}) {
    INFO(bad);
    auto r = cc::parse_host_port(bad);
    REQUIRE_FALSE(r);
    CHECK(cc::describe(r.error()).find(bad) != std::string::npos);
  }
}

TEST_CASE("caf_listen_state: peer frames in, replies back to that peer",
          "[caf_listen]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto a = sys.spawn(idle_actor);
  auto b = sys.spawn(idle_actor);
  cc::caf_listen_state st;

  bool fresh = false;
  auto fa = st.frame_of(a, fresh);
  CHECK(fresh);
  auto fa2 = st.frame_of(a, fresh);
  CHECK_FALSE(fresh);
  CHECK(fa == fa2);
  auto fb = st.frame_of(b, fresh);
  CHECK(fresh);
  CHECK(fa != fb);
  // A peer frame is an in-process frame, so a ZeroMQ hop never mistakes it
  // for a socket identity.
  CHECK_FALSE(cc::wire::local_endpoint_name(fa).empty());

  auto msg = message_with_route({"tailer-frame"});
  st.push_route(msg, fb);
  REQUIRE(msg.route.size() == 3);
  CHECK(msg.route[0] == cc::wire::local_route_frame(cc::caf_listen_endpoint));
  CHECK(msg.route[1] == fb);
  CHECK(msg.route[2] == "tailer-frame");

  // The router pops our own frame; we pop the peer's and name its actor.
  msg.route.erase(msg.route.begin());
  auto dest = st.reply_target(msg);
  CHECK(dest == b);
  REQUIRE(msg.route.size() == 1);
  CHECK(msg.route[0] == "tailer-frame");

  auto unknown = message_with_route({"no such peer", "x"});
  CHECK_FALSE(st.reply_target(unknown));
  auto empty = message_with_route({});
  CHECK_FALSE(st.reply_target(empty));
  CHECK(st.undeliverable == 2);
  CHECK(st.replies == 3);

  CHECK(st.forget(a.address()));
  CHECK_FALSE(st.forget(a.address()));
  auto to_a = message_with_route({fa});
  CHECK_FALSE(st.reply_target(to_a));
  auto stats = st.stats();
  CHECK(stats["connected"] == 1);
  CHECK(stats["peers_lost"] == 1);
  CHECK(stats["undeliverable"] == 3);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_CASE("check_caf_tls_files names the key of a file OpenSSL cannot load",
          "[caf_listen]") {
  cc::test::temp_dir dir{"cctls"};
  cc::test::write_file(dir / "junk.pem", "not a certificate\n");
  cc::caf_tls_settings off;
  CHECK_FALSE(cc::check_caf_tls_files(off));
  cc::caf_tls_settings junk{dir / "junk.pem", dir / "junk.pem", dir / "junk.pem"};
  auto err = cc::check_caf_tls_files(junk);
  REQUIRE(err);
  CHECK(err.code() == static_cast<uint8_t>(cc::errc::config_invalid));
  auto text = cc::describe(err);
  INFO(text);
  CHECK(text.find("caf-certificate " + dir / "junk.pem") != std::string::npos);
}
