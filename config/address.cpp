#include "config/address.hpp"

#include <cstdlib>
#include <cstring>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace cc::config {

namespace {

bool loopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    auto addr = ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr);
    return (addr >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const auto& a6 = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a6))
      return true;
    // ::ffff:127.x.y.z
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
  }
  return false;
}

} // namespace

bool split_host_port(const std::string& text, std::string& host, std::string& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  host = text.substr(0, colon);
  port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty() || port.size() > 5)
    return false;
  for (char c : port)
    if (c < '0' || c > '9')
      return false;
  auto n = std::atoi(port.c_str());
  return n >= 1 && n <= 65535;
}

bool is_loopback_host(const std::string& host, std::string& why) {
  // Names other than localhost are not looked up: a check that asks DNS
  // would be slow or wrong where it runs (and the server binds a number).
  for (const char* name :
       {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
    if (host == name)
      return true;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) {
    why = "'" + host + "' is a host name, not a loopback address";
    return false;
  }
  bool all = res != nullptr;
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next)
    all = all && loopback(ai->ai_addr);
  ::freeaddrinfo(res);
  if (!all)
    why = "'" + host + "' is not a loopback address";
  return all;
}

} // namespace cc::config
