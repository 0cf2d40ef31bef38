// config/ini: parsing (inih quirks, line numbers, continuation lines, case),
// the built-in defaults, and interpolation of every form with its errors.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "base/error.hpp"
#include "config/ini.hpp"
#include "tests/support/process.hpp"

using cc::config::ini;

namespace {

ini parse_ok(const std::string& text, const std::string& path = "/etc/cc/t.ini") {
  auto doc = ini::parse(text, path);
  if (!doc)
    FAIL("parse failed: " << cc::describe(doc.error()));
  return std::move(*doc);
}

// The text of a failed expected<T>.
template <class T>
std::string error_of(const caf::expected<T>& x) {
  REQUIRE_FALSE(x);
  return cc::describe(x.error());
}

} // namespace

TEST_CASE("sections and keys keep file order and keys are lower-cased",
          "[config][ini]") {
  auto doc = parse_ok("[ccserver]\nCC-Socket = tcp://127.0.0.1:1\n"
                      "B = 2\na = 1\n[routes]\npub.LogTail = h:x\n"
                      "[h:x]\nhandler = echo\n");
  CHECK(doc.sections() == std::vector<std::string>{"ccserver", "routes", "h:x"});
  CHECK(doc.keys("ccserver") == std::vector<std::string>{"cc-socket", "b", "a"});
  CHECK(doc.keys("routes") == std::vector<std::string>{"pub.logtail"});
  CHECK(doc.raw("ccserver", "cc-socket") == std::optional<std::string>("tcp://127.0.0.1:1"));
  // lookups by key are case-insensitive too
  CHECK(*doc.get("ccserver", "CC-SOCKET") == "tcp://127.0.0.1:1");
  CHECK(doc.line("ccserver", "b") == 3);
  CHECK(doc.line("h:x", "handler") == 8);
}

TEST_CASE("continuation lines join with a newline and comments follow inih",
          "[config][ini]") {
  auto doc = parse_ok("[s]\n"
                      "list = a,\n"
                      "   b,\n"
                      "\tc\n"
                      "semi = value ; inline comment is stripped\n"
                      "hash = value # stays, as in the original\n"
                      "# a comment\n"
                      "; another\n"
                      "colon: works\n"
                      "empty =\n"
                      "  later\n");
  CHECK(*doc.raw("s", "list") == "a,\nb,\nc");
  CHECK(*doc.raw("s", "semi") == "value");
  CHECK(*doc.raw("s", "hash") == "value # stays, as in the original");
  CHECK(*doc.raw("s", "colon") == "works");
  CHECK(*doc.raw("s", "empty") == "later"); // joined "\nlater", then trimmed
  CHECK(doc.keys("s").size() == 5);
}

TEST_CASE("an empty section exists and [DEFAULT] keys are defaults",
          "[config][ini]") {
  auto doc = parse_ok("[DEFAULT]\nrundir = /run/cc\n[empty]\n[s]\n"
                      "pid = %(rundir)s/x.pid\n");
  CHECK(doc.has_section("empty"));
  CHECK_FALSE(doc.has_section("DEFAULT"));
  CHECK(doc.sections() == std::vector<std::string>{"empty", "s"});
  CHECK(doc.keys("empty").empty());
  CHECK(*doc.get("s", "pid") == "/run/cc/x.pid");
  CHECK(*doc.get("empty", "rundir") == "/run/cc");
  CHECK(doc.has("empty", "rundir"));
}

TEST_CASE("a key given twice: the later value wins, with a warning naming the line",
          "[config][ini]") {
  auto doc = parse_ok("[s]\na = 1\nb = 2\na = 3\n", "/x/dup.ini");
  CHECK(*doc.raw("s", "a") == "3");
  CHECK(doc.keys("s") == std::vector<std::string>{"a", "b"});
  REQUIRE(doc.warnings().size() == 1);
  CHECK(doc.warnings()[0].find("/x/dup.ini:4: 'a' is given twice in [s]")
        == 0);
}

TEST_CASE("syntax errors name the file and the line", "[config][ini]") {
  SECTION("a line that is not key = value") {
    auto e = error_of(ini::parse("[s]\na = 1\nnot a pair\n", "/x/bad.ini"));
    CHECK(e.find("config_syntax") == 0);
    CHECK(e.find("/x/bad.ini:3: ") != std::string::npos);
    CHECK(e.find("not a pair") != std::string::npos);
  }
  SECTION("an unclosed section header") {
    auto e = error_of(ini::parse("[s]\na = 1\n\n[broken\nb = 2\n", "/x/bad.ini"));
    CHECK(e.find("/x/bad.ini:4: section header without a closing ']'")
          != std::string::npos);
  }
  SECTION("a key before any section") {
    auto e = error_of(ini::parse("a = 1\n[s]\n", "/x/bad.ini"));
    CHECK(e.find("/x/bad.ini:1: 'a' is outside any [section]")
          != std::string::npos);
  }
  SECTION("a line longer than the limit is an error, not cut silently") {
    auto e = error_of(ini::parse("[s]\nk = " + std::string(20000, 'x') + "\n",
                                 "/x/long.ini"));
    CHECK(e.find("/x/long.ini:2: line is longer than") != std::string::npos);
  }
  SECTION("long lines below the limit are whole (inih's default is 200)") {
    auto doc = parse_ok("[s]\nk = " + std::string(5000, 'y') + "\n");
    CHECK(doc.raw("s", "k")->size() == 5000);
  }
}

TEST_CASE("load reports a missing file with its path and errno text",
          "[config][ini]") {
  auto e = error_of(ini::load("/nonexistent/dir/cc.ini"));
  CHECK(e == "io: /nonexistent/dir/cc.ini: No such file or directory");
}

TEST_CASE("load reads a real file and sets the path defaults", "[config][ini]") {
  cc::test::temp_dir dir("cfgini");
  auto path = dir / "my.job.ini";
  cc::test::write_file(path, "[ccserver]\npidfile = %(config_dir)s/%(job_name)s.pid\n");
  auto doc = ini::load(path);
  REQUIRE(doc);
  CHECK(doc->path() == path);
  CHECK(doc->defaults().at("job_name") == "my.job");
  CHECK(doc->defaults().at("config_file") == path);
  CHECK(doc->defaults().at("config_dir") == dir.path());
  CHECK(*doc->get("ccserver", "pidfile") == dir.path() + "/my.job.pid");
}

TEST_CASE("built-in defaults", "[config][ini]") {
  auto doc = parse_ok("[ccserver]\n", "/etc/cc/local-classic.ini");
  const auto& d = doc.defaults();
  CHECK(d.at("job_name") == "local-classic");
  CHECK(d.at("service_name") == "ccserver");
  CHECK(d.at("config_dir") == "/etc/cc");
  CHECK(d.at("config_file") == "/etc/cc/local-classic.ini");
  CHECK_FALSE(d.at("host_name").empty());
  CHECK(d.at("host_name").find('.') == std::string::npos);
  CHECK(parse_ok("[s]\n", "/a/.hidden").defaults().at("job_name") == ".hidden");
  CHECK(parse_ok("[s]\n", "noext").defaults().at("job_name") == "noext");
}

TEST_CASE("interpolation: every form", "[config][ini]") {
  auto doc = parse_ok("[ccserver]\n"
                      "root = /srv\n"
                      "pct = %(root)s/a\n"
                      "dollar = ${root}/b\n"
                      "mixed = %(Root)s-${ROOT}\n"
                      "literal = 100%% of $$HOME\n"
                      "lone = 50% and $5 stay\n"
                      "nested = %(pct)s/c\n"
                      "deflt = %(job_name)s.pid\n"
                      "[h:tailwriter]\n"
                      "dstdir = ${ccserver:root}/logs\n"
                      "deep = ${ccserver:nested}\n"
                      "sub = ${h:tailwriter:dstdir}/x\n",
                      "/etc/cc/central.ini");
  CHECK(*doc.get("ccserver", "pct") == "/srv/a");
  CHECK(*doc.get("ccserver", "dollar") == "/srv/b");
  CHECK(*doc.get("ccserver", "mixed") == "/srv-/srv");
  CHECK(*doc.get("ccserver", "literal") == "100% of $HOME");
  CHECK(*doc.get("ccserver", "lone") == "50% and $5 stay");
  CHECK(*doc.get("ccserver", "nested") == "/srv/a/c");
  CHECK(*doc.get("ccserver", "deflt") == "central.pid");
  CHECK(*doc.get("h:tailwriter", "dstdir") == "/srv/logs");
  // nested references of another section resolve in that section
  CHECK(*doc.get("h:tailwriter", "deep") == "/srv/a/c");
  CHECK(*doc.get("h:tailwriter", "sub") == "/srv/logs/x");
  // raw() is the value as written
  CHECK(*doc.raw("ccserver", "pct") == "%(root)s/a");
}

TEST_CASE("interpolation: section defaults override global ones",
          "[config][ini]") {
  auto doc = parse_ok("[ccserver]\npidfile = /run/%(job_name)s.pid\n"
                      "[d:logtail]\nmodule = logtail\n",
                      "/etc/cc/local.ini");
  doc.set_section_default("d:logtail", "job_name", "local.d:logtail");
  doc.set_section_default("d:logtail", "pidfile", *doc.raw("ccserver", "pidfile"));
  CHECK(*doc.get("d:logtail", "pidfile") == "/run/local.d:logtail.pid");
  CHECK(*doc.get("ccserver", "pidfile") == "/run/local.pid");
  CHECK(doc.has("d:logtail", "pidfile"));
  CHECK_FALSE(doc.has("ccserver", "nope"));
  doc.set_default("extra", "e");
  CHECK(*doc.get("ccserver", "extra") == "e");
}

TEST_CASE("interpolation errors name file:section:key", "[config][ini]") {
  auto doc = parse_ok("[ccserver]\n"
                      "a = %(b)s\n"
                      "b = ${a}\n"
                      "self = x%(self)sy\n"
                      "missing = %(nope)s\n"
                      "nested_missing = %(missing)s\n"
                      "nosection = ${h:gone:key}\n"
                      "nokey = ${routes:x}\n"
                      "bad = %(unterminated\n"
                      "bad2 = %(x)d\n"
                      "bad3 = ${open\n"
                      "[routes]\n",
                      "/etc/cc/e.ini");
  CHECK(error_of(doc.get("ccserver", "a"))
        == "config_invalid: /etc/cc/e.ini:ccserver:a: interpolation loop: "
           "ccserver:a -> ccserver:b -> ccserver:a");
  CHECK(error_of(doc.get("ccserver", "self"))
        == "config_invalid: /etc/cc/e.ini:ccserver:self: interpolation loop: "
           "ccserver:self -> ccserver:self");
  CHECK(error_of(doc.get("ccserver", "missing"))
        == "config_invalid: /etc/cc/e.ini:ccserver:missing: %(nope)s: no key "
           "'nope' in [ccserver] or the defaults");
  // the error names the key that was read, the reference that failed deeper
  CHECK(error_of(doc.get("ccserver", "nested_missing"))
        == "config_invalid: /etc/cc/e.ini:ccserver:nested_missing: %(nope)s: "
           "no key 'nope' in [ccserver] or the defaults");
  CHECK(error_of(doc.get("ccserver", "nosection"))
        == "config_invalid: /etc/cc/e.ini:ccserver:nosection: ${h:gone:key}: "
           "no section [h:gone]");
  CHECK(error_of(doc.get("ccserver", "nokey"))
        == "config_invalid: /etc/cc/e.ini:ccserver:nokey: ${routes:x}: no key "
           "'x' in [routes] or the defaults");
  CHECK(error_of(doc.get("ccserver", "absent"))
        == "config_invalid: /etc/cc/e.ini:ccserver:absent: no such key in "
           "[ccserver] or the defaults");
  CHECK(error_of(doc.get("ccserver", "bad")).find(
          "/etc/cc/e.ini:ccserver:bad: malformed reference")
        != std::string::npos);
  CHECK(error_of(doc.get("ccserver", "bad2")).find("expected %(name)s")
        != std::string::npos);
  CHECK(error_of(doc.get("ccserver", "bad3")).find("expected ${name}")
        != std::string::npos);
}

TEST_CASE("a long acyclic chain stops at the depth limit", "[config][ini]") {
  std::string text = "[s]\n";
  for (int i = 0; i < 40; ++i)
    text += "k" + std::to_string(i) + " = %(k" + std::to_string(i + 1) + ")s\n";
  text += "k40 = end\n";
  auto doc = parse_ok(text, "/x/chain.ini");
  CHECK(error_of(doc.get("s", "k0")).find("/x/chain.ini:s:k0: interpolation "
                                          "nested deeper than")
        != std::string::npos);
  CHECK(*doc.get("s", "k20") == "end");
}

TEST_CASE("verbatim references stay as written, others resolve",
          "[config][ini]") {
  auto doc = parse_ok("[h:tw]\n"
                      "sub = logs\n"
                      "dstmask = ${sub}/%(hostname)s/%(filename)s--%(filepath)s\n"
                      "old = %%(hostname)s/%%(filename)s\n");
  std::vector<std::string> keep{"hostname", "filename", "filepath"};
  CHECK(*doc.get("h:tw", "dstmask", keep)
        == "logs/%(hostname)s/%(filename)s--%(filepath)s");
  CHECK(*doc.get("h:tw", "old", keep) == "%(hostname)s/%(filename)s");
  // without the list, %(hostname)s is a missing key
  CHECK_FALSE(doc.get("h:tw", "dstmask"));
}
