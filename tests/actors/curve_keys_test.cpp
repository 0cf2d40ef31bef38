// actors/link/curve_keys and actors/link/zap: key files, allow-lists, key pairs, and
// what the ZAP handler answers (no sockets: zap_handler::answer is pure).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <sys/stat.h>

#include <zmq.h>

#include "actors/link/curve_keys.hpp"
#include "actors/link/zap.hpp"
#include "base/error.hpp"
#include "tests/support/process.hpp"

using cc::test::temp_dir;
using cc::test::write_file;

namespace {

struct pair_z85 {
  std::string pub, secret;
};

pair_z85 fresh_pair() {
  char p[41] = {}, s[41] = {};
  REQUIRE(zmq_curve_keypair(p, s) == 0);
  return {p, s};
}

std::string error_text(const caf::error& err) {
  return cc::describe(err);
}

/// An allow-list of unbound keys (Z85 texts), as a file without bindings gives.
cc::curve::allow_list unbound(std::initializer_list<std::string> keys) {
  cc::curve::allow_list out;
  for (const auto& k : keys) {
    auto id = std::make_shared<cc::wire::peer_identity>();
    id->key = k;
    out.emplace(k, id);
  }
  return out;
}

} // namespace

TEST_CASE("curve: keygen writes a 0600 secret and a public key that match, never "
          "overwriting",
          "[curve]") {
  temp_dir dir{"cccurve"};
  auto pub = cc::curve::write_key_pair(dir / "k");
  REQUIRE(pub);
  struct stat st;
  REQUIRE(::stat((dir / "k.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto secret = cc::curve::read_secret_file(dir / "k.key", "test");
  REQUIRE(secret);
  auto derived = cc::curve::public_of(*secret);
  REQUIRE(derived);
  CHECK(cc::curve::encode(*derived) == *pub);
  auto from_file = cc::curve::read_public(dir / "k.pub", "test");
  REQUIRE(from_file);
  CHECK(cc::curve::encode(*from_file) == *pub);
  auto again = cc::curve::write_key_pair(dir / "k");
  REQUIRE(!again);
  CHECK(error_text(again.error()).find("exists") != std::string::npos);
}

TEST_CASE("curve: a secret key readable by group or others is refused, naming the path",
          "[curve]") {
  temp_dir dir{"cccurve"};
  auto kp = fresh_pair();
  write_file(dir / "s.key", kp.secret + "\n");
  ::chmod((dir / "s.key").c_str(), 0640);
  auto r = cc::curve::read_secret_file(dir / "s.key", "[ccserver] curve-secret-key");
  REQUIRE(!r);
  auto text = error_text(r.error());
  CHECK(text.find("[ccserver] curve-secret-key") != std::string::npos);
  CHECK(text.find(dir / "s.key") != std::string::npos);
  CHECK(text.find("0640") != std::string::npos);
  ::chmod((dir / "s.key").c_str(), 0600);
  CHECK(cc::curve::read_secret_file(dir / "s.key", "x"));
}

TEST_CASE("curve: allow-lists take comments, keys starting with '#', and refuse bad lines",
          "[curve]") {
  temp_dir dir{"cccurve"};
  auto a = fresh_pair();
  // A Z85 key may begin with '#': it is a key, not a comment.
  std::string hash_key = "#" + a.pub.substr(1);
  auto hash_ok = cc::curve::decode(hash_key, "k");
  write_file(dir / "allowed", "# header\n\n  " + a.pub + "  # db1\n" +
                                (hash_ok ? hash_key + "\n" : std::string{}));
  auto keys = cc::curve::read_allow_list(dir / "allowed", "list");
  REQUIRE(keys);
  CHECK(keys->size() == (hash_ok ? 2u : 1u));
  REQUIRE(keys->count(a.pub) == 1);
  CHECK(keys->at(a.pub)->label == "db1");
  CHECK(keys->at(a.pub)->line == 3);
  CHECK(!keys->at(a.pub)->bound());

  write_file(dir / "bad", a.pub + "\nnot-a-key\n");
  auto bad = cc::curve::read_allow_list(dir / "bad", "list");
  REQUIRE(!bad);
  CHECK(error_text(bad.error()).find(dir / "bad" + ":2") != std::string::npos);

  write_file(dir / "trailing", a.pub + " db1\n");
  CHECK(!cc::curve::read_allow_list(dir / "trailing", "list"));
  CHECK(!cc::curve::read_allow_list(dir / "missing", "list"));
  CHECK(!cc::curve::decode(std::string(40, '~'), "k")); // outside the alphabet
  CHECK(!cc::curve::decode(a.pub.substr(1), "k"));      // 39 characters
}

TEST_CASE("curve: which endpoints are reachable from other hosts", "[curve]") {
  CHECK(cc::curve::reachable_from_outside("tcp://0.0.0.0:22632"));
  CHECK(cc::curve::reachable_from_outside("tcp://10.1.2.3:22632"));
  CHECK(cc::curve::reachable_from_outside("tcp://*:22632"));
  CHECK(!cc::curve::reachable_from_outside("tcp://127.0.0.1:22632"));
  CHECK(!cc::curve::reachable_from_outside("tcp://localhost:22632"));
  CHECK(!cc::curve::reachable_from_outside("tcp://[::1]:22632"));
  CHECK(!cc::curve::reachable_from_outside("ipc:///run/cc/sock"));
}

TEST_CASE("zap: listed keys are accepted with their key as user id, others refused",
          "[curve]") {
  auto a = fresh_pair();
  auto b = fresh_pair();
  cc::zap_handler zap{unbound({a.pub}), "test"};
  auto request = [](const std::string& z85) {
    return std::vector<std::string>{"1.0", "id-7", "cc", "127.0.0.1", "", "CURVE",
                                     *cc::curve::decode(z85, "k")};
  };
  auto yes = zap.answer(request(a.pub));
  REQUIRE(yes.size() == 6);
  CHECK(yes[0] == "1.0");
  CHECK(yes[1] == "id-7");
  CHECK(yes[2] == "200");
  CHECK(yes[4] == a.pub);
  auto no = zap.answer(request(b.pub));
  CHECK(no[2] == "400");
  CHECK(no[4].empty());
  auto plain = zap.answer({"1.0", "id-8", "cc", "127.0.0.1", "", "NULL"});
  CHECK(plain[2] == "400");
  auto junk = zap.answer({"2.0"});
  CHECK(junk[2] == "500");
  CHECK(zap.accepted == 1);
  CHECK(zap.refused == 2);
  CHECK(zap.malformed == 1);
  // A reload swaps the list: b in, a out.
  CHECK(zap.set_allowed(unbound({b.pub})) == 1);
  CHECK(zap.is_allowed(b.pub));
  CHECK(!zap.is_allowed(a.pub));
  CHECK(zap.answer(request(b.pub))[2] == "200");
}

TEST_CASE("curve: allow-list lines bind keys to host names and relays to the hosts "
          "they carry",
          "[curve][binding]") {
  temp_dir dir{"cccurve"};
  auto db1 = fresh_pair(), relay = fresh_pair(), hub = fresh_pair(), old = fresh_pair();
  write_file(dir / "allowed",
             "# bound and unbound lines side by side\n" +
               db1.pub + " host=db1,db1-old  # db1\n" +
               relay.pub + "\thost=relay1 relay=web1,web2\n" +
               hub.pub + " relay=*   # the regional hub\n" +
               old.pub + "  # an old line, unbound\n" +
               old.pub + "\n");  // twice, unbound: accepted as before
  auto keys = cc::curve::read_allow_list(dir / "allowed", "list");
  REQUIRE(keys);
  REQUIRE(keys->size() == 4);
  const auto& d = *keys->at(db1.pub);
  CHECK(d.bound());
  CHECK(d.label == "db1");
  CHECK(d.binding_text() == "host=db1,db1-old");
  CHECK(d.may_write("db1"));
  CHECK(d.may_write("db1-old"));
  CHECK(!d.may_write("db2"));
  CHECK(!d.may_write("DB1")); // exact: the copy's directory is named so
  CHECK(!d.may_write(""));
  const auto& r = *keys->at(relay.pub);
  CHECK(r.binding_text() == "host=relay1 relay=web1,web2");
  CHECK(r.may_write("relay1"));
  CHECK(r.may_write("web2"));
  CHECK(!r.may_write("web3"));
  const auto& h = *keys->at(hub.pub);
  CHECK(h.binding_text() == "relay=*");
  CHECK(h.may_write("anything"));
  const auto& o = *keys->at(old.pub);
  CHECK(!o.bound());
  CHECK(o.may_write("anything"));
  CHECK(o.binding_text() == "unbound");
}

TEST_CASE("curve: a malformed binding or a bound key on two lines is refused with the "
          "path and line",
          "[curve][binding]") {
  temp_dir dir{"cccurve"};
  auto a = fresh_pair();
  auto refused = [&](const std::string& line2, const std::string& words) {
    write_file(dir / "list", "# header\n" + line2 + "\n");
    auto r = cc::curve::read_allow_list(dir / "list", "[ccserver] curve-allowed-keys");
    REQUIRE(!r);
    auto text = error_text(r.error());
    INFO(text);
    CHECK(text.find("[ccserver] curve-allowed-keys") != std::string::npos);
    CHECK(text.find(dir / "list" + ":2") != std::string::npos);
    CHECK(text.find(words) != std::string::npos);
  };
  refused(a.pub + " hosts=db1", "expected host=");
  refused(a.pub + " host=", "an empty host name");
  refused(a.pub + " host=db1,", "an empty host name");
  refused(a.pub + " host=db1,,db2", "is not a host name");
  refused(a.pub + " host=*", "is not a host name");
  refused(a.pub + " relay=web1,*", "relay=* alone");
  refused(a.pub + " db1", "expected host=");
  write_file(dir / "twice", a.pub + " host=db1\n" + a.pub + "\n");
  auto twice = cc::curve::read_allow_list(dir / "twice", "list");
  REQUIRE(!twice);
  CHECK(error_text(twice.error()).find("is on line 1 too") != std::string::npos);
  // A key file takes no bindings.
  write_file(dir / "k.pub", a.pub + " host=db1\n");
  CHECK(!cc::curve::read_public(dir / "k.pub", "key"));
}

TEST_CASE("zap: a key's identity carries its binding, and a reload replaces it",
          "[curve][binding]") {
  temp_dir dir{"cccurve"};
  auto a = fresh_pair(), b = fresh_pair();
  write_file(dir / "list", a.pub + " host=db1  # db1\n" + b.pub + "\n");
  auto first = cc::curve::read_allow_list(dir / "list", "list");
  REQUIRE(first);
  cc::zap_handler zap{std::move(*first), "test"};
  CHECK(zap.allowed_count() == 2);
  CHECK(zap.bound_count() == 1);
  auto id = zap.identity_of(a.pub);
  REQUIRE(id);
  CHECK(id->key == a.pub);
  CHECK(!id->may_write("db2"));
  CHECK(zap.identity_of(b.pub));
  CHECK(!zap.identity_of(fresh_pair().pub));
  write_file(dir / "list", a.pub + " host=db1,db2  # db1 and db2\n");
  auto second = cc::curve::read_allow_list(dir / "list", "list");
  REQUIRE(second);
  CHECK(zap.set_allowed(std::move(*second)) == 1);
  CHECK(zap.identity_of(a.pub)->may_write("db2"));
  CHECK(!id->may_write("db2")); // what a message already carries stays
  CHECK(!zap.identity_of(b.pub));
}
