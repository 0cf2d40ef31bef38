// Helpers for integration tests: real ccserver processes on 127.0.0.1, ended
// by PID; temporary directories; bounded waiting.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace cc::test {

/// Path of build/ccserver.
std::string ccserver_path();
/// Path of a file under the source tree (conf/, tests/...).
std::string source_path(const std::string& relative);

/// A free TCP port on 127.0.0.1, below the kernel's ephemeral range (bound
/// once to check, then released).
int free_port();

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
/// destruction unless CC_KEEP_TEST_DIRS is set. Declare it before an actor
/// system whose actors use it: a tailer stopped by the system's shutdown
/// still saves its position, and would make its directory again.
class temp_dir {
public:
  explicit temp_dir(const std::string& tag = "cctest");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

/// A child process; destruction kills it (SIGKILL) and reaps it if still alive.
class process {
public:
  /// Starts argv[0] with argv; stdout and stderr go to `output_file` if given;
  /// `env` is added to (or replaces in) this process's environment.
  process(std::vector<std::string> argv, const std::string& output_file = "",
          const std::vector<std::pair<std::string, std::string>>& env = {});
  ~process();
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  /// Sends `sig` to the process (by PID).
  void signal(int sig);
  /// Waits up to `timeout` for exit; returns the exit status (or 128+signal),
  /// -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  /// SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit status.
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));

private:
  pid_t pid_ = -1;
  int status_ = -1;
};

/// Runs a command to completion (bounded by `timeout`), capturing stdout and
/// stderr together. Returns the exit status (-1 on timeout).
int run(const std::vector<std::string>& argv, std::string& output,
        std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// Polls `pred` every 20 ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);
void append_file(const std::string& path, const std::string& content);
bool file_contains(const std::string& path, const std::string& needle);

/// "tcp://127.0.0.1:PORT".
std::string endpoint(int port);
/// How often `needle` occurs in `haystack` (non-overlapping).
size_t count_of(const std::string& haystack, const std::string& needle);
/// The value of the Prometheus samples `name` in the metrics file `path`,
/// summed, or -1 when the file or the sample is not there. `name` may carry
/// labels, `ccserver_tail_acked_bytes_total{section="d:pg"}`: a sample
/// matches when it has every one of them (and maybe more).
long long metric(const std::string& path, const std::string& name);

/// build/ccserver with configuration `ini`, its stdout and stderr in
/// `log` + ".out" (the server's own log is `log`, named in the ini).
std::unique_ptr<process> start_ccserver(const std::string& ini, const std::string& log);
/// Whether the server log `log` says "main: up:" `times` times within 15 s
/// (a restart says it again).
bool server_up(const std::string& log, size_t times = 1);

} // namespace cc::test
