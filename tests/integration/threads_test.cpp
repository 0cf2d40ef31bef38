// Threads per process at defaults (issue 18): a central (one tailwriter) and
// a local (a forwarder and a jobmgr with one tailer), both real
// build/ccserver processes as bench/threads.sh starts them, every option at
// its default; once a file has been shipped, each has at most its bound of
// threads (/proc/PID/task). Each thread a server runs is named in
// docs/architecture.md ("Threads"); a new one must raise a bound here and
// say there why it cannot share one of those.
#include <catch2/catch.hpp>

#include <dirent.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/thread_slice.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;
using cc::test::count_of;
using cc::test::process;
using cc::test::read_file;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;

namespace {

// The bounds at defaults. Central: main, the I/O loop (every socket, the
// signalfd, the HTTP endpoint), CAF's scheduler worker, clock and printer,
// libzmq's I/O and reaper threads (one context per process), the sync
// thread and the tailwriter's two workers (worker-threads). Local: the same
// without the workers (tailers on the scheduler, inotify on the loop).
constexpr int max_central_threads = 10;
constexpr int max_local_threads = 8;

int threads_of(pid_t pid) {
  int n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/task").c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(d);
  }
  return n;
}

/// The id of `pid`'s thread named `name` (0: none).
pid_t thread_named(pid_t pid, const std::string& name) {
  auto task = "/proc/" + std::to_string(pid) + "/task";
  pid_t found = 0;
  if (DIR* d = ::opendir(task.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.' && read_file(task + "/" + e->d_name + "/comm") == name + "\n")
        found = static_cast<pid_t>(std::stol(e->d_name));
    ::closedir(d);
  }
  return found;
}

/// Thread names, for the message when a bound is passed.
std::string thread_names(pid_t pid) {
  std::string out;
  auto task = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = ::opendir(task.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') {
        auto name = read_file(task + "/" + e->d_name + "/comm");
        while (!name.empty() && name.back() == '\n')
          name.pop_back();
        out += name + ", ";
      }
    ::closedir(d);
  }
  return out;
}

} // namespace

TEST_CASE("threads: a central and a local at defaults stay within their bounds",
          "[integration][threads]") {
  temp_dir dir{"ccthreads"};
  int central_port = cc::test::free_port();
  int local_port = cc::test::free_port();
  auto run = dir / "run";
  auto src = dir / "src";
  std::filesystem::create_directories(run);
  std::filesystem::create_directories(src);
  write_file(src + "/postgresql-0001.log", "");
  write_file(dir / "central.ini",
             "[ccserver]\ncc-socket = tcp://127.0.0.1:" + std::to_string(central_port) +
               "\ncc-role = remote\npidfile = " + run + "/%(job_name)s.pid\n"
               "logfile = " + run + "/%(job_name)s.log\n"
               "\n[routes]\npub.logtail = h:tailwriter\n"
               "\n[h:tailwriter]\nhandler = cc.handler.tailwriter\ndstdir = " +
               dir / "dst" + "\nhost-subdirs = yes\n");
  write_file(dir / "local.ini",
             "[ccserver]\ncc-socket = tcp://127.0.0.1:" + std::to_string(local_port) +
               "\ncc-role = local\npidfile = " + run + "/%(job_name)s.pid\n"
               "logfile = " + run + "/%(job_name)s.log\n"
               "\n[routes]\npub = h:forward\njob = h:jobmgr\n"
               "\n[h:forward]\nhandler = cc.handler.proxy\n"
               "remote-cc = tcp://127.0.0.1:" + std::to_string(central_port) +
               "\n\n[h:jobmgr]\nhandler = cc.handler.jobmgr\ndaemons = d:logtail\n"
               "\n[d:logtail]\nmodule = cc.daemon.logtail\nlogdir = " + src +
               "\nlogmask = postgresql-*.log\nhostname = threadhost\n");
  process central{{cc::test::ccserver_path(), dir / "central.ini"}, dir / "central.out"};
  REQUIRE(wait_until([&] { return count_of(read_file(run + "/central.log"), "main: up:") >= 1; },
                     15s));
  process local{{cc::test::ccserver_path(), dir / "local.ini"}, dir / "local.out"};
  REQUIRE(wait_until([&] { return count_of(read_file(run + "/local.log"), "main: up:") >= 1; },
                     15s));
  std::string text;
  for (int i = 0; i < 2000; ++i)
    text += "line " + std::to_string(i) + " of the thread count test\n";
  write_file(src + "/postgresql-0001.log", text);
  auto copy = dir / "dst/threadhost/postgresql-0001.log";
  REQUIRE(wait_until([&] { return read_file(copy) == text; }, 30s));
  INFO("central: " << thread_names(central.pid()));
  INFO("local: " << thread_names(local.pid()));
  CHECK(threads_of(central.pid()) <= max_central_threads);
  CHECK(threads_of(local.pid()) <= max_local_threads);
  CHECK(central.stop(10s) == 0);
  CHECK(local.stop(10s) == 0);
}

// [ccserver] io-slice: the I/O loop's thread asks for a short scheduler
// slice (base/thread_slice.hpp), so that woken by a fragment it runs at once
// on a busy CPU; 0 leaves the kernel's default (bench/PROFILE.md, "Session
// 19: latency").
TEST_CASE("threads: the I/O loop runs with the scheduler slice io-slice asks for",
          "[integration][threads]") {
  // A kernel without custom slices (before 6.12) keeps its own: nothing to see.
  bool supported = false;
  std::thread check{[&] { supported = cc::set_thread_slice(std::chrono::microseconds{300}) &&
                                      cc::thread_slice_ns(0) == 300000; }};
  check.join();
  if (!supported) {
    WARN("this kernel keeps its default scheduler slice: io-slice not checked");
    return;
  }
  temp_dir dir{"ccslice"};
  auto run = dir / "run";
  std::filesystem::create_directories(run);
  auto start = [&](const std::string& name, const std::string& slice) {
    write_file(dir / (name + ".ini"),
               "[ccserver]\ncc-socket = tcp://127.0.0.1:" +
                 std::to_string(cc::test::free_port()) + "\ncc-role = remote\npidfile = " +
                 run + "/" + name + ".pid\nlogfile = " + run + "/" + name + ".log\n" + slice +
                 "\n[routes]\npub.logtail = h:tailwriter\n"
                 "\n[h:tailwriter]\nhandler = cc.handler.tailwriter\ndstdir = " +
                 dir / ("dst-" + name) + "\n");
    return std::make_unique<process>(
      std::vector<std::string>{cc::test::ccserver_path(), dir / (name + ".ini")},
      dir / (name + ".out"));
  };
  auto up = [&](const std::string& name) {
    return wait_until(
      [&] { return count_of(read_file(run + "/" + name + ".log"), "main: up:") >= 1; }, 15s);
  };
  auto asked = start("asked", "io-slice = 0.0002\n");
  auto plain = start("plain", "io-slice = 0\n");
  REQUIRE(up("asked"));
  REQUIRE(up("plain"));
  auto loop = thread_named(asked->pid(), "cc-io");
  REQUIRE(loop != 0);
  CHECK(wait_until([&] { return cc::thread_slice_ns(loop) == 200000; }, 10s));
  auto other = thread_named(plain->pid(), "cc-io");
  REQUIRE(other != 0);
  CHECK(cc::thread_slice_ns(other) != 200000);
  CHECK(cc::thread_slice_ns(other) != 0);
  CHECK(asked->stop(10s) == 0);
  CHECK(plain->stop(10s) == 0);
}
