// The forwarder (handler `proxy`): passes every message it is handed to a
// remote server over its transport (a ZeroMQ DEALER connected to remote-cc)
// and carries the replies back to this server's router, which delivers them
// along their route frames.
//
// Takes:  (dispatch_atom, cc_message)      -> ok_atom once the message is
//              queued. The outgoing queue is bounded by queue-bytes: when full
//              the answer waits (response promise) until there is room; that
//              is the back-pressure on the sender. Nothing is dropped.
//         (reply_atom, cc_message)         from the transport: a message from
//              the remote, route as received. route[0] == this forwarder's
//              own frame (wire::local_route_frame("proxy:" + section)): a pong
//              to its ping, handled here; anything else goes to the router.
//         (sent_atom, uint64_t bytes)      from the transport, only while
//              messages wait for room (send_meter.waiters): room again.
//              Otherwise the transport's thread only updates send_meter.
//         (linkstate_atom, bool up, peer)  from the transport: logged, counted
//         (ping_atom)                      timer: every `ping` seconds
//         (probe_atom)                     timer: the probe's answer is late,
//              or the remote asked to be probed again
//         (reprobe_atom)                   timer: the probe is still
//              unanswered; send it again (every ack_probe_retry)
//         (stats_atom)                     -> counters: received, lane
//              (fragments of this process's tailers its door took past the
//              router, actors/link/forwarder_door.hpp), sent,
//              queued_bytes, waiting, replies, invalid, pings, pongs,
//              connected, reconnects, probes, host_denied (pub.logtail and
//              pub.infofile of a CURVE key bound to other host names: not
//              carried on, answered `denied`; actors/link/host_binding.hpp), the
//              gauge remote_acks (0 unknown, 1 yes, 2 no), the data
//              connection's data_* (zmq_transport::add_stats), link_down_ms
//              (since the link went down, or since start when it never came
//              up; 0 while up) and, with ping, last_pong_age_ms
// Sends:  router <- (reply_atom, cc_message), and the `denied` acks of
//              messages it does not carry on
//         remote <- echo.request with route [own frame] every `ping` seconds;
//              a warning when no pong came for ping-timeout, an info line when
//              pongs resume.
//         remote <- echo.request (the probe) at every connect: its pong says
//              whether the remote acknowledges (`acks`, actors/core/ack_caps.hpp);
//              learned into the process's ack_registry, for ack = auto.
//              Its `data_port` (docs/wire.md §6.8) goes to the transport
//              (offer_data), which opens the data connection for
//              pub.logtail where it may.
// With a ZeroMQ link it runs on CAF's scheduler: at an exit its link drains
// within zmq_linger on the I/O loop and the actor quits once the
// link is closed (closed_atom), taking nothing more meanwhile. With a caf://
// link it runs detached: that link's close waits for its link actor.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/response_promise.hpp>

#include "actors/core/ack_caps.hpp"
#include "actors/core/atoms.hpp"
#include "actors/core/router.hpp"
#include "actors/core/spawn_context.hpp"
#include "actors/link/host_binding.hpp"
#include "actors/link/transport.hpp"
#include "base/room_meter.hpp"
#include "config/config.hpp"
#include "wire/message.hpp"

namespace cc {

class forwarder_door;

struct forwarder_settings {
  /// The proxy schema's defaults (config::reader::defaults("proxy")).
  forwarder_settings();

  std::string section;           // "h:forward"
  std::string remote;            // remote-cc
  uint64_t queue_bytes{};
  double ping_interval{};        // seconds; 0: no pings
  double ping_timeout{};         // seconds without a pong before a warning
  std::string hostname;          // sent in echo.request bodies
};

/// How long a probe waits for its pong before the remote is taken for an
/// original CC without an echo route (it never answers echo.request).
constexpr double ack_probe_timeout = 10;
/// While the remote has not answered, the probe goes again this often (at
/// most max_unanswered_probes out): one lost at the remote's start costs
/// seconds, not a wrong verdict at ack_probe_timeout.
constexpr double ack_probe_retry = 2;
/// How often a remote that answered `acks: false` (one of ours that cannot
/// acknowledge yet: a relay whose own remote is unknown) is asked again.
constexpr double ack_probe_again = 10;
/// Probes queued without an answer at most: a link that keeps failing its
/// handshake (a refused CURVE key reconnects several times a second) does
/// not pile them up in the queue.
constexpr int max_unanswered_probes = 3;

/// The settings of a proxy section (remote-cc, queue-bytes, ping,
/// ping-timeout).
forwarder_settings forwarder_settings_from(const config::section& sec,
                                           const std::string& hostname);

/// The forwarder's bookkeeping, free of CAF scheduling so it can be tested
/// directly. Time is passed in as epoch seconds.
struct forwarder_state {
  forwarder_settings settings;
  std::string who;         // "forwarder[h:forward]" for log lines
  std::string own_frame;   // route frame naming this forwarder (pings)
  std::unique_ptr<transport> link;

  /// What the transport's thread updates as messages leave: the actor
  /// hears of it (sent_atom) only while messages wait for room, not once
  /// per message sent.
  struct send_meter : room_meter {    // queued: handed over, not yet sent
    std::atomic<int64_t> sent{0};      // messages handed to ZeroMQ
    /// On the transport's thread: `bytes` left. Returns whether the actor
    /// must be told (messages wait for room).
    bool record(uint64_t bytes) {
      ++sent;
      return done(bytes);
    }
  };
  std::shared_ptr<send_meter> meter = std::make_shared<send_meter>();
  /// This process's tailers' way past the router into the data connection
  /// (actors/link/forwarder_door.hpp); null in tests without one.
  std::shared_ptr<forwarder_door> door;
  /// Messages waiting for room, with the answer their sender waits for.
  std::deque<std::pair<wire::cc_message, caf::response_promise>> waiting;

  double last_pong = 0;        // epoch seconds (start time before the first)
  double last_ping = 0;
  bool pong_missing = false;   // a warning was written; cleared by a pong
  bool connected = false;
  double link_changed = 0;     // epoch seconds of the last up/down (start)
  int64_t connects = 0;
  log_limiter link_log{std::chrono::seconds{30}};  // flapping links: see on_link

  int64_t received = 0;    // dispatches taken
  int64_t replies = 0;     // messages from the remote passed to the router
  int64_t invalid = 0;     // frames from the remote that did not parse
  int64_t pings = 0;
  int64_t pongs = 0;
  /// Keys bound to host names: on a relay, messages of bound keys claiming
  /// a host their binding does not allow are not carried on.
  host_binding_check host_check{"forwarder"};

  /// What the remote said about acknowledgements, and where that is shared
  /// with the senders (null: nobody asks, as in tests).
  peer_acks remote_acks = peer_acks::unknown;
  peer_acks remote_zstd = peer_acks::unknown;  // its echo answer's `zstd`
  std::shared_ptr<ack_registry> acks_registry;
  /// When the oldest unanswered probe went out on the current connection
  /// (epoch s; 0: none). Only a connection that stays up that long without
  /// a pong says "no echo route".
  double probe_sent = 0;
  int unanswered_probes = 0;
  bool probe_again = false;  // the remote answered acks: false
  int64_t probes = 0;

  forwarder_state() = default;
  ~forwarder_state();
  forwarder_state(const forwarder_state&) = delete;
  forwarder_state& operator=(const forwarder_state&) = delete;

  void init(forwarder_settings s);

  /// Whether a message of `size` bytes may go to the transport now. An empty
  /// queue always takes one message, so one larger than queue-bytes passes.
  bool has_room(uint64_t size) const;

  /// Bytes handed to the transport and not yet given to ZeroMQ.
  uint64_t queued_bytes() const { return meter->queued.load(); }

  /// Takes a dispatched message: queued now (true; answer ok) or put in
  /// `waiting` with `promise` (false; answer later, from release()). Order
  /// is kept: nothing overtakes a waiting message.
  bool admit(wire::cc_message msg, caf::response_promise promise);

  /// Hands `msg` to the transport now, counting it in queued_bytes.
  void send_now(wire::cc_message msg);

  /// Moves waiting messages to the transport while there is room and
  /// returns their promises, to be answered ok.
  std::vector<caf::response_promise> release();

  /// The transport reports `bytes` gone (meter->record), then release().
  std::vector<caf::response_promise> on_sent(uint64_t bytes);

  /// A message from the remote: the pong body (nullopt after counting it)
  /// when route[0] is our own frame; else the message to give the router.
  /// Returns {is_pong, message}.
  std::pair<bool, wire::cc_message> classify(wire::cc_message msg) const;

  /// Handles a pong body received at `now`: counts it, logs late/unknown
  /// ones, and an info line when pongs resume after a warning.
  void on_pong(const wire::cc_message& msg, double now);

  /// The echo.request to send at `now` (route: our own frame).
  wire::cc_message make_ping(double now);

  /// The same request as a probe for the remote's `acks` (at every connect,
  /// and again while it answers acks: false); none while
  /// max_unanswered_probes are out.
  std::optional<wire::cc_message> make_probe(double now);

  /// A pong said `advertised` (nullopt: no `acks` field, an original CC):
  /// records it, logs a change, publishes it in acks_registry.
  void learn_acks(std::optional<bool> advertised);
  /// The same pong's `zstd` (nullopt: absent, no zstd): published in
  /// acks_registry for tailers with compression = zstd; a change is logged.
  void learn_zstd(std::optional<bool> advertised);

  /// The probe timer fired at `now`: no answer for ack_probe_timeout on a
  /// connection that stayed up means an original CC without an echo route.
  /// Whether to probe again now.
  bool on_probe_timer(double now);
  /// Whether the probe on this connection is still unanswered, before its
  /// verdict: it is sent again (ack_probe_retry).
  bool probe_unanswered(double now) const;

private:
  /// An echo.request to the remote with our own frame.
  wire::cc_message echo_request(double now) const;

public:

  /// At a ping tick: whether to warn that no pong came for ping-timeout
  /// (once, until pongs resume); the warning text when so.
  std::optional<std::string> check_pongs(double now);

  void on_link(bool up, const std::string& peer);

  counters stats() const;

  static inline const char* name = "forwarder";
};

} // namespace cc
