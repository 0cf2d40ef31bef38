// wire/base64: RFC 4648 vectors, Python 2 encodestring layout (expected
// strings produced by Python's base64.encodebytes, the same layout), and
// decoder strictness.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "base/error.hpp"
#include "wire/base64.hpp"

using cc::wire::base64_decode;
using cc::wire::base64_encode;
using cc::wire::base64_encoded_size;

namespace {

std::string all_bytes() {
  std::string s;
  for (int i = 0; i < 256; ++i)
    s += static_cast<char>(i);
  return s;
}

cc::errc code_of(const caf::error& err) {
  REQUIRE(err.category() == cc::error_category);
  return static_cast<cc::errc>(err.code());
}

} // namespace

TEST_CASE("base64 encodes the RFC 4648 vectors with a final newline",
          "[wire][base64]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==\n");
  CHECK(base64_encode("fo") == "Zm8=\n");
  CHECK(base64_encode("foo") == "Zm9v\n");
  CHECK(base64_encode("foob") == "Zm9vYg==\n");
  CHECK(base64_encode("fooba") == "Zm9vYmE=\n");
  CHECK(base64_encode("foobar") == "Zm9vYmFy\n");
}

TEST_CASE("base64 breaks lines after 76 characters as Python 2 does",
          "[wire][base64]") {
  CHECK(base64_encode(std::string(57, 'a')) ==
        "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh\n");
  CHECK(base64_encode(std::string(58, 'a')) ==
        "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh\n"
        "YQ==\n");
  CHECK(base64_encode(all_bytes()) ==
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\n"
        "OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3Bx\n"
        "cnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmq\n"
        "q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj\n"
        "5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==\n");
}

TEST_CASE("base64_encoded_size is the exact output length", "[wire][base64]") {
  for (size_t n : {0, 1, 2, 3, 56, 57, 58, 113, 114, 115, 1000, 65536}) {
    CAPTURE(n);
    CHECK(base64_encode(std::string(n, 'x')).size() == base64_encoded_size(n));
  }
}

TEST_CASE("base64 decodes vectors with and without whitespace",
          "[wire][base64]") {
  CHECK(base64_decode("").value() == "");
  CHECK(base64_decode("Zg==").value() == "f");
  CHECK(base64_decode("Zm8=").value() == "fo");
  CHECK(base64_decode("Zm9vYmFy").value() == "foobar");
  CHECK(base64_decode("Zm9vYmFy\n").value() == "foobar");
  CHECK(base64_decode(" Zm 9v\r\nYm\tFy \n").value() == "foobar");
  CHECK(base64_decode("Zg=\n=\n").value() == "f");
  CHECK(base64_decode("\n\n").value() == "");
  CHECK(base64_decode(base64_encode(all_bytes())).value() == all_bytes());
}

TEST_CASE("base64 round-trips random data of many lengths", "[wire][base64]") {
  std::mt19937 rng{42};
  for (size_t n = 0; n < 300; ++n) {
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng());
    auto text = base64_encode(s);
    auto back = base64_decode(text);
    REQUIRE(back);
    CHECK(*back == s);
  }
  std::string big(1 << 20, '\0');
  for (auto& c : big)
    c = static_cast<char>(rng());
  CHECK(base64_decode(base64_encode(big)).value() == big);
}

TEST_CASE("base64 rejects bad characters, lengths and padding",
          "[wire][base64]") {
  for (const char* bad : {"Zg=", "Zm9", "Z", "Zg==Zg==", "Zm9v!mFy", "Zm-v",
                          "Zm_v", "=Zg=", "Z===", "Zg==x", "Zm9vY", "Zg= =x",
                          "Zm9v\x80", "===="}) {
    CAPTURE(bad);
    auto r = base64_decode(bad);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == cc::errc::decode_failed);
  }
  auto r = base64_decode("Zm9v*mFy");
  REQUIRE_FALSE(r);
  CHECK_THAT(cc::describe(r.error()), Catch::Contains("offset 4"));
}
