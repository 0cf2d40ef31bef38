// The position saver (actors/tail/position_saver.hpp) on real files in a temporary
// directory. A write is held under way without mocks: a FIFO named
// "<path>.tmp" makes save_position's open() block until the test opens the
// FIFO's other end (the write then fails at fsync, EINVAL on a FIFO). While
// the saver's thread hangs there, what it does with other paths is
// deterministic. Every wait is bounded; nothing asserts how long a write took.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/tail/position.hpp"
#include "actors/tail/position_saver.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;
using namespace cc::tail;
using cc::test::count_of;
using cc::test::read_file;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;

namespace {

position at(uint64_t offset) {
  position p;
  p.filename = "/var/log/app/a.log";
  p.st_dev = 2049;
  p.st_ino = 77;
  p.gen = "0123456789abcdef";
  p.fp = fingerprint{0x1234, 100};
  p.offset = offset;
  return p;
}

/// The offset in the .save file at `path`, or -1 when there is none.
int64_t saved_offset(const std::string& path) {
  auto p = load_position(path);
  if (!p || !*p)
    return -1;
  return static_cast<int64_t>((*p)->offset);
}

/// Makes the saver's next write of `path` hang in open() until release().
/// Destroy it before the saver (declare it after): it releases the write.
class stuck_write {
public:
  stuck_write(position_saver& saver, const std::string& path)
      : saver_(saver), path_(path), fifo_(path + ".tmp") {
    REQUIRE(::mkfifo(fifo_.c_str(), 0600) == 0);
  }

  ~stuck_write() {
    release();
  }

  /// Opens the FIFO's read end, so the write goes on (and fails at fsync),
  /// and keeps it open until that write is over.
  void release() {
    if (released_)
      return;
    released_ = true;
    int fd = ::open(fifo_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    last_error_ = saver_.flush(path_);
    if (fd >= 0)
      ::close(fd);
  }

  const caf::error& error() const {
    return last_error_;
  }

private:
  position_saver& saver_;
  std::string path_;
  std::string fifo_;
  bool released_ = false;
  caf::error last_error_;
};

/// Sends the process log to a file for one test.
struct captured_log {
  std::string path;
  explicit captured_log(const temp_dir& dir) : path(dir / "server.log") {
    std::string err;
    REQUIRE(cc::log::open(path, err));
  }
  ~captured_log() {
    std::string err;
    cc::log::open("", err);
  }
  std::string text() const {
    return read_file(path);
  }
};

} // namespace

TEST_CASE("saver: store_now returns once the position is in the file",
          "[position][saver]") {
  temp_dir dir;
  position_saver saver;
  auto path = dir / "run/a.save";
  for (uint64_t off : {10u, 20u, 5u}) { // a rewound position is stored too
    REQUIRE_FALSE(saver.store_now(path, at(off), "t"));
    auto p = load_position(path);
    REQUIRE(p);
    REQUIRE(*p);
    CHECK(**p == at(off));
  }
  struct stat st;
  CHECK(::stat((path + ".tmp").c_str(), &st) != 0);
  CHECK(saver.stats().writes == 3);
}

TEST_CASE("saver: flush writes what store queued", "[position][saver]") {
  temp_dir dir;
  position_saver saver;
  auto path = dir / "a.save";
  CHECK_FALSE(saver.flush(path)); // never stored: nothing to wait for
  CHECK(saved_offset(path) == -1);
  for (uint64_t off = 1; off <= 50; ++off)
    saver.store(path, at(off), "t");
  REQUIRE_FALSE(saver.flush(path));
  CHECK(saved_offset(path) == 50);
  auto n = saver.stats();
  CHECK(n.stores == 50);
  CHECK(n.writes >= 1);
  CHECK(n.writes <= 50);
  CHECK(n.failures == 0);
}

TEST_CASE("saver: positions stored while the thread is busy are written once, "
          "the newest",
          "[position][saver]") {
  temp_dir dir;
  position_saver saver;
  auto busy = dir / "busy.save";
  auto path = dir / "a.save";
  stuck_write stuck{saver, busy};
  saver.store(busy, at(1), "busy"); // the thread hangs in this write
  for (uint64_t off = 1; off <= 100; ++off)
    saver.store(path, at(off), "t");
  stuck.release();
  CHECK(stuck.error()); // fsync of a FIFO fails
  REQUIRE_FALSE(saver.flush(path));
  CHECK(saved_offset(path) == 100);
  auto n = saver.stats();
  CHECK(n.stores == 101);
  CHECK(n.writes == 2); // busy.save once, a.save once with the newest
  CHECK(n.failures == 1);
}

TEST_CASE("saver: the same position again is not written again, unless its write "
          "failed",
          "[position][saver]") {
  temp_dir dir;
  position_saver saver;
  auto path = dir / "a.save";
  // Queued, then asked for durably: one write serves both.
  saver.store(path, at(10), "t");
  REQUIRE_FALSE(saver.store_now(path, at(10), "t"));
  CHECK(saved_offset(path) == 10);
  // Written already: nothing to do, the file has it.
  REQUIRE_FALSE(saver.store_now(path, at(10), "t"));
  auto n = saver.stats();
  CHECK(n.stores == 3);
  CHECK(n.unchanged == 2);
  CHECK(n.writes == 1);
  // Another position, then the first again: both written.
  REQUIRE_FALSE(saver.store_now(path, at(20), "t"));
  REQUIRE_FALSE(saver.store_now(path, at(10), "t"));
  CHECK(saved_offset(path) == 10);
  CHECK(saver.stats().writes == 3);

  // A failed write of a position is tried again when it is stored again.
  auto bad = dir / "run/b.save";
  write_file(dir / "run", "not a directory");
  CHECK(saver.store_now(bad, at(5), "t"));
  REQUIRE(::unlink((dir / "run").c_str()) == 0);
  REQUIRE_FALSE(saver.store_now(bad, at(5), "t"));
  CHECK(saved_offset(bad) == 5);
  n = saver.stats();
  CHECK(n.writes == 5);
  CHECK(n.failures == 1);
  CHECK(n.unchanged == 2);
}

TEST_CASE("saver: store_now and flush do not wait behind another path's write",
          "[position][saver]") {
  temp_dir dir;
  position_saver saver;
  auto busy = dir / "busy.save";
  auto path = dir / "a.save";
  stuck_write stuck{saver, busy};
  saver.store(busy, at(1), "busy");
  saver.store(path, at(7), "t"); // queued behind busy.save
  auto flushed = std::async(std::launch::async, [&] { return saver.flush(path); });
  bool flush_done = flushed.wait_for(10s) == std::future_status::ready;
  auto durable =
      std::async(std::launch::async, [&] { return saver.store_now(path, at(8), "t"); });
  bool store_done = durable.wait_for(10s) == std::future_status::ready;
  auto offset_meanwhile = saved_offset(path);
  stuck.release(); // before the futures' ends, which would wait for it
  CHECK(flush_done);
  CHECK(store_done);
  CHECK_FALSE(flushed.get());
  CHECK_FALSE(durable.get());
  CHECK(offset_meanwhile == 8);
}

TEST_CASE("saver: the file never goes back to an older position", "[position][saver]") {
  temp_dir dir;
  position_saver saver;
  auto path = dir / "a.save";
  constexpr uint64_t last = 3000;
  std::atomic<bool> done{false};
  std::thread storer{[&] {
    for (uint64_t off = 1; off <= last; ++off) {
      // Some durable saves among the queued ones: they write on this thread
      // while the saver's thread writes the others.
      if (off % 97 == 0)
        saver.store_now(path, at(off), "t");
      else
        saver.store(path, at(off), "t");
    }
    done = true;
  }};
  int64_t seen = -1;
  int regressions = 0;
  int reads = 0;
  // Bounded by count: the storer ends after `last` stores either way.
  for (; reads < 200000 && !done; ++reads) {
    auto off = saved_offset(path);
    if (off < seen)
      ++regressions;
    seen = std::max(seen, off);
  }
  storer.join();
  REQUIRE_FALSE(saver.flush(path));
  INFO("reads " << reads << ", last seen " << seen);
  CHECK(regressions == 0);
  CHECK(saved_offset(path) == static_cast<int64_t>(last));
  CHECK(saver.stats().stores == last);
  CHECK(saver.stats().failures == 0);
}

TEST_CASE("saver: its destructor writes what is pending", "[position][saver]") {
  temp_dir dir;
  auto busy = dir / "busy.save";
  auto path = dir / "a.save";
  REQUIRE(::mkfifo((busy + ".tmp").c_str(), 0600) == 0);
  auto saver = std::make_unique<position_saver>();
  saver->store(busy, at(1), "busy"); // the thread hangs in this write
  saver->store(path, at(42), "t");
  std::atomic<bool> destroyed{false};
  // Lets the busy write go on only after the destructor has (most likely)
  // begun to stop the thread, and keeps the FIFO open until it returned.
  std::thread releaser{[&] {
    std::this_thread::sleep_for(100ms);
    int fd = ::open((busy + ".tmp").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    wait_until([&] { return destroyed.load(); }, 30000ms);
    if (fd >= 0)
      ::close(fd);
  }};
  saver.reset();
  destroyed = true;
  releaser.join();
  CHECK(saved_offset(path) == 42);
}

TEST_CASE("saver: a failed save is logged once with the tailer's name, and its "
          "recovery",
          "[position][saver]") {
  temp_dir dir;
  captured_log log{dir};
  position_saver saver;
  // A regular file where the directory should be: ENOTDIR, also for root.
  write_file(dir / "run", "not a directory");
  auto path = dir / "run/a.save";
  saver.store(path, at(1), "d:pg");
  // Reported by the saver's thread, without anyone waiting for the write.
  REQUIRE(wait_until(
      [&] { return count_of(log.text(), "cannot save the position") == 1; }, 5000ms));
  for (uint64_t off = 2; off <= 4; ++off)
    saver.store(path, at(off), "d:pg");
  auto err = saver.flush(path);
  REQUIRE(err);
  CHECK(cc::describe(err).find(dir / "run") != std::string::npos);
  CHECK(saver.store_now(path, at(5), "d:pg"));
  auto text = log.text();
  INFO(text);
  CHECK(count_of(text, "cannot save the position") == 1); // once per episode
  CHECK(count_of(text, "d:pg: cannot save the position") == 1);
  CHECK(count_of(text, "position saved again") == 0);
  CHECK(saver.stats().failures >= 2);

  REQUIRE(::unlink((dir / "run").c_str()) == 0);
  saver.store(path, at(6), "d:pg");
  REQUIRE_FALSE(saver.flush(path));
  CHECK(saved_offset(path) == 6);
  saver.store(path, at(7), "d:pg");
  REQUIRE_FALSE(saver.flush(path));
  text = log.text();
  CHECK(count_of(text, "d:pg: position saved again to " + path) == 1);
  CHECK(count_of(text, "cannot save the position") == 1);
}

TEST_CASE("saver: a file name that JSON cannot hold is a failed save, not a crash",
          "[position][saver]") {
  temp_dir dir;
  position_saver saver;
  auto p = at(3);
  p.filename = "/var/log/\xff\xfe.log"; // not UTF-8
  auto err = saver.store_now(dir / "a.save", p, "t");
  REQUIRE(err);
  CHECK(err.category() == cc::error_category);
  CHECK(err.code() == static_cast<uint8_t>(cc::errc::io));
  CHECK(saved_offset(dir / "a.save") == -1);
}

TEST_CASE("saver: one shared instance while in use, a new one after",
          "[position][saver]") {
  std::weak_ptr<position_saver> first;
  {
    auto a = position_saver::shared();
    auto b = position_saver::shared();
    CHECK(a == b);
    first = a;
  }
  CHECK(first.expired());
  temp_dir dir;
  auto c = position_saver::shared();
  REQUIRE(c);
  REQUIRE_FALSE(c->store_now(dir / "a.save", at(9), "t"));
  CHECK(saved_offset(dir / "a.save") == 9);
}
