#include "operators/calibration.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tfe {

double Calibration::apply(double logit) const {
  switch (method) {
    case CalibrationMethod::platt:
      return 1.0 / (1.0 + std::exp(-(double{platt_a} * logit + double{platt_b})));
    case CalibrationMethod::isotonic: {
      if (values.empty()) return 1.0 / (1.0 + std::exp(-logit));
      // NaN compares false with every threshold, which would select the top step: a NaN logit
      // gives a NaN risk, as with Platt, never the table's highest risk.
      if (std::isnan(logit)) return logit;
      // First threshold above the logit; the step before it holds the value.
      // Compared as doubles: a logit beyond float's range needs no (undefined) narrowing.
      auto it = std::upper_bound(thresholds.begin(), thresholds.end(), logit,
                                 [](double x, float t) { return x < double{t}; });
      std::size_t j =
          it == thresholds.begin() ? 0 : static_cast<std::size_t>(it - thresholds.begin()) - 1;
      return values[j];
    }
  }
  return 0.5;
}

Calibration initial_calibration(CalibrationMethod method) {
  Calibration c;
  c.method = method;
  if (method == CalibrationMethod::isotonic) {
    for (int i = 0; i <= 32; ++i) {
      const float x = -8.0f + 0.5f * static_cast<float>(i);
      c.thresholds.push_back(x);
      c.values.push_back(static_cast<float>(1.0 / (1.0 + std::exp(-double{x}))));
    }
  }
  return c;
}

Result<void> validate(const Calibration& c) {
  auto fail = [](std::string m) { return make_error(Errc::parse, std::move(m)); };
  if (!std::isfinite(c.platt_a) || !std::isfinite(c.platt_b)) {
    return fail("calibration.platt: coefficients must be finite");
  }
  if (c.thresholds.size() != c.values.size()) {
    return fail(fmt::format("calibration: {} thresholds but {} values", c.thresholds.size(),
                            c.values.size()));
  }
  if (c.method == CalibrationMethod::isotonic && c.values.empty()) {
    return fail("calibration: isotonic table is empty");
  }
  // Platt ignores a table: one in the file would be carried, unused and unchecked by any score.
  if (c.method == CalibrationMethod::platt && !c.values.empty()) {
    return fail(
        fmt::format("calibration: platt has {} isotonic steps, expected none", c.values.size()));
  }
  for (std::size_t i = 0; i < c.values.size(); ++i) {
    if (!std::isfinite(c.thresholds[i])) {
      return fail(fmt::format("calibration.thresholds[{}] is not finite", i));
    }
    if (i > 0 && !(c.thresholds[i] > c.thresholds[i - 1])) {
      return fail(fmt::format("calibration.thresholds[{}] is not above thresholds[{}]", i, i - 1));
    }
    if (!(c.values[i] >= 0.0f && c.values[i] <= 1.0f)) {
      return fail(fmt::format("calibration.values[{}] is outside [0, 1]", i));
    }
    if (i > 0 && c.values[i] < c.values[i - 1]) {
      return fail(fmt::format("calibration.values[{}] decreases", i));
    }
  }
  return ok();
}

}  // namespace tfe
