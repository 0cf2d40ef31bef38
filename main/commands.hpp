// The actions of the command line, one function each (main/main.cpp picks
// one by the parsed options). Each returns the process exit status.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "main/options.hpp"

namespace cc::cli {

/// --check: loads the config; prints every diagnostic to stderr and
/// config::describe() to stdout. 0, or 2 when there is an error.
int run_check(const options& opts);

/// -s / -k / -r: signals the instance named by the config's pidfile.
int run_control(const options& opts);

/// --status: GET /status from the running server (its control-socket, else
/// its http-listen) and prints the table (actors/status.hpp). 0 when it is
/// healthy, 1 when it is not or cannot be reached, 2 on a config error.
int run_status(const options& opts);

/// --send: one CC message to ENDPOINT, and its reply when one is expected.
int run_send(const send_options& opts);

/// --verify [--repair] (main/verify.cpp): every copy the config's tailers
/// ship compared with its source through the running server's cc-socket.
/// 0 when every copy equals its source up to what was delivered, 1 when one
/// does not (or the server does not answer), 2 on a config error.
int run_verify(const options& opts);

/// --export-journals STATE_DIR (main/journals.cpp): the journal logs of a
/// stopped server's state directory written back as journal files for an
/// older build. 0; 1 when the directory is in use or cannot be written.
int run_export_journals(const options& opts);

/// The processes (pids, ascending) with a journal log (`jl-*`) of
/// `state_dir` open, found in /proc (those this user may look at): a
/// server without the state directory's lock (a build before session 19)
/// holds its workers' logs open while it runs.
std::vector<int> journal_log_holders(const std::string& state_dir);

/// --keygen NAME: a CurveZMQ key pair as NAME.key (0600) and NAME.pub
/// (main/keygen.cpp); never overwrites. 0, or 1 when a file exists.
int run_keygen(const options& opts);

/// The key checks of --check (main/keygen.cpp): errors (an unreadable or
/// group/other-readable secret key, a malformed key, an unreadable
/// allow-list, one half of a key pair setting) and, in `warnings`, a
/// non-loopback cc-socket without CURVE. Each names file, section and key.
std::vector<std::string> check_security(const config::server_config& cfg,
                                        std::vector<std::string>& warnings);

/// The second half of --check: loads the config (valid by then) and prints
/// check_security's warnings and errors to stderr. 0, or 2 on an error.
int run_key_check(const options& opts);

/// The server itself, until SIGTERM/SIGINT (main/server.cpp).
int run_server(const options& opts);

} // namespace cc::cli
