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

std::string text_of(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf,
              sizeof(buf));
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf,
              sizeof(buf));
  return buf;
}

} // namespace

bool split_host_port(const std::string& text, std::string& host,
                     std::string& port) {
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
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0) {
    why = "'" + host + "' does not resolve: " + gai_strerror(rc);
    return false;
  }
  bool all = res != nullptr;
  std::string outside;
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next)
    if (!loopback(ai->ai_addr)) {
      all = false;
      outside = text_of(ai->ai_addr);
      break;
    }
  ::freeaddrinfo(res);
  if (!all)
    why = "'" + host + "' is not a loopback address" +
          (outside.empty() || outside == host ? std::string{}
                                              : " (it resolves to " + outside + ")");
  return all;
}

} // namespace cc::config
