// The data connection's framing (actors/link/data_frame.hpp): what the
// encoder writes the decoder gives back, in any split of the stream; bad
// input is an error, never a message; a blob that is a file range goes by
// sendfile as the same bytes, and one whose file shrank or became a new
// generation stops short of completing its message (never padded).
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actors/link/data_frame.hpp"
#include "actors/link/data_link.hpp"
#include "base/error.hpp"
#include "base/hash.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/process.hpp"

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
    while (auto m = dec.take())
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

TEST_CASE("data_frame: between messages a read takes a length, its head and more, and a blob's "
          "bytes read ahead land in the blob",
          "[data_frame]") {
  wire::cc_message question;
  question.route = {wire::local_route_frame("local.d:app")};
  question.type = "pub.logtail";
  question.body = R"({"req":"pub.logtail","query":"state","filename":"/var/log/x.log"})";
  std::vector<wire::cc_message> msgs(20, question);
  msgs.push_back(fragment(std::string(100000, 'b')));
  msgs.push_back(question);
  msgs.push_back(fragment("tail\n"));
  auto bytes = stream_of(msgs);
  data_frame::decoder dec;
  std::vector<data_frame::decoded> got;
  size_t reads = 0, at = 0;
  size_t hello = data_frame::encode_hello("peer-id").size();
  while (at < bytes.size() && reads < 10000) {
    auto space = dec.want();
    if (at >= hello) // between messages (or in a blob): more than a length
      CHECK(space.size > 4);
    size_t n = std::min(space.size, bytes.size() - at); // a socket with all of it
    std::copy_n(bytes.data() + at, n, space.data);
    at += n;
    ++reads;
    REQUIRE_FALSE(dec.commit(n));
    while (auto m = dec.take())
      got.push_back(std::move(*m));
  }
  REQUIRE(got.size() == msgs.size());
  CHECK(dec.at_boundary());
  // Twenty questions of ~150 bytes: a few reads, not two or three each.
  CHECK(reads < 12);
  for (size_t i = 0; i < msgs.size(); ++i) {
    auto parsed = wire::parse(got[i].frames, got[i].blob);
    REQUIRE(parsed);
    CHECK(parsed->body == msgs[i].body);
    CHECK(parsed->has_blob() == msgs[i].has_blob());
    if (msgs[i].has_blob())
      CHECK(parsed->blob->view() == msgs[i].blob->view());
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

namespace {

/// A TCP connection on 127.0.0.1: the sending end nonblocking, as the data
/// link's, with a small send buffer so a large message takes many rounds.
struct loopback {
  int send_fd = -1;
  int recv_fd = -1;

  loopback() {
    int port = 0;
    int listener = cc::test::listen_on_loopback(port);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(static_cast<uint16_t>(port));
    send_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 16 << 10;
    ::setsockopt(send_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    REQUIRE(::connect(send_fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
    recv_fd = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    REQUIRE(recv_fd >= 0);
    ::fcntl(send_fd, F_SETFL, ::fcntl(send_fd, F_GETFL) | O_NONBLOCK);
    ::fcntl(recv_fd, F_SETFL, ::fcntl(recv_fd, F_GETFL) | O_NONBLOCK);
  }
  ~loopback() {
    ::close(send_fd);
    ::close(recv_fd);
  }

  /// Whatever has arrived.
  std::string drain() {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(recv_fd, buf, sizeof buf, 0)) > 0)
      out.append(buf, static_cast<size_t>(n));
    return out;
  }
};

std::string numbered(int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += "line " + std::to_string(i) + " of the source\n";
  return out;
}

/// A source of numbered lines, a range of it cut as the tailer cuts one, its
/// message's head, and the loopback connection it is sent on.
struct range_send {
  cc::test::temp_dir dir{"ccsendfile"};
  std::string path = dir / "app.log";
  std::string content = numbered(20000);
  wire::file_range range;
  std::string head;
  loopback link;
  size_t done = 0;
  std::string out; // what arrived
  caf::error gone;

  range_send(uint64_t offset, uint64_t length) {
    cc::test::write_file(path, content);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    auto shared = wire::shared_file::dup_of(fd, path);
    ::close(fd);
    REQUIRE(shared);
    auto prefix = content.substr(0, 4096);
    range = {*shared, offset, length, {prefix.size(), cc::fnv1a64(prefix)}};
    auto msg = fragment("");
    msg.blob = wire::blob::from_file(range);
    head = data_frame::encode_head(msg);
  }

  /// write_range_some until it finishes, stops or 2000 rounds pass;
  /// `between` runs after each round.
  data_frame::range_write send_all(const std::function<void()>& between = {}) {
    auto result = data_frame::range_write::progress;
    for (int round = 0; round < 2000 && done < head.size() + range.length; ++round) {
      int64_t written = 0;
      result = data_frame::write_range_some(link.send_fd, head, range, done, written, gone);
      out += link.drain();
      if (result != data_frame::range_write::progress)
        break;
      if (between)
        between();
    }
    // The end of the stream, as the data link closes it (a head sent with
    // MSG_MORE and nothing after it leaves only then).
    ::shutdown(link.send_fd, SHUT_WR);
    for (int round = 0; round < 50; ++round)
      out += link.drain();
    return result;
  }
};

} // namespace

TEST_CASE("data_frame: a file-range blob goes by sendfile as the same stream as "
          "from memory",
          "[data_frame][sendfile]") {
  range_send t{1234, 300000};
  CHECK(t.send_all() == data_frame::range_write::progress);
  CHECK(t.done == t.head.size() + t.range.length);
  // Byte for byte what the message with its bytes in memory gives.
  auto bytes = t.content.substr(1234, 300000);
  auto expected = data_frame::encode_head(fragment(bytes)) + bytes;
  CHECK(t.out.size() == expected.size());
  CHECK(t.out == expected);
  data_frame::decoder dec{data_frame::default_max_blob, false};
  auto got = feed(dec, t.out, 4096);
  REQUIRE(got);
  REQUIRE(got->size() == 1);
  CHECK((*got)[0].blob->view() == bytes);
}

TEST_CASE("data_frame: a file that shrinks under sendfile stops the message short "
          "of its announced length, never padded",
          "[data_frame][sendfile]") {
  range_send t{0, 400000};
  bool cut = false;
  // copytruncate while the message is under way (the socket is full).
  auto result = t.send_all([&] {
    if (!cut && t.done > t.head.size() + 50000) {
      REQUIRE(::truncate(t.path.c_str(), 0) == 0);
      cut = true;
    }
  });
  REQUIRE(cut);
  CHECK(result == data_frame::range_write::range_gone);
  CHECK(cc::message_of(t.gone).find("shrank") != std::string::npos);
  CHECK(t.done < t.head.size() + t.range.length);
  CHECK(t.out.size() == t.done);
  // What left is the source's own bytes: a prefix, nothing made up.
  CHECK(t.out.substr(t.head.size()) == t.content.substr(0, t.done - t.head.size()));
  data_frame::decoder dec{data_frame::default_max_blob, false};
  auto got = feed(dec, t.out, 4096);
  REQUIRE(got);
  CHECK(got->empty());
  CHECK_FALSE(dec.at_boundary());
}

TEST_CASE("data_frame: a new generation under the name stops the message before "
          "its first byte",
          "[data_frame][sendfile]") {
  range_send t{100000, 100000};
  cc::test::write_file(t.path, "a new generation\n" + numbered(30000));
  CHECK(t.send_all() == data_frame::range_write::range_gone);
  CHECK(cc::message_of(t.gone).find("first bytes changed") != std::string::npos);
  CHECK(t.done == t.head.size());
  CHECK(t.out == t.head);
}
