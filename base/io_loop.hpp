// One thread per process that waits on every descriptor the server owns: the
// ZeroMQ sockets (gateway, forwarders, the ZAP handler), the inotify
// descriptor, the signal descriptor, the HTTP endpoint's. It owns the
// process's one ZeroMQ context, so libzmq adds its I/O and reaper threads
// once, not once per socket.
//
// Whatever waits on the loop is an io_client. Each round the loop asks every
// client for its poll items (a ZeroMQ socket or a plain fd, with the events
// wanted) and for how long it may sleep, waits on all of them and an eventfd
// as zmq_poll would (one ppoll(2), ZeroMQ sockets through their ZMQ_FD and
// ZMQ_EVENTS) but without zmq_poll's extra poll with timeout 0 before each
// wait, and hands every client its own items back with their revents.
// Every client is called every round, also when nothing of its is ready (a
// wake-up or a timeout): it looks at its own queues and clocks then. Those
// with an event are called first, in the order they were added, then the
// others in that order. The loop
// is meant for a handful of clients (one per socket, one inotify, one signal
// descriptor), not thousands.
//
// Threads other than the loop's talk to it through post() (a function run on
// the loop thread, in order) and wake(); clients are added and removed on the
// loop thread. Work of the loop's own that can wait until the threads it just
// woke have run goes to after_next_wait(). A client is never called after
// remove() ran on the loop thread. Clients must not hold the io_loop handle:
// the handle's last holder ends the loop (a client holding it would keep it
// forever).
#pragma once

#include <zmq.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace cc {

class io_client {
public:
  virtual ~io_client() = default;

  /// Appends what to wait on now. Called on the loop thread before each wait.
  virtual void poll_items(std::vector<zmq_pollitem_t>& items) = 0;

  /// After the wait: this client's items as appended, with their revents
  /// (`count` may be 0). Called every round.
  virtual void on_ready(zmq_pollitem_t* items, size_t count) = 0;

  /// How long the loop may wait before calling on_ready again, in
  /// milliseconds; -1 for as long as nothing happens.
  virtual long wait_limit_ms() {
    return -1;
  }

  /// The loop is ending while this client is still on it: close what it owns
  /// (its ZeroMQ sockets before the context goes). Called on the loop thread.
  virtual void on_loop_end() {
  }
};

class io_loop {
public:
  /// The process's loop, started on first use; it ends (its thread joined,
  /// its ZeroMQ context terminated) when the last shared_ptr to it goes.
  /// `io_threads` sizes the ZeroMQ context when this call creates it.
  static std::shared_ptr<io_loop> shared(int io_threads = 1);

  ~io_loop();
  io_loop(const io_loop&) = delete;
  io_loop& operator=(const io_loop&) = delete;

  /// The process's ZeroMQ context; sockets of it are used on the loop thread
  /// only.
  void* zmq_context() const;

  /// Runs `fn` on the loop thread, after what was posted before it.
  void post(std::function<void()> fn);

  /// Makes the loop run a round soon (every client's on_ready). Cheap when a
  /// wake-up is already pending.
  void wake();

  /// Loop thread only: `c` takes part from the next round on.
  void add(std::shared_ptr<io_client> c);
  /// Loop thread only: `c` is called no more (also from inside its own
  /// on_ready); the loop drops its reference after the round.
  void remove(io_client* c);

  /// On a loop's thread: runs `fn` there after the loop's next wait, at the
  /// end of the round that follows it, and that wait lasts at most
  /// after_wait_limit_us. On any other thread: false, nothing queued. For
  /// work that may come after the threads the loop's last system calls
  /// woke: waiting, the loop gives up its CPU, and on a busy host a thread
  /// it woke (a reader of a file it wrote) is often queued on that CPU,
  /// behind it. A round with input ready waits for nothing, so `fn` then
  /// runs a round later.
  static bool after_next_wait(std::function<void()> fn);
  static constexpr long after_wait_limit_us = 200;

  /// Whether the calling thread is the loop's.
  bool in_loop() const;

  /// How many rounds the loop has run (tests, counters).
  uint64_t rounds() const;

  struct core;

private:
  explicit io_loop(std::shared_ptr<core> c);
  std::shared_ptr<core> core_;
};

} // namespace cc
