#include "operators/matvec.h"

#include <algorithm>
#include <array>
#include <cstddef>

#include <Eigen/Core>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace tfe::detail {
namespace {

#if defined(__x86_64__) && defined(__GNUC__)
// The vectors a block of rows multiplies: x[r] for its register r of 8 rows. A plain product has
// one vector for all of them (x[0], broadcast once per column); matvec_blocks_avx gives each
// register its own block's vector.
using BlockVectors = std::array<const float*, 4>;

// Rows [i, i + 8 * kYmm + 4 * kXmm) over columns [j0, j1), summed into registers and added to y
// (or stored, for the first block without accumulate). Each register's outputs are one chain of
// additions, and all of the block's chains advance in the same pass over the columns, so they
// overlap instead of waiting one for another. target("avx") has no FMA, so the compiler cannot
// fuse a product into its addition.
template <int kYmm, int kXmm, bool kOneVector = true>
__attribute__((target("avx"), always_inline)) inline void column_block_avx(
    const float* w, uint32_t ld, uint32_t i, uint32_t j0, uint32_t j1, const BlockVectors& x,
    float* y, bool add_to_y) {
  static_assert(kOneVector || kXmm == 0, "a half register shares its vector with the block");
  __m256 c[kYmm > 0 ? kYmm : 1];
  __m128 h = _mm_setzero_ps();
  for (int r = 0; r < kYmm; ++r) c[r] = _mm256_setzero_ps();
  for (uint32_t j = j0; j < j1; ++j) {
    const float* col = w + std::size_t{j} * ld + i;
    const __m256 shared = kOneVector ? _mm256_set1_ps(x[0][j]) : _mm256_setzero_ps();
    for (int r = 0; r < kYmm; ++r) {
      const __m256 b = kOneVector ? shared : _mm256_broadcast_ss(x[r] + j);
      c[r] = _mm256_add_ps(c[r], _mm256_mul_ps(_mm256_loadu_ps(col + 8 * r), b));
    }
    if (kXmm > 0) {
      h = _mm_add_ps(h, _mm_mul_ps(_mm_loadu_ps(col + 8 * kYmm), _mm256_castps256_ps128(shared)));
    }
  }
  for (int r = 0; r < kYmm; ++r) {
    if (add_to_y) c[r] = _mm256_add_ps(_mm256_loadu_ps(y + i + 8 * r), c[r]);
    _mm256_storeu_ps(y + i + 8 * r, c[r]);
  }
  if (kXmm > 0) {
    if (add_to_y) h = _mm_add_ps(_mm_loadu_ps(y + i + 8 * kYmm), h);
    _mm_storeu_ps(y + i + 8 * kYmm, h);
  }
}

// Rows [i, i + n) for n < 32, in one pass: whole registers of 8 and 4, then single rows.
__attribute__((target("avx"))) void tail_rows_avx(const float* w, uint32_t ld, uint32_t i,
                                                  uint32_t n, uint32_t j0, uint32_t j1,
                                                  const BlockVectors& x, float* y, bool add_to_y) {
  switch (n / 4) {
    case 7:
      column_block_avx<3, 1>(w, ld, i, j0, j1, x, y, add_to_y);
      break;
    case 6:
      column_block_avx<3, 0>(w, ld, i, j0, j1, x, y, add_to_y);
      break;
    case 5:
      column_block_avx<2, 1>(w, ld, i, j0, j1, x, y, add_to_y);
      break;
    case 4:
      column_block_avx<2, 0>(w, ld, i, j0, j1, x, y, add_to_y);
      break;
    case 3:
      column_block_avx<1, 1>(w, ld, i, j0, j1, x, y, add_to_y);
      break;
    case 2:
      column_block_avx<1, 0>(w, ld, i, j0, j1, x, y, add_to_y);
      break;
    case 1:
      column_block_avx<0, 1>(w, ld, i, j0, j1, x, y, add_to_y);
      break;
    default:
      break;
  }
  for (uint32_t k = i + n / 4 * 4; k < i + n; ++k) {
    float c = 0.0f;
    for (uint32_t j = j0; j < j1; ++j) c += w[std::size_t{j} * ld + k] * x[0][j];
    y[k] = add_to_y ? y[k] + c : c;
  }
}

__attribute__((target("avx"))) void matvec_avx(const float* w, uint32_t rows, uint32_t cols,
                                               uint32_t ld, const float* x, float* y,
                                               bool accumulate) {
  const BlockVectors xs{x, x, x, x};
  // Eigen sums 128 columns or more in blocks, each block's sum added to y in turn.
  const uint32_t block = cols < 128 ? cols : (ld * sizeof(float) < 32000 ? 16 : 4);
  for (uint32_t j0 = 0; j0 < cols; j0 += block) {
    const uint32_t j1 = cols - j0 < block ? cols : j0 + block;
    const bool add_to_y = accumulate || j0 > 0;
    uint32_t i = 0;
    for (; i + 32 <= rows; i += 32) column_block_avx<4, 0>(w, ld, i, j0, j1, xs, y, add_to_y);
    tail_rows_avx(w, ld, i, rows - i, j0, j1, xs, y, add_to_y);
  }
}

// Blocks of a multiple of 8 rows, fewer than 128 columns (summed in one block, as matvec_avx
// sums them): up to four registers of 8 rows per pass, each with its own block's vector.
__attribute__((target("avx"))) void matvec_blocks_avx(const float* w, uint32_t rows,
                                                      uint32_t blocks, uint32_t cols, uint32_t ld,
                                                      const float* x, float* y) {
  const uint32_t total = rows * blocks;
  for (uint32_t i = 0; i < total; i += 32) {
    BlockVectors xs{};
    const uint32_t n = std::min<uint32_t>(32, total - i) / 8;
    for (uint32_t r = 0; r < n; ++r) xs[r] = x + std::size_t{(i + 8 * r) / rows} * cols;
    switch (n) {
      case 4:
        column_block_avx<4, 0, false>(w, ld, i, 0, cols, xs, y, false);
        break;
      case 3:
        column_block_avx<3, 0, false>(w, ld, i, 0, cols, xs, y, false);
        break;
      case 2:
        column_block_avx<2, 0, false>(w, ld, i, 0, cols, xs, y, false);
        break;
      default:
        column_block_avx<1, 0, false>(w, ld, i, 0, cols, xs, y, false);
        break;
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

void matvec_colmajor_blocks(const float* w, uint32_t rows, uint32_t blocks, uint32_t cols,
                            uint32_t ld, const float* x, float* y) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (rows % 8 == 0 && cols < 128 && has_avx()) {
    matvec_blocks_avx(w, rows, blocks, cols, ld, x, y);
    return;
  }
#endif
  for (uint32_t b = 0; b < blocks; ++b) {
    matvec_colmajor(w + std::size_t{b} * rows, rows, cols, ld, x + std::size_t{b} * cols,
                    y + std::size_t{b} * rows, false);
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
