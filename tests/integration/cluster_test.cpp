// CAF middleman clusters end to end (issue 9, SPEC §9 "CAF clusters"): real
// build/ccserver processes on 127.0.0.1. A source node tails growing logs
// and forwards them over caf:// or tcp://, optionally through a relay node,
// to a central node whose tailwriter writes the copies. Every copy must be
// byte-identical and every byte acknowledged back to the source's tailer
// (the acks travel the same links in reverse). Also: the central SIGKILLed
// and restarted mid-stream over caf://; TLS with certificates made here by
// the `openssl` command (a node whose certificate comes from another CA is
// refused and nothing of its data is written); --check of the new keys.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/types.hpp"
#include "tests/support/process.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

using namespace std::chrono_literals;
using cc::test::count_of;
using cc::test::metric;
using cc::test::process;
using cc::test::read_file;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;
namespace fs = std::filesystem;

namespace {

std::string tail(const std::string& text) {
  return text.size() > 2500 ? text.substr(text.size() - 2500) : text;
}

/// The files of a test CA and node certificates (made with `openssl`).
struct tls_files {
  std::string certificate, key, cafile;
};

/// One ccserver node: its config, log and metrics in the test's directory.
struct node {
  std::string name;
  std::string ini, log, metrics;
  int tcp_port = cc::test::free_port();
  int caf_port = cc::test::free_port();
  std::unique_ptr<process> proc;

  node(const temp_dir& dir, std::string n)
    : name(std::move(n)),
      ini(dir / (name + ".ini")),
      log(dir / (name + ".log")),
      metrics(dir / (name + ".prom")) {
  }

  ~node() {
    if (proc)
      proc->stop();
  }

  std::string tcp() const { return "tcp://127.0.0.1:" + std::to_string(tcp_port); }
  std::string caf() const { return "caf://127.0.0.1:" + std::to_string(caf_port); }

  /// [ccserver] with cc-socket and caf-listen both (both feed the router).
  std::string main_section(const temp_dir& dir, const tls_files* tls) const {
    std::string s = "[ccserver]\n"
                    "cc-socket = " + tcp() + "\n"
                    "caf-listen = 127.0.0.1:" + std::to_string(caf_port) + "\n"
                    "pidfile = " + dir / "%(job_name)s.pid" + "\n"
                    "logfile = " + log + "\n"
                    "stats-period = 0.5\n"
                    "metrics-file = " + metrics + "\n"
                    "zmq_linger = 200\n";
    if (tls)
      s += "caf-certificate = " + tls->certificate + "\n"
           "caf-key = " + tls->key + "\n"
           "caf-cafile = " + tls->cafile + "\n";
    return s;
  }

  void start() { proc = cc::test::start_ccserver(ini, log); }

  /// Whether the node said "main: up:" `times` times; when not, the
  /// failure shows whether it still runs and the end of its log and output.
  bool up(size_t times = 1) {
    if (cc::test::server_up(log, times))
      return true;
    UNSCOPED_INFO(name << " not up: " << (proc && proc->running() ? "still running" : "exited")
                       << "\n--- " << name << " log\n" << tail(read_file(log))
                       << "--- " << name << " stdout/stderr\n" << tail(read_file(log + ".out")));
    return false;
  }
};

void write_central(const temp_dir& dir, const node& n, const std::string& dstdir,
                   const tls_files* tls = nullptr) {
  write_file(n.ini, n.main_section(dir, tls) +
                      "cc-role = remote\n"
                      "\n[routes]\npub.logtail = h:tailwriter\n"
                      "\n[h:tailwriter]\nhandler = cc.handler.tailwriter\n"
                      "dstdir = " + dstdir + "\n"
                      "host-subdirs = yes\n"
                      "maint-period = 0.5\n"
                      "worker-threads = 2\n");
}

/// A relay: every pub.* message goes on to `next`; replies come back.
void write_relay(const temp_dir& dir, const node& n, const std::string& next) {
  write_file(n.ini, n.main_section(dir, nullptr) +
                      "\n[routes]\npub = h:forward\n"
                      "\n[h:forward]\nhandler = cc.handler.proxy\n"
                      "remote-cc = " + next + "\n");
}

void write_source(const temp_dir& dir, const node& n, const std::string& next,
                  const std::string& logdir, const tls_files* tls = nullptr) {
  write_file(n.ini, n.main_section(dir, tls) +
                      "cc-role = local\n"
                      "\n[routes]\nlog = h:locallog\njob = h:jobmgr\n"
                      "pub = h:forward\n"
                      "\n[h:locallog]\nhandler = cc.handler.locallogger\n"
                      "\n[h:forward]\nhandler = cc.handler.proxy\n"
                      "remote-cc = " + next + "\n"
                      "\n[h:jobmgr]\nhandler = cc.handler.jobmgr\n"
                      "daemons = d:classic\n"
                      "\n[d:classic]\nmodule = cc.daemon.logtail\n"
                      "logdir = " + logdir + "\n"
                      "logmask = postgresql-*.log\n"
                      "hostname = srchost\n"
                      "ack-timeout = 2\n"
                      "idle-flush = 0.3\n"
                      "buffer-bytes = 64K\n");
}

/// Appends deterministic lines to postgresql-000N.log in `logdir`, file by
/// file; remembers what each holds.
struct log_writer {
  std::string logdir;
  std::map<std::string, std::string> files;
  long long total = 0;

  explicit log_writer(std::string dir) : logdir(std::move(dir)) {
  }

  void write(size_t n_files, size_t bytes_per_file,
             const std::function<void(size_t file, size_t bytes)>& progress = {}) {
    int line = 0;
    for (size_t f = 0; f < n_files; ++f) {
      char name[64];
      std::snprintf(name, sizeof(name), "postgresql-%04zu.log", files.size() + 1);
      auto& content = files[name];
      while (content.size() < bytes_per_file) {
        std::string chunk;
        for (int i = 0; i < 30; ++i, ++line)
          chunk += "2026-11-26 14:05:" + std::to_string(10 + line % 50) +
                   ".123 UTC [" + std::to_string(line) + "] LOG:  statement: " +
                   std::string(static_cast<size_t>(line * 7919 % 150), 'a' + line % 26) +
                   "\n";
        cc::test::append_file(logdir + "/" + name, chunk);
        content += chunk;
        total += static_cast<long long>(chunk.size());
        if (progress)
          progress(f, content.size());
        std::this_thread::sleep_for(2ms);
      }
    }
  }
};

/// Every written file identical under dstdir/srchost; `why` says what is not.
bool all_identical(const std::string& dstdir, const log_writer& w, std::string& why) {
  for (auto& [name, content] : w.files) {
    std::error_code ec;
    auto path = dstdir + "/srchost/" + name;
    if (!fs::exists(path, ec)) {
      why = name + ": no copy";
      return false;
    }
    auto copy = read_file(path);
    if (copy != content) {
      why = name + ": " + std::to_string(copy.size()) + " of " +
            std::to_string(content.size()) + " bytes";
      return false;
    }
  }
  return true;
}

const std::string acked = "ccserver_tail_acked_bytes_total{section=\"d:classic\"}";

/// A chain source -> [relay ->] central over the given links; every byte
/// arrives once and is acknowledged back at the source.
void run_chain(const std::string& first_link, const std::string& second_link) {
  temp_dir dir{"cccluster"};
  auto dstdir = dir / "central";
  auto logdir = dir / "pg_log";
  fs::create_directories(logdir);
  node central{dir, "central"}, relay{dir, "relay"}, source{dir, "source"};
  bool relayed = !second_link.empty();
  auto link_to = [](const node& n, const std::string& scheme) {
    return scheme == "caf" ? n.caf() : n.tcp();
  };
  write_central(dir, central, dstdir);
  if (relayed) {
    write_relay(dir, relay, link_to(central, second_link));
    write_source(dir, source, link_to(relay, first_link), logdir);
  } else {
    write_source(dir, source, link_to(central, first_link), logdir);
  }
  central.start();
  REQUIRE(central.up());
  if (relayed) {
    relay.start();
    REQUIRE(relay.up());
  }
  source.start();
  REQUIRE(source.up());
  log_writer w{logdir};
  w.write(3, 120 * 1024);
  std::string why;
  bool same = wait_until([&] { return all_identical(dstdir, w, why); }, 60s);
  INFO(why << "\n--- central\n" << tail(read_file(central.log)) << "--- relay\n"
           << tail(read_file(relay.log)) << "--- source\n"
           << tail(read_file(source.log)));
  CHECK(same);
  // The acknowledgements came back along the route: every byte exactly once.
  CHECK(wait_until([&] { return metric(source.metrics, acked) == w.total; }, 20s));
  CHECK(metric(source.metrics, acked) == w.total);
  // Nothing else in the copy tree.
  size_t copies = 0;
  for (auto& e : fs::directory_iterator(dstdir + "/srchost")) {
    (void) e;
    ++copies;
  }
  CHECK(copies == w.files.size());
  if (first_link == "caf" || second_link == "caf")
    CHECK(count_of(read_file(relayed && second_link == "caf" ? relay.log : source.log),
                   "connected to caf://") >= 1);
  CHECK(source.proc->stop() == 0);
  if (relayed)
    CHECK(relay.proc->stop() == 0);
  CHECK(central.proc->stop() == 0);
}

/// The `openssl` command found on PATH (process runs argv[0] with execv).
std::string openssl() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  for (;;) {
    auto end = dirs.find(':', start);
    auto candidate = dirs.substr(start, end - start) + "/openssl";
    std::error_code ec;
    if (fs::exists(candidate, ec))
      return candidate;
    if (end == std::string::npos)
      return "/usr/bin/openssl";
    start = end + 1;
  }
}

/// A test CA and a certificate for `cn` signed by it, in `dir`.
bool make_ca(const std::string& dir, const std::string& ca, std::string& out) {
  return cc::test::run({openssl(), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", dir + "/" + ca + ".key", "-out",
                        dir + "/" + ca + ".pem", "-days", "2", "-subj",
                        "/CN=cc test " + ca},
                       out) == 0;
}

bool make_cert(const std::string& dir, const std::string& ca, const std::string& cn,
               tls_files& files, std::string& out) {
  auto base = dir + "/" + cn;
  if (cc::test::run({openssl(), "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                     base + ".key", "-out", base + ".csr", "-subj", "/CN=" + cn},
                    out) != 0)
    return false;
  if (cc::test::run({openssl(), "x509", "-req", "-in", base + ".csr", "-CA",
                     dir + "/" + ca + ".pem", "-CAkey", dir + "/" + ca + ".key",
                     "-CAcreateserial", "-out", base + ".pem", "-days", "2"},
                    out) != 0)
    return false;
  files.certificate = base + ".pem";
  files.key = base + ".key";
  return true;
}

} // namespace

TEST_CASE("cluster: a source ships growing logs over caf:// to the central",
          "[integration][cluster]") {
  run_chain("caf", "");
}

TEST_CASE("cluster: through a relay, tcp:// then caf://", "[integration][cluster]") {
  run_chain("tcp", "caf");
}

TEST_CASE("cluster: through a relay, caf:// then tcp://", "[integration][cluster]") {
  run_chain("caf", "tcp");
}

TEST_CASE("cluster: the central SIGKILLed mid-stream over caf:// and restarted",
          "[integration][cluster]") {
  temp_dir dir{"cccluster"};
  auto dstdir = dir / "central";
  auto logdir = dir / "pg_log";
  fs::create_directories(logdir);
  node central{dir, "central"}, source{dir, "source"};
  write_central(dir, central, dstdir);
  write_source(dir, source, central.caf(), logdir);
  central.start();
  REQUIRE(central.up());
  source.start();
  REQUIRE(source.up());
  log_writer w{logdir};
  bool killed = false;
  w.write(3, 160 * 1024, [&](size_t file, size_t bytes) {
    // Mid-stream (second file half written): kill without warning and start
    // a new central on the same ports at once (address reuse).
    if (killed || file != 1 || bytes < 80 * 1024)
      return;
    killed = true;
    central.proc->signal(SIGKILL);
    CHECK(central.proc->wait(5s) == 128 + SIGKILL);
    central.start();
  });
  REQUIRE(killed);
  CHECK(central.up(2));
  std::string why;
  bool same = wait_until([&] { return all_identical(dstdir, w, why); }, 60s);
  INFO(why << "\n--- central\n" << tail(read_file(central.log)) << "--- source\n"
           << tail(read_file(source.log)));
  CHECK(same);
  CHECK(wait_until([&] { return metric(source.metrics, acked) == w.total; }, 20s));
  // The source saw the link go down and come back.
  auto slog = read_file(source.log);
  CHECK(count_of(slog, "disconnected from caf://") >= 1);
  CHECK(count_of(slog, "reconnected to caf://") >= 1);
  CHECK(metric(source.metrics, "ccserver_forward_caf_links_lost_total{section=\"h:forward\"}") >= 1);
  CHECK(source.proc->stop() == 0);
  CHECK(central.proc->stop() == 0);
}

TEST_CASE("cluster: the central reloads (SIGHUP) mid-stream, caf:// peers stay",
          "[integration][cluster]") {
  temp_dir dir{"cccluster"};
  auto dstdir = dir / "central";
  auto logdir = dir / "pg_log";
  fs::create_directories(logdir);
  node central{dir, "central"}, source{dir, "source"};
  write_central(dir, central, dstdir);
  write_source(dir, source, central.caf(), logdir);
  central.start();
  REQUIRE(central.up());
  source.start();
  REQUIRE(source.up());
  log_writer w{logdir};
  int reloads = 0;
  w.write(2, 160 * 1024, [&](size_t file, size_t bytes) {
    // The router and handlers are rebuilt while the CAF gateway holds what
    // arrives; the published actor and the peer's link stay.
    if (reloads < 2 && bytes >= (file + 1) * 60 * 1024 && file == size_t(reloads)) {
      central.proc->signal(SIGHUP);
      ++reloads;
    }
  });
  CHECK(reloads == 2);
  CHECK(wait_until([&] { return count_of(read_file(central.log), "main: reloaded") == 2; },
                   20s));
  std::string why;
  bool same = wait_until([&] { return all_identical(dstdir, w, why); }, 60s);
  INFO(why << "\n--- central\n" << tail(read_file(central.log)) << "--- source\n"
           << tail(read_file(source.log)));
  CHECK(same);
  CHECK(wait_until([&] { return metric(source.metrics, acked) == w.total; }, 20s));
  // One link all along: the reload did not cut it.
  CHECK(count_of(read_file(source.log), "disconnected from caf://") == 0);
  CHECK(count_of(read_file(central.log), "caf-listen: new peer") == 1);
  CHECK(source.proc->stop() == 0);
  CHECK(central.proc->stop() == 0);
}

TEST_CASE("cluster: TLS links, a node with another CA's certificate is refused",
          "[integration][cluster][tls]") {
  temp_dir dir{"cccluster"};
  auto certs = dir / "certs";
  fs::create_directories(certs);
  std::string out;
  tls_files central_tls, good_tls, rogue_tls;
  auto made = make_ca(certs, "ca", out) && make_ca(certs, "other-ca", out) &&
              make_cert(certs, "ca", "central", central_tls, out) &&
              make_cert(certs, "ca", "good", good_tls, out) &&
              make_cert(certs, "other-ca", "rogue", rogue_tls, out);
  INFO("openssl: " << out);
  REQUIRE(made);
  central_tls.cafile = good_tls.cafile = certs + "/ca.pem";
  // The rogue trusts our CA (it could reach the central) but holds a
  // certificate of another: the central must refuse it.
  rogue_tls.cafile = certs + "/ca.pem";

  auto dstdir = dir / "central";
  auto rogue_logs = dir / "rogue_log", good_logs = dir / "good_log";
  fs::create_directories(rogue_logs);
  fs::create_directories(good_logs);
  node central{dir, "central"}, rogue{dir, "rogue"}, good{dir, "good"};
  write_central(dir, central, dstdir, &central_tls);
  write_source(dir, rogue, central.caf(), rogue_logs, &rogue_tls);
  write_source(dir, good, central.caf(), good_logs, &good_tls);
  central.start();
  REQUIRE(central.up());
  CHECK(count_of(read_file(central.log), "(TLS, peers need a certificate") == 1);

  rogue.start();
  REQUIRE(rogue.up());
  log_writer rw{rogue_logs};
  rw.write(1, 32 * 1024);
  const std::string failures = "ccserver_forward_caf_connect_failures_total{section=\"h:forward\"}";
  // Refused and counted, again and again (it keeps retrying).
  CHECK(wait_until([&] { return metric(rogue.metrics, failures) >= 3; }, 20s));
  CHECK(count_of(read_file(rogue.log), "cannot connect to caf://") >= 1);
  CHECK(metric(rogue.metrics, acked) == 0);
  CHECK(rogue.proc->stop() == 0);
  // Nothing of the rogue's data was written.
  std::error_code ec;
  CHECK_FALSE(fs::exists(dstdir + "/srchost", ec));
  CHECK(count_of(read_file(central.log), "new peer") == 0);

  // A node with a certificate of the central's CA gets through.
  good.start();
  REQUIRE(good.up());
  log_writer gw{good_logs};
  gw.write(2, 64 * 1024);
  std::string why;
  bool same = wait_until([&] { return all_identical(dstdir, gw, why); }, 60s);
  INFO(why << "\n--- central\n" << tail(read_file(central.log)) << "--- good\n"
           << tail(read_file(good.log)));
  CHECK(same);
  CHECK(wait_until([&] { return metric(good.metrics, acked) == gw.total; }, 20s));
  CHECK(count_of(read_file(good.log), "(TLS)") >= 1);
  CHECK(good.proc->stop() == 0);
  CHECK(central.proc->stop() == 0);
}

TEST_CASE("cluster: a raw CAF peer gets its echo back along the route and "
          "cannot steer the central's gateway",
          "[integration][cluster]") {
  temp_dir dir{"cccluster"};
  node central{dir, "central"};
  write_central(dir, central, dir / "central");
  central.start();
  REQUIRE(central.up());

  caf::actor_system_config cfg;
  cc::register_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  auto gw = sys.middleman().remote_actor("127.0.0.1",
                                         static_cast<uint16_t>(central.caf_port));
  REQUIRE(gw);
  caf::scoped_actor self{sys};

  // Control messages are for this node's own actors only.
  caf::error refused;
  self->request(*gw, 10s, cc::router_atom::value, caf::actor{})
    .receive([](cc::ok_atom) {}, [&](caf::error& err) { refused = err; });
  CHECK(refused);

  // An echo.request with our own route frame: the central's router answers
  // it along the route, through its CAF gateway, to us.
  cc::wire::echo_body body;
  body.hdr.req = "echo.request";
  body.hdr.time = cc::wire::now_seconds();
  body.hdr.hostname = "rawpeer";
  body.target = "caf-test";
  cc::wire::cc_message ping;
  ping.route.push_back("my-frame");
  ping.type = "echo.request";
  ping.body = cc::wire::make_body(body);
  bool accepted = false;
  self->request(*gw, 10s, cc::dispatch_atom::value, ping)
    .receive([&](cc::ok_atom) { accepted = true; }, [](caf::error&) {});
  CHECK(accepted);
  std::optional<cc::wire::cc_message> pong;
  self->receive([&](cc::reply_atom, cc::wire::cc_message& m) { pong = std::move(m); },
                caf::after(std::chrono::seconds(10)) >> [] {});
  REQUIRE(pong);
  CHECK(pong->type == "echo.response");
  REQUIRE(pong->route.size() == 1);
  CHECK(pong->route[0] == "my-frame");
  auto echo = cc::wire::parse_echo(pong->body);
  REQUIRE(echo);
  CHECK(echo->orig_target == "caf-test");
  CHECK(wait_until([&] { return metric(central.metrics, "ccserver_caf_listen_refused_total") == 1; },
                   10s));
  CHECK(central.proc->stop() == 0);
}

TEST_CASE("cluster: --check validates caf-listen and the TLS files",
          "[integration][cluster][check]") {
  temp_dir dir{"cccluster"};
  auto check = [&](const std::string& extra, std::string& out) {
    auto ini = dir / "check.ini";
    write_file(ini, "[ccserver]\ncc-socket = tcp://127.0.0.1:5999\n" + extra +
                      "\n[routes]\nlog = h:log\n\n[h:log]\nhandler = locallogger\n");
    out.clear();
    return cc::test::run({cc::test::ccserver_path(), "--check", ini}, out);
  };
  std::string out;
  write_file(dir / "cert.pem", "not checked by --check beyond being readable\n");
  CHECK(check("caf-listen = 127.0.0.1:6000\n", out) == 0);
  CHECK(check("caf-listen = 127.0.0.1\n", out) == 2);
  CHECK(count_of(out, "ccserver:caf-listen: '127.0.0.1' is not an address") == 1);
  CHECK(check("caf-listen = 127.0.0.1:70000\n", out) == 2);
  CHECK(check("caf-certificate = " + dir / "missing.pem" + "\ncaf-key = " +
                dir / "cert.pem" + "\ncaf-cafile = " + dir / "cert.pem" + "\n",
              out) == 2);
  CHECK(count_of(out, "caf-certificate: '" + dir / "missing.pem" +
                        "' cannot be read: No such file or directory") == 1);
  CHECK(check("caf-certificate = " + dir / "cert.pem" + "\n", out) == 2);
  CHECK(count_of(out, "caf-key: required with the other CAF TLS keys") == 1);
  CHECK(count_of(out, "caf-cafile: required with the other CAF TLS keys") == 1);
  // A file that is readable but no certificate passes --check; the server
  // refuses it at start-up, naming the key (exit 2, nothing started).
  CHECK(check("caf-listen = 127.0.0.1:" + std::to_string(cc::test::free_port()) +
                "\ncaf-certificate = " + dir / "cert.pem" + "\ncaf-key = " +
                dir / "cert.pem" + "\ncaf-cafile = " + dir / "cert.pem" + "\n",
              out) == 0);
  auto ini = dir / "check.ini";
  std::string start_out;
  CHECK(cc::test::run({cc::test::ccserver_path(), ini}, start_out, 30s) == 2);
  CHECK(count_of(start_out, "caf-certificate " + dir / "cert.pem") == 1);
}
