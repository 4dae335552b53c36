#pragma once
// y (+)= W x for a column-major W, the products of the fusion models' larger layers (the vitals
// projection, 84 x 32 by default, is the biggest per score).
//
// Every output is summed in one order, column 0 first, each product rounded before its addition
// and no fused multiply-add: the order of Eigen's column-major kernel at these sizes (fewer than
// 128 columns), so scores are bit-identical to it and to each other on every x86-64 host. On a
// processor with AVX the same sums run eight outputs to a register instead of four, about twice
// as fast: each output is one dependency chain of `cols` additions, and wider registers give the
// chains of 32 outputs fewer instructions to wait in.

#include <cstdint>

namespace tfe::detail {

// w: rows x cols, column-major with leading dimension ld >= rows (w[j * ld + i] is row i of
// column j: ld > rows reads rows of a taller matrix); x: cols; y: rows.
void matvec_colmajor(const float* w, uint32_t rows, uint32_t cols, uint32_t ld, const float* x,
                     float* y, bool accumulate);

// y[b * rows + i] = sum_j w[j * ld + b * rows + i] * x[b * cols + j], for blocks b < blocks:
// each block of `rows` consecutive rows of W times a vector of its own (attention's value
// projection, a block per head). Every output is summed as matvec_colmajor() sums it; with AVX
// the blocks' chains advance in one pass over the columns, so they overlap instead of waiting
// one for another (a head's 16 rows alone are two chains, too few to hide the additions'
// latency).
void matvec_colmajor_blocks(const float* w, uint32_t rows, uint32_t blocks, uint32_t cols,
                            uint32_t ld, const float* x, float* y);

// The same sums by Eigen's kernel (SSE2 on the baseline x86-64 target): what runs without AVX,
// and what tests compare the AVX path with.
void matvec_colmajor_portable(const float* w, uint32_t rows, uint32_t cols, uint32_t ld,
                              const float* x, float* y, bool accumulate);

}  // namespace tfe::detail
