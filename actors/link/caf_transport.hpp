// The forwarder's CAF transport (remote-cc = caf://HOST:PORT): the link to a
// remote node's CAF gateway (actors/link/caf_listen), behind the same seam as the
// ZeroMQ DEALER (actors/link/transport.hpp).
//
// The link is a small event-based actor (caf_link) owned by the transport:
//   - it connects with a request to the middleman actor (connect_atom), which
//     does the TCP connect and the CAF handshake on the middleman's own
//     detached thread, so no scheduler thread blocks; through CAF's OpenSSL
//     module when [ccserver] has caf-certificate/-key/-cafile;
//   - it monitors the remote gateway; a down message (connection lost, node
//     killed) logs, reports the link down and reconnects with a backoff from
//     0.1 s doubling up to 2 s (as the ZeroMQ transport's reconnect);
//   - each message goes to the remote gateway as a request
//     (dispatch_atom, cc_message); on_sent fires when the remote router
//     accepted it, so the forwarder's queue-bytes bounds what is in flight
//     end to end and the middleman's buffers never grow with a backlog;
//   - while disconnected, messages wait in the link (not reported sent), so
//     the forwarder's bounded queue fills and pushes back on its senders;
//     messages in flight when the link drops (unanswered) are queued again
//     in their order and sent after the reconnect (counted `requeued`): a
//     resent pub.logtail is harmless, the tailwriter's fpos check skips what
//     it already holds; other types may arrive twice, where ZeroMQ would
//     lose them.
//   - replies from the remote arrive as (reply_atom, cc_message) and go to
//     on_message with their route as received.
//
// Counters added to the forwarder's stats: caf_connect_failures,
// caf_links_lost, caf_requeued, caf_remote_errors, ranges_read, ranges_gone,
// and the gauges in_flight (sent, unanswered) and pending (waiting for the
// link).
//
// caf_link takes: (dispatch_atom, cc_message) from the transport (send),
//   (reply_atom, cc_message) from the remote, (connect_atom, internal) reconnect timer,
//   (drain_atom, shared promise) from close().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/core/atoms.hpp"
#include "actors/link/transport.hpp"
#include "config/config.hpp"

namespace cc {

/// Counters of one CAF link, written by the link actor, read by the
/// forwarder's stats.
struct caf_link_counters {
  std::atomic<int64_t> connect_failures{0}; // refused, unreachable, TLS
  std::atomic<int64_t> links_lost{0};       // down after being up
  std::atomic<int64_t> requeued{0};         // in flight when the link dropped
  std::atomic<int64_t> remote_errors{0};    // error answers of the remote
  std::atomic<int64_t> in_flight{0};        // gauge: sent, not answered
  std::atomic<int64_t> held{0};             // gauge: waiting for the link
  std::atomic<int64_t> ranges_read{0};      // fragments read from their file as sent
  std::atomic<int64_t> ranges_gone{0};      // their bytes gone: message dropped
};

struct caf_link_shared; // the counters and the drain signal

class caf_transport : public transport {
public:
  /// `tls`: connect through CAF's OpenSSL module (loaded by main).
  /// `linger_ms`: how long close() lets queued messages leave.
  caf_transport(caf::actor_system& sys, bool tls, int linger_ms,
                std::string who);
  ~caf_transport() override;

  caf::error connect(const std::string& endpoint, callbacks cb) override;
  void send(wire::cc_message msg) override;
  void close() override;
  void add_stats(counters& out) const override;

private:
  caf::actor_system& sys_;
  bool tls_;
  int linger_ms_;
  std::string who_;
  std::shared_ptr<caf_link_shared> shared_;
  caf::actor link_;
};

/// make_transport for the forwarder: caf:// gives a caf_transport (TLS when
/// main's caf-certificate is set); everything else as make_transport(endpoint,
/// opts, who).
caf::expected<std::unique_ptr<transport>>
make_transport(caf::actor_system& sys, const config::section& main,
               const std::string& endpoint, const zmq_options& opts,
               std::string who);

} // namespace cc
