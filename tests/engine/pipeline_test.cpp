// The pipeline: tick timing, the leakage rule, determinism across shard counts and batching,
// event ticks, eviction of idle patients, late events and emission control.

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/pipeline.h"
#include "tests/engine/engine_test_util.h"

namespace tfe {
namespace {

using test::kHour;
using test::kMinute;
using test::kSecond;

// Runs `events` (in push order) through a pipeline; advance() after every `batch` events with
// the newest arrival so far, then finish(). Returns the scores.
struct RunResult {
  std::vector<ScoreRecord> records;
  PipelineStats stats;
};

RunResult run(const EngineConfig& config, const std::vector<Event>& events, std::size_t batch,
              std::shared_ptr<const Scorer> scorer = nullptr) {
  PatientRegistry registry;
  // Patients are interned in order of first appearance; indices in the events are their order.
  PatientIndex max_patient = 0;
  for (const Event& e : events) max_patient = std::max(max_patient, e.patient);
  for (PatientIndex p = 0; p <= max_patient; ++p) registry.intern("patient-" + std::to_string(p));
  if (!scorer) scorer = std::make_shared<test::SumScorer>(config.schema.size());
  test::CollectSink sink;
  Pipeline pipeline(config, scorer, registry, sink);
  int64_t clock = std::numeric_limits<int64_t>::min();
  for (std::size_t i = 0; i < events.size(); ++i) {
    clock = std::max(clock, events[i].arrival_time_ms);
    pipeline.push(events[i]);
    if ((i + 1) % batch == 0) pipeline.advance(clock);
  }
  pipeline.advance(clock);
  pipeline.finish();
  return {std::move(sink.records), pipeline.stats()};
}

// A mixed cohort: vitals about once a minute (partial, sometimes out of event-time order), notes
// with documentation delays, images with read delays, outcomes, idle gaps long enough to evict.
std::vector<Event> random_cohort(uint32_t seed, int patients, int64_t span_ms) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<Event> events;
  for (int p = 0; p < patients; ++p) {
    int64_t t = static_cast<int64_t>(unit(rng) * 30 * kMinute);
    while (t < span_ms) {
      t += static_cast<int64_t>((0.5 + unit(rng)) * kMinute);
      if (unit(rng) < 0.01) t += static_cast<int64_t>(unit(rng) * 2 * kHour);  // device off
      std::vector<std::pair<int, float>> values;
      for (int c = 0; c < 6; ++c) {
        if (unit(rng) < 0.8) values.emplace_back(c, static_cast<float>(50 + 50 * unit(rng)));
      }
      if (values.empty()) values.emplace_back(0, 70.0f);
      const int64_t delay = static_cast<int64_t>(unit(rng) * 60 * kSecond);
      events.push_back(test::vitals_event(static_cast<PatientIndex>(p), t - delay, t, values));
      if (unit(rng) < 0.02) {
        const int64_t doc_delay = static_cast<int64_t>((0.5 + 5.5 * unit(rng)) * kHour);
        Event note = test::vector_event(static_cast<PatientIndex>(p), 1, t - doc_delay, t,
                                        {static_cast<float>(unit(rng)), 1.0f, 2.0f});
        note.text = "note";
        events.push_back(note);
      }
      if (unit(rng) < 0.003) {
        events.push_back(test::vector_event(static_cast<PatientIndex>(p), 2, t - kHour, t + 1234,
                                            {1, 2, 3, static_cast<float>(p)}));
      }
      if (unit(rng) < 0.002) {
        Event outcome;
        outcome.patient = static_cast<PatientIndex>(p);
        outcome.modality = kOutcomeModality;
        outcome.event_time_ms = t;
        outcome.arrival_time_ms = t;
        outcome.label = "deterioration";
        events.push_back(outcome);
      }
    }
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.arrival_time_ms < b.arrival_time_ms;
  });
  for (std::size_t i = 0; i < events.size(); ++i) events[i].source_seq = i;
  return events;
}

TEST(Pipeline, TickAtTFiresOnceTheClockHasPassedT) {
  const EngineConfig config = test::test_config();
  PatientRegistry registry;
  registry.intern("p0");
  test::CollectSink sink;
  Pipeline pipeline(config, std::make_shared<test::SumScorer>(3), registry, sink);
  pipeline.push(test::vitals_event(0, 30 * kSecond, 30 * kSecond, {{0, 80}}));
  pipeline.advance(60 * kSecond);
  EXPECT_TRUE(sink.records.empty());
  EXPECT_EQ(pipeline.stats().events_applied, 1u);
  pipeline.advance(60 * kSecond + 1);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].score_time_ms, 60 * kSecond);
  EXPECT_TRUE(sink.records[0].modalities[0].present);
  EXPECT_EQ(sink.records[0].modalities[0].age_ms, 30 * kSecond);
  EXPECT_FALSE(sink.records[0].modalities[1].present);
}

TEST(Pipeline, AllowedLatenessDelaysTicks) {
  EngineConfig config = test::test_config();
  config.allowed_lateness_ms = 10 * kSecond;
  PatientRegistry registry;
  registry.intern("p0");
  test::CollectSink sink;
  Pipeline pipeline(config, std::make_shared<test::SumScorer>(3), registry, sink);
  pipeline.push(test::vitals_event(0, 30 * kSecond, 30 * kSecond, {{0, 80}}));
  pipeline.advance(65 * kSecond);  // released up to 55 s
  EXPECT_TRUE(sink.records.empty());
  // Arrives at 58 s, after the clock reached 65 s: within the lateness, so it is applied in
  // order, before the tick at 60 s.
  pipeline.push(test::vitals_event(0, 50 * kSecond, 58 * kSecond, {{0, 90}}));
  pipeline.advance(70 * kSecond);
  EXPECT_TRUE(sink.records.empty());  // the tick at 60 s waits for the clock to pass 70 s
  pipeline.advance(70 * kSecond + 1);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].score_time_ms, 60 * kSecond);
  EXPECT_EQ(sink.records[0].modalities[0].age_ms, 10 * kSecond);
  EXPECT_EQ(pipeline.stats().late_events, 0u);
  EXPECT_EQ(pipeline.stats().clock_ms, 60 * kSecond + 1);
  // Behind the released time: late.
  pipeline.push(test::vitals_event(0, 50 * kSecond, 59 * kSecond, {{0, 90}}));
  EXPECT_EQ(pipeline.stats().late_events, 1u);
}

TEST(Pipeline, EventArrivingExactlyAtTheTickIsIncluded) {
  const EngineConfig config = test::test_config();
  PatientRegistry registry;
  registry.intern("p0");
  test::CollectSink sink;
  Pipeline pipeline(config, std::make_shared<test::SumScorer>(3), registry, sink);
  pipeline.push(test::vitals_event(0, 10 * kSecond, 10 * kSecond, {{0, 80}}));
  pipeline.push(test::vitals_event(0, 60 * kSecond, 60 * kSecond, {{0, 80}}));
  pipeline.push(test::vitals_event(0, 61 * kSecond, 61 * kSecond, {{0, 80}}));
  pipeline.advance(61 * kSecond);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].score_time_ms, 60 * kSecond);
  EXPECT_EQ(sink.records[0].modalities[0].age_ms, 0);
}

TEST(Pipeline, FinishFiresTicksAtTheLastClockButNotBeyond) {
  const EngineConfig config = test::test_config();
  PatientRegistry registry;
  registry.intern("p0");
  test::CollectSink sink;
  Pipeline pipeline(config, std::make_shared<test::SumScorer>(3), registry, sink);
  pipeline.push(test::vitals_event(0, 100 * kSecond, 100 * kSecond, {{0, 80}}));
  pipeline.push(test::vitals_event(0, 120 * kSecond, 120 * kSecond, {{0, 80}}));
  pipeline.push(test::vitals_event(0, 400 * kSecond, 400 * kSecond, {{0, 80}}));
  pipeline.advance(120 * kSecond);
  EXPECT_TRUE(sink.records.empty());
  pipeline.finish();
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].score_time_ms, 120 * kSecond);
  EXPECT_EQ(pipeline.stats().events_applied, 3u);
  // After finish, nothing before the last applied arrival can fire (it would see the event at
  // 400 s): the next ticks are on the grid after it.
  pipeline.advance(500 * kSecond);
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[1].score_time_ms, 420 * kSecond);
  EXPECT_EQ(sink.records[2].score_time_ms, 480 * kSecond);
}

TEST(Pipeline, FinishFiresTheTicksTheAllowedLatenessHeldBack) {
  // At the end of a finite history nothing more can arrive: a replay with allowed lateness scores
  // the same ticks as one without it, none of its last stretch lost.
  const std::vector<Event> events = random_cohort(7, 12, 3 * kHour);
  EngineConfig config = test::test_config();
  const RunResult on_time = run(config, events, 64);
  config.allowed_lateness_ms = kHour;
  const RunResult late = run(config, events, 64);
  ASSERT_GT(on_time.records.size(), 100u);
  ASSERT_EQ(late.records.size(), on_time.records.size());
  for (std::size_t i = 0; i < late.records.size(); ++i) {
    EXPECT_EQ(late.records[i].patient, on_time.records[i].patient) << i;
    EXPECT_EQ(late.records[i].score_time_ms, on_time.records[i].score_time_ms) << i;
  }
}

TEST(Pipeline, NonVitalsEventsTickOnArrival) {
  EngineConfig config = test::test_config();
  std::vector<Event> events;
  events.push_back(test::vitals_event(0, 0, 10 * kSecond, {{0, 80}}));
  events.push_back(test::vector_event(0, 1, 0, 90 * kSecond, {1, 2, 3}));      // off the grid
  events.push_back(test::vector_event(0, 2, 0, 120 * kSecond, {1, 2, 3, 4}));  // on the grid
  events.push_back(test::vitals_event(1, 0, 130 * kSecond, {{0, 80}}));
  for (std::size_t i = 0; i < events.size(); ++i) events[i].source_seq = i;
  const int64_t end = 150 * kSecond;
  events.push_back(test::vitals_event(1, end, end, {{0, 80}}));

  const RunResult with = run(config, events, 1);
  std::vector<int64_t> times;
  for (const ScoreRecord& r : with.records) {
    if (r.patient == 0) times.push_back(r.score_time_ms);
  }
  EXPECT_EQ(times, (std::vector<int64_t>{60 * kSecond, 90 * kSecond, 120 * kSecond}));
  const auto at90 =
      std::find_if(with.records.begin(), with.records.end(),
                   [](const ScoreRecord& r) { return r.score_time_ms == 90 * kSecond; });
  ASSERT_NE(at90, with.records.end());
  EXPECT_TRUE(at90->modalities[1].present);

  config.tick_on_event = false;
  const RunResult without = run(config, events, 1);
  times.clear();
  for (const ScoreRecord& r : without.records) {
    if (r.patient == 0) times.push_back(r.score_time_ms);
  }
  EXPECT_EQ(times, (std::vector<int64_t>{60 * kSecond, 120 * kSecond}));
}

TEST(Pipeline, IdlePatientStopsTickingAndIsEvicted) {
  const EngineConfig config = test::test_config();
  std::vector<Event> events;
  events.push_back(test::vitals_event(0, 0, 0, {{0, 80}}));
  events.push_back(test::vitals_event(1, 0, 0, {{0, 80}}));
  events.push_back(test::vitals_event(1, 30 * kMinute, 30 * kMinute, {{0, 80}}));
  const RunResult result = run(config, events, 1);
  std::vector<int64_t> times;
  for (const ScoreRecord& r : result.records) {
    if (r.patient == 0) times.push_back(r.score_time_ms);
  }
  // Ticks at 0, 1, ..., 15 min (present while age <= 15 min), then evicted.
  ASSERT_EQ(times.size(), 16u);
  EXPECT_EQ(times.front(), 0);
  EXPECT_EQ(times.back(), 15 * kMinute);
  // Patient 1 is evicted at 16 min too and comes back with its event at 30 min.
  EXPECT_EQ(result.stats.patients_evicted, 2u);
  EXPECT_EQ(result.stats.active_patients, 1u);
  EXPECT_GT(result.stats.state_bytes, 0u);
}

TEST(Pipeline, OutcomesAreCountedAndNeverState) {
  const EngineConfig config = test::test_config();
  Event outcome;
  outcome.patient = 0;
  outcome.modality = kOutcomeModality;
  outcome.event_time_ms = 0;
  outcome.arrival_time_ms = 0;
  outcome.label = "icu_transfer";
  const RunResult result =
      run(config, {outcome, test::vitals_event(0, 5 * kMinute, 5 * kMinute, {{0, 1}})}, 1);
  EXPECT_EQ(result.stats.outcome_events, 1u);
  EXPECT_EQ(result.stats.events_applied, 1u);
  ASSERT_FALSE(result.records.empty());
  EXPECT_EQ(result.records.front().score_time_ms, 5 * kMinute);
}

TEST(Pipeline, LateEventIsCountedAndAppliedWithoutATickInThePast) {
  const EngineConfig config = test::test_config();
  PatientRegistry registry;
  registry.intern("p0");
  test::CollectSink sink;
  Pipeline pipeline(config, std::make_shared<test::SumScorer>(3), registry, sink);
  pipeline.push(test::vitals_event(0, 0, 0, {{0, 80}}));
  pipeline.advance(10 * kMinute);
  const std::size_t before = sink.records.size();
  pipeline.push(test::vector_event(0, 1, kMinute, 5 * kMinute, {1, 1, 1}));  // behind the clock
  EXPECT_EQ(pipeline.stats().late_events, 1u);
  pipeline.advance(10 * kMinute + 1);
  EXPECT_EQ(pipeline.stats().events_applied, 2u);
  ASSERT_EQ(sink.records.size(), before + 1);  // only the grid tick at 10 min
  EXPECT_EQ(sink.records.back().score_time_ms, 10 * kMinute);
  EXPECT_TRUE(sink.records.back().modalities[1].present);
  for (std::size_t i = 1; i < sink.records.size(); ++i) {
    EXPECT_LT(sink.records[i - 1].score_time_ms, sink.records[i].score_time_ms);
  }
}

TEST(Pipeline, OutOfOrderPushesApplyInArrivalOrder) {
  const EngineConfig config = test::test_config();
  std::vector<Event> in_order;
  in_order.push_back(test::vitals_event(0, 40 * kSecond, 40 * kSecond, {{0, 1}}, 1));
  in_order.push_back(test::vitals_event(0, 45 * kSecond, 50 * kSecond, {{0, 2}}, 2));
  in_order.push_back(test::vitals_event(0, 50 * kSecond, 50 * kSecond, {{0, 3}}, 3));
  in_order.push_back(test::vitals_event(0, 61 * kSecond, 61 * kSecond, {{1, 3}}, 4));
  std::vector<Event> shuffled = {in_order[2], in_order[0], in_order[3], in_order[1]};
  std::string why;
  const RunResult a = run(config, in_order, 1000);
  const RunResult b = run(config, shuffled, 1000);
  EXPECT_TRUE(test::same_records(a.records, b.records, &why)) << why;
  EXPECT_FALSE(a.records.empty());
}

// Pushes in any order: after 130 s and 50 s, an advance to 60 s releases the 50 s event and
// keeps the 130 s one; a push at 70 s then breaks the buffer's order although it follows the
// last push (50 s). The tick at 120 s must see the 70 s reading and not wait behind 130 s.
TEST(Pipeline, APushBehindTheBufferedEventsIsSortedIn) {
  const EngineConfig config = test::test_config();
  PatientRegistry registry;
  registry.intern("p0");
  const auto a = test::vitals_event(0, 130 * kSecond, 130 * kSecond, {{0, 100}}, 1);
  const auto b = test::vitals_event(0, 50 * kSecond, 50 * kSecond, {{0, 60}}, 2);
  const auto c = test::vitals_event(0, 70 * kSecond, 70 * kSecond, {{0, 80}}, 3);
  test::CollectSink pushed_in_any_order;
  {
    Pipeline pipeline(config, std::make_shared<test::SumScorer>(3), registry, pushed_in_any_order);
    pipeline.push(a);
    pipeline.push(b);
    pipeline.advance(60 * kSecond);
    pipeline.push(c);
    pipeline.advance(131 * kSecond);
  }
  test::CollectSink pushed_in_order;
  {
    Pipeline pipeline(config, std::make_shared<test::SumScorer>(3), registry, pushed_in_order);
    pipeline.push(b);
    pipeline.advance(60 * kSecond);
    pipeline.push(c);
    pipeline.push(a);
    pipeline.advance(131 * kSecond);
  }
  ASSERT_GE(pushed_in_order.records.size(), 2u);
  EXPECT_EQ(pushed_in_order.records.back().score_time_ms, 120 * kSecond);
  std::string why;
  EXPECT_TRUE(test::same_records(pushed_in_any_order.records, pushed_in_order.records, &why))
      << why;
}

TEST(Pipeline, EmittingOffComputesTicksWithoutOutput) {
  const EngineConfig config = test::test_config();
  PatientRegistry registry;
  registry.intern("p0");
  test::CollectSink sink;
  Pipeline pipeline(config, std::make_shared<test::SumScorer>(3), registry, sink);
  pipeline.set_emitting(false);
  pipeline.push(test::vitals_event(0, 0, 0, {{0, 80}}));
  pipeline.advance(5 * kMinute + 1);
  EXPECT_EQ(sink.calls, 0);
  EXPECT_EQ(pipeline.stats().ticks, 6u);
  EXPECT_EQ(pipeline.stats().scores_emitted, 0u);
  pipeline.set_emitting(true);
  pipeline.advance(6 * kMinute + 1);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].score_time_ms, 6 * kMinute);
  EXPECT_EQ(pipeline.stats().scores_emitted, 1u);
}

TEST(Pipeline, LeakageRuleLateArrivingEventNeverChangesEarlierScores) {
  // The same cohort with and without extra events whose event_time lies before t but whose
  // arrival_time lies after it: every score before their arrival is identical.
  const EngineConfig config = test::test_config();
  const std::vector<Event> base = random_cohort(11, 12, 6 * kHour);
  std::vector<Event> with = base;
  const int64_t arrival = 3 * kHour + 17 * kSecond;
  for (PatientIndex p = 0; p < 12; ++p) {
    with.push_back(test::vitals_event(p, kHour, arrival, {{0, 500}, {3, 400}}));
    with.push_back(test::vector_event(p, 1, kHour, arrival, {9, 9, 9}));
    with.push_back(test::vector_event(p, 2, 2 * kHour, arrival, {9, 9, 9, 9}));
  }
  std::stable_sort(with.begin(), with.end(), [](const Event& a, const Event& b) {
    return a.arrival_time_ms < b.arrival_time_ms;
  });
  for (std::size_t i = 0; i < with.size(); ++i) with[i].source_seq = i;

  const RunResult a = run(config, base, 64);
  const RunResult b = run(config, with, 64);
  std::vector<ScoreRecord> before_a, before_b;
  for (const ScoreRecord& r : a.records) {
    if (r.score_time_ms < arrival) before_a.push_back(r);
  }
  for (const ScoreRecord& r : b.records) {
    if (r.score_time_ms < arrival) before_b.push_back(r);
  }
  ASSERT_GT(before_a.size(), 1000u);
  std::string why;
  EXPECT_TRUE(test::same_records(before_a, before_b, &why)) << why;
  // And the extra events do change later scores (the comparison above could not pass vacuously).
  std::string after_why;
  EXPECT_FALSE(test::same_records(a.records, b.records, &after_why));
}

// A restore as the service runs one: a new pipeline replays, without emitting, each modality's
// events from `restore_ms` back by its horizon plus the allowed lateness and one cadence, up to
// restore_ms; moves the clock there, still silent; then goes on emitting. Returns the scores from
// restore_ms on.
std::vector<ScoreRecord> run_restored(const EngineConfig& config, const std::vector<Event>& events,
                                      int64_t restore_ms, std::shared_ptr<const Scorer> scorer) {
  PatientRegistry registry;
  PatientIndex max_patient = 0;
  for (const Event& e : events) max_patient = std::max(max_patient, e.patient);
  for (PatientIndex p = 0; p <= max_patient; ++p) registry.intern("patient-" + std::to_string(p));
  test::CollectSink sink;
  Pipeline pipeline(config, std::move(scorer), registry, sink);
  pipeline.set_emitting(false);
  bool restoring = true;
  for (const Event& e : events) {
    if (restoring && e.arrival_time_ms > restore_ms) {
      pipeline.advance(restore_ms);
      pipeline.set_emitting(true);
      restoring = false;
    }
    const int64_t horizon =
        e.modality == kOutcomeModality ? 0 : config.schema[e.modality].horizon_ms;
    const int64_t lookback = horizon + config.allowed_lateness_ms + config.tick_cadence_ms;
    if (restoring && e.arrival_time_ms < restore_ms - lookback) continue;
    pipeline.push(e);
    pipeline.advance(e.arrival_time_ms);
  }
  pipeline.finish();
  std::vector<ScoreRecord> out;
  for (const ScoreRecord& r : sink.records) {
    if (r.score_time_ms >= restore_ms) out.push_back(r);
  }
  return out;
}

// Notes a day or two apart and images some days apart: their history rings hold events older
// than the horizon, which a restore does not replay.
TEST(Pipeline, RestoreThenContinueScoresAsOnePass) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<Event> events;
  for (PatientIndex p = 0; p < 6; ++p) {
    for (int64_t t = 0; t < 40 * 24 * kHour;) {
      t += static_cast<int64_t>((20 + 20 * unit(rng)) * kHour);
      events.push_back(test::vector_event(p, 1, t - kHour, t, {static_cast<float>(p), 1, 2}));
      if (unit(rng) < 0.2) {
        events.push_back(test::vector_event(p, 2, t - 2 * kHour, t + kMinute, {1, 2, 3, 4}));
      }
    }
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.arrival_time_ms < b.arrival_time_ms;
  });
  for (std::size_t i = 0; i < events.size(); ++i) events[i].source_seq = i;

  const EngineConfig config = test::test_config();
  auto scorer = std::make_shared<test::SumScorer>(config.schema.size());
  const RunResult one_pass = run(config, events, 1, scorer);
  for (const int64_t restore_ms : {5 * 24 * kHour + 7 * kSecond, 21 * 24 * kHour + 13 * kMinute}) {
    std::vector<ScoreRecord> expected;
    for (const ScoreRecord& r : one_pass.records) {
      if (r.score_time_ms >= restore_ms) expected.push_back(r);
    }
    ASSERT_GT(expected.size(), 1000u);
    const std::vector<ScoreRecord> restored = run_restored(config, events, restore_ms, scorer);
    std::string why;
    EXPECT_TRUE(test::same_records(expected, restored, &why))
        << "restored at " << restore_ms << ": " << why;
  }
}

// Bedside vitals once a second, a few seconds out of event-time order, over channels of very
// different magnitudes: the window statistics after a restore are those of a single pass, to the
// last bit, although the restored rings began hours later.
TEST(Pipeline, RestoreThenContinueGivesTheSameWindowStatistics) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<Event> events;
  for (int64_t t = 0; t < 12 * kHour; t += kSecond) {
    for (PatientIndex p = 0; p < 10; ++p) {
      if (unit(rng) < 0.3) continue;
      const int64_t event_ms = t - static_cast<int64_t>(unit(rng) * 3000);
      events.push_back(test::vitals_event(p, event_ms, t,
                                          {{0, static_cast<float>(36 + unit(rng))},
                                           {1, static_cast<float>(1000.0 * p + 10 * unit(rng))},
                                           {2, static_cast<float>(unit(rng) * 1e-3)}},
                                          events.size()));
    }
  }
  const EngineConfig config = test::test_config();
  auto scorer = std::make_shared<test::SumScorer>(config.schema.size());
  const RunResult one_pass = run(config, events, 1, scorer);
  const int64_t restore_ms = 9 * kHour + 7 * kSecond;
  std::vector<ScoreRecord> expected;
  for (const ScoreRecord& r : one_pass.records) {
    if (r.score_time_ms >= restore_ms) expected.push_back(r);
  }
  ASSERT_GT(expected.size(), 1000u);
  std::string why;
  EXPECT_TRUE(test::same_records(expected, run_restored(config, events, restore_ms, scorer), &why))
      << why;
}

class PipelineDeterminism : public ::testing::TestWithParam<uint32_t> {};

EngineConfig phased_config(uint32_t shards, uint32_t phases) {
  EngineConfig config = test::test_config(shards);
  config.tick_phases = phases;
  return config;
}

TEST_P(PipelineDeterminism, SameScoresWhateverTheShardsAndBatches) {
  const std::vector<Event> events = random_cohort(GetParam(), 40, 8 * kHour);
  // 3,000: the default configs' count, where most steps hold no patient or one.
  for (const uint32_t phases : {1u, 60u, 3000u}) {
    const RunResult reference = run(phased_config(1, phases), events, 1);
    ASSERT_GT(reference.records.size(), 10'000u);
    EXPECT_GT(reference.stats.outcome_events, 0u);
    EXPECT_GT(reference.stats.patients_evicted, 0u);
    for (auto [shards, batch] :
         {std::pair<uint32_t, std::size_t>{4, 1}, {4, 97}, {3, 5000}, {1, 1'000'000}, {8, 13}}) {
      const RunResult other = run(phased_config(shards, phases), events, batch);
      std::string why;
      EXPECT_TRUE(test::same_records(reference.records, other.records, &why))
          << phases << " phases, " << shards << " shards, batch " << batch << ": " << why;
      EXPECT_EQ(reference.stats.ticks, other.stats.ticks);
      EXPECT_EQ(reference.stats.patients_evicted, other.stats.patients_evicted);
      EXPECT_EQ(reference.stats.events_applied, other.stats.events_applied);
    }
    for (std::size_t i = 1; i < reference.records.size(); ++i) {
      const ScoreRecord& x = reference.records[i - 1];
      const ScoreRecord& y = reference.records[i];
      ASSERT_TRUE(x.score_time_ms < y.score_time_ms ||
                  (x.score_time_ms == y.score_time_ms && x.patient < y.patient))
          << phases << " phases: scores out of canonical order at " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, PipelineDeterminism, ::testing::Values(1u, 2u, 3u));

// With phases, a patient's ticks are those of the shared grid shifted by its own offset: the
// same as a one-phase run of that patient alone with every time shifted back by the offset.
TEST(Pipeline, PhasesShiftEachPatientsGridByItsOwnOffset) {
  constexpr uint32_t kPhases = 60;
  const int64_t step = test::test_config().tick_cadence_ms / kPhases;
  const std::vector<Event> events = random_cohort(4, 40, 6 * kHour);
  const RunResult phased = run(phased_config(1, kPhases), events, 1);

  std::set<int64_t> offsets;
  std::size_t off_grid_event_ticks = 0;
  for (PatientIndex p = 0; p < 40; ++p) {
    const int64_t offset =
        static_cast<int64_t>((patient_hash("patient-" + std::to_string(p)) >> 32) % kPhases) * step;
    offsets.insert(offset);
    std::vector<Event> alone;
    int64_t last_arrival = 0;
    for (Event e : events) {
      if (e.patient != p) continue;
      last_arrival = std::max(last_arrival, e.arrival_time_ms);
      e.event_time_ms -= offset;
      e.arrival_time_ms -= offset;
      alone.push_back(e);
    }
    const RunResult shifted = run(test::test_config(), alone, 1);
    // Compare up to the patient's last arrival: the cohort's clock runs on after it.
    std::vector<ScoreRecord> want, got;
    for (ScoreRecord r : shifted.records) {
      r.score_time_ms += offset;
      if (r.score_time_ms <= last_arrival) want.push_back(r);
    }
    for (const ScoreRecord& r : phased.records) {
      if (r.patient != p || r.score_time_ms > last_arrival) continue;
      got.push_back(r);
      if ((r.score_time_ms - offset) % test::test_config().tick_cadence_ms != 0) {
        ++off_grid_event_ticks;
      }
    }
    ASSERT_EQ(got.size(), want.size()) << "patient " << p;
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].score_time_ms, want[i].score_time_ms) << "patient " << p << ", tick " << i;
      EXPECT_NEAR(got[i].logit, want[i].logit, 1e-9 * (1 + std::abs(want[i].logit)))
          << "patient " << p << ", tick " << i;
    }
  }
  EXPECT_GT(offsets.size(), 20u) << "patients spread over the phases";
  EXPECT_GT(off_grid_event_ticks, 0u) << "notes and images still tick on arrival";
}

TEST(Pipeline, RejectsAScorerWhoseNeedsDoNotMatchTheSchema) {
  PatientRegistry registry;
  test::CollectSink sink;
  EXPECT_THROW(Pipeline(test::test_config(), std::make_shared<test::SumScorer>(2), registry, sink),
               std::invalid_argument);
}

}  // namespace
}  // namespace tfe
