// Mutated configurations (a fixed-seed random walk over the shipped ones):
// the loader never crashes or hangs, and every problem it reports names the
// file, as the start-up error contract requires.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "base/error.hpp"
#include "config/config.hpp"
#include "tests/support/process.hpp"

using namespace cc::config;

namespace {

std::string mutate(std::string text, std::mt19937& rng) {
  static const std::string alphabet = "[]=%$(){}:;#\n \t~*?s.,-_aZ09";
  auto pick = [&](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  };
  int edits = 1 + static_cast<int>(pick(4));
  for (int i = 0; i < edits && !text.empty(); ++i) {
    auto at = pick(text.size());
    switch (pick(4)) {
      case 0: text.erase(at, 1 + pick(8)); break;
      case 1: text.insert(at, 1, alphabet[pick(alphabet.size())]); break;
      case 2: text[at] = alphabet[pick(alphabet.size())]; break;
      default: { // copy a chunk elsewhere (repeated keys, sections, refs)
        auto len = 1 + pick(40);
        auto chunk = text.substr(at, len);
        text.insert(pick(text.size()), chunk);
      }
    }
  }
  return text;
}

} // namespace

TEST_CASE("mutated configurations are rejected or accepted, never crash",
          "[config][robustness]") {
  const std::string path = "/etc/cc/fuzz.ini";
  std::mt19937 rng(20261126);
  int parsed = 0, valid = 0, rejected = 0;
  for (auto conf : {"conf/central.ini", "conf/local-classic.ini",
                    "conf/local-rotated.ini"}) {
    auto seed = cc::test::read_file(cc::test::source_path(conf));
    REQUIRE_FALSE(seed.empty());
    for (int i = 0; i < 1500; ++i) {
      auto text = mutate(seed, rng);
      auto doc = ini::parse(text, path);
      if (!doc) {
        auto msg = cc::describe(doc.error());
        INFO(text);
        CHECK(msg.find("config_syntax: " + path + ":") == 0);
        ++rejected;
        continue;
      }
      ++parsed;
      auto r = validate(*doc);
      for (const auto& d : r.diagnostics) {
        INFO(text);
        CHECK(d.str().rfind(path + ":", 0) == 0);
        CHECK_FALSE(d.message.empty());
      }
      if (r.ok()) {
        ++valid;
        CHECK(describe(*r.config).find("config file: " + path) == 0);
      }
    }
  }
  // the walk reaches all three outcomes, or it tests nothing
  CHECK(rejected > 0);
  CHECK(parsed > valid);
  CHECK(valid > 0);
}
