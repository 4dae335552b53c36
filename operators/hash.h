#pragma once
// Fixed, documented hashes of operators/: FNV-1a 32 (text feature hashing) and FNV-1a 64 (model
// file checksum and model id). Both are streaming: hashing "ab" equals continuing the hash of "a"
// with "b", which lets the text encoder hash bigrams without building strings.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tfe {

inline constexpr uint32_t kFnv32Offset = 2166136261u;
inline constexpr uint32_t kFnv32Prime = 16777619u;
inline constexpr uint64_t kFnv64Offset = 14695981039346656037ull;
inline constexpr uint64_t kFnv64Prime = 1099511628211ull;

constexpr uint32_t fnv1a32_byte(uint32_t h, uint8_t byte) { return (h ^ byte) * kFnv32Prime; }

constexpr uint32_t fnv1a32(std::string_view bytes, uint32_t h = kFnv32Offset) {
  for (char c : bytes) h = fnv1a32_byte(h, static_cast<uint8_t>(c));
  return h;
}

constexpr uint64_t fnv1a64(std::span<const uint8_t> bytes, uint64_t h = kFnv64Offset) {
  for (uint8_t b : bytes) h = (h ^ b) * kFnv64Prime;
  return h;
}

// SplitMix64's finaliser: a well-mixed 64-bit value from any input, for deterministic
// pseudo-random draws keyed by (seed, example) without generator state.
constexpr uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// 16 lower-case hex digits, most significant first.
std::string hex64(uint64_t value);

}  // namespace tfe
