// What the server says about itself (actors/core/metrics, actors/status,
// actors/write/copy_stats, the log's json format): metric names and labels, the
// catalog against the docs, health and its every cause, /status and the
// --status table. Plain functions on hand-made snapshots.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "actors/core/counter_key.hpp"
#include "actors/core/metrics.hpp"
#include "actors/core/status.hpp"
#include "actors/write/copy_stats.hpp"
#include "base/logger.hpp"
#include "config/schema.hpp"
#include "tests/support/process.hpp"

using namespace cc;
using namespace std::chrono_literals;
using cc::test::count_of;

namespace {

part_snapshot part(std::string name, std::string kind, counters values,
                   label_list labels = {}) {
  part_snapshot p;
  p.name = std::move(name);
  p.kind = std::move(kind);
  p.values = std::move(values);
  p.labels = std::move(labels);
  p.up_since = 1;
  return p;
}

// A local and a central in one snapshot: one of every part kind that has
// per-file, per-link or per-copy facts.
server_snapshot sample() {
  server_snapshot s;
  s.job_name = "local";
  s.role = "local";
  s.version = "1.2.3";
  s.pid = 42;
  s.started = 1000;
  s.taken = 1100;
  s.parts.push_back(part("router", "router", {{"received", 7}, {"bytes", 70}}));
  s.parts.push_back(part("d:pg", "logtail",
                         {{"bytes_read", 900},
                          {"acked_bytes", 800},
                          {"failing", 0},
                          {"ack_timeout_ms", 10000},
                          {"lag_bytes{/pg/a.log}", 100},
                          {"file_size{/pg/a.log}", 900},
                          {"read_offset{/pg/a.log}", 900},
                          {"sent_offset{/pg/a.log}", 850},
                          {"acked_offset{/pg/a.log}", 800},
                          {"last_ack_age_ms{/pg/a.log}", 1500}},
                         {{"section", "d:pg"}}));
  s.parts.push_back(part("h:forward", "proxy",
                         {{"connected", 1},
                          {"reconnects", 2},
                          {"queued_bytes", 64},
                          {"link_down_ms", 0},
                          {"last_pong_age_ms", 250}},
                         {{"section", "h:forward"}, {"peer", "tcp://c:1"}}));
  s.parts.push_back(part(
      "h:tw", "tailwriter",
      {{"bytes_written", 4096},
       {"write_errors", 0},
       {"failing", 0},
       {counter_key("copy_written_bytes", {{"host", "db1"}, {"file", "db1/a.log"}}),
        4096},
       {counter_key("copy_last_write_age_ms", {{"host", "db1"}, {"file", "db1/a.log"}}),
        2000},
       {counter_key("copy_write_errors", {{"host", "db1"}, {"file", "db1/a.log"}}), 0}},
      {{"section", "h:tw"}}));
  s.parts.push_back(part("h:jobmgr", "jobmgr",
                         {{"daemons", 1}, {"running", 1}, {"daemon_running{d:pg}", 1}},
                         {{"section", "h:jobmgr"}}));
  return s;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos
         || text.rfind(line + "\n", 0) == 0;
}

std::vector<std::string> problems_of(const health_report& r) {
  std::vector<std::string> out;
  for (const auto& p : r.problems)
    out.push_back(p.part + ": " + p.problem);
  return out;
}

} // namespace

TEST_CASE("metrics: counter keys with bare and named labels", "[metrics]") {
  auto [n1, l1] = parse_counter_key("lag_bytes{/pg_log/x.log}", "file");
  CHECK(n1 == "lag_bytes");
  CHECK(l1 == label_list{{"file", "/pg_log/x.log"}});
  auto key = counter_key("c", {{"host", "a\"b"}, {"file", "x\\y,z=\"w\""}});
  CHECK(key == "c{host=\"a\\\"b\",file=\"x\\\\y,z=\\\"w\\\"\"}");
  auto [n2, l2] = parse_counter_key(key, "file");
  CHECK(n2 == "c");
  CHECK(l2 == label_list{{"host", "a\"b"}, {"file", "x\\y,z=\"w\""}});
  auto [n3, l3] = parse_counter_key("received", "file");
  CHECK(n3 == "received");
  CHECK(l3.empty());
  // A bare value that merely looks like a label set is still a bare value.
  auto [n4, l4] = parse_counter_key("lag_bytes{/a=b}", "file");
  CHECK(l4 == label_list{{"file", "/a=b"}});
}

TEST_CASE("metrics: the exposition names, labels and scales", "[metrics]") {
  auto text = exposition(sample(), {});
  CHECK(has_line(text, "ccserver_build_info{version=\"1.2.3\"} 1"));
  CHECK(has_line(text, "ccserver_start_time_seconds 1000.000"));
  CHECK(has_line(text, "ccserver_router_received_messages_total 7"));
  CHECK(has_line(text, "ccserver_tail_read_bytes_total{section=\"d:pg\"} 900"));
  CHECK(
      has_line(text, "ccserver_tail_lag_bytes{section=\"d:pg\",file=\"/pg/a.log\"} 100"));
  CHECK(has_line(
      text, "ccserver_tail_acked_offset_bytes{section=\"d:pg\",file=\"/pg/a.log\"} 800"));
  CHECK(has_line(
      text,
      "ccserver_tail_last_ack_age_seconds{section=\"d:pg\",file=\"/pg/a.log\"} 1.5"));
  CHECK(has_line(text, "ccserver_tail_ack_timeout_seconds{section=\"d:pg\"} 10"));
  CHECK(has_line(
      text, "ccserver_forward_connected{section=\"h:forward\",peer=\"tcp://c:1\"} 1"));
  CHECK(has_line(text, "ccserver_forward_last_pong_age_seconds{section=\"h:forward\","
                       "peer=\"tcp://c:1\"} 0.25"));
  CHECK(has_line(text, "ccserver_tailwriter_copy_written_bytes_total{section=\"h:tw\","
                       "host=\"db1\",file=\"db1/a.log\"} 4096"));
  CHECK(has_line(text, "ccserver_tailwriter_copy_last_write_age_seconds{section=\"h:tw\","
                       "host=\"db1\",file=\"db1/a.log\"} 2"));
  CHECK(has_line(
      text, "ccserver_jobmgr_daemon_running{section=\"h:jobmgr\",daemon=\"d:pg\"} 1"));
  CHECK(has_line(text, "ccserver_part_up{part=\"d:pg\",kind=\"logtail\"} 1"));
  // One HELP and one TYPE per metric, before its samples.
  CHECK(count_of(text, "# TYPE ccserver_part_up gauge\n") == 1);
  CHECK(count_of(text, "# HELP ccserver_part_up ") == 1);
  CHECK(text.find("# TYPE ccserver_tail_read_bytes_total counter\n"
                  "ccserver_tail_read_bytes_total{")
        != std::string::npos);
  // A counter no catalog knows (a new actor's) is kept, named generically.
  auto s = sample();
  s.parts.push_back(part("d:info", "infosender", {{"sent", 3}, {"queued_bytes", 5}},
                         {{"section", "d:info"}}));
  text = exposition(s, {});
  CHECK(has_line(text, "ccserver_infosender_sent_total{section=\"d:info\"} 3"));
  CHECK(has_line(text, "ccserver_infosender_queued_bytes{section=\"d:info\"} 5"));
  // A label value that is not UTF-8 (a sender's host name) would make
  // Prometheus refuse the whole scrape: its bad bytes become U+FFFD.
  s = sample();
  s.parts.push_back(
      part("h:tw2", "tailwriter",
           {{counter_key("copy_write_errors", {{"host", "a\xff"}, {"file", "x"}}), 1}},
           {{"section", "h:tw2"}}));
  text = exposition(s, {});
  CHECK(has_line(text, "ccserver_tailwriter_copy_write_errors_total{section=\"h:tw2\","
                       "host=\"a\xef\xbf\xbd\",file=\"x\"} 1"));
  // Process metrics only when asked for, health when given.
  exposition_options opts;
  opts.process = sample_process();
  opts.health = std::make_pair(false, size_t{2});
  text = exposition(sample(), opts);
  CHECK(has_line(text, "ccserver_healthy 0"));
  CHECK(has_line(text, "ccserver_health_problems 2"));
  // Disk waits on the I/O loop's thread (base/loop_jobs.hpp): always there.
  CHECK(text.find("# TYPE ccserver_loop_disk_waits_total counter\n") != std::string::npos);
  CHECK(text.find("\nprocess_resident_memory_bytes ") != std::string::npos);
  CHECK(opts.process->resident_bytes > 0);
  CHECK(opts.process->threads >= 1);
  CHECK(opts.process->open_fds > 0);
  CHECK(opts.process->start_time > 1e9);
}

TEST_CASE("metrics: every sample line is valid exposition syntax", "[metrics]") {
  exposition_options opts;
  opts.process = sample_process();
  opts.health = std::make_pair(true, size_t{0});
  auto text = exposition(sample(), opts);
  std::regex sample_line{
      R"([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+)"};
  std::regex comment{R"(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*)"};
  size_t lines = 0;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    REQUIRE(end != std::string::npos);
    auto line = text.substr(start, end - start);
    INFO(line);
    CHECK((std::regex_match(line, sample_line) || std::regex_match(line, comment)));
    ++lines;
    start = end + 1;
  }
  CHECK(lines > 40);
}

TEST_CASE("metrics: the catalog keeps Prometheus's conventions", "[metrics]") {
  std::set<std::pair<std::string, std::string>> keys;
  std::map<std::string, metric_type> types;
  std::set<std::string> kinds{"router", "gateway", "caf-listen"};
  for (const auto& s : config::schemas())
    kinds.insert(std::string{s.kind});
  for (const auto& m : metric_catalog()) {
    INFO(m.name);
    CHECK(keys.insert({std::string{m.kind}, std::string{m.key}}).second);
    CHECK(kinds.count(std::string{m.kind}) == 1);
    std::string name{m.name};
    CHECK(name.rfind("ccserver_" + subsystem_of(m.kind) + "_", 0) == 0);
    bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    CHECK(total == (m.type == metric_type::counter));
    CHECK(!m.help.empty());
    // One name, one type (several kinds never share a name anyway).
    auto [it, fresh] = types.emplace(name, m.type);
    CHECK((fresh || it->second == m.type));
    if (m.scale != 1)
      CHECK(name.find("_seconds") != std::string::npos);
    CHECK(std::regex_match(name, std::regex{"[a-z_][a-z0-9_]*"}));
  }
}

// docs/operations.md's metric tables are metrics_markdown(), between two
// markers. Regenerate with CC_UPDATE_DOCS=1 build/tests/actor_tests '[docs]'.
TEST_CASE("metrics: docs/operations.md lists every metric", "[metrics][docs]") {
  auto path = test::source_path("docs/operations.md");
  auto doc = test::read_file(path);
  const std::string begin = "<!-- metrics:begin: generated by cc::metrics_markdown(); "
                            "CC_UPDATE_DOCS=1 build/tests/actor_tests '[docs]' -->\n";
  const std::string end = "<!-- metrics:end -->\n";
  auto b = doc.find(begin);
  auto e = doc.find(end);
  REQUIRE(b != std::string::npos);
  REQUIRE(e != std::string::npos);
  REQUIRE(b < e);
  auto expected = metrics_markdown();
  if (const char* update = std::getenv("CC_UPDATE_DOCS"); update && *update) {
    doc = doc.substr(0, b + begin.size()) + expected + doc.substr(e);
    test::write_file(path, doc);
    WARN("rewrote the metric tables of " << path);
    e = doc.find(end);
  }
  INFO("docs/operations.md's metric tables are out of date; regenerate them:\n"
       "  CC_UPDATE_DOCS=1 build/tests/actor_tests '[docs]'");
  CHECK(doc.substr(b + begin.size(), e - b - begin.size()) == expected);
  for (const auto& m : metric_catalog())
    CHECK(expected.find("`" + std::string{m.name} + "`") != std::string::npos);
  for (const auto& m : server_metrics())
    CHECK(expected.find("`" + std::string{m.name} + "`") != std::string::npos);
}

TEST_CASE("health: healthy, and each cause of 503 on its own", "[health]") {
  health_settings hs;
  hs.link_timeout = 5s;
  hs.failure_hold = 30s;
  double now = 2000;
  auto s = sample();
  CHECK(evaluate_health(s, hs, now).healthy());

  SECTION("a shutdown under way") {
    s.stopping = true;
    CHECK(problems_of(evaluate_health(s, hs, now))
          == std::vector<std::string>{"server: shutting down"});
  }
  SECTION("a daemon ended with an error and is not running") {
    for (auto& p : s.parts)
      if (p.name == "d:pg") {
        p.up = false;
        p.failure = "read /pg/a.log: Input/output error";
        p.failed_at = now - 3;
      } else if (p.name == "h:jobmgr") {
        p.values["daemon_running{d:pg}"] = 0;
      }
    auto r = evaluate_health(s, hs, now);
    // Said once, with the reason, not again by the jobmgr.
    REQUIRE(problems_of(r) == std::vector<std::string>{"d:pg: failed"});
    CHECK(r.problems[0].detail.find("Input/output error") != std::string::npos);
  }
  SECTION("a daemon restarted after a failure, until the hold passed") {
    for (auto& p : s.parts)
      if (p.name == "d:pg") {
        p.failure = "read: Input/output error";
        p.failed_at = now - 12;
        p.up_since = now - 10;
      }
    CHECK(problems_of(evaluate_health(s, hs, now))
          == std::vector<std::string>{"d:pg: restarted after a failure"});
    CHECK(evaluate_health(s, hs, now + 21).healthy());
  }
  SECTION("a daemon the jobmgr could not start") {
    for (auto& p : s.parts)
      if (p.name == "h:jobmgr")
        p.values["daemon_running{d:pg}"] = 0;
    CHECK(problems_of(evaluate_health(s, hs, now))
          == std::vector<std::string>{"d:pg: not running"});
  }
  SECTION("a tailer that cannot read") {
    for (auto& p : s.parts)
      if (p.name == "d:pg")
        p.values["failing"] = 1;
    CHECK(problems_of(evaluate_health(s, hs, now))
          == std::vector<std::string>{"d:pg: cannot read"});
  }
  SECTION("a writer that cannot write") {
    for (auto& p : s.parts)
      if (p.name == "h:tw")
        p.values["failing"] = 2;
    auto r = evaluate_health(s, hs, now);
    REQUIRE(problems_of(r) == std::vector<std::string>{"h:tw: cannot write"});
    CHECK(r.problems[0].detail.rfind("2 copies", 0) == 0);
  }
  SECTION("a link down longer than health-link-timeout, not shorter") {
    for (auto& p : s.parts)
      if (p.name == "h:forward") {
        p.values["connected"] = 0;
        p.values["link_down_ms"] = 4999;
      }
    CHECK(evaluate_health(s, hs, now).healthy());
    for (auto& p : s.parts)
      if (p.name == "h:forward")
        p.values["link_down_ms"] = 5001;
    auto r = evaluate_health(s, hs, now);
    REQUIRE(problems_of(r) == std::vector<std::string>{"h:forward: link down"});
    CHECK(r.problems[0].detail.find("tcp://c:1") != std::string::npos);
  }
  SECTION("a stop on request is no failure") {
    for (auto& p : s.parts)
      if (p.name == "d:pg")
        p.up = false;
    CHECK(evaluate_health(s, hs, now).healthy());
  }
}

TEST_CASE("status: the JSON document and the table", "[health]") {
  auto s = sample();
  health_report healthy;
  auto doc = status_json(s, healthy, 1105);
  CHECK(doc["server"]["job_name"] == "local");
  CHECK(doc["server"]["uptime_seconds"] == 105.0);
  CHECK(doc["server"]["snapshot_age_seconds"] == 5.0);
  CHECK(doc["health"]["status"] == "ok");
  REQUIRE(doc["tailers"].size() == 1);
  const auto& t = doc["tailers"][0];
  CHECK(t["file"] == "/pg/a.log");
  CHECK(t["size"] == 900);
  CHECK(t["acked"] == 800);
  CHECK(t["lag_bytes"] == 100);
  CHECK(t["last_ack_age_seconds"] == 1.5);
  CHECK(t["state"] == "behind");
  REQUIRE(doc["links"].size() == 1);
  CHECK(doc["links"][0]["peer"] == "tcp://c:1");
  CHECK(doc["links"][0]["connected"] == true);
  CHECK(doc["links"][0]["last_pong_age_seconds"] == 0.25);
  REQUIRE(doc["copies"].size() == 1);
  CHECK(doc["copies"][0]["host"] == "db1");
  CHECK(doc["copies"][0]["file"] == "db1/a.log");
  CHECK(doc["copies"][0]["written_bytes"] == 4096);
  CHECK(doc["parts"].size() == s.parts.size());

  auto table = status_table(doc);
  CHECK(table.rfind(
            "ccserver local: healthy (pid 42, version 1.2.3, role local, up 1m45s)\n", 0)
        == 0);
  CHECK(table.find("d:pg    /pg/a.log  900 B  800 B  100 B  1.5 s     behind")
        != std::string::npos);
  CHECK(table.find("h:forward  tcp://c:1  yes        64 B    2           -         0.2 s")
        != std::string::npos);
  CHECK(table.find("h:tw    db1   db1/a.log  4.0 KiB  2.0 s       0")
        != std::string::npos);

  health_report sick;
  sick.problems.push_back({"h:forward", "proxy", "link down", "tcp://c:1 down for 9 s"});
  table = status_table(status_json(s, sick, 1105));
  CHECK(table.find("UNHEALTHY") != std::string::npos);
  CHECK(table.find("\nproblems:\n  h:forward: link down: tcp://c:1 down for 9 s\n")
        != std::string::npos);
}

TEST_CASE("copy_stats: per copy bytes, ages, errors, bounded", "[metrics]") {
  tw::copy_stats cs{2};
  auto t0 = tw::copy_stats::clock::now();
  cs.written("db1", "db1/a.log", 100, t0);
  cs.failed("db1", "db1/b.log", t0);
  counters out;
  cs.add_to(out, t0 + 1500ms);
  CHECK(out["write_errors"] == 1);
  CHECK(out["failing"] == 1);
  CHECK(out[counter_key("copy_written_bytes", {{"host", "db1"}, {"file", "db1/a.log"}})]
        == 100);
  CHECK(
      out[counter_key("copy_last_write_age_ms", {{"host", "db1"}, {"file", "db1/a.log"}})]
      == 1500);
  CHECK(out[counter_key("copy_write_errors", {{"host", "db1"}, {"file", "db1/b.log"}})]
        == 1);
  // Never written: no age.
  CHECK(out.count(counter_key("copy_last_write_age_ms",
                              {{"host", "db1"}, {"file", "db1/b.log"}}))
        == 0);
  // A write after the failure: no longer failing; the error stays counted.
  cs.written("db1", "db1/b.log", 7, t0 + 2s);
  out.clear();
  cs.add_to(out, t0 + 2s);
  CHECK(out["failing"] == 0);
  CHECK(out["write_errors"] == 1);
  // Bounded: a third copy pushes out the least recently active one (a).
  cs.written("db2", "db2/c.log", 1, t0 + 3s);
  out.clear();
  cs.add_to(out, t0 + 3s);
  CHECK(out.count(
            counter_key("copy_written_bytes", {{"host", "db1"}, {"file", "db1/a.log"}}))
        == 0);
  CHECK(out.count(
            counter_key("copy_written_bytes", {{"host", "db2"}, {"file", "db2/c.log"}}))
        == 1);
}

TEST_CASE("log: the json format is one object per line", "[log]") {
  auto line =
      log::render(log::format::json, log::level::warning, "h:forward",
                  "quote \" backslash \\ tab \t bad \xff utf8 \xc3\xa9", 1764162301, 7);
  REQUIRE(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  auto doc = nlohmann::json::parse(line);
  CHECK(doc["level"] == "warning");
  CHECK(doc["component"] == "h:forward");
  CHECK(doc["message"] == "quote \" backslash \\ tab \t bad \xef\xbf\xbd utf8 \xc3\xa9");
  CHECK(doc["pid"].is_number());
  auto time = doc["time"].get<std::string>();
  CHECK(std::regex_match(
      time, std::regex{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.007[+-]\d\d:\d\d)"}));
  auto text =
      log::render(log::format::text, log::level::info, "main", "up", 1764162301, 7);
  CHECK(std::regex_match(
      text, std::regex{R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.007 INFO main: up\n)"}));
}

namespace {

// Every metric-looking name in `text` (ccserver_*, process_*).
std::set<std::string> metric_names_in(const std::string& text) {
  std::set<std::string> out;
  std::regex name{R"(\b(ccserver_[a-z0-9_]+|process_[a-z0-9_]+)\b)"};
  for (auto i = std::sregex_iterator(text.begin(), text.end(), name);
       i != std::sregex_iterator(); ++i)
    out.insert((*i)[1].str());
  return out;
}

std::set<std::string> exported_names() {
  std::set<std::string> out;
  for (const auto& m : metric_catalog())
    out.insert(std::string{m.name});
  for (const auto& m : server_metrics())
    out.insert(std::string{m.name});
  return out;
}

void collect_exprs(const nlohmann::json& j, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "expr" && it->is_string())
        out.push_back(it->get<std::string>());
      else
        collect_exprs(*it, out);
    }
  } else if (j.is_array()) {
    for (const auto& x : j)
      collect_exprs(x, out);
  }
}

} // namespace

TEST_CASE("dashboards: the Grafana dashboard and the alert rules use only "
          "metrics ccserver exports",
          "[metrics][dashboards]") {
  auto exported = exported_names();
  auto dashboard = nlohmann::json::parse(
      test::read_file(test::source_path("conf/grafana/ccserver-dashboard.json")));
  std::vector<std::string> exprs;
  collect_exprs(dashboard, exprs);
  REQUIRE(exprs.size() >= 10);
  std::set<std::string> used;
  for (const auto& e : exprs)
    for (const auto& n : metric_names_in(e)) {
      INFO(e);
      CHECK(exported.count(n) == 1);
      used.insert(n);
    }
  // What the issue asks the dashboard to show: lag per file, throughput per
  // host, link state, write errors.
  for (auto n :
       {"ccserver_tail_lag_bytes", "ccserver_tailwriter_copy_written_bytes_total",
        "ccserver_forward_connected", "ccserver_tailwriter_write_errors_total"})
    CHECK(used.count(n) == 1);
  auto rules = test::read_file(test::source_path("conf/prometheus/ccserver-alerts.yml"));
  auto in_rules = metric_names_in(rules);
  CHECK(in_rules.size() >= 10);
  for (const auto& n : in_rules) {
    INFO(n);
    CHECK(exported.count(n) == 1);
  }
}
