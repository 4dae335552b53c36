#include "operators/matvec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace tfe {
namespace {

// Scores must not depend on the host: the AVX path (taken on this machine if it has AVX) gives
// the same bits as Eigen's kernel for every shape the models use and around each boundary of
// the kernels (4, 8 and 32 rows per register block, 128 columns where Eigen starts summing in
// blocks, 8000 rows where its blocks shrink to 4 columns).
TEST(Matvec, BitIdenticalToEigensKernelAtEveryShape) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (uint32_t rows : {1u,  2u,  3u,  4u,  7u,  8u,  9u,  12u, 13u, 16u,
                        20u, 24u, 27u, 31u, 32u, 33u, 40u, 64u, 84u, 8001u}) {
    for (uint32_t cols : {2u, 9u, 32u, 84u, 127u, 128u, 129u, 200u, 256u, 512u}) {
      if (rows * cols > 1'100'000) continue;
      std::vector<float> w(std::size_t{rows} * cols);
      std::vector<float> x(cols);
      for (float& v : w) v = normal(rng);
      for (float& v : x) v = normal(rng);
      for (const bool accumulate : {false, true}) {
        // The whole matrix, and its lower rows read with the full leading dimension.
        for (const uint32_t skip : {0u, rows / 2}) {
          const uint32_t n = rows - skip;
          if (n == 0) continue;
          std::vector<float> fast(n);
          for (float& v : fast) v = normal(rng);
          std::vector<float> reference = fast;
          detail::matvec_colmajor(w.data() + skip, n, cols, rows, x.data(), fast.data(),
                                  accumulate);
          detail::matvec_colmajor_portable(w.data() + skip, n, cols, rows, x.data(),
                                           reference.data(), accumulate);
          ASSERT_EQ(std::memcmp(fast.data(), reference.data(), n * sizeof(float)), 0)
              << n << " x " << cols << " of " << rows << (accumulate ? ", accumulating" : "");
        }
      }
    }
  }
}

TEST(Matvec, ComputesTheProduct) {
  // 2 x 3, column-major: [[1, 2, 3], [4, 5, 6]].
  const std::vector<float> w = {1, 4, 2, 5, 3, 6};
  const std::vector<float> x = {1, 10, 100};
  std::vector<float> y = {0.5f, -1};
  detail::matvec_colmajor(w.data(), 2, 3, 2, x.data(), y.data(), false);
  EXPECT_EQ(y, (std::vector<float>{321, 654}));
  detail::matvec_colmajor(w.data(), 2, 3, 2, x.data(), y.data(), true);
  EXPECT_EQ(y, (std::vector<float>{642, 1308}));
  // Row 1 alone, through the leading dimension.
  detail::matvec_colmajor(w.data() + 1, 1, 3, 2, x.data(), y.data(), false);
  EXPECT_EQ(y[0], 654);
}

}  // namespace
}  // namespace tfe
