// The forwarder's link to a remote server, behind a small seam: connect, send,
// the callbacks for what comes back, close. The ZeroMQ DEALER implementation is
// actors/link/zmq_transport.hpp; the CAF-middleman one (remote-cc = caf://...) is
// actors/link/caf_transport.hpp.
//
// Threading contract: send() and close() are called by the owning actor only
// (data_path() is the one way in for other threads);
// the callbacks run on the transport's thread (ZeroMQ: the process's I/O
// loop, shared by every socket), so they must be short and non-blocking (the
// forwarder's turn each into an anon_send to itself; its on_message_here
// also runs the jobs that send wakes, within base/loop_jobs.hpp's bounds).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/core/atoms.hpp"
#include "wire/message.hpp"

namespace cc {

struct zmq_options;
class data_gate;

class transport {
public:
  struct callbacks {
    /// A message from the remote, route frames as received (a reply on its
    /// way back: route[0] names whoever sent the request on this side).
    std::function<void(wire::cc_message)> on_message;
    /// A message the data connection read while it had nothing to write (a
    /// trickle's ack), on the I/O loop's thread outside any link's code and
    /// lock: the receiver may run the actors it wakes right there
    /// (base/loop_jobs.hpp). Unset: on_message.
    std::function<void(wire::cc_message)> on_message_here;
    /// Frames from the remote that are not a CC message (counted, logged).
    std::function<void(const caf::error&)> on_invalid;
    /// Messages totalling `bytes` (wire::cc_message::wire_size) left the
    /// transport's queue: the room the sender waits for.
    std::function<void(uint64_t bytes)> on_sent;
    /// The link came up (true) or went down (false); `peer` names the address.
    std::function<void(bool up, const std::string& peer)> on_link;
  };

  virtual ~transport() = default;

  /// Starts connecting to `endpoint` (reconnecting by itself afterwards).
  /// Fails only when the endpoint cannot be used at all; the error names it.
  virtual caf::error connect(const std::string& endpoint, callbacks cb) = 0;

  /// Queues `msg` (route frames first, as on the wire). Never blocks and never
  /// drops: the caller bounds what it queues by the bytes on_sent reports.
  virtual void send(wire::cc_message msg) = 0;

  /// Sends what is still queued for at most the linger time, then closes the
  /// link. Blocks up to that long; idempotent.
  virtual void close() = 0;

  /// close() without waiting, for an actor on CAF's scheduler: `done` runs
  /// (on any thread) once the link is closed. By default it is close() and
  /// then `done`, which waits: only transports that override it may be
  /// closed from a scheduled actor (transport_closes_async).
  virtual void close_async(std::function<void()> done) {
    close();
    if (done)
      done();
  }

  /// The remote's echo answer offered a data connection on `port` (0: none
  /// offered): a transport that can, carries pub.logtail there
  /// (actors/link/data_link.hpp). None by default.
  virtual void offer_data(int port) {
    (void) port;
  }

  /// Whether its data connection is up now, as a cell the tailers read
  /// (ack_registry::set_forwarder_data); null: it never has one.
  virtual std::shared_ptr<const std::atomic<bool>> data_up() const {
    return nullptr;
  }

  /// Its data connection as other threads may send on it (the forwarder's
  /// door, actors/link/forwarder_door.hpp); null: it never has one.
  virtual std::shared_ptr<data_gate> data_path() const {
    return nullptr;
  }

  /// Adds the transport's own counters to the forwarder's stats (the CAF
  /// link's connect failures, lost links); thread-safe. None by default.
  virtual void add_stats(counters& out) const {
    (void) out;
  }
};

/// Whether make_transport gives `endpoint` a transport whose close_async
/// does not wait (ZeroMQ: the socket drains on the I/O loop). The CAF
/// transport's close waits for its link actor, so its forwarder runs detached.
bool transport_closes_async(const std::string& endpoint);

/// The transport for `endpoint` by its scheme: tcp://, ipc:// and inproc://
/// give a ZeroMQ DEALER with `opts`; anything else is errc::config_invalid
/// naming the endpoint. `who` prefixes the transport's own log lines.
caf::expected<std::unique_ptr<transport>>
make_transport(const std::string& endpoint, const zmq_options& opts,
               std::string who);

} // namespace cc
