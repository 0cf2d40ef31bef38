#include "base/logger.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

namespace cc::log {

namespace {

std::atomic<int> min_level{static_cast<int>(level::info)};
std::atomic<int> line_format{static_cast<int>(format::text)};
std::mutex mtx;        // guards fd and path
int fd = STDERR_FILENO;
std::string path;

int open_append(const std::string& p) {
  return ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

} // namespace

const char* to_string(level l) {
  switch (l) {
    case level::debug: return "DEBUG";
    case level::info: return "INFO";
    case level::warning: return "WARN";
    case level::error: return "ERROR";
  }
  return "?";
}

void set_format(format f) {
  line_format = static_cast<int>(f);
}

namespace {

const char* json_level(level l) {
  switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warning: return "warning";
    case level::error: return "error";
  }
  return "?";
}

// Length of the valid UTF-8 sequence at text[i], 0 when it is not one.
size_t utf8_length(std::string_view text, size_t i) {
  auto c = static_cast<unsigned char>(text[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > text.size())
    return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80)
      return 0;
  return n;
}

// A JSON string; bytes that are not UTF-8 (a hostile host name, a binary
// file name) become U+FFFD, so every line parses.
void json_string(std::string& out, std::string_view text) {
  out += '"';
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    auto n = utf8_length(text, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(text.data() + i, n);
      i += n;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

} // namespace

std::string render(format f, level l, std::string_view who, std::string_view text,
                   long epoch_seconds, long millis) {
  time_t secs = epoch_seconds;
  tm parts;
  localtime_r(&secs, &parts);
  std::string line;
  line.reserve(64 + who.size() + text.size());
  if (f == format::json) {
    char stamp[48];
    size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &parts);
    char zone[8];
    strftime(zone, sizeof(zone), "%z", &parts);  // +0100
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ld%.3s:%.2s", millis, zone, zone + 3);
    line += "{\"time\":\"";
    line += stamp;
    line += "\",\"level\":\"";
    line += json_level(l);
    line += "\",\"component\":";
    json_string(line, who);
    line += ",\"message\":";
    json_string(line, text);
    line += ",\"pid\":";
    line += std::to_string(::getpid());
    line += "}\n";
    return line;
  }
  char stamp[32];
  size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &parts);
  snprintf(stamp + n, sizeof(stamp) - n, ".%03ld", millis);
  line += stamp;
  line += ' ';
  line += to_string(l);
  line += ' ';
  line += who;
  line += ": ";
  line += text;
  line += '\n';
  return line;
}

void set_level(level l) {
  min_level = static_cast<int>(l);
}

level current_level() {
  return static_cast<level>(min_level.load(std::memory_order_relaxed));
}

bool open(const std::string& p, std::string& err) {
  std::lock_guard<std::mutex> guard{mtx};
  if (p.empty()) {
    if (fd != STDERR_FILENO)
      ::close(fd);
    fd = STDERR_FILENO;
    path.clear();
    return true;
  }
  int nfd = open_append(p);
  if (nfd < 0) {
    err = p + ": " + std::strerror(errno);
    return false;
  }
  if (fd != STDERR_FILENO)
    ::close(fd);
  fd = nfd;
  path = p;
  return true;
}

void reopen() {
  std::lock_guard<std::mutex> guard{mtx};
  if (path.empty())
    return;
  int nfd = open_append(path);
  if (nfd < 0)
    return; // keep writing to the old descriptor rather than lose lines
  ::close(fd);
  fd = nfd;
}

void write(level l, std::string_view who, std::string_view text) {
  timeval tv;
  gettimeofday(&tv, nullptr);
  auto line = render(static_cast<format>(line_format.load(std::memory_order_relaxed)),
                     l, who, text, static_cast<long>(tv.tv_sec),
                     static_cast<long>(tv.tv_usec / 1000));
  std::lock_guard<std::mutex> guard{mtx};
  // One write per line so concurrent writers never interleave within a line.
  auto rc = ::write(fd, line.data(), line.size());
  (void) rc;
}

} // namespace cc::log
