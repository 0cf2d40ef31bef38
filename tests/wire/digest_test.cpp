// wire/digest: XXH3-64 as libxxhash computes it, fed at once or in pieces,
// and its 16-hex-digit text.
#include <catch2/catch.hpp>

#include <string>

#include "wire/digest.hpp"

using namespace cc::wire;

TEST_CASE("xxh3: the reference value, and pieces give the same digest",
          "[wire][digest]") {
  // XXH3_64bits("", 0) with seed 0, from xxHash's own test vectors.
  CHECK(xxh3("") == 0x2D06800538D394C2ULL);
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += "line " + std::to_string(i * 7919) + "\n";
  digest_stream s;
  CHECK(s.value() == xxh3(""));
  for (size_t at = 0; at < text.size(); at += 333)
    s.update(std::string_view{text}.substr(at, 333));
  CHECK(s.value() == xxh3(text));
  CHECK(s.value() != xxh3(text.substr(1)));
  s.reset();
  s.update(text);
  CHECK(s.value() == xxh3(text));
}

TEST_CASE("digest text: 16 lowercase hex digits, parsed back", "[wire][digest]") {
  CHECK(digest_hex(0) == "0000000000000000");
  CHECK(digest_hex(0x2D06800538D394C2ULL) == "2d06800538d394c2");
  CHECK(parse_digest_hex("2d06800538d394c2") == 0x2D06800538D394C2ULL);
  CHECK_FALSE(parse_digest_hex("2D06800538D394C2")); // not what we write
  CHECK_FALSE(parse_digest_hex("2d06800538d394c"));
  CHECK_FALSE(parse_digest_hex("2d06800538d394c2 "));
  CHECK_FALSE(parse_digest_hex("2d06800538d394g2"));
}
