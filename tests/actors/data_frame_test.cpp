// The data connection's framing (actors/link/data_frame.hpp): what the
// encoder writes the decoder gives back, in any split of the stream; bad
// input is an error, never a message.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "actors/link/data_frame.hpp"
#include "actors/link/data_link.hpp"

using namespace cc;

namespace {

wire::cc_message fragment(std::string payload) {
  wire::cc_message m;
  m.route = {wire::local_route_frame("local.d:app")};
  m.type = "pub.logtail";
  m.body = R"({"req":"pub.logtail","filename":"/var/log/x.log","fpos":0})";
  m.blob = wire::blob::from_string(std::move(payload));
  return m;
}

std::string stream_of(const std::vector<wire::cc_message>& msgs) {
  auto s = data_frame::encode_hello("peer-id");
  for (const auto& m : msgs) {
    s += data_frame::encode_head(m);
    if (m.blob)
      s += std::string{m.blob->view()};
  }
  return s;
}

/// Feeds `bytes` in pieces of at most `piece`; the messages decoded, or
/// the first error.
caf::expected<std::vector<data_frame::decoded>>
feed(data_frame::decoder& dec, const std::string& bytes, size_t piece) {
  std::vector<data_frame::decoded> out;
  size_t at = 0;
  while (at < bytes.size()) {
    auto space = dec.want();
    size_t n = std::min({space.size, piece, bytes.size() - at});
    std::copy_n(bytes.data() + at, n, space.data);
    at += n;
    if (auto err = dec.commit(n))
      return err;
    if (auto m = dec.take())
      out.push_back(std::move(*m));
  }
  return out;
}

} // namespace

TEST_CASE("data_frame: messages come back whole in any split of the stream",
          "[data_frame]") {
  wire::cc_message question;
  question.route = {wire::local_route_frame("local.d:app")};
  question.type = "pub.logtail";
  question.body = R"({"req":"pub.logtail","query":"state"})";
  std::vector<wire::cc_message> msgs{fragment(std::string(100000, 'a')), question,
                                     fragment("last line\n"), fragment("")};
  auto bytes = stream_of(msgs);
  for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}, bytes.size()}) {
    INFO("pieces of " << piece);
    data_frame::decoder dec;
    auto got = feed(dec, bytes, piece);
    REQUIRE(got);
    REQUIRE(got->size() == msgs.size());
    CHECK(dec.routing_id() == std::string{"peer-id"});
    CHECK(dec.at_boundary());
    for (size_t i = 0; i < msgs.size(); ++i) {
      auto parsed = wire::parse((*got)[i].frames, (*got)[i].blob);
      REQUIRE(parsed);
      CHECK(parsed->route == msgs[i].route);
      CHECK(parsed->type == msgs[i].type);
      CHECK(parsed->body == msgs[i].body);
      CHECK(parsed->has_blob() == msgs[i].has_blob());
      if (msgs[i].has_blob())
        CHECK(parsed->blob->view() == msgs[i].blob->view());
    }
  }
}

TEST_CASE("data_frame: a stream cut inside a message is not at a boundary",
          "[data_frame]") {
  auto bytes = stream_of({fragment("0123456789")});
  data_frame::decoder dec;
  auto got = feed(dec, bytes.substr(0, bytes.size() - 3), 5);
  REQUIRE(got);
  CHECK(got->empty());
  CHECK_FALSE(dec.at_boundary());
}

TEST_CASE("data_frame: bad input is an error", "[data_frame]") {
  auto hello = data_frame::encode_hello("peer");
  auto head = data_frame::encode_head(fragment("xyz"));
  struct bad_case {
    const char* what;
    std::string bytes;
    uint64_t max_blob;
  };
  std::string wrong_blob_len = head;
  wrong_blob_len.replace(wrong_blob_len.size() - 4, 4, std::string("\x00\x10\x00\x00", 4));
  std::string zero_frames = hello + std::string("\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00", 11);
  std::string frame_past = head;
  frame_past[4 + 2 + 3] = '\x7f'; // the first frame's length past the head
  std::vector<bad_case> cases{
    {"garbage", "GET / HTTP/1.1\r\n\r\n", data_frame::default_max_blob},
    {"empty routing id", std::string{data_frame::magic} + std::string(2, '\0'),
     data_frame::default_max_blob},
    {"oversized head", hello + std::string("\x7f\xff\xff\xff", 4), data_frame::default_max_blob},
    {"tiny head", hello + std::string("\x00\x00\x00\x01", 4) + "x", data_frame::default_max_blob},
    {"blob over the limit", hello + wrong_blob_len, 1000},
    {"no frames", zero_frames, data_frame::default_max_blob},
    {"frame past the head", hello + frame_past, data_frame::default_max_blob},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    data_frame::decoder dec{c.max_blob};
    auto got = feed(dec, c.bytes, 3);
    CHECK_FALSE(got);
  }
}

TEST_CASE("data_link: which messages go on the data connection, and where to",
          "[data_frame]") {
  CHECK(data_carries("pub.logtail"));
  CHECK(data_carries("pub.logtail.pg"));
  CHECK_FALSE(data_carries("pub.logtailx"));
  CHECK_FALSE(data_carries("pub.infofile"));
  CHECK_FALSE(data_carries("echo.request"));
  CHECK(tcp_host_of("tcp://127.0.0.1:5555") == std::string{"127.0.0.1"});
  CHECK(tcp_host_of("tcp://[::1]:5555") == std::string{"::1"});
  CHECK(tcp_host_of("tcp://eth0;central.example:5555") == std::string{"central.example"});
  CHECK_FALSE(tcp_host_of("tcp://*:5555"));
  CHECK_FALSE(tcp_host_of("ipc:///run/cc.sock"));
  auto a = resolve_data_address("127.0.0.1", 4242);
  REQUIRE(a);
  CHECK(a->text == "127.0.0.1:4242");
}
