// The process's I/O loop (base/io_loop): posted work runs on its thread in
// order, plain descriptors and ZeroMQ sockets of its context are waited on
// together, a client's time limit wakes the loop, a client may remove itself
// from its own callback, work queued with after_next_wait runs after the
// loop's next wait (which it bounds), and the loop ends when its last holder
// lets go (also when that happens on the loop thread). Its timers
// (loop_clock) run on its thread once due, in due order.
#include <catch2/catch.hpp>

#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/io_loop.hpp"
#include "base/loop_clock.hpp"

using namespace cc;
using namespace std::chrono_literals;

namespace {

/// Runs `fn` on the loop and waits for its result (bounded).
template <class F>
auto on_loop(io_loop& loop, F fn) -> decltype(fn()) {
  std::promise<decltype(fn())> p;
  auto f = p.get_future();
  loop.post([&] { p.set_value(fn()); });
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  return f.get();
}

/// Reads one byte from a pipe whenever it is readable; counts rounds.
struct pipe_reader : io_client {
  int fd;
  std::promise<char> got;
  bool done = false;
  int calls = 0;
  explicit pipe_reader(int f) : fd(f) {
  }
  void poll_items(std::vector<zmq_pollitem_t>& items) override {
    items.push_back(zmq_pollitem_t{nullptr, fd, ZMQ_POLLIN, 0});
  }
  void on_ready(zmq_pollitem_t* items, size_t count) override {
    ++calls;
    REQUIRE(count == 1);
    if (!done && (items[0].revents & ZMQ_POLLIN)) {
      char c;
      REQUIRE(::read(fd, &c, 1) == 1);
      done = true;
      got.set_value(c);
    }
  }
};

} // namespace

TEST_CASE("io_loop runs posted work on its own thread, in order", "[io_loop]") {
  auto loop = io_loop::shared();
  std::string order;
  auto same = on_loop(*loop, [&] {
    order += "a";
    return loop->in_loop();
  });
  CHECK(same);
  CHECK_FALSE(loop->in_loop());
  for (char c = 'b'; c <= 'e'; ++c)
    loop->post([&order, c] { order += c; });
  on_loop(*loop, [] { return 0; });
  CHECK(order == "abcde");
  // One process, one loop while anyone holds it.
  CHECK(io_loop::shared() == loop);
}

TEST_CASE("io_loop waits on a plain descriptor", "[io_loop]") {
  auto loop = io_loop::shared();
  int p[2];
  REQUIRE(::pipe(p) == 0);
  auto reader = std::make_shared<pipe_reader>(p[0]);
  auto got = reader->got.get_future();
  on_loop(*loop, [&] {
    loop->add(reader);
    return 0;
  });
  REQUIRE(::write(p[1], "x", 1) == 1);
  REQUIRE(got.wait_for(5s) == std::future_status::ready);
  CHECK(got.get() == 'x');
  on_loop(*loop, [&] {
    loop->remove(reader.get());
    return 0;
  });
  auto calls = on_loop(*loop, [&] { return reader->calls; });
  on_loop(*loop, [] { return 0; });
  CHECK(on_loop(*loop, [&] { return reader->calls; }) == calls); // removed: not called
  ::close(p[0]);
  ::close(p[1]);
}

TEST_CASE("io_loop calls the clients with an event first, then the others, every round",
          "[io_loop]") {
  // Logs each call on the loop thread: its name, '*' when it had an event
  // (and read its byte), '!' when the other client's byte was still unread.
  struct logging_client : io_client {
    int fd;
    int other_fd;
    char name;
    std::string& log;
    logging_client(int f, int o, char n, std::string& l)
      : fd(f), other_fd(o), name(n), log(l) {
    }
    void poll_items(std::vector<zmq_pollitem_t>& items) override {
      items.push_back(zmq_pollitem_t{nullptr, fd, ZMQ_POLLIN, 0});
    }
    void on_ready(zmq_pollitem_t* items, size_t count) override {
      REQUIRE(count == 1);
      log += name;
      if (items[0].revents & ZMQ_POLLIN) {
        char c;
        REQUIRE(::read(fd, &c, 1) == 1);
        log += '*';
      }
      int pending = 0;
      if (::ioctl(other_fd, FIONREAD, &pending) == 0 && pending > 0)
        log += '!';
    }
  };
  auto loop = io_loop::shared();
  int a[2], b[2];
  REQUIRE(::pipe(a) == 0);
  REQUIRE(::pipe(b) == 0);
  std::string log;
  auto first = std::make_shared<logging_client>(a[0], b[0], 'A', log); // added first
  auto second = std::make_shared<logging_client>(b[0], a[0], 'B', log);
  on_loop(*loop, [&] {
    loop->add(first);
    loop->add(second);
    return 0;
  });
  auto until_seen = [&](const char* what) {
    std::string seen;
    for (int i = 0; i < 500 && seen.find(what) == std::string::npos; ++i) {
      std::this_thread::sleep_for(10ms);
      seen = on_loop(*loop, [&] { return log; });
    }
    return seen;
  };
  // Written on the loop thread (posted): in that round A finds B's byte
  // unread and B has no event yet ("A!B"). The next round's wait reports it:
  // B, added second, is called first and takes it, and A after it finds
  // nothing unread ("B*A"; in the order they were added it would be "A!B*").
  loop->post([&] { REQUIRE(::write(b[1], "x", 1) == 1); });
  auto seen = until_seen("B*");
  CHECK(seen.find("A!BB*A") != std::string::npos);
  // A byte for A: A is first in both orders, and B after it.
  loop->post([&] { REQUIRE(::write(a[1], "y", 1) == 1); });
  seen = until_seen("A*");
  CHECK(seen.find("AB!A*B") != std::string::npos);
  // A round without events: both, in the order they were added.
  on_loop(*loop, [] { return 0; });
  seen = on_loop(*loop, [&] { return log; });
  CHECK(seen.substr(seen.size() - 2) == "AB");
  on_loop(*loop, [&] {
    loop->remove(first.get());
    loop->remove(second.get());
    return 0;
  });
  for (int fd : {a[0], a[1], b[0], b[1]})
    ::close(fd);
}

TEST_CASE("io_loop waits on ZeroMQ sockets of its context", "[io_loop]") {
  auto loop = io_loop::shared();
  struct pair_end : io_client {
    void* sock = nullptr;
    std::promise<std::string> got;
    void poll_items(std::vector<zmq_pollitem_t>& items) override {
      items.push_back(zmq_pollitem_t{sock, 0, ZMQ_POLLIN, 0});
    }
    void on_ready(zmq_pollitem_t* items, size_t) override {
      if (items[0].revents & ZMQ_POLLIN) {
        char buf[16];
        auto n = zmq_recv(sock, buf, sizeof(buf), ZMQ_DONTWAIT);
        if (n > 0)
          got.set_value(std::string(buf, static_cast<size_t>(n)));
      }
    }
    void on_loop_end() override {
      zmq_close(sock);
      sock = nullptr;
    }
  };
  auto end = std::make_shared<pair_end>();
  auto got = end->got.get_future();
  void* sender = nullptr;
  on_loop(*loop, [&] {
    end->sock = zmq_socket(loop->zmq_context(), ZMQ_PAIR);
    REQUIRE(zmq_bind(end->sock, "inproc://io-loop-test") == 0);
    sender = zmq_socket(loop->zmq_context(), ZMQ_PAIR);
    REQUIRE(zmq_connect(sender, "inproc://io-loop-test") == 0);
    REQUIRE(zmq_send(sender, "hello", 5, 0) == 5);
    loop->add(end);
    return 0;
  });
  REQUIRE(got.wait_for(5s) == std::future_status::ready);
  CHECK(got.get() == "hello");
  on_loop(*loop, [&] {
    zmq_close(sender);
    loop->remove(end.get());
    end->on_loop_end();
    return 0;
  });
}

TEST_CASE("io_loop: a client's time limit wakes the loop, and it may remove itself", "[io_loop]") {
  auto loop = io_loop::shared();
  struct ticker : io_client {
    io_loop* loop;
    int ticks = 0;
    std::promise<void> done;
    explicit ticker(io_loop* l) : loop(l) {
    }
    void poll_items(std::vector<zmq_pollitem_t>&) override {
    }
    void on_ready(zmq_pollitem_t*, size_t) override {
      if (++ticks == 5) {
        loop->remove(this);
        done.set_value();
      }
    }
    long wait_limit_ms() override {
      return 1;
    }
  };
  auto t = std::make_shared<ticker>(loop.get());
  auto done = t->done.get_future();
  loop->post([&] { loop->add(t); });
  // Nothing else wakes the loop: only the 1 ms limit brings the five rounds.
  REQUIRE(done.wait_for(5s) == std::future_status::ready);
  on_loop(*loop, [] { return 0; });
  CHECK(on_loop(*loop, [&] { return t->ticks; }) == 5);
}

TEST_CASE("io_loop: after_next_wait runs once the loop has waited, and bounds that wait",
          "[io_loop]") {
  auto loop = io_loop::shared();
  // Not the loop's thread: nothing queued.
  CHECK_FALSE(io_loop::after_next_wait([] {}));
  struct counter : io_client {
    int rounds = 0;
    void poll_items(std::vector<zmq_pollitem_t>&) override {
    }
    void on_ready(zmq_pollitem_t*, size_t) override {
      ++rounds;
    }
  };
  auto c = std::make_shared<counter>();
  on_loop(*loop, [&] {
    loop->add(c);
    return 0;
  });
  std::promise<int> ran;
  auto f = ran.get_future();
  int queued_in_round = -1;
  bool queued = on_loop(*loop, [&] {
    queued_in_round = c->rounds;
    return io_loop::after_next_wait([&] { ran.set_value(c->rounds); });
  });
  CHECK(queued);
  // Nothing wakes the loop (no client asks for a time limit): only the
  // bound of the wait brings the round that runs it.
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  auto ran_in_round = f.get();
  // Not in the round that queued it (it had not waited yet; that round's
  // clients were called after the posted function), but after the next
  // round's wait and its clients.
  CHECK(ran_in_round >= queued_in_round + 2);
  on_loop(*loop, [&] {
    loop->remove(c.get());
    return 0;
  });
}

TEST_CASE("io_loop ends with its last holder, also on its own thread", "[io_loop]") {
  std::weak_ptr<io_loop> weak;
  {
    auto loop = io_loop::shared();
    weak = loop;
  }
  // Every test above let go: this one is a new loop or the old one ending.
  auto loop = io_loop::shared();
  std::promise<void> released;
  auto f = released.get_future();
  auto* raw = loop.get();
  // The last reference goes inside a posted function, on the loop thread:
  // the handle cannot join its own thread; it must not hang or crash.
  raw->post([l = std::move(loop), &released]() mutable {
    l.reset();
    released.set_value();
  });
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  // A new loop can be had at once.
  auto next = io_loop::shared();
  CHECK(on_loop(*next, [&] { return next->in_loop(); }));
}

// The loop's timers (base/loop_clock.hpp): each function runs on the loop
// thread, not before its due time, in due order; one armed from a running
// function runs later; one already due runs at the next round.
TEST_CASE("loop_clock: timers run on the loop thread once due, in due order",
          "[io_loop][loop_clock]") {
  auto timers = loop_clock::shared();
  auto loop = io_loop::shared();
  struct fired {
    std::mutex mtx;
    std::vector<int> order;
    std::vector<bool> on_loop;
    std::vector<bool> in_time;
  };
  auto f = std::make_shared<fired>();
  auto start = loop_clock::clock::now();
  auto at = [&](int n, std::chrono::milliseconds in) {
    auto due = start + in;
    timers->arm(due, [f, n, due, loop] {
      std::lock_guard<std::mutex> guard{f->mtx};
      f->order.push_back(n);
      f->on_loop.push_back(loop->in_loop());
      f->in_time.push_back(loop_clock::clock::now() >= due);
    });
  };
  at(3, 60ms);
  at(1, 20ms);
  at(2, 40ms);
  at(4, 60ms); // the same time as 3: after it
  CHECK(timers->pending() >= 4);
  // From a running function: armed on the loop thread, 10 ms later.
  timers->arm(start + 70ms, [f, timers, loop] {
    auto due = loop_clock::clock::now() + 10ms;
    timers->arm(due, [f, due, loop] {
      std::lock_guard<std::mutex> guard{f->mtx};
      f->order.push_back(5);
      f->on_loop.push_back(loop->in_loop());
      f->in_time.push_back(loop_clock::clock::now() >= due);
    });
  });
  auto count = [&] {
    std::lock_guard<std::mutex> guard{f->mtx};
    return f->order.size();
  };
  auto end = loop_clock::clock::now() + 10s;
  while (count() < 5 && loop_clock::clock::now() < end)
    std::this_thread::sleep_for(5ms);
  std::lock_guard<std::mutex> guard{f->mtx};
  CHECK(f->order == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(f->on_loop == std::vector<bool>(5, true));
  CHECK(f->in_time == std::vector<bool>(5, true));
  CHECK(timers->pending() == 0);
}

TEST_CASE("loop_clock: a timer already due runs at once, and the last holder's end "
          "drops those not due", "[io_loop][loop_clock]") {
  auto ran = std::make_shared<std::promise<void>>();
  auto done = ran->get_future();
  auto timers = loop_clock::shared();
  timers->arm(loop_clock::clock::now() - 1s, [ran] { ran->set_value(); });
  REQUIRE(done.wait_for(5s) == std::future_status::ready);
  auto late = std::make_shared<std::atomic<bool>>(false);
  timers->arm(loop_clock::clock::now() + 200ms, [late] { *late = true; });
  CHECK(timers->pending() == 1);
  timers.reset(); // the only holder: its timers go with it
  std::this_thread::sleep_for(400ms);
  CHECK_FALSE(*late);
}
