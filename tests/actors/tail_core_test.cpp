// The tailer in virtual time: the actor shell spawned as a scheduled actor on
// CAF's test coordinator, so its clock (tail::tail_clock over the actor
// clock) moves only when a test advances it. Real files in a temporary
// directory; the writer's side is the stand-in of fake_writer.hpp. Nothing
// sleeps and nothing waits on the wall clock for the tailer's timers: ack
// timeout and its backoff, a gap, rotation (classic and rotated), the
// lag-max-bytes skip, idle-flush, the reconcile without a .save file, and
// when the .save is written (save-interval, quiet, stop).
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include "actors/tail/ack_progress.hpp"
#include "actors/tail/position.hpp"
#include "actors/tail/position_saver.hpp"
#include "actors/tail/tailer.hpp"
#include "config/config.hpp"
#include "tests/actors/fake_writer.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;
using cc::test::append_file;
using cc::test::temp_dir;
using cc::test::write_file;

namespace {

caf::actor_system_config& virtual_time_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cc::register_types(cfg);
  return cfg;
}

/// A logdir, a save file, the router stand-in and a scheduled tailer, all
/// on the test coordinator.
struct virtual_env {
  temp_dir dir{"cctailvt"};
  std::string logs = dir / "logs";
  std::string save_file = dir / "run/tail.save";
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::shared_ptr<fake_writer> w = std::make_shared<fake_writer>();
  caf::actor router;
  caf::actor tailer;
  cc::tailer_options opts;

  explicit virtual_env(const std::string& extra)
      : sys(virtual_time_config(cfg)),
        sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    ::mkdir(logs.c_str(), 0755);
    router = sys.spawn(fake_router, w);
    opts = tailer_test_options(logs, save_file, extra, dir / "tail_core_test.ini");
    opts.inotify = false; // the poll (virtual time) finds new data; wake() a change
  }

  ~virtual_env() {
    if (tailer)
      caf::anon_send_exit(tailer, caf::exit_reason::kill);
    caf::anon_send_exit(router, caf::exit_reason::kill);
    sched.run();
    sys.await_actors_before_shutdown(false);
  }

  std::string log(const std::string& name) const {
    return logs + "/" + name;
  }

  void start() {
    tailer = cc::spawn_tailer_actor(sys, opts, caf::actor_cast<cc::router_actor>(router),
                                    cc::tailer_thread::scheduled);
    sched.run();
  }

  /// An empty `name` in logdir, a tailer started on it (asking the writer,
  /// which holds nothing: a first start), 100 ms passed.
  void start_on_empty(const std::string& name) {
    write_file(log(name), "");
    start();
    pass(std::chrono::milliseconds{100});
  }

  /// Ends the tailer; its last position is on disk afterwards.
  void stop() {
    caf::anon_send_exit(tailer, caf::exit_reason::user_shutdown);
    sched.run();
    tailer = nullptr;
  }

  /// What the inotify thread sends on a change (inotify is off here).
  void wake() {
    caf::anon_send(tailer, cc::wake_atom::value);
    sched.run();
  }

  /// Moves virtual time on by `d`, in steps shorter than the poll interval,
  /// running everything that becomes due.
  void pass(std::chrono::milliseconds d) {
    for (auto t = 0ms; t < d; t += 10ms) {
      sched.advance_time(10ms);
      sched.run();
    }
  }

  cc::counters stats() {
    auto out = std::make_shared<cc::counters>();
    sys.spawn([out, t = tailer](caf::event_based_actor* self) {
      self->request(t, caf::infinite, cc::stats_atom::value)
          .then([out](const cc::counters& c) { *out = c; });
    });
    sched.run();
    return *out;
  }

  int64_t stat(const std::string& name) {
    return stats()[name];
  }

  std::vector<std::string> copies_of(const std::string& path) {
    std::vector<std::string> out;
    for (auto& k : w->order)
      if (k.filename == path)
        out.push_back(w->copies[k].bytes);
    return out;
  }

  std::string copy_of(const std::string& path) {
    auto all = copies_of(path);
    return all.empty() ? std::string{} : all.back();
  }
};

} // namespace

TEST_CASE("virtual time: no ack within ack-timeout asks the writer, the timeout "
          "doubles while nothing moves and resets with an ack",
          "[tail_core]") {
  virtual_env env{"logmask = *.log\n"};
  write_file(env.log("a.log"), "");
  env.start(); // no .save: the writer is asked first (it holds nothing)
  env.pass(100ms);
  REQUIRE(env.stat("questions") == 1);
  env.w->send_acks = false;
  env.w->answer_questions = false;
  auto data = numbered_lines("a", 0, 10);
  append_file(env.log("a.log"), data);
  env.pass(100ms);
  REQUIRE(env.copy_of(env.log("a.log")) == data); // applied, not acked
  CHECK(env.stat("ack_timeout_ms") == 5000);
  env.pass(4800ms);
  CHECK(env.stat("resends") == 0);
  env.pass(200ms); // past ack-timeout: ask what the writer holds
  CHECK(env.stat("resends") == 1);
  CHECK(env.stat("questions") == 2);
  CHECK(env.stat("ack_timeout_ms") == 10000);
  // Unanswered, the question is asked again after the doubled timeout.
  env.pass(9800ms);
  CHECK(env.stat("questions") == 2);
  env.pass(300ms);
  CHECK(env.stat("questions") == 3);
  env.pass(20100ms);
  CHECK(env.stat("questions") == 4);
  // The writer answers: it holds everything, nothing is sent again.
  env.w->answer_questions = true;
  env.w->send_acks = true;
  env.pass(40000ms);
  CHECK(env.stat("reconciles") >= 1);
  CHECK(env.stat("acked_bytes") == static_cast<int64_t>(data.size()));
  auto more = numbered_lines("b", 0, 5);
  append_file(env.log("a.log"), more);
  env.pass(200ms);
  CHECK(env.copy_of(env.log("a.log")) == data + more);
  CHECK(env.stat("ack_timeout_ms") == 5000); // an ack that moved: no backoff
  CHECK(env.w->duplicates == 0);
}

TEST_CASE("virtual time: no resend while the central acks fragments sent before ours, "
          "the timeout fires when those acks stop, or come for later ones",
          "[tail_core][ack_clock]") {
  virtual_env env{"logmask = *.log\n"};
  auto clock = std::make_shared<cc::tail::ack_progress>(std::chrono::seconds{40});
  env.opts.ack_clock = clock;
  write_file(env.log("a.log"), "");
  env.start();
  env.pass(100ms);
  // Another tailer's fragment left before ours.
  auto before = env.sys.clock().now();
  env.pass(100ms);
  env.w->send_acks = false;
  env.w->answer_questions = false;
  append_file(env.log("a.log"), numbered_lines("a", 0, 10));
  env.pass(100ms);
  auto ours = env.sys.clock().now();
  SECTION("acks for earlier fragments keep coming, then stop") {
    for (int i = 0; i < 12; ++i) { // 12 s: past ack-timeout (5 s)
      clock->acked(before, env.sys.clock().now());
      env.pass(1000ms);
    }
    CHECK(env.stat("resends") == 0);
    env.pass(5200ms); // one timeout after the last: the central is silent
    CHECK(env.stat("resends") == 1);
  }
  SECTION("they come for fragments sent after ours: ours was passed over") {
    for (int i = 0; i < 6; ++i) {
      clock->acked(ours + 1s, env.sys.clock().now());
      env.pass(1000ms);
    }
    CHECK(env.stat("resends") == 1);
  }
  SECTION("they never stop: at most the longest backoff") {
    for (int i = 0; i < 39; ++i) {
      clock->acked(before, env.sys.clock().now());
      env.pass(1000ms);
    }
    CHECK(env.stat("resends") == 0);
    for (int i = 0; i < 3; ++i) {
      clock->acked(before, env.sys.clock().now());
      env.pass(1000ms);
    }
    CHECK(env.stat("resends") == 1);
  }
}

TEST_CASE("ack clock: the latest ack among fragments sent no later than ours, for a window",
          "[ack_clock]") {
  using namespace std::chrono;
  cc::tail::ack_progress clock{10s};
  steady_clock::time_point t0{};
  CHECK(!clock.behind(t0 + 5s, t0));
  clock.acked(t0 + 1s, t0 + 2s);
  clock.acked(t0 + 3s, t0 + 4s);
  CHECK(clock.size() == 2);
  CHECK(clock.behind(t0 + 1s, t0 + 1s));   // acked at 2 s
  CHECK(!clock.behind(t0 + 1s, t0 + 2s));  // not after 2 s
  CHECK(clock.behind(t0 + 3s, t0 + 3s));   // the one sent at 3 s, acked at 4 s
  CHECK(!clock.behind(t0 + 500ms, t0));    // nothing sent that early
  // Sent earlier and acked later than both: it tells all they did.
  clock.acked(t0 + 500ms, t0 + 6s);
  CHECK(clock.size() == 1);
  CHECK(clock.behind(t0 + 3s, t0 + 5s));
  // Forgotten after the window.
  clock.acked(t0 + 20s, t0 + 30s);
  CHECK(clock.size() == 1);
  CHECK(!clock.behind(t0 + 3s, t0));
  // One per message type, shared.
  auto a = cc::tail::ack_progress::shared("pub.logtail.test", 1s);
  CHECK(a == cc::tail::ack_progress::shared("pub.logtail.test", 1s));
  CHECK(a != cc::tail::ack_progress::shared("pub.logtail.other", 1s));
}

TEST_CASE("virtual time: a lost fragment is reported as a gap and sent again",
          "[tail_core]") {
  virtual_env env{"logmask = *.log\nbuffer-bytes = 1K\n"};
  env.start_on_empty("a.log");
  env.w->lose_dispatch_no = 3; // the third fragment vanishes on the way
  auto data = numbered_lines("a", 0, 100);
  append_file(env.log("a.log"), data);
  env.pass(500ms); // far below ack-timeout: the gap alone brings it back
  CHECK(env.copy_of(env.log("a.log")) == data);
  CHECK(env.w->gaps >= 1);
  CHECK(env.stat("gaps_reported") >= 1);
  CHECK(env.stat("resends") == 0);
  CHECK(env.w->mismatches == 0);
}

TEST_CASE("virtual time: classic rotation finishes a file, probes, then switches",
          "[tail_core]") {
  virtual_env env{"logmask = *.log\n"};
  env.start_on_empty("a.log");
  auto first = numbered_lines("a", 0, 20);
  append_file(env.log("a.log"), first);
  env.pass(100ms);
  auto second = numbered_lines("b", 0, 20);
  write_file(env.log("b.log"), second);
  auto late = numbered_lines("late", 0, 2);
  append_file(env.log("a.log"), late); // written after b.log appeared
  env.pass(1000ms);
  CHECK(env.copy_of(env.log("a.log")) == first + late);
  CHECK(env.copy_of(env.log("b.log")) == second);
  CHECK(env.stat("files_switched") == 1);
  CHECK(env.w->duplicates == 0);
}

TEST_CASE("virtual time: rotated mode drains the renamed generation, then the new one",
          "[tail_core]") {
  virtual_env env{"operation-mode = rotated\nlogname = app.log\n"};
  auto app = env.log("app.log");
  env.start_on_empty("app.log");
  auto old_gen = numbered_lines("gen0", 0, 20);
  append_file(app, old_gen);
  env.pass(100ms);
  REQUIRE(::rename(app.c_str(), env.log("app.log.1").c_str()) == 0);
  append_file(env.log("app.log.1"), "late\n");
  write_file(app, "gen1 begins\n");
  env.pass(1000ms);
  std::vector<std::string> expected{old_gen + "late\n", "gen1 begins\n"};
  CHECK(env.copies_of(app) == expected);
  CHECK(env.stat("files_switched") == 1);
}

/// A tailer delivers a.log's first lines, stops, and restarts lagging more
/// than lag-max-bytes (a.log grew, b.log appeared). Returns what the first
/// run delivered.
static std::string restart_lagging(virtual_env& env) {
  env.start_on_empty("a.log");
  auto first = numbered_lines("a", 0, 10);
  append_file(env.log("a.log"), first);
  env.pass(200ms);
  REQUIRE(env.copy_of(env.log("a.log")) == first);
  env.stop();
  append_file(env.log("a.log"), numbered_lines("missed", 0, 40)); // 2400 bytes
  write_file(env.log("b.log"), numbered_lines("b", 0, 10));
  env.start();
  return first;
}

TEST_CASE("virtual time: a restart lagging more than lag-max-bytes skips to the end",
          "[tail_core]") {
  virtual_env env{"logmask = *.log\nlag-max-bytes = 1000\n"};
  auto first = restart_lagging(env);
  CHECK(env.stat("skipped_bytes")
        == static_cast<int64_t>(numbered_lines("missed", 0, 40).size()
                                + numbered_lines("b", 0, 10).size()));
  auto after = numbered_lines("after", 0, 3);
  append_file(env.log("b.log"), after);
  env.wake(); // as inotify would, before the first poll
  CHECK(env.copy_of(env.log("b.log")) == after);
  CHECK(env.copy_of(env.log("a.log")) == first);
}

// Found while porting the test above to virtual time (tailer_test checks the
// copy of a.log within milliseconds of the restart, before the first poll):
// start() queued the files before the one it opens for a recheck
// (queue_recent_files) also after a skip, and that recheck sent the skipped
// bytes of a.log as repairs at the first poll.
TEST_CASE("virtual time: bytes skipped for lag-max-bytes stay skipped after the "
          "first poll",
          "[tail_core]") {
  virtual_env env{"logmask = *.log\nlag-max-bytes = 1000\n"};
  auto first = restart_lagging(env);
  REQUIRE(env.stat("skipped_bytes") > 0);
  env.pass(300ms);
  CHECK(env.copy_of(env.log("a.log")) == first);
}

TEST_CASE("virtual time: a denied file is asked about again after 1 s, the wait "
          "doubling up to 30 s, and starts at 1 s again after the writer took it",
          "[tail_core]") {
  virtual_env env{"logmask = *.log\n"};
  env.start_on_empty("a.log");
  env.w->deny_host = true;
  auto data = numbered_lines("a", 0, 10);
  append_file(env.log("a.log"), data);
  env.pass(100ms);
  REQUIRE(env.w->denials == 1);
  CHECK(env.stat("denied") == 1);
  // The virtual time from now to the writer's next denial (each one a
  // question the held tailer asks again), in 10 ms steps.
  auto next_denial = [&](std::chrono::milliseconds limit) {
    int before = env.w->denials;
    for (auto t = 10ms; t <= limit; t += 10ms) {
      env.pass(10ms);
      if (env.w->denials != before)
        return t;
    }
    return limit + 1ms;
  };
  for (auto wait : {1000ms, 2000ms, 4000ms, 8000ms, 16000ms, 30000ms, 30000ms}) {
    auto took = next_denial(31000ms);
    INFO("expected a question after " << wait.count() << " ms, came after " << took.count());
    CHECK(took >= wait - 100ms);
    CHECK(took <= wait + 100ms);
  }
  CHECK(env.copy_of(env.log("a.log")).empty()); // nothing was applied
  // The binding is fixed: at the next question the file goes, once.
  env.w->deny_host = false;
  env.pass(31000ms);
  CHECK(env.copy_of(env.log("a.log")) == data);
  CHECK(env.stat("acked_bytes") == static_cast<int64_t>(data.size()));
  // Denied again later: the wait starts at 1 s again.
  env.w->deny_host = true;
  append_file(env.log("a.log"), numbered_lines("b", 0, 3));
  env.pass(100ms);
  auto took = next_denial(31000ms);
  CHECK(took >= 900ms);
  CHECK(took <= 1100ms);
  CHECK(env.w->duplicates == 0);
}

TEST_CASE("virtual time: a partial last line goes exactly after idle-flush",
          "[tail_core]") {
  virtual_env env{"logmask = *.log\n"};
  env.start_on_empty("a.log");
  append_file(env.log("a.log"), "complete\nno newline yet");
  env.pass(60ms); // the poll reads it: the whole line goes, the rest waits
  CHECK(env.copy_of(env.log("a.log")) == "complete\n");
  env.pass(100ms);
  CHECK(env.copy_of(env.log("a.log")) == "complete\n");
  env.pass(150ms); // idle-flush (200 ms) after the read
  CHECK(env.copy_of(env.log("a.log")) == "complete\nno newline yet");
}

TEST_CASE("virtual time: without a .save the writer is asked what it holds and "
          "delivery resumes at its end",
          "[tail_core]") {
  virtual_env env{"logmask = *.log\n"};
  env.start_on_empty("a.log");
  auto first = numbered_lines("a", 0, 30);
  append_file(env.log("a.log"), first);
  env.pass(200ms);
  REQUIRE(env.copy_of(env.log("a.log")) == first);
  env.stop();
  REQUIRE(::unlink(env.save_file.c_str()) == 0);
  auto more = numbered_lines("more", 0, 10);
  append_file(env.log("a.log"), more);
  env.start();
  env.pass(500ms);
  CHECK(env.copy_of(env.log("a.log")) == first + more);
  CHECK(env.stat("reconciles") == 1);
  CHECK(env.w->duplicates == 0);
  CHECK(env.w->questions >= 1);
}

namespace {

/// The offset the .save file holds once the saver wrote what it was given.
uint64_t saved_offset(virtual_env& env) {
  cc::tail::position_saver::shared()->flush(env.save_file);
  auto p = cc::tail::load_position(env.save_file);
  REQUIRE(p);
  REQUIRE(*p);
  return (*p)->offset;
}

/// The .save writes the tailers of this process asked for so far.
uint64_t saves_stored() {
  return cc::tail::position_saver::shared()->stats().stores;
}

/// Appends `count` lines to a.log, one every 100 ms of virtual time (each
/// acked before the next); `each` is called after each line's 100 ms with
/// the bytes appended so far. Returns them.
std::string trickle(virtual_env& env, int count,
                    const std::function<void(const std::string&)>& each = {}) {
  std::string sent;
  for (int i = 0; i < count; ++i) {
    auto line = numbered_lines("t", i, 1);
    append_file(env.log("a.log"), line);
    sent += line;
    env.pass(100ms);
    if (each)
      each(sent);
  }
  return sent;
}

} // namespace

TEST_CASE("virtual time: at a trickle the position is written once per "
          "save-interval, at once when the source is quiet, and at a stop",
          "[tail_core][save]") {
  virtual_env env{"logmask = *.log\nsave-interval = 1\n"};
  env.start_on_empty("a.log");
  auto before = saves_stored();
  auto sent = trickle(env, 30); // 3 s
  REQUIRE(env.copy_of(env.log("a.log")) == sent);
  REQUIRE(env.stat("acked_bytes") == static_cast<int64_t>(sent.size()));
  // Once per second while acks keep coming (was: once per ack), and never
  // more than a second behind.
  auto during = saves_stored() - before;
  CHECK(during >= 2);
  CHECK(during <= 4);
  auto lag = sent.size() - saved_offset(env);
  CHECK(lag <= sent.size() / 2);
  // Caught up and quiet: written without waiting for the interval.
  env.pass(300ms);
  CHECK(saved_offset(env) == sent.size());
  auto quiet = saves_stored() - before;
  CHECK(quiet <= during + 1);
  // Nothing new: nothing written.
  env.pass(3000ms);
  CHECK(saves_stored() - before == quiet);
  // The first ack a second after the last write is written at once; a
  // stop right after the next one writes that too.
  auto line = numbered_lines("again", 0, 1);
  append_file(env.log("a.log"), line);
  env.pass(100ms);
  sent += line;
  CHECK(saved_offset(env) == sent.size());
  auto last = numbered_lines("last", 0, 1);
  append_file(env.log("a.log"), last);
  env.pass(60ms);
  REQUIRE(env.stat("acked_bytes") == static_cast<int64_t>(sent.size() + last.size()));
  CHECK(saved_offset(env) == sent.size());
  env.stop();
  CHECK(saved_offset(env) == sent.size() + last.size());
}

TEST_CASE("virtual time: save-interval = 0 writes the position after every ack",
          "[tail_core][save]") {
  virtual_env env{"logmask = *.log\nsave-interval = 0\n"};
  env.start_on_empty("a.log");
  auto before = saves_stored();
  trickle(env, 10, [&](const std::string& sent) {
    CHECK(saved_offset(env) == sent.size());
  });
  CHECK(saves_stored() - before == 10);
}

TEST_CASE("virtual time: after a crash between saves the .save is behind the "
          "copy, and the copy still gets every byte once",
          "[tail_core][save]") {
  virtual_env env{"logmask = *.log\nsave-interval = 1\n"};
  env.start_on_empty("a.log");
  auto sent = trickle(env, 5);
  auto saved = saved_offset(env);
  REQUIRE(saved < sent.size()); // the last acks are not written yet
  // What a SIGKILL leaves: the .save as it is; the tailer's end is not
  // run (a copy of the .save put back after a clean stop stands for it).
  auto stale = cc::test::read_file(env.save_file);
  env.stop();
  write_file(env.save_file, stale);
  auto more = numbered_lines("more", 0, 3);
  append_file(env.log("a.log"), more);
  env.start();
  env.pass(500ms);
  CHECK(env.copy_of(env.log("a.log")) == sent + more);
  CHECK(env.copies_of(env.log("a.log")).size() == 1);
  CHECK(env.w->mismatches == 0);
}

TEST_CASE("virtual time: a file opened while the central does not answer is in the "
          ".save at once: a crash before the answer resumes there, not at a new tail -f",
          "[tail_core][save]") {
  virtual_env env{"logmask = *.log\n"};
  env.w->answer_questions = false; // the central away
  env.start(); // no log file yet: the first one is read from its start
  env.pass(100ms);
  auto first = numbered_lines("a", 0, 20);
  write_file(env.log("a.log"), first);
  env.wake();
  env.pass(500ms);
  CHECK(env.copy_of(env.log("a.log")).empty()); // nothing goes before the answer
  cc::tail::position_saver::shared()->flush(env.save_file);
  auto saved = cc::tail::load_position(env.save_file);
  REQUIRE(saved);
  REQUIRE(*saved);
  CHECK((*saved)->filename == env.log("a.log"));
  CHECK((*saved)->offset == 0);
  // What a SIGKILL leaves: the .save as it is now.
  auto at_crash = cc::test::read_file(env.save_file);
  env.stop();
  write_file(env.save_file, at_crash);
  auto more = numbered_lines("b", 0, 5);
  append_file(env.log("a.log"), more);
  env.w->answer_questions = true; // the central is back
  env.start();
  env.pass(500ms);
  CHECK(env.copy_of(env.log("a.log")) == first + more);
  CHECK(env.w->duplicates == 0);
}

TEST_CASE("virtual time: a tailer stopped before any log file appeared reads the "
          "files that appeared meanwhile from their start, not as a first start",
          "[tail_core][save]") {
  virtual_env env{"logmask = *.log\n"};
  env.start(); // no log file yet: the first one is read from its start
  env.pass(100ms);
  env.stop();
  cc::tail::position_saver::shared()->flush(env.save_file);
  auto saved = cc::tail::load_position(env.save_file);
  CHECK((saved && *saved && (*saved)->no_file_yet));
  // Written while no tailer ran: two files, the older one finished.
  auto a = numbered_lines("a", 0, 20);
  auto b = numbered_lines("b", 0, 7);
  write_file(env.log("a.log"), a);
  write_file(env.log("b.log"), b);
  env.start();
  env.pass(500ms);
  CHECK(env.copy_of(env.log("a.log")) == a);
  CHECK(env.copy_of(env.log("b.log")) == b);
  // Followed from there on.
  auto more = numbered_lines("c", 0, 3);
  append_file(env.log("b.log"), more);
  env.wake();
  env.pass(500ms);
  CHECK(env.copy_of(env.log("b.log")) == b + more);
  CHECK(env.w->duplicates == 0);
  cc::tail::position_saver::shared()->flush(env.save_file);
  saved = cc::tail::load_position(env.save_file);
  REQUIRE(saved);
  REQUIRE(*saved);
  CHECK_FALSE((*saved)->no_file_yet);
}

TEST_CASE("virtual time: the end of a burst that took a while is written at once",
          "[tail_core][save]") {
  virtual_env env{"logmask = *.log\nsave-interval = 1\n"};
  env.start_on_empty("a.log");
  auto first = numbered_lines("first", 0, 1);
  append_file(env.log("a.log"), first);
  env.pass(400ms);
  REQUIRE(saved_offset(env) == first.size()); // quiet after it: written
  // A burst whose acks take 400 ms (a slow writer, a big transfer).
  env.w->send_acks = false;
  auto burst = numbered_lines("burst", 0, 200);
  append_file(env.log("a.log"), burst);
  env.pass(400ms);
  REQUIRE(env.copy_of(env.log("a.log")) == first + burst);
  CHECK(saved_offset(env) == first.size());
  env.w->send_acks = true;
  for (auto& a : env.w->current_acks())
    caf::anon_send(env.tailer, cc::reply_atom::value, a);
  env.sched.run();
  // Written now, not a second after the last write.
  CHECK(saved_offset(env) == first.size() + burst.size());
}

TEST_CASE("virtual time: with compression the tail of a bulk write goes at once, "
          "a trickle line after idle-flush",
          "[tail_core][compression]") {
  virtual_env env{"logmask = *.log\ncompression = zstd\ncompression-level = 1\n"
                  "buffer-bytes = 64K\n"};
  env.start_on_empty("a.log");
  auto bulk = numbered_lines("bulk", 0, 5000); // several full fragments and a tail
  REQUIRE(bulk.size() % (64 * 1024) != 0);
  append_file(env.log("a.log"), bulk);
  env.pass(60ms); // the poll, far below idle-flush (200 ms)
  CHECK(env.copy_of(env.log("a.log")) == bulk);
  CHECK(env.w->bad == 0);
  // A line on its own waits to be compressed with more, as before.
  auto line = numbered_lines("line", 0, 1);
  append_file(env.log("a.log"), line);
  env.pass(100ms);
  CHECK(env.copy_of(env.log("a.log")) == bulk);
  env.pass(150ms);
  CHECK(env.copy_of(env.log("a.log")) == bulk + line);
}
