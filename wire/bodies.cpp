// JSON bodies of CC messages (wire/bodies.hpp). Reading is one SAX pass of
// nlohmann's parser that hands each top-level key/value straight to a table
// of typed fields; writing appends escaped JSON to one pre-sized string.
// Also the blob hash (SHA-1, as the original's cc/crypto.py computes it).
#include "wire/bodies.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "wire/base64.hpp"

namespace cc::wire {

namespace {

// -- reading -------------------------------------------------------------------

/// One top-level value as the SAX parser reports it. Strings are not copied:
/// `s` points at the parser's buffer, and a field may move from it.
struct scalar {
  enum class kind : uint8_t {
    null, boolean, integer, unsigned_integer, floating, string, nested
  };
  kind k = kind::null;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  std::string* s = nullptr;
};

const char* kind_name(scalar::kind k) {
  switch (k) {
    case scalar::kind::null: return "null";
    case scalar::kind::boolean: return "a boolean";
    case scalar::kind::integer:
    case scalar::kind::unsigned_integer: return "an integer";
    case scalar::kind::floating: return "a float";
    case scalar::kind::string: return "a string";
    case scalar::kind::nested: return "an object or array";
  }
  return "?";
}

/// nlohmann SAX handler that calls on_field(key, scalar&) for each member of
/// the top-level object and skips everything nested deeper. Stops at the
/// first field on_field rejects (it returns false).
template <class OnField>
class top_level_reader {
public:
  explicit top_level_reader(OnField& on_field) : on_field_(on_field) {
    // nop
  }

  bool null() {
    return value(scalar{});
  }
  bool boolean(bool b) {
    scalar v;
    v.k = scalar::kind::boolean;
    v.b = b;
    return value(v);
  }
  bool number_integer(int64_t i) {
    scalar v;
    v.k = scalar::kind::integer;
    v.i = i;
    return value(v);
  }
  bool number_unsigned(uint64_t u) {
    scalar v;
    v.k = scalar::kind::unsigned_integer;
    v.u = u;
    return value(v);
  }
  bool number_float(double d, const std::string&) {
    scalar v;
    v.k = scalar::kind::floating;
    v.d = d;
    return value(v);
  }
  bool string(std::string& s) {
    scalar v;
    v.k = scalar::kind::string;
    v.s = &s;
    return value(v);
  }
  bool binary(nlohmann::json::binary_t&) {
    return nested(); // never produced by JSON text
  }
  bool start_object(std::size_t) {
    if (depth_ > 0 && !nested())
      return false;
    ++depth_;
    return true;
  }
  bool end_object() {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) {
    if (depth_ == 0)
      return not_an_object();
    if (!nested())
      return false;
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool key(std::string& k) {
    if (depth_ == 1)
      key_.assign(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) {
    syntax_error = ex.what();
    return false;
  }

  bool root_not_object = false;
  std::string syntax_error;

private:
  bool value(scalar v) {
    if (depth_ == 0)
      return not_an_object();
    return depth_ > 1 || on_field_(key_, v);
  }
  bool nested() {
    scalar v;
    v.k = scalar::kind::nested;
    return depth_ > 1 || on_field_(key_, v);
  }
  bool not_an_object() {
    root_not_object = true;
    return false;
  }

  OnField& on_field_;
  int depth_ = 0; // open containers, the top-level object included
  std::string key_;
};

// Field readers: nullptr on success, else what was wrong (static text).
using read_result = const char*;

read_result read_string(scalar& v, std::string& out) {
  if (v.k != scalar::kind::string)
    return "expected a string";
  out = std::move(*v.s);
  return nullptr;
}

// comp and op_mode: the original receiver treats None like "".
read_result read_string_or_null(scalar& v, std::string& out) {
  if (v.k == scalar::kind::null) {
    out.clear();
    return nullptr;
  }
  return read_string(v, out);
}

// Integer fields take JSON integers (what the original sends), integral
// floats and decimal strings (cheap leniency towards other senders).
read_result read_u64(scalar& v, uint64_t& out) {
  constexpr const char* want = "expected a non-negative integer";
  switch (v.k) {
    case scalar::kind::integer:
      if (v.i < 0)
        return want;
      out = static_cast<uint64_t>(v.i);
      return nullptr;
    case scalar::kind::unsigned_integer:
      out = v.u;
      return nullptr;
    case scalar::kind::floating:
      // 2^64 is exactly representable; anything at or above it overflows.
      if (!(v.d >= 0 && v.d < 18446744073709551616.0) ||
          v.d != std::floor(v.d))
        return want;
      out = static_cast<uint64_t>(v.d);
      return nullptr;
    case scalar::kind::string: {
      const auto& s = *v.s;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
      if (s.empty() || ec != std::errc{} || end != s.data() + s.size())
        return want;
      return nullptr;
    }
    default:
      return want;
  }
}

read_result read_i64(scalar& v, int64_t& out) {
  constexpr const char* want = "expected an integer";
  switch (v.k) {
    case scalar::kind::integer:
      out = v.i;
      return nullptr;
    case scalar::kind::unsigned_integer:
      if (v.u > static_cast<uint64_t>(INT64_MAX))
        return want;
      out = static_cast<int64_t>(v.u);
      return nullptr;
    case scalar::kind::floating:
      if (!(v.d >= -9223372036854775808.0 && v.d < 9223372036854775808.0) ||
          v.d != std::floor(v.d))
        return want;
      out = static_cast<int64_t>(v.d);
      return nullptr;
    case scalar::kind::string: {
      const auto& s = *v.s;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
      if (s.empty() || ec != std::errc{} || end != s.data() + s.size())
        return want;
      return nullptr;
    }
    default:
      return want;
  }
}

read_result read_double(scalar& v, double& out) {
  constexpr const char* want = "expected a number";
  switch (v.k) {
    case scalar::kind::integer:
      out = static_cast<double>(v.i);
      return nullptr;
    case scalar::kind::unsigned_integer:
      out = static_cast<double>(v.u);
      return nullptr;
    case scalar::kind::floating:
      out = v.d;
      return nullptr;
    case scalar::kind::string: {
      const auto& s = *v.s;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
      if (s.empty() || ec != std::errc{} || end != s.data() + s.size() ||
          !std::isfinite(out))
        return want;
      return nullptr;
    }
    default:
      return want;
  }
}

read_result read_bool(scalar& v, bool& out) {
  switch (v.k) {
    case scalar::kind::boolean:
      out = v.b;
      return nullptr;
    case scalar::kind::null:
      out = false;
      return nullptr;
    case scalar::kind::integer:
      out = v.i != 0;
      return nullptr;
    case scalar::kind::unsigned_integer:
      out = v.u != 0;
      return nullptr;
    default:
      return "expected a boolean";
  }
}

/// One known field of a body type: its key, whether a body without it is
/// rejected, and how to store its value.
template <class Body>
struct field {
  std::string_view name;
  bool required;
  read_result (*read)(scalar&, Body&);
};

// The header fields, shared by every body type.
template <class Body>
constexpr field<Body> req_field{"req", true, [](scalar& v, Body& x) {
                                  return read_string(v, x.hdr.req);
                                }};
template <class Body>
constexpr field<Body> time_field{"time", false, [](scalar& v, Body& x) {
                                   return read_double(v, x.hdr.time);
                                 }};
template <class Body>
constexpr field<Body> hostname_field(bool required) {
  return {"hostname", required, [](scalar& v, Body& x) {
            return read_string(v, x.hdr.hostname);
          }};
}
template <class Body>
constexpr field<Body> blob_hash_field{"blob_hash", false,
                                      [](scalar& v, Body& x) {
                                        return read_string_or_null(
                                          v, x.hdr.blob_hash);
                                      }};

caf::error body_error(const char* what, std::string text) {
  return make_error(errc::invalid_body, std::string{what} + " body: " + text);
}

/// Parses `json` into `x` with `fields`; unknown keys are ignored, a later
/// duplicate key wins. `what` names the body type in errors.
template <class Body, size_t N>
caf::error read_body(const std::string& json, const char* what,
                     const std::array<field<Body>, N>& fields, Body& x,
                     uint32_t* seen_out = nullptr) {
  static_assert(N <= 32, "the seen-set is a 32-bit mask");
  uint32_t seen = 0;
  size_t bad_field = N;
  read_result bad_why = nullptr;
  scalar::kind bad_kind = scalar::kind::null;
  auto on_field = [&](const std::string& key, scalar& v) {
    for (size_t i = 0; i < N; ++i) {
      if (fields[i].name != key)
        continue;
      if (auto why = fields[i].read(v, x)) {
        bad_field = i;
        bad_why = why;
        bad_kind = v.k;
        return false;
      }
      seen |= uint32_t{1} << i;
      return true;
    }
    return true;
  };
  top_level_reader<decltype(on_field)> reader{on_field};
  bool ok = nlohmann::json::sax_parse(json.data(), json.data() + json.size(),
                                      &reader);
  if (!ok) {
    if (bad_field < N)
      return body_error(what, "field '" + std::string{fields[bad_field].name} +
                                "': " + bad_why + ", got " +
                                kind_name(bad_kind));
    if (reader.root_not_object)
      return body_error(what, "not a JSON object");
    return body_error(what, "not valid JSON: " + reader.syntax_error);
  }
  for (size_t i = 0; i < N; ++i)
    if (fields[i].required && (seen & (uint32_t{1} << i)) == 0)
      return body_error(what, "required field '" +
                                std::string{fields[i].name} + "' is missing");
  if (seen_out != nullptr)
    *seen_out = seen;
  return caf::none;
}

struct header_holder {
  header hdr;
};

constexpr std::array<field<header_holder>, 4> header_fields{
  req_field<header_holder>, time_field<header_holder>,
  hostname_field<header_holder>(false), blob_hash_field<header_holder>};

constexpr std::array<field<logtail_body>, 23> logtail_fields{
  req_field<logtail_body>,
  time_field<logtail_body>,
  hostname_field<logtail_body>(true),
  blob_hash_field<logtail_body>,
  field<logtail_body>{"filename", true,
                      [](scalar& v, logtail_body& x) {
                        return read_string(v, x.filename);
                      }},
  field<logtail_body>{"comp", true,
                      [](scalar& v, logtail_body& x) {
                        return read_string_or_null(v, x.comp);
                      }},
  field<logtail_body>{"mode", true,
                      [](scalar& v, logtail_body& x) {
                        return read_string(v, x.mode);
                      }},
  field<logtail_body>{"op_mode", false,
                      [](scalar& v, logtail_body& x) {
                        return read_string_or_null(v, x.op_mode);
                      }},
  field<logtail_body>{"fpos", true,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.fpos);
                      }},
  field<logtail_body>{"st_dev", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.st_dev);
                      }},
  field<logtail_body>{"st_ino", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.st_ino);
                      }},
  field<logtail_body>{"data", false,
                      [](scalar& v, logtail_body& x) {
                        return read_string_or_null(v, x.data);
                      }},
  field<logtail_body>{"ack", false,
                      [](scalar& v, logtail_body& x) {
                        return read_bool(v, x.ack);
                      }},
  field<logtail_body>{"gen", false,
                      [](scalar& v, logtail_body& x) {
                        return read_string_or_null(v, x.gen);
                      }},
  field<logtail_body>{"raw_size", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.raw_size);
                      }},
  field<logtail_body>{"query", false,
                      [](scalar& v, logtail_body& x) -> read_result {
                        if (auto why = read_string_or_null(v, x.query))
                          return why;
                        if (!x.query.empty() && x.query != query_kind::state &&
                            x.query != query_kind::digest)
                          return "expected \"\", \"state\" or \"digest\"";
                        return nullptr;
                      }},
  field<logtail_body>{"digests", false,
                      [](scalar& v, logtail_body& x) {
                        return read_bool(v, x.digests);
                      }},
  field<logtail_body>{"from", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.range_from);
                      }},
  field<logtail_body>{"to", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.range_to);
                      }},
  field<logtail_body>{"block", false,
                      [](scalar& v, logtail_body& x) {
                        return read_u64(v, x.block);
                      }},
  field<logtail_body>{"repair", false,
                      [](scalar& v, logtail_body& x) {
                        return read_bool(v, x.repair);
                      }},
  field<logtail_body>{"truncate", false,
                      [](scalar& v, logtail_body& x) {
                        return read_bool(v, x.truncate);
                      }},
  field<logtail_body>{"source", false,
                      [](scalar& v, logtail_body& x) {
                        return read_string_or_null(v, x.source);
                      }},
};

constexpr std::array<field<logtail_ack_body>, 12> ack_fields{
  req_field<logtail_ack_body>,
  time_field<logtail_ack_body>,
  hostname_field<logtail_ack_body>(false),
  blob_hash_field<logtail_ack_body>,
  field<logtail_ack_body>{"filename", true,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_string(v, x.filename);
                          }},
  field<logtail_ack_body>{"st_dev", true,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_u64(v, x.st_dev);
                          }},
  field<logtail_ack_body>{"st_ino", true,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_u64(v, x.st_ino);
                          }},
  field<logtail_ack_body>{"gen", true,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_string(v, x.gen);
                          }},
  field<logtail_ack_body>{"fpos", true,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_u64(v, x.fpos);
                          }},
  field<logtail_ack_body>{"status", true,
                          [](scalar& v, logtail_ack_body& x) -> read_result {
                            if (auto why = read_string(v, x.status))
                              return why;
                            for (auto known : {ack_status::ok, ack_status::gap,
                                               ack_status::refused, ack_status::denied,
                                               ack_status::error})
                              if (x.status == known)
                                return nullptr;
                            return "expected \"ok\", \"gap\", \"refused\", \"denied\" or \"error\"";
                          }},
  field<logtail_ack_body>{"writer", false,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_string_or_null(v, x.writer);
                          }},
  field<logtail_ack_body>{"detail", false,
                          [](scalar& v, logtail_ack_body& x) {
                            return read_string_or_null(v, x.detail);
                          }},
};

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

constexpr std::array<field<echo_body>, 9> echo_fields{
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
                   [](scalar& v, echo_body& x) -> read_result {
                     bool b = false;
                     if (auto why = read_bool(v, b))
                       return why;
                     x.acks = b;
                     return nullptr;
                   }},
};

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

// -- writing -------------------------------------------------------------------

/// Length of the valid UTF-8 sequence at p[0..n), 0 if invalid (overlong
/// forms and surrogates included, as nlohmann's parser rejects them).
size_t utf8_length(const unsigned char* p, size_t n) {
  unsigned char c = p[0];
  auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < n && p[i] >= lo && p[i] <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c == 0xE0)
    return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
    return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED)
    return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0)
    return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3)
    return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4)
    return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

void append_u00(std::string& out, unsigned char c) {
  constexpr char hex[] = "0123456789abcdef";
  char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
  out.append(esc, 6);
}

/// Appends `s` as a JSON string. Valid UTF-8 is kept as it is; a byte that
/// is not part of valid UTF-8 is written as \u00XX (its Latin-1 reading),
/// so the output always parses, and the same input always maps the same way.
void append_json_string(std::string& out, std::string_view s) {
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  out += '"';
  size_t run = 0; // start of the pending run of bytes copied as they are
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (size_t len = utf8_length(p + i, n - i)) {
        i += len;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: append_u00(out, c); break;
    }
    ++i;
    run = i;
  }
  out.append(s.data() + run, n - run);
  out += '"';
}

/// Builds a compact JSON object in one string, keys in call order.
class body_writer {
public:
  explicit body_writer(size_t size_hint) {
    out_.reserve(size_hint + 160);
    out_ += '{';
  }

  body_writer& str(std::string_view k, std::string_view v) {
    key(k);
    append_json_string(out_, v);
    return *this;
  }
  body_writer& u64(std::string_view k, uint64_t v) {
    key(k);
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, res.ptr);
    return *this;
  }
  body_writer& i64(std::string_view k, int64_t v) {
    key(k);
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, res.ptr);
    return *this;
  }
  /// Shortest round-trip digits (as Python's repr), always with a '.' or an
  /// exponent so a Python reader gets a float. JSON has no inf/nan: 0.0.
  body_writer& dbl(std::string_view k, double v) {
    key(k);
    if (!std::isfinite(v)) {
      out_ += "0.0";
      return *this;
    }
    char buf[40];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, res.ptr);
    if (std::find_if(buf, res.ptr, [](char c) {
          return c == '.' || c == 'e';
        }) == res.ptr)
      out_ += ".0";
    return *this;
  }
  body_writer& boolean(std::string_view k, bool v) {
    key(k);
    out_ += v ? "true" : "false";
    return *this;
  }
  body_writer& header_fields(const header& h) {
    return str("req", h.req)
      .dbl("time", h.time)
      .str("hostname", h.hostname)
      .str("blob_hash", h.blob_hash);
  }
  std::string done() {
    out_ += '}';
    return std::move(out_);
  }

private:
  void key(std::string_view k) {
    if (out_.size() > 1)
      out_ += ',';
    out_ += '"';
    out_ += k; // our keys need no escaping
    out_ += "\":";
  }

  std::string out_;
};

// -- SHA-1 (FIPS 180-4), for blob_hash -------------------------------------------

class sha1 {
public:
  void update(const unsigned char* p, size_t n) {
    total_ += n;
    if (fill_ > 0) {
      size_t take = std::min(n, size_t{64} - fill_);
      std::memcpy(block_ + fill_, p, take);
      fill_ += take;
      p += take;
      n -= take;
      if (fill_ < 64)
        return;
      compress(block_);
      fill_ = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
      compress(p);
    std::memcpy(block_, p, n);
    fill_ = n;
  }

  std::array<unsigned char, 20> digest() {
    uint64_t bits = total_ * 8;
    unsigned char tail[72] = {0x80};
    size_t pad = (fill_ < 56 ? 56 - fill_ : 120 - fill_);
    for (int i = 0; i < 8; ++i)
      tail[pad + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
    update(tail, pad + 8);
    std::array<unsigned char, 20> out{};
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 4; ++j)
        out[4 * i + j] = static_cast<unsigned char>(h_[i] >> (24 - 8 * j));
    return out;
  }

private:
  static uint32_t rol(uint32_t x, int k) {
    return (x << k) | (x >> (32 - k));
  }

  // Four rounds of 20 steps, each with its own f and k; the schedule is
  // kept in a 16-word ring so the loop stays in registers.
  void compress(const unsigned char* p) {
    uint32_t w[16];
    for (int i = 0; i < 16; ++i)
      w[i] = (uint32_t{p[4 * i]} << 24) | (uint32_t{p[4 * i + 1]} << 16) |
             (uint32_t{p[4 * i + 2]} << 8) | p[4 * i + 3];
    uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
    auto schedule = [&w](int i) {
      if (i < 16)
        return w[i];
      uint32_t x = rol(w[(i + 13) & 15] ^ w[(i + 8) & 15] ^ w[(i + 2) & 15] ^
                         w[i & 15],
                       1);
      w[i & 15] = x;
      return x;
    };
    auto step = [&](uint32_t f, uint32_t k, uint32_t wi) {
      uint32_t t = rol(a, 5) + f + e + k + wi;
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    };
    for (int i = 0; i < 20; ++i)
      step((b & c) | (~b & d), 0x5A827999, schedule(i));
    for (int i = 20; i < 40; ++i)
      step(b ^ c ^ d, 0x6ED9EBA1, schedule(i));
    for (int i = 40; i < 60; ++i)
      step((b & c) | (b & d) | (c & d), 0x8F1BBCDC, schedule(i));
    for (int i = 60; i < 80; ++i)
      step(b ^ c ^ d, 0xCA62C1D6, schedule(i));
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
  }

  uint32_t h_[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  unsigned char block_[64] = {};
  size_t fill_ = 0;
  uint64_t total_ = 0;
};

constexpr std::string_view sha1_prefix = "SHA-1:";

} // namespace

// -- parse ---------------------------------------------------------------------

caf::expected<header> parse_header(const std::string& json) {
  header_holder x;
  if (auto err = read_body(json, "message", header_fields, x))
    return err;
  return std::move(x.hdr);
}

caf::expected<logtail_body> parse_logtail(const std::string& json) {
  logtail_body x;
  x.mode.clear(); // required: whatever the sender wrote
  if (auto err = read_body(json, "pub.logtail", logtail_fields, x))
    return err;
  return x;
}

caf::expected<logtail_ack_body> parse_logtail_ack(const std::string& json) {
  logtail_ack_body x;
  if (auto err = read_body(json, "logtail.ack", ack_fields, x))
    return err;
  return x;
}

namespace {

/// Reads `key` of `j` into `out` if present; false when present with
/// another type.
template <class T>
bool read_member(const nlohmann::json& j, const char* key, T& out,
                 std::string& bad) {
  auto i = j.find(key);
  if (i == j.end() || i->is_null())
    return true;
  try {
    if constexpr (std::is_same_v<T, uint64_t>) {
      if (!i->is_number_unsigned() && !(i->is_number_integer() && i->get<int64_t>() >= 0))
        throw std::exception{};
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!i->is_string())
        throw std::exception{};
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!i->is_boolean())
        throw std::exception{};
    }
    out = i->get<T>();
    return true;
  } catch (const std::exception&) {
    bad = key;
    return false;
  }
}

} // namespace

caf::expected<logtail_state_body> parse_logtail_state(const std::string& json) {
  const char* what = "logtail.state";
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded())
    return body_error(what, "not valid JSON");
  if (!j.is_object())
    return body_error(what, "not a JSON object");
  logtail_state_body x;
  std::string bad;
  bool ok = read_member(j, "req", x.hdr.req, bad) && read_member(j, "time", x.hdr.time, bad)
            && read_member(j, "hostname", x.hdr.hostname, bad)
            && read_member(j, "blob_hash", x.hdr.blob_hash, bad)
            && read_member(j, "filename", x.filename, bad)
            && read_member(j, "st_dev", x.st_dev, bad)
            && read_member(j, "st_ino", x.st_ino, bad) && read_member(j, "gen", x.gen, bad)
            && read_member(j, "query", x.query, bad) && read_member(j, "writer", x.writer, bad)
            && read_member(j, "status", x.status, bad)
            && read_member(j, "detail", x.detail, bad) && read_member(j, "copy", x.copy, bad)
            && read_member(j, "compressed", x.compressed, bad)
            && read_member(j, "from", x.range_from, bad)
            && read_member(j, "to", x.range_to, bad) && read_member(j, "block", x.block, bad);
  if (!ok)
    return body_error(what, "field '" + bad + "' has the wrong type");
  for (const char* key : {"req", "filename", "st_dev", "st_ino", "query", "writer", "status"})
    if (!j.contains(key))
      return body_error(what, std::string{"required field '"} + key + "' is missing");
  if (x.status != state_status::ok && x.status != state_status::none
      && x.status != state_status::refused && x.status != state_status::unavailable
      && x.status != state_status::denied)
    return body_error(what, "field 'status': unknown value '" + x.status.substr(0, 32) + "'");
  if (auto s = j.find("segments"); s != j.end() && !s->is_null()) {
    if (!s->is_array())
      return body_error(what, "field 'segments' is not an array");
    for (const auto& e : *s) {
      segment_state seg;
      if (!e.is_object()
          || !(read_member(e, "st_dev", seg.st_dev, bad) && read_member(e, "st_ino", seg.st_ino, bad)
               && read_member(e, "gen", seg.gen, bad)
               && read_member(e, "src_base", seg.src_base, bad)
               && read_member(e, "src_end", seg.src_end, bad)
               && read_member(e, "last", seg.last, bad))
          || seg.src_end < seg.src_base)
        return body_error(what, "a malformed segment");
      if (auto d = e.find("digests"); d != e.end() && !d->is_null()) {
        if (!d->is_array())
          return body_error(what, "a segment's digests are not an array");
        for (const auto& r : *d) {
          if (!r.is_array() || r.size() != 3 || !r[0].is_number_unsigned()
              || !r[1].is_number_unsigned() || !r[2].is_string())
            return body_error(what, "a malformed digest");
          seg.digests.push_back(
            {r[0].get<uint64_t>(), r[1].get<uint64_t>(), r[2].get<std::string>()});
        }
      }
      x.segments.push_back(std::move(seg));
    }
  }
  if (auto p = j.find("pieces"); p != j.end() && !p->is_null()) {
    if (!p->is_array())
      return body_error(what, "field 'pieces' is not an array");
    for (const auto& e : *p) {
      if (!e.is_string())
        return body_error(what, "a piece digest is not a string");
      x.pieces.push_back(e.get<std::string>());
    }
  }
  return x;
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

// -- make ----------------------------------------------------------------------

std::string make_body(const logtail_body& x) {
  // base64 data escapes one '\n' per 77 bytes; names rarely need escapes.
  body_writer w{x.data.size() + x.data.size() / 38 + 2 * x.filename.size() +
                x.hdr.hostname.size() + x.gen.size() + 128};
  w.header_fields(x.hdr)
    .str("filename", x.filename)
    .str("comp", x.comp)
    .str("mode", x.mode)
    .str("op_mode", x.op_mode)
    .u64("fpos", x.fpos)
    .u64("st_dev", x.st_dev)
    .u64("st_ino", x.st_ino)
    .str("data", x.data)
    .boolean("ack", x.ack)
    .str("gen", x.gen)
    .u64("raw_size", x.raw_size);
  // The reconcile extensions only when used: fragments stay as they were.
  if (!x.query.empty()) {
    w.str("query", x.query);
    if (x.digests)
      w.boolean("digests", true);
    if (x.query == query_kind::digest)
      w.u64("from", x.range_from).u64("to", x.range_to).u64("block", x.block);
  }
  if (x.repair)
    w.boolean("repair", true);
  if (x.truncate)
    w.boolean("truncate", true);
  if (!x.source.empty())
    w.str("source", x.source);
  return w.done();
}

std::string make_body(const logtail_ack_body& x) {
  body_writer w{x.filename.size() + x.hdr.hostname.size() + 64};
  w.header_fields(x.hdr)
    .str("filename", x.filename)
    .u64("st_dev", x.st_dev)
    .u64("st_ino", x.st_ino)
    .str("gen", x.gen)
    .u64("fpos", x.fpos)
    .str("status", x.status);
  if (!x.writer.empty())
    w.str("writer", x.writer);
  if (!x.detail.empty())
    w.str("detail", x.detail);
  return w.done();
}

std::string make_body(const logtail_state_body& x) {
  // Rare and small: nlohmann's writer (nested arrays). Strings go through
  // our own escaping first, so a byte that is not valid UTF-8 reads as its
  // Latin-1 character here too, as in every other body (nlohmann's dump
  // would throw on it).
  auto text = [](const std::string& s) {
    std::string quoted;
    append_json_string(quoted, s);
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
  return w.done();
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

// -- checks and helpers --------------------------------------------------------

caf::error check_req(const header& hdr, std::string_view type) {
  if (hdr.req == type)
    return caf::none;
  return make_error(errc::invalid_body,
                    "body req '" + hdr.req.substr(0, 64) +
                      "' differs from the type frame '" +
                      std::string{type.substr(0, 64)} + "'");
}

std::string blob_hash_of(std::string_view blob) {
  sha1 h;
  h.update(reinterpret_cast<const unsigned char*>(blob.data()), blob.size());
  auto digest = h.digest();
  constexpr char hex[] = "0123456789abcdef";
  std::string out{sha1_prefix};
  out.reserve(sha1_prefix.size() + 40);
  for (unsigned char c : digest) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

caf::error verify_blob_hash(std::string_view blob_hash, std::string_view blob) {
  if (blob_hash.empty())
    return caf::none;
  if (blob_hash.compare(0, sha1_prefix.size(), sha1_prefix) != 0)
    return make_error(errc::invalid_body,
                      "unsupported blob_hash type in '" +
                        std::string{blob_hash.substr(0, 32)} + "'");
  if (blob_hash != blob_hash_of(blob))
    return make_error(errc::decode_failed,
                      "blob_hash " + std::string{blob_hash.substr(0, 64)} +
                        " does not match the blob of " +
                        std::to_string(blob.size()) + " bytes");
  return caf::none;
}

caf::expected<std::string_view>
fragment_bytes(const logtail_body& body, std::string_view blob,
               std::string& storage) {
  if (!blob.empty())
    return blob;
  auto decoded = base64_decode(body.data);
  if (!decoded)
    return make_error(errc::decode_failed,
                      "pub.logtail data of " + body.filename + ": " +
                        describe(decoded.error()));
  storage = std::move(*decoded);
  return std::string_view{storage};
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
