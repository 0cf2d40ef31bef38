// Fuzz target "dest_path": a fragment's hostname and filename (and the
// tailwriter's dstmask and state directory) through the destination naming
// of actors/write/dest_path.hpp, then opened for real beneath a dstdir that holds
// planted traps.
//
// Input (FuzzedDataProvider): the last byte is flags (bit 0: custom mask,
// bit 1: host-subdirs for the default mask, bit 2: openat2 on, bit 3: also
// open the raw filename unnormalised, bits 4-5: none/.gz/.bz2, bit 6: rotated
// suffix), the 4 bytes before it a time for the rotated suffix; then, from
// the front, hostname, filename, mask and reserved as backslash-terminated
// strings ("\\\\" is one backslash). tests/fuzz/make_seeds.py writes seeds.
//
// Properties: a name normalize_destination accepts is relative, clean (no
// empty, "." or ".." component, none longer than 255 bytes, no NUL) and
// outside the reserved state directory, and normalising it again changes
// nothing; the default masks give at most two components (one when flat);
// open_beneath of it, or of the raw filename, either refuses or yields a
// regular file with one link whose real path is inside dstdir; nothing
// outside dstdir is ever created or changed, through any symlink (to a file,
// a directory, dangling, absolute), hard link or FIFO planted in dstdir.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuzzer/FuzzedDataProvider.h>

#include "actors/write/dest_path.hpp"
#include "fuzz_check.hpp"

using namespace cc::tw;
using cc::errc;
using cc_fuzz::code_of;
using cc_fuzz::shown;

namespace {

// -- the sandbox: dstdir with traps, and an outside tree that must not change -

struct sandbox {
  std::string base;    // real path of the temporary directory
  std::string dst;     // base/dst: the dstdir
  std::string outside; // base/outside
  int dst_fd = -1;
  std::set<std::string> dst_baseline;     // paths under dst at start
  std::set<std::string> outside_baseline; // paths under outside at start
};

sandbox box;

void must(bool ok, const std::string& what) {
  if (!ok) {
    std::perror(what.c_str());
    std::abort();
  }
}

void put_file(const std::string& path, const char* text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  must(fd >= 0, path);
  must(::write(fd, text, std::strlen(text)) ==
           static_cast<ssize_t>(std::strlen(text)),
       path);
  ::close(fd);
}

/// Every path beneath `dirfd` (never following a symlink), "a", "a/b", ...
void list_tree(int dirfd, const std::string& prefix,
               std::set<std::string>& out) {
  int fd = ::dup(dirfd);
  must(fd >= 0, "dup");
  DIR* dir = ::fdopendir(fd);
  must(dir != nullptr, "fdopendir");
  while (auto* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..")
      continue;
    auto rel = prefix.empty() ? name : prefix + "/" + name;
    out.insert(rel);
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(st.st_mode)) {
      int sub = ::openat(dirfd, name.c_str(),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      must(sub >= 0, rel);
      list_tree(sub, rel, out);
      ::close(sub);
    }
  }
  ::closedir(dir);
}

/// Removes what is beneath `dirfd` and not in `keep` (all of it when `keep`
/// is null), never following a symlink.
void prune(int dirfd, const std::string& prefix,
           const std::set<std::string>* keep) {
  int fd = ::dup(dirfd);
  must(fd >= 0, "dup");
  DIR* dir = ::fdopendir(fd);
  must(dir != nullptr, "fdopendir");
  std::set<std::string> names;
  while (auto* e = ::readdir(dir))
    names.insert(e->d_name);
  ::closedir(dir);
  for (const auto& name : names) {
    if (name == "." || name == "..")
      continue;
    auto rel = prefix.empty() ? name : prefix + "/" + name;
    bool kept = keep != nullptr && keep->count(rel) > 0;
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(dirfd, name.c_str(),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      must(sub >= 0, rel);
      prune(sub, rel, kept ? keep : nullptr);
      ::close(sub);
      if (!kept)
        must(::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) == 0, rel);
    } else if (!kept) {
      must(::unlinkat(dirfd, name.c_str(), 0) == 0, rel);
    }
  }
}

void remove_sandbox() {
  if (box.base.empty())
    return;
  int fd = ::open(box.base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    prune(fd, "", nullptr);
    ::close(fd);
  }
  ::rmdir(box.base.c_str());
}

/// Removes the sandboxes of earlier runs that died (a crash aborts before
/// atexit): their names carry the owner's PID.
void remove_stale_sandboxes(const std::string& parent) {
  DIR* dir = ::opendir(parent.c_str());
  if (dir == nullptr)
    return;
  std::vector<std::string> stale;
  const std::string prefix = "cc-fuzz-dest-";
  while (auto* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name.rfind(prefix, 0) != 0)
      continue;
    long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
      stale.push_back(parent + "/" + name);
  }
  ::closedir(dir);
  for (const auto& path : stale) {
    int fd =
        ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      continue;
    prune(fd, "", nullptr);
    ::close(fd);
    ::rmdir(path.c_str());
  }
}

void make_sandbox() {
  // tmpfs when there is one: open_beneath fsyncs every directory it changes.
  std::string parent = "/dev/shm";
  if (::access(parent.c_str(), W_OK) != 0)
    parent = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  remove_stale_sandboxes(parent);
  std::string tmpl =
      parent + "/cc-fuzz-dest-" + std::to_string(::getpid()) + "-XXXXXX";
  must(::mkdtemp(tmpl.data()) != nullptr, tmpl);
  char* real = ::realpath(tmpl.c_str(), nullptr);
  must(real != nullptr, tmpl);
  box.base = real;
  std::free(real);
  std::atexit(remove_sandbox);
  box.dst = box.base + "/dst";
  box.outside = box.base + "/outside";
  must(::mkdir(box.outside.c_str(), 0755) == 0, box.outside);
  must(::mkdir((box.outside + "/dir").c_str(), 0755) == 0, "outside/dir");
  put_file(box.outside + "/victim", "outside\n");
  must(::mkdir(box.dst.c_str(), 0755) == 0, box.dst);
  must(::mkdir((box.dst + "/db1").c_str(), 0755) == 0, "db1");
  put_file(box.dst + "/db1/old.log", "copy\n");
  must(::mkdir((box.dst + "/.cc-state").c_str(), 0755) == 0, ".cc-state");
  put_file(box.dst + "/.cc-state/journal", "state\n");
  // The traps: symlinks out (relative, absolute, to a file, to a directory,
  // dangling, one level down), a hard link to an outside file, a FIFO.
  must(::symlink("../../outside", (box.dst + "/db1/up").c_str()) == 0, "up");
  must(::symlink("../outside", (box.dst + "/out").c_str()) == 0, "out");
  must(::symlink(box.outside.c_str(), (box.dst + "/abs").c_str()) == 0, "abs");
  must(::symlink("../outside/victim", (box.dst + "/victim").c_str()) == 0,
       "victim");
  must(::symlink("../outside/new", (box.dst + "/dangling").c_str()) == 0,
       "dangling");
  must(::symlink("../outside/dir", (box.dst + "/db2").c_str()) == 0, "db2");
  must(::link((box.outside + "/victim").c_str(), (box.dst + "/hard").c_str()) ==
           0,
       "hard");
  must(::mkfifo((box.dst + "/fifo").c_str(), 0644) == 0, "fifo");
  box.dst_fd = ::open(box.dst.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  must(box.dst_fd >= 0, box.dst);
  list_tree(box.dst_fd, "", box.dst_baseline);
  int out_fd = ::open(box.outside.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  must(out_fd >= 0, box.outside);
  list_tree(out_fd, "", box.outside_baseline);
  ::close(out_fd);
}

std::string read_victim() {
  int fd = ::open((box.outside + "/victim").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return "<missing>";
  char buf[64];
  auto n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n < 0 ? "<unreadable>" : std::string(buf, static_cast<size_t>(n));
}

/// After every input: the outside tree is as it was, and dstdir is put back.
void check_and_restore(const std::string& what) {
  std::set<std::string> now;
  int out_fd = ::open(box.outside.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  must(out_fd >= 0, box.outside);
  list_tree(out_fd, "", now);
  ::close(out_fd);
  FUZZ_CHECK(now == box.outside_baseline,
             "something was created outside dstdir by " + what);
  FUZZ_CHECK(read_victim() == "outside\n",
             "the file outside dstdir changed by " + what);
  prune(box.dst_fd, "", &box.dst_baseline);
}

// -- the properties
// --------------------------------------------------------------

std::string components_problem(const std::string& rel) {
  if (rel.empty())
    return "empty";
  if (rel.find('\0') != std::string::npos)
    return "contains NUL";
  if (rel.front() == '/' || rel.back() == '/')
    return "starts or ends with '/'";
  size_t start = 0;
  while (start <= rel.size()) {
    auto end = rel.find('/', start);
    if (end == std::string::npos)
      end = rel.size();
    auto comp = rel.substr(start, end - start);
    if (comp.empty() || comp == "." || comp == "..")
      return "has a component '" + comp + "'";
    if (comp.size() > 255)
      return "has a component longer than 255 bytes";
    start = end + 1;
  }
  return {};
}

size_t component_count(const std::string& rel) {
  size_t n = 1;
  for (char c : rel)
    n += c == '/';
  return n;
}

/// open_beneath(rel) either refuses or opens a regular, singly linked file
/// whose real path lies beneath dstdir.
bool reached_beneath(const std::string& rel, const struct stat& want);
void check_open(const std::string& rel, const std::string& what) {
  auto opened = open_beneath(box.dst_fd, rel, O_WRONLY | O_CREAT);
  if (!opened) {
    auto code = code_of(opened.error());
    FUZZ_CHECK(code == errc::path_refused || code == errc::io,
               what + ": open_beneath failed with an undocumented code: " +
                   cc::describe(opened.error()));
    return;
  }
  int fd = opened->fd;
  struct stat st;
  FUZZ_CHECK(::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1,
             what +
                 ": open_beneath gave something other than a regular file "
                 "with one link for '" +
                 shown(rel) + "'");
  char link[4096];
  auto proc = "/proc/self/fd/" + std::to_string(fd);
  auto n = ::readlink(proc.c_str(), link, sizeof link - 1);
  int readlink_errno = errno;
  ::close(fd);
  if (n < 0 && readlink_errno == ENAMETOOLONG) {
    // The kernel cannot name a path over PATH_MAX: prove containment by
    // walking `rel` down from dstdir without following links instead.
    FUZZ_CHECK(reached_beneath(rel, st),
               what + ": '" + shown(rel) + "' opened a file not reachable "
                      "beneath dstdir without links");
    return;
  }
  FUZZ_CHECK(n > 0, "readlink " + proc);
  std::string real(link, static_cast<size_t>(n));
  FUZZ_CHECK(real.rfind(box.dst + "/", 0) == 0,
             what + ": '" + shown(rel) + "' opened " + shown(real) +
                 ", outside dstdir " + box.dst);
}

/// Whether walking `rel` from dstdir, component by component with
/// O_NOFOLLOW and no "." or "..", reaches the file `want`.
bool reached_beneath(const std::string& rel, const struct stat& want) {
  int dir = ::dup(box.dst_fd);
  size_t start = 0;
  while (dir >= 0) {
    auto slash = rel.find('/', start);
    auto comp = rel.substr(start, slash == std::string::npos ? std::string::npos
                                                             : slash - start);
    if (comp == "." || comp == "..") {
      ::close(dir);
      return false;
    }
    bool last = slash == std::string::npos;
    if (comp.empty() && !last) {
      start = slash + 1;
      continue;
    }
    int next = ::openat(dir, comp.c_str(),
                        O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK
                          | (last ? 0 : O_DIRECTORY));
    ::close(dir);
    if (next < 0)
      return false;
    if (last) {
      struct stat st;
      bool same = ::fstat(next, &st) == 0 && st.st_dev == want.st_dev
                  && st.st_ino == want.st_ino;
      ::close(next);
      return same;
    }
    dir = next;
    start = slash + 1;
  }
  return false;
}

/// Whether `p` is absolute and lexically normal (relative_inside's
/// precondition): no empty, "." or ".." component; trailing slashes allowed.
bool normal_absolute(const std::string& p) {
  if (p.empty() || p.front() != '/' || p.find('\0') != std::string::npos)
    return false;
  std::string t = p;
  while (t.size() > 1 && t.back() == '/')
    t.pop_back();
  return t == "/" || components_problem(t.substr(1)).empty();
}

void check_relative_inside(const std::string& a, const std::string& b) {
  if (!normal_absolute(a) || !normal_absolute(b))
    return;
  auto trim = [](std::string s) {
    while (s.size() > 1 && s.back() == '/')
      s.pop_back();
    return s;
  };
  auto r = relative_inside(a, b);
  if (r.empty())
    return;
  auto ta = trim(a);
  auto tb = trim(b);
  if (r == ".") {
    FUZZ_CHECK(ta == tb, "relative_inside gave '.' for different paths");
    return;
  }
  FUZZ_CHECK(tb == (ta == "/" ? "/" + r : ta + "/" + r),
             "relative_inside('" + shown(a) + "', '" + shown(b) + "') = '" +
                 shown(r) + "' does not rebuild the path");
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  make_sandbox();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in{data, size};
  auto flags = in.ConsumeIntegral<uint8_t>();
  auto when = static_cast<std::time_t>(in.ConsumeIntegral<uint32_t>());
  auto hostname = in.ConsumeRandomLengthString(512);
  auto filename = in.ConsumeRandomLengthString(4096);
  auto custom_mask = in.ConsumeRandomLengthString(512);
  auto reserved = in.ConsumeRandomLengthString(512);

  bool custom = flags & 1;
  auto mask = custom ? custom_mask : default_dstmask(flags & 2);
  if (!validate_dstmask(mask))
    FUZZ_CHECK(!mask.empty(), "validate_dstmask accepted an empty mask");
  set_openat2_enabled(flags & 4);
  check_relative_inside(reserved, filename);

  auto expanded = expand_dstmask(mask, hostname, filename);
  auto dest = normalize_destination(expanded, reserved);
  if (!dest) {
    FUZZ_CHECK(code_of(dest.error()) == errc::path_refused,
               "normalize_destination failed with an undocumented code");
  } else {
    auto problem = components_problem(*dest);
    FUZZ_CHECK(problem.empty(), "normalize_destination('" + shown(expanded) +
                                    "') = '" + shown(*dest) + "' " + problem);
    if (!reserved.empty())
      FUZZ_CHECK(*dest != reserved && dest->rfind(reserved + "/", 0) != 0,
                 "'" + shown(*dest) + "' lies in the reserved directory");
    auto again = normalize_destination(*dest, reserved);
    FUZZ_CHECK(again && *again == *dest,
               "normalising '" + shown(*dest) + "' again changes it");
    if (!custom)
      FUZZ_CHECK(component_count(*dest) <= ((flags & 2) ? 2u : 1u),
                 "the default mask made '" + shown(*dest) + "' from host '" +
                     shown(hostname) + "' and file '" + shown(filename) + "'");
    // The copy writer's full name: extension, then the rotated suffix.
    static const char* const extensions[] = {"", ".gz", ".bz2", ""};
    std::string name = *dest + extensions[(flags >> 4) & 3];
    if (flags & 64) {
      auto suffix = rotated_suffix(when);
      FUZZ_CHECK(suffix.find('/') == std::string::npos &&
                     suffix.find('\0') == std::string::npos,
                 "rotated_suffix holds '/' or NUL: " + shown(suffix));
      name += suffix;
    }
    // The suffixes add no '/', '.' or '..' component; they may push the last
    // component past 255 bytes, which open_beneath then refuses
    // (ENAMETOOLONG). Without `reserved`: "x" + ".gz" may name the state
    // directory; the open below must refuse that one as a directory.
    auto name_problem = components_problem(name);
    FUZZ_CHECK(name_problem.empty() ||
                   name_problem == "has a component longer than 255 bytes",
               "the copy's full name '" + shown(name) + "' " + name_problem);
    if (name_problem.empty()) {
      auto full = normalize_destination(name);
      FUZZ_CHECK(full && *full == name, "the copy's full name '" + shown(name) +
                                            "' does not stay normalised");
    }
    if (name_problem.empty()) {
      check_open(name, "the normalised destination");
    } else {
      auto opened = open_beneath(box.dst_fd, name, O_WRONLY | O_CREAT);
      if (opened)
        ::close(opened->fd);
      FUZZ_CHECK(!opened && code_of(opened.error()) == errc::path_refused,
                 "a name with a component over 255 bytes was not refused");
    }
  }
  if (flags & 8)
    check_open(filename, "the raw filename");
  check_and_restore("host '" + shown(hostname) + "', file '" + shown(filename) +
                    "', mask '" + shown(mask) + "'");
  return 0;
}
