#pragma once
// How many mutated inputs a mutation test tries, and from which seed. The defaults keep the unit
// suite fast and deterministic; TFE_MUTATIONS=N and TFE_MUTATION_SEED=S run a longer or another
// campaign by hand (docs/development.md, "Mutation tests").

#include <cstdint>
#include <cstdlib>

namespace tfe::test {

inline int mutation_count(int default_count) {
  const char* text = std::getenv("TFE_MUTATIONS");
  const int n = text != nullptr ? std::atoi(text) : 0;
  return n > 0 ? n : default_count;
}

inline uint64_t mutation_seed(uint64_t default_seed) {
  const char* text = std::getenv("TFE_MUTATION_SEED");
  return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : default_seed;
}

}  // namespace tfe::test
