// The HTTP endpoint on libmicrohttpd (contract: actors/core/http_endpoint.hpp).
#include "actors/core/http_endpoint.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <list>

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
#include "base/io_attachment.hpp"
#include "base/logger.hpp"
#include "config/address.hpp"
#include "wire/bodies.hpp"

namespace cc {

/// A request suspended until the stats round it asked for comes (or its
/// bound passes). Lives in impl::waiting; the connection's con_cls.
struct http_waiter {
  MHD_Connection* conn = nullptr;
  uint64_t seen = 0; // the board's generation when the round was asked
  std::chrono::steady_clock::time_point until;
  bool suspended = false;
};

struct http_endpoint::impl {
  std::shared_ptr<status_board> board;
  http_limits limits;
  std::string who; // "http[127.0.0.1:9100]" for log lines
  MHD_Daemon* daemon = nullptr;
  int listen_fd = -1; // owned by the daemon once it started
  // The loop thread's own, from start() on.
  std::list<http_waiter> waiting;
  std::chrono::steady_clock::time_point mhd_due = std::chrono::steady_clock::time_point::max();
  uint64_t watch_id = 0;
  std::unique_ptr<io_attachment> on_loop;
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

bool reads_board(const std::string& path) {
  return path == "/metrics" || path == "/health" || path == "/status";
}

/// The reply to GET `path`; `r`: the board's reading when reads_board(path).
reply answer(http_endpoint::impl& ep, const std::string& path,
             const status_board::reading& r) {
  if (path == "/metrics") {
    auto health = ep.board->health_of(r, wire::now_seconds());
    exposition_options opts;
    opts.process = sample_process();
    opts.health = std::make_pair(health.healthy(), health.problems.size());
    return {200, exposition_content_type, exposition(r.snap, opts)};
  }
  if (path == "/health") {
    auto health = ep.board->health_of(r, wire::now_seconds());
    return json_reply(health.healthy() ? 200 : 503, health_json(health));
  }
  if (path == "/status") {
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

/// The first call for a request: 405 for what is not GET or HEAD; the
/// answer when the board's snapshot is fresh enough; else the connection
/// suspended (no thread waits) until the round comes or its bound passes.
MHD_Result first_call(http_endpoint::impl& ep, MHD_Connection* conn, const std::string& path,
                      bool get_or_head, void** con_cls) {
  if (!get_or_head) {
    // Answered before any body is read; libmicrohttpd closes the connection
    // after it rather than read what the client still sends.
    reply r = json_reply(405, {{"error", "only GET and HEAD"}});
    r.allow_header = true;
    return send_reply(conn, r);
  }
  if (!reads_board(path))
    return send_reply(conn, answer(ep, path, {}));
  uint64_t seen = 0;
  if (auto r = ep.board->try_read(ep.limits.max_age, ep.limits.round_bound, seen))
    return send_reply(conn, answer(ep, path, *r));
  auto& w = ep.waiting.emplace_back();
  w.conn = conn;
  w.seen = seen;
  w.until = std::chrono::steady_clock::now() + ep.limits.round_bound;
  w.suspended = true;
  *con_cls = &w;
  MHD_suspend_connection(conn);
  return MHD_YES;
}

MHD_Result on_request(void* cls, MHD_Connection* conn, const char* url,
                      const char* method, const char*, const char*, size_t* upload_size,
                      void** con_cls) {
  auto& ep = *static_cast<http_endpoint::impl*>(cls);
  std::string path = url == nullptr ? "" : url;
  if (*upload_size != 0) {
    // A GET with a body: ignore the body.
    *upload_size = 0;
    return MHD_YES;
  }
  auto* w = static_cast<http_waiter*>(*con_cls);
  if (w == nullptr) {
    bool get_or_head = std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0 ||
                       std::strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    return first_call(ep, conn, path, get_or_head, con_cls);
  }
  if (w->suspended)
    return MHD_YES; // not resumed yet (libmicrohttpd should not call then)
  return send_reply(conn, answer(ep, path, ep.board->finish_read(w->seen, ep.limits.round_bound)));
}

void on_completed(void* cls, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  auto& ep = *static_cast<http_endpoint::impl*>(cls);
  auto* w = static_cast<http_waiter*>(*con_cls);
  if (w == nullptr)
    return;
  ep.waiting.remove_if([w](const http_waiter& x) { return &x == w; });
  *con_cls = nullptr;
}

/// Resumes the waiting requests whose round came or whose bound passed
/// (every one when `all`); true when it resumed any. On the loop thread.
bool resume_due(http_endpoint::impl& ep, std::chrono::steady_clock::time_point now, bool all) {
  bool any = false;
  for (auto& w : ep.waiting)
    if (w.suspended && (all || now >= w.until || ep.board->published_since(w.seen))) {
      w.suspended = false;
      MHD_resume_connection(w.conn);
      any = true;
    }
  return any;
}

/// The daemon's descriptor on the I/O loop: libmicrohttpd runs on the
/// loop's thread, called when its epoll descriptor is ready, when its own
/// time limit (idle connections) is due and when a waiting request resumes.
class http_client : public io_client {
public:
  explicit http_client(http_endpoint::impl& ep) : ep_(ep) {
  }

  void poll_items(std::vector<zmq_pollitem_t>& items) override {
    items.push_back(zmq_pollitem_t{nullptr, epoll_fd_, ZMQ_POLLIN, 0});
  }

  void on_ready(zmq_pollitem_t* items, size_t count) override {
    auto now = std::chrono::steady_clock::now();
    bool run = count > 0 && (items[0].revents & ZMQ_POLLIN) != 0;
    run = resume_due(ep_, now, false) || run || now >= ep_.mhd_due;
    if (run)
      MHD_run(ep_.daemon);
  }

  long wait_limit_ms() override {
    auto now = std::chrono::steady_clock::now();
    MHD_UNSIGNED_LONG_LONG ms = 0;
    long limit = -1;
    ep_.mhd_due = std::chrono::steady_clock::time_point::max();
    if (MHD_get_timeout(ep_.daemon, &ms) == MHD_YES) {
      limit = static_cast<long>(std::min<MHD_UNSIGNED_LONG_LONG>(ms, 60000));
      ep_.mhd_due = now + std::chrono::milliseconds(limit);
    }
    for (auto& w : ep_.waiting) {
      if (!w.suspended)
        continue;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(w.until - now).count();
      left = std::max<long>(0, static_cast<long>(left) + 1);
      limit = limit < 0 ? left : std::min<long>(limit, left);
    }
    return limit;
  }

  int epoll_fd_ = -1;

private:
  http_endpoint::impl& ep_;
};

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
  // No thread of its own: the I/O loop polls its epoll descriptor.
  // MHD_ALLOW_SUSPEND_RESUME (with MHD_USE_ITC): a request waits for a
  // stats round suspended, and the stop can take the listening socket back
  // first (MHD_quiesce_daemon), so it is closed exactly once, by us.
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
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
                               MHD_OPTION_NOTIFY_COMPLETED, &on_completed, &ep,
                               MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
  if (ep.daemon == nullptr) {
    // Whether the library closed the socket on its way out is not said:
    // leave it (the server exits on this error anyway).
    ep.listen_fd = -1;
    return make_error(errc::unavailable, ep.who + ": libmicrohttpd did not start");
  }
  auto client = std::make_shared<http_client>(ep);
  client->epoll_fd_ = MHD_get_daemon_info(ep.daemon, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
  auto loop = io_loop::shared();
  // A publish wakes the loop, whose round resumes the requests it answers.
  ep.watch_id = ep.board->watch([l = loop] { l->wake(); });
  ep.on_loop = std::make_unique<io_attachment>(loop, client);
  return caf::none;
}

/// Off the loop with every waiting request answered (stale unless its
/// round came); then libmicrohttpd may be stopped from this thread.
void leave_loop(http_endpoint::impl& ep) {
  ep.board->unwatch(ep.watch_id);
  auto* e = &ep;
  ep.on_loop->loop().post([e] {
    resume_due(*e, std::chrono::steady_clock::now(), true);
    MHD_run(e->daemon);
  });
  ep.on_loop.reset();
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
    // here on); the stop closes the open ones.
    leave_loop(*impl_);
    auto fd = MHD_quiesce_daemon(impl_->daemon);
    MHD_stop_daemon(impl_->daemon);
    if (fd != MHD_INVALID_SOCKET)
      ::close(fd);
  }
  if (!unix_path_.empty())
    ::unlink(unix_path_.c_str());
}

} // namespace cc
