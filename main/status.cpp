// --status: the running server's status as a table, over its control socket
// (a Unix socket beside the pidfile) or, without one, its http-listen: one
// HTTP/1.0 GET of /status, bounded in time, then actors/status.hpp's table.
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/core/status.hpp"
#include "config/address.hpp"
#include "config/config.hpp"
#include "main/commands.hpp"

namespace cc::cli {

namespace {

constexpr auto bound = std::chrono::seconds{10};
constexpr size_t max_reply = 16 << 20;

int connect_unix(const std::string& path, std::string& err) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    err = path + ": path too long";
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    err = path + ": " + std::strerror(errno);
    if (fd >= 0)
      ::close(fd);
    return -1;
  }
  return fd;
}

int connect_tcp(const std::string& host_port, std::string& err) {
  std::string host, port;
  if (!config::split_host_port(host_port, host, port)) {
    err = host_port + ": not HOST:PORT";
    return -1;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    err = host_port + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (auto* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd >= 0 && ::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = host_port + ": " + std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  return fd;
}

// Sends a GET of `path` on `fd` and reads the whole reply (HTTP/1.0: the
// server closes after it). The body, with the status code in `code`.
bool get(int fd, const std::string& path, int& code, std::string& body,
         std::string& err) {
  auto request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL)
      != static_cast<ssize_t>(request.size())) {
    err = std::string{"send: "} + std::strerror(errno);
    return false;
  }
  std::string reply;
  auto deadline = std::chrono::steady_clock::now() + bound;
  char buf[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      err = "no complete answer within " + std::to_string(bound.count()) + " s";
      return false;
    }
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      err = std::string{"read: "} + std::strerror(errno);
      return false;
    }
    if (n == 0)
      break;
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > max_reply) {
      err = "answer larger than " + std::to_string(max_reply) + " bytes";
      return false;
    }
  }
  auto head_end = reply.find("\r\n\r\n");
  if (reply.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos) {
    err = "not an HTTP answer";
    return false;
  }
  auto space = reply.find(' ');
  code = std::atoi(reply.c_str() + space + 1);
  body = reply.substr(head_end + 4);
  return true;
}

} // namespace

int run_status(const options& opts) {
  auto res = config::load(opts.config_file);
  if (!res.ok()) {
    for (const auto& d : res.diagnostics)
      if (d.severity == config::diagnostic::error)
        std::cerr << "error: " << d.str() << "\n";
    return exit_usage;
  }
  const auto& main = res.config->main;
  std::string err;
  std::string where;
  int fd = -1;
  if (main.has("control-socket")) {
    where = main.file("control-socket");
    fd = connect_unix(where, err);
  } else if (main.has("http-listen")) {
    where = "http://" + main.str("http-listen");
    fd = connect_tcp(main.str("http-listen"), err);
  } else {
    std::cerr << "ccserver: " << opts.config_file
              << ": neither a control-socket (or a pidfile to derive it from) "
                 "nor http-listen in [ccserver]: nowhere to ask\n";
    return exit_usage;
  }
  if (fd < 0) {
    std::cerr << "ccserver: not running? cannot connect to " << err << "\n";
    return exit_failure;
  }
  int code = 0;
  std::string body;
  bool ok = get(fd, "/status", code, body, err);
  ::close(fd);
  if (!ok || code != 200) {
    std::cerr << "ccserver: " << where << ": "
              << (ok ? "answered " + std::to_string(code) : err) << "\n";
    return exit_failure;
  }
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("health")) {
    std::cerr << "ccserver: " << where << ": /status is not the expected JSON\n";
    return exit_failure;
  }
  try {
    std::cout << status_table(doc);
  } catch (const nlohmann::json::exception& e) {
    std::cerr << "ccserver: " << where << ": unexpected /status: " << e.what() << "\n";
    return exit_failure;
  }
  return doc["health"].value("status", "") == "ok" ? exit_ok : exit_failure;
}

} // namespace cc::cli
