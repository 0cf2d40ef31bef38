// actors/link/host_binding: the check of a claimed host name against the sender's
// binding, the `denied` answers, and screen() as a relay's forwarder uses it.
// No actor system: plain classes.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "actors/link/host_binding.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

using namespace cc;

namespace {

wire::peer_ptr bound_to(std::set<std::string, std::less<>> hosts) {
  auto id = std::make_shared<wire::peer_identity>();
  id->key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
  id->label = "db1";
  id->line = 3;
  id->hosts = std::move(hosts);
  return id;
}

wire::cc_message fragment(const std::string& type, const std::string& host, bool ack) {
  wire::logtail_body b;
  b.hdr.req = type;
  b.hdr.hostname = host;
  b.filename = "/var/log/app.log";
  b.st_dev = 8;
  b.st_ino = 9;
  b.gen = "00000000000000c3";
  b.fpos = 4096;
  b.ack = ack;
  wire::cc_message m;
  m.route = {"peer-7", wire::local_route_frame("tailer")};
  m.type = type;
  m.body = wire::make_body(b);
  return m;
}

wire::cc_message info_file(const std::string& host) {
  wire::infofile_body b;
  b.hdr.req = "pub.infofile";
  b.hdr.hostname = host;
  b.filename = "/etc/motd";
  b.mtime = 1764000000.5;
  b.ack = true;
  wire::cc_message m;
  m.route = {"peer-8"};
  m.type = b.hdr.req;
  m.body = wire::make_body(b);
  return m;
}

} // namespace

TEST_CASE("host binding: a bound key may write its hosts only, an unbound key or no "
          "peer any host",
          "[binding]") {
  host_binding_check check{"test"};
  auto db1 = bound_to({"db1"});
  CHECK(!check.refuse(db1, "db1", "pub.logtail", "x"));
  auto why = check.refuse(db1, "db2", "pub.logtail", "/x");
  REQUIRE(why);
  CHECK(*why
        == "client key rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7 ('db1'), bound to "
           "host=db1 by curve-allowed-keys line 3, may not write host 'db2'");
  CHECK(!check.refuse(nullptr, "db2", "pub.logtail", "x"));
  CHECK(!check.refuse(bound_to({}), "db2", "pub.logtail", "x")); // no host=, no relay=: unbound
  auto relay = std::make_shared<wire::peer_identity>(*db1);
  relay->hosts.clear();
  relay->carries = {"web1"};
  CHECK(!check.refuse(relay, "web1", "pub.logtail", "x"));
  CHECK(check.refuse(relay, "web2", "pub.logtail", "x"));
  relay->carries_any = true;
  CHECK(!check.refuse(relay, "web2", "pub.logtail", "x"));
  CHECK(check.denied() == 2);
}

TEST_CASE("host binding: screen answers a denied fragment along its route, nothing "
          "acknowledged, and passes what it does not check",
          "[binding]") {
  host_binding_check check{"test"};
  auto msg = fragment("pub.logtail.pg", "db2", true);
  msg.peer = bound_to({"db1"});
  auto v = check.screen(msg, "relay1");
  CHECK(v.denied);
  REQUIRE(v.reply);
  CHECK(v.reply->route == msg.route);
  CHECK(v.reply->type == "logtail.ack");
  auto ack = wire::parse_logtail_ack(v.reply->body);
  REQUIRE(ack);
  CHECK(ack->status == "denied");
  CHECK(ack->hdr.hostname == "relay1");
  CHECK(ack->filename == "/var/log/app.log");
  CHECK(ack->st_dev == 8);
  CHECK(ack->st_ino == 9);
  CHECK(ack->gen == "00000000000000c3");
  CHECK(ack->fpos == 4096);
  CHECK(ack->writer.empty()); // a relay is not the writer
  CHECK(ack->detail.find("may not write host 'db2'") != std::string::npos);
  // Without `ack`: denied, no answer.
  auto quiet = fragment("pub.logtail", "db2", false);
  quiet.peer = msg.peer;
  auto q = check.screen(quiet, "relay1");
  CHECK(q.denied);
  CHECK(!q.reply);
  // An info file: infofile.ack `denied` with the reason.
  auto file = info_file("db2");
  file.peer = msg.peer;
  auto f = check.screen(file, "relay1");
  CHECK(f.denied);
  REQUIRE(f.reply);
  auto info = wire::parse_infofile_ack(f.reply->body);
  REQUIRE(info);
  CHECK(info->status == "denied");
  CHECK(info->filename == "/etc/motd");
  CHECK(info->reason.find("may not write host 'db2'") != std::string::npos);
  CHECK(check.denied() == 3);
  // A question (docs/wire.md §6.1) is answered with a logtail.state.
  wire::logtail_body q_body = *wire::parse_logtail(msg.body);
  q_body.query = "state";
  auto question = msg;
  question.body = wire::make_body(q_body);
  auto qv = check.screen(question, "relay1");
  CHECK(qv.denied);
  REQUIRE(qv.reply);
  CHECK(qv.reply->type == "logtail.state");
  auto state = wire::parse_logtail_state(qv.reply->body);
  REQUIRE(state);
  CHECK(state->status == "denied");
  CHECK(state->query == "state");
  CHECK(state->gen == "00000000000000c3");
  CHECK(state->detail.find("may not write host 'db2'") != std::string::npos);
  CHECK(check.denied() == 4);
  // Passed: its own host, another family of types, a body that does not
  // parse (the writer drops it), and messages without a bound peer.
  auto own = fragment("pub.logtail", "db1", true);
  own.peer = msg.peer;
  CHECK(!check.screen(own, "relay1").denied);
  auto other = fragment("pub.logtailx", "db2", true);
  other.peer = msg.peer;
  CHECK(!check.screen(other, "relay1").denied);
  auto garbage = own;
  garbage.body = "{not json";
  CHECK(!check.screen(garbage, "relay1").denied);
  auto local = fragment("pub.logtail", "db2", true);
  CHECK(!check.screen(local, "relay1").denied);
  CHECK(check.denied() == 4);
}
