#pragma once
// The contract between the engine and whatever turns a snapshot into a score (NEWS2, the fusion
// operators, the training-example recorder). A scorer first declares what it consumes, then
// computes; it holds no mutable data: per-shard scratch lives in a ScorerState it creates.

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "engine/event.h"
#include "engine/snapshot.h"

namespace tfe {

// Turns one event of a modality into the features cached in the patient's state. Runs once per
// applied event, never per tick.
class ModalityEncoder {
 public:
  virtual ~ModalityEncoder() = default;
  virtual uint32_t dim() const = 0;
  // out: [dim()]
  virtual void encode(const Event& event, std::span<float> out) const = 0;
};

// What the features of a vitals modality are.
enum class VitalsFeatures : uint8_t {
  // [windows][channels][kWindowStatCount] window statistics (see window_stats.h).
  window_stats,
  // [channels]: each channel's newest reading whose age at the snapshot is at most
  // ModalityNeeds::latest_within_ms, NaN when there is none. Costs a value and a time per channel
  // instead of the window rings and sums, for scorers that read only the current value (NEWS2).
  latest,
};

// What a scorer needs from each modality.
struct ModalityNeeds {
  bool features = false;  // keep and encode features (false: presence and age only)
  VitalsFeatures vitals = VitalsFeatures::window_stats;  // vitals modalities with features
  int64_t latest_within_ms = 0;                          // VitalsFeatures::latest only, >= 0
  // Events exposed in ModalitySnapshot::history (K); 0: none (presence, age and features only).
  uint32_t history = 1;
  // Encoder for text/embedding modalities; null means the raw vector (embedding, or the
  // upstream embedding of a text event). Ignored for vitals, whose features are window stats.
  std::shared_ptr<const ModalityEncoder> encoder;
};

struct ScorerSpec {
  std::string strategy;              // "news2", "early", "intermediate", "late", "attention"
  std::string model_name;            // human name
  std::string model_id;              // content hash of the model file ("" for built-in scorers)
  std::vector<ModalityNeeds> needs;  // [schema.size()]
};

struct ScoreOutput {
  double risk = 0;  // calibrated probability
  double logit = 0;
  std::array<float, kMaxModalities> weight{};  // attention weight or late-fusion contribution
};

// The part of Scorer::score_risks every implementation shares: masked[m] is `risk` where
// modality m is absent, NaN where m is the snapshot's only present modality, and
// rescore(ModalityIndex m) (the risk with m marked absent) otherwise.
template <class Rescore>
void fill_masked_risks(const Snapshot& snapshot, double risk, std::span<double> masked,
                       Rescore&& rescore) {
  std::size_t present = 0;
  for (const ModalitySnapshot& ms : snapshot.modalities) present += ms.present ? 1 : 0;
  for (std::size_t m = 0; m < masked.size(); ++m) {
    if (m >= snapshot.modalities.size() || !snapshot.modalities[m].present) {
      masked[m] = risk;
    } else if (present == 1) {
      masked[m] = std::numeric_limits<double>::quiet_NaN();
    } else {
      masked[m] = rescore(static_cast<ModalityIndex>(m));
    }
  }
}

class ScorerState {
 public:
  virtual ~ScorerState() = default;
};

class Scorer {
 public:
  virtual ~Scorer() = default;
  virtual const ScorerSpec& spec() const = 0;
  // One per shard; the engine never shares it between threads.
  virtual std::unique_ptr<ScorerState> make_state() const = 0;
  // Must not allocate on the heap in steady state.
  virtual void score(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out) const = 0;
  // What a backtest reads: out.risk and out.logit exactly as score() gives them (out.weight
  // may be left zero: the explanation need not be computed), then, for each modality
  // m < masked.size() (an ablation; empty: none), the risk of the same snapshot with m marked
  // absent (ModalitySnapshot{}): the tick's own risk where m is absent, NaN where m is its only
  // present modality (nothing would be left to score). The default scores every variant
  // through score(); a scorer may skip what only the explanation needs and reuse work between
  // the variants, as long as every risk equals score()'s of that snapshot exactly.
  virtual void score_risks(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out,
                           std::span<double> masked) const;
};

// The per-shard records of a scorer that records what it sees (training examples, profile
// samples, a backtest's risks): make_state() gives each shard a record of its own, written
// without locks by that shard's thread; the caller reads them all once the replay is over.
template <class Record>
class ShardRecords {
 public:
  std::shared_ptr<Record> add(std::shared_ptr<Record> record) {
    const std::lock_guard lock(mutex_);
    records_.push_back(record);
    return record;
  }
  std::vector<std::shared_ptr<Record>> all() const {
    const std::lock_guard lock(mutex_);
    return records_;
  }

 private:
  mutable std::mutex mutex_;  // make_state() runs on the shards' threads
  std::vector<std::shared_ptr<Record>> records_;
};

}  // namespace tfe
