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

namespace {

/// scan_flat_object's cursor over the text.
struct flat_scanner {
  const char* p;
  const char* end;

  void skip_ws() {
    while (p != end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
      ++p;
  }
  bool eat(char c) {
    if (p == end || *p != c)
      return false;
    ++p;
    return true;
  }
  /// A string of printable ASCII, with one-letter escapes where
  /// `escapes` allows them (else false: nlohmann's).
  bool string(std::string_view& out, bool* escaped = nullptr) {
    if (!eat('"'))
      return false;
    const char* start = p;
    if (escaped)
      *escaped = false;
    for (; p != end; ++p) {
      auto c = static_cast<unsigned char>(*p);
      if (c == '"') {
        out = std::string_view{start, static_cast<size_t>(p - start)};
        ++p;
        return true;
      }
      if (c < 0x20 || c >= 0x80)
        return false;
      if (c == '\\') {
        if (!escaped || ++p == end)
          return false;
        switch (*p) {
          case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            *escaped = true;
            break;
          default:
            return false; // \u (surrogates, UTF-8) and junk: nlohmann's
        }
      }
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (static_cast<size_t>(end - p) < word.size()
        || std::string_view{p, word.size()} != word)
      return false;
    p += word.size();
    return true;
  }
  /// A JSON number as nlohmann reads it: an integer without fraction or
  /// exponent is unsigned (or signed when negative) if it fits, else a
  /// double (then: not ours, nlohmann's overflow rules apply).
  bool number(flat_member& m) {
    const char* start = p;
    bool negative = eat('-');
    const char* digits = p;
    if (p == end || *p < '0' || *p > '9')
      return false;
    if (*p == '0') {
      ++p;
      if (p != end && *p >= '0' && *p <= '9')
        return false; // a leading zero: invalid JSON
    } else {
      while (p != end && *p >= '0' && *p <= '9')
        ++p;
    }
    bool integral = true;
    if (p != end && *p == '.') {
      integral = false;
      ++p;
      const char* frac = p;
      while (p != end && *p >= '0' && *p <= '9')
        ++p;
      if (p == frac)
        return false;
    }
    if (p != end && (*p == 'e' || *p == 'E')) {
      integral = false;
      ++p;
      if (p != end && (*p == '+' || *p == '-'))
        ++p;
      const char* exp = p;
      while (p != end && *p >= '0' && *p <= '9')
        ++p;
      if (p == exp)
        return false;
    }
    if (integral && !negative) {
      auto [q, ec] = std::from_chars(digits, p, m.u);
      if (ec != std::errc{} || q != p)
        return false;
      m.k = scalar::kind::unsigned_integer;
      return true;
    }
    if (integral) {
      auto [q, ec] = std::from_chars(start, p, m.i);
      if (ec != std::errc{} || q != p)
        return false;
      m.k = scalar::kind::integer;
      return true;
    }
    // Correctly rounded, as nlohmann's strtod; nlohmann refuses what
    // overflows to infinity, so that text is left to it.
    auto [q, ec] = std::from_chars(start, p, m.d);
    if (ec != std::errc{} || q != p || !std::isfinite(m.d))
      return false;
    m.k = scalar::kind::floating;
    return true;
  }
  bool value(flat_member& m) {
    m.b = false;
    m.i = 0;
    m.u = 0;
    m.d = 0;
    m.s = {};
    m.escaped = false;
    if (p == end)
      return false;
    switch (*p) {
      case '"':
        m.k = scalar::kind::string;
        return string(m.s, &m.escaped);
      case 't':
        m.k = scalar::kind::boolean;
        m.b = true;
        return literal("true");
      case 'f':
        m.k = scalar::kind::boolean;
        return literal("false");
      case 'n':
        m.k = scalar::kind::null;
        return literal("null");
      default:
        return number(m); // else an object, an array or not JSON: not ours
    }
  }
};

} // namespace

void flat_string(const flat_member& m, std::string& out) {
  if (!m.escaped) {
    out.assign(m.s);
    return;
  }
  out.clear();
  out.reserve(m.s.size());
  for (size_t i = 0; i < m.s.size(); ++i) {
    char c = m.s[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    switch (m.s[++i]) { // scan_flat_object let only these through
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      default: out += m.s[i]; break; // '"', '\\', '/'
    }
  }
}

bool scan_flat_object(std::string_view json, flat_member* out, size_t max, size_t& n) {
  n = 0;
  flat_scanner sc{json.data(), json.data() + json.size()};
  sc.skip_ws();
  if (!sc.eat('{'))
    return false;
  sc.skip_ws();
  if (!sc.eat('}')) {
    for (;;) {
      if (n == max)
        return false;
      auto& m = out[n];
      if (!sc.string(m.key))
        return false;
      sc.skip_ws();
      if (!sc.eat(':'))
        return false;
      sc.skip_ws();
      if (!sc.value(m))
        return false;
      ++n;
      sc.skip_ws();
      if (sc.eat('}'))
        break;
      if (!sc.eat(','))
        return false;
      sc.skip_ws();
    }
  }
  sc.skip_ws();
  return sc.p == sc.end;
}

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
