// Backward passes of the four strategies against central finite differences of the forward pass,
// for every parameter tensor, on small random models and snapshots.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "operators/fusion_backward.h"
#include "operators/fusion_forward.h"
#include "operators/fusion_operator.h"
#include "tests/operators/fusion_test_support.h"

namespace tfe {
namespace {

using Variant = test::ModelVariant;

// Small widths keep the finite differences quick; every structural option is covered.
std::vector<Variant> variants() {
  std::vector<Variant> v;
  for (Strategy s : kAllStrategies) {
    ModelConfig base;
    base.strategy = s;
    base.d_model = 8;
    base.heads = 2;
    base.hidden = {8};
    base.encoder_hidden = 6;
    base.time2vec_k = 2;
    v.push_back({"small", base, {3, 16, 0, 12}, 1});

    ModelConfig deep = base;
    deep.hidden = {10, 6};
    deep.heads = 4;
    deep.sinusoidal = true;
    deep.sinusoidal_dim = 4;
    v.push_back({"deep_sinusoidal", deep, {2, 12, 8, 10}, 1});

    if (s == Strategy::attention) {
      ModelConfig hist = base;
      hist.history_k = 3;
      v.push_back({"history3", hist, {3, 16, 0, 12}, 3});
    }
  }
  return v;
}

// Loss of one example: binary cross-entropy of sigmoid(logit) against `label`.
double bce(double logit, bool label) {
  const double z = label ? -logit : logit;
  return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
}

class FusionBackwardTest : public ::testing::TestWithParam<Variant> {};

TEST_P(FusionBackwardTest, EveryTensorMatchesFiniteDifferences) {
  const Variant& v = GetParam();
  const EngineConfig config = test::default_engine_config(v.dims);
  auto model = test::random_model(v.arch, config, 23);
  ASSERT_NE(model, nullptr);
  auto staged = FusionOperator::create(model, config, FeatureForm::staged);
  ASSERT_TRUE(staged) << staged.error().message;
  test::TestRng rng(5);
  // Several snapshots (all present, and subsets) summed: the loss of a small batch.
  const std::vector<std::vector<bool>> presence = {
      {true, true, true}, {true, false, true}, {false, true, false}, {true, true, true}};
  std::vector<test::SnapshotCase> cases;
  for (const auto& p : presence) {
    cases.push_back(test::random_case(rng, *staged.value(), p, v.history_items));
  }
  const std::vector<bool> labels = {true, false, true, false};

  Workspace ws(*model);
  BackwardScratch scratch(*model);
  auto total_loss = [&](const FusionModel& m) {
    const DerivedWeights derived = derive_weights(m);
    double loss = 0;
    for (std::size_t i = 0; i < cases.size(); ++i) {
      ScoreOutput out;
      forward(m, derived, cases[i].raw_snapshot(), FeatureForm::raw, ws, out);
      loss += bce(out.logit, labels[i]);
    }
    return loss;
  };

  std::vector<float> grad(model->weights.size(), 0.0f);
  {
    const DerivedWeights derived = derive_weights(*model);
    for (std::size_t i = 0; i < cases.size(); ++i) {
      ScoreOutput out;
      forward(*model, derived, cases[i].raw_snapshot(), FeatureForm::raw, ws, out);
      const double p = 1.0 / (1.0 + std::exp(-out.logit));
      backward(*model, derived, ws, static_cast<float>(p - (labels[i] ? 1.0 : 0.0)), scratch, grad);
    }
  }

  FusionModel probe = *model;
  std::span<float> values = probe.weights.values();
  for (const TensorInfo& t : model->weights.tensors()) {
    // The largest analytic entries plus an even spread over the tensor.
    std::vector<uint32_t> idx(t.ref.size());
    std::iota(idx.begin(), idx.end(), 0u);
    std::stable_sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) {
      return std::fabs(grad[t.ref.offset + a]) > std::fabs(grad[t.ref.offset + b]);
    });
    std::vector<uint32_t> check(idx.begin(), idx.begin() + std::min<std::size_t>(6, idx.size()));
    const uint32_t step = std::max(1u, t.ref.size() / 6);
    for (uint32_t i = 0; i < t.ref.size(); i += step) check.push_back(i);

    double diff2 = 0, norm_a = 0, norm_n = 0;
    for (uint32_t i : check) {
      const std::size_t at = t.ref.offset + i;
      const float saved = values[at];
      const float eps = 5e-4f * std::max(1.0f, std::fabs(saved));
      values[at] = saved + eps;
      const double up = total_loss(probe);
      values[at] = saved - eps;
      const double down = total_loss(probe);
      values[at] = saved;
      const double numeric = (up - down) / (2.0 * static_cast<double>(eps));
      const double analytic = grad[at];
      diff2 += (numeric - analytic) * (numeric - analytic);
      norm_a += analytic * analytic;
      norm_n += numeric * numeric;
    }
    // Every tensor takes part in this loss: a zero gradient would mean a missing backward path.
    EXPECT_GT(norm_a, 1e-12) << t.name << ": zero gradient";
    const double rel = std::sqrt(diff2) / (std::sqrt(norm_a) + std::sqrt(norm_n) + 1e-6);
    EXPECT_LT(rel, 1e-2) << t.name << ": analytic and numeric gradients differ (relative " << rel
                         << ", |analytic| " << std::sqrt(norm_a) << ", |numeric| "
                         << std::sqrt(norm_n) << ")";
  }
}

TEST_P(FusionBackwardTest, AbsentModalitiesGetNoGradient) {
  const Variant& v = GetParam();
  const EngineConfig config = test::default_engine_config(v.dims);
  auto model = test::random_model(v.arch, config, 29);
  ASSERT_NE(model, nullptr);
  auto staged = FusionOperator::create(model, config, FeatureForm::staged);
  ASSERT_TRUE(staged);
  test::TestRng rng(7);
  const auto c = test::random_case(rng, *staged.value(), {true, false, true}, v.history_items);
  Workspace ws(*model);
  BackwardScratch scratch(*model);
  const DerivedWeights derived = derive_weights(*model);
  ScoreOutput out;
  forward(*model, derived, c.raw_snapshot(), FeatureForm::raw, ws, out);
  std::vector<float> grad(model->weights.size(), 0.0f);
  backward(*model, derived, ws, 1.0f, scratch, grad);
  const std::string absent = "." + model->schema.modalities[1].name + ".";
  int checked = 0;
  for (const TensorInfo& t : model->weights.tensors()) {
    if (t.name.find(absent) == std::string::npos) continue;
    ++checked;
    for (float g : model->weights.view(t.ref).empty()
                       ? std::span<const float>{}
                       : std::span<const float>(grad).subspan(t.ref.offset, t.ref.size())) {
      ASSERT_EQ(g, 0.0f) << t.name;
    }
  }
  EXPECT_GT(checked, 0);
}

INSTANTIATE_TEST_SUITE_P(AllStrategies, FusionBackwardTest, ::testing::ValuesIn(variants()),
                         test::variant_name);

}  // namespace
}  // namespace tfe
