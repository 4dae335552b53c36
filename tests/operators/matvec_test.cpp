#include "operators/matvec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace tfe {
namespace {

// Scores must not depend on the host: the AVX path (taken on this machine if it has AVX) gives
// the same bits as Eigen's kernel for every shape the models use and around each boundary of
// the kernels (8 and 32 rows per register block, 128 columns where Eigen starts summing in
// blocks, 8000 rows where its blocks shrink to 4 columns).
TEST(Matvec, BitIdenticalToEigensKernelAtEveryShape) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (uint32_t rows : {1u, 2u, 3u, 7u, 8u, 9u, 16u, 31u, 32u, 33u, 40u, 64u, 84u, 8001u}) {
    for (uint32_t cols : {2u, 9u, 32u, 84u, 127u, 128u, 129u, 200u, 256u, 512u}) {
      if (rows * cols > 1'100'000) continue;
      std::vector<float> w(std::size_t{rows} * cols);
      std::vector<float> x(cols);
      for (float& v : w) v = normal(rng);
      for (float& v : x) v = normal(rng);
      for (const bool accumulate : {false, true}) {
        std::vector<float> fast(rows);
        for (float& v : fast) v = normal(rng);
        std::vector<float> reference = fast;
        detail::matvec_colmajor(w.data(), rows, cols, x.data(), fast.data(), accumulate);
        detail::matvec_colmajor_portable(w.data(), rows, cols, x.data(), reference.data(),
                                         accumulate);
        ASSERT_EQ(std::memcmp(fast.data(), reference.data(), rows * sizeof(float)), 0)
            << rows << " x " << cols << (accumulate ? ", accumulating" : "");
      }
    }
  }
}

TEST(Matvec, ComputesTheProduct) {
  // 2 x 3, column-major: [[1, 2, 3], [4, 5, 6]].
  const std::vector<float> w = {1, 4, 2, 5, 3, 6};
  const std::vector<float> x = {1, 10, 100};
  std::vector<float> y = {0.5f, -1};
  detail::matvec_colmajor(w.data(), 2, 3, x.data(), y.data(), false);
  EXPECT_EQ(y, (std::vector<float>{321, 654}));
  detail::matvec_colmajor(w.data(), 2, 3, x.data(), y.data(), true);
  EXPECT_EQ(y, (std::vector<float>{642, 1308}));
}

}  // namespace
}  // namespace tfe
