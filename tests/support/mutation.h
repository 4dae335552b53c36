#pragma once
// Seeded mutation of valid input for the tests of boundaries that take outside input (decoders,
// importers, config loaders). The budget defaults keep the unit suite fast and deterministic;
// TFE_MUTATIONS=N and TFE_MUTATION_SEED=S run a longer or another campaign by hand
// (docs/development.md, "Mutation tests").

#include <cstdint>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <string_view>

namespace tfe::test {

// TFE_MUTATIONS raises the count (never lowers it: the tests' bounds on what the mutations
// reach are set for the default).
inline int mutation_count(int default_count) {
  const char* text = std::getenv("TFE_MUTATIONS");
  const int n = text != nullptr ? std::atoi(text) : 0;
  return n > default_count ? n : default_count;
}

inline uint64_t mutation_seed(uint64_t default_seed) {
  const char* text = std::getenv("TFE_MUTATION_SEED");
  return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : default_seed;
}

// An error message as the tests of outside input expect it: not empty, and no control byte (a
// line break, a carriage return, a NUL) anywhere in it.
inline bool one_clean_line(std::string_view message) {
  if (message.empty()) return false;
  for (const char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// One to max_edits edits of a byte string: a bit flipped, a byte replaced, random bytes inserted,
// a span deleted or duplicated, one of `tokens` (the format's structure and edge values) spliced
// in or put in place of a span, or a cut.
class ByteMutator {
 public:
  ByteMutator(uint64_t seed, std::span<const std::string_view> tokens, int max_edits = 4)
      : rng_(seed), tokens_(tokens), max_edits_(max_edits) {}

  std::string mutate(std::string bytes) {
    const int edits = 1 + static_cast<int>(below(static_cast<uint64_t>(max_edits_)));
    for (int i = 0; i < edits; ++i) edit(bytes);
    return bytes;
  }

 private:
  uint64_t below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  std::string_view token() { return tokens_[below(tokens_.size())]; }

  void edit(std::string& r) {
    const std::size_t at = below(r.size() + 1);
    switch (below(8)) {
      case 0:
        if (!r.empty()) r[below(r.size())] ^= static_cast<char>(1u << below(8));
        break;
      case 1:
        if (!r.empty()) r[below(r.size())] = static_cast<char>(below(256));
        break;
      case 2:
        r.insert(at, std::string(1 + below(4), static_cast<char>(below(256))));
        break;
      case 3:
        r.erase(at, 1 + below(12));
        break;
      case 4: {
        const std::size_t from = below(r.size() + 1);
        r.insert(at, r.substr(from, 1 + below(24)));
        break;
      }
      case 5:
        if (!tokens_.empty()) r.insert(at, token());
        break;
      case 6:
        if (!tokens_.empty()) r.replace(at, below(8), token());
        break;
      default:
        r.resize(at);
        break;
    }
  }

  std::mt19937_64 rng_;
  std::span<const std::string_view> tokens_;
  int max_edits_;
};

}  // namespace tfe::test
