// One ZeroMQ socket and the loop that owns it: zmq_socket_loop is the engine
// of both the gateway (a ROUTER bound on cc-socket) and the forwarder's
// transport (a DEALER connected to remote-cc). What differs between the two
// (socket type and options, bind or connect, the ZAP handler, what to do with
// a message its peer cannot take, which monitor events matter) is a role
// object (zmq_roles.hpp); the loop itself knows neither.
//
// The loop's thread creates the context and the socket, and no other thread
// ever touches them. It blocks in zmq_poll on the socket, its monitor and an
// eventfd; other threads hand it messages through a mutex-protected queue and
// wake it by writing the eventfd. The thread stays (one per socket) because
// zmq_poll is the only way to wait on a ZeroMQ socket and a ZeroMQ socket may
// not be shared between threads; the ZeroMQ context's own I/O and reaper
// threads come with it.
//
// Blob bytes are not copied either way: a blob frame to send is given to
// ZeroMQ with zmq_msg_init_data and a free function that holds the message's
// blob_ptr; a large last frame received stays in its zmq_msg_t, which the
// blob owns (wire::blob::external) and closes when its last handle goes.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/error.hpp>

#include "actors/core/router.hpp"
#include "wire/message.hpp"

namespace cc {

class zap_handler;

namespace zmq_detail {
class socket_role;
struct incoming;
} // namespace zmq_detail

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
  int io_threads = 1;              // of the socket's own context

  // CurveZMQ. As written in the section (file paths or Z85 text), resolved
  // into the binary keys below by whoever starts the socket: the gateway
  // (server) or zmq_transport::connect (client).
  std::string curve_secret_key_file;     // curve-secret-key
  std::string curve_server_key_source;   // remote-cc-public-key (proxy)
  std::string curve_allowed_keys_file;   // curve-allowed-keys ([ccserver])
  // Binary 32-byte keys. router_bind: a secret key turns CURVE on, and `zap`
  // (then required) is started in the socket's context before the bind.
  // dealer_connect: a server key turns CURVE on with this public/secret pair.
  std::string curve_secret;
  std::string curve_public;
  std::string curve_server;
  std::shared_ptr<zap_handler> zap;
};

/// Counters of one socket, written by its thread, read by anyone.
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

  /// Called on the socket thread; keep them short and non-blocking.
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
  ~zmq_socket_loop();
  zmq_socket_loop(const zmq_socket_loop&) = delete;
  zmq_socket_loop& operator=(const zmq_socket_loop&) = delete;

  /// Starts the thread, which creates the socket and binds or connects it.
  /// Returns once that is done; a failure (address in use, bad endpoint)
  /// names the endpoint and the thread is gone again.
  caf::error start();

  /// Queues `msg` for sending (frames_of order). Thread-safe, never blocks.
  void send(wire::cc_message msg);

  /// Pauses (false) or resumes (true) reading from the socket. While paused,
  /// incoming messages wait in ZeroMQ's queues (bounded by the HWM).
  void set_reading(bool on);

  /// Back-pressure from the consumer, independent of set_reading: while
  /// throttled nothing is read either. Safe from any thread, including the
  /// socket thread's own callbacks (reading stops after that message).
  void set_throttled(bool on);

  /// Sends what is queued for at most linger_ms, closes the socket (LINGER
  /// applies), terminates the context and joins the thread. Idempotent.
  void stop();

  /// Like stop() without waiting, for an actor on CAF's scheduler: the
  /// socket thread drains, closes the socket and the context, then calls
  /// `done` as its last act (stop() then joins at once). Called at once when
  /// the thread has already ended.
  void stop_async(std::function<void()> done);

  const zmq_socket_counters& counters() const { return counters_; }
  const std::string& endpoint() const { return endpoint_; }

private:
  // All below run on the socket thread.
  void run(std::promise<caf::error> started);
  void ended();
  std::string open();   // "" or why the socket could not be set up
  void close_socket();  // monitor, socket, role, context: in that order
  void poll_once();
  void drain();
  void take_outbox();
  void finish_head(bool delivered);
  void send_pending();
  bool can_read() const { return reading_ && !throttled_; }
  void receive_some(int max_messages);
  bool read_message(zmq_detail::incoming& in);
  void take_message(zmq_detail::incoming&& in);
  void read_monitor();
  void refusal(const std::string& key, const std::string& text);
  void wake();

  role role_;
  std::string endpoint_;
  zmq_options opts_;
  events events_;
  std::string who_;
  zmq_socket_counters counters_;

  int wake_fd_ = -1;  // eventfd: "look at the queue / flags"
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reading_{true};
  std::atomic<bool> throttled_{false};

  std::mutex mtx_;                       // guards outbox_, on_stopped_, ended_
  std::deque<wire::cc_message> outbox_;  // handed over by other threads
  std::function<void()> on_stopped_;     // stop_async's `done`
  bool ended_ = false;                   // the thread took on_stopped_

  // The socket thread's own.
  void* ctx_ = nullptr;
  void* sock_ = nullptr;
  void* monitor_ = nullptr;
  std::unique_ptr<zmq_detail::socket_role> role_impl_;
  std::deque<wire::cc_message> pending_; // this thread's side of the outbox
  log_limiter refusal_log_{std::chrono::seconds{10}, 256};
};

} // namespace cc
