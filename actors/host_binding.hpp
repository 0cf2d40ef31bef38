// Keys bound to host names (docs/security.md): the check the writers make
// once a message's body is parsed, of the host name it claims against what
// its sender's curve-allowed-keys line allows (the identity the gateway put
// in cc_message::peer, wire/peer.hpp). A plain class, no actor: the
// tailwriter and the infowriter each own one, on their own thread.
//
// A refusal is counted every time and logged once per key and claimed host
// per 10 minutes, with the count of the refusals in between; the sender is
// answered `denied` with the same words (the writers build the ack: a
// logtail.ack with denied_ack() below, an infofile.ack with info::make_ack),
// and keeps its data: the operator fixes the binding (SIGHUP) and delivery
// resumes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/router.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

namespace cc {

class host_binding_check {
public:
  /// `who` names the writer in log lines ("h:tailwriter").
  explicit host_binding_check(std::string who);

  /// Whether `peer` may write as `hostname`: nullopt when it may (no peer:
  /// an in-process sender, a plain socket or a caf:// link; an unbound key).
  /// Otherwise the refusal, one line for the sender's ack, counted and
  /// logged (rate-limited) with `what` (the message type and file) added.
  std::optional<std::string> refuse(const wire::peer_ptr& peer,
                                    const std::string& hostname,
                                    const std::string& what);

  /// Refusals so far (the writers' `host_denied` counter).
  int64_t denied() const { return denied_; }

private:
  std::string who_;
  int64_t denied_ = 0;
  log_limiter log_;
};

/// The logtail.ack telling the sender of `fragment` (its route, its source
/// and generation) that the writer will not take it now: status "denied",
/// `fpos` the fragment's own (nothing is acknowledged), `detail` why.
/// `hostname` and `writer` are the writer's (docs/wire.md §6.2).
wire::cc_message denied_ack(const std::vector<std::string>& route,
                            const wire::logtail_body& fragment, std::string detail,
                            const std::string& hostname, const std::string& writer);

} // namespace cc
