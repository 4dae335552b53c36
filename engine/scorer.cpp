#include "engine/scorer.h"

#include <algorithm>

namespace tfe {

void Scorer::score_risks(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out,
                         std::span<double> masked) const {
  score(snapshot, state, out);
  const std::size_t n = std::min(snapshot.modalities.size(), kMaxModalities);
  std::array<ModalitySnapshot, kMaxModalities> variant{};
  std::copy_n(snapshot.modalities.begin(), n, variant.begin());
  fill_masked_risks(snapshot, out.risk, masked, [&](ModalityIndex m) {
    variant[m] = ModalitySnapshot{};
    ScoreOutput o;
    score(Snapshot{snapshot.patient, snapshot.time_ms, std::span(variant.data(), n)}, state, o);
    variant[m] = snapshot.modalities[m];
    return o.risk;
  });
}

}  // namespace tfe
