#include "actors/link/zmq_transport.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zmq.h>

#include "actors/core/router.hpp"
#include "actors/link/curve_keys.hpp"
#include "actors/link/zap.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "base/thread_name.hpp"
#include "config/reader.hpp"

namespace cc {

namespace {

using clock = std::chrono::steady_clock;

// The monitor of a DEALER publishes on this inproc address. Every socket
// thread has its own context, so one fixed name cannot clash.
constexpr const char* monitor_address = "inproc://cc-socket-monitor";

// A ROUTER cannot wait for POLLOUT of one peer: while the head message's peer
// is at its HWM, retry every retry_ms and give up (counted, logged) after
// give_up_after.
constexpr long retry_ms = 10;
constexpr auto give_up_after = std::chrono::seconds(5);

// Blob frames below this size are copied: ZeroMQ keeps small messages inline,
// so handing over ownership would cost more than the copy.
constexpr size_t zero_copy_min = 1024;

int clamp_int(int64_t v, int lo, int hi) {
  return static_cast<int>(std::clamp<int64_t>(v, lo, hi));
}

std::string zmq_error_text() {
  return zmq_strerror(zmq_errno());
}

// Frees the blob reference a zero-copy frame held (called by ZeroMQ, possibly
// on one of its I/O threads; shared_ptr's count is thread-safe).
void release_blob(void*, void* hint) {
  delete static_cast<wire::blob_ptr*>(hint);
}

// Closes a received frame kept as a blob (keep_frame), on whichever thread
// drops the blob: zmq_msg_close only releases the message's (atomically
// counted) content.
void close_kept_frame(void* context) {
  auto* part = static_cast<zmq_msg_t*>(context);
  zmq_msg_close(part);
  delete part;
}

// The received frame `part` as a blob, its bytes left where ZeroMQ put them:
// the message moves into a heap-held zmq_msg_t that the blob closes. `part`
// is left empty (closing it is still required, and cheap).
wire::blob_ptr keep_frame(zmq_msg_t& part) {
  auto* kept = new zmq_msg_t;
  zmq_msg_init(kept);
  zmq_msg_move(kept, &part);
  return wire::blob::external(static_cast<const char*>(zmq_msg_data(kept)),
                              zmq_msg_size(kept), close_kept_frame, kept);
}

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

// The IP address of the peer of connected socket `fd`, "" when unknown.
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

// Why a handshake failed, from a monitor event and its value.
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

bool apply_options(void* sock, const zmq_options& o, bool is_router,
                   std::string& why) {
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
  // Replies to a peer that is gone fail visibly (EHOSTUNREACH, counted)
  // instead of vanishing, and a full peer says EAGAIN instead of dropping.
  if (ok && is_router)
    ok = set_option(sock, ZMQ_ROUTER_MANDATORY, 1, "ZMQ_ROUTER_MANDATORY", why);
  if (ok && is_router && !o.curve_secret.empty()) {
    // CURVE server; the ZAP handler (bound before the socket) decides who
    // gets in, in the domain named here.
    ok = set_option(sock, ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER", why) &&
         set_bytes(sock, ZMQ_CURVE_SECRETKEY, o.curve_secret,
                   "ZMQ_CURVE_SECRETKEY", why) &&
         set_bytes(sock, ZMQ_ZAP_DOMAIN, "cc", "ZMQ_ZAP_DOMAIN", why);
  }
  if (ok && !is_router && !o.curve_server.empty())
    ok = set_bytes(sock, ZMQ_CURVE_SERVERKEY, o.curve_server,
                   "ZMQ_CURVE_SERVERKEY", why) &&
         set_bytes(sock, ZMQ_CURVE_PUBLICKEY, o.curve_public,
                   "ZMQ_CURVE_PUBLICKEY", why) &&
         set_bytes(sock, ZMQ_CURVE_SECRETKEY, o.curve_secret,
                   "ZMQ_CURVE_SECRETKEY", why);
  // A forwarder whose remote is down retries with a backoff up to 2 s rather
  // than every 100 ms forever.
  if (ok && !is_router)
    ok = set_option(sock, ZMQ_RECONNECT_IVL_MAX, 2000, "ZMQ_RECONNECT_IVL_MAX",
                    why);
  // While the remote is away, messages wait in the forwarder's queue (bounded
  // by queue-bytes, pushing back on senders) rather than in a pipe to a
  // connection that does not exist yet (zmq_hwm messages of up to a MiB each,
  // outside any byte bound): the tailer's resends would pile up there.
  if (ok && !is_router)
    ok = set_option(sock, ZMQ_IMMEDIATE, 1, "ZMQ_IMMEDIATE", why);
  return ok;
}

enum class send_result { sent, would_block, unroutable, failed };

// Hands one multipart message to ZeroMQ without blocking. A multipart message
// is atomic in ZeroMQ: once its first frame is accepted the rest are too, so
// EAGAIN can only come on the first frame.
send_result send_one(void* sock, const wire::cc_message& msg, int& err) {
  auto frames = wire::frames_of(msg);
  for (size_t i = 0; i < frames.size(); ++i) {
    bool last = i + 1 == frames.size();
    zmq_msg_t part;
    if (last && msg.blob && frames[i].size() >= zero_copy_min) {
      auto* hold = new wire::blob_ptr(msg.blob);
      zmq_msg_init_data(&part, const_cast<char*>((*hold)->data()),
                        (*hold)->size(), release_blob, hold);
    } else {
      zmq_msg_init_size(&part, frames[i].size());
      if (!frames[i].empty())
        std::memcpy(zmq_msg_data(&part), frames[i].data(), frames[i].size());
    }
    if (zmq_msg_send(&part, sock, ZMQ_DONTWAIT | (last ? 0 : ZMQ_SNDMORE)) <
        0) {
      err = zmq_errno();
      zmq_msg_close(&part); // releases the blob reference of a failed frame
      if (i == 0 && err == EAGAIN)
        return send_result::would_block;
      if (i == 0 && err == EHOSTUNREACH)
        return send_result::unroutable;
      return send_result::failed;
    }
  }
  return send_result::sent;
}

} // namespace

zmq_options zmq_options_of(const config::section& sec) {
  // Through the schema (config/reader.hpp): a key the section lacks reads
  // as the schema's default. [ccserver] and proxy share the zmq_* keys.
  config::reader r{sec};
  zmq_options o;
  o.hwm = clamp_int(r.integer("zmq_hwm"), 0, INT_MAX);
  // -1 is ZeroMQ's own: linger until sent, keepalive timing from the OS
  // (the loader raised a 0 keepalive value to 1).
  o.linger_ms = clamp_int(r.integer("zmq_linger"), -1, INT_MAX);
  o.rcvbuf = clamp_int(static_cast<int64_t>(r.size("zmq_rcvbuf")), 0, INT_MAX);
  o.sndbuf = clamp_int(static_cast<int64_t>(r.size("zmq_sndbuf")), 0, INT_MAX);
  o.tcp_keepalive = r.boolean("zmq_tcp_keepalive");
  o.tcp_keepalive_intvl = clamp_int(r.integer("zmq_tcp_keepalive_intvl"), -1, INT_MAX);
  o.tcp_keepalive_idle = clamp_int(r.integer("zmq_tcp_keepalive_idle"), -1, INT_MAX);
  o.tcp_keepalive_cnt = clamp_int(r.integer("zmq_tcp_keepalive_cnt"), -1, INT_MAX);
  o.curve_secret_key_file = r.file("curve-secret-key");
  if (r.declares("zmq_rcvhwm"))
    o.rcvhwm = clamp_int(r.integer("zmq_rcvhwm"), 0, INT_MAX);
  if (r.declares("max-message-size")) {
    auto v = r.size("max-message-size");
    o.max_message_size = v == 0 || v > static_cast<uint64_t>(INT64_MAX)
                           ? -1
                           : static_cast<int64_t>(v);
  }
  if (r.declares("zmq_nthreads"))
    o.io_threads = clamp_int(r.integer("zmq_nthreads"), 1, 64);
  if (r.declares("remote-cc-public-key"))
    o.curve_server_key_source = r.str("remote-cc-public-key");
  if (r.declares("curve-allowed-keys"))
    o.curve_allowed_keys_file = r.file("curve-allowed-keys");
  return o;
}

// -- zmq_socket_thread --------------------------------------------------------

zmq_socket_thread::zmq_socket_thread(role r, std::string endpoint,
                                     zmq_options opts, events ev,
                                     std::string who)
  : role_(r),
    endpoint_(std::move(endpoint)),
    opts_(opts),
    events_(std::move(ev)),
    who_(std::move(who)) {
  // Nothing below may run before start(); keep the constructor infallible.
}

zmq_socket_thread::~zmq_socket_thread() {
  stop();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

caf::error zmq_socket_thread::start() {
  if (thread_.joinable())
    return caf::none;
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0)
    return make_error(errc::io, who_ + ": eventfd: " + std::strerror(errno));
  std::promise<caf::error> started;
  auto result = started.get_future();
  thread_ = std::thread{[this, p = std::move(started)]() mutable {
    name_this_thread("cc-zmq-socket");
    run(std::move(p));
  }};
  auto err = result.get();
  if (err) {
    thread_.join();
    return err;
  }
  return caf::none;
}

void zmq_socket_thread::wake() {
  uint64_t one = 1;
  auto rc = ::write(wake_fd_, &one, sizeof(one));
  (void) rc; // EAGAIN: the counter is already non-zero, the thread wakes
}

void zmq_socket_thread::send(wire::cc_message msg) {
  counters_.queued_bytes += static_cast<int64_t>(msg.wire_size());
  {
    std::lock_guard<std::mutex> guard{mtx_};
    outbox_.push_back(std::move(msg));
  }
  wake();
}

void zmq_socket_thread::set_reading(bool on) {
  reading_ = on;
  if (thread_.joinable())
    wake();
}

void zmq_socket_thread::set_throttled(bool on) {
  // Only a pause that ends wakes the thread: the gateway calls this for
  // every answered message, most of which end no pause.
  bool was = throttled_.exchange(on);
  if (was && !on && thread_.joinable())
    wake();
}

void zmq_socket_thread::stop() {
  if (!thread_.joinable())
    return;
  stopping_ = true;
  wake();
  thread_.join();
}

void zmq_socket_thread::run(std::promise<caf::error> started) {
  const bool is_router = role_ == role::router_bind;
  void* ctx = zmq_ctx_new();
  if (ctx == nullptr) {
    started.set_value(
      make_error(errc::io, who_ + ": zmq_ctx_new: " + zmq_error_text()));
    return;
  }
  zmq_ctx_set(ctx, ZMQ_IO_THREADS, opts_.io_threads);
  void* sock = zmq_socket(ctx, is_router ? ZMQ_ROUTER : ZMQ_DEALER);
  void* monitor = nullptr;
  const bool curve_server = is_router && !opts_.curve_secret.empty();
  auto fail = [&](const std::string& what) {
    started.set_value(make_error(errc::io, who_ + ": " + endpoint_ + ": " + what));
    int zero = 0;
    if (curve_server && opts_.zap)
      opts_.zap->stop();
    if (monitor != nullptr) {
      zmq_setsockopt(monitor, ZMQ_LINGER, &zero, sizeof(zero));
      zmq_close(monitor);
    }
    if (sock != nullptr) {
      zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero));
      zmq_close(sock);
    }
    zmq_ctx_term(ctx);
  };
  if (sock == nullptr)
    return fail("zmq_socket: " + zmq_error_text());
  std::string why;
  if (!apply_options(sock, opts_, is_router, why))
    return fail(why);
  // The DEALER reports its link; the ROUTER its peers' handshake failures
  // and disconnects (counted; a refused plain client is logged).
  int monitored = is_router
                    ? ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                        ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                        ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                    : ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
                        ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
  if (zmq_socket_monitor(sock, monitor_address, monitored) != 0)
    return fail("zmq_socket_monitor: " + zmq_error_text());
  monitor = zmq_socket(ctx, ZMQ_PAIR);
  if (monitor == nullptr || zmq_connect(monitor, monitor_address) != 0)
    return fail("connecting the monitor: " + zmq_error_text());
  // libzmq lets every CURVE client in while no ZAP handler is bound: the
  // handler must be up before the socket can accept anyone.
  if (curve_server) {
    if (!opts_.zap)
      return fail("CURVE without a ZAP handler");
    if (auto err = opts_.zap->start(ctx))
      return fail(describe(err));
  }
  if (is_router ? zmq_bind(sock, endpoint_.c_str()) != 0
                : zmq_connect(sock, endpoint_.c_str()) != 0)
    return fail(std::string{is_router ? "cannot bind: " : "cannot connect: "} +
                zmq_error_text());
  started.set_value(caf::none);

  std::deque<wire::cc_message> pending; // this thread's side of the outbox
  clock::time_point head_blocked_since{};
  bool head_blocked = false;

  auto take_outbox = [&] {
    std::lock_guard<std::mutex> guard{mtx_};
    while (!outbox_.empty()) {
      pending.push_back(std::move(outbox_.front()));
      outbox_.pop_front();
    }
  };

  auto finish_head = [&](bool delivered) {
    auto bytes = pending.front().wire_size();
    pending.pop_front();
    head_blocked = false;
    counters_.queued_bytes -= static_cast<int64_t>(bytes);
    if (delivered) {
      ++counters_.sent;
      counters_.bytes_out += static_cast<int64_t>(bytes);
    }
    if (events_.on_sent)
      events_.on_sent(bytes);
  };

  // Sends from the head of `pending` until ZeroMQ pushes back.
  auto send_pending = [&] {
    while (!pending.empty()) {
      int err = 0;
      auto res = send_one(sock, pending.front(), err);
      switch (res) {
        case send_result::sent:
          finish_head(true);
          break;
        case send_result::unroutable:
          ++counters_.unroutable;
          log::debug(who_, "reply to a peer that is gone dropped (" +
                             pending.front().type + ")");
          finish_head(false);
          break;
        case send_result::failed:
          ++counters_.dropped;
          log::error(who_, "send of " + pending.front().type +
                             " failed: " + zmq_strerror(err));
          finish_head(false);
          break;
        case send_result::would_block: {
          if (!is_router)
            return; // the DEALER waits for POLLOUT
          auto now = clock::now();
          if (!head_blocked) {
            head_blocked = true;
            head_blocked_since = now;
            return;
          }
          if (now - head_blocked_since < give_up_after)
            return;
          ++counters_.dropped;
          log::warning(who_, "peer did not take a " + pending.front().type +
                               " reply for 5 s (at its HWM): dropped");
          finish_head(false);
          break;
        }
      }
    }
  };

  // ZMQ_MAXMSGSIZE bounds each frame (ZeroMQ drops the connection of a
  // peer that sends a bigger one); the whole multipart message is bounded
  // here: past max_message_size its frames are read and thrown away.
  const size_t max_total = opts_.max_message_size > 0
                             ? static_cast<size_t>(opts_.max_message_size)
                             : SIZE_MAX;
  log_limiter refusal_log{std::chrono::seconds{10}, 256};
  auto refusal = [&](const std::string& key, const std::string& text) {
    if (auto n = refusal_log.admit(key, log_limiter::clock::now()))
      log::warning(who_, text + (*n > 0 ? " (and " + std::to_string(*n) +
                                            " more since the last line)"
                                        : std::string{}));
  };
  auto receive_some = [&](int max_messages) {
    for (int n = 0; n < max_messages && reading_ && !throttled_; ++n) {
      std::vector<std::string> frames;
      wire::blob_ptr last;  // the final frame, when large: kept, not copied
      size_t bytes = 0;
      bool admitted = true;
      bool checked = !events_.admit;
      size_t index = 0;
      std::string user_id;
      std::string address;
      wire::peer_ptr peer;
      for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) < 0) {
          int err = zmq_errno();
          zmq_msg_close(&part);
          if (!(frames.empty() && err == EAGAIN))
            log::error(who_, std::string{"receive failed: "} + zmq_strerror(err));
          return;
        }
        auto size = zmq_msg_size(&part);
        // The peer's frames (not the routing id the ROUTER adds) carry the
        // connection's metadata: its ZAP user id and address.
        if (!checked && index++ > 0) {
          checked = true;
          if (const char* uid = zmq_msg_gets(&part, "User-Id"))
            user_id = uid;
          if (const char* addr = zmq_msg_gets(&part, "Peer-Address"))
            address = addr;
          peer = events_.admit(user_id, address);
          admitted = peer != nullptr;
        }
        bytes += size;
        bool more = zmq_msg_more(&part) != 0;
        if (!admitted || bytes > max_total)
          frames.clear();
        else if (!more && size >= keep_frame_min)
          last = keep_frame(part);
        else
          frames.emplace_back(static_cast<const char*>(zmq_msg_data(&part)), size);
        zmq_msg_close(&part);
        if (!more)
          break;
      }
      ++counters_.received;
      counters_.bytes_in += static_cast<int64_t>(bytes);
      if (!admitted) {
        ++counters_.not_admitted;
        continue;
      }
      if (bytes > max_total) {
        ++counters_.oversize;
        refusal("oversize", "a message of " + std::to_string(bytes) +
                              " bytes (over max-message-size " +
                              std::to_string(max_total) + ") dropped");
        continue;
      }
      if (events_.on_frames)
        events_.on_frames(std::move(frames), std::move(last), std::move(peer));
    }
  };

  // ROUTER: the peer address of each accepted connection by its descriptor
  // (looked up when the event is read: best effort, the connection may be
  // gone by then), and the failure its engine reported just before its
  // disconnect (one I/O thread reports a connection's events in order).
  std::map<uint32_t, std::string> accepted_from;
  std::string pending_failure;
  auto on_router_event = [&](uint16_t event, uint32_t value) {
    switch (event) {
      case ZMQ_EVENT_ACCEPTED:
        if (accepted_from.size() >= 65536)
          accepted_from.clear();
        accepted_from[value] = peer_ip(static_cast<int>(value));
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        pending_failure = handshake_failure_text(event, value);
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        pending_failure.clear(); // a ZAP refusal: counted and logged there
        break;
      case ZMQ_EVENT_DISCONNECTED: {
        ++counters_.disconnects;
        std::string address;
        if (auto it = accepted_from.find(value); it != accepted_from.end()) {
          address = std::move(it->second);
          accepted_from.erase(it);
        }
        if (!pending_failure.empty()) {
          ++counters_.handshake_failed;
          if (events_.on_handshake_failed)
            events_.on_handshake_failed(pending_failure, address);
          pending_failure.clear();
        }
        break;
      }
      default:
        break;
    }
  };

  // Monitor events: frame 1 is a 16-bit event and a 32-bit value, frame 2 the
  // peer address.
  auto read_monitor = [&] {
    for (;;) {
      zmq_msg_t head;
      zmq_msg_init(&head);
      if (zmq_msg_recv(&head, monitor, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&head);
        return;
      }
      uint16_t event = 0;
      uint32_t value = 0;
      if (zmq_msg_size(&head) >= sizeof(event) + sizeof(value)) {
        std::memcpy(&event, zmq_msg_data(&head), sizeof(event));
        std::memcpy(&value,
                    static_cast<const char*>(zmq_msg_data(&head)) + sizeof(event),
                    sizeof(value));
      }
      bool more = zmq_msg_more(&head) != 0;
      zmq_msg_close(&head);
      std::string peer;
      while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, monitor, 0) < 0) {
          zmq_msg_close(&part);
          break;
        }
        if (peer.empty())
          peer.assign(static_cast<const char*>(zmq_msg_data(&part)),
                      zmq_msg_size(&part));
        more = zmq_msg_more(&part) != 0;
        zmq_msg_close(&part);
      }
      if (is_router)
        on_router_event(event, value);
      else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        refusal("auth", "the server at " + endpoint_ + " refused this client's "
                        "key (ZAP status " + std::to_string(value) +
                        "): is it in the server's curve-allowed-keys?");
      else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        refusal("protocol", "handshake with " + endpoint_ + " failed: " +
                              handshake_failure_text(event, value));
      else if (events_.on_link && (event == ZMQ_EVENT_CONNECTED ||
                                   event == ZMQ_EVENT_DISCONNECTED))
        events_.on_link(event == ZMQ_EVENT_CONNECTED, peer);
    }
  };

  while (!stopping_) {
    take_outbox();
    send_pending();
    zmq_pollitem_t items[3];
    int n = 0;
    short sock_events = reading_ && !throttled_ ? ZMQ_POLLIN : 0;
    if (!is_router && !pending.empty())
      sock_events |= ZMQ_POLLOUT;
    items[n++] = {sock, 0, sock_events, 0};
    items[n++] = {nullptr, wake_fd_, ZMQ_POLLIN, 0};
    if (monitor != nullptr)
      items[n++] = {monitor, 0, ZMQ_POLLIN, 0};
    long timeout = is_router && !pending.empty() ? retry_ms : -1;
    if (zmq_poll(items, n, timeout) < 0) {
      if (zmq_errno() == EINTR)
        continue;
      log::error(who_, "zmq_poll: " + zmq_error_text());
      break;
    }
    if (items[1].revents & ZMQ_POLLIN) {
      uint64_t value;
      auto rc = ::read(wake_fd_, &value, sizeof(value));
      (void) rc;
    }
    if (items[0].revents & ZMQ_POLLIN)
      receive_some(256); // then look at the outbox again: fairness
    if (monitor != nullptr && (items[2].revents & ZMQ_POLLIN))
      read_monitor();
  }

  // Drain: whatever is queued gets at most linger_ms to leave, then the socket
  // closes with the rest of that time as its LINGER.
  auto deadline = clock::now() + std::chrono::milliseconds(opts_.linger_ms);
  take_outbox();
  for (;;) {
    send_pending();
    auto now = clock::now();
    if (pending.empty() || now >= deadline)
      break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - now).count();
    zmq_pollitem_t item{sock, 0, static_cast<short>(is_router ? 0 : ZMQ_POLLOUT),
                        0};
    zmq_poll(&item, 1, is_router ? std::min<long>(left, retry_ms) : left);
  }
  if (!pending.empty()) {
    size_t bytes = 0;
    for (auto& m : pending)
      bytes += m.wire_size();
    counters_.dropped += static_cast<int64_t>(pending.size());
    counters_.queued_bytes -= static_cast<int64_t>(bytes);
    log::warning(who_, std::to_string(pending.size()) + " messages (" +
                         std::to_string(bytes) + " bytes) still queued for " +
                         endpoint_ + " after " +
                         std::to_string(opts_.linger_ms) +
                         " ms at shutdown: not sent");
  }
  auto left = std::max<int64_t>(
    0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                             clock::now())
         .count());
  int linger = static_cast<int>(left);
  zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
  if (monitor != nullptr) {
    zmq_socket_monitor(sock, nullptr, 0);
    int zero = 0;
    zmq_setsockopt(monitor, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_close(monitor);
  }
  zmq_close(sock);
  // After the socket (no new handshakes), before the context ends.
  if (curve_server)
    opts_.zap->stop();
  zmq_ctx_term(ctx); // returns when queued frames left or LINGER expired
}

// -- zmq_transport --------------------------------------------------------------

zmq_transport::zmq_transport(zmq_options opts, std::string who)
  : opts_(opts), who_(std::move(who)) {
  // connect() creates the socket thread.
}

zmq_transport::~zmq_transport() {
  close();
}

caf::error resolve_client_keys(zmq_options& o, const std::string& who) {
  bool has_server = !o.curve_server_key_source.empty();
  bool has_secret = !o.curve_secret_key_file.empty();
  if (!has_server && !has_secret)
    return caf::none;
  if (!has_server || !has_secret)
    return make_error(errc::config_invalid,
                      who + ": " +
                        (has_server ? "remote-cc-public-key needs curve-secret-key "
                                      "(this forwarder's own key) too"
                                    : "curve-secret-key needs remote-cc-public-key "
                                      "(the server's key) too"));
  if (!curve::available())
    return make_error(errc::config_invalid,
                      who + ": curve-secret-key: this libzmq has no CURVE support");
  auto server = curve::read_public(o.curve_server_key_source,
                                   who + ": remote-cc-public-key");
  if (!server)
    return std::move(server.error());
  auto secret =
    curve::read_secret_file(o.curve_secret_key_file, who + ": curve-secret-key");
  if (!secret)
    return std::move(secret.error());
  auto pub = curve::public_of(*secret);
  if (!pub)
    return std::move(pub.error());
  o.curve_server = std::move(*server);
  o.curve_secret = std::move(*secret);
  o.curve_public = std::move(*pub);
  return caf::none;
}

caf::error zmq_transport::connect(const std::string& endpoint, callbacks cb) {
  if (socket_)
    return make_error(errc::config_invalid,
                      who_ + ": already connected to " + socket_->endpoint());
  // A DEALER is never a CURVE server: the keys are the client's.
  opts_.curve_allowed_keys_file.clear();
  opts_.zap = nullptr;
  if (auto err = resolve_client_keys(opts_, who_))
    return err;
  if (!opts_.curve_server.empty())
    log::info(who_, "CURVE to " + endpoint + " as client key " +
                      curve::encode(opts_.curve_public));
  zmq_socket_thread::events ev;
  ev.on_frames = [on_message = cb.on_message, on_invalid = cb.on_invalid](
                   std::vector<std::string>&& frames, wire::blob_ptr&& last,
                   wire::peer_ptr&&) {
    auto msg = wire::parse(std::move(frames), std::move(last));
    if (msg) {
      if (on_message)
        on_message(std::move(*msg));
    } else if (on_invalid) {
      on_invalid(msg.error());
    }
  };
  ev.on_sent = std::move(cb.on_sent);
  ev.on_link = std::move(cb.on_link);
  auto sock = std::make_unique<zmq_socket_thread>(
    zmq_socket_thread::role::dealer_connect, endpoint, opts_, std::move(ev),
    who_);
  if (auto err = sock->start())
    return err;
  socket_ = std::move(sock);
  return caf::none;
}

void zmq_transport::send(wire::cc_message msg) {
  if (socket_)
    socket_->send(std::move(msg));
}

void zmq_transport::close() {
  if (socket_)
    socket_->stop();
}

caf::expected<std::unique_ptr<transport>>
make_transport(const std::string& endpoint, const zmq_options& opts,
               std::string who) {
  auto scheme_is = [&](const char* s) {
    return endpoint.compare(0, std::strlen(s), s) == 0;
  };
  if (scheme_is("tcp://") || scheme_is("ipc://"))
    return std::unique_ptr<transport>{new zmq_transport(opts, std::move(who))};
  if (scheme_is("caf://"))
    return make_error(errc::config_invalid,
                      who + ": remote-cc " + endpoint +
                        ": the CAF transport is not part of this build yet");
  // inproc:// would need a context shared with the remote side, which a
  // separate server process never is.
  return make_error(errc::config_invalid,
                    who + ": remote-cc " + endpoint +
                      ": not a tcp:// or ipc:// endpoint");
}

} // namespace cc
