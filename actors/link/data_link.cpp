// The local end of a data connection: see data_link.hpp.
#include "actors/link/data_link.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actors/core/router.hpp"
#include "actors/link/data_frame.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "base/loop_jobs.hpp"

namespace cc {

std::optional<std::string> tcp_host_of(const std::string& endpoint) {
  const std::string scheme = "tcp://";
  if (endpoint.compare(0, scheme.size(), scheme) != 0)
    return std::nullopt;
  auto rest = endpoint.substr(scheme.size());
  if (auto semi = rest.find(';'); semi != std::string::npos)
    rest = rest.substr(semi + 1); // a source address before ';'
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return std::nullopt;
  auto host = rest.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "*")
    return std::nullopt;
  return host;
}

std::optional<data_address> resolve_data_address(const std::string& host,
                                                 int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0 ||
      found == nullptr)
    return std::nullopt;
  data_address out;
  std::memcpy(&out.addr, found->ai_addr, found->ai_addrlen);
  out.len = found->ai_addrlen;
  out.text = host + ":" + service;
  ::freeaddrinfo(found);
  return out;
}

bool data_gate::send(wire::cc_message& msg) {
  if (!data_carries(msg.type))
    return false;
  std::lock_guard<std::mutex> guard{mtx_};
  return link_ && link_->send(msg);
}

std::unique_ptr<data_link> data_gate::exchange(std::unique_ptr<data_link> link) {
  std::lock_guard<std::mutex> guard{mtx_};
  std::swap(link, link_);
  return link;
}

bool data_gate::has_link() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return link_ != nullptr;
}

bool data_carries(const std::string& type) {
  // pub.logtail and its suffixed types (docs/wire.md §3.1), fragments and
  // questions alike: a tailer's messages stay in one order.
  const std::string base = "pub.logtail";
  return type.compare(0, base.size(), base) == 0 &&
         (type.size() == base.size() || type[base.size()] == '.');
}

namespace {

using steady = std::chrono::steady_clock;

// A message (or the hello) on its way into the socket.
struct writing {
  std::string head;
  wire::blob_ptr blob;
  size_t done = 0;       // stream bytes written of head + blob
  uint64_t wire = 0;     // its wire_size, for on_sent
  bool counts = false;   // a message (the hello is not)

  size_t total() const {
    return head.size() + (blob ? blob->size() : 0);
  }
};

} // namespace

class data_link::engine : public io_client {
public:
  engine(data_address to, std::string id, std::string who, callbacks cb,
         std::shared_ptr<data_link_counters> counters)
    : to_(std::move(to)), id_(std::move(id)), who_(std::move(who)),
      cb_(std::move(cb)), counters_(std::move(counters)) {
  }

  // Any thread; `may_write` off the loop's (whose own writes hold the
  // writer lock). `wake`: the loop has work now.
  bool offer(wire::cc_message& msg, bool may_write, bool& wake) {
    if (may_write && direct_fits(msg)) {
      // try_lock: the loop holds the writer lock while it writes or closes
      // the socket; then the message waits in the outbox as before.
      std::unique_lock<std::mutex> writer{wr_mtx_, std::try_to_lock};
      if (writer.owns_lock()) {
        switch (try_direct(msg)) {
          case direct::down:
            return false;
          case direct::done:
            return true;
          case direct::loop_finishes:
            wake = true;
            return true;
          case direct::not_now:
            break;
        }
      }
    }
    std::lock_guard<std::mutex> guard{mtx_};
    if (!up_)
      return false;
    // Behind a queued message the loop needs no wake-up: it writes the
    // outbox until it is empty or the socket is full, and while anything
    // is queued it waits for POLLOUT (poll_items). A wake there costs it a
    // round and a write the full socket refuses (bulk: one a fragment).
    wake = outbox_.empty();
    outbox_.push_back(std::move(msg));
    return true;
  }

  const data_address& address() const {
    return to_;
  }

  void poll_items(std::vector<zmq_pollitem_t>& items) override {
    std::lock_guard<std::mutex> writer{wr_mtx_};
    if (fd_ < 0)
      return;
    short events = ZMQ_POLLOUT;
    if (!connecting_) {
      events = ZMQ_POLLIN;
      if (cur_ || has_queued())
        events |= ZMQ_POLLOUT;
    }
    asked_out_ = (events & ZMQ_POLLOUT) != 0;
    items.push_back({nullptr, fd_, events, 0});
  }

  void on_ready(zmq_pollitem_t* items, size_t count) override {
    bool idle = false;
    {
      std::lock_guard<std::mutex> writer{wr_mtx_};
      ready(items, count);
      idle = !cur_ && !has_queued();
    }
    hand_on_replies(idle);
  }

  // After the round's socket work, no lock held: the replies read go on,
  // in order. A receiver run here may write into this link (a direct
  // write) or drop it (the loop holds the engine until the round ends), so
  // only the callbacks are used after the first one.
  void hand_on_replies(bool idle) {
    if (replies_.empty())
      return;
    handing_.swap(replies_); // both keep their room: no allocation a round
    bool here = idle && cb_.on_message_here;
    if (here)
      counters_->replies_here += static_cast<int64_t>(handing_.size());
    const auto& to = here ? cb_.on_message_here : cb_.on_message;
    if (to)
      for (auto& msg : handing_)
        to(std::move(msg));
    handing_.clear();
  }

  // The writer lock held: the round's socket work.
  void ready(zmq_pollitem_t* items, size_t count) {
    if (fd_ >= 0 && !broken_.empty())
      return fail(std::exchange(broken_, std::string{}));
    if (fd_ < 0) {
      if (steady::now() >= retry_at_)
        connect();
      return;
    }
    short revents = count > 0 ? items[0].revents : 0;
    if (connecting_) {
      if (revents != 0)
        finish_connect();
      return;
    }
    if ((revents & (ZMQ_POLLIN | ZMQ_POLLERR)) != 0 && !read_replies())
      return fail("the central closed it");
    // Waited for room and the socket has none: writing now would only be
    // refused (the round was someone else's wake-up).
    if (asked_out_ && (revents & (ZMQ_POLLOUT | ZMQ_POLLERR)) == 0)
      return;
    pump_or_fail();
  }

  long wait_limit_ms() override {
    std::lock_guard<std::mutex> writer{wr_mtx_};
    if (fd_ >= 0)
      return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      retry_at_ - steady::now());
    return std::max<long>(0, static_cast<long>(left.count()));
  }

  void on_loop_end() override {
    std::lock_guard<std::mutex> writer{wr_mtx_};
    close_fd();
  }

  /// Off the loop: the descriptor closed, queued messages to ZeroMQ.
  void shut() {
    std::lock_guard<std::mutex> writer{wr_mtx_};
    close_fd();
    give_back();
  }

private:
  enum class direct {
    down,          // the connection is not up: the caller uses ZeroMQ
    done,          // written whole
    loop_finishes, // in cur_ (partly written) or back in the outbox: the loop
                   // writes the rest or, when broken_, fails the connection
    not_now,       // something is queued or being written: to the outbox
  };

  static bool direct_fits(const wire::cc_message& msg) {
    if (!msg.blob)
      return true;
    return msg.blob->file() == nullptr && msg.blob->size() <= data_link::direct_max;
  }

  // The writer lock held. A small message goes into the socket from the
  // sender's thread when nothing is ahead of it, saving the loop's wake-up
  // (docs/architecture.md, "The threads a trickle line crosses"). What the
  // socket does not take whole is left where the loop goes on from.
  direct try_direct(wire::cc_message& msg) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!up_)
        return direct::down;
      if (!outbox_.empty())
        return direct::not_now;
    }
    if (fd_ < 0 || connecting_ || cur_ || !broken_.empty())
      return direct::not_now;
    writing w{data_frame::encode_head(msg), msg.blob, 0, msg.wire_size(), true};
    int64_t written = 0;
    bool ok = data_frame::write_some(fd_, w.head, w.blob.get(), w.done, written);
    counters_->bytes += written;
    if (ok && w.done == w.total()) {
      ++counters_->messages;
      ++counters_->direct;
      if (cb_.on_sent)
        cb_.on_sent(w.wire);
      return direct::done;
    }
    if (!ok)
      broken_ = std::string{"write: "} + std::strerror(errno);
    if (w.done == 0) {
      // Not a byte went: it stays whole, ahead of anything sent after it
      // (to ZeroMQ with the rest if the connection failed).
      std::lock_guard<std::mutex> guard{mtx_};
      outbox_.push_front(std::move(msg));
    } else {
      cur_ = std::move(w);
    }
    return direct::loop_finishes;
  }

  bool has_queued() {
    std::lock_guard<std::mutex> guard{mtx_};
    return !outbox_.empty();
  }

  void connect() {
    fd_ = ::socket(to_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
      return fail(std::string{"socket: "} + std::strerror(errno));
    int one = 1;
    // Small messages (a trickle's lines, questions) go at once.
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    connecting_ = true;
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&to_.addr), to_.len) == 0)
      return finish_connect();
    if (errno != EINPROGRESS)
      fail(std::string{"connect: "} + std::strerror(errno));
  }

  void finish_connect() {
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      return fail(std::string{"connect: "} + std::strerror(err));
    }
    connecting_ = false;
    in_ = data_frame::decoder{data_frame::default_max_blob, false};
    cur_ = writing{data_frame::encode_hello(id_), nullptr, 0, 0, false};
    {
      std::lock_guard<std::mutex> guard{mtx_};
      up_ = true;
    }
    counters_->up = true;
    ++counters_->connects;
    log::info(who_, "data connection to " + to_.text + " up: pub.logtail "
                    "payloads go there, beside the ZeroMQ link");
    pump_or_fail();
  }

  // The central's replies to this peer (acks, answers): read what is
  // there, kept for the round's end. False at the end of the stream or bad
  // input.
  bool read_replies() {
    for (int i = 0; i < 64; ++i) {
      auto space = in_.want();
      auto n = ::recv(fd_, space.data, space.size, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return true;
      if (n <= 0)
        return false;
      counters_->bytes_in += n;
      if (auto err = in_.commit(static_cast<size_t>(n))) {
        if (cb_.on_invalid)
          cb_.on_invalid(err);
        return false;
      }
      while (auto got = in_.take()) { // a read may complete several
        ++counters_->replies;
        auto msg = wire::parse(std::move(got->frames), std::move(got->blob));
        if (msg)
          replies_.push_back(std::move(*msg));
        else if (cb_.on_invalid)
          cb_.on_invalid(msg.error());
      }
    }
    return true;
  }

  bool next() {
    std::lock_guard<std::mutex> guard{mtx_};
    if (outbox_.empty())
      return false;
    auto& msg = outbox_.front();
    cur_ = writing{data_frame::encode_head(msg), msg.blob, 0, msg.wire_size(), true};
    outbox_.pop_front();
    return true;
  }

  void pump_or_fail() {
    std::string why;
    bool gone = false;
    if (!pump(why, gone))
      fail(why, gone);
  }

  // Writes what it can without blocking; false when the connection must
  // close: `why` says why, `gone` when a file range's bytes were gone.
  bool pump(std::string& why, bool& gone) {
    while (cur_ || next()) {
      auto& w = *cur_;
      int64_t written = 0;
      bool ok = write_current(w, written, why, gone);
      counters_->bytes += written;
      if (!ok)
        return false;
      if (w.done < w.total())
        return true; // the socket is full: wait for POLLOUT
      if (w.counts) {
        ++counters_->messages;
        if (cb_.on_sent)
          cb_.on_sent(w.wire);
      }
      cur_.reset();
    }
    return true;
  }

  bool write_current(writing& w, int64_t& written, std::string& why, bool& gone) {
    const wire::file_range* range = w.blob ? w.blob->file() : nullptr;
    if (range == nullptr) {
      if (data_frame::write_some(fd_, w.head, w.blob.get(), w.done, written))
        return true;
      why = std::string{"write: "} + std::strerror(errno);
      return false;
    }
    caf::error err;
    switch (data_frame::write_range_some(fd_, w.head, *range, w.done, written, err)) {
      case data_frame::range_write::progress:
        if (w.done == w.total())
          ++counters_->sendfile;
        return true;
      case data_frame::range_write::failed:
        why = std::string{"write: "} + std::strerror(errno);
        return false;
      case data_frame::range_write::range_gone:
        break;
    }
    ++counters_->ranges_gone;
    gone = true;
    why = message_of(err);
    return false;
  }

  void fail(const std::string& why, bool range_gone = false) {
    bool was_up = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      was_up = up_;
    }
    close_fd();
    ++counters_->failures;
    retry_at_ = steady::now() + std::chrono::milliseconds{retry_ms};
    give_back();
    if (range_gone) {
      // A source changed under a pending fragment (copytruncate, usually):
      // its bytes are sent again from where they are now.
      log::warning(who_, why + ": data connection to " + to_.text +
                           " closed mid-message; the writer's gap answer or the "
                           "ack timeout sends those bytes again");
      return;
    }
    // Info, not a warning: nothing is lost, ZeroMQ carries on meanwhile.
    if (auto n = limiter_.admit(was_up ? "down" : "refused", log_limiter::clock::now()))
      log::info(who_, "data connection to " + to_.text +
                           (was_up ? " lost (" : " failed (") + why +
                           "): pub.logtail goes over ZeroMQ until it is back" +
                           (*n > 0 ? " (" + std::to_string(*n) + " more since the last line)"
                                   : std::string{}));
  }

  // The connection is gone: the message being written may be lost (the
  // gap / ack-timeout path repairs it), the queued ones go to ZeroMQ.
  void give_back() {
    std::deque<wire::cc_message> queued;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      up_ = false;
      counters_->up = false;
      queued.swap(outbox_);
    }
    if (cur_ && cur_->counts) {
      ++counters_->lost;
      if (cb_.on_sent)
        cb_.on_sent(cur_->wire);
    }
    cur_.reset();
    for (auto& msg : queued) {
      ++counters_->fell_back;
      if (cb_.fallback)
        cb_.fallback(std::move(msg));
    }
  }

  void close_fd() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
    connecting_ = false;
    broken_.clear(); // a direct write's error belongs to this connection only
  }

  data_address to_;
  std::string id_;
  std::string who_;
  callbacks cb_;
  std::shared_ptr<data_link_counters> counters_;
  // The writer's (wr_mtx_): the loop thread's, or a sender's for a direct
  // write. Lock order: wr_mtx_, then mtx_.
  std::mutex wr_mtx_;
  std::string broken_;  // a direct write's error: the loop fails the connection
  int fd_ = -1;
  bool connecting_ = false;
  bool asked_out_ = false; // this round's poll waits for POLLOUT
  steady::time_point retry_at_{};
  std::optional<writing> cur_;
  data_frame::decoder in_{data_frame::default_max_blob, false};
  // Replies read in this round, and those being handed on at its end (the
  // loop thread's).
  std::vector<wire::cc_message> replies_;
  std::vector<wire::cc_message> handing_;
  log_limiter limiter_{std::chrono::seconds{30}};
  // Shared with send().
  std::mutex mtx_;
  bool up_ = false;
  std::deque<wire::cc_message> outbox_;
};

data_link::data_link(std::shared_ptr<io_loop> loop, data_address to,
                     std::string routing_id, std::string who, callbacks cb,
                     std::shared_ptr<data_link_counters> counters)
  : engine_(std::make_shared<engine>(std::move(to), std::move(routing_id),
                                     std::move(who), std::move(cb),
                                     std::move(counters))) {
  attachment_ = std::make_unique<io_attachment>(std::move(loop), engine_);
  attachment_->loop().wake();
}

data_link::~data_link() {
  attachment_.reset();  // off the loop: it calls the engine no more
  engine_->shut();
}

bool data_link::send(wire::cc_message& msg) {
  bool wake = false;
  // On the loop thread only from a loop_jobs scope (an inotify wake's
  // tailer, base/loop_jobs.hpp): the loop is not inside this socket's code
  // then, so the writer lock is free to try.
  bool may_write = !attachment_->loop().in_loop() || loop_jobs::running();
  if (!engine_->offer(msg, may_write, wake))
    return false;
  if (wake)
    attachment_->loop().wake();
  return true;
}

const data_address& data_link::address() const {
  return engine_->address();
}

} // namespace cc
