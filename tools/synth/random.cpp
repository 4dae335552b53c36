#include "tools/synth/random.h"

#include <array>

namespace tfe::synth::detail {
namespace {

constexpr int kCellBits = 12;
constexpr int kCells = 1 << kCellBits;  // 4096 cells of probability 1/4096

struct NormalTable {
  std::array<double, kCells + 1> x;  // x[i] = inverse CDF of i / kCells (ends unused)
  NormalTable() {
    for (int i = 1; i < kCells; ++i) x[i] = inverse_normal_cdf(static_cast<double>(i) / kCells);
    x[0] = x[1];
    x[kCells] = x[kCells - 1];
  }
};

const NormalTable& normal_table() {
  static const NormalTable table;  // immutable once built; thread-safe initialisation
  return table;
}

}  // namespace

double inverse_normal_cdf(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double low = 0.02425;
  double x;
  if (p < low) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - low) {
    const double q = p - 0.5;
    const double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One Halley step against the exact CDF.
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * 3.141592653589793) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

double Rng::normal() {
  const uint64_t bits = next();
  const auto cell = static_cast<int>(bits >> (64 - kCellBits));
  const double frac = static_cast<double>((bits >> 12) & ((uint64_t{1} << 40) - 1)) * 0x1.0p-40;
  if (cell == 0 || cell == kCells - 1) [[unlikely]] {
    // Exact tail: p within the outermost cell, never 0 or 1.
    const double p = (cell + frac + 0x1.0p-41) / kCells;
    return inverse_normal_cdf(p);
  }
  const auto& x = normal_table().x;
  return x[cell] + frac * (x[cell + 1] - x[cell]);
}

}  // namespace tfe::synth::detail
