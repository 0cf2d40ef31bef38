// A server process's actor system: see serve.hpp for the order of things.
#include "main/serve.hpp"

#include <iostream>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/actor_tree.hpp"
#include "actors/core/status.hpp"
#include "actors/core/types.hpp"
#include "actors/link/caf_listen.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/io_loop.hpp"
#include "base/logger.hpp"
#include "base/thread_slice.hpp"
#include "main/daemon.hpp"
#include "main/lifecycle.hpp"
#include "main/notify.hpp"
#include "main/options.hpp"
#include "main/pidfile.hpp"
#include "main/sharing_policy.hpp"
#include "main/signals.hpp"

namespace cc::cli {

namespace {

constexpr const char* who = "main";

/// The exit status of a failed start (the config's fault: exit_usage), with
/// the error logged, echoed and told to the parent.
int fail_start(actor_tree& tree, const caf::error& err, bool echo_to_terminal,
               int& report_fd) {
  auto text = tree.text(err);
  log::error(who, "cannot start: " + text);
  if (echo_to_terminal)
    std::cerr << "ccserver: cannot start: " << text << "\n";
  tree.stop();
  int code = err.category() == error_category &&
                 err.code() == static_cast<uint8_t>(errc::config_invalid)
               ? exit_usage
               : exit_failure;
  report_to_parent(report_fd, code);
  return code;
}

std::string up_line(const config::server_config& cfg) {
  return "up: " + cfg.main.str("cc-socket") + ", " + std::to_string(cfg.handlers.size()) +
         " handlers, " + std::to_string(cfg.daemons.size()) + " daemons";
}

/// Something did not stop within its bound; the actor system's destructor
/// would wait for it, maybe forever. Leaves without it.
[[noreturn]] void leave_unclean(int status, const std::string& pidfile, int& report_fd) {
  status = status == exit_ok ? exit_failure : status;
  if (!pidfile.empty())
    release_pidfile(pidfile);
  log::error(who, "exiting without waiting for the actors that did not stop, exit status " +
                    std::to_string(status));
  report_to_parent(report_fd, status);
  std::_Exit(status);
}

} // namespace

std::string caf_link_use(const config::server_config& cfg) {
  if (cfg.main.has("caf-listen") && !cfg.main.str("caf-listen").empty())
    return cfg.file + ": [ccserver] caf-listen";
  for (const auto& [name, sec] : cfg.handlers)
    if (sec.has("remote-cc") && sec.str("remote-cc").compare(0, 6, "caf://") == 0)
      return cfg.file + ": [" + name + "] remote-cc = " + sec.str("remote-cc");
  return {};
}

void configure_system(caf::actor_system_config& sys_cfg, const config::section& main,
                      bool caf_links) {
  register_types(sys_cfg);
  // Work stealing polls with short sleeps while idle: for a server that mostly
  // waits on sockets and files, sharing halves the CPU per GB (bench/PROFILE.md).
  bool sharing = main.str("caf-scheduler") != "stealing";
  sys_cfg.set("scheduler.policy", sharing ? caf::atom("sharing") : caf::atom("stealing"));
  // Sharing as CAF's, minus its second wake-up per message from outside the
  // scheduler (main/sharing_policy.hpp).
  if (sharing)
    sys_cfg.load<prompt_sharing_coordinator>();
  if (auto n = main.integer("caf-threads"); n > 0)
    sys_cfg.set("scheduler.max-threads", static_cast<size_t>(n));
  if (!caf_links)
    return; // no middleman: neither its multiplexer thread nor its actor's
  // The middleman actor stays detached (CAF's default): its connect is a
  // blocking ::connect on the calling thread, which attached would stall the
  // scheduler (one thread at defaults) for as long as a silent host takes.
  sys_cfg.load<caf::io::middleman>(); // for the CAF transport and clusters
  // TLS for every CAF link of this node (caf-listen and caf:// forwarders):
  // CAF's OpenSSL module with mutual authentication against caf-cafile.
  if (auto tls = caf_tls_settings_of(main); tls.enabled()) {
    sys_cfg.openssl_certificate = tls.certificate;
    sys_cfg.openssl_key = tls.key;
    sys_cfg.openssl_cafile = tls.cafile;
    sys_cfg.load<caf::openssl::manager>();
  }
}

caf::expected<std::vector<std::unique_ptr<http_endpoint>>>
start_endpoints(const config::section& main, const std::shared_ptr<status_board>& board) {
  std::vector<std::unique_ptr<http_endpoint>> out;
  if (main.has("http-listen")) {
    auto ep = http_endpoint::listen_tcp(main.str("http-listen"),
                                        main.boolean("http-allow-remote"), board);
    if (!ep)
      return std::move(ep.error());
    log::info(who, "http: /metrics, /health and /status on " + (*ep)->address());
    out.push_back(std::move(*ep));
  }
  if (main.has("control-socket")) {
    auto ep = http_endpoint::listen_unix(absolute(main.file("control-socket")), board);
    if (!ep)
      return std::move(ep.error());
    log::debug(who, "control socket " + (*ep)->address());
    out.push_back(std::move(*ep));
  }
  return out;
}

int serve(std::shared_ptr<const config::server_config> cfg, const std::string& config_path,
          const std::string& pidfile, bool echo_to_terminal, int& report_fd) {
  signal_watch::block();
  // The process's I/O loop, made here so that [ccserver] zmq_nthreads sizes
  // its ZeroMQ context (the first holder sizes it) and so that it outlives
  // the actor system: every socket, watch and endpoint is closed before it.
  auto loop = io_loop::shared(static_cast<int>(cfg->main.integer("zmq_nthreads")));
  // A short scheduler slice for the loop's thread: woken by a fragment, it
  // runs at once on a busy CPU (base/thread_slice.hpp).
  if (auto slice = cfg->main.seconds("io-slice"); slice > 0)
    loop->post([ns = std::chrono::nanoseconds{static_cast<int64_t>(slice * 1e9 + 0.5)}] {
      if (!set_thread_slice(ns))
        log::debug(who, "io-slice: the kernel keeps its default slice for the I/O loop");
    });
  caf::actor_system_config sys_cfg;
  configure_system(sys_cfg, cfg->main, !caf_link_use(*cfg).empty());
  caf::actor_system sys{sys_cfg};
  int status = exit_ok;
  bool clean = true;
  systemd_notifier notifier;
  auto notify = [&notifier](const std::string& state) { notifier.send(state); };
  auto board = std::make_shared<status_board>(health_settings_from(cfg->main));
  {
    caf::scoped_actor self{sys};
    actor_tree tree{sys, self, board};
    if (auto err = tree.start(cfg))
      return fail_start(tree, err, echo_to_terminal, report_fd);
    auto endpoints = start_endpoints(cfg->main, board);
    if (!endpoints)
      return fail_start(tree, endpoints.error(), echo_to_terminal, report_fd);
    auto up = up_line(*cfg);
    log::info(who, up);
    report_to_parent(report_fd, exit_ok);
    notify("READY=1\nSTATUS=" + up + "\nMAINPID=" + std::to_string(::getpid()));
    signal_watch signals{caf::actor_cast<caf::actor>(self)};
    watchdog dog{notifier.watchdog_every(), notify};
    server_loop loop{tree, self, config_path, absolute(cfg->main.file("logfile")), notify,
                     dog};
    status = loop.run();
    notify("STOPPING=1\nSTATUS=stopping");
    clean = tree.stop();
    // The endpoints go last: /health says 503 (shutting down) until here.
    endpoints->clear();
  }
  if (!clean)
    leave_unclean(status, pidfile, report_fd);
  return status;
}

} // namespace cc::cli
