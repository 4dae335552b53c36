// The backtest driver: a synthetic ward history replayed through the engine with NEWS2 and a
// fusion model, labelled, evaluated, stress-tested (masked rescoring, delayed history) and
// assembled into a report.

#include "tools/report/backtest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "operators/fusion_model.h"
#include "operators/fusion_operator.h"
#include "operators/news2.h"
#include "tools/report/report.h"
#include "tools/synth/synth.h"

namespace tfe::report {
namespace {

constexpr int64_t kHour = 3'600'000;

Event make_event(PatientIndex patient, ModalityIndex modality, int64_t event_ms,
                 int64_t arrival_ms = 0, uint64_t seq = 0) {
  Event e;
  e.patient = patient;
  e.modality = modality;
  e.event_time_ms = event_ms;
  e.arrival_time_ms = arrival_ms;
  e.source_seq = seq;
  return e;
}

struct Cohort {
  EngineConfig config;
  std::unique_ptr<PatientRegistry> registry = std::make_unique<PatientRegistry>();
  History history;
  std::vector<BacktestScorer> scorers;  // NEWS2, then an attention model with random weights
};

// 200 ward patients over one day, as `tfe synth --profile ward --patients 200 --days 1 --seed 3`.
const Cohort& cohort() {
  static const Cohort c = [] {
    Cohort c;
    auto profile = synth::load_profile("ward", std::string(TFE_SOURCE_DIR) + "/configs/profiles");
    if (!profile) throw std::runtime_error(profile.error().message);
    c.config = profile.value().engine;
    auto stats = synth::generate(profile.value(), synth::GenerateOptions{200, 1, 3}, *c.registry,
                                 [&](const Event& e) { c.history.events.push_back(e); });
    if (!stats) throw std::runtime_error(stats.error().message);
    sort_for_replay(c.history.events);
    auto news2 = make_news2_scorer(c.config);
    if (!news2) throw std::runtime_error(news2.error().message);
    c.scorers.push_back({"news2", news2.value(), std::nullopt});
    ModelConfig arch;
    arch.strategy = Strategy::attention;
    auto model = init_model(arch, c.config, 11);
    if (!model) throw std::runtime_error(model.error().message);
    auto op = FusionOperator::create(std::make_shared<const FusionModel>(std::move(model.value())),
                                     c.config);
    if (!op) throw std::runtime_error(op.error().message);
    c.scorers.push_back({"attention", op.value(), std::nullopt});
    return c;
  }();
  return c;
}

BacktestOptions quick_options() {
  BacktestOptions options;
  options.evaluation.bootstrap_replicates = 40;
  options.evaluation.seed = 5;
  return options;
}

const Report& backtest() {
  static const Report report = [] {
    const Cohort& c = cohort();
    auto r = run_backtest(c.history.events, *c.registry, c.config, c.scorers, quick_options());
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(r.value());
  }();
  return report;
}

TEST(BacktestVariants, HistoryOutcomesKeepTheFirstPerPatient) {
  std::vector<Event> events(4);
  events[0] = make_event(2, kOutcomeModality, 500);
  events[1] = make_event(2, kOutcomeModality, 300);
  events[2] = make_event(0, 0, 100);
  events[3] = make_event(1, kOutcomeModality, 900);
  const std::vector<OutcomeEvent> out = history_outcomes(events);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].patient, 1u);
  EXPECT_EQ(out[0].time_ms, 900);
  EXPECT_EQ(out[1].patient, 2u);
  EXPECT_EQ(out[1].time_ms, 300);
}

// The events of a rearranged replay as a vector of their own, arrival times moved.
std::vector<Event> copy_rearranged(std::span<const Event> events,
                                   std::span<const Rearrival> order) {
  std::vector<Event> out;
  for (const Rearrival& r : order) {
    out.push_back(events[r.index]);
    out.back().arrival_time_ms = r.arrival_ms;
  }
  return out;
}

TEST(BacktestVariants, DelayScalingMovesArrivalsAndResorts) {
  std::vector<Event> events(5);
  events[0] = make_event(0, 0, 0, 10, 0);
  events[1] = make_event(0, 1, 5, 12, 1);
  events[2] = make_event(1, 0, 20, 15, 2);                // clock skew: kept
  events[3] = make_event(1, kOutcomeModality, 0, 16, 3);  // outcome: untouched
  events[4] = make_event(1, 0, 18, 18, 4);                // no delay
  const std::vector<Event> scaled = copy_rearranged(events, scale_delays(events, 2.0));
  ASSERT_EQ(scaled.size(), 5u);
  const std::vector<std::pair<uint64_t, int64_t>> expected = {
      {2, 15}, {3, 16}, {4, 18}, {0, 20}, {1, 19}};
  std::vector<std::pair<uint64_t, int64_t>> got;
  for (const Event& e : scaled) got.push_back({e.source_seq, e.arrival_time_ms});
  std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second < b.second : a.first < b.first;
  });
  std::vector<std::pair<uint64_t, int64_t>> order;
  for (const Event& e : scaled) order.push_back({e.source_seq, e.arrival_time_ms});
  EXPECT_EQ(order, got) << "not in replay order";
  std::map<uint64_t, int64_t> by_seq(order.begin(), order.end());
  EXPECT_EQ(by_seq[0], 20);
  EXPECT_EQ(by_seq[1], 19);
  EXPECT_EQ(by_seq[2], 15);
  EXPECT_EQ(by_seq[3], 16);
  EXPECT_EQ(by_seq[4], 18);
}

TEST(BacktestVariants, DelayScalingMatchesSortForReplay) {
  const Cohort& c = cohort();
  const std::vector<Event> scaled =
      copy_rearranged(c.history.events, scale_delays(c.history.events, 2.0));
  std::vector<Event> reference = c.history.events;
  for (Event& e : reference) {
    const int64_t delay = e.arrival_time_ms - e.event_time_ms;
    if (e.modality != kOutcomeModality && delay > 0)
      e.arrival_time_ms = e.event_time_ms + 2 * delay;
  }
  sort_for_replay(reference);
  ASSERT_EQ(scaled.size(), reference.size());
  for (std::size_t i = 0; i < scaled.size(); ++i) {
    ASSERT_EQ(scaled[i].source_seq, reference[i].source_seq) << "position " << i;
    ASSERT_EQ(scaled[i].arrival_time_ms, reference[i].arrival_time_ms) << "position " << i;
  }
}

TEST(BacktestHorizon, OverrideAgreementDisagreementDefault) {
  std::vector<BacktestScorer> scorers(3);
  scorers[0].name = "a";
  scorers[1].name = "b";
  scorers[1].horizon_ms = 4 * kHour;
  scorers[2].name = "c";
  scorers[2].horizon_ms = 4 * kHour;
  EXPECT_EQ(label_horizon(scorers, std::nullopt).value(), 4 * kHour);
  EXPECT_EQ(label_horizon(scorers, 2 * kHour).value(), 2 * kHour);
  scorers[2].horizon_ms = 8 * kHour;
  auto disagree = label_horizon(scorers, std::nullopt);
  ASSERT_FALSE(disagree);
  EXPECT_EQ(disagree.error().message,
            "models were trained with different horizons (14400000 ms for 'b', 28800000 ms for "
            "'c'); give one with --horizon");
  EXPECT_EQ(label_horizon(scorers, 8 * kHour).value(), 8 * kHour);
  EXPECT_EQ(label_horizon(std::span(scorers).first(1), std::nullopt).value(), kDefaultHorizonMs);
  EXPECT_FALSE(label_horizon(scorers, 0));
}

TEST(Backtest, RejectsNoScorersAndBadDelayFactor) {
  const Cohort& c = cohort();
  EXPECT_FALSE(run_backtest(c.history.events, *c.registry, c.config, {}, quick_options()));
  BacktestOptions options = quick_options();
  options.delay_factor = 0;
  EXPECT_FALSE(run_backtest(c.history.events, *c.registry, c.config, c.scorers, options));
}

// Every replicate count above the limit is refused before any replay (a typo in --bootstrap
// would otherwise run for days).
TEST(Backtest, RejectsMoreBootstrapReplicatesThanTheLimit) {
  const Cohort& c = cohort();
  BacktestOptions options = quick_options();
  options.evaluation.bootstrap_replicates = 100'001;
  auto refused = run_backtest(c.history.events, *c.registry, c.config, c.scorers, options);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("100000"), std::string::npos) << refused.error().message;
}

// A confidence outside (0, 1) would put the percentile positions outside the replicates.
TEST(Backtest, RejectsAConfidenceOutsideZeroToOne) {
  const Cohort& c = cohort();
  for (const double confidence : {0.0, 1.0, 1.5, -0.5, std::nan("")}) {
    BacktestOptions options = quick_options();
    options.evaluation.confidence = confidence;
    auto refused = run_backtest(c.history.events, *c.registry, c.config, c.scorers, options);
    ASSERT_FALSE(refused) << confidence;
    EXPECT_NE(refused.error().message.find("confidence"), std::string::npos)
        << refused.error().message;
  }
}

// Thresholds given out of order or twice (--threshold 0.3 --threshold 0.1 --threshold 0.3) are
// the distinct ones, ascending as the defaults: one alert-policy row each, not a repeated row.
// One outside [0, 1] (NaN included) is refused.
TEST(Backtest, AlertThresholdsAreSortedAndEachKeptOnce) {
  const Cohort& c = cohort();
  BacktestOptions options = quick_options();
  options.stress = false;
  options.evaluation.bootstrap_replicates = 0;
  options.evaluation.thresholds = {0.3, 0.1, 0.3};
  const std::vector<BacktestScorer> news2 = {c.scorers.front()};
  auto report = run_backtest(c.history.events, *c.registry, c.config, news2, options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report.value().meta.options.thresholds, (std::vector<double>{0.1, 0.3}));
  std::vector<double> fixed;
  for (const AlertPolicy& a : report.value().models.at(0).evaluation.overall.alerts) {
    if (a.basis == ThresholdBasis::fixed) fixed.push_back(a.threshold);
  }
  EXPECT_EQ(fixed, (std::vector<double>{0.1, 0.3}));
  for (const double bad : {-0.1, 1.5, std::nan("")}) {
    options.evaluation.thresholds = {0.2, bad};
    auto refused = run_backtest(c.history.events, *c.registry, c.config, news2, options);
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("threshold"), std::string::npos)
        << refused.error().message;
  }
}

TEST(Backtest, CohortHasOutcomesAndEveryModality) {
  const Cohort& c = cohort();
  EXPECT_GT(history_outcomes(c.history.events).size(), 0u)
      << "the test cohort must hold outcomes for labels";
  std::vector<uint64_t> per_modality(c.config.schema.size());
  for (const Event& e : c.history.events) {
    if (e.modality < per_modality.size()) ++per_modality[e.modality];
  }
  for (std::size_t m = 0; m < per_modality.size(); ++m) EXPECT_GT(per_modality[m], 0u) << m;
}

// One backtest per test process (each test runs alone under ctest): every check of the full report
// is here.
TEST(Backtest, ReportHoldsEveryScorerSubgroupStressTestAndTimeline) {
  const Cohort& c = cohort();
  const Report& r = backtest();
  EXPECT_EQ(r.meta.horizon_ms, kDefaultHorizonMs);
  EXPECT_EQ(r.meta.tick_cadence_ms, c.config.tick_cadence_ms);
  EXPECT_EQ(r.meta.patients, c.registry->size());
  EXPECT_EQ(r.meta.events, c.history.events.size());
  ASSERT_EQ(r.meta.modalities.size(), c.config.schema.size());
  ASSERT_EQ(r.models.size(), 2u);
  EXPECT_EQ(r.models[0].info.name, "news2");
  EXPECT_EQ(r.models[0].info.strategy, "news2");
  EXPECT_EQ(r.models[1].info.strategy, "attention");
  EXPECT_FALSE(r.models[1].info.model_id.empty());
  for (const ModelReport& m : r.models) {
    const GroupMetrics& all = m.evaluation.overall;
    EXPECT_GT(all.ticks, 1000u) << m.info.name;
    EXPECT_GT(all.positive_ticks, 0u) << m.info.name;
    EXPECT_FALSE(std::isnan(all.discrimination.auroc)) << m.info.name;
    EXPECT_FALSE(std::isnan(all.discrimination.auroc_ci.lo)) << m.info.name;
    EXPECT_LE(all.discrimination.auroc_ci.lo, all.discrimination.auroc_ci.hi);
    ASSERT_GE(m.evaluation.subgroups.size(), 2u) << m.info.name;
    uint64_t ticks = 0;
    for (const GroupMetrics& g : m.evaluation.subgroups) ticks += g.ticks;
    EXPECT_EQ(ticks, all.ticks) << "subgroups partition the ticks";
    // Masks of every modality in turn, then the doubled delays.
    ASSERT_EQ(m.stress.size(), c.config.schema.size() + 1) << m.info.name;
    for (std::size_t s = 0; s < c.config.schema.size(); ++s) {
      EXPECT_EQ(m.stress[s].kind, StressKind::mask_modality);
      EXPECT_EQ(m.stress[s].modality, c.config.schema[static_cast<ModalityIndex>(s)].name);
      EXPECT_DOUBLE_EQ(m.stress[s].comparison.auroc.baseline, all.discrimination.auroc);
    }
    EXPECT_EQ(m.stress.back().kind, StressKind::delay_scale);
    EXPECT_EQ(m.stress.back().delay_factor, 2.0);
  }
  // Every scorer sees the same ticks: the engine, not the scorer, decides when to score.
  EXPECT_EQ(r.models[0].evaluation.overall.ticks, r.models[1].evaluation.overall.ticks);

  // NEWS2 reads only the vitals modality: masked, every tick has the same risk.
  const StressResult& news2_without_vitals = r.models[0].stress[0];
  ASSERT_EQ(news2_without_vitals.modality, "wearables");
  EXPECT_DOUBLE_EQ(news2_without_vitals.comparison.auroc.stressed, 0.5);
  EXPECT_LT(news2_without_vitals.comparison.auroc.delta, 0.0)
      << "NEWS2 with vitals must beat chance here";
  EXPECT_LT(news2_without_vitals.comparison.auroc.delta_ci.lo,
            news2_without_vitals.comparison.auroc.delta_ci.hi);

  // Timelines: one sample patient per subgroup, a trace per model, pseudonyms only.
  ASSERT_FALSE(r.timelines.empty());
  for (const Timeline& t : r.timelines) {
    EXPECT_LT(t.start_ms, t.end_ms);
    EXPECT_EQ(t.events.size(), r.meta.modalities.size());
    ASSERT_EQ(t.traces.size(), r.models.size());
    for (const RiskTrace& trace : t.traces) EXPECT_FALSE(trace.risk.empty()) << trace.model;
    EXPECT_EQ(t.patient.find("ward-"), std::string::npos) << "patient ids never in the report";
  }
}

// The reference: scores every snapshot with one modality marked absent, the plain way.
class AbsentModalityScorer final : public Scorer {
 public:
  AbsentModalityScorer(std::shared_ptr<const Scorer> inner, ModalityIndex masked)
      : inner_(std::move(inner)), masked_(masked) {}
  const ScorerSpec& spec() const override { return inner_->spec(); }
  std::unique_ptr<ScorerState> make_state() const override { return inner_->make_state(); }
  void score(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out) const override {
    std::vector<ModalitySnapshot> modalities(snapshot.modalities.begin(),
                                             snapshot.modalities.end());
    modalities.at(masked_) = ModalitySnapshot{};
    inner_->score(Snapshot{snapshot.patient, snapshot.time_ms, modalities}, state, out);
  }

 private:
  std::shared_ptr<const Scorer> inner_;
  ModalityIndex masked_;
};

// Counts the snapshots it is asked to score (Scorer::score_risks scores each masked variant
// through score()).
class CountingScorer final : public Scorer {
 public:
  explicit CountingScorer(std::shared_ptr<const Scorer> inner) : inner_(std::move(inner)) {}
  const ScorerSpec& spec() const override { return inner_->spec(); }
  std::unique_ptr<ScorerState> make_state() const override { return inner_->make_state(); }
  void score(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out) const override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    inner_->score(snapshot, state, out);
  }
  uint64_t calls() const { return calls_.load(); }

 private:
  std::shared_ptr<const Scorer> inner_;
  mutable std::atomic<uint64_t> calls_{0};
};

// The summary's masked scores are the snapshots scored with a present modality masked: not every
// tick times every modality (a modality absent at a tick leaves its risk as it is, and a tick's
// only modality is not masked). On the ward day imaging is absent from most ticks.
TEST(Backtest, MaskedScoresCountTheSnapshotsRescored) {
  const Cohort& c = cohort();
  auto counting = std::make_shared<CountingScorer>(c.scorers.at(1).scorer);
  const std::vector<BacktestScorer> scorers = {{"attention", counting, std::nullopt}};
  BacktestOptions options = quick_options();
  options.evaluation.bootstrap_replicates = 0;
  options.timelines = false;
  BacktestStats stats;
  auto report = run_backtest(c.history.events, *c.registry, c.config, scorers, options, &stats);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_GT(stats.taken_over, 0u);
  // Every score() call is a baseline tick, a delayed tick not taken over, or a masked variant.
  const uint64_t masked = counting->calls() - (stats.ticks - stats.taken_over);
  EXPECT_GT(masked, 0u);
  EXPECT_EQ(stats.masked_scores, masked);
}

TEST(Backtest, MaskedRisksAreTheScoresOfTheSameTicksWithTheModalityAbsent) {
  const Cohort& c = cohort();
  const std::vector<OutcomeEvent> outcomes = history_outcomes(c.history.events);
  // The first half of the day (in replay order) keeps the test quick under the sanitizers.
  const std::span<const Event> events =
      std::span(c.history.events).first(c.history.events.size() / 2);
  for (const BacktestScorer& scorer : c.scorers) {
    MaskedRisks masked;
    auto baseline = score_events(events, c.config, scorer.scorer, *c.registry, outcomes,
                                 kDefaultHorizonMs, nullptr, &masked);
    ASSERT_TRUE(baseline) << baseline.error().message;
    EXPECT_GE(masked.size(), baseline.value().size())
        << "every tick is recorded (ticks after an outcome too)";
    for (ModalityIndex m = 0; m < c.config.schema.size(); ++m) {
      auto table = masked.table(baseline.value(), m);
      ASSERT_TRUE(table) << table.error().message;
      auto reference =
          score_events(events, c.config, std::make_shared<AbsentModalityScorer>(scorer.scorer, m),
                       *c.registry, outcomes, kDefaultHorizonMs);
      ASSERT_TRUE(reference) << reference.error().message;
      // The reference scores every baseline tick; a tick whose only present modality is masked
      // has nothing left to score and is left out of the masked run.
      std::vector<ScoredTick> expected;
      for (ScoredTick t : reference.value().ticks()) {
        if (t.present_mask == (1u << m)) continue;
        t.present_mask &= ~(1u << m);
        expected.push_back(t);
      }
      const std::vector<ScoredTick> got = table.value().scored();
      ASSERT_EQ(got.size(), expected.size()) << scorer.name << ", modality " << int(m);
      ASSERT_FALSE(got.empty());
      std::size_t changed = 0;
      for (std::size_t k = 0; k < got.size(); ++k) {
        ASSERT_EQ(got[k].patient, expected[k].patient) << k;
        ASSERT_EQ(got[k].score_time_ms, expected[k].score_time_ms) << k;
        ASSERT_EQ(got[k].present_mask, expected[k].present_mask) << k;
        ASSERT_EQ(got[k].label, expected[k].label) << k;
        ASSERT_EQ(got[k].risk, expected[k].risk) << scorer.name << ", modality " << int(m);
        ASSERT_EQ(got[k].present_mask & (1u << m), 0u) << "the masked modality is never present";
      }
      for (std::size_t k = 0, b = 0; k < got.size(); ++k) {
        while (baseline.value().ticks()[b].patient != got[k].patient ||
               baseline.value().ticks()[b].score_time_ms != got[k].score_time_ms) {
          ++b;
        }
        if (baseline.value().ticks()[b].risk != got[k].risk) ++changed;
      }
      // NEWS2 reads the wearables only; the attention model reads every modality.
      if (scorer.name == "attention" || m == 0) {
        EXPECT_GT(changed, 0u) << scorer.name << ": masking modality " << int(m)
                               << " changed no score";
      } else {
        EXPECT_EQ(changed, 0u) << scorer.name << " does not read modality " << int(m);
      }
    }
  }
}

TEST(Backtest, MaskedRisksRefuseATableOfAnotherRunOrAModalityOutOfRangeOrReleased) {
  // Columns: own risk, modality 0 masked, modality 1 masked.
  const TickRisks risks(std::vector<TickRisks::Tick>{{0, 3, 1000}, {1, 1, 1000}},
                        {{0.5, 0.4}, {0.1, 0.3}, {0.2, kNaN}});
  const MaskedRisks masked(risks, 1, 2);
  auto other =
      make_tick_table({ScoredTick{0, 3, false, 1000, 0.5}, ScoredTick{1, 1, false, 2000, 0.5}},
                      {kNoOutcome, kNoOutcome}, kDefaultHorizonMs);
  ASSERT_TRUE(other) << other.error().message;
  auto refused = masked.table(other.value(), 0);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("different runs"), std::string::npos);
  EXPECT_FALSE(masked.table(other.value(), 2)) << "only 2 modalities recorded";

  auto same =
      make_tick_table({ScoredTick{0, 3, false, 1000, 0.5}, ScoredTick{1, 1, false, 1000, 0.4}},
                      {kNoOutcome, kNoOutcome}, kDefaultHorizonMs);
  ASSERT_TRUE(same) << same.error().message;
  auto without_second = masked.table(same.value(), 1);
  ASSERT_TRUE(without_second) << without_second.error().message;
  ASSERT_EQ(without_second.value().size(), 1u) << "patient 1 had only that modality";
  EXPECT_EQ(without_second.value().ticks()[0].risk, 0.2);
  EXPECT_EQ(without_second.value().ticks()[0].present_mask, 1u);

  // Released risks are refused by the copy that let go of them, not by others sharing them.
  MaskedRisks released = masked;
  released.release(1);
  EXPECT_FALSE(released.table(same.value(), 1));
  auto first = released.table(same.value(), 0);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first.value().risk[1], 0.3);
  EXPECT_TRUE(masked.table(same.value(), 1));
}

std::shared_ptr<const Scorer> fusion_scorer(const Cohort& c, Strategy strategy, uint32_t history_k,
                                            uint64_t seed) {
  ModelConfig arch;
  arch.strategy = strategy;
  arch.history_k = history_k;
  auto model = init_model(arch, c.config, seed);
  if (!model) throw std::runtime_error(model.error().message);
  auto op = FusionOperator::create(std::make_shared<const FusionModel>(std::move(model.value())),
                                   c.config);
  if (!op) throw std::runtime_error(op.error().message);
  return op.value();
}

void expect_same_ticks(const TickTable& got, const TickTable& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  ASSERT_NE(got.size(), 0u) << what;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const ScoredTick a = got.ticks()[k];
    const ScoredTick b = want.ticks()[k];
    ASSERT_TRUE(a.patient == b.patient && a.score_time_ms == b.score_time_ms &&
                a.present_mask == b.present_mask && a.label == b.label)
        << what << ", tick " << k;
    ASSERT_EQ(a.risk, b.risk) << what << ", tick " << k;
  }
  EXPECT_EQ(got.outcome_time_ms, want.outcome_time_ms) << what;
}

TEST(Backtest, TablesOfOneRunShareTheirKeysAndLeaveOutNaNRisks) {
  // Columns: two scorers' own risks; the second has no risk (NaN) at patient 1's tick.
  const TickRisks risks(std::vector<TickRisks::Tick>{{0, 3, 1000}, {0, 3, 2000}, {1, 1, 1000}},
                        {{0.5, 0.6, 0.4}, {0.1, 0.2, 0.3}, {0.7, 0.8, kNaN}});
  auto [keys, first_risks] = risks.keyed(0);
  auto first = build_labels(std::move(keys), std::move(first_risks),
                            std::vector<OutcomeEvent>{{0, 1500}}, 2, kDefaultHorizonMs);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first.value().size(), 2u) << "patient 0's tick after its outcome is dropped";
  auto second = risks.table(first.value(), 1);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second.value().keys.get(), first.value().keys.get()) << "the same ticks: shared keys";
  EXPECT_EQ(second.value().risk, (std::vector<double>{0.1, 0.3}));
  EXPECT_TRUE(second.value().ticks()[0].label);
  // A NaN risk is never a tick of a table: the third column's table has its own keys, without it.
  auto third = risks.table(first.value(), 2);
  ASSERT_TRUE(third) << third.error().message;
  EXPECT_NE(third.value().keys.get(), first.value().keys.get());
  ASSERT_EQ(third.value().size(), 1u);
  EXPECT_EQ(third.value().ticks()[0].patient, 0u);
  EXPECT_EQ(third.value().risk[0], 0.7);
  // Other risks for the same ticks: validated like any table's.
  EXPECT_FALSE(with_risks(first.value(), {0.5}));
  EXPECT_FALSE(with_risks(first.value(), {0.5, 1.5}));
  auto same = with_risks(first.value(), {0.5, 0.25});
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_EQ(same.value().keys.get(), first.value().keys.get());
  const Evaluation e = evaluate(same.value(), EvaluationOptions{});
  EXPECT_EQ(e.overall.ticks, 2u);
}

TEST(ScorerGroup, ScorersShareAStateOnlyWhenTheirNeedsAgree) {
  const Cohort& c = cohort();
  const auto late = fusion_scorer(c, Strategy::late, 1, 4);
  auto mixed =
      ScorerGroup::create({c.scorers[0].scorer, c.scorers[1].scorer}, c.config.schema, false);
  ASSERT_FALSE(mixed) << "NEWS2 reads current vitals values, the fusion model window statistics";
  EXPECT_NE(mixed.error().message.find("vitals"), std::string::npos) << mixed.error().message;
  auto fusion = ScorerGroup::create({c.scorers[1].scorer, late}, c.config.schema, true);
  ASSERT_TRUE(fusion) << fusion.error().message;
  EXPECT_EQ(fusion.value()->size(), 2u);
  EXPECT_EQ(fusion.value()->stride(), 1 + c.config.schema.size());
  EXPECT_FALSE(ScorerGroup::create({}, c.config.schema, false));

  std::vector<BacktestScorer> scorers = c.scorers;
  scorers.push_back({"late", late, std::nullopt});
  scorers.push_back({"news2 again", c.scorers[0].scorer, std::nullopt});
  const auto groups = share_groups(scorers, c.config.schema);
  const std::vector<std::vector<std::size_t>> expected = {{0, 3}, {1, 2}};
  EXPECT_EQ(groups, expected);
}

// One replay for several models gives each the tables (and masked tables) of its own replay, bit
// for bit: its own view of the shared snapshot (history length, its slice of the encoded notes
// and images) is what it would have seen alone.
TEST(BacktestVariants, RearrangedReplayScoresLikeTheCopiedVariant) {
  const Cohort& c = cohort();
  const std::span<const Event> events =
      std::span(c.history.events).first(c.history.events.size() / 4);
  const std::vector<OutcomeEvent> outcomes = history_outcomes(events);
  const std::vector<Rearrival> order = scale_delays(events, 3.0);
  const std::vector<Event> copied = copy_rearranged(events, order);
  const std::shared_ptr<const Scorer> scorer = c.scorers.front().scorer;
  auto rearranged = score_events(ReplaySequence(events).rearranged(order), c.config, scorer,
                                 *c.registry, outcomes, kDefaultHorizonMs);
  auto from_copy = score_events(copied, c.config, scorer, *c.registry, outcomes, kDefaultHorizonMs);
  auto baseline = score_events(events, c.config, scorer, *c.registry, outcomes, kDefaultHorizonMs);
  ASSERT_TRUE(rearranged && from_copy && baseline);
  expect_same_ticks(rearranged.value(), from_copy.value(), "rearranged");
  // The delays changed what the engine knew when: some risk differs from the baseline's.
  bool any_differs = false;
  const std::size_t n = std::min(rearranged.value().size(), baseline.value().size());
  for (std::size_t i = 0; i < n && !any_differs; ++i) {
    any_differs = rearranged.value().risk[i] != baseline.value().risk[i];
  }
  EXPECT_TRUE(any_differs);
}

TEST(Backtest, AGroupReplayGivesEachScorerTheTablesOfItsOwnReplay) {
  const Cohort& c = cohort();
  const std::vector<std::shared_ptr<const Scorer>> scorers = {
      fusion_scorer(c, Strategy::attention, 6, 21),  // a longer history than the config keeps
      fusion_scorer(c, Strategy::late, 1, 22), c.scorers[1].scorer,
      fusion_scorer(c, Strategy::early, 1, 23)};
  const std::vector<OutcomeEvent> outcomes = history_outcomes(c.history.events);
  // The first quarter of the day (in replay order) keeps the test quick under the sanitizers.
  const std::span<const Event> events =
      std::span(c.history.events).first(c.history.events.size() / 4);
  std::vector<MaskedRisks> masked;
  auto together = score_events(events, c.config, scorers, *c.registry, outcomes, kDefaultHorizonMs,
                               nullptr, &masked);
  ASSERT_TRUE(together) << together.error().message;
  ASSERT_EQ(together.value().size(), scorers.size());
  ASSERT_EQ(masked.size(), scorers.size());
  for (std::size_t s = 0; s < scorers.size(); ++s) {
    MaskedRisks own_masked;
    auto alone = score_events(events, c.config, scorers[s], *c.registry, outcomes,
                              kDefaultHorizonMs, nullptr, &own_masked);
    ASSERT_TRUE(alone) << alone.error().message;
    const std::string name = "scorer " + std::to_string(s);
    expect_same_ticks(together.value()[s], alone.value(), name);
    for (ModalityIndex m = 0; m < c.config.schema.size(); ++m) {
      auto got = masked[s].table(together.value()[s], m);
      auto want = own_masked.table(alone.value(), m);
      ASSERT_TRUE(got && want);
      expect_same_ticks(got.value(), want.value(), name + " without modality " + std::to_string(m));
    }
  }
  EXPECT_NE(together.value()[0].risk[100], together.value()[1].risk[100])
      << "different models, different risks";
  // The scorers' tables of one replay hold the same ticks: one set of keys serves all of them.
  ASSERT_NE(together.value()[0].keys, nullptr);
  for (std::size_t s = 1; s < scorers.size(); ++s) {
    EXPECT_EQ(together.value()[s].keys.get(), together.value()[0].keys.get()) << "scorer " << s;
  }
  // A group labels its tables from its own records; a lone scorer without masking from the
  // engine's output (ticks, present modalities): the same table.
  auto from_engine =
      score_events(events, c.config, scorers[0], *c.registry, outcomes, kDefaultHorizonMs);
  ASSERT_TRUE(from_engine) << from_engine.error().message;
  expect_same_ticks(together.value()[0], from_engine.value(), "scorer 0 from the engine's output");
}

// A variant's replay that takes over the baseline's unchanged ticks gives the tables of one that
// scores every tick, bit for bit, and takes over only some of them.
TEST(BacktestVariants, TakingOverUnchangedTicksGivesTheTablesOfAFullReplay) {
  const Cohort& c = cohort();
  const std::span<const Event> events =
      std::span(c.history.events).first(c.history.events.size() / 4);
  const std::vector<OutcomeEvent> outcomes = history_outcomes(events);
  const std::vector<Rearrival> order = scale_delays(events, 2.0);
  const ReplaySequence delayed = ReplaySequence(events).rearranged(order);
  const std::vector<std::vector<std::shared_ptr<const Scorer>>> groups = {
      {fusion_scorer(c, Strategy::attention, 3, 31), fusion_scorer(c, Strategy::late, 1, 32),
       fusion_scorer(c, Strategy::early, 1, 33)},
      {c.scorers[0].scorer}};
  for (const auto& scorers : groups) {
    const std::string what = scorers.size() == 1 ? "news2 alone" : "three fusion models";
    std::vector<MaskedRisks> masked;
    RunLink recording;
    recording.takeover.record = true;
    auto baseline = score_events(events, c.config, scorers, *c.registry, outcomes,
                                 kDefaultHorizonMs, nullptr, &masked, &recording);
    ASSERT_TRUE(baseline) << baseline.error().message;
    ASSERT_TRUE(recording.recorded);
    EXPECT_EQ(recording.recorded->size(), masked.front().size()) << "every tick is recorded";
    EXPECT_EQ(recording.taken_over, 0u);
    auto full = score_events(delayed, c.config, scorers, *c.registry, outcomes, kDefaultHorizonMs);
    ASSERT_TRUE(full) << full.error().message;
    RunLink taking_over;
    taking_over.takeover.earlier = recording.recorded;
    auto reused = score_events(delayed, c.config, scorers, *c.registry, outcomes, kDefaultHorizonMs,
                               nullptr, nullptr, &taking_over);
    ASSERT_TRUE(reused) << reused.error().message;
    const uint64_t taken_over = taking_over.taken_over;
    ASSERT_EQ(reused.value().size(), scorers.size());
    for (std::size_t s = 0; s < scorers.size(); ++s) {
      expect_same_ticks(reused.value()[s], full.value()[s], what + ", scorer " + std::to_string(s));
    }
    EXPECT_GT(taken_over, 0u) << what << ": most grid ticks see what the baseline saw";
    EXPECT_LT(taken_over, full.value().front().size())
        << what << ": doubled delays change some snapshots";
  }
}

TEST(ScorerGroup, TakesOverOnlyARunOfAsManyMembersAndOnlyWithoutMasking) {
  const Cohort& c = cohort();
  const auto attention = c.scorers[1].scorer;
  const auto late = fusion_scorer(c, Strategy::late, 1, 4);
  const std::span<const Event> events =
      std::span(c.history.events).first(c.history.events.size() / 20);
  const std::vector<OutcomeEvent> outcomes = history_outcomes(events);
  RunLink recording;
  recording.takeover.record = true;
  ASSERT_TRUE(score_events(events, c.config, std::vector{attention, late}, *c.registry, outcomes,
                           kDefaultHorizonMs, nullptr, nullptr, &recording));
  ASSERT_TRUE(recording.recorded);
  EXPECT_EQ(recording.recorded->members(), 2u);
  EXPECT_GT(recording.recorded->size(), 0u);
  const GroupTakeover takeover{false, recording.recorded};
  EXPECT_TRUE(ScorerGroup::create({attention, late}, c.config.schema, false, takeover));
  auto three = ScorerGroup::create({attention, late, late}, c.config.schema, false, takeover);
  ASSERT_FALSE(three) << "three members cannot take over two members' risks";
  EXPECT_NE(three.error().message.find("cannot take over"), std::string::npos);
  EXPECT_FALSE(ScorerGroup::create({attention, late}, c.config.schema, true, takeover))
      << "the earlier run holds no masked risks to take over";
}

TEST(ScorerGroup, TheSnapshotDigestSeesEveryFieldAMemberReads) {
  std::vector<float> vitals = {1.0f, 2.0f, 3.0f};
  std::vector<float> note = {0.5f, -0.5f};
  std::vector<float> older_note = {0.25f, 0.75f};
  std::vector<HistoryItem> history = {{60'000, note}, {7'200'000, older_note}};
  std::vector<ModalitySnapshot> modalities(2);
  modalities[0] = {true, 1000, 59'000, vitals, {}};
  modalities[1] = {true, 60'000, 0, note, history};
  const auto digest = [&] {
    return ScorerGroup::snapshot_digest(Snapshot{3, 60'000, modalities}, {});
  };
  const uint64_t original = digest();

  // Equal content elsewhere in memory: the same digest.
  std::vector<float> vitals_copy = vitals;
  modalities[0].features = vitals_copy;
  EXPECT_EQ(digest(), original);

  const auto changed = [&](auto&& change, auto&& undo, const char* what) {
    change();
    EXPECT_NE(digest(), original) << what;
    undo();
    EXPECT_EQ(digest(), original) << what << " (undone)";
  };
  changed([&] { modalities[0].present = false; }, [&] { modalities[0].present = true; },
          "presence");
  changed([&] { modalities[0].age_ms = 2000; }, [&] { modalities[0].age_ms = 1000; }, "age");
  changed([&] { modalities[1].event_time_ms = 1; }, [&] { modalities[1].event_time_ms = 0; },
          "event time");
  changed([&] { vitals_copy[2] = 3.5f; }, [&] { vitals_copy[2] = 3.0f; }, "a feature");
  changed([&] { modalities[0].features = std::span(vitals_copy).first(2); },
          [&] { modalities[0].features = vitals_copy; }, "the feature count");
  changed([&] { history[1].age_ms = 7'200'001; }, [&] { history[1].age_ms = 7'200'000; },
          "a history item's age");
  changed([&] { older_note[0] = -0.25f; }, [&] { older_note[0] = 0.25f; },
          "a history item's feature");
  changed([&] { modalities[1].history = std::span(history).first(1); },
          [&] { modalities[1].history = history; }, "the history length");
  changed([&] { std::swap(modalities[0], modalities[1]); },
          [&] { std::swap(modalities[0], modalities[1]); }, "the modality order");

  // With a digest tail (the group's encoder stores a digest of the features in their last two
  // floats), the tail stands for the features before it.
  const std::array<bool, 2> tails = {false, true};
  const auto tailed = [&] {
    return ScorerGroup::snapshot_digest(Snapshot{3, 60'000, modalities}, tails);
  };
  std::vector<float> encoded = {0.5f, -0.5f, 0.0f, 0.0f};
  const uint64_t tag = 0x0123456789abcdefULL;
  std::memcpy(encoded.data() + 2, &tag, sizeof tag);
  modalities[1].features = encoded;
  modalities[1].history = {};
  const uint64_t with_tail = tailed();
  encoded[0] = 0.75f;
  EXPECT_EQ(tailed(), with_tail) << "the digest tail, not the features before it";
  EXPECT_NE(digest(), with_tail) << "without tails every float counts";
  const uint64_t other_tag = tag + 1;
  std::memcpy(encoded.data() + 2, &other_tag, sizeof other_tag);
  EXPECT_NE(tailed(), with_tail) << "another digest tail";
}

TEST(Backtest, ParallelAndSequentialReplaysGiveTheSameReport) {
  // Without stress tests, to keep the test quick: every variant goes through the same replays.
  const Cohort& c = cohort();
  BacktestOptions options = quick_options();
  options.stress = false;
  BacktestStats stats;
  auto parallel = run_backtest(c.history.events, *c.registry, c.config, c.scorers, options, &stats);
  ASSERT_TRUE(parallel) << parallel.error().message;
  options.parallel_replays = false;
  auto sequential = run_backtest(c.history.events, *c.registry, c.config, c.scorers, options);
  ASSERT_TRUE(sequential) << sequential.error().message;
  EXPECT_EQ(report_json(sequential.value()), report_json(parallel.value()));
  for (const ModelReport& m : parallel.value().models) EXPECT_TRUE(m.stress.empty());
  EXPECT_FALSE(parallel.value().timelines.empty());
  EXPECT_EQ(stats.runs, c.scorers.size());
  EXPECT_EQ(stats.history_events, c.history.events.size());
  EXPECT_GT(stats.ticks, 0u);
}

// Sample patients are "patient 1", "patient 2", ... in the order the timelines list them: any
// hash of the id, keyed or not, could be reversed by hashing candidate ids.
TEST(Backtest, TimelinePatientsAreReportLocalLabelsInListOrder) {
  const Cohort& c = cohort();
  BacktestOptions options = quick_options();
  options.stress = false;
  EngineConfig one_shard = c.config;
  one_shard.shards = 1;
  EngineConfig three_shards = c.config;
  three_shards.shards = 3;
  auto one = run_backtest(c.history.events, *c.registry, one_shard, c.scorers, options);
  auto three = run_backtest(c.history.events, *c.registry, three_shards, c.scorers, options);
  ASSERT_TRUE(one && three);
  const std::string json = report_json(one.value());
  EXPECT_EQ(report_json(three.value()), json) << "labels must not depend on the shard count";
  const Report& r = one.value();
  ASSERT_GE(r.timelines.size(), 2u);
  std::set<std::string> seen;
  for (const Timeline& t : r.timelines) {
    // A patient sampled for two subgroups keeps its first label.
    if (seen.contains(t.patient)) continue;
    EXPECT_EQ(t.patient, "patient " + std::to_string(seen.size() + 1));
    seen.insert(t.patient);
  }
  const std::string html = report_html(r);
  for (PatientIndex p = 0; p < c.registry->size(); ++p) {
    const std::string id(c.registry->id(p));
    for (const std::string& hidden : {id, patient_pseudonym(id)}) {
      EXPECT_EQ(json.find(hidden), std::string::npos) << "report.json names patient " << p;
      EXPECT_EQ(html.find(hidden), std::string::npos) << "report.html names patient " << p;
    }
  }
}

TEST(Backtest, APackedHistoryGivesTheSameReport) {
  // The stress tests included: the delay variant replays the packed events rearranged. A quarter
  // of the day keeps the test quick under the sanitizers.
  const Cohort& c = cohort();
  const std::span<const Event> part =
      std::span(c.history.events).first(c.history.events.size() / 4);
  const PackedEvents packed(part);
  const std::vector<BacktestScorer> scorers = {
      c.scorers[1], {"late", fusion_scorer(c, Strategy::late, 1, 4), std::nullopt}};
  BacktestOptions options = quick_options();
  options.stress = true;
  BacktestStats plain_stats;
  auto plain = run_backtest(part, *c.registry, c.config, scorers, options, &plain_stats);
  ASSERT_TRUE(plain) << plain.error().message;
  BacktestStats packed_stats;
  auto from_packed = run_backtest(packed, *c.registry, c.config, scorers, options, &packed_stats);
  ASSERT_TRUE(from_packed) << from_packed.error().message;
  EXPECT_EQ(report_json(from_packed.value()), report_json(plain.value()));
  EXPECT_EQ(packed_stats.ticks, plain_stats.ticks);
  EXPECT_EQ(packed_stats.taken_over, plain_stats.taken_over);
  EXPECT_GT(packed_stats.taken_over, 0u);
  EXPECT_EQ(from_packed.value().meta.events, part.size());
}

TEST(Backtest, StressReplayOverlappingTheEvaluationsGivesTheSequentialReport) {
  // The delay variant replays while the baselines are evaluated (with one group of scorers, from
  // before that group's tables are built); a quarter of the day keeps the test quick under the
  // sanitizers.
  const Cohort& c = cohort();
  History part;
  part.events.assign(
      c.history.events.begin(),
      c.history.events.begin() + static_cast<std::ptrdiff_t>(c.history.events.size() / 4));
  const std::vector<std::vector<BacktestScorer>> scorer_sets = {
      c.scorers,  // NEWS2 and attention: two groups
      {c.scorers[1], {"late", fusion_scorer(c, Strategy::late, 1, 4), std::nullopt}}};
  for (const auto& scorers : scorer_sets) {
    BacktestOptions options = quick_options();
    options.stress = true;
    BacktestStats overlapped_stats;
    auto overlapped =
        run_backtest(part.events, *c.registry, c.config, scorers, options, &overlapped_stats);
    ASSERT_TRUE(overlapped) << overlapped.error().message;
    options.parallel_replays = false;
    BacktestStats sequential_stats;
    auto sequential =
        run_backtest(part.events, *c.registry, c.config, scorers, options, &sequential_stats);
    ASSERT_TRUE(sequential) << sequential.error().message;
    EXPECT_EQ(report_json(sequential.value()), report_json(overlapped.value()));
    for (const ModelReport& m : overlapped.value().models) {
      ASSERT_EQ(m.stress.size(), c.config.schema.size() + 1);
      EXPECT_EQ(m.stress.back().kind, StressKind::delay_scale);
    }
    EXPECT_GT(overlapped_stats.taken_over, 0u) << scorers.size() << " scorers";
    EXPECT_EQ(overlapped_stats.taken_over, sequential_stats.taken_over);
    EXPECT_EQ(overlapped_stats.ticks, sequential_stats.ticks);
    EXPECT_EQ(overlapped_stats.runs, sequential_stats.runs);
  }
}

}  // namespace
}  // namespace tfe::report
