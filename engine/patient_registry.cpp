// Interned patient ids. Entries live in geometrically growing chunks whose addresses never change,
// so id(p) and hash(p) are safe from any thread once intern() returned p to it; the lookup table
// (open addressing over the stable hash) is touched by the single writer only.

#include "engine/patient_registry.h"

#include <array>
#include <bit>
#include <cassert>

namespace tfe {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

// Chunk k holds kFirstChunk << k entries; 32 chunks cover far more than 2^32 indices.
constexpr unsigned kFirstChunkBits = 10;
constexpr std::size_t kFirstChunk = std::size_t{1} << kFirstChunkBits;
constexpr std::size_t kChunks = 32;

constexpr uint32_t kEmptySlot = 0;  // table slots hold index + 1

}  // namespace

uint64_t patient_hash(std::string_view patient_id) {
  uint64_t h = kFnvOffset;
  for (char c : patient_id) {
    h ^= static_cast<uint8_t>(c);
    h *= kFnvPrime;
  }
  // splitmix64 finaliser: FNV-1a alone leaves the low bits (used for shard routing) weakly mixed.
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

std::string patient_pseudonym(std::string_view patient_id) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t h = patient_hash(patient_id);
  std::string out(16, '0');
  for (int i = 0; i < 16; ++i) out[i] = kHex[(h >> (60 - 4 * i)) & 0xf];
  return out;
}

struct PatientRegistry::Impl {
  struct Entry {
    uint64_t hash = 0;
    std::string id;
  };

  std::array<std::unique_ptr<Entry[]>, kChunks> chunks;
  std::vector<uint32_t> table;  // open addressing, linear probing; power-of-two size
  std::size_t size = 0;

  // Chunk and offset of index p: indices [kFirstChunk * (2^k - 1), kFirstChunk * (2^(k+1) - 1))
  // live in chunk k.
  static std::pair<std::size_t, std::size_t> locate(std::size_t p) {
    const std::size_t biased = p + kFirstChunk;
    const std::size_t k = static_cast<std::size_t>(std::bit_width(biased)) - 1 - kFirstChunkBits;
    return {k, biased - (kFirstChunk << k)};
  }

  Entry& entry(std::size_t p) {
    const auto [k, offset] = locate(p);
    return chunks[k][offset];
  }
  const Entry& entry(std::size_t p) const {
    const auto [k, offset] = locate(p);
    return chunks[k][offset];
  }

  void grow_table() {
    std::vector<uint32_t> bigger(table.empty() ? 1024 : table.size() * 2, kEmptySlot);
    const std::size_t mask = bigger.size() - 1;
    for (std::size_t p = 0; p < size; ++p) {
      std::size_t slot = entry(p).hash & mask;
      while (bigger[slot] != kEmptySlot) slot = (slot + 1) & mask;
      bigger[slot] = static_cast<uint32_t>(p + 1);
    }
    table.swap(bigger);
  }
};

PatientRegistry::PatientRegistry() : impl_(std::make_unique<Impl>()) { impl_->grow_table(); }

PatientRegistry::~PatientRegistry() = default;

PatientIndex PatientRegistry::intern(std::string_view patient_id) {
  Impl& impl = *impl_;
  const uint64_t h = patient_hash(patient_id);
  std::size_t mask = impl.table.size() - 1;
  std::size_t slot = h & mask;
  while (impl.table[slot] != kEmptySlot) {
    const std::size_t p = impl.table[slot] - 1;
    const Impl::Entry& e = impl.entry(p);
    if (e.hash == h && e.id == patient_id) return static_cast<PatientIndex>(p);
    slot = (slot + 1) & mask;
  }
  // New id. PatientIndex is 32-bit and slots store index + 1.
  assert(impl.size < 0xffffffffu && "more distinct patient ids than PatientIndex can hold");
  const std::size_t p = impl.size;
  const auto [k, offset] = Impl::locate(p);
  if (!impl.chunks[k]) impl.chunks[k] = std::make_unique<Impl::Entry[]>(kFirstChunk << k);
  impl.chunks[k][offset] = Impl::Entry{h, std::string(patient_id)};
  impl.table[slot] = static_cast<uint32_t>(p + 1);
  impl.size = p + 1;
  size_ = impl.size;
  // Keep the load factor at or below one half.
  if (impl.size * 2 > impl.table.size()) impl.grow_table();
  return static_cast<PatientIndex>(p);
}

std::string_view PatientRegistry::id(PatientIndex p) const { return impl_->entry(p).id; }

uint64_t PatientRegistry::hash(PatientIndex p) const { return impl_->entry(p).hash; }

}  // namespace tfe
