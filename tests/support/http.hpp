// A small HTTP client for integration tests of the endpoint (/metrics,
// /health, /status), over TCP on 127.0.0.1 or a Unix socket, and the raw
// socket work the hostile-client tests need. Every call is bounded in time.
#pragma once

#include <chrono>
#include <string>

namespace cc::test {

struct http_reply {
  int status = -1;  // -1: no complete answer (refused, closed, timed out)
  std::string head; // status line and headers
  std::string body;
};

/// `request` (a whole HTTP request) to 127.0.0.1:`port`; reads until the
/// server closes the connection or `timeout` passes.
http_reply http_exchange(int port, const std::string& request,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// GET `path` (HTTP/1.0) from 127.0.0.1:`port`.
http_reply http_get(int port, const std::string& path,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// GET `path` (HTTP/1.0) over the Unix socket at `socket_path`.
http_reply http_get_unix(const std::string& socket_path, const std::string& path,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// A TCP connection to 127.0.0.1:`port` (-1 on failure); the caller closes it.
int connect_local(int port);

/// Whether the peer closed `fd` (EOF or reset) within `timeout`; what it
/// sent before is appended to `got`.
bool closed_by_peer(int fd, std::chrono::milliseconds timeout,
                    std::string* got = nullptr);

/// The value of sample `name` (with labels written exactly as the server
/// writes them, or none) in an exposition text; -1 when absent.
double sample_value(const std::string& exposition, const std::string& name);

} // namespace cc::test
