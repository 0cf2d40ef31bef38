// The actions of the command line, one function each (main/main.cpp picks
// one by the parsed options). Each returns the process exit status.
#pragma once

#include "main/options.hpp"

namespace cc::cli {

/// --check: loads the config; prints every diagnostic to stderr and
/// config::describe() to stdout. 0, or 2 when there is an error.
int run_check(const options& opts);

/// -s / -k / -r: signals the instance named by the config's pidfile.
int run_control(const options& opts);

/// --send: one CC message to ENDPOINT, and its reply when one is expected.
int run_send(const send_options& opts);

/// The server itself, until SIGTERM/SIGINT (main/server.cpp).
int run_server(const options& opts);

} // namespace cc::cli
