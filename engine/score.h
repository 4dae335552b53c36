#pragma once
// Scores leaving the engine, and the sink interface every output (file, Kafka, report) implements.

#include <array>
#include <cstdint>
#include <span>

#include "engine/event.h"

namespace tfe {

// Laid out largest first: 16 bytes, and a score record is written per tick.
struct ModalityScoreInfo {
  int64_t age_ms = 0;
  float weight = 0;
  bool present = false;
};

struct ScoreRecord {
  PatientIndex patient = 0;
  int64_t score_time_ms = 0;
  double risk = 0;
  double logit = 0;
  std::array<ModalityScoreInfo, kMaxModalities> modalities{};  // [schema.size()] used
};

class ScoreSink {
 public:
  virtual ~ScoreSink() = default;
  // Called from one thread, in canonical order (score_time, then patient index).
  virtual void emit(std::span<const ScoreRecord> scores) = 0;
  virtual void flush() {}
};

}  // namespace tfe
