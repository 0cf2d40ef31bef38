// HOST:PORT addresses of the options that name one (http-listen): parsing,
// and whether an address stays on this host.
#pragma once

#include <string>

namespace cc::config {

/// "HOST:PORT" or "[V6]:PORT" split into host (brackets removed) and port;
/// false when malformed (no colon, empty host, port not 1..65535).
bool split_host_port(const std::string& text, std::string& host, std::string& port);

/// Whether `host` is a loopback address: a number in 127.0.0.0/8 or ::1, or
/// localhost. Other names are not looked up (false). False with `why` set.
bool is_loopback_host(const std::string& host, std::string& why);

} // namespace cc::config
