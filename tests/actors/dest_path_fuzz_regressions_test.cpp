// actors/write/dest_path: regressions found by the dest_path fuzz target
// (tests/fuzz/dest_path.cpp; inputs in tests/fuzz/regressions/dest_path/).
//
// open_beneath() takes a std::string, but the kernel sees each component up
// to its first NUL byte: a component "..\0x" is not ".." to the string
// comparison that refuses unnormalised paths, yet it is ".." to openat(). The
// component-wise walk (kernels without openat2) then climbs out of dstdir and
// creates the file beside it. normalize_destination() refuses NUL bytes, so
// fragments' names never get there; a path read back from a copy journal
// goes to open_beneath() as it is.
#include <catch2/catch.hpp>

#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/write/dest_path.hpp"
#include "base/error.hpp"
#include "tests/support/process.hpp"

using namespace cc;
using namespace cc::tw;

TEST_CASE("open_beneath refuses a component that is '..' up to a NUL byte",
          "[tailwriter][dest_path][fuzz]") {
  test::temp_dir tmp{"cc-destpath-nul"};
  auto dst = tmp / "dst";
  REQUIRE(::mkdir(dst.c_str(), 0755) == 0);
  int dst_fd = ::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(dst_fd >= 0);
  const std::string rel{"..\0/f", 5}; // what the fuzzer minimised it to
  for (bool with_openat2 : {true, false}) {
    set_openat2_enabled(with_openat2);
    INFO("openat2 " << (with_openat2 ? "on" : "off (fallback walk)"));
    auto opened = open_beneath(dst_fd, rel, O_WRONLY | O_CREAT);
    if (opened)
      ::close(opened->fd);
    CHECK_FALSE(opened);
    if (!opened)
      CHECK(opened.error().code() == static_cast<uint8_t>(errc::path_refused));
    struct stat st;
    CHECK(::lstat((tmp / "f").c_str(), &st) != 0); // nothing beside dstdir
    ::unlink((tmp / "f").c_str());
  }
  set_openat2_enabled(true);
  ::close(dst_fd);
}
