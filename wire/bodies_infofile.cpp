// The infofile family's bodies (wire/bodies.hpp): pub.infofile (one whole
// info file) and infofile.ack, and the file's mtime as nanoseconds and back.
#include <cmath>

#include "base/error.hpp"
#include "wire/bodies.hpp"
#include "wire/body_json.hpp"

namespace cc::wire {

namespace {

using namespace body_json;

constexpr std::array<field<infofile_body>, 11> infofile_fields{
  req_field<infofile_body>,
  time_field<infofile_body>,
  hostname_field<infofile_body>(true),
  blob_hash_field<infofile_body>,
  field<infofile_body>{"filename", true,
                       [](scalar& v, infofile_body& x) {
                         return read_string(v, x.filename);
                       }},
  field<infofile_body>{"mtime", true,
                       [](scalar& v, infofile_body& x) {
                         return read_double(v, x.mtime);
                       }},
  field<infofile_body>{"comp", true,
                       [](scalar& v, infofile_body& x) {
                         return read_string_or_null(v, x.comp);
                       }},
  field<infofile_body>{"mode", true,
                       [](scalar& v, infofile_body& x) {
                         return read_string(v, x.mode);
                       }},
  field<infofile_body>{"data", false,
                       [](scalar& v, infofile_body& x) {
                         return read_string_or_null(v, x.data);
                       }},
  field<infofile_body>{"ack", false,
                       [](scalar& v, infofile_body& x) {
                         return read_bool(v, x.ack);
                       }},
  field<infofile_body>{"mtime_ns", false,
                       [](scalar& v, infofile_body& x) -> read_result {
                         int64_t ns = 0;
                         if (auto why = read_i64(v, ns))
                           return why;
                         x.mtime_ns = ns;
                         return nullptr;
                       }},
};

constexpr std::array<field<infofile_ack_body>, 8> infofile_ack_fields{
  req_field<infofile_ack_body>,
  time_field<infofile_ack_body>,
  hostname_field<infofile_ack_body>(false),
  blob_hash_field<infofile_ack_body>,
  field<infofile_ack_body>{"filename", true,
                           [](scalar& v, infofile_ack_body& x) {
                             return read_string(v, x.filename);
                           }},
  field<infofile_ack_body>{"mtime_ns", true,
                           [](scalar& v, infofile_ack_body& x) {
                             return read_i64(v, x.mtime_ns);
                           }},
  field<infofile_ack_body>{"status", true,
                           [](scalar& v, infofile_ack_body& x) -> read_result {
                             if (auto why = read_string(v, x.status))
                               return why;
                             for (auto known : {info_status::ok, info_status::skipped,
                                                info_status::refused, info_status::error,
                                                info_status::denied})
                               if (x.status == known)
                                 return nullptr;
                             return "expected \"ok\", \"skipped\", \"refused\", "
                                    "\"error\" or \"denied\"";
                           }},
  field<infofile_ack_body>{"reason", false,
                           [](scalar& v, infofile_ack_body& x) {
                             return read_string_or_null(v, x.reason);
                           }},
};

} // namespace

caf::expected<infofile_body> parse_infofile(const std::string& json) {
  infofile_body x;
  x.mode.clear(); // required: whatever the sender wrote
  if (auto err = read_body(json, "pub.infofile", infofile_fields, x))
    return err;
  return x;
}

caf::expected<infofile_ack_body> parse_infofile_ack(const std::string& json) {
  infofile_ack_body x;
  if (auto err = read_body(json, "infofile.ack", infofile_ack_fields, x))
    return err;
  return x;
}

std::string make_body(const infofile_body& x) {
  body_writer w{x.data.size() + x.data.size() / 38 + 2 * x.filename.size() +
                x.hdr.hostname.size() + 96};
  w.header_fields(x.hdr)
    .str("filename", x.filename)
    .dbl("mtime", x.mtime)
    .str("comp", x.comp)
    .str("mode", x.mode)
    .str("data", x.data)
    .boolean("ack", x.ack);
  if (x.mtime_ns)
    w.i64("mtime_ns", *x.mtime_ns);
  return w.done();
}

std::string make_body(const infofile_ack_body& x) {
  body_writer w{x.filename.size() + x.hdr.hostname.size() + x.reason.size() + 64};
  w.header_fields(x.hdr)
    .str("filename", x.filename)
    .i64("mtime_ns", x.mtime_ns)
    .str("status", x.status)
    .str("reason", x.reason);
  return w.done();
}

int64_t infofile_mtime_ns(const infofile_body& x) {
  if (x.mtime_ns)
    return *x.mtime_ns;
  // Whole seconds and the fraction apart: the product of a date in seconds
  // and 1e9 would lose the nanoseconds a double still holds in the fraction.
  if (!std::isfinite(x.mtime) || std::fabs(x.mtime) > 9.2e9)
    return 0;
  double whole = std::floor(x.mtime);
  auto ns = static_cast<int64_t>(std::llround((x.mtime - whole) * 1e9));
  return static_cast<int64_t>(whole) * 1000000000 + ns;
}

double seconds_of_ns(int64_t ns) {
  // As CPython builds st_mtime: seconds plus nanoseconds times 1e-9, with
  // the nanoseconds in [0, 1e9).
  int64_t sec = ns / 1000000000;
  int64_t nsec = ns % 1000000000;
  if (nsec < 0) {
    nsec += 1000000000;
    sec -= 1;
  }
  return static_cast<double>(sec) + static_cast<double>(nsec) * 1e-9;
}

} // namespace cc::wire
