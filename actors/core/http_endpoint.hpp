// The HTTP endpoint: /metrics (Prometheus text format), /health (200, or 503
// with the problems as JSON) and /status (every fact as JSON), served from
// the status board (actors/core/status_board.hpp) by GNU libmicrohttpd run
// from the process's I/O loop (base/io_loop.hpp; its epoll descriptor is one
// of the loop's), never on an actor's thread: a scrape reads a snapshot and
// at most once a second asks the stats actor for a new round, so no client,
// however many or slow, reaches the data path. Nothing here blocks the loop:
// a request that waits for that round is suspended (libmicrohttpd's
// suspend/resume) and resumed when the round is published or round_bound
// passes.
//
// Two listeners use it: `http-listen` (TCP, loopback unless
// http-allow-remote) and the control socket (a Unix socket beside the
// pidfile, mode 0660) that `ccserver --status` reads without http-listen.
//
// Hostile or broken clients are bounded (http_limits): at most
// max_connections at once (more are accepted and closed at once), per_ip of
// them from one address (TCP), request line and headers within
// connection_memory bytes (larger: 431 and the connection closed), and an
// idle connection closed after idle_timeout. Only GET and HEAD are served
// (else 405 with Allow); unknown paths get 404.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/expected.hpp>

namespace cc {

class status_board;

struct http_limits {
  unsigned max_connections = 32;
  unsigned per_ip = 8;
  std::chrono::seconds idle_timeout{5};
  size_t connection_memory = 16 * 1024;
  /// Snapshots at most this old are served as they are; older ones make
  /// the stats actor poll (at most one round at a time).
  std::chrono::milliseconds max_age{1000};
  /// How long a request waits for that round before it is served the last
  /// snapshot, marked stale (and /health says 503).
  std::chrono::milliseconds round_bound{2000};
};

class http_endpoint {
public:
  /// Serves `board` on TCP `host_port` ("127.0.0.1:9100", "[::1]:9100",
  /// "localhost:9100"). Refuses an address that is not loopback unless
  /// `allow_remote`. errc::unavailable naming the address when it cannot
  /// bind.
  static caf::expected<std::unique_ptr<http_endpoint>>
  listen_tcp(const std::string& host_port, bool allow_remote,
             std::shared_ptr<status_board> board, http_limits limits = {});

  /// Serves `board` on a Unix stream socket at `path` (mode 0660; a stale
  /// socket left there is replaced, any other file is refused).
  static caf::expected<std::unique_ptr<http_endpoint>>
  listen_unix(const std::string& path, std::shared_ptr<status_board> board,
              http_limits limits = {});

  /// Stops serving: waiting requests answered, open connections closed, the
  /// loop left, a Unix socket file removed.
  ~http_endpoint();
  http_endpoint(const http_endpoint&) = delete;
  http_endpoint& operator=(const http_endpoint&) = delete;

  /// "127.0.0.1:9100" or the socket's path.
  const std::string& address() const {
    return address_;
  }

  struct impl;

private:
  http_endpoint() = default;
  std::unique_ptr<impl> impl_;
  std::string address_;
  std::string unix_path_;
};

} // namespace cc
