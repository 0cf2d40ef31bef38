// The stats actor (actors/core/stats.hpp): metric naming and rendering, and the
// actor polling a real router on the test coordinator and writing the infofile
// and the Prometheus metrics file.
#include <catch2/catch.hpp>

#include <chrono>

#include <caf/scoped_actor.hpp>

#include "actors/core/router.hpp"
#include "actors/core/stats.hpp"
#include "actors/core/status_board.hpp"
#include "base/logger.hpp"
#include "tests/actors/router_fixture.hpp"
#include "tests/support/process.hpp"

using namespace cc;

namespace {

struct stats_log {
  std::string path;
  explicit stats_log(const test::temp_dir& dir) : path(dir / "server.log") {
    std::string err;
    REQUIRE(log::open(path, err));
  }
  ~stats_log() {
    std::string err;
    log::open("", err);
  }
  std::string text() const { return read_file(path); }
};

} // namespace

TEST_CASE("stats: the metrics text names parts by kind and labels them",
          "[stats]") {
  stats_state st;
  st.settings.version = "9.9";
  st.settings.parts["d:tail"] = {"logtail", {{"section", "d:tail"}}};
  watched_actor router;
  router.name = "router";
  router.current = {{"received", 12}, {"bytes", 300}};
  watched_actor tail;
  tail.name = "d:tail";
  tail.current = {{"lag_bytes{/a \"b\".log}", 5}, {"resends", 2}};
  st.watched = {router, tail};
  auto text = st.metrics_text(1000);
  CHECK(text.find("# TYPE ccserver_tail_lag_bytes gauge\n"
                  "ccserver_tail_lag_bytes{section=\"d:tail\",file=\"/a "
                  "\\\"b\\\".log\"} 5\n") != std::string::npos);
  CHECK(text.find("# TYPE ccserver_tail_resends_total counter\n"
                  "ccserver_tail_resends_total{section=\"d:tail\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("ccserver_router_received_bytes_total 300\n") != std::string::npos);
  CHECK(text.find("ccserver_router_received_messages_total 12\n") != std::string::npos);
  CHECK(text.find("ccserver_build_info{version=\"9.9\"} 1\n") != std::string::npos);
  // Both watched actors are dead (no actor): part_up 0, and nothing failed.
  CHECK(text.find("ccserver_part_up{part=\"router\",kind=\"router\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("ccserver_healthy 1\n") != std::string::npos);
  // No process_* metrics in the file (node_exporter has its own).
  CHECK(text.find("process_") == std::string::npos);
}

TEST_CASE("stats: summary lines follow cc-stats", "[stats]") {
  stats_state st;
  watched_actor w;
  w.name = "router";
  w.previous = {{"received", 10}, {"bytes", 5}};
  w.current = {{"received", 12}, {"bytes", 5}, {"unrouted", 0}};
  st.settings.level = 0;
  CHECK_FALSE(st.summary_line(w));
  st.settings.level = 1;
  CHECK(st.summary_line(w) == std::string{"router: received=12(+2)"});
  st.settings.level = 2;
  CHECK(st.summary_line(w) ==
        std::string{"router: bytes=5 received=12(+2) unrouted=0"});
  st.settings.level = 1;
  w.previous = w.current;
  CHECK_FALSE(st.summary_line(w));
  // An age moves with the clock: not worth a line at level 1.
  w.current["last_pong_age_ms"] = 1500;
  w.current["copy_last_write_age_ms{host=\"a\",file=\"b\"}"] = 99;
  CHECK_FALSE(st.summary_line(w));
  st.settings.level = 2;
  CHECK(st.summary_line(w)->find("last_pong_age_ms=1500") != std::string::npos);
}

TEST_CASE("stats: write_atomically names the path on failure", "[stats]") {
  test::temp_dir dir{"stats"};
  CHECK_FALSE(write_atomically(dir / "f", "one\n"));
  CHECK(read_file(dir / "f") == "one\n");
  CHECK_FALSE(write_atomically(dir / "f", "two\n"));
  CHECK(read_file(dir / "f") == "two\n");
  auto err = write_atomically(dir / "missing/f", "x");
  REQUIRE(err);
  CHECK(code_of(err) == errc::io);
  CHECK(describe(err).find(dir / "missing/f.tmp") != std::string::npos);
}

TEST_CASE("stats: polls a real router and writes infofile and metrics",
          "[stats]") {
  test::temp_dir dir{"stats"};
  stats_log logs{dir};
  actor_fixture f;
  routes::route_table t;
  t.add("log", {"h:locallog"});
  router_config rc;
  rc.table = t;
  auto router = f.keep(spawn_router(f.sys, rc));
  auto rec = std::make_shared<record>();
  auto handler = f.keep(f.sys.spawn(recorder, rec));
  ask<ok_atom>(f.sys, router, handler_atom::value, std::string{"h:locallog"},
               handler);

  stats_settings s;
  s.level = 1;
  s.period = std::chrono::seconds{30};
  s.infofile = dir / "ccserver.info";
  s.metrics_file = dir / "ccserver.prom";
  s.job_name = "central";
  s.detached = false;  // on the test coordinator
  auto stats = f.keep(spawn_stats(f.sys, s));
  auto reg = ask<ok_atom>(f.sys, stats, register_atom::value,
                          std::string{"router"}, router);
  f.run();
  REQUIRE(reg->value);

  for (int i = 0; i < 3; ++i)
    caf::anon_send(router, dispatch_atom::value, make_msg("log.info"));
  caf::anon_send(router, dispatch_atom::value, make_msg("nothing.here"));
  f.run();
  auto flushed = ask<ok_atom>(f.sys, stats, flush_atom::value);
  f.run();
  REQUIRE(flushed->value);

  auto metrics = read_file(s.metrics_file);
  CHECK(metrics.find("# TYPE ccserver_router_received_messages_total counter\n"
                     "ccserver_router_received_messages_total 4\n") !=
        std::string::npos);
  CHECK(metrics.find("ccserver_router_routed_messages_total 3\n") != std::string::npos);
  CHECK(metrics.find("ccserver_router_unrouted_messages_total 1\n") != std::string::npos);
  auto info = read_file(s.infofile);
  CHECK(info.rfind("name: central\n", 0) == 0);
  CHECK(info.find("\ninfo-period: 30\n") != std::string::npos);
  CHECK(info.find("\n[router]\n") != std::string::npos);
  CHECK(info.find("\nreceived: 4 (+4 in the last period)\n") != std::string::npos);
  // Counters in name order; bytes: 3 * 10 for log.info + 14 for nothing.here.
  CHECK(count_lines_with(logs.text(), "stats: router: bytes=44(+44) received=4(+4) "
                                      "routed=3(+3) unrouted=1(+1)") == 1);

  // The period's timer: more traffic, then the next report shows it.
  for (int i = 0; i < 2; ++i)
    caf::anon_send(router, dispatch_atom::value, make_msg("log.info"));
  f.run();
  REQUIRE(f.sched.advance_time(std::chrono::seconds{30}) >= 1);
  f.run();
  metrics = read_file(s.metrics_file);
  CHECK(metrics.find("ccserver_router_received_messages_total 6\n") != std::string::npos);
  info = read_file(s.infofile);
  CHECK(info.find("\nreceived: 6 (+2 in the last period)\n") != std::string::npos);
  CHECK(info.find("\nunrouted: 1\n") != std::string::npos);
  // cc-stats 1: only what changed.
  auto text = logs.text();
  CHECK(count_lines_with(text, "stats: router: bytes=64(+20) received=6(+2) "
                              "routed=5(+2)") == 1);
  CHECK(count_lines_with(text, "unrouted=") == 1);

  // A quiet period logs nothing for the router; files are still rewritten.
  REQUIRE(f.sched.advance_time(std::chrono::seconds{30}) >= 1);
  f.run();
  CHECK(count_lines_with(logs.text(), "stats: router:") == 2);
  CHECK(read_file(s.infofile).find("\nreceived: 6\n") != std::string::npos);

  // A watched actor that goes down keeps its last values, marked gone.
  caf::anon_send_exit(router, caf::exit_reason::kill);
  f.run();
  auto again = ask<ok_atom>(f.sys, stats, flush_atom::value);
  f.run();
  REQUIRE(again->value);
  info = read_file(s.infofile);
  CHECK(info.find("[router]\n# gone; last known values\n") != std::string::npos);
  CHECK(read_file(s.metrics_file).find("ccserver_router_received_messages_total 6\n") !=
        std::string::npos);
}

TEST_CASE("stats: settings come from [ccserver]", "[stats]") {
  config::section main;
  main.name = "ccserver";
  main.kind = "ccserver";
  main.values = {{"cc-stats", "2"},
                 {"stats-period", "5"},
                 {"infofile", "/tmp/x.info"},
                 {"infofile-level", "1"},
                 {"metrics-file", "/tmp/x.prom"}};
  auto s = stats_settings_from(main);
  CHECK(s.level == 2);
  CHECK(s.period == std::chrono::seconds{5});
  CHECK(s.infofile == "/tmp/x.info");
  CHECK(s.infofile_level == 1);
  CHECK(s.metrics_file == "/tmp/x.prom");
  CHECK_FALSE(s.detached);  // production: on CAF's scheduler, no thread of its own
  config::server_config cfg;
  cfg.job_name = "central";
  cfg.main = main;
  auto named = stats_settings_from(cfg);
  CHECK(named.job_name == "central");
  CHECK(named.level == 2);
}

TEST_CASE("stats: the actor on a real scheduler (production) writes on flush", "[stats]") {
  test::temp_dir dir{"stats"};
  // A real scheduler, as in ccserver.
  caf::actor_system_config cfg;
  register_types(cfg);
  caf::actor_system sys{cfg};
  router_config rc;
  rc.table.add("log", {"h:nothing"});
  auto router = caf::actor_cast<caf::actor>(spawn_router(sys, rc));
  stats_settings s;
  s.level = 0;
  s.metrics_file = dir / "m.prom";
  auto stats = spawn_stats(sys, s);
  caf::scoped_actor self{sys};
  bool registered = false;
  self->request(stats, std::chrono::seconds{10}, register_atom::value,
                std::string{"router"}, router)
    .receive([&](ok_atom) { registered = true; }, [](caf::error&) {});
  REQUIRE(registered);
  self->send(router, dispatch_atom::value, make_msg("log.x"));
  // The router answers stats requests in mailbox order: the dispatch above is
  // counted before the flush's poll reaches it.
  bool flushed = false;
  self->request(stats, std::chrono::seconds{10}, flush_atom::value)
    .receive([&](ok_atom) { flushed = true; }, [](caf::error&) {});
  REQUIRE(flushed);
  CHECK(read_file(dir / "m.prom").find("ccserver_router_unrouted_messages_total 1\n") !=
        std::string::npos);
  self->send_exit(stats, caf::exit_reason::user_shutdown);
  self->send_exit(router, caf::exit_reason::user_shutdown);
}

namespace {

// A part that reports one counter and, when told, ends with an I/O error
// (as a tailer does when its file cannot be read).
caf::behavior failing_part(caf::event_based_actor* self) {
  return {
    [](stats_atom) { return counters{{"bytes_read", 5}}; },
    [self](ok_atom) {
      self->quit(make_error(errc::io, "read /pg/a.log: Input/output error"));
    },
  };
}

const part_snapshot& part_named(const server_snapshot& s, const std::string& n) {
  const auto* p = s.find(n);
  REQUIRE(p != nullptr);
  return *p;
}

} // namespace

TEST_CASE("stats: refresh rounds feed the status board, and failures are kept",
          "[stats]") {
  actor_fixture f;
  auto board = std::make_shared<status_board>();
  stats_settings s;
  s.level = 0;
  s.period = std::chrono::seconds{30};
  s.detached = false;
  s.job_name = "local";
  s.board = board;
  s.parts["d:pg"] = {"logtail", {{"section", "d:pg"}}};
  auto stats = f.keep(spawn_stats(f.sys, s));
  auto first = f.sys.spawn(failing_part);
  auto reg = ask<ok_atom>(f.sys, stats, register_atom::value, std::string{"d:pg"}, first);
  f.run();
  REQUIRE(reg->value);
  caf::anon_send(stats, refresh_atom::value);
  f.run();
  auto seen = board->peek();
  REQUIRE(seen.any);
  CHECK(seen.snap.job_name == "local");
  CHECK(part_named(seen.snap, "d:pg").kind == "logtail");
  CHECK(part_named(seen.snap, "d:pg").up);
  CHECK(part_named(seen.snap, "d:pg").values.at("bytes_read") == 5);
  CHECK(evaluate_health(seen.snap, {}, seen.snap.taken).healthy());

  // It fails: the board says so, with the reason, and health with it.
  caf::anon_send(first, ok_atom::value);
  f.run();
  caf::anon_send(stats, refresh_atom::value);
  f.run();
  seen = board->peek();
  const auto& down = part_named(seen.snap, "d:pg");
  CHECK_FALSE(down.up);
  CHECK(down.failure.find("Input/output error") != std::string::npos);
  auto health = evaluate_health(seen.snap, {}, seen.snap.taken);
  REQUIRE(health.problems.size() == 1);
  CHECK(health.problems[0].problem == "failed");

  // Restarted under the same name (the jobmgr's way): running again, and
  // unhealthy until health-failure-hold has passed.
  auto second = f.keep(f.sys.spawn(failing_part));
  reg = ask<ok_atom>(f.sys, stats, register_atom::value, std::string{"d:pg"}, second);
  f.run();
  REQUIRE(reg->value);
  caf::anon_send(stats, refresh_atom::value);
  f.run();
  seen = board->peek();
  const auto& again = part_named(seen.snap, "d:pg");
  CHECK(again.up);
  CHECK(again.failure.find("Input/output error") != std::string::npos);
  health_settings hold;
  hold.failure_hold = std::chrono::seconds{30};
  CHECK(evaluate_health(seen.snap, hold, again.up_since + 1).problems.at(0).problem ==
        "restarted after a failure");
  CHECK(evaluate_health(seen.snap, hold, again.up_since + 31).healthy());
  // No file was written: refresh rounds are for the board only.
  CHECK(s.metrics_file.empty());
}

TEST_CASE("stats: a round's answer is shared by current, previous and the "
          "board's snapshot, not copied, and a write copies first",
          "[stats]") {
  stats_state st;
  st.watch("d:a", caf::actor{});
  st.watch("d:b", caf::actor{});
  st.round = 7;
  st.store(7, "d:b", counters{{"bytes_read", 5}});
  st.store(6, "d:a", counters{{"bytes_read", 1}}); // a stale round's answer
  REQUIRE(st.watched.size() == 2);
  CHECK(st.watched[0].current.empty());
  auto& b = st.watched[1];
  CHECK(b.current.at("bytes_read") == 5);
  auto snap = st.snapshot(1000);
  REQUIRE(snap.parts.size() == 2);
  CHECK(snap.parts[1].values.shares(b.current));
  st.report(1000);
  CHECK(b.previous.shares(b.current));
  // A write through one holder leaves the others as they were.
  b.current["bytes_read"] = 9;
  CHECK_FALSE(b.previous.shares(b.current));
  CHECK(b.previous.at("bytes_read") == 5);
  CHECK(snap.parts[1].values.at("bytes_read") == 5);
  CHECK(st.summary_line(b) == std::string{"d:b: bytes_read=9(+4)"});
  // The same name again is the same entry (a restarted tailer).
  st.watch("d:b", caf::actor{}, 5);
  CHECK(st.watched.size() == 2);
  CHECK(st.watched[1].up_since == 5);
}
