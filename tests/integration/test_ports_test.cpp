// The test support's free_port(): a port handed out is claimed until its
// test is over, so two tests running at once (ctest -j2) or one test asking
// twice never get the same port before a server binds it.
#include <set>

#include <catch2/catch.hpp>

#include "tests/support/process.hpp"

TEST_CASE("free_port: a port is handed out once while claimed, though nothing binds it",
          "[integration][support]") {
  // 400 picks from 12,000 ports: without the claims the same port comes
  // back within them nearly always (birthday bound, ~99.9 %).
  std::set<int> seen;
  for (int i = 0; i < 400; ++i) {
    int port = cc::test::free_port();
    INFO("pick " << i << ": port " << port);
    REQUIRE(seen.insert(port).second);
  }
}
