// Small hashes and ids every layer uses: FNV-1a for fingerprints, file names
// and journal checksums (not for data integrity: the copies' segment digests
// are XXH3, wire/digest), 16-digit hex, and random generation ids.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cc {

constexpr uint64_t fnv1a64_basis = 14695981039346656037ull;

/// 64-bit FNV-1a of `bytes`, continuing from `seed`.
uint64_t fnv1a64(std::string_view bytes, uint64_t seed = fnv1a64_basis);

/// 16 lowercase hex digits of `x`; parse_hex64 is its inverse (1 to 16
/// digits, either case).
/// The `digits` lowest hex digits of `x`, lowercase, into out[0..digits).
void write_hex(char* out, uint64_t x, int digits);
std::string hex64(uint64_t x);
std::optional<uint64_t> parse_hex64(std::string_view text);

/// A fresh random id of 16 lowercase hex digits (a generation, a writer):
/// ids only need to differ, not to be secret.
std::string new_gen();

} // namespace cc
