// Fuzz-style tests of the whole wire module: many thousands of random and
// mutated inputs for wire::parse, every parse_* body view, base64_decode and
// decompress. Deterministic (fixed seeds), bounded by count and by time.
// Besides "no crash" (run it under -DCC_SANITIZE=ON), each target checks a
// property: good inputs still parse, successful results round-trip, and
// failures carry the documented error code. CC_FUZZ_SCALE lengthens it.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "wire/base64.hpp"
#include "wire/bodies.hpp"
#include "wire/codec.hpp"
#include "wire/message.hpp"

using namespace cc::wire;
using frames = std::vector<std::string>;

namespace {

using rng_t = std::mt19937_64;

/// CC_FUZZ_SCALE=N (N > 1) multiplies every budget's count and time by N,
/// for a longer campaign (e.g. under the sanitizers); default 1.
double fuzz_scale() {
  const char* env = std::getenv("CC_FUZZ_SCALE");
  double scale = env != nullptr ? std::atof(env) : 1.0;
  return scale > 1 ? scale : 1.0;
}

/// Stops a loop after `count` rounds or after `seconds`, whichever comes
/// first, but never before `min_count` rounds: the checks on what the first
/// rounds produced (same seed, same inputs) then hold on any machine, so no
/// assertion depends on timing.
class budget {
public:
  budget(int count, double seconds, int min_count = 300)
    : count_(static_cast<int>(count * fuzz_scale())),
      min_count_(min_count),
      deadline_(std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                  std::chrono::duration<double>(seconds * fuzz_scale()))) {
  }
  bool next() {
    if (done_ >= count_)
      return false;
    if (done_ >= min_count_ && (done_ & 63) == 0 &&
        std::chrono::steady_clock::now() > deadline_)
      return false;
    ++done_;
    return true;
  }
  int done() const {
    return done_;
  }

private:
  int count_;
  int min_count_;
  int done_ = 0;
  std::chrono::steady_clock::time_point deadline_;
};

cc::errc code_of(const caf::error& err) {
  REQUIRE(err.category() == cc::error_category);
  return static_cast<cc::errc>(err.code());
}

size_t pick(rng_t& rng, size_t n) {
  return n == 0 ? 0 : static_cast<size_t>(rng() % n);
}

std::string random_bytes(rng_t& rng, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j)
      s[i + j] = static_cast<char>(v >> (8 * j));
  }
  return s;
}

std::string random_type(rng_t& rng) {
  static const char* const types[] = {"pub.logtail", "log.info", "echo.request",
                                      "echo.response", "logtail.ack",
                                      "pub.logtail.pg", "x", "a-b_c.D9"};
  return types[pick(rng, std::size(types))];
}

/// Flips, inserts, deletes or truncates a few bytes of `s`.
std::string mutate(rng_t& rng, std::string s) {
  static const char* const tokens[] = {"\"", "{", "}", "[", "]", ",", ":",
                                       "null", "true", "-1", "1e400", "\\u0000",
                                       "\\ud800", "0.5", "\"\"", "\xff", "=",
                                       "\n", " "};
  int edits = 1 + static_cast<int>(pick(rng, 4));
  for (int e = 0; e < edits; ++e) {
    size_t at = pick(rng, s.size() + 1);
    switch (pick(rng, 5)) {
      case 0:
        if (at < s.size())
          s[at] = static_cast<char>(s[at] ^ (1 << pick(rng, 8)));
        break;
      case 1:
        s.insert(at, 1, static_cast<char>(rng()));
        break;
      case 2:
        if (at < s.size())
          s.erase(at, 1 + pick(rng, 8));
        break;
      case 3:
        s.resize(at);
        break;
      default:
        s.insert(at, tokens[pick(rng, std::size(tokens))]);
        break;
    }
  }
  return s;
}

logtail_body random_logtail(rng_t& rng) {
  logtail_body x;
  x.hdr.req = pick(rng, 2) ? "pub.logtail" : "pub.logtail.pg";
  x.hdr.time = static_cast<double>(rng() % 2000000000) + 0.25;
  x.hdr.hostname = random_bytes(rng, pick(rng, 12));
  x.filename = "/var/log/" + random_bytes(rng, pick(rng, 20));
  x.comp = pick(rng, 2) ? "gzip" : "";
  x.op_mode = pick(rng, 2) ? "rotated" : "classic";
  x.fpos = rng();
  x.st_dev = rng();
  x.st_ino = rng() >> pick(rng, 64);
  x.data = pick(rng, 2) ? base64_encode(random_bytes(rng, pick(rng, 300))) : "";
  x.ack = pick(rng, 2) != 0;
  x.gen = pick(rng, 2) ? "0123456789abcdef" : "";
  x.raw_size = pick(rng, 100000);
  return x;
}

std::string random_body(rng_t& rng) {
  switch (pick(rng, 4)) {
    case 0:
      return make_body(random_logtail(rng));
    case 1: {
      logtail_ack_body a;
      a.hdr.req = "logtail.ack";
      a.filename = random_bytes(rng, pick(rng, 10));
      a.fpos = rng();
      a.gen = "g";
      a.status = std::string{pick(rng, 2) ? ack_status::ok : ack_status::gap};
      return make_body(a);
    }
    case 2: {
      log_body l;
      l.hdr.req = "log.info";
      l.log_level = "INFO";
      l.log_msg = random_bytes(rng, pick(rng, 40));
      l.log_pid = static_cast<int64_t>(rng());
      return make_body(l);
    }
    default: {
      echo_body e;
      e.hdr.req = "echo.response";
      e.orig_target = random_bytes(rng, pick(rng, 10));
      e.orig_time = 1.5;
      return make_body(e);
    }
  }
}

/// Feeds `body` to every body view; every failure must be invalid_body, and
/// whatever parses must survive make_body + parse unchanged.
void feed_body_views(const std::string& body) {
  if (auto h = parse_header(body); !h)
    CHECK(code_of(h.error()) == cc::errc::invalid_body);
  if (auto x = parse_logtail(body)) {
    auto again = parse_logtail(make_body(*x));
    REQUIRE(again);
    CHECK(again->hdr.req == x->hdr.req);
    CHECK(again->filename == x->filename);
    CHECK(again->fpos == x->fpos);
    CHECK(again->st_dev == x->st_dev);
    CHECK(again->data == x->data);
    CHECK(again->gen == x->gen);
  } else {
    CHECK(code_of(x.error()) == cc::errc::invalid_body);
  }
  if (auto x = parse_logtail_ack(body)) {
    auto again = parse_logtail_ack(make_body(*x));
    REQUIRE(again);
    CHECK(again->fpos == x->fpos);
    CHECK(again->status == x->status);
  } else {
    CHECK(code_of(x.error()) == cc::errc::invalid_body);
  }
  if (auto x = parse_log(body)) {
    auto again = parse_log(make_body(*x));
    REQUIRE(again);
    CHECK(again->log_msg == x->log_msg);
  } else {
    CHECK(code_of(x.error()) == cc::errc::invalid_body);
  }
  if (auto x = parse_echo(body)) {
    CHECK(parse_echo(make_body(*x)));
  } else {
    CHECK(code_of(x.error()) == cc::errc::invalid_body);
  }
}

/// Whether a body we made parses with the view its `req` calls for.
bool parses_as_own_type(const std::string& body) {
  auto hdr = parse_header(body);
  if (!hdr)
    return false;
  const auto& req = hdr->req;
  if (req.rfind("pub.logtail", 0) == 0)
    return static_cast<bool>(parse_logtail(body));
  if (req == "logtail.ack")
    return static_cast<bool>(parse_logtail_ack(body));
  if (req.rfind("log.", 0) == 0)
    return static_cast<bool>(parse_log(body));
  if (req.rfind("echo.", 0) == 0)
    return static_cast<bool>(parse_echo(body));
  return false;
}

} // namespace

TEST_CASE("fuzz: random frame sets never break parse", "[wire][fuzz]") {
  rng_t rng{0xcc01};
  budget b{30000, 6.0};
  int parsed = 0;
  while (b.next()) {
    frames in;
    size_t count = pick(rng, 9);
    for (size_t i = 0; i < count; ++i) {
      switch (pick(rng, 4)) {
        case 0: in.emplace_back(); break; // empty frames, delimiters
        case 1: in.push_back(random_type(rng)); break;
        default: in.push_back(random_bytes(rng, pick(rng, 40))); break;
      }
    }
    bool has_delimiter = false;
    for (const auto& f : in)
      has_delimiter |= f.empty();
    auto r = parse(in);
    if (!r) {
      auto code = code_of(r.error());
      CHECK((code == cc::errc::malformed_frames ||
             code == cc::errc::invalid_type));
      continue;
    }
    ++parsed;
    CHECK(has_delimiter);
    CHECK(valid_type(r->type));
    // Whatever parses comes back out frame for frame.
    frames out;
    for (auto f : frames_of(*r))
      out.emplace_back(f);
    CHECK(out == in);
  }
  WARN(b.done() << " frame sets, " << parsed << " parsed");
  CHECK(b.done() >= 300);
  CHECK(parsed > 0);
}

TEST_CASE("fuzz: valid messages parse, mutated ones fail cleanly",
          "[wire][fuzz]") {
  rng_t rng{0xcc02};
  budget b{20000, 6.0};
  while (b.next()) {
    frames good;
    for (size_t i = pick(rng, 3); i > 0; --i)
      good.push_back(pick(rng, 2) ? local_route_frame("t" + std::to_string(i))
                                  : std::string{"\x00", 1} +
                                      random_bytes(rng, 4));
    good.emplace_back();
    good.push_back(random_type(rng));
    good.push_back(random_body(rng));
    good.emplace_back(pick(rng, 4) == 0 ? "sig" : "");
    if (pick(rng, 2))
      good.push_back(random_bytes(rng, pick(rng, 200)));
    auto ok = parse(good);
    REQUIRE(ok);
    // A body we made always passes its own view.
    REQUIRE(parses_as_own_type(ok->body));

    frames bad = good;
    switch (pick(rng, 4)) {
      case 0: bad.erase(bad.begin() + static_cast<long>(pick(rng, bad.size()))); break;
      case 1: bad.insert(bad.begin() + static_cast<long>(pick(rng, bad.size() + 1)),
                         pick(rng, 2) ? std::string{} : random_bytes(rng, 5));
              break;
      default: {
        auto& f = bad[pick(rng, bad.size())];
        f = mutate(rng, f);
        break;
      }
    }
    if (auto r = parse(bad)) {
      CHECK(valid_type(r->type));
      feed_body_views(r->body);
    } else {
      auto code = code_of(r.error());
      CHECK((code == cc::errc::malformed_frames ||
             code == cc::errc::invalid_type));
    }
  }
  WARN(b.done() << " messages and mutants");
  CHECK(b.done() >= 300);
}

TEST_CASE("fuzz: mutated and random JSON bodies", "[wire][fuzz]") {
  rng_t rng{0xcc03};
  budget b{30000, 6.0};
  int logtails = 0;
  while (b.next()) {
    std::string body = random_body(rng);
    REQUIRE(parses_as_own_type(body));
    if (pick(rng, 8) == 0)
      body = random_bytes(rng, pick(rng, 64));
    else
      body = mutate(rng, body);
    if (parse_logtail(body))
      ++logtails;
    feed_body_views(body);
  }
  WARN(b.done() << " bodies, " << logtails << " still pub.logtail");
  CHECK(b.done() >= 300);
  CHECK(logtails > 0); // some mutations keep the body valid
}

TEST_CASE("fuzz: base64_decode", "[wire][fuzz]") {
  rng_t rng{0xcc04};
  budget b{30000, 6.0};
  while (b.next()) {
    auto bytes = random_bytes(rng, pick(rng, 200));
    auto text = base64_encode(bytes);
    auto good = base64_decode(text);
    REQUIRE(good);
    CHECK(*good == bytes);
    auto bad = pick(rng, 6) == 0 ? random_bytes(rng, pick(rng, 50))
                                 : mutate(rng, text);
    if (auto r = base64_decode(bad)) {
      // Whatever decodes re-encodes to the same significant characters.
      std::string sig;
      for (char c : bad)
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t' && c != '\v' &&
            c != '\f')
          sig += c;
      auto again = base64_encode(*r);
      std::string again_sig;
      for (char c : again)
        if (c != '\n')
          again_sig += c;
      CHECK(base64_decode(again).value() == *r);
      CHECK(r->size() == sig.size() / 4 * 3 -
                           (sig.size() >= 1 && sig.back() == '=') -
                           (sig.size() >= 2 && sig[sig.size() - 2] == '='));
    } else {
      CHECK(code_of(r.error()) == cc::errc::decode_failed);
    }
  }
  WARN(b.done() << " base64 texts and mutants");
  CHECK(b.done() >= 300);
}

TEST_CASE("fuzz: decompress", "[wire][fuzz]") {
  rng_t rng{0xcc05};
  budget b{4000, 8.0};
  const size_t cap = 256 * 1024;
  int refused_large = 0;
  while (b.next()) {
    const compression codecs[] = {compression::gzip, compression::bzip2,
                                  compression::zstd};
    auto c = codecs[pick(rng, std::size(codecs))];
    // Every 25th input is over the cap, so too_large is always exercised.
    size_t n = b.done() % 25 == 1 ? cap + 1 + pick(rng, 50000)
               : pick(rng, 16) == 0 ? pick(rng, 300000)
                                    : pick(rng, 3000);
    std::string plain = pick(rng, 2) ? random_bytes(rng, n)
                                     : std::string(n, static_cast<char>(rng()));
    auto packed = compress(plain, c, 1 + static_cast<int>(pick(rng, 9)));
    REQUIRE(packed);
    auto good = decompress(*packed, c, cap);
    if (plain.size() <= cap) {
      REQUIRE(good);
      CHECK(*good == plain);
    } else {
      REQUIRE_FALSE(good);
      CHECK(code_of(good.error()) == cc::errc::too_large);
      ++refused_large;
    }
    std::string bad = pick(rng, 8) == 0 ? random_bytes(rng, pick(rng, 100))
                                        : mutate(rng, *packed);
    if (pick(rng, 4) == 0)
      bad = *packed + bad; // a good member, then a damaged one
    if (auto r = decompress(bad, c, cap)) {
      CHECK(r->size() <= cap);
    } else {
      auto code = code_of(r.error());
      CHECK((code == cc::errc::decode_failed || code == cc::errc::too_large));
    }
  }
  WARN(b.done() << " compressed inputs and mutants");
  CHECK(b.done() >= 300);
  CHECK(refused_large > 0);
}
