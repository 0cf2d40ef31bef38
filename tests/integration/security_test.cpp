// Secure links (SPEC §9, docs/security.md) with real build/ccserver processes
// on 127.0.0.1: a central whose cc-socket is a CURVE server with an
// allow-list, clients written here with libzmq (listed, unlisted, plain), a
// real forwarder (a local ccserver with a tailer and a CURVE proxy) whose link
// runs through a recording TCP relay, a SIGHUP that removes a key, and a
// flood of maximal messages beside a normal sender.
//
// What is asserted: copies under dstdir (bytes), the central's metrics file
// (counters) and its log (refusal lines). Never timings.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zmq.h>

#include "tests/support/process.hpp"

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

uint64_t size_of(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : n;
}

/// A key pair as Z85 texts.
struct key_pair {
  std::string pub, secret;
  static key_pair fresh() {
    char p[41] = {}, s[41] = {};
    REQUIRE(zmq_curve_keypair(p, s) == 0);
    return {p, s};
  }
};

/// The one key line of a NAME.pub written by --keygen.
std::string key_of_file(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line))
    if (line.size() == 40)
      return line;
  return {};
}

/// A DEALER written here: plain, or a CURVE client with `client` keys.
class test_client {
public:
  test_client(const std::string& ep, const std::string* server_key,
              const key_pair* client) {
    ctx_ = zmq_ctx_new();
    sock_ = zmq_socket(ctx_, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock_, ZMQ_LINGER, &linger, sizeof(linger));
    int hwm = 1000;
    zmq_setsockopt(sock_, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    if (server_key != nullptr) {
      REQUIRE(zmq_setsockopt(sock_, ZMQ_CURVE_SERVERKEY, server_key->c_str(), 41) == 0);
      REQUIRE(zmq_setsockopt(sock_, ZMQ_CURVE_PUBLICKEY, client->pub.c_str(), 41) == 0);
      REQUIRE(zmq_setsockopt(sock_, ZMQ_CURVE_SECRETKEY, client->secret.c_str(), 41) ==
              0);
    }
    REQUIRE(zmq_connect(sock_, ep.c_str()) == 0);
  }
  ~test_client() {
    zmq_close(sock_);
    zmq_ctx_term(ctx_);
  }
  test_client(const test_client&) = delete;
  test_client& operator=(const test_client&) = delete;

  /// A pub.logtail of `data` at `fpos` of /src/<file> from `host`. Blocks
  /// while the socket is at its HWM, at most 60 s (false then).
  bool send_fragment(const std::string& host, const std::string& file,
                     uint64_t fpos, const std::string& data) {
    std::string body = R"({"req": "pub.logtail", "time": 1764000000.5, "hostname": ")" +
                       host + R"(", "blob_hash": "", "filename": "/src/)" + file +
                       R"(", "comp": "", "mode": "b", "fpos": )" +
                       std::to_string(fpos) +
                       R"(, "st_dev": 7, "st_ino": 11, "op_mode": "", "data": ""})";
    std::vector<std::string> frames{"", "pub.logtail", body, "", data};
    return send_frames(frames);
  }

  bool send_frames(const std::vector<std::string>& frames) {
    int timeout = 60000;
    zmq_setsockopt(sock_, ZMQ_SNDTIMEO, &timeout, sizeof(timeout));
    for (size_t i = 0; i < frames.size(); ++i)
      if (zmq_send(sock_, frames[i].data(), frames[i].size(),
                   i + 1 < frames.size() ? ZMQ_SNDMORE : 0) < 0)
        return false;
    return true;
  }

private:
  void* ctx_ = nullptr;
  void* sock_ = nullptr;
};

/// A loopback TCP relay: accepts on its own port, connects each accepted
/// connection to `target`, pumps both ways and records every byte.
class relay {
public:
  explicit relay(int target_port) : target_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(::listen(listen_fd_, 8) == 0);
    socklen_t len = sizeof(a);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread{[this] { run(); }};
  }
  ~relay() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  std::string captured() {
    std::lock_guard<std::mutex> g{mtx_};
    return bytes_;
  }

private:
  void run() {
    struct pair_fd {
      int a, b;
    };
    std::vector<pair_fd> pairs;
    auto end = std::chrono::steady_clock::now() + 600s; // bound of the test
    while (!stop_ && std::chrono::steady_clock::now() < end) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto& p : pairs) {
        fds.push_back({p.a, POLLIN, 0});
        fds.push_back({p.b, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 50) <= 0)
        continue;
      if (fds[0].revents & POLLIN) {
        int c = ::accept(listen_fd_, nullptr, nullptr);
        int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(target_));
        if (c >= 0 && ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
          pairs.push_back({c, s});
        } else {
          if (c >= 0)
            ::close(c);
          ::close(s);
        }
      }
      std::vector<size_t> dead;
      for (size_t i = 0; i < pairs.size(); ++i) {
        for (int dir = 0; dir < 2; ++dir) {
          auto& pfd = fds[1 + 2 * i + dir];
          if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
          char buf[65536];
          auto n = ::read(pfd.fd, buf, sizeof(buf));
          int to = dir == 0 ? pairs[i].b : pairs[i].a;
          if (n <= 0 || ::write(to, buf, static_cast<size_t>(n)) != n) {
            dead.push_back(i);
            break;
          }
          std::lock_guard<std::mutex> g{mtx_};
          if (bytes_.size() < (64u << 20))
            bytes_.append(buf, static_cast<size_t>(n));
        }
      }
      for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
        ::close(pairs[*it].a);
        ::close(pairs[*it].b);
        pairs.erase(pairs.begin() + static_cast<long>(*it));
      }
    }
    for (auto& p : pairs) {
      ::close(p.a);
      ::close(p.b);
    }
  }

  int target_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mtx_;
  std::string bytes_;
};

/// A central ccserver with CURVE on cc-socket and a tailwriter.
struct central {
  temp_dir dir{"ccsecurity"};
  int port = cc::test::free_port();
  std::string dstdir = dir / "dst";
  std::string ini = dir / "central.ini";
  std::string log = dir / "central.log";
  std::string metrics = dir / "central.prom";
  std::string allowed = dir / "allowed";
  std::string server_pub;
  std::unique_ptr<process> proc;

  explicit central(const std::string& extra_main = "") {
    std::string out;
    REQUIRE(cc::test::run({cc::test::ccserver_path(), "--keygen", dir / "server"}, out) ==
            0);
    server_pub = key_of_file(dir / "server.pub");
    REQUIRE(server_pub.size() == 40);
    write_file(allowed, "# no one yet\n");
    write_file(ini, "[ccserver]\n"
                    "cc-socket = " + endpoint(port) + "\n"
                    "cc-role = remote\n"
                    "logfile = " + log + "\n"
                    "stats-period = 0.2\n"
                    "metrics-file = " + metrics + "\n"
                    "zmq_linger = 200\n"
                    "curve-secret-key = " + dir / "server.key" + "\n"
                    "curve-allowed-keys = " + allowed + "\n" + extra_main +
                    "\n[routes]\npub = h:tailwriter\n"
                    "\n[h:tailwriter]\nhandler = tailwriter\n"
                    "dstdir = " + dstdir + "\n"
                    "maint-period = 0.5\n"
                    "worker-threads = 2\n");
  }
  ~central() {
    if (proc)
      proc->stop();
  }

  void allow(const std::vector<std::string>& keys) {
    std::string text = "# clients let in\n";
    for (auto& k : keys)
      text += k + "  # a test client\n";
    write_file(allowed, text);
  }

  void start() {
    proc = std::make_unique<process>(
      std::vector<std::string>{cc::test::ccserver_path(), ini}, log + ".out");
    REQUIRE(wait_until([&] { return count_of(read_file(log), "main: up:") >= 1; }, 15s));
  }

  std::string copy(const std::string& host, const std::string& file) const {
    return dstdir + "/" + host + "--" + file;
  }

  long long gw(const std::string& counter) const {
    return metric(metrics, "ccserver_gateway_" + counter);
  }

  std::string diagnostics() const {
    auto text = read_file(log);
    return "--- central.log (tail)\n" +
           (text.size() > 4000 ? text.substr(text.size() - 4000) : text);
  }
};

long long vm_kb(pid_t pid, const std::string& field) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0)
      return std::atoll(line.c_str() + field.size() + 1);
  return -1;
}

} // namespace

TEST_CASE("security: listed key delivers, unlisted key and plain client are refused and "
          "nothing of theirs is written",
          "[integration][security]") {
  central c;
  auto listed = key_pair::fresh();
  auto unlisted = key_pair::fresh();
  c.allow({listed.pub});
  c.start();
  {
    test_client bad(endpoint(c.port), &c.server_pub, &unlisted);
    test_client plain(endpoint(c.port), nullptr, nullptr);
    // ZeroMQ queues these until a connection is up: the unlisted one's never
    // is, the plain one's handshake fails.
    REQUIRE(bad.send_fragment("h-unlisted", "a.log", 0, "unlisted bytes\n"));
    REQUIRE(plain.send_fragment("h-plain", "a.log", 0, "plain bytes\n"));
    INFO(c.diagnostics());
    REQUIRE(wait_until([&] { return c.gw("curve_refused_total") >= 1; }, 20s));
    REQUIRE(wait_until([&] { return c.gw("handshake_failures_total") >= 1; }, 20s));
    // The control: the same message from a listed key is written.
    test_client good(endpoint(c.port), &c.server_pub, &listed);
    REQUIRE(good.send_fragment("h-listed", "a.log", 0, "listed bytes\n"));
    REQUIRE(wait_until([&] { return size_of(c.copy("h-listed", "a.log")) == 13; }, 20s));
    CHECK(read_file(c.copy("h-listed", "a.log")) == "listed bytes\n");
    CHECK(wait_until([&] { return c.gw("curve_accepted_total") >= 1; }, 10s));
  }
  CHECK(!fs::exists(c.copy("h-unlisted", "a.log")));
  CHECK(!fs::exists(c.copy("h-plain", "a.log")));
  auto text = read_file(c.log);
  INFO(c.diagnostics());
  CHECK(count_of(text, "refused client key " + unlisted.pub + " from 127.0.0.1") == 1);
  // The plain client's address and reason are best effort (docs/security.md).
  CHECK(count_of(text, "refused a connection from") >= 1);
  c.proc->stop();
}

TEST_CASE("security: a key removed from the allow-list is cut off at SIGHUP while a "
          "listed one stays connected",
          "[integration][security]") {
  central c;
  auto keep = key_pair::fresh();
  auto drop = key_pair::fresh();
  c.allow({keep.pub, drop.pub});
  c.start();
  test_client stays(endpoint(c.port), &c.server_pub, &keep);
  test_client goes(endpoint(c.port), &c.server_pub, &drop);
  REQUIRE(stays.send_fragment("h-keep", "k.log", 0, "one\n"));
  REQUIRE(goes.send_fragment("h-drop", "d.log", 0, "one\n"));
  INFO(c.diagnostics());
  REQUIRE(wait_until([&] { return size_of(c.copy("h-keep", "k.log")) == 4; }, 20s));
  REQUIRE(wait_until([&] { return size_of(c.copy("h-drop", "d.log")) == 4; }, 20s));
  REQUIRE(wait_until([&] { return c.gw("disconnects_total") >= 0; }, 10s));
  auto disconnects_before = c.gw("disconnects_total");

  c.allow({keep.pub});
  c.proc->signal(SIGHUP);
  REQUIRE(wait_until([&] { return count_of(read_file(c.log), "allow-list reloaded") >= 1; },
                     20s));
  REQUIRE(wait_until([&] { return count_of(read_file(c.log), "main: reloaded") >= 1; },
                     20s));
  // Both connections are still up; the removed key's next message is dropped.
  REQUIRE(goes.send_fragment("h-drop", "d.log", 4, "two\n"));
  REQUIRE(wait_until([&] { return c.gw("delisted_dropped_messages_total") >= 1; }, 20s));
  REQUIRE(stays.send_fragment("h-keep", "k.log", 4, "two\n"));
  REQUIRE(wait_until([&] { return size_of(c.copy("h-keep", "k.log")) == 8; }, 20s));
  CHECK(read_file(c.copy("h-keep", "k.log")) == "one\ntwo\n");
  CHECK(read_file(c.copy("h-drop", "d.log")) == "one\n");
  // No connection was dropped by the reload (the kept key's stayed up).
  CHECK(c.gw("disconnects_total") == disconnects_before);
  CHECK(count_of(read_file(c.log), "no longer in curve-allowed-keys") >= 1);
  c.proc->stop();
}

TEST_CASE("security: a forwarder with a listed key delivers over CURVE and the captured "
          "session shows no plaintext",
          "[integration][security]") {
  central c;
  std::string out;
  REQUIRE(cc::test::run({cc::test::ccserver_path(), "--keygen", c.dir / "fwd"}, out) == 0);
  c.allow({key_of_file(c.dir / "fwd.pub")});
  c.start();
  relay wire{c.port};
  std::string logdir = c.dir / "logs";
  fs::create_directories(logdir);
  std::string local_ini = c.dir / "local.ini";
  std::string local_log = c.dir / "local.log";
  write_file(local_ini,
             "[ccserver]\n"
             "cc-socket = " + endpoint(cc::test::free_port()) + "\n"
             "cc-role = local\n"
             "pidfile = " + c.dir / "%(job_name)s.pid" + "\n"
             "logfile = " + local_log + "\n"
             "zmq_linger = 200\n"
             "\n[routes]\njob = h:jobmgr\npub = h:forward\n"
             "\n[h:forward]\nhandler = proxy\n"
             "remote-cc = " + endpoint(wire.port()) + "\n"
             "remote-cc-public-key = " + c.dir / "server.pub" + "\n"
             "curve-secret-key = " + c.dir / "fwd.key" + "\n"
             "\n[h:jobmgr]\nhandler = jobmgr\ndaemons = d:app\n"
             "\n[d:app]\nmodule = logtail\nlogdir = " + logdir + "\n"
             "logmask = app-*.log\nhostname = fwdhost\nidle-flush = 0.2\n");
  process local{{cc::test::ccserver_path(), local_ini}, local_log + ".out"};
  REQUIRE(wait_until([&] { return count_of(read_file(local_log), "main: up:") >= 1; },
                     15s));
  const std::string marker = "MARKER-5e1f0c-never-on-the-wire";
  std::string content;
  for (int i = 0; i < 200; ++i)
    content += "line " + std::to_string(i) + " " + marker + "\n";
  write_file(logdir + "/app-1.log", content);
  INFO(c.diagnostics() + "--- local.log\n" + read_file(local_log));
  REQUIRE(wait_until([&] { return size_of(c.copy("fwdhost", "app-1.log")) == content.size(); },
                     30s));
  CHECK(read_file(c.copy("fwdhost", "app-1.log")) == content);
  auto captured = wire.captured();
  CHECK(captured.size() > content.size() / 2); // the session went through the relay
  CHECK(captured.find(marker) == std::string::npos);
  CHECK(captured.find("pub.logtail") == std::string::npos);
  CHECK(captured.find("CURVE") != std::string::npos); // the ZMTP greeting
  CHECK(wait_until([&] { return c.gw("curve_accepted_total") >= 1; }, 10s));
  local.stop();
  c.proc->stop();
}

TEST_CASE("security: a flood of maximal messages from one peer keeps the central's memory "
          "bounded and another peer served",
          "[integration][security][flood]") {
  // 1 MiB messages at most; the flood sends messages just under that.
  central c{"max-message-size = 1 MB\n"};
  auto flooder_key = key_pair::fresh();
  auto normal_key = key_pair::fresh();
  c.allow({flooder_key.pub, normal_key.pub});
  c.start();
  auto rss_before = vm_kb(c.proc->pid(), "VmRSS");
  const size_t fragment = (1u << 20) - 4096;
  const int flood_messages = 96;
  std::atomic<bool> flood_ok{true};
  std::thread flood{[&] {
    test_client f(endpoint(c.port), &c.server_pub, &flooder_key);
    std::string data(fragment, 'f');
    for (int i = 0; i < flood_messages; ++i)
      if (!f.send_fragment("h-flood", "f.log", static_cast<uint64_t>(i) * fragment, data)) {
        flood_ok = false;
        return;
      }
    // One message over the limit in total (two frames under it each): dropped
    // and counted, the connection stays.
    std::string half(700u << 10, 'x');
    f.send_frames({"", "pub.logtail", "{}", half, half});
    std::this_thread::sleep_for(2s); // let ZeroMQ hand over what is queued
  }};
  test_client normal(endpoint(c.port), &c.server_pub, &normal_key);
  std::string expected;
  for (int i = 0; i < 20; ++i) {
    auto line = "normal line " + std::to_string(i) + "\n";
    REQUIRE(normal.send_fragment("h-normal", "n.log", expected.size(), line));
    expected += line;
  }
  INFO(c.diagnostics());
  CHECK(wait_until([&] { return size_of(c.copy("h-normal", "n.log")) == expected.size(); },
                   60s));
  flood.join();
  CHECK(flood_ok);
  CHECK(wait_until([&] {
    return size_of(c.copy("h-flood", "f.log")) == fragment * flood_messages;
  }, 120s));
  CHECK(read_file(c.copy("h-normal", "n.log")) == expected);
  CHECK(wait_until([&] { return c.gw("oversize_messages_total") >= 1; }, 20s));
  auto rss_after = vm_kb(c.proc->pid(), "VmRSS");
  auto peak = vm_kb(c.proc->pid(), "VmHWM");
  WARN("central RSS before " << rss_before << " kB, after " << rss_after << " kB, peak "
                             << peak << " kB; flood " << flood_messages << " x "
                             << fragment << " bytes");
  // Bounded: far below what the flood carried (96 MiB) plus the baseline.
  CHECK(peak < rss_before + 96 * 1024);
  c.proc->stop();
}
