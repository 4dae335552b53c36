// Steady state of the vitals path allocates nothing: neither per event nor per tick.

#include <gtest/gtest.h>

#include "engine/pipeline.h"
#include "tests/engine/engine_test_util.h"
#include "tests/support/alloc_counter.h"

namespace tfe {
namespace {

using test::kMinute;
using test::kSecond;

TEST(PipelineAllocations, VitalsSteadyStateAllocatesNothing) {
  const EngineConfig config = test::test_config(1);
  PatientRegistry registry;
  constexpr PatientIndex kPatients = 50;
  for (PatientIndex p = 0; p < kPatients; ++p)
    registry.intern(std::string("p").append(std::to_string(p)));
  CountingScoreSink sink;
  Pipeline pipeline(config, std::make_shared<test::SumScorer>(3), registry, sink);

  // Events are made up front: building them allocates, applying them must not.
  std::vector<Event> events;
  std::vector<int64_t> clocks;  // advance() after each minute's events
  for (int minute = 0; minute < 100; ++minute) {
    for (PatientIndex p = 0; p < kPatients; ++p) {
      const int64_t t = minute * kMinute + p * 700;
      events.push_back(test::vitals_event(
          p, t - 2 * kSecond, t,
          {{0, 80.0f + static_cast<float>(p % 7)}, {1, 97}, {2, 15}, {4, 120}}, events.size()));
    }
    clocks.push_back(minute * kMinute + kPatients * 700);
  }
  auto run_minutes = [&](int from, int to) {
    for (int minute = from; minute < to; ++minute) {
      for (PatientIndex p = 0; p < kPatients; ++p) {
        pipeline.push(events[static_cast<std::size_t>(minute) * kPatients + p]);
      }
      pipeline.advance(clocks[static_cast<std::size_t>(minute)]);
    }
  };
  // The counter sees the first minute's allocations (patients' state being created)...
  test::start_counting();
  run_minutes(0, 1);
  EXPECT_GT(test::stop_counting(), static_cast<uint64_t>(kPatients));
  run_minutes(1, 40);  // warm up: rings and buffers reach their steady size
  const std::size_t scores_before = sink.count();
  // ...and none once every ring and buffer has its steady size.
  test::start_counting();
  run_minutes(40, 100);
  EXPECT_EQ(test::stop_counting(), 0u);
  EXPECT_GE(sink.count() - scores_before, 60u * kPatients);
}

}  // namespace
}  // namespace tfe
