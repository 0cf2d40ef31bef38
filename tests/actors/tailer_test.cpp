// The tailer against real files in temporary directories, in real time (it is
// detached and reads real files). A router stand-in answers its dispatch
// requests and plays the writer's side of the acknowledged-delivery protocol
// (docs/wire.md): it applies every fragment at its fpos per generation,
// drops duplicates (checking they repeat the same bytes), reports gaps, and
// acks -- or withholds acks, refuses, or loses fragments on demand. Every
// scenario ends by comparing the reconstructed copies with the source bytes.
// Every wait is bounded; nothing asserts how long something took.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include "actors/core/atoms.hpp"
#include "actors/core/types.hpp"
#include "actors/tail/position.hpp"
#include "actors/tail/position_saver.hpp"
#include "actors/tail/tailer.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "config/config.hpp"
#include "tests/actors/fake_writer.hpp"
#include "tests/support/process.hpp"
#include "wire/base64.hpp"
#include "wire/bodies.hpp"
#include "wire/codec.hpp"
#include "wire/digest.hpp"
#include "wire/message.hpp"

using namespace std::chrono_literals;
using cc::test::append_file;
using cc::test::read_file;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;

namespace {

// -- the test environment ------------------------------------------------------

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 gen{seed};
  std::string out(n, '\0');
  for (auto& c : out)
    c = static_cast<char>(gen() & 0xff);
  return out;
}

caf::actor_system_config& tailer_test_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", 2);
  cc::register_types(cfg);
  return cfg;
}

/// A temporary logdir and save file, the router stand-in, and the tailer.
struct tail_env {
  temp_dir dir{"cctail"};
  std::string logs = dir / "logs";
  std::string save_file = dir / "run/tail.save";
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::shared_ptr<fake_writer> w = std::make_shared<fake_writer>();
  caf::actor router;
  caf::actor tailer;
  cc::tailer_options opts;

  /// `extra`: more lines of the [d:tail] section (logmask, operation-mode..).
  explicit tail_env(const std::string& extra) : sys(tailer_test_config(cfg)) {
    ::mkdir(logs.c_str(), 0755);
    router = sys.spawn(fake_router, w);
    opts = tailer_test_options(logs, save_file, extra, dir / "tailer_test.ini");
  }

  ~tail_env() {
    if (tailer)
      caf::anon_send_exit(tailer, caf::exit_reason::kill);
    caf::anon_send_exit(router, caf::exit_reason::kill);
  }

  std::string log(const std::string& name) const { return logs + "/" + name; }

  /// Starts a tailer and waits until it has looked at the files (its first
  /// answer comes after its start-up work).
  void start() {
    tailer = cc::spawn_tailer_actor(sys, opts, caf::actor_cast<cc::router_actor>(router));
    stats();
  }

  /// Ends the tailer (kill: no exit handler runs) and waits for its end.
  void stop(caf::exit_reason reason = caf::exit_reason::kill) {
    caf::scoped_actor self{sys};
    self->monitor(tailer);
    self->send_exit(tailer, reason);
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; },
                  caf::after(std::chrono::seconds(5)) >> [] {});
    REQUIRE(down);
    tailer = nullptr;
  }

  cc::counters stats() {
    caf::scoped_actor self{sys};
    cc::counters out;
    bool ok = false;
    self->request(tailer, std::chrono::seconds(5), cc::stats_atom::value)
      .receive([&](const cc::counters& c) { out = c; ok = true; },
               [&](caf::error&) {});
    REQUIRE(ok);
    return out;
  }

  int64_t stat(const std::string& name) {
    auto s = stats();
    return s[name];
  }

  template <class F>
  auto with_writer(F f) {
    std::lock_guard<std::mutex> guard{w->mtx};
    return f(*w);
  }

  /// The copies of `path`, one per (dev, ino), in order of appearance.
  std::vector<std::string> copies_of(const std::string& path) {
    return with_writer([&](fake_writer& x) {
      std::vector<std::string> out;
      for (auto& k : x.order)
        if (k.filename == path)
          out.push_back(x.copies[k].bytes);
      return out;
    });
  }

  std::string copy_of(const std::string& path) {
    auto all = copies_of(path);
    return all.empty() ? std::string{} : all.back();
  }

  /// Waits (bounded) until the single copy of `path` equals `expected`.
  bool converges(const std::string& path, const std::string& expected,
                 std::chrono::milliseconds timeout = 8000ms) {
    return wait_until([&] { return copy_of(path) == expected; }, timeout);
  }

  /// Waits until the .save file holds `offset` for `path`.
  bool saved_at(const std::string& path, uint64_t offset,
                std::chrono::milliseconds timeout = 5000ms) {
    return wait_until(
      [&] {
        auto p = cc::tail::load_position(save_file);
        return p && *p && (*p)->filename == path && (*p)->offset == offset;
      },
      timeout);
  }

  void release_acks() {
    std::vector<cc::wire::cc_message> acks;
    caf::actor to;
    with_writer([&](fake_writer& x) {
      x.send_acks = true;
      acks = x.current_acks();
      to = x.endpoint;
      return 0;
    });
    for (auto& a : acks)
      caf::anon_send(to, cc::reply_atom::value, a);
  }

  int counter(int fake_writer::*field) {
    return with_writer([&](fake_writer& x) { return x.*field; });
  }

  std::vector<fragment_record> fragments() {
    return with_writer([](fake_writer& x) { return x.fragments; });
  }
};

std::string report(tail_env& env) {
  std::string out;
  for (auto& [k, v] : env.stats())
    out += k + "=" + std::to_string(v) + " ";
  env.with_writer([&](fake_writer& x) {
    out += "| dispatches=" + std::to_string(x.dispatches) +
           " dup=" + std::to_string(x.duplicates) +
           " overlaps=" + std::to_string(x.overlaps) +
           " gaps=" + std::to_string(x.gaps) +
           " mismatches=" + std::to_string(x.mismatches) +
           " bad=" + std::to_string(x.bad);
    return 0;
  });
  return out;
}

struct ::stat stat_of(const std::string& path) {
  struct ::stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st;
}

} // namespace

// -- classic mode ---------------------------------------------------------------

TEST_CASE("classic: a first start tails the newest file from its end, text "
          "fragments end at newlines",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "idle-flush = 30\n"
               "msg-suffix = pg\n"};
  write_file(env.log("a.log"), "older file\n");
  write_file(env.log("b.log"), "before the start\n");
  env.start();
  REQUIRE(env.saved_at(env.log("b.log"), 17));  // picked at its end at once

  std::string added = numbered_lines("b", 0, 50) + "partial";
  append_file(env.log("b.log"), added);
  std::string whole = added.substr(0, added.rfind('\n') + 1);
  REQUIRE(env.converges(env.log("b.log"), whole));
  append_file(env.log("b.log"), " line ends here\n" + numbered_lines("b", 50, 5));
  auto expected = added + " line ends here\n" + numbered_lines("b", 50, 5);
  INFO(report(env));
  REQUIRE(env.converges(env.log("b.log"), expected));
  REQUIRE(env.saved_at(env.log("b.log"), 17 + expected.size()));

  auto frags = env.fragments();
  REQUIRE(!frags.empty());
  auto st = stat_of(env.log("b.log"));
  for (auto& f : frags) {
    CHECK(f.type == "pub.logtail.pg");
    CHECK(f.body.hdr.req == "pub.logtail.pg");
    CHECK(f.body.hdr.hostname == "testhost");
    CHECK(f.body.filename == env.log("b.log"));
    CHECK(f.body.comp == "");
    CHECK(f.body.mode == "b");
    CHECK(f.body.op_mode == "");
    CHECK(f.body.st_dev == static_cast<uint64_t>(st.st_dev));
    CHECK(f.body.st_ino == static_cast<uint64_t>(st.st_ino));
    CHECK(f.body.ack);
    CHECK(f.body.gen.size() == 16);
    CHECK(f.body.data == "");
    CHECK(f.had_blob);
    REQUIRE(f.route.size() == 1);
    CHECK(f.route[0] == cc::wire::local_route_frame(env.opts.job_name));
    CHECK(!f.raw.empty());
    CHECK(f.raw.back() == '\n');
  }
  CHECK(frags.front().body.fpos == 17);
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  CHECK(env.counter(&fake_writer::gaps) == 0);
  CHECK(env.counter(&fake_writer::bad) == 0);
  auto s = env.stats();
  CHECK(s["acked_bytes"] == static_cast<int64_t>(expected.size()));
  CHECK(s["lag_bytes{" + env.log("b.log") + "}"] == 0);
  CHECK(env.with_writer([](fake_writer& x) { return x.endpoint_name; }) ==
        env.opts.job_name);
  CHECK(env.opts.job_name == "tailer_test.d:tail");
}

TEST_CASE("stats: a tailer answers every counter by name from the start, zero "
          "or not, and the ones it counted",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"};
  write_file(env.log("a.log"), "before the start\n");
  env.start();
  REQUIRE(env.saved_at(env.log("a.log"), 17));
  auto s = env.stats();
  for (const char* name :
       {"bytes_read", "fragments_sent", "bytes_sent", "acked_bytes", "resends",
        "gaps_reported", "files_switched", "skipped_bytes", "send_errors",
        "refused", "generations", "stale_acks", "reconciles",
        "copies_cut_back", "resumed_below_acked", "moved_generation_reads",
        "lost_bytes", "writer_restarts", "questions", "verify_mismatch_bytes",
        "repaired_bytes", "denied", "central_write_errors", "polls"}) {
    INFO(name);
    CHECK(s.count(name) == 1);
  }
  CHECK(s.at("bytes_sent") == 0);
  append_file(env.log("a.log"), "one line\n");
  REQUIRE(env.converges(env.log("a.log"), "one line\n"));
  REQUIRE(wait_until([&] { return env.stat("bytes_sent") == 9; }, 5000ms));
  s = env.stats();
  CHECK(s.at("fragments_sent") >= 1);
  CHECK(s.at("bytes_read") >= 9);
  CHECK(s.at("send_errors") == 0);
  CHECK(s.count("acked_offset{" + env.log("a.log") + "}") == 1);
}

TEST_CASE("classic: a partial last line goes after idle-flush", "[tailer]") {
  tail_env env{"logmask = *.log\n"};
  write_file(env.log("a.log"), "");
  env.start();
  append_file(env.log("a.log"), "complete\nno newline yet");
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), "complete\nno newline yet"));
  append_file(env.log("a.log"), ", now it has one\n");
  REQUIRE(env.converges(env.log("a.log"),
                        "complete\nno newline yet, now it has one\n"));
  CHECK(env.counter(&fake_writer::duplicates) == 0);
}

TEST_CASE("classic: files that appear later are read whole, in name order",
          "[tailer]") {
  tail_env env{"logmask = postgresql-*.log\n"
               "buffer-bytes = 4K\n"};
  env.start();  // empty directory: the first file will be read from 0
  write_file(env.log("unrelated.txt"), "not a log\n");
  std::vector<std::string> contents;
  const int files = 8;
  for (int i = 0; i < files; ++i) {
    auto name = env.log("postgresql-0" + std::to_string(i) + ".log");
    contents.push_back(numbered_lines("f" + std::to_string(i), 0, 200 + 37 * i));
    // Write each file in a few pieces, a late piece after the next exists.
    auto& c = contents.back();
    write_file(name, c.substr(0, c.size() / 2));
    append_file(name, c.substr(c.size() / 2));
  }
  INFO(report(env));
  for (int i = 0; i < files; ++i) {
    auto name = env.log("postgresql-0" + std::to_string(i) + ".log");
    CHECK(env.converges(name, contents[static_cast<size_t>(i)]));
  }
  REQUIRE(wait_until([&] { return env.stat("files_switched") == files - 1; },
                     5000ms));
  // Fragments come file after file, never interleaved.
  auto frags = env.fragments();
  std::string last;
  int changes = 0;
  for (auto& f : frags) {
    if (f.body.filename != last)
      ++changes;
    last = f.body.filename;
    CHECK(f.raw.size() <= 4096);
  }
  CHECK(changes == files);
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  CHECK(env.counter(&fake_writer::mismatches) == 0);
  CHECK(env.copies_of(env.log("unrelated.txt")).empty());
}

TEST_CASE("classic: a restart in the middle resumes from the acked position "
          "and continues through the newer files",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 2K\n"};
  env.start();
  std::vector<std::string> names{"a.log", "b.log", "c.log", "d.log"};
  std::map<std::string, std::string> content;
  content["a.log"] = numbered_lines("a", 0, 3000);
  write_file(env.log("a.log"), content["a.log"]);
  // Kill once some but not all of a.log went out.
  REQUIRE(wait_until([&] { return env.counter(&fake_writer::dispatches) >= 5; },
                     5000ms));
  env.stop();
  auto saved = cc::tail::load_position(env.save_file);
  REQUIRE(saved);
  REQUIRE(*saved);
  CHECK((*saved)->filename == env.log("a.log"));
  CHECK((*saved)->offset <= content["a.log"].size());

  // While it is down: more in a.log, two newer files.
  append_file(env.log("a.log"), numbered_lines("a", 3000, 100));
  content["a.log"] += numbered_lines("a", 3000, 100);
  for (auto n : {"b.log", "c.log"}) {
    content[n] = numbered_lines(n, 0, 500);
    write_file(env.log(n), content[n]);
  }
  env.start();
  REQUIRE(env.converges(env.log("b.log"), content["b.log"]));
  // Kill again in the middle of c.log's successor.
  content["d.log"] = numbered_lines("d", 0, 4000);
  write_file(env.log("d.log"), content["d.log"]);
  REQUIRE(wait_until([&] { return !env.copy_of(env.log("d.log")).empty(); },
                     5000ms));
  env.stop();
  env.start();
  INFO(report(env));
  for (auto n : names)
    CHECK(env.converges(env.log(n), content[n]));
  CHECK(env.counter(&fake_writer::mismatches) == 0);
  CHECK(env.counter(&fake_writer::gaps) == 0);
  CHECK(env.counter(&fake_writer::bad) == 0);
  REQUIRE(env.saved_at(env.log("d.log"), content["d.log"].size()));
}

// Found by re-running the bench in the same directory: the saved file was gone
// at the start, and the file created later under the same name was never read.
TEST_CASE("classic: a file re-created under the saved name after a restart is "
          "read from 0",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 2K\n"};
  env.start();
  auto first = numbered_lines("first", 0, 200);
  write_file(env.log("a.log"), first);
  REQUIRE(env.converges(env.log("a.log"), first));
  REQUIRE(env.saved_at(env.log("a.log"), first.size()));
  env.stop();
  REQUIRE(::unlink(env.log("a.log").c_str()) == 0);
  env.start();
  auto second = numbered_lines("second", 0, 300);
  write_file(env.log("a.log"), second);
  INFO(report(env));
  // The new file's bytes follow the old ones: in their own copy, or appended
  // to the old copy when the file system gave the new file the old inode.
  CHECK(wait_until(
    [&] {
      std::string all;
      for (auto& c : env.copies_of(env.log("a.log")))
        all += c;
      return all == first + second;
    },
    8000ms));
  CHECK(env.saved_at(env.log("a.log"), second.size()));
  CHECK(env.counter(&fake_writer::mismatches) == 0);
}

TEST_CASE("classic: a restart lagging more than lag-max-bytes skips to the end",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "lag-max-bytes = 1000\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto first = numbered_lines("a", 0, 10);
  append_file(env.log("a.log"), first);
  REQUIRE(env.converges(env.log("a.log"), first));
  REQUIRE(env.saved_at(env.log("a.log"), first.size()));
  env.stop();

  auto missed = numbered_lines("missed", 0, 40);  // 2400 bytes > 1000
  append_file(env.log("a.log"), missed);
  write_file(env.log("b.log"), numbered_lines("b", 0, 10));
  env.start();
  CHECK(env.stat("skipped_bytes") ==
        static_cast<int64_t>(missed.size() + numbered_lines("b", 0, 10).size()));
  auto after = numbered_lines("after", 0, 3);
  append_file(env.log("b.log"), after);
  INFO(report(env));
  CHECK(env.converges(env.log("b.log"), after));
  CHECK(env.copy_of(env.log("a.log")) == first);
  auto saved = cc::tail::load_position(env.save_file);
  REQUIRE(saved);
  REQUIRE(*saved);
  CHECK((*saved)->filename == env.log("b.log"));
}

TEST_CASE("classic: a restart within lag-max-bytes sends what was missed",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "lag-max-bytes = 1M\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto first = numbered_lines("a", 0, 10);
  append_file(env.log("a.log"), first);
  REQUIRE(env.converges(env.log("a.log"), first));
  REQUIRE(env.saved_at(env.log("a.log"), first.size()));
  env.stop(caf::exit_reason::user_shutdown);
  auto missed = numbered_lines("missed", 0, 40);
  append_file(env.log("a.log"), missed);
  env.start();
  INFO(report(env));
  CHECK(env.converges(env.log("a.log"), first + missed));
  CHECK(env.stat("skipped_bytes") == 0);
  CHECK(env.counter(&fake_writer::duplicates) == 0);
}

TEST_CASE("classic: the current file renamed to a later name is not read "
          "twice",
          "[tailer]") {
  tail_env env{"logmask = app.log*\n"};
  auto app = env.log("app.log");
  write_file(app, "");
  env.start();
  auto first = numbered_lines("first", 0, 20);
  append_file(app, first);
  REQUIRE(env.converges(app, first));
  // logrotate in classic mode: app.log -> app.log.1 sorts after app.log.
  REQUIRE(::rename(app.c_str(), env.log("app.log.1").c_str()) == 0);
  auto late = std::string{"late line in the renamed file\n"};
  append_file(env.log("app.log.1"), late);
  auto second = numbered_lines("second", 0, 10);
  write_file(app, second);
  INFO(report(env));
  REQUIRE(wait_until(
    [&] {
      return env.copies_of(app) == std::vector<std::string>{first + late, second};
    },
    5000ms));
  std::this_thread::sleep_for(300ms);
  CHECK(env.copies_of(env.log("app.log.1")).empty());
  CHECK(env.counter(&fake_writer::duplicates) == 0);
}

// -- rotated mode ---------------------------------------------------------------

TEST_CASE("rotated: rename-and-create is followed, old generation drained",
          "[tailer]") {
  tail_env env{"operation-mode = rotated\n"
               "logname = app.log\n"
               "buffer-bytes = 1K\n"};
  auto app = env.log("app.log");
  write_file(app, "before start\n");
  env.start();
  std::vector<std::string> expected;  // per generation
  expected.push_back("");
  for (int rotation = 0; rotation < 4; ++rotation) {
    auto lines = numbered_lines("gen" + std::to_string(rotation), 0, 100);
    append_file(app, lines);
    expected.back() += lines;
    // Rotate: rename away, late write to the old file, create the new one.
    auto rotated = env.log("app.log." + std::to_string(rotation + 1));
    REQUIRE(::rename(app.c_str(), rotated.c_str()) == 0);
    auto late = "late write to generation " + std::to_string(rotation) + "\n";
    append_file(rotated, late);
    expected.back() += late;
    auto first = "generation " + std::to_string(rotation + 1) + " begins\n";
    write_file(app, first);
    expected.push_back(first);
    INFO(report(env));
    REQUIRE(wait_until([&] { return env.copies_of(app).size() ==
                                    static_cast<size_t>(rotation + 2); },
                       5000ms));
  }
  auto tail = numbered_lines("current", 0, 20);
  append_file(app, tail);
  expected.back() += tail;
  INFO(report(env));
  REQUIRE(wait_until([&] { return env.copies_of(app) == expected; }, 8000ms));
  auto frags = env.fragments();
  for (auto& f : frags) {
    CHECK(f.body.op_mode == "rotated");
    CHECK(f.body.filename == app);
  }
  CHECK(env.stat("files_switched") == 4);
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  CHECK(env.counter(&fake_writer::gaps) == 0);
}

TEST_CASE("rotated: after a restart the rotated-away generation is found by "
          "inode and finished first",
          "[tailer]") {
  tail_env env{"operation-mode = rotated\n"
               "logname = app.log\n"
               "buffer-bytes = 1K\n"};
  auto app = env.log("app.log");
  write_file(app, "");
  env.start();
  auto part1 = numbered_lines("one", 0, 100);
  append_file(app, part1);
  REQUIRE(env.converges(app, part1));
  REQUIRE(env.saved_at(app, part1.size()));
  env.stop();

  // While down: more in generation 1, rotation, generation 2 written.
  auto part2 = numbered_lines("one-more", 0, 50);
  append_file(app, part2);
  REQUIRE(::rename(app.c_str(), env.log("app.log.1").c_str()) == 0);
  auto gen2 = numbered_lines("two", 0, 70);
  write_file(app, gen2);

  env.start();
  INFO(report(env));
  REQUIRE(wait_until(
    [&] {
      return env.copies_of(app) == std::vector<std::string>{part1 + part2, gen2};
    },
    8000ms));
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  CHECK(env.counter(&fake_writer::mismatches) == 0);
  // The generation of app.log.1 keeps its label and its gen id.
  auto frags = env.fragments();
  std::string gen1 = frags.front().body.gen;
  for (auto& f : frags)
    if (f.body.st_ino == frags.front().body.st_ino)
      CHECK(f.body.gen == gen1);
}

TEST_CASE("rotated: generations rotated away while acks were held back are "
          "all read, in order",
          "[tailer]") {
  tail_env env{"operation-mode = rotated\n"
               "logname = app.log\n"
               "ack-timeout = 60\n"};
  auto app = env.log("app.log");
  write_file(app, "");
  env.start();
  auto g0 = numbered_lines("g0", 0, 20);
  append_file(app, g0);
  REQUIRE(env.converges(app, g0));  // acked: the generation is confirmed
  env.with_writer([](fake_writer& x) { return x.send_acks = false; });
  g0 += numbered_lines("g0-more", 0, 5);
  append_file(app, numbered_lines("g0-more", 0, 5));
  // The writer is unreachable for acks: the tailer stays on generation 0
  // while three rotations happen (RotatingFileHandler naming).
  std::vector<std::string> gens{g0};
  for (int g = 1; g <= 3; ++g) {
    for (int k = g - 1; k >= 1; --k)
      REQUIRE(::rename(env.log("app.log." + std::to_string(k)).c_str(),
                       env.log("app.log." + std::to_string(k + 1)).c_str()) == 0);
    REQUIRE(::rename(app.c_str(), env.log("app.log.1").c_str()) == 0);
    gens.push_back(numbered_lines("g" + std::to_string(g), 0, 10 + g));
    write_file(app, gens.back());
    std::this_thread::sleep_for(20ms);  // distinct modification times
  }
  write_file(env.log("app.log.9.gz"), "compressed old generation");
  std::this_thread::sleep_for(300ms);
  env.release_acks();
  INFO(report(env));
  REQUIRE(wait_until([&] { return env.copies_of(app) == gens; }, 8000ms));
  CHECK(env.counter(&fake_writer::mismatches) == 0);
  CHECK(env.stat("files_switched") == 3);
}

TEST_CASE("rotated: copytruncate starts a new generation from 0", "[tailer]") {
  tail_env env{"operation-mode = rotated\n"
               "logname = app.log\n"};
  auto app = env.log("app.log");
  write_file(app, "");
  env.start();
  auto before = numbered_lines("before", 0, 50);
  append_file(app, before);
  REQUIRE(env.converges(app, before));
  // logrotate copytruncate: copy away, truncate in place, writer goes on.
  write_file(env.log("app.log.1"), read_file(app));
  REQUIRE(::truncate(app.c_str(), 0) == 0);
  auto after = numbered_lines("after", 0, 10);  // shorter than before
  append_file(app, after);
  INFO(report(env));
  REQUIRE(env.converges(app, before + after));
  CHECK(env.stat("generations") == 1);
  auto frags = env.fragments();
  CHECK(frags.front().body.gen != frags.back().body.gen);
  CHECK(frags.back().body.fpos == 0);

  // Truncated and rewritten past the old offset while the tailer is down:
  // the first bytes differ, so it is a new generation too.
  REQUIRE(env.saved_at(app, after.size()));
  env.stop();
  auto rewritten = numbered_lines("rewritten", 0, 80);
  write_file(app, rewritten);
  env.start();
  REQUIRE(env.converges(app, before + after + rewritten));
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  CHECK(env.counter(&fake_writer::mismatches) == 0);
}

// -- modes of sending --------------------------------------------------------------

TEST_CASE("binary fragments hold exact bytes at any boundary", "[tailer]") {
  tail_env env{"logmask = *.bin\n"
               "file-mode = binary\n"
               "buffer-bytes = 1000\n"
               "idle-flush = 30\n"};
  write_file(env.log("x.bin"), "");
  env.start();
  auto data = random_bytes(25000, 7);
  for (char& c : data)
    if (c == '\n')
      c = 'N';  // no line end at all: text mode would wait for idle-flush
  append_file(env.log("x.bin"), data.substr(0, 12345));
  append_file(env.log("x.bin"), data.substr(12345));
  INFO(report(env));
  REQUIRE(env.converges(env.log("x.bin"), data));
  for (auto& f : env.fragments())
    CHECK(f.raw.size() <= 1000);
  CHECK(env.counter(&fake_writer::duplicates) == 0);
}

TEST_CASE("buffer-lines caps the lines of a fragment", "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "buffer-lines = 7\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto text = numbered_lines("l", 0, 100);
  append_file(env.log("a.log"), text);
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), text));
  for (auto& f : env.fragments()) {
    auto lines = std::count(f.raw.begin(), f.raw.end(), '\n');
    CHECK(lines >= 1);
    CHECK(lines <= 7);
    CHECK(f.raw.back() == '\n');
  }
}

TEST_CASE("gzip, bzip2 and zstd fragments round-trip", "[tailer]") {
  for (std::string comp : {"gzip", "bzip2", "zstd"}) {
    DYNAMIC_SECTION(comp) {
      tail_env env{"logmask = *.log\n"
                   "compression = " + comp + "\n"
                   "compression-level = 5\n"
                   "buffer-bytes = 1K\n"};  // raised to 64 KiB by compression
      CHECK(env.opts.fragment_bytes == 64 * 1024);
      write_file(env.log("a.log"), "");
      env.start();
      auto text = numbered_lines(comp, 0, 5000);  // ~300 KB
      append_file(env.log("a.log"), text);
      INFO(report(env));
      REQUIRE(env.converges(env.log("a.log"), text));
      auto frags = env.fragments();
      REQUIRE(frags.size() >= 5);
      for (auto& f : frags) {
        CHECK(f.body.comp == comp);
        CHECK(f.raw.size() <= 64 * 1024);
        if (f.raw.size() >= 4096)
          CHECK(f.wire_payload.size() < f.raw.size());
        if (comp == "gzip")
          CHECK(f.wire_payload.substr(0, 2) == "\x1f\x8b");
        else if (comp == "zstd")
          CHECK(f.wire_payload.substr(0, 4) == "\x28\xb5\x2f\xfd");
        else
          CHECK(f.wire_payload.substr(0, 3) == "BZh");
      }
      CHECK(env.counter(&fake_writer::bad) == 0);
    }
  }
}

TEST_CASE("compression = zstd sends gzip until every peer announces zstd, "
          "and again when one stops", "[tailer][zstd]") {
  tail_env env{"logmask = *.log\n"
               "compression = zstd\n"
               "compression-level = 1\n"};
  auto registry = std::make_shared<cc::ack_registry>();
  registry->add_writer("h:tailwriter");
  registry->set_forwarder("h:fwd", cc::peer_acks::unknown);
  env.opts.zstd_peers = std::make_shared<cc::zstd_view>(
    registry, std::vector<std::string>{"h:tailwriter", "h:fwd"}, "d:tail",
    "pub.logtail");
  write_file(env.log("a.log"), "");
  env.start();
  std::string text;
  size_t seen = 0;
  // Appends a batch and waits for it; the comp of the fragments it made.
  auto batch = [&](const std::string& tag) {
    auto more = numbered_lines(tag, 0, 500);
    text += more;
    append_file(env.log("a.log"), more);
    REQUIRE(env.converges(env.log("a.log"), text));
    std::set<std::string> comps;
    auto frags = env.fragments();
    for (size_t i = seen; i < frags.size(); ++i)
      comps.insert(frags[i].body.comp);
    seen = frags.size();
    return comps;
  };
  INFO(report(env));
  // Not heard from the remote yet: gzip, which every peer takes.
  CHECK(batch("unknown") == std::set<std::string>{"gzip"});
  registry->set_forwarder_zstd("h:fwd", cc::peer_acks::yes);
  CHECK(batch("ours") == std::set<std::string>{"zstd"});
  // An original CC (its echo answer has no zstd) behind the forwarder.
  registry->set_forwarder_zstd("h:fwd", cc::peer_acks::no);
  CHECK(batch("original") == std::set<std::string>{"gzip"});
  CHECK(env.counter(&fake_writer::bad) == 0);
}

TEST_CASE("use-blob = no sends base64 in data", "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "use-blob = no\n"
               "buffer-bytes = 500\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto text = numbered_lines("b64", 0, 60);
  append_file(env.log("a.log"), text);
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), text));
  for (auto& f : env.fragments()) {
    CHECK_FALSE(f.had_blob);
    CHECK(!f.body.data.empty());
    CHECK(f.body.data.back() == '\n');  // encodestring layout
  }
}

// -- acknowledged delivery ------------------------------------------------------------

TEST_CASE("a held-back sender reads at most one fragment ahead", "[tailer]") {
  // The writer never answers: the generation's first fragment stays
  // unconfirmed, nothing more is sent, and the file, not memory, holds the
  // rest (the window of 32 MB is far from full).
  tail_env env{"logmask = *.log\n"
               "ack-timeout = 60\n"};
  env.with_writer([](fake_writer& x) { return x.send_acks = false; });
  write_file(env.log("a.log"), "");
  env.start();
  auto text = numbered_lines("held", 0, 60000);  // about 4 MB
  REQUIRE(text.size() > (3u << 20));
  append_file(env.log("a.log"), text);
  REQUIRE(wait_until([&] { return env.stat("bytes_sent") > 0; }, 5000ms));
  std::this_thread::sleep_for(300ms);  // let it read what it would
  auto s = env.stats();
  INFO(report(env));
  CHECK(s["fragments_sent"] == 1);
  CHECK(s["bytes_read"] - s["bytes_sent"] <= int64_t{1} << 20);
  CHECK(s["bytes_read"] < static_cast<int64_t>(text.size()));
}

TEST_CASE("a full window stops reading, acks resume it", "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 16K\n"
               "ack-window = 64K\n"
               "ack-timeout = 60\n"};
  write_file(env.log("a.log"), "");
  env.start();
  // The writer confirms the generation, then stops acking.
  auto first = numbered_lines("first", 0, 10);
  append_file(env.log("a.log"), first);
  REQUIRE(env.saved_at(env.log("a.log"), first.size()));
  env.with_writer([](fake_writer& x) { return x.send_acks = false; });
  auto base = env.stats();

  auto text = numbered_lines("w", 0, 20000);  // 1.2 MB
  append_file(env.log("a.log"), text);
  REQUIRE(wait_until(
    [&] { return env.stat("bytes_sent") - base["bytes_sent"] >= 48 * 1024; },
    5000ms));
  std::this_thread::sleep_for(300ms);  // let it run against the window
  auto s = env.stats();
  INFO(report(env));
  CHECK(s["bytes_read"] - base["bytes_read"] <= 64 * 1024);
  CHECK(s["bytes_sent"] - base["bytes_sent"] <= 64 * 1024);
  CHECK(s["lag_bytes{" + env.log("a.log") + "}"] ==
        static_cast<int64_t>(text.size()));
  // Nothing more acked: the position has not moved.
  auto saved = cc::tail::load_position(env.save_file);
  REQUIRE(saved);
  REQUIRE(*saved);
  CHECK((*saved)->offset == first.size());

  env.release_acks();
  REQUIRE(env.converges(env.log("a.log"), first + text));
  REQUIRE(env.saved_at(env.log("a.log"), first.size() + text.size()));
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  CHECK(env.stat("resends") == 0);
}

TEST_CASE("file ranges fill ack-window-ranges while the data connection is up, "
          "ack-window while it is down",
          "[tailer]") {
  // Fragments of 64 KiB go as file ranges (sendfile = yes, the default).
  // While the forwarder's data connection is up the unacknowledged bytes
  // may reach ack-window-ranges (1M here), not ack-window (128K): a slow
  // sync of the central does not stop the stream. Without it (ZeroMQ, whose
  // queue would hold the bytes) ack-window holds.
  for (bool data_up : {true, false}) {
    INFO("data connection up: " << data_up);
    tail_env env{"logmask = *.log\n"
                 "buffer-bytes = 64K\n"
                 "ack-window = 128K\n"
                 "ack-window-ranges = 1M\n"
                 "ack-timeout = 60\n"};
    auto registry = std::make_shared<cc::ack_registry>();
    auto cell = std::make_shared<std::atomic<bool>>(data_up);
    registry->set_forwarder_data("h:forward", cell);
    env.opts.data_lanes = std::make_shared<cc::data_view>(
      registry, std::vector<std::string>{"h:forward"}, "test", "pub.logtail");
    write_file(env.log("a.log"), "");
    env.start();
    auto first = numbered_lines("first", 0, 10);
    append_file(env.log("a.log"), first);
    REQUIRE(env.saved_at(env.log("a.log"), first.size()));
    env.with_writer([](fake_writer& x) { return x.send_acks = false; });
    auto base = env.stats();

    auto text = numbered_lines("r", 0, 40000);  // about 2.4 MB
    REQUIRE(text.size() > (2u << 20));
    append_file(env.log("a.log"), text);
    int64_t want = data_up ? 768 * 1024 : 96 * 1024;
    REQUIRE(wait_until(
      [&] { return env.stat("bytes_sent") - base["bytes_sent"] >= want; }, 5000ms));
    std::this_thread::sleep_for(300ms);  // let it run against the window
    auto s = env.stats();
    INFO(report(env));
    int64_t window = data_up ? 1 << 20 : 128 * 1024;
    CHECK(s["bytes_sent"] - base["bytes_sent"] <= window);
    CHECK(s["bytes_read"] - base["bytes_read"] <= window);
    CHECK(s["lag_bytes{" + env.log("a.log") + "}"] == static_cast<int64_t>(text.size()));

    // The connection goes: with more than ack-window in flight, nothing
    // more is read (until acks bring it below ack-window).
    auto more = numbered_lines("m", 0, 2000);
    if (data_up) {
      *cell = false;
      append_file(env.log("a.log"), more);
      std::this_thread::sleep_for(300ms);
      CHECK(env.stat("bytes_read") == s["bytes_read"]);
      CHECK(env.stat("bytes_sent") == s["bytes_sent"]);
    }

    env.release_acks();
    auto all = first + text + (data_up ? more : std::string{});
    REQUIRE(env.converges(env.log("a.log"), all));
    REQUIRE(env.saved_at(env.log("a.log"), all.size()));
    CHECK(env.counter(&fake_writer::duplicates) == 0);
    CHECK(env.stat("resends") == 0);
  }
}

TEST_CASE("a generation's first fragment goes alone until acked", "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 1K\n"
               "ack-timeout = 60\n"};
  write_file(env.log("a.log"), "");
  env.w->send_acks = false;
  env.start();
  auto text = numbered_lines("one", 0, 100);
  append_file(env.log("a.log"), text);
  REQUIRE(wait_until([&] { return env.stat("fragments_sent") >= 1; }, 5000ms));
  std::this_thread::sleep_for(200ms);
  CHECK(env.stat("fragments_sent") == 1);
  env.release_acks();
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), text));
  CHECK(env.stat("fragments_sent") > 1);
}

TEST_CASE("no ack within ack-timeout asks the writer and resends only what it "
          "lacks",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 1K\n"
               "ack-timeout = 0.3\n"};
  write_file(env.log("a.log"), "");
  env.w->send_acks = false;
  env.start();
  auto text = numbered_lines("t", 0, 100);
  append_file(env.log("a.log"), text);
  INFO(report(env));
  REQUIRE(wait_until([&] { return env.stat("resends") >= 2; }, 5000ms));
  // Each timeout asked what the writer holds (it holds what it was sent,
  // acked or not), so nothing it holds went twice.
  CHECK(env.stat("questions") >= 3);
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  // Each timeout without progress doubles the next one (300, 600, 1200 ms...).
  auto backed_off = env.stat("ack_timeout_ms");
  CHECK(backed_off >= 1200);
  CHECK(backed_off <= 8 * 300);
  env.release_acks();
  REQUIRE(env.converges(env.log("a.log"), text));
  REQUIRE(env.saved_at(env.log("a.log"), text.size()));
  CHECK(wait_until([&] { return env.stat("ack_timeout_ms") == 300; }, 5000ms));
  CHECK(env.counter(&fake_writer::mismatches) == 0);
}

TEST_CASE("a gap reported by the writer rewinds and resends at once",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 1K\n"
               "ack-timeout = 60\n"};
  write_file(env.log("a.log"), "");
  env.w->lose_dispatch_no = 3;  // accepted by the router, lost on the way
  env.start();
  auto text = numbered_lines("g", 0, 200);
  append_file(env.log("a.log"), text);
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), text));
  CHECK(env.counter(&fake_writer::gaps) >= 1);
  CHECK(env.stat("gaps_reported") >= 1);
  CHECK(env.stat("resends") == 0);  // no timeout was needed
  CHECK(env.counter(&fake_writer::mismatches) == 0);
}

TEST_CASE("a refused fragment is retried after a pause", "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 1K\n"};
  write_file(env.log("a.log"), "");
  env.w->refuse_dispatch = 3;
  env.start();
  auto text = numbered_lines("r", 0, 100);
  append_file(env.log("a.log"), text);
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), text));
  CHECK(env.stat("send_errors") == 3);
  CHECK(env.counter(&fake_writer::mismatches) == 0);
}

TEST_CASE("status refused counts as acknowledged", "[tailer]") {
  tail_env env{"logmask = *.log\n"};
  write_file(env.log("a.log"), "");
  env.w->refuse_acks = true;
  env.start();
  auto text = numbered_lines("x", 0, 10);
  append_file(env.log("a.log"), text);
  INFO(report(env));
  REQUIRE(env.saved_at(env.log("a.log"), text.size()));
  CHECK(env.stat("refused") >= 1);
}

TEST_CASE("ack = no: fire and forget, position saved after the router's ok",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "ack = no\n"
               "buffer-bytes = 1K\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto text = numbered_lines("n", 0, 100);
  append_file(env.log("a.log"), text);
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), text));
  REQUIRE(env.saved_at(env.log("a.log"), text.size()));
  CHECK(env.counter(&fake_writer::acks_sent) == 0);
  for (auto& f : env.fragments())
    CHECK_FALSE(f.body.ack);
}

TEST_CASE("ack = auto: waits, asking and sending nothing, while the route is "
          "unknown, then goes on as ack = no towards a writer that never acks",
          "[tailer][acks]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 1K\n"
               "ack-timeout = 0.2\n"};
  auto registry = std::make_shared<cc::ack_registry>();
  registry->set_forwarder("h:fwd", cc::peer_acks::unknown);
  env.opts.auto_acks = std::make_shared<cc::ack_view>(
    registry, std::vector<std::string>{"h:fwd"}, "d:tail", "pub.logtail");
  write_file(env.log("a.log"), "");
  env.w->send_acks = false; // an original writer: applies, never answers
  env.start();
  auto text = numbered_lines("u", 0, 100);
  append_file(env.log("a.log"), text);
  // Several ack-timeouts pass: no question (an original writer would take it
  // for a fragment) and no fragment while nobody knows who listens.
  std::this_thread::sleep_for(1000ms);
  CHECK(env.stat("fragments_sent") == 0);
  CHECK(env.stat("questions") == 0);
  registry->set_forwarder("h:fwd", cc::peer_acks::no);
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), text));
  REQUIRE(env.saved_at(env.log("a.log"), text.size()));
  CHECK(env.stat("resends") == 0);
  CHECK(env.stat("questions") == 0);
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  // `ack` stays true in the fragments: our writer behind a relay still acks.
  for (auto& f : env.fragments())
    CHECK(f.body.ack);
}

TEST_CASE("ack = auto towards a writer that acknowledges is ack = yes",
          "[tailer][acks]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 1K\n"
               "ack-timeout = 0.5\n"};
  auto registry = std::make_shared<cc::ack_registry>();
  registry->set_forwarder("h:fwd", cc::peer_acks::yes);
  env.opts.auto_acks = std::make_shared<cc::ack_view>(
    registry, std::vector<std::string>{"h:fwd"}, "d:tail", "pub.logtail");
  write_file(env.log("a.log"), "");
  env.w->lose_dispatch_no = 2; // lost on the way: only a resend brings it
  env.start();
  auto text = numbered_lines("y", 0, 100);
  append_file(env.log("a.log"), text);
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), text));
  REQUIRE(env.saved_at(env.log("a.log"), text.size()));
  CHECK(env.stat("gaps_reported") + env.stat("resends") >= 1); // acks at work
}

TEST_CASE("polling finds new data without inotify", "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "inotify = no\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto text = numbered_lines("p", 0, 30);
  append_file(env.log("a.log"), text);
  write_file(env.log("b.log"), "next file\n");
  INFO(report(env));
  CHECK(env.converges(env.log("a.log"), text));
  CHECK(env.converges(env.log("b.log"), "next file\n"));
}

TEST_CASE("an original-format .save file is resumed", "[tailer]") {
  tail_env env{"logmask = *.log\n"};
  auto text = numbered_lines("o", 0, 20);
  write_file(env.log("a.log"), text);
  ::mkdir((env.dir / "run").c_str(), 0755);
  write_file(env.save_file, "600\t" + env.log("a.log"));
  env.start();
  INFO(report(env));
  CHECK(env.converges(env.log("a.log"), text.substr(600)));
  auto saved = cc::tail::load_position(env.save_file);
  REQUIRE(saved);
  REQUIRE(*saved);
  CHECK((*saved)->has_identity);
}

// -- the .save file ---------------------------------------------------------------

TEST_CASE("a stopped tailer's .save file holds its last acknowledged position at once",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 1K\n"};
  // As another tailer of the process would: the saver outlives this tailer,
  // so only the tailer's own wait makes its last position durable in time.
  auto other_tailer = cc::tail::position_saver::shared();
  write_file(env.log("a.log"), "");
  env.start();
  std::string text;
  // Many small acks: the last ones fall within save_interval of a save.
  for (int i = 0; i < 20; ++i) {
    auto more = numbered_lines("s", i * 10, 10);
    append_file(env.log("a.log"), more);
    text += more;
  }
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), text));
  REQUIRE(wait_until(
    [&] { return env.stat("acked_bytes") == static_cast<int64_t>(text.size()); },
    5000ms));
  env.stop(caf::exit_reason::user_shutdown);
  // No waiting: the tailer's end waited for its last save.
  auto saved = cc::tail::load_position(env.save_file);
  REQUIRE(saved);
  REQUIRE(*saved);
  CHECK((*saved)->filename == env.log("a.log"));
  CHECK((*saved)->offset == text.size());
}

TEST_CASE("a .save file that cannot be written is logged once, delivery goes on, "
          "and the recovery is logged",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"};
  std::string log_path = env.dir / "server.log";
  std::string err;
  REQUIRE(cc::log::open(log_path, err));
  struct restore_log {
    ~restore_log() {
      std::string e;
      cc::log::open("", e);
    }
  } restore;
  // A regular file where the .save file's directory should be: ENOTDIR, also
  // for root (a read-only directory would not stop root).
  write_file(env.dir / "run", "not a directory");
  write_file(env.log("a.log"), "");
  env.start();
  auto first = numbered_lines("f", 0, 200);
  append_file(env.log("a.log"), first);
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), first));
  REQUIRE(wait_until(
    [&] { return env.stat("acked_bytes") == static_cast<int64_t>(first.size()); },
    5000ms));
  // The progress saves after the acks failed as well, on the saver's thread.
  REQUIRE(wait_until(
    [&] {
      return cc::test::count_of(read_file(log_path), "cannot save the position") >= 1;
    },
    5000ms));

  REQUIRE(::unlink((env.dir / "run").c_str()) == 0);
  auto second = numbered_lines("g", 0, 50);
  append_file(env.log("a.log"), second);
  REQUIRE(env.converges(env.log("a.log"), first + second));
  REQUIRE(env.saved_at(env.log("a.log"), first.size() + second.size()));
  REQUIRE(wait_until(
    [&] {
      return cc::test::count_of(read_file(log_path), "position saved again to " +
                                                       env.save_file) == 1;
    },
    5000ms));
  auto text = read_file(log_path);
  INFO(text);
  CHECK(cc::test::count_of(text, "d:tail: cannot save the position") == 1);
  CHECK(cc::test::count_of(text, "d:tail: position saved again to " + env.save_file) ==
        1);
}

TEST_CASE("a new file or generation is in the .save file before its first fragment",
          "[tailer]") {
  tail_env env{"logmask = *.log\n"};
  env.w->save_file = env.save_file;
  env.start();
  std::string a = numbered_lines("a", 0, 300);
  std::string b = numbered_lines("b", 0, 300);
  write_file(env.log("a.log"), a);
  REQUIRE(env.converges(env.log("a.log"), a));
  write_file(env.log("b.log"), b);
  REQUIRE(env.converges(env.log("b.log"), b));
  // copytruncate: b.log starts again under the same inode, a new generation.
  std::string b2 = numbered_lines("B", 0, 20);
  write_file(env.log("b.log"), b2);
  REQUIRE(wait_until([&] { return env.stat("generations") == 1; }, 5000ms));
  REQUIRE(wait_until(
    [&] { return env.with_writer([](fake_writer& x) { return x.firsts.size(); }) == 3; },
    5000ms));
  auto firsts = env.with_writer([](fake_writer& x) { return x.firsts; });
  INFO(report(env));
  REQUIRE(firsts.size() == 3);
  for (auto& f : firsts) {
    INFO("gen " << f.gen << " first fpos " << f.fpos);
    CHECK(f.saved_gen == f.gen);
    CHECK(f.saved_offset == f.fpos);
  }
}

// -- reconcile: damaged state (docs/wire.md §6.1, docs/guarantees.md) ----------

TEST_CASE("reconcile: a lost or corrupt .save costs a question, not data",
          "[tailer][reconcile]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 4K\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto first = numbered_lines("first", 0, 2000);
  append_file(env.log("a.log"), first);
  REQUIRE(env.converges(env.log("a.log"), first));
  REQUIRE(env.saved_at(env.log("a.log"), first.size()));
  env.stop();
  // Written while the tailer is down: before the fix, all of it was lost
  // and the copy spliced (tail -f at the new end).
  auto more = numbered_lines("while-down", 0, 3000);
  append_file(env.log("a.log"), more);
  std::string damage;
  SECTION("deleted") {
    ::unlink(env.save_file.c_str());
  }
  SECTION("empty") {
    write_file(env.save_file, "");
  }
  SECTION("garbage") {
    write_file(env.save_file, "\x01\x02 not a position \xff\n");
  }
  SECTION("half a JSON object") {
    auto text = read_file(env.save_file);
    write_file(env.save_file, text.substr(0, text.size() / 2));
  }
  SECTION("wrong types") {
    write_file(env.save_file, R"({"filename": 12, "offset": "x", "gen": []})");
  }
  env.start();
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), first + more));
  CHECK(env.counter(&fake_writer::gaps) == 0);
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  CHECK(env.counter(&fake_writer::mismatches) == 0);
  REQUIRE(env.saved_at(env.log("a.log"), first.size() + more.size()));
  // One copy: the generation the writer held went on.
  CHECK(env.copies_of(env.log("a.log")).size() == 1);
  auto frags = env.fragments();
  CHECK(frags.front().body.gen == frags.back().body.gen);
}

TEST_CASE("reconcile: without a .save the newest file the central holds resumes, "
          "newer ones follow whole, older ones are not sent again",
          "[tailer][reconcile]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 4K\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto a = numbered_lines("a", 0, 500);
  append_file(env.log("a.log"), a);
  REQUIRE(env.converges(env.log("a.log"), a));
  auto b = numbered_lines("b", 0, 800);
  write_file(env.log("b.log"), b);
  REQUIRE(env.converges(env.log("b.log"), b));
  REQUIRE(env.saved_at(env.log("b.log"), b.size()));
  env.stop();
  ::unlink(env.save_file.c_str());
  auto b_more = numbered_lines("b-more", 0, 300);
  append_file(env.log("b.log"), b_more);
  auto c = numbered_lines("c", 0, 400);
  write_file(env.log("c.log"), c);
  env.start();
  INFO(report(env));
  REQUIRE(env.converges(env.log("c.log"), c));
  REQUIRE(env.converges(env.log("b.log"), b + b_more));
  CHECK(env.copy_of(env.log("a.log")) == a);
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  CHECK(env.counter(&fake_writer::gaps) == 0);
}

TEST_CASE("reconcile: a restarted writer whose copy lost its tail gets it again",
          "[tailer][reconcile]") {
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 4K\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto first = numbered_lines("first", 0, 1000);
  append_file(env.log("a.log"), first);
  REQUIRE(env.converges(env.log("a.log"), first));
  REQUIRE(env.saved_at(env.log("a.log"), first.size()));
  // The central restarted, its copy 1000 bytes shorter (truncate -s -1000).
  env.with_writer([&](fake_writer& x) {
    auto& c = x.copies.begin()->second;
    c.bytes.resize(c.bytes.size() - 1000);
    c.src_end -= 1000;
    x.writer_id = "2222222222222222";
    return 0;
  });
  auto more = numbered_lines("more", 0, 100);
  append_file(env.log("a.log"), more);
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), first + more));
  CHECK(env.counter(&fake_writer::mismatches) == 0);
  CHECK(env.stat("writer_restarts") >= 1);
  CHECK(env.stat("resumed_below_acked") >= 1);
}

TEST_CASE("reconcile: an idle source's heartbeat finds junk appended to the copy and "
          "cuts it back",
          "[tailer][reconcile]") {
  tail_env env{"logmask = *.log\n"
               "ack-timeout = 0.3\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto text = numbered_lines("t", 0, 300);
  append_file(env.log("a.log"), text);
  REQUIRE(env.converges(env.log("a.log"), text));
  REQUIRE(env.saved_at(env.log("a.log"), text.size()));
  // Junk lands in the copy while the central is down; nothing new is
  // written to the source, so only the heartbeat can notice.
  env.with_writer([&](fake_writer& x) {
    auto& c = x.copies.begin()->second;
    c.bytes += "0123456789";
    c.src_end += 10;
    return 0;
  });
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), text));
  CHECK(env.stat("copies_cut_back") == 1);
  CHECK(env.counter(&fake_writer::repairs) == 1);
  // And it stays so: later lines follow the source.
  auto more = numbered_lines("more", 0, 20);
  append_file(env.log("a.log"), more);
  REQUIRE(env.converges(env.log("a.log"), text + more));
}

TEST_CASE("reconcile: copytruncate while the writer does not ack: the rest of the old "
          "generation comes from logrotate's copy",
          "[tailer][reconcile]") {
  bool compressed = GENERATE(false, true);
  tail_env env{"operation-mode = rotated\n"
               "logname = app.log\n"
               "buffer-bytes = 4K\n"};
  auto app = env.log("app.log");
  write_file(app, "");
  env.start();
  auto before = numbered_lines("before", 0, 200);
  append_file(app, before);
  REQUIRE(env.converges(app, before));
  REQUIRE(env.saved_at(app, before.size()));
  // The central goes away: fragments are not acknowledged (nor kept).
  env.with_writer([](fake_writer& x) {
    x.send_acks = false;
    x.answer_questions = false;
    x.lose_dispatch_no = -1;
    return 0;
  });
  int lost_from = env.counter(&fake_writer::dispatches);
  env.with_writer([&](fake_writer& x) {
    x.lose_dispatch_no = lost_from + 1;
    return 0;
  });
  auto unacked = numbered_lines("unacked", 0, 2000);
  append_file(app, unacked);
  REQUIRE(wait_until([&] { return env.stat("bytes_read") >= static_cast<int64_t>(before.size() + 4096); },
                     5000ms));
  // logrotate copytruncate (+ compress): copy, truncate, go on writing.
  auto rotated = read_file(app);
  if (compressed) {
    auto packed = cc::wire::compress(rotated, cc::wire::compression::gzip, 6);
    REQUIRE(packed);
    write_file(env.log("app.log.1.gz"), *packed);
  } else {
    write_file(env.log("app.log.1"), rotated);
  }
  REQUIRE(::truncate(app.c_str(), 0) == 0);
  auto after = numbered_lines("after", 0, 50);
  append_file(app, after);
  REQUIRE(wait_until([&] { return env.stat("moved_generation_reads") == 1; }, 5000ms));
  // The central is back.
  env.with_writer([](fake_writer& x) {
    x.answer_questions = true;
    return 0;
  });
  env.release_acks();
  INFO(report(env));
  REQUIRE(env.converges(app, rotated + after, 15000ms));
  CHECK(env.stat("lost_bytes") == 0);
  CHECK(env.counter(&fake_writer::mismatches) == 0);
}

TEST_CASE("reconcile: a saved file that cannot be opened at restart is waited for, "
          "nothing else is read meanwhile",
          "[tailer][reconcile]") {
  tail_env env{"logmask = *.log\n"};
  auto a = numbered_lines("a", 0, 100);
  write_file(env.log("a.log"), a);
  write_file(env.log("b.log"), "");
  env.start();
  auto b = numbered_lines("b", 0, 100);
  append_file(env.log("b.log"), b);
  REQUIRE(env.converges(env.log("b.log"), b));
  REQUIRE(env.saved_at(env.log("b.log"), b.size()));
  env.stop();
  auto more = numbered_lines("b-more", 0, 50);
  append_file(env.log("b.log"), more);
  // b.log cannot be opened (root reads mode 000 files: a symlink loop
  // stands in for the permission), then it can again.
  auto hidden = env.log("b.hidden");
  REQUIRE(::rename(env.log("b.log").c_str(), hidden.c_str()) == 0);
  REQUIRE(::symlink(env.log("b.log").c_str(), env.log("b.log").c_str()) == 0);
  auto before = env.counter(&fake_writer::dispatches);
  env.start();
  std::this_thread::sleep_for(300ms);
  // Nothing is read while b.log cannot be (before, the tailer went back to
  // a.log and read it from 0).
  CHECK(env.counter(&fake_writer::dispatches) == before);
  REQUIRE(::unlink(env.log("b.log").c_str()) == 0);
  REQUIRE(::rename(hidden.c_str(), env.log("b.log").c_str()) == 0);
  INFO(report(env));
  REQUIRE(env.converges(env.log("b.log"), b + more));
  CHECK(env.copy_of(env.log("a.log")).empty());
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  CHECK(env.counter(&fake_writer::gaps) == 0);
}

TEST_CASE("reconcile: a saved file moved away and back across a restart is resumed, "
          "not sent again",
          "[tailer][reconcile]") {
  tail_env env{"logmask = *.log\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto a = numbered_lines("a", 0, 300);
  append_file(env.log("a.log"), a);
  REQUIRE(env.converges(env.log("a.log"), a));
  REQUIRE(env.saved_at(env.log("a.log"), a.size()));
  env.stop();
  auto away = env.dir / "a.away";
  auto more = numbered_lines("a-more", 0, 30);
  append_file(env.log("a.log"), more);
  REQUIRE(::rename(env.log("a.log").c_str(), away.c_str()) == 0);
  // A newer file appears meanwhile: the saved one is still waited for a
  // while (it sorts first: going on would leave its rest behind).
  bool newer = GENERATE(false, true);
  auto b = numbered_lines("b", 0, 20);
  if (newer)
    write_file(env.log("b.log"), b);
  env.start();
  std::this_thread::sleep_for(300ms);
  CHECK(env.copy_of(env.log("b.log")).empty());
  REQUIRE(::rename(away.c_str(), env.log("a.log").c_str()) == 0);
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), a + more));
  if (newer)
    REQUIRE(env.converges(env.log("b.log"), b));
  CHECK(env.counter(&fake_writer::duplicates) == 0);
  CHECK(env.copies_of(env.log("a.log")).size() == 1);
}

TEST_CASE("reconcile: the background verify finds a byte flipped in the copy and "
          "repairs it",
          "[tailer][reconcile]") {
  tail_env env{"logmask = *.log\n"
               "verify-period = 0.3\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto text = numbered_lines("t", 0, 3000);
  append_file(env.log("a.log"), text);
  REQUIRE(env.converges(env.log("a.log"), text));
  REQUIRE(env.saved_at(env.log("a.log"), text.size()));
  env.with_writer([&](fake_writer& x) {
    x.copies.begin()->second.bytes[100000] ^= 0x01;
    return 0;
  });
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), text));
  CHECK(env.stat("verify_mismatch_bytes") == 1);
  CHECK(env.stat("repaired_bytes") == 1);
  CHECK(env.counter(&fake_writer::repairs) == 1);
}

TEST_CASE("reconcile: after a writer restart, a finished file's damaged copy is mended "
          "too",
          "[tailer][reconcile]") {
  bool junk = GENERATE(false, true);
  tail_env env{"logmask = *.log\n"
               "buffer-bytes = 4K\n"};
  write_file(env.log("a.log"), "");
  env.start();
  auto a = numbered_lines("a", 0, 800);
  append_file(env.log("a.log"), a);
  REQUIRE(env.converges(env.log("a.log"), a));
  auto b = numbered_lines("b", 0, 100);
  write_file(env.log("b.log"), b);
  REQUIRE(env.converges(env.log("b.log"), b));
  REQUIRE(env.saved_at(env.log("b.log"), b.size()));
  // The central was down; a.log's copy was touched meanwhile.
  env.with_writer([&](fake_writer& x) {
    for (auto& [k, c] : x.copies)
      if (k.filename == env.log("a.log")) {
        if (junk) {
          c.bytes += "JUNKJUNK";
          c.src_end += 8;
        } else {
          c.bytes.resize(c.bytes.size() - 700);
          c.src_end -= 700;
        }
      }
    x.writer_id = "3333333333333333";
    return 0;
  });
  auto more = numbered_lines("b-more", 0, 10);
  append_file(env.log("b.log"), more);
  INFO(report(env));
  REQUIRE(env.converges(env.log("b.log"), b + more));
  CHECK(wait_until([&] { return env.copies_of(env.log("a.log")).back() == a; }, 8000ms));
}

// -- fragments left in the file (file ranges, sendfile: docs/wire.md §6.8) --------

namespace {

/// Hands the deferred dispatches to the writer stand-in, in order, as a
/// forwarder's queue would (their file ranges are read now), and its
/// replies to the tailer.
void release_deferred(tail_env& env) {
  std::vector<cc::wire::cc_message> replies;
  caf::actor to;
  env.with_writer([&](fake_writer& x) {
    x.defer = false;
    for (auto& m : x.deferred)
      if (auto r = x.handle(m)) {
        replies.push_back(std::move(*r));
        ++x.acks_sent;
      }
    x.deferred.clear();
    to = x.endpoint;
    return 0;
  });
  for (auto& r : replies)
    caf::anon_send(to, cc::reply_atom::value, std::move(r));
}

} // namespace

TEST_CASE("ranges: a bulk append goes as file ranges, cut at line ends (text) or "
          "anywhere (binary), into an identical copy",
          "[tailer][ranges]") {
  bool binary = GENERATE(false, true);
  tail_env env{std::string{"logmask = *.log\nbuffer-bytes = 256K\n"}
               + (binary ? "file-mode = binary\n" : "")};
  write_file(env.log("a.log"), "");
  env.start();
  auto bulk = binary ? random_bytes(3 << 20, 7) : numbered_lines("bulk", 0, 50000, 70);
  append_file(env.log("a.log"), bulk);
  INFO(report(env));
  REQUIRE(env.converges(env.log("a.log"), bulk, 15000ms));
  int ranges = 0;
  for (auto& f : env.fragments()) {
    CHECK(f.raw.size() <= (256u << 10));
    if (!f.had_range)
      continue;
    ++ranges;
    CHECK(f.raw.size() >= (64u << 10));
    if (!binary)
      CHECK(f.raw.back() == '\n');
  }
  CHECK(ranges >= 8);
  CHECK(env.stat("bytes_read") == static_cast<int64_t>(bulk.size()));
  CHECK(env.counter(&fake_writer::bad) == 0);
  CHECK(env.counter(&fake_writer::mismatches) == 0);
  // A trickle afterwards: small fragments, bytes in memory again.
  auto trickle = numbered_lines("trickle", 0, 3);
  append_file(env.log("a.log"), trickle);
  REQUIRE(env.converges(env.log("a.log"), bulk + trickle));
  CHECK_FALSE(env.fragments().back().had_range);
}

TEST_CASE("ranges: fragments that need their bytes are read, never left in the file "
          "(compression, base64, a line count), nor with sendfile = no",
          "[tailer][ranges]") {
  auto extra = GENERATE(std::string{"compression = gzip\n"}, std::string{"use-blob = no\n"},
                        std::string{"buffer-lines = 3000\nbuffer-bytes = 0\n"},
                        std::string{"sendfile = no\n"});
  tail_env env{"logmask = *.log\n" + extra};
  write_file(env.log("a.log"), "");
  env.start();
  auto bulk = numbered_lines("bulk", 0, 30000, 70);
  append_file(env.log("a.log"), bulk);
  INFO(extra << report(env));
  REQUIRE(env.converges(env.log("a.log"), bulk, 15000ms));
  for (auto& f : env.fragments())
    CHECK_FALSE(f.had_range);
  CHECK(env.counter(&fake_writer::bad) == 0);
}

TEST_CASE("ranges: fragments still queued when copytruncate shrinks the file are "
          "lost, not sent short, and come again from logrotate's copy",
          "[tailer][ranges][reconcile]") {
  tail_env env{"operation-mode = rotated\nlogname = app.log\n"
               "buffer-bytes = 128K\nack-timeout = 1\n"};
  auto app = env.log("app.log");
  write_file(app, "");
  env.start();
  auto before = numbered_lines("before", 0, 100);
  append_file(app, before);
  REQUIRE(env.converges(app, before));
  // The forwarder's queue holds what the tailer sends now, unread.
  env.with_writer([](fake_writer& x) {
    x.defer = true;
    return 0;
  });
  auto bulk = numbered_lines("bulk", 0, 20000, 70);
  append_file(app, bulk);
  REQUIRE(wait_until([&] { return env.stat("bytes_sent") >= static_cast<int64_t>(before.size() + bulk.size()); },
                     5000ms));
  // logrotate copytruncate: copy, truncate, the application goes on.
  auto rotated = read_file(app);
  write_file(env.log("app.log.1"), rotated);
  REQUIRE(::truncate(app.c_str(), 0) == 0);
  auto after = numbered_lines("after", 0, 50);
  append_file(app, after);
  REQUIRE(wait_until([&] { return env.stat("moved_generation_reads") == 1; }, 5000ms));
  release_deferred(env);
  INFO(report(env));
  REQUIRE(env.converges(app, rotated + after, 20000ms));
  CHECK(env.counter(&fake_writer::ranges_gone) >= 1);
  CHECK(env.stat("lost_bytes") == 0);
  CHECK(env.counter(&fake_writer::mismatches) == 0);
  CHECK(env.counter(&fake_writer::bad) == 0);
}
