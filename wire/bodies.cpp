// JSON bodies of CC messages (wire/bodies.hpp): the header every body
// shares, log.<level> and echo, the check of `req` against the type frame,
// and the local header (make_header). The machinery is body_json.hpp; the
// logtail family is bodies_logtail.cpp, the infofile family
// bodies_infofile.cpp, the blob hash blob_hash.cpp.
#include <chrono>

#include <unistd.h>

#include "base/error.hpp"
#include "wire/bodies.hpp"
#include "wire/body_json.hpp"

namespace cc::wire {

namespace {

using namespace body_json;

struct header_holder {
  header hdr;
};

constexpr std::array<field<header_holder>, 4> header_fields{
  req_field<header_holder>, time_field<header_holder>,
  hostname_field<header_holder>(false), blob_hash_field<header_holder>};

constexpr std::array<field<log_body>, 12> log_fields{
  req_field<log_body>,
  time_field<log_body>,
  hostname_field<log_body>(false),
  blob_hash_field<log_body>,
  field<log_body>{"log_level", true,
                  [](scalar& v, log_body& x) {
                    return read_string(v, x.log_level);
                  }},
  field<log_body>{"service_type", false,
                  [](scalar& v, log_body& x) {
                    return read_string_or_null(v, x.service_type);
                  }},
  field<log_body>{"job_name", false,
                  [](scalar& v, log_body& x) {
                    return read_string_or_null(v, x.job_name);
                  }},
  field<log_body>{"log_msg", true,
                  [](scalar& v, log_body& x) {
                    return read_string(v, x.log_msg);
                  }},
  field<log_body>{"log_time", false,
                  [](scalar& v, log_body& x) {
                    return read_double(v, x.log_time);
                  }},
  field<log_body>{"log_pid", false,
                  [](scalar& v, log_body& x) {
                    return read_i64(v, x.log_pid);
                  }},
  field<log_body>{"log_line", false,
                  [](scalar& v, log_body& x) {
                    return read_i64(v, x.log_line);
                  }},
  field<log_body>{"log_function", false,
                  [](scalar& v, log_body& x) {
                    return read_string_or_null(v, x.log_function);
                  }},
};

// An extension flag: absent stays nullopt (a peer that does not say).
read_result read_optional_bool(scalar& v, std::optional<bool>& out) {
  bool b = false;
  if (auto why = read_bool(v, b))
    return why;
  out = b;
  return nullptr;
}

constexpr std::array<field<echo_body>, 11> echo_fields{
  req_field<echo_body>,
  time_field<echo_body>,
  hostname_field<echo_body>(false),
  blob_hash_field<echo_body>,
  field<echo_body>{"target", false,
                   [](scalar& v, echo_body& x) {
                     return read_string(v, x.target);
                   }},
  field<echo_body>{"orig_hostname", false,
                   [](scalar& v, echo_body& x) {
                     return read_string(v, x.orig_hostname);
                   }},
  field<echo_body>{"orig_target", false,
                   [](scalar& v, echo_body& x) {
                     return read_string(v, x.orig_target);
                   }},
  field<echo_body>{"orig_time", false,
                   [](scalar& v, echo_body& x) {
                     return read_double(v, x.orig_time);
                   }},
  field<echo_body>{"acks", false,
                   [](scalar& v, echo_body& x) {
                     return read_optional_bool(v, x.acks);
                   }},
  field<echo_body>{"zstd", false,
                   [](scalar& v, echo_body& x) {
                     return read_optional_bool(v, x.zstd);
                   }},
  field<echo_body>{"data_port", false,
                   [](scalar& v, echo_body& x) {
                     int64_t port = 0;
                     if (auto why = read_i64(v, port))
                       return why;
                     x.data_port = port;
                     return read_result{nullptr};
                   }},
};

} // namespace

caf::expected<header> parse_header(const std::string& json) {
  header_holder x;
  if (auto err = read_body(json, "message", header_fields, x))
    return err;
  return std::move(x.hdr);
}

caf::expected<log_body> parse_log(const std::string& json) {
  log_body x;
  if (auto err = read_body(json, "log", log_fields, x))
    return err;
  return x;
}

caf::expected<echo_body> parse_echo(const std::string& json) {
  echo_body x;
  uint32_t seen = 0;
  if (auto err = read_body(json, "echo", echo_fields, x, &seen))
    return err;
  // Which fields are required depends on the direction, known only after
  // the pass (an empty string is a legal value, so presence is the test).
  size_t first = 0, last = 0; // range of echo_fields indexes required
  if (x.hdr.req == "echo.request")
    first = last = 4; // target
  else if (x.hdr.req == "echo.response")
    first = 5, last = 7; // orig_hostname, orig_target, orig_time
  else
    return x;
  for (size_t i = first; i <= last; ++i)
    if ((seen & (uint32_t{1} << i)) == 0)
      return body_error(x.hdr.req.c_str(),
                        "required field '" + std::string{echo_fields[i].name} +
                          "' is missing");
  return x;
}

std::string make_body(const log_body& x) {
  body_writer w{x.log_msg.size() + x.job_name.size() + x.log_function.size() +
                x.service_type.size() + 96};
  w.header_fields(x.hdr)
    .str("log_level", x.log_level)
    .str("service_type", x.service_type)
    .str("job_name", x.job_name)
    .str("log_msg", x.log_msg)
    .dbl("log_time", x.log_time)
    .i64("log_pid", x.log_pid)
    .i64("log_line", x.log_line)
    .str("log_function", x.log_function);
  return w.done();
}

std::string make_body(const echo_body& x) {
  body_writer w{x.target.size() + x.orig_hostname.size() +
                x.orig_target.size() + 64};
  w.header_fields(x.hdr)
    .str("target", x.target)
    .str("orig_hostname", x.orig_hostname)
    .str("orig_target", x.orig_target)
    .dbl("orig_time", x.orig_time);
  if (x.acks)
    w.boolean("acks", *x.acks);
  if (x.zstd)
    w.boolean("zstd", *x.zstd);
  if (x.data_port)
    w.i64("data_port", *x.data_port);
  return w.done();
}

caf::error check_req(const header& hdr, std::string_view type) {
  if (hdr.req == type)
    return caf::none;
  return make_error(errc::invalid_body,
                    "body req '" + hdr.req.substr(0, 64) +
                      "' differs from the type frame '" +
                      std::string{type.substr(0, 64)} + "'");
}

header make_header(std::string req) {
  static const std::string hostname = short_hostname();
  header h;
  h.req = std::move(req);
  h.time = now_seconds();
  h.hostname = hostname;
  return h;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string short_hostname() {
  char buf[256];
  if (gethostname(buf, sizeof buf) != 0)
    return "localhost";
  buf[sizeof buf - 1] = '\0';
  return buf;
}

} // namespace cc::wire
