// Integration tests of running ccserver as an operator does (issue 19):
// the HTTP endpoint (/metrics, /health, /status), every cause of an
// unhealthy answer made to happen for real, `ccserver --status` over the
// control socket, hostile HTTP clients, systemd's notification protocol
// through a fake NOTIFY_SOCKET (with the unit file's own ExecStart), and the
// json log format. Real build/ccserver processes on 127.0.0.1, each ended by
// its PID; every wait bounded; no timing is asserted.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/support/http.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;
using cc::test::count_of;
using cc::test::endpoint;
using cc::test::http_get;
using cc::test::http_get_unix;
using cc::test::metric;
using cc::test::process;
using cc::test::read_file;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

/// How often the log at `path` says the server is up (text or json lines).
size_t ups(const std::string& path) {
  auto text = read_file(path);
  return count_of(text, "main: up:")
         + count_of(text, "\"component\":\"main\",\"message\":\"up: ");
}

/// A central (tailwriter) and a local (tailer, forwarder) on 127.0.0.1,
/// both with http-listen and a control socket beside their pidfile.
struct site {
  temp_dir dir{"ccops"};
  int central_port = cc::test::free_port();
  int local_port = cc::test::free_port();
  int central_http = cc::test::free_port();
  int local_http = cc::test::free_port();
  std::string logdir = dir / "pg_log";
  std::string dstdir = dir / "copies";
  std::string central_ini = dir / "central.ini";
  std::string local_ini = dir / "local.ini";
  std::string central_log = dir / "central.log";
  std::string local_log = dir / "local.log";
  std::unique_ptr<process> central;
  std::unique_ptr<process> local;

  struct options {
    std::string local_extra;   // more [ccserver] lines of the local
    std::string central_extra; // more [ccserver] lines of the central
    std::string proxy_extra;   // more lines of [h:forward]
    std::string tailer_extra;  // more lines of [d:pg]
    std::string logdir;        // the tailer's logdir ("": pg_log)
  };

  explicit site(const options& o = {}) {
    fs::create_directories(logdir);
    write_file(central_ini, "[ccserver]\n"
                            "cc-socket = "
                                + endpoint(central_port)
                                + "\n"
                                  "cc-role = remote\n"
                                  "pidfile = "
                                + dir / "central.pid"
                                + "\n"
                                  "logfile = "
                                + central_log
                                + "\n"
                                  "cc-stats = 0\n"
                                  "stats-period = 0.5\n"
                                  "metrics-file = "
                                + dir / "central.prom"
                                + "\n"
                                  "http-listen = 127.0.0.1:"
                                + std::to_string(central_http)
                                + "\n"
                                  "zmq_linger = 200\n"
                                + o.central_extra
                                + "\n[routes]\npub.logtail = h:tw\n"
                                  "\n[h:tw]\nhandler = tailwriter\n"
                                  "dstdir = "
                                + dstdir
                                + "\n"
                                  "host-subdirs = yes\n"
                                  "worker-threads = 2\n");
    write_file(local_ini, "[ccserver]\n"
                          "cc-socket = "
                              + endpoint(local_port)
                              + "\n"
                                "cc-role = local\n"
                                "pidfile = "
                              + dir / "%(job_name)s.pid"
                              + "\n"
                                "logfile = "
                              + local_log
                              + "\n"
                                "cc-stats = 0\n"
                                "stats-period = 0.5\n"
                                "metrics-file = "
                              + dir / "local.prom"
                              + "\n"
                                "http-listen = 127.0.0.1:"
                              + std::to_string(local_http)
                              + "\n"
                                "health-link-timeout = 1\n"
                                "zmq_linger = 200\n"
                              + o.local_extra
                              + "\n[routes]\npub = h:forward\n"
                                "\n[h:forward]\nhandler = proxy\n"
                                "remote-cc = "
                              + endpoint(central_port)
                              + "\n"
                                "ping = 0.2\n"
                              + o.proxy_extra
                              + "\n[h:jobmgr]\nhandler = jobmgr\ndaemons = d:pg\n"
                                "\n[d:pg]\nmodule = logtail\n"
                                "logdir = "
                              + (o.logdir.empty() ? logdir : o.logdir)
                              + "\n"
                                "logmask = *.log\n"
                                "hostname = srchost\n"
                                "ack-timeout = 0.5\n"
                                "idle-flush = 0.2\n"
                              + o.tailer_extra);
  }

  ~site() {
    if (local)
      local->stop();
    if (central)
      central->stop();
  }

  static std::unique_ptr<process>
  start(const std::string& ini, const std::string& log,
        const std::vector<std::pair<std::string, std::string>>& env = {}) {
    auto before = ups(log);
    auto p = std::make_unique<process>(
        std::vector<std::string>{cc::test::ccserver_path(), ini}, log + ".out", env);
    bool up = wait_until([&] { return ups(log) > before; }, 20s);
    INFO(read_file(log + ".out"));
    REQUIRE(up);
    return p;
  }
  void start_central() {
    central = start(central_ini, central_log);
  }
  void start_local() {
    local = start(local_ini, local_log);
  }

  std::string source(const std::string& name) const {
    return logdir + "/" + name;
  }

  /// /health of a server: its status code and problems ("part: problem").
  static std::pair<int, std::vector<std::string>> health(int port) {
    auto r = http_get(port, "/health");
    std::vector<std::string> problems;
    auto doc = json::parse(r.body, nullptr, false);
    if (doc.is_object())
      for (const auto& p : doc["problems"])
        problems.push_back(p.value("part", "") + ": " + p.value("problem", ""));
    return {r.status, problems};
  }

  static bool health_is(int port, int code, const std::string& problem = {}) {
    auto [status, problems] = health(port);
    if (status != code)
      return false;
    return problem.empty()
           || std::find(problems.begin(), problems.end(), problem) != problems.end();
  }

  std::string diagnostics() const {
    auto tail = [](const std::string& text) {
      return text.size() > 3000 ? text.substr(text.size() - 3000) : text;
    };
    return "--- local.log\n" + tail(read_file(local_log)) + "--- central.log\n"
           + tail(read_file(central_log));
  }
};

std::string run_ccserver(std::vector<std::string> args, int& status) {
  args.insert(args.begin(), cc::test::ccserver_path());
  std::string out;
  status = cc::test::run(args, out, 30s);
  return out;
}

std::string lines(size_t n, const std::string& tag) {
  std::string out;
  for (size_t i = 0; i < n; ++i)
    out += "2026-11-26 14:05:01.123 UTC [4242] LOG:  " + tag + " statement "
           + std::to_string(i) + ": SELECT * FROM t WHERE id = " + std::to_string(i * 7)
           + "\n";
  return out;
}

} // namespace

TEST_CASE("operations: /metrics, /status and --status follow a file until its lag is 0",
          "[integration][operations]") {
  site s;
  s.start_central();
  s.start_local();
  auto text = lines(3000, "a");
  write_file(s.source("a.log"), text);
  auto size = static_cast<long long>(text.size());
  auto file = s.source("a.log");
  const std::string lag_name =
      "ccserver_tail_lag_bytes{section=\"d:pg\",file=\"" + file + "\"}";
  const std::string acked_name =
      "ccserver_tail_acked_offset_bytes{section=\"d:pg\",file=\"" + file + "\"}";
  bool caught_up = wait_until(
      [&] {
        auto m = http_get(s.local_http, "/metrics").body;
        return cc::test::sample_value(m, lag_name) == 0
               && cc::test::sample_value(m, acked_name) == size;
      },
      30s);
  INFO(s.diagnostics());
  REQUIRE(caught_up);

  auto r = http_get(s.local_http, "/metrics");
  CHECK(r.status == 200);
  CHECK(r.head.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  const auto& m = r.body;
  auto peer = "peer=\"" + endpoint(s.central_port) + "\"";
  CHECK(cc::test::sample_value(m, "ccserver_forward_connected{section=\"h:forward\","
                                      + peer + "}")
        == 1);
  CHECK(cc::test::sample_value(m, "ccserver_tail_file_size_bytes{section=\"d:pg\",file=\""
                                      + file + "\"}")
        == size);
  CHECK(cc::test::sample_value(
            m, "ccserver_tail_read_offset_bytes{section=\"d:pg\",file=\"" + file + "\"}")
        == size);
  CHECK(cc::test::sample_value(
            m, "ccserver_tail_sent_offset_bytes{section=\"d:pg\",file=\"" + file + "\"}")
        == size);
  CHECK(cc::test::sample_value(m, "ccserver_tail_acked_bytes_total{section=\"d:pg\"}")
        == size);
  CHECK(cc::test::sample_value(m, "ccserver_healthy") == 1);
  CHECK(cc::test::sample_value(m, "ccserver_part_up{part=\"d:pg\",kind=\"logtail\"}")
        == 1);
  CHECK(cc::test::sample_value(
            m, "ccserver_jobmgr_daemon_running{section=\"h:jobmgr\",daemon=\"d:pg\"}")
        == 1);
  CHECK(cc::test::sample_value(m, "process_resident_memory_bytes") > 0);
  CHECK(cc::test::sample_value(m, "process_open_fds") > 0);
  CHECK(m.find("ccserver_build_info{version=\"") != std::string::npos);
  // Counters of the forwarder's pings; a last pong age (ping is on).
  CHECK(
      cc::test::sample_value(
          m, "ccserver_forward_last_pong_age_seconds{section=\"h:forward\"," + peer + "}")
      >= 0);

  // The central: the copy, per host and file.
  bool copied = wait_until(
      [&] {
        auto c = http_get(s.central_http, "/metrics").body;
        return cc::test::sample_value(
                   c, "ccserver_tailwriter_copy_written_bytes_total{section=\"h:tw\","
                      "host=\"srchost\",file=\"srchost/a.log\"}")
               == size;
      },
      10s);
  CHECK(copied);
  CHECK(read_file(s.dstdir + "/srchost/a.log") == text);

  // /status: the same facts as JSON.
  auto status = json::parse(http_get(s.local_http, "/status").body);
  REQUIRE(status["tailers"].size() == 1);
  CHECK(status["tailers"][0]["file"] == file);
  CHECK(status["tailers"][0]["lag_bytes"] == 0);
  CHECK(status["tailers"][0]["acked"] == size);
  CHECK(status["tailers"][0]["state"] == "caught up");
  CHECK(status["links"][0]["connected"] == true);
  CHECK(status["health"]["status"] == "ok");
  auto cstatus = json::parse(http_get(s.central_http, "/status").body);
  REQUIRE(cstatus["copies"].size() == 1);
  CHECK(cstatus["copies"][0]["host"] == "srchost");
  CHECK(cstatus["copies"][0]["written_bytes"] == size);

  // The metrics file has the same names.
  CHECK(wait_until(
      [&] {
        return metric(s.dir / "local.prom",
                      "ccserver_tail_acked_bytes_total{section=\"d:pg\"}")
               == size;
      },
      10s));

  // --status: a table from the control socket (no HTTP involved), exit 0.
  CHECK(fs::exists(s.dir / "local.sock"));
  int rc = -1;
  auto table = run_ccserver({"--status", s.local_ini}, rc);
  INFO(table);
  CHECK(rc == 0);
  CHECK(table.rfind("ccserver local: healthy (pid ", 0) == 0);
  CHECK(std::regex_search(table,
                          std::regex{"d:pg +" + file + " .* 0 B +[0-9.]+ s +caught up"}));
  CHECK(table.find(endpoint(s.central_port) + "  yes") != std::string::npos);
  auto ctable = run_ccserver({"--status", s.central_ini}, rc);
  CHECK(rc == 0);
  CHECK(ctable.find("srchost/a.log") != std::string::npos);
  // The control socket speaks the same HTTP.
  CHECK(http_get_unix(s.dir / "local.sock", "/health").status == 200);

  // Paths and methods it does not serve.
  CHECK(http_get(s.local_http, "/nothing").status == 404);
  auto post = cc::test::http_exchange(
      s.local_http, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  CHECK(post.status == 405);
  CHECK(post.head.find("Allow: GET, HEAD") != std::string::npos);
  auto head = cc::test::http_exchange(s.local_http, "HEAD /health HTTP/1.0\r\n\r\n");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
}

TEST_CASE("operations: /health is 503 while the central is away longer than "
          "health-link-timeout, and 200 when it is back",
          "[integration][operations]") {
  site s;
  s.start_central();
  s.start_local();
  REQUIRE(wait_until([&] { return site::health_is(s.local_http, 200); }, 10s));
  s.central->stop();
  bool down = wait_until(
      [&] { return site::health_is(s.local_http, 503, "h:forward: link down"); }, 20s);
  INFO(s.diagnostics());
  REQUIRE(down);
  int rc = -1;
  auto table = run_ccserver({"--status", s.local_ini}, rc);
  CHECK(rc == 1);
  CHECK(table.find("UNHEALTHY") != std::string::npos);
  CHECK(table.find("h:forward: link down: " + endpoint(s.central_port) + " down for ")
        != std::string::npos);
  auto m = http_get(s.local_http, "/metrics").body;
  CHECK(cc::test::sample_value(m, "ccserver_healthy") == 0);
  CHECK(
      cc::test::sample_value(m, "ccserver_forward_connected{section=\"h:forward\",peer=\""
                                    + endpoint(s.central_port) + "\"}")
      == 0);
  CHECK(cc::test::sample_value(
            m, "ccserver_forward_down_seconds{section=\"h:forward\",peer=\""
                   + endpoint(s.central_port) + "\"}")
        > 1);

  s.start_central();
  CHECK(wait_until([&] { return site::health_is(s.local_http, 200); }, 20s));
  CHECK(wait_until(
      [&] {
        run_ccserver({"--status", s.local_ini}, rc);
        return rc == 0;
      },
      10s));
}

TEST_CASE("operations: /health is 503 while a tailer cannot list its directory",
          "[integration][operations]") {
  temp_dir scratch{"ccopsdir"};
  // A directory name that is a symbolic link to itself: opendir fails with
  // ELOOP, as it fails with EACCES for a service user that may not read it.
  auto looped = scratch / "logs";
  fs::create_symlink(looped, looped);
  site::options o;
  o.logdir = looped;
  site s{o};
  s.start_central();
  s.start_local();
  bool failing = wait_until(
      [&] { return site::health_is(s.local_http, 503, "d:pg: cannot read"); }, 15s);
  INFO(s.diagnostics());
  REQUIRE(failing);
  auto m = http_get(s.local_http, "/metrics").body;
  CHECK(cc::test::sample_value(m, "ccserver_tail_failing{section=\"d:pg\"}") == 1);
  auto status = json::parse(http_get(s.local_http, "/status").body);
  CHECK(status["tailers"][0]["state"] == "failing");

  // The directory becomes readable: healthy again, and what is written there
  // is shipped.
  fs::remove(looped);
  fs::create_directories(looped);
  write_file(looped + "/b.log", lines(100, "b"));
  CHECK(wait_until([&] { return site::health_is(s.local_http, 200); }, 15s));
  CHECK(wait_until(
      [&] { return read_file(s.dstdir + "/srchost/b.log") == lines(100, "b"); }, 15s));
}

TEST_CASE("operations: /health is 503 while the writer cannot write a copy",
          "[integration][operations]") {
  site s;
  s.start_central();
  s.start_local();
  // The central may write no file past 64 KiB (RLIMIT_FSIZE, as `ulimit -f`
  // or LimitFSIZE= would set it): appending to the copy beyond that fails
  // with EFBIG, a write error like a full disk.
  rlimit small{64 * 1024, RLIM_INFINITY};
  REQUIRE(::prlimit(s.central->pid(), RLIMIT_FSIZE, &small, nullptr) == 0);
  auto text = lines(2000, "w"); // about 160 KiB
  REQUIRE(text.size() > 2 * 64 * 1024);
  write_file(s.source("w.log"), text);
  bool failing = wait_until(
      [&] { return site::health_is(s.central_http, 503, "h:tw: cannot write"); }, 20s);
  INFO(s.diagnostics());
  REQUIRE(failing);
  auto m = http_get(s.central_http, "/metrics").body;
  CHECK(cc::test::sample_value(m, "ccserver_tailwriter_failing_copies{section=\"h:tw\"}")
        == 1);
  CHECK(cc::test::sample_value(m,
                               "ccserver_tailwriter_write_errors_total{section=\"h:tw\"}")
        >= 1);
  CHECK(cc::test::sample_value(m, "ccserver_tailwriter_copy_write_errors_total{section="
                                  "\"h:tw\",host=\"srchost\",file=\"srchost/w.log\"}")
        >= 1);
  int rc = -1;
  run_ccserver({"--status", s.central_ini}, rc);
  CHECK(rc == 1);
  // The process is still there: a file-size limit is a write error, not
  // the end of the server.
  CHECK(s.central->running());

  // The limit lifted: the tailer's resend goes through, health comes back
  // and the copy is whole.
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  REQUIRE(::prlimit(s.central->pid(), RLIMIT_FSIZE, &unlimited, nullptr) == 0);
  CHECK(wait_until([&] { return site::health_is(s.central_http, 200); }, 30s));
  CHECK(wait_until([&] { return read_file(s.dstdir + "/srchost/w.log") == text; }, 30s));
}

TEST_CASE("operations: /health is 503 while a shutdown is under way",
          "[integration][operations]") {
  site::options o;
  // No central: what the forwarder holds keeps its stop busy for zmq_linger.
  o.proxy_extra = "zmq_linger = 3000\n";
  o.local_extra = "health-link-timeout = 600\n";
  // ack = yes: the tailer asks the (absent) writer at once, rather than wait
  // to learn whether the remote acknowledges (ack = auto).
  o.tailer_extra = "ack = yes\n";
  site s{o};
  s.start_local();
  write_file(s.source("s.log"), lines(500, "s"));
  // The tailer's first message (its question to the writer) waits in the
  // forwarder for a central that is not there.
  REQUIRE(wait_until(
      [&] {
        return metric(s.dir / "local.prom",
                      "ccserver_forward_received_messages_total{section=\"h:forward\"}")
               > 0;
      },
      10s));
  CHECK(site::health_is(s.local_http, 200));
  s.local->signal(SIGTERM);
  bool seen = false;
  for (int i = 0; i < 400 && !seen && s.local->running(); ++i) {
    seen = site::health_is(s.local_http, 503, "server: shutting down");
    if (!seen)
      std::this_thread::sleep_for(10ms);
  }
  INFO(s.diagnostics());
  CHECK(seen);
  CHECK(s.local->wait(30s) == 0);
  // The endpoint went with the process; the socket file too.
  CHECK(http_get(s.local_http, "/health", 2s).status == -1);
  CHECK_FALSE(fs::exists(s.dir / "local.sock"));
}

TEST_CASE("operations: hostile HTTP clients are bounded and the server goes on",
          "[integration][operations]") {
  site s;
  s.start_central();
  s.start_local();
  auto rss = [&] {
    auto m = http_get(s.local_http, "/metrics").body;
    return cc::test::sample_value(m, "process_resident_memory_bytes");
  };
  double rss_before = rss();
  REQUIRE(rss_before > 0);
  // Data flows during the whole test.
  auto text = lines(20000, "h");
  write_file(s.source("h.log"), text);

  SECTION("oversized headers and request lines get an error, not memory") {
    for (int i = 0; i < 20; ++i) {
      auto big = cc::test::http_exchange(s.local_http,
                                         "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: "
                                             + std::string(200000, 'a') + "\r\n\r\n",
                                         10s);
      CHECK(big.status != 200);
      if (big.status != -1)
        CHECK(big.status == 431);
      auto url = cc::test::http_exchange(
          s.local_http,
          "GET /" + std::string(100000, 'u') + " HTTP/1.1\r\nHost: x\r\n\r\n", 10s);
      CHECK(url.status != 200);
    }
    auto garbage = cc::test::http_exchange(
        s.local_http, std::string("\x00\x01\x02\xff\r\n\r\n", 8), 10s);
    CHECK(garbage.status != 200);
    auto method =
        cc::test::http_exchange(s.local_http, "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK((method.status == 405 || method.status == 501));
  }
  SECTION("a client that never finishes its request is cut off") {
    int fd = cc::test::connect_local(s.local_http);
    REQUIRE(fd >= 0);
    std::string partial = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    REQUIRE(::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL)
            == static_cast<ssize_t>(partial.size()));
    // Idle timeout 5 s; bounded at 20 s here.
    CHECK(cc::test::closed_by_peer(fd, 20s));
    ::close(fd);
  }
  SECTION("many connections: beyond the per-address limit they are closed at once") {
    std::vector<int> fds;
    for (int i = 0; i < 40; ++i)
      fds.push_back(cc::test::connect_local(s.local_http));
    size_t closed = 0;
    for (int fd : fds)
      if (fd < 0 || cc::test::closed_by_peer(fd, 300ms))
        ++closed;
    // At most 8 from one address are kept.
    CHECK(closed >= 32);
    for (int fd : fds)
      if (fd >= 0)
        ::close(fd);
    // Served again once they are gone.
    CHECK(
        wait_until([&] { return http_get(s.local_http, "/health").status == 200; }, 10s));
  }
  // The data path never noticed: the file arrived whole, and memory stayed
  // within a few MiB of where it was.
  bool whole =
      wait_until([&] { return read_file(s.dstdir + "/srchost/h.log") == text; }, 30s);
  INFO(s.diagnostics());
  CHECK(whole);
  CHECK(site::health_is(s.local_http, 200));
  CHECK(rss() < rss_before + 32.0 * 1024 * 1024);
}

namespace {

/// A fake systemd: a datagram socket that collects sd_notify messages.
struct fake_notify_socket {
  std::string path;
  int fd = -1;
  std::vector<std::string> received;

  explicit fake_notify_socket(std::string p) : path(std::move(p)) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  ~fake_notify_socket() {
    ::close(fd);
    ::unlink(path.c_str());
  }

  /// Takes datagrams until one contains `needle` (true) or `timeout` passes.
  bool until(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return false;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char buf[4096];
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0)
        continue;
      received.emplace_back(buf, static_cast<size_t>(n));
      if (received.back().find(needle) != std::string::npos)
        return true;
    }
  }

  /// The first line of each datagram, in order ("READY=1", "WATCHDOG=1").
  std::vector<std::string> states() const {
    std::vector<std::string> out;
    for (const auto& d : received)
      out.push_back(d.substr(0, d.find('\n')));
    return out;
  }
};

/// The unit file's ExecStart, with the binary and config paths of this
/// build and test: what systemd would run.
std::vector<std::string> unit_exec_start(const std::string& ini) {
  auto unit = read_file(cc::test::source_path("conf/systemd/ccserver@.service"));
  std::smatch m;
  REQUIRE(std::regex_search(unit, m, std::regex{"\nExecStart=([^\n]*)\n"}));
  std::vector<std::string> argv;
  std::istringstream words{m[1].str()};
  for (std::string w; words >> w;) {
    if (w == "/usr/sbin/ccserver")
      w = cc::test::ccserver_path();
    if (w == "/etc/cc/%i.ini")
      w = ini;
    argv.push_back(w);
  }
  return argv;
}

} // namespace

TEST_CASE("operations: systemd's notify protocol: READY, WATCHDOG, RELOADING, "
          "READY, STOPPING in order, from the unit's own ExecStart",
          "[integration][operations][systemd]") {
  site s;
  fake_notify_socket notify{s.dir / "notify.sock"};
  auto argv = unit_exec_start(s.local_ini);
  REQUIRE(argv.size() == 2);
  CHECK(argv[0] == cc::test::ccserver_path());
  process local{argv,
                s.local_log + ".out",
                {{"NOTIFY_SOCKET", notify.path}, {"WATCHDOG_USEC", "400000"}}};
  REQUIRE(notify.until("READY=1", 20s));
  CHECK(count_of(read_file(s.local_log), "main: up:") == 1);
  CHECK(notify.received.front().find("MAINPID=" + std::to_string(local.pid()))
        != std::string::npos);
  // The watchdog's keep-alive, every half WATCHDOG_USEC while the router answers.
  REQUIRE(notify.until("WATCHDOG=1", 10s));
  REQUIRE(notify.until("WATCHDOG=1", 10s));
  local.signal(SIGHUP);
  REQUIRE(notify.until("RELOADING=1", 10s));
  CHECK(notify.received.back().find("MONOTONIC_USEC=") != std::string::npos);
  REQUIRE(notify.until("READY=1", 20s));
  local.signal(SIGTERM);
  REQUIRE(notify.until("STOPPING=1", 20s));
  CHECK(local.wait(30s) == 0);
  // In order, with keep-alives in between only.
  std::vector<std::string> order;
  for (const auto& st : notify.states())
    if (st != "WATCHDOG=1")
      order.push_back(st);
  CHECK(order
        == std::vector<std::string>{"READY=1", "RELOADING=1", "READY=1", "STOPPING=1"});
  CHECK(count_of(read_file(s.local_log), "main: reloaded") == 1);
}

TEST_CASE("operations: http-listen stays on loopback unless http-allow-remote",
          "[integration][operations]") {
  temp_dir dir{"ccopscheck"};
  auto ini = dir / "x.ini";
  auto conf = [&](const std::string& extra) {
    write_file(ini,
               "[ccserver]\ncc-socket = tcp://127.0.0.1:1\ncc-role = remote\n" + extra);
  };
  int rc = -1;
  conf("http-listen = 0.0.0.0:9100\n");
  auto out = run_ccserver({"--check", ini}, rc);
  CHECK(rc == 2);
  CHECK(out.find("x.ini:ccserver:http-listen: '0.0.0.0' is not a loopback address")
        != std::string::npos);
  conf("http-listen = 0.0.0.0:9100\nhttp-allow-remote = yes\n");
  run_ccserver({"--check", ini}, rc);
  CHECK(rc == 0);
  for (auto ok : {"127.0.0.1:9100", "[::1]:9100", "localhost:9100"}) {
    conf(std::string{"http-listen = "} + ok + "\n");
    run_ccserver({"--check", ini}, rc);
    CHECK(rc == 0);
  }
  conf("http-listen = nonsense\n");
  run_ccserver({"--check", ini}, rc);
  CHECK(rc == 2);
  // --status: nowhere to ask (no pidfile, no http-listen) is a usage error;
  // a server that is not running is a failure.
  conf("");
  run_ccserver({"--status", ini}, rc);
  CHECK(rc == 2);
  conf("pidfile = " + dir / "x.pid\n");
  out = run_ccserver({"--status", ini}, rc);
  CHECK(rc == 1);
  CHECK(out.find("not running?") != std::string::npos);
}

TEST_CASE("operations: log-format = json writes one JSON object per line",
          "[integration][operations]") {
  site::options o;
  o.local_extra = "log-format = json\n";
  site s{o};
  s.start_local();
  s.local->stop();
  auto text = read_file(s.local_log);
  size_t n = 0;
  std::istringstream in{text};
  bool up = false;
  for (std::string line; std::getline(in, line);) {
    auto doc = json::parse(line, nullptr, false);
    INFO(line);
    REQUIRE(doc.is_object());
    CHECK(doc.contains("time"));
    CHECK(doc.contains("level"));
    CHECK(doc.contains("component"));
    CHECK(doc.contains("message"));
    up = up
         || (doc["component"] == "main"
             && doc["message"].get<std::string>().rfind("up: ", 0) == 0);
    ++n;
  }
  CHECK(n >= 5);
  CHECK(up);
}
