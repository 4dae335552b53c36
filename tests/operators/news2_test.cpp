// NEWS2 against hand-computed cases: every band edge of every parameter (RCP 2017 chart), the
// aggregate, the documented defaults, the risk mapping, and the scorer over a snapshot.

#include "operators/news2.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/snapshot.h"

namespace tfe {
namespace {

struct BandCase {
  float value;
  int points;
};

void expect_bands(int (*points)(float), const std::vector<BandCase>& cases, const char* what) {
  for (const auto& c : cases) {
    EXPECT_EQ(points(c.value), c.points) << what << " " << c.value;
  }
}

TEST(News2Bands, RespirationRate) {
  // <=8: 3, 9-11: 1, 12-20: 0, 21-24: 2, >=25: 3
  expect_bands(
      news2_respiration_points,
      {{4, 3}, {8, 3}, {9, 1}, {11, 1}, {12, 0}, {20, 0}, {21, 2}, {24, 2}, {25, 3}, {40, 3}},
      "rr");
}

TEST(News2Bands, Spo2Scale1) {
  // <=91: 3, 92-93: 2, 94-95: 1, >=96: 0
  expect_bands(news2_spo2_scale1_points,
               {{80, 3}, {91, 3}, {92, 2}, {93, 2}, {94, 1}, {95, 1}, {96, 0}, {100, 0}}, "spo2");
}

TEST(News2Bands, SystolicPressure) {
  // <=90: 3, 91-100: 2, 101-110: 1, 111-219: 0, >=220: 3
  expect_bands(news2_systolic_points,
               {{70, 3},
                {90, 3},
                {91, 2},
                {100, 2},
                {101, 1},
                {110, 1},
                {111, 0},
                {219, 0},
                {220, 3},
                {240, 3}},
               "sbp");
}

TEST(News2Bands, Pulse) {
  // <=40: 3, 41-50: 1, 51-90: 0, 91-110: 1, 111-130: 2, >=131: 3
  expect_bands(news2_pulse_points,
               {{30, 3},
                {40, 3},
                {41, 1},
                {50, 1},
                {51, 0},
                {90, 0},
                {91, 1},
                {110, 1},
                {111, 2},
                {130, 2},
                {131, 3},
                {180, 3}},
               "pulse");
}

TEST(News2Bands, Temperature) {
  // <=35.0: 3, 35.1-36.0: 1, 36.1-38.0: 0, 38.1-39.0: 1, >=39.1: 2
  expect_bands(news2_temperature_points,
               {{34.0f, 3},
                {35.0f, 3},
                {35.1f, 1},
                {36.0f, 1},
                {36.1f, 0},
                {38.0f, 0},
                {38.1f, 1},
                {39.0f, 1},
                {39.1f, 2},
                {41.0f, 2}},
               "temp");
}

TEST(News2Bands, AirOxygenAndConsciousness) {
  EXPECT_EQ(news2_air_or_oxygen_points(0), 0);
  EXPECT_EQ(news2_air_or_oxygen_points(1), 2);
  EXPECT_EQ(news2_consciousness_points(0), 0);
  for (float cvpu : {1.0f, 2.0f, 3.0f, 4.0f}) EXPECT_EQ(news2_consciousness_points(cvpu), 3);
}

TEST(News2Bands, ValuesAreChartedBeforeBanding) {
  // Whole numbers for rr/spo2/sbp/pulse, tenths for temperature, half away from zero.
  EXPECT_EQ(news2_respiration_points(20.4f), 0);
  EXPECT_EQ(news2_respiration_points(20.6f), 2);
  EXPECT_EQ(news2_spo2_scale1_points(95.6f), 0);
  EXPECT_EQ(news2_systolic_points(90.4f), 3);
  EXPECT_EQ(news2_pulse_points(90.7f), 1);
  EXPECT_EQ(news2_temperature_points(38.04f), 0);
  EXPECT_EQ(news2_temperature_points(38.06f), 1);
}

TEST(News2Bands, TemperatureHalvesChartUpThoughFloatStoresThemBelow) {
  // Each of these is stored just below its half (38.05f is 38.0499992), so it charts up only
  // because the rounding allows for float's error.
  for (const float v : {35.05f, 36.05f, 38.05f, 39.05f}) {
    ASSERT_LT(static_cast<double>(v) * 10.0, std::floor(static_cast<double>(v) * 10.0) + 0.5) << v;
  }
  EXPECT_EQ(news2_temperature_points(35.05f), 1);  // 35.1
  EXPECT_EQ(news2_temperature_points(36.05f), 0);  // 36.1
  EXPECT_EQ(news2_temperature_points(38.05f), 1);  // 38.1
  EXPECT_EQ(news2_temperature_points(39.05f), 2);  // 39.1
  // Readings a thermometer reports keep their band.
  EXPECT_EQ(news2_temperature_points(38.0f), 0);
  EXPECT_EQ(news2_temperature_points(38.1f), 1);
  EXPECT_EQ(news2_temperature_points(35.0f), 3);
  EXPECT_EQ(news2_temperature_points(38.049f), 0);
}

TEST(News2Bands, ChartRoundingEqualsStdRound) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> values = {0.0,
                                -0.0,
                                0.5,
                                -0.5,
                                1.5,
                                2.5,
                                -2.5,
                                0.49999999999999994,
                                -0.49999999999999994,
                                24.5,
                                380.5,
                                4503599627370495.5,
                                4503599627370496.0,
                                9007199254740993.0,
                                1e300,
                                -1e300,
                                std::numeric_limits<double>::denorm_min(),
                                inf,
                                -inf};
  uint64_t x = 88172645463325252ull;  // xorshift: random doubles of every magnitude
  for (int i = 0; i < 100000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double d = 0;
    std::memcpy(&d, &x, sizeof d);
    if (std::isfinite(d)) values.push_back(d);
    values.push_back(static_cast<double>(static_cast<int64_t>(x % 200000) - 100000) / 20.0);
  }
  for (const double v : values) {
    const double want = std::round(v);
    const double got = detail::round_half_away(v);
    EXPECT_EQ(std::memcmp(&want, &got, sizeof want), 0) << v;  // bit for bit, the sign of 0 too
  }
  EXPECT_TRUE(std::isnan(detail::round_half_away(std::numeric_limits<double>::quiet_NaN())));
}

TEST(News2Bands, MissingScoresZero) {
  const float nan = News2Observations::kMissing;
  EXPECT_EQ(news2_respiration_points(nan), 0);
  EXPECT_EQ(news2_spo2_scale1_points(nan), 0);
  EXPECT_EQ(news2_systolic_points(nan), 0);
  EXPECT_EQ(news2_pulse_points(nan), 0);
  EXPECT_EQ(news2_temperature_points(nan), 0);
  EXPECT_EQ(news2_air_or_oxygen_points(nan), 0);  // default: air
  EXPECT_EQ(news2_consciousness_points(nan), 0);  // default: alert
  EXPECT_EQ(news2_pulse_points(INFINITY), 0);
  EXPECT_EQ(news2_score(News2Observations{}).total, 0);
}

TEST(News2Aggregate, HandComputed) {
  News2Observations normal;
  normal.respiration_rate = 16;
  normal.spo2 = 97;
  normal.systolic_bp = 125;
  normal.pulse = 72;
  normal.temperature = 36.8f;
  EXPECT_EQ(news2_score(normal).total, 0);

  News2Observations mid = normal;
  mid.respiration_rate = 22;  // 2
  mid.spo2 = 93;              // 2
  mid.systolic_bp = 105;      // 1
  mid.pulse = 115;            // 2
  mid.temperature = 38.5f;    // 1
  const News2Breakdown b = news2_score(mid);
  EXPECT_EQ(b.respiration_rate, 2);
  EXPECT_EQ(b.spo2, 2);
  EXPECT_EQ(b.air_or_oxygen, 0);
  EXPECT_EQ(b.systolic_bp, 1);
  EXPECT_EQ(b.pulse, 2);
  EXPECT_EQ(b.consciousness, 0);
  EXPECT_EQ(b.temperature, 1);
  EXPECT_EQ(b.total, 8);

  News2Observations worst;
  worst.respiration_rate = 30;
  worst.spo2 = 85;
  worst.on_oxygen = 1;
  worst.systolic_bp = 85;
  worst.pulse = 140;
  worst.consciousness = 1;
  worst.temperature = 34.5f;
  EXPECT_EQ(news2_score(worst).total, 20);
}

TEST(News2Mapping, MonotoneAndAnchored) {
  EXPECT_DOUBLE_EQ(news2_logit(5), 0.0);
  EXPECT_DOUBLE_EQ(news2_risk(5), 0.5);
  EXPECT_DOUBLE_EQ(news2_logit(8), 2.0);
  EXPECT_NEAR(news2_risk(0), 1.0 / (1.0 + std::exp(5.0 / 1.5)), 1e-12);
  for (int s = 0; s < 20; ++s) {
    EXPECT_LT(news2_logit(s), news2_logit(s + 1)) << s;
    EXPECT_LT(news2_risk(s), news2_risk(s + 1)) << s;
    EXPECT_GT(news2_risk(s), 0.0);
    EXPECT_LT(news2_risk(s + 1), 1.0);
  }
}

// ---- the scorer over snapshots ---------------------------------------------------------------

EngineConfig make_config(std::vector<std::string> channels) {
  ModalitySpec notes;
  notes.name = "notes";
  notes.kind = ModalityKind::text;
  ModalitySpec vitals;
  vitals.name = "wearables";
  vitals.kind = ModalityKind::vitals;
  vitals.channels = std::move(channels);
  ModalitySpec imaging;
  imaging.name = "imaging";
  imaging.kind = ModalityKind::embedding;
  imaging.dim = 4;
  EngineConfig config;
  // Vitals deliberately not first: the scorer finds the first vitals modality.
  config.schema = ModalitySchema({notes, vitals, imaging});
  config.windows_ms = {900'000, 300'000};  // the shortest window is the second
  return config;
}

// Features as NEWS2 declares them (VitalsFeatures::latest): [channels], each channel's newest
// reading within the shortest window, NaN where there is none.
struct SnapshotBuilder {
  std::vector<float> features;
  std::vector<ModalitySnapshot> modalities;

  explicit SnapshotBuilder(std::size_t channel_count)
      : features(channel_count, std::numeric_limits<float>::quiet_NaN()), modalities(3) {}
  void set(std::size_t channel, float last) { features[channel] = last; }
  Snapshot snapshot() {
    modalities[1].present = true;
    modalities[1].features = features;
    Snapshot s;
    s.patient = 0;
    s.time_ms = 1'000'000;
    s.modalities = modalities;
    return s;
  }
};

TEST(News2Scorer, DeclaresOnlyVitalsFeatures) {
  auto scorer = make_news2_scorer(make_config({"hr", "spo2", "rr", "temp", "sbp", "activity"}));
  ASSERT_TRUE(scorer) << scorer.error().message;
  const ScorerSpec& spec = scorer.value()->spec();
  EXPECT_EQ(spec.strategy, "news2");
  ASSERT_EQ(spec.needs.size(), 3u);
  EXPECT_FALSE(spec.needs[0].features);
  EXPECT_TRUE(spec.needs[1].features);
  EXPECT_EQ(spec.needs[1].vitals, VitalsFeatures::latest);
  EXPECT_EQ(spec.needs[1].latest_within_ms, 300'000);  // the shortest window
  EXPECT_FALSE(spec.needs[2].features);
}

TEST(News2Scorer, ScoresLatestValueOfShortestWindow) {
  auto scorer = make_news2_scorer(make_config({"hr", "spo2", "rr", "temp", "sbp", "activity"}));
  ASSERT_TRUE(scorer) << scorer.error().message;
  SnapshotBuilder b(6);
  b.set(0, 115);    // hr: 2
  b.set(1, 93);     // spo2: 2
  b.set(2, 22);     // rr: 2
  b.set(3, 38.5f);  // temp: 1
  b.set(4, 105);    // sbp: 1
  b.set(5, 80);     // activity: not scored
  auto state = scorer.value()->make_state();
  ScoreOutput out;
  scorer.value()->score(b.snapshot(), *state, out);
  EXPECT_DOUBLE_EQ(out.logit, news2_logit(8));
  EXPECT_DOUBLE_EQ(out.risk, news2_risk(8));
  EXPECT_EQ(out.weight[1], 1.0f);
  EXPECT_EQ(out.weight[0], 0.0f);
  EXPECT_EQ(out.weight[2], 0.0f);
}

TEST(News2Scorer, EmptyWindowAndAbsentModalityScoreZero) {
  auto scorer = make_news2_scorer(make_config({"hr", "spo2", "rr", "temp", "sbp", "activity"}));
  ASSERT_TRUE(scorer) << scorer.error().message;
  auto state = scorer.value()->make_state();
  SnapshotBuilder b(6);
  b.set(2, 30);  // rr: 3; every other channel has no reading in the short window
  ScoreOutput out;
  scorer.value()->score(b.snapshot(), *state, out);
  EXPECT_DOUBLE_EQ(out.logit, news2_logit(3));

  Snapshot absent = b.snapshot();
  b.modalities[1].present = false;
  b.modalities[1].features = {};
  scorer.value()->score(absent, *state, out);
  EXPECT_DOUBLE_EQ(out.logit, news2_logit(0));
  EXPECT_EQ(out.weight[1], 0.0f);
}

TEST(News2Scorer, UsesOxygenAndConsciousnessChannelsWhenPresent) {
  auto scorer =
      make_news2_scorer(make_config({"hr", "spo2", "rr", "temp", "sbp", "o2", "consciousness"}));
  ASSERT_TRUE(scorer) << scorer.error().message;
  auto state = scorer.value()->make_state();
  SnapshotBuilder b(7);
  b.set(0, 70);
  b.set(1, 97);
  b.set(2, 16);
  b.set(3, 36.8f);
  b.set(4, 125);
  b.set(5, 1);  // on oxygen: 2
  b.set(6, 2);  // responds to voice: 3
  ScoreOutput out;
  scorer.value()->score(b.snapshot(), *state, out);
  EXPECT_DOUBLE_EQ(out.logit, news2_logit(5));
}

TEST(News2Scorer, FailsClearlyWithoutRequiredChannels) {
  auto scorer = make_news2_scorer(make_config({"hr", "spo2", "temp", "activity"}));
  ASSERT_FALSE(scorer);
  EXPECT_EQ(scorer.error().code, Errc::schema);
  EXPECT_NE(scorer.error().message.find("rr"), std::string::npos) << scorer.error().message;
  EXPECT_NE(scorer.error().message.find("sbp"), std::string::npos) << scorer.error().message;

  EngineConfig no_vitals = make_config({"hr"});
  std::vector<ModalitySpec> specs{no_vitals.schema[0], no_vitals.schema[2]};
  no_vitals.schema = ModalitySchema(specs);
  auto none = make_news2_scorer(no_vitals);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no vitals modality"), std::string::npos);
}

}  // namespace
}  // namespace tfe
