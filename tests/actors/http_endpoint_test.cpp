// The HTTP endpoint run from the process's I/O loop
// (actors/core/http_endpoint.hpp): it answers while another client holds a
// connection half-sent, and a request that waits for a stats round is
// suspended, not blocking the loop: other requests are answered meanwhile,
// and the publish of the round answers it.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>

#include <sys/socket.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/http_endpoint.hpp"
#include "actors/core/status_board.hpp"
#include "actors/core/types.hpp"
#include "tests/support/http.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;

namespace {

/// A stats stand-in that counts the rounds asked for and never answers.
caf::behavior silent_stats(caf::event_based_actor*, std::shared_ptr<std::atomic<int>> asked) {
  return {[asked](cc::refresh_atom) { ++*asked; }};
}

std::unique_ptr<cc::http_endpoint> listen(int port, std::shared_ptr<cc::status_board> board,
                                          cc::http_limits limits = {}) {
  auto ep = cc::http_endpoint::listen_tcp("127.0.0.1:" + std::to_string(port), false,
                                          std::move(board), limits);
  REQUIRE(ep);
  return std::move(*ep);
}

} // namespace

TEST_CASE("http endpoint on the loop: /health is answered while another client "
          "holds a half-sent request",
          "[http_endpoint][io_loop]") {
  auto board = std::make_shared<cc::status_board>();
  board->publish(cc::server_snapshot{});
  int port = cc::test::free_port();
  auto ep = listen(port, board);
  int slow = cc::test::connect_local(port);
  REQUIRE(slow >= 0);
  std::string part = "GET /hea";
  REQUIRE(::send(slow, part.data(), part.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(part.size()));
  auto r = cc::test::http_get(port, "/health");
  CHECK((r.status == 200 || r.status == 503));
  CHECK(r.body.find("{") != std::string::npos);
  // The slow client finishes and is answered too.
  std::string rest = "lth HTTP/1.0\r\n\r\n";
  REQUIRE(::send(slow, rest.data(), rest.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(rest.size()));
  std::string got;
  CHECK(cc::test::closed_by_peer(slow, 10s, &got));
  CHECK(got.rfind("HTTP/1.", 0) == 0);
  ::close(slow);
}

/// An endpoint whose board has a stats actor that never answers, and a
/// request to `path` waiting for the round it asked for.
struct waiting_request {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<std::atomic<int>> asked = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<cc::status_board> board = std::make_shared<cc::status_board>();
  int port = cc::test::free_port();
  std::unique_ptr<cc::http_endpoint> ep;
  std::future<cc::test::http_reply> reply;

  explicit waiting_request(const std::string& path) {
    board->set_source(sys.spawn(silent_stats, asked));
    cc::http_limits limits;
    limits.round_bound = 60s; // answered by the test, never by this bound
    ep = listen(port, board, limits);
    reply = std::async(std::launch::async,
                       [p = port, path] { return cc::test::http_get(p, path, 60s); });
    REQUIRE(cc::test::wait_until([&] { return asked->load() >= 1; }, 10s));
  }
};

TEST_CASE("http endpoint on the loop: a request waiting for a stats round does not "
          "hold up others, and the round's publish answers it",
          "[http_endpoint][io_loop]") {
  waiting_request w{"/status"};
  // The loop is free: a path that needs no round is answered at once.
  auto root = cc::test::http_get(w.port, "/");
  CHECK(root.status == 200);
  CHECK(w.reply.wait_for(0s) != std::future_status::ready);
  cc::server_snapshot snap;
  snap.job_name = "published-round";
  w.board->publish(snap);
  REQUIRE(w.reply.wait_for(30s) == std::future_status::ready);
  auto r = w.reply.get();
  CHECK(r.status == 200);
  CHECK(r.body.find("published-round") != std::string::npos);
  CHECK(w.asked->load() == 1); // one round asked, however many waited
}

TEST_CASE("http endpoint on the loop: stopping answers a waiting request",
          "[http_endpoint][io_loop]") {
  waiting_request w{"/health"};
  w.ep.reset();
  REQUIRE(w.reply.wait_for(30s) == std::future_status::ready);
  auto r = w.reply.get();
  // Answered (stale: no round came) or closed by the stop; never left hanging.
  CHECK((r.status == 503 || r.status == -1));
}
