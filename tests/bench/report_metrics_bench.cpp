// Backtest metrics at ward scale: 2 million ticks over 10,000 patients (200 ticks each), risks on
// continuous (BM_Bootstrap200Tied: on a 1e-3 grid, so ties are common), three modalities.
//   BM_AurocAuprc        one sort and one pass (the point estimates)
//   BM_Bootstrap200      the point estimates and a 200-replicate patient bootstrap, no subgroups
//   BM_EvaluateFull      everything a report shows for one model: bootstrap for the overall group
//                        and every subgroup, calibration, four thresholds and the alert-rate one
//   BM_CompareStress200  one stress comparison with a 200-replicate paired bootstrap

#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include "tools/report/metrics.h"

namespace {

using namespace tfe::report;

constexpr uint32_t kPatients = 10'000;
constexpr uint32_t kTicksPerPatient = 200;
constexpr int64_t kCadence = 60'000;

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// grid > 0: risks rounded to multiples of 1 / grid (ties); 0: continuous risks (few ties).
TickTable make_table(uint64_t seed, double noise, double grid) {
  std::mt19937_64 rng(seed);
  std::vector<ScoredTick> ticks;
  ticks.reserve(static_cast<std::size_t>(kPatients) * kTicksPerPatient);
  std::vector<OutcomeEvent> outcomes;
  for (uint32_t p = 0; p < kPatients; ++p) {
    const bool event = uniform01(rng) < 0.1;
    const int64_t outcome = static_cast<int64_t>(kTicksPerPatient) * kCadence;
    if (event) outcomes.push_back({p, outcome});
    double level = uniform01(rng) - 0.5;
    const auto mask = static_cast<uint32_t>(1 + uniform_below(rng, 7));
    for (uint32_t k = 0; k < kTicksPerPatient; ++k) {
      const int64_t t = static_cast<int64_t>(k) * kCadence;
      level = 0.95 * level + noise * (uniform01(rng) - 0.5);
      const double signal = event ? 3.0 * static_cast<double>(k) / kTicksPerPatient : 0.0;
      const double risk = 1.0 / (1.0 + std::exp(-(-3.0 + signal + 2.0 * level)));
      ScoredTick tick;
      tick.patient = p;
      tick.score_time_ms = t;
      tick.risk = grid > 0 ? std::round(risk * grid) / grid : risk;
      tick.present_mask = k % 50 < 40 ? mask : (mask & 0b110u);
      ticks.push_back(tick);
    }
  }
  return build_labels(std::move(ticks), outcomes, kPatients, 60 * kCadence, kCadence).value();
}

const TickTable& table() {
  static const TickTable t = make_table(1, 0.6, 0);
  return t;
}

const TickTable& tied_table() {
  static const TickTable t = make_table(1, 0.6, 1e3);
  return t;
}

void BM_AurocAuprc(benchmark::State& state) {
  const TickTable& t = table();
  std::vector<double> risk;
  std::vector<uint8_t> label;
  for (const ScoredTick& tick : t.ticks()) {
    risk.push_back(tick.risk);
    label.push_back(tick.label ? 1 : 0);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(auroc(risk, label));
    benchmark::DoNotOptimize(average_precision(risk, label));
  }
  state.counters["ticks"] = static_cast<double>(risk.size());
}
BENCHMARK(BM_AurocAuprc)->Unit(benchmark::kMillisecond);

void BM_Bootstrap200(benchmark::State& state) {
  EvaluationOptions options;
  options.bootstrap_replicates = 200;
  options.subgroups = false;
  options.thresholds.clear();
  options.target_alerts_per_patient_day = 0;
  for (auto _ : state) benchmark::DoNotOptimize(evaluate(table(), options));
  state.counters["ticks"] = static_cast<double>(table().size());
}
BENCHMARK(BM_Bootstrap200)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Bootstrap200Tied(benchmark::State& state) {
  EvaluationOptions options;
  options.bootstrap_replicates = 200;
  options.subgroups = false;
  options.thresholds.clear();
  options.target_alerts_per_patient_day = 0;
  for (auto _ : state) benchmark::DoNotOptimize(evaluate(tied_table(), options));
  state.counters["ticks"] = static_cast<double>(tied_table().size());
}
BENCHMARK(BM_Bootstrap200Tied)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_EvaluateFull(benchmark::State& state) {
  EvaluationOptions options;
  options.bootstrap_replicates = 200;
  for (auto _ : state) benchmark::DoNotOptimize(evaluate(table(), options));
  state.counters["ticks"] = static_cast<double>(table().size());
}
BENCHMARK(BM_EvaluateFull)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_CompareStress200(benchmark::State& state) {
  static const TickTable stressed = make_table(1, 0.9, 0);
  EvaluationOptions options;
  options.bootstrap_replicates = 200;
  for (auto _ : state) benchmark::DoNotOptimize(compare(table(), stressed, options));
}
BENCHMARK(BM_CompareStress200)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
