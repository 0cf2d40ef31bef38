// cc-latency: append-to-visible latency of a log shipper, measured end to end
// by one process. A writer thread appends lines to --source, each carrying its
// sequence number and the CLOCK_MONOTONIC time of the write(2) that appends
// it; a reader thread follows --copy (the shipper's output for that source;
// inotify IN_MODIFY plus reads to EOF) and records, per line, the time from
// the append to the moment read(2) returned that line from the copy. Both
// clocks are the same monotonic clock of the same machine.
//
//   cc-latency --source PATH --copy PATH (--rate MBps | --lines-per-second N)
//              --seconds S [--drain S] [--seed N] [--label TEXT]
//              [--timeline FILE] [--cdf FILE]
//
// --rate: a steady stream (MB = 10^6 bytes), appended every millisecond in
// whole lines of 100..400 bytes, as a busy database writes its log.
// --lines-per-second: an idle trickle, one line per write.
// Prints one line:
//   latency: label=.. mode=steady|trickle target=.. achieved_mbps=.. lines=N
//            seen=N lost=N dup=N p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
// --timeline: also writes, per 100 ms of append time, the lines appended then
// and their largest and mean latency (tab-separated, for finding stalls).
// --cdf: also writes the distribution of the latencies seen, as
// "fraction<TAB>ms" rows (every 1 % up to 90 %, 0.1 % up to 99 %, then every
// 0.01 % to the maximum): 280 rows whatever the line count, enough to plot a CDF
// with its tail (bench/plot.sh) without keeping millions of samples.
// Exit status 0 when every line was seen exactly once, 1 otherwise, 2 usage.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

namespace {

struct options {
  std::string source, copy, label = "-", timeline, cdf;
  double rate_mbps = 0;
  double lines_per_second = 0;
  double seconds = 0;
  double drain = 10;
  uint64_t seed = 1;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "cc-latency: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: cc-latency --source PATH --copy PATH (--rate MBps | "
               "--lines-per-second N) --seconds S [--drain S] [--seed N] "
               "[--label TEXT] [--timeline FILE] [--cdf FILE]\n");
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc)
        usage("missing value for " + a);
      return argv[++i];
    };
    if (a == "--source") o.source = next();
    else if (a == "--copy") o.copy = next();
    else if (a == "--rate") o.rate_mbps = std::atof(next());
    else if (a == "--lines-per-second") o.lines_per_second = std::atof(next());
    else if (a == "--seconds") o.seconds = std::atof(next());
    else if (a == "--drain") o.drain = std::atof(next());
    else if (a == "--seed") o.seed = std::strtoull(next(), nullptr, 10);
    else if (a == "--label") o.label = next();
    else if (a == "--timeline") o.timeline = next();
    else if (a == "--cdf") o.cdf = next();
    else usage("unknown option " + a);
  }
  if (o.source.empty() || o.copy.empty())
    usage("--source and --copy are required");
  if ((o.rate_mbps > 0) == (o.lines_per_second > 0))
    usage("give exactly one of --rate and --lines-per-second");
  if (o.seconds <= 0)
    usage("--seconds must be positive");
  return o;
}

int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void sleep_until_ns(int64_t when) {
  timespec ts{static_cast<time_t>(when / 1000000000),
              static_cast<long>(when % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// A line: 16 hex digits of sequence number, a space, 19 digits of monotonic
// ns, a space, filler to a total of 100..400 bytes including the '\n'.
constexpr size_t seq_digits = 16, time_digits = 19;
constexpr size_t header_bytes = seq_digits + 1 + time_digits + 1;

// Appends a line with a zero time stamp; returns the offset of the stamp so
// the caller can fill in the time right before the write(2).
size_t append_line(std::string& out, uint64_t seq, size_t length) {
  char head[header_bytes + 1];
  std::snprintf(head, sizeof(head), "%016" PRIx64 " %019d ", seq, 0);
  size_t stamp_at = out.size() + seq_digits + 1;
  out.append(head, header_bytes);
  // Filler long enough for the longest line.
  static const std::string filler = [] {
    std::string f;
    while (f.size() < 400)
      f += "latency probe line of the ccserver bench, padded like a "
           "PostgreSQL statement log line; ";
    return f;
  }();
  out.append(filler, 0, length - header_bytes - 1);
  out += '\n';
  return stamp_at;
}

void stamp(std::string& chunk, const std::vector<size_t>& stamps, int64_t t) {
  char digits[time_digits + 1];
  std::snprintf(digits, sizeof(digits), "%019" PRId64, t);
  for (size_t at : stamps)
    std::memcpy(&chunk[at], digits, time_digits);
}

struct shared_state {
  std::atomic<uint64_t> lines_written{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<int64_t> writer_end_ns{0};  // 0 while writing
  std::atomic<bool> failed{false};
};

void writer(const options& o, shared_state& st) {
  int fd = ::open(o.source.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0644);
  if (fd < 0) {
    std::fprintf(stderr, "cc-latency: %s: %s\n", o.source.c_str(),
                 std::strerror(errno));
    st.failed = true;
    st.writer_end_ns = mono_ns();
    return;
  }
  std::mt19937_64 rng{o.seed};
  const int64_t start = mono_ns();
  const int64_t stop = start + static_cast<int64_t>(o.seconds * 1e9);
  const bool steady = o.rate_mbps > 0;
  const int64_t tick = steady ? 1000000
                              : static_cast<int64_t>(1e9 / o.lines_per_second);
  uint64_t seq = 0, written = 0;
  std::string chunk;
  std::vector<size_t> stamps;
  for (int64_t next = start;; next += tick) {
    sleep_until_ns(next);
    int64_t now = mono_ns();
    if (now >= stop)
      break;
    if (now - next > 100 * tick)
      next = now;  // fell far behind (a loaded machine): do not replay ticks
    chunk.clear();
    stamps.clear();
    if (steady) {
      double due = o.rate_mbps * 1e6 * static_cast<double>(now - start) / 1e9;
      // Cap one write at 4 MiB so a late tick does not become one huge write.
      while (static_cast<double>(written + chunk.size()) < due &&
             chunk.size() < (4u << 20))
        stamps.push_back(append_line(chunk, seq++, 100 + rng() % 301));
    } else {
      stamps.push_back(append_line(chunk, seq++, 100 + rng() % 301));
    }
    if (chunk.empty())
      continue;
    stamp(chunk, stamps, mono_ns());
    if (::write(fd, chunk.data(), chunk.size()) !=
        static_cast<ssize_t>(chunk.size())) {
      std::fprintf(stderr, "cc-latency: write %s: %s\n", o.source.c_str(),
                   std::strerror(errno));
      st.failed = true;
      break;
    }
    written += chunk.size();
    st.bytes_written = written;
    st.lines_written = seq;
  }
  ::close(fd);
  st.writer_end_ns = mono_ns();
}

// Parses the fixed-width header of a line (no sscanf: it would strlen the
// whole unterminated read buffer for every line).
bool parse_header(const char* p, uint64_t& seq, int64_t& t) {
  seq = 0;
  for (size_t i = 0; i < seq_digits; ++i) {
    char c = p[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0)
      return false;
    seq = seq << 4 | static_cast<uint64_t>(v);
  }
  if (p[seq_digits] != ' ')
    return false;
  t = 0;
  for (size_t i = seq_digits + 1; i < seq_digits + 1 + time_digits; ++i) {
    if (p[i] < '0' || p[i] > '9')
      return false;
    t = t * 10 + (p[i] - '0');
  }
  return true;
}

struct reader_result {
  std::vector<int64_t> latencies_ns;
  std::vector<int64_t> appended_ns;  // the append time of each, same order
  uint64_t duplicates = 0;
  uint64_t malformed = 0;
  std::vector<uint8_t> seen;
};

// What the reader sets up before the writer appends its first line. Pages
// first touched while lines flow would put the tool's own page faults on
// the first lines' latency: the 8 MiB read buffer alone is 2,048 faults, and
// in session 26's traces every system's first 100 ms (the floor's too) had a
// mean of 4-14 ms, about 1 % of a steady run's lines, so they set its p99.
struct follow_state {
  int fd = -1;      // the copy, once it exists
  int ino = -1;     // inotify: IN_MODIFY on the copy, or its directory's
  int dir_wd = -1;  // creations while the copy does not exist yet
  bool copy_watched = false;
  std::vector<char> buf;
};

void reader_prepare(const options& o, follow_state& f, reader_result& r, size_t want) {
  f.buf.assign(8 << 20, 0);
  // Reserved and touched: resize writes every element, clear keeps them.
  r.latencies_ns.resize(want);
  r.latencies_ns.clear();
  r.appended_ns.resize(want);
  r.appended_ns.clear();
  r.seen.resize(want);
  r.seen.clear();
  f.ino = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  f.fd = ::open(o.copy.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd >= 0) {
    f.copy_watched = f.ino >= 0 && ::inotify_add_watch(f.ino, o.copy.c_str(), IN_MODIFY) >= 0;
  } else if (f.ino >= 0) {
    // A shipper that creates the copy with its first line (ours): its
    // directory, if it exists already, tells when, so the reader opens it at
    // once; else the reader tries every millisecond.
    auto slash = o.copy.rfind('/');
    std::string dir = slash == std::string::npos ? "."
                      : slash == 0              ? "/"
                                                : o.copy.substr(0, slash);
    f.dir_wd = ::inotify_add_watch(f.ino, dir.c_str(), IN_CREATE | IN_MOVED_TO);
  }
}

// Waits for an inotify event, 20 ms at most (a safety net against a missed
// one), and drains what came; without inotify, sleeps 1 ms.
void wait_event(int ino) {
  if (ino < 0) {
    ::usleep(1000);
    return;
  }
  pollfd p{ino, POLLIN, 0};
  ::poll(&p, 1, 20);
  char ev[4096];
  while (::read(ino, ev, sizeof(ev)) > 0) {
  }
}

void reader(const options& o, shared_state& st, follow_state& f, reader_result& r) {
  const int64_t give_up_open = mono_ns() + static_cast<int64_t>(
                                               (o.seconds + o.drain) * 1e9);
  while (f.fd < 0) {
    f.fd = ::open(o.copy.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd >= 0)
      break;
    if (mono_ns() > give_up_open) {
      std::fprintf(stderr, "cc-latency: the copy %s never appeared\n",
                   o.copy.c_str());
      return;
    }
    wait_event(f.dir_wd >= 0 ? f.ino : -1);
  }
  if (!f.copy_watched && f.ino >= 0) {
    // Watched before the first read: a write after it wakes the reader.
    if (f.dir_wd >= 0)
      ::inotify_rm_watch(f.ino, f.dir_wd);
    ::inotify_add_watch(f.ino, o.copy.c_str(), IN_MODIFY);
  }
  std::vector<char>& buf = f.buf;
  int fd = f.fd;
  size_t have = 0;  // bytes of an incomplete last line kept at buf[0..have)
  uint64_t seen_count = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data() + have, buf.size() - have);
    if (n > 0) {
      int64_t now = mono_ns();
      size_t end = have + static_cast<size_t>(n), line = 0;
      for (;;) {
        auto* nl = static_cast<char*>(
            std::memchr(buf.data() + line, '\n', end - line));
        if (!nl)
          break;
        size_t len = static_cast<size_t>(nl - (buf.data() + line));
        uint64_t seq;
        int64_t t;
        // A sequence number far beyond what was written is not one of ours
        // (the bound keeps a garbled line from growing `seen` without limit).
        if (len >= header_bytes && parse_header(buf.data() + line, seq, t) &&
            seq < st.lines_written + (uint64_t{1} << 24)) {
          if (seq >= r.seen.size())
            r.seen.resize(std::min(std::max<size_t>(seq + 1, r.seen.size() * 2),
                                   std::max<size_t>(seq + 1, r.seen.capacity())),
                          0);
          if (r.seen[seq]) {
            ++r.duplicates;
          } else {
            r.seen[seq] = 1;
            ++seen_count;
            r.latencies_ns.push_back(now - t);
            r.appended_ns.push_back(t);
          }
        } else {
          ++r.malformed;
        }
        line += len + 1;
      }
      std::memmove(buf.data(), buf.data() + line, end - line);
      have = end - line;
      if (have == buf.size())
        have = 0;  // a "line" of 8 MiB is not ours; drop it
      continue;
    }
    int64_t writer_end = st.writer_end_ns;
    if (writer_end != 0) {
      if (seen_count >= st.lines_written)
        break;
      if (mono_ns() > writer_end + static_cast<int64_t>(o.drain * 1e9))
        break;
    }
    wait_event(f.ino);
  }
  if (f.ino >= 0)
    ::close(f.ino);
  ::close(fd);
}

double percentile_ms(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty())
    return NAN;
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::min(std::max<size_t>(rank, 1), sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e6;
}

void write_timeline(const std::string& path, int64_t start, const reader_result& r) {
  constexpr int64_t bucket = 100000000;  // 100 ms
  struct slot {
    uint64_t lines = 0;
    int64_t max = 0, sum = 0;
  };
  std::vector<slot> slots;
  for (size_t i = 0; i < r.latencies_ns.size(); ++i) {
    auto b = static_cast<size_t>(std::max<int64_t>(r.appended_ns[i] - start, 0) / bucket);
    if (b >= slots.size())
      slots.resize(b + 1);
    auto& s = slots[b];
    ++s.lines;
    s.max = std::max(s.max, r.latencies_ns[i]);
    s.sum += r.latencies_ns[i];
  }
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "cc-latency: %s: %s\n", path.c_str(), std::strerror(errno));
    return;
  }
  std::fprintf(f, "# t_ms\tlines\tmax_ms\tmean_ms\n");
  for (size_t b = 0; b < slots.size(); ++b)
    std::fprintf(f, "%zu\t%" PRIu64 "\t%.3f\t%.3f\n", b * 100, slots[b].lines,
                 static_cast<double>(slots[b].max) / 1e6,
                 slots[b].lines ? static_cast<double>(slots[b].sum) / 1e6
                                    / static_cast<double>(slots[b].lines)
                                : 0.0);
  std::fclose(f);
}

// Takes the sorted latencies.
void write_cdf(const std::string& path, const std::vector<int64_t>& sorted) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "cc-latency: %s: %s\n", path.c_str(), std::strerror(errno));
    return;
  }
  std::fprintf(f, "# fraction\tms\n");
  // Steps counted in ten-thousandths so the grid has no rounding drift:
  // 1 % up to 90 %, 0.1 % up to 99 %, then 0.01 % for the tail.
  for (int q = 100; q <= 10000 && !sorted.empty(); q += q < 9000 ? 100 : q < 9900 ? 10 : 1)
    std::fprintf(f, "%.4f\t%.3f\n", q / 10000.0, percentile_ms(sorted, q / 10000.0));
  std::fclose(f);
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  shared_state st;
  reader_result r;
  // Room for every line up front (lines average 250 bytes), touched before
  // the first line: growing these vectors while reading copies megabytes and
  // stalls the reader, which would show up as latency of the system under
  // test.
  follow_state f;
  {
    double lines = o.rate_mbps > 0 ? o.rate_mbps * 1e6 * o.seconds / 250.0
                                   : o.lines_per_second * o.seconds;
    reader_prepare(o, f, r, static_cast<size_t>(lines * 1.5) + 1024);
  }
  int64_t start = mono_ns();
  std::thread rd([&] { reader(o, st, f, r); });
  std::thread wr([&] { writer(o, st); });
  wr.join();
  rd.join();
  auto& lat = r.latencies_ns;
  if (!o.timeline.empty())
    write_timeline(o.timeline, start, r);
  std::sort(lat.begin(), lat.end());
  if (!o.cdf.empty())
    write_cdf(o.cdf, lat);
  uint64_t lines = st.lines_written, seen = lat.size();
  double secs = static_cast<double>(st.writer_end_ns - start) / 1e9;
  char target[64];
  if (o.rate_mbps > 0)
    std::snprintf(target, sizeof(target), "%.1fMB/s", o.rate_mbps);
  else
    std::snprintf(target, sizeof(target), "%.1flines/s", o.lines_per_second);
  std::printf("latency: label=%s mode=%s target=%s achieved_mbps=%.2f "
              "lines=%" PRIu64 " seen=%" PRIu64 " lost=%" PRIu64
              " dup=%" PRIu64 " malformed=%" PRIu64
              " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
              o.label.c_str(), o.rate_mbps > 0 ? "steady" : "trickle", target,
              static_cast<double>(st.bytes_written) / 1e6 / (secs > 0 ? secs : 1),
              lines, seen, lines - std::min(lines, seen), r.duplicates,
              r.malformed, percentile_ms(lat, 0.50), percentile_ms(lat, 0.90),
              percentile_ms(lat, 0.99),
              lat.empty() ? NAN : static_cast<double>(lat.back()) / 1e6);
  bool ok = !st.failed && seen == lines && r.duplicates == 0 && r.malformed == 0;
  return ok ? 0 : 1;
}
