// ZeroMQ sockets owned by one thread each. zmq_socket_thread is the engine of
// both the gateway (a ROUTER bound on cc-socket) and the forwarder's transport
// (a DEALER connected to remote-cc): the thread creates the context and the
// socket, and no other thread ever touches them. It blocks in zmq_poll on the
// socket plus an eventfd; other threads hand it messages through a
// mutex-protected queue and wake it by writing the eventfd.
//
// Sending never copies blob bytes: the blob frame is given to ZeroMQ with
// zmq_msg_init_data and a free function that holds the message's shared_ptr.
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

#include "actors/transport.hpp"
#include "config/config.hpp"
#include "wire/message.hpp"

namespace cc {

/// The ZeroMQ options of one socket (SPEC §3), from [ccserver] or a proxy
/// section. Defaults are the original CC's.
struct zmq_options {
  int hwm = 100;                   // SNDHWM and RCVHWM, messages
  int linger_ms = 500;             // LINGER, and how long close() drains
  int rcvbuf = 0;                  // bytes; 0 leaves the OS default
  int sndbuf = 0;
  bool tcp_keepalive = true;
  int tcp_keepalive_intvl = 15;    // seconds
  int tcp_keepalive_idle = 240;
  int tcp_keepalive_cnt = 4;
  int64_t max_message_size = -1;   // MAXMSGSIZE, bytes; -1 unlimited
  int io_threads = 1;              // of the socket's own context
};

/// The zmq_* keys (and max-message-size, zmq_nthreads) present in `sec`;
/// absent keys keep the defaults above.
zmq_options zmq_options_of(const config::section& sec);

/// Counters of one socket, written by its thread, read by anyone.
struct zmq_socket_counters {
  std::atomic<int64_t> received{0};    // multipart messages read
  std::atomic<int64_t> sent{0};        // multipart messages handed to ZeroMQ
  std::atomic<int64_t> bytes_in{0};
  std::atomic<int64_t> bytes_out{0};
  std::atomic<int64_t> queued_bytes{0};  // waiting in our queue
  std::atomic<int64_t> unroutable{0};  // ROUTER: the peer is gone
  std::atomic<int64_t> dropped{0};     // could not be sent in time (logged)
};

class zmq_socket_thread {
public:
  enum class role {
    router_bind,    // the gateway: ROUTER, ROUTER_MANDATORY, bind
    dealer_connect  // a forwarder: DEALER, connect, connection monitor
  };

  /// Called on the socket thread; keep them short and non-blocking.
  struct events {
    /// One multipart message as received (ROUTER: peer identity first).
    std::function<void(std::vector<std::string>&&)> on_frames;
    /// A queued message of `bytes` (wire_size) was handed to ZeroMQ, or
    /// given up (dropped, counted).
    std::function<void(uint64_t bytes)> on_sent;
    /// DEALER only: connected (true) / disconnected (false) from `peer`.
    std::function<void(bool up, const std::string& peer)> on_link;
  };

  /// `who` names the socket in log lines ("gateway", "h:forward").
  zmq_socket_thread(role r, std::string endpoint, zmq_options opts,
                    events ev, std::string who);
  ~zmq_socket_thread();
  zmq_socket_thread(const zmq_socket_thread&) = delete;
  zmq_socket_thread& operator=(const zmq_socket_thread&) = delete;

  /// Starts the thread, which creates the socket and binds or connects it.
  /// Returns once that is done; a failure (address in use, bad endpoint)
  /// names the endpoint and the thread is gone again.
  caf::error start();

  /// Queues `msg` for sending (frames_of order). Thread-safe, never blocks.
  void send(wire::cc_message msg);

  /// Pauses (false) or resumes (true) reading from the socket. While paused,
  /// incoming messages wait in ZeroMQ's queues (bounded by the HWM).
  void set_reading(bool on);

  /// Sends what is queued for at most linger_ms, closes the socket (LINGER
  /// applies), terminates the context and joins the thread. Idempotent.
  void stop();

  const zmq_socket_counters& counters() const { return counters_; }
  const std::string& endpoint() const { return endpoint_; }

private:
  void run(std::promise<caf::error> started);
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

  std::mutex mtx_;                       // guards outbox_
  std::deque<wire::cc_message> outbox_;  // handed over by other threads
};

/// The forwarder's ZeroMQ transport: a DEALER connected to remote-cc.
class zmq_transport : public transport {
public:
  zmq_transport(zmq_options opts, std::string who);
  ~zmq_transport() override;

  caf::error connect(const std::string& endpoint, callbacks cb) override;
  void send(wire::cc_message msg) override;
  void close() override;

private:
  zmq_options opts_;
  std::string who_;
  std::unique_ptr<zmq_socket_thread> socket_;
};

} // namespace cc
