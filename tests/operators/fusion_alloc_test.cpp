// score(), score_batch() and score_risks() allocate nothing on the heap, for every strategy.

#include "tests/support/alloc_counter.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "operators/fusion_operator.h"
#include "tests/operators/fusion_test_support.h"

namespace tfe {
namespace {

TEST(AllocationCounter, CountsNewAndMalloc) {
  // volatile pointers keep the compiler from eliding the allocations it can see are unused.
  test::start_counting();
  int* volatile p = new int(1);
  EXPECT_EQ(test::stop_counting(), 1u);
  delete p;
  if (test::counts_malloc()) {
    test::start_counting();
    void* volatile q = std::malloc(64);
    EXPECT_EQ(test::stop_counting(), 1u);
    std::free(q);
  }
}

TEST(FusionAllocation, ScoreAllocatesNothing) {
  const EngineConfig config = test::default_engine_config();
  for (Strategy s : kAllStrategies) {
    for (uint32_t k : {1u, 3u}) {
      ModelConfig arch;
      arch.strategy = s;
      arch.history_k = k;
      arch.sinusoidal = k > 1;
      auto model = test::random_model(arch, config, 2);
      for (FeatureForm form : {FeatureForm::staged, FeatureForm::raw}) {
        auto op = FusionOperator::create(model, config, form);
        ASSERT_TRUE(op);
        auto state = op.value()->make_state();
        test::TestRng rng(3);
        std::vector<test::SnapshotCase> cases;
        for (int i = 0; i < 16; ++i) {
          cases.push_back(test::random_case(rng, *op.value(),
                                            {rng.chance(0.8f), rng.chance(0.5f), i % 2 == 0}, k));
        }
        std::vector<Snapshot> snaps;
        for (const auto& c : cases) {
          snaps.push_back(form == FeatureForm::staged ? c.staged_snapshot() : c.raw_snapshot());
        }
        std::vector<ScoreOutput> outs(snaps.size());
        std::array<double, 3> masked{};
        test::start_counting();
        for (const Snapshot& snap : snaps) op.value()->score(snap, *state, outs[0]);
        op.value()->score_batch(snaps, *state, outs);
        for (const Snapshot& snap : snaps) op.value()->score_risks(snap, *state, outs[0], masked);
        const uint64_t n = test::stop_counting();
        EXPECT_EQ(n, 0u) << to_string(s) << " K=" << k
                         << (form == FeatureForm::staged ? " staged" : " raw");
      }
    }
  }
}

}  // namespace
}  // namespace tfe
