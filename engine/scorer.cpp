#include "engine/scorer.h"

#include <algorithm>
#include <limits>

namespace tfe {

void Scorer::score_masked(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out,
                          std::span<double> masked) const {
  score(snapshot, state, out);
  const std::size_t n = std::min(snapshot.modalities.size(), kMaxModalities);
  std::size_t present = 0;
  for (const ModalitySnapshot& ms : snapshot.modalities) present += ms.present ? 1 : 0;
  std::array<ModalitySnapshot, kMaxModalities> variant{};
  std::copy_n(snapshot.modalities.begin(), n, variant.begin());
  for (std::size_t m = 0; m < masked.size(); ++m) {
    if (m >= n || !snapshot.modalities[m].present) {
      masked[m] = out.risk;
      continue;
    }
    if (present == 1) {
      masked[m] = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    variant[m] = ModalitySnapshot{};
    ScoreOutput o;
    score(Snapshot{snapshot.patient, snapshot.time_ms, std::span(variant.data(), n)}, state, o);
    masked[m] = o.risk;
    variant[m] = snapshot.modalities[m];
  }
}

}  // namespace tfe
