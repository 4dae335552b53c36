#pragma once
// Per-patient state and snapshots.
//
// Per modality a patient holds the newest event time and arrival, a bounded history ring (the
// last `history` events in event-time order, with their encoded features when the scorer needs
// them) and, for vitals, either incremental window statistics (window_stats.h) or, when the
// scorer reads only current values (VitalsFeatures::latest), each channel's newest reading.
// "Newest" is by event time (equal times: the later applied). A snapshot at t reports, per
// modality, presence (the newest event's age t - event_time is at most the freshness horizon), age
// (0 for an event stamped ahead of t), features and history (newest first, the items within the
// horizon: older ones are dropped, as a restore would never have replayed them). Features of
// text/embedding: the encoder's output cached when the event was applied, else the raw vector
// (zeros for a text event without its optional upstream embedding).
//
// Leakage rule: the state only ever holds events that were applied, and the caller applies an
// event only once the engine time has reached its arrival_time (see pipeline.h): a snapshot at t
// is a function of the events with arrival_time <= t alone.
//
// Memory: nothing is stored for a modality whose features the scorer does not need beyond its
// times; a modality whose newest event is older than its horizon at a snapshot (or at the arrival
// of its next event) is released; an event already older than its horizon at arrival is ignored,
// since it can never be present.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/config.h"
#include "engine/event.h"
#include "engine/result.h"
#include "engine/scorer.h"
#include "engine/snapshot.h"
#include "engine/window_stats.h"

namespace tfe {

// How one modality is stored, shared by every patient (from the config and the scorer's needs).
struct ModalityStorage {
  ModalityKind kind = ModalityKind::vitals;
  int64_t horizon_ms = 0;
  uint32_t history = 1;        // history ring length: max(spec.history, needs.history), >= 1
  bool expose_history = true;  // needs.history > 0: snapshots list the ring's items
  bool features = false;       // ScorerSpec::needs[m].features
  // Floats kept per history item: vitals the raw reading [channels] (NaN where not measured),
  // text/embedding the encoder output [encoder->dim()] or the raw vector [spec.dim]. 0 without
  // features.
  uint32_t item_dim = 0;
  uint32_t raw_dim = 0;  // spec.dim (text: upstream embedding length, 0 for none)
  std::shared_ptr<const ModalityEncoder> encoder;
  // Vitals with features: window statistics (windows) or each channel's latest reading.
  VitalsFeatures vitals_features = VitalsFeatures::window_stats;
  VitalsWindowsShape windows;    // VitalsFeatures::window_stats
  uint32_t latest_channels = 0;  // VitalsFeatures::latest: channels tracked
  int64_t latest_within_ms = 0;  // VitalsFeatures::latest: oldest reading reported
  // Floats of ModalitySnapshot::features: windows.feature_count() or latest_channels for vitals,
  // item_dim otherwise.
  uint32_t snapshot_dim = 0;
  // Where this modality's vitals features and history items go in a SnapshotScratch.
  std::size_t scratch_feature_offset = 0;
  std::size_t scratch_history_offset = 0;
};

class StateLayout {
 public:
  // Errc::invalid_argument when the scorer's needs do not match the schema (one per modality)
  // or an encoder has dimension 0.
  static Result<StateLayout> make(const EngineConfig& config, const ScorerSpec& spec);

  std::size_t size() const { return modalities_.size(); }
  const ModalityStorage& operator[](std::size_t m) const { return modalities_[m]; }
  // Scratch a snapshot needs: vitals feature floats and history items over all modalities.
  std::size_t scratch_floats() const { return scratch_floats_; }
  std::size_t scratch_history() const { return scratch_history_; }

 private:
  std::vector<ModalityStorage> modalities_;
  std::size_t scratch_floats_ = 0;
  std::size_t scratch_history_ = 0;
};

// Buffers a snapshot is built in; one per shard, reused for every tick (no allocation per tick).
class SnapshotScratch {
 public:
  explicit SnapshotScratch(const StateLayout& layout);
  const Snapshot& snapshot() const { return snapshot_; }

 private:
  friend class PatientState;
  std::vector<ModalitySnapshot> modalities_;  // [layout.size()]
  std::vector<float> features_;               // vitals window features, all modalities
  std::vector<HistoryItem> history_;          // all modalities
  Snapshot snapshot_;
};

class PatientState {
 public:
  PatientState();  // inactive: holds nothing
  explicit PatientState(const StateLayout& layout);
  PatientState(PatientState&&) noexcept;
  PatientState& operator=(PatientState&&) noexcept;
  ~PatientState();

  bool active() const { return modalities_ != nullptr; }
  // Releases everything (the patient is evicted).
  void reset();

  // Applies one event at engine time event.arrival_time_ms. The event's modality must be a
  // configured one (not kOutcomeModality). No heap allocation for vitals in steady state.
  void apply(const StateLayout& layout, const Event& event);

  // Evicts what is out of window or horizon at t, then builds the snapshot as of t into scratch
  // (valid until the next apply or snapshot on the same scratch). t must not precede the arrival
  // time of an event already applied. Returns the number of modalities present.
  std::size_t snapshot(const StateLayout& layout, PatientIndex patient, int64_t t_ms,
                       SnapshotScratch& scratch);

  // Cache hints for a loop over many patients: prefetch_header() some iterations ahead, then
  // prefetch_state() (which reads what the first one fetched) a few iterations ahead of
  // apply()/snapshot(). modality: the one an event will touch, or kAllModalities for a tick.
  static constexpr std::size_t kAllModalities = ~std::size_t{0};
  void prefetch_header(const StateLayout& layout) const;
  void prefetch_state(const StateLayout& layout, std::size_t modality) const;

  // Heap bytes held by this patient's state (allocator-rounded), excluding sizeof(*this).
  std::size_t state_bytes(const StateLayout& layout) const;

 private:
  struct ModalityState;
  std::unique_ptr<ModalityState[]> modalities_;  // [layout.size()]
};

}  // namespace tfe
