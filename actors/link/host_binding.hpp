// Keys bound to host names (docs/security.md): the check the writers make
// once a message's body is parsed, of the host name it claims against what
// its sender's curve-allowed-keys line allows (the identity the gateway put
// in cc_message::peer, wire/peer.hpp). A plain class, no actor: the
// tailwriter and the infowriter each own one, on their own thread.
//
// A refusal is counted every time and logged once per key and claimed host
// per 10 minutes, with the count of the refusals in between; the sender is
// answered `denied` with the same words (denied_reply() below builds the
// logtail.ack or logtail.state, info::make_ack the infofile.ack),
// and keeps its data: the operator fixes the binding (SIGHUP) and delivery
// resumes. A relay's forwarder, which parses no bodies otherwise, makes the
// same check with screen() for messages of bound keys, so a relay's own
// bindings hold before it carries anything on under its key.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/core/router.hpp"
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
  /// logged (rate-limited) with the message's `type` and `file` added. The
  /// common answer (it may) builds no string: it is asked per fragment.
  std::optional<std::string> refuse(const wire::peer_ptr& peer,
                                    const std::string& hostname, const std::string& type,
                                    const std::string& file);

  /// What screen() decides for one message.
  struct verdict {
    bool denied = false;
    /// The `denied` answer for its sender, when it asked for acks.
    std::optional<wire::cc_message> reply;
  };

  /// For a forwarder: a pub.logtail[.x] or pub.infofile[.x] whose sender's
  /// key is bound is parsed and checked (refuse() above); anything else, and
  /// a body that does not parse (the writer drops it), passes. `hostname`
  /// is this server's, for the answer.
  verdict screen(const wire::cc_message& msg, const std::string& hostname);

  /// Refusals so far (the `host_denied` counter).
  int64_t denied() const {
    return denied_;
  }

private:
  std::string who_;
  int64_t denied_ = 0;
  log_limiter log_;
};

/// The answer telling the sender of `fragment` (its route, its source and
/// generation) that the writer will not take it now: a fragment gets a
/// logtail.ack, a question (`query` set, docs/wire.md §6.1) a logtail.state,
/// both with status "denied" and `detail` why. Nothing is acknowledged (the
/// ack's `fpos` is the fragment's own). `hostname` and `writer` are the
/// writer's (docs/wire.md §6.2; "" from a relay).
wire::cc_message denied_reply(const std::vector<std::string>& route,
                              const wire::logtail_body& fragment, std::string detail,
                              const std::string& hostname, const std::string& writer);

} // namespace cc
