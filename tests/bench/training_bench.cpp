// Training throughput per core: forward and backward passes over recorded examples (raw feature
// form, as the trainer sees them) for each strategy with the default modalities (6 vitals
// channels x 2 windows, 256-d hashed text, 512-d imaging), d_model 32, 2 heads, K = 1, every
// modality present. One thread; items per second = examples per second per core. Results and
// command: docs/performance.md, "Training".

#include <benchmark/benchmark.h>

#include <numeric>
#include <vector>

#include "operators/trainer.h"
#include "tests/operators/fusion_test_support.h"

namespace tfe {
namespace {

constexpr uint32_t kExamples = 4096;
constexpr uint32_t kBatch = 256;

struct Setup {
  EngineConfig config = test::default_engine_config();
  FusionModel model;
  ExampleSet data;
  std::vector<uint32_t> order;
  std::vector<uint32_t> keep;

  explicit Setup(Strategy strategy) {
    ModelConfig arch;
    arch.strategy = strategy;
    model = init_model(arch, config, 1).value();
    data = ExampleSet(model.schema);
    test::TestRng rng(3);
    // As recorded from a ward: a vitals row per tick, notes and images shared by many ticks.
    std::vector<uint32_t> notes, images;
    for (int i = 0; i < 64; ++i) {
      std::vector<float> note(256, 0.0f);
      add_hashed_text_features(test::random_text(rng), note);
      notes.push_back(data.add_row(1, note));
    }
    for (int i = 0; i < 16; ++i) {
      std::vector<float> image(512);
      for (float& v : image) v = rng.uniform(-1.0f, 1.0f);
      images.push_back(data.add_row(2, image));
    }
    for (uint32_t e = 0; e < kExamples; ++e) {
      Example ex;
      ex.patient = e / 64;
      ex.time_ms = 1'700'000'000'000 + e * 60'000;
      ex.first_item = static_cast<uint32_t>(data.items.size());
      ex.label = rng.chance(0.05f) ? 1 : 0;
      data.items.push_back({20'000, data.add_row(0, test::random_vitals(rng, 2, 6)), 0});
      data.items.push_back({3'600'000, notes[rng.below(64)], 1});
      data.items.push_back({86'400'000, images[rng.below(16)], 2});
      data.examples.push_back(ex);
    }
    fit_statistics(model, data);
    order.resize(kExamples);
    std::iota(order.begin(), order.end(), 0u);
    keep.assign(kExamples, ~0u);
  }
};

void BM_TrainForwardBackward(benchmark::State& state) {
  Setup s(static_cast<Strategy>(state.range(0)));
  const DerivedWeights derived = derive_weights(s.model);
  ExampleScratch scratch(s.model);
  std::vector<float> grad(s.model.weights.size(), 0.0f);
  uint32_t at = 0;
  for (auto _ : state) {
    const std::span<const uint32_t> batch(s.order.data() + at, kBatch);
    const double loss = accumulate_gradient(s.model, derived, s.data, batch,
                                            std::span<const uint32_t>(s.keep).subspan(at, kBatch),
                                            10.0f, 1.0f / kBatch, scratch, grad);
    benchmark::DoNotOptimize(loss);
    at = (at + kBatch) % kExamples;
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetLabel(std::string(to_string(s.model.strategy())));
}

void BM_TrainForwardOnly(benchmark::State& state) {
  Setup s(static_cast<Strategy>(state.range(0)));
  std::vector<double> logit(kBatch);
  uint32_t at = 0;
  for (auto _ : state) {
    predict_logits(s.model, s.data, std::span<const uint32_t>(s.order).subspan(at, kBatch), 0, 1,
                   logit);
    benchmark::DoNotOptimize(logit.data());
    at = (at + kBatch) % kExamples;
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetLabel(std::string(to_string(s.model.strategy())));
}

// Full optimiser steps (statistics fit once, then epochs over 4,096 examples, batch 256), one
// thread: what `tfe train` does per example, including Adam and the validation pass.
void BM_TrainEpoch(benchmark::State& state) {
  Setup s(static_cast<Strategy>(state.range(0)));
  for (std::size_t e = 0; e < s.data.examples.size(); ++e) {
    s.data.examples[e].split = e % 8 == 0 ? Split::validation : Split::train;
    if (e % 16 == 0) s.data.examples[e].label = 1;
  }
  TrainHooks hooks;
  hooks.auroc = [](std::span<const double>, std::span<const uint8_t>) { return 0.5; };
  hooks.auprc = hooks.auroc;
  TrainOptions o;
  o.epochs = 1;
  o.threads = 1;
  o.masking = {0.25, 0.25, 0.25};
  for (auto _ : state) {
    FusionModel m = s.model;
    auto summary = train_model(m, s.data, o, hooks);
    benchmark::DoNotOptimize(summary);
  }
  state.SetItemsProcessed(state.iterations() * (kExamples * 7 / 8));
  state.SetLabel(std::string(to_string(s.model.strategy())));
}

BENCHMARK(BM_TrainForwardBackward)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TrainForwardOnly)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TrainEpoch)->DenseRange(0, 3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tfe

BENCHMARK_MAIN();
