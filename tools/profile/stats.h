#pragma once
// Internal numerics of the profiler (principal components, logistic models, weighted AUROC over a
// fixed order). Not part of the public interface: tools/profile/profile.h.

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace tfe::profile::detail {

// A covariance spectrum (eigenvalues, descending).
struct Pca {
  std::vector<double> eigenvalues;
  // Components for `share` of the total variance (0 when the variance is zero).
  uint32_t effective(double share) const;
};

// Items in ascending score order, for repeated weighted AUROCs over one set.
std::vector<uint32_t> score_order(std::span<const double> score);
double weighted_auroc_ordered(std::span<const uint32_t> order, std::span<const double> score,
                              std::span<const uint8_t> label, std::span<const double> weight);

// Logistic regression logit for weights from fit_logistic: w[d] is the intercept.
double logistic_logit(std::span<const double> w, std::span<const double> x);

// At most `limit` of `rows`, evenly spread over them. The model sample lists one class after the
// other, so its first rows are not a fair subset: they can all be positives.
template <typename Row>
void keep_evenly_spread(std::vector<Row>& rows, std::size_t limit) {
  if (rows.size() <= limit) return;
  std::vector<Row> kept;
  kept.reserve(limit);
  for (std::size_t k = 0; k < limit; ++k) kept.push_back(rows[k * rows.size() / limit]);
  rows = std::move(kept);
}

}  // namespace tfe::profile::detail

namespace tfe::profile::detail {

// One modality's sample: the spectrum of its (centred, optionally standardised) train rows, and a
// ridge linear discriminant (least squares on the 0/1 label, ridge = ridge_rel x the mean
// eigenvalue). fold: [n], 0 for test rows, 1 or 2 for train rows. Train rows get out-of-fold
// scores (fitted on the other fold), test rows the fit on all train rows, so that models stacked
// on these scores see honest scores everywhere.
struct ModalityFit {
  std::vector<double> eigenvalues;  // descending, of all train rows
  std::vector<double> score;        // [n]
  uint32_t effective(double share) const;
};
// x: [n][d] row-major; fold and y: [n]. At most max_train rows per fit.
ModalityFit fit_modality(std::span<const float> x, std::size_t n, std::size_t d,
                         std::span<const uint8_t> fold, std::span<const uint8_t> y,
                         bool standardise, double ridge_rel, std::size_t max_train);

}  // namespace tfe::profile::detail

namespace tfe::profile::detail {

// Blocks of the spectrum's columns (or rows) held at once, in double.
inline constexpr std::size_t kSpectrumBlockBytes = std::size_t{64} << 20;

// One row of a spectrum's sample, read in place: value c is float(values[c] * scale), the row as
// encoded (scale: its L2 normalisation, or 1).
struct SpectrumRow {
  const float* values = nullptr;
  double scale = 1;
};

// Eigenvalues (descending, d of them) of the covariance of the distinct rows (m of them),
// optionally standardised; through the smaller of the d x d covariance and the m x m Gram matrix
// (the nonzero eigenvalues of X'X and XX' are the same). A Gram matrix is summed over blocks of
// columns, so no m x d copy of the rows is made: see spectrum_bytes.
std::vector<double> spectrum(std::span<const SpectrumRow> rows, std::size_t d, bool standardise,
                             std::size_t block_bytes = kSpectrumBlockBytes);
// The same over x ([n][d], row-major).
std::vector<double> spectrum(std::span<const float> x, std::size_t n, std::size_t d,
                             bool standardise);
// The most memory spectrum() works in for n rows of d values, the rows themselves aside: with
// k = min(n, d), a k x k matrix (and the eigensolver's copy), a block of at most
// kSpectrumBlockBytes of columns or rows in double, and O(n + d) of order, column statistics and
// eigenvalues. No n x d term: a high dimension adds only its O(d) vectors.
std::size_t spectrum_bytes(std::size_t n, std::size_t d);

}  // namespace tfe::profile::detail
