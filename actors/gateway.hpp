// The ZeroMQ gateway: the ROUTER socket bound on cc-socket, owned by one thread
// that no other thread touches (zmq_socket_thread). Incoming multipart messages
// are parsed (wire::parse) on that thread and sent to the router as
// (dispatch_atom, cc_message); frames that fail to parse are logged
// (rate-limited) and counted as `invalid`, never routed.
//
// Takes:  (reply_atom, cc_message)   send out of cc-socket; route[0] is the
//                                    peer identity (ROUTER pops it)
//         (router_atom, actor)       -> ok_atom: deliver to this router from now
//                                    on; a null actor pauses reading until the
//                                    next one (config reload: nothing is lost)
//         (stats_atom)               -> counters: received, invalid, sent,
//              bytes_in, bytes_out, queued_bytes, unroutable, dropped
// Sends:  router <- (dispatch_atom, cc_message)   route[0]: the peer identity
// On exit the socket thread sends what is queued (within zmq_linger), closes
// the socket and ends; the actor runs detached, so that wait blocks no one.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/atoms.hpp"
#include "actors/router.hpp"
#include "config/config.hpp"
#include "wire/message.hpp"

namespace cc {

class zmq_socket_thread;

/// What the socket thread and the gateway actor share: where incoming
/// messages go, and the counters only the socket thread's side knows.
struct gateway_inbox {
  std::mutex mtx;                       // guards router, held, invalid_log
  caf::actor router;                    // null: paused (messages are held)
  std::vector<wire::cc_message> held;   // parsed while paused
  log_limiter invalid_log;              // one line per 10 s for bad frames
  std::atomic<int64_t> dispatched{0};
  std::atomic<int64_t> invalid{0};

  /// Takes one multipart message from the socket: parses it and sends it to
  /// the router (or holds it while paused); a parse failure is counted and
  /// logged, rate-limited.
  void on_frames(std::vector<std::string>&& frames);
  /// Points the gateway at `r` (null: pause); sends what was held.
  void set_router(caf::actor r);
};

struct gateway_state {
  std::shared_ptr<zmq_socket_thread> socket;
  std::shared_ptr<gateway_inbox> inbox;

  gateway_state() = default;
  /// Stops the socket thread (drain within linger, close, join): runs when
  /// the actor exits, whoever else still holds the shared pointers.
  ~gateway_state();
  gateway_state(const gateway_state&) = delete;
  gateway_state& operator=(const gateway_state&) = delete;

  /// Hands `msg` to the socket thread (counts a message without a route as
  /// unroutable instead: it names no peer).
  void send(wire::cc_message msg);
  counters stats() const;

  static inline const char* name = "gateway";
};

/// Binds `main`'s cc-socket with its zmq_* options and spawns the gateway.
/// Errors name the endpoint ("gateway: tcp://0.0.0.0:22632: cannot bind:
/// Address already in use").
caf::expected<caf::actor> spawn_gateway(caf::actor_system& sys,
                                        const config::section& main,
                                        caf::actor router);

} // namespace cc
