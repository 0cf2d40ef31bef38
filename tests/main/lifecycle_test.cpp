// The server's actor tree and main loop (actors/actor_tree.hpp,
// main/lifecycle.hpp) driven from a test as main/serve.cpp drives them: a
// real actor system, real handlers and a real ZeroMQ gateway on loopback,
// built from configuration files in a temporary directory. Asserts the
// order of the start-up and stop steps, what a reload changes and keeps,
// what systemd is told around a reload, and how the loop ends.
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>

#include <zmq.h>

#include "actors/actor_tree.hpp"
#include "config/config.hpp"
#include "main/lifecycle.hpp"
#include "main/options.hpp"
#include "main/serve.hpp"
#include "tests/support/process.hpp"
#include "tests/support/zmq_peer.hpp"
#include "wire/bodies.hpp"

using namespace std::chrono_literals;
using cc::actor_tree;
using outcome = cc::actor_tree::reload_outcome;

namespace {

/// [ccserver] on `port`, an echo handler, and `routes` and `sections` more.
std::string config_text(int port, const std::string& sections,
                        const std::string& routes = "") {
  return "[ccserver]\ncc-socket = tcp://127.0.0.1:" + std::to_string(port) +
         "\n[routes]\necho = h:echo\n" + routes +
         "\n[h:echo]\nhandler = cc.handler.echo\n" + sections;
}

/// A jobmgr with one infosender daemon over `infodir`.
std::string jobmgr_text(const std::string& infodir) {
  return "\n[h:jobs]\nhandler = cc.handler.jobmgr\ndaemons = d:info\n"
         "\n[d:info]\nmodule = cc.daemon.infosender\ninfodir = " + infodir +
         "\ninfomask = info.*\nsave-file = " + infodir + "/info.save\n";
}

actor_tree::config_ptr load(const std::string& path) {
  auto res = cc::config::load(path);
  for (const auto& d : res.diagnostics)
    UNSCOPED_INFO(d.str());
  REQUIRE(res.ok());
  return std::make_shared<const cc::config::server_config>(std::move(*res.config));
}

/// An actor system configured as the server's, with a tree on it.
struct tree_fixture {
  cc::test::temp_dir dir{"cclifecycle"};
  std::string path = dir / "server.ini";
  int port = cc::test::free_port();
  caf::actor_system_config sys_cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<caf::scoped_actor> self;
  std::shared_ptr<cc::status_board> board = std::make_shared<cc::status_board>();
  std::unique_ptr<actor_tree> tree;
  std::vector<std::string> steps;

  /// `also`: called at each start-up step too, with the step and the port.
  explicit tree_fixture(const std::string& more,
                        std::function<void(const std::string&, int)> also = {}) {
    cc::test::write_file(path, config_text(port, more, more.empty() ? "" : "job = h:jobs\n"));
    auto cfg = load(path);
    cc::cli::configure_system(sys_cfg, cfg->main);
    sys = std::make_unique<caf::actor_system>(sys_cfg);
    self = std::make_unique<caf::scoped_actor>(*sys);
    tree = std::make_unique<actor_tree>(*sys, *self, board);
    tree->on_step([this, also](const std::string& s) {
      steps.push_back(s);
      if (also)
        also(s, port);
    });
    auto err = tree->start(cfg);
    if (err)
      FAIL("start: " + tree->text(err));
  }

  ~tree_fixture() {
    tree->stop();
  }

  size_t index_of(const std::string& step) const {
    return static_cast<size_t>(std::find(steps.begin(), steps.end(), step) - steps.begin());
  }
};

/// A TCP port held by a listening socket for the fixture's lifetime.
struct held_port {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  held_port() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  ~held_port() {
    ::close(fd);
  }
};

} // namespace

TEST_CASE("actor tree: start-up order, then the stop order",
          "[main][actor_tree]") {
  cc::test::temp_dir info{"ccinfo"};
  tree_fixture f{jobmgr_text(info.path())};
  // Router first; the jobmgr after every other handler (its daemons send at
  // once); stats after the handlers; the gateway last.
  REQUIRE(f.steps.size() == 6);
  CHECK(f.steps[0] == "router");
  CHECK(f.steps[1] == "handler h:echo");
  CHECK(f.steps[2] == "jobmgr h:jobs");
  CHECK(f.steps[3] == "stats");
  CHECK(f.steps[4] == "daemons"); // every daemon ran its start-up
  CHECK(f.steps[5] == "gateway");
  CHECK(f.tree->part_names() == std::vector<std::string>{"h:echo", "h:jobs"});
  CHECK(f.tree->alive(5s));

  f.steps.clear();
  CHECK(f.tree->stop());
  CHECK(f.steps == std::vector<std::string>{"stop gateway", "stop jobmgrs", "stop handlers",
                                            "stop router", "stop stats"});
  CHECK(f.tree->failed_actor.empty());
  CHECK_FALSE(f.tree->alive(1s));
}

TEST_CASE("actor tree: a message that comes the moment the gateway listens is answered "
          "(the router knows the gateway before the gateway reads)",
          "[main][actor_tree]") {
  // A client whose echo.request (a forwarder's probe at connect) reaches
  // the gateway right after it binds, before start() has finished.
  cc::wire::echo_body body;
  body.hdr.req = "echo.request";
  body.hdr.time = cc::wire::now_seconds();
  body.hdr.hostname = "early";
  body.target = "lifecycle-test";
  std::unique_ptr<cc::test::zmq_peer> client;
  bool sent = false;
  tree_fixture f{"", [&](const std::string& step, int port) {
    if (step != "gateway")
      return;
    client = std::make_unique<cc::test::zmq_peer>(ZMQ_DEALER);
    client->connect("tcp://127.0.0.1:" + std::to_string(port));
    sent = client->send({"", "echo.request", cc::wire::make_body(body), ""});
    // Long enough for a gateway that reads already to have read it: its
    // answer would find a router that knows no gateway, and be dropped.
    std::this_thread::sleep_for(300ms);
  }};
  REQUIRE(sent);
  auto reply = client->receive(10s);
  REQUIRE(reply);
  REQUIRE(reply->size() >= 3);
  CHECK((*reply)[1] == "echo.response");
}

TEST_CASE("reload: a changed configuration rebuilds the handlers behind the same gateway",
          "[main][actor_tree][reload]") {
  tree_fixture f{""};
  auto gateway = f.tree->gateway();
  auto router = f.tree->router();
  auto first = f.tree->config();
  cc::test::write_file(f.path, config_text(f.port, "\n[h:ll]\nhandler = cc.handler.locallogger\n",
                                             "log = h:ll\n"));
  std::string logfile;
  f.steps.clear();
  CHECK(cc::cli::reload_config(*f.tree, f.path, logfile) == outcome::reloaded);
  CHECK(f.tree->part_names() == std::vector<std::string>{"h:echo", "h:ll"});
  CHECK(f.tree->config() != first);
  // The same gateway (cc-socket unchanged), a new router.
  CHECK(f.tree->gateway() == gateway);
  CHECK(f.tree->router() != router);
  CHECK(f.index_of("stop handlers") < f.index_of("router"));
  CHECK(f.index_of("router") < f.index_of("handler h:ll"));
  CHECK(f.index_of("gateway") == f.steps.size()); // not rebound
  CHECK(f.tree->alive(5s));
  CHECK(f.tree->failed_actor.empty());
}

TEST_CASE("reload: a CAF link in a process started without the middleman is refused, "
          "named",
          "[main][actor_tree][reload]") {
  tree_fixture f{""};
  auto router = f.tree->router();
  auto first = f.tree->config();
  cc::test::write_file(f.path, config_text(f.port,
                                           "\n[h:up]\nhandler = proxy\n"
                                           "remote-cc = caf://127.0.0.1:1\n",
                                           "up = h:up\n"));
  {
    auto next = load(f.path);
    CHECK(cc::cli::caf_link_use(*next) ==
          f.path + ": [h:up] remote-cc = caf://127.0.0.1:1");
    CHECK(cc::cli::caf_link_use(*first).empty());
  }
  std::string logfile;
  f.steps.clear();
  CHECK(cc::cli::reload_config(*f.tree, f.path, logfile, false) == outcome::kept_previous);
  CHECK(f.steps.empty());
  CHECK(f.tree->router() == router);
  CHECK(f.tree->config() == first);
}

TEST_CASE("reload: an invalid configuration changes nothing",
          "[main][actor_tree][reload]") {
  tree_fixture f{""};
  auto router = f.tree->router();
  auto first = f.tree->config();
  cc::test::write_file(f.path, config_text(f.port, "\n[h:bad]\nhandler = cc.handler.nosuch\n",
                                             "bad = h:bad\n"));
  std::string logfile;
  f.steps.clear();
  CHECK(cc::cli::reload_config(*f.tree, f.path, logfile) == outcome::kept_previous);
  CHECK(f.steps.empty());
  CHECK(f.tree->router() == router);
  CHECK(f.tree->config() == first);
}

TEST_CASE("reload: a configuration that cannot start gives way to the previous one",
          "[main][actor_tree][reload]") {
  tree_fixture f{""};
  auto first = f.tree->config();
  // Valid, but its tailwriter cannot make its dstdir (under a plain file).
  cc::test::write_file(f.dir / "plain", "x");
  cc::test::write_file(f.path, config_text(f.port,
                                           "\n[h:tw]\nhandler = cc.handler.tailwriter\n"
                                           "dstdir = " + (f.dir / "plain") + "/copies\n"
                                           "state-dir = " + (f.dir / "state") + "\n",
                                           "pub.logtail = h:tw\n"));
  std::string logfile;
  f.steps.clear();
  CHECK(cc::cli::reload_config(*f.tree, f.path, logfile) == outcome::kept_previous);
  CHECK(f.tree->config() == first);
  CHECK(f.tree->part_names() == std::vector<std::string>{"h:echo"});
  // The new set's router went, the previous set came back.
  CHECK(std::count(f.steps.begin(), f.steps.end(), "router") == 2);
  CHECK(f.tree->alive(5s));
  CHECK(f.tree->failed_actor.empty());
}

TEST_CASE("reload: a cc-socket that cannot be bound keeps the running set",
          "[main][actor_tree][reload]") {
  tree_fixture f{""};
  held_port taken;
  auto router = f.tree->router();
  auto gateway = f.tree->gateway();
  cc::test::write_file(f.path, config_text(taken.port, ""));
  std::string logfile;
  CHECK(cc::cli::reload_config(*f.tree, f.path, logfile) == outcome::kept_previous);
  CHECK(f.tree->router() == router);
  CHECK(f.tree->gateway() == gateway);
  CHECK(f.tree->alive(5s));
}

TEST_CASE("reload: a new cc-socket gets a new gateway, the old one stops",
          "[main][actor_tree][reload]") {
  tree_fixture f{""};
  auto gateway = f.tree->gateway();
  cc::test::write_file(f.path, config_text(cc::test::free_port(), ""));
  std::string logfile;
  f.steps.clear();
  CHECK(cc::cli::reload_config(*f.tree, f.path, logfile) == outcome::reloaded);
  CHECK(f.tree->gateway() != gateway);
  // Bound before the old generation stops; the old gateway stops after the
  // new one started.
  CHECK(f.index_of("gateway") < f.index_of("stop handlers"));
  CHECK(f.index_of("stats") < f.index_of("stop previous gateway"));
  CHECK(f.tree->failed_actor.empty());
}

TEST_CASE("main loop: SIGHUP is wrapped in RELOADING and READY, SIGTERM stops",
          "[main][loop]") {
  tree_fixture f{""};
  std::vector<std::string> told;
  auto notify = [&](const std::string& s) { told.push_back(s); };
  cc::cli::watchdog dog{std::nullopt, notify};
  cc::cli::server_loop loop{*f.tree, *f.self, f.path, "", notify, dog};
  CHECK(loop.on_signal(SIGHUP));
  REQUIRE(told.size() == 2);
  CHECK(told[0].rfind("RELOADING=1\nMONOTONIC_USEC=", 0) == 0);
  CHECK(told[0].find("STATUS=reloading " + f.path) != std::string::npos);
  CHECK(told[1] == "READY=1\nSTATUS=up");
  CHECK_FALSE(loop.on_signal(SIGTERM));
  CHECK(loop.status() == cc::cli::exit_ok);

  // run(): a signal sent to the main thread's actor ends it cleanly.
  (*f.self)->send(caf::actor_cast<caf::actor>(*f.self), int{SIGINT});
  CHECK(loop.run() == cc::cli::exit_ok);
}

TEST_CASE("main loop: an actor of the tree that dies ends the server with status 1",
          "[main][loop]") {
  tree_fixture f{""};
  std::vector<std::string> told;
  auto notify = [&](const std::string& s) { told.push_back(s); };
  cc::cli::watchdog dog{std::nullopt, notify};
  cc::cli::server_loop loop{*f.tree, *f.self, f.path, "", notify, dog};
  (*f.self)->send_exit(f.tree->router(), caf::exit_reason::kill);
  CHECK(loop.run() == cc::cli::exit_failure);
  CHECK(f.tree->failed_actor.rfind("router: ", 0) == 0);
  CHECK(told.empty());
}

TEST_CASE("watchdog: a keep-alive when due and the router answers",
          "[main][watchdog]") {
  tree_fixture f{""};
  std::vector<std::string> told;
  auto notify = [&](const std::string& s) { told.push_back(s); };
  cc::cli::watchdog off{std::nullopt, notify};
  CHECK(off.wait() == std::chrono::hours{24});
  off.check(*f.tree);
  CHECK(told.empty());

  cc::cli::watchdog dog{std::chrono::milliseconds{std::chrono::hours{1}}, notify};
  dog.check(*f.tree); // due at once
  CHECK(told == std::vector<std::string>{"WATCHDOG=1"});
  dog.check(*f.tree); // not due for an hour
  CHECK(told.size() == 1);
  CHECK(dog.wait() > 0ms);
  CHECK(dog.wait() <= std::chrono::milliseconds{std::chrono::hours{1}});

  // A router that does not answer: no keep-alive.
  cc::cli::watchdog stuck{std::chrono::milliseconds{2}, notify};
  (*f.self)->send_exit(f.tree->router(), caf::exit_reason::kill);
  f.tree->stop();
  stuck.check(*f.tree);
  CHECK(told.size() == 1);
}
