// The sender identity of a message: see peer.hpp.
#include "wire/peer.hpp"

namespace cc::wire {

namespace {

std::string joined(const std::set<std::string, std::less<>>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ",") + n;
  return out;
}

} // namespace

bool peer_identity::bound() const {
  return !hosts.empty() || !carries.empty() || carries_any;
}

bool peer_identity::may_write(std::string_view hostname) const {
  return !bound() || carries_any || hosts.count(hostname) > 0
         || carries.count(hostname) > 0;
}

std::string peer_identity::binding_text() const {
  std::string out;
  if (!hosts.empty())
    out = "host=" + joined(hosts);
  if (carries_any || !carries.empty())
    out += (out.empty() ? "relay=" : " relay=")
           + (carries_any ? std::string{"*"} : joined(carries));
  return out.empty() ? std::string{"unbound"} : out;
}

std::string peer_identity::name() const {
  return "client key " + key + (label.empty() ? std::string{} : " ('" + label + "')");
}

} // namespace cc::wire
