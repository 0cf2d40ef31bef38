// Jobs run on the thread that made them (base/loop_jobs.hpp) with the
// server's scheduler (main/sharing_policy.hpp): inside a loop_jobs scope an
// actor woken from this thread, and the actors it messages, run here, each
// message once and in order; past the bounds and after the scope the
// scheduler's workers take over; an inotify wake of a watcher that asks for
// it and is settled (watch_signal::run_here, file_watch::set_settled) runs
// its actor on the I/O loop's thread, and one that does not on a worker; an
// ack handed on in a scope there is taken by an uncompressed tailer there,
// by a compressing one on a worker. Every wait bounded by count and time; no
// timing asserted.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
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
#include "actors/tail/file_watch.hpp"
#include "actors/tail/inotify_hub.hpp"
#include "actors/tail/position.hpp"
#include "actors/tail/tailer.hpp"
#include "base/io_loop.hpp"
#include "base/loop_jobs.hpp"
#include "config/config.hpp"
#include "main/serve.hpp"
#include "main/sharing_policy.hpp"
#include "tests/actors/fake_writer.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;

namespace {

std::shared_ptr<const cc::config::server_config> server_config() {
  cc::test::temp_dir dir{"ccloopjobs"};
  auto path = dir / "server.ini";
  cc::test::write_file(path, "[ccserver]\ncc-socket = tcp://127.0.0.1:" +
                               std::to_string(cc::test::free_port()) +
                               "\ncaf-threads = 2\n[routes]\necho = h:echo\n\n[h:echo]\n"
                               "handler = cc.handler.echo\n");
  auto res = cc::config::load(path);
  REQUIRE(res.ok());
  return std::make_shared<const cc::config::server_config>(std::move(*res.config));
}

/// What the actors of a chain saw: per message, its number and the thread
/// that handled it, and whether that was the I/O loop's.
struct trail {
  std::mutex mtx;
  std::vector<int> numbers;
  std::vector<std::thread::id> threads;
  std::vector<bool> on_loop;
  std::shared_ptr<cc::io_loop> loop;  // set: on_loop says whether on its thread

  void add(int n) {
    std::lock_guard<std::mutex> guard{mtx};
    numbers.push_back(n);
    threads.push_back(std::this_thread::get_id());
    on_loop.push_back(loop && loop->in_loop());
  }
  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return numbers.size();
  }
  bool last_on_loop() {
    std::lock_guard<std::mutex> guard{mtx};
    return !on_loop.empty() && on_loop.back();
  }
};

/// Records each number and passes it on to `next` (when set).
caf::behavior link(caf::event_based_actor* self, std::shared_ptr<trail> t, caf::actor next) {
  return {
    [=](int n) {
      t->add(n);
      if (next)
        self->send(next, n);
    },
    [=](cc::wake_atom) {
      t->add(-1);
      if (next)
        self->send(next, -1);
    },
  };
}

/// A chain of `n` actors, each recording into its own trail; [0] first.
struct chain {
  std::vector<std::shared_ptr<trail>> trails;
  std::vector<caf::actor> actors;

  chain(caf::actor_system& sys, size_t n) {
    for (size_t i = 0; i < n; ++i)
      trails.push_back(std::make_shared<trail>());
    caf::actor next;
    for (size_t i = n; i-- > 0;) {
      // lazy_init: idle (its mailbox blocked) until its first message, so
      // that message makes the job a scope may take.
      next = sys.spawn<caf::lazy_init>(link, trails[i], next);
      actors.insert(actors.begin(), next);
    }
  }
  ~chain() {
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  bool wait_last(size_t count) {
    return cc::test::wait_until([&] { return trails.back()->size() >= count; }, 10000ms);
  }
};

/// Kills `tailer` and waits (at most 10 s) for its end: its last .save is
/// written by then, so the test's directory can go without the save
/// making its run/ again behind it.
void end_tailer(caf::actor_system& sys, const caf::actor& tailer) {
  caf::scoped_actor self{sys};
  self->monitor(tailer);
  caf::anon_send_exit(tailer, caf::exit_reason::kill);
  self->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds(10)) >> [] {});
}

bool prompt(caf::actor_system& sys) {
  return dynamic_cast<cc::cli::prompt_sharing_coordinator*>(&sys.scheduler()) != nullptr;
}

/// An actor system configured as ccserver's (server_config()), which runs
/// the server's scheduler.
struct server_system {
  caf::actor_system_config cfg;
  caf::actor_system sys;

  server_system() : sys{configured(cfg)} {
    REQUIRE(prompt(sys));
  }

  static caf::actor_system_config& configured(caf::actor_system_config& cfg) {
    cc::cli::configure_system(cfg, server_config()->main);
    return cfg;
  }
};

} // namespace

TEST_CASE("loop_jobs: an actor woken inside the scope, and those it messages, "
          "run on the scope's thread", "[loop_jobs]") {
  server_system server;
  auto& sys = server.sys;
  chain c{sys, 3};
  auto here = std::this_thread::get_id();
  {
    cc::loop_jobs scope{sys};
    caf::anon_send(c.actors[0], 7);
    scope.run();
    CHECK(scope.resumed() == 3);
  }
  REQUIRE(c.wait_last(1));
  for (auto& t : c.trails) {
    REQUIRE(t->size() == 1);
    CHECK(t->numbers[0] == 7);
    CHECK(t->threads[0] == here);
  }
  // Without a scope the scheduler's workers run them.
  caf::anon_send(c.actors[0], 8);
  REQUIRE(c.wait_last(2));
  for (auto& t : c.trails) {
    REQUIRE(t->size() == 2);
    CHECK(t->numbers[1] == 8);
    CHECK(t->threads[1] != here);
  }
}

// What the loop runs itself (a settled tailer's inotify look) runs as a job
// of the scope would: nothing may block there, after_job() works, and the
// actors it messages wait for the scope's run(), on this thread.
TEST_CASE("loop_jobs: run_inline runs a function as a job of the scope", "[loop_jobs]") {
  server_system server;
  auto& sys = server.sys;
  chain c{sys, 2};
  auto here = std::this_thread::get_id();
  bool after = false;
  {
    cc::loop_jobs scope{sys};
    CHECK_FALSE(cc::loop_jobs::running());
    bool inside = false;
    bool left = false;
    auto ran = scope.run_inline([&] {
      inside = cc::loop_jobs::running();
      left = cc::loop_jobs::after_job([&] { after = true; });
      caf::anon_send(c.actors[0], 3);
      return false;
    });
    CHECK_FALSE(ran); // what the function returned
    CHECK(inside);
    CHECK(left);
    CHECK(after); // once the function returned
    CHECK_FALSE(cc::loop_jobs::running());
    CHECK(scope.resumed() == 0); // the message waits for run()
    scope.run();
    CHECK(scope.resumed() == 2);
  }
  REQUIRE(c.wait_last(1));
  for (auto& t : c.trails) {
    REQUIRE(t->size() == 1);
    CHECK(t->numbers[0] == 3);
    CHECK(t->threads[0] == here);
  }
}

TEST_CASE("loop_jobs: past its bounds and after it closes, the workers take "
          "over, and every message arrives once, in order", "[loop_jobs]") {
  server_system server;
  auto& sys = server.sys;
  auto here = std::this_thread::get_id();
  SECTION("at most max_jobs jobs") {
    chain c{sys, 4};
    {
      cc::loop_jobs scope{sys, 2, 4};
      caf::anon_send(c.actors[0], 1);
      scope.run();
      CHECK(scope.resumed() == 2);
    }
    REQUIRE(c.wait_last(1));
    CHECK(c.trails[0]->threads[0] == here);
    CHECK(c.trails[1]->threads[0] == here);
    CHECK(c.trails[2]->threads[0] != here);
    CHECK(c.trails[3]->threads[0] != here);
  }
  SECTION("at most max_messages messages per job") {
    chain c{sys, 1};
    const int n = 50;
    {
      cc::loop_jobs scope{sys, 8, 3};
      for (int i = 0; i < n; ++i)
        caf::anon_send(c.actors[0], i);
      scope.run();
      CHECK(scope.resumed() == 1);
    }
    REQUIRE(c.wait_last(n));
    auto& t = *c.trails[0];
    std::lock_guard<std::mutex> guard{t.mtx};
    REQUIRE(t.numbers.size() == static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
      CHECK(t.numbers[i] == i);
    CHECK(t.threads[0] == here);
    CHECK(t.threads[2] == here);
    CHECK(t.threads[n - 1] != here);
  }
  SECTION("a scope closed before it ran hands its jobs to the workers") {
    chain c{sys, 2};
    {
      cc::loop_jobs scope{sys};
      caf::anon_send(c.actors[0], 5);
    }
    REQUIRE(c.wait_last(1));
    CHECK(c.trails[0]->threads[0] != here);
    CHECK(c.trails[1]->threads[0] != here);
  }
}

TEST_CASE("loop_jobs: an inotify wake runs a settled run_here watcher's actor "
          "on the I/O loop's thread, others on a worker", "[loop_jobs]") {
  cc::test::temp_dir dir{"ccloopwatch"};
  server_system server;
  auto& sys = server.sys;
  cc::test::write_file(dir / "app.log", "one\n");
  chain here{sys, 2};  // the watcher's actor and one it messages
  chain there{sys, 1};
  auto loop = cc::io_loop::shared();
  for (auto* c : {&here, &there})
    for (auto& t : c->trails)
      t->loop = loop;
  auto w1 = cc::tail::file_watch::start(here.actors[0], dir.path(), "*.log", true);
  auto w2 = cc::tail::file_watch::start(there.actors[0], dir.path(), "*.log", false);
  REQUIRE(w1);
  REQUIRE(w2);
  // One append, a wake each (the watchers are rearmed for it; a late event
  // of the append before wakes them with the same settled state, so the
  // last wake is the one looked at).
  auto append = [&](size_t n, bool settled) {
    (*w1)->set_settled(settled);
    (*w2)->set_settled(settled);
    (*w1)->rearm();
    (*w2)->rearm();
    cc::test::append_file(dir / "app.log", "more\n");
    REQUIRE(here.wait_last(n));
    REQUIRE(there.wait_last(n));
  };
  // Not settled (something in flight, or no look yet): on a worker.
  append(1, false);
  CHECK_FALSE(here.trails[0]->last_on_loop());
  CHECK_FALSE(here.trails[1]->last_on_loop());
  // Settled: the one that may runs on the loop, with the actor it messages.
  append(2, true);
  CHECK(here.trails[0]->last_on_loop());
  CHECK(here.trails[1]->last_on_loop());
  CHECK_FALSE(there.trails[0]->last_on_loop());
  // In flight again: back on a worker.
  append(3, false);
  CHECK_FALSE(here.trails[0]->last_on_loop());
  CHECK_FALSE(there.trails[0]->last_on_loop());
  w1->reset();
  w2->reset();
}

namespace {

/// fake_router (tests/actors/fake_writer.hpp) that also records, per
/// dispatch, whether it ran on the I/O loop's thread.
caf::behavior loop_noting_router(caf::event_based_actor* self, std::shared_ptr<fake_writer> w,
                                 std::shared_ptr<trail> t) {
  return {
    [w](cc::register_atom, const std::string& name, caf::actor a) {
      std::lock_guard<std::mutex> guard{w->mtx};
      w->endpoint = a;
      w->endpoint_name = name;
      ++w->registrations;
      return cc::ok_atom::value;
    },
    [self, w, t](cc::dispatch_atom, cc::wire::cc_message& msg) {
      t->add(0);
      std::optional<cc::wire::cc_message> reply;
      caf::actor to;
      {
        std::lock_guard<std::mutex> guard{w->mtx};
        reply = w->handle(msg);
        to = w->endpoint;
      }
      if (reply && to)
        self->send(to, cc::reply_atom::value, std::move(*reply));
      return cc::ok_atom::value;
    },
  };
}

} // namespace

TEST_CASE("loop_jobs: a settled tailer's look after an append runs on the I/O "
          "loop's thread, up to its dispatch", "[loop_jobs]") {
  cc::test::temp_dir dir{"ccloopjobtail"};
  server_system server;
  auto& sys = server.sys;
  auto logs = dir / "logs";
  ::mkdir(logs.c_str(), 0755);
  cc::test::write_file(logs + "/app.log", "");
  auto w = std::make_shared<fake_writer>();
  auto t = std::make_shared<trail>();
  t->loop = cc::io_loop::shared();
  auto router = sys.spawn(loop_noting_router, w, t);
  auto opts = tailer_test_options(logs, dir / "run/tail.save", "logmask = app.log\n",
                                  dir / "loop.ini");
  auto tailer = cc::spawn_tailer_actor(sys, opts, caf::actor_cast<cc::router_actor>(router));
  auto copied = [&](const std::string& line) {
    std::lock_guard<std::mutex> guard{w->mtx};
    for (auto& kv : w->copies) {
      const auto& b = kv.second.bytes;
      if (b.size() >= line.size() && b.compare(b.size() - line.size(), line.size(), line) == 0)
        return true;
    }
    return false;
  };
  // A trickle: each line once the one before is in the copy (and acked:
  // the stand-in acks at once; a first start begins at the file's end, so
  // the first lines may be passed over). Some dispatch must run on the loop.
  bool on_loop = false;
  for (int i = 1; i <= 20 && !on_loop; ++i) {
    auto line = "line " + std::to_string(i) + "\n";
    std::this_thread::sleep_for(20ms);  // for the start, and the ack's turn at the tailer
    cc::test::append_file(logs + "/app.log", line);
    if (cc::test::wait_until([&] { return copied(line); }, 5000ms))
      on_loop = t->last_on_loop();
  }
  CHECK(on_loop);
  end_tailer(sys, tailer);
  caf::anon_send_exit(router, caf::exit_reason::kill);
}

namespace {

/// A tailer of logs/app.log (the server's scheduler) behind a router that
/// notes the loop's thread and the stand-in writer, whose one copy grows.
struct trickle_env {
  cc::test::temp_dir dir;
  server_system server;
  caf::actor_system& sys = server.sys;
  std::string logs = dir / "logs";
  std::shared_ptr<fake_writer> w = std::make_shared<fake_writer>();
  std::shared_ptr<trail> t = std::make_shared<trail>();
  caf::actor router;
  caf::actor tailer;

  explicit trickle_env(const std::string& name) : dir{name} {
    ::mkdir(logs.c_str(), 0755);
    cc::test::write_file(logs + "/app.log", "");
    t->loop = cc::io_loop::shared();
    router = sys.spawn(loop_noting_router, w, t);
    auto opts = tailer_test_options(logs, dir / "run/tail.save", "logmask = app.log\n",
                                    dir / "loop.ini");
    tailer = cc::spawn_tailer_actor(sys, opts, caf::actor_cast<cc::router_actor>(router));
  }
  ~trickle_env() {
    end_tailer(sys, tailer);
    caf::anon_send_exit(router, caf::exit_reason::kill);
  }

  void append(const std::string& line) {
    cc::test::append_file(logs + "/app.log", line);
  }

  std::string copy() {
    std::lock_guard<std::mutex> guard{w->mtx};
    return w->copies.empty() ? std::string{} : w->copies.begin()->second.bytes;
  }

  bool copied(const std::string& line) {
    auto b = copy();
    return b.size() >= line.size() && b.compare(b.size() - line.size(), line.size(), line) == 0;
  }

  /// A first start begins at the file's end: lines until one is in the
  /// copy. Returns the copy then ("" when none got there).
  std::string first_copied() {
    for (int i = 1; i <= 20; ++i) {
      auto line = "first " + std::to_string(i) + "\n";
      std::this_thread::sleep_for(20ms);
      append(line);
      if (cc::test::wait_until([&] { return copied(line); }, 5000ms))
        return copy();
    }
    return {};
  }
};

} // namespace

// The look itself needs no actor: the loop runs it (watch_signal::look_here,
// under the tailer's cell, within a scope), and the dispatch the look makes,
// a request of the actor's, is owed to the actor's next turn, which the
// scope runs there too. Every line still arrives once, in order.
TEST_CASE("loop_jobs: a settled tailer's inotify look is run by the loop itself, "
          "not by waking the actor, and every line still arrives in order",
          "[loop_jobs]") {
  trickle_env env{"ccloopinline"};
  auto expect = env.first_copied();
  REQUIRE_FALSE(expect.empty());
  auto before = cc::tail::inotify_hub::looks_here();
  for (int i = 1; i <= 10; ++i) {
    auto line = "line " + std::to_string(i) + "\n";
    std::this_thread::sleep_for(20ms); // the ack's turn: settled again
    env.append(line);
    expect += line;
    REQUIRE(cc::test::wait_until([&] { return env.copied(line); }, 5000ms));
  }
  CHECK(env.copy() == expect);
  CHECK(cc::tail::inotify_hub::looks_here() > before);
  CHECK(env.t->last_on_loop()); // the owed dispatch, on the loop
}

// The loop and the actor take turns at the core: while the tailer runs on a
// worker (here: answering stats, asked without a pause) the loop finds its
// cell held and wakes it instead. Lines every 2 ms, some settled, some not:
// each arrives once, in order, whichever thread looked.
TEST_CASE("loop_jobs: a tailer busy on a worker while lines arrive loses, repeats "
          "and reorders none of them", "[loop_jobs]") {
  trickle_env env{"ccloopbusy"};
  auto expect = env.first_copied();
  REQUIRE_FALSE(expect.empty());
  std::atomic<bool> stop{false};
  std::atomic<int> answers{0};
  std::thread asker{[&] {
    caf::scoped_actor self{env.sys};
    for (int i = 0; i < 100000 && !stop; ++i)
      self->request(env.tailer, std::chrono::seconds(5), cc::stats_atom::value)
        .receive([&](const cc::counters&) { ++answers; }, [](caf::error&) {});
  }};
  for (int i = 1; i <= 200; ++i) {
    auto line = "busy " + std::to_string(i) + "\n";
    env.append(line);
    expect += line;
    std::this_thread::sleep_for(2ms);
  }
  bool all = cc::test::wait_until([&] { return env.copy().size() >= expect.size(); }, 10000ms);
  stop = true;
  asker.join();
  CHECK(all);
  CHECK(env.copy() == expect);
  CHECK(answers > 0);
}

// A stream: every look finds the bytes before it still unacknowledged (the
// writer acks every sync-interval), and its dispatch answered (the
// forwarder's queue takes it). Such a look also runs on the loop, not on a
// worker woken for it per append (bench/PROFILE.md, "Session 18: latency on
// a quiet host"); before session 18 only a look with nothing in flight did.
TEST_CASE("loop_jobs: a streaming tailer's look, its bytes unacknowledged and no "
          "dispatch waiting, runs on the I/O loop's thread",
          "[loop_jobs]") {
  cc::test::temp_dir dir{"ccloopjobstream"};
  server_system server;
  auto& sys = server.sys;
  auto logs = dir / "logs";
  ::mkdir(logs.c_str(), 0755);
  cc::test::write_file(logs + "/app.log", "");
  auto w = std::make_shared<fake_writer>();
  auto t = std::make_shared<trail>();
  t->loop = cc::io_loop::shared();
  auto router = sys.spawn(loop_noting_router, w, t);
  auto opts = tailer_test_options(logs, dir / "run/tail.save", "logmask = app.log\n",
                                  dir / "loop.ini");
  auto tailer = cc::spawn_tailer_actor(sys, opts, caf::actor_cast<cc::router_actor>(router));
  auto copied = [&](const std::string& line) {
    std::lock_guard<std::mutex> guard{w->mtx};
    for (auto& kv : w->copies) {
      const auto& b = kv.second.bytes;
      if (b.size() >= line.size() && b.compare(b.size() - line.size(), line.size(), line) == 0)
        return true;
    }
    return false;
  };
  auto unacked = [&] {
    std::lock_guard<std::mutex> guard{w->mtx};
    return w->fragments.size();
  };
  // The generation confirmed (acked) first: a first start begins at the
  // file's end, so the first lines may be passed over.
  bool first = false;
  for (int i = 1; i <= 20 && !first; ++i) {
    auto line = "first " + std::to_string(i) + "\n";
    std::this_thread::sleep_for(20ms);
    cc::test::append_file(logs + "/app.log", line);
    first = cc::test::wait_until([&] { return copied(line); }, 5000ms);
  }
  REQUIRE(first);
  std::this_thread::sleep_for(50ms);  // the ack's turn at the tailer
  {
    std::lock_guard<std::mutex> guard{w->mtx};
    w->send_acks = false;
  }
  auto from = unacked();
  // Lines with the ones before them unacknowledged: once two were sent
  // without an ack, some later line's dispatch must run on the loop.
  bool on_loop = false;
  for (int i = 1; i <= 20 && !on_loop; ++i) {
    auto line = "stream " + std::to_string(i) + "\n";
    std::this_thread::sleep_for(20ms);  // the dispatch's answer in
    cc::test::append_file(logs + "/app.log", line);
    REQUIRE(cc::test::wait_until([&] { return copied(line); }, 5000ms));
    if (unacked() >= from + 2)
      on_loop = t->last_on_loop();
  }
  CHECK(on_loop);
  end_tailer(sys, tailer);
  caf::anon_send_exit(router, caf::exit_reason::kill);
}

namespace {

std::string report_copies(const std::vector<std::string>& copies) {
  std::string out = "copies:";
  for (auto& c : copies)
    out += " [" + c + "]";
  return out;
}

/// A tailer (real actor system, the server's scheduler) with the stand-in
/// writer behind a router that notes the loop's thread, over `logs`.
struct loop_tail_env {
  caf::actor_system& sys;
  cc::test::temp_dir dir{"ccloopsave"};
  std::string logs = dir / "logs";
  std::string save = dir / "run/tail.save";
  std::shared_ptr<fake_writer> w = std::make_shared<fake_writer>();
  std::shared_ptr<trail> t = std::make_shared<trail>();
  caf::actor router;
  caf::actor tailer;

  explicit loop_tail_env(caf::actor_system& s) : sys(s) {
    ::mkdir(logs.c_str(), 0755);
    t->loop = cc::io_loop::shared();
    w->save_file = save;
    router = sys.spawn(loop_noting_router, w, t);
  }
  ~loop_tail_env() {
    if (tailer)
      end_tailer(sys, tailer);
    caf::anon_send_exit(router, caf::exit_reason::kill);
  }

  void start(const std::string& extra) {
    auto opts = tailer_test_options(logs, save, extra, dir / "loop.ini");
    opts.probes = 0; // the look that sees the next file switches to it
    tailer = cc::spawn_tailer_actor(sys, opts, caf::actor_cast<cc::router_actor>(router));
    // Its start-up (the first look, a first start's question) is done once
    // it answers.
    caf::scoped_actor self{sys};
    bool ok = false;
    self->request(tailer, std::chrono::seconds(5), cc::stats_atom::value)
      .receive([&](const cc::counters&) { ok = true; }, [](caf::error&) {});
    REQUIRE(ok);
  }

  /// Puts `content` in logs/`name` at once (made aside, renamed in): one
  /// event for the name, with the bytes already there.
  void place(const std::string& name, const std::string& content) {
    auto aside = dir / "aside.tmp";
    cc::test::write_file(aside, content);
    REQUIRE(::rename(aside.c_str(), (logs + "/" + name).c_str()) == 0);
  }

  /// The copies' bytes, by first appearance.
  std::vector<std::string> copies() {
    std::lock_guard<std::mutex> guard{w->mtx};
    std::vector<std::string> out;
    for (auto& key : w->order)
      out.push_back(w->copies[key].bytes);
    return out;
  }

  bool converges(const std::vector<std::string>& want) {
    return cc::test::wait_until([&] { return copies() == want; }, 10000ms);
  }

  /// Waits until the tailer has nothing in flight (every byte acked, the
  /// dispatches answered): its next inotify wake runs on the loop.
  void settle() {
    std::this_thread::sleep_for(100ms);
  }

  /// The gen of the newest copy's last fragment.
  std::string last_gen() {
    std::lock_guard<std::mutex> guard{w->mtx};
    return w->fragments.empty() ? "" : w->fragments.back().body.gen;
  }
};

} // namespace

// The durable .save of a new file or generation (temp file, fsync, rename,
// fsync of the directory) must not hold the I/O loop: a look inotify runs
// there leaves for a worker before it (tail_effects::may_block), and the
// .save still names the new generation before its first fragment leaves.
TEST_CASE("loop_jobs: a settled tailer that finds a rotation or a new file on the "
          "I/O loop's thread makes its durable save on a worker", "[loop_jobs]") {
  server_system server;
  auto& sys = server.sys;
  auto blocked_before = cc::loop_jobs::blocked_in_scope();
  auto left_before = cc::loop_jobs::after_jobs();
  loop_tail_env env{sys};
  std::vector<std::string> want;
  std::string mode;
  SECTION("rotated, ack = yes") { mode = "operation-mode = rotated\nlogname = app.log\n"; }
  SECTION("rotated, ack = no") {
    mode = "operation-mode = rotated\nlogname = app.log\nack = no\n";
  }
  SECTION("classic, new files") { mode = "logmask = *.log\n"; }
  bool rotated = mode.find("rotated") != std::string::npos;
  if (rotated) {
    cc::test::write_file(env.logs + "/app.log", "");
    env.start(mode);
    cc::test::append_file(env.logs + "/app.log", "gen 0 line\n");
    want.push_back("gen 0 line\n");
  } else {
    env.start(mode); // no file yet: the first one is read from its start
    env.settle();
    env.place("a0.log", "file 0 line\n");
    want.push_back("file 0 line\n");
  }
  INFO(report_copies(env.copies()));
  REQUIRE(env.converges(want));
  for (int i = 1; i <= 3; ++i) {
    env.settle();
    auto line = (rotated ? "gen " : "file ") + std::to_string(i) + " line\n";
    if (rotated) {
      // Rename and create: the old name's file moves away, a new one with
      // its first line takes the name.
      auto old = env.logs + "/app.log";
      auto away = env.logs + "/app.log." + std::to_string(i);
      REQUIRE(::rename(old.c_str(), away.c_str()) == 0);
      env.place("app.log", line);
    } else {
      env.place("a" + std::to_string(i) + ".log", line);
    }
    want.push_back(line);
    INFO(report_copies(env.copies()));
    REQUIRE(env.converges(want));
  }
  // Exactly once: every generation's copy holds its bytes, nothing twice.
  {
    std::lock_guard<std::mutex> guard{env.w->mtx};
    CHECK(env.w->duplicates == 0);
    CHECK(env.w->gaps == 0);
    CHECK(env.w->bad == 0);
    // The .save named each generation before its first fragment left.
    CHECK(env.w->firsts.size() == want.size());
    for (auto& f : env.w->firsts) {
      CHECK(f.saved_gen == f.gen);
      CHECK(f.saved_offset <= f.fpos);
    }
  }
  // And names the newest at the end (its acked position is saved soon).
  auto gen = env.last_gen();
  CHECK(cc::test::wait_until(
      [&] {
        auto pos = cc::tail::load_position(env.save);
        return pos && *pos && (*pos)->gen == gen && (*pos)->offset == want.back().size();
      },
      5000ms));
  // The looks that found them started on the loop's thread and left it
  // (each new file raised an event while the tailer was settled) ...
  CHECK(cc::loop_jobs::after_jobs() > left_before);
  // ... and no durable save or wait for one ran there.
  CHECK(cc::loop_jobs::blocked_in_scope() == blocked_before);
}

// An idle data connection hands the central's ack on inside a loop_jobs
// scope on the I/O loop (actors/link/data_link.hpp, on_message_here): the
// tailer it is for takes it there, and the look after it sends what the ack
// let go, as an inotify wake's look does, with no scheduler worker woken for
// the ack (bench/PROFILE.md, "Session 27"). A tailer that compresses is
// never run on the loop: it takes the ack on a worker.
TEST_CASE("loop_jobs: an ack handed on in a scope on the I/O loop runs an "
          "uncompressed tailer's look there, a compressing one's on a worker",
          "[loop_jobs]") {
  server_system server;
  auto& sys = server.sys;
  std::string comp;
  SECTION("uncompressed") {}
  SECTION("gzip on the wire") { comp = "compression = gzip\n"; }
  loop_tail_env env{sys};
  {
    std::lock_guard<std::mutex> guard{env.w->mtx};
    env.w->send_acks = false;
  }
  cc::test::write_file(env.logs + "/app.log", "");
  auto opts = tailer_test_options(env.logs, env.save, "logmask = app.log\n" + comp,
                                  env.dir / "loop.ini");
  // No poll tick while the ack is handed on: the tailer is idle then, so the
  // scope takes its job.
  opts.poll_interval = std::chrono::seconds{30};
  env.tailer = cc::spawn_tailer_actor(sys, opts, caf::actor_cast<cc::router_actor>(env.router));
  auto fragments = [&] {
    std::lock_guard<std::mutex> guard{env.w->mtx};
    return env.w->fragments.size();
  };
  // The generation's first fragment goes and is not acknowledged (a first
  // start begins at the file's end, so the first lines may be passed over).
  bool first = false;
  for (int i = 1; i <= 20 && !first; ++i) {
    cc::test::append_file(env.logs + "/app.log", "first " + std::to_string(i) + "\n");
    first = cc::test::wait_until([&] { return fragments() >= 1; }, 500ms);
  }
  REQUIRE(first);
  // The next line waits for that ack: a generation's first fragment is
  // confirmed before more of it goes.
  cc::test::append_file(env.logs + "/app.log", "held\n");
  std::this_thread::sleep_for(300ms);
  REQUIRE(fragments() == 1);
  std::vector<cc::wire::cc_message> acks;
  {
    std::lock_guard<std::mutex> guard{env.w->mtx};
    acks = env.w->current_acks();
  }
  REQUIRE(acks.size() == 1);
  auto resumed = std::make_shared<std::atomic<size_t>>(0);
  cc::io_loop::shared()->post([&sys, to = env.tailer, acks, resumed]() mutable {
    cc::loop_jobs here{sys};
    for (auto& ack : acks)
      caf::anon_send(to, cc::reply_atom::value, std::move(ack));
    here.run();
    *resumed = here.resumed();
  });
  REQUIRE(cc::test::wait_until([&] { return fragments() >= 2; }, 5000ms));
  CHECK(*resumed >= 1); // the tailer's job at least
  CHECK(env.t->last_on_loop() == comp.empty());
  auto copies = env.copies();
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].size() >= 5);
  CHECK(copies[0].compare(copies[0].size() - 5, 5, "held\n") == 0);
}

// A tailer the loop runs has its one-shot timer on the loop too
// (base/loop_clock.hpp): a partial line waits idle-flush, and the timer's
// look that sends it runs on the I/O loop's thread, with no CAF clock thread
// and no scheduler worker woken for it (bench/PROFILE.md, "Session 27").
TEST_CASE("loop_jobs: the timer of a tailer the loop runs fires on the I/O "
          "loop's thread", "[loop_jobs][loop_clock]") {
  server_system server;
  auto& sys = server.sys;
  loop_tail_env env{sys};
  cc::test::write_file(env.logs + "/app.log", "");
  env.start("logmask = app.log\n");
  auto copied = [&](const std::string& tail) {
    auto c = env.copies();
    return !c.empty() && c[0].size() >= tail.size()
           && c[0].compare(c[0].size() - tail.size(), tail.size(), tail) == 0;
  };
  // The generation confirmed first (a first start begins at the file's end).
  bool first = false;
  for (int i = 1; i <= 20 && !first; ++i) {
    auto line = "first " + std::to_string(i) + "\n";
    cc::test::append_file(env.logs + "/app.log", line);
    first = cc::test::wait_until([&] { return copied(line); }, 1000ms);
  }
  REQUIRE(first);
  env.settle();
  // No newline: held until idle-flush (0.2 s) has passed without growth,
  // then sent by the timer's look.
  cc::test::append_file(env.logs + "/app.log", "partial");
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(copied("partial"));
  REQUIRE(cc::test::wait_until([&] { return copied("partial"); }, 5000ms));
  CHECK(env.t->last_on_loop());
}
