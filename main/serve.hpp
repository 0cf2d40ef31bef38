// A server process's actor system, from its configuration to its exit
// status, once the process has become what it will be (daemonized, pidfile
// taken; main/server.cpp does that part).
//
// Start:  signals blocked (main/signals.hpp), the actor system configured
//         (configure_system), the actor tree started (actors/actor_tree.hpp),
//         the HTTP endpoint and the control socket opened, "up" logged, the
//         parent told (-d), READY=1 to systemd, then the signal descriptor on
//         the I/O loop.
// Run:    the main loop (main/lifecycle.hpp).
// Stop:   STOPPING=1, the tree stopped, the endpoints closed last (so /health
//         says 503 through a shutdown). When an actor did not stop in time the
//         process leaves without waiting for it (std::_Exit, pidfile released).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include "actors/core/http_endpoint.hpp"
#include "actors/core/status_board.hpp"
#include "config/config.hpp"

namespace cc::cli {

/// Where `cfg` uses a CAF link ("FILE: [ccserver] caf-listen", "FILE: [h:up]
/// remote-cc = caf://..."), the first found; empty when it uses none.
std::string caf_link_use(const config::server_config& cfg);

/// What of `main` ([ccserver]) configures the actor system: our message
/// types, the scheduler (caf-scheduler, caf-threads) and, when `caf_links`
/// (caf_link_use), the middleman and CAF's OpenSSL module when the CAF links
/// use TLS. Without CAF links there is no middleman: its two threads (the
/// multiplexer and the middleman actor) are not started; a reload that would
/// add a caf:// link is refused (main/lifecycle.hpp).
void configure_system(caf::actor_system_config& sys_cfg, const config::section& main,
                      bool caf_links = true);

/// The HTTP endpoint (http-listen) and the control socket, if configured.
caf::expected<std::vector<std::unique_ptr<http_endpoint>>>
start_endpoints(const config::section& main, const std::shared_ptr<status_board>& board);

/// The actor system's lifetime (above). `echo_to_terminal`: a start-up
/// failure is also written to stderr. `report_fd`: the daemonizing parent's
/// pipe (-1 when none). Returns the exit status.
int serve(std::shared_ptr<const config::server_config> cfg, const std::string& config_path,
          const std::string& pidfile, bool echo_to_terminal, int& report_fd);

} // namespace cc::cli
