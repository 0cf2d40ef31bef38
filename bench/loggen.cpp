// cc-loggen: writes PostgreSQL-style log lines (100-400 bytes, varied) into
// files the way real writers do, for the demo, the fault-injection harness and
// the benchmark. Deterministic for a given --seed.
//
//   cc-loggen --dir D [--mode classic|rotated|single] [--name postgresql]
//             [--rate MBps] [--total BYTES] [--seconds S] [--rotate BYTES]
//             [--seed N] [--fsync]
//
// classic: D/<name>-0001.log, -0002.log, ... a new file every --rotate bytes
//          (name-ordered, as PostgreSQL's log_filename does).
// rotated: D/<name>.log, renamed to <name>.log.N and re-created every --rotate
//          bytes (Python's RotatingFileHandler, logrotate create).
// single:  D/<name>.log only, appended.
// Stops after --total bytes or --seconds, whichever comes first; prints one
// summary line (bytes, files, seconds).
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

struct options {
  std::string dir;
  std::string mode = "classic";
  std::string name = "postgresql";
  double rate_mbps = 0;  // 0: as fast as possible
  uint64_t total = 0;    // 0: unlimited
  double seconds = 0;    // 0: unlimited
  uint64_t rotate = 0;   // 0: never
  uint64_t seed = 1;
  bool fsync = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "cc-loggen: %s\n", why);
  std::fprintf(stderr,
               "usage: cc-loggen --dir D [--mode classic|rotated|single] "
               "[--name N] [--rate MBps] [--total BYTES] [--seconds S] "
               "[--rotate BYTES] [--seed N] [--fsync]\n");
  std::exit(2);
}

uint64_t parse_bytes(const char* text) {
  char* end = nullptr;
  double v = std::strtod(text, &end);
  switch (*end) {
    case 'k': case 'K': v *= 1024; break;
    case 'm': case 'M': v *= 1024 * 1024; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
    default: break;
  }
  return static_cast<uint64_t>(v);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc)
        usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--dir") o.dir = next();
    else if (a == "--mode") o.mode = next();
    else if (a == "--name") o.name = next();
    else if (a == "--rate") o.rate_mbps = std::atof(next());
    else if (a == "--total") o.total = parse_bytes(next());
    else if (a == "--seconds") o.seconds = std::atof(next());
    else if (a == "--rotate") o.rotate = parse_bytes(next());
    else if (a == "--seed") o.seed = std::strtoull(next(), nullptr, 10);
    else if (a == "--fsync") o.fsync = true;
    else usage(("unknown option " + a).c_str());
  }
  if (o.dir.empty())
    usage("--dir is required");
  if (o.mode != "classic" && o.mode != "rotated" && o.mode != "single")
    usage("--mode must be classic, rotated or single");
  return o;
}

const char* const statements[] = {
  "SELECT * FROM orders WHERE customer_id = $1 AND status = 'open'",
  "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
  "INSERT INTO events (kind, payload, created) VALUES ($1, $2, now())",
  "DELETE FROM sessions WHERE last_seen < now() - interval '30 minutes'",
  "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'",
  "COPY measurements FROM STDIN WITH (FORMAT csv)",
};
const char* const messages[] = {
  "LOG:  duration: %d.%03d ms  statement: %s",
  "LOG:  connection authorized: user=app database=shop application_name=web-%d",
  "ERROR:  duplicate key value violates unique constraint \"orders_pkey\" (%d)",
  "LOG:  checkpoint complete: wrote %d buffers (0.%d%%); %s",
  "WARNING:  there is no transaction in progress (backend %d, xid %d) %s",
};

// One line of 100..400 bytes, ending in '\n'.
std::string make_line(std::mt19937_64& rng, uint64_t seq) {
  char head[96];
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  tm parts;
  localtime_r(&t, &parts);
  int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                              now.time_since_epoch()).count() % 1000);
  size_t n = strftime(head, sizeof(head), "%Y-%m-%d %H:%M:%S", &parts);
  std::snprintf(head + n, sizeof(head) - n, ".%03d UTC [%u] %" PRIu64 " ", ms,
                static_cast<unsigned>(1000 + rng() % 60000), seq);
  char body[512];
  const char* stmt = statements[rng() % 6];
  std::snprintf(body, sizeof(body), messages[rng() % 5],
                static_cast<int>(rng() % 5000), static_cast<int>(rng() % 1000),
                stmt);
  std::string line = head;
  line += body;
  size_t target = 100 + rng() % 301;  // 100..400 bytes with the newline
  static const char pad[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  if (line.size() + 1 < target) {
    line += " /*";
    while (line.size() + 3 < target)
      line += pad[rng() % 36];
    line += "*/";
  }
  if (line.size() + 1 > target)
    line.resize(target - 1);
  line += '\n';
  return line;
}

int open_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  return fd;
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  ::mkdir(o.dir.c_str(), 0755);
  std::mt19937_64 rng{o.seed};
  int file_no = 1;
  auto classic_path = [&](int no) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "-%04d.log", no);
    return o.dir + "/" + o.name + buf;
  };
  std::string single_path = o.dir + "/" + o.name + ".log";
  int fd = open_file(o.mode == "classic" ? classic_path(file_no) : single_path);
  uint64_t written = 0, in_file = 0, seq = 0;
  int files = 1;
  auto start = std::chrono::steady_clock::now();
  std::string chunk;
  for (;;) {
    auto elapsed = std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - start).count();
    if ((o.total && written >= o.total) || (o.seconds > 0 && elapsed >= o.seconds))
      break;
    // Write in ~64 KiB chunks of whole lines (or one line when paced slowly).
    chunk.clear();
    size_t chunk_target = o.rate_mbps > 0 && o.rate_mbps < 1 ? 1 : 64 * 1024;
    while (chunk.size() < chunk_target) {
      chunk += make_line(rng, ++seq);
      if (o.total && written + chunk.size() >= o.total)
        break;
    }
    if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
      std::perror("write");
      return 1;
    }
    if (o.fsync)
      ::fdatasync(fd);
    written += chunk.size();
    in_file += chunk.size();
    if (o.rotate && in_file >= o.rotate && o.mode != "single") {
      ::close(fd);
      if (o.mode == "classic") {
        fd = open_file(classic_path(++file_no));
      } else {
        std::string rotated = single_path + "." + std::to_string(files);
        ::rename(single_path.c_str(), rotated.c_str());
        fd = open_file(single_path);
      }
      ++files;
      in_file = 0;
    }
    if (o.rate_mbps > 0) {
      double due = static_cast<double>(written) / (o.rate_mbps * 1024 * 1024);
      auto now = std::chrono::duration<double>(
                   std::chrono::steady_clock::now() - start).count();
      if (due > now)
        std::this_thread::sleep_for(std::chrono::duration<double>(due - now));
    }
  }
  ::close(fd);
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("cc-loggen: wrote %" PRIu64 " bytes in %d files in %.2f s\n", written,
              files, secs);
  return 0;
}
