// Digests of source bytes for reconcile, verify and repair (docs/wire.md
// §6.1): XXH3-64 from Debian's libxxhash, over ranges of source offsets.
// XXH3 is a checksum against accidents (a truncated or touched copy, a
// different file under the same name, bit rot), not against an attacker who
// can write the central's copies: docs/guarantees.md says why that is enough.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cc::wire {

/// The block of the protocol: segment digests cover source offsets
/// [k * digest_block, (k + 1) * digest_block), clipped to the segment.
constexpr uint64_t digest_block = uint64_t{1} << 20;

/// XXH3-64 (seed 0) of `bytes`.
uint64_t xxh3(std::string_view bytes);

/// 16 lowercase hex digits of `x`.
std::string digest_hex(uint64_t x);

/// Parses digest_hex's output; nullopt on anything else.
std::optional<uint64_t> parse_digest_hex(std::string_view text);

/// XXH3-64 over bytes fed in pieces; value() may be read at any point (it
/// is the digest of everything fed since the last reset).
class digest_stream {
public:
  digest_stream();
  ~digest_stream();
  digest_stream(digest_stream&&) noexcept;
  digest_stream& operator=(digest_stream&&) noexcept;
  digest_stream(const digest_stream&) = delete;
  digest_stream& operator=(const digest_stream&) = delete;

  void update(std::string_view bytes);
  uint64_t value() const;
  void reset();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace cc::wire
