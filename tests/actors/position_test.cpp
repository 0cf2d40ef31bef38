// The tailer's .save file and generation identity (actors/tail/position.hpp), on
// real files in a temporary directory.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/tail/position.hpp"
#include "base/error.hpp"
#include "tests/support/process.hpp"
#include "wire/digest.hpp"

using namespace cc::tail;
using cc::test::append_file;
using cc::test::read_file;
using cc::test::temp_dir;
using cc::test::write_file;

namespace {

position sample() {
  position p;
  p.filename = "/var/log/pg/postgresql-2026-11-26.log";
  p.st_dev = 2049;
  p.st_ino = 1234567890123ull;
  p.gen = "0123456789abcdef";
  p.fp = fingerprint{0xfedcba9876543210ull, 4096};
  p.offset = 9876543210ull;
  return p;
}

/// Opens `path` read-only for the fingerprint functions.
struct open_file {
  int fd;
  explicit open_file(const std::string& path)
    : fd(::open(path.c_str(), O_RDONLY)) {
    REQUIRE(fd >= 0);
  }
  ~open_file() { ::close(fd); }
};

} // namespace

TEST_CASE("hex64 round-trips and rejects junk", "[position]") {
  CHECK(cc::hex64(0) == "0000000000000000");
  CHECK(cc::hex64(0xfedcba9876543210ull) == "fedcba9876543210");
  CHECK(cc::parse_hex64("fedcba9876543210") == 0xfedcba9876543210ull);
  CHECK(cc::parse_hex64("FF") == 255u);
  CHECK_FALSE(cc::parse_hex64(""));
  CHECK_FALSE(cc::parse_hex64("xyz"));
  CHECK_FALSE(cc::parse_hex64("00000000000000000"));  // 17 digits
}

TEST_CASE("generation ids are 16 lowercase hex digits and differ",
          "[position]") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto g = cc::new_gen();
    CHECK(g.size() == 16);
    CHECK(g.find_first_not_of("0123456789abcdef") == std::string::npos);
    seen.insert(g);
  }
  CHECK(seen.size() == 100);
}

TEST_CASE("FNV-1a matches its published test vectors", "[position]") {
  CHECK(cc::fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(cc::fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(cc::fnv1a64("foobar") == 0x85944171f73967e8ull);
}

TEST_CASE("a position survives JSON", "[position]") {
  auto p = sample();
  auto back = parse_position(to_json(p), "x.save");
  REQUIRE(back);
  CHECK(*back == p);
}

TEST_CASE("the marker of a start with no log file survives JSON, and only it has "
          "no file name",
          "[position]") {
  auto marker = position::before_any_file();
  auto back = parse_position(to_json(marker), "x.save");
  REQUIRE(back);
  CHECK(back->no_file_yet);
  CHECK(back->filename.empty());
  CHECK(*back == marker);
  CHECK_FALSE(parse_position(to_json(sample()), "x.save")->no_file_yet);
  auto nameless = sample();
  nameless.filename.clear();
  CHECK_FALSE(parse_position(to_json(nameless), "x.save"));
  auto named = marker;
  named.filename = "/var/log/a.log";
  CHECK_FALSE(parse_position(to_json(named), "x.save"));
}

TEST_CASE("the original CC's save format is read", "[position]") {
  auto p = parse_position("12345\t/var/log/pg/postgresql-1.log", "old.save");
  REQUIRE(p);
  CHECK(p->offset == 12345u);
  CHECK(p->filename == "/var/log/pg/postgresql-1.log");
  CHECK_FALSE(p->has_identity);
}

TEST_CASE("broken position files are errors naming the file", "[position]") {
  for (const char* text : {"", "{", "{\"filename\": 3}", "abc\t/x", "12\t",
                           "{\"filename\":\"x\",\"st_dev\":1,\"st_ino\":2,"
                           "\"gen\":\"g\",\"fingerprint\":\"zz\","
                           "\"fingerprint_len\":1,\"offset\":0}"}) {
    auto p = parse_position(text, "/run/cc/t.save");
    INFO(text);
    REQUIRE_FALSE(p);
    CHECK(cc::describe(p.error()).find("/run/cc/t.save") != std::string::npos);
  }
}

TEST_CASE("save_position replaces the file atomically and load reads it",
          "[position]") {
  temp_dir dir;
  auto path = dir / "run/sub/tail.save";  // parents are created
  auto none = load_position(path);
  REQUIRE(none);
  CHECK_FALSE(*none);

  auto p = sample();
  REQUIRE_FALSE(save_position(path, p));
  auto got = load_position(path);
  REQUIRE(got);
  REQUIRE(*got);
  CHECK(**got == p);

  p.offset += 100;
  REQUIRE_FALSE(save_position(path, p));
  got = load_position(path);
  REQUIRE(got);
  CHECK((*got)->offset == p.offset);
  // The temporary file does not linger.
  struct stat st;
  CHECK(::stat((path + ".tmp").c_str(), &st) != 0);
}

TEST_CASE("save_position reports an unwritable place", "[position]") {
  temp_dir dir;
  write_file(dir / "file", "x");
  // A regular file where a directory should be.
  auto err = save_position(dir / "file/tail.save", sample());
  REQUIRE(err);
  CHECK(cc::describe(err).find(dir / "file") != std::string::npos);
}

TEST_CASE("fingerprints cover the first 4 KiB and detect changes",
          "[position]") {
  temp_dir dir;
  auto path = dir / "a.log";
  write_file(path, "");
  {
    open_file f{path};
    auto fp = read_fingerprint(f.fd, path);
    REQUIRE(fp);
    CHECK(fp->length == 0);
    auto m = fingerprint_matches(f.fd, path, *fp);
    REQUIRE(m);
    CHECK(*m);  // an empty fingerprint matches anything
  }
  std::string content(10000, 'x');
  for (size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>('a' + i % 26);
  write_file(path, content.substr(0, 100));
  fingerprint short_fp;
  {
    open_file f{path};
    auto fp = read_fingerprint(f.fd, path);
    REQUIRE(fp);
    CHECK(fp->length == 100);
    CHECK(fp->hash == cc::fnv1a64(content.substr(0, 100)));
    short_fp = *fp;
  }
  write_file(path, content);
  {
    open_file f{path};
    auto fp = read_fingerprint(f.fd, path);
    REQUIRE(fp);
    CHECK(fp->length == fingerprint_max_bytes);
    CHECK(fp->hash == cc::fnv1a64(content.substr(0, fingerprint_max_bytes)));
    // The short fingerprint still matches the grown file.
    auto m = fingerprint_matches(f.fd, path, short_fp);
    REQUIRE(m);
    CHECK(*m);
  }
  content[50] = '!';
  write_file(path, content);
  {
    open_file f{path};
    auto m = fingerprint_matches(f.fd, path, short_fp);
    REQUIRE(m);
    CHECK_FALSE(*m);
  }
  write_file(path, content.substr(0, 99));  // shorter than the fingerprint
  {
    open_file f{path};
    auto m = fingerprint_matches(f.fd, path, short_fp);
    REQUIRE(m);
    CHECK_FALSE(*m);
  }
}

TEST_CASE("the first bytes checked again are compared with the kept copy, "
          "the fingerprint growing with the file",
          "[position]") {
  temp_dir dir;
  auto path = dir / "a.log";
  std::string content(6000, 'x');
  for (size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>('a' + i % 23);
  write_file(path, content.substr(0, 10));
  open_file f{path};
  fingerprint fp; // nothing seen yet: matches, and grows to the file
  first_bytes kept;
  auto same = check_first_bytes(f.fd, path, fp, kept);
  REQUIRE(same);
  CHECK(*same);
  CHECK(fp == fingerprint{cc::fnv1a64(content.substr(0, 10)), 10});
  CHECK(kept.length == 10);
  CHECK(kept.xxh3 == cc::wire::xxh3(content.substr(0, 10)));
  CHECK(kept.of == fp);
  // Appends grow it (checked against the kept hash first) up to 4 KiB.
  append_file(path, content.substr(10, 90));
  same = check_first_bytes(f.fd, path, fp, kept);
  REQUIRE(same);
  CHECK(*same);
  CHECK(fp.length == 100);
  append_file(path, content.substr(100));
  same = check_first_bytes(f.fd, path, fp, kept);
  REQUIRE(same);
  CHECK(*same);
  CHECK(fp == fingerprint{cc::fnv1a64(content.substr(0, fingerprint_max_bytes)),
                          fingerprint_max_bytes});
  CHECK(kept.length == fingerprint_max_bytes);
  CHECK(kept.xxh3 == cc::wire::xxh3(content.substr(0, fingerprint_max_bytes)));
  // Same again: no change to either.
  same = check_first_bytes(f.fd, path, fp, kept);
  REQUIRE(same);
  CHECK(*same);
  CHECK(fp.length == fingerprint_max_bytes);
  // One byte changed in place (same size, same inode): detected from the
  // kept hash; the fingerprint is left as it was.
  auto changed = content;
  changed[4000] = '!';
  write_file(path, changed);
  auto before = fp;
  same = check_first_bytes(f.fd, path, fp, kept);
  REQUIRE(same);
  CHECK_FALSE(*same);
  CHECK(fp == before);
  // Without a kept hash (another fingerprint) the hash decides, as before.
  first_bytes none;
  same = check_first_bytes(f.fd, path, fp, none);
  REQUIRE(same);
  CHECK_FALSE(*same);
  write_file(path, content);
  same = check_first_bytes(f.fd, path, fp, none);
  REQUIRE(same);
  CHECK(*same);
  CHECK(none.length == fingerprint_max_bytes);
  CHECK(none.xxh3 == cc::wire::xxh3(content.substr(0, fingerprint_max_bytes)));
  // A file cut shorter than the fingerprint does not match.
  write_file(path, content.substr(0, 50));
  same = check_first_bytes(f.fd, path, fp, kept);
  REQUIRE(same);
  CHECK_FALSE(*same);
}
