// The process's sync thread (base/sync_thread.hpp): jobs run in order on
// one thread of its own, its destructor runs what was submitted, shared()
// is one instance while in use, for_each spreads a job's calls over its
// helpers.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <pthread.h>

#include "base/sync_thread.hpp"

using cc::sync_thread;
using namespace std::chrono_literals;

namespace {

/// This process's threads named cc-sync-help.
int helper_threads() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] == '.')
        continue;
      std::ifstream comm{std::string{"/proc/self/task/"} + e->d_name + "/comm"};
      std::string name;
      std::getline(comm, name);
      n += name == "cc-sync-help" ? 1 : 0;
    }
    ::closedir(d);
  }
  return n;
}

} // namespace

TEST_CASE("sync thread: jobs run in submission order on its own thread",
          "[sync_thread]") {
  sync_thread st;
  std::mutex mtx;
  std::vector<int> order;
  std::thread::id ran_on;
  std::string name;
  for (int i = 0; i < 50; ++i)
    st.submit([&, i] {
      std::lock_guard<std::mutex> guard{mtx};
      order.push_back(i);
      ran_on = std::this_thread::get_id();
      char buf[16] = {};
      pthread_getname_np(pthread_self(), buf, sizeof(buf));
      name = buf;
    });
  std::promise<void> done;
  st.submit([&] { done.set_value(); });
  REQUIRE(done.get_future().wait_for(30s) == std::future_status::ready);
  std::lock_guard<std::mutex> guard{mtx};
  REQUIRE(order.size() == 50);
  for (int i = 0; i < 50; ++i)
    CHECK(order[static_cast<size_t>(i)] == i);
  CHECK(ran_on != std::this_thread::get_id());
  CHECK(name == "cc-sync");
}

TEST_CASE("sync thread: its destructor runs every job submitted", "[sync_thread]") {
  int ran = 0;
  {
    sync_thread st;
    std::promise<void> go;
    auto gate = go.get_future().share();
    st.submit([gate] { gate.wait(); }); // holds the thread
    for (int i = 0; i < 10; ++i)
      st.submit([&ran] { ++ran; });
    go.set_value();
  }
  CHECK(ran == 10);
}

TEST_CASE("sync thread: one shared instance while in use, a new one after",
          "[sync_thread]") {
  std::weak_ptr<sync_thread> first;
  {
    auto a = sync_thread::shared();
    auto b = sync_thread::shared();
    CHECK(a == b);
    first = a;
  }
  CHECK(first.expired());
  auto c = sync_thread::shared();
  std::promise<void> done;
  c->submit([&] { done.set_value(); });
  CHECK(done.get_future().wait_for(30s) == std::future_status::ready);
}

TEST_CASE("sync thread: for_each calls each index once, spread over helpers on a job",
          "[sync_thread]") {
  constexpr size_t n = 200;
  std::vector<std::atomic<int>> calls(n);
  std::mutex mtx;
  std::set<std::thread::id> threads;
  std::set<std::string> names;
  auto fn = [&](size_t i) {
    calls[i] += 1;
    // Long enough that the helpers woken for the call take part.
    std::this_thread::sleep_for(1ms);
    char buf[16] = {};
    pthread_getname_np(pthread_self(), buf, sizeof(buf));
    std::lock_guard<std::mutex> guard{mtx};
    threads.insert(std::this_thread::get_id());
    names.insert(buf);
  };
  SECTION("off a sync thread: in order, here") {
    std::vector<size_t> order;
    cc::sync_thread::for_each(5, [&](size_t i) { order.push_back(i); });
    CHECK(order == std::vector<size_t>{0, 1, 2, 3, 4});
    cc::sync_thread::for_each(n, fn);
    CHECK(threads == std::set<std::thread::id>{std::this_thread::get_id()});
  }
  SECTION("on a job: every index once, before the job goes on") {
    sync_thread st;
    std::promise<void> done;
    for (int round = 0; round < 3; ++round)
      st.submit([&] { sync_thread::for_each(n, fn); });
    st.submit([&] { done.set_value(); });
    REQUIRE(done.get_future().wait_for(60s) == std::future_status::ready);
    for (size_t i = 0; i < n; ++i)
      CHECK(calls[i] == 3);
    {
      std::lock_guard<std::mutex> guard{mtx};
      CHECK(threads.size() <= 1 + sync_thread::helpers);
      CHECK(names.count("cc-sync") == 1);
      for (const auto& name : names)
        CHECK((name == "cc-sync" || name == "cc-sync-help"));
    }
    // Idle helpers end: a quiet process runs none.
    bool gone = false;
    for (int i = 0; i < 300 && !gone; ++i) {
      gone = helper_threads() == 0;
      if (!gone)
        std::this_thread::sleep_for(100ms);
    }
    CHECK(gone);
  }
  SECTION("on a job, fewer than min_spread: on the sync thread alone") {
    sync_thread st;
    std::promise<void> done;
    st.submit([&] {
      sync_thread::for_each(sync_thread::min_spread - 1, fn);
      done.set_value();
    });
    REQUIRE(done.get_future().wait_for(60s) == std::future_status::ready);
    std::lock_guard<std::mutex> guard{mtx};
    CHECK(threads.size() == 1);
    CHECK(names == std::set<std::string>{"cc-sync"});
  }
}
