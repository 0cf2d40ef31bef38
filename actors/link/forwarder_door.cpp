// The forwarder's local door: see forwarder_door.hpp.
#include "actors/link/forwarder_door.hpp"

namespace cc {

void forwarder_door::attach(attachment a) {
  std::lock_guard<std::mutex> guard{mtx_};
  to_ = std::move(a);
}

void forwarder_door::close() {
  std::lock_guard<std::mutex> guard{mtx_};
  to_.reset();
}

bool forwarder_door::take(wire::cc_message& msg) {
  if (msg.peer || !data_carries(msg.type))
    return false;
  std::lock_guard<std::mutex> guard{mtx_};
  if (!to_ || !to_->gate)
    return false;
  auto& meter = *to_->meter;
  // As the actor's admit(): nothing overtakes a waiting message, and an
  // empty queue takes one message of any size.
  if (meter.waiters.load())
    return false;
  auto size = msg.wire_size();
  auto queued = meter.queued.load();
  if (queued != 0 && queued + size > to_->queue_bytes)
    return false;
  // Counted before the link may report it sent (on another thread).
  meter.queued += size;
  if (!to_->gate->send(msg)) {
    // The connection went down meanwhile: the router's way after all.
    if (meter.done(size) && to_->room_freed)
      to_->room_freed();
    return false;
  }
  ++taken_;
  return true;
}

} // namespace cc
