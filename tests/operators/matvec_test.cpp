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

// A block per head: each block of rows times its own vector gives the bits of the Eigen kernel on
// that block alone, for the head shapes the models use (d_model 32 with 1 to 8 heads) and blocks
// that span, fill or overrun a 32-row pass.
TEST(Matvec, BlocksAreBitIdenticalToEachBlockAlone) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  struct Shape {
    uint32_t rows, blocks, cols;
  };
  for (const Shape s :
       {Shape{16, 2, 32}, Shape{8, 4, 32}, Shape{4, 8, 32}, Shape{32, 1, 32}, Shape{8, 5, 40},
        Shape{24, 3, 64}, Shape{16, 4, 64}, Shape{3, 3, 9}, Shape{16, 2, 200}}) {
    const uint32_t total = s.rows * s.blocks;
    std::vector<float> w(std::size_t{total} * s.cols);
    std::vector<float> x(std::size_t{s.blocks} * s.cols);
    for (float& v : w) v = normal(rng);
    for (float& v : x) v = normal(rng);
    std::vector<float> fast(total, 1.0f), reference(total, 2.0f);
    detail::matvec_colmajor_blocks(w.data(), s.rows, s.blocks, s.cols, total, x.data(),
                                   fast.data());
    for (uint32_t b = 0; b < s.blocks; ++b) {
      detail::matvec_colmajor_portable(w.data() + std::size_t{b} * s.rows, s.rows, s.cols, total,
                                       x.data() + std::size_t{b} * s.cols,
                                       reference.data() + std::size_t{b} * s.rows, false);
    }
    ASSERT_EQ(std::memcmp(fast.data(), reference.data(), total * sizeof(float)), 0)
        << s.blocks << " blocks of " << s.rows << " x " << s.cols;
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
