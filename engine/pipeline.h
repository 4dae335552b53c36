#pragma once
// The one ingest -> state -> scorer path shared by the live service, replay backtests and training.
// Only the source (who calls push/advance), the sink and the clock differ.

#include <cstdint>
#include <memory>

#include "engine/config.h"
#include "engine/event.h"
#include "engine/patient_registry.h"
#include "engine/score.h"
#include "engine/scorer.h"

namespace tfe {

struct PipelineStats {
  uint64_t events_applied = 0;
  uint64_t late_events = 0;  // arrived behind the released clock; applied on arrival
  uint64_t outcome_events = 0;
  uint64_t ticks = 0;  // snapshots scored
  uint64_t scores_emitted = 0;
  uint64_t patients_evicted = 0;
  uint64_t active_patients = 0;
  uint64_t state_bytes = 0;  // heap bytes held by all patient state
  int64_t clock_ms = 0;      // released engine time
};

class Pipeline {
 public:
  // registry must outlive the pipeline; sink receives scores in canonical order.
  Pipeline(EngineConfig config, std::shared_ptr<const Scorer> scorer,
           const PatientRegistry& registry, ScoreSink& sink);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Buffers one event. Events with equal arrival_time apply in source_seq order.
  void push(const Event& event);
  void push(Event&& event);
  // Moves engine time to clock_ms (replay: the newest arrival time; live: the watermark). Applies
  // buffered events and fires ticks up to clock_ms - allowed lateness, in time order, on the shard
  // workers; emits the resulting scores before returning. Blocks until done.
  void advance(int64_t clock_ms);
  // The end of a finite history: applies everything buffered and fires the ticks up to the last
  // clock, those the allowed lateness still held back included; fires no tick beyond it.
  void finish();
  // While false, ticks are computed but not emitted (restore replays state without output).
  void set_emitting(bool emitting);

  // With state bytes, every patient's state is walked (O(patients)); the counters alone are O(1).
  PipelineStats stats(bool with_state_bytes = true) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tfe
