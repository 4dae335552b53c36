#include "tools/report/report.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "engine/file_writer.h"

namespace tfe::report {

std::string stress_name(const StressResult& stress) {
  switch (stress.kind) {
    case StressKind::mask_modality:
      return "without " + stress.modality;
    case StressKind::delay_scale:
      return fmt::format("arrival delays x{:g}", stress.delay_factor);
  }
  return "stress";
}

std::string TimelinePatientLabels::label(uint32_t patient) {
  auto it = std::find(labelled_.begin(), labelled_.end(), patient);
  if (it == labelled_.end()) it = labelled_.insert(labelled_.end(), patient);
  return fmt::format("patient {}", it - labelled_.begin() + 1);
}

ScoredTick to_scored_tick(const ScoreRecord& score, std::size_t n_modalities) {
  ScoredTick tick;
  tick.patient = score.patient;
  tick.score_time_ms = score.score_time_ms;
  tick.risk = score.risk;
  for (std::size_t m = 0; m < std::min(n_modalities, kMaxModalities); ++m) {
    if (score.modalities[m].present) tick.present_mask |= 1u << m;
  }
  return tick;
}

void TickCollector::emit(std::span<const ScoreRecord> scores) {
  for (const ScoreRecord& s : scores) ticks_.push_back(to_scored_tick(s, n_modalities_));
}

std::string subgroup_name(uint32_t present_mask, std::span<const std::string> modalities) {
  if (present_mask == GroupMetrics::kAllTicks) return "all ticks";
  if (present_mask == 0) return "no modality";
  std::string name;
  for (uint32_t m = 0; m < 32; ++m) {
    if (!(present_mask & (1u << m))) continue;
    if (!name.empty()) name += " + ";
    name += m < modalities.size() ? modalities[m] : fmt::format("modality {}", m);
  }
  return name;
}

RiskTrace risk_trace(const TickTable& table, uint32_t patient, double threshold,
                     uint32_t max_points) {
  RiskTrace trace;
  trace.threshold = threshold;
  const TickView ticks = table.ticks();
  const std::span<const TickKey> keys = table.tick_keys();
  const std::size_t first = static_cast<std::size_t>(
      std::lower_bound(keys.begin(), keys.end(), patient,
                       [](const TickKey& t, uint32_t p) { return t.patient < p; }) -
      keys.begin());
  std::size_t last = first;
  while (last < ticks.size() && ticks[last].patient == patient) ++last;
  if (first == last) return trace;
  // Decimate in normalised coordinates (time over the span, risk as is) so both axes count.
  const int64_t t0 = ticks[first].score_time_ms;
  const double span = static_cast<double>(std::max<int64_t>(ticks[last - 1].score_time_ms - t0, 1));
  std::vector<CurvePoint> points;
  bool prev_alert = false;
  for (std::size_t i = first; i < last; ++i) {
    const ScoredTick t = ticks[i];
    points.push_back({static_cast<double>(t.score_time_ms - t0) / span, t.risk});
    const bool in_alert = t.risk >= threshold;
    if (in_alert && !prev_alert) trace.alert_times_ms.push_back(t.score_time_ms);
    prev_alert = in_alert;
  }
  for (const CurvePoint& p : decimate(points, max_points)) {
    trace.risk.push_back({t0 + std::llround(p.x * span), p.y});
  }
  return trace;
}

std::vector<int64_t> thin_times(std::span<const int64_t> times_ms, uint32_t max_points) {
  if (times_ms.size() <= max_points || max_points == 0) return {times_ms.begin(), times_ms.end()};
  const int64_t first = times_ms.front();
  const int64_t bucket = std::max<int64_t>((times_ms.back() - first) / max_points, 1);
  std::vector<int64_t> out;
  int64_t last_bucket = -1;
  for (const int64_t t : times_ms) {
    const int64_t b = (t - first) / bucket;
    if (b == last_bucket) continue;
    out.push_back(t);
    last_bucket = b;
  }
  return out;
}

namespace {
constexpr const char* kReportJson = "report.json";
constexpr const char* kReportHtml = "report.html";
}  // namespace

Result<void> write_report(const Report& report, const std::string& dir) {
  auto written = write_output_files(
      dir, {{kReportJson, report_json(report)}, {kReportHtml, report_html(report)}});
  if (!written) return make_error(Errc::io, "report: " + written.error().message);
  return ok();
}

Result<void> check_report_directory(const std::string& dir) {
  auto checked = check_output_files(dir, {kReportJson, kReportHtml});
  if (!checked) return make_error(Errc::io, "report: " + checked.error().message);
  return ok();
}

}  // namespace tfe::report
