// The log-file transport end to end (SPEC §1, §6, §8, §9): real build/ccserver
// processes on 127.0.0.1 -- a local one (jobmgr with a classic and a rotated
// tailer, proxy to the central) and a central one (tailwriter) -- while a
// writer in this test appends to name-rotated files (classic) and to a file
// that is renamed away and recreated (rotated). Afterwards every source file
// and every generation is byte-identical at the destination, with and
// without compression on the wire and on disk, and also when the central is
// SIGKILLed mid-stream and started again at once.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.hpp"
#include "wire/codec.hpp"

using namespace std::chrono_literals;
using cc::test::endpoint;
using cc::test::count_of;
using cc::test::metric;
using cc::test::process;
using cc::test::read_file;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;
namespace fs = std::filesystem;

namespace {

/// One transport scenario: how fragments travel and how copies are written.
struct scenario {
  std::string wire = "none";          // the tailers' `compression`
  std::string write_compressed = "no"; // the tailwriter's
  std::string disk = "gzip";          // the tailwriter's `compression`
  bool kill_central = false;          // SIGKILL + restart mid-stream
  std::string caf_threads;            // both servers' caf-threads; "": default

  /// Compression of the copies at the destination.
  cc::wire::compression copy_compression() const {
    if (write_compressed == "yes")
      return *cc::wire::parse_compression(disk);
    if (write_compressed == "keep" && wire == "zstd")
      return cc::wire::compression::gzip; // zstd is a wire format only
    if (write_compressed == "keep")
      return *cc::wire::parse_compression(wire);
    return cc::wire::compression::none;
  }
};

/// A local and a central server with their directories.
struct transport {
  temp_dir dir{"cctransport"};
  int central_port = cc::test::free_port();
  int local_port = cc::test::free_port();
  std::string dstdir = dir / "central";
  std::string classic_dir = dir / "pg_log";
  std::string rotated_dir = dir / "ppingd";
  std::string central_ini = dir / "central.ini";
  std::string local_ini = dir / "local.ini";
  std::string central_log = dir / "central.log";
  std::string local_log = dir / "local.log";
  std::string local_metrics = dir / "local.prom";
  std::unique_ptr<process> central;
  std::unique_ptr<process> local;

  static std::string threads_line(const scenario& sc) {
    return sc.caf_threads.empty() ? std::string{}
                                  : "caf-threads = " + sc.caf_threads + "\n";
  }

  explicit transport(const scenario& sc) {
    fs::create_directories(classic_dir);
    fs::create_directories(rotated_dir);
    write_file(central_ini,
               "[ccserver]\n"
               "cc-socket = " + endpoint(central_port) + "\n"
               "cc-role = remote\n"
               "pidfile = " + dir / "central.pid" + "\n"
               "logfile = " + central_log + "\n"
               "zmq_linger = 200\n" + threads_line(sc) +
               "\n[routes]\npub.logtail = h:tailwriter\n"
               "\n[h:tailwriter]\n"
               "handler = cc.handler.tailwriter\n"
               "dstdir = " + dstdir + "\n"
               "host-subdirs = yes\n"
               "write-compressed = " + sc.write_compressed + "\n"
               "compression = " + sc.disk + "\n"
               "buffer-bytes = 256K\n"
               "maint-period = 0.5\n"
               "worker-threads = 3\n");
    std::string tailer_common = "hostname = srchost\n"
                                "compression = " + sc.wire + "\n"
                                "ack-timeout = 2\n"
                                "idle-flush = 0.3\n"
                                "buffer-bytes = 128K\n";
    write_file(local_ini,
               "[ccserver]\n"
               "cc-socket = " + endpoint(local_port) + "\n"
               "cc-role = local\n"
               "pidfile = " + dir / "%(job_name)s.pid" + "\n"
               "logfile = " + local_log + "\n"
               "stats-period = 1\n"
               "metrics-file = " + local_metrics + "\n"
               "zmq_linger = 200\n" + threads_line(sc) +
               "\n[routes]\nlog = h:locallog\njob = h:jobmgr\npub = h:forward\n"
               "\n[h:locallog]\nhandler = cc.handler.locallogger\n"
               "\n[h:forward]\nhandler = cc.handler.proxy\n"
               "remote-cc = " + endpoint(central_port) + "\n"
               "\n[h:jobmgr]\nhandler = cc.handler.jobmgr\n"
               "daemons = d:classic, d:rotated\n"
               "\n[d:classic]\nmodule = cc.daemon.logtail\n"
               "logdir = " + classic_dir + "\n"
               "logmask = postgresql-*.log\n" + tailer_common +
               "\n[d:rotated]\nmodule = cc.daemon.logtail\n"
               "operation-mode = rotated\n"
               "logdir = " + rotated_dir + "\n"
               "logname = pping-stats.log\n" + tailer_common);
  }

  ~transport() {
    if (local)
      local->stop();
    if (central)
      central->stop();
  }

  std::unique_ptr<process> start(const std::string& ini, const std::string& log) {
    return cc::test::start_ccserver(ini, log);
  }

  bool up(const std::string& log, size_t times = 1) {
    return cc::test::server_up(log, times);
  }

  std::string diagnostics() {
    return "--- central.log (tail)\n" + tail(read_file(central_log))
           + "--- local.log (tail)\n" + tail(read_file(local_log));
  }

  static std::string tail(const std::string& text) {
    return text.size() > 3000 ? text.substr(text.size() - 3000) : text;
  }
};

/// Deterministic log lines of varying length.
struct line_source {
  int n = 0;
  std::string next(const std::string& tag) {
    ++n;
    return "2026-11-26 14:05:" + std::to_string(10 + n % 50) + ".123 UTC [" + tag
           + "] LOG:  duration: " + std::to_string(n * 37 % 1000) + " ms  statement: "
           + std::string(static_cast<size_t>(n * 7919 % 180), 'a' + n % 26) + "\n";
  }
};

/// The writer: appends to name-rotated files in `classic_dir` and to
/// `rotated_dir`/pping-stats.log, which is renamed away and recreated.
/// Records what every source file and generation holds in the end.
struct log_writer {
  const transport& t;
  std::map<std::string, std::string> classic;   // name -> content
  std::vector<std::string> generations;         // rotated, oldest first
  std::atomic<uint64_t> written{0};

  explicit log_writer(const transport& tr) : t(tr) {
  }

  void run(size_t classic_files, size_t generations_count, size_t bytes_per_file) {
    line_source lines;
    std::string rotated = t.rotated_dir + "/pping-stats.log";
    size_t steps = std::max(classic_files, generations_count);
    for (size_t step = 0; step < steps; ++step) {
      std::string cname;
      if (step < classic_files) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "postgresql-%04zu.log", step + 1);
        cname = buf;
      }
      if (step < generations_count && step > 0) {
        // Rotation: the old generation moves aside, a new file takes the name
        // (at most once per second, as the SPEC assumes).
        std::this_thread::sleep_for(1100ms);
        fs::rename(rotated, t.rotated_dir + "/pping-stats.log." + std::to_string(step));
      }
      if (step < generations_count)
        generations.emplace_back();
      size_t done = 0;
      while (done < bytes_per_file) {
        std::string chunk;
        for (int i = 0; i < 40; ++i)
          chunk += lines.next("c" + std::to_string(step));
        if (!cname.empty()) {
          cc::test::append_file(t.classic_dir + "/" + cname, chunk);
          classic[cname] += chunk;
        }
        if (step < generations_count) {
          auto r = lines.next("r" + std::to_string(step)) + lines.next("r");
          cc::test::append_file(rotated, r);
          generations.back() += r;
        }
        done += chunk.size();
        written += chunk.size();
        std::this_thread::sleep_for(2ms);
      }
    }
  }
};

std::vector<std::string> names_under(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

/// The copy's source bytes, or nullopt while it is incomplete or undecodable.
std::optional<std::string> plain_copy(const std::string& path, cc::wire::compression c) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    return std::nullopt;
  auto bytes = read_file(path);
  if (c == cc::wire::compression::none)
    return bytes;
  auto plain = cc::wire::decompress(bytes, c, size_t{1} << 30);
  if (!plain)
    return std::nullopt;
  return *plain;
}

/// Every classic file and every generation identical at the destination.
bool all_identical(const transport& t, const log_writer& w, const scenario& sc,
                   std::string& why) {
  auto c = sc.copy_compression();
  std::string ext = cc::wire::file_extension(c);
  std::string host_dir = t.dstdir + "/srchost";
  for (auto& [name, content] : w.classic) {
    auto copy = plain_copy(host_dir + "/" + name + ext, c);
    if (!copy || *copy != content) {
      why = name + ": " + (copy ? std::to_string(copy->size()) : std::string{"no/partial"})
            + " of " + std::to_string(content.size()) + " bytes";
      return false;
    }
  }
  std::vector<std::string> copies;
  for (auto& name : names_under(host_dir)) {
    if (name.rfind("pping-stats.log", 0) != 0)
      continue;
    auto copy = plain_copy(host_dir + "/" + name, c);
    if (!copy) {
      why = name + ": partial";
      return false;
    }
    copies.push_back(*copy);
  }
  auto expected = w.generations;
  std::sort(copies.begin(), copies.end());
  std::sort(expected.begin(), expected.end());
  if (copies != expected) {
    why = "rotated: " + std::to_string(copies.size()) + " copies for "
          + std::to_string(expected.size()) + " generations";
    for (auto& x : copies)
      why += " " + std::to_string(x.size());
    why += " vs";
    for (auto& x : expected)
      why += " " + std::to_string(x.size());
    return false;
  }
  return true;
}

uint64_t size_of(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : n;
}

void run_scenario(const scenario& sc) {
  transport t{sc};
  t.central = t.start(t.central_ini, t.central_log);
  REQUIRE(t.up(t.central_log));
  t.local = t.start(t.local_ini, t.local_log);
  REQUIRE(t.up(t.local_log));
  log_writer w{t};
  std::thread writer{[&] { w.run(3, 3, 400 * 1024); }};
  if (sc.kill_central) {
    // Mid-stream: once the first copy has grown, kill the central without
    // warning and start a new one on the same port at once, while the
    // writer goes on.
    std::string first = t.dstdir + "/srchost/postgresql-0001.log"
                        + cc::wire::file_extension(sc.copy_compression());
    CHECK(wait_until([&] { return size_of(first) >= 16 * 1024; }, 20s));
    CHECK(w.written < 3 * 400 * 1024);
    t.central->signal(SIGKILL);
    CHECK(t.central->wait(5s) == 128 + SIGKILL);
    t.central = t.start(t.central_ini, t.central_log);
  }
  writer.join();
  if (sc.kill_central)
    CHECK(t.up(t.central_log, 2));
  std::string why;
  bool same = wait_until([&] { return all_identical(t, w, sc, why); }, 60s);
  INFO(why << "\n" << t.diagnostics());
  CHECK(same);
  // The copy tree holds copies only: the bookkeeping is in .ccstate.
  auto names = names_under(t.dstdir + "/srchost");
  CHECK(names.size() == 3 + w.generations.size());
  // The tailers' counters reach the local metrics file through their jobmgr:
  // every classic byte was acknowledged exactly once.
  long long classic_bytes = 0;
  for (auto& [name, content] : w.classic)
    classic_bytes += static_cast<long long>(content.size());
  CHECK(wait_until(
    [&] {
      return metric(t.local_metrics, "ccserver_tail_acked_bytes_total{section=\"d:classic\"}")
             == classic_bytes;
    },
    15s));
  INFO(read_file(t.local_metrics));
  CHECK(metric(t.local_metrics, "ccserver_tail_files_switched_total{section=\"d:rotated\"}") >= 1);
  CHECK(metric(t.local_metrics, "ccserver_tail_outstanding_requests{section=\"d:classic\"}") == 0);
  if (sc.wire == "zstd") {
    // Ours to ours: the central announced zstd, so nothing fell back.
    CHECK(count_of(read_file(t.local_log), "takes zstd on the wire") >= 1);
    CHECK(count_of(read_file(t.local_log), "does not announce zstd") == 0);
  }
  if (sc.kill_central) {
    // One line per episode, not one per fragment in flight (issue 17: 250
    // gap lines were logged for one such kill before).
    auto lines = count_of(read_file(t.central_log), " WARN ") +
                 count_of(read_file(t.central_log), " ERROR ") +
                 count_of(read_file(t.local_log), " WARN ") +
                 count_of(read_file(t.local_log), " ERROR ");
    CHECK(lines <= 6);
  }
  CHECK(t.local->running());
  CHECK(t.central->running());
  CHECK(t.local->stop() == 0);
  CHECK(t.central->stop() == 0);
  t.local.reset();
  t.central.reset();
}

} // namespace

TEST_CASE("transport: plain fragments into plain copies are byte-identical",
          "[integration][transport]") {
  run_scenario(scenario{"none", "no", "gzip", false, ""});
}

TEST_CASE("transport: byte-identical with CAF's own count of scheduler threads "
          "(caf-threads = 0, not the default 1)", "[integration][transport]") {
  run_scenario(scenario{"none", "no", "gzip", false, "0"});
}

TEST_CASE("transport: gzip fragments decompressed into plain copies",
          "[integration][transport]") {
  run_scenario(scenario{"gzip", "no", "gzip", false, ""});
}

TEST_CASE("transport: gzip fragments kept as received (.gz copies)",
          "[integration][transport]") {
  run_scenario(scenario{"gzip", "keep", "gzip", false, ""});
}

TEST_CASE("transport: zstd fragments between our servers into plain copies",
          "[integration][transport][zstd]") {
  run_scenario(scenario{"zstd", "no", "gzip", false, ""});
}

TEST_CASE("transport: zstd fragments with write-compressed = keep (.gz copies)",
          "[integration][transport][zstd]") {
  run_scenario(scenario{"zstd", "keep", "gzip", false, ""});
}

TEST_CASE("transport: plain fragments recompressed on disk (.bz2 copies)",
          "[integration][transport]") {
  run_scenario(scenario{"none", "yes", "bzip2", false, ""});
}

TEST_CASE("transport: the central SIGKILLed mid-stream and restarted with plain copies",
          "[integration][transport][restart]") {
  run_scenario(scenario{"none", "no", "gzip", true, ""});
}

TEST_CASE("transport: the central SIGKILLed mid-stream and restarted with .gz copies",
          "[integration][transport][restart]") {
  run_scenario(scenario{"gzip", "keep", "gzip", true, ""});
}
