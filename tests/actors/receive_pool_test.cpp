// The central's receive buffers (actors/link/receive_pool.hpp): a released
// buffer is reused, the pool keeps no more than its bound, a blob released
// on another thread (a tailwriter worker's) goes back safely, sizes outside
// the classes are not pooled, and the data connection's decoder reads
// blobs of every size into the right storage with the same bytes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actors/link/data_frame.hpp"
#include "actors/link/receive_pool.hpp"

using namespace cc;

namespace {

constexpr size_t mib = size_t{1} << 20;

// `n` bytes of a pattern that differs per offset and per `seed`.
std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>(seed + static_cast<char>(i * 7 % 251));
  return s;
}

// The pool's figures in one line: a failed check shows them all.
std::string figures_of(const receive_pool& pool) {
  auto f = pool.counts();
  return "hits " + std::to_string(f.hits) + ", misses " + std::to_string(f.misses) +
         ", unmapped " + std::to_string(f.unmapped) + ", in use " + std::to_string(f.in_use) +
         ", kept " + std::to_string(f.kept_bytes / 1024) + " KiB";
}

wire::blob_ptr pooled_blob(const receive_pool_ptr& pool, const std::string& bytes) {
  auto l = pool->take(bytes.size());
  REQUIRE(static_cast<bool>(l));
  std::copy(bytes.begin(), bytes.end(), l.data());
  return receive_pool::seal(std::move(l), bytes.size());
}

} // namespace

TEST_CASE("receive_pool: the class of a size is the smallest power of two "
          "from 64 KiB that holds it, other sizes are not pooled",
          "[receive_pool]") {
  CHECK(receive_pool::class_capacity(receive_pool::min_pooled) == 64 * 1024);
  CHECK(receive_pool::class_capacity(64 * 1024 + 1) == 128 * 1024);
  CHECK(receive_pool::class_capacity(1000000) == mib);
  CHECK(receive_pool::class_capacity(mib) == mib);
  CHECK(receive_pool::class_capacity(receive_pool::max_pooled) == 4 * mib);
  CHECK_FALSE(receive_pool::pooled(receive_pool::min_pooled - 1));
  CHECK_FALSE(receive_pool::pooled(receive_pool::max_pooled + 1));
  auto pool = receive_pool::make(8 * mib);
  CHECK_FALSE(static_cast<bool>(pool->take(100)));
  CHECK_FALSE(static_cast<bool>(pool->take(5 * mib)));
  auto l = pool->take(300000);
  REQUIRE(static_cast<bool>(l));
  CHECK(l.capacity() == 512 * 1024);
  CHECK(pool->counts().in_use == 1);
}

TEST_CASE("receive_pool: a released buffer is reused, its blob's bytes "
          "intact until then",
          "[receive_pool]") {
  auto pool = receive_pool::make(8 * mib);
  auto bytes = pattern(1000000, 'a');
  auto b = pooled_blob(pool, bytes);
  CHECK(b->kind() == wire::blob::storage::external);
  CHECK(b->size() == bytes.size());
  CHECK(b->view() == bytes);
  const char* where = b->data();
  CHECK(figures_of(*pool) == "hits 0, misses 1, unmapped 0, in use 1, kept 0 KiB");
  // A second buffer while the first is in use: a new one.
  auto other = pool->take(mib);
  REQUIRE(static_cast<bool>(other));
  CHECK(other.data() != where);
  b = nullptr;
  CHECK(figures_of(*pool) == "hits 0, misses 2, unmapped 0, in use 1, kept 1024 KiB");
  auto again = pool->take(999999);
  REQUIRE(static_cast<bool>(again));
  CHECK(again.data() == where);
  CHECK(figures_of(*pool) == "hits 1, misses 2, unmapped 0, in use 2, kept 0 KiB");
}

TEST_CASE("receive_pool: it keeps at most its bound of free buffers and "
          "unmaps the rest",
          "[receive_pool]") {
  auto pool = receive_pool::make(3 * mib);
  std::vector<wire::blob_ptr> blobs;
  for (int i = 0; i < 8; ++i)
    blobs.push_back(pooled_blob(pool, pattern(mib, static_cast<char>('a' + i))));
  // A dropped lease (never sealed) also comes back.
  auto small = pool->take(100 * 1024);
  REQUIRE(static_cast<bool>(small));
  CHECK(pool->counts().in_use == 9);
  blobs.clear();
  small = receive_pool::lease{};
  // Kept: three of 1 MiB (its bound); unmapped: five of 1 MiB and the 128 KiB.
  CHECK(figures_of(*pool) == "hits 0, misses 9, unmapped 6, in use 0, kept 3072 KiB");
  // What it kept serves the next takes; past that it maps again.
  std::vector<receive_pool::lease> taken;
  for (int i = 0; i < 4; ++i)
    taken.push_back(pool->take(mib));
  CHECK(figures_of(*pool) == "hits 3, misses 10, unmapped 6, in use 4, kept 0 KiB");
}

TEST_CASE("receive_pool: blobs released on another thread go back to the "
          "pool, and one released after the pool's owner let go is safe",
          "[receive_pool]") {
  auto pool = receive_pool::make(4 * mib);
  constexpr int rounds = 200;
  // Handed one at a time to a worker that drops it (as a tailwriter worker
  // does once a fragment is written); the next is taken after that.
  std::mutex mtx;
  std::condition_variable cv;
  wire::blob_ptr handed;
  int dropped = 0;
  int wrong = 0;  // checked after join: Catch2's assertions are not thread-safe
  std::thread worker{[&] {
    std::unique_lock<std::mutex> lock{mtx};
    while (dropped < rounds) {
      if (!cv.wait_for(lock, std::chrono::seconds{10}, [&] { return handed != nullptr; }))
        return;
      if (handed->size() != 200000 || handed->view()[0] != static_cast<char>('a' + dropped % 20))
        ++wrong;
      handed = nullptr;
      ++dropped;
      cv.notify_all();
    }
  }};
  for (int i = 0; i < rounds; ++i) {
    auto b = pooled_blob(pool, pattern(200000, static_cast<char>('a' + i % 20)));
    std::unique_lock<std::mutex> lock{mtx};
    handed = std::move(b);
    cv.notify_all();
    if (!cv.wait_for(lock, std::chrono::seconds{10}, [&] { return dropped > i; }))
      break;
  }
  worker.join();
  CHECK(dropped == rounds);
  CHECK(wrong == 0);
  CHECK(figures_of(*pool) == "hits 199, misses 1, unmapped 0, in use 0, kept 256 KiB");
  // The last handle of a blob outlives every other handle of its pool.
  auto late = pooled_blob(pool, pattern(mib, 'z'));
  std::weak_ptr<receive_pool> weak = pool;
  pool = nullptr;
  CHECK_FALSE(weak.expired());
  std::thread{[&late] { late = nullptr; }}.join();
  CHECK(weak.expired());
}

TEST_CASE("receive_pool: the decoder reads blobs of every size, pooled ones "
          "into the pool, and gives back a buffer of a message cut short",
          "[receive_pool][data_frame]") {
  auto pool = receive_pool::make(8 * mib);
  std::vector<std::string> payloads{pattern(10, 'a'), pattern(100000, 'b'),
                                    pattern(5 * mib, 'c'), pattern(mib, 'd')};
  auto stream = data_frame::encode_hello("peer-id");
  for (const auto& p : payloads) {
    wire::cc_message m;
    m.route = {wire::local_route_frame("local.d:app")};
    m.type = "pub.logtail";
    m.body = R"({"req":"pub.logtail","filename":"/x.log","fpos":0})";
    m.blob = wire::blob::from_string(p);
    stream += data_frame::encode_head(m) + p;
  }
  std::vector<wire::blob_ptr> got;
  {
    data_frame::decoder dec{data_frame::default_max_blob, true, pool};
    // The stream, then its messages again, cut in the middle of the last
    // (pooled) blob: the decoder is dropped there.
    std::string twice = stream + stream.substr(data_frame::encode_hello("peer-id").size());
    size_t cut = twice.size() - mib / 2;
    size_t at = 0;
    for (int steps = 0; at < cut && steps < 1000000; ++steps) {
      auto space = dec.want();
      size_t n = std::min({space.size, size_t{65000}, cut - at});
      std::copy_n(twice.data() + at, n, space.data);
      at += n;
      REQUIRE_FALSE(dec.commit(n));
      while (auto m = dec.take())
        got.push_back(std::move(m->blob));
    }
    CHECK_FALSE(dec.at_boundary());
    CHECK(got.size() == 2 * payloads.size() - 1);
    // Two whole pooled blobs of the first pass, one of the second, and
    // the one cut short.
    CHECK(pool->counts().in_use == 4);
  }
  CHECK(pool->counts().in_use == 3);
  REQUIRE(got.size() >= payloads.size());
  for (size_t i = 0; i < payloads.size(); ++i) {
    INFO("payload " << i << " of " << payloads[i].size() << " bytes");
    REQUIRE(got[i]);
    CHECK(got[i]->view() == payloads[i]);
    bool pooled = receive_pool::pooled(payloads[i].size());
    CHECK((got[i]->kind() == wire::blob::storage::external) == pooled);
  }
  got.clear();
  // Each pooled blob had its own buffer (all were held at once), and every
  // one came back.
  CHECK(figures_of(*pool) == "hits 0, misses 4, unmapped 0, in use 0, kept 2304 KiB");
}
