// Per-patient state: snapshots (presence, age, features, history), horizon eviction, memory.

#include <gtest/gtest.h>

#include <cmath>

#include "engine/patient_state.h"
#include "tests/engine/engine_test_util.h"

namespace tfe {
namespace {

using test::kHour;
using test::kMinute;
using test::kSecond;

StateLayout layout_for(const EngineConfig& config, const Scorer& scorer) {
  auto layout = StateLayout::make(config, scorer.spec());
  EXPECT_TRUE(layout) << layout.error().message;
  return std::move(layout).value();
}

// Encodes a text event as [text length, 1, 2].
class LengthEncoder final : public ModalityEncoder {
 public:
  uint32_t dim() const override { return 3; }
  void encode(const Event& event, std::span<float> out) const override {
    out[0] = static_cast<float>(event.text.size());
    out[1] = 1;
    out[2] = 2;
  }
};

TEST(PatientState, SnapshotReportsPresenceAgeAndFeatures) {
  const EngineConfig config = test::test_config();
  const test::SumScorer scorer(3);
  const StateLayout layout = layout_for(config, scorer);
  PatientState state(layout);
  SnapshotScratch scratch(layout);

  const int64_t t0 = 10 * kHour;
  state.apply(layout, test::vitals_event(7, t0, t0 + 2 * kSecond, {{0, 80}, {1, 97}}));
  state.apply(layout, test::vitals_event(7, t0 + kMinute, t0 + kMinute, {{0, 90}}));
  state.apply(layout, test::vector_event(7, 2, t0 - 2 * kHour, t0 + 30 * kSecond, {1, 2, 3, 4}));

  const int64_t t = t0 + 2 * kMinute;
  ASSERT_EQ(state.snapshot(layout, 7, t, scratch), 2u);
  const Snapshot& snap = scratch.snapshot();
  EXPECT_EQ(snap.patient, 7u);
  EXPECT_EQ(snap.time_ms, t);
  ASSERT_EQ(snap.modalities.size(), 3u);

  const ModalitySnapshot& vit = snap.modalities[0];
  EXPECT_TRUE(vit.present);
  EXPECT_EQ(vit.age_ms, kMinute);
  EXPECT_EQ(vit.event_time_ms, t0 + kMinute);
  const VitalsWindowsShape& shape = layout[0].windows;
  ASSERT_EQ(vit.features.size(), shape.feature_count());
  ASSERT_EQ(vit.features.size(), 2u * 6u * kWindowStatCount);
  for (float f : vit.features) EXPECT_TRUE(std::isfinite(f));
  EXPECT_EQ(vit.features[vitals_feature_index(shape, 0, 0, WindowStat::last)], 90.0f);
  EXPECT_EQ(vit.features[vitals_feature_index(shape, 0, 0, WindowStat::mean)], 85.0f);
  EXPECT_EQ(vit.features[vitals_feature_index(shape, 1, 1, WindowStat::count)], 1.0f);
  EXPECT_EQ(vit.features[vitals_feature_index(shape, 1, 2, WindowStat::count)], 0.0f);
  // History: newest first, raw readings with NaN where a channel was not measured.
  ASSERT_EQ(vit.history.size(), 2u);
  EXPECT_EQ(vit.history[0].age_ms, kMinute);
  EXPECT_EQ(vit.history[1].age_ms, 2 * kMinute);
  ASSERT_EQ(vit.history[0].features.size(), 6u);
  EXPECT_EQ(vit.history[0].features[0], 90.0f);
  EXPECT_TRUE(std::isnan(vit.history[0].features[1]));
  EXPECT_EQ(vit.history[1].features[1], 97.0f);

  const ModalitySnapshot& txt = snap.modalities[1];
  EXPECT_FALSE(txt.present);
  EXPECT_TRUE(txt.features.empty());
  EXPECT_TRUE(txt.history.empty());

  const ModalitySnapshot& emb = snap.modalities[2];
  EXPECT_TRUE(emb.present);
  EXPECT_EQ(emb.age_ms, 2 * kHour + 2 * kMinute);
  ASSERT_EQ(emb.features.size(), 4u);
  EXPECT_EQ(emb.features[3], 4.0f);
}

TEST(PatientState, HorizonEvictionReleasesTheModality) {
  const EngineConfig config = test::test_config();
  const test::SumScorer scorer(3);
  const StateLayout layout = layout_for(config, scorer);
  PatientState state(layout);
  SnapshotScratch scratch(layout);
  const std::size_t empty_bytes = state.state_bytes(layout);

  state.apply(layout, test::vitals_event(0, 0, 0, {{0, 70}, {2, 16}}));
  state.apply(layout, test::vector_event(0, 1, 0, kSecond, {0.5f, 0.5f, 0.5f}));
  EXPECT_GT(state.state_bytes(layout), empty_bytes);

  // Vitals horizon 15 min: present at exactly 15 min of age, absent after.
  ASSERT_EQ(state.snapshot(layout, 0, 15 * kMinute, scratch), 2u);
  EXPECT_TRUE(scratch.snapshot().modalities[0].present);
  const std::size_t both_bytes = state.state_bytes(layout);
  ASSERT_EQ(state.snapshot(layout, 0, 15 * kMinute + 1, scratch), 1u);
  EXPECT_FALSE(scratch.snapshot().modalities[0].present);
  EXPECT_TRUE(scratch.snapshot().modalities[0].features.empty());
  EXPECT_LT(state.state_bytes(layout), both_bytes);

  // Text horizon 48 h: nothing left after it.
  ASSERT_EQ(state.snapshot(layout, 0, 48 * kHour + 2 * kSecond, scratch), 0u);
  EXPECT_EQ(state.state_bytes(layout), empty_bytes);
}

TEST(PatientState, EventOlderThanItsHorizonAtArrivalIsIgnored) {
  const EngineConfig config = test::test_config();
  const test::SumScorer scorer(3);
  const StateLayout layout = layout_for(config, scorer);
  PatientState state(layout);
  SnapshotScratch scratch(layout);
  state.apply(layout, test::vitals_event(0, 0, 20 * kMinute, {{0, 70}}));
  EXPECT_EQ(state.snapshot(layout, 0, 20 * kMinute, scratch), 0u);
}

TEST(PatientState, StaleStateIsReleasedWhenTheNextEventArrives) {
  // Without a snapshot in between, a gap longer than the horizon still starts afresh.
  const EngineConfig config = test::test_config();
  const test::SumScorer scorer(3);
  const StateLayout layout = layout_for(config, scorer);
  PatientState state(layout);
  SnapshotScratch scratch(layout);
  state.apply(layout, test::vitals_event(0, 0, 0, {{0, 50}}));
  state.apply(layout, test::vitals_event(0, kHour, kHour, {{0, 100}}));
  ASSERT_EQ(state.snapshot(layout, 0, kHour, scratch), 1u);
  const ModalitySnapshot& vit = scratch.snapshot().modalities[0];
  EXPECT_EQ(vit.history.size(), 1u);
  EXPECT_EQ(vit.features[vitals_feature_index(layout[0].windows, 1, 0, WindowStat::mean)], 100.0f);
}

TEST(PatientState, HistoryRingIsBoundedAndOrderedByEventTime) {
  EngineConfig config = test::test_config();
  test::SumScorer scorer(3);
  const StateLayout layout = layout_for(config, scorer);
  ASSERT_EQ(layout[2].history, 4u);  // max(spec history 4, needs history 2)
  PatientState state(layout);
  SnapshotScratch scratch(layout);
  // Arrival order 10, 30, 20 (out of event-time order), 40, 50, then 5 (older than all held).
  const int64_t times[] = {10, 30, 20, 40, 50, 5};
  int64_t arrival = 100 * kMinute;
  for (int64_t minute : times) {
    state.apply(layout, test::vector_event(0, 2, minute * kMinute, arrival,
                                           {static_cast<float>(minute), 0, 0, 0}));
    arrival += kSecond;
  }
  ASSERT_EQ(state.snapshot(layout, 0, arrival, scratch), 1u);
  const ModalitySnapshot& emb = scratch.snapshot().modalities[2];
  ASSERT_EQ(emb.history.size(), 4u);
  const float expected[] = {50, 40, 30, 20};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(emb.history[i].features[0], expected[i]) << i;
    EXPECT_EQ(emb.history[i].age_ms, arrival - static_cast<int64_t>(expected[i]) * kMinute);
  }
  EXPECT_EQ(emb.features[0], 50.0f);  // latest state = newest event time
  EXPECT_EQ(emb.event_time_ms, 50 * kMinute);
}

// The history lists only events within the freshness horizon (age == horizon included, as for
// presence): an older note is evicted state, which a restore replaying a horizon of the topic
// would not have.
TEST(PatientState, HistoryHoldsOnlyEventsWithinTheHorizon) {
  const EngineConfig config = test::test_config();
  const test::SumScorer scorer(3);
  const StateLayout layout = layout_for(config, scorer);
  PatientState state(layout);
  SnapshotScratch scratch(layout);
  for (const int64_t hour : {0, 1, 47}) {
    state.apply(layout, test::vector_event(0, 1, hour * kHour, hour * kHour,
                                           {static_cast<float>(hour), 0, 0}));
  }
  ASSERT_EQ(state.snapshot(layout, 0, 48 * kHour, scratch), 1u);
  EXPECT_EQ(scratch.snapshot().modalities[1].history.size(), 3u);

  ASSERT_EQ(state.snapshot(layout, 0, 48 * kHour + 1, scratch), 1u);
  const ModalitySnapshot& txt = scratch.snapshot().modalities[1];
  ASSERT_EQ(txt.history.size(), 2u);
  EXPECT_EQ(txt.history[0].features[0], 47.0f);
  EXPECT_EQ(txt.history[1].features[0], 1.0f);
  EXPECT_EQ(txt.history[1].age_ms, 47 * kHour + 1);

  ASSERT_EQ(state.snapshot(layout, 0, 50 * kHour, scratch), 1u);
  ASSERT_EQ(scratch.snapshot().modalities[1].history.size(), 1u);
  EXPECT_EQ(scratch.snapshot().modalities[1].history[0].features[0], 47.0f);
}

TEST(PatientState, EncoderOutputIsCachedAndRawTextWithoutEmbeddingIsZeros) {
  EngineConfig config = test::test_config();
  test::SumScorer plain(3);
  const StateLayout raw = layout_for(config, plain);
  PatientState state(raw);
  SnapshotScratch scratch(raw);
  Event note = test::vector_event(0, 1, 0, 0, {});
  note.text = "short note";
  state.apply(raw, note);
  ASSERT_EQ(state.snapshot(raw, 0, 0, scratch), 1u);
  ASSERT_EQ(scratch.snapshot().modalities[1].features.size(), 3u);
  for (float f : scratch.snapshot().modalities[1].features) EXPECT_EQ(f, 0.0f);

  ScorerSpec spec = plain.spec();
  spec.needs[1].encoder = std::make_shared<LengthEncoder>();
  auto encoded = StateLayout::make(config, spec);
  ASSERT_TRUE(encoded);
  PatientState state2(encoded.value());
  SnapshotScratch scratch2(encoded.value());
  state2.apply(encoded.value(), note);
  ASSERT_EQ(state2.snapshot(encoded.value(), 0, kSecond, scratch2), 1u);
  const auto features = scratch2.snapshot().modalities[1].features;
  ASSERT_EQ(features.size(), 3u);
  EXPECT_EQ(features[0], 10.0f);
  EXPECT_EQ(features[2], 2.0f);
}

TEST(PatientState, WithoutFeatureNeedsOnlyTimesAreKept) {
  const EngineConfig config = test::test_config();
  const test::SumScorer scorer(3, /*features=*/false);
  const StateLayout layout = layout_for(config, scorer);
  const test::SumScorer full(3);
  const StateLayout full_layout = layout_for(config, full);
  PatientState lean(layout);
  PatientState rich(full_layout);
  SnapshotScratch scratch(layout);
  for (int i = 0; i < 10; ++i) {
    const Event e = test::vitals_event(0, i * kMinute, i * kMinute, {{0, 60}, {1, 95}, {2, 14}});
    lean.apply(layout, e);
    rich.apply(full_layout, e);
  }
  const Event image = test::vector_event(0, 2, 0, kMinute, {1, 2, 3, 4});
  lean.apply(layout, image);
  rich.apply(full_layout, image);
  EXPECT_LT(lean.state_bytes(layout) * 3, rich.state_bytes(full_layout));
  ASSERT_EQ(lean.snapshot(layout, 0, 10 * kMinute, scratch), 2u);
  const ModalitySnapshot& vit = scratch.snapshot().modalities[0];
  EXPECT_TRUE(vit.present);
  EXPECT_EQ(vit.age_ms, kMinute);
  EXPECT_TRUE(vit.features.empty());
  ASSERT_EQ(vit.history.size(), 4u);
  EXPECT_TRUE(vit.history[0].features.empty());
  EXPECT_TRUE(scratch.snapshot().modalities[2].features.empty());
}

TEST(PatientState, EventStampedAheadOfTheSnapshotHasAgeZero) {
  const EngineConfig config = test::test_config();
  const test::SumScorer scorer(3);
  const StateLayout layout = layout_for(config, scorer);
  PatientState state(layout);
  SnapshotScratch scratch(layout);
  state.apply(layout, test::vitals_event(0, 2 * kMinute, kMinute, {{0, 70}}));
  ASSERT_EQ(state.snapshot(layout, 0, kMinute, scratch), 1u);
  EXPECT_EQ(scratch.snapshot().modalities[0].age_ms, 0);
  EXPECT_EQ(scratch.snapshot().modalities[0].history[0].age_ms, 0);
}

// A scorer that only declares needs (the state tests never score).
class NeedsOnly final : public Scorer {
 public:
  explicit NeedsOnly(std::vector<ModalityNeeds> needs) { spec_.needs = std::move(needs); }
  const ScorerSpec& spec() const override { return spec_; }
  std::unique_ptr<ScorerState> make_state() const override {
    return std::make_unique<ScorerState>();
  }
  void score(const Snapshot&, ScorerState&, ScoreOutput&) const override {}

 private:
  ScorerSpec spec_;
};

// VitalsFeatures::latest must give exactly the `last` window statistic of a window as long as
// its `within` (NaN where that window's count is 0), on readings with missing channels, gaps
// beyond the horizon, equal event times and out-of-order arrivals.
TEST(PatientState, LatestReadingsEqualTheLastWindowStatistic) {
  const EngineConfig config = test::test_config();
  std::vector<ModalityNeeds> windowed(3), latest(3);
  windowed[0].features = true;
  latest[0].features = true;
  latest[0].vitals = VitalsFeatures::latest;
  latest[0].latest_within_ms = config.windows_ms[0];
  latest[0].history = 0;  // no history items wanted: the snapshot lists none
  const NeedsOnly windowed_scorer(windowed), latest_scorer(latest);
  const StateLayout wl = layout_for(config, windowed_scorer);
  const StateLayout ll = layout_for(config, latest_scorer);
  ASSERT_EQ(ll[0].snapshot_dim, 6u);
  PatientState ws(wl), ls(ll);
  SnapshotScratch wscratch(wl), lscratch(ll);

  uint64_t rng = 12345;
  auto next = [&](uint64_t n) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (rng >> 33) % n;
  };
  int64_t now = 10 * kHour;
  std::size_t compared = 0, missing = 0;
  for (int step = 0; step < 4000; ++step) {
    // Mostly a reading every 10-70 s; sometimes a gap longer than the horizon.
    now += next(20) == 0 ? 20 * kMinute : static_cast<int64_t>(10 + next(60)) * kSecond;
    const int64_t event_time =
        next(8) == 0 ? now - static_cast<int64_t>(next(8)) * kMinute : now - 2 * kSecond;
    std::vector<std::pair<int, float>> values;
    for (int c = 0; c < 6; ++c) {
      if (next(3) != 0) values.emplace_back(c, static_cast<float>(next(1000)) / 8.0f);
    }
    const Event e = test::vitals_event(1, event_time, now, values);
    ws.apply(wl, e);
    ls.apply(ll, e);
    if (next(2) == 0) continue;
    const int64_t t = now + static_cast<int64_t>(next(3)) * kMinute;
    const std::size_t wp = ws.snapshot(wl, 1, t, wscratch);
    ASSERT_EQ(ls.snapshot(ll, 1, t, lscratch), wp) << "step " << step;
    if (wp == 0) continue;
    const auto wf = wscratch.snapshot().modalities[0].features;
    const auto lf = lscratch.snapshot().modalities[0].features;
    ASSERT_EQ(lf.size(), 6u);
    EXPECT_FALSE(wscratch.snapshot().modalities[0].history.empty());
    EXPECT_TRUE(lscratch.snapshot().modalities[0].history.empty());
    for (std::size_t c = 0; c < 6; ++c) {
      const float count = wf[vitals_feature_index(wl[0].windows, 0, c, WindowStat::count)];
      if (count > 0) {
        EXPECT_EQ(lf[c], wf[vitals_feature_index(wl[0].windows, 0, c, WindowStat::last)])
            << "step " << step << " channel " << c;
        ++compared;
      } else {
        EXPECT_TRUE(std::isnan(lf[c])) << "step " << step << " channel " << c;
        ++missing;
      }
    }
    now = t;
  }
  // Both branches were exercised many times.
  EXPECT_GT(compared, 1000u);
  EXPECT_GT(missing, 100u);
  // A value and a time per channel instead of the window rings and sums.
  EXPECT_LT(ls.state_bytes(ll), ws.state_bytes(wl));
}

TEST(StateLayout, RejectsNeedsThatDoNotMatchTheSchema) {
  const EngineConfig config = test::test_config();
  const test::SumScorer scorer(2);
  auto layout = StateLayout::make(config, scorer.spec());
  ASSERT_FALSE(layout);
  EXPECT_EQ(layout.error().message,
            "scorer 'sum' declares needs for 2 modalities, the schema has 3");
}

TEST(PatientState, WardPatientStaysUnderTwoKibibytes) {
  // Default shape (6 channels, 5 and 15 minute windows, history 4), one reading a minute with
  // jitter and partial channels, plus notes and images whose features the scorer does not need
  // (NEWS2-like needs).
  const EngineConfig config = test::test_config();
  ScorerSpec spec;
  spec.strategy = "news2-like";
  spec.needs.resize(3);
  spec.needs[0].features = true;
  const auto layout = StateLayout::make(config, spec);
  ASSERT_TRUE(layout);
  PatientState state(layout.value());
  SnapshotScratch scratch(layout.value());
  std::size_t peak = 0;
  for (int i = 0; i < 24 * 60; ++i) {
    const int64_t t = i * kMinute + (i * 7919 % 20) * kSecond;
    Event e = test::vitals_event(0, t, t + 3 * kSecond,
                                 {{0, 80}, {1, 96}, {2, 16}, {3, 37}, {4, 120}, {5, 3}});
    if (i % 5 == 0) e.vitals.present_mask = 0b000101;  // a partial reading now and then
    state.apply(layout.value(), e);
    if (i % 240 == 0) {
      state.apply(layout.value(), test::vector_event(0, 1, t - kHour, t + 3 * kSecond, {}));
    }
    if (i == 600) {
      state.apply(layout.value(),
                  test::vector_event(0, 2, t - kHour, t + 3 * kSecond, {1, 2, 3, 4}));
    }
    state.snapshot(layout.value(), 0, t + 4 * kSecond, scratch);
    peak = std::max(peak, state.state_bytes(layout.value()) + sizeof(PatientState));
  }
  EXPECT_LE(peak, 2048u);
  RecordProperty("peak_bytes_per_patient", static_cast<int>(peak));
}

}  // namespace
}  // namespace tfe
