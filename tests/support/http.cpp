#include "tests/support/http.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace cc::test {

namespace {

using clock = std::chrono::steady_clock;

http_reply exchange(int fd, const std::string& request,
                    std::chrono::milliseconds timeout) {
  http_reply r;
  if (fd < 0)
    return r;
  size_t sent = 0;
  while (sent < request.size()) {
    auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return r;
    }
    sent += static_cast<size_t>(n);
  }
  std::string got;
  bool closed = closed_by_peer(fd, timeout, &got);
  ::close(fd);
  auto head_end = got.find("\r\n\r\n");
  if (!closed || got.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos)
    return r;
  r.status = std::atoi(got.c_str() + got.find(' ') + 1);
  r.head = got.substr(0, head_end);
  r.body = got.substr(head_end + 4);
  return r;
}

} // namespace

int connect_local(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool closed_by_peer(int fd, std::chrono::milliseconds timeout, std::string* got) {
  auto deadline = clock::now() + timeout;
  char buf[65536];
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0)
      return false;
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      return false;
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return true; // EOF, or reset
    if (got != nullptr)
      got->append(buf, static_cast<size_t>(n));
  }
}

http_reply http_exchange(int port, const std::string& request,
                         std::chrono::milliseconds timeout) {
  return exchange(connect_local(port), request, timeout);
}

http_reply http_get(int port, const std::string& path,
                    std::chrono::milliseconds timeout) {
  return http_exchange(port, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
                       timeout);
}

http_reply http_get_unix(const std::string& socket_path, const std::string& path,
                         std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    fd = -1;
  }
  return exchange(fd, "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n", timeout);
}

double sample_value(const std::string& exposition, const std::string& name) {
  auto needle = "\n" + name + " ";
  auto at = exposition.find(needle);
  if (at == std::string::npos)
    return -1;
  return std::strtod(exposition.c_str() + at + needle.size(), nullptr);
}

} // namespace cc::test
