// Numerics of the profiler: principal components with Eigen, a ridge logistic regression by
// Newton steps, AUROC with weights and ties.

#include "tools/profile/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <Eigen/Dense>

#include "tools/profile/profile.h"

namespace tfe::profile::detail {

uint32_t Pca::effective(double share) const {
  double total = 0;
  for (const double v : eigenvalues) total += std::max(v, 0.0);
  if (!(total > 0)) return 0;
  double acc = 0;
  for (std::size_t j = 0; j < eigenvalues.size(); ++j) {
    acc += std::max(eigenvalues[j], 0.0);
    // A relative tolerance keeps rounding from asking for one component more.
    if (acc >= share * total * (1 - 1e-12)) return static_cast<uint32_t>(j + 1);
  }
  return static_cast<uint32_t>(eigenvalues.size());
}

namespace {
// Scores in ascending order with NaN below every number (a strict weak order, which plain < is
// not once a NaN is present), and NaNs tied with each other.
bool score_below(double a, double b) { return std::isnan(a) ? !std::isnan(b) : a < b; }
bool score_tied(double a, double b) { return std::isnan(a) ? std::isnan(b) : a == b; }
}  // namespace

std::vector<uint32_t> score_order(std::span<const double> score) {
  std::vector<uint32_t> order(score.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return score_below(score[a], score[b]); });
  return order;
}

double weighted_auroc_ordered(std::span<const uint32_t> order, std::span<const double> score,
                              std::span<const uint8_t> label, std::span<const double> weight) {
  // Sweep from the lowest score: each positive group beats the negatives below it and ties half.
  double neg_below = 0;
  double pos_total = 0;
  double neg_total = 0;
  double area = 0;
  std::size_t i = 0;
  while (i < order.size()) {
    std::size_t j = i;
    double pos = 0;
    double neg = 0;
    while (j < order.size() && score_tied(score[order[j]], score[order[i]])) {
      const uint32_t k = order[j];
      (label[k] ? pos : neg) += weight[k];
      ++j;
    }
    // A NaN score ranks nothing: the AUROC is not defined.
    if (std::isnan(score[order[i]]) && pos + neg > 0) return kNaN;
    area += pos * (neg_below + 0.5 * neg);
    neg_below += neg;
    pos_total += pos;
    neg_total += neg;
    i = j;
  }
  if (!(pos_total > 0) || !(neg_total > 0)) return kNaN;
  return area / (pos_total * neg_total);
}

double logistic_logit(std::span<const double> w, std::span<const double> x) {
  double z = w[x.size()];
  for (std::size_t i = 0; i < x.size(); ++i) z += w[i] * x[i];
  return z;
}

}  // namespace tfe::profile::detail

namespace tfe::profile::detail {

uint32_t effective_dimension(std::span<const float> x, std::size_t n, std::size_t d, double share,
                             bool standardise) {
  Pca p;
  p.eigenvalues = spectrum(x, n, d, standardise);
  return p.effective(share);
}

std::vector<double> fit_logistic(std::span<const double> x, std::size_t n, std::size_t d,
                                 std::span<const uint8_t> y, double ridge) {
  const std::size_t p = d + 1;
  Eigen::VectorXd w = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(p));
  if (n == 0) return std::vector<double>(p, 0.0);
  Eigen::MatrixXd a(n, p);
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t c = 0; c < d; ++c) a(r, c) = x[r * d + c];
    a(r, d) = 1;
  }
  Eigen::VectorXd target(n);
  for (std::size_t r = 0; r < n; ++r) target(r) = y[r] ? 1 : 0;
  Eigen::VectorXd penalty = Eigen::VectorXd::Constant(static_cast<Eigen::Index>(p), ridge);
  penalty(static_cast<Eigen::Index>(d)) = 0;
  double previous = std::numeric_limits<double>::infinity();
  for (int iter = 0; iter < 50; ++iter) {
    const Eigen::VectorXd z = a * w;
    Eigen::VectorXd prob(n);
    Eigen::VectorXd curv(n);
    double loss = 0;
    for (std::size_t r = 0; r < n; ++r) {
      const double zr = z(r);
      const double pr = 1 / (1 + std::exp(-zr));
      prob(r) = pr;
      curv(r) = std::max(pr * (1 - pr), 1e-9);
      // log(1 + e^z) - y z, computed without overflow.
      loss += (zr > 0 ? zr + std::log1p(std::exp(-zr)) : std::log1p(std::exp(zr))) - target(r) * zr;
    }
    loss += 0.5 * (penalty.array() * w.array().square()).sum();
    const Eigen::VectorXd grad = a.transpose() * (prob - target) + penalty.cwiseProduct(w);
    Eigen::MatrixXd hess = a.transpose() * curv.asDiagonal() * a;
    hess.diagonal() += penalty;
    hess.diagonal().array() += 1e-9;
    const Eigen::VectorXd step = hess.ldlt().solve(grad);
    w -= step;
    if (std::abs(previous - loss) < 1e-9 * (1 + std::abs(loss)) && step.norm() < 1e-8) break;
    previous = loss;
  }
  return std::vector<double>(w.data(), w.data() + p);
}

double weighted_auroc(std::span<const double> score, std::span<const uint8_t> label,
                      std::span<const double> weight) {
  const std::vector<uint32_t> order = score_order(score);
  return weighted_auroc_ordered(order, score, label, weight);
}

}  // namespace tfe::profile::detail

namespace tfe::profile::detail {

uint32_t ModalityFit::effective(double share) const {
  Pca p;
  p.eigenvalues = eigenvalues;
  return p.effective(share);
}

namespace {

struct Discriminant {
  Eigen::RowVectorXd mean;
  Eigen::RowVectorXd scale;
  Eigen::VectorXd w;
  std::vector<double> eigenvalues;
};

// Fits on the rows whose fold is in `use` (at most max_train of them, evenly spread).
Discriminant fit_discriminant(std::span<const float> x, std::size_t n, std::size_t d,
                              std::span<const uint8_t> fold, uint8_t use_a, uint8_t use_b,
                              std::span<const uint8_t> y, bool standardise, double ridge_rel,
                              std::size_t max_train, bool spectrum) {
  Discriminant out;
  const auto dd = static_cast<Eigen::Index>(d);
  out.mean = Eigen::RowVectorXd::Zero(dd);
  out.scale = Eigen::RowVectorXd::Ones(dd);
  out.w = Eigen::VectorXd::Zero(dd);
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < n; ++r) {
    if (fold[r] == use_a || fold[r] == use_b) rows.push_back(r);
  }
  keep_evenly_spread(rows, max_train);
  if (rows.size() < 2 || d == 0) return out;
  const auto nt = static_cast<Eigen::Index>(rows.size());
  Eigen::MatrixXd m(nt, dd);
  Eigen::VectorXd t(nt);
  for (Eigen::Index i = 0; i < nt; ++i) {
    const std::size_t r = rows[static_cast<std::size_t>(i)];
    for (Eigen::Index c = 0; c < dd; ++c) m(i, c) = x[r * d + static_cast<std::size_t>(c)];
    t(i) = y[r] ? 1 : 0;
  }
  out.mean = m.colwise().mean();
  m.rowwise() -= out.mean;
  if (standardise) {
    for (Eigen::Index c = 0; c < dd; ++c) {
      const double sd = std::sqrt(m.col(c).squaredNorm() / static_cast<double>(nt));
      // A constant column carries no variance: dropped rather than blown up.
      out.scale(c) = sd > 1e-9 ? 1 / sd : 0;
      m.col(c) *= out.scale(c);
    }
  }
  t.array() -= t.mean();
  Eigen::MatrixXd cov = (m.transpose() * m) / static_cast<double>(nt);
  if (spectrum) {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(cov, Eigen::EigenvaluesOnly);
    const Eigen::VectorXd& values = solver.eigenvalues();  // ascending
    out.eigenvalues.resize(d);
    for (std::size_t j = 0; j < d; ++j) {
      out.eigenvalues[j] = values(dd - 1 - static_cast<Eigen::Index>(j));
    }
  }
  const double ridge = ridge_rel * std::max(cov.trace() / static_cast<double>(d), 1e-12);
  cov.diagonal().array() += ridge;
  out.w = cov.ldlt().solve(m.transpose() * t / static_cast<double>(nt));
  return out;
}

double discriminant_score(const Discriminant& f, std::span<const float> row) {
  double s = 0;
  for (std::size_t c = 0; c < row.size(); ++c) {
    const auto i = static_cast<Eigen::Index>(c);
    s += (row[c] - f.mean(i)) * f.scale(i) * f.w(i);
  }
  return s;
}

}  // namespace

ModalityFit fit_modality(std::span<const float> x, std::size_t n, std::size_t d,
                         std::span<const uint8_t> fold, std::span<const uint8_t> y,
                         bool standardise, double ridge_rel, std::size_t max_train) {
  ModalityFit fit;
  fit.score.assign(n, 0.0);
  if (d == 0) return fit;
  const Discriminant all =
      fit_discriminant(x, n, d, fold, 1, 2, y, standardise, ridge_rel, max_train, false);
  const Discriminant on1 =
      fit_discriminant(x, n, d, fold, 1, 1, y, standardise, ridge_rel, max_train, false);
  const Discriminant on2 =
      fit_discriminant(x, n, d, fold, 2, 2, y, standardise, ridge_rel, max_train, false);
  fit.eigenvalues = all.eigenvalues;
  for (std::size_t r = 0; r < n; ++r) {
    const Discriminant& f = fold[r] == 1 ? on2 : fold[r] == 2 ? on1 : all;
    fit.score[r] = discriminant_score(f, x.subspan(r * d, d));
  }
  return fit;
}

}  // namespace tfe::profile::detail

namespace tfe::profile::detail {

namespace {

float value_of(const SpectrumRow& row, std::size_t c) {
  return static_cast<float>(row.values[c] * row.scale);
}

// The rows that differ from every other, in lexicographic order: a study or note repeated over
// many ticks is one observation.
std::vector<SpectrumRow> distinct_rows(std::span<const SpectrumRow> rows, std::size_t d) {
  std::vector<std::size_t> order(rows.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    for (std::size_t c = 0; c < d; ++c) {
      const float va = value_of(rows[a], c);
      const float vb = value_of(rows[b], c);
      if (va < vb) return true;
      if (vb < va) return false;
    }
    return false;
  });
  const auto same = [&](const SpectrumRow& a, const SpectrumRow& b) {
    for (std::size_t c = 0; c < d; ++c) {
      if (!(value_of(a, c) == value_of(b, c))) return false;
    }
    return true;
  };
  std::vector<SpectrumRow> kept;
  for (const std::size_t r : order) {
    if (kept.empty() || !same(rows[r], kept.back())) kept.push_back(rows[r]);
  }
  return kept;
}

// Columns of a block held at once: block_bytes of doubles over m rows (at least one).
std::size_t block_columns(std::size_t m, std::size_t d, std::size_t block_bytes) {
  return std::clamp<std::size_t>(block_bytes / (sizeof(double) * std::max<std::size_t>(m, 1)), 1,
                                 std::max<std::size_t>(d, 1));
}

// Columns [c0, c0 + block.cols()) of the rows, centred, and standardised when asked; each
// column's mean and scale are stored at c0 + j.
void centred_columns(std::span<const SpectrumRow> rows, std::size_t c0, bool standardise,
                     Eigen::MatrixXd& block, std::vector<double>& mean,
                     std::vector<double>& scale) {
  const Eigen::Index m = block.rows();
  for (Eigen::Index j = 0; j < block.cols(); ++j) {
    const std::size_t c = c0 + static_cast<std::size_t>(j);
    for (Eigen::Index i = 0; i < m; ++i)
      block(i, j) = value_of(rows[static_cast<std::size_t>(i)], c);
  }
  const Eigen::RowVectorXd mu = block.colwise().mean();
  block.rowwise() -= mu;
  for (Eigen::Index j = 0; j < block.cols(); ++j) {
    const std::size_t c = c0 + static_cast<std::size_t>(j);
    mean[c] = mu(j);
    scale[c] = 1;
    if (!standardise) continue;
    const double sd = std::sqrt(block.col(j).squaredNorm() / static_cast<double>(m));
    scale[c] = sd > 1e-9 ? 1 / sd : 0;
    block.col(j) *= scale[c];
  }
}

}  // namespace

std::size_t spectrum_bytes(std::size_t n, std::size_t d) {
  const std::size_t small = std::min(n, d);
  // The m x m (or d x d) matrix and the eigensolver's copy of it; a block of columns (or of rows)
  // in double, one column (row) at least; the kept rows and their order; the columns' means and
  // scales and the eigenvalues.
  return 2 * small * small * sizeof(double) + kSpectrumBlockBytes +
         std::max(n, d) * sizeof(double) + n * (sizeof(std::size_t) + sizeof(SpectrumRow)) +
         3 * d * sizeof(double);
}

std::vector<double> spectrum(std::span<const SpectrumRow> all, std::size_t d, bool standardise,
                             std::size_t block_bytes) {
  const std::vector<SpectrumRow> rows = distinct_rows(all, d);
  std::vector<double> values(d, 0.0);
  if (rows.size() < 2 || d == 0) return values;
  const std::size_t m = rows.size();
  const auto mm = static_cast<Eigen::Index>(m);
  const std::size_t width = block_columns(m, d, block_bytes);
  std::vector<double> mean(d);
  std::vector<double> scale(d);
  Eigen::MatrixXd g;
  if (m < d || width >= d) {
    // Column blocks: the Gram matrix sums over them; with one block and d <= m, the covariance
    // is that block's.
    const bool gram = m < d;
    g = Eigen::MatrixXd::Zero(gram ? mm : static_cast<Eigen::Index>(d),
                              gram ? mm : static_cast<Eigen::Index>(d));
    Eigen::MatrixXd block;
    for (std::size_t c0 = 0; c0 < d; c0 += width) {
      block.resize(mm, static_cast<Eigen::Index>(std::min(width, d - c0)));
      centred_columns(rows, c0, standardise, block, mean, scale);
      if (gram) {
        g.noalias() += block * block.transpose();
      } else {
        g.noalias() += block.transpose() * block;
      }
    }
  } else {
    // d <= m, too many rows and columns for one block: each column's mean and scale first, then
    // the covariance summed over blocks of rows.
    Eigen::MatrixXd block;
    for (std::size_t c0 = 0; c0 < d; c0 += width) {
      block.resize(mm, static_cast<Eigen::Index>(std::min(width, d - c0)));
      centred_columns(rows, c0, standardise, block, mean, scale);
    }
    const auto dd = static_cast<Eigen::Index>(d);
    g = Eigen::MatrixXd::Zero(dd, dd);
    const std::size_t height = block_columns(d, m, block_bytes);
    for (std::size_t r0 = 0; r0 < m; r0 += height) {
      const std::size_t h = std::min(height, m - r0);
      block.resize(static_cast<Eigen::Index>(h), dd);
      for (std::size_t i = 0; i < h; ++i) {
        for (std::size_t c = 0; c < d; ++c) {
          block(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(c)) =
              (value_of(rows[r0 + i], c) - mean[c]) * scale[c];
        }
      }
      g.noalias() += block.transpose() * block;
    }
  }
  g /= static_cast<double>(m);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(g, Eigen::EigenvaluesOnly);
  const Eigen::VectorXd& ev = solver.eigenvalues();  // ascending
  for (Eigen::Index j = 0; j < ev.size() && j < static_cast<Eigen::Index>(d); ++j) {
    values[static_cast<std::size_t>(j)] = std::max(0.0, ev(ev.size() - 1 - j));
  }
  return values;
}

std::vector<double> spectrum(std::span<const float> x, std::size_t n, std::size_t d,
                             bool standardise) {
  std::vector<SpectrumRow> rows(n);
  for (std::size_t r = 0; r < n; ++r) rows[r].values = x.data() + r * d;
  return spectrum(rows, d, standardise);
}

}  // namespace tfe::profile::detail
