// Listing and identifying the tailer's files (actors/tail/log_files.hpp) and the
// inotify wake-ups (actors/tail/file_watch.hpp), on real temporary directories.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <utility>

#include <cstdio>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include "actors/core/atoms.hpp"
#include "actors/core/types.hpp"
#include "actors/tail/file_watch.hpp"
#include "actors/tail/log_files.hpp"
#include "actors/tail/next_file_policy.hpp"
#include "tests/support/process.hpp"

using namespace cc::tail;
using namespace std::chrono_literals;
using cc::test::append_file;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;
using paths = std::vector<std::string>;

TEST_CASE("log files are listed by mask in name order", "[log_files]") {
  temp_dir dir;
  for (auto name : {"postgresql-03.log", "postgresql-01.log", "other.txt",
                    "postgresql-02.log", ".postgresql-00.log"})
    write_file(dir / name, "x");
  ::mkdir((dir / "postgresql-99.log").c_str(), 0755);  // a directory: skipped
  auto files = list_log_files(dir.path(), "postgresql-*.log");
  REQUIRE(files);
  CHECK(*files == paths{dir / "postgresql-01.log", dir / "postgresql-02.log",
                        dir / "postgresql-03.log"});
  auto none = list_log_files(dir / "missing", "*.log");
  REQUIRE(none);
  CHECK(none->empty());
}

TEST_CASE("next_after finds the next name even when the current is gone",
          "[log_files]") {
  paths files{"/l/a.log", "/l/c.log", "/l/d.log"};
  CHECK(next_after(files, "/l/a.log") == std::optional<std::string>{"/l/c.log"});
  CHECK(next_after(files, "/l/b.log") == std::optional<std::string>{"/l/c.log"});
  CHECK(next_after(files, "") == std::optional<std::string>{"/l/a.log"});
  CHECK_FALSE(next_after(files, "/l/d.log"));
}

TEST_CASE("a rotated-away file is found by its inode", "[log_files]") {
  temp_dir dir;
  write_file(dir / "app.log", "first generation\n");
  auto id = stat_file(dir / "app.log");
  REQUIRE(id);
  REQUIRE(*id);
  CHECK((*id)->size == 17);
  REQUIRE(::rename((dir / "app.log").c_str(), (dir / "app.log.1").c_str()) == 0);
  write_file(dir / "app.log", "second\n");
  auto found = find_by_inode(dir.path(), (*id)->st_dev, (*id)->st_ino);
  REQUIRE(found);
  CHECK(*found == std::optional<std::string>{dir / "app.log.1"});
  auto again = stat_file(dir / "app.log");
  REQUIRE(again);
  CHECK_FALSE((*again)->same_file(**id));
  auto gone = stat_file(dir / "nope.log");
  REQUIRE(gone);
  CHECK_FALSE(*gone);
}

TEST_CASE("rotated generations are listed oldest first, compressed ones not",
          "[log_files]") {
  temp_dir dir;
  // Written in this order; each later than the previous (mtimes may tie
  // within a kernel tick, so set them explicitly).
  std::vector<std::string> names{"app.log.3", "app.log-20261126", "app.log.1",
                                 "app.log.2.gz", "app.logger", "app.log"};
  for (size_t i = 0; i < names.size(); ++i) {
    write_file(dir / names[i], "x");
    struct timespec times[2] = {{1000000 + static_cast<time_t>(i), 0},
                                {1000000 + static_cast<time_t>(i), 0}};
    REQUIRE(::utimensat(AT_FDCWD, (dir / names[i]).c_str(), times, 0) == 0);
  }
  auto gens = rotated_generations(dir.path(), "app.log");
  REQUIRE(gens);
  paths got;
  for (auto& [path, id] : *gens)
    got.push_back(path);
  CHECK(got == paths{dir / "app.log.3", dir / "app.log-20261126",
                     dir / "app.log.1"});
  CHECK((*gens)[0].second.mtime_ns < (*gens)[1].second.mtime_ns);
}

namespace {

struct wake_counter {
  std::atomic<int> wakes{0};
};

caf::behavior wake_sink(caf::event_based_actor*, std::shared_ptr<wake_counter> c) {
  return {[c](cc::wake_atom) { ++c->wakes; }};
}

} // namespace

TEST_CASE("inotify wakes once per burst until rearmed", "[file_watch]") {
  // The directories outlive the actor system, whose actors may still
  // touch them while it shuts down.
  temp_dir dir;
  temp_dir other;
  caf::actor_system_config cfg;
  cc::register_types(cfg);
  caf::actor_system sys{cfg};
  auto counter = std::make_shared<wake_counter>();
  auto sink = sys.spawn(wake_sink, counter);
  auto w = file_watch::start(sink, dir.path());
  REQUIRE(w);
  auto& watch = **w;

  write_file(dir / "a.log", "line\n");
  REQUIRE(wait_until([&] { return counter->wakes.load() == 1; }, 2000ms));
  CHECK(watch.take_dir_changed());   // a file was created
  CHECK_FALSE(watch.take_dir_changed());
  // More events without rearm: no further wake.
  for (int i = 0; i < 20; ++i)
    append_file(dir / "a.log", "more\n");
  std::this_thread::sleep_for(100ms);
  CHECK(counter->wakes.load() == 1);
  CHECK_FALSE(watch.take_dir_changed());  // modifications only

  watch.rearm();
  append_file(dir / "a.log", "again\n");
  REQUIRE(wait_until([&] { return counter->wakes.load() == 2; }, 2000ms));

  // A watched file moved out of the directory still wakes.
  watch.watch_file(dir / "a.log");
  REQUIRE(::rename((dir / "a.log").c_str(), (other / "a.log").c_str()) == 0);
  std::this_thread::sleep_for(50ms);  // the rename's events: not rearmed yet
  int before = counter->wakes.load();
  watch.rearm();
  append_file(other / "a.log", "moved\n");
  REQUIRE(wait_until([&] { return counter->wakes.load() > before; }, 2000ms));

  w->reset();  // releases its watches on the process's inotify hub
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
}

TEST_CASE("file_watch fails cleanly for a missing directory", "[file_watch]") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto sink = sys.spawn(wake_sink, std::make_shared<wake_counter>());
  auto w = file_watch::start(sink, dir / "missing");
  REQUIRE_FALSE(w);
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
}

namespace {

/// A tail_clock the test moves by hand.
struct hand_clock : tail_clock {
  time_point t{std::chrono::hours{1}};
  time_point now() const override { return t; }
  void arm(time_point) override {}
};

/// The open file as the policy sees it (path = label = `path`).
open_source_ref open_ref(const std::string& path) {
  auto id = stat_file(path);
  REQUIRE(id);
  REQUIRE(*id);
  return open_source_ref{-1, path, path, **id};
}

/// Replaces `path` by a new file (a new inode) under the same name.
void recreate(const std::string& path) {
  auto aside = path + ".new";
  write_file(aside, "another file\n");
  REQUIRE(::rename(aside.c_str(), path.c_str()) == 0);
}

} // namespace

TEST_CASE("the followed name is looked up again after a directory change or "
          "poll-interval, not at every look",
          "[log_files]") {
  temp_dir dir;
  hand_clock clock;
  bool changed = false; // what the watch would say
  cc::tailer_options opts;
  opts.logdir = dir.path();
  opts.poll_interval = std::chrono::milliseconds{500};
  std::string path;
  SECTION("classic") {
    opts.op = cc::tailer_options::mode::classic;
    opts.logmask = "app-*.log";
    path = dir / "app-1.log";
  }
  SECTION("rotated") {
    opts.op = cc::tailer_options::mode::rotated;
    opts.logname = "app.log";
    path = dir / "app.log";
  }
  write_file(path, "first\n");
  auto policy = next_file_policy::make(
    opts, clock, [](const std::string&) { return false; },
    [&changed] { return std::exchange(changed, false); });
  auto open = open_ref(path);
  CHECK_FALSE(policy->after(open)); // the first look
  recreate(path);
  // No event yet, within poll-interval: not looked up.
  CHECK_FALSE(policy->after(open));
  changed = true; // the rename's event
  CHECK(policy->after(open) == std::optional<std::string>{path});
  // Found, it stays found at every look (the tailer probes and drains
  // before it switches), with no further event.
  CHECK(policy->after(open) == std::optional<std::string>{path});
  CHECK(policy->after(open) == std::optional<std::string>{path});
  // Without an event the time bound finds it.
  open = open_ref(path);
  CHECK_FALSE(policy->after(open));
  recreate(path);
  CHECK_FALSE(policy->after(open));
  clock.t += opts.poll_interval;
  CHECK(policy->after(open) == std::optional<std::string>{path});
  if (opts.op == cc::tailer_options::mode::classic) {
    // An event taken by a listing (newer_bytes) still leads to a look-up.
    open = open_ref(path);
    clock.t += opts.poll_interval;
    CHECK_FALSE(policy->after(open));
    recreate(path);
    changed = true;
    CHECK(policy->newer_bytes(open) == 0);
    CHECK(policy->after(open) == std::optional<std::string>{path});
  }
}
