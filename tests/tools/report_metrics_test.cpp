// Backtest metrics against plain reference implementations (all pairs for AUROC, average precision
// by its definition, a bootstrap that expands ticks explicitly) and against hand-computed values.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include "tools/report/metrics.h"

namespace tfe::report {
namespace {

constexpr int64_t kMin = 60'000;

// ---- references ---------------------------------------------------------------------------------

// All positive-negative pairs; a tie counts 1/2.
double naive_auroc(const std::vector<double>& risk, const std::vector<uint8_t>& label) {
  double pairs = 0;
  double concordant = 0;
  for (std::size_t i = 0; i < risk.size(); ++i) {
    if (!label[i]) continue;
    for (std::size_t j = 0; j < risk.size(); ++j) {
      if (label[j]) continue;
      pairs += 1;
      if (risk[i] > risk[j]) concordant += 1;
      if (risk[i] == risk[j]) concordant += 0.5;
    }
  }
  return pairs > 0 ? concordant / pairs : kNaN;
}

// sum over distinct thresholds t (descending) of (R(t) - R(previous)) * P(t), ticks >= t flagged.
double naive_ap(const std::vector<double>& risk, const std::vector<uint8_t>& label) {
  std::set<double, std::greater<>> thresholds(risk.begin(), risk.end());
  double positives = 0;
  for (uint8_t y : label) positives += y;
  if (positives == 0) return kNaN;
  double ap = 0;
  double prev_recall = 0;
  for (double t : thresholds) {
    double tp = 0;
    double flagged = 0;
    for (std::size_t i = 0; i < risk.size(); ++i) {
      if (risk[i] >= t) {
        flagged += 1;
        tp += label[i];
      }
    }
    const double recall = tp / positives;
    ap += (recall - prev_recall) * (tp / flagged);
    prev_recall = recall;
  }
  return ap;
}

struct Split {
  std::vector<double> risk;
  std::vector<uint8_t> label;
};

Split split(const std::vector<ScoredTick>& ticks) {
  Split s;
  for (const ScoredTick& t : ticks) {
    s.risk.push_back(t.risk);
    s.label.push_back(t.label ? 1 : 0);
  }
  return s;
}

// The table without the ticks `drop` selects (a new table: the keys of a table are immutable).
template <class Drop>
TickTable without(const TickTable& table, Drop drop) {
  std::vector<ScoredTick> ticks = table.scored();
  std::erase_if(ticks, drop);
  return make_tick_table(std::move(ticks), table.outcome_time_ms, table.horizon_ms,
                         table.tick_cadence_ms)
      .value();
}

// Every tick repeated as often as its patient was drawn.
Split expand(const TickTable& table, const std::vector<uint32_t>& mult) {
  Split s;
  for (const ScoredTick& t : table.ticks()) {
    for (uint32_t k = 0; k < mult[t.patient]; ++k) {
      s.risk.push_back(t.risk);
      s.label.push_back(t.label ? 1 : 0);
    }
  }
  return s;
}

// Percentile with linear interpolation at p * (n - 1), as documented.
double quantile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double h = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// Random table with heavy ties: risks on a grid of `levels` values.
TickTable random_table(uint64_t seed, uint32_t patients, uint32_t ticks_per_patient, int levels,
                       double prevalence) {
  std::mt19937_64 rng(seed);
  std::vector<ScoredTick> ticks;
  for (uint32_t p = 0; p < patients; ++p) {
    const bool sick = static_cast<double>(uniform_below(rng, 1000)) < prevalence * 1000;
    for (uint32_t k = 0; k < ticks_per_patient; ++k) {
      ScoredTick t;
      t.patient = p;
      t.score_time_ms = static_cast<int64_t>(k) * kMin;
      const int shift = sick ? 2 : 0;
      const auto level = std::min<uint64_t>(uniform_below(rng, levels) + shift, levels - 1);
      t.risk = static_cast<double>(level) / (levels - 1);
      t.present_mask = static_cast<uint32_t>(uniform_below(rng, 3)) + 1;
      t.label = sick && uniform_below(rng, 3) > 0;
      ticks.push_back(t);
    }
  }
  std::vector<int64_t> outcome(patients, kNoOutcome);
  auto table = make_tick_table(std::move(ticks), std::move(outcome), 60 * kMin, kMin);
  EXPECT_TRUE(table.has_value());
  return std::move(table).value();
}

// ---- discrimination
// -------------------------------------------------------------------------------

TEST(ReportMetrics, AurocAndApMatchNaiveReferenceWithTies) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    const auto n = static_cast<std::size_t>(5 + uniform_below(rng, 200));
    const int levels = 2 + static_cast<int>(uniform_below(rng, 8));  // many ties
    std::vector<double> risk(n);
    std::vector<uint8_t> label(n);
    for (std::size_t i = 0; i < n; ++i) {
      label[i] = uniform_below(rng, 4) == 0 ? 1 : 0;
      const uint64_t level = std::min<uint64_t>(uniform_below(rng, levels) + label[i], levels - 1);
      // Odd trials shift the scores below zero (logits): the ranking must handle any double.
      risk[i] = static_cast<double>(level) / levels - (trial % 2 == 1 ? 0.5 : 0.0);
    }
    const double ref_roc = naive_auroc(risk, label);
    const double ref_ap = naive_ap(risk, label);
    if (std::isnan(ref_roc)) {
      EXPECT_TRUE(std::isnan(auroc(risk, label)));
    } else {
      EXPECT_NEAR(auroc(risk, label), ref_roc, 1e-12) << "trial " << trial;
    }
    if (std::isnan(ref_ap)) {
      EXPECT_TRUE(std::isnan(average_precision(risk, label)));
    } else {
      EXPECT_NEAR(average_precision(risk, label), ref_ap, 1e-12) << "trial " << trial;
    }
  }
}

TEST(ReportMetrics, HandMadeCases) {
  // Pairs: 0.9 beats both negatives, 0.7 beats 0.6 only: 3 of 4.
  // AP: at 0.9 recall 1/2 precision 1; at 0.7 recall 1 precision 2/3: 1/2 + 1/3 = 5/6.
  EXPECT_DOUBLE_EQ(auroc(std::vector<double>{0.9, 0.8, 0.7, 0.6}, std::vector<uint8_t>{1, 0, 1, 0}),
                   0.75);
  EXPECT_DOUBLE_EQ(
      average_precision(std::vector<double>{0.9, 0.8, 0.7, 0.6}, std::vector<uint8_t>{1, 0, 1, 0}),
      5.0 / 6.0);
  // Ties: the positive at 0.5 ties both negatives (2 x 1/2), the positive at 0.2 loses both: 1/4.
  // AP: at 0.5 recall 1/2 precision 1/3; at 0.2 recall 1 precision 1/2: 1/6 + 1/4 = 5/12.
  const std::vector<double> tied{0.5, 0.5, 0.5, 0.2};
  const std::vector<uint8_t> tied_label{1, 0, 0, 1};
  EXPECT_DOUBLE_EQ(auroc(tied, tied_label), 0.25);
  EXPECT_DOUBLE_EQ(average_precision(tied, tied_label), 5.0 / 12.0);
  // One score for everything: AUROC 1/2, AP the prevalence.
  const std::vector<double> flat(8, 0.3);
  const std::vector<uint8_t> flat_label{1, 0, 0, 0, 1, 0, 0, 0};
  EXPECT_DOUBLE_EQ(auroc(flat, flat_label), 0.5);
  EXPECT_DOUBLE_EQ(average_precision(flat, flat_label), 0.25);
  // Perfect and reversed ranking.
  EXPECT_DOUBLE_EQ(auroc(std::vector<double>{0.9, 0.8, 0.1}, std::vector<uint8_t>{1, 1, 0}), 1.0);
  EXPECT_DOUBLE_EQ(auroc(std::vector<double>{0.1, 0.2, 0.9}, std::vector<uint8_t>{1, 1, 0}), 0.0);
  // AP of a reversed ranking: at 0.9 nothing found; at 0.2 recall 1/2 precision 1/2; at 0.1
  // recall 1 precision 2/3: 1/4 + 1/3 = 7/12.
  EXPECT_DOUBLE_EQ(
      average_precision(std::vector<double>{0.1, 0.2, 0.9}, std::vector<uint8_t>{1, 1, 0}),
      7.0 / 12.0);
  // Undefined without both classes.
  EXPECT_TRUE(std::isnan(auroc(std::vector<double>{0.1, 0.2}, std::vector<uint8_t>{0, 0})));
  EXPECT_TRUE(std::isnan(auroc(std::vector<double>{0.1, 0.2}, std::vector<uint8_t>{1, 1})));
  EXPECT_TRUE(std::isnan(average_precision(std::vector<double>{0.1}, std::vector<uint8_t>{0})));
  EXPECT_DOUBLE_EQ(average_precision(std::vector<double>{0.1, 0.4}, std::vector<uint8_t>{1, 1}),
                   1.0);
}

TEST(ReportMetrics, WeightedReplicateEqualsExpandedTicks) {
  const TickTable table = random_table(11, 40, 12, 5, 0.3);
  for (uint64_t b = 0; b < 5; ++b) {
    const std::vector<uint32_t> mult = detail::bootstrap_multiplicities(table, 99, b);
    uint64_t drawn = 0;
    for (uint32_t m : mult) drawn += m;
    EXPECT_EQ(drawn, 40u);  // every patient has ticks: 40 draws
    const Split s = expand(table, mult);
    const auto weighted = detail::weighted_auroc_auprc(table, mult);
    EXPECT_NEAR(weighted[0], naive_auroc(s.risk, s.label), 1e-12);
    EXPECT_NEAR(weighted[1], naive_ap(s.risk, s.label), 1e-12);
    // The walks without AVX2, with 64-bit totals and with 32-bit weights give the same numbers.
    for (const auto width : {detail::WalkWidth::narrow_portable, detail::WalkWidth::wide_totals,
                             detail::WalkWidth::wide_weights}) {
      const auto wide = detail::weighted_auroc_auprc(table, mult, width);
      EXPECT_EQ(wide[0], weighted[0]);
      EXPECT_EQ(wide[1], weighted[1]);
    }
  }
}

// A replicate that leaves out the patient of the top-ranked positives: the walk closes a tie
// group with no weight at all (no positive, no negative so far) before any weighted tick, which
// must add nothing, in every walk alike.
TEST(ReportMetrics, WeightedReplicateWithoutTheTopRankedPatient) {
  std::vector<ScoredTick> ticks{{0, 1, true, 0, 0.9},  {0, 1, true, kMin, 0.8},
                                {1, 1, false, 0, 0.7}, {1, 1, true, kMin, 0.6},
                                {2, 1, false, 0, 0.5}, {2, 1, true, kMin, 0.4},
                                {3, 1, false, 0, 0.3}, {3, 1, false, kMin, 0.2}};
  auto table = make_tick_table(ticks, std::vector<int64_t>(4, kNoOutcome), 60 * kMin, kMin);
  ASSERT_TRUE(table.has_value());
  const std::vector<uint32_t> mult{0, 2, 1, 1};
  const Split s = expand(table.value(), mult);
  const auto narrow = detail::weighted_auroc_auprc(table.value(), mult);
  ASSERT_FALSE(std::isnan(narrow[0]));
  ASSERT_FALSE(std::isnan(narrow[1]));
  EXPECT_NEAR(narrow[0], naive_auroc(s.risk, s.label), 1e-12);
  EXPECT_NEAR(narrow[1], naive_ap(s.risk, s.label), 1e-12);
  for (const auto width : {detail::WalkWidth::narrow_portable, detail::WalkWidth::wide_totals,
                           detail::WalkWidth::wide_weights}) {
    const auto wide = detail::weighted_auroc_auprc(table.value(), mult, width);
    EXPECT_EQ(wide[0], narrow[0]);
    EXPECT_EQ(wide[1], narrow[1]);
  }
}

TEST(ReportMetrics, BootstrapIntervalMatchesNaiveBootstrap) {
  const TickTable table = random_table(5, 30, 10, 6, 0.4);
  EvaluationOptions options;
  options.bootstrap_replicates = 50;
  options.seed = 1234;
  options.subgroups = false;
  const Evaluation e = evaluate(table, options);
  std::vector<double> roc;
  std::vector<double> pr;
  for (uint64_t b = 0; b < 50; ++b) {
    const Split s = expand(table, detail::bootstrap_multiplicities(table, 1234, b));
    const double r = naive_auroc(s.risk, s.label);
    if (!std::isnan(r)) roc.push_back(r);
    const double a = naive_ap(s.risk, s.label);
    if (!std::isnan(a)) pr.push_back(a);
  }
  ASSERT_FALSE(roc.empty());
  EXPECT_EQ(e.overall.discrimination.replicates_used, roc.size());
  EXPECT_NEAR(e.overall.discrimination.auroc_ci.lo, quantile(roc, 0.025), 1e-12);
  EXPECT_NEAR(e.overall.discrimination.auroc_ci.hi, quantile(roc, 0.975), 1e-12);
  EXPECT_NEAR(e.overall.discrimination.auprc_ci.lo, quantile(pr, 0.025), 1e-12);
  EXPECT_NEAR(e.overall.discrimination.auprc_ci.hi, quantile(pr, 0.975), 1e-12);
  const Split all = split(table.scored());
  EXPECT_NEAR(e.overall.discrimination.auroc, naive_auroc(all.risk, all.label), 1e-12);
  EXPECT_LE(e.overall.discrimination.auroc_ci.lo, e.overall.discrimination.auroc_ci.hi);
}

TEST(ReportMetrics, BootstrapIsDeterministicWithASeed) {
  const TickTable table = random_table(3, 60, 8, 10, 0.3);
  EvaluationOptions options;
  options.bootstrap_replicates = 100;
  options.seed = 42;
  const Evaluation a = evaluate(table, options);
  const Evaluation b = evaluate(table, options);
  EXPECT_EQ(a.overall.discrimination.auroc_ci.lo, b.overall.discrimination.auroc_ci.lo);
  EXPECT_EQ(a.overall.discrimination.auroc_ci.hi, b.overall.discrimination.auroc_ci.hi);
  EXPECT_EQ(a.overall.discrimination.auprc_ci.lo, b.overall.discrimination.auprc_ci.lo);
  ASSERT_EQ(a.subgroups.size(), b.subgroups.size());
  for (std::size_t g = 0; g < a.subgroups.size(); ++g) {
    EXPECT_EQ(a.subgroups[g].discrimination.auroc_ci.lo, b.subgroups[g].discrimination.auroc_ci.lo);
  }
  options.seed = 43;
  const Evaluation c = evaluate(table, options);
  EXPECT_TRUE(a.overall.discrimination.auroc_ci.lo != c.overall.discrimination.auroc_ci.lo ||
              a.overall.discrimination.auroc_ci.hi != c.overall.discrimination.auroc_ci.hi);
  // The point estimates do not depend on the seed.
  EXPECT_EQ(a.overall.discrimination.auroc, c.overall.discrimination.auroc);
}

TEST(ReportMetrics, UniformBelowIsInRangeAndCoversIt) {
  std::mt19937_64 engine(5489);
  std::vector<int> seen(7, 0);
  for (int i = 0; i < 7000; ++i) {
    const uint64_t v = uniform_below(engine, 7);
    ASSERT_LT(v, 7u);
    ++seen[v];
  }
  for (int count : seen) EXPECT_GT(count, 800);
  EXPECT_EQ(uniform_below(engine, 1), 0u);
  // mt19937_64's first output from the default seed is fixed by the standard:
  // 14514284786278117030, which is >= 2^64 mod 10 (= 6), so the first draw below 10 is 0.
  std::mt19937_64 fresh(5489);
  EXPECT_EQ(uniform_below(fresh, 10), 14514284786278117030ULL % 10);
}

// ---- calibration
// ------------------------------------------------------------------------------------

TEST(ReportMetrics, BrierAndExpectedCalibrationErrorByHand) {
  // Risks 0.05, 0.05 (bin 0), 0.15 (bin 1), 0.95 (bin 9); labels 0, 1, 0, 1.
  // Brier: (0.0025 + 0.9025 + 0.0225 + 0.0025) / 4 = 0.2325.
  // ECE: bin 0 |0.05 - 0.5| * 2/4 = 0.225; bin 1 |0.15 - 0| * 1/4 = 0.0375;
  //      bin 9 |0.95 - 1| * 1/4 = 0.0125; total 0.275.
  std::vector<ScoredTick> ticks{{0, 1, false, 0, 0.05},
                                {0, 1, true, kMin, 0.05},
                                {1, 1, false, 0, 0.15},
                                {1, 1, true, kMin, 0.95}};
  auto table = make_tick_table(ticks, {kNoOutcome, kNoOutcome}, 60 * kMin, kMin);
  ASSERT_TRUE(table.has_value());
  EvaluationOptions options;
  options.bootstrap_replicates = 0;
  const Evaluation e = evaluate(table.value(), options);
  const Calibration& c = e.overall.calibration;
  EXPECT_NEAR(c.brier, 0.2325, 1e-12);
  EXPECT_NEAR(c.ece, 0.275, 1e-12);
  EXPECT_EQ(c.bins[0].ticks, 2u);
  EXPECT_NEAR(c.bins[0].mean_risk, 0.05, 1e-12);
  EXPECT_NEAR(c.bins[0].observed, 0.5, 1e-12);
  EXPECT_EQ(c.bins[1].ticks, 1u);
  EXPECT_EQ(c.bins[9].ticks, 1u);
  EXPECT_TRUE(std::isnan(c.bins[5].mean_risk));
  EXPECT_DOUBLE_EQ(c.bins[3].lo, 0.3);
  // Risk 1 falls in the last bin, risk 0.1 in the second.
  std::vector<ScoredTick> edge{{0, 1, true, 0, 1.0}, {0, 1, false, kMin, 0.1}};
  auto edge_table = make_tick_table(edge, {kNoOutcome}, 60 * kMin, kMin);
  ASSERT_TRUE(edge_table.has_value());
  const Evaluation f = evaluate(edge_table.value(), options);
  EXPECT_EQ(f.overall.calibration.bins[9].ticks, 1u);
  EXPECT_EQ(f.overall.calibration.bins[1].ticks, 1u);
  // Perfect ranking of these two ticks; Brier (0 + 0.01) / 2.
  EXPECT_NEAR(f.overall.calibration.brier, 0.005, 1e-12);
}

// ---- labels
// -------------------------------------------------------------------------------------------

TEST(ReportMetrics, BuildLabelsUsesFirstOutcomeAndHorizon) {
  std::vector<ScoredTick> ticks;
  for (int k = 0; k < 10; ++k) ticks.push_back({0, 1, true, k * 10 * kMin, 0.1});
  ticks.push_back({1, 1, true, 5 * kMin, 0.2});
  // Outcomes for patient 0 at 100 and 70 minutes: the first (70) counts.
  const std::vector<OutcomeEvent> outcomes{{0, 100 * kMin}, {0, 70 * kMin}};
  auto table = build_labels(ticks, outcomes, 2, 30 * kMin, 10 * kMin);
  ASSERT_TRUE(table.has_value());
  const TickTable& t = table.value();
  EXPECT_EQ(t.outcome_time_ms[0], 70 * kMin);
  EXPECT_EQ(t.outcome_time_ms[1], kNoOutcome);
  // Patient 0 keeps ticks 0..60 min (70 and later dropped); positive from 40 min (70 - 30).
  ASSERT_EQ(t.size(), 8u);
  for (int k = 0; k < 7; ++k) {
    EXPECT_EQ(t.ticks()[k].score_time_ms, k * 10 * kMin);
    EXPECT_EQ(t.ticks()[k].label, k >= 4) << "tick at " << k * 10 << " min";
  }
  EXPECT_EQ(t.ticks()[7].patient, 1u);
  EXPECT_FALSE(t.ticks()[7].label);  // no outcome: negative, whatever the input said

  EXPECT_FALSE(build_labels(ticks, std::vector<OutcomeEvent>{{5, 0}}, 2, 30 * kMin).has_value());
  std::vector<ScoredTick> bad_patient{{3, 1, false, 0, 0.5}};
  EXPECT_FALSE(build_labels(bad_patient, {}, 2, 30 * kMin).has_value());
  std::vector<ScoredTick> bad_risk{{0, 1, false, 0, 1.5}};
  EXPECT_FALSE(build_labels(bad_risk, {}, 2, 30 * kMin).has_value());
  std::vector<ScoredTick> nan_risk{{0, 1, false, 0, kNaN}};
  EXPECT_FALSE(build_labels(nan_risk, {}, 2, 30 * kMin).has_value());
  EXPECT_FALSE(build_labels(ticks, {}, 2, 0).has_value());
}

TEST(ReportMetrics, TablesAreSortedByPatientThenTimeStably) {
  // Engine order (time, then patient), one late tick, and two ticks of one patient at one time
  // (told apart by risk): they keep their input order.
  std::vector<ScoredTick> ticks{{1, 1, false, 0, 0.1},       {0, 1, false, 0, 0.2},
                                {1, 1, false, kMin, 0.3},    {0, 1, false, kMin, 0.4},
                                {0, 1, false, kMin, 0.45},   {2, 1, false, 5 * kMin, 0.5},
                                {2, 1, false, 2 * kMin, 0.6}};
  auto table = make_tick_table(ticks, {kNoOutcome, kNoOutcome, kNoOutcome}, 60 * kMin, kMin);
  ASSERT_TRUE(table.has_value());
  const std::vector<double> expected{0.2, 0.4, 0.45, 0.1, 0.3, 0.6, 0.5};
  ASSERT_EQ(table.value().size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(table.value().risk[i], expected[i]) << "position " << i;
  }
}

// A risk outside [0, 1] (a scorer's fault) is refused with the score's time, which finds it; the
// table's index alone did not.
TEST(ReportMetrics, ARiskOutsideZeroToOneIsRefusedWithItsScoreTime) {
  std::vector<ScoredTick> ticks{{0, 1, false, 0, 0.1}, {0, 1, false, 7 * kMin, std::nan("")}};
  auto table = make_tick_table(ticks, {kNoOutcome}, 60 * kMin, kMin);
  ASSERT_FALSE(table.has_value());
  EXPECT_NE(table.error().message.find(std::to_string(7 * kMin) + " ms"), std::string::npos)
      << table.error().message;
}

// ---- alert policy
// ------------------------------------------------------------------------------------

// Horizon 60 min, ticks every 10 min (cadence 10 min).
// p0: outcome at 100 min; ticks 0..90, positive from 40 min.
// p1: no outcome; ticks 0..50.
// p2: outcome at 30 min; ticks 0..20 (all positive), all low.
// p3: outcome at 200 min; ticks 150 and 160 (positive).
TickTable alert_table() {
  std::vector<ScoredTick> ticks;
  const double p0[] = {0.1, 0.6, 0.2, 0.1, 0.1, 0.7, 0.8, 0.3, 0.9, 0.9};
  for (int k = 0; k < 10; ++k) ticks.push_back({0, 1, false, k * 10 * kMin, p0[k]});
  const double p1[] = {0.6, 0.6, 0.4, 0.7, 0.1, 0.1};
  for (int k = 0; k < 6; ++k) ticks.push_back({1, 1, false, k * 10 * kMin, p1[k]});
  const double p2[] = {0.2, 0.3, 0.4, 0.9};  // the tick at 30 min is at the outcome: dropped
  for (int k = 0; k < 4; ++k) ticks.push_back({2, 1, false, k * 10 * kMin, p2[k]});
  ticks.push_back({3, 1, false, 150 * kMin, 0.2});
  ticks.push_back({3, 1, false, 160 * kMin, 0.9});
  const std::vector<OutcomeEvent> outcomes{{0, 100 * kMin}, {2, 30 * kMin}, {3, 200 * kMin}};
  auto table = build_labels(ticks, outcomes, 4, 60 * kMin, 10 * kMin);
  EXPECT_TRUE(table.has_value());
  return std::move(table).value();
}

TEST(ReportMetrics, AlertPolicyByHand) {
  const TickTable table = alert_table();
  const AlertPolicy a = alert_policy(table, 0.5);
  // Rising edges: p0 at 10 (negative), 50 and 80 (positive); p1 at 0 and 30; p3 at 160.
  EXPECT_EQ(a.alerts, 6u);
  EXPECT_EQ(a.true_alerts, 3u);
  EXPECT_DOUBLE_EQ(a.ppv, 0.5);
  // Positive patients p0, p2, p3; detected p0 (first alerting positive tick 50 min: lead 50 min)
  // and p3 (160 min: lead 40 min).
  EXPECT_EQ(a.positive_patients, 3u);
  EXPECT_EQ(a.detected_patients, 2u);
  EXPECT_DOUBLE_EQ(a.sensitivity, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(a.median_lead_ms, 45.0 * kMin);
  // Patient-time: (10 + 6 + 3 + 2) ticks x 10 min = 210 min.
  EXPECT_DOUBLE_EQ(a.patient_days, 210.0 / 1440.0);
  EXPECT_NEAR(a.alerts_per_patient_day, 6.0 / (210.0 / 1440.0), 1e-9);

  // Above every risk: nothing alerts.
  const AlertPolicy none = alert_policy(table, 0.95);
  EXPECT_EQ(none.alerts, 0u);
  EXPECT_TRUE(std::isnan(none.ppv));
  EXPECT_DOUBLE_EQ(none.sensitivity, 0.0);
  EXPECT_TRUE(std::isnan(none.median_lead_ms));
  // At 0: every patient alerts once on its first tick and stays in the alert state; leads run
  // from the first positive tick: p0 100-40 = 60, p2 30-0 = 30, p3 200-150 = 50 -> median 50.
  const AlertPolicy all = alert_policy(table, 0.0);
  EXPECT_EQ(all.alerts, 4u);
  EXPECT_EQ(all.true_alerts, 2u);  // p2's and p3's first ticks are already positive
  EXPECT_EQ(all.detected_patients, 3u);
  EXPECT_DOUBLE_EQ(all.median_lead_ms, 50.0 * kMin);
}

TEST(ReportMetrics, PatientTimeCapsGapsAtTheCadence) {
  // Ticks at 0, 10 and 200 min with a 10-minute cadence: 10 + 10 + 10 minutes (the 190-minute
  // gap counts as one cadence).
  std::vector<ScoredTick> ticks{
      {0, 1, false, 0, 0.9}, {0, 1, false, 10 * kMin, 0.1}, {0, 1, false, 200 * kMin, 0.9}};
  auto table = make_tick_table(ticks, {kNoOutcome}, 60 * kMin, 10 * kMin);
  ASSERT_TRUE(table.has_value());
  const AlertPolicy a = alert_policy(table.value(), 0.5);
  EXPECT_DOUBLE_EQ(a.patient_days, 30.0 / 1440.0);
  EXPECT_EQ(a.alerts, 2u);
}

TEST(ReportMetrics, ThresholdForAlertRateByHand) {
  // One patient, ticks every 6 h with a 6 h cadence: 4 ticks are 1 patient-day.
  // Risks 0.2, 0.8, 0.2, 0.8: thresholds in (0.2, 0.8] give 2 alerts/day, <= 0.2 give 1.
  std::vector<ScoredTick> ticks;
  const double risks[] = {0.2, 0.8, 0.2, 0.8};
  const int64_t six_h = 6 * 60 * kMin;
  for (int k = 0; k < 4; ++k) ticks.push_back({0, 1, false, k * six_h, risks[k]});
  auto table = make_tick_table(ticks, {kNoOutcome}, six_h, six_h);
  ASSERT_TRUE(table.has_value());
  EXPECT_DOUBLE_EQ(threshold_for_alert_rate(table.value(), 2.0), 0.2);
  EXPECT_DOUBLE_EQ(threshold_for_alert_rate(table.value(), 5.0), 0.2);
  // 1.5/day: already 2/day at 0.8, so no threshold at a risk value works: above every risk.
  const double t = threshold_for_alert_rate(table.value(), 1.5);
  EXPECT_GT(t, 0.8);
  EXPECT_EQ(alert_policy(table.value(), t).alerts, 0u);
}

TEST(ReportMetrics, ThresholdForAlertRateMatchesBruteForce) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const TickTable table = random_table(seed, 25, 30, 12, 0.3);
    std::set<double, std::greater<>> candidates;
    for (const double r : table.risk) candidates.insert(r);
    for (const double target : {5.0, 50.0, 200.0, 600.0}) {
      // Reference: walk distinct risks from the top while the rate stays within the target.
      double expected = kNaN;
      for (double c : candidates) {
        if (alert_policy(table, c).alerts_per_patient_day > target) break;
        expected = c;
      }
      const double got = threshold_for_alert_rate(table, target);
      if (std::isnan(expected)) {
        EXPECT_GT(got, *candidates.begin());
      } else {
        EXPECT_EQ(got, expected) << "seed " << seed << " target " << target;
      }
    }
  }
}

// ---- evaluation as a whole
// ---------------------------------------------------------------------------

TEST(ReportMetrics, SubgroupsMatchTheirOwnTicks) {
  const TickTable table = random_table(21, 50, 20, 8, 0.35);
  EvaluationOptions options;
  options.bootstrap_replicates = 20;
  const Evaluation e = evaluate(table, options);
  ASSERT_EQ(e.subgroups.size(), 3u);  // masks 1, 2, 3
  uint64_t total = 0;
  for (std::size_t g = 0; g < e.subgroups.size(); ++g) {
    const GroupMetrics& m = e.subgroups[g];
    if (g > 0) {
      EXPECT_GE(e.subgroups[g - 1].ticks, m.ticks);
    }
    total += m.ticks;
    Split s;
    std::set<uint32_t> patients;
    for (const ScoredTick& t : table.ticks()) {
      if (t.present_mask != m.present_mask) continue;
      s.risk.push_back(t.risk);
      s.label.push_back(t.label ? 1 : 0);
      patients.insert(t.patient);
    }
    EXPECT_EQ(m.ticks, s.risk.size());
    EXPECT_EQ(m.patients, patients.size());
    EXPECT_NEAR(m.discrimination.auroc, naive_auroc(s.risk, s.label), 1e-12);
    EXPECT_NEAR(m.discrimination.auprc, naive_ap(s.risk, s.label), 1e-12);
    EXPECT_LE(m.discrimination.auroc_ci.lo, m.discrimination.auroc_ci.hi);
    // Fixed thresholds plus the alert-rate one.
    EXPECT_EQ(m.alerts.size(), options.thresholds.size() + 1);
    EXPECT_EQ(m.alerts.back().basis, ThresholdBasis::alert_rate);
  }
  EXPECT_EQ(total, table.size());
  EXPECT_EQ(e.overall.ticks, table.size());
  EXPECT_EQ(e.overall.patients, 50u);
  // Alerts of the subgroups add up to the overall alerts.
  uint64_t alerts = 0;
  for (const GroupMetrics& m : e.subgroups) alerts += m.alerts[0].alerts;
  EXPECT_EQ(alerts, e.overall.alerts[0].alerts);
  EXPECT_EQ(e.overall.alerts.back().threshold, e.alert_rate_threshold);
  // Curves run from (0, 0) to (1, 1) and stay within the point budget.
  ASSERT_FALSE(e.curves.roc.empty());
  EXPECT_EQ(e.curves.roc.front().x, 0.0);
  EXPECT_EQ(e.curves.roc.back().x, 1.0);
  EXPECT_EQ(e.curves.roc.back().y, 1.0);
  EXPECT_LE(e.curves.roc.size(), options.curve_points + 2);
  EXPECT_DOUBLE_EQ(e.curves.pr.back().x, 1.0);
}

// A bootstrap over patients says nothing about the variation between patients when one patient
// holds all of a group's positive (or negative) ticks: a subgroup of one patient gave a
// zero-width interval ("0.80 [0.80, 0.80]"), the most certain-looking row of the page. Such a
// group has its point estimates but no interval (the page draws its dot without whiskers).
TEST(ReportMetrics, GroupsWithFewerThanTwoPatientsPerClassHaveNoInterval) {
  std::mt19937_64 rng(17);
  std::vector<ScoredTick> ticks;
  // Patients 0..29 (mask 1): a usual subgroup, half of them with positive ticks.
  for (uint32_t p = 0; p < 30; ++p) {
    for (int k = 0; k < 8; ++k) {
      const bool label = p % 2 == 0 && k >= 4;
      const double risk = static_cast<double>(uniform_below(rng, 60) + (label ? 40 : 0)) / 100;
      ticks.push_back({p, 1, label, k * kMin, risk});
    }
  }
  // Patient 30 alone in mask 2, with both classes: one patient.
  const double lone[] = {0.1, 0.5, 0.3, 0.6, 0.4, 0.9};
  for (int k = 0; k < 6; ++k) ticks.push_back({30, 2, k >= 3, k * kMin, lone[k]});
  // Mask 4: patient 31's positives against the negatives of patients 32..39.
  for (int k = 0; k < 4; ++k) ticks.push_back({31, 4, true, k * kMin, 0.2 + 0.2 * k});
  for (uint32_t p = 32; p < 40; ++p) {
    for (int k = 0; k < 4; ++k) {
      ticks.push_back({p, 4, false, k * kMin, static_cast<double>(uniform_below(rng, 100)) / 100});
    }
  }
  auto table =
      make_tick_table(std::move(ticks), std::vector<int64_t>(40, kNoOutcome), 60 * kMin, kMin);
  ASSERT_TRUE(table.has_value());
  EvaluationOptions options;
  options.bootstrap_replicates = 200;
  const Evaluation e = evaluate(table.value(), options);
  const auto group = [&](uint32_t mask) -> const GroupMetrics& {
    for (const GroupMetrics& g : e.subgroups) {
      if (g.present_mask == mask) return g;
    }
    ADD_FAILURE() << "no subgroup " << mask;
    return e.overall;
  };
  const GroupMetrics& usual = group(1);
  EXPECT_LT(usual.discrimination.auroc_ci.lo, usual.discrimination.auroc_ci.hi);
  EXPECT_LT(usual.discrimination.auprc_ci.lo, usual.discrimination.auprc_ci.hi);
  EXPECT_LT(e.overall.discrimination.auroc_ci.lo, e.overall.discrimination.auroc_ci.hi);
  for (const uint32_t mask : {2u, 4u}) {
    const GroupMetrics& tiny = group(mask);
    EXPECT_FALSE(std::isnan(tiny.discrimination.auroc)) << "mask " << mask;
    EXPECT_FALSE(std::isnan(tiny.discrimination.auprc)) << "mask " << mask;
    EXPECT_TRUE(std::isnan(tiny.discrimination.auroc_ci.lo) &&
                std::isnan(tiny.discrimination.auroc_ci.hi))
        << "mask " << mask << ": [" << tiny.discrimination.auroc_ci.lo << ", "
        << tiny.discrimination.auroc_ci.hi << "]";
    EXPECT_TRUE(std::isnan(tiny.discrimination.auprc_ci.lo) &&
                std::isnan(tiny.discrimination.auprc_ci.hi))
        << "mask " << mask;
  }
  // Positives 0.6, 0.4, 0.9 against negatives 0.1, 0.5, 0.3: 8 of 9 pairs.
  EXPECT_NEAR(group(2).discrimination.auroc, 8.0 / 9.0, 1e-12);

  // The paired interval of a stress test follows the same rule: a run whose positives are one
  // patient's has a delta but no interval.
  const TickTable one_positive =
      without(table.value(), [](const ScoredTick& t) { return t.present_mask != 4; });
  TickTable stressed = one_positive;
  for (double& r : stressed.risk) r = 1.0 - r;
  auto c = compare(one_positive, stressed, options);
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(std::isnan(c.value().auroc.delta));
  EXPECT_TRUE(std::isnan(c.value().auroc.delta_ci.lo) && std::isnan(c.value().auroc.delta_ci.hi));
  EXPECT_TRUE(std::isnan(c.value().auprc.delta_ci.lo));
  auto itself = compare(table.value(), table.value(), options);  // enough patients: an interval
  ASSERT_TRUE(itself.has_value());
  EXPECT_EQ(itself.value().auroc.delta_ci.lo, 0.0);
}

TEST(ReportMetrics, CompareAgainstItselfAndAWorseRun) {
  const TickTable base = random_table(8, 40, 15, 10, 0.3);
  EvaluationOptions options;
  options.bootstrap_replicates = 50;
  auto same = compare(base, base, options);
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same.value().auroc.delta, 0.0);
  EXPECT_EQ(same.value().auroc.delta_ci.lo, 0.0);
  EXPECT_EQ(same.value().auroc.delta_ci.hi, 0.0);
  // A run whose risks carry no signal is worse.
  TickTable noisy = base;
  std::mt19937_64 rng(3);
  for (double& r : noisy.risk) r = static_cast<double>(uniform_below(rng, 100)) / 100;
  auto worse = compare(base, noisy, options);
  ASSERT_TRUE(worse.has_value());
  EXPECT_LT(worse.value().auroc.delta, 0.0);
  EXPECT_LT(worse.value().auroc.delta_ci.hi, 0.0);
  EXPECT_DOUBLE_EQ(worse.value().auroc.delta,
                   worse.value().auroc.stressed - worse.value().auroc.baseline);
  TickTable other = base;
  other.outcome_time_ms.push_back(kNoOutcome);
  EXPECT_FALSE(compare(base, other, options).has_value());
}

// A prepared baseline reuses its own bootstrap side when the stressed run brings no new patient
// (here: the stressed run lacks patient 0), and resamples both runs otherwise (the roles swapped).
// Both must give the same comparison, negated.
TEST(ReportMetrics, PreparedBaselineGivesTheComparisonOfFreshResamples) {
  const TickTable base = random_table(8, 40, 15, 10, 0.3);
  TickTable moved = base;
  std::mt19937_64 rng(7);
  for (double& r : moved.risk) {
    r = std::clamp(r + static_cast<double>(uniform_below(rng, 40)) / 100 - 0.2, 0.0, 1.0);
  }
  const TickTable fewer = without(moved, [](const ScoredTick& t) { return t.patient == 0; });
  EvaluationOptions options;
  options.bootstrap_replicates = 60;
  const ComparisonBaseline prepared(base, options);
  auto reused = compare(prepared, fewer);
  ASSERT_TRUE(reused.has_value());
  EXPECT_EQ(compare(prepared, fewer).value().auroc.delta_ci.lo, reused.value().auroc.delta_ci.lo)
      << "a prepared baseline serves any number of comparisons";
  auto swapped = compare(fewer, base, options);
  ASSERT_TRUE(swapped.has_value());
  for (const auto& [a, b] : {std::pair{reused.value().auroc, swapped.value().auroc},
                             std::pair{reused.value().auprc, swapped.value().auprc}}) {
    EXPECT_NE(a.delta, 0.0);
    EXPECT_EQ(a.delta, -b.delta);
    EXPECT_EQ(a.baseline, b.stressed);
    EXPECT_NEAR(a.delta_ci.lo, -b.delta_ci.hi, 1e-12);
    EXPECT_NEAR(a.delta_ci.hi, -b.delta_ci.lo, 1e-12);
    EXPECT_LT(a.delta_ci.lo, a.delta_ci.hi);
  }
  TickTable other = base;
  other.outcome_time_ms.push_back(kNoOutcome);
  EXPECT_FALSE(compare(prepared, other).has_value());

  // The baseline an evaluation prepares from its own ranking and resamples is the same one.
  std::optional<ComparisonBaseline> from_evaluation;
  const Evaluation e = evaluate(base, options, &from_evaluation);
  ASSERT_TRUE(from_evaluation.has_value());
  EXPECT_EQ(e.overall.discrimination.auroc, reused.value().auroc.baseline);
  for (const TickTable* stressed : {static_cast<const TickTable*>(&fewer), &base}) {
    auto a = compare(*from_evaluation, *stressed);
    auto b = compare(prepared, *stressed);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a.value().auroc.delta, b.value().auroc.delta);
    EXPECT_EQ(a.value().auroc.delta_ci.lo, b.value().auroc.delta_ci.lo);
    EXPECT_EQ(a.value().auroc.delta_ci.hi, b.value().auroc.delta_ci.hi);
    EXPECT_EQ(a.value().auprc.delta_ci.lo, b.value().auprc.delta_ci.lo);
    EXPECT_EQ(a.value().auprc.delta_ci.hi, b.value().auprc.delta_ci.hi);
  }
}

TEST(ReportMetrics, SamplePatientsPreferOutcomesThenMostTicks) {
  std::vector<ScoredTick> ticks{
      {0, 1, false, 0, 0.1}, {0, 1, false, kMin, 0.1}, {0, 1, false, 2 * kMin, 0.1},
      {1, 1, false, 0, 0.1}, {1, 3, false, kMin, 0.1},  //
      {2, 3, false, 0, 0.1}, {2, 3, false, kMin, 0.1},
  };
  auto table = make_tick_table(ticks, {kNoOutcome, 50 * kMin, kNoOutcome}, 60 * kMin, kMin);
  ASSERT_TRUE(table.has_value());
  const std::vector<uint32_t> masks{1, 3, 7};
  const std::vector<uint32_t> picked = sample_patients(table.value(), masks);
  ASSERT_EQ(picked.size(), 3u);
  EXPECT_EQ(picked[0], 1u);  // has the outcome, though patient 0 has more mask-1 ticks
  EXPECT_EQ(picked[1], 1u);  // outcome beats patient 2's two ticks
  EXPECT_EQ(picked[2], UINT32_MAX);
}

TEST(ReportMetrics, DecimateKeepsEndsAndBudget) {
  std::vector<CurvePoint> points;
  for (int i = 0; i <= 10000; ++i) points.push_back({i / 10000.0, std::sqrt(i / 10000.0)});
  const std::vector<CurvePoint> d = decimate(points, 300);
  EXPECT_LE(d.size(), 302u);
  EXPECT_GE(d.size(), 150u);
  EXPECT_EQ(d.front().x, 0.0);
  EXPECT_EQ(d.back().x, 1.0);
  for (std::size_t i = 1; i < d.size(); ++i) EXPECT_GT(d[i].x, d[i - 1].x);
  const std::vector<CurvePoint> small(points.begin(), points.begin() + 10);
  EXPECT_EQ(decimate(small, 300).size(), 10u);
}

}  // namespace
}  // namespace tfe::report
