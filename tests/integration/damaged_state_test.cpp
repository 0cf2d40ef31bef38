// Exactly-once under damaged state (docs/guarantees.md, docs/wire.md §6.1):
// real build/ccserver processes on 127.0.0.1, a local one tailing logs and a
// central one writing copies, and the faults an operator meets: a lost or
// corrupt .save, the current file unreadable or moved away across a restart,
// a copy truncated or extended on the central while it is down, logrotate's
// copytruncate while the central is away, a byte flipped in a copy
// (--verify, --repair). Each ends with every copy byte-identical to its
// source. Every wait is bounded; nothing asserts how long something took.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/process.hpp"
#include "wire/codec.hpp"

using namespace std::chrono_literals;
using cc::test::append_file;
using cc::test::count_of;
using cc::test::endpoint;
using cc::test::process;
using cc::test::read_file;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;
namespace fs = std::filesystem;

namespace {

/// A central and a local server: one tailer (`mode`: classic over *.log, or
/// rotated on app.log) shipping to the central's tailwriter.
struct pair_env {
  temp_dir dir{"ccdamage"};
  int central_port = cc::test::free_port();
  int local_port = cc::test::free_port();
  std::string dstdir = dir / "central";
  std::string logdir = dir / "logs";
  std::string run = dir / "run";
  std::string save_file = run + "/tail.save";
  std::string central_ini = dir / "central.ini";
  std::string local_ini = dir / "local.ini";
  std::string central_log = dir / "central.log";
  std::string local_log = run + "/local.log";
  std::unique_ptr<process> central;
  std::unique_ptr<process> local;
  size_t central_starts = 0;
  size_t local_starts = 0;

  explicit pair_env(const std::string& mode, const std::string& tailer_extra = "") {
    fs::create_directories(logdir);
    fs::create_directories(run);
    // The local may run as another user (nobody): it must reach its files.
    ::chmod(dir.path().c_str(), 0755);
    ::chmod(logdir.c_str(), 0777);
    ::chmod(run.c_str(), 0777);
    write_file(central_ini, "[ccserver]\n"
                            "cc-socket = " + endpoint(central_port) + "\n"
                            "cc-role = remote\n"
                            "pidfile = " + dir / "central.pid" + "\n"
                            "logfile = " + central_log + "\n"
                            "zmq_linger = 200\n"
                            "\n[routes]\npub.logtail = h:tailwriter\n"
                            "\n[h:tailwriter]\n"
                            "handler = tailwriter\n"
                            "dstdir = " + dstdir + "\n"
                            "host-subdirs = yes\n"
                            "maint-period = 0.5\n"
                            "worker-threads = 2\n");
    std::string tailer = mode == "rotated" ? "operation-mode = rotated\nlogname = app.log\n"
                                           : "logmask = *.log\n";
    write_file(local_ini, "[ccserver]\n"
                          "cc-socket = " + endpoint(local_port) + "\n"
                          "cc-role = local\n"
                          "pidfile = " + run + "/%(job_name)s.pid\n"
                          "logfile = " + local_log + "\n"
                          "zmq_linger = 200\n"
                          "\n[routes]\njob = h:jobmgr\npub = h:forward\n"
                          "\n[h:forward]\nhandler = proxy\n"
                          "remote-cc = " + endpoint(central_port) + "\n"
                          "\n[h:jobmgr]\nhandler = jobmgr\ndaemons = d:tail\n"
                          "\n[d:tail]\nmodule = logtail\n"
                          "logdir = " + logdir + "\n" + tailer +
                          "save-file = " + save_file + "\n"
                          "hostname = srchost\n"
                          "ack-timeout = 1\n"
                          "idle-flush = 0.2\n"
                          "buffer-bytes = 64K\n" + tailer_extra);
  }

  ~pair_env() {
    if (local)
      local->stop();
    if (central)
      central->stop();
  }

  void start_central() {
    central = std::make_unique<process>(
      std::vector<std::string>{cc::test::ccserver_path(), central_ini}, central_log + ".out");
    ++central_starts;
    REQUIRE(wait_until([&] { return count_of(read_file(central_log), "main: up:") >= central_starts; },
                       15s));
  }

  /// `as_nobody`: under setpriv, as user and group 65534.
  void start_local(bool as_nobody = false) {
    std::vector<std::string> argv{cc::test::ccserver_path(), local_ini};
    if (as_nobody)
      argv.insert(argv.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                 "--clear-groups", "--"});
    local = std::make_unique<process>(argv, dir / "local.out");
    ++local_starts;
    REQUIRE(wait_until([&] { return count_of(read_file(local_log), "main: up:") >= local_starts; },
                       15s));
  }

  void kill(std::unique_ptr<process>& p) {
    p->signal(SIGKILL);
    p->wait(10s);
    p.reset();
  }

  std::string log(const std::string& name) const { return logdir + "/" + name; }
  std::string copy(const std::string& name) const { return dstdir + "/srchost/" + name; }

  /// Waits until the copy of `name` is `content`; when it does not come, the
  /// next failed assertion shows both logs as they are then, and the sizes.
  bool converges(const std::string& name, const std::string& content,
                 std::chrono::milliseconds timeout = 20s) {
    bool ok = wait_until(
      [&] { return fs::exists(copy(name)) && read_file(copy(name)) == content; }, timeout);
    if (!ok) {
      auto have = read_file(copy(name));
      auto n = std::min(have.size(), content.size());
      auto same = static_cast<size_t>(
        std::mismatch(have.begin(), have.begin() + static_cast<std::ptrdiff_t>(n), content.begin())
          .first - have.begin());
      UNSCOPED_INFO("copy of " << name << ": " << have.size() << " bytes, expected "
                               << content.size() << ", the same up to byte " << same << "\n"
                               << diagnostics());
    }
    return ok;
  }

  /// The copies under dstdir/srchost whose names start with `prefix`, sorted.
  std::vector<std::string> copies(const std::string& prefix) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(dstdir + "/srchost", ec))
      if (e.path().filename().string().rfind(prefix, 0) == 0)
        out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string diagnostics() const {
    auto tail = [](const std::string& text) {
      return text.size() > 8000 ? text.substr(text.size() - 8000) : text;
    };
    return "--- central.log\n" + tail(read_file(central_log)) + "--- local.log\n" +
           tail(read_file(local_log));
  }
};

/// Deterministic log lines, PostgreSQL-like.
struct lines {
  int n = 0;
  std::string next(const std::string& tag) {
    ++n;
    return "2026-12-04 21:39:" + std::to_string(10 + n % 50) + ".123 UTC [" + tag +
           "] LOG:  duration: " + std::to_string(n * 37 % 1000) + " ms  line " +
           std::to_string(n) + " " + std::string(static_cast<size_t>(n * 7919 % 120), 'a' + n % 26) +
           "\n";
  }
  std::string block(const std::string& tag, int count) {
    std::string out;
    for (int i = 0; i < count; ++i)
      out += next(tag);
    return out;
  }
};

/// An empty app.log, the central and the local started, then `count` lines
/// of `tag` appended to it; returns them once its copy holds them.
std::string start_shipping(pair_env& env, lines& gen, const std::string& tag, int count) {
  write_file(env.log("app.log"), "");
  env.start_central();
  env.start_local();
  auto content = gen.block(tag, count);
  append_file(env.log("app.log"), content);
  INFO(env.diagnostics());
  REQUIRE(env.converges("app.log", content));
  return content;
}

} // namespace

TEST_CASE("damaged state: a corrupt, empty or lost .save costs a question, not data",
          "[integration][damaged]") {
  pair_env env{"classic"};
  lines gen;
  auto content = start_shipping(env, gen, "before", 2000);
  INFO(env.diagnostics());
  REQUIRE(wait_until([&] { return fs::exists(env.save_file); }, 5s));
  env.kill(env.local);
  auto kind = GENERATE(std::string{"garbage"}, std::string{"empty"}, std::string{"half"},
                       std::string{"wrong types"}, std::string{"deleted"});
  if (kind == "garbage")
    write_file(env.save_file, "\x01\x02 not a position \xff\n");
  else if (kind == "empty")
    write_file(env.save_file, "");
  else if (kind == "half")
    write_file(env.save_file, read_file(env.save_file).substr(0, 20));
  else if (kind == "wrong types")
    write_file(env.save_file, R"({"filename": 12, "offset": "x", "gen": []})");
  else
    fs::remove(env.save_file);
  // Written while the local is down: lost and spliced before the fix.
  auto down = gen.block("while-down", 10000);
  append_file(env.log("app.log"), down);
  content += down;
  env.start_local();
  auto after = gen.block("after", 100);
  append_file(env.log("app.log"), after);
  content += after;
  INFO("damage: " << kind);
  REQUIRE(env.converges("app.log", content));
  CHECK(env.copies("app.log").size() == 1);
}

TEST_CASE("damaged state: the current file unreadable or moved away across a restart is "
          "waited for, and nothing is shipped twice",
          "[integration][damaged]") {
  bool moved = GENERATE(false, true);
  bool as_nobody = !moved && ::geteuid() == 0; // root reads a mode 000 file
  if (as_nobody && !fs::exists("/usr/bin/setpriv")) {
    WARN("no /usr/bin/setpriv: the unreadable case needs a non-root local");
    return;
  }
  pair_env env{"classic"};
  lines gen;
  write_file(env.log("a.log"), "");
  ::chmod(env.log("a.log").c_str(), 0666);
  env.start_central();
  env.start_local(as_nobody);
  auto a = gen.block("a", 1500);
  append_file(env.log("a.log"), a);
  INFO(env.diagnostics());
  REQUIRE(env.converges("a.log", a));
  auto b = gen.block("b", 1500);
  write_file(env.log("b.log"), b);
  ::chmod(env.log("b.log").c_str(), 0666);
  REQUIRE(env.converges("b.log", b));
  env.kill(env.local);
  auto more = gen.block("b-more", 500);
  append_file(env.log("b.log"), more);
  b += more;
  auto hidden = env.dir / "b.away";
  if (moved)
    fs::rename(env.log("b.log"), hidden);
  else
    ::chmod(env.log("b.log").c_str(), 0);
  env.start_local(as_nobody);
  // Before the fix: a.log was read again from 0 (and b.log after it).
  std::this_thread::sleep_for(1500ms);
  CHECK(read_file(env.copy("a.log")) == a);
  CHECK(read_file(env.copy("b.log")).size() <= b.size());
  if (moved)
    fs::rename(hidden, env.log("b.log"));
  else
    ::chmod(env.log("b.log").c_str(), 0666);
  REQUIRE(env.converges("b.log", b));
  CHECK(read_file(env.copy("a.log")) == a);
  if (!moved)
    CHECK(count_of(read_file(env.local_log), "cannot open the saved file") == 1);
}

TEST_CASE("damaged state: a copy truncated or extended on the central while it is down "
          "is made whole again",
          "[integration][damaged]") {
  bool junk = GENERATE(false, true);
  pair_env env{"classic"};
  lines gen;
  auto content = start_shipping(env, gen, "one", 3000);
  INFO(env.diagnostics());
  env.kill(env.central);
  if (junk)
    append_file(env.copy("app.log"), "0123456789");
  else
    fs::resize_file(env.copy("app.log"), fs::file_size(env.copy("app.log")) - 1000);
  auto down = gen.block("down", 200);
  append_file(env.log("app.log"), down);
  content += down;
  env.start_central();
  REQUIRE(env.converges("app.log", content));
  // And it stays so, idle or not.
  auto later = gen.block("later", 50);
  append_file(env.log("app.log"), later);
  content += later;
  REQUIRE(env.converges("app.log", content));
}

TEST_CASE("damaged state: logrotate copytruncate while the central is away loses nothing",
          "[integration][damaged]") {
  if (!fs::exists("/usr/sbin/logrotate")) {
    WARN("no /usr/sbin/logrotate (apt-get install logrotate): case not run");
    return;
  }
  bool compress = GENERATE(false, true);
  pair_env env{"rotated"};
  ::chmod(env.logdir.c_str(), 0755); // logrotate refuses a world-writable directory
  lines gen;
  auto app = env.log("app.log");
  write_file(app, "");
  env.start_central();
  env.start_local();
  std::string content = gen.block("first", 500);
  append_file(app, content);
  INFO(env.diagnostics());
  REQUIRE(wait_until([&] { auto c = env.copies("app.log"); return c.size() == 1 && read_file(c[0]) == content; }, 20s));
  // The central stops answering (SIGSTOP), the application goes on.
  env.central->signal(SIGSTOP);
  auto unacked = gen.block("unacked", 11000);
  append_file(app, unacked);
  content += unacked;
  std::this_thread::sleep_for(500ms);
  auto conf = env.dir / "logrotate.conf";
  write_file(conf, app + " {\n  copytruncate\n  rotate 5\n  missingok\n" +
                     std::string{compress ? "  compress\n" : "  nocompress\n"} + "}\n");
  std::string out;
  auto status = cc::test::run({"/usr/sbin/logrotate", "-f", "-s", env.dir / "logrotate.state", conf},
                              out);
  INFO(out);
  REQUIRE(status == 0);
  auto rotated_name = env.log(compress ? "app.log.1.gz" : "app.log.1");
  REQUIRE(fs::exists(rotated_name));
  auto old_generation = content;
  auto fresh = gen.block("after-rotation", 300);
  append_file(app, fresh);
  // Killed while stopped, and started again.
  env.central->signal(SIGKILL);
  env.central->wait(10s);
  env.central.reset();
  env.start_central();
  // Two generations, two copies: the old one whole, the new one whole.
  REQUIRE(wait_until(
    [&] {
      auto c = env.copies("app.log");
      return c.size() == 2 && read_file(c[0]) == old_generation && read_file(c[1]) == fresh;
    },
    30s));
  CHECK(count_of(read_file(env.local_log), "are lost") == 0);
}

TEST_CASE("damaged state: --verify reports a flipped byte with its exact range and "
          "--repair makes the copy identical",
          "[integration][damaged][verify]") {
  pair_env env{"classic"};
  lines gen;
  write_file(env.log("app.log"), "");
  env.start_central();
  env.start_local();
  std::string content;
  while (content.size() < 3u << 20)
    content += gen.block("v", 1000);
  append_file(env.log("app.log"), content);
  INFO(env.diagnostics());
  REQUIRE(env.converges("app.log", content, 30s));
  std::string out;
  REQUIRE(cc::test::run({cc::test::ccserver_path(), "--verify", env.local_ini}, out) == 0);
  INFO(out);
  CHECK(out.find("equal") != std::string::npos);
  // A byte flipped in the middle of the copy, behind the writer's back.
  auto at = content.size() / 2;
  auto copy = read_file(env.copy("app.log"));
  copy[at] ^= 0x20;
  {
    FILE* f = std::fopen(env.copy("app.log").c_str(), "r+b");
    REQUIRE(f != nullptr);
    std::fseek(f, static_cast<long>(at), SEEK_SET);
    std::fputc(copy[at], f);
    std::fclose(f);
  }
  REQUIRE(cc::test::run({cc::test::ccserver_path(), "--verify", env.local_ini}, out) == 1);
  CHECK(out.find("differs at " + std::to_string(at) + ".." + std::to_string(at + 1)) !=
        std::string::npos);
  REQUIRE(cc::test::run({cc::test::ccserver_path(), "--verify", "--repair", env.local_ini},
                        out) == 0);
  CHECK(read_file(env.copy("app.log")) == content);
  REQUIRE(cc::test::run({cc::test::ccserver_path(), "--verify", env.local_ini}, out) == 0);
}

namespace {

/// The names in `dir` that start with `prefix` and end with `suffix`.
size_t names_like(const std::string& dir, const std::string& prefix, const std::string& suffix) {
  size_t n = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    auto name = e.path().filename().string();
    n += name.rfind(prefix, 0) == 0 && name.size() >= suffix.size()
         && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return n;
}

} // namespace

TEST_CASE("downgrade: --export-journals refuses a state directory a running central holds, "
          "then writes each copy's journal file, and a start takes them in again whole",
          "[integration][damaged][journal_log]") {
  pair_env env{"classic"};
  lines gen;
  auto app = start_shipping(env, gen, "app", 2000);
  INFO(env.diagnostics());
  auto state = env.dstdir + "/.ccstate";
  REQUIRE(names_like(state, "jl-", "") > 0);
  std::string out;
  CHECK(cc::test::run({cc::test::ccserver_path(), "--export-journals", state}, out) == 1);
  CHECK_THAT(out, Catch::Contains("in use by a running server"));
  CHECK(names_like(state, "", ".j") == 0);
  // Stopped: the export writes the copy's journal file, the logs go.
  env.central->stop();
  env.central.reset();
  REQUIRE(cc::test::run({cc::test::ccserver_path(), "--export-journals", state}, out) == 0);
  CHECK_THAT(out, Catch::Contains("wrote 1 journal files"));
  CHECK(names_like(state, "jl-", "") == 0);
  REQUIRE(names_like(state, "", ".j") == 1);
  std::string journals;
  for (auto& e : fs::directory_iterator(state))
    if (e.path().extension() == ".j")
      journals += read_file(e.path().string());
  CHECK_THAT(journals, Catch::Contains("=srchost/app.log "));
  // Upgraded again (this build takes the files in): every copy goes on
  // whole, nothing appended twice.
  auto more = gen.block("more", 300);
  append_file(env.log("app.log"), more);
  app += more;
  env.start_central();
  REQUIRE(env.converges("app.log", app));
  CHECK(names_like(state, "", ".j") == 0);
  CHECK(count_of(read_file(env.central_log), "no bookkeeping") == 0);
}
