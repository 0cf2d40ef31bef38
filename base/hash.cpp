#include "base/hash.hpp"

#include <random>

namespace cc {

uint64_t fnv1a64(std::string_view bytes, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

void write_hex(char* out, uint64_t x, int digits) {
  static constexpr char table[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) {
    out[i] = table[x & 0xf];
    x >>= 4;
  }
}

std::string hex64(uint64_t x) {
  std::string out(16, '0');
  write_hex(out.data(), x, 16);
  return out;
}

std::optional<uint64_t> parse_hex64(std::string_view text) {
  if (text.empty() || text.size() > 16)
    return std::nullopt;
  uint64_t x = 0;
  for (char c : text) {
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    else
      return std::nullopt;
    x = (x << 4) | static_cast<uint64_t>(v);
  }
  return x;
}

std::string new_gen() {
  // One engine per thread, seeded from the OS: ids only need to differ
  // between generations, not to be secret.
  thread_local std::mt19937_64 engine{[] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }()};
  return hex64(engine());
}

} // namespace cc
