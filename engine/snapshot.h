#pragma once
// What a scorer sees at a scoring tick: per modality, presence, age and features, as of time t,
// built only from events with arrival_time <= t.

#include <cstdint>
#include <span>

#include "engine/event.h"

namespace tfe {

// Window statistics of one vitals channel over one window, in this order in feature vectors.
enum class WindowStat : uint8_t { last, mean, std, min, max, slope, count };
inline constexpr std::size_t kWindowStatCount = 7;

struct HistoryItem {
  int64_t age_ms = 0;               // snapshot time - event_time of this event
  std::span<const float> features;  // encoded features of this event (see ModalityEncoder)
};

struct ModalitySnapshot {
  bool present = false;       // any state within the freshness horizon
  int64_t age_ms = 0;         // snapshot time - event_time of the latest event
  int64_t event_time_ms = 0;  // of the latest event
  // Encoded features of the modality's latest state (vitals: window statistics, see
  // vitals_feature_layout(); text/embedding: the encoder's cached output). Empty when absent.
  std::span<const float> features;
  // Up to the modality's history length of most recent events, newest first, each within the
  // freshness horizon (age at most the horizon, as for presence: older ones are evicted state);
  // features of vitals history items are the raw reading, NaN where a channel was not measured.
  // Empty when the scorer declared a history of 0.
  std::span<const HistoryItem> history;
};

struct Snapshot {
  PatientIndex patient = 0;
  int64_t time_ms = 0;                           // score time t
  std::span<const ModalitySnapshot> modalities;  // [schema.size()]
};

}  // namespace tfe
