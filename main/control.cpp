// --check, and -s / -k / -r: the actions that work on a config file without
// running a server.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <thread>

#include <unistd.h>

#include "config/config.hpp"
#include "main/commands.hpp"
#include "main/pidfile.hpp"

namespace cc::cli {

namespace {

void print_diagnostics(const config::load_result& res) {
  for (const auto& d : res.diagnostics)
    std::cerr << (d.severity == config::diagnostic::error ? "error: "
                                                          : "warning: ")
              << d.str() << "\n";
}

// Waits until `pid` is gone (bounded); true when it is.
bool wait_gone(pid_t pid, std::chrono::milliseconds bound) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (is_running_server(pid)) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

} // namespace

int run_check(const options& opts) {
  auto res = config::load(opts.config_file);
  print_diagnostics(res);
  if (!res.ok())
    return exit_usage;
  std::cout << config::describe(*res.config);
  return exit_ok;
}

int run_control(const options& opts) {
  auto res = config::load(opts.config_file);
  if (!res.ok()) {
    print_diagnostics(res);
    return exit_usage;
  }
  auto pidfile = res.config->main.file("pidfile");
  if (pidfile.empty()) {
    std::cerr << "ccserver: " << opts.config_file
              << ": no pidfile in [ccserver]: cannot find the running "
                 "instance\n";
    return exit_usage;
  }
  auto pid = read_pid(pidfile);
  if (!pid || !is_running_server(*pid)) {
    std::cerr << "ccserver: not running (" << pidfile
              << (pid ? " names pid " + std::to_string(*pid) +
                          ", which is not running)"
                      : " is missing or empty)")
              << "\n";
    return exit_failure;
  }
  int sig = opts.what == action::stop   ? SIGTERM
            : opts.what == action::kill ? SIGKILL
                                        : SIGHUP;
  if (::kill(*pid, sig) != 0) {
    std::cerr << "ccserver: signal to pid " << *pid << ": "
              << std::strerror(errno) << "\n";
    return exit_failure;
  }
  switch (opts.what) {
    case action::stop:
      // A clean stop persists positions and drains queues: give it time.
      if (!wait_gone(*pid, std::chrono::seconds(60))) {
        std::cerr << "ccserver: pid " << *pid
                  << " got SIGTERM but is still running after 60 s\n";
        return exit_failure;
      }
      std::cout << "stopped pid " << *pid << "\n";
      return exit_ok;
    case action::kill:
      if (!wait_gone(*pid, std::chrono::seconds(10))) {
        std::cerr << "ccserver: pid " << *pid << " survived SIGKILL\n";
        return exit_failure;
      }
      // It could not clean up after itself.
      if (read_pid(pidfile) == pid)
        ::unlink(pidfile.c_str());
      std::cout << "killed pid " << *pid << "\n";
      return exit_ok;
    default:
      std::cout << "asked pid " << *pid << " to reload\n";
      return exit_ok;
  }
}

} // namespace cc::cli
