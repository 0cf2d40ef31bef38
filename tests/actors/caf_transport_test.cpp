// actors/link/caf_transport: what a caf:// link holds while it cannot send.
// A fragment the tailer left in its source file (wire/file_range.hpp) waits
// in the link as that range, not as its bytes: a link that is down or slow
// holds up to queue-bytes of fragments, and the source file already has
// them. The link reads a range as it sends it; one whose bytes are gone by
// then is dropped, counted, and its room given back to the forwarder.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/types.hpp"
#include "actors/link/caf_transport.hpp"
#include "base/hash.hpp"
#include "tests/support/process.hpp"
#include "wire/blob.hpp"
#include "wire/message.hpp"

using namespace std::chrono_literals;

namespace {

/// What the remote end took: each message's blob bytes, in arrival order.
struct taken {
  std::mutex mtx;
  std::vector<std::string> blobs;
  size_t count() {
    std::lock_guard<std::mutex> guard{mtx};
    return blobs.size();
  }
};

/// Stands where a central's CAF gateway does: takes each message and
/// answers ok, as the gateway does once its router took it.
caf::behavior remote_taker(caf::event_based_actor*, std::shared_ptr<taken> t) {
  return {
    [t](cc::dispatch_atom, cc::wire::cc_message& msg) {
      std::lock_guard<std::mutex> guard{t->mtx};
      t->blobs.emplace_back(msg.blob ? std::string{msg.blob->view()} : std::string{});
      return cc::ok_atom::value;
    },
  };
}

std::string numbered(int from, int n) {
  std::string out;
  for (int i = from; i < from + n; ++i)
    out += "line " + std::to_string(i) + " of the source, with some padding\n";
  return out;
}

/// A pub.logtail message whose blob is [offset, offset + length) of `path`,
/// cut as the tailer cuts one (a dup of the file, its first 4 KiB guarded).
cc::wire::cc_message range_fragment(const std::string& path, const std::string& content,
                                    uint64_t offset, uint64_t length) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto shared = cc::wire::shared_file::dup_of(fd, path);
  ::close(fd);
  REQUIRE(shared);
  auto prefix = content.substr(0, 4096);
  cc::wire::file_range range{*shared, offset, length, {prefix.size(), cc::fnv1a64(prefix)}};
  cc::wire::cc_message msg;
  msg.route.push_back(cc::wire::local_route_frame("test"));
  msg.type = "pub.logtail";
  msg.body = R"({"fpos":)" + std::to_string(offset) + "}";
  msg.blob = cc::wire::blob::from_file(range);
  return msg;
}

} // namespace

TEST_CASE("caf link: a fragment left in its file waits as a range while the "
          "link is down, is read as it goes out, and one whose bytes are gone "
          "is dropped with its room given back",
          "[caf_link]") {
  cc::test::temp_dir dir{"cccaflink"};  // outlives the actor system
  caf::actor_system_config cfg;
  cc::register_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};

  auto a_path = dir / "a.log";
  auto a = numbered(0, 60000);  // about 3.5 MB
  cc::test::write_file(a_path, a);
  auto b_path = dir / "b.log";
  auto b = numbered(100000, 2000);
  cc::test::write_file(b_path, b);

  std::atomic<uint64_t> room_back{0};
  cc::transport::callbacks cb;
  cb.on_sent = [&](uint64_t bytes) { room_back += bytes; };
  int port = cc::test::free_port();
  cc::caf_transport link{sys, false, 500, "test: forward"};
  REQUIRE_FALSE(link.connect("caf://127.0.0.1:" + std::to_string(port), cb));

  // Four fragments of a.log and one of b.log, sent while nobody listens.
  const uint64_t piece = a.size() / 4;
  uint64_t queued = 0;
  for (uint64_t i = 0; i < 4; ++i) {
    auto msg = range_fragment(a_path, a, i * piece, piece);
    queued += msg.wire_size();
    link.send(std::move(msg));
  }
  auto gone = range_fragment(b_path, b, 0, b.size());
  queued += gone.wire_size();
  link.send(std::move(gone));

  auto stat = [&](const char* key) {
    cc::counters c;
    link.add_stats(c);
    return c.count(key) ? c[key] : int64_t{-1};
  };
  REQUIRE(cc::test::wait_until([&] { return stat("pending") == 5; }, 10s));
  CHECK(stat("ranges_read") == 0);  // nothing read while the link is down
  CHECK(room_back.load() == 0);

  // b.log is truncated (copytruncate) before the link comes up: its
  // fragment's bytes are gone.
  REQUIRE(::truncate(b_path.c_str(), 0) == 0);

  auto took = std::make_shared<taken>();
  auto remote = sys.spawn(remote_taker, took);
  auto bound = sys.middleman().publish(remote, static_cast<uint16_t>(port), "127.0.0.1", true);
  REQUIRE(bound);

  // The link reconnects (backoff at most 2 s) and sends what it holds.
  REQUIRE(cc::test::wait_until([&] { return room_back.load() == queued; }, 20s));
  REQUIRE(took->count() == 4);
  {
    std::lock_guard<std::mutex> guard{took->mtx};
    for (uint64_t i = 0; i < 4; ++i)
      CHECK(took->blobs[i] == a.substr(i * piece, piece));
  }
  CHECK(stat("ranges_read") == 4);
  CHECK(stat("ranges_gone") == 1);
  CHECK(stat("pending") == 0);
  CHECK(stat("in_flight") == 0);

  link.close();
  caf::anon_send_exit(remote, caf::exit_reason::user_shutdown);
}
