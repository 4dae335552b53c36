#pragma once
// NEWS2: the Royal College of Physicians' National Early Warning Score 2 (2017) as a scorer.
//
// Inputs: the first vitals modality of the schema only (each channel's newest reading,
//   VitalsFeatures::latest; every other modality is ignored and not kept). Required channels: rr,
//   spo2, sbp, hr (pulse), temp. Optional: o2 (supplemental oxygen, 0 = air, 1 = oxygen) and avpu
//   or consciousness (0 = alert; any value >= 0.5 = new confusion, voice, pain or unresponsive).
//   Without them the documented defaults apply: air, alert.
// Value per channel: the newest reading within the shortest configured window (the `last`
//   window statistic, without keeping windows); a channel with no reading that recent is a
//   missing parameter and scores 0.
// Charting: values are rounded as a chart records them before banding (rr, spo2, sbp, pulse to
//   whole numbers; temperature to 0.1 degC).
// Output: risk = logistic(logit), logit = (aggregate - 5) / 1.5, strictly monotone in the
//   aggregate (0..20); weight 1 on the vitals modality when present, 0 everywhere else.
// See docs/news2.md for the bands.

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>

#include "engine/config.h"
#include "engine/result.h"
#include "engine/scorer.h"

namespace tfe {

// One set of observations. NaN means not measured.
struct News2Observations {
  static constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
  float respiration_rate = kMissing;  // breaths/min
  float spo2 = kMissing;              // %, scale 1
  float systolic_bp = kMissing;       // mmHg
  float pulse = kMissing;             // beats/min
  float temperature = kMissing;       // degC
  float on_oxygen = kMissing;         // 0 air, 1 oxygen; missing: air
  float consciousness = kMissing;     // 0 alert, >= 0.5 CVPU; missing: alert
};

// Points per parameter (0..3) and their sum (0..20).
struct News2Breakdown {
  uint8_t respiration_rate = 0;
  uint8_t spo2 = 0;
  uint8_t air_or_oxygen = 0;
  uint8_t systolic_bp = 0;
  uint8_t pulse = 0;
  uint8_t consciousness = 0;
  uint8_t temperature = 0;
  int total = 0;
};

// Band functions: a missing (non-finite) value scores 0.
int news2_respiration_points(float breaths_per_min);
int news2_spo2_scale1_points(float percent);
int news2_air_or_oxygen_points(float on_oxygen);
int news2_systolic_points(float mmhg);
int news2_pulse_points(float beats_per_min);
int news2_consciousness_points(float avpu);
int news2_temperature_points(float degc);

News2Breakdown news2_score(const News2Observations& obs);

// The documented monotone mapping from the aggregate to a risk.
inline constexpr double kNews2Midpoint = 5.0;  // aggregate at risk 0.5 (the RCP "medium" trigger)
inline constexpr double kNews2Scale = 1.5;     // aggregate points per unit of logit
inline double news2_logit(int total) { return (total - kNews2Midpoint) / kNews2Scale; }
inline double news2_risk(int total) { return 1.0 / (1.0 + std::exp(-news2_logit(total))); }

// Builds the scorer for the schema and windows of config. Fails (Errc::schema) when the schema has
// no vitals modality or the first one lacks a required channel, and (Errc::config) when no window
// is configured.
Result<std::shared_ptr<const Scorer>> make_news2_scorer(const EngineConfig& config);

namespace detail {
// std::round (half away from zero), exactly, without the library call std::round is with GCC on
// the baseline x86-64 target (it has no SSE4.1 rounding instruction): NEWS2 rounds every reading.
double round_half_away(double x);
}  // namespace detail

}  // namespace tfe
