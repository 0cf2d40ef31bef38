#include "tests/support/process.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cc::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string ccserver_path() {
  return std::string{CC_BINARY_DIR} + "/ccserver";
}

std::string source_path(const std::string& relative) {
  return std::string{CC_SOURCE_DIR} + "/" + relative;
}

namespace {

// Whether `port` on 127.0.0.1 can be bound now.
bool bindable(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("socket: " + std::string{std::strerror(errno)});
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// A port is bindable until its server binds it, which is later: another
// test process (ctest -j2), or this one picking again, could take the same
// port meanwhile and one of the two servers would fail to start. So a port
// handed out is also claimed with a file created O_EXCL in a directory every
// test process shares; a claim older than `claim_life` (its test long over)
// may be taken again.
bool reserve_port(int port) {
  constexpr auto claim_life = std::chrono::minutes(20);
  const char* base = std::getenv("TMPDIR");
  static const std::string dir =
    std::string{base ? base : "/tmp"} + "/cc-test-ports-" + std::to_string(::getuid());
  ::mkdir(dir.c_str(), 0700);
  auto path = dir + "/" + std::to_string(port);
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    if (errno != EEXIST)
      return true; // no shared directory: bindable() alone, as before
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
      continue; // removed meanwhile: try to create it again
    auto age = std::chrono::system_clock::now() -
               std::chrono::system_clock::from_time_t(st.st_mtime);
    if (age < claim_life)
      return false; // claimed by a running test
    ::unlink(path.c_str()); // stale: whoever creates it next has it
  }
  return false;
}

} // namespace

int free_port() {
  // Below the kernel's ephemeral range (32768-60999 by default): a port
  // the kernel hands out meanwhile (a connect's source port, a server's
  // data-port 0) cannot take the one a test is about to bind.
  static std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> pick{20000, 32000};
  for (int i = 0; i < 200; ++i)
    if (int port = pick(rng); bindable(port) && reserve_port(port))
      return port;
  throw std::runtime_error("free_port: no free port in 20000-32000");
}

temp_dir::temp_dir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string{base ? base : "/tmp"} + "/" + tag + "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error("mkdtemp: " + std::string{std::strerror(errno)});
  path_ = templ;
}

temp_dir::~temp_dir() {
  if (std::getenv("CC_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
}

process::process(std::vector<std::string> argv, const std::string& output_file,
                 const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  // The child's environment, made before fork (nothing to allocate after).
  std::vector<std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string var{*e};
    auto name = var.substr(0, var.find('='));
    bool replaced = std::any_of(env.begin(), env.end(),
                                [&](const auto& kv) { return kv.first == name; });
    if (!replaced)
      vars.push_back(std::move(var));
  }
  for (const auto& [k, v] : env)
    vars.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& v : vars)
    envp.push_back(v.data());
  envp.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0)
    throw std::runtime_error("fork: " + std::string{std::strerror(errno)});
  if (pid_ == 0) {
    if (!output_file.empty()) {
      int fd = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
      }
    }
    ::execve(args[0], args.data(), envp.data());
    std::_Exit(127);
  }
}

process::~process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(5s);
  }
}

bool process::running() {
  if (pid_ <= 0 || status_ >= 0)
    return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return r == 0;
}

void process::signal(int sig) {
  if (running())
    ::kill(pid_, sig);
}

int process::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return -1;
    std::this_thread::sleep_for(10ms);
  }
  return status_;
}

int process::stop(std::chrono::milliseconds timeout) {
  signal(SIGTERM);
  int st = wait(timeout);
  if (st < 0) {
    signal(SIGKILL);
    st = wait(5s);
  }
  return st;
}

int run(const std::vector<std::string>& argv, std::string& output,
        std::chrono::milliseconds timeout) {
  temp_dir dir{"ccrun"};
  auto out = dir / "out";
  process p{argv, out};
  int st = p.wait(timeout);
  if (st < 0) {
    p.signal(SIGKILL);
    p.wait(5s);
  }
  output = read_file(out);
  return st;
}

bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << content;
}

void append_file(const std::string& path, const std::string& content) {
  std::ofstream out{path, std::ios::binary | std::ios::app};
  out << content;
}

bool file_contains(const std::string& path, const std::string& needle) {
  return read_file(path).find(needle) != std::string::npos;
}

std::string endpoint(int port) {
  return "tcp://127.0.0.1:" + std::to_string(port);
}

std::unique_ptr<process> start_ccserver(const std::string& ini, const std::string& log) {
  return std::make_unique<process>(std::vector<std::string>{ccserver_path(), ini},
                                   log + ".out");
}

bool server_up(const std::string& log, size_t times) {
  return wait_until([&] { return count_of(read_file(log), "main: up:") >= times; },
                    std::chrono::seconds(15));
}

size_t count_of(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  if (needle.empty())
    return n;
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size()))
    ++n;
  return n;
}

namespace {

// `k="v",k2="v2"` into pairs; escapes kept as written (tests compare
// against label values that have none).
std::vector<std::pair<std::string, std::string>> labels_of(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = 0;
  while (i < text.size()) {
    auto eq = text.find("=\"", i);
    if (eq == std::string::npos)
      break;
    auto close = eq + 2;
    while (close < text.size() && text[close] != '"')
      close += text[close] == '\\' ? 2 : 1;
    out.emplace_back(text.substr(i, eq - i), text.substr(eq + 2, close - eq - 2));
    i = close + 2;  // past '"' and ','
  }
  return out;
}

} // namespace

long long metric(const std::string& path, const std::string& name) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return -1;
  auto brace = name.find('{');
  auto want_name = name.substr(0, brace);
  auto want = brace == std::string::npos
                ? std::vector<std::pair<std::string, std::string>>{}
                : labels_of(name.substr(brace + 1, name.size() - brace - 2));
  auto text = read_file(path);
  long long sum = 0;
  bool found = false;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    auto line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#')
      continue;
    auto space = line.rfind(' ');
    auto open = line.find('{');
    auto sample_name = line.substr(0, std::min(open, space));
    if (sample_name != want_name || space == std::string::npos)
      continue;
    auto have = open < space ? labels_of(line.substr(open + 1, line.rfind('}', space) - open - 1))
                             : std::vector<std::pair<std::string, std::string>>{};
    bool all = true;
    for (const auto& w : want)
      all = all && std::find(have.begin(), have.end(), w) != have.end();
    if (!all)
      continue;
    found = true;
    sum += std::atoll(line.c_str() + space + 1);
  }
  return found ? sum : -1;
}

} // namespace cc::test
