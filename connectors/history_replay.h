#pragma once
// Replaying a history through the engine: the one driver behind `tfe replay`, `tfe train`,
// backtests and the profiler, so every consumer of a history sees the pipeline the live service
// runs. Events apply in arrival order (ties in source order); the replay clock is the newest
// arrival time seen, moved forward every `advance_every` events, whenever history time has
// advanced by more than a tick cadence, and before an event that arrives out of order (whether
// it is late then depends on the history alone, not on `advance_every` or the pace).

#include <cassert>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "connectors/dead_letter.h"
#include "connectors/packed_events.h"
#include "engine/config.h"
#include "engine/event.h"
#include "engine/patient_registry.h"
#include "engine/pipeline.h"
#include "engine/result.h"
#include "engine/scorer.h"

namespace tfe {

struct ReplayOptions {
  // History milliseconds per wall millisecond (60: one hour per minute); 0 runs as fast as
  // possible.
  double pace = 0;
  // Events pushed between two advances of the replay clock.
  uint32_t advance_every = 4096;
  // False: every tick is scored but no score reaches the sink, for a scorer that records what
  // it needs itself (PipelineStats::ticks counts them).
  bool emit_scores = true;
  // Called about once a second with the events replayed so far; returning false stops the
  // replay early (what was pushed is still finished).
  std::function<bool(uint64_t events)> progress;
};

struct ReplayStats {
  uint64_t events = 0;        // events pushed into the pipeline
  uint64_t dead_letters = 0;  // bad records of the sources (to the dead-letter sink)
  uint64_t unknown_channels = 0;
  double seconds = 0;  // wall time of the replay
  bool stopped_early = false;
  PipelineStats pipeline;
};

// Streams the history files (JSONL or binary log by extension; several are merged by arrival
// time) through one pipeline with `scorer`; scores go to `scores`, bad records to `dead`.
// Fails on an unreadable file; bad records never fail the replay.
Result<ReplayStats> replay_history(const std::vector<std::string>& paths,
                                   const EngineConfig& config, std::shared_ptr<const Scorer> scorer,
                                   PatientRegistry& registry, ScoreSink& scores,
                                   DeadLetterSink& dead, const ReplayOptions& options = {});

// Reads a whole history into memory, in arrival order (ties in source order), for consumers that
// replay it several times (several models, stress variants, training epochs). `Events` is
// std::vector<Event> (History: consumers that index or edit events) or PackedEvents
// (PackedHistory: a third of the memory, for replays alone).
template <class Events>
struct BasicHistory {
  Events events;
  uint64_t dead_letters = 0;
  uint64_t unknown_channels = 0;
};
using History = BasicHistory<std::vector<Event>>;
using PackedHistory = BasicHistory<PackedEvents>;
Result<History> load_history(const std::vector<std::string>& paths, const EngineConfig& config,
                             PatientRegistry& registry, DeadLetterSink& dead);
Result<PackedHistory> load_packed_history(const std::vector<std::string>& paths,
                                          const EngineConfig& config, PatientRegistry& registry,
                                          DeadLetterSink& dead);

// One event of a history replayed in another order: events[index], arriving at arrival_ms.
struct Rearrival {
  std::size_t index = 0;
  int64_t arrival_ms = 0;
};

// An event's fixed fields, without its payload: what passes over a history that need no features
// read (outcomes, arrival times, the order of a stress variant).
struct EventHeader {
  PatientIndex patient = 0;
  ModalityIndex modality = 0;
  int64_t event_time_ms = 0;
  int64_t arrival_time_ms = 0;  // the history's own, whatever the sequence's order
  uint64_t source_seq = 0;
};

// Events in replay order: a span or a packed history already in that order, or the events of
// either rearranged by Rearrival entries, so that a variant with moved arrival times (a stress
// test) replays without a copy of the history.
class ReplaySequence {
 public:
  // Implicit: events in replay order already are a sequence as they are.
  ReplaySequence(std::span<const Event> events) : events_(events) {}
  ReplaySequence(const std::vector<Event>& events) : events_(events) {}
  ReplaySequence(const PackedEvents& events) : packed_(&events) {}

  // These events in the order `order` gives (indices into this sequence, which must not be
  // rearranged itself).
  ReplaySequence rearranged(std::span<const Rearrival> order) const {
    assert(!rearranged_);
    ReplaySequence out = *this;
    out.order_ = order;
    out.rearranged_ = true;
    return out;
  }

  std::size_t size() const {
    if (rearranged_) return order_.size();
    return packed_ != nullptr ? packed_->size() : events_.size();
  }
  // Calls fn(event, arrival_ms) in replay order while it returns true.
  template <class Fn>
  void for_each(Fn&& fn) const {
    if (packed_ != nullptr) {
      if (!rearranged_) {
        packed_->for_each([&](const Event& e) { return fn(e, e.arrival_time_ms); });
        return;
      }
      Event event;
      for (const Rearrival& r : order_) {
        packed_->decode(r.index, event);
        if (!fn(static_cast<const Event&>(event), r.arrival_ms)) return;
      }
      return;
    }
    if (!rearranged_) {
      for (const Event& e : events_) {
        if (!fn(e, e.arrival_time_ms)) return;
      }
      return;
    }
    for (const Rearrival& r : order_) {
      if (!fn(events_[r.index], r.arrival_ms)) return;
    }
  }

  // Calls fn(header, arrival_ms) in replay order while it returns true: for_each without decoding
  // any payload (a packed history's columns are read as they are).
  template <class Fn>
  void for_each_header(Fn&& fn) const {
    const auto header = [&](std::size_t i) {
      if (packed_ != nullptr) {
        return EventHeader{packed_->patient(i), packed_->modality(i), packed_->event_time_ms(i),
                           packed_->arrival_time_ms(i), packed_->source_seq(i)};
      }
      const Event& e = events_[i];
      return EventHeader{e.patient, e.modality, e.event_time_ms, e.arrival_time_ms, e.source_seq};
    };
    if (!rearranged_) {
      const std::size_t n = size();
      for (std::size_t i = 0; i < n; ++i) {
        const EventHeader h = header(i);
        if (!fn(h, h.arrival_time_ms)) return;
      }
      return;
    }
    for (const Rearrival& r : order_) {
      if (!fn(header(r.index), r.arrival_ms)) return;
    }
  }

 private:
  std::span<const Event> events_;
  const PackedEvents* packed_ = nullptr;
  std::span<const Rearrival> order_;
  bool rearranged_ = false;
};

// Replays events already in memory (sorted by arrival time, then source_seq) through one
// pipeline. `registry` must hold every patient the events name.
ReplayStats replay_events(const ReplaySequence& events, const EngineConfig& config,
                          std::shared_ptr<const Scorer> scorer, const PatientRegistry& registry,
                          ScoreSink& scores, const ReplayOptions& options = {});

// Sorts events into replay order: arrival time, then source_seq. Stable for equal keys.
void sort_for_replay(std::vector<Event>& events);

// Interns the patients of `history` (indices of `from`) that have an event into the empty
// registry `to` in the order of their ids and renumbers the events to match, so that patient
// indices, and whatever is drawn over them (bootstrap replicates), depend on which records a
// history holds and not on the order its sources delivered them (Kafka partitions interleave
// differently on every read).
void reindex_patients_by_id(History& history, const PatientRegistry& from, PatientRegistry& to);
void reindex_patients_by_id(PackedHistory& history, const PatientRegistry& from,
                            PatientRegistry& to);

}  // namespace tfe
