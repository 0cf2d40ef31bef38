// config: regressions found while writing the loader's fuzz target
// (tests/fuzz/config.cpp).
// Interpolation is bounded: references that double the text at every level
// are refused once the value passes 1 MiB instead of growing towards
// 2^32 times the line, and a key referenced many times is expanded once, so
// wide fan-out over an empty value cannot take exponential time. (Before the
// fix the first case ran the fuzz target into its 60 s timeout, growing a
// 256 MiB string; the second one never finished.)
#include <catch2/catch.hpp>

#include <string>

#include "base/error.hpp"
#include "config/config.hpp"
#include "config/ini.hpp"

using cc::config::ini;

namespace {

const std::string path = "/etc/cc/laughs.ini";

std::string main_section() {
  return "[ccserver]\ncc-socket = tcp://127.0.0.1:22650\ncc-role = remote\n";
}

/// k0 = `seed`; k1..k`levels` each `fanout` references to the previous one.
std::string chain(const std::string& seed, int levels, int fanout) {
  std::string text = "k0 = " + seed + "\n";
  for (int i = 1; i <= levels; ++i) {
    text += "k" + std::to_string(i) + " = ";
    for (int j = 0; j < fanout; ++j)
      text += "%(k" + std::to_string(i - 1) + ")s";
    text += "\n";
  }
  return text;
}

} // namespace

TEST_CASE("interpolation that doubles at every level is refused past 1 MiB",
          "[config][ini][fuzz]") {
  auto text =
      main_section() + chain("xxxxxxxxxxxxxxxx", 28, 2) + "pidfile = %(k28)s\n";
  auto doc = ini::parse(text, path);
  REQUIRE(doc);
  // 16 bytes * 2^16 = 1 MiB still resolves; one level more is refused.
  auto ok = doc->get("ccserver", "k16");
  REQUIRE(ok);
  CHECK(ok->size() == size_t{1} << 20);
  CHECK(*ok == std::string(size_t{1} << 20, 'x'));
  auto big = doc->get("ccserver", "k28");
  REQUIRE_FALSE(big);
  CHECK(big.error().code() == static_cast<uint8_t>(cc::errc::config_invalid));
  auto msg = cc::describe(big.error());
  CHECK(msg.find(path + ":ccserver:k28: ") != std::string::npos);
  CHECK(msg.find("longer than 1048576 bytes") != std::string::npos);
  // validate() reports it on the key that reads it, and goes on.
  auto result = cc::config::validate(*doc);
  CHECK_FALSE(result.ok());
  bool named = false;
  for (const auto& d : result.diagnostics)
    named = named ||
            (d.key == "pidfile" &&
             d.str().find("longer than 1048576 bytes") != std::string::npos);
  CHECK(named);
}

TEST_CASE("a key referenced many times is expanded once",
          "[config][ini][fuzz]") {
  // 200^6 expansions of k0 without memoisation; one each with it.
  auto text =
      main_section() + chain("", 6, 200) + "pidfile = /tmp/x%(k6)s.pid\n";
  auto doc = ini::parse(text, path);
  REQUIRE(doc);
  auto v = doc->get("ccserver", "k6");
  REQUIRE(v);
  CHECK(v->empty());
  auto pid = doc->get("ccserver", "pidfile");
  REQUIRE(pid);
  CHECK(*pid == "/tmp/x.pid");
  // The same value reached along different paths is the same text.
  auto diamond =
      ini::parse(main_section() + "a = [%(b)s|%(c)s]\nb = %(d)s\n"
                                  "c = %(d)s%(d)s\nd = ${e}\ne = E\n",
                 path);
  REQUIRE(diamond);
  auto a = diamond->get("ccserver", "a");
  REQUIRE(a);
  CHECK(*a == "[E|EE]");
}

TEST_CASE("an empty handler type is an error, not a route to nowhere",
          "[config][validate][fuzz]") {
  // Minimised by libFuzzer from a mutated seed: the route named [h:jobs],
  // whose `handler =` was empty, and the config was valid without it.
  for (std::string key : {"handler", "plugin"}) {
    auto doc = ini::parse("[ccserver]\ncc-socket=tcp://1:2\n[routes]\n"
                          "u=h:jobs\n[h:jobs]\n" +
                              key + "=\n",
                          path);
    REQUIRE(doc);
    auto result = cc::config::validate(*doc);
    CHECK_FALSE(result.ok());
    bool named = false;
    for (const auto& d : result.diagnostics)
      named = named || (d.severity == cc::config::diagnostic::error &&
                        d.section == "h:jobs" && d.key == key &&
                        d.message.find("empty") == 0);
    CHECK(named);
  }
}
