// XXH3-64 digests (wire/digest.hpp).
#include "wire/digest.hpp"

#include <new>

#include <xxhash.h>

namespace cc::wire {

struct digest_stream::impl {
  XXH3_state_t* state = XXH3_createState();
  impl() {
    if (state == nullptr)
      throw std::bad_alloc{};
    XXH3_64bits_reset(state);
  }
  ~impl() {
    XXH3_freeState(state);
  }
};

uint64_t xxh3(std::string_view bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

std::string digest_hex(uint64_t x) {
  static constexpr char table[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = table[x & 0xf];
    x >>= 4;
  }
  return out;
}

std::optional<uint64_t> parse_digest_hex(std::string_view text) {
  if (text.size() != 16)
    return std::nullopt;
  uint64_t x = 0;
  for (char c : text) {
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else
      return std::nullopt;
    x = (x << 4) | static_cast<uint64_t>(v);
  }
  return x;
}

digest_stream::digest_stream() : impl_(std::make_unique<impl>()) {
}

digest_stream::~digest_stream() = default;
digest_stream::digest_stream(digest_stream&&) noexcept = default;
digest_stream& digest_stream::operator=(digest_stream&&) noexcept = default;

void digest_stream::update(std::string_view bytes) {
  XXH3_64bits_update(impl_->state, bytes.data(), bytes.size());
}

uint64_t digest_stream::value() const {
  return XXH3_64bits_digest(impl_->state);
}

void digest_stream::reset() {
  XXH3_64bits_reset(impl_->state);
}

} // namespace cc::wire
