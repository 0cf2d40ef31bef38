// docs/config.md is the output of schema_markdown(): this test fails when the
// option tables change without the document. Regenerate with
//   CC_UPDATE_DOCS=1 build/tests/config_tests '[docs]'
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "config/schema.hpp"
#include "tests/support/process.hpp"

using namespace cc::config;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// First differing line, for a readable failure.
std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream ia(a), ib(b);
  std::string la, lb;
  for (int n = 1;; ++n) {
    bool ga = static_cast<bool>(std::getline(ia, la));
    bool gb = static_cast<bool>(std::getline(ib, lb));
    if (!ga && !gb)
      return "none";
    if (!ga || !gb || la != lb)
      return "line " + std::to_string(n) + ":\n  docs/config.md: " + (ga ? la : "<end>")
             + "\n  schema:         " + (gb ? lb : "<end>");
  }
}

} // namespace

TEST_CASE("docs/config.md matches the schema tables", "[config][docs]") {
  auto path = cc::test::source_path("docs/config.md");
  auto expected = schema_markdown();
  if (const char* update = std::getenv("CC_UPDATE_DOCS"); update && *update) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << expected;
    WARN("rewrote " << path);
  }
  auto actual = slurp(path);
  INFO("docs/config.md is out of date with config/schema.cpp; regenerate it:\n"
       "  CC_UPDATE_DOCS=1 build/tests/config_tests '[docs]'");
  CHECK(first_difference(actual, expected) == "none");
  CHECK(actual.size() == expected.size());
}

TEST_CASE("the reference names every section kind and every option",
          "[config][docs]") {
  auto md = schema_markdown();
  for (const auto& s : schemas()) {
    CHECK(md.find(std::string(s.kind)) != std::string::npos);
    for (const auto& o : s.options) {
      INFO(s.kind << ":" << o.name);
      CHECK(md.find("| `" + std::string(o.name) + "` |") != std::string::npos);
    }
  }
  CHECK(md.find("## Handler `tailwriter`\n\n`handler = cc.handler.tailwriter` "
                "or `handler = tailwriter`; runs in cc-role remote (or insecure).")
        != std::string::npos);
  CHECK(md.find("## Daemon `logtail`\n\n`module = cc.daemon.logtail` or "
                "`module = logtail`.")
        != std::string::npos);
  CHECK(md.find("| `maint-period` | seconds, greater than 0 | `3` |")
        != std::string::npos);
  CHECK(md.find("| `cc-socket` | endpoint | **required** |") != std::string::npos);
  CHECK(md.find("| `compression-level` | integer, from 1 to 9 | `6` |")
        != std::string::npos);
  CHECK(md.find("*ext.*") != std::string::npos);
}
