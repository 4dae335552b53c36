// What the strategies promise: absent modalities are masked, early fusion's presence bit, attention
// weights form a distribution over the present modalities, and ages move scores.

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "operators/fusion_operator.h"
#include "tests/operators/fusion_test_support.h"

namespace tfe {
namespace {

struct Fixture {
  EngineConfig config = test::default_engine_config();
  std::shared_ptr<FusionModel> model;
  std::shared_ptr<const FusionOperator> op;
  std::unique_ptr<ScorerState> state;

  explicit Fixture(Strategy s, uint32_t history_k = 1, uint64_t seed = 11) {
    ModelConfig arch;
    arch.strategy = s;
    arch.history_k = history_k;
    model = test::random_model(arch, config, seed);
    auto r = FusionOperator::create(model, config);
    EXPECT_TRUE(r) << r.error().message;
    op = r.value();
    state = op->make_state();
  }
  ScoreOutput score(const test::SnapshotCase& c) {
    ScoreOutput out;
    op->score(c.staged_snapshot(), *state, out);
    return out;
  }
};

class StrategyTest : public ::testing::TestWithParam<Strategy> {};

std::string strategy_name(const ::testing::TestParamInfo<Strategy>& info) {
  return std::string(to_string(info.param));
}

TEST_P(StrategyTest, AbsentModalityPayloadChangesNothing) {
  Fixture f(GetParam());
  test::TestRng rng(21);
  for (std::size_t absent = 0; absent < 3; ++absent) {
    std::vector<bool> present{true, true, true};
    present[absent] = false;
    test::SnapshotCase c = test::random_case(rng, *f.op, present);
    const ScoreOutput before = f.score(c);
    // A different payload and age for the absent modality.
    for (float& x : c.staged[absent][0]) x = rng.uniform(-5.0f, 5.0f);
    for (float& x : c.raw[absent][0]) x = rng.uniform(-5.0f, 5.0f);
    c.ages_ms[absent][0] += 123'456;
    c.link();
    const ScoreOutput after = f.score(c);
    EXPECT_EQ(before.logit, after.logit) << "absent modality " << absent;
    EXPECT_EQ(before.weight, after.weight);
    EXPECT_EQ(after.weight[absent], 0.0f);
  }
}

TEST_P(StrategyTest, WeightsFormADistributionOverPresentModalities) {
  Fixture f(GetParam());
  test::TestRng rng(5);
  for (int rep = 0; rep < 50; ++rep) {
    std::vector<bool> present{rng.chance(0.6f), rng.chance(0.6f), rng.chance(0.6f)};
    if (!present[0] && !present[1] && !present[2]) present[rep % 3] = true;
    const ScoreOutput out = f.score(test::random_case(rng, *f.op, present));
    float sum = 0.0f;
    for (std::size_t m = 0; m < 3; ++m) {
      EXPECT_GE(out.weight[m], 0.0f);
      if (!present[m]) {
        EXPECT_EQ(out.weight[m], 0.0f);
      }
      sum += out.weight[m];
    }
    EXPECT_NEAR(sum, 1.0f, 1e-6);
    if (std::count(present.begin(), present.end(), true) == 1) {
      for (std::size_t m = 0; m < 3; ++m) {
        if (present[m]) {
          EXPECT_EQ(out.weight[m], 1.0f);
        }
      }
    }
  }
}

TEST_P(StrategyTest, SameFeaturesAtDifferentAgesScoreDifferently) {
  Fixture f(GetParam());
  test::TestRng rng(8);
  for (std::size_t only = 0; only < 3; ++only) {
    std::vector<bool> present{false, false, false};
    present[only] = true;
    test::SnapshotCase c = test::random_case(rng, *f.op, present);
    c.ages_ms[only][0] = 60'000;
    c.link();
    const double fresh = f.score(c).logit;
    c.ages_ms[only][0] = 6 * 3'600'000;
    c.link();
    EXPECT_NE(fresh, f.score(c).logit) << "modality " << only;
  }
  // Time weights at zero: age no longer matters (except late fusion's gates, which only move
  // weight between modalities: with one modality present its weight is 1 whatever the age).
  for (const TensorInfo& t : f.model->weights.tensors()) {
    if (t.name.ends_with(".time.w")) {
      for (float& x : f.model->weights.view(t.ref)) x = 0.0f;
    }
  }
  auto op = FusionOperator::create(f.model, f.config);
  ASSERT_TRUE(op);
  auto state = op.value()->make_state();
  test::SnapshotCase c = test::random_case(rng, *op.value(), {true, false, false});
  ScoreOutput a, b;
  op.value()->score(c.staged_snapshot(), *state, a);
  c.ages_ms[0][0] += 3'600'000;
  c.link();
  op.value()->score(c.staged_snapshot(), *state, b);
  EXPECT_EQ(a.logit, b.logit);
}

INSTANTIATE_TEST_SUITE_P(All, StrategyTest, ::testing::ValuesIn(kAllStrategies), strategy_name);

TEST(EarlyFusion, PresenceBitSeparatesAbsentFromPresentZero) {
  Fixture f(Strategy::early);
  test::TestRng rng(3);
  for (std::size_t m = 1; m < 3; ++m) {
    std::vector<bool> present{true, false, false};
    test::SnapshotCase c = test::random_case(rng, *f.op, present);
    const ScoreOutput absent = f.score(c);
    // Present with an all-zero feature stage (what a zero vector projects to) at age 0.
    c.present[m] = true;
    for (float& x : c.staged[m][0]) x = 0.0f;
    c.ages_ms[m][0] = 0;
    c.link();
    const ScoreOutput zero = f.score(c);
    EXPECT_NE(absent.logit, zero.logit) << "modality " << m;
    EXPECT_GT(zero.weight[m], 0.0f);
    EXPECT_EQ(absent.weight[m], 0.0f);
  }
}

TEST(AttentionFusion, HistoryTokensShareTheirModalityWeight) {
  Fixture f(Strategy::attention, 3);
  test::TestRng rng(4);
  const test::SnapshotCase c = test::random_case(rng, *f.op, {true, true, true}, 3);
  const ScoreOutput out = f.score(c);
  const Workspace& ws = FusionOperator::workspace(*f.state);
  EXPECT_EQ(ws.n_tokens, 1u + 3u + 3u);  // vitals one token, the others three each
  float sum = 0.0f;
  for (std::size_t m = 0; m < 3; ++m) sum += out.weight[m];
  EXPECT_NEAR(sum, 1.0f, 1e-6);
  // Changing the third-newest note moves the score: it is a token of its own.
  test::SnapshotCase d = c;
  for (float& x : d.staged[1][2]) x += 1.0f;
  d.link();
  EXPECT_NE(out.logit, f.score(d).logit);
}

TEST(AttentionFusion, OneModalityWithSeveralHistoryTokensHasWeightExactlyOne) {
  // Its tokens' attention shares summed can pass 1 by an ulp; the weight is a share, at most 1,
  // and all of it when no other modality is present.
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Fixture f(Strategy::attention, 3, seed);
    test::TestRng rng(seed);
    const ScoreOutput out = f.score(test::random_case(rng, *f.op, {false, true, false}, 3));
    EXPECT_EQ(out.weight[1], 1.0f) << seed;
    const ScoreOutput all = f.score(test::random_case(rng, *f.op, {true, true, true}, 3));
    for (std::size_t m = 0; m < 3; ++m) EXPECT_LE(all.weight[m], 1.0f) << seed;
  }
}

TEST(LateFusion, OlderModalityLosesWeightWhenDecayIsPositive) {
  Fixture f(Strategy::late);
  for (const TensorInfo& t : f.model->weights.tensors()) {
    if (t.name.ends_with(".gate.a")) f.model->weights.view(t.ref)[0] = 0.0f;
    if (t.name.ends_with(".gate.decay")) f.model->weights.view(t.ref)[0] = 1.0f;
  }
  auto op = FusionOperator::create(f.model, f.config);
  ASSERT_TRUE(op);
  auto state = op.value()->make_state();
  test::TestRng rng(6);
  test::SnapshotCase c = test::random_case(rng, *op.value(), {true, true, false});
  c.ages_ms[0][0] = 60'000;
  c.ages_ms[1][0] = 60'000;
  c.link();
  ScoreOutput same, older;
  op.value()->score(c.staged_snapshot(), *state, same);
  EXPECT_NEAR(same.weight[0], 0.5f, 1e-6);
  c.ages_ms[1][0] = 24 * 3'600'000;
  c.link();
  op.value()->score(c.staged_snapshot(), *state, older);
  EXPECT_LT(older.weight[1], 0.5f);
  EXPECT_NEAR(older.weight[0] + older.weight[1], 1.0f, 1e-6);
}

}  // namespace
}  // namespace tfe
