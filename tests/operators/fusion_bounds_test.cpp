// Value bounds of model files and the forward pass: every model that loads scores finite risks
// and logits for every snapshot the engine can build, however large its (accepted) values.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "operators/fusion_forward.h"
#include "operators/fusion_operator.h"
#include "operators/model_file.h"
#include "tests/operators/fusion_test_support.h"

namespace tfe {
namespace {

ModelConfig deep_arch(Strategy s) {
  ModelConfig a;
  a.strategy = s;
  a.d_model = 16;
  a.heads = 2;
  a.history_k = s == Strategy::attention ? 3 : 1;
  a.hidden = std::vector<uint32_t>(kMaxHiddenLayers, 256);
  a.encoder_hidden = 64;
  a.sinusoidal = true;
  return a;
}

// Every value at the edge of its accepted range: weights +-kMaxWeight (random signs, so that
// overflowing sums meet as inf - inf), the tiniest deviation and largest means, the largest IDF
// and Platt slope.
void make_extreme(FusionModel& model, uint64_t seed) {
  test::TestRng rng(seed);
  for (float& v : model.weights.values()) v = rng.chance(0.5f) ? kMaxWeight : -kMaxWeight;
  for (const TensorInfo& t : model.stats.tensors()) {
    for (float& v : model.stats.view(t.ref)) {
      if (t.name.ends_with(".std")) {
        v = static_cast<float>(kMinInputStd);
      } else if (t.name.ends_with(".idf")) {
        v = kMaxIdf;
      } else {
        v = rng.chance(0.5f) ? kMaxStatistic : -kMaxStatistic;
      }
    }
  }
  model.calibration.platt_a = kMaxCalibrationMagnitude;
  model.calibration.platt_b = -kMaxCalibrationMagnitude;
}

// Extreme but valid events: vitals statistics at the decoder's bound (|v| <= 1e9), embeddings of
// the largest finite floats, a long note of one repeated word.
void make_extreme_inputs(test::SnapshotCase& c, const FusionOperator& staged_op) {
  const ModelSchema& schema = staged_op.model().schema;
  for (std::size_t m = 0; m < schema.modalities.size(); ++m) {
    const ModelModality& mod = schema.modalities[m];
    for (std::size_t j = 0; j < c.raw[m].size(); ++j) {
      if (mod.kind == ModalityKind::vitals) {
        for (std::size_t i = 0; i < c.raw[m][j].size(); ++i) {
          c.raw[m][j][i] = (i % 2 == 0) ? 1e9f : -1e9f;
          if (i % kWindowStatCount == kWindowStatCount - 1) c.raw[m][j][i] = 1e9f;  // count
        }
        c.staged[m][j] = c.raw[m][j];
        continue;
      }
      Event e;
      for (uint32_t i = 0; i < mod.dim; ++i) {
        const float big = std::numeric_limits<float>::max();
        e.embedding.push_back(i % 3 == 0 ? big : -big);
      }
      if (mod.kind == ModalityKind::text) {
        for (int w = 0; w < 5000; ++w) e.text += "lactate ";
      }
      RawEncoder(schema.shape(m)).encode(e, c.raw[m][j]);
      staged_op.spec().needs[m].encoder->encode(e, c.staged[m][j]);
    }
  }
  c.link();
}

class FusionBoundsTest : public ::testing::TestWithParam<Strategy> {};

TEST_P(FusionBoundsTest, HugeButAcceptedValuesScoreFinite) {
  // A text modality with an upstream embedding too, so that both of its parts are extreme.
  const EngineConfig config = test::default_engine_config({6, 64, 8, 32});
  auto skeleton = make_model_skeleton(deep_arch(GetParam()), model_schema_from_config(config));
  ASSERT_TRUE(skeleton) << skeleton.error().message;
  FusionModel extreme = std::move(skeleton).value();
  make_extreme(extreme, 11);
  // The model is one a file can hold: it loads.
  auto loaded = parse_model(serialize_model(extreme));
  ASSERT_TRUE(loaded) << loaded.error().message;
  auto model = std::make_shared<const FusionModel>(std::move(loaded).value());

  auto staged = FusionOperator::create(model, config, FeatureForm::staged);
  auto raw = FusionOperator::create(model, config, FeatureForm::raw);
  ASSERT_TRUE(staged && raw);
  auto staged_state = staged.value()->make_state();
  auto raw_state = raw.value()->make_state();
  test::TestRng rng(5);
  const std::vector<std::vector<bool>> presence = {
      {true, true, true}, {true, false, false}, {false, true, true}, {false, false, true}};
  for (const std::vector<bool>& present : presence) {
    test::SnapshotCase c = test::random_case(rng, *staged.value(), present, 3);
    make_extreme_inputs(c, *staged.value());
    for (int form = 0; form < 2; ++form) {
      const Scorer& op = form == 0 ? *staged.value() : *raw.value();
      ScorerState& state = form == 0 ? *staged_state : *raw_state;
      const Snapshot snapshot = form == 0 ? c.staged_snapshot() : c.raw_snapshot();
      ScoreOutput out;
      op.score(snapshot, state, out);
      EXPECT_TRUE(std::isfinite(out.logit)) << "form " << form << ": logit " << out.logit;
      EXPECT_TRUE(std::isfinite(out.risk)) << "form " << form << ": risk " << out.risk;
      EXPECT_GE(out.risk, 0.0);
      EXPECT_LE(out.risk, 1.0);
      for (float w : out.weight) EXPECT_TRUE(std::isfinite(w)) << "form " << form;
      std::vector<double> masked(present.size());
      op.score_risks(snapshot, state, out, masked);
      // Masking a snapshot's only modality leaves nothing to score (NaN by definition).
      const bool one_present = std::count(present.begin(), present.end(), true) == 1;
      for (std::size_t k = 0; k < masked.size(); ++k) {
        if (one_present && present[k]) continue;
        EXPECT_TRUE(std::isfinite(masked[k])) << "form " << form << ", without " << k;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, FusionBoundsTest, ::testing::ValuesIn(kAllStrategies),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// One value past its kind's bound is refused, naming the section, the tensor and the element.
TEST(FusionBounds, ValuesBeyondTheBoundsAreRefusedNamingTheTensor) {
  const EngineConfig config = test::default_engine_config({2, 8, 0, 4});
  ModelConfig arch;
  arch.strategy = Strategy::early;
  auto model = test::random_model(arch, config, 7);
  ASSERT_NE(model, nullptr);
  ASSERT_TRUE(parse_model(serialize_model(*model)));

  FusionModel m = *model;
  m.weights.view(*m.weights.find("head.out.w"))[3] = 1e30f;
  auto r = parse_model(serialize_model(m));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "model file section 'WGHT': 'head.out.w'[3] = 1e+30 is outside [-10000, 10000], the "
            "range of a weight");
  // The bound itself loads.
  m.weights.view(*m.weights.find("head.out.w"))[3] = -kMaxWeight;
  EXPECT_TRUE(parse_model(serialize_model(m)));

  m = *model;
  m.stats.view(*m.stats.find("stats.notes.idf"))[1] = 2e3f;
  r = parse_model(serialize_model(m));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "model file section 'STAT': 'stats.notes.idf'[1] = 2000 is outside [0, 1000], the "
            "range of an IDF weight");

  m = *model;
  m.stats.view(*m.stats.find("stats.wearables.mean"))[0] = -1e20f;
  r = parse_model(serialize_model(m));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "model file section 'STAT': 'stats.wearables.mean'[0] = -1e+20 is outside [-1e+15, "
            "1e+15], the range of a mean");

  m = *model;
  m.stats.view(*m.stats.find("stats.wearables.std"))[4] = 1e16f;
  r = parse_model(serialize_model(m));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "model file section 'STAT': 'stats.wearables.std'[4] = 1e+16 is outside [1e-06, "
            "1e+15], the range of a standard deviation");

  m = *model;
  m.calibration.platt_a = 1e7f;
  r = parse_model(serialize_model(m));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "model file section 'CALB': 'platt_a' = 10000000 is outside [-1e+06, 1e+06], the range "
            "of calibration");
}

}  // namespace
}  // namespace tfe
