// Direct lanes (actors/core/direct_lanes.hpp): which messages take a door
// instead of the router, and the reply path to a data connection. The
// tailwriter's door behind a lane is tested in tailwriter_test.cpp, the
// whole path with real processes in tests/integration/data_connection_test.cpp.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "actors/core/direct_lanes.hpp"
#include "config/config.hpp"
#include "routes/route_table.hpp"

using namespace cc;

namespace {

/// A door that keeps what it takes; `gone`: refuses like a closed one.
struct keeping_door : direct_handler {
  std::vector<wire::cc_message> taken;
  bool gone = false;
  bool take(wire::cc_message& msg) override {
    if (gone)
      return false;
    taken.push_back(std::move(msg));
    return true;
  }
};

wire::cc_message msg_of(const std::string& type) {
  wire::cc_message m;
  m.route = {"peer-1"};
  m.type = type;
  m.body = "{}";
  return m;
}

routes::route_table table() {
  routes::route_table t;
  t.add("pub.logtail", {"h:tailwriter"});
  t.add("pub.infofile", {"h:infowriter"});
  t.add("log", {"h:logger", "h:forward"});
  return t;
}

} // namespace

TEST_CASE("direct lanes: only a type routed to one handler with a door, while open",
          "[direct_lanes]") {
  direct_lanes lanes;
  auto door = std::make_shared<keeping_door>();
  auto other = std::make_shared<keeping_door>();
  lanes.prepare(table());
  lanes.add_door("h:tailwriter", door);
  lanes.add_door("h:logger", other);
  auto m = msg_of("pub.logtail");
  CHECK_FALSE(lanes.take(m)); // not open yet
  CHECK(m.type == "pub.logtail"); // untouched: the router's
  lanes.open();
  CHECK(lanes.take(m));
  auto suffixed = msg_of("pub.logtail.x");
  CHECK(lanes.take(suffixed)); // whole words: pub.logtail covers it
  REQUIRE(door->taken.size() == 2);
  CHECK(door->taken[1].type == "pub.logtail.x");
  auto prefix_only = msg_of("pub.logtailx");
  CHECK_FALSE(lanes.take(prefix_only));
  auto no_door = msg_of("pub.infofile");
  CHECK_FALSE(lanes.take(no_door));
  auto two = msg_of("log.info"); // two handlers: the router shares it
  CHECK_FALSE(lanes.take(two));
  CHECK(other->taken.empty());
  auto invalid = msg_of("pub.logtail..x"); // the router counts it invalid
  CHECK_FALSE(lanes.take(invalid));
  CHECK(lanes.taken() == 2);
  lanes.close();
  auto late = msg_of("pub.logtail");
  CHECK_FALSE(lanes.take(late));
  // A new generation forgets the old doors.
  lanes.prepare(table());
  lanes.open();
  CHECK_FALSE(lanes.take(late));
  CHECK(door->taken.size() == 2);
}

TEST_CASE("direct lanes: a door that is gone sends the message to the router",
          "[direct_lanes]") {
  direct_lanes lanes;
  auto door = std::make_shared<keeping_door>();
  lanes.prepare(table());
  lanes.add_door("h:tailwriter", door);
  lanes.open();
  door->gone = true;
  auto m = msg_of("pub.logtail");
  CHECK_FALSE(lanes.take(m));
  CHECK(m.body == "{}");
  CHECK(lanes.taken() == 0);
}

TEST_CASE("direct lanes: replies go to the data port's path while it is set",
          "[direct_lanes]") {
  direct_lanes lanes;
  auto m = msg_of("logtail.ack");
  CHECK_FALSE(lanes.reply(m)); // no data port
  std::vector<wire::cc_message> sent;
  int owner = 0, other_owner = 0;
  lanes.set_reply_path(
    [&sent](wire::cc_message& r) {
      if (r.route.front() != "peer-1")
        return false; // no connection of that peer
      sent.push_back(std::move(r));
      return true;
    },
    &owner);
  CHECK(lanes.reply(m));
  auto elsewhere = msg_of("logtail.ack");
  elsewhere.route = {"peer-2"};
  CHECK_FALSE(lanes.reply(elsewhere));
  CHECK(elsewhere.route == std::vector<std::string>{"peer-2"});
  CHECK(sent.size() == 1);
  CHECK(lanes.replies() == 1);
  // Another gateway's close does not remove this one's path.
  lanes.set_reply_path({}, &other_owner);
  auto again = msg_of("logtail.ack");
  CHECK(lanes.reply(again));
  lanes.set_reply_path({}, &owner);
  auto after = msg_of("logtail.ack");
  CHECK_FALSE(lanes.reply(after));
  CHECK(sent.size() == 2);
}

TEST_CASE("direct lanes: this process's own messages take a local door, a peer's "
          "never, and only where the route has that one handler",
          "[direct_lanes]") {
  direct_lanes lanes;
  auto tailwriter = std::make_shared<keeping_door>();
  auto forward = std::make_shared<keeping_door>();
  routes::route_table t;
  t.add("pub.logtail", {"h:forward"});
  t.add("pub.infofile", {"h:forward", "h:logger"});
  lanes.prepare(t);
  lanes.add_door("h:forward", tailwriter);       // a peer door of that section
  lanes.add_local_door("h:forward", forward);    // and its local one
  lanes.open();
  auto own = msg_of("pub.logtail");
  CHECK(lanes.take_local(own));
  REQUIRE(forward->taken.size() == 1);
  CHECK(tailwriter->taken.empty()); // the local door, not the peers'
  auto peers = msg_of("pub.logtail");
  CHECK(lanes.take(peers));
  CHECK(tailwriter->taken.size() == 1);
  CHECK(forward->taken.size() == 1); // a peer's message never takes it
  // Two handlers: the router shares it, nothing goes direct.
  auto shared = msg_of("pub.infofile");
  CHECK_FALSE(lanes.take_local(shared));
  CHECK(shared.type == "pub.infofile");
  auto invalid = msg_of("pub.logtail..x");
  CHECK_FALSE(lanes.take_local(invalid));
  CHECK(lanes.local_taken() == 1);
  CHECK(lanes.taken() == 1);
  // A door that refuses (the forwarder holds messages back, its data
  // connection is down) leaves the message to the router.
  forward->gone = true;
  auto refused = msg_of("pub.logtail");
  CHECK_FALSE(lanes.take_local(refused));
  CHECK(refused.body == "{}");
  forward->gone = false;
  lanes.close();
  auto closed = msg_of("pub.logtail");
  CHECK_FALSE(lanes.take_local(closed));
  // Only a local door serves take_local: a section with a peer door alone
  // is the router's for this process's messages.
  direct_lanes other;
  other.prepare(t);
  other.add_door("h:forward", tailwriter);
  other.open();
  auto m = msg_of("pub.logtail");
  CHECK_FALSE(other.take_local(m));
  CHECK(forward->taken.size() == 1);
}
