// Every shipped configuration (conf/*.ini, used by the demo and the
// integration tests) validates without errors and resolves as documented.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "tests/support/process.hpp"

using namespace cc::config;

namespace {

std::vector<std::string> shipped_configs() {
  std::vector<std::string> out;
  auto dir = cc::test::source_path("conf");
  if (DIR* d = opendir(dir.c_str())) {
    while (auto* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".ini") == 0)
        out.push_back(dir + "/" + name);
    }
    closedir(d);
  }
  return out;
}

std::string diagnostics_of(const load_result& r) {
  std::string out;
  for (const auto& d : r.diagnostics)
    out += d.str() + "\n";
  return out;
}

server_config load_ok(const std::string& relative) {
  auto r = load(cc::test::source_path(relative));
  INFO(diagnostics_of(r));
  REQUIRE(r.ok());
  return *r.config;
}

} // namespace

TEST_CASE("every conf/*.ini validates without errors or warnings",
          "[config][conf]") {
  auto files = shipped_configs();
  REQUIRE(files.size() >= 3);
  for (const auto& f : files) {
    INFO(f);
    auto r = load(f);
    INFO(diagnostics_of(r));
    CHECK(r.ok());
    CHECK(r.diagnostics.empty());
    if (r.ok())
      CHECK_FALSE(describe(*r.config).empty());
  }
}

TEST_CASE("conf/central.ini: the tailwriter and the infowriter on 127.0.0.1:22632",
          "[config][conf]") {
  auto cfg = load_ok("conf/central.ini");
  CHECK(cfg.job_name == "central");
  CHECK(cfg.main.str("cc-socket") == "tcp://127.0.0.1:22632");
  CHECK(cfg.main.str("cc-role") == "remote");
  CHECK(cfg.main.str("pidfile") == "/tmp/ccdemo/run/central.pid");
  CHECK(cfg.main.str("logfile") == "/tmp/ccdemo/run/central.log");
  REQUIRE(cfg.routes.size() == 2);
  CHECK(cfg.routes[0].prefix == "pub.logtail");
  CHECK(cfg.routes[1].prefix == "pub.infofile");
  const auto& iw = cfg.handlers.at("h:infowriter");
  CHECK(iw.kind == "infowriter");
  CHECK(iw.str("dstdir") == "/tmp/ccdemo/central/infofiles");
  CHECK(iw.str("dstmask") == "%(hostname)s/%(filename)s");
  CHECK(iw.str("bakext") == "--prev");
  const auto& tw = cfg.handlers.at("h:tailwriter");
  CHECK(tw.kind == "tailwriter");
  CHECK(tw.str("dstdir") == "/tmp/ccdemo/central/logfiles");
  CHECK(tw.boolean("host-subdirs"));
  CHECK(tw.str("dstmask") == "%(hostname)s/%(filename)s");
  CHECK(cfg.daemons.empty());
}

TEST_CASE("conf/local-classic.ini: tails pg_log, forwards to central",
          "[config][conf]") {
  auto cfg = load_ok("conf/local-classic.ini");
  CHECK(cfg.main.str("cc-socket") == "tcp://127.0.0.1:22633");
  CHECK(cfg.main.str("cc-role") == "local");
  CHECK(cfg.handlers.at("h:forward").str("remote-cc") == "tcp://127.0.0.1:22632");
  const auto& d = cfg.daemons.at("d:logtail");
  CHECK(d.str("operation-mode") == "");
  CHECK(d.str("logdir") == "/tmp/ccdemo/pg_log");
  CHECK(d.str("logmask") == "postgresql-*.log");
  CHECK(d.size("lag-max-bytes") == 256ull << 20);
  CHECK(d.str("job_name") == "local-classic.d:logtail");
  CHECK(d.str("pidfile") == "/tmp/ccdemo/run/local-classic.d:logtail.pid");
  CHECK(d.str("save-file") == "/tmp/ccdemo/run/local-classic.d:logtail.save");
  const auto& info = cfg.daemons.at("d:infosender");
  CHECK(info.kind == "infosender");
  CHECK(info.str("infodir") == "/tmp/ccdemo/info");
  CHECK(info.str("infomask") == "info.*");
  CHECK(info.str("ack") == "auto");
  CHECK(info.str("save-file") == "/tmp/ccdemo/run/local-classic.d:infosender.save");
}

TEST_CASE("conf/local-rotated.ini: follows one rotated file", "[config][conf]") {
  auto cfg = load_ok("conf/local-rotated.ini");
  CHECK(cfg.main.str("cc-socket") == "tcp://127.0.0.1:22634");
  CHECK(cfg.handlers.at("h:forward").str("remote-cc") == "tcp://127.0.0.1:22632");
  const auto& d = cfg.daemons.at("d:logtail");
  CHECK(d.str("operation-mode") == "rotated");
  CHECK(d.str("logdir") == "/tmp/ccdemo/ppingd");
  CHECK(d.str("logname") == "pping-stats.log");
  CHECK(d.str("save-file") == "/tmp/ccdemo/run/local-rotated.d:logtail.save");
}
