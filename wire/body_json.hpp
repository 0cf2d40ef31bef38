// The JSON machinery behind wire/bodies.hpp (internal to wire/): reading a
// body is one SAX pass of nlohmann's parser that hands each top-level
// key/value straight to a table of typed fields (read_body with a
// std::array<field<Body>, N>, one table per body type beside its parse_*);
// writing appends escaped JSON to one pre-sized string (body_writer).
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <nlohmann/json.hpp>

#include "wire/bodies.hpp"

namespace cc::wire::body_json {

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

/// "a string", "an integer", ...: what a field got, for its error.
const char* kind_name(scalar::kind k);

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

read_result read_string(scalar& v, std::string& out);
read_result read_string_or_null(scalar& v, std::string& out);
read_result read_u64(scalar& v, uint64_t& out);
read_result read_i64(scalar& v, int64_t& out);
read_result read_double(scalar& v, double& out);
read_result read_bool(scalar& v, bool& out);

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

/// errc::invalid_body: "`what` body: `text`".
caf::error body_error(const char* what, std::string text);

/// A member of a flat object as scan_flat_object found it: its key and its
/// scalar (a string as a view into the text).
/// (No initializers: read_body keeps an array of them on its stack, and
/// scan_flat_object sets every field of each member it reports.)
struct flat_member {
  std::string_view key;
  scalar::kind k;
  bool b;
  int64_t i;
  uint64_t u;
  double d;
  std::string_view s; // as in the text, between the quotes
  bool escaped;       // s holds escapes (\n, \", \\, \/, \b, \f, \r, \t only)
};

/// A flat_member's string value: s, its escapes (if any) replaced.
void flat_string(const flat_member& m, std::string& out);

/// The members scan_flat_object reads at most; a body with more goes to
/// nlohmann's parser.
constexpr size_t max_flat_members = 48;

/// read_body's fast path: scans `json` when it is one flat JSON object whose
/// keys are printable ASCII without escapes, whose string values are
/// printable ASCII with at most the one-letter escapes (base64 data has
/// "\n"), and whose
/// values are strings, numbers, true, false or null (what our senders
/// write), into `out` (`n` members, in order). False, with nothing in `out`
/// to use, for any other text, valid or not: nlohmann's parser then reads it
/// as before, with its values and its error messages. For the texts it
/// accepts it gives what nlohmann's SAX parser reports: the same members in
/// the same order, integers as unsigned (>= 0) or signed (< 0), other
/// numbers as the nearest double.
bool scan_flat_object(std::string_view json, flat_member* out, size_t max, size_t& n);

/// Parses `json` into `x` with `fields`; unknown keys are ignored, a later
/// duplicate key wins. `what` names the body type in errors.
/// `flat_scan` false: always nlohmann's parser (tests compare the two).
template <class Body, size_t N>
caf::error read_body(const std::string& json, const char* what,
                     const std::array<field<Body>, N>& fields, Body& x,
                     uint32_t* seen_out = nullptr, bool flat_scan = true) {
  static_assert(N <= 32, "the seen-set is a 32-bit mask");
  uint32_t seen = 0;
  size_t bad_field = N;
  read_result bad_why = nullptr;
  scalar::kind bad_kind = scalar::kind::null;
  // Our writers write a body's fields in its table's order: the search for
  // a key starts after the last one found (the names are unique: the same
  // field is found from any start).
  size_t next = 0;
  auto on_field = [&](std::string_view key, scalar& v) {
    for (size_t k = 0; k < N; ++k) {
      size_t i = next + k < N ? next + k : next + k - N;
      if (fields[i].name != key)
        continue;
      next = i + 1 < N ? i + 1 : 0;
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
  // Flat bodies (every body our senders write) are scanned without
  // nlohmann's lexer, its token buffers and its allocations; the fields
  // see the same members in the same order. Anything else, errors
  // included, is nlohmann's as before.
  flat_member members[max_flat_members];
  size_t n = 0;
  if (flat_scan && scan_flat_object(json, members, max_flat_members, n)) {
    std::string text; // a string value, which its field may move from
    for (size_t m = 0; m < n; ++m) {
      const auto& fm = members[m];
      scalar v;
      v.k = fm.k;
      v.b = fm.b;
      v.i = fm.i;
      v.u = fm.u;
      v.d = fm.d;
      if (v.k == scalar::kind::string) {
        flat_string(fm, text);
        v.s = &text;
      }
      if (!on_field(fm.key, v))
        return body_error(what, "field '" + std::string{fields[bad_field].name} +
                                  "': " + bad_why + ", got " + kind_name(bad_kind));
    }
  } else if (top_level_reader<decltype(on_field)> reader{on_field};
             !nlohmann::json::sax_parse(json.data(), json.data() + json.size(), &reader)) {
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

// -- writing -------------------------------------------------------------------

/// Appends `s` as a JSON string. Valid UTF-8 is kept as it is; a byte that
/// is not part of valid UTF-8 is written as \u00XX (its Latin-1 reading),
/// so the output always parses, and the same input always maps the same way.
void append_json_string(std::string& out, std::string_view s);

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
  body_writer& u64(std::string_view k, uint64_t v) { return integer(k, v); }
  body_writer& i64(std::string_view k, int64_t v) { return integer(k, v); }
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
  /// `json` as it is: an array or object the caller wrote.
  body_writer& raw(std::string_view k, std::string_view json) {
    key(k);
    out_ += json;
    return *this;
  }
  body_writer& header_fields(const header& h) {
    return header_fields(h.req, h.time, h.hostname, h.blob_hash);
  }
  body_writer& header_fields(std::string_view req, double time, std::string_view hostname,
                             std::string_view blob_hash) {
    return str("req", req).dbl("time", time).str("hostname", hostname).str("blob_hash", blob_hash);
  }
  std::string done() {
    out_ += '}';
    return std::move(out_);
  }

private:
  template <class Int>
  body_writer& integer(std::string_view k, Int v) {
    key(k);
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, res.ptr);
    return *this;
  }
  void key(std::string_view k) {
    if (out_.size() > 1)
      out_ += ',';
    out_ += '"';
    out_ += k; // our keys need no escaping
    out_ += "\":";
  }

  std::string out_;
};

} // namespace cc::wire::body_json
