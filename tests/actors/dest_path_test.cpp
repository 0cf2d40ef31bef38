// Destination naming and path safety of the tailwriter (actors/write/dest_path).
#include <catch2/catch.hpp>

#include <cerrno>
#include <regex>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/write/dest_path.hpp"
#include "base/error.hpp"
#include "tests/support/process.hpp"

using namespace cc;
using namespace cc::tw;

namespace {

/// The destination a fragment gets, or "REFUSED".
std::string dest(std::string_view mask, std::string_view host,
                 std::string_view file, std::string_view reserved = {}) {
  auto d = normalize_destination(expand_dstmask(mask, host, file), reserved);
  return d ? *d : std::string{"REFUSED"};
}

bool is_refused(const caf::error& err) {
  return err.category() == error_category
         && err.code() == static_cast<uint8_t>(errc::path_refused);
}

/// Runs a test body with openat2 on and off (the component-wise fallback).
template <class F>
void both_resolvers(F f) {
  for (bool with_openat2 : {true, false}) {
    set_openat2_enabled(with_openat2);
    INFO("openat2 " << (with_openat2 ? "on" : "off (fallback walk)"));
    f();
  }
  set_openat2_enabled(true);
}

struct dirs {
  test::temp_dir tmp{"cc-destpath"};
  std::string dst = tmp / "dst";
  std::string outside = tmp / "outside";
  int dst_fd = -1;
  dirs() {
    ::mkdir(dst.c_str(), 0755);
    ::mkdir(outside.c_str(), 0755);
    dst_fd = ::open(dst.c_str(), O_RDONLY | O_DIRECTORY);
  }
  ~dirs() {
    ::close(dst_fd);
  }
};

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

} // namespace

TEST_CASE("default dstmask follows host-subdirs", "[tailwriter][dest_path]") {
  CHECK(default_dstmask(true) == "%(hostname)s/%(filename)s");
  CHECK(default_dstmask(false) == "%(hostname)s--%(filename)s");
}

TEST_CASE("dstmask expansion for every placeholder", "[tailwriter][dest_path]") {
  const std::string src = "/var/log/postgresql/postgresql-Mon.log";
  CHECK(dest("%(hostname)s/%(filename)s", "db1", src) == "db1/postgresql-Mon.log");
  CHECK(dest("%(hostname)s--%(filename)s", "db1", src)
        == "db1--postgresql-Mon.log");
  // %(filepath)s keeps the directories; the leading '/' collapses.
  CHECK(dest("%(hostname)s/%(filepath)s", "db1", src)
        == "db1/var/log/postgresql/postgresql-Mon.log");
  CHECK(dest("logs/%(hostname)s/x-%(filename)s.copy", "db1", src)
        == "logs/db1/x-postgresql-Mon.log.copy");
  CHECK(expand_dstmask("100%%-%(hostname)s", "h", "f") == "100%-h");
  // A '/' in the hostname becomes '_'; '\' in the path becomes '/'.
  CHECK(dest("%(hostname)s/%(filename)s", "a/b", src) == "a_b/postgresql-Mon.log");
  CHECK(dest("%(hostname)s/%(filename)s", "winhost", "C:\\logs\\app.log")
        == "winhost/app.log");
  CHECK(dest("%(hostname)s/%(filepath)s", "winhost", "C:\\logs\\app.log")
        == "winhost/C:/logs/app.log");
}

TEST_CASE("dstmask validation names the bad placeholder", "[tailwriter][dest_path]") {
  CHECK(!validate_dstmask("%(hostname)s/%(filename)s"));
  CHECK(!validate_dstmask("%(hostname)s/%(filepath)s"));
  CHECK(!validate_dstmask("100%%/%(filename)s"));
  auto bad = validate_dstmask("%(host)s/%(filename)s");
  REQUIRE(bad);
  CHECK_THAT(describe(bad), Catch::Contains("%(host)s"));
  CHECK(validate_dstmask("50%/%(filename)s"));
  CHECK(validate_dstmask(""));
}

TEST_CASE("normalisation resolves inside dstdir and refuses the rest",
          "[tailwriter][dest_path]") {
  CHECK(*normalize_destination("a/./b//c") == "a/b/c");
  CHECK(*normalize_destination("a/x/../b") == "a/b");
  CHECK(*normalize_destination("/etc/passwd") == "etc/passwd"); // joined as text
  for (auto bad : {"", "..", "../x", "/../x", "a/../../x", "a/..", ".", "/",
                   "x/", "x/.", "./"}) {
    auto d = normalize_destination(bad);
    INFO("path: '" << bad << "'");
    REQUIRE(!d);
    CHECK(is_refused(d.error()));
  }
  auto nul = normalize_destination(std::string_view{"a\0b", 3});
  CHECK(!nul);
  CHECK(!normalize_destination(std::string(300, 'x')));
  // The state directory inside dstdir is off limits, its siblings are not.
  CHECK(!normalize_destination(".ccstate/x.j", ".ccstate"));
  CHECK(!normalize_destination(".ccstate", ".ccstate"));
  CHECK(*normalize_destination(".ccstate2/x", ".ccstate") == ".ccstate2/x");
}

TEST_CASE("normalize_destination_of gives what normalize_destination gives, refusals and "
          "their reasons included",
          "[tailwriter][dest_path]") {
  const std::string long_name(300, 'x');
  const std::string_view paths[] = {
    "a/b/c", "a/./b//c", "a/x/../b", "/etc/passwd", "", "..", "../x", "/../x", "a/../../x",
    "a/..", ".", "/", "x/", "x/.", "./", "db1/var/log/x.log", ".ccstate", ".ccstate/x.j",
    ".ccstate2/x", "a/.ccstate", std::string_view{"a\0b", 3}, long_name};
  const std::string_view reserved_dirs[] = {"", ".ccstate"};
  for (auto path : paths) {
    for (auto reserved : reserved_dirs) {
      INFO("path: '" << path << "', reserved '" << reserved << "'");
      auto want = normalize_destination(path, reserved);
      auto got = normalize_destination_of(std::string{path}, reserved);
      REQUIRE(static_cast<bool>(got) == static_cast<bool>(want));
      if (want)
        CHECK(*got == *want);
      else
        CHECK(describe(got.error()) == describe(want.error()));
    }
  }
}

TEST_CASE("hostile hostnames and paths are refused or kept inside",
          "[tailwriter][dest_path]") {
  const std::string subdirs = "%(hostname)s/%(filename)s";
  const std::string flat = "%(hostname)s--%(filename)s";
  const std::string full = "%(hostname)s/%(filepath)s";
  CHECK(dest(subdirs, "..", "/x.log") == "REFUSED");
  CHECK(dest(subdirs, ".", "/x.log") == "x.log"); // "./x.log" is inside
  CHECK(dest(subdirs, "", "/x.log") == "x.log");
  CHECK(dest(subdirs, "h", "/var/log/") == "REFUSED");       // no base name
  CHECK(dest(subdirs, "h", "..") == "REFUSED");
  CHECK(dest(subdirs, "h", "/a/..") == "REFUSED");
  CHECK(dest(subdirs, "../../etc", "/passwd") == ".._.._etc/passwd");
  CHECK(dest(flat, "..", "/x.log") == "..--x.log");
  CHECK(dest(full, "h", "../../../etc/passwd") == "REFUSED");
  CHECK(dest(full, "h", "..\\..\\..\\etc\\passwd") == "REFUSED");
  // An absolute source path stays under dstdir.
  CHECK(dest("%(filepath)s", "h", "/etc/passwd") == "etc/passwd");
  CHECK(dest("%(filepath)s", "h", "/../../etc/passwd") == "REFUSED");
  CHECK(dest(subdirs, ".ccstate", "/x.j", ".ccstate") == "REFUSED");
}

TEST_CASE("rotated suffix is .%Y-%m-%d_%H-%M-%S", "[tailwriter][dest_path]") {
  auto s = rotated_suffix(std::time(nullptr));
  CHECK(std::regex_match(s, std::regex{R"(\.\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})"}));
  CHECK(rotated_suffix(1000) != rotated_suffix(1001));
}

TEST_CASE("relative_inside", "[tailwriter][dest_path]") {
  CHECK(relative_inside("/a/b", "/a/b/.ccstate") == ".ccstate");
  CHECK(relative_inside("/a/b/", "/a/b/x/y") == "x/y");
  CHECK(relative_inside("/a/b", "/a/b") == ".");
  CHECK(relative_inside("/a/b", "/a/bc") == "");
  CHECK(relative_inside("/a/b", "/var/state") == "");
}

TEST_CASE("open_beneath creates parents and reopens", "[tailwriter][dest_path]") {
  both_resolvers([] {
    dirs d;
    auto f = open_beneath(d.dst_fd, "host/sub/x.log", O_WRONLY | O_CREAT);
    REQUIRE(f);
    CHECK(f->created());
    REQUIRE(::write(f->fd, "abc", 3) == 3);
    ::close(f->fd);
    CHECK(test::read_file(d.dst + "/host/sub/x.log") == "abc");
    auto again = open_beneath(d.dst_fd, "host/sub/x.log", O_WRONLY | O_CREAT);
    REQUIRE(again);
    CHECK(!again->created());
    ::close(again->fd);
    // Without O_CREAT a missing file is an io error, not a refusal.
    auto missing = open_beneath(d.dst_fd, "host/none.log", O_WRONLY);
    REQUIRE(!missing);
    CHECK(missing.error().code() == static_cast<uint8_t>(errc::io));
  });
}

TEST_CASE("open_beneath create_first: a new file is created at once and not checked again, "
          "one that is there (a file, a FIFO, a symlink, a hard link) is checked as before",
          "[tailwriter][dest_path]") {
  both_resolvers([] {
    dirs d;
    auto f = open_beneath(d.dst_fd, "host/new.log", O_RDWR | O_CREAT, 0644, false, true);
    REQUIRE(f);
    CHECK(f->created());
    CHECK(f->way == open_way::created); // new, regular, one link: no fstat
    CHECK((::fcntl(f->fd, F_GETFL) & O_NONBLOCK) == 0);
    REQUIRE(::write(f->fd, "abc", 3) == 3);
    ::close(f->fd);
    // There already: opened (not created, not truncated) and checked.
    auto again = open_beneath(d.dst_fd, "host/new.log", O_RDWR | O_CREAT, 0644, false, true);
    REQUIRE(again);
    CHECK(!again->created());
    CHECK(again->way == open_way::checked);
    CHECK((::fcntl(again->fd, F_GETFL) & O_NONBLOCK) == 0);
    ::close(again->fd);
    CHECK(test::read_file(d.dst + "/host/new.log") == "abc");
    // What a plain open refuses, create_first refuses too (and never hangs).
    REQUIRE(::mkfifo((d.dst + "/host/fifo").c_str(), 0644) == 0);
    auto fifo = open_beneath(d.dst_fd, "host/fifo", O_RDWR | O_CREAT, 0644, false, true);
    REQUIRE(!fifo);
    CHECK(is_refused(fifo.error()));
    test::write_file(d.outside + "/victim", "precious");
    REQUIRE(::symlink((d.outside + "/victim").c_str(), (d.dst + "/host/sym").c_str()) == 0);
    auto sym = open_beneath(d.dst_fd, "host/sym", O_RDWR | O_CREAT, 0644, false, true);
    REQUIRE(!sym);
    CHECK(is_refused(sym.error()));
    REQUIRE(::link((d.outside + "/victim").c_str(), (d.dst + "/host/linked").c_str()) == 0);
    auto linked = open_beneath(d.dst_fd, "host/linked", O_RDWR | O_CREAT, 0644, false, true);
    REQUIRE(!linked);
    CHECK(is_refused(linked.error()));
    CHECK(test::read_file(d.outside + "/victim") == "precious");
  });
}

TEST_CASE("open_beneath create_first with the parent's sync deferred: a new file in a "
          "directory that is there is one openat2, anything else goes the component-wise way",
          "[tailwriter][dest_path]") {
  dirs d;
  ::mkdir((d.dst + "/host").c_str(), 0755);
  // New, its directory there: created in one call, a regular file with one
  // link, blocking, its mode as given.
  auto f = open_beneath(d.dst_fd, "host/new.log", O_RDWR | O_CREAT, 0640, true, true);
  REQUIRE(f);
  CHECK(f->created());
  CHECK(f->way == open_way::one_call);
  struct stat st;
  REQUIRE(::fstat(f->fd, &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK(st.st_nlink == 1);
  mode_t mask = ::umask(022);
  ::umask(mask);
  CHECK((st.st_mode & 0777) == (0640 & ~mask));
  CHECK((::fcntl(f->fd, F_GETFL) & (O_NONBLOCK | O_ACCMODE)) == O_RDWR);
  CHECK((::fcntl(f->fd, F_GETFD) & FD_CLOEXEC) != 0);
  REQUIRE(::write(f->fd, "abc", 3) == 3);
  ::close(f->fd);
  CHECK(test::read_file(d.dst + "/host/new.log") == "abc");
  // There already: opened and checked as before, not truncated.
  auto again = open_beneath(d.dst_fd, "host/new.log", O_RDWR | O_CREAT, 0644, true, true);
  REQUIRE(again);
  CHECK(!again->created());
  CHECK(again->way == open_way::checked);
  ::close(again->fd);
  CHECK(test::read_file(d.dst + "/host/new.log") == "abc");
  // A missing directory: made by the walk as before.
  auto deep = open_beneath(d.dst_fd, "a/b/c.log", O_RDWR | O_CREAT, 0644, true, true);
  REQUIRE(deep);
  CHECK(deep->created());
  CHECK(deep->way == open_way::created);
  ::close(deep->fd);
  CHECK(exists(d.dst + "/a/b/c.log"));
  // A symlinked directory or a planted symlink: refused as before, nothing
  // created outside.
  REQUIRE(::symlink(d.outside.c_str(), (d.dst + "/out").c_str()) == 0);
  auto via = open_beneath(d.dst_fd, "out/x.log", O_RDWR | O_CREAT, 0644, true, true);
  REQUIRE(!via);
  CHECK(is_refused(via.error()));
  CHECK(!exists(d.outside + "/x.log"));
  REQUIRE(::symlink((d.outside + "/new").c_str(), (d.dst + "/host/sym").c_str()) == 0);
  auto sym = open_beneath(d.dst_fd, "host/sym", O_RDWR | O_CREAT, 0644, true, true);
  REQUIRE(!sym);
  CHECK(is_refused(sym.error()));
  CHECK(!exists(d.outside + "/new"));
  // The parent synced here, or no openat2: the component-wise way.
  auto synced = open_beneath(d.dst_fd, "host/synced.log", O_RDWR | O_CREAT, 0644, false, true);
  REQUIRE(synced);
  CHECK(synced->created());
  CHECK(synced->way == open_way::created);
  ::close(synced->fd);
  set_openat2_enabled(false);
  auto walked = open_beneath(d.dst_fd, "host/walked.log", O_RDWR | O_CREAT, 0644, true, true);
  set_openat2_enabled(true);
  REQUIRE(walked);
  CHECK(walked->created());
  CHECK(walked->way == open_way::created);
  ::close(walked->fd);
}

TEST_CASE("a planted symlink to a file outside is refused",
          "[tailwriter][dest_path]") {
  both_resolvers([] {
    dirs d;
    test::write_file(d.outside + "/victim", "precious");
    ::mkdir((d.dst + "/host").c_str(), 0755);
    REQUIRE(::symlink((d.outside + "/victim").c_str(),
                      (d.dst + "/host/x.log").c_str())
            == 0);
    auto f = open_beneath(d.dst_fd, "host/x.log", O_WRONLY | O_CREAT);
    REQUIRE(!f);
    CHECK(is_refused(f.error()));
    CHECK(test::read_file(d.outside + "/victim") == "precious");
    // A dangling symlink is refused too (O_CREAT must not follow it).
    REQUIRE(::symlink((d.outside + "/new").c_str(), (d.dst + "/host/y.log").c_str())
            == 0);
    auto g = open_beneath(d.dst_fd, "host/y.log", O_WRONLY | O_CREAT);
    REQUIRE(!g);
    CHECK(is_refused(g.error()));
    CHECK(!exists(d.outside + "/new"));
  });
}

TEST_CASE("a planted symlink to a directory outside is refused",
          "[tailwriter][dest_path]") {
  both_resolvers([] {
    dirs d;
    REQUIRE(::symlink(d.outside.c_str(), (d.dst + "/host").c_str()) == 0);
    auto f = open_beneath(d.dst_fd, "host/x.log", O_WRONLY | O_CREAT);
    REQUIRE(!f);
    CHECK(is_refused(f.error()));
    CHECK(!exists(d.outside + "/x.log"));
    // Deeper: dst/a/b -> outside.
    ::mkdir((d.dst + "/a").c_str(), 0755);
    REQUIRE(::symlink(d.outside.c_str(), (d.dst + "/a/b").c_str()) == 0);
    auto g = open_beneath(d.dst_fd, "a/b/c/x.log", O_WRONLY | O_CREAT);
    REQUIRE(!g);
    CHECK(is_refused(g.error()));
    CHECK(!exists(d.outside + "/c"));
  });
}

TEST_CASE("FIFOs, directories and hard links are refused", "[tailwriter][dest_path]") {
  both_resolvers([] {
    dirs d;
    REQUIRE(::mkfifo((d.dst + "/fifo").c_str(), 0644) == 0);
    auto f = open_beneath(d.dst_fd, "fifo", O_WRONLY | O_CREAT); // must not hang
    REQUIRE(!f);
    CHECK(is_refused(f.error()));
    ::mkdir((d.dst + "/dir").c_str(), 0755);
    auto g = open_beneath(d.dst_fd, "dir", O_WRONLY | O_CREAT);
    REQUIRE(!g);
    CHECK(is_refused(g.error()));
    test::write_file(d.outside + "/victim", "precious");
    REQUIRE(::link((d.outside + "/victim").c_str(), (d.dst + "/linked").c_str()) == 0);
    auto h = open_beneath(d.dst_fd, "linked", O_WRONLY | O_CREAT);
    REQUIRE(!h);
    CHECK(is_refused(h.error()));
    CHECK(test::read_file(d.outside + "/victim") == "precious");
    // A file where a directory is needed.
    test::write_file(d.dst + "/plain", "x");
    auto i = open_beneath(d.dst_fd, "plain/x.log", O_WRONLY | O_CREAT);
    REQUIRE(!i);
    CHECK(is_refused(i.error()));
  });
}

TEST_CASE("make_directories", "[tailwriter][dest_path]") {
  test::temp_dir tmp{"cc-destpath"};
  CHECK(!make_directories(tmp / "a/b/c", 0700));
  struct stat st;
  REQUIRE(::stat((tmp / "a/b/c").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(!make_directories(tmp / "a/b/c", 0700)); // exists: fine
  test::write_file(tmp / "file", "x");
  CHECK(make_directories(tmp / "file", 0755));
}
