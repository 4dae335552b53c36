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

}  // namespace tfe
