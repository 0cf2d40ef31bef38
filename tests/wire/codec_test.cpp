// wire/codec: gzip, bzip2 and zstd round trips, multi-member input, corrupt
// and truncated input, and decompression bombs refused at the cap.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "base/error.hpp"
#include "wire/codec.hpp"

using cc::wire::compress;
using cc::wire::compression;
using cc::wire::decompress;
using cc::wire::stream_compressor;

namespace {

constexpr size_t mib = 1024 * 1024;

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937_64 rng{seed};
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j)
      s[i + j] = static_cast<char>(v >> (8 * j));
  }
  return s;
}

std::string log_text(size_t n) {
  std::string s;
  for (int i = 0; s.size() < n; ++i)
    s += "2024-05-01 12:00:00.123 UTC [" + std::to_string(1000 + i % 77) +
         "] LOG:  duration: " + std::to_string(i % 1000) +
         ".042 ms  statement: SELECT * FROM t WHERE id = " + std::to_string(i) +
         "\n";
  s.resize(n);
  return s;
}

cc::errc code_of(const caf::error& err) {
  REQUIRE(err.category() == cc::error_category);
  return static_cast<cc::errc>(err.code());
}

/// The standard output of shell command `cmd`, which must succeed.
std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  CHECK(pclose(p) == 0);
  return out;
}

const compression codecs[] = {compression::gzip, compression::bzip2,
                              compression::zstd};

} // namespace

TEST_CASE("compression names", "[wire][codec]") {
  CHECK(cc::wire::parse_compression("") == compression::none);
  CHECK(cc::wire::parse_compression("none") == compression::none);
  CHECK(cc::wire::parse_compression("gzip") == compression::gzip);
  CHECK(cc::wire::parse_compression("bzip2") == compression::bzip2);
  CHECK(cc::wire::parse_compression("zstd") == compression::zstd);
  CHECK_FALSE(cc::wire::parse_compression("zst"));
  CHECK_FALSE(cc::wire::parse_compression("zip"));
  CHECK_FALSE(cc::wire::parse_compression("GZIP"));
  CHECK(std::string{cc::wire::to_string(compression::bzip2)} == "bzip2");
  CHECK(std::string{cc::wire::file_extension(compression::gzip)} == ".gz");
  CHECK(std::string{cc::wire::file_extension(compression::bzip2)} == ".bz2");
  CHECK(std::string{cc::wire::file_extension(compression::zstd)} == ".zst");
  CHECK(std::string{cc::wire::to_string(compression::zstd)} == "zstd");
  CHECK(std::string{cc::wire::file_extension(compression::none)} == "");
}

TEST_CASE("round trips at several levels and sizes", "[wire][codec]") {
  const std::string inputs[] = {"", "x", log_text(100 * 1024),
                                random_bytes(mib, 7)};
  for (auto c : codecs) {
    for (int level : {0, 1, 6, 9}) {
      for (const auto& in : inputs) {
        CAPTURE(cc::wire::to_string(c), level, in.size());
        auto packed = compress(in, c, level);
        REQUIRE(packed);
        CHECK(!packed->empty());
        auto back = decompress(*packed, c, in.size());
        REQUIRE(back);
        CHECK(*back == in);
      }
    }
  }
  // gzip magic and bzip2 magic, as the file formats require.
  CHECK(compress("x", compression::gzip, 6)->substr(0, 2) == "\x1f\x8b");
  CHECK(compress("x", compression::bzip2, 6)->substr(0, 3) == "BZh");
  CHECK(compress("x", compression::zstd, 6)->substr(0, 4) == "\x28\xb5\x2f\xfd");
  // Text really shrinks.
  auto text = log_text(mib);
  CHECK(compress(text, compression::gzip, 6)->size() < text.size() / 4);
}

TEST_CASE("none passes bytes through, under the cap", "[wire][codec]") {
  CHECK(compress("abc", compression::none, 0).value() == "abc");
  CHECK(decompress("abc", compression::none, 3).value() == "abc");
  auto r = decompress("abcd", compression::none, 3);
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == cc::errc::too_large);
}

TEST_CASE("levels outside 0..9 are refused", "[wire][codec]") {
  for (int level : {-1, 10}) {
    auto r = compress("abc", compression::gzip, level);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == cc::errc::config_invalid);
    stream_compressor sc{compression::bzip2, level};
    std::string out;
    auto err = sc.write("abc", out);
    REQUIRE(err);
    CHECK(code_of(err) == cc::errc::config_invalid);
  }
}

TEST_CASE("concatenated members decompress as one", "[wire][codec]") {
  for (auto c : codecs) {
    CAPTURE(cc::wire::to_string(c));
    std::string a = log_text(3000), b = random_bytes(5000, 1), e;
    std::string joined = *compress(a, c, 1) + *compress(e, c, 9) +
                         *compress(b, c, 5);
    auto back = decompress(joined, c, a.size() + b.size());
    REQUIRE(back);
    CHECK(*back == a + b);
  }
}

TEST_CASE("stream_compressor closes one member per finish", "[wire][codec]") {
  for (auto c : codecs) {
    CAPTURE(cc::wire::to_string(c));
    stream_compressor sc{c, 6};
    std::string out, expect;
    CHECK_FALSE(sc.member_open());
    for (int member = 0; member < 3; ++member) {
      for (int piece = 0; piece < 50; ++piece) {
        auto bytes = log_text(100 + 37 * piece) + std::to_string(member);
        expect += bytes;
        REQUIRE_FALSE(sc.write(bytes, out));
        CHECK(sc.member_open());
      }
      size_t before = out.size();
      REQUIRE_FALSE(sc.finish(out));
      CHECK(out.size() > before);
      CHECK_FALSE(sc.member_open());
      // A finish without a member appends nothing.
      REQUIRE_FALSE(sc.finish(out));
      CHECK(decompress(out, c, expect.size()).value() == expect);
    }
    // An empty write opens a member: write("") + finish() is a valid stream.
    std::string empty_stream;
    REQUIRE_FALSE(sc.write("", empty_stream));
    REQUIRE_FALSE(sc.finish(empty_stream));
    CHECK_FALSE(empty_stream.empty());
    CHECK(decompress(empty_stream, c, 0).value().empty());
  }
  stream_compressor plain{compression::none, 0};
  std::string out;
  REQUIRE_FALSE(plain.write("ab", out));
  REQUIRE_FALSE(plain.finish(out));
  REQUIRE_FALSE(plain.write("c", out));
  CHECK(out == "abc");
}

TEST_CASE("truncated input is decode_failed", "[wire][codec]") {
  for (auto c : codecs) {
    CAPTURE(cc::wire::to_string(c));
    auto in = log_text(200 * 1024);
    auto packed = compress(in, c, 6).value();
    for (size_t keep : {size_t{0}, size_t{1}, size_t{5}, packed.size() / 2,
                        packed.size() - 1}) {
      CAPTURE(keep);
      auto r = decompress(std::string_view{packed}.substr(0, keep), c, mib);
      REQUIRE_FALSE(r);
      CHECK(code_of(r.error()) == cc::errc::decode_failed);
    }
    // A whole member followed by a cut-off one.
    auto two = packed + packed.substr(0, packed.size() / 3);
    auto r = decompress(two, c, mib);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == cc::errc::decode_failed);
  }
}

TEST_CASE("corrupt input is decode_failed, never a crash", "[wire][codec]") {
  for (auto c : codecs) {
    CAPTURE(cc::wire::to_string(c));
    CHECK(code_of(decompress("this is not compressed", c, mib).error()) ==
          cc::errc::decode_failed);
    auto in = log_text(64 * 1024);
    auto packed = compress(in, c, 6).value();
    // Trailing garbage after a good member.
    CHECK(code_of(decompress(packed + "garbage!", c, mib).error()) ==
          cc::errc::decode_failed);
    // Flip bytes in the compressed body: every format carries a checksum
    // (zstd: we write its content checksum), so every
    // flip must be caught, by the decoder or by the checksum.
    std::mt19937 rng{3};
    int caught = 0;
    for (int i = 0; i < 200; ++i) {
      auto bad = packed;
      size_t at = 10 + rng() % (bad.size() - 10);
      bad[at] = static_cast<char>(bad[at] ^ (1 + rng() % 255));
      auto r = decompress(bad, c, mib);
      if (!r) {
        CHECK((code_of(r.error()) == cc::errc::decode_failed ||
               code_of(r.error()) == cc::errc::too_large));
        ++caught;
      } else {
        CHECK(*r != in); // never silently the original
      }
    }
    CHECK(caught == 200);
  }
}

TEST_CASE("output beyond the cap is too_large, at exactly the boundary",
          "[wire][codec]") {
  for (auto c : codecs) {
    CAPTURE(cc::wire::to_string(c));
    auto in = log_text(100000);
    auto packed = compress(in, c, 6).value();
    CHECK(decompress(packed, c, in.size()).value() == in);
    auto r = decompress(packed, c, in.size() - 1);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == cc::errc::too_large);
    CHECK(code_of(decompress(packed, c, 0).error()) == cc::errc::too_large);
  }
}

// Bombs are built by streaming zeros, so the test never holds the output.
// Decompression time grows with the cap, not with the bomb: it is reported,
// not asserted (timings vary with the machine).
TEST_CASE("a single-member bomb is refused at the cap", "[wire][codec][bomb]") {
  const std::string zeros(mib, '\0');
  for (auto c : codecs) {
    CAPTURE(cc::wire::to_string(c));
    stream_compressor sc{c, 1};
    std::string bomb;
    for (int i = 0; i < 128; ++i) // 128 MiB of zeros in one member
      REQUIRE_FALSE(sc.write(zeros, bomb));
    REQUIRE_FALSE(sc.finish(bomb));
    CHECK(bomb.size() < mib);
    auto start = std::chrono::steady_clock::now();
    auto r = decompress(bomb, c, 8 * mib);
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == cc::errc::too_large);
    CHECK_THAT(cc::describe(r.error()), Catch::Contains("8388608"));
    WARN(cc::wire::to_string(c)
         << " single-member bomb of " << bomb.size() << " bytes (128 MiB) "
         << "refused at 8 MiB in "
         << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
         << " ms");
  }
}

TEST_CASE("a 1 GiB multi-member bomb is refused at the default cap",
          "[wire][codec][bomb]") {
  for (auto c : codecs) {
    CAPTURE(cc::wire::to_string(c));
    // 64 members of 16 MiB of zeros each: 1 GiB when inflated.
    stream_compressor sc{c, 9};
    std::string member;
    const std::string zeros(mib, '\0');
    for (int i = 0; i < 16; ++i)
      REQUIRE_FALSE(sc.write(zeros, member));
    REQUIRE_FALSE(sc.finish(member));
    std::string bomb;
    for (int i = 0; i < 64; ++i)
      bomb += member;
    CHECK(bomb.size() < 2 * mib);
    auto start = std::chrono::steady_clock::now();
    auto r = decompress(bomb, c, 64 * mib);
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == cc::errc::too_large);
    WARN(cc::wire::to_string(c)
         << " multi-member bomb of " << bomb.size() << " bytes (1 GiB) "
         << "refused at 64 MiB in "
         << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
         << " ms");
    // Under the cap the same members decompress.
    auto four = member + member + member + member;
    auto ok = decompress(four, c, 64 * mib);
    REQUIRE(ok);
    CHECK(ok->size() == 64 * mib);
    CHECK(ok->find_first_not_of('\0') == std::string::npos);
  }
}

TEST_CASE("gzip -d and Python's gzip read our output", "[wire][codec][interop]") {
  // Multi-member output, as a copy written by a tailwriter or a .gz built
  // from concatenated fragments.
  auto a = log_text(50000), b = random_bytes(20000, 9);
  auto file = *compress(a, compression::gzip, 6) + *compress(b, compression::gzip, 1);
  char path[] = "/tmp/cc-codec-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, file.data(), file.size()) == static_cast<ssize_t>(file.size()));
  close(fd);
  CHECK(run(std::string{"gzip -dc < "} + path) == a + b);
  if (access("/usr/bin/python3", X_OK) == 0)
    CHECK(run(std::string{"/usr/bin/python3 -c \"import gzip,sys; "
                          "sys.stdout.buffer.write(gzip.open('"} +
              path + "').read())\"") == a + b);
  auto bz = *compress(a, compression::bzip2, 9) + *compress(b, compression::bzip2, 1);
  std::ofstream(path, std::ios::binary).write(bz.data(), static_cast<std::streamsize>(bz.size()));
  CHECK(run(std::string{"bzip2 -dc < "} + path) == a + b);
  unlink(path);
}

// zstd's own guard: what a frame header declares is checked before any
// output exists, and a frame's window is bounded by what the cap needs.
TEST_CASE("zstd: a frame declaring more than the cap is refused unread",
          "[wire][codec][bomb][zstd]") {
  const std::string zeros(16 * mib, '\0');
  auto bomb = compress(zeros, compression::zstd, 1).value();
  CHECK(bomb.size() < 64 * 1024); // one frame, its size declared
  auto r = decompress(bomb, compression::zstd, 8 * mib);
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == cc::errc::too_large);
  CHECK_THAT(cc::describe(r.error()), Catch::Contains("8388608"));
  // Many small frames whose declared sizes add up past the cap.
  auto small = compress(std::string(mib, 'a'), compression::zstd, 3).value();
  std::string many;
  for (int i = 0; i < 9; ++i)
    many += small;
  auto r2 = decompress(many, compression::zstd, 8 * mib);
  REQUIRE_FALSE(r2);
  CHECK(code_of(r2.error()) == cc::errc::too_large);
  CHECK(decompress(many, compression::zstd, 9 * mib).value().size() == 9 * mib);
}

TEST_CASE("zstd: a frame asking for a window beyond the cap is refused",
          "[wire][codec][bomb][zstd]") {
  if (access("/usr/bin/zstd", X_OK) != 0) {
    WARN("no /usr/bin/zstd: skipped");
    return;
  }
  // From a pipe with --long=27: no declared size, a 128 MiB window.
  auto frame = run("head -c 100000 /dev/zero | zstd -q --long=27 -c");
  REQUIRE_FALSE(frame.empty());
  auto r = decompress(frame, compression::zstd, 8 * mib);
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == cc::errc::too_large);
  CHECK_THAT(cc::describe(r.error()), Catch::Contains("window"));
  // A cap that needs such a window takes it.
  CHECK(decompress(frame, compression::zstd, 128 * mib).value() ==
        std::string(100000, '\0'));
}

// Found by the zstd fuzz target (tests/fuzz/regressions/zstd): eight bytes
// of a pre-1.0 frame (magic 0xFD2FB527), whose legacy decoder allocated the
// 34 MB window its header asked for; legacy frames ignore the window limit.
TEST_CASE("zstd: legacy and unknown frame formats are refused before decoding",
          "[wire][codec][bomb][zstd]") {
  const std::string legacy{"\x27\xb5\x2f\xfd\x10\x78\x10\xfc", 8};
  auto r = decompress(legacy, compression::zstd, mib);
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == cc::errc::decode_failed);
  CHECK_THAT(cc::describe(r.error()), Catch::Contains("v1"));
  // A v1 frame followed by a legacy one: the second is refused too.
  auto good = compress(std::string(1000, 'a'), compression::zstd, 1).value();
  CHECK_FALSE(decompress(good + legacy, compression::zstd, mib));
  // A skippable frame before a v1 frame is still read.
  std::string skip{"\x50\x2a\x4d\x18\x03\x00\x00\x00xyz", 11};
  CHECK(decompress(skip + good, compression::zstd, mib).value() ==
        std::string(1000, 'a'));
}

TEST_CASE("zstd -d reads our frames, and we read zstd's", "[wire][codec][interop][zstd]") {
  if (access("/usr/bin/zstd", X_OK) != 0) {
    WARN("no /usr/bin/zstd: skipped");
    return;
  }
  auto a = log_text(50000), b = random_bytes(20000, 9);
  auto file = *compress(a, compression::zstd, 6) + *compress(b, compression::zstd, 1);
  char path[] = "/tmp/cc-codec-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, file.data(), file.size()) == static_cast<ssize_t>(file.size()));
  close(fd);
  CHECK(run(std::string{"zstd -qdc < "} + path) == a + b);
  // The CLI streams from a pipe: no declared size; we read it all the same.
  auto theirs = run(std::string{"zstd -qdc < "} + path + " | zstd -q1c");
  CHECK(decompress(theirs, compression::zstd, mib).value() == a + b);
  unlink(path);
}

// Compression contexts are kept between calls and shared by threads: each
// call starts afresh at its own level, whatever the call before it on that
// context was, and threads compressing at once do not share one.
TEST_CASE("zstd: calls from several threads at different levels each make "
          "their own frame", "[wire][codec][zstd]") {
  const auto text = log_text(256 * 1024);
  const auto noise = random_bytes(64 * 1024, 7);
  auto alone1 = compress(text, compression::zstd, 1).value();
  auto alone9 = compress(text, compression::zstd, 9).value();
  CHECK(alone9 != alone1);
  // Level 1 right after level 9 (on the context it just used): as alone.
  CHECK(compress(text, compression::zstd, 1).value() == alone1);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const auto& in = (i + t) % 3 == 0 ? noise : text;
        int level = 1 + (i + t) % 9;
        auto packed = compress(in, compression::zstd, level);
        auto back = packed ? decompress(*packed, compression::zstd, mib)
                           : caf::expected<std::string>{caf::error{}};
        if (!back || *back != in)
          ++bad;
        if (in == text && level == 1 && packed && *packed != alone1)
          ++bad;
      }
    });
  for (auto& th : threads)
    th.join();
  CHECK(bad == 0);
}
