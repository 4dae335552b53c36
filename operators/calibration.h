#pragma once
// Calibration: turns a fused logit into a probability. Platt scaling sigmoid(a * logit + b)
// (fitted on the validation split in training), or isotonic: a piecewise-constant, non-decreasing
// map from logit to probability.

#include <cstdint>
#include <vector>

#include "engine/result.h"
#include "operators/model_config.h"

namespace tfe {

struct Calibration {
  CalibrationMethod method = CalibrationMethod::platt;
  float platt_a = 1.0f;  // identity calibration: risk = sigmoid(logit)
  float platt_b = 0.0f;
  // Isotonic: risk = values[j] for the largest j with thresholds[j] <= logit; values[0] below
  // thresholds[0]. thresholds strictly increasing, values non-decreasing in [0, 1].
  std::vector<float> thresholds;
  std::vector<float> values;

  double apply(double logit) const;
  bool operator==(const Calibration&) const = default;
};

// The calibration an untrained model starts with: Platt (1, 0), or for isotonic a 33-step table
// over logits -8..8 (step 0.5) holding sigmoid of each step's lower edge.
Calibration initial_calibration(CalibrationMethod method);

// Checks the invariants above; errors name the field ("calibration.values[3] ...").
Result<void> validate(const Calibration& calibration);

}  // namespace tfe
