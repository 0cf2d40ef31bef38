// ZAP (ZeroMQ RFC 27) for the Curve-encrypted cc-sockets of a process: who
// may complete a CURVE handshake.
//
// libzmq asks one ZAP handler per context (a REP socket bound on
// inproc://zeromq.zap.01), and the process has one context (base/io_loop).
// So there is one handler socket per process, on the I/O loop, bound when
// the first CURVE ROUTER needs it and closed when the last one goes
// (zap_attach / zap_detach). Each CURVE ROUTER names a ZAP domain of its own
// (ZMQ_ZAP_DOMAIN); the handler hands each request to the policy registered
// for the request's domain, so two gateways in one process (a reload that
// binds a new cc-socket while the old one drains) keep their own
// allow-lists. A request for a domain nobody registered is refused.
//
// zap_handler is one socket's policy: its allow-list, the answer to a
// request, the counters. set_allowed() (SIGHUP reload), is_allowed() and
// identity_of() (a per-message check of connected peers) may be called from
// any thread; answer() runs on the loop thread.
//
// Contract with the ROUTER (zmq_roles.cpp): attach before the bind (libzmq
// lets every CURVE client in while no handler is bound), detach after the
// socket is closed.
//
// A refused client is counted every time and logged once per (key, address)
// per hour; an accepted one gets its Z85 key as ZAP user id, which libzmq
// attaches to every message of that connection as the "User-Id" property.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "actors/core/router.hpp"
#include "actors/link/curve_keys.hpp"

namespace cc {

class io_loop;

class zap_handler {
public:
  /// `allowed`: the client public keys let in (Z85 texts) with their
  /// identities. `who` names the handler in log lines ("gateway").
  zap_handler(curve::allow_list allowed, std::string who);
  zap_handler(const zap_handler&) = delete;
  zap_handler& operator=(const zap_handler&) = delete;

  /// Replaces the allow-list; returns how many keys of the old list are no
  /// longer on it.
  size_t set_allowed(curve::allow_list allowed);

  /// Whether the Z85 key is on the allow-list now.
  bool is_allowed(const std::string& z85) const;

  /// The key's identity (its binding) under the allow-list now; null when
  /// it is not on it.
  wire::peer_ptr identity_of(const std::string& z85) const;

  size_t allowed_count() const;
  /// Keys whose line binds them (host= or relay=).
  size_t bound_count() const;

  /// What the handler answers to one ZAP request (frames after the REQ
  /// envelope): the reply frames. Pure apart from counting and logging.
  std::vector<std::string> answer(const std::vector<std::string>& request);

  std::atomic<int64_t> accepted{0};  // handshakes let in
  std::atomic<int64_t> refused{0};   // handshakes refused (key not listed)
  std::atomic<int64_t> malformed{0}; // requests not in RFC 27 form

private:
  std::string who_;
  mutable std::mutex mtx_;                          // guards allowed_, log_
  std::shared_ptr<const curve::allow_list> allowed_;
  log_limiter log_;                                 // once per key+address
};

/// Loop thread only: ZAP requests naming `domain` are answered by `policy`
/// from now on; the first registration binds the process's ZAP socket in the
/// loop's context. "" or why not (the ZAP endpoint bound by someone else, a
/// domain registered twice).
std::string zap_attach(io_loop& loop, const std::string& domain,
                       std::shared_ptr<zap_handler> policy);

/// Loop thread only: undoes zap_attach (nothing when `domain` is not
/// registered); the last one closes the ZAP socket.
void zap_detach(const std::string& domain);

/// How many domains are registered (0: no ZAP socket). Any thread.
size_t zap_domains();

/// A ZAP domain no other socket of this process has, for `who`'s socket.
std::string unique_zap_domain(const std::string& who);

} // namespace cc
