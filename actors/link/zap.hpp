// The ZAP handler (ZeroMQ RFC 27) of a Curve-encrypted cc-socket: decides
// at each CURVE handshake whether the client's public key is on the
// allow-list. It owns one thread with a REP socket bound on
// inproc://zeromq.zap.01 in the gateway socket's own ZeroMQ context (ZAP is
// per context); no other thread touches that socket.
//
// Contract with the gateway's socket thread: start(ctx) binds before the
// ROUTER binds (libzmq lets every CURVE client in when no handler is bound),
// stop() closes the REP socket after the ROUTER is closed and before
// zmq_ctx_term. The allow-list is shared: set_allowed() (SIGHUP reload),
// is_allowed() and identity_of() (a per-message check of connected peers)
// may be called from any thread.
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
#include <thread>
#include <vector>

#include <caf/error.hpp>

#include "actors/core/router.hpp"
#include "actors/link/curve_keys.hpp"

namespace cc {

class zap_handler {
public:
  /// `allowed`: the client public keys let in (Z85 texts) with their
  /// identities. `who` names the handler in log lines ("gateway").
  zap_handler(curve::allow_list allowed, std::string who);
  ~zap_handler();
  zap_handler(const zap_handler&) = delete;
  zap_handler& operator=(const zap_handler&) = delete;

  /// Binds the REP socket in `ctx` and starts the thread; returns once bound.
  caf::error start(void* ctx);

  /// Closes the REP socket and joins the thread. Idempotent.
  void stop();

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

  /// What the handler thread answers to one ZAP request (frames after the
  /// REQ envelope): the reply frames. Pure apart from counting and logging.
  std::vector<std::string> answer(const std::vector<std::string>& request);

  std::atomic<int64_t> accepted{0};  // handshakes let in
  std::atomic<int64_t> refused{0};   // handshakes refused (key not listed)
  std::atomic<int64_t> malformed{0}; // requests not in RFC 27 form

private:
  void run();

  std::string who_;
  mutable std::mutex mtx_;                          // guards allowed_, log_
  std::shared_ptr<const curve::allow_list> allowed_;
  log_limiter log_;                                 // once per key+address

  void* rep_ = nullptr;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

} // namespace cc
