// Integration tests of the runtime: real build/ccserver processes on
// 127.0.0.1 (free ports, temporary directories, every process ended by PID),
// a raw ZeroMQ DEALER from the test for the wire side.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "tests/support/process.hpp"
#include "tests/support/zmq_peer.hpp"
#include "wire/bodies.hpp"
#include "wire/digest.hpp"
#include "wire/message.hpp"

using namespace std::chrono_literals;
using cc::test::endpoint;
using cc::test::count_of;
using cc::test::metric;
using cc::test::file_contains;
using cc::test::process;
using cc::test::read_file;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;

namespace {

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

/// One server's files in `dir`, named after its job.
struct server_files {
  std::string ini, log, pid, metrics;
  server_files(const temp_dir& dir, const std::string& job)
    : ini(dir / (job + ".ini")),
      log(dir / (job + ".log")),
      pid(dir / (job + ".pid")),
      metrics(dir / (job + ".prom")) {
  }
};

std::string main_section(const server_files& f, int port,
                         const std::string& role) {
  return "[ccserver]\n"
         "cc-socket = " + endpoint(port) + "\n"
         "cc-role = " + role + "\n"
         "pidfile = " + f.pid + "\n"
         "logfile = " + f.log + "\n"
         "stats-period = 0.2\n"
         "metrics-file = " + f.metrics + "\n"
         "zmq_linger = 200\n";
}

/// A central server: log.* to its own log.
void write_central(const server_files& f, int port,
                   const std::string& extra_routes = "") {
  write_file(f.ini, main_section(f, port, "remote") +
                      "\n[routes]\nlog = h:locallog\n" + extra_routes +
                      "\n[h:locallog]\nhandler = cc.handler.locallogger\n");
}

/// A local server: log.* and echo.* forwarded to the central at
/// `remote_port`.
void write_local(const server_files& f, int port, int remote_port,
                 const std::string& proxy_extra = "") {
  write_file(f.ini, main_section(f, port, "local") +
                      "\n[routes]\nlog = h:forward\necho = h:forward\n"
                      "\n[h:forward]\nhandler = cc.handler.proxy\n"
                      "remote-cc = " + endpoint(remote_port) + "\n" +
                      proxy_extra);
}

/// Starts build/ccserver on `f` (its output next to the log) and waits until
/// it says it is up.
std::unique_ptr<process> start_server(const server_files& f,
                                      std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{cc::test::ccserver_path()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(f.ini);
  auto p = std::make_unique<process>(argv, f.log + ".out");
  return p;
}

bool wait_up(const server_files& f, size_t times = 1) {
  return cc::test::server_up(f.log, times);
}

std::string log_info_body(const std::string& text) {
  cc::wire::log_body b;
  b.hdr.req = "log.info";
  b.hdr.time = cc::wire::now_seconds();
  b.hdr.hostname = "testhost";
  b.log_level = "INFO";
  b.service_type = "runtime_test";
  b.job_name = "itest";
  b.log_msg = text;
  b.log_time = b.hdr.time;
  b.log_pid = 42;
  b.log_line = 1;
  b.log_function = "test";
  return cc::wire::make_body(b);
}

/// A raw ZeroMQ DEALER, as any CC client or the original's proxy would be.
struct raw_dealer : cc::test::zmq_peer {
  explicit raw_dealer(const std::string& ep) : zmq_peer(ZMQ_DEALER, 2000) {
    set_option(ZMQ_SNDTIMEO, 5000);
    connect(ep);
  }
  bool send_log(const std::string& text) {
    return send({"", "log.info", log_info_body(text), ""});
  }
};

int run_ccserver(std::vector<std::string> args, std::string& output) {
  args.insert(args.begin(), cc::test::ccserver_path());
  return cc::test::run(args, output, 90s);
}

} // namespace

TEST_CASE("ccserver --check exits 0 on a good config and 2 naming file:section:key",
          "[integration][check]") {
  temp_dir dir{"cccheck"};
  auto check = [&](const std::string& name, const std::string& text,
                   std::string& out) {
    auto path = dir / name;
    write_file(path, text);
    return run_ccserver({"--check", path}, out);
  };
  const std::string head = "[ccserver]\ncc-socket = tcp://127.0.0.1:22632\n";
  const std::string tail = "[routes]\nlog = h:l\n[h:l]\nhandler = locallogger\n";
  std::string out;

  SECTION("good config: 0 and the resolved routes") {
    CHECK(check("good.ini", head + "cc-role = remote\n" + tail, out) == 0);
    CHECK(out.find("log -> h:l") != std::string::npos);
  }
  SECTION("a typo'd key: 0 with a warning naming it") {
    CHECK(check("typo.ini", head + "cc-role = remote\nzmq_hwmm = 5\n" + tail,
                out) == 0);
    CHECK(out.find("warning: " + dir / "typo.ini" + ":ccserver:zmq_hwmm") !=
          std::string::npos);
  }
  SECTION("a bad size: 2") {
    CHECK(check("size.ini", head + "zmq_rcvbuf = 12 XB\n" + tail, out) == 2);
    CHECK(out.find(dir / "size.ini" + ":ccserver:zmq_rcvbuf") !=
          std::string::npos);
  }
  SECTION("a route to a missing section: 2") {
    CHECK(check("route.ini", head + "[routes]\nlog = h:nothere\n", out) == 2);
    CHECK(out.find(dir / "route.ini" + ":routes:log") != std::string::npos);
  }
  SECTION("no [ccserver] section: 2") {
    CHECK(check("nomain.ini", tail, out) == 2);
    CHECK(out.find(dir / "nomain.ini" + ":ccserver") != std::string::npos);
  }
  SECTION("a handler in the wrong role: 2") {
    CHECK(check("role.ini",
                head + "cc-role = local\n[routes]\npub = h:w\n[h:w]\n"
                       "handler = cc.handler.tailwriter\ndstdir = /tmp/x\n",
                out) == 2);
    CHECK(out.find(dir / "role.ini" + ":h:w:handler") != std::string::npos);
  }
  SECTION("usage errors: 2") {
    CHECK(run_ccserver({}, out) == 2);
    CHECK(run_ccserver({"-x", dir / "a.ini"}, out) == 2);
    CHECK(out.find("unknown option -x") != std::string::npos);
    CHECK(run_ccserver({"--check", dir / "does-not-exist.ini"}, out) == 2);
  }
}

TEST_CASE("a log.info sent to the local server reaches the central's log",
          "[integration][forward]") {
  temp_dir dir{"ccfwd"};
  int central_port = cc::test::free_port();
  int local_port = cc::test::free_port();
  server_files central{dir, "central"}, local{dir, "local"};
  write_central(central, central_port);
  write_local(local, local_port, central_port);
  auto c = start_server(central);
  auto l = start_server(local);
  REQUIRE(wait_up(central));
  REQUIRE(wait_up(local));

  std::string out;
  CHECK(run_ccserver({"--send", endpoint(local_port), "log.info",
                      log_info_body("hello through the forwarder")},
                     out) == 0);
  CHECK(wait_until(
    [&] { return file_contains(central.log, "hello through the forwarder"); },
    15s));
  // The locallogger's format: [job_name@hostname] HH:MM:SS,mmm LEVEL text
  CHECK(file_contains(central.log, "[itest@testhost]"));

  SECTION("an unrouted type is dropped and logged with its type") {
    CHECK(run_ccserver({"--send", endpoint(central_port), "nobody.listens",
                        "{}"},
                       out) == 0);
    CHECK(wait_until(
      [&] {
        return file_contains(central.log,
                             "no route for message type 'nobody.listens'");
      },
      15s));
    CHECK(wait_until(
      [&] { return metric(central.metrics, "ccserver_router_unrouted_messages_total") == 1; },
      15s));
  }
  SECTION("a reply finds its way back through both servers") {
    // local gateway -> forwarder -> central (its router answers) -> the
    // forwarder -> local router -> local gateway -> this client.
    CHECK(run_ccserver({"--send", endpoint(local_port), "echo.request",
                        R"({"target":"central"})"},
                       out) == 0);
    CHECK(out.find("reply: echo.response") != std::string::npos);
    CHECK(out.find(R"("orig_target":"central")") != std::string::npos);
    CHECK(wait_until(
      [&] { return metric(local.metrics, "ccserver_forward_reply_messages_total{section=\"h:forward\"}") == 1; },
      15s));
  }
  CHECK(l->stop() == 0);
  CHECK(c->stop() == 0);
}

TEST_CASE("10,000 malformed frame sets stop neither server and are counted",
          "[integration][invalid]") {
  temp_dir dir{"ccinvalid"};
  int central_port = cc::test::free_port();
  int local_port = cc::test::free_port();
  server_files central{dir, "central"}, local{dir, "local"};
  write_central(central, central_port);
  write_local(local, local_port, central_port);
  auto c = start_server(central);
  auto l = start_server(local);
  REQUIRE(wait_up(central));
  REQUIRE(wait_up(local));

  // Four shapes wire::parse refuses: no delimiter, too few frames after it,
  // too many, an invalid type.
  const std::vector<std::vector<std::string>> shapes{
    {"no", "delimiter", "here"},
    {"", "log.info"},
    {"", "log.info", "{}", "", "blob", "extra"},
    {"", "bad type!", "{}", ""},
  };
  constexpr int per_server = 10000;
  {
    raw_dealer to_central{endpoint(central_port)};
    raw_dealer to_local{endpoint(local_port)};
    for (int i = 0; i < per_server; ++i) {
      REQUIRE(to_central.send(shapes[i % shapes.size()]));
      REQUIRE(to_local.send(shapes[(i + 1) % shapes.size()]));
    }
    // A valid message after the flood still goes all the way.
    REQUIRE(to_local.send_log("still alive after the flood"));
  }
  CHECK(wait_until(
    [&] {
      return metric(central.metrics, "ccserver_gateway_invalid_messages_total") ==
               per_server &&
             metric(local.metrics, "ccserver_gateway_invalid_messages_total") ==
               per_server;
    },
    30s));
  CHECK(metric(central.metrics, "ccserver_gateway_invalid_messages_total") == per_server);
  CHECK(metric(local.metrics, "ccserver_gateway_invalid_messages_total") == per_server);
  CHECK(wait_until(
    [&] { return file_contains(central.log, "still alive after the flood"); },
    15s));
  // Logged, but rate-limited: far fewer lines than messages.
  auto lines = count_of(read_file(central.log), "invalid message dropped");
  CHECK(lines >= 1);
  CHECK(lines < 100);
  CHECK(c->running());
  CHECK(l->running());
  CHECK(l->stop() == 0);
  CHECK(c->stop() == 0);
}

TEST_CASE("a forwarder's ping gets its pong", "[integration][ping]") {
  temp_dir dir{"ccping"};
  int central_port = cc::test::free_port();
  int local_port = cc::test::free_port();
  server_files central{dir, "central"}, local{dir, "local"};
  write_central(central, central_port);
  write_local(local, local_port, central_port, "ping = 0.2\nping-timeout = 2\n");
  auto c = start_server(central);
  auto l = start_server(local, {"-v"});
  REQUIRE(wait_up(central));
  REQUIRE(wait_up(local));
  CHECK(wait_until(
    [&] { return metric(local.metrics, "ccserver_forward_pongs_total{section=\"h:forward\"}") >= 3; },
    15s));
  CHECK(file_contains(local.log, "pong from " + endpoint(central_port)));
  // The pongs were the forwarder's own business: the local router never saw
  // a reply for them.
  CHECK(metric(local.metrics, "ccserver_router_reply_messages_total") == 0);

  // No pong while the central is away: a warning, then an info line.
  c->signal(SIGKILL);
  c->wait(5s);
  CHECK(wait_until([&] { return file_contains(local.log, "no pong from"); },
                   15s));
  c = start_server(central);
  CHECK(wait_up(central, 2));
  CHECK(wait_until([&] { return file_contains(local.log, "resumed"); }, 15s));
  CHECK(c->stop() == 0);
  CHECK(l->stop() == 0);
}

TEST_CASE("the central killed mid-stream and restarted at once: the local "
          "reconnects by itself",
          "[integration][restart]") {
  temp_dir dir{"ccrestart"};
  int central_port = cc::test::free_port();
  int local_port = cc::test::free_port();
  server_files central{dir, "central"}, local{dir, "local"};
  write_central(central, central_port);
  write_local(local, local_port, central_port);
  auto c = start_server(central);
  auto l = start_server(local);
  REQUIRE(wait_up(central));
  REQUIRE(wait_up(local));
  pid_t local_pid = l->pid();

  // The link must be up and carrying messages before the kill, or there is
  // nothing to reconnect.
  REQUIRE(wait_until(
    [&] { return file_contains(local.log, "connected to " + endpoint(central_port)); },
    15s));
  raw_dealer sender{endpoint(local_port)};
  REQUIRE(sender.send_log("before-0."));
  REQUIRE(wait_until([&] { return file_contains(central.log, "before-0."); },
                     15s));
  for (int i = 1; i < 200; ++i) {
    REQUIRE(sender.send_log("before-" + std::to_string(i) + "."));
    if (i == 100) {
      // Mid-stream: SIGKILL, then a new central on the same port at once
      // (the listener's SO_REUSEADDR) taking over the stale pidfile.
      c->signal(SIGKILL);
      CHECK(c->wait(5s) == 128 + SIGKILL);
      CHECK(exists(central.pid));
      c = start_server(central);
    }
  }
  REQUIRE(wait_up(central, 2));
  CHECK(c->running());
  for (int i = 0; i < 50; ++i)
    REQUIRE(sender.send_log("after-" + std::to_string(i) + "."));
  CHECK(wait_until(
    [&] {
      auto text = read_file(central.log);
      for (int i = 0; i < 50; ++i)
        if (text.find("after-" + std::to_string(i) + ".") == std::string::npos)
          return false;
      return true;
    },
    20s));
  // The link events are logged by the forwarder actor, shortly after the
  // socket thread saw them: wait for the line rather than race it.
  CHECK(wait_until(
    [&] {
      return file_contains(local.log,
                           "reconnected to " + endpoint(central_port));
    },
    15s));
  CHECK(l->running());
  CHECK(l->pid() == local_pid);
  CHECK(l->stop() == 0);
  CHECK(c->stop() == 0);
}

TEST_CASE("pidfile: SIGTERM exits 0 and removes it, a second instance is "
          "refused, a stale one is taken over",
          "[integration][pidfile]") {
  temp_dir dir{"ccpid"};
  int port = cc::test::free_port();
  server_files central{dir, "central"};
  write_central(central, port);

  {
    // A stale pidfile: its pid is not running any more.
    process gone{{"/bin/true"}};
    REQUIRE(gone.wait(5s) == 0);
    write_file(central.pid, std::to_string(gone.pid()) + "\n");
  }
  auto first = start_server(central);
  REQUIRE(wait_up(central));
  CHECK(read_file(central.pid) == std::to_string(first->pid()) + "\n");

  // Another port, the same pidfile: refused, naming the pid.
  server_files second{dir, "central"};
  second.ini = dir / "second.ini";
  write_file(second.ini, read_file(central.ini).replace(
                           read_file(central.ini).find(std::to_string(port)),
                           std::to_string(port).size(),
                           std::to_string(cc::test::free_port())));
  std::string out;
  CHECK(run_ccserver({second.ini}, out) == 1);
  CHECK(out.find("already running as pid " + std::to_string(first->pid())) !=
        std::string::npos);
  CHECK(out.find("io: ") == std::string::npos); // no internal error-code prefix
  CHECK(first->running());

  CHECK(first->stop() == 0);
  CHECK_FALSE(exists(central.pid));
}

TEST_CASE("binding a busy endpoint fails with exit 1 naming it",
          "[integration][bind]") {
  temp_dir dir{"ccbind"};
  int port = cc::test::free_port();
  server_files a{dir, "a"}, b{dir, "b"};
  write_central(a, port);
  write_central(b, port);
  auto first = start_server(a);
  REQUIRE(wait_up(a));
  std::string out;
  CHECK(run_ccserver({b.ini}, out) == 1);
  CHECK(file_contains(b.log, endpoint(port) + ": cannot bind"));
  CHECK(out.find(endpoint(port) + ": cannot bind: Address already in use") !=
        std::string::npos);
  CHECK_FALSE(exists(b.pid));
  CHECK(first->stop() == 0);
}

TEST_CASE("ccserver -r reloads, -s stops, -k kills the running instance",
          "[integration][control]") {
  temp_dir dir{"ccctl"};
  int port = cc::test::free_port();
  server_files central{dir, "central"};
  write_central(central, port);
  auto p = start_server(central);
  REQUIRE(wait_up(central));
  std::string out;

  // Before the reload nothing takes job.*; after it, the locallogger does.
  CHECK(run_ccserver({"--send", endpoint(port), "job.first", "{}"}, out) == 0);
  CHECK(wait_until(
    [&] { return file_contains(central.log, "no route for message type 'job.first'"); },
    15s));
  write_central(central, port, "job = h:locallog\n");
  CHECK(run_ccserver({"-r", central.ini}, out) == 0);
  CHECK(wait_until([&] { return file_contains(central.log, "main: reloaded"); },
                   15s));
  CHECK(run_ccserver({"--send", endpoint(port), "job.second", "{}"}, out) == 0);
  CHECK(wait_until(
    [&] { return file_contains(central.log, "non-log msg: job.second"); }, 15s));

  // An invalid config on reload: logged, the running one stays.
  {
    auto bad = read_file(central.ini);
    bad.insert(bad.find("[routes]"), "zmq_rcvbuf = 12 XB\n");
    write_file(central.ini, bad);
  }
  // -r refuses to pass on a config it finds broken; the server, signalled
  // anyway, logs every problem and keeps running as before.
  CHECK(run_ccserver({"-r", central.ini}, out) == 2);
  CHECK(out.find("central.ini:ccserver:zmq_rcvbuf") != std::string::npos);
  p->signal(SIGHUP);
  CHECK(wait_until(
    [&] { return file_contains(central.log, "keeping the running one"); }, 15s));
  CHECK(file_contains(central.log, "central.ini:ccserver:zmq_rcvbuf"));
  CHECK(p->running());
  write_central(central, port, "job = h:locallog\n");

  CHECK(run_ccserver({"-s", central.ini}, out) == 0);
  CHECK(p->wait(15s) == 0);
  CHECK_FALSE(exists(central.pid));
  CHECK(run_ccserver({"-s", central.ini}, out) == 1);
  CHECK(out.find("not running") != std::string::npos);

  auto again = start_server(central);
  REQUIRE(wait_up(central, 2));
  CHECK(run_ccserver({"-k", central.ini}, out) == 0);
  CHECK(again->wait(15s) == 128 + SIGKILL);
  CHECK_FALSE(exists(central.pid));
}

TEST_CASE("messages arriving during a reload are not lost",
          "[integration][reload]") {
  temp_dir dir{"ccreload"};
  int port = cc::test::free_port();
  server_files central{dir, "central"};
  write_central(central, port);
  auto p = start_server(central);
  REQUIRE(wait_up(central));
  constexpr int total = 400;
  std::atomic<int> sent{0};
  std::thread sender{[&] {
    raw_dealer d{endpoint(port)};
    for (int i = 0; i < total; ++i) {
      if (!d.send_log("during-reload-" + std::to_string(i) + "."))
        return;
      ++sent;
      std::this_thread::sleep_for(1ms);
    }
  }};
  REQUIRE(wait_until([&] { return sent >= 50; }, 15s));
  std::string out;
  CHECK(run_ccserver({"-r", central.ini}, out) == 0);
  sender.join();
  CHECK(sent == total);
  CHECK(wait_until([&] { return file_contains(central.log, "main: reloaded"); },
                   15s));
  CHECK(wait_until(
    [&] {
      return file_contains(central.log,
                           "during-reload-" + std::to_string(total - 1) + ".");
    },
    15s));
  auto text = read_file(central.log);
  int missing = 0;
  for (int i = 0; i < total; ++i)
    if (text.find("during-reload-" + std::to_string(i) + ".") ==
        std::string::npos)
      ++missing;
  CHECK(missing == 0);
  CHECK(p->stop() == 0);
}

TEST_CASE("ccserver -d runs in the background until -s", "[integration][daemon]") {
  temp_dir dir{"ccdaemon"};
  int port = cc::test::free_port();
  server_files central{dir, "central"};
  write_central(central, port);
  std::string out;
  CHECK(run_ccserver({"-d", central.ini}, out) == 0);
  auto pid = std::atoll(read_file(central.pid).c_str());
  REQUIRE(pid > 0);
  CHECK(::kill(static_cast<pid_t>(pid), 0) == 0);
  CHECK(run_ccserver({"--send", endpoint(port), "echo.request",
                      R"({"target":"daemon"})"},
                     out) == 0);
  CHECK(out.find("reply: echo.response") != std::string::npos);
  CHECK(run_ccserver({"-s", central.ini}, out) == 0);
  CHECK_FALSE(exists(central.pid));
  if (::kill(static_cast<pid_t>(pid), 0) == 0)
    ::kill(static_cast<pid_t>(pid), SIGKILL); // never leave it behind

  // A background start that cannot bind reports exit 1 to the terminal.
  auto blocker = start_server(central);
  REQUIRE(wait_up(central, 2));
  server_files other{dir, "other"};
  write_central(other, port);
  CHECK(run_ccserver({"-d", other.ini}, out) == 1);
  CHECK(file_contains(other.log, "cannot bind"));
  CHECK(blocker->stop() == 0);
}

TEST_CASE("ccserver --send without a server times out with exit 1",
          "[integration][send]") {
  std::string out;
  int port = cc::test::free_port();
  CHECK(run_ccserver({"--send", endpoint(port), "log.info", "{}", "--timeout",
                      "0.3"},
                     out) == 1);
  CHECK(out.find("could not send") != std::string::npos);
  CHECK(run_ccserver({"--send", endpoint(port), "bad type", "{}"}, out) == 2);
}

TEST_CASE("a central's tailwriter answers a question about what it holds (logtail.state)",
          "[integration][runtime][question]") {
  temp_dir dir{"cc-it-question"};
  int port = cc::test::free_port();
  server_files central{dir, "central"};
  write_file(central.ini, main_section(central, port, "remote")
                            + "\n[routes]\npub.logtail = h:tw\n"
                              "\n[h:tw]\nhandler = cc.handler.tailwriter\n"
                              "dstdir = " + (dir / "copies") + "\n");
  auto c = start_server(central);
  REQUIRE(wait_up(central));
  std::string payload;
  for (int i = 0; i < 400; ++i)
    payload += "2026-12-04 line " + std::to_string(i) + "\n";
  write_file(dir / "fragment", payload);
  cc::wire::logtail_body b;
  b.hdr.req = "pub.logtail";
  b.hdr.hostname = "srchost";
  b.filename = "/var/log/app.log";
  b.st_dev = 1;
  b.st_ino = 2;
  b.ack = true;
  b.gen = "00000000000000a1";
  b.raw_size = payload.size();
  std::string out;
  REQUIRE(run_ccserver({"--send", endpoint(port), "pub.logtail", cc::wire::make_body(b),
                        "--blob", dir / "fragment"},
                       out) == 0);
  CHECK_THAT(out, Catch::Contains("logtail.ack"));
  auto copy = dir / "copies/srchost--app.log";
  REQUIRE(wait_until([&] { return exists(copy) && read_file(copy) == payload; }, 10s));
  b.raw_size = 0;
  b.query = "state";
  b.digests = true;
  out.clear();
  REQUIRE(run_ccserver({"--send", endpoint(port), "pub.logtail", cc::wire::make_body(b),
                        "--expect-reply"},
                       out) == 0);
  CHECK_THAT(out, Catch::Contains("logtail.state"));
  CHECK_THAT(out, Catch::Contains("\"status\":\"ok\""));
  CHECK_THAT(out, Catch::Contains("\"src_end\":" + std::to_string(payload.size())));
  CHECK_THAT(out, Catch::Contains(cc::wire::digest_hex(cc::wire::xxh3(payload))));
  CHECK_THAT(out, Catch::Contains("\"copy\":\"srchost--app.log\""));
  // A source it does not hold: none, and nothing is created.
  b.st_ino = 3;
  b.filename = "/var/log/other.log";
  out.clear();
  REQUIRE(run_ccserver({"--send", endpoint(port), "pub.logtail", cc::wire::make_body(b),
                        "--expect-reply"},
                       out) == 0);
  CHECK_THAT(out, Catch::Contains("\"status\":\"none\""));
  CHECK(!exists(dir / "copies/srchost--other.log"));
  CHECK(wait_until([&] { return metric(central.metrics, "ccserver_tailwriter_queries_total{section=\"h:tw\"}") == 2; },
                   10s));
}
