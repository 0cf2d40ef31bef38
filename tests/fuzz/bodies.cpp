// Fuzz target "bodies": the input as the JSON text of a message body, given
// to every parse_* of wire/bodies.hpp.
//
// Properties: a failure is errc::invalid_body; whenever a typed view parses,
// the header view parses too and agrees with it; make_body() of the view is
// valid JSON that parses again to an equal view, and writing that view again
// gives the same text (the writer is a fixed point after one round).
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "wire/bodies.hpp"

using namespace cc::wire;
using cc::errc;
using cc_fuzz::code_of;

namespace {

bool same(const header& a, const header& b) {
  return a.req == b.req && a.time == b.time && a.hostname == b.hostname &&
         a.blob_hash == b.blob_hash;
}

bool same(const logtail_body& a, const logtail_body& b) {
  return same(a.hdr, b.hdr) && a.filename == b.filename && a.comp == b.comp &&
         a.mode == b.mode && a.op_mode == b.op_mode && a.fpos == b.fpos &&
         a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.data == b.data &&
         a.ack == b.ack && a.gen == b.gen && a.raw_size == b.raw_size;
}

bool same(const logtail_ack_body& a, const logtail_ack_body& b) {
  return same(a.hdr, b.hdr) && a.filename == b.filename &&
         a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.gen == b.gen &&
         a.fpos == b.fpos && a.status == b.status;
}

bool same(const log_body& a, const log_body& b) {
  return same(a.hdr, b.hdr) && a.log_level == b.log_level &&
         a.service_type == b.service_type && a.job_name == b.job_name &&
         a.log_msg == b.log_msg && a.log_time == b.log_time &&
         a.log_pid == b.log_pid && a.log_line == b.log_line &&
         a.log_function == b.log_function;
}

bool same(const echo_body& a, const echo_body& b) {
  return same(a.hdr, b.hdr) && a.target == b.target &&
         a.orig_hostname == b.orig_hostname && a.orig_target == b.orig_target &&
         a.orig_time == b.orig_time && a.acks == b.acks;
}

bool same(const infofile_body& a, const infofile_body& b) {
  return same(a.hdr, b.hdr) && a.filename == b.filename && a.mtime == b.mtime &&
         a.comp == b.comp && a.mode == b.mode && a.data == b.data &&
         a.ack == b.ack && a.mtime_ns == b.mtime_ns;
}

bool same(const infofile_ack_body& a, const infofile_ack_body& b) {
  return same(a.hdr, b.hdr) && a.filename == b.filename &&
         a.mtime_ns == b.mtime_ns && a.status == b.status && a.reason == b.reason;
}

/// One body view: parse `json` with `parse_fn`; on success hold the result
/// to the round-trip properties above.
template <class Parse>
void check_view(const char* name, const std::string& json, Parse parse_fn) {
  auto first = parse_fn(json);
  if (!first) {
    FUZZ_CHECK(code_of(first.error()) == errc::invalid_body,
               std::string{name} + " failed with an undocumented code: " +
                   cc::describe(first.error()));
    return;
  }
  auto hdr = parse_header(json);
  FUZZ_CHECK(static_cast<bool>(hdr),
             std::string{name} + " accepted a body that parse_header refuses");
  FUZZ_CHECK(same(*hdr, first->hdr),
             std::string{name} + " and parse_header disagree on the header");
  auto written = make_body(*first);
  FUZZ_CHECK(nlohmann::json::accept(written),
             std::string{name} +
                 ": make_body wrote invalid JSON: " + cc_fuzz::shown(written));
  auto second = parse_fn(written);
  FUZZ_CHECK(static_cast<bool>(second),
             std::string{name} + " refuses what make_body wrote: " +
                 cc_fuzz::shown(written) + " (" +
                 (second ? std::string{} : cc::describe(second.error())) + ")");
  FUZZ_CHECK(same(*first, *second),
             std::string{name} + ": parse(make_body(x)) differs from x: " +
                 cc_fuzz::shown(written));
  FUZZ_CHECK(make_body(*second) == written,
             std::string{name} + ": make_body is not stable after a round");
  auto hdr2 = parse_header(written);
  FUZZ_CHECK(static_cast<bool>(hdr2) && same(*hdr2, first->hdr),
             std::string{name} + ": the header of make_body's text differs");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string json{reinterpret_cast<const char*>(data), size};
  auto hdr = parse_header(json);
  if (!hdr)
    FUZZ_CHECK(code_of(hdr.error()) == errc::invalid_body,
               "parse_header failed with an undocumented code");
  check_view("parse_logtail", json, parse_logtail);
  check_view("parse_logtail_ack", json, parse_logtail_ack);
  check_view("parse_log", json, parse_log);
  check_view("parse_echo", json, parse_echo);
  check_view("parse_infofile", json, parse_infofile);
  check_view("parse_infofile_ack", json, parse_infofile_ack);
  return 0;
}
