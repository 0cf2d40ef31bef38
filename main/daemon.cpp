#include "main/daemon.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

namespace cc::cli {

int daemonize() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return -1;
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return -1;
  }
  if (pid > 0) {
    ::close(fds[1]);
    unsigned char status = 1;
    ssize_t n;
    do {
      n = ::read(fds[0], &status, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
      std::fprintf(stderr, "ccserver: the background process ended before "
                           "it was up (see the logfile)\n");
    std::_Exit(n == 1 ? status : 1);
  }
  ::close(fds[0]);
  ::setsid();
  if (::chdir("/") != 0) {
    // "/" always exists; nothing sensible to do otherwise
  }
  int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO)
      ::close(null);
  }
  return fds[1];
}

void report_to_parent(int& fd, int status) {
  if (fd < 0)
    return;
  unsigned char b = static_cast<unsigned char>(status);
  ssize_t n;
  do {
    n = ::write(fd, &b, 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  fd = -1;
}

} // namespace cc::cli
