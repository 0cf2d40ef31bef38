// The blob hash of a CC message (wire/bodies.hpp): "SHA-1:" and the SHA-1
// (FIPS 180-4) of the blob in hex, as the original's cc/crypto.py computes
// it; computed for what we send, checked for what we receive.
#include <cstring>

#include "base/error.hpp"
#include "wire/bodies.hpp"

namespace cc::wire {

namespace {

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

} // namespace cc::wire
