// The deployment profiler on input that is valid but extreme (non-finite features, vectors near the
// float range), the model sample's size limit, the evidence and confidence text beside the
// thresholds they are compared with, and the bake-off's checks made before any work.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "connectors/history_replay.h"
#include "engine/config.h"
#include "engine/patient_registry.h"
#include "tests/tools/profile_test_util.h"
#include "tools/profile/profile.h"
#include "tools/synth/synth.h"

namespace tfe::profile {
namespace {

using test::kProfiles;

using test::Cohort;
using test::make_cohort;
using test::quick_options;

ModalityIndex modality_named(const EngineConfig& config, const std::string& name) {
  for (std::size_t m = 0; m < config.schema.size(); ++m) {
    if (config.schema[static_cast<ModalityIndex>(m)].name == name) {
      return static_cast<ModalityIndex>(m);
    }
  }
  ADD_FAILURE() << "no modality " << name;
  return 0;
}

// A NaN score ranks nothing: the AUROC is undefined (and computed at all: the sweep over tied
// scores once never moved past a NaN).
TEST(ProfileRobustness, AurocWithANaNScoreIsUndefined) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> score{0.1, nan, 0.3, nan, 0.2};
  const std::vector<uint8_t> label{0, 1, 1, 0, 0};
  EXPECT_TRUE(std::isnan(detail::weighted_auroc(score, label, std::vector<double>(5, 1.0))));
  // Items of zero weight do not count, NaN or not.
  const std::vector<double> weight{1, 0, 1, 0, 1};
  EXPECT_DOUBLE_EQ(detail::weighted_auroc(score, label, weight), 1.0);
}

// An upstream embedding holding NaN and infinities (built into events directly: the decoders refuse
// them, other sources may not) reaches the model sample; those values are counted and taken as 0,
// and the modality's models and spectrum are measured on the rest.
TEST(ProfileRobustness, NonFiniteFeaturesAreCountedAndTakenAsZero) {
  auto c = make_cohort("small_complete", 80, 1, 31);
  ASSERT_TRUE(c);
  const ModalityIndex imaging = modality_named(c->config, "imaging");
  int spoiled = 0;
  for (Event& e : c->history.events) {
    if (e.modality != imaging || e.embedding.size() < 3) continue;
    if (++spoiled % 2 == 0) continue;
    e.embedding[0] = std::numeric_limits<float>::infinity();
    e.embedding[1] = -std::numeric_limits<float>::infinity();
    e.embedding[2] = std::numeric_limits<float>::quiet_NaN();
  }
  ASSERT_GT(spoiled, 10);
  ProfileOptions o = quick_options(20);
  std::vector<std::string> lines;
  o.log = [&](const std::string& line) { lines.push_back(line); };
  auto p = profile_history(c->history.events, c->registry, c->config, o);
  ASSERT_TRUE(p) << p.error().message;
  bool said = false;
  for (const std::string& line : lines) {
    said = said || line.find("non-finite feature values") != std::string::npos;
  }
  EXPECT_TRUE(said) << "no log line counts the non-finite values";
  const DeploymentProfile& d = p.value();
  EXPECT_GT(d.dimensionality.modalities[imaging].effective_dim, 0u);
  EXPECT_FALSE(std::isnan(d.temporal.modalities[imaging].auroc));
  const std::string json = profile_json(d);
  EXPECT_EQ(json.find("nan"), std::string::npos);
  EXPECT_EQ(json.find("inf"), std::string::npos);
}

// Embeddings wider than the models' 256 columns are projected; with values near the float range
// (finite, so every decoder takes them) the float sums of the projection overflowed to infinities,
// every score of the modality became NaN and the AUROC sweep never ended.
TEST(ProfileRobustness, EmbeddingsNearTheFloatRangeGiveFiniteModels) {
  auto c = make_cohort("imaging_heavy", 80, 1, 32);
  ASSERT_TRUE(c);
  const ModalityIndex imaging = modality_named(c->config, "imaging");
  {
    // The upstream vectors are taken as they come (not normalised).
    std::vector<ModalitySpec> specs = c->config.schema.specs();
    for (ModalitySpec& spec : specs) {
      if (spec.kind != ModalityKind::vitals) spec.l2_normalize = false;
    }
    c->config.schema = ModalitySchema(std::move(specs));
  }
  int k = 0;
  for (Event& e : c->history.events) {
    if (e.modality != imaging || ++k % 3 != 0) continue;
    for (std::size_t i = 0; i < e.embedding.size(); ++i) e.embedding[i] = i % 2 ? 3e38f : -3e38f;
  }
  ASSERT_GT(k, 30);
  auto p = profile_history(c->history.events, c->registry, c->config, quick_options(20));
  ASSERT_TRUE(p) << p.error().message;
  const DeploymentProfile& d = p.value();
  EXPECT_FALSE(std::isnan(d.temporal.modalities[imaging].auroc));
  EXPECT_GT(d.dimensionality.modalities[imaging].effective_dim, 0u);
  EXPECT_EQ(profile_json(d).find("nan"), std::string::npos);
}

// The model sample holds two classes of --sample feature rows: a size that would not fit in memory
// is one error before any work, naming the largest that fits.
TEST(ProfileRobustness, AModelSampleTooLargeForMemoryIsRefused) {
  auto c = make_cohort("imaging_heavy", 4, 0.1, 33);
  ASSERT_TRUE(c);
  ProfileOptions o = quick_options(20);
  o.sample_ticks = 1'000'000;  // 2 x 1e6 rows of 2388 floats: 19 GB
  auto r = profile_history(c->history.events, c->registry, c->config, o);
  ASSERT_FALSE(r);
  const std::string& message = r.error().message;
  EXPECT_NE(message.find("19.1 GB"), std::string::npos) << message;
  EXPECT_NE(message.find("at most 209380 ticks per class"), std::string::npos) << message;
  o.sample_ticks = 209'380;
  EXPECT_TRUE(check_options(c->config, o));
  o.sample_ticks = 209'381;
  EXPECT_FALSE(check_options(c->config, o));
}

detail::Evidence evidence_with_share(double least_share) {
  detail::Evidence e;
  e.patients = 5000;
  e.outcome_patients = 200;
  e.tick_share = {0.99, least_share, 0.95};
  e.dimension_ratio = 2;
  e.max_auroc_spread = 0.3;
  e.max_interaction_gain = 0.1;
  e.interaction_gain_lo = 0.0004;
  return e;
}

// A value that misses its threshold never reads as equal to it ("0.600 < 0.600"), and a lower bound
// just above 0 never reads as 0.
TEST(ProfileRobustness, EvidenceTextNeverShowsAValueAsItsThreshold) {
  const std::vector<std::string> names{"wearables", "notes", "imaging"};
  const Recommendation missing = detail::decide(evidence_with_share(0.59996), names, Thresholds{});
  ASSERT_EQ(missing.rows[missing.fired].row, "modalities frequently missing");
  EXPECT_EQ(missing.summary.find("0.600 < 0.600"), std::string::npos) << missing.summary;
  EXPECT_NE(missing.summary.find("notes present at ticks 0.59996 < 0.60000"), std::string::npos)
      << missing.summary;
  const Recommendation attention = detail::decide(evidence_with_share(0.9), names, Thresholds{});
  ASSERT_EQ(attention.strategy, Strategy::attention);
  EXPECT_NE(attention.summary.find("5th bootstrap percentile of that gain 0.0004 > 0"),
            std::string::npos)
      << attention.summary;
  // Closer than six decimals tell apart: every digit it takes.
  detail::Evidence close = evidence_with_share(0.9);
  close.dimension_ratio = 7.9999999;
  close.max_interaction_gain = 0;
  const Recommendation fallthrough = detail::decide(close, names, Thresholds{});
  const std::string text = profile_table([&] {
    DeploymentProfile p;
    p.modalities = names;
    p.recommendation = fallthrough;
    return p;
  }());
  EXPECT_NE(text.find("effective dimension 7.9999999 >= 8 [no]"), std::string::npos) << text;
}

// The confidence is printed so that its label can be read off it: 159 of 200 replicates (0.795) is
// medium, and does not print as 0.80.
TEST(ProfileRobustness, ConfidenceNeverPrintsAcrossTheBoundOfItsLabel) {
  DeploymentProfile p;
  p.modalities = {"wearables", "notes", "imaging"};
  p.recommendation = detail::decide(evidence_with_share(0.3), p.modalities, Thresholds{});
  p.recommendation.confidence = 159.0 / 200;
  p.recommendation.confidence_label = "medium";
  p.recommendation.replicates = 200;
  const std::string table = profile_table(p);
  EXPECT_NE(table.find("confidence 0.795 (medium"), std::string::npos) << table;
  EXPECT_NE(profile_html(p).find("confidence 0.795 (medium)"), std::string::npos);
  p.recommendation.confidence = 0.5;
  p.recommendation.confidence_label = "low";
  EXPECT_NE(profile_table(p).find("confidence 0.50 (low"), std::string::npos);
}

// The bake-off's [model] and [training] sections are checked on their own, so that a bad key is
// an error before the history is read and profiled, not after.
TEST(ProfileRobustness, BakeoffConfigIsCheckedBeforeAnyWork) {
  auto fine =
      bakeoff_config_from_toml(toml::parse("[training]\nepochs = 3\n[model]\nd_model = 16\n"), 5);
  ASSERT_TRUE(fine) << fine.error().message;
  EXPECT_EQ(fine.value().folds, 5u);
  EXPECT_EQ(fine.value().training.optim.epochs, 3u);
  EXPECT_EQ(fine.value().arch.d_model, 16u);
  auto bad = bakeoff_config_from_toml(toml::parse("[training]\nlearning_rate = -1\n"), 5);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("learning_rate"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(bakeoff_config_from_toml(toml::parse("[engine]\n"), 0));
  EXPECT_FALSE(bakeoff_config_from_toml(toml::parse("[engine]\n"), kMaxBakeoffFolds + 1));
}

}  // namespace
}  // namespace tfe::profile
