// Who sent a message, as this process authenticated it: the CURVE client key
// of the connection it came in on and what that key's curve-allowed-keys line
// binds it to (docs/security.md, "Keys bound to host names"). In-process
// only, like cc_message::receipt: never on the wire, never serialized. The
// gateway attaches one to every message of a CURVE connection; messages from
// in-process senders, plain sockets and caf:// links carry none.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

namespace cc::wire {

struct peer_identity {
  std::string key;   // Z85 text of the client's public key
  std::string label; // the allow-list line's comment ("" when none)
  int line = 0;      // that line's number in the allow-list
  /// host=: the host names its own fragments may claim.
  std::set<std::string, std::less<>> hosts;
  /// relay=: the other hosts' fragments it may carry; `carries_any`: relay=*.
  std::set<std::string, std::less<>> carries;
  bool carries_any = false;

  /// Whether the line binds the key at all (host= or relay=). An unbound
  /// key may write as any host, as before bindings existed.
  bool bound() const;
  /// Whether a message of this key may claim `hostname`.
  bool may_write(std::string_view hostname) const;
  /// The binding as written in the allow-list: "host=db1 relay=web1,web2".
  std::string binding_text() const;
  /// For log lines: "client key KEY ('label')".
  std::string name() const;
};

using peer_ptr = std::shared_ptr<const peer_identity>;

} // namespace cc::wire
