// Value parsing: sizes, booleans, lists, files, and check_value for every
// type (valid and invalid inputs, and the "expected ..." text).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "config/config.hpp"
#include "config/schema.hpp"

using namespace cc::config;

TEST_CASE("sizes: units K M G T, optional B, powers of 1024, any case",
          "[config][values]") {
  CHECK(parse_size("1048576") == 1048576u);
  CHECK(parse_size("64K") == 65536u);
  CHECK(parse_size("64k") == 65536u);
  CHECK(parse_size("64KB") == 65536u);
  CHECK(parse_size("256 MB") == 256ull << 20);
  CHECK(parse_size("256 mb") == 256ull << 20);
  CHECK(parse_size("2 GB") == 2ull << 30);
  CHECK(parse_size("1T") == 1ull << 40);
  CHECK(parse_size("100B") == 100u);
  CHECK(parse_size(" 7 ") == 7u);
  CHECK(parse_size("0") == 0u);
  CHECK_FALSE(parse_size(""));
  CHECK_FALSE(parse_size("MB"));
  CHECK_FALSE(parse_size("1.5 GB"));
  CHECK_FALSE(parse_size("-1"));
  CHECK_FALSE(parse_size("12 XB"));
  CHECK_FALSE(parse_size("1 P"));
  CHECK_FALSE(parse_size("10 MBs"));
  CHECK_FALSE(parse_size("99999999999999999999"));
  CHECK_FALSE(parse_size("20000000 T")); // overflows 64 bits
}

TEST_CASE("booleans: yes/no, true/false, on/off, 1/0", "[config][values]") {
  for (auto t : {"yes", "YES", "true", "True", "on", "1", " on "})
    CHECK(parse_bool(t) == true);
  for (auto f : {"no", "No", "false", "off", "OFF", "0"})
    CHECK(parse_bool(f) == false);
  for (auto bad : {"", "y", "n", "2", "enabled", "yess"})
    CHECK_FALSE(parse_bool(bad));
}

TEST_CASE("lists: comma-separated, trimmed, empty items dropped",
          "[config][values]") {
  CHECK(parse_list("d:a, d:b ,d:c") == std::vector<std::string>{"d:a", "d:b", "d:c"});
  CHECK(parse_list("a,\nb,\nc") == std::vector<std::string>{"a", "b", "c"});
  CHECK(parse_list(" one ") == std::vector<std::string>{"one"});
  CHECK(parse_list("a,,b,") == std::vector<std::string>{"a", "b"});
  CHECK(parse_list("").empty());
}

TEST_CASE("files expand a leading ~", "[config][values]") {
  const char* home = std::getenv("HOME");
  REQUIRE(home != nullptr);
  CHECK(expand_user("~") == std::string(home));
  CHECK(expand_user("~/pid/x.pid") == std::string(home) + "/pid/x.pid");
  CHECK(expand_user("/abs/~x") == "/abs/~x");
  CHECK(expand_user("rel/x") == "rel/x");
  CHECK(expand_user("~root/x") == "/root/x");
  CHECK(expand_user("~no-such-user-here/x") == "~no-such-user-here/x");
}

namespace {

const option& opt_of(std::string_view kind, std::string_view key) {
  const auto* s = schema_by_kind(kind);
  REQUIRE(s != nullptr);
  const auto* o = s->find(key);
  REQUIRE(o != nullptr);
  return *o;
}

bool ok(std::string_view kind, std::string_view key, const std::string& text) {
  std::string why;
  return check_value(opt_of(kind, key), text, why);
}

std::string why(std::string_view kind, std::string_view key,
                const std::string& text) {
  std::string why;
  CHECK_FALSE(check_value(opt_of(kind, key), text, why));
  return why;
}

} // namespace

TEST_CASE("check_value: endpoints", "[config][values]") {
  CHECK(ok("ccserver", "cc-socket", "tcp://127.0.0.1:22632"));
  CHECK(ok("ccserver", "cc-socket", "tcp://0.0.0.0:1"));
  CHECK(ok("ccserver", "cc-socket", "tcp://[::1]:65535"));
  CHECK(ok("ccserver", "cc-socket", "tcp://localhost:22632"));
  CHECK(ok("ccserver", "cc-socket", "ipc:///tmp/cc.sock"));
  CHECK(ok("ccserver", "cc-socket", "inproc://cc"));
  CHECK_FALSE(ok("ccserver", "cc-socket", "tcp://127.0.0.1:0"));
  CHECK_FALSE(ok("ccserver", "cc-socket", "tcp://127.0.0.1:65536"));
  CHECK_FALSE(ok("ccserver", "cc-socket", "tcp://127.0.0.1"));
  CHECK_FALSE(ok("ccserver", "cc-socket", "tcp://:22632"));
  CHECK_FALSE(ok("ccserver", "cc-socket", "tcp://host:port"));
  CHECK_FALSE(ok("ccserver", "cc-socket", "udp://127.0.0.1:1"));
  CHECK_FALSE(ok("ccserver", "cc-socket", "ipc://"));
  CHECK_FALSE(ok("ccserver", "cc-socket", "127.0.0.1:22632"));
  // caf:// only where stated: the forwarder's remote-cc
  CHECK_FALSE(ok("ccserver", "cc-socket", "caf://127.0.0.1:4242"));
  CHECK(ok("proxy", "remote-cc", "caf://127.0.0.1:4242"));
  CHECK_FALSE(ok("proxy", "remote-cc", "caf://127.0.0.1"));
  CHECK(why("ccserver", "cc-socket", "x")
        == "is not an endpoint; expected tcp://HOST:PORT (port 1..65535), "
           "ipc://PATH or inproc://NAME");
  CHECK(why("proxy", "remote-cc", "x").find("caf://HOST:PORT")
        != std::string::npos);
}

TEST_CASE("check_value: integers and ranges", "[config][values]") {
  CHECK(ok("tailwriter", "compression-level", "1"));
  CHECK(ok("tailwriter", "compression-level", "9"));
  CHECK_FALSE(ok("tailwriter", "compression-level", "0"));
  CHECK_FALSE(ok("tailwriter", "compression-level", "10"));
  CHECK(why("tailwriter", "compression-level", "10")
        == "is out of range; expected an integer from 1 to 9");
  CHECK(why("tailwriter", "worker-threads", "ten")
        == "is not an integer; expected a whole number from 1 to 1024");
  CHECK_FALSE(ok("tailwriter", "worker-threads", "0"));
  CHECK(ok("ccserver", "zmq_linger", "-1"));
  CHECK_FALSE(ok("ccserver", "zmq_linger", "-2"));
  CHECK_FALSE(ok("ccserver", "zmq_hwm", "1.5"));
  CHECK_FALSE(ok("ccserver", "zmq_hwm", ""));
  CHECK(ok("ccserver", "cc-stats", "2"));
  CHECK_FALSE(ok("ccserver", "cc-stats", "3"));
}

TEST_CASE("check_value: seconds, booleans, sizes, choices", "[config][values]") {
  CHECK(ok("tailwriter", "sync-interval", "0.02"));
  CHECK(ok("tailwriter", "sync-interval", ".5"));
  CHECK(ok("jobmgr", "watchdog-reset", "3600"));
  CHECK_FALSE(ok("jobmgr", "watchdog-reset", "1h"));
  CHECK_FALSE(ok("jobmgr", "watchdog-reset", "-1"));
  CHECK_FALSE(ok("jobmgr", "watchdog-reset", "1e3"));
  CHECK_FALSE(ok("tailwriter", "maint-period", "0")); // must be positive
  // ping also takes the original's boolean
  CHECK(ok("proxy", "ping", "yes"));
  CHECK(ok("proxy", "ping", "no"));
  CHECK(ok("proxy", "ping", "10"));
  CHECK(why("proxy", "ping", "often").find("or yes/no") != std::string::npos);
  CHECK_FALSE(ok("tailwriter", "sync-interval", "yes"));

  CHECK(ok("tailwriter", "host-subdirs", "yes"));
  CHECK(why("tailwriter", "host-subdirs", "maybe")
        == "is not a boolean; expected yes/no, true/false, on/off or 1/0");

  CHECK(ok("logtail", "lag-max-bytes", "256 MB"));
  CHECK(why("logtail", "lag-max-bytes", "256 XB").find("is not a size; expected")
        == 0);
  CHECK_FALSE(ok("tailwriter", "max-fragment-bytes", "0"));

  CHECK(ok("ccserver", "cc-role", "local"));
  CHECK_FALSE(ok("ccserver", "cc-role", "Local"));
  CHECK(why("ccserver", "cc-role", "central")
        == "is not one of the choices; expected one of: local, remote, insecure");
  CHECK(ok("logtail", "compression", "none"));
  // zstd is a wire compression of the tailer only (docs/wire.md §6.6): not
  // for copies on disk, not for info files.
  CHECK(ok("logtail", "compression", "zstd"));
  CHECK_FALSE(ok("logtail", "compression", "xz"));
  CHECK_FALSE(ok("tailwriter", "compression", "zstd"));
  CHECK_FALSE(ok("infosender", "compression", "zstd"));
}

TEST_CASE("schema tables: every option once, defaults valid, type names unique",
          "[config][schema]") {
  std::vector<std::string_view> type_names;
  for (const auto& s : schemas()) {
    CHECK_FALSE(s.description.empty());
    std::vector<std::string_view> names;
    for (const auto& o : s.options) {
      INFO(s.kind << ":" << o.name);
      CHECK(std::find(names.begin(), names.end(), o.name) == names.end());
      names.push_back(o.name);
      CHECK_FALSE(o.description.empty());
      CHECK_FALSE((o.required && o.has_default));
      if (o.has_default && !o.default_value.empty()) {
        std::string why;
        CHECK(check_value(o, std::string(o.default_value), why));
      }
      if (o.type == value_type::choice)
        CHECK_FALSE(o.choices.empty());
    }
    for (auto t : s.type_names) {
      CHECK(std::find(type_names.begin(), type_names.end(), t) == type_names.end());
      type_names.push_back(t);
      CHECK(schema_by_type_name(t, s.is_daemon) == &s);
      CHECK(schema_by_type_name(t, !s.is_daemon) == nullptr);
    }
  }
  CHECK(schemas().front().kind == "ccserver");
  CHECK(schema_by_kind("nope") == nullptr);
  CHECK(schema_by_type_name("cc.handler.disposer", false) == nullptr);
  CHECK(known_type_names(false)
        == "cc.handler.locallogger (locallogger), cc.handler.echo (echo), "
           "cc.handler.proxy (proxy), cc.handler.jobmgr (jobmgr), "
           "cc.handler.tailwriter (tailwriter), "
           "cc.handler.infowriter (infowriter)");
  CHECK(known_type_names(true) ==
        "cc.daemon.logtail (logtail), cc.daemon.infosender (infosender)");
}
