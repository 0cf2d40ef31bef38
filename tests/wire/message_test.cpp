// wire/message: parse and frames_of round trips, every malformed shape, type
// validation, in-process endpoint route frames, and CAF serialization; and
// wire/blob: ownership, views, equality, the tailer's byte_buffer.
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "base/error.hpp"
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

TEST_CASE("3 frames after the delimiter: no blob, 4: a blob, even empty",
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
      msg.blob = blob::from_string(std::string{"b\0lob", 5});
    std::vector<char> buf;
    caf::binary_serializer sink{nullptr, buf};
    REQUIRE_FALSE(sink(msg));
    cc_message back;
    back.blob = blob::from_string("stale");
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

// -- wire::blob -------------------------------------------------------------------

namespace {

/// External storage for blob::external: counts its releases.
struct external_bytes {
  std::string bytes;
  int releases = 0;
  static void release(void* context) {
    ++static_cast<external_bytes*>(context)->releases;
  }
  blob_ptr make() {
    return blob::external(bytes.data(), bytes.size(), &external_bytes::release,
                          this);
  }
};

} // namespace

TEST_CASE("an external blob is released exactly once, by its last handle",
          "[wire][blob]") {
  external_bytes ext{std::string(100000, 'e')};
  auto b = ext.make();
  CHECK(b->kind() == blob::storage::external);
  CHECK(b->data() == ext.bytes.data());  // the bytes stay where they are
  CHECK(b->size() == 100000);
  auto view = b->view();
  {
    cc_message msg;
    msg.blob = b;
    cc_message copy = msg;
    b.reset();
    CHECK(ext.releases == 0);  // two messages still hold it
    CHECK(copy.blob->view().data() == view.data());
    msg.blob.reset();
    CHECK(ext.releases == 0);
    CHECK(view == std::string(100000, 'e'));  // views stay valid meanwhile
  }
  CHECK(ext.releases == 1);
}

TEST_CASE("a blob owns a string or a buffer without copying it",
          "[wire][blob]") {
  std::string text(50000, 's');
  const char* text_bytes = text.data();
  auto s = blob::from_string(std::move(text));
  CHECK(s->kind() == blob::storage::string);
  CHECK(s->data() == text_bytes);
  CHECK(*s == std::string(50000, 's'));

  byte_buffer buf;
  char* room = buf.append_space(4096);
  std::memset(room, 'b', 4096);
  buf.commit(3000);
  CHECK(buf.size() == 3000);
  CHECK(buf.capacity() >= 4096);
  const char* buf_bytes = buf.data();
  auto b = blob::from_buffer(std::move(buf));
  CHECK(b->kind() == blob::storage::buffer);
  CHECK(b->data() == buf_bytes);
  CHECK(b->size() == 3000);
  CHECK(*b == std::string(3000, 'b'));
  CHECK(buf.empty());
  CHECK(buf.capacity() == 0);
  CHECK(buf.data() == nullptr);

  // A short string's bytes live inside the blob: still valid for its life.
  auto small = blob::from_string("tiny");
  CHECK(small->view() == "tiny");
  auto copied = blob::copy_of("copied");
  CHECK(copied->kind() == blob::storage::buffer);
  CHECK(copied->view() == "copied");
  CHECK(blob::copy_of("")->empty());
  CHECK(blob::from_string("")->empty());
}

TEST_CASE("blobs compare by their bytes, whatever holds them",
          "[wire][blob]") {
  external_bytes ext{std::string{"same\0bytes", 10}};
  auto e = ext.make();
  auto s = blob::from_string(std::string{"same\0bytes", 10});
  auto c = blob::copy_of(std::string_view{"same\0bytes", 10});
  CHECK(*e == *s);
  CHECK(*s == *c);
  CHECK(*e == std::string_view{"same\0bytes", 10});
  CHECK(std::string{"same\0bytes", 10} == *c);
  CHECK(*s != "same");  // a prefix is not equal
  CHECK(*blob::from_string("a") != *blob::from_string("b"));
  CHECK_FALSE(*s != *e);
}

TEST_CASE("byte_buffer grows keeping its bytes and drops a prefix",
          "[wire][blob]") {
  byte_buffer buf;
  CHECK(buf.empty());
  buf.append("hello ");
  auto cap = buf.capacity();
  std::memcpy(buf.append_space(cap + 5), "world", 5);  // forces a new block
  buf.commit(5);
  CHECK(buf.view() == "hello world");
  CHECK(buf.capacity() >= 2 * cap);
  buf.erase_front(6);
  CHECK(buf.view() == "world");
  buf.truncate(3);
  CHECK(buf.view() == "wor");
  buf.truncate(10);  // never grows
  CHECK(buf.view() == "wor");
  buf.erase_front(99);
  CHECK(buf.empty());
  byte_buffer other = std::move(buf);
  other.append("x");
  CHECK(other.view() == "x");
  buf = std::move(other);
  CHECK(buf.view() == "x");
  CHECK(other.empty());
}

TEST_CASE("parse takes a kept last frame as the blob, as it is",
          "[wire][message][blob]") {
  external_bytes ext{std::string(20000, 'k')};
  {
    auto last = ext.make();
    const blob* kept = last.get();
    auto msg = parse({"peer", "", "pub.logtail", "{}", "sig"}, std::move(last));
    REQUIRE(msg);
    CHECK(msg->route == frames{"peer"});
    CHECK(msg->signature == "sig");
    REQUIRE(msg->has_blob());
    CHECK(msg->blob.get() == kept);  // the same blob: nothing copied
    CHECK(msg->blob->kind() == blob::storage::external);
    CHECK(msg->wire_size() == 4 + 11 + 2 + 3 + 20000);
  }
  CHECK(ext.releases == 1);

  // Not in the blob's place: an ordinary frame (here the signature).
  auto sig = parse({"", "log.info", "{}"}, ext.make());
  REQUIRE(sig);
  CHECK_FALSE(sig->has_blob());
  CHECK(sig->signature == ext.bytes);
  CHECK(ext.releases == 2);

  // ... or the fifth frame after the delimiter: too many, counted with it.
  auto extra = parse({"", "log.info", "{}", "", "blob"}, ext.make());
  REQUIRE_FALSE(extra);
  CHECK(code_of(extra.error()) == cc::errc::malformed_frames);
  CHECK_THAT(cc::describe(extra.error()), Catch::Contains("got 5 frames"));

  // ... or a frame of the route, with the delimiter missing.
  auto none = parse({"a", "b"}, ext.make());
  REQUIRE_FALSE(none);
  CHECK_THAT(cc::describe(none.error()), Catch::Contains("among 3 frames"));

  // An empty kept frame can be the delimiter.
  auto empty_last = parse({"r"}, blob::from_string(""));
  REQUIRE_FALSE(empty_last);
  CHECK_THAT(cc::describe(empty_last.error()), Catch::Contains("got 0 frames"));
  CHECK(ext.releases == 4);
}

TEST_CASE("a blob kept from the network survives CAF serialization as a copy",
          "[wire][blob]") {
  external_bytes ext{std::string(70000, '\0')};
  for (size_t i = 0; i < ext.bytes.size(); ++i)
    ext.bytes[i] = static_cast<char>(i * 13);
  cc_message msg;
  msg.route = {"peer"};
  msg.type = "pub.logtail";
  msg.body = "{}";
  msg.blob = ext.make();
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  REQUIRE_FALSE(sink(msg));
  msg.blob.reset();
  CHECK(ext.releases == 1);  // the serializer kept no handle
  cc_message back;
  caf::binary_deserializer source{nullptr, buf};
  REQUIRE_FALSE(source(back));
  REQUIRE(back.has_blob());
  CHECK(back.blob->kind() == blob::storage::string);  // a fresh owned copy
  CHECK(*back.blob == ext.bytes);
  CHECK(back.blob->data() != ext.bytes.data());
}
