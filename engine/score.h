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

// Counts scores and keeps none: for runs that only measure, or whose scorer records what it
// needs from the snapshots itself (training, profiling).
class CountingScoreSink final : public ScoreSink {
 public:
  void emit(std::span<const ScoreRecord> scores) override { count_ += scores.size(); }
  uint64_t count() const { return count_; }

 private:
  uint64_t count_ = 0;
};

}  // namespace tfe
