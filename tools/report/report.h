#pragma once
// The backtest report: a plain model of what was run and measured (per model: overall and
// per-subgroup metrics, stress tests; sample timelines), and its two renderings: report.json
// (stable key order, deterministic numbers) and report.html (one self-contained page of inline SVG
// charts, readable without a network). How to read it: docs/report.md.
//
// Typical use by a backtest driver:
//   TickCollector sink(schema.size());  -> the replay's ScoreSink
//   build_labels(sink.take(), outcomes, n_patients, horizon_ms, cadence_ms) -> TickTable
//   evaluate(table, options) -> ModelReport::evaluation; compare(table, stressed_table, options)
//   sample_patients(...) + risk_trace(...) -> Timeline
//   write_report(report, dir)

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/result.h"
#include "engine/score.h"
#include "tools/report/metrics.h"

namespace tfe::report {

struct ModelInfo {
  std::string name;
  std::string strategy;  // "news2", "early", "intermediate", "late", "attention"
  std::string model_id;  // content hash ("" for built-in scorers)
};

enum class StressKind : uint8_t {
  mask_modality,  // one modality never present
  delay_scale,    // every arrival delay (arrival - event time) multiplied
};

struct StressResult {
  StressKind kind = StressKind::mask_modality;
  std::string modality;     // mask_modality: the masked modality
  double delay_factor = 2;  // delay_scale: the factor
  StressComparison comparison;
};

// The display name of a stress test: "without notes", "arrival delays x2".
std::string stress_name(const StressResult& stress);

struct ModelReport {
  ModelInfo info;
  Evaluation evaluation;
  std::vector<StressResult> stress;
};

struct TimePoint {
  int64_t time_ms = 0;
  double value = 0;
};

// One model's risk for the sample patient.
struct RiskTrace {
  std::string model;                    // ModelInfo::name
  std::vector<TimePoint> risk;          // decimated
  double threshold = kNaN;              // the alert threshold shown (usually the alert-rate one)
  std::vector<int64_t> alert_times_ms;  // rising edges into the alert state
};

struct ModalityEvents {
  std::string modality;
  std::vector<int64_t> times_ms;  // event times; writers thin dense lanes (see thin_times)
};

// One sample patient of one modality-availability subgroup.
struct Timeline {
  uint32_t present_mask = 0;  // the subgroup
  std::string patient;        // a report-local label (TimelinePatientLabels), never the id
  int64_t start_ms = 0;       // shown window
  int64_t end_ms = 0;
  int64_t outcome_time_ms = kNoOutcome;
  int64_t horizon_ms = 0;
  std::vector<ModalityEvents> events;  // one lane per modality
  std::vector<RiskTrace> traces;       // one per model
};

// Labels of the timelines' sample patients, local to one report: "patient 1", "patient 2", ... in
// the order the timelines are listed (a patient shown twice keeps its first label). They carry
// nothing of the patient id: a hash of the id, keyed or not, gives the id back to anyone who
// hashes candidate ids.
class TimelinePatientLabels {
 public:
  std::string label(uint32_t patient);

 private:
  std::vector<uint32_t> labelled_;  // patients in the order of their labels (a few per report)
};

struct ReportMeta {
  std::string title = "tfe backtest report";
  std::string generator = "tfe";        // program and version that wrote the report
  std::vector<std::string> histories;   // input files as given
  std::vector<std::string> modalities;  // names by modality index (bit m of a present mask)
  int64_t horizon_ms = 0;
  int64_t tick_cadence_ms = 0;
  uint32_t patients = 0;
  uint64_t events = 0;  // history events replayed (0: not known)
  EvaluationOptions options;
};

struct Report {
  ReportMeta meta;
  std::vector<ModelReport> models;
  std::vector<Timeline> timelines;
};

// ---- building blocks
// --------------------------------------------------------------------------------

// A ScoreSink that keeps every score as a ScoredTick (label unset): the replay's sink for a report.
class TickCollector : public ScoreSink {
 public:
  explicit TickCollector(std::size_t n_modalities) : n_modalities_(n_modalities) {}
  void emit(std::span<const ScoreRecord> scores) override;
  std::vector<ScoredTick> take() { return std::move(ticks_); }

 private:
  std::size_t n_modalities_;
  std::vector<ScoredTick> ticks_;
};

// present_mask bit m set when modality m (< n_modalities) was present in the score.
ScoredTick to_scored_tick(const ScoreRecord& score, std::size_t n_modalities);

// "wearables + notes"; "no modality" for 0; "all ticks" for GroupMetrics::kAllTicks. Bits beyond
// the names are shown as "modality N".
std::string subgroup_name(uint32_t present_mask, std::span<const std::string> modalities);

// One patient's risk curve (decimated to about max_points) and alert rising edges at threshold.
RiskTrace risk_trace(const TickTable& table, uint32_t patient, double threshold,
                     uint32_t max_points = 400);

// Keeps at most about max_points times of a sorted list: one per bucket of (last - first) /
// max_points. Deterministic; used for dense event lanes.
std::vector<int64_t> thin_times(std::span<const int64_t> times_ms, uint32_t max_points);

// ---- rendering
// -------------------------------------------------------------------------------------------

std::string report_json(const Report& report);
std::string report_html(const Report& report);
// Creates dir if needed and writes dir/report.json and dir/report.html.
Result<void> write_report(const Report& report, const std::string& dir);
// Before the replays: creates dir if needed and checks that both files can be written there.
Result<void> check_report_directory(const std::string& dir);

// A complete report computed from a small synthetic cohort (three models, stress tests,
// timelines): for tests of the writers and of the page in a browser.
Report demo_report();
Result<void> write_demo_report(const std::string& dir);

}  // namespace tfe::report
