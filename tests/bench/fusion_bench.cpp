// Fusion operators: per-score latency of each strategy with the default modalities (6 vitals
// channels x 2 windows, 256-d hashed text, 512-d imaging), d_model 32, 2 heads, K = 1, encoders
// cached (staged form), and the batch path over 10,000 snapshots. Reports heap allocations per
// score (must be 0). Results and command: docs/performance.md, "Fusion operators".

#include "tests/support/alloc_counter.h"

#include <benchmark/benchmark.h>

#include <vector>

#include "operators/fusion_operator.h"
#include "operators/model_file.h"
#include "tests/operators/fusion_test_support.h"

namespace tfe {
namespace {

constexpr std::size_t kBatch = 10'000;

struct Setup {
  EngineConfig config = test::default_engine_config();
  std::shared_ptr<const FusionOperator> op;
  std::vector<test::SnapshotCase> cases;
  std::vector<Snapshot> snapshots;

  Setup(Strategy strategy, float p_notes, float p_imaging) {
    ModelConfig arch;
    arch.strategy = strategy;
    auto model = init_model(arch, config, 1);
    op = FusionOperator::create(std::make_shared<FusionModel>(std::move(model).value()), config)
             .value();
    test::TestRng rng(2);
    cases.reserve(kBatch);
    for (std::size_t i = 0; i < kBatch; ++i) {
      cases.push_back(
          test::random_case(rng, *op, {true, rng.chance(p_notes), rng.chance(p_imaging)}));
      // Keep only what the staged snapshot points at.
      for (auto& r : cases.back().raw) r.clear();
      cases.back().raw_mods.clear();
    }
    for (const auto& c : cases) snapshots.push_back(Snapshot{0, c.time_ms, c.staged_mods});
  }
};

// Single scores, cycling through `patients` different patients' snapshots (10,000: each
// snapshot's features come from memory, as in a ward-sized tick; 64: they stay in cache).
void BM_Score(benchmark::State& state, Strategy strategy, float p_notes, float p_imaging,
              std::size_t patients) {
  Setup s(strategy, p_notes, p_imaging);
  s.snapshots.resize(patients);
  auto scratch = s.op->make_state();
  ScoreOutput out;
  std::size_t i = 0;
  uint64_t allocations = 0;
  for (auto _ : state) {
    test::start_counting();
    s.op->score(s.snapshots[i], *scratch, out);
    allocations += test::stop_counting();
    benchmark::DoNotOptimize(out);
    if (++i == s.snapshots.size()) i = 0;
  }
  state.counters["allocs_per_score"] = benchmark::Counter(static_cast<double>(allocations) /
                                                          static_cast<double>(state.iterations()));
}

// The batch path: 10,000 snapshots per call; reported per score and per batch.
void BM_ScoreBatch(benchmark::State& state, Strategy strategy) {
  Setup s(strategy, 1.0f, 1.0f);
  auto scratch = s.op->make_state();
  std::vector<ScoreOutput> out(s.snapshots.size());
  uint64_t allocations = 0;
  for (auto _ : state) {
    test::start_counting();
    s.op->score_batch(s.snapshots, *scratch, out);
    allocations += test::stop_counting();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(s.snapshots.size()));
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(allocations));
}

// Encoding one event for the cache (runs once per event, never per tick).
void BM_EncodeEvent(benchmark::State& state, Strategy strategy, std::size_t modality) {
  Setup s(strategy, 1.0f, 1.0f);
  const auto& encoder = s.op->spec().needs[modality].encoder;
  test::TestRng rng(4);
  const Event e = test::random_event(rng, s.op->model().schema.modalities[modality]);
  std::vector<float> out(encoder->dim());
  for (auto _ : state) {
    encoder->encode(e, out);
    benchmark::DoNotOptimize(out.data());
  }
}

#define TFE_FUSION_BENCH(S)                                                                    \
  BENCHMARK_CAPTURE(BM_Score, S##_all_present_10k, Strategy::S, 1.0f, 1.0f, kBatch);           \
  BENCHMARK_CAPTURE(BM_Score, S##_all_present_64, Strategy::S, 1.0f, 1.0f, 64);                \
  BENCHMARK_CAPTURE(BM_Score, S##_ward_mix_10k, Strategy::S, 0.3f, 0.05f, kBatch);             \
  BENCHMARK_CAPTURE(BM_ScoreBatch, S##_10k, Strategy::S)->Unit(benchmark::kMillisecond);       \
  BENCHMARK_CAPTURE(BM_EncodeEvent, S##_notes, Strategy::S, 1)->Unit(benchmark::kMicrosecond); \
  BENCHMARK_CAPTURE(BM_EncodeEvent, S##_imaging, Strategy::S, 2)->Unit(benchmark::kMicrosecond)

TFE_FUSION_BENCH(early);
TFE_FUSION_BENCH(intermediate);
TFE_FUSION_BENCH(late);
TFE_FUSION_BENCH(attention);

}  // namespace
}  // namespace tfe

BENCHMARK_MAIN();
