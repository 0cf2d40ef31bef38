// wire/message: parse and frames_of round trips, every malformed shape, type
// validation, in-process endpoint route frames, and CAF serialization.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "config/error.hpp"
#include "wire/message.hpp"

using namespace cc::wire;
using frames = std::vector<std::string>;

namespace {

cc::errc code_of(const caf::error& err) {
  REQUIRE(err.category() == cc::error_category);
  return static_cast<cc::errc>(err.code());
}

frames copy_frames(const cc_message& msg) {
  frames out;
  for (auto f : frames_of(msg))
    out.emplace_back(f);
  return out;
}

} // namespace

TEST_CASE("a message with route frames and a blob round-trips",
          "[wire][message]") {
  // Two route frames as a central server sees a pub.logtail (forwarder's and
  // daemon's identities), a signature, and a blob.
  std::string peer1{"\x00\x6b\x8b\x45\x67", 5};
  std::string peer2 = local_route_frame("tailer-1");
  frames in{peer1, peer2, "", "pub.logtail", "{\"req\":\"pub.logtail\"}",
            "SIG", std::string(1 << 16, 'b')};
  const char* blob_bytes = in[6].data();
  auto msg = parse(in);
  REQUIRE(msg);
  CHECK(msg->route == frames{peer1, peer2});
  CHECK(msg->type == "pub.logtail");
  CHECK(msg->body == "{\"req\":\"pub.logtail\"}");
  CHECK(msg->signature == "SIG");
  REQUIRE(msg->has_blob());
  CHECK(*msg->blob == in[6]);
  CHECK(copy_frames(*msg) == in);
  CHECK(msg->wire_size() == 5 + peer2.size() + 11 + 21 + 3 + (1 << 16));

  // Frames are moved in: a large blob keeps its buffer.
  frames moved = in;
  const char* before = moved[6].data();
  auto m2 = parse(std::move(moved));
  REQUIRE(m2);
  CHECK(m2->blob->data() == before);
  CHECK(before != blob_bytes);

  // Copies of the message share the blob, they do not copy it.
  cc_message copy = *m2;
  CHECK(copy.blob.get() == m2->blob.get());
  CHECK(m2->blob.use_count() == 2);

  // frames_of views the message: no copies either.
  auto views = frames_of(*m2);
  REQUIRE(views.size() == 7);
  CHECK(views[6].data() == m2->blob->data());
  CHECK(views[2].empty());
}

TEST_CASE("3 frames after the delimiter: no blob; 4: a blob, even empty",
          "[wire][message]") {
  auto three = parse({"", "log.info", "{}", ""});
  REQUIRE(three);
  CHECK(three->route.empty());
  CHECK_FALSE(three->has_blob());
  CHECK(three->signature.empty());
  CHECK(frames_of(*three).size() == 4);
  CHECK(copy_frames(*three) == frames{"", "log.info", "{}", ""});

  auto four = parse({"", "pub.logtail", "{}", "", ""});
  REQUIRE(four);
  REQUIRE(four->has_blob());
  CHECK(four->blob->empty());
  CHECK(frames_of(*four).size() == 5);
}

TEST_CASE("the first empty frame is the delimiter", "[wire][message]") {
  // An empty body after the delimiter is a body, not a second delimiter.
  auto msg = parse({"r1", "", "echo.request", "", "", "blob"});
  REQUIRE(msg);
  CHECK(msg->route == frames{"r1"});
  CHECK(msg->body.empty());
  CHECK(msg->signature.empty());
  CHECK(*msg->blob == "blob");
}

TEST_CASE("malformed shapes are malformed_frames", "[wire][message]") {
  const frames bad[] = {
    {},                                              // nothing
    {"pub.logtail", "{}", ""},                       // no delimiter
    {"r1", "r2"},                                    // no delimiter
    {""},                                            // nothing after it
    {"", "log.info"},                                // too few
    {"r", "", "log.info", "{}"},                     // too few (no signature)
    {"", "log.info", "{}", "", "blob", "extra"},     // too many
    {"r", "", "a", "b", "c", "d", "e", "f"},         // too many
  };
  for (const auto& f : bad) {
    CAPTURE(f);
    auto r = parse(f);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == cc::errc::malformed_frames);
  }
}

TEST_CASE("message types are dot-separated [A-Za-z0-9_-] words",
          "[wire][message]") {
  for (const char* good : {"log", "log.info", "pub.logtail.pg-main_1", "A.b.C",
                           "0", "_.-"}) {
    CAPTURE(good);
    CHECK(valid_type(good));
    CHECK(parse({"", good, "{}", ""}));
  }
  for (const char* bad : {"", ".", "log.", ".log", "log..info", "log info",
                          "log/info", "log:info", "ünï", "log\n", "*"}) {
    CAPTURE(bad);
    CHECK_FALSE(valid_type(bad));
  }
  // After the (first, empty) delimiter an empty type frame is just invalid.
  for (std::string bad : {std::string{""}, std::string{"log."}, std::string{".log"},
                          std::string{"a b"}, std::string{"x\x00y", 3},
                          std::string{"\xff\xfe"}}) {
    auto r = parse({"", bad, "{}", ""});
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == cc::errc::invalid_type);
    // The error text shows the type printable and bounded.
    auto text = cc::describe(r.error());
    for (char c : text)
      CHECK((static_cast<unsigned char>(c) >= 0x20 &&
             static_cast<unsigned char>(c) < 0x7f));
  }
  auto r = parse({"", std::string(1000, '!'), "{}", ""});
  REQUIRE_FALSE(r);
  CHECK(cc::describe(r.error()).size() < 200);
}

TEST_CASE("local route frames name in-process endpoints", "[wire][message]") {
  auto frame = local_route_frame("d:pglog");
  CHECK(frame[0] == '\x01');
  CHECK(local_endpoint_name(frame) == "d:pglog");
  // ZeroMQ's generated identities start with 0x00: never ours.
  CHECK(local_endpoint_name(std::string{"\x00\x6b\x8b\x45\x67", 5}).empty());
  CHECK(local_endpoint_name("").empty());
  CHECK(local_endpoint_name("cc:x").empty());
  // The bare tag names nobody.
  CHECK(local_endpoint_name(local_route_frame("")).empty());
  // A route mixing both kinds survives a round trip in order.
  frames in{std::string{"\x00\x01\x02\x03\x04", 5}, frame, "", "pub.logtail",
            "{}", ""};
  auto msg = parse(in);
  REQUIRE(msg);
  REQUIRE(msg->route.size() == 2);
  CHECK(local_endpoint_name(msg->route[1]) == "d:pglog");
  CHECK(copy_frames(*msg) == in);
}

TEST_CASE("cc_message survives CAF serialization with and without a blob",
          "[wire][message]") {
  for (bool with_blob : {true, false}) {
    CAPTURE(with_blob);
    cc_message msg;
    msg.route = {std::string{"\x00\x01\x02\x03\x04", 5}, local_route_frame("t")};
    msg.type = "pub.logtail";
    msg.body = "{\"req\":\"pub.logtail\"}";
    msg.signature = "sig";
    if (with_blob)
      msg.blob = std::make_shared<const std::string>(std::string{"b\0lob", 5});
    std::vector<char> buf;
    caf::binary_serializer sink{nullptr, buf};
    REQUIRE_FALSE(sink(msg));
    cc_message back;
    back.blob = std::make_shared<const std::string>("stale");
    caf::binary_deserializer source{nullptr, buf};
    REQUIRE_FALSE(source(back));
    CHECK(back.route == msg.route);
    CHECK(back.type == msg.type);
    CHECK(back.body == msg.body);
    CHECK(back.signature == msg.signature);
    REQUIRE(back.has_blob() == with_blob);
    if (with_blob)
      CHECK(*back.blob == *msg.blob);
  }
}
