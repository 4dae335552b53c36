#include "operators/news2.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "engine/snapshot.h"

namespace tfe {
namespace {

// Rounds as a chart records the value: whole numbers, or tenths for temperature.
double charted(float value) { return detail::round_half_away(static_cast<double>(value)); }
// A reading of 38.05 arrives as the float 38.0499992: taken as it is, it would chart as 38.0, not
// 38.1. The slack of 1e-4 tenths lifts such halves over the line; it is larger than float's error
// at any body temperature (under 4e-5 tenths) and far below a difference a thermometer reports.
double charted_tenths(float value) {
  const double tenths = static_cast<double>(value) * 10.0;
  return detail::round_half_away(tenths + std::copysign(1e-4, tenths));
}

class News2State final : public ScorerState {};

class News2Scorer final : public Scorer {
 public:
  struct Channels {
    uint8_t rr, spo2, sbp, pulse, temp;
    std::optional<uint8_t> o2, consciousness;
  };

  News2Scorer(ScorerSpec spec, ModalityIndex vitals, Channels channels, std::size_t channel_count)
      : spec_(std::move(spec)),
        vitals_(vitals),
        channels_(channels),
        channel_count_(channel_count) {
    for (int total = 0; total <= kMaxTotal; ++total) risk_[total] = news2_risk(total);
  }

  const ScorerSpec& spec() const override { return spec_; }
  std::unique_ptr<ScorerState> make_state() const override {
    return std::make_unique<News2State>();
  }

  void score(const Snapshot& snapshot, ScorerState& /*state*/, ScoreOutput& out) const override {
    out = ScoreOutput{};
    News2Observations obs;
    bool present = false;
    if (vitals_ < snapshot.modalities.size()) {
      const ModalitySnapshot& m = snapshot.modalities[vitals_];
      // A feature vector of another shape cannot be read: every parameter then counts as missing.
      if (m.present && m.features.size() == channel_count_) {
        present = true;
        const auto f = m.features;
        obs.respiration_rate = latest(f, channels_.rr);
        obs.spo2 = latest(f, channels_.spo2);
        obs.systolic_bp = latest(f, channels_.sbp);
        obs.pulse = latest(f, channels_.pulse);
        obs.temperature = latest(f, channels_.temp);
        if (channels_.o2) obs.on_oxygen = latest(f, *channels_.o2);
        if (channels_.consciousness) obs.consciousness = latest(f, *channels_.consciousness);
      }
    }
    const News2Breakdown b = news2_score(obs);
    out.logit = news2_logit(b.total);
    out.risk = risk_[b.total];
    out.weight[vitals_] = present ? 1.0f : 0.0f;
  }

 private:
  // The channel's newest reading within the shortest window (VitalsFeatures::latest); NaN,
  // which every parameter's points treat as missing, when there is none.
  static float latest(std::span<const float> f, uint8_t channel) { return f[channel]; }

  ScorerSpec spec_;
  ModalityIndex vitals_;
  Channels channels_;
  std::size_t channel_count_;  // channels of the vitals modality: the feature vector's size
  // news2_risk of every aggregate: an exp per tick was a tenth of the scorer's time.
  static constexpr int kMaxTotal = 20;
  std::array<double, kMaxTotal + 1> risk_{};
};

}  // namespace

// Each band function counts the band edges the charted value lies beyond, so that a tick costs
// comparisons rather than hard-to-predict branches (the vitals of a ward wander across edges).
int news2_respiration_points(float breaths_per_min) {
  if (!std::isfinite(breaths_per_min)) return 0;
  const double v = charted(breaths_per_min);
  // <= 8: 3, 9-11: 1, 12-20: 0, 21-24: 2, >= 25: 3
  return 2 * (v <= 8) + (v <= 11) + 2 * (v > 20) + (v > 24);
}

int news2_spo2_scale1_points(float percent) {
  if (!std::isfinite(percent)) return 0;
  const double v = charted(percent);
  // <= 91: 3, 92-93: 2, 94-95: 1, >= 96: 0
  return (v <= 91) + (v <= 93) + (v <= 95);
}

int news2_air_or_oxygen_points(float on_oxygen) {
  if (!std::isfinite(on_oxygen)) return 0;
  return on_oxygen >= 0.5f ? 2 : 0;
}

int news2_systolic_points(float mmhg) {
  if (!std::isfinite(mmhg)) return 0;
  const double v = charted(mmhg);
  // <= 90: 3, 91-100: 2, 101-110: 1, 111-219: 0, >= 220: 3
  return (v <= 90) + (v <= 100) + (v <= 110) + 3 * (v > 219);
}

int news2_pulse_points(float beats_per_min) {
  if (!std::isfinite(beats_per_min)) return 0;
  const double v = charted(beats_per_min);
  // <= 40: 3, 41-50: 1, 51-90: 0, 91-110: 1, 111-130: 2, >= 131: 3
  return 2 * (v <= 40) + (v <= 50) + (v > 90) + (v > 110) + (v > 130);
}

int news2_consciousness_points(float avpu) {
  if (!std::isfinite(avpu)) return 0;
  return avpu >= 0.5f ? 3 : 0;
}

int news2_temperature_points(float degc) {
  if (!std::isfinite(degc)) return 0;
  const double tenths = charted_tenths(degc);
  // <= 35.0: 3, 35.1-36.0: 1, 36.1-38.0: 0, 38.1-39.0: 1, >= 39.1: 2
  return 2 * (tenths <= 350) + (tenths <= 360) + (tenths > 380) + (tenths > 390);
}

News2Breakdown news2_score(const News2Observations& obs) {
  News2Breakdown b;
  b.respiration_rate = static_cast<uint8_t>(news2_respiration_points(obs.respiration_rate));
  b.spo2 = static_cast<uint8_t>(news2_spo2_scale1_points(obs.spo2));
  b.air_or_oxygen = static_cast<uint8_t>(news2_air_or_oxygen_points(obs.on_oxygen));
  b.systolic_bp = static_cast<uint8_t>(news2_systolic_points(obs.systolic_bp));
  b.pulse = static_cast<uint8_t>(news2_pulse_points(obs.pulse));
  b.consciousness = static_cast<uint8_t>(news2_consciousness_points(obs.consciousness));
  b.temperature = static_cast<uint8_t>(news2_temperature_points(obs.temperature));
  b.total = b.respiration_rate + b.spo2 + b.air_or_oxygen + b.systolic_bp + b.pulse +
            b.consciousness + b.temperature;
  return b;
}

Result<std::shared_ptr<const Scorer>> make_news2_scorer(const EngineConfig& config) {
  const ModalitySchema& schema = config.schema;
  std::optional<ModalityIndex> vitals;
  for (std::size_t i = 0; i < schema.size(); ++i) {
    if (schema[static_cast<ModalityIndex>(i)].kind == ModalityKind::vitals) {
      vitals = static_cast<ModalityIndex>(i);
      break;
    }
  }
  if (!vitals) {
    return make_error(Errc::schema, "news2: the schema has no vitals modality");
  }
  const ModalitySpec& spec = schema[*vitals];
  if (config.windows_ms.empty()) {
    return make_error(Errc::config, "news2: no vitals window configured ([engine] windows)");
  }

  std::string missing;
  auto required = [&](std::string_view name) -> uint8_t {
    auto c = schema.find_channel(*vitals, name);
    if (!c) {
      missing += missing.empty() ? "" : ", ";
      missing += name;
      return 0;
    }
    return *c;
  };
  News2Scorer::Channels channels{};
  channels.rr = required("rr");
  channels.spo2 = required("spo2");
  channels.sbp = required("sbp");
  channels.pulse = required("hr");
  channels.temp = required("temp");
  if (!missing.empty()) {
    return make_error(Errc::schema, fmt::format("news2: vitals modality '{}' lacks channel(s) {}",
                                                spec.name, missing));
  }
  channels.o2 = schema.find_channel(*vitals, "o2");
  channels.consciousness = schema.find_channel(*vitals, "avpu");
  if (!channels.consciousness)
    channels.consciousness = schema.find_channel(*vitals, "consciousness");

  const int64_t shortest = *std::min_element(config.windows_ms.begin(), config.windows_ms.end());

  ScorerSpec scorer_spec;
  scorer_spec.strategy = "news2";
  scorer_spec.model_name = "NEWS2 (RCP 2017)";
  scorer_spec.model_id = "";
  scorer_spec.needs.resize(schema.size());
  for (auto& need : scorer_spec.needs) {
    need.features = false;
    need.history = 0;
  }
  // Only current values: the engine keeps each channel's newest reading, not window statistics.
  ModalityNeeds& need = scorer_spec.needs[*vitals];
  need.features = true;
  need.vitals = VitalsFeatures::latest;
  need.latest_within_ms = shortest;

  return std::shared_ptr<const Scorer>(std::make_shared<News2Scorer>(
      std::move(scorer_spec), *vitals, channels, spec.channels.size()));
}

namespace detail {

double round_half_away(double x) {
  const double a = std::fabs(x);
  if (!(a < 4503599627370496.0)) return x;  // 2^52: from here on every double is whole
  const double t = static_cast<double>(static_cast<int64_t>(a));
  // a - t is exact (the fraction of a); adding the comparison avoids a branch taken at random.
  return std::copysign(t + static_cast<double>(a - t >= 0.5), x);
}

}  // namespace detail

}  // namespace tfe
