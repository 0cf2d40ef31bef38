// cc-benchtool: the small measuring helpers bench/run.sh needs and that a
// shell would do badly (forking `stat` hundreds of times a second would itself
// load the 2-core machine it measures). Not part of ccserver.
//
//   cc-benchtool wait-size --timeout S [--stall S] [--interval-ms N]
//                          (PATH SIZE)... | --list FILE
//       Waits until every PATH exists with st_size >= SIZE (FILE: "SIZE PATH"
//       lines). Polls with stat(2), only the paths still pending. Prints
//       "wait-size: done_ns=<CLOCK_REALTIME ns> ..." and exits 0 when all are
//       complete; exits 1 on --timeout, or when no pending file grew for
//       --stall seconds (a shipper that lost bytes never reaches SIZE).
//   cc-benchtool wait-saved --timeout S SAVEFILE OFFSET
//       Waits until the tailer's position file SAVEFILE (JSON, rewritten
//       atomically by rename) names an "offset" >= OFFSET: every byte before
//       it is acknowledged, i.e. durable in the copy. Polls every 2 ms.
//       Prints "wait-saved: done_ns=<CLOCK_REALTIME ns> ..." and exits 0, or
//       exits 1 on --timeout.
//   cc-benchtool linesum FILE
//       A multiset hash of FILE's lines (order-free): two files hold the same
//       lines the same number of times iff (lines, sum1, sum2) match (up to
//       hash collisions). Prints "lines=N bytes=B sum1=HEX sum2=HEX".
//   cc-benchtool fanout --map FILE [--chunk BYTES] [--rate MBps]
//       Grows many files at once: FILE has "SRC DST" lines; each round appends
//       the next <= chunk bytes of every SRC (cut after its last newline) to its
//       DST (created on first write), until every SRC is copied. --rate paces
//       the total (MB = 10^6 bytes). Prints "fanout: start_ns=... end_ns=...
//       bytes=... files=...".
//   cc-benchtool bare-send --port P FILE | --map FILE
//       Connects to 127.0.0.1:P and sends FILE with sendfile(2), 1 MiB a call:
//       the sending half of the bench's bare transfers. --map: FILE has
//       "SRC NAME" lines; each SRC goes as a header (its NAME's length as a
//       u32, NAME, its size as a u64; host order, both ends run here) and
//       then its bytes by sendfile, one after the other on one connection.
//   cc-benchtool bare-recv --port P --out COPY --mode splice|durable
//       Listens on 127.0.0.1:P, takes one connection and writes what it
//       receives into COPY until EOF. splice: socket -> pipe -> file, the
//       least the kernel needs to land received bytes in a file (no byte in
//       user space). durable: recv into a 1 MiB buffer, XXH3 of every byte,
//       pwrite, fdatasync every 32 MiB and at the end: what ours must do to a
//       byte (digest, write, make durable before the ack) and nothing else.
//       With bare-send these are the floors ours' CPU per GB is set against.
//   cc-benchtool bare-recv --port P --dir DIR --mode many [--sync each|none|fs]
//       The receiving half of bare-send --map: each file is created as
//       DIR/NAME (its directory made once), its bytes received into a 1 MiB
//       buffer, XXH3 of every byte, pwrite, then fdatasync and close: what
//       ours must do per file and per byte at the least (no journal, no
//       questions, no acks). The scale step's floor. --sync none: no
//       fdatasync (the files alone); fs: one syncfs(2) at the end instead.
//       Prints "bare-recv: files=N bytes=B xxh3sum=HEX".
//   cc-benchtool trickle-send --port P FILE
//   cc-benchtool trickle-recv --port P --out COPY
//       The trickle's duties floor (bench/rates.sh, `duties`): ours' system
//       calls per appended line and nothing else. trickle-send waits for
//       FILE, connects to 127.0.0.1:P, and on every inotify IN_MODIFY does
//       what ours' local does: fstat, a 4 KiB pread of the head and its XXH3
//       (the generation check), a pread of the new bytes, one sendmsg of a
//       16-byte header (offset, length; host order) and the bytes.
//       trickle-recv takes one connection and, per message, does what ours'
//       central does: the read, an fstat of the copy, the pwrite. Both wait
//       with poll(2), as an event loop would. No acks, no journal, no sync.
//   cc-benchtool measure --out FILE -- CMD [ARGS...]
//       Runs CMD, forwards SIGTERM/SIGINT/SIGHUP to it, and on its exit writes
//       "utime_s stime_s maxrss_kb wall_s status" (its rusage from wait4) to
//       FILE; exits with CMD's status. The bench's short-lived processes
//       (socat, gzip) are measured this way and still stopped by one PID.
//
// Exit status 0 on success, 1 on failure or timeout, 2 on usage errors.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <csignal>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "cc-benchtool: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: cc-benchtool wait-size --timeout S [--stall S] "
               "[--interval-ms N] (PATH SIZE)... | --list FILE\n"
               "       cc-benchtool wait-saved --timeout S SAVEFILE OFFSET\n"
               "       cc-benchtool linesum FILE\n"
               "       cc-benchtool fanout --map FILE [--chunk BYTES] "
               "[--rate MBps]\n"
               "       cc-benchtool bare-send --port P FILE | --map FILE\n"
               "       cc-benchtool bare-recv --port P --out COPY --mode "
               "splice|durable\n"
               "       cc-benchtool bare-recv --port P --dir DIR --mode many "
               "[--sync each|none|fs]\n"
               "       cc-benchtool measure --out FILE -- CMD [ARGS...]\n");
  std::exit(2);
}

int64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

double mono_s() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t parse_bytes(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str())
    usage("not a size: " + text);
  switch (*end) {
    case 'k': case 'K': v *= 1024; break;
    case 'm': case 'M': v *= 1024 * 1024; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
    default: break;
  }
  return static_cast<uint64_t>(v);
}

// --- wait-size --------------------------------------------------------------

struct target {
  std::string path;
  uint64_t size;
  uint64_t seen = 0;
  bool done = false;
};

int wait_size(int argc, char** argv) {
  double timeout = 0, stall = 0;
  long interval_ms = -1;
  std::vector<target> targets;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        usage("missing value for " + a);
      return argv[++i];
    };
    if (a == "--timeout") {
      timeout = std::atof(next().c_str());
    } else if (a == "--stall") {
      stall = std::atof(next().c_str());
    } else if (a == "--interval-ms") {
      interval_ms = std::atol(next().c_str());
    } else if (a == "--list") {
      std::string list = next();
      std::ifstream in(list);
      if (!in)
        usage("cannot read list " + list);
      uint64_t size;
      std::string path;
      while (in >> size >> path)
        targets.push_back({path, size});
    } else {
      targets.push_back({a, parse_bytes(next())});
    }
  }
  if (timeout <= 0 || targets.empty())
    usage("wait-size needs --timeout and at least one PATH SIZE");
  // Few files: poll every 2 ms (the figure is seconds long); many: every 20 ms
  // so that polling stays a small fraction of one core.
  if (interval_ms < 0)
    interval_ms = targets.size() <= 16 ? 2 : 20;
  double start = mono_s(), last_growth = start;
  size_t pending = targets.size();
  uint64_t total_seen = 0;
  while (pending > 0) {
    for (auto& t : targets) {
      if (t.done)
        continue;
      struct stat st;
      if (::stat(t.path.c_str(), &st) != 0)
        continue;
      auto size = static_cast<uint64_t>(st.st_size);
      if (size != t.seen) {
        total_seen += size - std::min(size, t.seen);
        t.seen = size;
        last_growth = mono_s();
      }
      if (size >= t.size) {
        t.done = true;
        --pending;
      }
    }
    if (pending == 0)
      break;
    double now = mono_s();
    if (now - start > timeout || (stall > 0 && now - last_growth > stall)) {
      uint64_t want = 0, have = 0;
      for (auto& t : targets) {
        want += t.size;
        have += std::min(t.seen, t.size);
      }
      std::printf("wait-size: incomplete after %.1f s (%s): %zu of %zu files "
                  "pending, %" PRIu64 " of %" PRIu64 " bytes\n",
                  now - start, now - start > timeout ? "timeout" : "stalled",
                  pending, targets.size(), have, want);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  std::printf("wait-size: done_ns=%" PRId64 " files=%zu seconds=%.3f\n",
              realtime_ns(), targets.size(), mono_s() - start);
  return 0;
}

// --- wait-saved -------------------------------------------------------------

// The "offset" of a position file's JSON, or -1 while it is absent or unreadable.
int64_t saved_offset(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return -1;
  std::stringstream text;
  text << in.rdbuf();
  auto s = text.str();
  auto key = s.find("\"offset\":");
  if (key == std::string::npos)
    return -1;
  auto p = key + 9;
  while (p < s.size() && s[p] == ' ')
    ++p;
  if (p >= s.size() || s[p] < '0' || s[p] > '9')
    return -1;
  int64_t v = 0;
  while (p < s.size() && s[p] >= '0' && s[p] <= '9')
    v = v * 10 + (s[p++] - '0');
  return v;
}

int wait_saved(int argc, char** argv) {
  double timeout = 0;
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--timeout" && i + 1 < argc)
      timeout = std::atof(argv[++i]);
    else
      args.push_back(a);
  }
  if (timeout <= 0 || args.size() != 2)
    usage("wait-saved needs --timeout, SAVEFILE and OFFSET");
  auto want = static_cast<int64_t>(parse_bytes(args[1]));
  double start = mono_s();
  int64_t seen = -1;
  while ((seen = saved_offset(args[0])) < want) {
    if (mono_s() - start > timeout) {
      std::printf("wait-saved: incomplete after %.1f s: offset %" PRId64
                  " of %" PRId64 " in %s\n",
                  mono_s() - start, seen, want, args[0].c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::printf("wait-saved: done_ns=%" PRId64 " offset=%" PRId64 " seconds=%.3f\n",
              realtime_ns(), seen, mono_s() - start);
  return 0;
}

// --- linesum ----------------------------------------------------------------

// FNV-1a over the line, then two different finalisers, so the two sums are
// (practically) independent multiset hashes.
uint64_t mix1(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}
uint64_t mix2(uint64_t h) {
  h += 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

int linesum(int argc, char** argv) {
  if (argc != 1)
    usage("linesum takes one FILE");
  int fd = ::open(argv[0], O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "cc-benchtool: %s: %s\n", argv[0], std::strerror(errno));
    return 1;
  }
  std::vector<char> buf(1 << 20);
  const uint64_t basis = 0xcbf29ce484222325ULL;
  uint64_t h = basis, lines = 0, bytes = 0, sum1 = 0, sum2 = 0;
  bool open_line = false;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      std::fprintf(stderr, "cc-benchtool: read %s: %s\n", argv[0],
                   std::strerror(errno));
      return 1;
    }
    if (n == 0)
      break;
    bytes += static_cast<uint64_t>(n);
    for (ssize_t i = 0; i < n; ++i) {
      unsigned char c = static_cast<unsigned char>(buf[i]);
      if (c == '\n') {
        ++lines;
        sum1 += mix1(h);
        sum2 += mix2(h);
        h = basis;
        open_line = false;
      } else {
        h = (h ^ c) * 0x100000001b3ULL;
        open_line = true;
      }
    }
  }
  ::close(fd);
  if (open_line) {  // a last line without '\n' still counts
    ++lines;
    sum1 += mix1(h);
    sum2 += mix2(h);
  }
  std::printf("lines=%" PRIu64 " bytes=%" PRIu64 " sum1=%016" PRIx64
              " sum2=%016" PRIx64 "\n",
              lines, bytes, sum1, sum2);
  return 0;
}

// --- fanout -----------------------------------------------------------------

struct stream {
  std::string src, dst;
  int in = -1, out = -1;
  bool done = false;
};

int fanout(int argc, char** argv) {
  std::string map;
  uint64_t chunk = 16 * 1024;
  double rate = 0;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        usage("missing value for " + a);
      return argv[++i];
    };
    if (a == "--map") map = next();
    else if (a == "--chunk") chunk = parse_bytes(next());
    else if (a == "--rate") rate = std::atof(next().c_str());
    else usage("unknown fanout option " + a);
  }
  if (map.empty() || chunk == 0)
    usage("fanout needs --map FILE and a positive --chunk");
  std::vector<stream> streams;
  {
    std::ifstream in(map);
    if (!in)
      usage("cannot read map " + map);
    stream s;
    while (in >> s.src >> s.dst)
      streams.push_back(s);
  }
  for (auto& s : streams) {
    s.in = ::open(s.src.c_str(), O_RDONLY | O_CLOEXEC);
    if (s.in < 0) {
      std::fprintf(stderr, "cc-benchtool: %s: %s\n", s.src.c_str(),
                   std::strerror(errno));
      return 1;
    }
  }
  std::vector<char> buf(chunk);
  uint64_t total = 0;
  size_t remaining = streams.size();
  int64_t start_ns = realtime_ns();
  double start = mono_s();
  while (remaining > 0) {
    for (auto& s : streams) {
      if (s.done)
        continue;
      ssize_t n = ::read(s.in, buf.data(), buf.size());
      if (n <= 0) {
        s.done = true;
        --remaining;
        ::close(s.in);
        if (s.out >= 0)
          ::close(s.out);
        continue;
      }
      // Whole lines per write, as a logging process writes; the cut-off tail
      // is read again in the next round.
      ssize_t keep = n;
      if (static_cast<uint64_t>(n) == chunk) {
        auto* nl = static_cast<char*>(::memrchr(buf.data(), '\n', n));
        if (nl)
          keep = nl - buf.data() + 1;
        ::lseek(s.in, keep - n, SEEK_CUR);
      }
      if (s.out < 0) {
        s.out = ::open(s.dst.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                       0644);
        if (s.out < 0) {
          std::fprintf(stderr, "cc-benchtool: %s: %s\n", s.dst.c_str(),
                       std::strerror(errno));
          return 1;
        }
      }
      if (::write(s.out, buf.data(), keep) != keep) {
        std::fprintf(stderr, "cc-benchtool: write %s: %s\n", s.dst.c_str(),
                     std::strerror(errno));
        return 1;
      }
      total += static_cast<uint64_t>(keep);
    }
    if (rate > 0) {
      double due = static_cast<double>(total) / (rate * 1e6);
      double now = mono_s() - start;
      if (due > now)
        std::this_thread::sleep_for(std::chrono::duration<double>(due - now));
    }
  }
  std::printf("fanout: start_ns=%" PRId64 " end_ns=%" PRId64 " bytes=%" PRIu64
              " files=%zu\n",
              start_ns, realtime_ns(), total, streams.size());
  return 0;
}


// --- bare-send / bare-recv --------------------------------------------------

sockaddr_in loopback(const std::string& port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(port)));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int fail(const char* what) {
  std::fprintf(stderr, "cc-benchtool: %s: %s\n", what, std::strerror(errno));
  return 1;
}

// Sends all of fd's `size` bytes from offset 0 into sock.
bool send_whole(int sock, int fd, off_t size) {
  off_t off = 0;
  while (off < size) {
    ssize_t n = ::sendfile(sock, fd, &off, 1 << 20);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
  }
  return true;
}

bool write_whole(int sock, const void* data, size_t len) {
  auto p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(sock, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

int bare_send(int argc, char** argv) {
  bool many = argc == 4 && std::string(argv[2]) == "--map";
  if ((argc != 3 && !many) || std::string(argv[0]) != "--port")
    usage("bare-send needs --port P FILE | --map FILE");
  int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to = loopback(argv[1]);
  if (sock < 0 || ::connect(sock, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
    return fail("connect");
  auto send_one = [&](const std::string& src, const std::string* name) {
    int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0)
      return fail(src.c_str());
    if (name) {
      auto len = static_cast<uint32_t>(name->size());
      auto size = static_cast<uint64_t>(st.st_size);
      if (!write_whole(sock, &len, sizeof len) || !write_whole(sock, name->data(), len) ||
          !write_whole(sock, &size, sizeof size))
        return fail("write");
    }
    bool ok = send_whole(sock, fd, st.st_size);
    ::close(fd);
    return ok ? 0 : fail("sendfile");
  };
  if (!many) {
    int rc = send_one(argv[2], nullptr);
    ::close(sock);
    return rc;
  }
  std::ifstream map(argv[3]);
  if (!map)
    return fail(argv[3]);
  std::string src, name;
  while (map >> src >> name)
    if (int rc = send_one(src, &name); rc != 0)
      return rc;
  ::close(sock);
  return 0;
}

int accept_one(const std::string& port) {
  int lsock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(lsock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in at = loopback(port);
  if (lsock < 0 || ::bind(lsock, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 ||
      ::listen(lsock, 1) != 0)
    return -1;
  int sock = ::accept4(lsock, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(lsock);
  return sock;
}

// socket -> pipe -> file: the received pages are copied once, into the copy's
// page cache, and never reach user space.
int recv_splice(int sock, int out) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    return fail("pipe");
  ::fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  for (;;) {
    ssize_t n = ::splice(sock, nullptr, p[1], nullptr, 1 << 20, SPLICE_F_MOVE);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0)
      return 0;
    if (n < 0)
      return fail("splice from socket");
    while (n > 0) {
      ssize_t m = ::splice(p[0], nullptr, out, nullptr, static_cast<size_t>(n), SPLICE_F_MOVE);
      if (m <= 0)
        return fail("splice to file");
      n -= m;
    }
  }
}

int recv_durable(int sock, int out) {
  constexpr off_t sync_every = off_t{32} << 20;
  std::vector<char> buf(size_t{1} << 20);
  XXH3_state_t* digest = XXH3_createState();
  XXH3_64bits_reset(digest);
  off_t off = 0;
  for (;;) {
    ssize_t n = ::recv(sock, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail("recv");
    if (n == 0)
      break;
    XXH3_64bits_update(digest, buf.data(), static_cast<size_t>(n));
    if (::pwrite(out, buf.data(), static_cast<size_t>(n), off) != n)
      return fail("pwrite");
    off += n;
    if (off / sync_every != (off - n) / sync_every && ::fdatasync(out) != 0)
      return fail("fdatasync");
  }
  if (::fdatasync(out) != 0)
    return fail("fdatasync");
  std::printf("bare-recv: bytes=%lld xxh3=%016llx\n", static_cast<long long>(off),
              static_cast<unsigned long long>(XXH3_64bits_digest(digest)));
  XXH3_freeState(digest);
  return 0;
}

// Bytes from a socket through one 1 MiB buffer: headers and file bodies
// of bare-send --map.
class socket_in {
public:
  explicit socket_in(int sock) : sock_(sock), buf_(size_t{1} << 20) {}

  /// Refills when empty; false at EOF (err_ set on an error).
  bool fill() {
    if (at_ < end_)
      return true;
    for (;;) {
      ssize_t n = ::recv(sock_, buf_.data(), buf_.size(), 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        err_ = true;
      if (n <= 0)
        return false;
      at_ = 0;
      end_ = static_cast<size_t>(n);
      return true;
    }
  }
  bool exact(void* dst, size_t len) {
    auto p = static_cast<char*>(dst);
    while (len > 0) {
      if (!fill())
        return false;
      size_t n = std::min(len, end_ - at_);
      std::memcpy(p, buf_.data() + at_, n);
      at_ += n;
      p += n;
      len -= n;
    }
    return true;
  }
  /// Up to `max` bytes in place (fill() first).
  std::pair<const char*, size_t> take(size_t max) {
    size_t n = std::min(max, end_ - at_);
    const char* p = buf_.data() + at_;
    at_ += n;
    return {p, n};
  }
  bool failed() const { return err_; }

private:
  int sock_;
  std::vector<char> buf_;
  size_t at_ = 0, end_ = 0;
  bool err_ = false;
};

// How recv_many makes its files durable: fdatasync each before the next
// (each: what ours does before it acknowledges a copy), none (the cost of
// the files alone), or one syncfs(2) at the end (the kernel writes them back
// together, mostly in its flusher threads).
enum class many_sync { each, none, fs };

int recv_many(int sock, const std::string& dir, many_sync sync) {
  socket_in in{sock};
  std::vector<std::string> made;  // directories made or found, newest last
  XXH3_state_t* digest = XXH3_createState();
  uint64_t files = 0, bytes = 0, sum = 0;
  for (;;) {
    uint32_t len = 0;
    if (!in.exact(&len, sizeof len)) {
      if (in.failed())
        return fail("recv");
      break; // EOF between files: done
    }
    std::string name(len, '\0');
    uint64_t size = 0;
    if (!in.exact(name.data(), len) || !in.exact(&size, sizeof size))
      return fail("recv (header)");
    std::string path = dir + "/" + name;
    std::string parent = path.substr(0, path.rfind('/'));
    if (std::find(made.rbegin(), made.rend(), parent) == made.rend()) {
      for (size_t i = dir.size() + 1; i <= parent.size(); ++i)
        if (i == parent.size() || parent[i] == '/')
          if (::mkdir(parent.substr(0, i).c_str(), 0755) != 0 && errno != EEXIST)
            return fail(parent.c_str());
      made.push_back(parent);
    }
    int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
      return fail(path.c_str());
    XXH3_64bits_reset(digest);
    uint64_t off = 0;
    while (off < size) {
      if (!in.fill())
        return fail("recv (body)");
      auto [p, n] = in.take(size - off);
      XXH3_64bits_update(digest, p, n);
      if (::pwrite(out, p, n, static_cast<off_t>(off)) != static_cast<ssize_t>(n))
        return fail("pwrite");
      off += n;
    }
    if (sync == many_sync::each && ::fdatasync(out) != 0)
      return fail("fdatasync");
    ::close(out);
    files += 1;
    bytes += size;
    sum += XXH3_64bits_digest(digest);
  }
  if (sync == many_sync::fs) {
    int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0 || ::syncfs(d) != 0)
      return fail("syncfs");
    ::close(d);
  }
  std::printf("bare-recv: files=%" PRIu64 " bytes=%" PRIu64 " xxh3sum=%016" PRIx64 "\n",
              files, bytes, sum);
  XXH3_freeState(digest);
  return 0;
}

int bare_recv(int argc, char** argv) {
  std::string port, copy, dir, mode, sync = "each";
  if (argc % 2 != 0)
    usage("bare-recv takes --port P (--out COPY --mode splice|durable | --dir DIR --mode many)");
  for (int i = 0; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port") port = argv[i + 1];
    else if (a == "--out") copy = argv[i + 1];
    else if (a == "--dir") dir = argv[i + 1];
    else if (a == "--mode") mode = argv[i + 1];
    else if (a == "--sync") sync = argv[i + 1];
    else usage("unknown bare-recv option " + a);
  }
  if (sync != "each" && sync != "none" && sync != "fs")
    usage("bare-recv --sync takes each, none or fs");
  bool many = mode == "many" && !dir.empty() && copy.empty();
  if (port.empty() || (!many && (copy.empty() || (mode != "splice" && mode != "durable"))))
    usage("bare-recv needs --port P (--out COPY --mode splice|durable | --dir DIR --mode many)");
  int sock = accept_one(port);
  if (sock < 0)
    return fail("listen/accept");
  if (many) {
    int rc = recv_many(sock, dir, sync == "each" ? many_sync::each
                                  : sync == "none" ? many_sync::none : many_sync::fs);
    ::close(sock);
    return rc;
  }
  int out = ::open(copy.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0)
    return fail(copy.c_str());
  int rc = mode == "splice" ? recv_splice(sock, out) : recv_durable(sock, out);
  ::close(out);
  ::close(sock);
  return rc;
}

// --- measure ----------------------------------------------------------------

volatile sig_atomic_t child_pid = 0;

void forward_signal(int sig) {
  if (child_pid > 0)
    ::kill(child_pid, sig);
}

// --- trickle-send / trickle-recv -------------------------------------------

int trickle_send(int argc, char** argv) {
  if (argc != 3 || std::string(argv[0]) != "--port")
    usage("trickle-send needs --port P FILE");
  const char* path = argv[2];
  int src = -1;
  for (int i = 0; i < 30000 && (src = ::open(path, O_RDONLY | O_CLOEXEC)) < 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  int in = ::inotify_init1(IN_CLOEXEC);
  if (src < 0 || in < 0 || ::inotify_add_watch(in, path, IN_MODIFY) < 0)
    return fail(path);
  int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in to = loopback(argv[1]);
  if (sock < 0 || ::connect(sock, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
    return fail("connect");
  std::vector<char> buf(1 << 20);
  char head[4096];
  alignas(inotify_event) char events[4096];
  uint64_t pos = 0;
  uint64_t head_sum = 0; // the generation check's digest, made as ours makes it; unused
  for (;;) {
    struct stat st {};
    if (::fstat(src, &st) != 0)
      return fail("fstat");
    auto h = ::pread(src, head, sizeof head, 0);
    head_sum ^= XXH3_64bits(head, h > 0 ? static_cast<size_t>(h) : 0);
    while (static_cast<uint64_t>(st.st_size) > pos) {
      auto want = std::min<uint64_t>(buf.size(), static_cast<uint64_t>(st.st_size) - pos);
      auto n = ::pread(src, buf.data(), want, static_cast<off_t>(pos));
      if (n <= 0)
        break;
      uint64_t hdr[2] = {pos, static_cast<uint64_t>(n)};
      iovec iov[2] = {{hdr, sizeof hdr}, {buf.data(), static_cast<size_t>(n)}};
      msghdr mh{};
      mh.msg_iov = iov;
      mh.msg_iovlen = 2;
      if (::sendmsg(sock, &mh, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof hdr + n))
        return fail("sendmsg"); // a trickle's message fits the socket buffer
      pos += static_cast<uint64_t>(n);
    }
    pollfd pf{in, POLLIN, 0};
    if (::poll(&pf, 1, -1) < 0 && errno != EINTR)
      return fail("poll");
    if (::read(in, events, sizeof events) <= 0 && errno != EINTR)
      return fail("inotify read");
  }
}

int trickle_recv(int argc, char** argv) {
  if (argc != 4 || std::string(argv[0]) != "--port" || std::string(argv[2]) != "--out")
    usage("trickle-recv needs --port P --out COPY");
  int sock = accept_one(argv[1]);
  if (sock < 0)
    return fail("accept");
  int out = ::open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0)
    return fail(argv[3]);
  std::vector<char> buf(2 << 20);
  size_t have = 0;
  for (;;) {
    pollfd pf{sock, POLLIN, 0};
    if (::poll(&pf, 1, -1) < 0 && errno != EINTR)
      return fail("poll");
    auto n = ::read(sock, buf.data() + have, buf.size() - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0)
      return 0;
    if (n < 0)
      return fail("read");
    have += static_cast<size_t>(n);
    size_t at = 0;
    while (have - at >= 16) {
      uint64_t hdr[2];
      std::memcpy(hdr, buf.data() + at, sizeof hdr);
      if (hdr[1] > buf.size() - 16)
        return fail("message larger than the buffer");
      if (have - at - 16 < hdr[1])
        break;
      struct stat st {};
      if (::fstat(out, &st) != 0 ||
          ::pwrite(out, buf.data() + at + 16, hdr[1], static_cast<off_t>(hdr[0])) !=
            static_cast<ssize_t>(hdr[1]))
        return fail("pwrite");
      at += 16 + hdr[1];
    }
    std::memmove(buf.data(), buf.data() + at, have - at);
    have -= at;
  }
}

int measure(int argc, char** argv) {
  std::string out;
  int i = 0;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--out" && i + 1 < argc)
      out = argv[++i];
    else if (a == "--")
      break;
    else
      usage("unknown measure option " + a);
  }
  if (out.empty() || i + 1 >= argc)
    usage("measure needs --out FILE -- CMD");
  char** cmd = argv + i + 1;
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP})
    ::sigaction(sig, &sa, nullptr);
  double start = mono_s();
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("cc-benchtool: fork");
    return 1;
  }
  if (pid == 0) {
    ::execvp(cmd[0], cmd);
    std::fprintf(stderr, "cc-benchtool: exec %s: %s\n", cmd[0],
                 std::strerror(errno));
    ::_exit(127);
  }
  child_pid = pid;
  int status = 0;
  rusage ru{};
  while (::wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      std::perror("cc-benchtool: wait4");
      return 1;
    }
  }
  double wall = mono_s() - start;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  if (FILE* f = std::fopen(out.c_str(), "w")) {
    std::fprintf(f, "%.3f %.3f %ld %.3f %d\n", secs(ru.ru_utime),
                 secs(ru.ru_stime), ru.ru_maxrss, wall, code);
    std::fclose(f);
  }
  return code;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    usage("missing command");
  std::string cmd = argv[1];
  if (cmd == "wait-size")
    return wait_size(argc - 2, argv + 2);
  if (cmd == "wait-saved")
    return wait_saved(argc - 2, argv + 2);
  if (cmd == "linesum")
    return linesum(argc - 2, argv + 2);
  if (cmd == "fanout")
    return fanout(argc - 2, argv + 2);
  if (cmd == "bare-send")
    return bare_send(argc - 2, argv + 2);
  if (cmd == "bare-recv")
    return bare_recv(argc - 2, argv + 2);
  if (cmd == "trickle-send")
    return trickle_send(argc - 2, argv + 2);
  if (cmd == "trickle-recv")
    return trickle_recv(argc - 2, argv + 2);
  if (cmd == "measure")
    return measure(argc - 2, argv + 2);
  usage("unknown command " + cmd);
}
