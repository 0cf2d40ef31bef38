// wire/file_range and the blob that is one (wire/blob.hpp): a range of an
// open file reads back as its bytes, from a descriptor of its own; a file
// that shrank under it or became a new generation (other first bytes) is an
// error, never short or another generation's bytes; the frames and CAF's
// serializer take the bytes where they need them.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <fcntl.h>
#include <unistd.h>

#include "base/error.hpp"
#include "base/hash.hpp"
#include "tests/support/process.hpp"
#include "wire/message.hpp"

using namespace cc::wire;
using cc::test::temp_dir;
using cc::test::write_file;

namespace {

/// A file of `content`, and a range of it cut as the tailer cuts one: a
/// shared descriptor, the guard over its first `guard` bytes.
struct range_env {
  temp_dir dir{"ccrange"};
  std::string path = dir / "app.log";

  file_range cut(const std::string& content, uint64_t offset, uint64_t length,
                 size_t guard = 4096) {
    write_file(path, content);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    auto shared = shared_file::dup_of(fd, path);
    ::close(fd); // the range keeps a descriptor of its own
    REQUIRE(shared);
    auto prefix = content.substr(0, guard);
    return {*shared, offset, length, {prefix.size(), cc::fnv1a64(prefix)}};
  }
};

std::string lines(const std::string& tag, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += tag + " line " + std::to_string(i) + " of the log\n";
  return out;
}

} // namespace

TEST_CASE("file_range: a blob left in the file reads back as its bytes",
          "[wire][file_range]") {
  range_env env;
  auto content = lines("a", 10000);
  auto b = blob::from_file(env.cut(content, 1000, 70000));
  CHECK(b->kind() == blob::storage::file);
  REQUIRE(b->file() != nullptr);
  CHECK(b->size() == 70000);
  CHECK(b->file()->offset == 1000);
  auto loaded = load(b);
  REQUIRE(loaded);
  CHECK((*loaded)->kind() == blob::storage::buffer);
  CHECK((*loaded)->view() == std::string_view{content}.substr(1000, 70000));
  // A blob in memory is itself; null stays null.
  auto plain = blob::from_string("bytes");
  CHECK(*load(plain) == plain);
  CHECK(*load(nullptr) == nullptr);
}

TEST_CASE("file_range: a file that shrank under the range is an error, never short",
          "[wire][file_range]") {
  range_env env;
  auto content = lines("a", 10000);
  auto r = env.cut(content, 100000, 50000);
  REQUIRE(::truncate(env.path.c_str(), 120000) == 0);
  auto loaded = load(blob::from_file(r));
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code() == static_cast<uint8_t>(cc::errc::io));
  CHECK(cc::message_of(loaded.error()).find("shrank") != std::string::npos);
  // The same check once it holds the range again is fine.
  write_file(env.path, content);
  CHECK(load(blob::from_file(r)));
}

TEST_CASE("file_range: a new generation under the name fails the guard, even "
          "when it is long enough",
          "[wire][file_range]") {
  range_env env;
  auto content = lines("a", 10000);
  auto r = env.cut(content, 100000, 50000);
  CHECK_FALSE(check_guard(r));
  // copytruncate, and the application wrote past the range meanwhile.
  write_file(env.path, lines("b", 12000));
  auto err = check_guard(r);
  REQUIRE(err);
  CHECK(cc::message_of(err).find("first bytes changed") != std::string::npos);
  CHECK_FALSE(load(blob::from_file(r)));
  // A guard of length 0 checks nothing.
  r.guard = {};
  CHECK_FALSE(check_guard(r));
}

TEST_CASE("file_range: frames without the blob, load_blob, and CAF serialization "
          "read the range",
          "[wire][file_range]") {
  range_env env;
  auto content = lines("a", 3000);
  cc_message msg;
  msg.route = {local_route_frame("t")};
  msg.type = "pub.logtail";
  msg.body = "{}";
  msg.blob = blob::from_file(env.cut(content, 0, content.size()));
  CHECK(frames_of(msg, false).size() == 5);
  CHECK(msg.wire_size() >= content.size());
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  REQUIRE_FALSE(sink(msg));
  cc_message back;
  caf::binary_deserializer source{nullptr, buf};
  REQUIRE_FALSE(source(back));
  REQUIRE(back.has_blob());
  CHECK(back.blob->view() == content);
  REQUIRE_FALSE(load_blob(msg));
  CHECK(msg.blob->kind() == blob::storage::buffer);
  CHECK(frames_of(msg).back() == content);
}
