// Base64 codec (wire/base64.hpp): table-driven, one pass, output sized
// exactly (encode) or bounded (decode) before the loop, so no reallocation.
#include "wire/base64.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include "base/error.hpp"

namespace cc::wire {

namespace {

constexpr char alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Python 2's encodestring encodes 57-byte chunks, one 76-character line each.
constexpr size_t line_bytes = 57;
constexpr size_t line_chars = 76;

// Decoding table values besides 0..63.
constexpr uint8_t space = 64;
constexpr uint8_t pad = 65;
constexpr uint8_t bad = 255;

constexpr std::array<uint8_t, 256> make_decode_table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t)
    v = bad;
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<uint8_t>(i);
  for (char c : {' ', '\t', '\n', '\v', '\f', '\r'})
    t[static_cast<unsigned char>(c)] = space;
  t['='] = pad;
  return t;
}

constexpr auto decode_table = make_decode_table();

caf::error bad_input(const char* what, size_t offset) {
  return make_error(errc::decode_failed,
                    std::string{"base64: "} + what + " at offset " +
                      std::to_string(offset));
}

// Encodes `n` bytes (n <= 57) as one line plus '\n'; returns the end.
char* encode_line(const unsigned char* in, size_t n, char* out) {
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    *out++ = alphabet[(v >> 18) & 63];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = alphabet[(v >> 6) & 63];
    *out++ = alphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{in[i]} << 16;
    *out++ = alphabet[(v >> 18) & 63];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = '=';
    *out++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8);
    *out++ = alphabet[(v >> 18) & 63];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = alphabet[(v >> 6) & 63];
    *out++ = '=';
  }
  *out++ = '\n';
  return out;
}

} // namespace

size_t base64_encoded_size(size_t n) {
  size_t full = n / line_bytes;
  size_t rest = n % line_bytes;
  size_t size = full * (line_chars + 1);
  if (rest > 0)
    size += (rest + 2) / 3 * 4 + 1;
  return size;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.resize(base64_encoded_size(bytes.size()));
  auto in = reinterpret_cast<const unsigned char*>(bytes.data());
  char* dst = out.data();
  size_t n = bytes.size();
  for (size_t pos = 0; pos < n; pos += line_bytes)
    dst = encode_line(in + pos, std::min(line_bytes, n - pos), dst);
  return out;
}

caf::expected<std::string> base64_decode(std::string_view text) {
  auto in = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  std::string out;
  // Every 4 significant characters give at most 3 bytes; whitespace gives none.
  out.resize(n / 4 * 3 + 3);
  auto dst = reinterpret_cast<unsigned char*>(out.data());
  uint32_t quad = 0; // bits of the current group of 4 characters
  int have = 0;      // characters in `quad`
  size_t i = 0;
  while (i < n) {
    if (have == 0 && i + 4 <= n) {
      // Fast path: four alphabet characters in a row, the common case.
      uint32_t a = decode_table[in[i]], b = decode_table[in[i + 1]],
               c = decode_table[in[i + 2]], d = decode_table[in[i + 3]];
      if ((a | b | c | d) < 64) {
        uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
        dst[0] = static_cast<unsigned char>(v >> 16);
        dst[1] = static_cast<unsigned char>(v >> 8);
        dst[2] = static_cast<unsigned char>(v);
        dst += 3;
        i += 4;
        continue;
      }
    }
    uint8_t v = decode_table[in[i]];
    if (v < 64) {
      quad = (quad << 6) | v;
      if (++have == 4) {
        dst[0] = static_cast<unsigned char>(quad >> 16);
        dst[1] = static_cast<unsigned char>(quad >> 8);
        dst[2] = static_cast<unsigned char>(quad);
        dst += 3;
        have = 0;
        quad = 0;
      }
      ++i;
    } else if (v == space) {
      ++i;
    } else if (v == pad) {
      break;
    } else {
      return bad_input("invalid character", i);
    }
  }
  if (i < n) {
    // At text[i] is the first '=': it may only complete a group of 2 or 3.
    size_t first_pad = i;
    int pads_needed = 4 - have;
    if (have < 2)
      return bad_input("misplaced padding", first_pad);
    while (i < n && pads_needed > 0) {
      uint8_t v = decode_table[in[i]];
      if (v == pad)
        --pads_needed;
      else if (v != space)
        return bad_input("misplaced padding", i);
      ++i;
    }
    if (pads_needed > 0)
      return bad_input("incomplete padding", n);
    for (; i < n; ++i)
      if (decode_table[in[i]] != space)
        return bad_input("data after padding", i);
    quad <<= 6 * (4 - have);
    *dst++ = static_cast<unsigned char>(quad >> 16);
    if (have == 3)
      *dst++ = static_cast<unsigned char>(quad >> 8);
    have = 0;
  }
  if (have != 0)
    return bad_input("length is not a multiple of 4", n);
  out.resize(static_cast<size_t>(dst - reinterpret_cast<unsigned char*>(out.data())));
  return out;
}

} // namespace cc::wire
