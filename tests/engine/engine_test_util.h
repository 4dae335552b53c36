#pragma once
// Shared fixtures for the engine tests: a small schema, a scorer that sums features, a sink that
// keeps every score.

#include <cmath>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/event.h"
#include "engine/score.h"
#include "engine/scorer.h"

namespace tfe::test {

inline constexpr int64_t kSecond = 1000;
inline constexpr int64_t kMinute = 60 * kSecond;
inline constexpr int64_t kHour = 60 * kMinute;

// Modality 0 "vit": vitals (channels a..f), horizon 15m. 1 "txt": text with a 3-float upstream
// embedding, horizon 48h. 2 "emb": embedding dim 4, horizon 30d. Windows 5m and 15m, 60 s ticks.
inline EngineConfig test_config(uint32_t shards = 1) {
  EngineConfig config;
  ModalitySpec vit;
  vit.name = "vit";
  vit.kind = ModalityKind::vitals;
  vit.channels = {"a", "b", "c", "d", "e", "f"};
  vit.horizon_ms = 15 * kMinute;
  ModalitySpec txt;
  txt.name = "txt";
  txt.kind = ModalityKind::text;
  txt.dim = 3;
  txt.horizon_ms = 48 * kHour;
  ModalitySpec emb;
  emb.name = "emb";
  emb.kind = ModalityKind::embedding;
  emb.dim = 4;
  emb.horizon_ms = 30 * 24 * kHour;
  config.schema = ModalitySchema({vit, txt, emb});
  config.shards = shards;
  return config;
}

// Sums every (finite) feature of every present modality, plus each history item's age in
// minutes. Weights are the per-modality sums. Needs features of all modalities.
class SumScorer final : public Scorer {
 public:
  explicit SumScorer(std::size_t modalities, bool features = true) {
    spec_.strategy = "sum";
    spec_.model_name = "sum";
    spec_.needs.resize(modalities);
    for (auto& needs : spec_.needs) {
      needs.features = features;
      needs.history = 2;
    }
  }
  const ScorerSpec& spec() const override { return spec_; }
  std::unique_ptr<ScorerState> make_state() const override {
    return std::make_unique<ScorerState>();
  }
  void score(const Snapshot& snapshot, ScorerState&, ScoreOutput& out) const override {
    double total = 0;
    for (std::size_t m = 0; m < snapshot.modalities.size(); ++m) {
      const ModalitySnapshot& ms = snapshot.modalities[m];
      if (!ms.present) continue;
      double sum = 0;
      for (float f : ms.features) sum += f;
      for (const HistoryItem& item : ms.history) {
        sum += static_cast<double>(item.age_ms) / 60'000.0;
        for (float f : item.features) {
          if (std::isfinite(f)) sum += f;
        }
      }
      out.weight[m] = static_cast<float>(sum);
      total += sum;
    }
    out.logit = total;
    out.risk = 1.0 / (1.0 + std::exp(-total / 1000.0));
  }

 private:
  ScorerSpec spec_;
};

class CollectSink final : public ScoreSink {
 public:
  void emit(std::span<const ScoreRecord> scores) override {
    ++calls;
    records.insert(records.end(), scores.begin(), scores.end());
  }
  std::vector<ScoreRecord> records;
  int calls = 0;
};

inline Event vitals_event(PatientIndex patient, int64_t event_ms, int64_t arrival_ms,
                          std::vector<std::pair<int, float>> values, uint64_t seq = 0) {
  Event e;
  e.patient = patient;
  e.modality = 0;
  e.event_time_ms = event_ms;
  e.arrival_time_ms = arrival_ms;
  e.source_seq = seq;
  e.vitals.values.fill(0);
  for (auto [c, v] : values) {
    e.vitals.present_mask |= 1u << c;
    e.vitals.values[static_cast<std::size_t>(c)] = v;
  }
  return e;
}

inline Event vector_event(PatientIndex patient, ModalityIndex modality, int64_t event_ms,
                          int64_t arrival_ms, std::vector<float> embedding, uint64_t seq = 0) {
  Event e;
  e.patient = patient;
  e.modality = modality;
  e.event_time_ms = event_ms;
  e.arrival_time_ms = arrival_ms;
  e.source_seq = seq;
  e.embedding = std::move(embedding);
  return e;
}

// Field-by-field equality of score records (bit-exact for the floating-point fields).
inline bool same_records(const std::vector<ScoreRecord>& a, const std::vector<ScoreRecord>& b,
                         std::string* why) {
  if (a.size() != b.size()) {
    *why = "sizes differ: " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const ScoreRecord& x = a[i];
    const ScoreRecord& y = b[i];
    bool same = x.patient == y.patient && x.score_time_ms == y.score_time_ms &&
                std::memcmp(&x.risk, &y.risk, sizeof x.risk) == 0 &&
                std::memcmp(&x.logit, &y.logit, sizeof x.logit) == 0;
    for (std::size_t m = 0; m < kMaxModalities; ++m) {
      same = same && x.modalities[m].present == y.modalities[m].present &&
             x.modalities[m].age_ms == y.modalities[m].age_ms &&
             std::memcmp(&x.modalities[m].weight, &y.modalities[m].weight, sizeof(float)) == 0;
    }
    if (!same) {
      *why = "record " + std::to_string(i) + " differs (patient " + std::to_string(x.patient) +
             "/" + std::to_string(y.patient) + ", time " + std::to_string(x.score_time_ms) + "/" +
             std::to_string(y.score_time_ms) + ")";
      return false;
    }
  }
  return true;
}

}  // namespace tfe::test
