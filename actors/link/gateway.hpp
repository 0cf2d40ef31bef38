// The ZeroMQ gateway: the ROUTER socket bound on cc-socket, on the process's
// I/O loop (zmq_socket_loop; only the loop thread touches it). Incoming
// multipart messages are parsed (wire::parse) on that thread and sent to the
// router as
// (dispatch_atom, cc_message); frames that fail to parse are logged
// (rate-limited) and counted as `invalid`, never routed.
//
// Takes:  (reply_atom, cc_message)   send out of cc-socket; route[0] is the
//                                    peer identity (ROUTER pops it); on that
//                                    peer's data connection when one is open
//         (router_atom, actor)       -> ok_atom: deliver to this router from now
//                                    on; a null actor pauses reading until the
//                                    next one (config reload: nothing is lost)
//         (stats_atom)               -> counters: received, invalid, sent,
//              bytes_in, bytes_out, queued_bytes, unroutable, dropped,
//              oversize, disconnects, handshake_failed; with CURVE also
//              curve_accepted, curve_refused, delisted_dropped, and the
//              gauges allowed_keys and bound_keys (keys bound to host names)
//         (reload_atom, secret_key_path, allowed_keys_path)
//                                    -> ok_atom: SIGHUP: re-reads the allow-list
//                                    (connections of keys still listed stay;
//                                    messages of removed keys are dropped and
//                                    counted from now on). An unreadable list
//                                    keeps the old one (error answer); a changed
//                                    secret key needs a restart (warning).
//              with a data port (data_listen.hpp) also data_port,
//              data_accepted, data_open, data_messages, data_bytes_in,
//              data_refused, data_replies, data_bytes_out, data_direct,
//              data_direct_replies, and the receive pool's (receive_pool.hpp)
//              data_pool_hits, data_pool_misses, data_pool_unmapped,
//              data_pool_kept_bytes, data_pool_in_use
//         (closed_atom)              internal: the socket closed after an exit
// Sends:  router <- (dispatch_atom, cc_message), from the loop thread;
//                                    route[0]: the peer identity. A data
//                                    connection's message goes to its
//                                    handler's door instead where the route
//                                    table names one handler that has one
//                                    (direct lane: actors/core/direct_lanes.hpp),
//                                    and replies may come back on it from
//                                    that handler's thread directly
// On exit (exit_msg) the loop sends what is queued (within
// zmq_linger), closes the socket and ends; the actor, on CAF's scheduler,
// waits for that without blocking (closed_atom from the loop thread) and
// then quits with the exit's reason. A killed gateway (no exit handler runs)
// waits for its socket in its state's destructor.
//
// CURVE ([ccserver] curve-secret-key, curve-allowed-keys): the socket is a
// CURVE server; its zap_handler (actors/link/zap.hpp), asked by the process's
// one ZAP socket for this socket's ZAP domain, lets in listed client keys
// only. A plain ZeroMQ client fails the handshake
// (counted as handshake_failed, logged once per address). ZAP runs only at
// the handshake, so each message's User-Id (its client key) is checked
// against the current list too: a key removed by a reload is cut off at its
// next message, even on a connection that stays up (ZeroMQ cannot close one
// peer of a ROUTER). Each message gets its key's identity (wire::peer_ptr:
// the key and its allow-list binding, host= / relay=) as the list has it
// when the message is read; the writers refuse a fragment whose claimed
// host the binding does not allow (actors/link/host_binding.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/core/router_actor.hpp"
#include "actors/core/atoms.hpp"
#include "actors/core/direct_lanes.hpp"
#include "actors/core/router.hpp"
#include "actors/link/curve_keys.hpp"
#include "actors/link/data_listen.hpp"
#include "config/config.hpp"
#include "wire/message.hpp"

namespace cc {

class zmq_socket_loop;
class zap_handler;
struct zmq_options;

/// What the socket's loop thread and the gateway actor share: where
/// incoming messages go, and the counters only the socket's side knows.
struct gateway_inbox : std::enable_shared_from_this<gateway_inbox> {
  std::mutex mtx;                       // guards router, held, invalid_log,
                                        // socket (once running)
  router_actor router;                    // null: paused (messages are held)
  std::vector<wire::cc_message> held;   // parsed while paused
  std::vector<bool> held_direct;        // ... and which came on a data connection
  log_limiter invalid_log;              // one line per 10 s for bad frames
                                        // (and for back-pressure pauses)
  std::atomic<int64_t> dispatched{0};
  std::atomic<int64_t> invalid{0};
  // Back-pressure: wire bytes handed to the router whose handlers have not
  // all answered yet (the message's receipt is released then).
  // Past in_flight_budget the socket stops reading (ZeroMQ's queues, bounded
  // by the HWM, and then TCP hold the rest); below half of it, it reads
  // again. So a flooding peer cannot grow this process without bound, and
  // ZeroMQ's fair queueing keeps serving the other peers meanwhile.
  std::atomic<int64_t> in_flight_bytes{0};
  int64_t in_flight_budget = 8ll << 20;
  std::atomic<int64_t> throttled{0};    // times reading was paused for it
  std::atomic<bool> paused{false};      // reading is paused for the budget
  // Guards the pause's start and end (paused, socket's throttle): not mtx,
  // since a receipt may be released inside forward() itself (a message the
  // direct lane's door refused at once).
  std::mutex pause_mtx;
  zmq_socket_loop* socket = nullptr;  // set before the socket starts
  /// Where data connections' messages go when a handler takes them
  /// directly (null: always the router; actors/core/direct_lanes.hpp).
  direct_lanes_ptr lanes;

  /// The router is done with a message of `bytes` (its receipt was
  /// released, on the router's thread): may resume reading.
  void on_answered(int64_t bytes);

  /// Takes one multipart message from the socket (`last`: its final frame
  /// when the socket kept it as a blob; `peer`: its sender's CURVE identity,
  /// null without CURVE): parses it and sends it to the router (or holds it
  /// while paused); a parse failure is counted and logged, rate-limited.
  /// `direct`: a data connection's message, which may take the direct lane.
  void on_frames(std::vector<std::string>&& frames, wire::blob_ptr&& last,
                 wire::peer_ptr&& peer, bool direct = false);
  /// Points the gateway at `r` (null: pause); sends what was held.
  void set_router(router_actor r);
  /// The gateway is gone: no router, no socket (receipts still in flight
  /// then only count).
  void detach_socket();

private:
  // With mtx held: starts a pause for the budget, unless one runs or an
  // answer meanwhile made room; whether it did.
  bool pause();
  // With mtx held: sends `msg` to the router (or, `direct`, through the
  // direct lane when a door takes it) with a receipt for its bytes.
  void forward(wire::cc_message&& msg, bool direct);
public:
};

struct gateway_state {
  std::shared_ptr<zmq_socket_loop> socket;
  std::shared_ptr<gateway_inbox> inbox;
  std::shared_ptr<zap_handler> zap;     // null: no CURVE
  std::shared_ptr<data_listener> data;  // null: no data-port
  std::shared_ptr<std::atomic<int>> data_offer; // where its port is published
  direct_lanes_ptr lanes;               // its reply path is set there
  std::string secret_key_path;          // as started
  std::string allowed_keys_path;
  bool stopping = false;                // exit_msg taken, socket draining
  caf::error exit_reason;               // quit with this once it closed

  gateway_state() = default;
  /// Closes the data port and withdraws its offer (if still ours).
  void stop_data();
  /// Stops the socket (drain within linger, close; waits): runs when
  /// the actor exits, whoever else still holds the shared pointers.
  ~gateway_state();
  gateway_state(const gateway_state&) = delete;
  gateway_state& operator=(const gateway_state&) = delete;

  /// Hands `msg` to the socket (counts a message without a route as
  /// unroutable instead: it names no peer).
  void send(wire::cc_message msg);
  counters stats() const;
  /// Re-reads the allow-list (SIGHUP); see (reload_atom, ...) above.
  caf::error reload(const std::string& secret_key_path,
                    const std::string& allowed_keys_path);

  static inline const char* name = "gateway";
};

/// The CURVE settings of [ccserver] (`o` from zmq_options_of): with
/// curve-secret-key, reads the secret key into `o` (CURVE on) and the
/// allow-list (required then) into `allowed`. Errors (errc::config_invalid)
/// name the section, key and path: an unreadable or group/other-readable
/// secret key, a malformed key or binding, an unreadable allow-list, one of
/// the two keys without the other.
caf::error load_gateway_keys(zmq_options& o, curve::allow_list& allowed);

/// Binds `main`'s cc-socket with its zmq_* options and spawns the gateway.
/// Errors name the endpoint ("gateway: tcp://0.0.0.0:22632: cannot bind:
/// Address already in use").
/// With `data_offer`, and where cc-socket is tcp:// without CURVE and
/// `data-port` is not -1, it also listens for data connections
/// (data_listen.hpp) on cc-socket's host and publishes the port there
/// (for the echo answers; 0 again when it stops).
/// With `lanes`, a data connection's messages take the direct lane where
/// a handler's door takes them, and replies to it may come straight back.
caf::expected<caf::actor> spawn_gateway(caf::actor_system& sys,
                                        const config::section& main,
                                        router_actor router,
                                        std::shared_ptr<std::atomic<int>> data_offer = nullptr,
                                        direct_lanes_ptr lanes = nullptr);

} // namespace cc
