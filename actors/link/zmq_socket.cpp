// The loop of one ZeroMQ socket: see zmq_socket.hpp. What is the ROUTER's or
// the DEALER's own is in zmq_roles.cpp.
#include "actors/link/zmq_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>

#include <sys/eventfd.h>
#include <unistd.h>

#include <zmq.h>

#include "actors/link/zmq_roles.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "base/thread_name.hpp"

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

// The monitor of a socket publishes on this inproc address. Every socket
// thread has its own context, so one fixed name cannot clash.
constexpr const char* monitor_address = "inproc://cc-socket-monitor";

// Blob frames below this size are copied: ZeroMQ keeps small messages inline,
// so handing over ownership would cost more than the copy.
constexpr size_t zero_copy_min = 1024;

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

// One monitor event: frame 1 is a 16-bit event and a 32-bit value, frame 2
// the peer address. False when none is waiting.
bool read_monitor_event(void* monitor, uint16_t& event, uint32_t& value,
                        std::string& peer) {
  zmq_msg_t head;
  zmq_msg_init(&head);
  if (zmq_msg_recv(&head, monitor, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&head);
    return false;
  }
  event = 0;
  value = 0;
  if (zmq_msg_size(&head) >= sizeof(event) + sizeof(value)) {
    std::memcpy(&event, zmq_msg_data(&head), sizeof(event));
    std::memcpy(&value,
                static_cast<const char*>(zmq_msg_data(&head)) + sizeof(event),
                sizeof(value));
  }
  bool more = zmq_msg_more(&head) != 0;
  zmq_msg_close(&head);
  peer.clear();
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
  return true;
}

int64_t ms_until(clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                               clock::now())
    .count();
}

} // namespace

// -- the handle other threads use -----------------------------------------------

zmq_socket_loop::zmq_socket_loop(role r, std::string endpoint, zmq_options opts,
                                 events ev, std::string who)
  : role_(r),
    endpoint_(std::move(endpoint)),
    opts_(opts),
    events_(std::move(ev)),
    who_(std::move(who)) {
  // Nothing below may run before start(); keep the constructor infallible.
}

zmq_socket_loop::~zmq_socket_loop() {
  stop();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

caf::error zmq_socket_loop::start() {
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

void zmq_socket_loop::wake() {
  uint64_t one = 1;
  auto rc = ::write(wake_fd_, &one, sizeof(one));
  (void) rc; // EAGAIN: the counter is already non-zero, the thread wakes
}

void zmq_socket_loop::send(wire::cc_message msg) {
  counters_.queued_bytes += static_cast<int64_t>(msg.wire_size());
  {
    std::lock_guard<std::mutex> guard{mtx_};
    outbox_.push_back(std::move(msg));
  }
  wake();
}

void zmq_socket_loop::set_reading(bool on) {
  reading_ = on;
  if (thread_.joinable())
    wake();
}

void zmq_socket_loop::set_throttled(bool on) {
  // Only a pause that ends wakes the thread: the gateway calls this for
  // every answered message, most of which end no pause.
  bool was = throttled_.exchange(on);
  if (was && !on && thread_.joinable())
    wake();
}

void zmq_socket_loop::stop() {
  if (!thread_.joinable())
    return;
  stopping_ = true;
  wake();
  thread_.join();
}

void zmq_socket_loop::stop_async(std::function<void()> done) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (thread_.joinable() && !ended_) {
      on_stopped_ = std::move(done);
      done = nullptr;
    }
  }
  if (done) {
    done();
    return;
  }
  stopping_ = true;
  wake();
}

// -- the socket thread ------------------------------------------------------------

void zmq_socket_loop::run(std::promise<caf::error> started) {
  role_impl_ = make_role(
    role_, role_env{who_, endpoint_, opts_, events_, counters_,
                    [this](const std::string& key, const std::string& text) {
                      refusal(key, text);
                    }});
  ctx_ = zmq_ctx_new();
  if (ctx_ == nullptr) {
    started.set_value(
      make_error(errc::io, who_ + ": zmq_ctx_new: " + zmq_error_text()));
    return;
  }
  zmq_ctx_set(ctx_, ZMQ_IO_THREADS, opts_.io_threads);
  if (auto why = open(); !why.empty()) {
    started.set_value(make_error(errc::io, who_ + ": " + endpoint_ + ": " + why));
    int zero = 0;
    if (monitor_ != nullptr)
      zmq_setsockopt(monitor_, ZMQ_LINGER, &zero, sizeof(zero));
    if (sock_ != nullptr)
      zmq_setsockopt(sock_, ZMQ_LINGER, &zero, sizeof(zero));
    close_socket();
    return;
  }
  started.set_value(caf::none);
  while (!stopping_)
    poll_once();
  drain();
  close_socket();
  ended();
}

void zmq_socket_loop::ended() {
  std::function<void()> done;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ended_ = true;
    done = std::move(on_stopped_);
  }
  if (done)
    done();
}

std::string zmq_socket_loop::open() {
  sock_ = zmq_socket(ctx_, role_impl_->socket_type());
  if (sock_ == nullptr)
    return "zmq_socket: " + zmq_error_text();
  std::string why;
  if (!apply_common_options(sock_, opts_, why) ||
      !role_impl_->configure(sock_, why))
    return why;
  if (zmq_socket_monitor(sock_, monitor_address,
                         role_impl_->monitored_events()) != 0)
    return "zmq_socket_monitor: " + zmq_error_text();
  monitor_ = zmq_socket(ctx_, ZMQ_PAIR);
  if (monitor_ == nullptr || zmq_connect(monitor_, monitor_address) != 0)
    return "connecting the monitor: " + zmq_error_text();
  return role_impl_->open(ctx_, sock_);
}

void zmq_socket_loop::close_socket() {
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
  role_impl_->closed();
  zmq_ctx_term(ctx_); // returns when queued frames left or LINGER expired
  ctx_ = nullptr;
}

void zmq_socket_loop::poll_once() {
  take_outbox();
  send_pending();
  zmq_pollitem_t items[3];
  short sock_events = can_read() ? ZMQ_POLLIN : 0;
  bool waiting = !pending_.empty();
  if (waiting && role_impl_->waits_for_pollout())
    sock_events |= ZMQ_POLLOUT;
  items[0] = {sock_, 0, sock_events, 0};
  items[1] = {nullptr, wake_fd_, ZMQ_POLLIN, 0};
  items[2] = {monitor_, 0, ZMQ_POLLIN, 0};
  long timeout = waiting ? role_impl_->retry_ms() : -1;
  if (zmq_poll(items, 3, timeout) < 0) {
    if (zmq_errno() == EINTR)
      return;
    log::error(who_, "zmq_poll: " + zmq_error_text());
    stopping_ = true;
    return;
  }
  if (items[1].revents & ZMQ_POLLIN) {
    uint64_t value;
    auto rc = ::read(wake_fd_, &value, sizeof(value));
    (void) rc;
  }
  if (items[0].revents & ZMQ_POLLIN)
    receive_some(256); // then look at the outbox again: fairness
  if (items[2].revents & ZMQ_POLLIN)
    read_monitor();
}

// Whatever is queued gets at most linger_ms to leave, then the socket closes
// with the rest of that time as its LINGER.
void zmq_socket_loop::drain() {
  auto deadline = clock::now() + std::chrono::milliseconds(opts_.linger_ms);
  take_outbox();
  for (;;) {
    send_pending();
    if (pending_.empty() || clock::now() >= deadline)
      break;
    long left = static_cast<long>(ms_until(deadline));
    long retry = role_impl_->retry_ms();
    zmq_pollitem_t item{
      sock_, 0,
      static_cast<short>(role_impl_->waits_for_pollout() ? ZMQ_POLLOUT : 0), 0};
    zmq_poll(&item, 1, retry >= 0 ? std::min(left, retry) : left);
  }
  if (!pending_.empty()) {
    size_t bytes = 0;
    for (auto& m : pending_)
      bytes += m.wire_size();
    counters_.dropped += static_cast<int64_t>(pending_.size());
    counters_.queued_bytes -= static_cast<int64_t>(bytes);
    log::warning(who_, std::to_string(pending_.size()) + " messages (" +
                         std::to_string(bytes) + " bytes) still queued for " +
                         endpoint_ + " after " +
                         std::to_string(opts_.linger_ms) +
                         " ms at shutdown: not sent");
  }
  int linger = static_cast<int>(std::max<int64_t>(0, ms_until(deadline)));
  zmq_setsockopt(sock_, ZMQ_LINGER, &linger, sizeof(linger));
}

void zmq_socket_loop::take_outbox() {
  std::lock_guard<std::mutex> guard{mtx_};
  while (!outbox_.empty()) {
    pending_.push_back(std::move(outbox_.front()));
    outbox_.pop_front();
  }
}

void zmq_socket_loop::finish_head(bool delivered) {
  auto bytes = pending_.front().wire_size();
  pending_.pop_front();
  role_impl_->head_done();
  counters_.queued_bytes -= static_cast<int64_t>(bytes);
  if (delivered) {
    ++counters_.sent;
    counters_.bytes_out += static_cast<int64_t>(bytes);
  }
  if (events_.on_sent)
    events_.on_sent(bytes);
}

// Sends from the head of the queue until ZeroMQ pushes back.
void zmq_socket_loop::send_pending() {
  while (!pending_.empty()) {
    int err = 0;
    switch (send_one(sock_, pending_.front(), err)) {
      case send_result::sent:
        finish_head(true);
        break;
      case send_result::unroutable:
        ++counters_.unroutable;
        log::debug(who_, "reply to a peer that is gone dropped (" +
                           pending_.front().type + ")");
        finish_head(false);
        break;
      case send_result::failed:
        ++counters_.dropped;
        log::error(who_, "send of " + pending_.front().type +
                           " failed: " + zmq_strerror(err));
        finish_head(false);
        break;
      case send_result::would_block:
        if (role_impl_->keep_waiting(pending_.front(), clock::now()))
          return;
        ++counters_.dropped;
        finish_head(false);
        break;
    }
  }
}

void zmq_socket_loop::refusal(const std::string& key, const std::string& text) {
  if (auto n = refusal_log_.admit(key, log_limiter::clock::now()))
    log::warning(who_, text + (*n > 0 ? " (and " + std::to_string(*n) +
                                          " more since the last line)"
                                      : std::string{}));
}

void zmq_socket_loop::receive_some(int max_messages) {
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
bool zmq_socket_loop::read_message(incoming& in) {
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

void zmq_socket_loop::take_message(incoming&& in) {
  ++counters_.received;
  counters_.bytes_in += static_cast<int64_t>(in.bytes);
  if (!in.admitted) {
    ++counters_.not_admitted;
    return;
  }
  if (opts_.max_message_size > 0 &&
      in.bytes > static_cast<size_t>(opts_.max_message_size)) {
    ++counters_.oversize;
    refusal("oversize", "a message of " + std::to_string(in.bytes) +
                          " bytes (over max-message-size " +
                          std::to_string(opts_.max_message_size) + ") dropped");
    return;
  }
  if (events_.on_frames)
    events_.on_frames(std::move(in.frames), std::move(in.last),
                      std::move(in.peer));
}

void zmq_socket_loop::read_monitor() {
  uint16_t event = 0;
  uint32_t value = 0;
  std::string peer;
  while (read_monitor_event(monitor_, event, value, peer))
    role_impl_->on_monitor(event, value, peer);
}

} // namespace cc
