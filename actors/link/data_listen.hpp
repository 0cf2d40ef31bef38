// The central end of data connections (docs/wire.md §6.8): a TCP port the
// gateway listens on beside cc-socket (`[ccserver] data-port`), on the
// process's I/O loop. Each connection opens with a hello naming the ZeroMQ
// routing id of the forwarder it belongs to; every message after it is
// handed on as if that peer had sent it on cc-socket (the routing id as its
// first route frame), so the gateway's parsing and in-flight budget apply.
// Replies to that routing id (acks, answers, pongs) go back on the data
// connection while it is open (send()); what is queued for one that
// closes goes to cc-socket (`fallback`).
//
// The payload is read straight into the blob that travels to the writer
// (one read into a buffer of the announced size: from the listener's
// receive_pool when given one, receive_pool.hpp): no libzmq buffer, no hop
// through libzmq's I/O thread.
//
// Bad input (no hello, a head or blob over the limits, a truncated message)
// closes that connection, is counted (`data_refused`) and logged once per
// address per minute; nothing else is affected. The port is plain TCP: the
// gateway opens it only where cc-socket has no CURVE.
//
// Owns: the listening descriptor and each connection's (on the loop).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/core/atoms.hpp"
#include "actors/link/receive_pool.hpp"
#include "base/io_attachment.hpp"
#include "wire/message.hpp"

namespace cc {

struct data_listen_counters {
  std::atomic<int64_t> accepted{0};   // connections taken
  std::atomic<int64_t> open{0};       // connections open now
  std::atomic<int64_t> messages{0};   // messages handed on
  std::atomic<int64_t> bytes{0};      // stream bytes read
  std::atomic<int64_t> refused{0};    // connections closed for bad input
  std::atomic<int64_t> replies{0};    // replies written whole
  std::atomic<int64_t> bytes_out{0};  // stream bytes written
};

class data_listener {
public:
  struct events {
    /// A message's frames (routing id first) and blob, for the gateway's
    /// parse-and-dispatch (gateway_inbox::on_frames).
    std::function<void(std::vector<std::string>&&, wire::blob_ptr&&)> on_frames;
    /// Whether reading must pause (the gateway's in-flight budget).
    std::function<bool()> paused;
    /// Replies queued for a connection that closed: to cc-socket.
    std::function<void(wire::cc_message)> fallback;
  };

  /// At most this many connections at once; more are closed at accept.
  static constexpr size_t max_connections = 1024;

  /// Binds `host` (an address or name; "*" or "" for any) on `port` (0:
  /// one the kernel picks) and listens on `loop`. Blobs over `max_blob`
  /// close their connection. Blobs of the pool's sizes are read into
  /// `pool`'s buffers (null: each into a buffer of its own).
  static caf::expected<std::unique_ptr<data_listener>>
  start(std::shared_ptr<io_loop> loop, const std::string& host, int port,
        uint64_t max_blob, events ev, receive_pool_ptr pool = nullptr);

  /// Off the loop (waits for it); every connection closed. Idempotent.
  void stop();
  ~data_listener();
  data_listener(const data_listener&) = delete;
  data_listener& operator=(const data_listener&) = delete;

  /// Takes `msg` (moved from) when route[0] names a peer whose data
  /// connection is open; any thread.
  bool send(wire::cc_message& msg);

  int port() const {
    return port_;
  }
  const data_listen_counters& counters() const;
  /// Adds data_* counters to the gateway's stats (data_pool_* with a pool).
  void add_stats(cc::counters& out) const;

  class engine;

private:
  data_listener() = default;
  int port_ = 0;
  std::shared_ptr<engine> engine_;
  std::unique_ptr<io_attachment> attachment_;
};

} // namespace cc
