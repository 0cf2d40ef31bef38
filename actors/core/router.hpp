// The router: owns the route table and the map from handler section names and
// in-process endpoint names to actors. Takes (dispatch_atom, cc_message) from the
// gateway and from in-process senders and hands each message to every matching
// handler; takes (reply_atom, cc_message) and delivers it along its route.
// It never parses a body, except an unrouted echo.request, which it answers
// itself with an echo.response along the route (so forwarder pings work
// against any of our servers).
//
// Takes:  (dispatch_atom, cc_message)       -> ok_atom / error, only when sent
//                                              as a request (back-pressure)
//         (reply_atom, cc_message)
//         (register_atom, name, actor)      -> ok_atom (endpoint; monitored)
//         (handler_atom, section, actor)    -> ok_atom (monitored)
//         (gateway_atom, actor)             -> ok_atom
//         (stats_atom)                      -> counters: received, routed,
//              unrouted, invalid, replies, undeliverable, bytes, handler_errors,
//              and the gauge in_flight (handler requests not answered yet)
// Sends:  handler  <- request (dispatch_atom, cc_message), the same caf::message
//                     to every handler (the blob and body are never copied)
//         endpoint <- (reply_atom, cc_message)  its own route frame popped
//         gateway  <- (reply_atom, cc_message)  unchanged: route[0] is the peer
// Message contracts: actors/core/atoms.hpp; the router's as a type:
// actors/core/router_actor.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_system.hpp>
#include <caf/error.hpp>

#include "actors/core/ack_caps.hpp"
#include "actors/core/atoms.hpp"
#include "actors/core/router_actor.hpp"
#include "routes/route_table.hpp"
#include "wire/message.hpp"

namespace cc {

struct router_config {
  routes::route_table table;
  std::string hostname;  // this server's short host name (echo responses)
  std::string job_name;  // for log lines
  /// What the router's own echo answers say of acknowledgements (null:
  /// `acks: false`).
  std::shared_ptr<const ack_registry> acks;
};

router_actor spawn_router(caf::actor_system& sys, router_config cfg);

/// Rate limit for repeated log lines: at most one line per key per interval.
/// admit() says whether to write a line now and how many were suppressed
/// since the last one. Bounded: past max_keys distinct keys it forgets the
/// quiet ones (a flood of random message types cannot grow it).
class log_limiter {
public:
  using clock = std::chrono::steady_clock;

  explicit log_limiter(clock::duration interval = std::chrono::seconds{10},
                       size_t max_keys = 1024)
    : interval_(interval), max_keys_(max_keys) {
  }

  /// nullopt: stay quiet (counted). A value: write a line now; the value is
  /// how many lines for `key` were suppressed since the previous one.
  std::optional<uint64_t> admit(const std::string& key, clock::time_point now);

  size_t size() const { return keys_.size(); }

private:
  struct entry {
    clock::time_point last;
    uint64_t suppressed = 0;
  };
  clock::duration interval_;
  size_t max_keys_;
  std::map<std::string, entry> keys_;
};

/// A message type fit for a log line: at most 64 printable ASCII characters.
std::string printable_type(const std::string& type);

struct router_state {
  router_config cfg;
  std::map<std::string, caf::actor> handlers;   // by section name
  std::map<std::string, caf::actor> endpoints;  // by endpoint name
  caf::actor gateway;
  log_limiter unrouted_log;
  log_limiter error_log;

  int64_t received = 0;        // dispatched messages taken in
  int64_t routed = 0;          // ... handed to at least one handler
  int64_t unrouted = 0;        // ... that matched no handler (dropped)
  int64_t invalid = 0;         // ... with an invalid type or a bad echo body
  int64_t replies = 0;         // reply messages taken in
  int64_t undeliverable = 0;   // ... with an empty route or unknown endpoint
  int64_t bytes = 0;           // wire size of dispatched messages
  int64_t handler_errors = 0;  // error answers from handlers
  int64_t in_flight = 0;       // gauge: handler requests not answered yet

  /// Counts an incoming dispatch (received, bytes). errc::invalid_type
  /// (counted as invalid, logged rate-limited) when its type is not
  /// dot-separated [A-Za-z0-9_-] words: an in-process sender's bug, never
  /// routed, not even to `*`.
  caf::error on_received(const wire::cc_message& msg,
                         log_limiter::clock::time_point now);

  /// The handler instances for `type`, each once, in route-table order, with
  /// their section names. Sections without a registered actor are skipped.
  std::vector<std::pair<std::string, caf::actor>>
  targets_for(const std::string& type) const;

  /// What to do with a message no handler takes: counts it and logs it
  /// (rate-limited). For an echo.request: the echo.response to send along
  /// the route (the answer to a requesting sender is then ok). Otherwise the
  /// error to answer: errc::no_route, errc::invalid_type, errc::invalid_body.
  struct unrouted_outcome {
    std::optional<wire::cc_message> echo_response;
    caf::error answer;
  };
  unrouted_outcome on_unrouted(const wire::cc_message& msg,
                               log_limiter::clock::time_point now);

  /// Where a reply goes: pops route[0] when it names an in-process endpoint
  /// and returns that endpoint; returns the gateway for a peer identity
  /// (route unchanged). A null actor: undeliverable (counted, logged at debug).
  caf::actor reply_target(wire::cc_message& msg);

  /// Counts and logs (rate-limited) a handler's error answer.
  void on_handler_error(const std::string& section, const caf::error& err,
                        log_limiter::clock::time_point now);

  /// An endpoint or handler went down: forget it unless a re-registration
  /// already replaced it with another actor.
  void on_down(const caf::actor_addr& who);

  counters stats() const;
};

} // namespace cc
