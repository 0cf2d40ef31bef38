#include <catch2/catch.hpp>

#include "routes/route_table.hpp"

using cc::routes::prefix_matches;
using cc::routes::route_table;
using names = std::vector<std::string>;

TEST_CASE("prefixes match whole dot-separated segments", "[routes]") {
  CHECK(prefix_matches("log", "log"));
  CHECK(prefix_matches("log", "log.info"));
  CHECK(prefix_matches("pub.logtail", "pub.logtail.pg"));
  CHECK_FALSE(prefix_matches("log", "logx"));
  CHECK_FALSE(prefix_matches("log", "lo"));
  CHECK_FALSE(prefix_matches("pub.logtail", "pub.logtailx"));
  CHECK_FALSE(prefix_matches("pub.logtail", "pub"));
  CHECK(prefix_matches("*", "anything.at.all"));
}

TEST_CASE("lookup returns every matching handler once, in order", "[routes]") {
  route_table t;
  t.add("pub", {"h:forward"});
  t.add("pub.logtail", {"h:tailwriter", "h:forward"});
  t.add("log", {"h:locallog"});
  t.add("*", {"h:audit"});
  CHECK(t.lookup("pub.logtail.pg") == names{"h:forward", "h:tailwriter", "h:audit"});
  CHECK(t.lookup("pub.other") == names{"h:forward", "h:audit"});
  CHECK(t.lookup("log.info") == names{"h:locallog", "h:audit"});
  CHECK(t.lookup("job.start") == names{"h:audit"});
  CHECK(t.handlers() == names{"h:forward", "h:tailwriter", "h:locallog", "h:audit"});
}

TEST_CASE("an unmatched type has no handlers", "[routes]") {
  route_table t;
  t.add("log", {"h:locallog"});
  CHECK(t.lookup("echo.request").empty());
  CHECK(t.lookup("logging").empty());
}

TEST_CASE("a repeated prefix extends its list without duplicates", "[routes]") {
  route_table t({{"pub", {"h:a"}}, {"pub", {"h:a", "h:b"}}});
  CHECK(t.size() == 1);
  CHECK(t.lookup("pub.x") == names{"h:a", "h:b"});
}
