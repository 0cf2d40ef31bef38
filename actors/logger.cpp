#include "actors/logger.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

namespace cc::log {

namespace {

std::atomic<int> min_level{static_cast<int>(level::info)};
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
  tm parts;
  localtime_r(&tv.tv_sec, &parts);
  char stamp[32];
  size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &parts);
  snprintf(stamp + n, sizeof(stamp) - n, ".%03ld", static_cast<long>(tv.tv_usec / 1000));
  std::string line;
  line.reserve(48 + who.size() + text.size());
  line += stamp;
  line += ' ';
  line += to_string(l);
  line += ' ';
  line += who;
  line += ": ";
  line += text;
  line += '\n';
  std::lock_guard<std::mutex> guard{mtx};
  // One write per line so concurrent writers never interleave within a line.
  auto rc = ::write(fd, line.data(), line.size());
  (void) rc;
}

} // namespace cc::log
