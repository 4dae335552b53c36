#pragma once
// The event model: one decoded record of one modality for one patient, with its two times.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/modality.h"

namespace tfe {

// Dense index of an interned patient id (see PatientRegistry).
using PatientIndex = uint32_t;

// Event and arrival times are epoch milliseconds from 1970-01-01 to 9999-12-31T23:59:59.999Z
// (the latest, below). Bounds keep time arithmetic far from overflow.
inline constexpr int64_t kMaxTimeMs = 253'402'300'799'999;

struct VitalsReading {
  uint32_t present_mask = 0;               // bit c set: channel c measured in this reading
  std::array<float, kMaxChannels> values;  // meaningful where present_mask has the bit
};

struct Event {
  PatientIndex patient = 0;
  ModalityIndex modality = 0;    // kOutcomeModality for outcome events
  int64_t event_time_ms = 0;     // when it happened clinically
  int64_t arrival_time_ms = 0;   // when the engine could first know it
  uint64_t source_seq = 0;       // order within the source: ties in arrival time keep it
  VitalsReading vitals;          // kind vitals
  std::string text;              // kind text (may be empty)
  std::vector<float> embedding;  // kind text (optional) or embedding
  std::string label;             // outcome events
};

// Returns `event` to the default state for a decoder to fill again, cheaper than `event = Event{}`
// in a hot loop: the vitals values are left as they are (they only count where present_mask has
// the bit, and decoders write every channel) and the strings and vector keep their capacity.
inline void reset_event(Event& event) {
  event.patient = 0;
  event.modality = 0;
  event.event_time_ms = 0;
  event.arrival_time_ms = 0;
  event.source_seq = 0;
  event.vitals.present_mask = 0;
  event.text.clear();
  event.embedding.clear();
  event.label.clear();
}

}  // namespace tfe
