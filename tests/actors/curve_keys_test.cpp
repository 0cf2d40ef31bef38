// actors/curve_keys and actors/zap: key files, allow-lists, key pairs, and
// what the ZAP handler answers (no sockets: zap_handler::answer is pure).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <sys/stat.h>

#include <zmq.h>

#include "actors/curve_keys.hpp"
#include "actors/zap.hpp"
#include "config/error.hpp"
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
  CHECK(keys->count(*cc::curve::decode(a.pub, "k")) == 1);

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
  cc::zap_handler zap{{a.pub}, "test"};
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
  CHECK(zap.set_allowed({b.pub}) == 1);
  CHECK(zap.is_allowed(b.pub));
  CHECK(!zap.is_allowed(a.pub));
  CHECK(zap.answer(request(b.pub))[2] == "200");
}
