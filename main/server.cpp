// The server process: what happens before its actor system and after it.
// Ignores SIGPIPE and SIGXFSZ, sets the log level, loads the configuration
// (every diagnostic to stderr; an error ends it with status 2), opens the
// logfile, checks then takes the pidfile (after -d's fork, so the pidfile
// names the daemon), runs the actor system (main/serve.hpp), releases the
// pidfile and tells the parent the exit status.
#include <csignal>
#include <cstring>
#include <iostream>

#include <unistd.h>

#include "base/error.hpp"
#include "base/files.hpp"
#include "base/logger.hpp"
#include "config/config.hpp"
#include "main/commands.hpp"
#include "main/daemon.hpp"
#include "main/lifecycle.hpp"
#include "main/pidfile.hpp"
#include "main/serve.hpp"

namespace cc::cli {

namespace {

constexpr const char* who = "main";

} // namespace

int run_server(const options& opts) {
  // A write to a closed pipe (stderr of a vanished terminal) must not kill
  // the server; ZeroMQ itself never raises SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  // A file-size limit (ulimit -f, systemd's LimitFSIZE=) makes a write fail
  // with EFBIG: an error on that one copy, reported and retried, not the end
  // of the server.
  std::signal(SIGXFSZ, SIG_IGN);
  log::set_level(opts.verbosity > 0   ? log::level::debug
                 : opts.verbosity < 0 ? log::level::warning
                                      : log::level::info);
  auto config_path = absolute(opts.config_file);
  auto res = config::load(config_path);
  for (const auto& d : res.diagnostics)
    std::cerr << (d.severity == config::diagnostic::error ? "error: "
                                                          : "warning: ")
              << d.str() << "\n";
  if (!res.ok())
    return exit_usage;
  auto cfg =
    std::make_shared<const config::server_config>(std::move(*res.config));
  auto logfile = absolute(cfg->main.file("logfile"));
  auto pidfile = absolute(cfg->main.file("pidfile"));
  log::set_format(cfg->main.str("log-format") == "json" ? log::format::json
                                                        : log::format::text);
  if (!logfile.empty()) {
    std::string err;
    if (!log::open(logfile, err)) {
      std::cerr << "ccserver: logfile " << err << "\n";
      return exit_failure;
    }
  }
  if (!pidfile.empty()) {
    if (auto err = check_pidfile(pidfile)) {
      std::cerr << "ccserver: " << message_of(err) << "\n";
      return exit_failure;
    }
  }
  int report_fd = -1;
  if (opts.daemonize) {
    report_fd = daemonize();
    if (report_fd < 0) {
      std::cerr << "ccserver: cannot go to the background: "
                << std::strerror(errno) << "\n";
      return exit_failure;
    }
  }
  // From here on stderr may be /dev/null: errors go to the log.
  log::info(who, std::string{"ccserver "} + CC_VERSION + " starting, pid " +
                   std::to_string(::getpid()) + ", config " + config_path);
  log_diagnostics(res);
  if (!pidfile.empty()) {
    if (auto err = take_pidfile(pidfile)) {
      log::error(who, message_of(err));
      if (!opts.daemonize && !logfile.empty())
        std::cerr << "ccserver: " << message_of(err) << "\n";
      report_to_parent(report_fd, exit_failure);
      return exit_failure;
    }
  }
  // A foreground server with a logfile also tells the terminal why it could
  // not start.
  bool echo = !opts.daemonize && !logfile.empty();
  int status = serve(cfg, config_path, pidfile, echo, report_fd);
  if (!pidfile.empty())
    release_pidfile(pidfile);
  log::info(who, "stopped, exit status " + std::to_string(status));
  report_to_parent(report_fd, status);
  return status;
}

} // namespace cc::cli
