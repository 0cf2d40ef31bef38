#include "base/io_loop.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

#include "base/logger.hpp"
#include "base/thread_name.hpp"

namespace cc {

// Everything the loop thread uses lives here, held by the thread and by the
// handle: a handle dropped on the loop thread itself (a client's callback
// let go of the last owner) cannot join that thread, so it detaches it, and
// the thread finishes with the core it still holds.
struct io_loop::core {
  void* ctx = nullptr;
  int wake_fd = -1;
  std::thread thread;
  std::thread::id loop_id;
  std::atomic<bool> stopping{false};
  std::atomic<bool> wake_pending{false};
  std::atomic<uint64_t> rounds{0};

  std::mutex mtx;                              // guards posted
  std::vector<std::function<void()>> posted;
  std::vector<std::function<void()>> todo; // the loop thread's: posted, being run

  // The loop thread's own.
  std::vector<std::shared_ptr<io_client>> clients;
  std::vector<io_client*> removed;
  std::vector<zmq_pollitem_t> items;
  std::vector<size_t> firsts;  // per client: its first item in `items`
  std::vector<size_t> order;   // the round's clients, those with events first
  // after_next_wait's: queued in this round, and those the current round
  // runs after its wait.
  std::vector<std::function<void()>> after_wait, after_wait_due;
  std::vector<pollfd> fds;     // wait_for's, one per item

  ~core() {
    if (ctx)
      zmq_ctx_term(ctx);
    if (wake_fd >= 0)
      ::close(wake_fd);
  }

  void wake() {
    if (!wake_pending.exchange(true)) {
      uint64_t one = 1;
      auto rc = ::write(wake_fd, &one, sizeof(one));
      (void) rc; // EAGAIN: the counter is already non-zero, the loop wakes
    }
  }

  void run_posted() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (posted.empty())
        return;
      todo.swap(posted);
    }
    for (auto& fn : todo)
      fn();
    todo.clear();
  }

  /// How long the next wait may last, in microseconds; -1: unbounded.
  long wait_limit_us() {
    long limit = -1;
    for (auto& c : clients) {
      auto ms = c->wait_limit_ms();
      if (ms >= 0 && (limit < 0 || ms * 1000 < limit))
        limit = ms * 1000;
    }
    if (!after_wait_due.empty() && (limit < 0 || limit > after_wait_limit_us))
      limit = after_wait_limit_us;
    return limit;
  }

  bool is_removed(io_client* c) const {
    return std::find(removed.begin(), removed.end(), c) != removed.end();
  }

  void drop_removed() {
    if (removed.empty())
      return;
    clients.erase(std::remove_if(clients.begin(), clients.end(),
                                 [this](const auto& c) { return is_removed(c.get()); }),
                  clients.end());
    removed.clear();
  }

  /// The ZeroMQ events of item `i` (a socket) it asked for, in its revents;
  /// whether there are any.
  bool socket_ready(zmq_pollitem_t& item) {
    int events = 0;
    size_t len = sizeof(events);
    if (zmq_getsockopt(item.socket, ZMQ_EVENTS, &events, &len) != 0) {
      item.revents = ZMQ_POLLERR; // closed under us: the client finds out
      return true;
    }
    item.revents = static_cast<short>(events & item.events & (ZMQ_POLLIN | ZMQ_POLLOUT));
    return item.revents != 0;
  }

  /// What zmq_poll does for `items`, without its first pass: zmq_poll
  /// always polls once with timeout 0 before it waits, one system call more
  /// per round, and a round is what every line of a stream costs the loop
  /// (bench/PROFILE.md, "Session 22: latency"). A ZeroMQ socket is waited
  /// on through its ZMQ_FD, which signals commands, not messages: its
  /// ZMQ_EVENTS is read before the wait (ready ones make it a poll without
  /// waiting) and after it where its ZMQ_FD signalled (zmq_poll reads
  /// every socket's after each of its passes).
  void wait_for(long limit_us) {
    fds.resize(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      auto& item = items[i];
      item.revents = 0;
      fds[i] = pollfd{item.fd, 0, 0};
      if (item.socket) {
        size_t len = sizeof(fds[i].fd);
        if (zmq_getsockopt(item.socket, ZMQ_FD, &fds[i].fd, &len) != 0)
          fds[i].fd = -1;
        fds[i].events = POLLIN;
      } else {
        fds[i].events = static_cast<short>(((item.events & ZMQ_POLLIN) ? POLLIN : 0)
                                           | ((item.events & ZMQ_POLLOUT) ? POLLOUT : 0)
                                           | ((item.events & ZMQ_POLLPRI) ? POLLPRI : 0));
      }
    }
    using clock = std::chrono::steady_clock;
    auto end = clock::now() + std::chrono::microseconds(limit_us < 0 ? 0 : limit_us);
    for (;;) {
      bool ready = false;
      for (auto& item : items)
        if (item.socket && (item.events & (ZMQ_POLLIN | ZMQ_POLLOUT)))
          ready |= socket_ready(item);
      long timeout = limit_us;
      if (ready)
        timeout = 0;
      else if (limit_us > 0)
        timeout = std::max<long>(0, std::chrono::ceil<std::chrono::microseconds>(
                                      end - clock::now()).count());
      timespec ts{timeout / 1000000, (timeout % 1000000) * 1000};
      auto rc = ::ppoll(fds.data(), fds.size(), timeout < 0 ? nullptr : &ts, nullptr);
      if (rc < 0) {
        if (errno != EINTR)
          log::warning("io-loop", std::string{"poll: "} + std::strerror(errno));
        return;
      }
      for (size_t i = 0; i < items.size(); ++i) {
        auto& item = items[i];
        if (item.socket) {
          // Read again only where its ZMQ_FD signalled: a socket's state
          // changes only by a command, which signals it (nothing on this
          // thread sent or received on it since the read before the wait).
          if ((item.events & (ZMQ_POLLIN | ZMQ_POLLOUT)) && fds[i].revents != 0)
            ready |= socket_ready(item);
          continue;
        }
        auto re = fds[i].revents;
        item.revents = static_cast<short>(((re & POLLIN) ? ZMQ_POLLIN : 0)
                                          | ((re & POLLOUT) ? ZMQ_POLLOUT : 0)
                                          | ((re & POLLPRI) ? ZMQ_POLLPRI : 0)
                                          | ((re & ~(POLLIN | POLLOUT | POLLPRI)) ? ZMQ_POLLERR : 0));
        ready |= item.revents != 0;
      }
      // A socket's ZMQ_FD signalled commands only: wait on, until the limit.
      if (ready || timeout == 0 || (limit_us >= 0 && clock::now() >= end))
        return;
    }
  }

  void round() {
    items.clear();
    firsts.clear();
    items.push_back(zmq_pollitem_t{nullptr, wake_fd, ZMQ_POLLIN, 0});
    for (auto& c : clients) {
      firsts.push_back(items.size());
      c->poll_items(items);
    }
    after_wait_due.swap(after_wait); // the last round's, run after this wait
    wait_for(wait_limit_us());
    ++rounds;
    if (items[0].revents & ZMQ_POLLIN) {
      uint64_t n;
      auto got = ::read(wake_fd, &n, sizeof(n));
      (void) got;
    }
    // Cleared before the queues are looked at: a wake() after this point
    // writes the eventfd again, so nothing posted now waits a whole round.
    wake_pending = false;
    run_posted();
    // `clients` may grow inside a callback (add): only those polled are
    // called, by index, with their own items. Those with an event run first:
    // the input that woke the loop (a line on a data connection, an inotify
    // event) is taken before the others look at their queues and clocks, so
    // what it starts (a write, a send) does not wait behind them.
    auto polled = firsts.size();
    auto range_of = [&](size_t i) {
      return std::make_pair(firsts[i], i + 1 < polled ? firsts[i + 1] : items.size());
    };
    auto fired = [&](size_t i) {
      auto [first, end] = range_of(i);
      return std::any_of(items.begin() + first, items.begin() + end,
                         [](const zmq_pollitem_t& it) { return it.revents != 0; });
    };
    // The order is fixed before any client runs (a callback may change its
    // own items' revents).
    order.clear();
    for (bool with_event : {true, false})
      for (size_t i = 0; i < polled; ++i)
        if (fired(i) == with_event)
          order.push_back(i);
    for (auto i : order) {
      auto [first, end] = range_of(i);
      auto* c = clients[i].get();
      if (!is_removed(c))
        c->on_ready(items.data() + first, end - first);
    }
    drop_removed();
    for (auto& fn : after_wait_due)
      fn();
    after_wait_due.clear();
  }

  void run() {
    name_this_thread("cc-io");
    loop_id = std::this_thread::get_id();
    this_threads_loop = this;
    while (!stopping)
      round();
    run_posted();
    drop_removed();
    // Clients still on the loop close their sockets before the context
    // goes (zmq_ctx_term waits for every socket of the context).
    for (auto& c : clients)
      c->on_loop_end();
    clients.clear();
    after_wait.clear();
    after_wait_due.clear();
    this_threads_loop = nullptr;
  }

  static thread_local core* this_threads_loop;
};

thread_local io_loop::core* io_loop::core::this_threads_loop = nullptr;

bool io_loop::after_next_wait(std::function<void()> fn) {
  auto* c = core::this_threads_loop;
  if (!c)
    return false;
  c->after_wait.push_back(std::move(fn));
  return true;
}

std::shared_ptr<io_loop> io_loop::shared(int io_threads) {
  static std::mutex mtx;
  static std::weak_ptr<io_loop> current;
  std::lock_guard<std::mutex> guard{mtx};
  if (auto loop = current.lock())
    return loop;
  auto c = std::make_shared<core>();
  c->ctx = zmq_ctx_new();
  if (!c->ctx)
    throw std::runtime_error(std::string{"zmq_ctx_new: "} + zmq_strerror(zmq_errno()));
  zmq_ctx_set(c->ctx, ZMQ_IO_THREADS, std::max(1, io_threads));
  c->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c->wake_fd < 0)
    throw std::runtime_error(std::string{"eventfd: "} + std::strerror(errno));
  c->thread = std::thread{[c] { c->run(); }};
  std::shared_ptr<io_loop> loop{new io_loop{c}};
  current = loop;
  return loop;
}

io_loop::io_loop(std::shared_ptr<core> c) : core_(std::move(c)) {
}

io_loop::~io_loop() {
  core_->stopping = true;
  core_->wake();
  if (std::this_thread::get_id() == core_->thread.get_id())
    core_->thread.detach(); // it ends after the current callback returns
  else
    core_->thread.join();
}

void* io_loop::zmq_context() const {
  return core_->ctx;
}

void io_loop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> guard{core_->mtx};
    core_->posted.push_back(std::move(fn));
  }
  core_->wake();
}

void io_loop::wake() {
  core_->wake();
}

void io_loop::add(std::shared_ptr<io_client> c) {
  core_->clients.push_back(std::move(c));
}

void io_loop::remove(io_client* c) {
  core_->removed.push_back(c);
}

bool io_loop::in_loop() const {
  return std::this_thread::get_id() == core_->thread.get_id();
}

uint64_t io_loop::rounds() const {
  return core_->rounds;
}

} // namespace cc
