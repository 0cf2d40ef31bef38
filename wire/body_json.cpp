// The JSON machinery behind the bodies: see body_json.hpp.
#include "wire/body_json.hpp"

#include "base/error.hpp"

namespace cc::wire::body_json {

namespace {

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

} // namespace

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
namespace {
template <class Int>
read_result read_decimal(const std::string& s, Int& out, const char* want) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size())
    return want;
  return nullptr;
}
} // namespace

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
    case scalar::kind::string:
      return read_decimal(*v.s, out, want);
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
    case scalar::kind::string:
      return read_decimal(*v.s, out, want);
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

caf::error body_error(const char* what, std::string text) {
  return make_error(errc::invalid_body, std::string{what} + " body: " + text);
}

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

} // namespace cc::wire::body_json
