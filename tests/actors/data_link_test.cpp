// The local end of a data connection (actors/link/data_link.hpp) against a
// plain TCP peer in the test: small messages written by send() itself (the
// direct write) and queued ones reach the peer in the order sent, each once;
// a socket that does not take a message whole leaves the rest to the loop
// without loss or duplication; when the connection goes, every message sent
// is either written, handed back for ZeroMQ, or reported cut, exactly once.
// The forwarder's door (the local direct lane) writes through the link's
// gate only where the forwarder would send at once.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/resumable.hpp>

#include "actors/link/data_frame.hpp"
#include "actors/link/data_link.hpp"
#include "actors/link/forwarder_door.hpp"
#include "base/io_loop.hpp"
#include "base/loop_jobs.hpp"
#include "tests/support/loopback.hpp"

using namespace cc;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

// A fragment whose payload starts with its number, `size` bytes long.
wire::cc_message numbered(int n, size_t size) {
  wire::cc_message m;
  m.route = {wire::local_route_frame("local.d:app")};
  m.type = "pub.logtail";
  m.body = R"({"req":"pub.logtail","filename":"/var/log/x.log","fpos":0})";
  std::string payload = std::to_string(n) + "\n";
  payload.resize(std::max(size, payload.size()), 'x');
  m.blob = wire::blob::from_string(std::move(payload));
  return m;
}

int number_of(const data_frame::decoded& d) {
  return std::stoi(std::string{d.blob->view().substr(0, 16)});
}

// The central's end: a listening socket on 127.0.0.1 and the connection it
// accepts, read with the decoder the central uses.
struct peer {
  int listener = -1;
  int conn = -1;
  int port = 0;
  data_frame::decoder dec;
  std::vector<int> got; // numbers of the messages read whole
  bool hello = false;

  explicit peer(int rcvbuf = 0) {
    listener = cc::test::listen_on_loopback(port, rcvbuf);
  }
  ~peer() {
    if (conn >= 0)
      ::close(conn);
    ::close(listener);
  }

  bool accept_within(std::chrono::milliseconds limit) {
    pollfd p{listener, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1)
      return false;
    conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    return conn >= 0;
  }

  /// Reads what has arrived; false at the end of the stream or bad input.
  bool read_some() {
    for (int i = 0; i < 256; ++i) {
      auto space = dec.want();
      auto n = ::recv(conn, space.data, space.size, 0);
      if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      if (n == 0)
        return false;
      if (dec.commit(static_cast<size_t>(n)))
        return false;
      hello = hello || dec.routing_id().has_value();
      while (auto m = dec.take())
        got.push_back(number_of(*m));
    }
    return true;
  }

  /// Reads until `count` messages came or `limit` passed.
  void read_until(size_t count, std::chrono::milliseconds limit) {
    auto end = steady::now() + limit;
    while (got.size() < count && steady::now() < end) {
      pollfd p{conn, POLLIN, 0};
      ::poll(&p, 1, 50);
      if (!read_some())
        return;
    }
  }

  /// Closes the connection with a reset, as a central that dies does.
  void reset() {
    linger lg{1, 0};
    ::setsockopt(conn, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    ::close(conn);
    conn = -1;
  }
};

// What the data link told its owner.
struct seen {
  std::mutex mtx;
  int sent = 0;                  // on_sent calls (written or cut)
  std::vector<int> fell_back;    // numbers handed back for ZeroMQ
  // Replies handed on, in order: their type, "here:" before it when by
  // on_message_here.
  std::vector<std::string> replies;
  std::function<void()> at_reply_here; // run inside on_message_here
};

struct link_under_test {
  std::shared_ptr<seen> told = std::make_shared<seen>();
  std::shared_ptr<data_link_counters> counters = std::make_shared<data_link_counters>();
  std::unique_ptr<data_link> link;

  explicit link_under_test(int port) {
    auto to = resolve_data_address("127.0.0.1", port);
    REQUIRE(to);
    data_link::callbacks cb;
    cb.on_sent = [t = told](uint64_t) {
      std::lock_guard<std::mutex> guard{t->mtx};
      ++t->sent;
    };
    cb.fallback = [t = told](wire::cc_message msg) {
      std::lock_guard<std::mutex> guard{t->mtx};
      t->fell_back.push_back(std::stoi(std::string{msg.blob->view().substr(0, 16)}));
    };
    cb.on_message = [t = told](wire::cc_message msg) {
      std::lock_guard<std::mutex> guard{t->mtx};
      t->replies.push_back(msg.type);
    };
    cb.on_message_here = [t = told](wire::cc_message msg) {
      std::function<void()> act;
      {
        std::lock_guard<std::mutex> guard{t->mtx};
        t->replies.push_back("here:" + msg.type);
        act = t->at_reply_here;
      }
      if (act)
        act();
    };
    link = std::make_unique<data_link>(io_loop::shared(), *to, "peer-id", "test",
                                       std::move(cb), counters);
  }

  /// Sends the first message once the connection is up (send() refuses
  /// until then); false when it never came up.
  bool send_first(wire::cc_message msg) {
    auto end = steady::now() + 5s;
    while (steady::now() < end) {
      if (link->send(msg))
        return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  /// Waits (bounded) until the first `n` messages are written and the loop
  /// is back in its wait, reading what the peer got meanwhile.
  void wait_idle(int n, peer& central) {
    auto end = steady::now() + 5s;
    while (counters->messages < n && steady::now() < end) {
      central.read_some();
      std::this_thread::sleep_for(1ms);
    }
    std::this_thread::sleep_for(2ms);
  }

  int sent() {
    std::lock_guard<std::mutex> guard{told->mtx};
    return told->sent;
  }
};

/// Polls `pred` every millisecond, for up to 5 s.
template <class Pred>
bool wait_until_true(Pred pred) {
  auto end = steady::now() + 5s;
  while (!pred()) {
    if (steady::now() >= end)
      return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

bool in_order(const std::vector<int>& got, int from, int to) {
  if (got.size() != static_cast<size_t>(to - from))
    return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != from + static_cast<int>(i))
      return false;
  return true;
}

/// The first `n` messages arrived whole, in order, each once; some (not
/// all) were written directly; none was cut or handed back.
void check_all_written(const peer& central, link_under_test& local, int n) {
  CHECK(in_order(central.got, 0, n));
  CHECK(local.counters->messages == n);
  CHECK(local.counters->direct > 0);
  CHECK(local.counters->direct < n);
  CHECK(local.counters->lost == 0);
  CHECK(local.counters->fell_back == 0);
  CHECK(local.sent() == n);
}

/// A link connected to its peer, message 0 sent.
struct connected {
  peer central;
  link_under_test local;

  explicit connected(int rcvbuf = 0) : central{rcvbuf}, local{central.port} {
    REQUIRE(central.accept_within(5s));
    REQUIRE(local.send_first(numbered(0, 100)));
  }
};

} // namespace

TEST_CASE("data_link: direct writes and queued messages reach the peer in the "
          "order sent, each once", "[data_link]") {
  connected c;
  const int n = 300;
  for (int i = 1; i < n; ++i) {
    // Every 50th is larger than a direct write takes: it goes through the
    // loop, and what follows it must wait behind it.
    auto msg = numbered(i, i % 50 == 0 ? 3 * data_link::direct_max : 100 + i);
    if (i % 10 == 5) // the link idle, as for a trickle: a direct write
      c.local.wait_idle(i, c.central);
    REQUIRE(c.local.link->send(msg));
    if (i % 7 == 0)
      c.central.read_some();
  }
  c.central.read_until(n, 20s);
  CHECK(c.central.hello);
  check_all_written(c.central, c.local, n);
}

TEST_CASE("data_link: its up cell says whether the connection is up (the "
          "tailers' ack-window-ranges holds only then)", "[data_link]") {
  std::shared_ptr<data_link_counters> counters;
  {
    connected c;
    counters = c.local.counters;
    CHECK(counters->up); // it took message 0
    c.local.wait_idle(1, c.central);
    c.central.reset();
    // The loss is seen at the next read or write: keep offering messages.
    auto end = steady::now() + 5s;
    for (int i = 1; counters->up && steady::now() < end; ++i) {
      auto msg = numbered(i, 100);
      c.local.link->send(msg);
      std::this_thread::sleep_for(5ms);
    }
    CHECK_FALSE(counters->up);
  }
  CHECK_FALSE(counters->up); // and after the link is gone
}

TEST_CASE("data_link: a socket that does not take a direct write whole leaves "
          "the rest to the loop, nothing lost or written twice", "[data_link]") {
  connected c{16 << 10};
  c.local.wait_idle(1, c.central);
  // The peer reads nothing meanwhile: the socket fills, so writes are cut
  // short (EAGAIN) and later ones wait in the outbox.
  const int n = 400;
  for (int i = 1; i < n; ++i) {
    auto msg = numbered(i, data_link::direct_max - 1000);
    REQUIRE(c.local.link->send(msg));
  }
  c.central.read_until(n, 30s);
  check_all_written(c.central, c.local, n);
}

TEST_CASE("data_link: a message queued behind others wakes no loop round "
          "(the loop waits for room and writes it then)", "[data_link]") {
  connected c{16 << 10};
  c.local.wait_idle(1, c.central);
  // The peer reads nothing: a few messages larger than a direct write fill
  // the socket, and the loop waits for POLLOUT with the rest queued.
  const int filled = 12;
  for (int i = 1; i <= filled; ++i) {
    auto msg = numbered(i, 3 * data_link::direct_max);
    REQUIRE(c.local.link->send(msg));
  }
  std::this_thread::sleep_for(50ms);
  auto loop = io_loop::shared();
  auto before = loop->rounds();
  // Each behind the queue, with time for a round between them: before,
  // each woke the loop for a round in which the full socket took nothing.
  const int behind = 20;
  for (int i = filled + 1; i <= filled + behind; ++i) {
    auto msg = numbered(i, 3 * data_link::direct_max);
    REQUIRE(c.local.link->send(msg));
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(20ms);
  auto rounds = loop->rounds() - before;
  CHECK(rounds < behind / 2);
  // Room again: everything arrives, in order, once.
  const int n = filled + behind + 1;
  c.central.read_until(n, 30s);
  CHECK(in_order(c.central.got, 0, n));
  CHECK(c.local.counters->messages == n);
  CHECK(c.local.counters->lost == 0);
}

TEST_CASE("data_link: a connection lost under direct writes: each message is "
          "written, handed back or reported cut, exactly once", "[data_link]") {
  connected c{16 << 10};
  c.central.read_until(1, 5s);
  const int n = 2000;
  int accepted = 1;
  int refused = 0;
  for (int i = 1; i < n; ++i) {
    auto msg = numbered(i, i % 3 == 0 ? 20000 : 200);
    if (c.local.link->send(msg))
      ++accepted;
    else
      ++refused; // down: the caller's to send over ZeroMQ
    if (i == 40)
      c.central.read_some();
    if (i == 60)
      c.central.reset();
    if (i > 60 && i % 100 == 0)
      std::this_thread::sleep_for(2ms); // let the loop see the reset
  }
  c.local.link.reset(); // what is still queued is handed back now
  std::lock_guard<std::mutex> guard{c.local.told->mtx};
  const auto& back = c.local.told->fell_back;
  CHECK(c.local.counters->failures >= 1);
  CHECK(refused > 0);
  // Every message accepted was either reported sent (written or cut) or
  // handed back, never both, never neither.
  CHECK(c.local.told->sent + static_cast<int>(back.size()) == accepted);
  CHECK(c.local.told->sent == c.local.counters->messages + c.local.counters->lost);
  // What the peer read came whole, in order, and none of it was handed back.
  for (size_t i = 0; i < c.central.got.size(); ++i)
    CHECK(c.central.got[i] == static_cast<int>(i));
  std::set<int> returned(back.begin(), back.end());
  CHECK(returned.size() == back.size());
  for (int got : c.central.got)
    CHECK(returned.count(got) == 0);
  for (size_t i = 1; i < back.size(); ++i)
    CHECK(back[i - 1] < back[i]);
}

namespace {

/// A job that runs `fn` when resumed (for a loop_jobs scope).
struct fn_job : caf::resumable {
  std::function<void()> fn;
  subtype_t subtype() const override {
    return unspecified;
  }
  resume_result resume(caf::execution_unit*, size_t) override {
    fn();
    return done;
  }
  void intrusive_ptr_add_ref_impl() override {
  }
  void intrusive_ptr_release_impl() override {
  }
};

/// Sends `msg` on the loop thread, from inside a loop_jobs job when
/// `as_job`; true when send() took it.
bool send_on_loop(data_link& link, wire::cc_message msg, bool as_job) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::promise<bool> taken;
  auto result = taken.get_future();
  io_loop::shared()->post([&] {
    if (!as_job) {
      taken.set_value(link.send(msg));
      return;
    }
    loop_jobs scope{sys};
    fn_job job;
    job.fn = [&] { taken.set_value(link.send(msg)); };
    scope.exec_later(&job);
    scope.run();
  });
  REQUIRE(result.wait_for(5s) == std::future_status::ready);
  return result.get();
}

} // namespace

TEST_CASE("data_link: on the loop thread a message is written directly from a "
          "loop_jobs job, and queued for the loop's next round otherwise",
          "[data_link]") {
  connected c;
  c.local.wait_idle(1, c.central);
  auto direct = c.local.counters->direct.load();  // message 0's, from this thread
  // From the loop itself (its own round): the loop writes it later.
  REQUIRE(send_on_loop(*c.local.link, numbered(1, 100), false));
  c.local.wait_idle(2, c.central);
  CHECK(c.local.counters->direct == direct);
  // From a job the loop runs (an inotify wake's tailer and forwarder): the
  // loop is not in the link's code, so the job writes it itself.
  REQUIRE(send_on_loop(*c.local.link, numbered(2, 100), true));
  c.local.wait_idle(3, c.central);
  CHECK(c.local.counters->direct == direct + 1);
  c.central.read_until(3, 20s);
  CHECK(in_order(c.central.got, 0, 3));
  CHECK(c.local.counters->lost == 0);
  CHECK(c.local.sent() == 3);
}

// The central's replies are handed on once the round's socket work is done,
// outside the writer lock: while nothing waits to be written, by
// on_message_here, whose receiver may run jobs on the loop that write into
// this link directly (the forwarder, router and tailer of a trickle's ack);
// read behind a message the loop is still writing, by on_message.
TEST_CASE("data_link: a reply read while nothing waits to be written is handed on "
          "outside the link's lock, and one read behind a message being written "
          "the usual way", "[data_link]") {
  connected c{4096};
  c.local.wait_idle(1, c.central);
  auto direct = c.local.counters->direct.load();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::promise<bool> taken;
  auto took = taken.get_future();
  {
    std::lock_guard<std::mutex> guard{c.local.told->mtx};
    c.local.told->at_reply_here = [&] {
      loop_jobs scope{sys};
      fn_job job;
      auto one = numbered(1, 100);
      job.fn = [&] { taken.set_value(c.local.link->send(one)); };
      scope.exec_later(&job);
      scope.run();
    };
  }
  auto reply = [&](const std::string& type) {
    wire::cc_message ack;
    ack.route = {wire::local_route_frame("local.d:app")};
    ack.type = type;
    ack.body = "{}";
    auto frame = data_frame::encode_head(ack);
    REQUIRE(::send(c.central.conn, frame.data(), frame.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(frame.size()));
  };
  auto replies = [&] {
    std::lock_guard<std::mutex> guard{c.local.told->mtx};
    return c.local.told->replies;
  };
  reply("logtail.ack");
  REQUIRE(took.wait_for(5s) == std::future_status::ready);
  CHECK(took.get());
  CHECK(replies() == std::vector<std::string>{"here:logtail.ack"});
  c.local.wait_idle(2, c.central);
  // The job wrote it itself: the writer lock was free.
  CHECK(c.local.counters->direct == direct + 1);
  {
    std::lock_guard<std::mutex> guard{c.local.told->mtx};
    c.local.told->at_reply_here = nullptr;
  }
  // A message larger than the peer's buffers and the socket's: the loop is
  // still writing it when the next reply comes.
  const size_t big = 32u << 20;
  auto msg = numbered(2, big);
  REQUIRE(c.local.link->send(msg));
  REQUIRE(wait_until_true([&] { return c.local.counters->bytes > 0; }));
  reply("logtail.state");
  REQUIRE(wait_until_true([&] { return replies().size() == 2; }));
  CHECK(replies() == std::vector<std::string>{"here:logtail.ack", "logtail.state"});
  c.central.read_until(3, 20s);
  CHECK(in_order(c.central.got, 0, 3));
  CHECK(c.local.counters->lost == 0);
}

TEST_CASE("forwarder_door: an in-process fragment goes into the data connection "
          "only while nothing waits, there is room and the link takes it",
          "[data_link][direct_lanes]") {
  connected c;
  c.local.wait_idle(1, c.central);
  auto gate = std::make_shared<data_gate>();
  CHECK_FALSE(gate->has_link());
  auto held = numbered(1, 100);
  CHECK_FALSE(gate->send(held)); // no link yet
  gate->exchange(std::move(c.local.link));
  CHECK(gate->has_link());
  auto meter = std::make_shared<room_meter>();
  int freed = 0;
  forwarder_door door;
  auto m1 = numbered(1, 100);
  CHECK_FALSE(door.take(m1)); // not attached: the actor does not run yet
  const auto size = m1.wire_size();
  door.attach({meter, size + 10, gate, [&freed] { ++freed; }});
  CHECK(door.take(m1));
  CHECK(meter->queued == size); // counted as the actor's send_now would
  // Nothing overtakes a message waiting in the forwarder's queue.
  meter->waiters = true;
  auto m2 = numbered(2, 100);
  CHECK_FALSE(door.take(m2));
  CHECK(m2.blob); // untouched: the router's
  meter->waiters = false;
  // queue-bytes full: the actor's answer holds the sender back instead.
  CHECK_FALSE(door.take(m2));
  CHECK(m2.blob);
  meter->queued = 0; // an empty queue takes any size
  CHECK(door.take(m2));
  // Other types stay on ZeroMQ; a peer's message is the actor's to screen.
  auto info = numbered(3, 100);
  info.type = "pub.infofile";
  CHECK_FALSE(door.take(info));
  auto relayed = numbered(3, 100);
  relayed.peer = std::make_shared<wire::peer_identity>();
  CHECK_FALSE(door.take(relayed));
  CHECK(relayed.blob);
  meter->queued = 0; // the link wrote them (its on_sent is the test's here)
  auto m3 = numbered(3, 100);
  CHECK(door.take(m3));
  CHECK(door.taken() == 3);
  // The link gone from the gate: refused, its bytes back out of the meter.
  auto link = gate->exchange(nullptr);
  meter->queued = 0;
  auto m4 = numbered(4, 100);
  CHECK_FALSE(door.take(m4));
  CHECK(meter->queued == 0);
  CHECK(freed == 0); // nobody waited for room
  gate->exchange(std::move(link));
  door.close();
  CHECK_FALSE(door.take(m4));
  c.central.read_until(4, 20s);
  CHECK(in_order(c.central.got, 0, 4));
  CHECK(door.taken() == 3);
}
