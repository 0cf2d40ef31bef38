// wire/bodies: parsing what the original sends, round trips of every body
// type, rejection of malformed bodies with the field named, the JSON we
// write (escaping, floats), the blob hash, and Python reading our bodies.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include <unistd.h>

#include "base/error.hpp"
#include "wire/base64.hpp"
#include "wire/bodies.hpp"
#include "wire/body_json.hpp"
#include "wire/codec.hpp"

using namespace cc::wire;

namespace {

cc::errc code_of(const caf::error& err) {
  REQUIRE(err.category() == cc::error_category);
  return static_cast<cc::errc>(err.code());
}

/// Expects `r` to fail with invalid_body mentioning `needle`.
template <class T>
void expect_invalid(const caf::expected<T>& r, const std::string& needle) {
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == cc::errc::invalid_body);
  CHECK_THAT(cc::describe(r.error()), Catch::Contains(needle));
}

// A pub.logtail body as the original (Python 2 json.dumps of a
// LogtailMessage dict) writes it: ", "/": " separators, hash order.
const std::string original_logtail =
  R"({"comp": "", "mode": "b", "st_ino": 1311768, "hostname": "db1", )"
  R"("filename": "/var/log/postgresql/postgresql-2024-05-01.log", )"
  R"("req": "pub.logtail", "st_dev": 64769, "time": 1300000000.1234601, )"
  R"("blob_hash": "", "op_mode": "", "data": "", "fpos": 4096})";

logtail_body sample_logtail() {
  logtail_body x;
  x.hdr.req = "pub.logtail.pg";
  x.hdr.time = 1714564800.25;
  x.hdr.hostname = "db1";
  x.filename = "/var/log/pg/postgresql.log";
  x.comp = "gzip";
  x.op_mode = "rotated";
  x.fpos = 123456789012ULL;
  x.st_dev = 18446744073709551615ULL;
  x.st_ino = 42;
  x.data = base64_encode("hello\nworld\n");
  x.ack = true;
  x.gen = "0123456789abcdef";
  x.raw_size = 12;
  return x;
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  CHECK(pclose(p) == 0);
  return out;
}

} // namespace

TEST_CASE("a pub.logtail body from the original parses", "[wire][bodies]") {
  auto r = parse_logtail(original_logtail);
  REQUIRE(r);
  CHECK(r->hdr.req == "pub.logtail");
  CHECK(r->hdr.time == 1300000000.1234601);
  CHECK(r->hdr.hostname == "db1");
  CHECK(r->hdr.blob_hash == "");
  CHECK(r->filename == "/var/log/postgresql/postgresql-2024-05-01.log");
  CHECK(r->comp == "");
  CHECK(r->mode == "b");
  CHECK(r->op_mode == "");
  CHECK(r->fpos == 4096);
  CHECK(r->st_dev == 64769);
  CHECK(r->st_ino == 1311768);
  CHECK(r->data == "");
  // The original knows no extensions: they default.
  CHECK_FALSE(r->ack);
  CHECK(r->gen == "");
  CHECK(r->raw_size == 0);
  auto h = parse_header(original_logtail);
  REQUIRE(h);
  CHECK(h->req == "pub.logtail");
  CHECK(h->hostname == "db1");
}

TEST_CASE("every body type round-trips through make_body and parse",
          "[wire][bodies]") {
  SECTION("pub.logtail with extensions") {
    auto x = sample_logtail();
    auto r = parse_logtail(make_body(x));
    REQUIRE(r);
    CHECK(r->hdr.req == x.hdr.req);
    CHECK(r->hdr.time == x.hdr.time);
    CHECK(r->hdr.hostname == x.hdr.hostname);
    CHECK(r->hdr.blob_hash == "");
    CHECK(r->filename == x.filename);
    CHECK(r->comp == "gzip");
    CHECK(r->mode == "b");
    CHECK(r->op_mode == "rotated");
    CHECK(r->fpos == x.fpos);
    CHECK(r->st_dev == x.st_dev);
    CHECK(r->st_ino == 42);
    CHECK(r->data == x.data);
    CHECK(base64_decode(r->data).value() == "hello\nworld\n");
    CHECK(r->ack);
    CHECK(r->gen == x.gen);
    CHECK(r->raw_size == 12);
  }
  SECTION("logtail.ack") {
    logtail_ack_body x;
    x.hdr.req = "logtail.ack";
    x.hdr.time = 5.5;
    x.hdr.hostname = "central";
    x.filename = "/var/log/a.log";
    x.st_dev = 1;
    x.st_ino = 2;
    x.gen = "fedcba9876543210";
    x.fpos = 1ULL << 40;
    for (auto status :
         {ack_status::ok, ack_status::gap, ack_status::refused, ack_status::denied}) {
      x.status = std::string{status};
      auto r = parse_logtail_ack(make_body(x));
      REQUIRE(r);
      CHECK(r->hdr.req == "logtail.ack");
      CHECK(r->hdr.hostname == "central");
      CHECK(r->filename == x.filename);
      CHECK(r->st_dev == 1);
      CHECK(r->st_ino == 2);
      CHECK(r->gen == x.gen);
      CHECK(r->fpos == x.fpos);
      CHECK(r->status == status);
    }
  }
  SECTION("log.*") {
    log_body x;
    x.hdr.req = "log.warning";
    x.hdr.time = 1.0;
    x.hdr.hostname = "h";
    x.log_level = "WARNING";
    x.service_type = "logtail";
    x.job_name = "cclocal.d:pglog";
    x.log_msg = "lag \"too\" big\\ 5 MB\n\ttab";
    x.log_time = 1714564800.123;
    x.log_pid = -7;
    x.log_line = 321;
    x.log_function = "tail";
    auto r = parse_log(make_body(x));
    REQUIRE(r);
    CHECK(r->hdr.req == "log.warning");
    CHECK(r->log_level == "WARNING");
    CHECK(r->service_type == "logtail");
    CHECK(r->job_name == x.job_name);
    CHECK(r->log_msg == x.log_msg);
    CHECK(r->log_time == x.log_time);
    CHECK(r->log_pid == -7);
    CHECK(r->log_line == 321);
    CHECK(r->log_function == "tail");
  }
  SECTION("echo.request and echo.response") {
    echo_body x;
    x.hdr.req = "echo.response";
    x.hdr.time = 2.0;
    x.hdr.hostname = "central";
    x.target = "";
    x.orig_hostname = "db1";
    x.orig_target = "tcp://10.0.0.1:22632";
    x.orig_time = 1714564800.5;
    auto r = parse_echo(make_body(x));
    REQUIRE(r);
    CHECK(r->orig_hostname == "db1");
    CHECK(r->orig_target == x.orig_target);
    CHECK(r->orig_time == x.orig_time);
    x.hdr.req = "echo.request";
    x.target = "tcp://central:22632";
    r = parse_echo(make_body(x));
    REQUIRE(r);
    CHECK(r->target == "tcp://central:22632");
  }
}

TEST_CASE("make_body writes every field the original checks",
          "[wire][bodies]") {
  logtail_body x;
  x.hdr.req = "pub.logtail";
  x.hdr.time = 1712345678.0;
  x.hdr.hostname = "db1";
  x.filename = "/l";
  auto body = make_body(x);
  CHECK(body ==
        R"({"req":"pub.logtail","time":1712345678.0,"hostname":"db1",)"
        R"("blob_hash":"","filename":"/l","comp":"","mode":"b","op_mode":"",)"
        R"("fpos":0,"st_dev":0,"st_ino":0,"data":"","ack":false,"gen":"",)"
        R"("raw_size":0})");
  logtail_ack_body a;
  a.hdr.req = "logtail.ack";
  CHECK(make_body(a) ==
        R"({"req":"logtail.ack","time":0.0,"hostname":"","blob_hash":"",)"
        R"("filename":"","st_dev":0,"st_ino":0,"gen":"","fpos":0,)"
        R"("status":"ok"})");
}

TEST_CASE("time is written with shortest round-trip digits, always a float",
          "[wire][bodies]") {
  header h;
  h.req = "log.info";
  log_body x;
  x.hdr = h;
  auto time_text = [&](double t) {
    x.hdr.time = t;
    auto body = make_body(x);
    auto at = body.find("\"time\":") + 7;
    return body.substr(at, body.find(',', at) - at);
  };
  CHECK(time_text(1300000000.1234567) == "1300000000.1234567");
  CHECK(time_text(1300000000.1234601) == "1300000000.12346"); // same double
  CHECK(time_text(1712345678.0) == "1712345678.0");
  CHECK(time_text(0.5) == "0.5");
  CHECK(time_text(1e21) == "1e+21");
  CHECK(time_text(std::nan("")) == "0.0");
  CHECK(time_text(HUGE_VAL) == "0.0");
}

TEST_CASE("strings are escaped so the body always parses", "[wire][bodies]") {
  logtail_body x = sample_logtail();
  SECTION("quotes, backslashes, control characters, UTF-8") {
    std::string name = "/var/log/\"q\"\\b\x01\x1f\x7f/\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80.log";
    x.filename = name;
    auto body = make_body(x);
    CHECK_THAT(body, Catch::Contains(R"(\"q\"\\b\u0001\u001f)"));
    auto r = parse_logtail(body);
    REQUIRE(r);
    CHECK(r->filename == name);
  }
  SECTION("bytes that are not UTF-8 become \\u00XX") {
    x.filename = std::string{"/a\xff\xc3(\xed\xa0\x80.log"};
    auto body = make_body(x);
    CHECK_THAT(body, Catch::Contains(R"(/a\u00ff\u00c3(\u00ed\u00a0\u0080.log)"));
    auto r = parse_logtail(body);
    REQUIRE(r);
    CHECK(r->filename == "/a\xc3\xbf\xc3\x83(\xc3\xad\xc2\xa0\xc2\x80.log");
    // The mapping is stable, so every fragment of the file gets one name.
    CHECK(parse_logtail(make_body(x))->filename == r->filename);
  }
}

TEST_CASE("parse tolerates key order, extra keys, duplicates and nulls",
          "[wire][bodies]") {
  auto r = parse_logtail(
    R"({"fpos": 7, "extra": {"deep": [1, {"fpos": 99}]}, "list": [], )"
    R"("filename": "/f", "mode": "b", "comp": null, "op_mode": null, )"
    R"("hostname": "h", "req": "pub.logtail", "fpos": 8, "ack": 1, )"
    R"("unknown": null, "blob_hash": null})");
  REQUIRE(r);
  CHECK(r->fpos == 8); // the later duplicate wins; nested keys are ignored
  CHECK(r->comp == "");
  CHECK(r->op_mode == "");
  CHECK(r->ack);
  CHECK(r->hdr.blob_hash == "");
  CHECK(r->hdr.time == 0);
}

TEST_CASE("integer fields take integers, integral floats and decimal strings",
          "[wire][bodies]") {
  auto with = [](const std::string& fields) {
    return parse_logtail(R"({"req":"pub.logtail","hostname":"h",)"
                         R"("filename":"/f","mode":"b","comp":"",)" +
                         fields + "}");
  };
  CHECK(with(R"("fpos":12.0)")->fpos == 12);
  CHECK(with(R"("fpos":"12")")->fpos == 12);
  CHECK(with(R"("fpos":1e3)")->fpos == 1000);
  CHECK(with(R"("fpos":0,"st_dev":18446744073709551615)")->st_dev ==
        18446744073709551615ULL);
  CHECK(with(R"("fpos":0,"st_ino":"18446744073709551615")")->st_ino ==
        18446744073709551615ULL);
  CHECK(with(R"("fpos":0,"time":"1.5")")->hdr.time == 1.5);
  CHECK(with(R"("fpos":0,"time":17)")->hdr.time == 17.0);
  for (const char* bad : {R"("fpos":-1)", R"("fpos":1.5)", R"("fpos":"")",
                          R"("fpos":"12a")", R"("fpos":" 12")",
                          R"("fpos":"-3")", R"("fpos":true)",
                          R"("fpos":null)", R"("fpos":{})", R"("fpos":[1])",
                          R"("fpos":1e30)", R"("fpos":"99999999999999999999")"}) {
    CAPTURE(bad);
    expect_invalid(with(bad), "'fpos'");
  }
  expect_invalid(with(R"("fpos":0,"st_dev":-5)"), "'st_dev'");
  expect_invalid(with(R"("fpos":0,"time":"soon")"), "'time'");
  expect_invalid(with(R"("fpos":0,"ack":"yes")"), "'ack'");
  expect_invalid(with(R"("fpos":0,"raw_size":-1)"), "'raw_size'");
  expect_invalid(with(R"("fpos":0,"gen":5)"), "'gen'");
}

TEST_CASE("required pub.logtail fields are enforced by name",
          "[wire][bodies]") {
  for (const char* field : {"req", "mode", "comp", "hostname", "filename",
                            "fpos"}) {
    CAPTURE(field);
    auto body = make_body(sample_logtail());
    // Rename the key so the body stays valid JSON without it.
    auto at = body.find(std::string{"\""} + field + "\":");
    REQUIRE(at != std::string::npos);
    body.insert(at + 1, "x_");
    expect_invalid(parse_logtail(body),
                   std::string{"required field '"} + field + "' is missing");
  }
  // Optional in the original receiver: st_dev, st_ino, op_mode, data.
  auto r = parse_logtail(R"({"req":"pub.logtail","hostname":"h",)"
                         R"("filename":"/f","mode":"b","comp":"","fpos":1})");
  REQUIRE(r);
  CHECK(r->st_dev == 0);
  expect_invalid(parse_logtail(R"({"req":"pub.logtail","hostname":5,)"
                               R"("filename":"/f","mode":"b","comp":"","fpos":1})"),
                 "field 'hostname': expected a string, got an integer");
  expect_invalid(parse_logtail(R"({"req":"pub.logtail","hostname":"h",)"
                               R"("filename":null,"mode":"b","comp":"","fpos":1})"),
                 "'filename'");
}

TEST_CASE("bodies that are not JSON objects are invalid_body",
          "[wire][bodies]") {
  for (const char* bad : {"", " ", "[]", "[{\"req\":\"x\"}]", "\"req\"", "1",
                          "null", "true", "{", "{\"req\":", "{\"req\":\"x\"",
                          "{\"req\":\"x\"}}", "{\"req\":\"x\"} x", "{'req':'x'}",
                          "{\"req\":\"\xff\"}", "{\"req\":\"a\x01\"}"}) {
    CAPTURE(bad);
    auto r = parse_header(bad);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == cc::errc::invalid_body);
  }
  expect_invalid(parse_header("[1]"), "not a JSON object");
  expect_invalid(parse_header("{\"req\":"), "not valid JSON");
  expect_invalid(parse_header("{}"), "required field 'req' is missing");
  expect_invalid(parse_header(R"({"req":7})"), "'req'");
  CHECK(parse_header(R"({"req":"x"})")->req == "x");
}

TEST_CASE("logtail.ack, log and echo enforce their own fields",
          "[wire][bodies]") {
  const std::string ack =
    R"({"req":"logtail.ack","filename":"/f","st_dev":1,"st_ino":2,)"
    R"("gen":"g","fpos":3,"status":"ok"})";
  CHECK(parse_logtail_ack(ack));
  for (const char* field : {"filename", "st_dev", "st_ino", "gen", "fpos",
                            "status"}) {
    CAPTURE(field);
    auto body = ack;
    body.insert(body.find(std::string{"\""} + field + "\":") + 1, "x_");
    expect_invalid(parse_logtail_ack(body), field);
  }
  auto bad_status = ack;
  bad_status.replace(bad_status.find("\"ok\""), 4, "\"fine\"");
  expect_invalid(parse_logtail_ack(bad_status), "'status'");

  CHECK(parse_log(R"({"req":"log.info","log_level":"INFO","log_msg":"m"})"));
  expect_invalid(parse_log(R"({"req":"log.info","log_msg":"m"})"), "'log_level'");
  expect_invalid(parse_log(R"({"req":"log.info","log_level":"INFO"})"), "'log_msg'");
  expect_invalid(parse_log(R"({"req":"log.info","log_level":"I","log_msg":"m",)"
                           R"("log_pid":"x"})"),
                 "'log_pid'");

  CHECK(parse_echo(R"({"req":"echo.request","target":""})"));
  expect_invalid(parse_echo(R"({"req":"echo.request"})"), "'target'");
  CHECK(parse_echo(R"({"req":"echo.response","orig_hostname":"h",)"
                   R"("orig_target":"t","orig_time":1.5})"));
  expect_invalid(parse_echo(R"({"req":"echo.response","orig_hostname":"h",)"
                            R"("orig_time":1.5})"),
                 "'orig_target'");
  expect_invalid(parse_echo(R"({"req":"echo.response","orig_hostname":"h",)"
                            R"("orig_target":"t"})"),
                 "'orig_time'");
}

TEST_CASE("check_req compares the body with the type frame",
          "[wire][bodies]") {
  header h;
  h.req = "pub.logtail";
  CHECK_FALSE(check_req(h, "pub.logtail"));
  auto err = check_req(h, "pub.logtail.pg");
  REQUIRE(err);
  CHECK(code_of(err) == cc::errc::invalid_body);
}

TEST_CASE("blob_hash is SHA-1 as the original's signing sender writes it",
          "[wire][bodies]") {
  // FIPS 180 vectors, checked against Python's hashlib.
  CHECK(blob_hash_of("") == "SHA-1:da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(blob_hash_of("abc") == "SHA-1:a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(blob_hash_of(std::string(1000000, 'a')) ==
        "SHA-1:34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  std::string bytes;
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 256; ++i)
      bytes += static_cast<char>(i);
  CHECK(blob_hash_of(bytes) == "SHA-1:ac2a264c8ec1f4232a40854e8239bc3a697ab1d2");
  // Lengths at the padding boundaries (one or two final blocks).
  CHECK(blob_hash_of(std::string(55, 'x')) ==
        "SHA-1:cef734ba81a024479e09eb5a75b6ddae62e6abf1");
  CHECK(blob_hash_of(std::string(56, 'x')) ==
        "SHA-1:901305367c259952f4e7af8323f480d59f81335b");
  CHECK(blob_hash_of(std::string(64, 'x')) ==
        "SHA-1:bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163");

  CHECK_FALSE(verify_blob_hash("", "anything"));
  CHECK_FALSE(verify_blob_hash(blob_hash_of("blob"), "blob"));
  auto err = verify_blob_hash(blob_hash_of("blob"), "blob!");
  REQUIRE(err);
  CHECK(code_of(err) == cc::errc::decode_failed);
  err = verify_blob_hash("MD5:abc", "blob");
  REQUIRE(err);
  CHECK(code_of(err) == cc::errc::invalid_body);
}

TEST_CASE("fragment_bytes takes the blob, else the decoded data",
          "[wire][bodies]") {
  logtail_body x;
  x.filename = "/f";
  x.data = base64_encode("from data");
  std::string storage;
  std::string blob = "from blob";
  CHECK(fragment_bytes(x, blob, storage).value() == "from blob");
  CHECK(fragment_bytes(x, blob, storage)->data() == blob.data());
  CHECK(fragment_bytes(x, {}, storage).value() == "from data");
  x.data = "not base64!";
  auto r = fragment_bytes(x, {}, storage);
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == cc::errc::decode_failed);
  CHECK_THAT(cc::describe(r.error()), Catch::Contains("/f"));
}

TEST_CASE("host name and clock", "[wire][bodies]") {
  char buf[256] = {};
  REQUIRE(gethostname(buf, sizeof buf - 1) == 0);
  CHECK(short_hostname() == buf);
  double now = now_seconds();
  CHECK(std::fabs(now - static_cast<double>(std::time(nullptr))) < 5);
  CHECK(now != std::floor(now)); // sub-second precision (fails 1 in ~1e6)
  auto h = make_header("log.info");
  CHECK(h.req == "log.info");
  CHECK(h.hostname == short_hostname());
  CHECK(h.blob_hash.empty());
  CHECK(std::fabs(h.time - now_seconds()) < 5);
}

TEST_CASE("Python reads our bodies as the original receiver does",
          "[wire][bodies][interop]") {
  if (access("/usr/bin/python3", X_OK) != 0) {
    WARN("no /usr/bin/python3: interop check not run");
    return;
  }
  char path[] = "/tmp/cc-body-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  auto body = make_body(sample_logtail());
  REQUIRE(write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size()));
  close(fd);
  // What cc/handler/tailwriter.py and cc/crypto.py touch, with their types.
  auto out = run(std::string{"/usr/bin/python3 -c \""
                             "import json,base64; d=json.load(open('"} +
                 path +
                 "')); "
                 "assert d['req']=='pub.logtail.pg'; assert 'blob_hash' in d; "
                 "assert isinstance(d['time'], float); "
                 "[d[k] for k in ('mode','comp','hostname','filename')]; "
                 "assert isinstance(d['st_dev'], int); "
                 "print(d['fpos'], d['st_dev'], d['hostname'], "
                 "base64.decodebytes(d['data'].encode()).decode().split()); "
                 "\"");
  CHECK(out == "123456789012 18446744073709551615 db1 ['hello', 'world']\n");
  unlink(path);
  auto host = run("/usr/bin/python3 -c 'import socket; print(socket.gethostname())'");
  CHECK(host == short_hostname() + "\n");
}

// -- reconcile, verify and repair (docs/wire.md §6.1) --------------------------

namespace {

logtail_state_body sample_state() {
  logtail_state_body x;
  x.hdr.req = "logtail.state";
  x.hdr.time = 1714564800.5;
  x.hdr.hostname = "central";
  x.filename = "/var/log/\xe9t\xe9.log"; // Latin-1, not UTF-8
  x.st_dev = 2049;
  x.st_ino = 1ULL << 40;
  x.gen = "0123456789abcdef";
  x.query = "state";
  x.writer = "fedcba9876543210";
  x.copy = "db1/\xe9t\xe9.log";
  x.compressed = true;
  segment_state a;
  a.st_dev = 2049;
  a.st_ino = 7;
  a.gen = "aaaaaaaaaaaaaaaa";
  a.src_base = 100;
  a.src_end = 3u << 20;
  a.digests = {{100, 1u << 20, "00000000000000ff"}, {2u << 20, 3u << 20, "0123456789abcdef"}};
  segment_state b;
  b.st_dev = 2049;
  b.st_ino = 8;
  b.gen = "bbbbbbbbbbbbbbbb";
  b.src_base = 0;
  b.src_end = 0;
  b.last = true;
  x.segments = {a, b};
  return x;
}

} // namespace

TEST_CASE("pub.logtail questions and repairs round-trip, unused fields are not written",
          "[wire][bodies]") {
  auto plain = make_body(sample_logtail());
  for (const char* key : {"\"query\"", "\"digests\"", "\"from\"", "\"to\"", "\"block\"",
                          "\"repair\"", "\"truncate\""})
    CHECK_THAT(plain, !Catch::Contains(key));
  auto r = parse_logtail(plain);
  REQUIRE(r);
  CHECK(r->query.empty());
  CHECK_FALSE(r->repair);
  SECTION("a state question") {
    auto x = sample_logtail();
    x.query = "state";
    x.digests = true;
    auto body = make_body(x);
    CHECK_THAT(body, !Catch::Contains("\"block\""));
    auto q = parse_logtail(body);
    REQUIRE(q);
    CHECK(q->query == "state");
    CHECK(q->digests);
    CHECK(q->range_from == 0);
    CHECK(q->block == 0);
  }
  SECTION("a digest question") {
    auto x = sample_logtail();
    x.query = "digest";
    x.range_from = 1ULL << 33;
    x.range_to = (1ULL << 33) + 4096;
    x.block = 64;
    auto q = parse_logtail(make_body(x));
    REQUIRE(q);
    CHECK(q->query == "digest");
    CHECK_FALSE(q->digests);
    CHECK(q->range_from == x.range_from);
    CHECK(q->range_to == x.range_to);
    CHECK(q->block == 64);
  }
  SECTION("a repair with truncate") {
    auto x = sample_logtail();
    x.repair = true;
    x.truncate = true;
    auto q = parse_logtail(make_body(x));
    REQUIRE(q);
    CHECK(q->repair);
    CHECK(q->truncate);
    CHECK(q->query.empty());
    CHECK(q->data == x.data);
  }
  expect_invalid(parse_logtail(R"({"req":"pub.logtail","mode":"b","comp":"","hostname":"h",)"
                               R"("filename":"/f","fpos":0,"query":"everything"})"),
                 "query");
}

TEST_CASE("logtail.ack carries the writer's id only when it has one", "[wire][bodies]") {
  logtail_ack_body x;
  x.hdr.req = "logtail.ack";
  x.filename = "/f";
  x.gen = "g";
  CHECK_THAT(make_body(x), !Catch::Contains("\"writer\""));
  x.writer = "0011223344556677";
  auto r = parse_logtail_ack(make_body(x));
  REQUIRE(r);
  CHECK(r->writer == "0011223344556677");
}

TEST_CASE("logtail.ack: 'denied' with its detail round-trips, and no detail when empty",
          "[wire][bodies]") {
  logtail_ack_body x;
  x.hdr.req = "logtail.ack";
  x.filename = "/f";
  x.gen = "g";
  x.fpos = 77;
  CHECK_THAT(make_body(x), !Catch::Contains("\"detail\""));
  x.status = std::string{ack_status::denied};
  x.detail = "client key K ('db1'), bound to host=db1, may not write host 'db2'";
  auto r = parse_logtail_ack(make_body(x));
  REQUIRE(r);
  CHECK(r->status == "denied");
  CHECK(r->detail == x.detail);
  CHECK(r->fpos == 77);
  // An ack without the field (every writer before it) reads as no detail.
  x.detail.clear();
  auto plain = parse_logtail_ack(make_body(x));
  REQUIRE(plain);
  CHECK(plain->detail.empty());
}

TEST_CASE("logtail.ack: make_ack_body writes the text make_body writes", "[wire][bodies]") {
  logtail_ack_body x;
  x.hdr.req = "logtail.ack";
  x.hdr.time = 1765000000.125;
  x.hdr.hostname = "central";
  x.filename = "/var/log/a \"b\"\n\xe9.log";
  x.st_dev = 2049;
  x.st_ino = 1234567;
  x.gen = "g1";
  x.fpos = 65536;
  auto parts = [&x] {
    return make_ack_body(x.hdr.time, x.hdr.hostname, x.filename, x.st_dev, x.st_ino, x.gen,
                         x.fpos, x.status, x.writer, x.detail);
  };
  CHECK(parts() == make_body(x));
  x.writer = "0011223344556677";
  CHECK(parts() == make_body(x));
  x.status = std::string{ack_status::denied};
  x.detail = "another source owns it";
  CHECK(parts() == make_body(x));
  x.writer.clear();
  CHECK(parts() == make_body(x));
}

TEST_CASE("logtail.state round-trips, a Latin-1 file name as every body reads it",
          "[wire][bodies]") {
  auto x = sample_state();
  auto r = parse_logtail_state(make_body(x));
  REQUIRE(r);
  CHECK(r->hdr.req == "logtail.state");
  CHECK(r->hdr.hostname == "central");
  CHECK(r->hdr.time == x.hdr.time);
  // Bytes that are not UTF-8 read as Latin-1 characters, as in pub.logtail.
  auto as_fragment = sample_logtail();
  as_fragment.filename = x.filename;
  CHECK(r->filename == parse_logtail(make_body(as_fragment))->filename);
  CHECK(r->filename == "/var/log/\xc3\xa9t\xc3\xa9.log");
  CHECK(r->copy == "db1/\xc3\xa9t\xc3\xa9.log");
  CHECK(r->st_dev == 2049);
  CHECK(r->st_ino == 1ULL << 40);
  CHECK(r->gen == x.gen);
  CHECK(r->query == "state");
  CHECK(r->writer == x.writer);
  CHECK(r->status == "ok");
  CHECK(r->compressed);
  REQUIRE(r->segments.size() == 2);
  CHECK(r->segments[0].st_ino == 7);
  CHECK(r->segments[0].gen == "aaaaaaaaaaaaaaaa");
  CHECK(r->segments[0].src_base == 100);
  CHECK(r->segments[0].src_end == 3u << 20);
  CHECK_FALSE(r->segments[0].last);
  REQUIRE(r->segments[0].digests.size() == 2);
  CHECK(r->segments[0].digests[1].from == 2u << 20);
  CHECK(r->segments[0].digests[1].to == 3u << 20);
  CHECK(r->segments[0].digests[1].xxh3 == "0123456789abcdef");
  CHECK(r->segments[1].last);
  CHECK(r->segments[1].digests.empty());
  SECTION("a digest answer") {
    x.query = "digest";
    x.segments.clear();
    x.status = "unavailable";
    x.detail = "too many pieces";
    x.range_from = 5;
    x.range_to = 15;
    x.block = 4;
    x.pieces = {"0000000000000001", "0000000000000002", "0000000000000003"};
    auto d = parse_logtail_state(make_body(x));
    REQUIRE(d);
    CHECK(d->status == "unavailable");
    CHECK(d->detail == "too many pieces");
    CHECK(d->range_from == 5);
    CHECK(d->range_to == 15);
    CHECK(d->block == 4);
    CHECK(d->pieces == x.pieces);
    CHECK(d->segments.empty());
  }
}

namespace {

/// A logtail.state body as builds before session 16 wrote it (a nlohmann
/// object, its strings through our escaping first).
std::string state_body_by_nlohmann(const logtail_state_body& x) {
  auto text = [](const std::string& s) {
    std::string quoted;
    body_json::append_json_string(quoted, s);
    return nlohmann::json::parse(quoted);
  };
  nlohmann::json j = nlohmann::json::object();
  j["req"] = text(x.hdr.req);
  j["time"] = x.hdr.time;
  j["hostname"] = text(x.hdr.hostname);
  j["blob_hash"] = text(x.hdr.blob_hash);
  j["filename"] = text(x.filename);
  j["st_dev"] = x.st_dev;
  j["st_ino"] = x.st_ino;
  j["gen"] = text(x.gen);
  j["query"] = x.query;
  j["writer"] = x.writer;
  j["status"] = x.status;
  j["detail"] = text(x.detail);
  j["copy"] = text(x.copy);
  j["compressed"] = x.compressed;
  auto segments = nlohmann::json::array();
  for (const auto& s : x.segments) {
    auto digests = nlohmann::json::array();
    for (const auto& d : s.digests)
      digests.push_back({d.from, d.to, d.xxh3});
    segments.push_back({{"st_dev", s.st_dev},     {"st_ino", s.st_ino},
                        {"gen", text(s.gen)},     {"src_base", s.src_base},
                        {"src_end", s.src_end},   {"last", s.last},
                        {"digests", std::move(digests)}});
  }
  j["segments"] = std::move(segments);
  j["from"] = x.range_from;
  j["to"] = x.range_to;
  j["block"] = x.block;
  j["pieces"] = x.pieces;
  return j.dump();
}

} // namespace

TEST_CASE("logtail.state is written directly, the same JSON as the nlohmann object of "
          "earlier builds",
          "[wire][bodies]") {
  // The same values (a character that is not ASCII is escaped, as in every
  // other body, where nlohmann wrote it as UTF-8); with ASCII strings the
  // same text.
  auto same = [](const logtail_state_body& x) {
    auto ours = make_body(x);
    auto theirs = state_body_by_nlohmann(x);
    CHECK(nlohmann::json::parse(ours) == nlohmann::json::parse(theirs));
    auto r = parse_logtail_state(ours);
    REQUIRE(r);
    CHECK(nlohmann::json::parse(make_body(*r)) == nlohmann::json::parse(ours));
  };
  auto x = sample_state();
  same(x);
  x.filename = "/var/log/pg.log";
  x.copy = "db1/pg.log";
  CHECK(make_body(x) == state_body_by_nlohmann(x));
  x.detail = "a \"quoted\" \\ detail\twith\ncontrols \x01\x1f and \x7f";
  x.hdr.time = 1714564800.0;
  x.hdr.blob_hash = "abc";
  CHECK(make_body(x) == state_body_by_nlohmann(x));
  x.segments.clear();
  CHECK(make_body(x) == state_body_by_nlohmann(x));
  x.query = "digest";
  x.status = "unavailable";
  x.range_from = 5;
  x.range_to = 15;
  x.block = 4;
  x.pieces = {"0000000000000001", "0000000000000002"};
  CHECK(make_body(x) == state_body_by_nlohmann(x));
  x.segments = sample_state().segments;
  x.segments[0].digests.clear();
  x.segments.push_back(x.segments[0]);
  CHECK(make_body(x) == state_body_by_nlohmann(x));
  x.filename = sample_state().filename;
  same(x);
}

TEST_CASE("malformed logtail.state bodies are refused, naming the problem",
          "[wire][bodies]") {
  const std::string good = make_body(sample_state());
  REQUIRE(parse_logtail_state(good));
  auto with = [&](const std::string& from, const std::string& to) {
    auto body = good; // the last occurrence: top-level keys follow "segments"
    auto at = body.rfind(from);
    REQUIRE(at != std::string::npos);
    body.replace(at, from.size(), to);
    return body;
  };
  for (const char* field : {"req", "filename", "st_dev", "st_ino", "query", "writer",
                            "status"}) {
    CAPTURE(field);
    expect_invalid(parse_logtail_state(with(std::string{"\""} + field + "\":",
                                            std::string{"\"x_"} + field + "\":")),
                   field);
  }
  expect_invalid(parse_logtail_state(with("\"status\":\"ok\"", "\"status\":\"fine\"")),
                 "'status'");
  expect_invalid(parse_logtail_state(with("\"st_dev\":2049,", "\"st_dev\":\"x\",")),
                 "'st_dev'");
  expect_invalid(parse_logtail_state(with("\"segments\":[", "\"segments\":7,\"x\":[")),
                 "segments");
  expect_invalid(parse_logtail_state(with("\"src_end\":3145728", "\"src_end\":1")),
                 "segment");
  expect_invalid(parse_logtail_state(with("[100,1048576,\"00000000000000ff\"]",
                                          "[100,\"00000000000000ff\"]")),
                 "digest");
  expect_invalid(parse_logtail_state(with("\"pieces\":[]", "\"pieces\":[1]")), "piece");
  expect_invalid(parse_logtail_state("[1,2]"), "not a JSON object");
  expect_invalid(parse_logtail_state("{"), "not valid JSON");
}

// -- info files ---------------------------------------------------------------

// pub.infofile as the original's infosender writes it (Python 2.7 json.dumps
// of its InfofileMessage, generated with the original's cc/reqs.py).
const std::string original_infofile =
  R"({"hostname": "db1", "comp": "none", "req": "pub.infofile", )"
  R"("filename": "/var/lib/info/info.status", "mtime": 1300000000.1234567, )"
  R"("blob_hash": "", "time": 1300000001.5, "data": "", "mode": "b"})";

TEST_CASE("pub.infofile from the original parses, ours round-trips",
          "[wire][bodies][infofile]") {
  auto r = parse_infofile(original_infofile);
  REQUIRE(r);
  CHECK(r->hdr.req == "pub.infofile");
  CHECK(r->hdr.hostname == "db1");
  CHECK(r->filename == "/var/lib/info/info.status");
  CHECK(r->mtime == 1300000000.1234567);
  CHECK(r->comp == "none");
  CHECK(r->mode == "b");
  CHECK_FALSE(r->ack);
  CHECK_FALSE(r->mtime_ns);
  // No exact nanoseconds from the original: the float's, to the nearest ns.
  CHECK(infofile_mtime_ns(*r) / 1000 == 1300000000123456);

  infofile_body x;
  x.hdr.req = "pub.infofile.pg";
  x.hdr.time = 1714564800.25;
  x.hdr.hostname = "db1";
  x.filename = "/etc/info/x";
  x.mtime_ns = 1714564799123456789;
  x.mtime = seconds_of_ns(*x.mtime_ns);
  x.comp = "gzip";
  x.data = base64_encode("hello\n");
  x.ack = true;
  auto body = make_body(x);
  // What the original's infowriter reads is all there.
  for (const char* key : {"\"req\"", "\"time\"", "\"hostname\"", "\"blob_hash\"",
                          "\"filename\"", "\"mtime\"", "\"comp\"", "\"mode\"",
                          "\"data\""})
    CHECK(body.find(key) != std::string::npos);
  auto back = parse_infofile(body);
  REQUIRE(back);
  CHECK(back->hdr.req == x.hdr.req);
  CHECK(back->filename == x.filename);
  CHECK(back->mtime == x.mtime);
  CHECK(back->comp == "gzip");
  CHECK(back->mode == "b");
  CHECK(back->data == x.data);
  CHECK(back->ack);
  REQUIRE(back->mtime_ns);
  CHECK(*back->mtime_ns == 1714564799123456789);
  CHECK(infofile_mtime_ns(*back) == 1714564799123456789);
  // Without mtime_ns the float is as close as a double gets.
  back->mtime_ns.reset();
  CHECK(std::llabs(infofile_mtime_ns(*back) - 1714564799123456789) < 1000);

  for (const char* field : {"hostname", "filename", "mtime", "comp", "mode"}) {
    CAPTURE(field);
    auto broken = original_infofile;
    broken.insert(broken.find(std::string{"\""} + field + "\":") + 1, "x_");
    expect_invalid(parse_infofile(broken), field);
  }
}

TEST_CASE("seconds_of_ns is CPython's st_mtime", "[wire][bodies][infofile]") {
  CHECK(seconds_of_ns(0) == 0.0);
  CHECK(seconds_of_ns(1500000000) == 1.5);
  CHECK(seconds_of_ns(-500000000) == -0.5);
  // sec + nsec * 1e-9, computed as Python does it.
  CHECK(seconds_of_ns(1300000000123456700) ==
        1300000000.0 + static_cast<double>(123456700) * 1e-9);
}

TEST_CASE("infofile.ack and the echo.response 'acks' field",
          "[wire][bodies][infofile]") {
  infofile_ack_body a;
  a.hdr = make_header("infofile.ack");
  a.filename = "/etc/info/x";
  a.mtime_ns = -5;
  a.status = "error";
  a.reason = "No space left on device";
  auto back = parse_infofile_ack(make_body(a));
  REQUIRE(back);
  CHECK(back->filename == a.filename);
  CHECK(back->mtime_ns == -5);
  CHECK(back->status == "error");
  CHECK(back->reason == a.reason);
  auto bad = make_body(a);
  bad.replace(bad.find("\"error\""), 7, "\"fine\"");
  expect_invalid(parse_infofile_ack(bad), "'status'");
  a.status = std::string{info_status::denied};
  auto denied = parse_infofile_ack(make_body(a));
  REQUIRE(denied);
  CHECK(denied->status == "denied");
  a.status = "error";
  for (const char* field : {"filename", "mtime_ns", "status"}) {
    CAPTURE(field);
    auto body = make_body(a);
    body.insert(body.find(std::string{"\""} + field + "\":") + 1, "x_");
    expect_invalid(parse_infofile_ack(body), field);
  }

  // The original's echo.response (its EchoResponseMessage) has no 'acks'.
  auto original = parse_echo(
    R"({"hostname": "central", "req": "echo.response", "orig_time": 1300000000.25, )"
    R"("orig_target": "tcp://127.0.0.1:1", "blob_hash": "", "time": 1300000002.0, )"
    R"("orig_hostname": "db1"})");
  REQUIRE(original);
  CHECK_FALSE(original->acks);
  CHECK_FALSE(original->zstd);
  echo_body ours;
  ours.hdr = make_header("echo.response");
  ours.orig_target = "tcp://127.0.0.1:1";
  for (bool v : {true, false}) {
    ours.acks = v;
    ours.zstd = !v;
    auto r = parse_echo(make_body(ours));
    REQUIRE(r);
    REQUIRE(r->acks);
    CHECK(*r->acks == v);
    REQUIRE(r->zstd);
    CHECK(*r->zstd == !v);
  }
  // An older ccserver's answer: acks, no zstd.
  ours.zstd.reset();
  CHECK_FALSE(parse_echo(make_body(ours))->zstd);
  auto typo = make_body(ours);
  typo.insert(typo.size() - 1, R"(,"zstd":"yes")");
  expect_invalid(parse_echo(typo), "zstd");
  // A request carries none.
  echo_body ping;
  ping.hdr = make_header("echo.request");
  CHECK(make_body(ping).find("acks") == std::string::npos);
  CHECK(make_body(ping).find("zstd") == std::string::npos);
}

TEST_CASE("a zstd fragment round-trips in the blob and in data",
          "[wire][bodies][zstd]") {
  std::string text;
  for (int i = 0; text.size() < 100000; ++i)
    text += "2024-05-01 12:00:00 UTC [" + std::to_string(i) + "] LOG:  x\n";
  auto packed = compress(text, compression::zstd, 1).value();
  auto x = sample_logtail();
  x.comp = "zstd";
  x.raw_size = text.size();
  for (bool in_blob : {true, false}) {
    CAPTURE(in_blob);
    x.data = in_blob ? "" : base64_encode(packed);
    auto r = parse_logtail(make_body(x));
    REQUIRE(r);
    CHECK(r->comp == "zstd");
    CHECK(r->raw_size == text.size());
    std::string storage;
    auto bytes = fragment_bytes(*r, in_blob ? std::string_view{packed}
                                            : std::string_view{}, storage);
    REQUIRE(bytes);
    auto comp = parse_compression(r->comp);
    REQUIRE(comp);
    CHECK(decompress(*bytes, *comp, r->raw_size).value() == text);
  }
}

// -- read_body's flat scan against nlohmann's parser ------------------------------

namespace {

struct probe_body {
  header hdr;
  std::string s;
  std::string sn = "unset";
  uint64_t u = 7;
  int64_t i = -7;
  double d = 0.5;
  bool b = false;
};

const std::array<body_json::field<probe_body>, 8> probe_fields{{
  body_json::req_field<probe_body>,
  body_json::time_field<probe_body>,
  {"s", false, [](body_json::scalar& v, probe_body& x) { return body_json::read_string(v, x.s); }},
  {"sn", false,
   [](body_json::scalar& v, probe_body& x) { return body_json::read_string_or_null(v, x.sn); }},
  {"u", true, [](body_json::scalar& v, probe_body& x) { return body_json::read_u64(v, x.u); }},
  {"i", false, [](body_json::scalar& v, probe_body& x) { return body_json::read_i64(v, x.i); }},
  {"d", false, [](body_json::scalar& v, probe_body& x) { return body_json::read_double(v, x.d); }},
  {"b", false, [](body_json::scalar& v, probe_body& x) { return body_json::read_bool(v, x.b); }},
}};

/// The outcome of read_body as text: its error, or every field and the seen-set.
std::string probe(const std::string& json, bool flat_scan) {
  probe_body x;
  uint32_t seen = 0;
  if (auto err = body_json::read_body(json, "probe", probe_fields, x, &seen, flat_scan))
    return "error: " + cc::describe(err);
  char d[64], t[64];
  std::snprintf(d, sizeof d, "%a", x.d);
  std::snprintf(t, sizeof t, "%a", x.hdr.time);
  return x.hdr.req + "|" + t + "|" + x.s + "|" + x.sn + "|" + std::to_string(x.u) + "|"
         + std::to_string(x.i) + "|" + d + "|" + (x.b ? "true" : "false") + "|"
         + std::to_string(seen);
}

bool scans_flat(const std::string& json) {
  body_json::flat_member m[body_json::max_flat_members];
  size_t n = 0;
  return body_json::scan_flat_object(json, m, body_json::max_flat_members, n);
}

} // namespace

TEST_CASE("read_body: the flat scan takes what our senders write and the original's bodies",
          "[wire][bodies]") {
  CHECK(scans_flat(make_body(sample_logtail())));
  CHECK(scans_flat(original_logtail));
  auto ours = parse_logtail(make_body(sample_logtail()));
  REQUIRE(ours);
  CHECK(make_body(*ours) == make_body(sample_logtail()));
  // Escapes, non-ASCII, nesting and floats that overflow are nlohmann's.
  CHECK(scans_flat(R"({"data": "aGVs\nbG8=\n", "s": "q\"b\\s\/t\tr\rf\fb\b"})"));
  for (std::string json : {R"({"a": "x\u0041y"})", R"({"a\n": 1})", R"({"a": "x\qy"})", "{\"a\": \"\xc3\xa9\"}", R"({"a": [1]})",
                           R"({"a": {"b": 1}})", R"({"a": 1e400})", R"({"a": 1e-400})",
                           R"({"a": 18446744073709551616})", R"({"a": -9223372036854775809})",
                           "\xef\xbb\xbf{}", R"([])", R"({"a": 01})", R"({"a": 1,})"})
    CHECK_FALSE(scans_flat(json));
  body_json::flat_member m[4];
  size_t n = 0;
  REQUIRE(body_json::scan_flat_object(
    R"( {"u": 18446744073709551615, "i": -9223372036854775808, "d": -0.0, "z": -0} )", m, 4, n));
  REQUIRE(n == 4);
  CHECK(m[0].k == body_json::scalar::kind::unsigned_integer);
  CHECK(m[0].u == 18446744073709551615ULL);
  CHECK(m[1].k == body_json::scalar::kind::integer);
  CHECK(m[1].i == INT64_MIN);
  CHECK(m[2].k == body_json::scalar::kind::floating);
  CHECK(std::signbit(m[2].d));
  CHECK(m[3].k == body_json::scalar::kind::integer);
  CHECK_FALSE(body_json::scan_flat_object(R"({"a":1,"b":2,"c":3,"d":4,"e":5})", m, 4, n));
}

TEST_CASE("read_body: the flat scan reads every text as nlohmann's parser does, errors included",
          "[wire][bodies]") {
  std::vector<std::string> seeds{
    R"({"req": "probe", "time": 1714564800.25, "s": "a/b c", "sn": null, "u": 42, "i": -3, "d": 2.5e-3, "b": true})",
    R"({"u":0,"i":0,"d":0,"b":false,"sn":"x","s":"","req":"probe","time":1E2})",
    R"(  {"req" : "probe" , "u" : 1 , "u" : 2 , "extra" : [1, {"x": null}] , "d" : -0.0 }  )",
    R"({"req": "probe", "u": "12", "i": 3.0, "d": 7, "time": -1.5e+300})",
    R"({"req": "probe", "u": 18446744073709551615, "i": -9223372036854775808})",
    R"({"req": 1, "u": -1})",
    "{\"req\": \"pr\\u00e9be\", \"u\": 1, \"s\": \"tab\\there\"}",
    "{\"req\": \"probe\", \"u\": 1, \"s\": \"\xc3\xa9t\xc3\xa9\"}",
    R"({})",
    R"([1, 2])",
    R"("text")",
    R"({"req": "probe", "u": 1} x)",
    R"({"req": "probe", "u": 1, "s": "aGVs\nbG8=\n", "sn": "q\"b\\s\/t\tr\rf\fb\b"})",
    R"({"req": "probe", "u": 1, "s": "\u0041\ud83d\ude00"})",
  };
  for (const auto& s : seeds) {
    INFO(s);
    CHECK(probe(s, true) == probe(s, false));
  }
  // Mutations of the seeds: a byte deleted, replaced or inserted, from the
  // characters that matter to the grammar (bounded: 30,000 texts).
  const std::string alphabet = "{}[]:,\"\\ \t\n-+.eE0123456789tfnulrsabq/\x01\x7f\xc3\xa9";
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  auto next = [&state](uint64_t bound) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<size_t>(state % bound);
  };
  size_t flat = 0;
  for (int round = 0; round < 30000; ++round) {
    std::string s = seeds[next(seeds.size())];
    for (size_t edits = 1 + next(3); edits > 0 && !s.empty(); --edits) {
      size_t at = next(s.size());
      char c = alphabet[next(alphabet.size())];
      switch (next(3)) {
        case 0: s.erase(at, 1); break;
        case 1: s[at] = c; break;
        default: s.insert(at, 1, c); break;
      }
    }
    flat += scans_flat(s) ? 1 : 0;
    auto fast = probe(s, true);
    auto slow = probe(s, false);
    if (fast != slow) {
      INFO(s);
      CHECK(fast == slow);
      break;
    }
  }
  CHECK(flat > 1000); // the scan took many of them, not only nlohmann
}
