// Per-event state update, snapshot building and the engine's share of a replay (ward cadence:
// one reading a minute per patient, 6 channels, windows 5m and 15m, ticks every 60 s; and the
// pipeline at a bedside monitor's cadence, one reading a second).
//
//   tfe_state_update_bench --benchmark_counters_tabular=true

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/patient_state.h"
#include "engine/pipeline.h"

namespace tfe {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kStart = 1'700'000'000'000 - 1'700'000'000'000 % kMinute;

EngineConfig ward_config(uint32_t shards = 1) {
  EngineConfig config;
  ModalitySpec wearables;
  wearables.name = "wearables";
  wearables.kind = ModalityKind::vitals;
  wearables.channels = {"hr", "spo2", "rr", "temp", "sbp", "activity"};
  wearables.horizon_ms = 15 * kMinute;
  ModalitySpec notes;
  notes.name = "notes";
  notes.kind = ModalityKind::text;
  notes.horizon_ms = 48 * 60 * kMinute;
  ModalitySpec imaging;
  imaging.name = "imaging";
  imaging.kind = ModalityKind::embedding;
  imaging.dim = 512;
  imaging.horizon_ms = 30LL * 24 * 60 * kMinute;
  config.schema = ModalitySchema({wearables, notes, imaging});
  config.shards = shards;
  return config;
}

// Reads five vitals values, as an early-warning score does; needs vitals only: window
// statistics (reading each channel's `last` of the first window), or with `latest` only each
// channel's newest reading (VitalsFeatures::latest, what NEWS2 declares).
class VitalsOnlyScorer final : public Scorer {
 public:
  explicit VitalsOnlyScorer(bool latest) : stride_(latest ? 1 : kWindowStatCount) {
    spec_.strategy = "bench";
    spec_.needs.resize(3);
    spec_.needs[0].features = true;
    if (latest) {
      spec_.needs[0].vitals = VitalsFeatures::latest;
      spec_.needs[0].latest_within_ms = 5 * kMinute;
      spec_.needs[0].history = 0;
    }
  }
  const ScorerSpec& spec() const override { return spec_; }
  std::unique_ptr<ScorerState> make_state() const override {
    return std::make_unique<ScorerState>();
  }
  void score(const Snapshot& snapshot, ScorerState&, ScoreOutput& out) const override {
    const auto& vitals = snapshot.modalities[0];
    double total = 0;
    if (vitals.present) {
      for (std::size_t c = 0; c < 5; ++c) total += vitals.features[c * stride_];
    }
    out.logit = total;
    out.risk = total > 0 ? 0.5 : 0.0;
    out.weight[0] = 1;
  }

 private:
  ScorerSpec spec_;
  std::size_t stride_;
};

class NullSink final : public ScoreSink {
 public:
  void emit(std::span<const ScoreRecord> scores) override {
    count += scores.size();
    benchmark::DoNotOptimize(scores.data());
  }
  std::size_t count = 0;
};

// The k-th vitals reading of `patients` patients: patient k % patients, cadence_ms apart per
// patient, with a per-patient phase and up to 3 s (at most the cadence) between event and
// arrival; now and then partial.
Event ward_event(uint64_t k, uint32_t patients, std::mt19937& rng, int64_t cadence_ms = kMinute) {
  Event e;
  e.patient = static_cast<PatientIndex>(k % patients);
  e.modality = 0;
  const int64_t reading = static_cast<int64_t>(k / patients);
  const int64_t phase = (e.patient * 7919) % cadence_ms;
  e.arrival_time_ms = kStart + reading * cadence_ms + phase;
  e.event_time_ms =
      e.arrival_time_ms - static_cast<int64_t>(rng() % std::min<int64_t>(3000, cadence_ms));
  e.source_seq = k;
  e.vitals.present_mask = (k % 7 == 0) ? 0b000111u : 0b111111u;
  const float base[] = {80, 96, 16, 37, 120, 2};
  for (std::size_t c = 0; c < 6; ++c) {
    e.vitals.values[c] = base[c] + static_cast<float>(rng() % 100) * 0.05f;
  }
  return e;
}

// `minutes` of readings in arrival order, one per patient every cadence_ms.
std::vector<Event> ward_events(uint32_t patients, uint32_t minutes, uint32_t seed,
                               int64_t cadence_ms = kMinute) {
  std::mt19937 rng(seed);
  std::vector<Event> events;
  const uint64_t per_patient = static_cast<uint64_t>(minutes * kMinute / cadence_ms);
  for (uint64_t k = 0; k < uint64_t{patients} * per_patient; ++k) {
    events.push_back(ward_event(k, patients, rng, cadence_ms));
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.arrival_time_ms < b.arrival_time_ms;
  });
  return events;
}

const StateLayout& ward_layout(bool latest) {
  static const StateLayout windowed =
      StateLayout::make(ward_config(), VitalsOnlyScorer(false).spec()).value();
  static const StateLayout current =
      StateLayout::make(ward_config(), VitalsOnlyScorer(true).spec()).value();
  return latest ? current : windowed;
}

const char* mode_label(bool latest) { return latest ? "latest values" : "window statistics"; }

// One vitals event applied to one patient's state (evict + ring append + window sums;
// range(1) = 1: each channel's newest reading only), over range(0) patients in arrival
// order.
void BM_VitalsStateUpdate(benchmark::State& state) {
  const auto patients = static_cast<uint32_t>(state.range(0));
  const bool latest = state.range(1) != 0;
  state.SetLabel(mode_label(latest));
  const StateLayout& layout = ward_layout(latest);
  std::vector<PatientState> states;
  for (uint32_t p = 0; p < patients; ++p) states.emplace_back(layout);
  // Pre-generated readings (cycled with shifted times) keep generation out of the measurement.
  const uint32_t minutes = std::max<uint32_t>(60, (1u << 16) / patients);
  std::vector<Event> events = ward_events(patients, minutes, 42);
  const uint64_t n = events.size();
  const int64_t cycle_ms = int64_t{minutes} * kMinute;
  uint64_t k = 0;
  int64_t shift = 0;
  for (auto _ : state) {
    Event& e = events[k];
    e.event_time_ms += shift;
    e.arrival_time_ms += shift;
    states[e.patient].apply(layout, e);
    e.event_time_ms -= shift;
    e.arrival_time_ms -= shift;
    if (++k == n) {
      k = 0;
      shift += cycle_ms;
    }
  }
  std::size_t bytes = 0;
  for (const auto& s : states) bytes += s.state_bytes(layout) + sizeof(PatientState);
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_patient"] = static_cast<double>(bytes) / patients;
}
BENCHMARK(BM_VitalsStateUpdate)->ArgsProduct({{1, 10'000}, {0, 1}});

// Building the snapshot (eviction and 2 x 6 x 7 window statistics, or range(1) = 1: 6 current
// values) of a ward patient.
void BM_SnapshotBuild(benchmark::State& state) {
  const auto patients = static_cast<uint32_t>(state.range(0));
  const bool latest = state.range(1) != 0;
  state.SetLabel(mode_label(latest));
  const StateLayout& layout = ward_layout(latest);
  std::vector<PatientState> states;
  for (uint32_t p = 0; p < patients; ++p) states.emplace_back(layout);
  for (const Event& e : ward_events(patients, 20, 7)) states[e.patient].apply(layout, e);
  SnapshotScratch scratch(layout);
  const int64_t t = kStart + 20 * kMinute;
  uint32_t p = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(states[p].snapshot(layout, p, t, scratch));
    benchmark::DoNotOptimize(scratch.snapshot().modalities[0].features.data());
    if (++p == patients) p = 0;
  }
  std::size_t bytes = 0;
  for (const auto& s : states) bytes += s.state_bytes(layout) + sizeof(PatientState);
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_patient"] = static_cast<double>(bytes) / patients;
}
BENCHMARK(BM_SnapshotBuild)->ArgsProduct({{1, 10'000}, {0, 1}});

// The engine's share of a replay: push, reorder buffer, shard run, one tick per patient-minute
// with snapshot and scoring, record assembly and emission (no decoding, no output formatting).
// range(0) patients, range(1) shards, range(2) = 1: the scorer reads current values only;
// advance every 4096 events.
void run_pipeline(benchmark::State& state, int64_t cadence_ms) {
  const auto patients = static_cast<uint32_t>(state.range(0));
  const auto shards = static_cast<uint32_t>(state.range(1));
  const bool latest = state.range(2) != 0;
  state.SetLabel(mode_label(latest));
  PatientRegistry registry;
  for (uint32_t p = 0; p < patients; ++p) registry.intern("patient-" + std::to_string(p));
  NullSink sink;
  Pipeline pipeline(ward_config(shards), std::make_shared<VitalsOnlyScorer>(latest), registry,
                    sink);
  // Sixteen minutes of readings, cycled with shifted times; each push copies one (as a decoder
  // hands over a fresh event).
  const std::vector<Event> events = ward_events(patients, 16, 3, cadence_ms);
  const uint64_t n = events.size();
  const int64_t cycle_ms = 16 * kMinute;
  uint64_t k = 0;
  uint64_t i = 0;
  int64_t shift = 0;
  for (auto _ : state) {
    Event e = events[i];
    e.event_time_ms += shift;
    e.arrival_time_ms += shift;
    e.source_seq = k;
    const int64_t arrival = e.arrival_time_ms;
    pipeline.push(std::move(e));
    if (++k % 4096 == 0) pipeline.advance(arrival);
    if (++i == n) {
      i = 0;
      shift += cycle_ms;
    }
  }
  pipeline.finish();
  const PipelineStats stats = pipeline.stats();
  state.SetItemsProcessed(state.iterations());
  state.counters["ticks_per_event"] =
      static_cast<double>(stats.ticks) / static_cast<double>(std::max<uint64_t>(k, 1));
  state.counters["bytes_per_patient"] =
      static_cast<double>(stats.state_bytes) /
      static_cast<double>(std::max<uint64_t>(stats.active_patients, 1));
}

// Ward: a reading a minute, about one tick per event.
void BM_PipelineWard(benchmark::State& state) { run_pipeline(state, kMinute); }
// Bedside monitor (icu): a reading a second, a tick per 60 events; each patient's windows hold
// about 900 readings, tens of kilobytes of state.
void BM_PipelineBedside(benchmark::State& state) { run_pipeline(state, 1000); }

BENCHMARK(BM_PipelineBedside)->Args({40, 1, 0})->Args({400, 1, 0})->UseRealTime();
BENCHMARK(BM_PipelineWard)
    ->Args({100, 1, 0})
    ->Args({1000, 1, 0})
    ->Args({10'000, 1, 0})
    ->Args({10'000, 2, 0})
    ->Args({1000, 1, 1})
    ->Args({10'000, 1, 1})
    ->UseRealTime();

}  // namespace
}  // namespace tfe

BENCHMARK_MAIN();
