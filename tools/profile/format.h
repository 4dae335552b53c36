#pragma once
// Display helpers shared by the profile's terminal table and HTML page (internal).

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "tools/profile/profile.h"

namespace tfe::profile::detail {

// "350 ms", "12 s", "5.0 min", "2.1 h", "3.2 d"; an en dash for NaN.
inline std::string human_ms(double ms) {
  if (std::isnan(ms)) return "\u2013";
  if (ms < 1'000) return fmt::format("{:.0f} ms", ms);
  if (ms < 60'000) return fmt::format("{:.0f} s", ms / 1'000);
  if (ms < 3'600'000) return fmt::format("{:.1f} min", ms / 60'000);
  if (ms < 72 * 3'600'000.0) return fmt::format("{:.1f} h", ms / 3'600'000);
  return fmt::format("{:.1f} d", ms / 86'400'000);
}

inline std::string num(double v, int decimals = 2) {
  if (std::isnan(v)) return "\u2013";
  return fmt::format("{:.{}f}", v, decimals);
}

// v with `decimals` decimals, or with more (up to 6, then as many digits as it takes) when fewer
// would show it equal to `ref` while it differs: "0.59996" beside 0.6, never "0.600", and
// "0.0004" beside 0, never "0.000".
inline std::string num_apart(double v, double ref, int decimals) {
  if (std::isnan(v) || std::isnan(ref) || v == ref) return num(v, decimals);
  for (int d = decimals; d <= 6; ++d) {
    const double f = std::pow(10.0, d);
    if (std::round(v * f) != std::round(ref * f)) return num(v, d);
  }
  return fmt::format("{}", v);  // the shortest text that reads back as v
}

// A condition's number beside the one it is compared with: whole numbers (counts, and shares of
// exactly 0 or 1) as integers, other shares and ratios with three decimals, or more when three
// would show the two as equal (num_apart).
inline std::string evidence_num(double v, double other = kNaN) {
  if (!std::isnan(v) && v >= 0 && v == std::floor(v) && v < 1e12) return fmt::format("{:.0f}", v);
  return num_apart(v, other, 3);
}

// The recommendation's confidence with two decimals, or more when two would carry it across the
// bound of its label (0.795 is medium, and shows as 0.795, not 0.80).
inline std::string confidence_num(double c) {
  int d = 2;
  for (; d < 6; ++d) {
    const double f = std::pow(10.0, d);
    const double shown = std::round(c * f) / f;
    if ((shown >= kHighConfidence) == (c >= kHighConfidence) &&
        (shown >= kMediumConfidence) == (c >= kMediumConfidence)) {
      break;
    }
  }
  return num(c, d);
}

// "name value comparison threshold", or with a note in place of the value "name comparison
// threshold: note".
inline std::string condition_text(const Condition& c) {
  if (!c.note.empty()) {
    return fmt::format("{} {} {}: {}", c.name, c.comparison, evidence_num(c.threshold), c.note);
  }
  return fmt::format("{} {} {} {}", c.name, evidence_num(c.value, c.threshold), c.comparison,
                     evidence_num(c.threshold, c.value));
}

// Tooltips of a log10(ms) histogram's bins: "under 178 ms (<first>)", "178 ms to 316 ms", ...,
// "65.1 d and more": the first and last bins hold everything beyond their outer edges.
inline std::vector<std::string> log_bin_labels(const std::vector<double>& log10_edges,
                                               std::string_view first) {
  std::vector<std::string> labels;
  const auto ms = [&](std::size_t i) { return human_ms(std::pow(10.0, log10_edges[i])); };
  for (std::size_t b = 0; b + 1 < log10_edges.size(); ++b) {
    if (b == 0) {
      labels.push_back(fmt::format("under {} ({})", ms(1), first));
    } else if (b + 2 == log10_edges.size()) {
      labels.push_back(fmt::format("{} and more", ms(b)));
    } else {
      labels.push_back(fmt::format("{} to {}", ms(b), ms(b + 1)));
    }
  }
  return labels;
}

inline std::string stay_bin_label(const StayBin& bin) {
  if (bin.to_ms == std::numeric_limits<int64_t>::max()) {
    return fmt::format("{}+", human_ms(static_cast<double>(bin.from_ms)));
  }
  return fmt::format(
      "{}\u2013{}",
      bin.from_ms == 0 ? std::string("0") : human_ms(static_cast<double>(bin.from_ms)),
      human_ms(static_cast<double>(bin.to_ms)));
}

inline std::string bucket_label(const AgeBucket& b) {
  return fmt::format("{}\u2013{}", human_ms(static_cast<double>(b.from_ms)),
                     human_ms(static_cast<double>(b.to_ms)));
}

}  // namespace tfe::profile::detail
