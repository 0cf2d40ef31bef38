// The locallogger handler (actors/core/locallogger.hpp): its line format, and the
// actor writing into a real log file (cc::log::open) behind a real router.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>

#include <nlohmann/json.hpp>

#include "actors/core/locallogger.hpp"
#include "actors/core/router.hpp"
#include "actors/spawn.hpp"
#include "base/logger.hpp"
#include "tests/actors/router_fixture.hpp"
#include "tests/support/process.hpp"

using namespace cc;

namespace {

/// Local time is UTC for the scope of the object, so clock strings are fixed.
struct utc_zone {
  std::string old;
  bool had = false;
  utc_zone() {
    if (auto tz = std::getenv("TZ")) {
      old = tz;
      had = true;
    }
    setenv("TZ", "UTC", 1);
    tzset();
  }
  ~utc_zone() {
    if (had)
      setenv("TZ", old.c_str(), 1);
    else
      unsetenv("TZ");
    tzset();
  }
};

std::string log_body(const std::string& level, const std::string& text,
                     double log_time = 1700000000.123) {
  return nlohmann::json{{"req", "log." + level},
                        {"time", 1700000001.0},
                        {"hostname", "db1"},
                        {"blob_hash", ""},
                        {"log_level", level.empty() ? "" : level},
                        {"service_type", "pgqd"},
                        {"job_name", "pgqd_main"},
                        {"log_msg", text},
                        {"log_time", log_time},
                        {"log_pid", 4242},
                        {"log_line", 17},
                        {"log_function", "main"}}
    .dump();
}

struct log_file {
  std::string path;
  explicit log_file(const test::temp_dir& dir) : path(dir / "server.log") {
    std::string err;
    REQUIRE(log::open(path, err));
  }
  ~log_file() {
    std::string err;
    log::open("", err);
  }
  std::vector<std::string> lines() const { return lines_of(read_file(path)); }
};

} // namespace

TEST_CASE("locallogger: clock strings are HH:MM:SS,mmm of local time",
          "[locallogger]") {
  utc_zone utc;
  CHECK(format_clock(1700000000.123) == "22:13:20,123");
  CHECK(format_clock(1700000000.0) == "22:13:20,000");
  // Rounded to the nearest millisecond, carried into the seconds.
  CHECK(format_clock(1700000000.9996) == "22:13:21,000");
  CHECK(format_clock(0) == "00:00:00,000");
  // Nonsense from a broken sender does not crash or print garbage.
  CHECK(format_clock(std::nan("")) == "00:00:00,000");
  CHECK(format_clock(1e300) == "00:00:00,000");
}

TEST_CASE("locallogger: level word, one-line escaping, log types",
          "[locallogger]") {
  CHECK(log_level_word("log.info", "") == "INFO");
  CHECK(log_level_word("log.warning.x", "") == "WARNING");
  CHECK(log_level_word("log.info", "error") == "ERROR");
  CHECK(log_level_word("log", "") == "");
  CHECK(local_level("WARNING") == log::level::warning);
  CHECK(local_level("CRITICAL") == log::level::error);
  CHECK(local_level("DEBUG") == log::level::info);
  CHECK(one_line("a\nb\tc\r\x01") == "a\\nb\\tc\\r\\x01");
  CHECK(is_log_type("log"));
  CHECK(is_log_type("log.info"));
  CHECK_FALSE(is_log_type("logx.info"));
  CHECK_FALSE(is_log_type("pub.logtail"));
}

TEST_CASE("locallogger: log messages become lines of this server's log",
          "[locallogger]") {
  utc_zone utc;
  test::temp_dir dir{"locallogger"};
  log_file logs{dir};
  actor_fixture f;
  routes::route_table t;
  t.add("log", {"h:locallog"});
  router_config rc;
  rc.table = t;
  auto router = f.keep(spawn_router(f.sys, rc));
  config::server_config scfg;
  scfg.host_name = "central";
  config::section sec;
  sec.name = "h:locallog";
  sec.kind = "locallogger";
  auto ll = f.keep(spawn_locallogger(spawn_context{f.sys, scfg, caf::actor_cast<router_actor>(router)}, sec));
  ask<ok_atom>(f.sys, router, handler_atom::value, sec.name, ll);
  f.run();

  auto send = [&](std::string type, std::string body) {
    auto a = ask<ok_atom>(f.sys, router, dispatch_atom::value,
                          make_msg(std::move(type), std::move(body)));
    f.run();
    REQUIRE(a->done);
    return bool{a->value};
  };
  CHECK(send("log.info", log_body("INFO", "checkpoint complete")));
  CHECK(send("log.warning", log_body("WARNING", "two\nlines")));
  CHECK(send("log.error", log_body("", "no level field", 1700000000.5)));
  CHECK(send("log.info", R"({"req":"log.info","hostname":"x"})"));
  CHECK(send("log.info", "{broken"));

  auto lines = logs.lines();
  // Every line is "<stamp> <LEVEL> h:locallog: <text>"; check the tails.
  auto tail = [&](size_t i) {
    REQUIRE(i < lines.size());
    auto pos = lines[i].find(" h:locallog: ");
    REQUIRE(pos != std::string::npos);
    return lines[i].substr(pos + 1);
  };
  REQUIRE(lines.size() == 5);
  CHECK(tail(0) == "h:locallog: [pgqd_main@db1] 22:13:20,123 INFO checkpoint complete");
  CHECK(lines[0].find(" INFO h:locallog: ") != std::string::npos);
  CHECK(tail(1) == "h:locallog: [pgqd_main@db1] 22:13:20,123 WARNING two\\nlines");
  CHECK(lines[1].find(" WARN h:locallog: ") != std::string::npos);
  // No log_level in the body: the level comes from the type.
  CHECK(tail(2) == "h:locallog: [pgqd_main@db1] 22:13:20,500 ERROR no level field");
  CHECK(lines[2].find(" ERROR h:locallog: ") != std::string::npos);
  CHECK(tail(3).rfind("h:locallog: malformed log.info message dropped", 0) == 0);
  CHECK(tail(4).rfind("h:locallog: malformed log.info message dropped", 0) == 0);

  auto c = ask<counters>(f.sys, ll, stats_atom::value);
  f.run();
  REQUIRE(c->value);
  CHECK((*c->value)["received"] == 5);
  CHECK((*c->value)["logged"] == 3);
  CHECK((*c->value)["malformed"] == 2);
  CHECK((*c->value)["non_log"] == 0);
}

TEST_CASE("locallogger: other messages are logged as non-log msg",
          "[locallogger]") {
  test::temp_dir dir{"locallogger"};
  log_file logs{dir};
  locallogger_state st;
  st.who = "h:ll";
  auto body = std::string(2000, 'z');
  st.handle(make_msg("pub.logtail", body));
  st.handle(make_msg("job.start", "{\"a\":1}"));
  auto lines = logs.lines();
  REQUIRE(lines.size() == 2);
  // A large body is cut short.
  CHECK(lines[0].find("h:ll: non-log msg: pub.logtail zzz") != std::string::npos);
  CHECK(lines[0].size() < 700);
  CHECK(lines[0].substr(lines[0].size() - 3) == "...");
  CHECK(lines[1].find("h:ll: non-log msg: job.start {\"a\":1}") != std::string::npos);
  auto c = st.stats();
  CHECK(c["non_log"] == 2);
  CHECK(c["logged"] == 0);
}
