// The info file copies (actors/write/info_store): whole files replaced by a
// rename, the source's mtime, the original's skip rule, bakext, the three
// write-compressed modes, the size and decompression limits, and paths that
// must not be followed (planted symlinks and files). On real directories.
#include <catch2/catch.hpp>

#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/write/dest_path.hpp"
#include "actors/write/info_store.hpp"
#include "tests/support/process.hpp"
#include "wire/bodies.hpp"
#include "wire/codec.hpp"

using cc::info::outcome;
using cc::info::store;
using cc::info::store_options;
using cc::test::read_file;
using cc::test::temp_dir;
using cc::test::write_file;
using cc::wire::compression;

namespace {

constexpr int64_t t0 = 1714564799123456789; // a mtime, ns

struct dirs {
  temp_dir tmp{"cc-infostore"};
  std::string dst = tmp / "dst";
  std::string outside = tmp / "outside";
  int dst_fd = -1;
  dirs() {
    ::mkdir(dst.c_str(), 0755);
    ::mkdir(outside.c_str(), 0755);
    dst_fd = ::open(dst.c_str(), O_RDONLY | O_DIRECTORY);
  }
  ~dirs() { ::close(dst_fd); }
  std::string operator/(const std::string& rel) const { return dst + "/" + rel; }
};

struct stat_result {
  bool exists = false;
  int64_t mtime_ns = 0;
  nlink_t links = 0;
  bool regular = false;
};

stat_result stat_of(const std::string& path) {
  struct stat st;
  stat_result r;
  if (::lstat(path.c_str(), &st) != 0)
    return r;
  r.exists = true;
  r.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  r.links = st.st_nlink;
  r.regular = S_ISREG(st.st_mode);
  return r;
}

} // namespace

TEST_CASE("info_store: a copy is written whole, with the source's mtime, "
          "and replaced only by a newer one",
          "[info_store]") {
  dirs d;
  store s{d.dst_fd, store_options{}};
  auto o = s.write("db1/info.status", t0, "first\n", compression::none);
  CHECK(o.status == "ok");
  CHECK(o.bytes == 6);
  CHECK(read_file(d / "db1/info.status") == "first\n");
  CHECK(stat_of(d / "db1/info.status").mtime_ns == t0);
  CHECK_FALSE(stat_of(d / "db1/info.status.new").exists);

  // The same mtime again, or an older one: the copy stays (the original's rule).
  o = s.write("db1/info.status", t0, "other\n", compression::none);
  CHECK(o.status == "skipped");
  CHECK(o.reason == "same mtime");
  o = s.write("db1/info.status", t0 - 1, "older\n", compression::none);
  CHECK(o.status == "skipped");
  CHECK(o.reason == "copy is newer");
  CHECK(read_file(d / "db1/info.status") == "first\n");

  o = s.write("db1/info.status", t0 + 1, "", compression::none);
  CHECK(o.status == "ok");
  CHECK(read_file(d / "db1/info.status").empty());
  CHECK(stat_of(d / "db1/info.status").mtime_ns == t0 + 1);
}

TEST_CASE("info_store: bakext keeps the previous copy", "[info_store]") {
  dirs d;
  store_options opts;
  opts.bakext = "--prev";
  store s{d.dst_fd, opts};
  CHECK(s.write("h--x", t0, "v1", compression::none).status == "ok");
  CHECK_FALSE(stat_of(d / "h--x--prev").exists); // nothing to keep yet
  auto o = s.write("h--x", t0 + 1000, "v2", compression::none);
  CHECK(o.status == "ok");
  CHECK(o.backup);
  CHECK(read_file(d / "h--x") == "v2");
  CHECK(read_file(d / "h--x--prev") == "v1");
  CHECK(s.write("h--x", t0 + 2000, "v3", compression::none).status == "ok");
  CHECK(read_file(d / "h--x--prev") == "v2");
  CHECK(stat_of(d / "h--x--prev").mtime_ns == t0 + 1000);
  // Copy and backup are separate files again after the rename.
  CHECK(stat_of(d / "h--x").links == 1);
  CHECK(stat_of(d / "h--x--prev").links == 1);
}

TEST_CASE("info_store: write-compressed no, keep and yes", "[info_store]") {
  dirs d;
  std::string text(5000, 'x');
  auto gz = cc::wire::compress(text, compression::gzip, 1);
  REQUIRE(gz);
  SECTION("no: decompressed") {
    store s{d.dst_fd, store_options{}};
    CHECK(s.write("a", t0, *gz, compression::gzip).status == "ok");
    CHECK(read_file(d / "a") == text);
  }
  SECTION("keep: as received") {
    store_options o;
    o.mode = cc::tw::write_mode::keep;
    CHECK(cc::info::name_for_mode("/x/a", o, compression::gzip) == "/x/a.gz");
    CHECK(cc::info::name_for_mode("/x/a", o, compression::none) == "/x/a");
    store s{d.dst_fd, o};
    CHECK(s.write("a.gz", t0, *gz, compression::gzip).status == "ok");
    CHECK(read_file(d / "a.gz") == *gz);
  }
  SECTION("yes: recompressed to the configured format") {
    store_options o;
    o.mode = cc::tw::write_mode::recompress;
    o.compression = compression::bzip2;
    CHECK(cc::info::name_for_mode("/x/a", o, compression::gzip) == "/x/a.bz2");
    store s{d.dst_fd, o};
    CHECK(s.write("a.bz2", t0, *gz, compression::gzip).status == "ok");
    auto back = cc::wire::decompress(read_file(d / "a.bz2"), compression::bzip2, 1 << 20);
    REQUIRE(back);
    CHECK(*back == text);
  }
}

TEST_CASE("info_store: too large, a bomb and corrupt data are refused",
          "[info_store]") {
  dirs d;
  store_options o;
  o.max_bytes = 1000;
  store s{d.dst_fd, o};
  CHECK(s.write("big", t0, std::string(1001, 'b'), compression::none).status ==
        "refused");
  auto bomb = cc::wire::compress(std::string(100000, '\0'), compression::gzip, 9);
  REQUIRE(bomb);
  REQUIRE(bomb->size() < 1000);
  auto r = s.write("bomb", t0, *bomb, compression::gzip);
  CHECK(r.status == "refused");
  CHECK_THAT(r.reason, Catch::Contains("bomb"));
  CHECK(s.write("bad", t0, "not gzip", compression::gzip).status == "refused");
  CHECK_FALSE(stat_of(d / "big").exists);
  CHECK_FALSE(stat_of(d / "bomb").exists);
  CHECK_FALSE(stat_of(d / "bad").exists);
}

TEST_CASE("info_store: planted links and non-files are not followed",
          "[info_store]") {
  dirs d;
  store s{d.dst_fd, store_options{}};
  // A directory component that is a symlink to outside dstdir.
  REQUIRE(::symlink(d.outside.c_str(), (d / "evil").c_str()) == 0);
  auto o = s.write("evil/x", t0, "data", compression::none);
  CHECK(o.status == "refused");
  CHECK_FALSE(stat_of(d.outside + "/x").exists);
  // A `.new` planted as a symlink to a file outside: removed, not written through.
  write_file(d.outside + "/target", "keep me");
  REQUIRE(::symlink((d.outside + "/target").c_str(), (d / "f.new").c_str()) == 0);
  CHECK(s.write("f", t0, "data", compression::none).status == "ok");
  CHECK(read_file(d.outside + "/target") == "keep me");
  CHECK(read_file(d / "f") == "data");
  // The copy's name held by a directory: refused, the directory untouched.
  ::mkdir((d / "adir").c_str(), 0755);
  CHECK(s.write("adir", t0, "data", compression::none).status == "refused");
  CHECK(stat_of(d / "adir").exists);
  CHECK_FALSE(stat_of(d / "adir").regular);
  // A copy that is a symlink is replaced by the new file, not written through.
  REQUIRE(::symlink((d.outside + "/target").c_str(), (d / "g").c_str()) == 0);
  CHECK(s.write("g", t0, "data", compression::none).status == "refused");
  CHECK(read_file(d.outside + "/target") == "keep me");
}
