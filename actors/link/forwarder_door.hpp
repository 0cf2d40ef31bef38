// The forwarder's local door (the local direct lane, actors/core/direct_lanes.hpp):
// a fragment of this process's own tailer goes from the tailer's thread
// straight into the forwarder's data connection, past the router's and the
// forwarder's CAF jobs (on a 50 MB/s stream those jobs, their answers and
// the tailer's second look after the answer were ~17 us of the local's
// ~60 us burst per append; bench/PROFILE.md, "Session 22: latency").
//
// It takes a message only where the forwarder would send it on at once, in
// the same order: an in-process sender's (no peer: a relay's messages from
// peers are screened by the actor, host_binding_check), while nothing waits
// in the forwarder's queue for room (room_meter::waiters) and queue-bytes
// has room for it, and the data connection takes it now (data_gate::send:
// pub.logtail[.x], the connection up). Anything else is left to the router
// and the actor, as before. The sender keeps its own order: it takes this
// door only while none of its dispatches through the router is unanswered
// (tail_core::send_fragment), and the router's answer means the actor
// handed the message to the transport.
//
// What is taken counts as the actor's send_now: its bytes in the meter
// (queued_bytes; on_sent counts them down), the message in `sent` once the
// link wrote it, and in the forwarder's `lane` counter (not `received`: the
// router handed it nothing).
//
// Owns: the attachment to one forwarder's meter and transport (set once the
// actor runs, dropped when it ends); a mutex, held for a take.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "actors/core/direct_lanes.hpp"
#include "actors/link/data_link.hpp"
#include "base/room_meter.hpp"

namespace cc {

class forwarder_door : public direct_handler {
public:
  /// What the forwarder actor lends the door while it runs.
  struct attachment {
    std::shared_ptr<room_meter> meter;  // the forwarder's queued bytes
    uint64_t queue_bytes = 0;           // its queue-bytes
    std::shared_ptr<data_gate> gate;    // its transport's data connection
    /// Called when bytes the door put in the meter came back untaken while
    /// the actor has senders waiting for room (tells it to look again).
    std::function<void()> room_freed;
  };

  /// From now on take() may hand messages to `a` (the actor runs).
  void attach(attachment a);
  /// Takes nothing more (the actor ends).
  void close();

  bool take(wire::cc_message& msg) override;

  /// Messages taken so far (the forwarder's `lane` counter).
  int64_t taken() const { return taken_.load(); }

private:
  std::mutex mtx_;
  std::optional<attachment> to_;
  std::atomic<int64_t> taken_{0};
};

using forwarder_door_ptr = std::shared_ptr<forwarder_door>;

} // namespace cc
