// Forward passes of the four strategies against the naive reference, in both feature forms.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "operators/fusion_forward.h"
#include "operators/fusion_operator.h"
#include "tests/operators/fusion_reference.h"
#include "tests/operators/fusion_test_support.h"

namespace tfe {
namespace {

using Variant = test::ModelVariant;

std::vector<Variant> variants() {
  std::vector<Variant> v;
  for (Strategy s : kAllStrategies) {
    ModelConfig base;
    base.strategy = s;
    v.push_back({"default", base, {}, 1});

    ModelConfig deep = base;
    deep.hidden = {24, 16, 8};
    deep.d_model = 12;
    deep.heads = 3;
    deep.sinusoidal = true;
    deep.sinusoidal_dim = 6;
    deep.time2vec_k = 2;
    deep.encoder_hidden = 10;
    v.push_back({"deep_sinusoidal", deep, {4, 32, 16, 24}, 1});

    ModelConfig hist = base;
    hist.history_k = 3;
    hist.time2vec_k = 0;
    v.push_back({"history3", hist, {6, 64, 8, 40}, 3});
  }
  return v;
}

class FusionForwardTest : public ::testing::TestWithParam<Variant> {};

double tolerance(double reference) { return 1e-5 * std::max(1.0, std::fabs(reference)); }

TEST_P(FusionForwardTest, MatchesNaiveReferenceInBothForms) {
  const Variant& v = GetParam();
  const EngineConfig config = test::default_engine_config(v.dims);
  auto model = test::random_model(v.arch, config, 17);
  ASSERT_NE(model, nullptr);
  auto staged = FusionOperator::create(model, config, FeatureForm::staged);
  auto raw = FusionOperator::create(model, config, FeatureForm::raw);
  ASSERT_TRUE(staged) << staged.error().message;
  ASSERT_TRUE(raw) << raw.error().message;
  auto staged_state = staged.value()->make_state();
  auto raw_state = raw.value()->make_state();
  test::Reference ref{*model};
  test::TestRng rng(99);
  const std::vector<std::vector<bool>> patterns = {
      {true, true, true},  {true, false, false}, {false, true, false}, {false, false, true},
      {true, true, false}, {false, true, true},  {true, false, true}};
  for (int rep = 0; rep < 8; ++rep) {
    for (const auto& present : patterns) {
      test::SnapshotCase c = test::random_case(rng, *staged.value(), present, v.history_items);
      std::array<double, kMaxModalities> ref_weight;
      const double ref_logit = ref.forward(c.raw_snapshot(), ref_weight);
      ScoreOutput a, b;
      staged.value()->score(c.staged_snapshot(), *staged_state, a);
      raw.value()->score(c.raw_snapshot(), *raw_state, b);
      for (const ScoreOutput* out : {&a, &b}) {
        EXPECT_NEAR(out->logit, ref_logit, tolerance(ref_logit));
        EXPECT_NEAR(out->risk, model->calibration.apply(ref_logit), 1e-5);
        for (std::size_t m = 0; m < 3; ++m) {
          EXPECT_NEAR(out->weight[m], ref_weight[m], 1e-5) << "modality " << m;
        }
      }
    }
  }
}

TEST_P(FusionForwardTest, BatchEqualsSingleScoresBitForBit) {
  const Variant& v = GetParam();
  const EngineConfig config = test::default_engine_config(v.dims);
  auto model = test::random_model(v.arch, config, 5);
  auto op = FusionOperator::create(model, config);
  ASSERT_TRUE(op) << op.error().message;
  auto state = op.value()->make_state();
  test::TestRng rng(7);
  std::vector<test::SnapshotCase> cases;
  for (int i = 0; i < 20; ++i) {
    cases.push_back(test::random_case(rng, *op.value(), {rng.chance(0.7f), rng.chance(0.5f), true},
                                      v.history_items));
  }
  std::vector<Snapshot> snaps;
  for (const auto& c : cases) snaps.push_back(c.staged_snapshot());
  std::vector<ScoreOutput> batch(snaps.size());
  op.value()->score_batch(snaps, *state, batch);
  for (std::size_t i = 0; i < snaps.size(); ++i) {
    ScoreOutput single;
    op.value()->score(snaps[i], *state, single);
    EXPECT_EQ(single.logit, batch[i].logit);
    EXPECT_EQ(single.risk, batch[i].risk);
    EXPECT_EQ(single.weight, batch[i].weight);
  }
}

// The generic ablation: each variant scored from scratch through score().
void plain_masked(const Scorer& op, const Snapshot& snapshot, ScorerState& state, ScoreOutput& out,
                  std::span<double> masked) {
  op.Scorer::score_risks(snapshot, state, out, masked);
}

TEST_P(FusionForwardTest, MaskedScoresEqualScoringTheMaskedSnapshotBitForBit) {
  const Variant& v = GetParam();
  const EngineConfig config = test::default_engine_config(v.dims);
  auto model = test::random_model(v.arch, config, 23);
  for (FeatureForm form : {FeatureForm::staged, FeatureForm::raw}) {
    auto op = FusionOperator::create(model, config, form);
    auto staged = FusionOperator::create(model, config, FeatureForm::staged);
    ASSERT_TRUE(op && staged);
    auto state = op.value()->make_state();
    test::TestRng rng(31);
    uint32_t changed = 0, left_out = 0;
    for (int i = 0; i < 40; ++i) {
      const test::SnapshotCase c = test::random_case(
          rng, *staged.value(), {rng.chance(0.7f), rng.chance(0.5f), rng.chance(0.6f)},
          v.history_items);
      const Snapshot snapshot =
          form == FeatureForm::staged ? c.staged_snapshot() : c.raw_snapshot();
      std::array<double, 3> reused{}, plain{};
      ScoreOutput a, b, single;
      op.value()->score_risks(snapshot, *state, a, reused);
      plain_masked(*op.value(), snapshot, *state, b, plain);
      op.value()->score(snapshot, *state, single);
      EXPECT_EQ(a.risk, single.risk) << "the tick's own score is score()'s";
      EXPECT_EQ(a.logit, single.logit);
      EXPECT_EQ(a.weight, decltype(a.weight){}) << "no explanation is computed";
      EXPECT_EQ(b.weight, single.weight) << "the generic ablation scores through score()";
      for (std::size_t m = 0; m < 3; ++m) {
        if (std::isnan(plain[m])) {
          EXPECT_TRUE(std::isnan(reused[m])) << "case " << i << ", modality " << m;
          ++left_out;
          continue;
        }
        EXPECT_EQ(reused[m], plain[m]) << "case " << i << ", modality " << m;
        if (!c.present[m]) {
          EXPECT_EQ(reused[m], a.risk) << "nothing masked";
        }
        if (reused[m] != a.risk) ++changed;
      }
    }
    EXPECT_GT(changed, 0u) << "masking must change some scores";
    EXPECT_GT(left_out, 0u) << "cases with a single modality present";
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, FusionForwardTest, ::testing::ValuesIn(variants()),
                         test::variant_name);

TEST(FusionForward, NoModalityPresentGivesThePrior) {
  const EngineConfig config = test::default_engine_config();
  for (Strategy s : kAllStrategies) {
    ModelConfig arch;
    arch.strategy = s;
    auto model = test::random_model(arch, config, 3);
    auto op = FusionOperator::create(model, config);
    ASSERT_TRUE(op);
    auto state = op.value()->make_state();
    test::TestRng rng(1);
    auto c = test::random_case(rng, *op.value(), {false, false, false});
    ScoreOutput out;
    op.value()->score(c.staged_snapshot(), *state, out);
    std::array<double, kMaxModalities> w;
    const double ref = test::Reference{*model}.forward(c.raw_snapshot(), w);
    EXPECT_NEAR(out.logit, ref, 1e-5) << to_string(s);
    EXPECT_TRUE(std::isfinite(out.risk));
    for (float x : out.weight) EXPECT_EQ(x, 0.0f);
  }
}

// The count feature is bounded like the value statistics (docs/fusion.md): with the smallest
// deviation a model may hold, a window's log1p(count) is millions of deviations from the mean.
TEST(FusionForward, PreparedVitalsCountIsBoundedLikeTheValues) {
  const EngineConfig config = test::default_engine_config({1, 16, 0, 12});
  auto model = test::random_model(ModelConfig{}, config, 3);
  ASSERT_NE(model, nullptr);
  const ModalityLayout& ml = model->layout.modalities[0];
  ASSERT_EQ(ml.input_dim, 2 * kWindowStatCount);
  std::span<float> stats = model->stats.values();
  std::fill_n(stats.begin() + ml.mean.offset, ml.input_dim, 5.0f);
  std::fill_n(stats.begin() + ml.std.offset, ml.input_dim, static_cast<float>(kMinInputStd));
  // Window 0 saw 1000 samples (log1p: 6.9, above the mean 5), window 1 none (0, below it).
  std::vector<float> raw(ml.input_dim, 5.0f), out(ml.input_dim);
  raw[kWindowStatCount - 1] = 1000.0f;
  raw[2 * kWindowStatCount - 1] = 0.0f;
  raw[0] = 6.0f;  // a value statistic one unit above its mean: clamped too
  prepare_input(*model, 0, raw, out);
  EXPECT_EQ(out[kWindowStatCount - 1], 1000.0f);
  EXPECT_EQ(out[2 * kWindowStatCount - 1], -1000.0f);
  EXPECT_EQ(out[0], 1000.0f);
  for (float x : out) EXPECT_LE(std::fabs(x), 1000.0f);
}

// A count too large for an int (or NaN) was converted to int before its range was checked:
// undefined behaviour (UBSan's float-cast-overflow). Such counts prepare like any other: a huge
// one to the bound, a NaN one as no sample.
TEST(FusionForward, HugeAndNanCountsPrepareWithinBounds) {
  const EngineConfig config = test::default_engine_config({1, 16, 0, 12});
  auto model = test::random_model(ModelConfig{}, config, 4);
  ASSERT_NE(model, nullptr);
  const ModalityLayout& ml = model->layout.modalities[0];
  std::span<float> stats = model->stats.values();
  std::fill_n(stats.begin() + ml.mean.offset, ml.input_dim, 0.0f);
  std::fill_n(stats.begin() + ml.std.offset, ml.input_dim, 1.0f);
  std::vector<float> raw(ml.input_dim, 2.0f), out(ml.input_dim);
  raw[kWindowStatCount - 1] = 1e30f;
  raw[2 * kWindowStatCount - 1] = std::nanf("");
  prepare_input(*model, 0, raw, out);
  EXPECT_EQ(out[kWindowStatCount - 1], std::log1p(1e30f));
  EXPECT_EQ(out[0], 2.0f);
  for (uint32_t i = kWindowStatCount; i + 1 < 2 * kWindowStatCount; ++i) EXPECT_EQ(out[i], 0.0f);
  EXPECT_EQ(out[2 * kWindowStatCount - 1], 0.0f);
}

}  // namespace
}  // namespace tfe
