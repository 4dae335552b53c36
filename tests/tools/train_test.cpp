// Training from history: the [training] config, the patient split, example recording through the
// pipeline (labels, exclusion after the outcome, stride, pooled features), and `train` end to end
// with identical model bytes on 1 and 2 threads.

#include "tools/train/train.h"

#include <array>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "connectors/event_files.h"
#include "connectors/history_replay.h"
#include "operators/fusion_operator.h"
#include "operators/model_file.h"
#include "operators/news2.h"
#include "tools/report/backtest.h"
#include "tools/synth/synth.h"

namespace tfe::train {
namespace {

const std::string kProfiles = std::string(TFE_SOURCE_DIR) + "/configs/profiles";

Result<TrainingConfig> parse(const std::string& text) {
  return training_config_from_toml(toml::parse(text));
}

TEST(TrainingConfigTest, DefaultsAndKeys) {
  auto d = parse("");
  ASSERT_TRUE(d);
  EXPECT_EQ(d.value().horizon_ms, 6 * 3'600'000);
  EXPECT_EQ(d.value().stride, 1u);
  EXPECT_DOUBLE_EQ(d.value().masking, 0.25);
  auto c = parse(R"(
[training]
horizon = "4h"
stride = 5
train_fraction = 0.6
validation_fraction = 0.2
masking = 0.5
epochs = 7
batch = 64
learning_rate = 0.01
weight_decay = 0
clip_norm = 2
positive_weight = 3
patience = 2
[training.masking_by_modality]
imaging = 0.75
)");
  ASSERT_TRUE(c) << c.error().message;
  const TrainingConfig& t = c.value();
  EXPECT_EQ(t.horizon_ms, 4 * 3'600'000);
  EXPECT_EQ(t.stride, 5u);
  EXPECT_DOUBLE_EQ(t.train_fraction, 0.6);
  EXPECT_DOUBLE_EQ(t.masking_by.at("imaging"), 0.75);
  EXPECT_EQ(t.optim.epochs, 7u);
  EXPECT_EQ(t.optim.batch, 64u);
  EXPECT_DOUBLE_EQ(t.optim.learning_rate, 0.01);
  EXPECT_DOUBLE_EQ(t.optim.positive_weight, 3.0);
  EXPECT_EQ(t.optim.patience, 2u);
}

TEST(TrainingConfigTest, ErrorsNameTheKey) {
  auto unknown = parse("[training]\nepoch = 3\n");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("'epoch'"), std::string::npos);
  auto fractions = parse("[training]\ntrain_fraction = 0.9\nvalidation_fraction = 0.2\n");
  ASSERT_FALSE(fractions);
  EXPECT_NE(fractions.error().message.find("train_fraction"), std::string::npos);
  // Fractions that leave no test patient (0.85 + 0.15 is 1 up to rounding).
  auto whole = parse("[training]\ntrain_fraction = 0.85\nvalidation_fraction = 0.15\n");
  ASSERT_FALSE(whole);
  EXPECT_NE(whole.error().message.find("must stay below 1"), std::string::npos);
  // Decay that zeroes every weight matrix each step.
  auto decay = parse("[training]\nlearning_rate = 0.01\nweight_decay = 100\n");
  ASSERT_FALSE(decay);
  EXPECT_NE(decay.error().message.find("learning_rate 0.01 x weight_decay 100"), std::string::npos);
  auto stride = parse("[training]\nstride = 0\n");
  ASSERT_FALSE(stride);
  EXPECT_NE(stride.error().message.find("stride"), std::string::npos);
}

TEST(TrainSplitTest, StableAndProportional) {
  std::array<int, 3> n{};
  for (int i = 0; i < 20'000; ++i) {
    const std::string id = "patient-" + std::to_string(i);
    const Split s = split_of(id, 0.7, 0.15);
    EXPECT_EQ(s, split_of(id, 0.7, 0.15));
    ++n[static_cast<int>(s)];
  }
  EXPECT_NEAR(n[0] / 20'000.0, 0.7, 0.015);
  EXPECT_NEAR(n[1] / 20'000.0, 0.15, 0.015);
  EXPECT_NEAR(n[2] / 20'000.0, 0.15, 0.015);
}

// Folds: every patient is in the test split of exactly one fold, the folds are about equal, and
// validation keeps its fraction of all patients. Without folds the config overload is the
// fractions' split.
TEST(SplitTest, FoldsTestEachPatientOnceAndKeepTheTrainValidationRatio) {
  TrainingConfig training;
  constexpr uint32_t kFolds = 4;
  training.folds = kFolds;
  std::array<int, kFolds> test_of{};
  int train = 0, validation = 0;
  for (int i = 0; i < 20'000; ++i) {
    // Appended rather than "p" + ...: GCC 12 reports a false -Wrestrict there (bug 105329).
    std::string id = "p";
    id += std::to_string(i);
    int tested = 0;
    for (uint32_t f = 0; f < kFolds; ++f) {
      training.test_fold = f;
      const Split s = split_of(id, training);
      if (s == Split::test) {
        ++tested;
        ++test_of[f];
      } else {
        (s == Split::train ? train : validation) += 1;
      }
    }
    ASSERT_EQ(tested, 1) << id;
    TrainingConfig plain;
    ASSERT_EQ(split_of(id, plain), split_of(id, 0.7, 0.15)) << id;
  }
  for (const int n : test_of) EXPECT_NEAR(n / 20'000.0, 0.25, 0.015);
  // Validation keeps its 0.15 of all patients: 0.2 of the three non-test folds' patients.
  EXPECT_DOUBLE_EQ(fold_validation_share(training), 0.2);
  EXPECT_NEAR(static_cast<double>(validation) / (train + validation), 0.2, 0.01);
}

struct Cohort {
  synth::Profile profile;
  PatientRegistry registry;
  std::vector<Event> events;
};

std::unique_ptr<Cohort> make_cohort(const std::string& name, uint32_t patients, double days,
                                    uint64_t seed) {
  auto c = std::make_unique<Cohort>();
  auto p = synth::load_profile(name, kProfiles);
  EXPECT_TRUE(p);
  if (!p) return nullptr;
  c->profile = std::move(p).value();
  auto stats = synth::generate(c->profile, synth::GenerateOptions{patients, days, seed},
                               c->registry, [&](const Event& e) { c->events.push_back(e); });
  EXPECT_TRUE(stats);
  sort_for_replay(c->events);
  return c;
}

std::unique_ptr<Cohort> ward_cohort(uint32_t patients, double days, uint64_t seed) {
  return make_cohort("ward", patients, days, seed);
}

std::string write_history(const Cohort& c, const std::filesystem::path& path) {
  auto writer = open_event_writer(path.string(), c.profile.engine.schema, c.registry);
  EXPECT_TRUE(writer) << writer.error().message;
  if (!writer) return {};
  for (const Event& e : c.events) writer.value()->write(e);
  EXPECT_TRUE(writer.value()->close());
  return path.string();
}

TEST(RecordExamplesTest, LabelsStrideAndPooledFeatures) {
  auto cohort = ward_cohort(40, 1.0, 3);
  ASSERT_NE(cohort, nullptr);
  const EngineConfig& config = cohort->profile.engine;
  std::vector<int64_t> outcome(cohort->registry.size(), INT64_MAX);
  for (const Event& e : cohort->events) {
    if (e.modality == kOutcomeModality) {
      outcome[e.patient] = std::min(outcome[e.patient], e.event_time_ms);
    }
  }
  TrainingConfig every;
  ModelConfig arch;
  arch.strategy = Strategy::attention;
  auto all = record_examples(cohort->events, config, cohort->registry, arch, every);
  ASSERT_TRUE(all) << all.error().message;
  const ExampleSet& set = all.value().set;
  ASSERT_GT(set.examples.size(), 1000u);
  uint64_t positives = 0;
  for (std::size_t e = 0; e < set.examples.size(); ++e) {
    const Example& ex = set.examples[e];
    if (e > 0) {
      const Example& prev = set.examples[e - 1];
      ASSERT_TRUE(prev.patient < ex.patient ||
                  (prev.patient == ex.patient && prev.time_ms <= ex.time_ms));
    }
    const int64_t o = outcome[ex.patient];
    ASSERT_LT(ex.time_ms, o) << "tick at or after the outcome";
    const bool positive = o != INT64_MAX && o - ex.time_ms <= every.horizon_ms;
    ASSERT_EQ(ex.label, positive ? 1 : 0);
    positives += ex.label;
    ASSERT_EQ(ex.split, split_of(cohort->registry.id(ex.patient), 0.7, 0.15));
  }
  EXPECT_GT(positives, 0u);
  EXPECT_EQ(all.value().stats.examples, set.examples.size());
  EXPECT_EQ(all.value().news2_risk.size(), set.examples.size());
  // Notes and images are stored once per event, not once per tick.
  EXPECT_LT(set.row_count(1) * 20, set.examples.size());
  EXPECT_LT(set.row_count(2) * 20, set.examples.size() + 20);

  TrainingConfig strided;
  strided.stride = 10;
  auto some = record_examples(cohort->events, config, cohort->registry, arch, strided);
  ASSERT_TRUE(some);
  const uint64_t n = some.value().set.examples.size();
  EXPECT_GE(n * 10, set.examples.size());
  EXPECT_LE(n * 10, set.examples.size() + 10 * cohort->registry.size());
  EXPECT_EQ(some.value().stats.strided_out + n, set.examples.size());
}

// The example rules at their edges, on hand-made patients with a vitals reading every minute:
// a tick exactly one horizon before the outcome is positive and the tick a minute earlier is
// not; no tick at or after the first outcome is an example; of several outcomes the earliest by
// event time counts, even when it arrives last; a patient whose outcome precedes all their data
// gives no example; with stride n each patient keeps its 1st, (n+1)-th, ... example, and a stride
// longer than a stay keeps the first.
TEST(RecordExamplesTest, LabelsAndStrideAtTheEdges) {
  auto engine = engine_config_from_toml(toml::parse_file(kProfiles + "/ward.toml"));
  ASSERT_TRUE(engine) << engine.error().message;
  const EngineConfig& config = engine.value();
  constexpr int64_t kMinute = 60'000;
  constexpr int64_t kHour = 60 * kMinute;
  const int64_t t0 = 28'333'333 * kMinute;  // on the tick grid
  PatientRegistry registry;
  const PatientIndex boundary = registry.intern("edge-boundary");
  const PatientIndex several = registry.intern("edge-several");
  const PatientIndex early = registry.intern("edge-outcome-first");
  const PatientIndex none = registry.intern("edge-no-outcome");
  std::vector<Event> events;
  uint64_t seq = 0;
  const auto outcome = [&](PatientIndex p, int64_t event_ms, int64_t arrival_ms) {
    Event e;
    e.patient = p;
    e.modality = kOutcomeModality;
    e.event_time_ms = event_ms;
    e.arrival_time_ms = arrival_ms;
    e.source_seq = seq++;
    e.label = "deterioration";
    events.push_back(e);
  };
  for (const PatientIndex p : {boundary, several, early, none}) {
    for (int64_t t = t0; t <= t0 + 12 * kHour; t += kMinute) {
      Event e;
      e.patient = p;
      e.modality = 0;  // wearables
      e.event_time_ms = t;
      e.arrival_time_ms = t + 1'000;
      e.source_seq = seq++;
      e.vitals.present_mask = 0x3f;
      e.vitals.values = {80, 97, 16, 37, 120, 0.2f};
      events.push_back(e);
    }
  }
  const int64_t boundary_outcome = t0 + 8 * kHour;
  outcome(boundary, boundary_outcome, boundary_outcome + 1'000);
  outcome(several, t0 + 9 * kHour, t0 + 9 * kHour);
  outcome(several, t0 + 5 * kHour, t0 + 10 * kHour);  // charted late: still the first outcome
  outcome(early, t0 - kHour, t0 - kHour);
  sort_for_replay(events);
  const std::array<int64_t, 4> first_outcome = {boundary_outcome, t0 + 5 * kHour, t0 - kHour,
                                                INT64_MAX};

  ModelConfig arch;
  arch.strategy = Strategy::late;
  TrainingConfig training;  // horizon 6 h
  auto all = record_examples(events, config, registry, arch, training);
  ASSERT_TRUE(all) << all.error().message;
  const RecordedExamples& r = all.value();
  std::array<std::vector<const Example*>, 4> by_patient;
  for (const Example& ex : r.set.examples) by_patient.at(ex.patient).push_back(&ex);
  for (std::size_t p = 0; p < 4; ++p) {
    for (const Example* ex : by_patient[p]) {
      ASSERT_LT(ex->time_ms, first_outcome[p]) << p;
      const bool positive =
          first_outcome[p] != INT64_MAX && first_outcome[p] - ex->time_ms <= training.horizon_ms;
      ASSERT_EQ(ex->label, positive ? 1 : 0) << p << " at " << ex->time_ms - t0;
    }
  }
  const auto label_at = [&](PatientIndex p, int64_t t) -> int {
    for (const Example* ex : by_patient[p]) {
      if (ex->time_ms == t) return ex->label;
    }
    return -1;  // no example at t
  };
  EXPECT_EQ(label_at(boundary, boundary_outcome - training.horizon_ms), 1);
  EXPECT_EQ(label_at(boundary, boundary_outcome - training.horizon_ms - kMinute), 0);
  EXPECT_EQ(label_at(boundary, boundary_outcome - kMinute), 1);
  EXPECT_EQ(label_at(boundary, boundary_outcome), -1);
  ASSERT_FALSE(by_patient[several].empty());
  EXPECT_EQ(by_patient[several].back()->time_ms, t0 + 5 * kHour - kMinute);
  EXPECT_TRUE(by_patient[early].empty());
  ASSERT_FALSE(by_patient[none].empty());
  EXPECT_GE(by_patient[none].back()->time_ms, t0 + 12 * kHour);
  EXPECT_EQ(r.stats.examples, r.set.examples.size());
  EXPECT_EQ(r.stats.strided_out, 0u);
  EXPECT_EQ(r.stats.ticks, r.stats.examples + r.stats.after_outcome);
  EXPECT_GT(r.stats.after_outcome, 0u);
  uint64_t positives = 0;
  for (const Example& ex : r.set.examples) positives += ex.label;
  EXPECT_EQ(r.stats.positives, positives);
  EXPECT_EQ(r.stats.patients[0] + r.stats.patients[1] + r.stats.patients[2], 3u);

  for (const uint32_t stride : {7u, 100'000u}) {
    training.stride = stride;
    auto strided = record_examples(events, config, registry, arch, training);
    ASSERT_TRUE(strided) << strided.error().message;
    const RecordedExamples& s = strided.value();
    std::array<std::vector<int64_t>, 4> times;
    for (const Example& ex : s.set.examples) times.at(ex.patient).push_back(ex.time_ms);
    for (std::size_t p = 0; p < 4; ++p) {
      std::vector<int64_t> expected;
      for (std::size_t i = 0; i < by_patient[p].size(); i += stride) {
        expected.push_back(by_patient[p][i]->time_ms);
      }
      EXPECT_EQ(times[p], expected) << "stride " << stride << ", patient " << p;
    }
    EXPECT_EQ(s.stats.ticks, r.stats.ticks);
    EXPECT_EQ(s.stats.after_outcome, r.stats.after_outcome);
    EXPECT_EQ(s.stats.strided_out + s.stats.examples, r.stats.examples) << stride;
  }
}

// Recording replays the whole history, tens of seconds on a large one: it reports its progress
// (about once a second, and once at the end with every event replayed), and reporting changes
// nothing recorded.
TEST(RecordExamplesTest, ReportsProgressEndingWithEveryEventReplayed) {
  auto cohort = ward_cohort(20, 0.5, 5);
  ASSERT_NE(cohort, nullptr);
  const EngineConfig& config = cohort->profile.engine;
  ModelConfig arch;
  arch.strategy = Strategy::late;
  TrainingConfig training;
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  auto reported = record_examples(
      cohort->events, config, cohort->registry, arch, training,
      [&](uint64_t replayed, uint64_t total) { calls.emplace_back(replayed, total); });
  ASSERT_TRUE(reported) << reported.error().message;
  const uint64_t n = cohort->events.size();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), std::make_pair(n, n));
  for (std::size_t i = 1; i < calls.size(); ++i) {
    EXPECT_LE(calls[i - 1].first, calls[i].first);
    EXPECT_EQ(calls[i].second, n);
  }
  auto silent = record_examples(cohort->events, config, cohort->registry, arch, training);
  ASSERT_TRUE(silent);
  EXPECT_EQ(silent.value().set.examples.size(), reported.value().set.examples.size());
  EXPECT_EQ(silent.value().set.items.size(), reported.value().set.items.size());
  EXPECT_EQ(silent.value().set.rows, reported.value().set.rows);
}

// Training throughput counts the training passes alone: an epoch of 1 s of training and 0.25 s
// of validation trains 86,000 examples at 86,000 examples/s, not 68,800.
TEST(TrainingRateTest, CountsTheTrainingPassAlone) {
  EXPECT_DOUBLE_EQ(training_rate(86'000, 1.0), 86'000.0);
  EXPECT_DOUBLE_EQ(training_rate(86'000, 0.5), 172'000.0);
  EXPECT_DOUBLE_EQ(training_rate(0, 2.0), 0.0);
  EXPECT_TRUE(std::isfinite(training_rate(10, 0.0)));  // no division by zero
}

// Each epoch reports its training pass and its validation pass apart, and its examples/s is the
// first alone; the run's figure is every epoch's examples over their training passes together.
TEST(TrainingRateTest, EpochsAndTheRunReportTheTrainingPassesRate) {
  auto cohort = make_cohort("small_complete", 60, 1.0, 1);  // both classes in every split
  ASSERT_NE(cohort, nullptr);
  TrainRequest request;
  request.engine = cohort->profile.engine;
  request.arch.strategy = Strategy::late;
  request.training.optim.epochs = 3;
  request.training.optim.patience = 3;
  request.threads = 1;
  std::vector<EpochReport> epochs;
  request.on_epoch = [&](const EpochReport& r) { epochs.push_back(r); };
  auto result = train_from_events(cohort->events, cohort->registry, request);
  ASSERT_TRUE(result) << result.error().message;
  const TrainSummary& summary = result.value().summary;
  ASSERT_EQ(epochs.size(), summary.epochs_run);
  ASSERT_GT(summary.train_examples, 0u);
  double train_seconds = 0;
  for (const EpochReport& r : epochs) {
    EXPECT_EQ(r.examples, summary.train_examples) << "epoch " << r.epoch;
    EXPECT_GT(r.train_seconds, 0.0);
    EXPECT_GT(r.validation_seconds, 0.0);
    EXPECT_DOUBLE_EQ(r.examples_per_s, training_rate(r.examples, r.train_seconds))
        << "epoch " << r.epoch << ": " << r.train_seconds << " s training, " << r.validation_seconds
        << " s validation";
    train_seconds += r.train_seconds;
  }
  EXPECT_DOUBLE_EQ(summary.examples_per_s,
                   training_rate(summary.train_examples * summary.epochs_run, train_seconds));
}

// The replay's progress goes to the caller, who decides how often to print it: first (0, all) as
// the replay starts, last (all, all) as it ends, never backwards.
TEST(TrainFromEventsTest, ReportsTheReplayFromItsStartToItsEnd) {
  auto cohort = make_cohort("small_complete", 30, 0.5, 2);
  ASSERT_NE(cohort, nullptr);
  TrainRequest request;
  request.engine = cohort->profile.engine;
  request.arch.strategy = Strategy::late;
  request.training.optim.epochs = 1;
  request.training.stride = 5;
  request.threads = 1;
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  request.on_replay = [&](uint64_t replayed, uint64_t total) {
    calls.emplace_back(replayed, total);
  };
  // The outcome does not matter here (a split may lack a class): only the replay before it.
  (void)train_from_events(cohort->events, cohort->registry, request);
  const uint64_t n = cohort->events.size();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls.front(), std::make_pair(uint64_t{0}, n));
  EXPECT_EQ(calls.back(), std::make_pair(n, n));
  for (std::size_t i = 1; i < calls.size(); ++i) {
    EXPECT_LE(calls[i - 1].first, calls[i].first);
    EXPECT_EQ(calls[i].second, n);
  }
}

// A history without a single outcome event can have no positive example: one error says so (and
// what outcomes are), before the replay rather than after it, instead of blaming a split.
TEST(TrainFromEventsTest, AHistoryWithoutOutcomesIsRefusedForThatBeforeTheReplay) {
  auto cohort = make_cohort("small_complete", 30, 0.5, 2);
  ASSERT_NE(cohort, nullptr);
  std::erase_if(cohort->events, [](const Event& e) { return e.modality == kOutcomeModality; });
  EXPECT_TRUE(outcome_patients(cohort->events, cohort->registry.size()).empty());
  TrainRequest request;
  request.engine = cohort->profile.engine;
  request.arch.strategy = Strategy::late;
  request.training.optim.epochs = 1;
  request.threads = 1;
  uint64_t replay_calls = 0;
  request.on_replay = [&](uint64_t, uint64_t) { ++replay_calls; };
  auto result = train_from_events(cohort->events, cohort->registry, request);
  ASSERT_FALSE(result);
  const std::string& message = result.error().message;
  EXPECT_EQ(message, no_outcome_events_error().message);
  EXPECT_NE(message.find("the history has no outcome events"), std::string::npos) << message;
  EXPECT_NE(message.find("\"outcome\""), std::string::npos) << message;
  EXPECT_EQ(message.find("split"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(replay_calls, 0u);
}

// Outcomes in the history but no positive example in a split: the error keeps the split and its
// counts and says why, either none of its patients has an outcome or the horizon is too short.
TEST(TrainFromEventsTest, ASplitWithoutPositivesSaysWhy) {
  auto cohort = make_cohort("small_complete", 60, 1.0, 1);  // both classes in every split
  ASSERT_NE(cohort, nullptr);
  TrainRequest request;
  request.engine = cohort->profile.engine;
  request.arch.strategy = Strategy::late;
  request.training.optim.epochs = 1;
  request.threads = 1;
  const std::vector<PatientIndex> all = outcome_patients(cohort->events, cohort->registry.size());
  ASSERT_GT(all.size(), 2u);

  // The training split's patients lose their outcomes; the others keep theirs.
  std::vector<Event> events = cohort->events;
  std::erase_if(events, [&](const Event& e) {
    return e.modality == kOutcomeModality &&
           split_of(cohort->registry.id(e.patient), request.training) == Split::train;
  });
  const std::size_t kept = outcome_patients(events, cohort->registry.size()).size();
  ASSERT_GT(kept, 0u);
  ASSERT_LT(kept, all.size());
  auto none_in_split = train_from_events(events, cohort->registry, request);
  ASSERT_FALSE(none_in_split);
  const std::string& none = none_in_split.error().message;
  EXPECT_EQ(none.rfind("the training split needs positive and negative examples (", 0), 0u) << none;
  EXPECT_NE(none.find(" 0 positive): none of its "), std::string::npos) << none;
  EXPECT_NE(none.find(fmt::format("has an outcome ({} in the history)", kept)), std::string::npos)
      << none;

  // Every outcome kept, a horizon too short for any tick to fall within it.
  request.training.horizon_ms = 1;
  auto too_short = train_from_events(cohort->events, cohort->registry, request);
  ASSERT_FALSE(too_short);
  const std::string& horizon = too_short.error().message;
  EXPECT_EQ(horizon.rfind("the training split needs positive and negative examples (", 0), 0u)
      << horizon;
  EXPECT_NE(horizon.find("within the 1ms horizon"), std::string::npos) << horizon;
}

// Test metrics' intervals: a bootstrap over patients of the scores' ranks gives the report's own
// figures, points exactly as the plain metrics, for any scores (logits) with ties.
TEST(TestMetricsTest, PatientBootstrapOfRanksIsTheReportsOwn) {
  std::mt19937_64 rng(5);
  std::vector<Example> examples;
  std::vector<uint32_t> rows;
  std::vector<double> score;
  std::vector<uint8_t> label;
  for (PatientIndex p = 0; p < 60; ++p) {
    const bool sick = p % 4 == 0;
    for (int k = 0; k < 20; ++k) {
      Example e;
      e.patient = p;
      e.time_ms = 60'000 * k;
      e.label = sick && k > 12;
      examples.push_back(e);
      if (k % 3 == 2) continue;  // rows need not be every example
      rows.push_back(static_cast<uint32_t>(examples.size() - 1));
      label.push_back(e.label);
      // Two decimals: many ties.
      score.push_back(
          std::round(100 *
                     (std::uniform_real_distribution<double>(0, 1)(rng) + (e.label ? 0.3 : 0.0)) /
                     1.3) /
          100);
    }
  }
  const auto d = detail::discrimination_by_patient(score, label, examples, rows, 200, 9);
  EXPECT_DOUBLE_EQ(d.auroc, report::auroc(score, label));
  EXPECT_DOUBLE_EQ(d.auprc, report::average_precision(score, label));
  EXPECT_LT(d.auroc_ci.lo, d.auroc);
  EXPECT_GT(d.auroc_ci.hi, d.auroc);
  EXPECT_LT(d.auprc_ci.lo, d.auprc_ci.hi);

  // The scores are risks already: the report's evaluation of them gives the same intervals.
  std::vector<report::ScoredTick> ticks;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    report::ScoredTick t;
    t.patient = examples[rows[i]].patient;
    t.score_time_ms = examples[rows[i]].time_ms;
    t.label = label[i] != 0;
    t.risk = score[i];
    ticks.push_back(t);
  }
  auto table = report::make_tick_table(ticks, std::vector<int64_t>(60, report::kNoOutcome), 1, 1);
  ASSERT_TRUE(table);
  report::EvaluationOptions options;
  options.seed = 9;
  options.subgroups = false;
  const report::Discrimination direct =
      report::evaluate(table.value(), options).overall.discrimination;
  EXPECT_DOUBLE_EQ(d.auroc_ci.lo, direct.auroc_ci.lo);
  EXPECT_DOUBLE_EQ(d.auroc_ci.hi, direct.auroc_ci.hi);
  EXPECT_DOUBLE_EQ(d.auprc_ci.lo, direct.auprc_ci.lo);
  EXPECT_DOUBLE_EQ(d.auprc_ci.hi, direct.auprc_ci.hi);

  // Logits: any increasing map of the scores gives the same figures.
  std::vector<double> logit(score.size());
  for (std::size_t i = 0; i < score.size(); ++i) logit[i] = 40 * score[i] - 25;
  const auto same = detail::discrimination_by_patient(logit, label, examples, rows, 200, 9);
  EXPECT_EQ(same.auroc, d.auroc);
  EXPECT_EQ(same.auroc_ci.lo, d.auroc_ci.lo);
  EXPECT_EQ(same.auprc_ci.hi, d.auprc_ci.hi);
  // Another seed, other replicates.
  const auto other = detail::discrimination_by_patient(score, label, examples, rows, 200, 10);
  EXPECT_NE(other.auroc_ci.lo, d.auroc_ci.lo);
}

// A misspelt modality under [training.masking_by_modality] is an error, named with the
// modalities there are, before any history is read.
// A config whose vitals lack a channel NEWS2 needs (here sbp, under another name) has no NEWS2
// baseline: the recorder stores NaN for it, and the test metrics say "not measured" (NaN, printed
// as a dash) instead of scoring NaN risks as one big tie (AUROC 0.5 and the prevalence as
// AUPRC, printed as if NEWS2 had been measured at chance).
TEST(TestMetricsTest, WithoutANews2BaselineItsMetricsAreNotMeasured) {
  auto cohort = ward_cohort(40, 1.0, 3);
  ASSERT_NE(cohort, nullptr);
  EngineConfig config = cohort->profile.engine;
  std::vector<ModalitySpec> specs = config.schema.specs();
  for (ModalitySpec& spec : specs) {
    for (std::string& channel : spec.channels) {
      if (channel == "sbp") channel = "sbp_cuff";
    }
  }
  config.schema = ModalitySchema(std::move(specs));
  ASSERT_FALSE(make_news2_scorer(config));
  ModelConfig arch;
  arch.strategy = Strategy::late;
  TrainingConfig training;
  training.train_fraction = 0.4;
  training.validation_fraction = 0.1;  // half the patients test
  auto recorded = record_examples(cohort->events, config, cohort->registry, arch, training);
  ASSERT_TRUE(recorded) << recorded.error().message;
  EXPECT_NE(recorded.value().news2_unavailable.find("sbp"), std::string::npos)
      << recorded.value().news2_unavailable;
  auto model = init_model(arch, config, 1);
  ASSERT_TRUE(model) << model.error().message;
  const TestMetrics m = evaluate_test(model.value(), recorded.value(), 1, 1);
  ASSERT_GT(m.positives, 0u);
  ASSERT_LT(m.positives, m.examples);
  EXPECT_FALSE(std::isnan(m.auroc));
  EXPECT_TRUE(std::isnan(m.news2_auroc)) << m.news2_auroc;
  EXPECT_TRUE(std::isnan(m.news2_auprc)) << m.news2_auprc;
  EXPECT_TRUE(std::isnan(m.news2_auroc_ci.lo) && std::isnan(m.news2_auroc_ci.hi));
  EXPECT_TRUE(std::isnan(m.news2_auprc_ci.lo) && std::isnan(m.news2_auprc_ci.hi));
}

TEST(TrainFromHistoryTest, MaskingForAModalityTheConfigLacksIsAnError) {
  auto engine = engine_config_from_toml(toml::parse_file(kProfiles + "/ward.toml"));
  ASSERT_TRUE(engine) << engine.error().message;
  TrainRequest request;
  request.history = {"/nonexistent/history.tfelog"};
  request.engine = engine.value();
  request.training.masking_by["imagng"] = 0.5;
  auto result = train_from_history(request);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message,
            "[training.masking_by_modality] 'imagng' is not a modality of the config (wearables, "
            "notes, imaging)");
}

TEST(TrainFromHistoryTest, SameModelBytesWithOneAndTwoThreads) {
  auto cohort = ward_cohort(120, 1.0, 11);
  ASSERT_NE(cohort, nullptr);
  const auto dir =
      std::filesystem::temp_directory_path() / ("tfe_train_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string history = (dir / "ward.tfelog").string();
  {
    auto writer = open_event_writer(history, cohort->profile.engine.schema, cohort->registry);
    ASSERT_TRUE(writer) << writer.error().message;
    for (const Event& e : cohort->events) writer.value()->write(e);
    ASSERT_TRUE(writer.value()->close());
  }
  const auto make_request = [&](uint32_t threads) {
    TrainRequest request;
    request.history = {history};
    request.engine = cohort->profile.engine;
    request.arch.strategy = Strategy::attention;
    request.training.stride = 5;
    request.training.optim.epochs = 2;
    request.training.optim.batch = 100;  // not a multiple of the gradient chunk
    request.seed = 7;
    request.threads = threads;
    return request;
  };
  std::vector<std::vector<uint8_t>> bytes;
  for (uint32_t threads : {1u, 2u}) {
    auto result = train_from_history(make_request(threads));
    ASSERT_TRUE(result) << result.error().message;
    const TrainResult& r = result.value();
    EXPECT_EQ(r.model.metadata.at("horizon_ms"), "21600000");
    EXPECT_NE(r.model.metadata.at("split").find("train 0.7"), std::string::npos);
    EXPECT_GT(r.summary.epochs_run, 0u);
    EXPECT_GE(r.test.auroc, 0.0);
    bytes.push_back(serialize_model(r.model));
    // The written model loads and matches the config it was trained for.
    const std::string out = (dir / ("model" + std::to_string(threads) + ".tfemodel")).string();
    ASSERT_TRUE(save_model(r.model, out));
    auto loaded = load_model(out);
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_TRUE(check_model_matches_config(loaded.value(), cohort->profile.engine));
  }
  EXPECT_EQ(bytes[0], bytes[1]);
  // From the same events already in memory (how the bake-off trains): the same bytes.
  PatientRegistry registry;
  DeadLetterSink dead;
  auto loaded = load_history({history}, cohort->profile.engine, registry, dead);
  ASSERT_TRUE(loaded) << loaded.error().message;
  auto from_events = train_from_events(loaded.value().events, registry, make_request(2));
  ASSERT_TRUE(from_events) << from_events.error().message;
  EXPECT_EQ(serialize_model(from_events.value().model), bytes[0]);
  std::filesystem::remove_all(dir);
}

// What serving makes of a trained model must be what training measured: the backtest of the
// test-split patients (staged encoders, calibrated risk, the replay of their events alone) scores
// the same ticks as training's test metrics (raw features, logits), so the AUROCs agree. The
// icu_timing models' validation logits sit far below zero, where the Platt fit once diverged to a
// negative slope and the backtest ranked the test patients upside down (AUROC below 0.5).
// Likewise the NEWS2 baseline recorded with each example is the NEWS2 the service scores.
TEST(TrainFromHistoryTest, BacktestOfTheTestSplitMatchesTrainingTestMetrics) {
  auto cohort = make_cohort("icu_timing", 40, 0.5, 7);
  ASSERT_NE(cohort, nullptr);
  const auto dir =
      std::filesystem::temp_directory_path() / ("tfe_train_serve_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string history = write_history(*cohort, dir / "icu_timing.tfelog");
  ASSERT_FALSE(history.empty());
  History test;
  std::set<PatientIndex> test_patients;
  for (const Event& e : cohort->events) {
    const std::string_view id = cohort->registry.id(e.patient);
    if (split_of(id, 0.7, 0.15) != Split::test) continue;
    test.events.push_back(e);
    test_patients.insert(e.patient);
  }
  ASSERT_GE(test_patients.size(), 5u);
  // An isotonic table ties the logits of a step: its served ranking is the table's, and the
  // metrics training prints must be that one too.
  const std::pair<Strategy, CalibrationMethod> models[] = {
      {Strategy::intermediate, CalibrationMethod::platt},
      {Strategy::attention, CalibrationMethod::platt},
      {Strategy::intermediate, CalibrationMethod::isotonic}};
  for (const auto& [s, calibration] : models) {
    TrainRequest request;
    request.history = {history};
    request.engine = cohort->profile.engine;
    request.arch.strategy = s;
    request.arch.calibration = calibration;
    request.training.optim.epochs = 2;
    request.seed = 7;
    request.threads = 1;
    auto result = train_from_history(request);
    ASSERT_TRUE(result) << result.error().message;
    const TrainResult& r = result.value();
    ASSERT_GT(r.test.positives, 0u);
    ASSERT_LT(r.test.positives, r.test.examples);
    if (calibration == CalibrationMethod::platt) {
      EXPECT_GT(r.model.calibration.platt_a, 0.0f) << to_string(s);
    }
    auto model = std::make_shared<const FusionModel>(r.model);
    auto op = FusionOperator::create(model, cohort->profile.engine);
    ASSERT_TRUE(op) << op.error().message;
    auto news2 = make_news2_scorer(cohort->profile.engine);
    ASSERT_TRUE(news2) << news2.error().message;
    const std::vector<report::BacktestScorer> scorers = {
        {std::string(to_string(s)), op.value(), request.training.horizon_ms},
        {"news2", news2.value(), std::nullopt}};
    report::BacktestOptions options;
    options.stress = false;
    options.timelines = false;
    options.evaluation.bootstrap_replicates = 0;
    auto rep = report::run_backtest(test.events, cohort->registry, cohort->profile.engine, scorers,
                                    options);
    ASSERT_TRUE(rep) << rep.error().message;
    const auto& overall = rep.value().models.at(0).evaluation.overall;
    EXPECT_EQ(overall.ticks, r.test.examples) << to_string(s);
    EXPECT_NEAR(overall.discrimination.auroc, r.test.auroc, 0.005) << to_string(s);
    EXPECT_NEAR(overall.discrimination.auprc, r.test.auprc, 0.005)
        << to_string(s) << " " << to_string(calibration);
    // The baseline recorded beside each example is the NEWS2 the service scores.
    const auto& baseline = rep.value().models.at(1).evaluation.overall;
    EXPECT_NEAR(baseline.discrimination.auroc, r.test.news2_auroc, 0.005);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tfe::train
