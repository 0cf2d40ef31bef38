// config::validate: each error path (with its file:section:key text), all
// problems in one pass, computed defaults, and the daemon derivations.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "base/error.hpp"
#include "config/config.hpp"

using namespace cc::config;

namespace {

const std::string path = "/etc/cc/local.ini";

load_result check(const std::string& text) {
  auto doc = ini::parse(text, path);
  if (!doc)
    FAIL("parse failed: " << cc::describe(doc.error()));
  return validate(*doc);
}

std::string all_of(const load_result& r) {
  std::string out;
  for (const auto& d : r.diagnostics)
    out += (d.severity == diagnostic::error ? "E " : "W ") + d.str() + "\n";
  return out;
}

// Whether a diagnostic of `sev` starts with `head` (file:section:key: ...).
bool has(const load_result& r, diagnostic::severity_t sev, const std::string& head) {
  return std::any_of(r.diagnostics.begin(), r.diagnostics.end(),
                     [&](const diagnostic& d) {
                       return d.severity == sev && d.str().rfind(head, 0) == 0;
                     });
}

size_t count(const load_result& r, diagnostic::severity_t sev) {
  return static_cast<size_t>(
    std::count_if(r.diagnostics.begin(), r.diagnostics.end(),
                  [&](const diagnostic& d) { return d.severity == sev; }));
}

const std::string server = "[ccserver]\n"
                           "pidfile = /run/cc/%(job_name)s.pid\n"
                           "cc-socket = tcp://127.0.0.1:22632\n"
                           "cc-role = local\n";

const std::string local_tail = server
                               + "[routes]\n"
                                 "log = h:locallog\n"
                                 "job = h:jobmgr\n"
                                 "pub = h:forward\n"
                                 "[h:locallog]\n"
                                 "handler = cc.handler.locallogger\n"
                                 "[h:forward]\n"
                                 "handler = cc.handler.proxy\n"
                                 "remote-cc = tcp://127.0.0.1:22633\n"
                                 "[h:jobmgr]\n"
                                 "handler = cc.handler.jobmgr\n"
                                 "daemons = d:logtail\n"
                                 "[d:logtail]\n"
                                 "module = cc.daemon.logtail\n"
                                 "logdir = /pg_log\n"
                                 "logmask = postgresql-*.log\n";

} // namespace

TEST_CASE("a valid local configuration resolves completely", "[config][validate]") {
  auto r = check(local_tail);
  INFO(all_of(r));
  REQUIRE(r.ok());
  CHECK(r.diagnostics.empty());
  const auto& cfg = *r.config;
  CHECK(cfg.file == path);
  CHECK(cfg.job_name == "local");
  CHECK(cfg.main.kind == "ccserver");
  CHECK(cfg.main.str("cc-socket") == "tcp://127.0.0.1:22632");
  CHECK(cfg.main.integer("zmq_hwm") == 100);
  CHECK(cfg.main.boolean("zmq_tcp_keepalive"));
  CHECK(cfg.main.size("max-message-size") == 128u << 20);
  CHECK(cfg.main.is_default("zmq_hwm"));
  CHECK_FALSE(cfg.main.is_default("cc-socket"));
  CHECK(cfg.main.str("pidfile") == "/run/cc/local.pid");

  REQUIRE(cfg.routes.size() == 3);
  CHECK(cfg.routes[0].prefix == "log");
  CHECK(cfg.routes[1].prefix == "job");
  CHECK(cfg.routes[2].prefix == "pub");
  CHECK(cfg.routes[2].handlers == std::vector<std::string>{"h:forward"});

  REQUIRE(cfg.handlers.size() == 3);
  CHECK(cfg.handlers.at("h:forward").kind == "proxy");
  CHECK(cfg.handlers.at("h:forward").seconds("ping") == 0);
  CHECK(cfg.handlers.at("h:forward").size("queue-bytes") == 16u << 20);
  CHECK(cfg.handlers.at("h:locallog").kind == "locallogger");
  CHECK(cfg.handlers.at("h:jobmgr").list("daemons")
        == std::vector<std::string>{"d:logtail"});

  REQUIRE(cfg.daemons.size() == 1);
  const auto& d = cfg.daemons.at("d:logtail");
  CHECK(d.kind == "logtail");
  CHECK(d.str("operation-mode") == ""); // kept as written: sent as op_mode
  CHECK(d.str("compression") == "");    // unset: comp "" on the wire
  CHECK(d.size("buffer-bytes") == 1u << 20);
  CHECK(d.integer("buffer-lines") == 0);
  CHECK(d.boolean("use-blob"));
  CHECK(d.str("ack") == "auto"); // the default: acks when the route does
  CHECK(d.size("ack-window") == 32u << 20);
  CHECK(d.seconds("poll-interval") == Approx(0.5));
  CHECK(d.str("hostname") == cfg.host_name);
  // The kind's defaults are read from the schema, not stored per section
  // (a server with a tailer per file has thousands of these).
  CHECK(d.values.count("ack-window") == 0);
  CHECK(d.values.count("poll-interval") == 0);
  CHECK(d.has("ack-window"));
  CHECK(d.is_default("ack-window"));
  CHECK(d.values.count("hostname") == 1); // computed: stored
  CHECK_FALSE(d.has("no-such-key"));
}

TEST_CASE("daemons get job_name, service_name, pidfile and save-file",
          "[config][validate]") {
  SECTION("derived from the server's pidfile template") {
    auto r = check(local_tail);
    REQUIRE(r.ok());
    const auto& d = r.config->daemons.at("d:logtail");
    CHECK(d.str("job_name") == "local.d:logtail");
    CHECK(d.str("service_name") == "d:logtail");
    CHECK(d.str("pidfile") == "/run/cc/local.d:logtail.pid");
    CHECK(d.str("save-file") == "/run/cc/local.d:logtail.save");
    CHECK(d.defaulted.count("pidfile") == 1);
    CHECK(d.defaulted.count("save-file") == 1);
  }
  SECTION("a job_name set in [ccserver] is the base") {
    auto text = local_tail;
    text.insert(text.find("cc-socket"), "job_name = node7\n");
    auto r = check(text);
    REQUIRE(r.ok());
    CHECK(r.config->job_name == "node7");
    CHECK(r.config->main.str("pidfile") == "/run/cc/node7.pid");
    CHECK(r.config->daemons.at("d:logtail").str("save-file")
          == "/run/cc/node7.d:logtail.save");
  }
  SECTION("the daemon's own pidfile and save-file win") {
    auto r = check(local_tail + "pidfile = /var/x/%(service_name)s.pid\n");
    REQUIRE(r.ok());
    const auto& d = r.config->daemons.at("d:logtail");
    CHECK(d.str("pidfile") == "/var/x/d:logtail.pid");
    CHECK(d.str("save-file") == "/var/x/d:logtail.save");
    auto r2 = check(local_tail + "save-file = ~/pos/%(job_name)s\n");
    REQUIRE(r2.ok());
    const auto& d2 = r2.config->daemons.at("d:logtail");
    CHECK(d2.str("save-file") == "~/pos/local.d:logtail");
    CHECK(d2.file("save-file").find('~') == std::string::npos);
    CHECK(d2.defaulted.count("save-file") == 0);
  }
  SECTION("the extension is cut as Python's splitext does") {
    auto text = local_tail;
    text.replace(text.find("/run/cc/%(job_name)s.pid"),
                 std::string("/run/cc/%(job_name)s.pid").size(),
                 "/run/cc.d/%(job_name)s");
    auto r = check(text);
    REQUIRE(r.ok());
    // "local.d:logtail" has the extension ".d:logtail", as in the original
    CHECK(r.config->daemons.at("d:logtail").str("save-file")
          == "/run/cc.d/local.save");
    // ... so two daemons would share one position file: an error
    text.replace(text.find("daemons = d:logtail"),
                 std::string("daemons = d:logtail").size(),
                 "daemons = d:logtail, d:other");
    auto r2 = check(text + "[d:other]\nmodule = logtail\nlogdir = /o\n"
                           "logmask = *.log\n");
    CHECK_FALSE(r2.ok());
    CHECK(has(r2, diagnostic::error,
              "/etc/cc/local.ini:d:other:save-file: '/run/cc.d/local.save' is "
              "the save-file of [d:logtail] too"));
  }
  SECTION("a pidfile with no dot at all gets .save appended") {
    auto text = local_tail;
    text.replace(text.find("/run/cc/%(job_name)s.pid"),
                 std::string("/run/cc/%(job_name)s.pid").size(), "/run/pid");
    auto r = check(text);
    REQUIRE(r.ok());
    CHECK(r.config->daemons.at("d:logtail").str("save-file") == "/run/pid.save");
  }
  SECTION("no pidfile anywhere and no save-file is an error") {
    auto text = local_tail;
    text.erase(text.find("pidfile"), text.find('\n', text.find("pidfile")) + 1);
    auto r = check(text);
    CHECK_FALSE(r.ok());
    CHECK(has(r, diagnostic::error,
              "/etc/cc/local.ini:d:logtail:save-file: no save-file here and "
              "no pidfile in [ccserver]"));
    CHECK(all_of(r).find("set save-file in [d:logtail] or pidfile in [ccserver]")
          != std::string::npos);
  }
  SECTION("watchdog settings come from the jobmgr unless the daemon sets them") {
    auto text = local_tail;
    text.insert(text.find("daemons = "), "watchdog-formula-b = 7\n"
                                         "watchdog-reset = 60\n");
    auto r = check(text + "watchdog-reset = 5\n");
    REQUIRE(r.ok());
    const auto& d = r.config->daemons.at("d:logtail");
    CHECK(d.seconds("watchdog-formula-b") == 7);
    CHECK(d.seconds("watchdog-formula-a") == 0);
    CHECK(d.seconds("watchdog-reset") == 5);
    CHECK(r.config->handlers.at("h:jobmgr").seconds("watchdog-reset") == 60);
  }
}

TEST_CASE("a typo'd key is a warning with a suggestion", "[config][validate]") {
  auto r = check(local_tail + "lag-max-byte = 1M\n");
  INFO(all_of(r));
  CHECK(r.ok());
  CHECK(has(r, diagnostic::warning,
            "/etc/cc/local.ini:d:logtail:lag-max-byte: unknown key for "
            "logtail, ignored; did you mean 'lag-max-bytes'?"));
  // no suggestion when nothing is close
  auto r2 = check(local_tail + "completely-unrelated = 1\n");
  CHECK(r2.ok());
  REQUIRE(r2.diagnostics.size() == 1);
  CHECK(r2.diagnostics[0].str()
        == "/etc/cc/local.ini:d:logtail:completely-unrelated: unknown key for "
           "logtail, ignored");
}

TEST_CASE("a bad size names the key and what was expected", "[config][validate]") {
  auto r = check(local_tail + "lag-max-bytes = 256 XB\n");
  CHECK_FALSE(r.ok());
  CHECK(has(r, diagnostic::error,
            "/etc/cc/local.ini:d:logtail:lag-max-bytes: '256 XB' is not a size; "
            "expected a whole number with an optional unit K, M, G or T"));
}

TEST_CASE("routes to a missing section or one without handler =",
          "[config][validate]") {
  auto r = check(local_tail + "[h:plain]\nfoo = 1\n[routes]\n");
  REQUIRE(r.ok()); // an empty repeated [routes] adds nothing
  auto text = local_tail;
  text.insert(text.find("[h:locallog]"), "echo = h:echo, h:missing\n"
                                         "x = h:plain\n");
  auto r2 = check(text + "[h:plain]\nfoo = 1\n");
  INFO(all_of(r2));
  CHECK_FALSE(r2.ok());
  CHECK(has(r2, diagnostic::error,
            "/etc/cc/local.ini:routes:echo: routes to [h:echo], which does not exist"));
  CHECK(has(r2, diagnostic::error,
            "/etc/cc/local.ini:routes:echo: routes to [h:missing], which does not exist"));
  CHECK(has(r2, diagnostic::error,
            "/etc/cc/local.ini:routes:x: routes to [h:plain], which has no "
            "'handler =' line"));
}

TEST_CASE("route keys must be message-type prefixes or *", "[config][validate]") {
  auto text = local_tail;
  text.insert(text.find("[h:locallog]"), "* = h:locallog\nbad..key = h:locallog\n"
                                         "empty =\n");
  auto r = check(text);
  INFO(all_of(r));
  CHECK(has(r, diagnostic::error, "/etc/cc/local.ini:routes:bad..key: not a "
                                  "message-type prefix"));
  CHECK(has(r, diagnostic::error, "/etc/cc/local.ini:routes:empty: names no "
                                  "handler section"));
  CHECK_FALSE(has(r, diagnostic::error, "/etc/cc/local.ini:routes:*:"));
  REQUIRE(count(r, diagnostic::error) == 2);
}

TEST_CASE("a handler outside its roles is an error naming section and role",
          "[config][validate]") {
  auto r = check(server + "[routes]\npub.logtail = h:tailwriter\n"
                          "[h:tailwriter]\nhandler = tailwriter\ndstdir = /d\n");
  CHECK_FALSE(r.ok());
  CHECK(has(r, diagnostic::error,
            "/etc/cc/local.ini:h:tailwriter:handler: tailwriter cannot run in "
            "cc-role local; it runs in: remote"));
  // the same in remote role is fine, and insecure allows everything
  auto remote = server;
  remote.replace(remote.find("cc-role = local"), 15, "cc-role = remote");
  auto r2 = check(remote + "[routes]\npub.logtail = h:tailwriter\n"
                           "[h:tailwriter]\nhandler = tailwriter\ndstdir = /d\n");
  INFO(all_of(r2));
  CHECK(r2.ok());
  auto jm = check(remote + "[routes]\njob = h:jobmgr\n[h:jobmgr]\nhandler = jobmgr\n"
                           "daemons = d:x\n[d:x]\nmodule = logtail\nlogdir = /l\n"
                           "logmask = *.log\n");
  CHECK(has(jm, diagnostic::error,
            "/etc/cc/local.ini:h:jobmgr:handler: jobmgr cannot run in cc-role "
            "remote; it runs in: local"));
}

TEST_CASE("cc-role unset: warning 'insecure', every handler allowed",
          "[config][validate]") {
  auto r = check("[ccserver]\ncc-socket = tcp://127.0.0.1:1\npidfile = /p/x.pid\n"
                 "[routes]\npub = h:tw\njob = h:jm\n"
                 "[h:tw]\nhandler = tailwriter\ndstdir = /d\n"
                 "[h:jm]\nhandler = jobmgr\ndaemons = d:t\n"
                 "[d:t]\nmodule = logtail\nlogdir = /l\nlogmask = *.log\n");
  INFO(all_of(r));
  REQUIRE(r.ok());
  CHECK(has(r, diagnostic::warning,
            "/etc/cc/local.ini:ccserver:cc-role: not set: running as 'insecure'"));
  CHECK(r.config->main.str("cc-role") == "insecure");
}

TEST_CASE("an unknown handler or daemon type lists the known names",
          "[config][validate]") {
  auto text = local_tail;
  text.replace(text.find("handler = cc.handler.locallogger"),
               std::string("handler = cc.handler.locallogger").size(),
               "handler = cc.handler.disposer");
  auto r = check(text);
  CHECK_FALSE(r.ok());
  CHECK(has(r, diagnostic::error,
            "/etc/cc/local.ini:h:locallog:handler: unknown handler type "
            "'cc.handler.disposer'; known: cc.handler.locallogger (locallogger), "
            "cc.handler.echo (echo), cc.handler.proxy (proxy)"));
  auto text2 = local_tail;
  text2.replace(text2.find("module = cc.daemon.logtail"),
                std::string("module = cc.daemon.logtail").size(),
                "module = cc.daemon.skylog");
  auto r2 = check(text2);
  CHECK(has(r2, diagnostic::error,
            "/etc/cc/local.ini:d:logtail:module: unknown daemon type "
            "'cc.daemon.skylog'; known: cc.daemon.logtail (logtail), "
            "cc.daemon.infosender (infosender)"));
  auto r3 = check(server + "[routes]\nx = h:t\n[h:t]\nhandler = logtail\n");
  CHECK(all_of(r3).find("'logtail' is a daemon: list its section in a "
                        "jobmgr's daemons")
        != std::string::npos);
}

TEST_CASE("plugin = is the old name of handler =", "[config][validate]") {
  auto text = local_tail;
  text.replace(text.find("handler = cc.handler.proxy"),
               std::string("handler = cc.handler.proxy").size(), "plugin = proxy");
  auto r = check(text);
  INFO(all_of(r));
  REQUIRE(r.ok());
  CHECK(r.config->handlers.at("h:forward").kind == "proxy");
  CHECK(r.config->handlers.at("h:forward").str("handler") == "proxy");
  auto r2 = check(local_tail + "[h:forward]\nplugin = echo\n");
  CHECK(has(r2, diagnostic::error,
            "/etc/cc/local.ini:h:forward:plugin: 'echo' differs from handler = "
            "'cc.handler.proxy'"));
}

TEST_CASE("logtail: classic needs logmask, rotated needs a plain logname",
          "[config][validate]") {
  auto no_mask = local_tail;
  no_mask.erase(no_mask.find("logmask"));
  auto r = check(no_mask);
  CHECK_FALSE(r.ok());
  CHECK(has(r, diagnostic::error,
            "/etc/cc/local.ini:d:logtail:logmask: required in operation-mode "
            "classic (the default)"));
  auto r_classic = check(no_mask + "operation-mode = classic\n");
  CHECK(has(r_classic, diagnostic::error, "/etc/cc/local.ini:d:logtail:logmask:"));

  auto r_rot = check(no_mask + "operation-mode = rotated\nlogname = pping-*.log\n");
  CHECK_FALSE(r_rot.ok());
  CHECK(has(r_rot, diagnostic::error,
            "/etc/cc/local.ini:d:logtail:logname: 'pping-*.log' contains a "
            "wildcard (*, ? or [)"));
  for (auto bad : {"a?.log", "a[12].log"})
    CHECK_FALSE(check(no_mask + "operation-mode = rotated\nlogname = " + bad
                      + "\n").ok());
  auto r_rot2 = check(no_mask + "operation-mode = rotated\n");
  CHECK(has(r_rot2, diagnostic::error,
            "/etc/cc/local.ini:d:logtail:logname: required in operation-mode "
            "rotated"));
  auto ok = check(no_mask + "operation-mode = rotated\nlogname = pping-stats.log\n");
  INFO(all_of(ok));
  REQUIRE(ok.ok());
  CHECK(ok.config->daemons.at("d:logtail").str("operation-mode") == "rotated");
  auto bad_mode = check(local_tail + "operation-mode = tailing\n");
  CHECK(has(bad_mode, diagnostic::error,
            "/etc/cc/local.ini:d:logtail:operation-mode: 'tailing' is not one "
            "of the choices; expected one of: classic, rotated"));
}

TEST_CASE("logtail: buffer defaults and the compressed minimum",
          "[config][validate]") {
  auto lines = check(local_tail + "buffer-lines = 100\n");
  REQUIRE(lines.ok());
  CHECK(lines.config->daemons.at("d:logtail").size("buffer-bytes") == 0);
  CHECK(lines.config->daemons.at("d:logtail").integer("buffer-lines") == 100);

  auto small = check(local_tail + "compression = gzip\nbuffer-bytes = 4K\n");
  REQUIRE(small.ok());
  CHECK(small.config->daemons.at("d:logtail").size("buffer-bytes") == 64u << 10);
  CHECK(has(small, diagnostic::warning,
            "/etc/cc/local.ini:d:logtail:buffer-bytes: '4K' is below 64 KB"));

  auto bad_suffix = check(local_tail + "msg-suffix = pg.main!\n");
  CHECK(has(bad_suffix, diagnostic::error,
            "/etc/cc/local.ini:d:logtail:msg-suffix: 'pg.main!' is not a "
            "message-type suffix"));
  auto good_suffix = check(local_tail + "msg-suffix = pg.main_1\n");
  CHECK(good_suffix.ok());
}

TEST_CASE("proxy: ping accepts seconds and the original's boolean",
          "[config][validate]") {
  auto with = [&](const std::string& v) {
    auto text = local_tail;
    text.insert(text.find("[h:jobmgr]"), "ping = " + v + "\n");
    return check(text);
  };
  auto yes = with("yes");
  REQUIRE(yes.ok());
  CHECK(yes.config->handlers.at("h:forward").seconds("ping") == 1);
  CHECK(with("no").config->handlers.at("h:forward").seconds("ping") == 0);
  CHECK(with("2.5").config->handlers.at("h:forward").seconds("ping") == Approx(2.5));
  CHECK(has(with("sometimes"), diagnostic::error,
            "/etc/cc/local.ini:h:forward:ping: 'sometimes' is not a duration"));
  auto caf = local_tail;
  caf.replace(caf.find("tcp://127.0.0.1:22633"), 21, "caf://10.0.0.1:4242");
  CHECK(check(caf).ok());
}

TEST_CASE("tailwriter: dstmask keeps the writer's fields, resolves the rest",
          "[config][validate]") {
  const std::string remote = "[ccserver]\ncc-socket = tcp://127.0.0.1:1\n"
                             "cc-role = remote\nsite = eu\n"
                             "[routes]\npub.logtail = h:tw\n"
                             "[h:tw]\nhandler = tailwriter\ndstdir = /data/logs/\n";
  auto plain = check(remote);
  REQUIRE(plain.ok());
  const auto& tw = plain.config->handlers.at("h:tw");
  CHECK(tw.str("dstmask") == "%(hostname)s--%(filename)s");
  CHECK(tw.str("state-dir") == "/data/logs/.ccstate");
  CHECK(tw.defaulted.count("dstmask") == 1);
  CHECK(tw.str("write-compressed") == "no");
  CHECK(tw.integer("worker-threads") == 2);
  CHECK(tw.seconds("sync-interval") == Approx(0.02));

  auto subdirs = check(remote + "host-subdirs = yes\n");
  CHECK(subdirs.config->handlers.at("h:tw").str("dstmask")
        == "%(hostname)s/%(filename)s");

  auto custom = check(remote + "dstmask = ${ccserver:site}/%(hostname)s/%(filepath)s\n");
  INFO(all_of(custom));
  REQUIRE(custom.ok());
  CHECK(custom.config->handlers.at("h:tw").str("dstmask")
        == "eu/%(hostname)s/%(filepath)s");
  auto original = check(remote + "dstmask = %%(hostname)s/%%(filename)s\n");
  CHECK(original.config->handlers.at("h:tw").str("dstmask")
        == "%(hostname)s/%(filename)s");
  auto one_file = check(remote + "dstmask = %(hostname)s.log\n");
  CHECK(has(one_file, diagnostic::warning, "/etc/cc/local.ini:h:tw:dstmask:"));
  auto missing = check(remote + "dstmask = %(nosuch)s/%(filename)s\n");
  CHECK(has(missing, diagnostic::error,
            "/etc/cc/local.ini:h:tw:dstmask: %(nosuch)s: no key 'nosuch'"));
}

TEST_CASE("a missing cc-socket or [ccserver] is an error", "[config][validate]") {
  auto r = check("[ccserver]\ncc-role = local\n[routes]\n");
  CHECK_FALSE(r.ok());
  CHECK(has(r, diagnostic::error,
            "/etc/cc/local.ini:ccserver:cc-socket: required key is missing; "
            "expected an endpoint like tcp://127.0.0.1:22632"));
  auto r2 = check("[routes]\n[other]\nx = 1\n");
  CHECK_FALSE(r2.ok());
  CHECK(has(r2, diagnostic::error, "/etc/cc/local.ini:ccserver: missing "
                                   "[ccserver] section"));
  auto r3 = check("[ccserver]\ncc-socket = tcp://127.0.0.1:1\ncc-role = remote\n");
  CHECK(r3.ok());
  CHECK(has(r3, diagnostic::warning, "/etc/cc/local.ini:routes: no [routes] section"));
}

TEST_CASE("interpolation errors become diagnostics at their key",
          "[config][validate]") {
  auto r = check(local_tail + "logdir = %(pgdata)s/log\n");
  CHECK(has(r, diagnostic::error,
            "/etc/cc/local.ini:d:logtail:logdir: %(pgdata)s: no key 'pgdata' "
            "in [d:logtail] or the defaults"));
  auto loop = check(server + "a = %(b)s\nb = %(a)s\nlogfile = %(a)s\n");
  CHECK(has(loop, diagnostic::error,
            "/etc/cc/local.ini:ccserver:logfile: interpolation loop: "
            "ccserver:logfile -> ccserver:a -> ccserver:b -> ccserver:a"));
}

TEST_CASE("every problem is reported in one pass, in file order",
          "[config][validate]") {
  auto r = check("[ccserver]\n"
                 "cc-socket = tcp://127.0.0.1:99999\n" // bad port
                 "cc-role = local\n"
                 "stats-period = often\n"              // bad seconds
                 "pidfle = /x.pid\n"                   // typo: warning
                 "[routes]\n"
                 "pub = h:fwd, h:nope\n"               // missing section
                 "job = h:jm\n"
                 "pub.logtail = h:tw\n"
                 "[h:fwd]\n"
                 "handler = proxy\n"
                 "queue-bytes = lots\n"                // bad size
                 "[h:tw]\n"
                 "handler = tailwriter\n"              // wrong role
                 "dstdir = /d\n"
                 "[h:jm]\n"
                 "handler = jobmgr\n"
                 "daemons = d:a, d:b\n"
                 "[d:a]\n"
                 "module = logtail\n"
                 "logdir = /l\n"                       // classic, no logmask
                 "[d:b]\n"
                 "module = logtail\n"
                 "logdir = /l\n"
                 "operation-mode = rotated\n"
                 "logname = *.log\n");                 // wildcard
  INFO(all_of(r));
  CHECK_FALSE(r.ok());
  std::vector<std::string> expected{
    "/etc/cc/local.ini:ccserver:cc-socket: 'tcp://127.0.0.1:99999' is not an endpoint",
    "/etc/cc/local.ini:ccserver:stats-period: 'often' is not a duration",
    "/etc/cc/local.ini:ccserver:pidfle: unknown key",
    "/etc/cc/local.ini:routes:pub: routes to [h:nope], which does not exist",
    "/etc/cc/local.ini:h:fwd:queue-bytes: 'lots' is not a size",
    "/etc/cc/local.ini:h:fwd:remote-cc: required key is missing",
    "/etc/cc/local.ini:h:tw:handler: tailwriter cannot run in cc-role local",
    "/etc/cc/local.ini:d:a:logmask: required in operation-mode classic",
    "/etc/cc/local.ini:d:a:save-file: no save-file here",
    "/etc/cc/local.ini:d:b:logname: '*.log' contains a wildcard",
    "/etc/cc/local.ini:d:b:save-file: no save-file here",
  };
  REQUIRE(r.diagnostics.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(i);
    CHECK(r.diagnostics[i].str().rfind(expected[i], 0) == 0);
  }
  CHECK(count(r, diagnostic::warning) == 1);
}

TEST_CASE("a [DEFAULT] value reaches every section that reads the key",
          "[config][validate]") {
  auto r = check("[DEFAULT]\nzmq_hwm = 42\n" + local_tail);
  REQUIRE(r.ok());
  CHECK(r.config->main.integer("zmq_hwm") == 42);
  CHECK(r.config->handlers.at("h:forward").integer("zmq_hwm") == 42);
  CHECK(r.config->main.is_default("zmq_hwm"));
}

TEST_CASE("an empty optional value means unset", "[config][validate]") {
  auto r = check(local_tail + "compression =\ncompression-level =\n");
  INFO(all_of(r));
  REQUIRE(r.ok());
  CHECK(r.config->daemons.at("d:logtail").str("compression") == "");
  CHECK(r.config->daemons.at("d:logtail").integer("compression-level") == 6);
  auto req = check(local_tail + "logdir =\n");
  CHECK(has(req, diagnostic::error, "/etc/cc/local.ini:d:logtail:logdir: '' is "
                                    "empty; expected a path"));
}

TEST_CASE("load: syntax errors and missing files become diagnostics",
          "[config][validate]") {
  auto r = load("/nonexistent/cc/x.ini");
  CHECK_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].str()
        == "/nonexistent/cc/x.ini: No such file or directory");
}

TEST_CASE("describe lists every option and marks defaults", "[config][validate]") {
  auto r = check(local_tail);
  REQUIRE(r.ok());
  auto text = describe(*r.config);
  CHECK(text.find("config file: /etc/cc/local.ini") != std::string::npos);
  CHECK(text.find("  pub -> h:forward\n") != std::string::npos);
  CHECK(text.find("[d:logtail] daemon logtail, run by h:jobmgr") != std::string::npos);
  CHECK(text.find("[h:forward] handler proxy, roles: local remote") != std::string::npos);
  // every option of every section is listed
  for (const auto& [name, sec] : r.config->handlers)
    for (const auto& opt : schema_by_kind(sec.kind)->options)
      CHECK(text.find("  " + std::string(opt.name) + " ") != std::string::npos);
  // a default is marked, a written value is not
  auto line_of = [&](const std::string& start) {
    auto at = text.find(start);
    REQUIRE(at != std::string::npos);
    return text.substr(at, text.find('\n', at) - at);
  };
  CHECK(line_of("  zmq_hwm").find("(default)") != std::string::npos);
  CHECK(line_of("  cc-socket").find("default") == std::string::npos);
  CHECK(line_of("  lag-max-bytes").find("(= 0 bytes") == std::string::npos);
  CHECK(line_of("  max-message-size").find("(= 134217728 bytes, default)")
        != std::string::npos);
  CHECK(line_of("  infofile ").find("(unset)") != std::string::npos);
  CHECK(line_of("  save-file").find("/run/cc/local.d:logtail.save") != std::string::npos);
}
