// The two roles a zmq_socket_loop can play, one class each, behind one small
// interface (the socket calls it on the loop thread only):
//   router_role: the gateway. ROUTER with ROUTER_MANDATORY, optionally a
//     CURVE server in a ZAP domain of its own, whose policy is registered
//     with the process's ZAP handler (zap.hpp) before the bind and removed
//     after the close; bound. A reply its peer cannot take (at its HWM) is
//     retried every retry_ms and given up after give_up_after; the monitor
//     counts disconnects and reports failed handshakes with the peer's IP.
//   dealer_role: a forwarder's transport. DEALER, optionally a CURVE client;
//     connected, with reconnect backoff and ZMQ_IMMEDIATE. A full pipe waits
//     for POLLOUT; the monitor reports the link going up and down, and a
//     refused key (rate-limited).
// Also the option and error-text helpers both roles share.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actors/link/zmq_socket.hpp"

namespace cc {
class io_loop;
}

namespace cc::zmq_detail {

using clock = std::chrono::steady_clock;

std::string zmq_error_text();

/// Why a handshake failed, from a monitor event and its value.
std::string handshake_failure_text(uint16_t event, uint32_t value);

/// The IP address of the peer of connected socket `fd`, "" when unknown
/// ("local" for a Unix socket). Also the data connections' (data_listen).
std::string peer_ip(int fd);

/// The options every socket gets (HWMs, LINGER, buffers, keepalive,
/// MAXMSGSIZE); false with `why` naming the option that failed.
bool apply_common_options(void* sock, const zmq_options& o, std::string& why);

/// What a role may use of its loop: names for log lines, the options, the
/// callbacks, the counters, and the loop's rate-limited warning.
struct role_env {
  const std::string& who;
  const std::string& endpoint;
  zmq_options& opts;
  const zmq_socket_loop::events& events;
  zmq_socket_counters& counters;
  std::function<void(const std::string& key, const std::string& text)> refusal;
};

class socket_role {
public:
  explicit socket_role(role_env env) : env_(std::move(env)) {
  }
  virtual ~socket_role() = default;

  /// ZMQ_ROUTER or ZMQ_DEALER.
  virtual int socket_type() const = 0;
  /// The monitor events this role reads (on_monitor).
  virtual int monitored_events() const = 0;
  /// The role's own socket options, after the common ones.
  virtual bool configure(void* sock, std::string& why) = 0;
  /// Binds or connects (and whatever must come first on `loop`); "" or why
  /// not.
  virtual std::string open(io_loop& loop, void* sock) = 0;
  /// The socket is closed (or failed to open).
  virtual void closed() {
  }
  /// One event of the socket's monitor with the peer address it names.
  virtual void on_monitor(uint16_t event, uint32_t value,
                          const std::string& peer) = 0;

  /// Whether a full peer is waited for with POLLOUT (else by retrying).
  virtual bool waits_for_pollout() const = 0;
  /// How often a blocked head message is retried; -1: not at all.
  virtual long retry_ms() const = 0;
  /// The head message `head` would block at `now`: true to keep waiting,
  /// false to give it up (the loop counts it as dropped; the role logs it).
  virtual bool keep_waiting(const wire::cc_message& head, clock::time_point now) = 0;
  /// The head message left the queue (sent or given up).
  virtual void head_done() {
  }

protected:
  role_env env_;
};

std::unique_ptr<socket_role> make_role(zmq_socket_loop::role r, role_env env);

} // namespace cc::zmq_detail
