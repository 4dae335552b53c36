#include "operators/matvec.h"

#include <cstddef>

#include <Eigen/Core>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace tfe::detail {
namespace {

#if defined(__x86_64__) && defined(__GNUC__)
// Columns [j0, j1) of rows [i, i + 8 * kRegisters), summed into registers and added to y (or
// stored, for the first block without accumulate). target("avx") has no FMA, so the compiler
// cannot fuse a product into its addition.
template <int kRegisters>
__attribute__((target("avx"), always_inline)) inline void column_block_avx(const float* w,
                                                                           uint32_t ld, uint32_t i,
                                                                           uint32_t j0, uint32_t j1,
                                                                           const float* x, float* y,
                                                                           bool add_to_y) {
  __m256 c[kRegisters];
  for (int r = 0; r < kRegisters; ++r) c[r] = _mm256_setzero_ps();
  for (uint32_t j = j0; j < j1; ++j) {
    const float* col = w + std::size_t{j} * ld + i;
    const __m256 b = _mm256_set1_ps(x[j]);
    for (int r = 0; r < kRegisters; ++r) {
      c[r] = _mm256_add_ps(c[r], _mm256_mul_ps(_mm256_loadu_ps(col + 8 * r), b));
    }
  }
  for (int r = 0; r < kRegisters; ++r) {
    if (add_to_y) c[r] = _mm256_add_ps(_mm256_loadu_ps(y + i + 8 * r), c[r]);
    _mm256_storeu_ps(y + i + 8 * r, c[r]);
  }
}

__attribute__((target("avx"))) void matvec_avx(const float* w, uint32_t rows, uint32_t cols,
                                               uint32_t ld, const float* x, float* y,
                                               bool accumulate) {
  // Eigen sums 128 columns or more in blocks, each block's sum added to y in turn.
  const uint32_t block = cols < 128 ? cols : (ld * sizeof(float) < 32000 ? 16 : 4);
  for (uint32_t j0 = 0; j0 < cols; j0 += block) {
    const uint32_t j1 = cols - j0 < block ? cols : j0 + block;
    const bool add_to_y = accumulate || j0 > 0;
    uint32_t i = 0;
    for (; i + 32 <= rows; i += 32) column_block_avx<4>(w, ld, i, j0, j1, x, y, add_to_y);
    for (; i + 8 <= rows; i += 8) column_block_avx<1>(w, ld, i, j0, j1, x, y, add_to_y);
    for (; i < rows; ++i) {
      float c = 0.0f;
      for (uint32_t j = j0; j < j1; ++j) c += w[std::size_t{j} * ld + i] * x[j];
      y[i] = add_to_y ? y[i] + c : c;
    }
  }
}

bool has_avx() {
  static const bool avx = __builtin_cpu_supports("avx");
  return avx;
}
#endif

}  // namespace

void matvec_colmajor_portable(const float* w, uint32_t rows, uint32_t cols, uint32_t ld,
                              const float* x, float* y, bool accumulate) {
  const Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> m(w, rows, cols,
                                                                     Eigen::OuterStride<>(ld));
  const Eigen::Map<const Eigen::VectorXf> v(x, cols);
  Eigen::Map<Eigen::VectorXf> out(y, rows);
  if (accumulate) {
    out.noalias() += m * v;
  } else {
    out.noalias() = m * v;
  }
}

void matvec_colmajor(const float* w, uint32_t rows, uint32_t cols, uint32_t ld, const float* x,
                     float* y, bool accumulate) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (rows > 1 && has_avx()) {  // Eigen takes one row as a dot product, in another order
    matvec_avx(w, rows, cols, ld, x, y, accumulate);
    return;
  }
#endif
  matvec_colmajor_portable(w, rows, cols, ld, x, y, accumulate);
}

}  // namespace tfe::detail
