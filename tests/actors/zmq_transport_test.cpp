// The ZeroMQ socket thread (actors/link/zmq_transport.hpp) on real sockets on
// 127.0.0.1: a large last frame received is kept in its zmq_msg_t as the
// blob (wire::blob::storage::external), not copied; small ones are copied;
// the whole-message size limit still drops what it dropped; and a kept blob
// goes out again unchanged. Both ends: the gateway's ROUTER (zmq_socket_loop)
// and the forwarder's DEALER (zmq_transport).
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <zmq.h>

#include "actors/link/zmq_transport.hpp"
#include "tests/support/process.hpp"
#include "tests/support/zmq_peer.hpp"
#include "wire/message.hpp"

using namespace std::chrono_literals;
using cc::wire::blob;
using cc::wire::cc_message;

namespace {

std::string endpoint(int port) {
  return "tcp://127.0.0.1:" + std::to_string(port);
}

std::string patterned(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>(i * 31 + seed);
  return s;
}

using peer = cc::test::zmq_peer;

/// What a socket thread's callbacks hand over, for the test thread to wait on.
struct inbox {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<cc_message> messages;
  int invalid = 0;

  void add(cc_message msg) {
    std::lock_guard<std::mutex> guard{mtx};
    messages.push_back(std::move(msg));
    cv.notify_all();
  }
  /// Waits (bounded) for at least `n` messages.
  bool wait_for(size_t n) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, 10s, [&] { return messages.size() >= n; });
  }
};

} // namespace

TEST_CASE("gateway socket: a large received blob stays in ZeroMQ's message",
          "[zmq_transport]") {
  inbox in;
  int port = cc::test::free_port();
  cc::zmq_options opts;
  opts.max_message_size = 200000;  // per frame (ZeroMQ) and per message (ours)
  cc::zmq_socket_loop::events ev;
  ev.on_frames = [&in](std::vector<std::string>&& frames, cc::wire::blob_ptr&& last,
                       cc::wire::peer_ptr&&) {
    auto msg = cc::wire::parse(std::move(frames), std::move(last));
    if (msg)
      in.add(std::move(*msg));
    else
      ++in.invalid;
  };
  cc::zmq_socket_loop sock{cc::zmq_socket_loop::role::router_bind,
                             endpoint(port), opts, ev, "test-gateway"};
  REQUIRE_FALSE(sock.start());
  peer client{ZMQ_DEALER};
  REQUIRE(client.connect(endpoint(port)));

  const auto large = patterned(64 * 1024, 1);
  const auto small = patterned(2000, 2);
  const auto big_signature = patterned(20000, 3);
  REQUIRE(client.send({"", "pub.logtail", "{\"n\":1}", "", large}));
  REQUIRE(client.send({"", "pub.logtail", "{\"n\":2}", "", small}));
  // Over max-message-size in total (each frame is under it): dropped as
  // before, the large last frame included.
  REQUIRE(client.send({"", "pub.logtail", std::string(150000, 'b'), "",
                       patterned(60000, 4)}));
  // A large last frame that is not a blob: the signature.
  REQUIRE(client.send({"", "log.info", "{\"n\":3}", big_signature}));
  REQUIRE(in.wait_for(3));
  // Every message was read (the fourth came last): the callbacks are done.
  std::unique_lock<std::mutex> guard{in.mtx};
  REQUIRE(in.messages.size() == 3);
  CHECK(in.invalid == 0);
  CHECK(sock.counters().oversize == 1);
  CHECK(sock.counters().received == 4);

  auto& kept = in.messages[0];
  CHECK(kept.body == "{\"n\":1}");
  REQUIRE(kept.route.size() == 1);  // the identity the ROUTER gave the client
  REQUIRE(kept.has_blob());
  CHECK(kept.blob->kind() == blob::storage::external);  // not copied
  CHECK(*kept.blob == large);

  auto& copied = in.messages[1];
  REQUIRE(copied.has_blob());
  CHECK(copied.blob->kind() == blob::storage::string);
  CHECK(*copied.blob == small);

  auto& sig = in.messages[2];
  CHECK(sig.type == "log.info");
  CHECK_FALSE(sig.has_blob());
  CHECK(sig.signature == big_signature);

  // The kept blob goes back out as it is (zero-copy send of an external blob)
  // and outlives the message it came in.
  cc_message reply;
  reply.route = kept.route;
  reply.type = "logtail.ack";
  reply.body = "{}";
  reply.blob = std::move(kept.blob);
  in.messages.clear();
  guard.unlock();
  sock.send(std::move(reply));
  auto back = client.receive(10s);
  REQUIRE(back);
  REQUIRE(back->size() == 5);
  CHECK((*back)[1] == "logtail.ack");
  CHECK((*back)[4] == large);
  sock.stop();
}

TEST_CASE("forwarder transport: a large reply blob stays in ZeroMQ's message",
          "[zmq_transport]") {
  inbox in;
  int port = cc::test::free_port();
  peer remote{ZMQ_ROUTER};
  REQUIRE(remote.bind(endpoint(port)));
  auto tr = cc::make_transport(endpoint(port), cc::zmq_options{}, "test-fwd");
  REQUIRE(tr);
  cc::transport::callbacks cb;
  cb.on_message = [&in](cc_message msg) { in.add(std::move(msg)); };
  REQUIRE_FALSE((*tr)->connect(endpoint(port), cb));

  cc_message hello;
  hello.route = {"r"};
  hello.type = "echo.request";
  hello.body = "{}";
  (*tr)->send(hello);
  auto got = remote.receive(10s);
  REQUIRE(got);
  REQUIRE(got->size() == 6);
  const auto large = patterned(100000, 5);
  REQUIRE(remote.send({(*got)[0], "r", "", "logtail.ack", "{}", "", large}));
  REQUIRE(in.wait_for(1));
  {
    std::lock_guard<std::mutex> guard{in.mtx};
    auto& msg = in.messages[0];
    CHECK(msg.route == std::vector<std::string>{"r"});
    REQUIRE(msg.has_blob());
    CHECK(msg.blob->kind() == blob::storage::external);
    CHECK(*msg.blob == large);
  }
  (*tr)->close();
  // The blob outlives the socket, its thread and its context.
  std::lock_guard<std::mutex> guard{in.mtx};
  CHECK(*in.messages[0].blob == large);
}
