// One ZeroMQ socket on the process's I/O loop (base/io_loop):
// zmq_socket_loop is the engine of both the gateway (a ROUTER bound on
// cc-socket) and the forwarder's transport (a DEALER connected to
// remote-cc). What differs between the two (socket type and options, bind or
// connect, the ZAP domain, what to do with a message its peer cannot take,
// which monitor events matter) is a role object (zmq_roles.hpp); the socket
// itself knows neither.
//
// No thread of its own: the socket and its monitor (an inproc PAIR) are
// created in the loop's one ZeroMQ context, on the loop thread, and only that
// thread touches them. The loop waits on every socket of the process in one
// zmq_poll; this class is one io_client there (its engine, zmq_socket.cpp).
// Other threads hand it messages through a mutex-protected outbox and the
// loop's wake(); its time limits (the retry of a blocked head message, the
// drain deadline at stop) are its wait_limit_ms. So a process has one socket
// thread and one context (one set of ZeroMQ I/O and reaper threads), however
// many sockets it has.
//
// start(), stop() and stop_async() may be called from any thread; on the
// loop thread itself (a callback) start() opens at once and stop() drains
// inline, holding the loop for up to linger_ms: avoid that.
//
// Blob bytes are not copied either way: a blob frame to send is given to
// ZeroMQ with zmq_msg_init_data and a free function that holds the message's
// blob_ptr; a large last frame received stays in its zmq_msg_t, which the
// blob owns (wire::blob::external) and closes when its last handle goes
// (zmq_frames.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "actors/core/router.hpp"
#include "wire/message.hpp"

namespace cc {

class io_loop;
class zap_handler;

/// The ZeroMQ options of one socket (SPEC §3), from [ccserver] or a proxy
/// section. Defaults are the original CC's.
struct zmq_options {
  int hwm = 100;                   // SNDHWM (and RCVHWM), messages
  int rcvhwm = 0;                  // RCVHWM when > 0 (zmq_rcvhwm)
  int linger_ms = 500;             // LINGER, and how long close() drains
  int rcvbuf = 0;                  // bytes; 0 leaves the OS default
  int sndbuf = 0;
  bool tcp_keepalive = true;
  int tcp_keepalive_intvl = 15;    // seconds
  int tcp_keepalive_idle = 240;
  int tcp_keepalive_cnt = 4;
  int64_t max_message_size = -1;   // MAXMSGSIZE, bytes; -1 unlimited
  // ZeroMQ I/O threads of the process's one context (zmq_nthreads, only
  // in [ccserver]); 0: no preference. The socket that creates the I/O loop
  // sizes its context (base/io_loop: the first one wins); a later socket
  // asking for another number is told so in the log, not obeyed.
  int io_threads = 0;

  // CurveZMQ. As written in the section (file paths or Z85 text), resolved
  // into the binary keys below by whoever starts the socket: the gateway
  // (server) or zmq_transport::connect (client).
  std::string curve_secret_key_file;     // curve-secret-key
  std::string curve_server_key_source;   // remote-cc-public-key (proxy)
  std::string curve_allowed_keys_file;   // curve-allowed-keys ([ccserver])
  // Binary 32-byte keys. router_bind: a secret key turns CURVE on, and `zap`
  // (then required: this socket's allow-list) answers the process's ZAP
  // requests of this socket's own ZAP domain from before the bind
  // (zap.hpp).
  // dealer_connect: a server key turns CURVE on with this public/secret pair.
  std::string curve_secret;
  std::string curve_public;
  std::string curve_server;
  std::shared_ptr<zap_handler> zap;
  // dealer_connect: the routing id the ROUTER knows this peer by (empty:
  // the ROUTER picks one). Set by a transport that may open a data
  // connection, which names the same peer (data_link.hpp).
  std::string routing_id;
};

/// Counters of one socket, written on the loop thread, read by anyone.
struct zmq_socket_counters {
  std::atomic<int64_t> received{0};    // multipart messages read
  std::atomic<int64_t> sent{0};        // multipart messages handed to ZeroMQ
  std::atomic<int64_t> bytes_in{0};
  std::atomic<int64_t> bytes_out{0};
  std::atomic<int64_t> queued_bytes{0};  // waiting in our queue
  std::atomic<int64_t> unroutable{0};  // ROUTER: the peer is gone
  std::atomic<int64_t> dropped{0};     // could not be sent in time (logged)
  // ROUTER only: limits and refusals (each logged, rate-limited).
  std::atomic<int64_t> oversize{0};    // multipart over max_message_size
  std::atomic<int64_t> handshake_failed{0}; // plain or bad CURVE handshakes
  std::atomic<int64_t> not_admitted{0};  // messages refused by events.admit
  std::atomic<int64_t> disconnects{0};   // connections that ended
  /// Rounds the socket was waited on by its ZMQ_FD alone, quiet (no
  /// ZMQ_EVENTS asked: zmq_socket.cpp, `waited`); not a metric.
  std::atomic<int64_t> quiet_waits{0};
};

class zmq_socket_loop {
public:
  enum class role {
    router_bind,    // the gateway: ROUTER, ROUTER_MANDATORY, bind
    dealer_connect  // a forwarder: DEALER, connect, connection monitor
  };

  /// A received last frame at least this long is kept in its zmq_msg_t
  /// rather than copied. Smaller ones may be slices of libzmq's shared
  /// receive batch (in_batch_size, 8 KiB: with zero-copy receive, a frame
  /// that fits in what is left of the batch points into it, reference
  /// counted), and keeping one would keep the whole batch; a frame of a
  /// batch or more always has an allocation of its own.
  static constexpr size_t keep_frame_min = 8192;

  /// Called on the loop thread; keep them short and non-blocking: every
  /// socket of the process waits meanwhile.
  struct events {
    /// One multipart message as received (ROUTER: peer identity first), for
    /// wire::parse: `last`, when set, is the final frame, kept in ZeroMQ's
    /// buffer instead of copied (frames of at least keep_frame_min bytes).
    /// `peer`: what `admit` answered for it (null without `admit`).
    std::function<void(std::vector<std::string>&& frames, wire::blob_ptr&& last,
                       wire::peer_ptr&& peer)>
      on_frames;
    /// A queued message of `bytes` (wire_size) was handed to ZeroMQ, or
    /// given up (dropped, counted).
    std::function<void(uint64_t bytes)> on_sent;
    /// DEALER only: connected (true) / disconnected (false) from `peer`.
    std::function<void(bool up, const std::string& peer)> on_link;
    /// ROUTER only, when set: whether a message from a peer whose ZAP user
    /// id is `user_id` (the Z85 client key under CURVE) from `address` may
    /// be taken: its identity if so (handed to on_frames with it), null
    /// drops it (counted as not_admitted). For keys removed from the
    /// allow-list while their connection stays up.
    std::function<wire::peer_ptr(const std::string& user_id,
                                 const std::string& address)>
      admit;
    /// ROUTER only: a handshake failed before ZAP could decide (a plain
    /// ZeroMQ client on a CURVE socket, a wrong server key, garbage). `why`
    /// names the reason, `address` the peer's IP when known ("" if not).
    std::function<void(const std::string& why, const std::string& address)>
      on_handshake_failed;
  };

  /// `who` names the socket in log lines ("gateway", "h:forward").
  zmq_socket_loop(role r, std::string endpoint, zmq_options opts, events ev,
                  std::string who);
  /// stop(): waits for the drain when the socket is still open.
  ~zmq_socket_loop();
  zmq_socket_loop(const zmq_socket_loop&) = delete;
  zmq_socket_loop& operator=(const zmq_socket_loop&) = delete;

  /// Joins the process's I/O loop (creating it, its context sized by
  /// opts.io_threads, if nobody holds one), creates the socket on the loop
  /// thread and binds or connects it. Returns once that is done; a failure
  /// (address in use, bad endpoint) names the endpoint and leaves nothing on
  /// the loop.
  caf::error start();

  /// Queues `msg` for sending (frames_of order). Thread-safe, never blocks.
  void send(wire::cc_message msg);

  /// Pauses (false) or resumes (true) reading from the socket. While paused,
  /// incoming messages wait in ZeroMQ's queues (bounded by the HWM).
  void set_reading(bool on);

  /// Back-pressure from the consumer, independent of set_reading: while
  /// throttled nothing is read either. Safe from any thread, including the
  /// socket's own callbacks (reading stops after that message). Only a
  /// pause that ends wakes the loop.
  void set_throttled(bool on);

  /// Sends what is queued for at most linger_ms, then closes the socket
  /// (LINGER, the rest of that time, applies inside ZeroMQ: frames already
  /// handed over still leave after this returns). Blocks until closed;
  /// idempotent.
  void stop();

  /// Like stop() without waiting, for an actor on CAF's scheduler: the loop
  /// drains and closes the socket, then calls `done` on the loop thread
  /// (keep it short). Every `done` given runs exactly once: at once when the
  /// socket is already closed or was never opened.
  void stop_async(std::function<void()> done);

  const zmq_socket_counters& counters() const;
  const std::string& endpoint() const;

  /// The socket's side on the loop (an io_client; zmq_socket.cpp).
  class engine;

private:
  std::shared_ptr<io_loop> loop_;    // held while the socket may be open
  std::shared_ptr<engine> engine_;
};

} // namespace cc
