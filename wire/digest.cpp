// XXH3-64 digests (wire/digest.hpp).
#include "wire/digest.hpp"

#include <new>

#include <xxhash.h>

#include "base/hash.hpp"

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
  return hex64(x);
}

std::optional<uint64_t> parse_digest_hex(std::string_view text) {
  // On the wire a digest is exactly 16 lowercase digits, as digest_hex writes.
  if (text.size() != 16 || text.find_first_of("ABCDEF") != std::string_view::npos)
    return std::nullopt;
  return parse_hex64(text);
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
