#include "main/pidfile.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include "base/error.hpp"

namespace cc::cli {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r'))
    s.pop_back();
  return s;
}

// The process state letter from /proc/PID/stat ('Z' zombie), 0 if unknown.
char process_state(pid_t pid) {
  auto stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size())
    return 0;
  return stat[close + 2];
}

} // namespace

std::optional<pid_t> read_pid(const std::string& path) {
  auto text = trimmed(slurp(path));
  if (text.empty())
    return std::nullopt;
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (*end != '\0' || v <= 0 || v > INT32_MAX)
    return std::nullopt;
  return static_cast<pid_t>(v);
}

bool is_running_server(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno != EPERM)
    return false;
  if (process_state(pid) == 'Z')
    return false; // exited, not yet reaped by its parent
  auto theirs = trimmed(slurp("/proc/" + std::to_string(pid) + "/comm"));
  auto ours = trimmed(slurp("/proc/self/comm"));
  // A pid reused by some other program makes the file stale.
  return theirs.empty() || ours.empty() || theirs == ours;
}

caf::error check_pidfile(const std::string& path) {
  auto pid = read_pid(path);
  if (pid && *pid != ::getpid() && is_running_server(*pid))
    return make_error(errc::io, "already running as pid " +
                                  std::to_string(*pid) + " (pidfile " + path +
                                  ")");
  return caf::none;
}

caf::error take_pidfile(const std::string& path) {
  if (auto err = check_pidfile(path))
    return err;
  auto tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(errc::io, "pidfile " + tmp + ": " + std::strerror(errno));
  auto text = std::to_string(::getpid()) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) ==
            static_cast<ssize_t>(text.size());
  int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return make_error(errc::io, "pidfile " + tmp + ": " + std::strerror(saved));
  }
  // link() publishes the complete file atomically and, unlike rename(),
  // fails when another instance got there first.
  for (int attempt = 0;; ++attempt) {
    if (::link(tmp.c_str(), path.c_str()) == 0)
      break;
    saved = errno;
    if (saved == EEXIST && attempt == 0) {
      if (auto err = check_pidfile(path)) {
        ::unlink(tmp.c_str());
        return err;
      }
      ::unlink(path.c_str()); // stale: take it over
      continue;
    }
    ::unlink(tmp.c_str());
    return make_error(errc::io, "pidfile " + path + ": " + std::strerror(saved));
  }
  ::unlink(tmp.c_str());
  return caf::none;
}

void release_pidfile(const std::string& path) {
  auto pid = read_pid(path);
  if (pid && *pid == ::getpid())
    ::unlink(path.c_str());
}

} // namespace cc::cli
