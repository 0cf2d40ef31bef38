// The local end of a data connection (docs/wire.md §6.8): a plain TCP
// connection from a forwarder's ZeroMQ transport to the port the central's
// echo answer offered (`data_port`), on the process's I/O loop. It carries
// pub.logtail messages only; every other type stays on the ZeroMQ link. The
// hello names the DEALER's routing id: the central sends its replies to that
// peer (acks, answers, pongs) back on this connection while it is open, and
// over ZeroMQ otherwise.
//
// Only between our peers and only where the ZeroMQ link has no CURVE (the
// data connection is not encrypted): zmq_transport decides that.
//
// Threads: send() on the forwarder's thread; the socket on the loop thread,
// except that send() writes a small message (no file range, blob at most
// direct_max) itself when nothing is queued or being written and the loop
// is not using the socket (a writer lock it only tries): a trickle's line
// then reaches TCP without waking the loop. What the socket does not take
// whole at once the loop finishes, and a write error there is the loop's
// to handle, so the rules below hold for both writers. A message queued
// behind another does not wake the loop: while anything is queued it waits
// for room (POLLOUT) and writes the queue then (a wake per bulk fragment
// cost a round and a refused sendfile each; bench/PROFILE.md, "Session 23").
// The central's replies read in a round are handed on at its end, outside
// the writer lock; while the link has nothing to write they go to
// on_message_here, whose receivers may run on the loop thread, as an
// inotify wake's tailer does (bench/PROFILE.md, "Session 27").
// A message is taken only while the connection is up; when it goes down the
// loop hands what is still queued back to the ZeroMQ socket (`fallback`,
// in order) and reports the one it was writing as sent: its bytes may be
// lost, which the receiver's gap answer or the sender's ack timeout repair,
// as for a ZeroMQ connection that drops. It reconnects every
// `retry_ms` while it exists.
//
// A blob that is a file range (the tailer's uncompressed fragments,
// wire/file_range.hpp) goes by sendfile after its head. If the file no
// longer holds the range when it is sent (copytruncate shrank it, a new
// generation replaced its first bytes), the head has announced bytes that
// cannot follow: the connection is closed mid-message, which the central
// drops, and the message counts as lost (ranges_gone) like any other cut by
// a lost connection.
//
// Owns: the connection's descriptor (its writer under a lock: the loop, or
// send() for a direct write), the outbox (mutex).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <sys/socket.h>

#include "actors/core/atoms.hpp"
#include "base/io_attachment.hpp"
#include "wire/message.hpp"

namespace cc {

/// An address to connect to, resolved.
struct data_address {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // host:port, for log lines
};

/// The host of a tcp:// ZeroMQ endpoint ("tcp://h:p", "tcp://[v6]:p",
/// "tcp://src;h:p"); nullopt for other schemes and "*".
std::optional<std::string> tcp_host_of(const std::string& endpoint);
/// Resolves `host` and `port` (getaddrinfo: may block on a name server);
/// nullopt when it does not resolve.
std::optional<data_address> resolve_data_address(const std::string& host,
                                                 int port);

/// Whether a message of `type` goes on the data connection.
bool data_carries(const std::string& type);

/// Counters of one data link (all of a transport's links add up).
struct data_link_counters {
  std::atomic<int64_t> connects{0};    // connections that came up
  std::atomic<int64_t> failures{0};    // connects refused, connections lost
  std::atomic<int64_t> messages{0};    // messages written whole
  std::atomic<int64_t> direct{0};      // of them, by send() itself
  std::atomic<int64_t> bytes{0};       // stream bytes written
  std::atomic<int64_t> fell_back{0};   // messages handed back to ZeroMQ
  std::atomic<int64_t> lost{0};        // messages cut by a lost connection
  std::atomic<int64_t> replies{0};     // replies read from the central
  std::atomic<int64_t> replies_here{0}; // of them, by on_message_here
  std::atomic<int64_t> bytes_in{0};    // stream bytes read
  // Blobs that are file ranges (wire/file_range.hpp):
  std::atomic<int64_t> sendfile{0};    // written whole by sendfile
  std::atomic<int64_t> ranges_read{0}; // read into memory for ZeroMQ
  std::atomic<int64_t> ranges_gone{0}; // their bytes gone: message dropped
  /// Whether the link's connection is up now (it takes messages). Shared
  /// with the tailers through the ack registry (ack_registry::data_up_of):
  /// their larger window for file ranges holds only while it is.
  std::atomic<bool> up{false};
};

class data_link {
public:
  struct callbacks {
    /// A message of `bytes` (wire_size) left the link (written, or cut).
    std::function<void(uint64_t bytes)> on_sent;
    /// A message the link cannot send after all: to the ZeroMQ socket.
    std::function<void(wire::cc_message)> fallback;
    /// A reply from the central (an ack, an answer), as from the DEALER.
    /// Called on the loop thread after the link's own code is done with
    /// the round, with none of its locks held.
    std::function<void(wire::cc_message)> on_message;
    /// Instead of on_message when the link had nothing to write after the
    /// round that read the reply (nothing queued, nothing half-written): a
    /// trickle, whose ack may run its tailer on the loop thread (a wake of
    /// a scheduler worker saved). Unset: on_message.
    std::function<void(wire::cc_message)> on_message_here;
    /// Bytes from the central that are not a message (the connection closes).
    std::function<void(const caf::error&)> on_invalid;
  };

  static constexpr long retry_ms = 1000;
  /// A message whose blob (in memory) is at most this goes into the socket
  /// from send()'s thread when nothing is queued; larger ones and file
  /// ranges always go through the loop (range_min_bytes: sendfile's size).
  static constexpr uint64_t direct_max = 64 * 1024;

  data_link(std::shared_ptr<io_loop> loop, data_address to,
            std::string routing_id, std::string who, callbacks cb,
            std::shared_ptr<data_link_counters> counters);
  /// Off the loop (waits for it): what is still queued goes to fallback.
  ~data_link();
  data_link(const data_link&) = delete;
  data_link& operator=(const data_link&) = delete;

  /// Takes `msg` when the connection is up (true; `msg` moved from); false
  /// leaves it to the caller.
  bool send(wire::cc_message& msg);

  const data_address& address() const;

  class engine;

private:
  std::shared_ptr<engine> engine_;
  std::unique_ptr<io_attachment> attachment_;
};

/// A transport's data link as other threads reach it: the forwarder's door
/// (the local direct lane, actors/link/forwarder_door.hpp) sends through it
/// from a tailer's thread while the forwarder's own thread may replace or
/// drop the link. A link taken out (exchange) is destroyed by the caller,
/// outside the lock: its destructor waits for the loop, whose thread may be
/// the one sending.
class data_gate {
public:
  /// Takes `msg` (moved from) when its type goes on the data connection and
  /// a link is set that takes it now (data_link::send); false leaves it.
  bool send(wire::cc_message& msg);
  /// Sets `link` (null: none) and returns the one before.
  std::unique_ptr<data_link> exchange(std::unique_ptr<data_link> link);
  /// Whether a link is set (up or not).
  bool has_link() const;

private:
  mutable std::mutex mtx_;
  std::unique_ptr<data_link> link_;
};

} // namespace cc
