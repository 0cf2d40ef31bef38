// The HTTP endpoint on libmicrohttpd (contract: actors/core/http_endpoint.hpp).
#include "actors/core/http_endpoint.hpp"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "actors/core/metrics.hpp"
#include "actors/core/status.hpp"
#include "actors/core/status_board.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "config/address.hpp"
#include "wire/bodies.hpp"

namespace cc {

struct http_endpoint::impl {
  std::shared_ptr<status_board> board;
  http_limits limits;
  std::string who; // "http[127.0.0.1:9100]" for log lines
  MHD_Daemon* daemon = nullptr;
  int listen_fd = -1; // owned by the daemon once it started
};

namespace {

struct reply {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  bool allow_header = false; // 405: Allow: GET, HEAD
};

reply json_reply(unsigned status, const nlohmann::json& doc) {
  return {status, "application/json", doc.dump(2) + "\n"};
}

reply answer(http_endpoint::impl& ep, const std::string& path) {
  auto& limits = ep.limits;
  if (path == "/metrics") {
    auto r = ep.board->read(limits.max_age, limits.round_bound);
    auto health = ep.board->health_of(r, wire::now_seconds());
    exposition_options opts;
    opts.process = sample_process();
    opts.health = std::make_pair(health.healthy(), health.problems.size());
    return {200, exposition_content_type, exposition(r.snap, opts)};
  }
  if (path == "/health") {
    auto r = ep.board->read(limits.max_age, limits.round_bound);
    auto health = ep.board->health_of(r, wire::now_seconds());
    return json_reply(health.healthy() ? 200 : 503, health_json(health));
  }
  if (path == "/status") {
    auto r = ep.board->read(limits.max_age, limits.round_bound);
    auto now = wire::now_seconds();
    auto health = ep.board->health_of(r, now);
    return json_reply(200, status_json(r.snap, health, now));
  }
  if (path == "/")
    return {200, "text/plain; charset=utf-8",
            "ccserver: /metrics (Prometheus), /health, /status (JSON)\n"};
  return json_reply(
      404, {{"error", "no such path"}, {"paths", {"/metrics", "/health", "/status"}}});
}

MHD_Result send_reply(MHD_Connection* conn, const reply& r) {
  auto* resp = MHD_create_response_from_buffer(
      r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (resp == nullptr)
    return MHD_NO;
  if (!r.content_type.empty())
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (r.allow_header)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  auto ret = MHD_queue_response(conn, r.status, resp);
  MHD_destroy_response(resp);
  return ret;
}

MHD_Result on_request(void* cls, MHD_Connection* conn, const char* url,
                      const char* method, const char*, const char*, size_t* upload_size,
                      void** con_cls) {
  auto& ep = *static_cast<http_endpoint::impl*>(cls);
  (void)con_cls;
  bool head = std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
  if (!head && std::strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
    // Answered before any body is read; libmicrohttpd closes the connection
    // after it rather than read what the client still sends.
    reply r = json_reply(405, {{"error", "only GET and HEAD"}});
    r.allow_header = true;
    return send_reply(conn, r);
  }
  if (*upload_size != 0) {
    // A GET with a body: ignore the body.
    *upload_size = 0;
    return MHD_YES;
  }
  return send_reply(conn, answer(ep, url == nullptr ? "" : url));
}

void on_mhd_log(void* cls, const char* fmt, va_list ap) {
  auto& ep = *static_cast<http_endpoint::impl*>(cls);
  if (!log::enabled(log::level::debug))
    return;
  char buf[512];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  std::string text{buf};
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  log::debug(ep.who, text);
}

caf::error errno_error(const std::string& what) {
  return make_error(errc::unavailable, what + ": " + std::strerror(errno));
}

caf::error start(http_endpoint::impl& ep, bool tcp) {
  // MHD_USE_ITC: the stop can take the listening socket back first
  // (MHD_quiesce_daemon), so it is closed exactly once, by us.
  unsigned flags =
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  MHD_OptionItem ops[] = {
      {MHD_OPTION_LISTEN_SOCKET, ep.listen_fd, nullptr},
      {MHD_OPTION_CONNECTION_LIMIT, ep.limits.max_connections, nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT,
       static_cast<intptr_t>(ep.limits.idle_timeout.count()), nullptr},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT,
       static_cast<intptr_t>(ep.limits.connection_memory), nullptr},
      // Per-address limits need an IP address: TCP only.
      {tcp ? MHD_OPTION_PER_IP_CONNECTION_LIMIT : MHD_OPTION_END,
       tcp ? ep.limits.per_ip : 0, nullptr},
      {MHD_OPTION_END, 0, nullptr},
  };
  ep.daemon = MHD_start_daemon(flags, 0, nullptr, nullptr, &on_request, &ep,
                               MHD_OPTION_EXTERNAL_LOGGER, &on_mhd_log, &ep,
                               MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
  if (ep.daemon == nullptr) {
    // Whether the library closed the socket on its way out is not said:
    // leave it (the server exits on this error anyway).
    ep.listen_fd = -1;
    return make_error(errc::unavailable, ep.who + ": libmicrohttpd did not start");
  }
  return caf::none;
}

} // namespace

caf::expected<std::unique_ptr<http_endpoint>>
http_endpoint::listen_tcp(const std::string& host_port, bool allow_remote,
                          std::shared_ptr<status_board> board, http_limits limits) {
  std::string host;
  std::string port;
  if (!config::split_host_port(host_port, host, port))
    return make_error(errc::config_invalid,
                      "http-listen: '" + host_port + "' is not HOST:PORT");
  std::string why;
  if (!allow_remote && !config::is_loopback_host(host, why))
    return make_error(errc::config_invalid,
                      "http-listen: " + why
                          + "; set http-allow-remote = yes to serve other hosts");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return make_error(errc::unavailable,
                      "http-listen " + host_port + ": " + gai_strerror(rc));
  int fd = -1;
  std::string last_error = "no address";
  for (auto* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0)
    return make_error(errc::unavailable,
                      "http-listen " + host_port + ": cannot bind: " + last_error);
  std::unique_ptr<http_endpoint> ep{new http_endpoint};
  ep->impl_ = std::make_unique<impl>();
  ep->impl_->board = std::move(board);
  ep->impl_->limits = limits;
  ep->impl_->who = "http[" + host_port + "]";
  ep->impl_->listen_fd = fd;
  ep->address_ = host_port;
  if (auto err = start(*ep->impl_, true))
    return err;
  return ep;
}

caf::expected<std::unique_ptr<http_endpoint>>
http_endpoint::listen_unix(const std::string& path, std::shared_ptr<status_board> board,
                           http_limits limits) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return make_error(errc::config_invalid,
                      "control-socket: '" + path
                          + "' is longer than a Unix "
                            "socket path may be ("
                          + std::to_string(sizeof(addr.sun_path) - 1) + " bytes)");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    // The pidfile keeps a second instance out: a socket here is a dead
    // server's. Anything else is not ours to remove.
    if (!S_ISSOCK(st.st_mode))
      return make_error(errc::unavailable,
                        "control-socket " + path + ": exists and is not a socket");
    ::unlink(path.c_str());
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return errno_error("control-socket " + path);
  // Owner and group only (the service user and its group). Set after bind
  // rather than by umask, which is the whole process's: other threads
  // create files and directories meanwhile. Nobody connects before
  // listen(), which comes after.
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  if (rc == 0)
    rc = ::chmod(path.c_str(), 0660);
  if (rc != 0 || ::listen(fd, 16) != 0) {
    auto err = errno_error("control-socket " + path + ": cannot bind");
    ::close(fd);
    return err;
  }
  std::unique_ptr<http_endpoint> ep{new http_endpoint};
  ep->impl_ = std::make_unique<impl>();
  ep->impl_->board = std::move(board);
  ep->impl_->limits = limits;
  ep->impl_->who = "control[" + path + "]";
  ep->impl_->listen_fd = fd;
  ep->address_ = path;
  ep->unix_path_ = path;
  if (auto err = start(*ep->impl_, false)) {
    ::unlink(path.c_str());
    return err;
  }
  return ep;
}

http_endpoint::~http_endpoint() {
  if (impl_ && impl_->daemon != nullptr) {
    // Quiescing hands the listening socket back (no new connections from
    // here on); the stop closes the open ones and joins the thread.
    auto fd = MHD_quiesce_daemon(impl_->daemon);
    MHD_stop_daemon(impl_->daemon);
    if (fd != MHD_INVALID_SOCKET)
      ::close(fd);
  }
  if (!unix_path_.empty())
    ::unlink(unix_path_.c_str());
}

} // namespace cc
