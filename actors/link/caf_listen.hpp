// The CAF gateway: the actor this node publishes through the middleman on
// `caf-listen = HOST:PORT` (plain, or TLS with caf-certificate/-key/-cafile).
// Remote forwarders (the link actors of actors/link/caf_transport) send it CC
// messages; it stands in front of the router like the ZeroMQ gateway does,
// so it survives a config reload that replaces the router.
//
// Routes over CAF work as over ZeroMQ: an incoming message gets two route
// frames pushed, [local_route_frame("@caf-listen"), peer frame], the peer
// frame naming the remote sender's actor (a ROUTER's identity frame plays the
// same part). A reply travels back: the router pops "@caf-listen" (this actor
// is registered there as that endpoint) and hands it here; we pop the peer
// frame and send the reply to that remote actor.
//
// Takes:  (dispatch_atom, cc_message)  from a remote link, as a request: the
//              router's answer (ok / error) goes back to the sender; that is
//              the remote forwarder's back-pressure. Held while paused.
//         (reply_atom, cc_message)     from the router: route[0] is a peer
//              frame; popped, and the rest goes to that peer.
//         (router_atom, actor)         -> ok_atom: deliver to this router from
//              now on (registers us there as "@caf-listen"); null pauses.
//         (stats_atom)                 -> counters: received, bytes_in,
//              replies, undeliverable, peers_lost, refused (reply_atom,
//              router_atom or stats_atom from a remote node: only dispatch
//              is for peers), and the gauges connected
//              (peers known) and pending (held while paused)
// Sends:  router <- (register_atom, "@caf-listen", self), requests
//              (dispatch_atom, cc_message)
//         peer   <- (reply_atom, cc_message)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/response_promise.hpp>

#include "actors/core/router_actor.hpp"
#include "actors/core/atoms.hpp"
#include "actors/core/router.hpp"
#include "config/config.hpp"
#include "wire/message.hpp"

namespace cc {

/// The endpoint name this gateway registers with the router.
inline constexpr const char* caf_listen_endpoint = "@caf-listen";

/// HOST:PORT split; errc::config_invalid naming `text` when malformed
/// (empty host, port not 1..65535). "[::1]:5000" gives host "::1".
caf::expected<std::pair<std::string, uint16_t>>
parse_host_port(const std::string& text);

/// The TLS files of [ccserver] (all empty: plain CAF).
struct caf_tls_settings {
  std::string certificate;
  std::string key;
  std::string cafile;
  bool enabled() const { return !certificate.empty(); }
};

caf_tls_settings caf_tls_settings_of(const config::section& main);

/// Loads the certificate chain, the key (and checks they match) and the CA
/// file with OpenSSL, as CAF's OpenSSL module will. errc::config_invalid
/// naming the key and the file with OpenSSL's reason; none when TLS is off.
caf::error check_caf_tls_files(const caf_tls_settings& tls);

/// The bookkeeping of the CAF gateway, free of scheduling so it can be
/// tested directly.
struct caf_listen_state {
  std::string own_frame = wire::local_route_frame(caf_listen_endpoint);
  std::map<std::string, caf::actor> peers;          // peer frame -> actor
  std::map<caf::actor_addr, std::string> frames;    // actor -> peer frame
  router_actor router;                                // null: paused
  std::vector<std::pair<wire::cc_message, caf::response_promise>> held;

  int64_t received = 0;
  int64_t bytes_in = 0;
  int64_t replies = 0;
  int64_t undeliverable = 0;
  int64_t peers_lost = 0;
  int64_t refused = 0;        // control messages from a remote node, ignored
  log_limiter refused_log;

  /// The frame naming `sender` (made and remembered on first sight; `fresh`
  /// says so, the caller then monitors it).
  std::string frame_of(const caf::actor& sender, bool& fresh);

  /// Pushes our frames onto an incoming message: [own, peer, ...route].
  void push_route(wire::cc_message& msg, const std::string& peer_frame) const;

  /// Where a reply goes: pops the peer frame and returns its actor; a null
  /// actor (counted undeliverable) when route[0] names no known peer.
  caf::actor reply_target(wire::cc_message& msg);

  /// A peer went away: forget it. Whether it was one of ours.
  bool forget(const caf::actor_addr& gone);

  counters stats() const;

  static inline const char* name = "caf-listen";
};

/// Spawns the CAF gateway and publishes it on main's caf-listen (bound to
/// that address only, SO_REUSEADDR), through CAF's OpenSSL module when
/// main's caf-certificate is set (the module must be loaded). It holds what
/// arrives until it gets (router_atom, router). Errors name the address
/// ("caf-listen 127.0.0.1:4242: cannot publish: ...").
caf::expected<caf::actor> spawn_caf_listen(caf::actor_system& sys,
                                           const config::section& main);

} // namespace cc
