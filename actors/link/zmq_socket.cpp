// One ZeroMQ socket on the process's I/O loop: see zmq_socket.hpp. What is
// the ROUTER's or the DEALER's own is in zmq_roles.cpp.
#include "actors/link/zmq_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>

#include <zmq.h>

#include "actors/link/zmq_frames.hpp"
#include "actors/link/zmq_roles.hpp"
#include "base/error.hpp"
#include "base/io_loop.hpp"
#include "base/logger.hpp"

namespace cc {

namespace zmq_detail {

/// One multipart message as read, before the checks that may refuse it.
struct incoming {
  std::vector<std::string> frames;
  wire::blob_ptr last;  // the final frame, when large: kept, not copied
  size_t bytes = 0;
  bool admitted = true;
  wire::peer_ptr peer;
};

} // namespace zmq_detail

using namespace zmq_detail;

namespace {

// The monitor of a socket publishes on an inproc address of the process's
// one context: a name of its own per socket.
std::string next_monitor_address() {
  static std::atomic<uint64_t> sockets{0};
  return "inproc://cc-socket-monitor-" + std::to_string(++sockets);
}

// Whole milliseconds until `deadline`, rounded up (a wait of 0 before it
// would spin), at least 0.
long ms_until(clock::time_point deadline) {
  auto left = deadline - clock::now();
  if (left <= clock::duration::zero())
    return 0;
  return static_cast<long>(
    std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

} // namespace

// -- the engine: the socket's side on the loop -----------------------------------

// Phases on the loop thread: idle (not opened yet), running, draining (stop
// asked: sending what is queued until the deadline, reading nothing), closed
// (also after a failed open). Only `closed_` (under mtx_) is seen by other
// threads.
class zmq_socket_loop::engine : public io_client,
                                public std::enable_shared_from_this<engine> {
public:
  engine(role r, std::string endpoint, zmq_options opts, events ev,
         std::string who)
    : endpoint(std::move(endpoint)),
      role_(r),
      opts_(std::move(opts)),
      events_(std::move(ev)),
      who_(std::move(who)) {
  }

  const std::string endpoint;
  zmq_socket_counters counters;
  std::atomic<bool> reading{true};
  std::atomic<bool> throttled{false};

  int io_threads() const {
    return opts_.io_threads;
  }

  // -- any thread

  void queue(wire::cc_message msg) {
    counters.queued_bytes += static_cast<int64_t>(msg.wire_size());
    {
      std::lock_guard<std::mutex> guard{mtx_};
      outbox_.push_back(std::move(msg));
    }
    wake();
  }

  // Before start() and after the handle let go of the loop: nothing to wake.
  void wake() {
    if (auto* loop = loop_.load())
      loop->wake();
  }

  void forget_loop() {
    loop_ = nullptr;
  }

  /// False when the socket is closed already: the caller runs `done`.
  bool add_done(std::function<void()>& done) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_)
      return false;
    if (done)
      dones_.push_back(std::move(done));
    return true;
  }

  bool closed() {
    std::lock_guard<std::mutex> guard{mtx_};
    return closed_;
  }

  void wait_closed() {
    std::unique_lock<std::mutex> lock{mtx_};
    closed_cv_.wait(lock, [this] { return closed_; });
  }

  // -- the loop thread

  caf::error open(io_loop& loop);
  void begin_stop();
  void stop_here();

  void poll_items(std::vector<zmq_pollitem_t>& items) override;
  void on_ready(zmq_pollitem_t* items, size_t count) override;
  long wait_limit_ms() override;
  void on_loop_end() override;

private:
  enum class phase { idle, running, draining, closed };

  std::string open_sockets(io_loop& loop);
  void close_sockets();
  void drain_step();
  void finish();
  void mark_closed();
  void take_outbox();
  void finish_head(bool delivered);
  void send_pending();
  bool can_read() const {
    return reading && !throttled;
  }
  void receive_some(int max_messages);
  bool read_message(incoming& in);
  void take_message(incoming&& in);
  void read_monitor();
  void refusal(const std::string& key, const std::string& text);

  role role_;
  zmq_options opts_;
  events events_;
  std::string who_;
  std::atomic<io_loop*> loop_{nullptr};  // set while the socket is open

  std::mutex mtx_;  // guards outbox_, dones_, closed_
  std::condition_variable closed_cv_;
  std::deque<wire::cc_message> outbox_;  // handed over by other threads
  std::vector<std::function<void()>> dones_;  // stop_async's, run once
  bool closed_ = false;

  /// How the loop waits on one of our ZeroMQ sockets this round. ZeroMQ
  /// signals a socket's commands (a message came in, room to send again) on
  /// its ZMQ_FD, edge-triggered: once ZMQ_EVENTS, a send or a receive has
  /// taken them, the descriptor stays silent until the next. zmq_poll asks
  /// ZMQ_EVENTS of every socket item after each wait (a poll() of its
  /// mailbox and a getpid() each: 4 sockets on the local, ~4 rounds per
  /// trickle line, 32 of its loop's ~50 system calls per line; bench/
  /// PROFILE.md, "Session 15"). So a socket that is `quiet` -- its last
  /// ZMQ_EVENTS showed no message in, and nothing was sent or received on it
  /// since -- is waited on by its descriptor alone; only when that fires is
  /// ZMQ_EVENTS asked. One that waits for room to send is polled as a socket.
  struct waited {
    int fd = -1;        // ZMQ_FD
    bool quiet = false; // may be waited on by `fd`
    bool by_fd = false; // this round's item is `fd`
    short wanted = 0;   // this round's events
  };
  void push_item(void* s, waited& w, short events, std::vector<zmq_pollitem_t>& items);
  void took_item(void* s, waited& w, zmq_pollitem_t& item);

  // The loop thread's own.
  phase phase_ = phase::idle;
  void* sock_ = nullptr;
  void* monitor_ = nullptr;
  waited sock_wait_;
  waited monitor_wait_;
  std::unique_ptr<socket_role> role_impl_;
  std::deque<wire::cc_message> pending_;  // the loop's side of the outbox
  clock::time_point deadline_{};           // of the drain
  log_limiter refusal_log_{std::chrono::seconds{10}, 256};
};

caf::error zmq_socket_loop::engine::open(io_loop& loop) {
  if (phase_ != phase::idle) // a failed start is not retried on this socket
    return make_error(errc::io, who_ + ": " + endpoint + ": opened before");
  role_impl_ = make_role(
    role_, role_env{who_, endpoint, opts_, events_, counters,
                    [this](const std::string& key, const std::string& text) {
                      refusal(key, text);
                    }});
  if (auto why = open_sockets(loop); !why.empty()) {
    int zero = 0;
    if (monitor_ != nullptr)
      zmq_setsockopt(monitor_, ZMQ_LINGER, &zero, sizeof(zero));
    if (sock_ != nullptr)
      zmq_setsockopt(sock_, ZMQ_LINGER, &zero, sizeof(zero));
    close_sockets();
    phase_ = phase::closed;
    mark_closed();
    return make_error(errc::io, who_ + ": " + endpoint + ": " + why);
  }
  phase_ = phase::running;
  loop_ = &loop;
  loop.add(shared_from_this());
  // What was queued before the loop was known woke nobody (the loop is
  // known from here on: a send after this wakes it).
  take_outbox();
  send_pending();
  return caf::none;
}

std::string zmq_socket_loop::engine::open_sockets(io_loop& loop) {
  void* ctx = loop.zmq_context();
  int have = zmq_ctx_get(ctx, ZMQ_IO_THREADS);
  if (opts_.io_threads > 0 && have != opts_.io_threads)
    log::warning(who_, "zmq_nthreads = " + std::to_string(opts_.io_threads) +
                         " not applied: the process's ZeroMQ context already "
                         "runs " + std::to_string(have) +
                         " I/O threads (the first socket sizes it)");
  sock_ = zmq_socket(ctx, role_impl_->socket_type());
  if (sock_ == nullptr)
    return "zmq_socket: " + zmq_error_text();
  std::string why;
  if (!apply_common_options(sock_, opts_, why) ||
      !role_impl_->configure(sock_, why))
    return why;
  auto monitor_address = next_monitor_address();
  if (zmq_socket_monitor(sock_, monitor_address.c_str(),
                         role_impl_->monitored_events()) != 0)
    return "zmq_socket_monitor: " + zmq_error_text();
  monitor_ = zmq_socket(ctx, ZMQ_PAIR);
  if (monitor_ == nullptr || zmq_connect(monitor_, monitor_address.c_str()) != 0)
    return "connecting the monitor: " + zmq_error_text();
  // Their descriptors, for the rounds that wait on them alone (waited).
  for (auto [s, w] : {std::pair{sock_, &sock_wait_}, std::pair{monitor_, &monitor_wait_}}) {
    int fd = -1;
    size_t size = sizeof fd;
    w->fd = zmq_getsockopt(s, ZMQ_FD, &fd, &size) == 0 ? fd : -1;
    w->quiet = false;
  }
  return role_impl_->open(loop, sock_);
}

// Monitor, socket, role: in that order. ZeroMQ keeps sending what it holds
// for the socket's LINGER, in its own I/O thread.
void zmq_socket_loop::engine::close_sockets() {
  if (monitor_ != nullptr) {
    if (sock_ != nullptr)
      zmq_socket_monitor(sock_, nullptr, 0);
    int zero = 0;
    zmq_setsockopt(monitor_, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_close(monitor_);
    monitor_ = nullptr;
  }
  if (sock_ != nullptr)
    zmq_close(sock_);
  sock_ = nullptr;
  sock_wait_ = waited{};
  monitor_wait_ = waited{};
  if (role_impl_)
    role_impl_->closed();
}

// The dones run before closed_ is set, so that stop() returns after them;
// one given meanwhile (by a done) runs in the next pass.
void zmq_socket_loop::engine::mark_closed() {
  for (;;) {
    std::vector<std::function<void()>> dones;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (dones_.empty()) {
        closed_ = true;
        break;
      }
      dones.swap(dones_);
    }
    for (auto& done : dones)
      done();
  }
  closed_cv_.notify_all();
}

void zmq_socket_loop::engine::poll_items(std::vector<zmq_pollitem_t>& items) {
  if (phase_ != phase::running && phase_ != phase::draining)
    return;
  bool running = phase_ == phase::running;
  short events = running && can_read() ? ZMQ_POLLIN : 0;
  if (!pending_.empty() && role_impl_->waits_for_pollout())
    events |= ZMQ_POLLOUT;
  push_item(sock_, sock_wait_, events, items);
  push_item(monitor_, monitor_wait_, static_cast<short>(running ? ZMQ_POLLIN : 0), items);
}

void zmq_socket_loop::engine::push_item(void* s, waited& w, short events,
                                        std::vector<zmq_pollitem_t>& items) {
  w.wanted = events;
  w.by_fd = w.quiet && w.fd >= 0 && phase_ == phase::running && !(events & ZMQ_POLLOUT);
  if (w.by_fd && s == sock_)
    ++counters.quiet_waits;
  if (w.by_fd)
    items.push_back(zmq_pollitem_t{nullptr, w.fd, static_cast<short>(events ? ZMQ_POLLIN : 0), 0});
  else
    items.push_back(zmq_pollitem_t{s, 0, events, 0});
}

// After the wait: the item's revents as zmq_poll would have set them. A
// descriptor that fired is asked ZMQ_EVENTS (which takes its signal); a
// socket item's ZMQ_EVENTS was asked by zmq_poll.
void zmq_socket_loop::engine::took_item(void* s, waited& w, zmq_pollitem_t& item) {
  if (w.by_fd) {
    bool fired = (item.revents & ZMQ_POLLIN) != 0;
    item.revents = 0;
    if (!fired)
      return; // still quiet
    uint32_t zev = 0;
    size_t size = sizeof zev;
    if (zmq_getsockopt(s, ZMQ_EVENTS, &zev, &size) != 0) {
      w.quiet = false;
      return;
    }
    item.revents = static_cast<short>(zev & static_cast<uint32_t>(w.wanted));
    w.quiet = (zev & ZMQ_POLLIN) == 0;
    return;
  }
  // Known to hold no message only if one was asked for and none is there.
  w.quiet = (w.wanted & ZMQ_POLLIN) && !(item.revents & ZMQ_POLLIN);
}

// Reads first (at most 256 messages a round: the others get their turn),
// then sends what other threads queued meanwhile.
void zmq_socket_loop::engine::on_ready(zmq_pollitem_t* items, size_t count) {
  if (count < 2) // opened after this round's wait began
    return;
  took_item(sock_, sock_wait_, items[0]);
  took_item(monitor_, monitor_wait_, items[1]);
  if (phase_ == phase::running) {
    if (items[0].revents & ZMQ_POLLIN) {
      sock_wait_.quiet = false; // received: ask ZMQ_EVENTS again
      receive_some(256);
    }
    if (items[1].revents & ZMQ_POLLIN) {
      monitor_wait_.quiet = false;
      read_monitor();
    }
    take_outbox();
    if (!pending_.empty())
      sock_wait_.quiet = false; // sent (or tried): ask ZMQ_EVENTS again
    send_pending();
  } else if (phase_ == phase::draining) {
    drain_step();
  }
}

// A blocked head is retried every retry_ms (a ROUTER's peer at its HWM);
// a drain ends at its deadline.
long zmq_socket_loop::engine::wait_limit_ms() {
  if (phase_ != phase::running && phase_ != phase::draining)
    return -1;
  long limit = pending_.empty() ? -1 : role_impl_->retry_ms();
  if (phase_ == phase::draining) {
    long left = ms_until(deadline_);
    limit = limit < 0 ? left : std::min(limit, left);
  }
  return limit;
}

// Not reached while a handle holds the loop (it stops its socket first):
// closes without a drain so that the context can end.
void zmq_socket_loop::engine::on_loop_end() {
  if (phase_ != phase::running && phase_ != phase::draining)
    return;
  close_sockets();
  phase_ = phase::closed;
  loop_ = nullptr;
  mark_closed();
}

// Whatever is queued gets at most linger_ms to leave, then the socket closes
// with the rest of that time as its LINGER.
void zmq_socket_loop::engine::begin_stop() {
  if (phase_ != phase::running)
    return;
  phase_ = phase::draining;
  deadline_ = clock::now() + std::chrono::milliseconds(opts_.linger_ms);
  drain_step();
}

void zmq_socket_loop::engine::drain_step() {
  take_outbox();
  send_pending();
  if (pending_.empty() || clock::now() >= deadline_)
    finish();
}

// stop() on the loop thread: the drain cannot wait for later rounds, so it
// waits here, on this socket alone.
void zmq_socket_loop::engine::stop_here() {
  begin_stop();
  while (phase_ == phase::draining) {
    short events = role_impl_->waits_for_pollout() ? ZMQ_POLLOUT : 0;
    zmq_pollitem_t item{sock_, 0, events, 0};
    zmq_poll(&item, 1, wait_limit_ms());
    drain_step();
  }
}

void zmq_socket_loop::engine::finish() {
  if (!pending_.empty()) {
    size_t bytes = 0;
    for (auto& m : pending_)
      bytes += m.wire_size();
    counters.dropped += static_cast<int64_t>(pending_.size());
    counters.queued_bytes -= static_cast<int64_t>(bytes);
    log::warning(who_, std::to_string(pending_.size()) + " messages (" +
                         std::to_string(bytes) + " bytes) still queued for " +
                         endpoint + " after " +
                         std::to_string(opts_.linger_ms) +
                         " ms at shutdown: not sent");
    pending_.clear();
  }
  int linger = static_cast<int>(ms_until(deadline_));
  zmq_setsockopt(sock_, ZMQ_LINGER, &linger, sizeof(linger));
  close_sockets();
  phase_ = phase::closed;
  if (auto* loop = loop_.exchange(nullptr))
    loop->remove(this);
  mark_closed();
}

void zmq_socket_loop::engine::take_outbox() {
  std::lock_guard<std::mutex> guard{mtx_};
  while (!outbox_.empty()) {
    pending_.push_back(std::move(outbox_.front()));
    outbox_.pop_front();
  }
}

void zmq_socket_loop::engine::finish_head(bool delivered) {
  auto bytes = pending_.front().wire_size();
  pending_.pop_front();
  role_impl_->head_done();
  counters.queued_bytes -= static_cast<int64_t>(bytes);
  if (delivered) {
    ++counters.sent;
    counters.bytes_out += static_cast<int64_t>(bytes);
  }
  if (events_.on_sent)
    events_.on_sent(bytes);
}

// Sends from the head of the queue until ZeroMQ pushes back.
void zmq_socket_loop::engine::send_pending() {
  while (!pending_.empty()) {
    int err = 0;
    switch (send_one(sock_, pending_.front(), err)) {
      case send_result::sent:
        finish_head(true);
        break;
      case send_result::unroutable:
        ++counters.unroutable;
        log::debug(who_, "reply to a peer that is gone dropped (" +
                           pending_.front().type + ")");
        finish_head(false);
        break;
      case send_result::failed:
        ++counters.dropped;
        log::error(who_, "send of " + pending_.front().type +
                           " failed: " + zmq_strerror(err));
        finish_head(false);
        break;
      case send_result::would_block:
        if (role_impl_->keep_waiting(pending_.front(), clock::now()))
          return;
        ++counters.dropped;
        finish_head(false);
        break;
    }
  }
}

void zmq_socket_loop::engine::refusal(const std::string& key,
                                      const std::string& text) {
  if (auto n = refusal_log_.admit(key, log_limiter::clock::now()))
    log::warning(who_, text + (*n > 0 ? " (and " + std::to_string(*n) +
                                          " more since the last line)"
                                      : std::string{}));
}

void zmq_socket_loop::engine::receive_some(int max_messages) {
  for (int n = 0; n < max_messages && can_read(); ++n) {
    incoming in;
    if (!read_message(in))
      return;
    take_message(std::move(in));
  }
}

// Reads one multipart message. ZMQ_MAXMSGSIZE bounds each frame (ZeroMQ
// drops the connection of a peer that sends a bigger one); the whole message
// is bounded here: past max_message_size its frames are read and thrown away,
// as are those of a peer `admit` refuses.
bool zmq_socket_loop::engine::read_message(incoming& in) {
  const size_t max_total = opts_.max_message_size > 0
                             ? static_cast<size_t>(opts_.max_message_size)
                             : SIZE_MAX;
  bool checked = !events_.admit;
  size_t index = 0;
  for (;;) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, sock_, ZMQ_DONTWAIT) < 0) {
      int err = zmq_errno();
      zmq_msg_close(&part);
      if (!(in.frames.empty() && err == EAGAIN))
        log::error(who_, std::string{"receive failed: "} + zmq_strerror(err));
      return false;
    }
    auto size = zmq_msg_size(&part);
    // The peer's frames (not the routing id the ROUTER adds) carry the
    // connection's metadata: its ZAP user id and address.
    if (!checked && index++ > 0) {
      checked = true;
      const char* uid = zmq_msg_gets(&part, "User-Id");
      const char* addr = zmq_msg_gets(&part, "Peer-Address");
      in.peer = events_.admit(uid ? uid : "", addr ? addr : "");
      in.admitted = in.peer != nullptr;
    }
    in.bytes += size;
    bool more = zmq_msg_more(&part) != 0;
    if (!in.admitted || in.bytes > max_total)
      in.frames.clear();
    else if (!more && size >= keep_frame_min)
      in.last = keep_frame(part);
    else
      in.frames.emplace_back(static_cast<const char*>(zmq_msg_data(&part)), size);
    zmq_msg_close(&part);
    if (!more)
      return true;
  }
}

void zmq_socket_loop::engine::take_message(incoming&& in) {
  ++counters.received;
  counters.bytes_in += static_cast<int64_t>(in.bytes);
  if (!in.admitted) {
    ++counters.not_admitted;
    return;
  }
  if (opts_.max_message_size > 0 &&
      in.bytes > static_cast<size_t>(opts_.max_message_size)) {
    ++counters.oversize;
    refusal("oversize", "a message of " + std::to_string(in.bytes) +
                          " bytes (over max-message-size " +
                          std::to_string(opts_.max_message_size) + ") dropped");
    return;
  }
  if (events_.on_frames)
    events_.on_frames(std::move(in.frames), std::move(in.last),
                      std::move(in.peer));
}

void zmq_socket_loop::engine::read_monitor() {
  uint16_t event = 0;
  uint32_t value = 0;
  std::string peer;
  while (read_monitor_event(monitor_, event, value, peer))
    role_impl_->on_monitor(event, value, peer);
}

// -- the handle ---------------------------------------------------------------------

zmq_socket_loop::zmq_socket_loop(role r, std::string endpoint, zmq_options opts,
                                 events ev, std::string who)
  : engine_(std::make_shared<engine>(r, std::move(endpoint), std::move(opts),
                                     std::move(ev), std::move(who))) {
  // Nothing below may run before start(); keep the constructor infallible.
}

zmq_socket_loop::~zmq_socket_loop() {
  stop();
  engine_->forget_loop();
}

caf::error zmq_socket_loop::start() {
  if (loop_)
    return caf::none;
  std::shared_ptr<io_loop> loop;
  try {
    loop = io_loop::shared(std::max(1, engine_->io_threads()));
  } catch (const std::exception& e) {
    return make_error(errc::io, engine_->endpoint + ": " + e.what());
  }
  caf::error err;
  if (loop->in_loop()) {
    err = engine_->open(*loop);
  } else {
    std::promise<caf::error> opened;
    auto result = opened.get_future();
    loop->post([eng = engine_, at = loop.get(), &opened] {
      opened.set_value(eng->open(*at));
    });
    err = result.get();
  }
  if (err)
    return err; // nothing of this socket is left on the loop
  loop_ = std::move(loop);
  return caf::none;
}

void zmq_socket_loop::send(wire::cc_message msg) {
  engine_->queue(std::move(msg));
}

void zmq_socket_loop::set_reading(bool on) {
  engine_->reading = on;
  engine_->wake();
}

void zmq_socket_loop::set_throttled(bool on) {
  // Only a pause that ends wakes the loop: the gateway calls this for every
  // answered message, most of which end no pause.
  bool was = engine_->throttled.exchange(on);
  if (was && !on)
    engine_->wake();
}

void zmq_socket_loop::stop() {
  if (!loop_ || engine_->closed())
    return;
  if (loop_->in_loop()) {
    engine_->stop_here();
    return;
  }
  loop_->post([eng = engine_] { eng->begin_stop(); });
  engine_->wait_closed();
}

void zmq_socket_loop::stop_async(std::function<void()> done) {
  if (!loop_ || !engine_->add_done(done)) {
    if (done)
      done();
    return;
  }
  loop_->post([eng = engine_] { eng->begin_stop(); });
}

const zmq_socket_counters& zmq_socket_loop::counters() const {
  return engine_->counters;
}

const std::string& zmq_socket_loop::endpoint() const {
  return engine_->endpoint;
}

} // namespace cc
