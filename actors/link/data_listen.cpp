// The central end of data connections: see data_listen.hpp.
#include "actors/link/data_listen.hpp"

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actors/core/router.hpp"
#include "actors/link/data_frame.hpp"
#include "actors/link/zmq_roles.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"

namespace cc {

namespace {

const char* who = "gateway";

// A connection reads at most this much per round of the loop, so one busy
// sender does not hold the loop from the others.
constexpr size_t read_per_round = 4u << 20;

// Replies waiting for one connection: filled by send() on any thread,
// emptied by the loop.
struct reply_box {
  std::mutex mtx;
  std::deque<wire::cc_message> queue;
};

struct connection {
  int fd = -1;
  std::string peer;  // IP address, for log lines
  data_frame::decoder dec;
  std::shared_ptr<reply_box> box;  // set at its first message
  // The reply being written (loop thread only).
  std::string head;
  wire::blob_ptr blob;
  size_t done = 0;
  bool writing = false;

  connection(int f, std::string p, uint64_t max_blob, receive_pool_ptr pool)
    : fd(f), peer(std::move(p)), dec(max_blob, true, std::move(pool)) {
  }

  bool has_output() {
    if (writing)
      return true;
    if (!box)
      return false;
    std::lock_guard<std::mutex> guard{box->mtx};
    return !box->queue.empty();
  }
};

caf::error io_error(const std::string& what) {
  return make_error(errc::io, std::string{"data-port: "} + what + ": " +
                                std::strerror(errno));
}

// A listening descriptor on host:port (nonblocking).
caf::expected<int> listen_on(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  bool any = host.empty() || host == "*";
  if (int rc = ::getaddrinfo(any ? nullptr : host.c_str(), service.c_str(),
                             &hints, &found);
      rc != 0 || found == nullptr)
    return make_error(errc::config_invalid,
                      "data-port: cannot resolve '" + host + "': " + gai_strerror(rc));
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  bool ok = fd >= 0 &&
            ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
            ::bind(fd, found->ai_addr, found->ai_addrlen) == 0 &&
            ::listen(fd, 128) == 0;
  ::freeaddrinfo(found);
  if (ok)
    return fd;
  auto err = io_error("cannot listen on " + host + ":" + service);
  if (fd >= 0)
    ::close(fd);
  return err;
}

int bound_port(int fd) {
  sockaddr_storage sa{};
  socklen_t len = sizeof(sa);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return 0;
  if (sa.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
}

} // namespace

class data_listener::engine : public io_client {
public:
  engine(int fd, uint64_t max_blob, events ev, receive_pool_ptr buffers)
    : pool(std::move(buffers)), listen_fd_(fd), max_blob_(max_blob), ev_(std::move(ev)) {
  }

  ~engine() override {
    close_all();
  }

  data_listen_counters counters;
  const receive_pool_ptr pool;  // may be null

  void poll_items(std::vector<zmq_pollitem_t>& items) override {
    polled_.clear();
    if (listen_fd_ < 0)
      return;
    items.push_back({nullptr, listen_fd_, ZMQ_POLLIN, 0});
    bool reading = !(ev_.paused && ev_.paused());
    for (size_t i = 0; i < conns_.size(); ++i) {
      short events = (reading ? ZMQ_POLLIN : 0) |
                     (conns_[i]->has_output() ? ZMQ_POLLOUT : 0);
      if (events == 0)
        continue;
      items.push_back({nullptr, conns_[i]->fd, events, 0});
      polled_.push_back(i);
    }
  }

  void on_ready(zmq_pollitem_t* items, size_t count) override {
    if (count == 0)
      return;
    // Backwards: a closed connection is swapped out with the last one,
    // which has had its turn already.
    for (size_t k = std::min(polled_.size(), count - 1); k > 0; --k) {
      auto i = polled_[k - 1];
      auto revents = items[k].revents;
      if ((revents & (ZMQ_POLLIN | ZMQ_POLLERR)) != 0 && !read_from(i))
        continue;
      if (!write_to(i))
        drop(i, {});
    }
    if ((items[0].revents & ZMQ_POLLIN) != 0)
      accept_all();
  }

  bool send(wire::cc_message& msg) {
    if (msg.route.empty())
      return false;
    std::shared_ptr<reply_box> box;
    {
      std::lock_guard<std::mutex> guard{reg_mtx_};
      auto it = by_id_.find(msg.route.front());
      if (it == by_id_.end())
        return false;
      box = it->second;
    }
    std::lock_guard<std::mutex> guard{box->mtx};
    box->queue.push_back(std::move(msg));
    return true;
  }

  void on_loop_end() override {
    close_all();
  }

  void close_all() {
    for (auto& c : conns_) {
      unregister(*c);
      ::close(c->fd);
    }
    counters.open -= static_cast<int64_t>(conns_.size());
    conns_.clear();
    if (listen_fd_ >= 0)
      ::close(listen_fd_);
    listen_fd_ = -1;
  }

private:
  void accept_all() {
    for (;;) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        return;
      auto peer = zmq_detail::peer_ip(fd);
      if (conns_.size() >= max_connections) {
        ::close(fd);
        refuse(peer, "more than " + std::to_string(max_connections) +
                       " data connections");
        continue;
      }
      ++counters.accepted;
      ++counters.open;
      conns_.push_back(std::make_unique<connection>(fd, std::move(peer), max_blob_, pool));
    }
  }

  // Reads what connection `i` has (up to read_per_round); closes it at its
  // end or at bad input (false then).
  bool read_from(size_t i) {
    auto& c = *conns_[i];
    size_t taken = 0;
    while (taken < read_per_round && !(ev_.paused && ev_.paused())) {
      auto space = c.dec.want();
      auto n = ::read(c.fd, space.data, space.size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return true;
      if (n <= 0) {
        drop(i, c.dec.at_boundary() ? std::string{}
                : n == 0 ? "closed in the middle of a message"
                         : std::string{"read: "} + std::strerror(errno));
        return false;
      }
      taken += static_cast<size_t>(n);
      counters.bytes += n;
      if (auto err = c.dec.commit(static_cast<size_t>(n))) {
        drop(i, describe(err));
        return false;
      }
      while (auto msg = c.dec.take()) // a read may complete several
        deliver(c, std::move(*msg));
      // Less than there was room for: the socket is empty, and the next
      // wait tells when it is not (a read to learn EAGAIN is a system call
      // per line of a trickle).
      if (static_cast<size_t>(n) < space.size)
        return true;
    }
    return true;
  }

  // Writes the replies queued for connection `i` while the socket takes
  // them; false on an error.
  bool write_to(size_t i) {
    auto& c = *conns_[i];
    while (c.writing || next_reply(c)) {
      int64_t written = 0;
      bool ok = data_frame::write_some(c.fd, c.head, c.blob.get(), c.done, written);
      counters.bytes_out += written;
      if (!ok)
        return false;
      if (c.done < c.head.size() + (c.blob ? c.blob->size() : 0))
        return true;
      ++counters.replies;
      c.writing = false;
      c.blob = nullptr;
      if (c.head.capacity() > (size_t{64} << 10)) // kept for the next head, unless large
        std::string{}.swap(c.head);
    }
    return true;
  }

  // The next queued reply, its route frame popped as the ROUTER would.
  bool next_reply(connection& c) {
    if (!c.box)
      return false;
    wire::cc_message msg;
    {
      std::lock_guard<std::mutex> guard{c.box->mtx};
      if (c.box->queue.empty())
        return false;
      msg = std::move(c.box->queue.front());
      c.box->queue.pop_front();
    }
    msg.route.erase(msg.route.begin());
    data_frame::encode_head(msg, c.head);
    c.blob = std::move(msg.blob);
    c.done = 0;
    c.writing = true;
    return true;
  }

  // Its routing id names this connection from its first message on (a
  // newer connection of the same peer takes it over).
  void enroll(connection& c) {
    c.box = std::make_shared<reply_box>();
    std::lock_guard<std::mutex> guard{reg_mtx_};
    by_id_[*c.dec.routing_id()] = c.box;
  }

  // Replies not written go to cc-socket, where the peer's DEALER is.
  void unregister(connection& c) {
    if (!c.box)
      return;
    {
      std::lock_guard<std::mutex> guard{reg_mtx_};
      auto it = by_id_.find(*c.dec.routing_id());
      if (it != by_id_.end() && it->second == c.box)
        by_id_.erase(it);
    }
    std::deque<wire::cc_message> left;
    {
      std::lock_guard<std::mutex> guard{c.box->mtx};
      left.swap(c.box->queue);
    }
    for (auto& msg : left)
      if (ev_.fallback)
        ev_.fallback(std::move(msg));
    c.box = nullptr;
  }

  void deliver(connection& c, data_frame::decoded&& msg) {
    ++counters.messages;
    if (!c.box)
      enroll(c);
    // The peer's routing id in front, as the ROUTER would put it (the
    // decoder left room for it: no new vector).
    msg.frames.insert(msg.frames.begin(), *c.dec.routing_id());
    if (ev_.on_frames)
      ev_.on_frames(std::move(msg.frames), std::move(msg.blob));
  }

  // Closes connection `i`; `why` non-empty: bad input (counted, logged).
  void drop(size_t i, const std::string& why) {
    auto peer = conns_[i]->peer;
    unregister(*conns_[i]);
    ::close(conns_[i]->fd);
    --counters.open;
    conns_[i] = std::move(conns_.back());
    conns_.pop_back();
    if (!why.empty())
      refuse(peer, why);
  }

  void refuse(const std::string& peer, const std::string& why) {
    ++counters.refused;
    if (auto n = refusal_log_.admit(peer + "\n" + why, log_limiter::clock::now()))
      log::warning(who, "data connection from " +
                          (peer.empty() ? std::string{"an unknown address"} : peer) +
                          " closed: " + why +
                          (*n > 0 ? " (" + std::to_string(*n) + " more since the last line)"
                                  : std::string{}));
  }

  int listen_fd_;
  uint64_t max_blob_;
  events ev_;
  std::vector<std::unique_ptr<connection>> conns_;
  std::vector<size_t> polled_;  // conns_ indexes of this round's items
  // routing id -> reply box of its open connection (send() looks here)
  std::mutex reg_mtx_;
  std::map<std::string, std::shared_ptr<reply_box>> by_id_;
  log_limiter refusal_log_{std::chrono::minutes{1}, 4096};
};

caf::expected<std::unique_ptr<data_listener>>
data_listener::start(std::shared_ptr<io_loop> loop, const std::string& host,
                     int port, uint64_t max_blob, events ev, receive_pool_ptr pool) {
  auto fd = listen_on(host, port);
  if (!fd)
    return std::move(fd.error());
  std::unique_ptr<data_listener> out{new data_listener};
  out->port_ = bound_port(*fd);
  out->engine_ = std::make_shared<engine>(*fd, max_blob, std::move(ev), std::move(pool));
  out->attachment_ = std::make_unique<io_attachment>(std::move(loop), out->engine_);
  out->attachment_->loop().wake();
  return out;
}

void data_listener::stop() {
  attachment_.reset();
  engine_->close_all();
}

data_listener::~data_listener() {
  stop();
}

bool data_listener::send(wire::cc_message& msg) {
  if (!attachment_ || !engine_->send(msg))
    return false;
  attachment_->loop().wake();
  return true;
}

const data_listen_counters& data_listener::counters() const {
  return engine_->counters;
}

void data_listener::add_stats(cc::counters& out) const {
  const auto& c = engine_->counters;
  out["data_port"] = port_;
  out["data_accepted"] = c.accepted.load();
  out["data_open"] = c.open.load();
  out["data_messages"] = c.messages.load();
  out["data_bytes_in"] = c.bytes.load();
  out["data_refused"] = c.refused.load();
  out["data_replies"] = c.replies.load();
  out["data_bytes_out"] = c.bytes_out.load();
  if (!engine_->pool)
    return;
  auto p = engine_->pool->counts();
  out["data_pool_hits"] = p.hits;
  out["data_pool_misses"] = p.misses;
  out["data_pool_unmapped"] = p.unmapped;
  out["data_pool_kept_bytes"] = p.kept_bytes;
  out["data_pool_in_use"] = p.in_use;
}

} // namespace cc
