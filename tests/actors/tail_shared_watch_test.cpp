// The process's one inotify instance (actors/tail/inotify_hub.hpp): watches
// of one directory by several watchers share the kernel's wd, each gets only
// the events of its own names, one leaving does not deafen the others, and
// many tailers cost one inotify descriptor and no thread each. Real files,
// real time; every wait bounded, no timing asserted.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/types.hpp"
#include "actors/tail/file_watch.hpp"
#include "actors/tail/tailer.hpp"
#include "tests/actors/fake_writer.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;
using cc::tail::file_watch;
using cc::test::append_file;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;

namespace {

struct wakes {
  std::atomic<int> n{0};
};

caf::behavior counting_sink(caf::event_based_actor*, std::shared_ptr<wakes> c) {
  return {[c](cc::wake_atom) { ++c->n; }};
}

/// Entries of /proc/self/fd that are inotify instances.
int inotify_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  while (auto* e = ::readdir(d)) {
    char target[256];
    auto path = std::string{"/proc/self/fd/"} + e->d_name;
    auto len = ::readlink(path.c_str(), target, sizeof(target) - 1);
    if (len > 0 && std::string(target, static_cast<size_t>(len)) == "anon_inode:inotify")
      ++n;
  }
  ::closedir(d);
  return n;
}

/// Threads of this process.
int threads() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/task");
  REQUIRE(d != nullptr);
  while (auto* e = ::readdir(d))
    if (e->d_name[0] != '.')
      ++n;
  ::closedir(d);
  return n;
}

/// A watcher of `dir` for `names` and its wake counter.
struct watcher {
  std::shared_ptr<wakes> count = std::make_shared<wakes>();
  caf::actor sink;
  std::unique_ptr<file_watch> watch;

  watcher(caf::actor_system& sys, const std::string& dir, const std::string& names) {
    sink = sys.spawn(counting_sink, count);
    auto w = file_watch::start(sink, dir, names);
    REQUIRE(w);
    watch = std::move(*w);
  }
  ~watcher() {
    watch.reset();
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  }
  /// Takes the wake (as the tailer does) and waits for the next one.
  bool woken_again(int before) {
    return wait_until([&] { return count->n.load() > before; }, 3000ms);
  }
};

} // namespace

TEST_CASE("two watchers of one directory share the kernel watch and each "
          "sees its own files", "[file_watch]") {
  temp_dir dir;
  caf::actor_system_config cfg;
  cc::register_types(cfg);
  caf::actor_system sys{cfg};
  int fds_before = inotify_fds();
  watcher a{sys, dir.path(), "a-*.log"};
  watcher b{sys, dir.path(), "b-*.log"};
  CHECK(inotify_fds() - fds_before <= 1);

  write_file(dir / "a-1.log", "a\n");
  REQUIRE(a.woken_again(0));
  CHECK(a.watch->take_dir_changed());
  write_file(dir / "b-1.log", "b\n");
  REQUIRE(b.woken_again(0));
  CHECK(b.watch->take_dir_changed());
  // Each is woken by its own names only: b's file did not flag a's dir.
  CHECK_FALSE(a.watch->take_dir_changed());

  // File watches next to the shared directory watch.
  a.watch->rearm();
  b.watch->rearm();
  a.watch->watch_file(dir / "a-1.log");
  b.watch->watch_file(dir / "b-1.log");
  int a0 = a.count->n, b0 = b.count->n;
  append_file(dir / "a-1.log", "more a\n");
  REQUIRE(a.woken_again(a0));
  append_file(dir / "b-1.log", "more b\n");
  REQUIRE(b.woken_again(b0));
}

TEST_CASE("a watcher removed while another stays keeps the other working",
          "[file_watch]") {
  temp_dir dir;
  caf::actor_system_config cfg;
  cc::register_types(cfg);
  caf::actor_system sys{cfg};
  auto b = std::make_unique<watcher>(sys, dir.path(), "*.log");
  {
    watcher a{sys, dir.path(), "*.log"};
    a.watch->watch_file(dir / "x.log");  // no such file: only latency lost
    write_file(dir / "x.log", "x\n");
    REQUIRE(a.woken_again(0));
    REQUIRE(b->woken_again(0));
    a.watch->watch_file(dir / "x.log");
    b->watch->watch_file(dir / "x.log");  // the same inode: one wd, two users
  } // a leaves: its directory and file watches are released
  for (int round = 0; round < 3; ++round) {
    b->watch->rearm();
    int before = b->count->n;
    append_file(dir / "x.log", "still heard\n");
    REQUIRE(b->woken_again(before));
  }
  b->watch->rearm();
  int before = b->count->n;
  write_file(dir / "y.log", "new file\n");
  REQUIRE(b->woken_again(before));
  CHECK(b->watch->take_dir_changed());
  b.reset();
}

TEST_CASE("two tailers of one directory both follow their files by inotify",
          "[tailer]") {
  temp_dir dir{"ccshared"};
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  cc::register_types(cfg);
  caf::actor_system sys{cfg};
  std::string logs = dir / "logs";
  ::mkdir(logs.c_str(), 0755);
  std::vector<std::shared_ptr<fake_writer>> writers;
  std::vector<caf::actor> routers, tailers;
  for (auto tag : {"a", "b"}) {
    writers.push_back(std::make_shared<fake_writer>());
    routers.push_back(sys.spawn(fake_router, writers.back()));
    auto opts = tailer_test_options(logs, dir / (std::string{tag} + ".save"),
                                    std::string{"logmask = "} + tag + "-*.log\n",
                                    dir / "shared_watch_test.ini");
    opts.poll_interval = 60s; // only inotify can wake it in time
    write_file(logs + "/" + tag + "-1.log", "");
    tailers.push_back(cc::spawn_tailer_actor(sys, opts, caf::actor_cast<cc::router_actor>(routers.back())));
  }
  // Started (each answers after its start-up work) before anything is
  // appended: a first start takes a file present then from its end.
  caf::scoped_actor self{sys};
  for (auto& t : tailers)
    self->request(t, 10s, cc::stats_atom::value)
      .receive([](const cc::counters&) {}, [](caf::error& err) { FAIL(to_string(err)); });
  std::string text_a = numbered_lines("a", 0, 40), text_b = numbered_lines("b", 0, 30);
  auto copy = [&](size_t i, const std::string& path) {
    std::lock_guard<std::mutex> guard{writers[i]->mtx};
    for (auto& [k, c] : writers[i]->copies)
      if (k.filename == path)
        return c.bytes;
    return std::string{};
  };
  // Appended in pieces, so both keep being woken while the other's file moves.
  for (int i = 0; i < 4; ++i) {
    append_file(logs + "/a-1.log", text_a.substr(i * text_a.size() / 4, text_a.size() / 4));
    append_file(logs + "/b-1.log", text_b.substr(i * text_b.size() / 4, text_b.size() / 4));
    std::this_thread::sleep_for(20ms);
  }
  CHECK(wait_until([&] { return copy(0, logs + "/a-1.log") == text_a; }, 8000ms));
  CHECK(wait_until([&] { return copy(1, logs + "/b-1.log") == text_b; }, 8000ms));
  for (auto& t : tailers)
    caf::anon_send_exit(t, caf::exit_reason::kill);
  for (auto& r : routers)
    caf::anon_send_exit(r, caf::exit_reason::kill);
}

TEST_CASE("200 tailers in one process use one inotify instance and no thread "
          "each", "[tailer]") {
  temp_dir dir{"ccmany"};
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  cc::register_types(cfg);
  caf::actor_system sys{cfg};
  auto writer = std::make_shared<fake_writer>();
  auto router = sys.spawn(fake_router, writer);
  int fds_before = inotify_fds();
  int threads_before = threads();
  const int count = 200;
  std::vector<caf::actor> tailers;
  for (int i = 0; i < count; ++i) {
    auto logs = dir / ("logs" + std::to_string(i));
    ::mkdir(logs.c_str(), 0755);
    write_file(logs + "/t.log", "line\n");
    auto opts = tailer_test_options(logs, dir / ("t" + std::to_string(i) + ".save"),
                                    "logmask = *.log\n", dir / "many_test.ini");
    tailers.push_back(cc::spawn_tailer_actor(sys, opts, caf::actor_cast<cc::router_actor>(router)));
  }
  // Each answers after its start-up work: its watches are in place by then.
  caf::scoped_actor self{sys};
  int answered = 0;
  for (auto& t : tailers)
    self->request(t, 10s, cc::stats_atom::value)
      .receive([&](const cc::counters&) { ++answered; }, [](caf::error&) {});
  REQUIRE(answered == count);
  int fds = inotify_fds() - fds_before;
  int added = threads() - threads_before;
  INFO("inotify descriptors added " << fds << ", threads added " << added);
  CHECK(fds == 1);
  // The I/O loop, the position saver and what CAF or libzmq start lazily:
  // a handful, not one per tailer.
  CHECK(added < 16);
  for (auto& t : tailers)
    caf::anon_send_exit(t, caf::exit_reason::kill);
  caf::anon_send_exit(router, caf::exit_reason::kill);
}

TEST_CASE("a watcher named by several events of one batch is woken once",
          "[file_watch]") {
  auto a = std::make_shared<cc::tail::watch_signal>();
  auto b = std::make_shared<cc::tail::watch_signal>();
  // An append raises IN_MODIFY on the file's watch and the directory's: both
  // name the same watcher.
  std::vector<std::shared_ptr<cc::tail::watch_signal>> woken{a, b, a, a, b};
  cc::tail::keep_unique(woken);
  REQUIRE(woken.size() == 2);
  CHECK(woken[0] != woken[1]);
  for (auto& sig : woken)
    CHECK((sig == a || sig == b));
  std::vector<std::shared_ptr<cc::tail::watch_signal>> none;
  cc::tail::keep_unique(none);
  CHECK(none.empty());
}

TEST_CASE("an append to a followed file (two watches, one watcher) wakes it "
          "once per rearm", "[file_watch]") {
  temp_dir dir;
  caf::actor_system_config cfg;
  cc::register_types(cfg);
  caf::actor_system sys{cfg};
  write_file(dir / "f.log", "first\n");
  watcher w{sys, dir.path(), "*.log"};
  w.watch->watch_file(dir / "f.log");
  // Each round: rearm, append (the file's and the directory's watch both
  // fire), wait for the wake; a round never sees more wakes than appends.
  for (int round = 0; round < 5; ++round) {
    w.watch->rearm();
    int before = w.count->n;
    append_file(dir / "f.log", "line " + std::to_string(round) + "\n");
    REQUIRE(w.woken_again(before));
    CHECK(w.count->n.load() <= round + 1);
  }
}

// The poll is a safety net beside inotify: an idle tailer under a working
// watch polls ten times less often (10,000 idle tailers polling every
// poll-interval took a third of a core), and a file that appears meanwhile
// is still followed at once, by its event.
TEST_CASE("an idle tailer under inotify polls less often and still follows a "
          "new file", "[tailer]") {
  temp_dir dir{"ccquiet"};
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  cc::register_types(cfg);
  caf::actor_system sys{cfg};
  std::string logs = dir / "logs";
  ::mkdir(logs.c_str(), 0755);
  auto writer = std::make_shared<fake_writer>();
  auto router = sys.spawn(fake_router, writer);
  auto opts = tailer_test_options(logs, dir / "q.save", "logmask = *.log\n",
                                  dir / "quiet_test.ini");
  opts.poll_interval = 100ms;
  auto tailer = cc::spawn_tailer_actor(sys, opts, caf::actor_cast<cc::router_actor>(router));
  caf::scoped_actor self{sys};
  auto polls = [&] {
    int64_t n = -1;
    self->request(tailer, 10s, cc::stats_atom::value)
      .receive([&](const cc::counters& c) { n = c.at("polls"); },
               [](caf::error& err) { FAIL(to_string(err)); });
    return n;
  };
  auto first = polls();
  std::this_thread::sleep_for(2000ms);
  // At the full rate 20 polls; at a tenth, 2 (+1 for where the window cut).
  CHECK(polls() - first <= 4);
  std::string text = numbered_lines("q", 0, 50);
  write_file(logs + "/new.log", text);
  CHECK(wait_until(
    [&] {
      std::lock_guard<std::mutex> guard{writer->mtx};
      for (auto& [k, c] : writer->copies)
        if (k.filename == logs + "/new.log")
          return c.bytes == text;
      return false;
    },
    8000ms));
  caf::anon_send_exit(tailer, caf::exit_reason::kill);
  caf::anon_send_exit(router, caf::exit_reason::kill);
}
