// Calibration: the map from a fused logit to a risk, at the edges of its input.

#include "operators/calibration.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tfe {
namespace {

// NaN compares false with every threshold, so the table lookup picked the top step: a NaN logit
// (an overflowed forward pass) came out as the highest risk the table holds, a confident alarm,
// where Platt gives NaN (written as null). Both methods now give NaN.
TEST(Calibration, NanLogitGivesNanRiskWithEitherMethod) {
  const Calibration iso = initial_calibration(CalibrationMethod::isotonic);
  const Calibration platt = initial_calibration(CalibrationMethod::platt);
  EXPECT_TRUE(std::isnan(iso.apply(std::nan(""))));
  EXPECT_TRUE(std::isnan(platt.apply(std::nan(""))));
  // Logits beyond the table take its end steps; infinities too.
  EXPECT_EQ(iso.apply(1e300), iso.values.back());
  EXPECT_EQ(iso.apply(HUGE_VAL), iso.values.back());
  EXPECT_EQ(iso.apply(-HUGE_VAL), iso.values.front());
  EXPECT_EQ(iso.apply(-8.0), iso.values.front());
  EXPECT_EQ(iso.apply(-7.75), iso.values.front());
  EXPECT_EQ(iso.apply(-7.5), iso.values[1]);
}

TEST(Calibration, SingleStepTableGivesItsValueEverywhere) {
  Calibration c;
  c.method = CalibrationMethod::isotonic;
  c.thresholds = {0.5f};
  c.values = {0.25f};
  ASSERT_TRUE(validate(c));
  EXPECT_EQ(c.apply(-100.0), 0.25);
  EXPECT_EQ(c.apply(0.5), 0.25);
  EXPECT_EQ(c.apply(100.0), 0.25);
}

// A table is isotonic's alone: Platt ignores it, so a Platt calibration carrying one held data
// that no score used and nothing checked.
TEST(Calibration, PlattWithIsotonicStepsIsInvalid) {
  Calibration c = initial_calibration(CalibrationMethod::platt);
  ASSERT_TRUE(validate(c));
  c.thresholds = {0.0f};
  c.values = {0.5f};
  auto r = validate(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "calibration: platt has 1 isotonic steps, expected none");
}

}  // namespace
}  // namespace tfe
