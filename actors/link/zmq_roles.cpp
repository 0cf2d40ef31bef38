// The ROUTER and DEALER roles of a zmq_socket_loop and their shared option
// helpers: see zmq_roles.hpp.
#include "actors/link/zmq_roles.hpp"

#include <cstdio>
#include <map>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <zmq.h>

#include "actors/link/zap.hpp"
#include "base/logger.hpp"

namespace cc::zmq_detail {

namespace {

// A ROUTER cannot wait for POLLOUT of one peer: while the head message's peer
// is at its HWM, retry every retry_ms and give up (counted, logged) after
// give_up_after.
constexpr long router_retry_ms = 10;
constexpr auto give_up_after = std::chrono::seconds(5);

bool set_option(void* sock, int option, int value, const char* name,
                std::string& why) {
  if (zmq_setsockopt(sock, option, &value, sizeof(value)) == 0)
    return true;
  why = std::string{"setting "} + name + " to " + std::to_string(value) +
        ": " + zmq_error_text();
  return false;
}

bool set_bytes(void* sock, int option, const std::string& value,
               const char* name, std::string& why) {
  if (zmq_setsockopt(sock, option, value.data(), value.size()) == 0)
    return true;
  why = std::string{"setting "} + name + ": " + zmq_error_text();
  return false;
}

// -- ROUTER: the gateway ---------------------------------------------------------

class router_role : public socket_role {
public:
  using socket_role::socket_role;

  int socket_type() const override {
    return ZMQ_ROUTER;
  }

  // Each peer's handshake failures and disconnects (counted; a refused plain
  // client is logged).
  int monitored_events() const override {
    return ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
  }

  bool configure(void* sock, std::string& why) override {
    // Replies to a peer that is gone fail visibly (EHOSTUNREACH, counted)
    // instead of vanishing, and a full peer says EAGAIN instead of dropping.
    if (!set_option(sock, ZMQ_ROUTER_MANDATORY, 1, "ZMQ_ROUTER_MANDATORY", why))
      return false;
    // A forwarder that reconnects with its own routing id (it names itself
    // so its data connection can, actors/link/data_link.hpp) takes the id
    // over from a connection the kernel has not yet seen die.
    if (!set_option(sock, ZMQ_ROUTER_HANDOVER, 1, "ZMQ_ROUTER_HANDOVER", why))
      return false;
    if (!curve_server())
      return true;
    // CURVE server; the process's ZAP handler asks this socket's policy
    // about the handshakes of the domain named here.
    const auto& o = env_.opts;
    return set_option(sock, ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER", why) &&
           set_bytes(sock, ZMQ_CURVE_SECRETKEY, o.curve_secret,
                     "ZMQ_CURVE_SECRETKEY", why) &&
           set_bytes(sock, ZMQ_ZAP_DOMAIN, zap_domain_, "ZMQ_ZAP_DOMAIN", why);
  }

  std::string open(io_loop& loop, void* sock) override {
    // libzmq lets every CURVE client in while no ZAP handler is bound: the
    // handler must be up before the socket can accept anyone.
    if (curve_server()) {
      if (!env_.opts.zap)
        return "CURVE without a ZAP policy";
      if (auto why = zap_attach(loop, zap_domain_, env_.opts.zap); !why.empty())
        return why;
      zap_attached_ = true;
    }
    if (zmq_bind(sock, env_.endpoint.c_str()) != 0)
      return "cannot bind: " + zmq_error_text();
    return {};
  }

  // After the socket (no new handshakes of this domain).
  void closed() override {
    if (zap_attached_)
      zap_detach(zap_domain_);
    zap_attached_ = false;
  }

  // The peer address of each accepted connection by its descriptor (looked
  // up when the event is read: best effort, the connection may be gone by
  // then), and the failure its engine reported just before its disconnect
  // (one I/O thread reports a connection's events in order).
  void on_monitor(uint16_t event, uint32_t value, const std::string&) override {
    switch (event) {
      case ZMQ_EVENT_ACCEPTED:
        if (accepted_from_.size() >= 65536)
          accepted_from_.clear();
        accepted_from_[value] = peer_ip(static_cast<int>(value));
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        pending_failure_ = handshake_failure_text(event, value);
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        pending_failure_.clear(); // a ZAP refusal: counted and logged there
        break;
      case ZMQ_EVENT_DISCONNECTED:
        disconnected(value);
        break;
      default:
        break;
    }
  }

  bool waits_for_pollout() const override {
    return false;
  }
  long retry_ms() const override {
    return router_retry_ms;
  }

  bool keep_waiting(const wire::cc_message& head, clock::time_point now) override {
    if (!head_blocked_) {
      head_blocked_ = true;
      head_blocked_since_ = now;
      return true;
    }
    if (now - head_blocked_since_ < give_up_after)
      return true;
    log::warning(env_.who, "peer did not take a " + head.type +
                             " reply for 5 s (at its HWM): dropped");
    return false;
  }

  void head_done() override {
    head_blocked_ = false;
  }

private:
  bool curve_server() const {
    return !env_.opts.curve_secret.empty();
  }

  void disconnected(uint32_t fd) {
    ++env_.counters.disconnects;
    std::string address;
    if (auto it = accepted_from_.find(fd); it != accepted_from_.end()) {
      address = std::move(it->second);
      accepted_from_.erase(it);
    }
    if (pending_failure_.empty())
      return;
    ++env_.counters.handshake_failed;
    if (env_.events.on_handshake_failed)
      env_.events.on_handshake_failed(pending_failure_, address);
    pending_failure_.clear();
  }

  std::string zap_domain_ = unique_zap_domain(env_.who);
  bool zap_attached_ = false;
  std::map<uint32_t, std::string> accepted_from_;
  std::string pending_failure_;
  bool head_blocked_ = false;
  clock::time_point head_blocked_since_{};
};

// -- DEALER: a forwarder's transport -----------------------------------------------

class dealer_role : public socket_role {
public:
  using socket_role::socket_role;

  int socket_type() const override {
    return ZMQ_DEALER;
  }

  int monitored_events() const override {
    return ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
  }

  bool configure(void* sock, std::string& why) override {
    const auto& o = env_.opts;
    if (!o.curve_server.empty() &&
        !(set_bytes(sock, ZMQ_CURVE_SERVERKEY, o.curve_server,
                    "ZMQ_CURVE_SERVERKEY", why) &&
          set_bytes(sock, ZMQ_CURVE_PUBLICKEY, o.curve_public,
                    "ZMQ_CURVE_PUBLICKEY", why) &&
          set_bytes(sock, ZMQ_CURVE_SECRETKEY, o.curve_secret,
                    "ZMQ_CURVE_SECRETKEY", why)))
      return false;
    // A forwarder whose remote is down retries with a backoff from 100 ms up
    // to 500 ms rather than every 100 ms forever. Not longer: a central back
    // from a restart waited up to 2 s for its first byte with the old bound,
    // a fifth of a 2 GB backlog's catch-up (bench/backlog.sh); a refused
    // connect twice a second per host costs the central nothing.
    // While the remote is away, messages wait in the forwarder's queue
    // (bounded by queue-bytes, pushing back on senders) rather than in a pipe
    // to a connection that does not exist yet (zmq_hwm messages of up to a
    // MiB each, outside any byte bound): the tailer's resends would pile up
    // there.
    return set_option(sock, ZMQ_RECONNECT_IVL_MAX, 500, "ZMQ_RECONNECT_IVL_MAX",
                      why) &&
           set_option(sock, ZMQ_IMMEDIATE, 1, "ZMQ_IMMEDIATE", why) &&
           (o.routing_id.empty() ||
            set_bytes(sock, ZMQ_ROUTING_ID, o.routing_id, "ZMQ_ROUTING_ID", why));
  }

  std::string open(io_loop&, void* sock) override {
    if (zmq_connect(sock, env_.endpoint.c_str()) != 0)
      return "cannot connect: " + zmq_error_text();
    return {};
  }

  void on_monitor(uint16_t event, uint32_t value, const std::string& peer) override {
    const auto& endpoint = env_.endpoint;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
      env_.refusal("auth", "the server at " + endpoint + " refused this client's "
                           "key (ZAP status " + std::to_string(value) +
                           "): is it in the server's curve-allowed-keys?");
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
      env_.refusal("protocol", "handshake with " + endpoint + " failed: " +
                                 handshake_failure_text(event, value));
    else if (env_.events.on_link &&
             (event == ZMQ_EVENT_CONNECTED || event == ZMQ_EVENT_DISCONNECTED))
      env_.events.on_link(event == ZMQ_EVENT_CONNECTED, peer);
  }

  bool waits_for_pollout() const override {
    return true;
  }
  long retry_ms() const override {
    return -1;
  }
  bool keep_waiting(const wire::cc_message&, clock::time_point) override {
    return true;
  }
};

} // namespace

std::string zmq_error_text() {
  return zmq_strerror(zmq_errno());
}

std::string handshake_failure_text(uint16_t event, uint32_t value) {
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
    if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
      return "security mechanism mismatch (a plain ZeroMQ client on a CURVE "
             "socket, or the reverse)";
    if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
      return "CURVE handshake could not be decrypted (the client uses another "
             "server public key)";
    char buf[64];
    std::snprintf(buf, sizeof(buf), "protocol error 0x%08x", value);
    return buf;
  }
  return std::string{"handshake failed: "} + zmq_strerror(static_cast<int>(value));
}

bool apply_common_options(void* sock, const zmq_options& o, std::string& why) {
  bool ok = set_option(sock, ZMQ_SNDHWM, o.hwm, "ZMQ_SNDHWM", why) &&
            set_option(sock, ZMQ_RCVHWM, o.rcvhwm > 0 ? o.rcvhwm : o.hwm,
                       "ZMQ_RCVHWM", why) &&
            set_option(sock, ZMQ_LINGER, o.linger_ms, "ZMQ_LINGER", why);
  if (ok && o.rcvbuf > 0)
    ok = set_option(sock, ZMQ_RCVBUF, o.rcvbuf, "ZMQ_RCVBUF", why);
  if (ok && o.sndbuf > 0)
    ok = set_option(sock, ZMQ_SNDBUF, o.sndbuf, "ZMQ_SNDBUF", why);
  if (ok)
    ok = set_option(sock, ZMQ_TCP_KEEPALIVE, o.tcp_keepalive ? 1 : 0,
                    "ZMQ_TCP_KEEPALIVE", why);
  if (ok && o.tcp_keepalive)
    ok = set_option(sock, ZMQ_TCP_KEEPALIVE_INTVL, o.tcp_keepalive_intvl,
                    "ZMQ_TCP_KEEPALIVE_INTVL", why) &&
         set_option(sock, ZMQ_TCP_KEEPALIVE_IDLE, o.tcp_keepalive_idle,
                    "ZMQ_TCP_KEEPALIVE_IDLE", why) &&
         set_option(sock, ZMQ_TCP_KEEPALIVE_CNT, o.tcp_keepalive_cnt,
                    "ZMQ_TCP_KEEPALIVE_CNT", why);
  if (ok && o.max_message_size > 0) {
    int64_t v = o.max_message_size;
    if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &v, sizeof(v)) != 0) {
      why = "setting ZMQ_MAXMSGSIZE: " + zmq_error_text();
      ok = false;
    }
  }
  return ok;
}

std::unique_ptr<socket_role> make_role(zmq_socket_loop::role r, role_env env) {
  if (r == zmq_socket_loop::role::router_bind)
    return std::make_unique<router_role>(std::move(env));
  return std::make_unique<dealer_role>(std::move(env));
}

std::string peer_ip(int fd) {
  sockaddr_storage sa{};
  socklen_t len = sizeof(sa);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return {};
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&sa)->sin_addr, buf,
                sizeof(buf));
  else if (sa.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&sa)->sin6_addr, buf,
                sizeof(buf));
  else
    return "local";
  return buf;
}

} // namespace cc::zmq_detail
