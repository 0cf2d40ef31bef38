// The info file transport end to end: real build/ccserver processes on
// 127.0.0.1 -- a local one (jobmgr with an infosender, proxy to the central)
// and a central one (infowriter) -- and info files that are created, changed
// several times within a second and while being written, deleted and made
// again; the central SIGKILLed mid-way; the local restarted. Every copy ends
// equal to its source's last settled content with the source's mtime; the
// previous copy is kept under bakext. Then the wire against the original,
// pinned by messages built as the original's code builds them and answered
// (or not) as it answers: an original infosender's pub.infofile into our
// infowriter, and our local with its default config (ack = auto) against a
// central that never acknowledges. Every wait is bounded; nothing asserts
// how long something took.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>

#include <zmq.h>

#include "actors/core/metrics.hpp"
#include "base/error.hpp"
#include "tests/support/process.hpp"
#include "tests/support/zmq_peer.hpp"
#include "wire/base64.hpp"
#include "wire/bodies.hpp"
#include "wire/codec.hpp"
#include "wire/message.hpp"

using namespace std::chrono_literals;
using cc::test::endpoint;
using cc::test::metric;
using cc::test::process;
using cc::test::read_file;
using cc::test::temp_dir;
using cc::test::wait_until;
using cc::test::write_file;
namespace fs = std::filesystem;

namespace {

int64_t mtime_ns(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

/// How the info files travel and are written.
struct info_scenario {
  std::string wire = "none";            // the infosender's compression
  std::string use_blob = "yes";
  std::string write_compressed = "no";  // the infowriter's
};

/// A local server (infosender) and a central one (infowriter, bakext).
struct info_transport {
  temp_dir dir{"ccinfo"};
  int central_port = cc::test::free_port();
  int local_port = cc::test::free_port();
  std::string infodir = dir / "info";
  std::string dstdir = dir / "copies";
  std::string central_ini = dir / "central.ini";
  std::string local_ini = dir / "local.ini";
  std::string central_log = dir / "central.log";
  std::string local_log = dir / "local.log";
  std::string central_metrics = dir / "central.prom";
  std::string local_metrics = dir / "local.prom";
  info_scenario sc;
  std::unique_ptr<process> central;
  std::unique_ptr<process> local;

  explicit info_transport(info_scenario s = {}) : sc(std::move(s)) {
    fs::create_directories(infodir);
    write_file(central_ini,
               "[ccserver]\n"
               "cc-socket = " + endpoint(central_port) + "\n"
               "cc-role = remote\n"
               "pidfile = " + dir / "central.pid" + "\n"
               "logfile = " + central_log + "\n"
               "stats-period = 0.2\n"
               "metrics-file = " + central_metrics + "\n"
               "zmq_linger = 200\n"
               "\n[routes]\npub.infofile = h:infowriter\n"
               "\n[h:infowriter]\nhandler = cc.handler.infowriter\n"
               "dstdir = " + dstdir + "\n"
               "host-subdirs = yes\n"
               "bakext = --prev\n"
               "write-compressed = " + sc.write_compressed + "\n"
               "worker-threads = 3\n");
    write_file(local_ini,
               "[ccserver]\n"
               "cc-socket = " + endpoint(local_port) + "\n"
               "cc-role = local\n"
               "pidfile = " + dir / "%(job_name)s.pid" + "\n"
               "logfile = " + local_log + "\n"
               "stats-period = 0.2\n"
               "metrics-file = " + local_metrics + "\n"
               "zmq_linger = 200\n"
               "\n[routes]\njob = h:jobmgr\npub = h:forward\n"
               "\n[h:forward]\nhandler = cc.handler.proxy\n"
               "remote-cc = " + endpoint(central_port) + "\n"
               "\n[h:jobmgr]\nhandler = cc.handler.jobmgr\n"
               "daemons = d:info\n"
               "\n[d:info]\nmodule = cc.daemon.infosender\n"
               "infodir = " + infodir + "\n"
               "infomask = info.*\n"
               "hostname = srchost\n"
               "compression = " + sc.wire + "\n"
               "use-blob = " + sc.use_blob + "\n"
               "ack-timeout = 1\n");
  }

  ~info_transport() {
    if (local)
      local->stop();
    if (central)
      central->stop();
  }

  void start_central() {
    central = std::make_unique<process>(
      std::vector<std::string>{cc::test::ccserver_path(), central_ini},
      central_log + ".out");
  }
  void start_local() {
    local = std::make_unique<process>(
      std::vector<std::string>{cc::test::ccserver_path(), local_ini},
      local_log + ".out");
  }

  std::string source(const std::string& name) const { return infodir + "/" + name; }

  /// The copy of `name` (with the extension write-compressed adds).
  std::string copy(const std::string& name) const {
    auto ext = sc.write_compressed == "yes" ? ".gz"
               : sc.write_compressed == "keep" && sc.wire != "none"
                 ? cc::wire::file_extension(*cc::wire::parse_compression(sc.wire))
                 : "";
    return dstdir + "/srchost/" + name + ext;
  }

  /// The copy's content as the source had it (decompressed when stored so).
  std::optional<std::string> copy_content(const std::string& name) const {
    auto path = copy(name);
    if (!exists(path))
      return std::nullopt;
    auto bytes = read_file(path);
    auto stored = sc.write_compressed == "yes" ? cc::wire::compression::gzip
                  : sc.write_compressed == "keep"
                    ? *cc::wire::parse_compression(sc.wire)
                    : cc::wire::compression::none;
    auto plain = cc::wire::decompress(bytes, stored, size_t{1} << 30);
    if (!plain)
      return std::nullopt;
    return *plain;
  }

  /// Waits until the copy of `name` equals the source's current content and
  /// has its mtime.
  bool arrives(const std::string& name, std::chrono::milliseconds t = 20s) {
    return wait_until(
      [&] {
        auto c = copy_content(name);
        return c && *c == read_file(source(name)) &&
               mtime_ns(copy(name)) == mtime_ns(source(name));
      },
      t);
  }

  std::string diagnostics() const {
    auto tail = [](const std::string& s) {
      return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
    };
    return "--- central.log\n" + tail(read_file(central_log)) + "--- local.log\n" +
           tail(read_file(local_log));
  }

  // A counter by the name its actor reports, under its metric's name
  // (actors/core/metrics.cpp's catalog).
  static std::string metric_name(const char* kind, const std::string& counter,
                                 const std::string& section) {
    const auto* spec = cc::find_metric(kind, counter);
    REQUIRE(spec != nullptr);
    return std::string{spec->name} + "{section=\"" + section + "\"}";
  }
  long long central_metric(const std::string& name) const {
    return metric(central_metrics, metric_name("infowriter", name, "h:infowriter"));
  }
  long long sender_metric(const std::string& name) const {
    return metric(local_metrics, metric_name("infosender", name, "d:info"));
  }
};

/// No `.new` file is left anywhere under `dir`.
bool no_leftovers(const std::string& dir) {
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".new")
      return false;
  return true;
}

void life_of_info_files(const info_scenario& sc) {
  info_transport t{sc};
  std::string binary(70000, '\0');
  for (size_t i = 0; i < binary.size(); ++i)
    binary[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  write_file(t.source("info.a"), "a: version 1\n");
  write_file(t.source("info.bin"), binary);
  write_file(t.source("other.txt"), "not an info file\n"); // outside infomask
  t.start_central();
  t.start_local();
  INFO(t.diagnostics());
  // Files present at start go once they settled.
  REQUIRE(t.arrives("info.a"));
  REQUIRE(t.arrives("info.bin"));
  CHECK_FALSE(exists(t.dstdir + "/srchost/other.txt"));

  // Changed once: the previous copy stays under bakext.
  write_file(t.source("info.a"), "a: version 2, longer\n");
  REQUIRE(t.arrives("info.a"));
  CHECK(read_file(t.copy("info.a") + "--prev").size() > 0);
  {
    auto prev = t.sc.write_compressed == "no" ? read_file(t.copy("info.a") + "--prev")
                                              : std::string{};
    if (t.sc.write_compressed == "no")
      CHECK(prev == "a: version 1\n");
  }

  // Changed several times within a second: the copy ends with the last.
  for (int v = 3; v <= 7; ++v) {
    write_file(t.source("info.a"), "a: version " + std::to_string(v) + "\n");
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(t.arrives("info.a"));
  CHECK(*t.copy_content("info.a") == "a: version 7\n");

  // Written slowly (pauses shorter than a second): the copy ends whole.
  std::string slow;
  write_file(t.source("info.slow"), "");
  for (int i = 0; i < 8; ++i) {
    slow += "chunk " + std::to_string(i) + " " + std::string(500, 'a' + i) + "\n";
    cc::test::append_file(t.source("info.slow"),
                          "chunk " + std::to_string(i) + " " + std::string(500, 'a' + i) + "\n");
    std::this_thread::sleep_for(150ms);
  }
  REQUIRE(t.arrives("info.slow"));
  CHECK(*t.copy_content("info.slow") == slow);

  // Deleted: the copy stays (as the original); made again: sent again.
  fs::remove(t.source("info.bin"));
  std::this_thread::sleep_for(1500ms);
  CHECK(t.copy_content("info.bin") == binary);
  write_file(t.source("info.bin"), "back again\n");
  REQUIRE(t.arrives("info.bin"));

  CHECK(no_leftovers(t.dstdir));
  CHECK(wait_until([&] { return t.sender_metric("acked") >= 6; }, 10s));
  // A resend comes only after an ack later than ack-timeout (1 s: a loaded
  // machine) and is then the same version again, which the writer skips.
  CHECK(t.sender_metric("resends") <= t.central_metric("skipped"));
  CHECK(t.central_metric("refused") == 0);
  CHECK(t.central_metric("errors") == 0);
}

} // namespace

TEST_CASE("info files: created, changed, written slowly, deleted (plain)",
          "[integration][infofile]") {
  life_of_info_files({});
}

TEST_CASE("info files: gzip on the wire, kept as .gz copies",
          "[integration][infofile]") {
  life_of_info_files({"gzip", "yes", "keep"});
}

TEST_CASE("info files: bzip2 in base64 data (no blob), decompressed copies",
          "[integration][infofile]") {
  life_of_info_files({"bzip2", "no", "no"});
}

TEST_CASE("info files: the central SIGKILLed mid-way, what changed meanwhile "
          "arrives after its restart",
          "[integration][infofile]") {
  info_transport t;
  write_file(t.source("info.a"), "a1\n");
  write_file(t.source("info.b"), "b1\n");
  t.start_central();
  t.start_local();
  INFO(t.diagnostics());
  REQUIRE(t.arrives("info.a"));
  REQUIRE(t.arrives("info.b"));
  t.central->signal(SIGKILL);
  t.central->wait(10s);
  write_file(t.source("info.a"), "a2, changed while the central was gone\n");
  write_file(t.source("info.c"), "c1, new while the central was gone\n");
  // Settled and sent (into the forwarder's queue or the void) while down.
  std::this_thread::sleep_for(2500ms);
  t.start_central();
  REQUIRE(t.arrives("info.a"));
  REQUIRE(t.arrives("info.c"));
  CHECK(read_file(t.copy("info.a") + "--prev") == "a1\n");
  CHECK(t.copy_content("info.b") == std::string{"b1\n"});
  CHECK(no_leftovers(t.dstdir));
}

TEST_CASE("info files: the local restarted sends only what changed while it "
          "was down (the writer's confirmations are saved)",
          "[integration][infofile]") {
  info_transport t;
  for (auto n : {"info.a", "info.b", "info.c"})
    write_file(t.source(n), std::string{n} + " first\n");
  t.start_central();
  t.start_local();
  INFO(t.diagnostics());
  for (auto n : {"info.a", "info.b", "info.c"})
    REQUIRE(t.arrives(n));
  REQUIRE(wait_until([&] { return t.central_metric("written") == 3; }, 10s));
  // Every confirmation has reached the sender (and its save) before it stops.
  REQUIRE(wait_until([&] { return t.sender_metric("acked") == 3; }, 10s));
  // A resend after a slow ack (a loaded machine) is skipped by the writer:
  // counted from here on.
  auto skipped_before = t.central_metric("skipped");
  REQUIRE(t.local->stop() == 0);
  write_file(t.source("info.b"), "info.b second\n");
  t.start_local();
  REQUIRE(t.arrives("info.b"));
  // Give a wrongly resent file time to arrive, then count: one more write,
  // and the restarted sender sent info.b only (an unchanged file sent again
  // would be skipped by the writer).
  std::this_thread::sleep_for(2500ms);
  REQUIRE(wait_until([&] { return t.sender_metric("acked") >= 1; }, 10s));
  auto resends = t.sender_metric("resends");
  INFO(t.diagnostics());
  CHECK(t.central_metric("written") == 4);
  CHECK(t.sender_metric("files_sent") - resends == 1);
  CHECK(t.central_metric("skipped") - skipped_before <= resends);
}

// -- the wire against the original ------------------------------------------------

namespace {

/// A pub.infofile body as the original's infosender builds it: Python 2's
/// json.dumps of its InfofileMessage (keys in that dict's order, ", " and
/// ": " separators, no ack, no mtime_ns).
std::string original_infofile_body(const std::string& filename, double mtime,
                                   const std::string& comp, const std::string& data) {
  char mtime_text[64];
  std::snprintf(mtime_text, sizeof mtime_text, "%.17g", mtime);
  char time_text[64];
  std::snprintf(time_text, sizeof time_text, "%.17g", cc::wire::now_seconds());
  std::string escaped_data;
  for (char c : data)
    escaped_data += c == '\n' ? std::string{"\\n"} : std::string(1, c);
  return std::string{"{\"hostname\": \"oldhost\", \"comp\": \""} + comp +
         "\", \"req\": \"pub.infofile\", \"filename\": \"" + filename +
         "\", \"mtime\": " + mtime_text + ", \"blob_hash\": \"\", \"time\": " +
         time_text + ", \"data\": \"" + escaped_data + "\", \"mode\": \"b\"}";
}

} // namespace

TEST_CASE("interop: an original infosender's pub.infofile is written by our "
          "infowriter, and nothing is answered",
          "[integration][infofile][interop]") {
  info_transport t;
  t.start_central();
  INFO(t.diagnostics());
  REQUIRE(wait_until([&] { return cc::test::count_of(read_file(t.central_log),
                                                     "main: up:") >= 1; },
                     15s));
  // The original's daemon is a DEALER on the server's cc-socket; its
  // messages carry no route frame of their own: ["", type, body, sig, blob].
  cc::test::zmq_peer daemon{ZMQ_DEALER};
  REQUIRE(daemon.connect(endpoint(t.central_port)));
  double mtime = 1714564799.123456; // a float, as os.stat() gives it
  std::string status = "status line 1\nstatus line 2\n";
  auto gz = cc::wire::compress(status, cc::wire::compression::gzip, 6);
  REQUIRE(gz);
  REQUIRE(daemon.send({"", "pub.infofile",
                       original_infofile_body("/var/lib/info/info.status", mtime,
                                              "gzip", ""),
                       "", *gz}));
  // use-blob = no: the content base64-encoded as Python 2's encodestring
  // writes it, and no blob frame at all.
  std::string report(200, 'r');
  REQUIRE(daemon.send({"", "pub.infofile",
                       original_infofile_body("/var/lib/info/info.report", mtime,
                                              "none", cc::wire::base64_encode(report)),
                       ""}));
  auto status_copy = t.dstdir + "/oldhost/info.status";
  auto report_copy = t.dstdir + "/oldhost/info.report";
  REQUIRE(wait_until([&] { return exists(status_copy) && exists(report_copy); }, 10s));
  CHECK(read_file(status_copy) == status);
  CHECK(read_file(report_copy) == report);
  // The float's nanoseconds, as close as a double holds them.
  CHECK(std::llabs(mtime_ns(status_copy) - 1714564799123456000LL) < 1000);
  // The same version again: skipped (the original's rule), the copy stays.
  REQUIRE(daemon.send({"", "pub.infofile",
                       original_infofile_body("/var/lib/info/info.status", mtime,
                                              "none", cc::wire::base64_encode("other")),
                       ""}));
  CHECK(wait_until([&] { return t.central_metric("skipped") == 1; }, 10s));
  CHECK(read_file(status_copy) == status);
  // The original never asked for an ack: none comes back.
  CHECK_FALSE(daemon.receive(1s));
}

namespace {

/// A central as the original runs it: a ROUTER that answers echo.request as
/// its Echo handler does (an echo.response without `acks`) when `echo`, and
/// takes pub.* without ever answering.
struct original_central {
  cc::test::zmq_peer sock{ZMQ_ROUTER};
  bool echo;
  int probes = 0;
  std::vector<cc::wire::infofile_body> infofiles;
  std::vector<std::string> infofile_payloads;
  std::map<std::string, std::string> logs;   // filename -> bytes appended
  int duplicates = 0;                        // fragments not at the end
  std::vector<std::string> problems;         // what the original would drop

  original_central(int port, bool answer_echo) : echo(answer_echo) {
    REQUIRE(sock.bind(endpoint(port)));
  }

  void pump(std::chrono::milliseconds t) {
    auto deadline = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < deadline) {
      auto frames = sock.receive(50ms);
      if (!frames)
        continue;
      auto delim = std::find(frames->begin(), frames->end(), std::string{});
      REQUIRE(delim != frames->end());
      std::vector<std::string> route(frames->begin(), delim);
      auto type = *(delim + 1);
      const auto& body = *(delim + 2);
      bool has_blob = frames->end() - delim == 5;
      std::string blob = has_blob ? *(delim + 4) : std::string{};
      auto hdr = cc::wire::parse_header(body);
      if (!hdr || hdr->req != type)
        problems.push_back("req differs from the type: " + type);
      if (has_blob && body.find("\"blob_hash\"") == std::string::npos)
        problems.push_back("a blob without blob_hash");
      if (type == "echo.request") {
        ++probes;
        if (!echo)
          continue;
        auto req = cc::wire::parse_echo(body);
        REQUIRE(req);
        char orig_time[64], now[64];
        std::snprintf(orig_time, sizeof orig_time, "%.17g", req->hdr.time);
        std::snprintf(now, sizeof now, "%.17g", cc::wire::now_seconds());
        std::string rsp = std::string{"{\"hostname\": \"oldcentral\", \"req\": "
                                      "\"echo.response\", \"orig_time\": "} +
                          orig_time + ", \"orig_target\": \"" + req->target +
                          "\", \"blob_hash\": \"\", \"time\": " + now +
                          ", \"orig_hostname\": \"" + req->hdr.hostname + "\"}";
        auto out = route;
        out.insert(out.end(), {"", "echo.response", rsp, ""});
        REQUIRE(sock.send(out));
      } else if (type == "pub.infofile") {
        auto b = cc::wire::parse_infofile(body);
        if (!b) {
          problems.push_back("pub.infofile: " + cc::describe(b.error()));
          continue;
        }
        // What its infowriter reads: mtime, mode, hostname, filename, comp,
        // and data when the blob is empty.
        auto payload = !blob.empty() ? blob : *cc::wire::base64_decode(b->data);
        auto plain = cc::wire::decompress(payload, *cc::wire::parse_compression(b->comp),
                                          size_t{1} << 30);
        REQUIRE(plain);
        infofiles.push_back(*b);
        infofile_payloads.push_back(*plain);
      } else if (type == "pub.logtail") {
        auto b = cc::wire::parse_logtail(body);
        REQUIRE(b);
        auto payload = !blob.empty() ? blob : *cc::wire::base64_decode(b->data);
        auto& copy = logs[b->filename];
        if (b->fpos != copy.size())
          ++duplicates; // the original logs "sync lost" and appends anyway
        copy += payload;
      }
    }
  }
};

void default_local_against_original(bool answer_echo) {
  temp_dir dir{"ccorig"};
  int central_port = cc::test::free_port();
  int local_port = cc::test::free_port();
  original_central central{central_port, answer_echo};
  fs::create_directories(dir / "info");
  fs::create_directories(dir / "pg");
  write_file(dir / "pg/pg-1.log", "");
  write_file(dir / "info/info.a", "first\n");
  auto local_log = dir / "local.log";
  // The default config: no `ack` anywhere (auto), short ack-timeouts so a
  // wrong resend would show within the test.
  write_file(dir / "local.ini",
             "[ccserver]\ncc-socket = " + endpoint(local_port) + "\n"
             "cc-role = local\npidfile = " + dir / "%(job_name)s.pid" + "\n"
             "logfile = " + local_log + "\nzmq_linger = 200\n"
             "\n[routes]\njob = h:jobmgr\npub = h:forward\n"
             "\n[h:forward]\nhandler = cc.handler.proxy\n"
             "remote-cc = " + endpoint(central_port) + "\n"
             "\n[h:jobmgr]\nhandler = cc.handler.jobmgr\ndaemons = d:info, d:pg\n"
             "\n[d:info]\nmodule = cc.daemon.infosender\n"
             "infodir = " + dir / "info" + "\ninfomask = info.*\n"
             "ack-timeout = 0.5\n"
             "\n[d:pg]\nmodule = cc.daemon.logtail\n"
             "logdir = " + dir / "pg" + "\nlogmask = pg-*.log\n"
             "buffer-bytes = 1K\nack-timeout = 0.5\n");
  process local{{cc::test::ccserver_path(), dir / "local.ini"}, local_log + ".out"};
  INFO(read_file(local_log));
  REQUIRE(wait_until([&] { return cc::test::count_of(read_file(local_log), "main: up:") >= 1; },
                     15s));
  std::string log;
  for (int i = 0; i < 300; ++i) {
    auto line = "2026-01-01 00:00:00 UTC LOG:  statement " + std::to_string(i) + " " +
                std::string(static_cast<size_t>(i % 90), 'x') + "\n";
    cc::test::append_file(dir / "pg/pg-1.log", line);
    log += line;
  }
  central.pump(2500ms);
  write_file(dir / "info/info.a", "second\n");
  // Without an echo route the forwarder decides after ack_probe_timeout
  // (10 s); meanwhile nothing may be sent twice.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         !(central.logs[dir / "pg/pg-1.log"] == log && central.infofiles.size() >= 2))
    central.pump(200ms);
  central.pump(2000ms); // several ack-timeouts more: still nothing twice
  CHECK(central.problems.empty());
  CHECK(central.probes >= 1);
  CHECK(central.logs[dir / "pg/pg-1.log"] == log);
  CHECK(central.duplicates == 0);
  REQUIRE(central.infofiles.size() == 2);
  CHECK(central.infofile_payloads[0] == "first\n");
  CHECK(central.infofile_payloads[1] == "second\n");
  for (auto& b : central.infofiles) {
    CHECK(b.mode == "b");
    CHECK(b.comp == "none");
    CHECK(b.mtime > 1e9);
  }
  CHECK(cc::test::count_of(read_file(local_log), "an original CC") >= 1);
  CHECK(cc::test::count_of(read_file(local_log), "resending") == 0);
  CHECK(cc::test::count_of(read_file(local_log), "sending it again") == 0);
}

} // namespace

TEST_CASE("interop: our local with the default config against an original "
          "central (echo answered without acks): byte-identical, no duplicates",
          "[integration][infofile][interop]") {
  default_local_against_original(true);
}

TEST_CASE("interop: our local with the default config against an original "
          "central without an echo route: byte-identical, no duplicates",
          "[integration][infofile][interop]") {
  default_local_against_original(false);
}
