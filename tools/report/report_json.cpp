// report.json: the report model as one JSON document. Keys are written in a fixed order and
// numbers with a fixed number of significant digits, so the same report gives the same bytes.

#include <cmath>

#include "tools/report/json_writer.h"
#include "tools/report/report.h"

namespace tfe::report {
namespace {

constexpr int kDigits = 6;       // metrics
constexpr int kCurveDigits = 4;  // curve coordinates
// Thresholds in full: a rounded threshold is another operating point (it can let in ticks just
// below the one chosen, and more alerts than the target rate).
constexpr int kThresholdDigits = JsonWriter::kRoundTrip;
constexpr uint32_t kLanePoints = 1000;

const char* basis_name(ThresholdBasis basis) {
  switch (basis) {
    case ThresholdBasis::fixed:
      return "fixed";
    case ThresholdBasis::alert_rate:
      return "alert_rate";
  }
  return "fixed";
}

const char* stress_kind_name(StressKind kind) {
  switch (kind) {
    case StressKind::mask_modality:
      return "mask_modality";
    case StressKind::delay_scale:
      return "delay_scale";
  }
  return "mask_modality";
}

void interval(JsonWriter& w, const Interval& ci) {
  w.begin_array(true).number(ci.lo, kDigits).number(ci.hi, kDigits).end_array();
}

void optional_time(JsonWriter& w, int64_t time_ms) {
  if (time_ms == kNoOutcome) {
    w.null();
  } else {
    w.value(time_ms);
  }
}

void modality_list(JsonWriter& w, uint32_t mask, const std::vector<std::string>& modalities) {
  w.begin_array(true);
  for (uint32_t m = 0; m < 32; ++m) {
    if (!(mask & (1u << m))) continue;
    if (m < modalities.size()) {
      w.value(modalities[m]);
    } else {
      w.value("modality " + std::to_string(m));
    }
  }
  w.end_array();
}

void alert_policy(JsonWriter& w, const AlertPolicy& a) {
  w.begin_object();
  w.key("threshold").number(a.threshold, kThresholdDigits);
  w.key("basis").value(basis_name(a.basis));
  w.key("alerts").value(a.alerts);
  w.key("true_alerts").value(a.true_alerts);
  w.key("patient_days").number(a.patient_days, kDigits);
  w.key("alerts_per_patient_day").number(a.alerts_per_patient_day, kDigits);
  w.key("ppv").number(a.ppv, kDigits);
  w.key("positive_patients").value(a.positive_patients);
  w.key("detected_patients").value(a.detected_patients);
  w.key("sensitivity").number(a.sensitivity, kDigits);
  w.key("median_lead_ms").number(a.median_lead_ms, 12);
  w.end_object();
}

void group(JsonWriter& w, const GroupMetrics& g, const std::vector<std::string>& modalities) {
  const bool all = g.present_mask == GroupMetrics::kAllTicks;
  w.begin_object();
  w.key("subgroup").value(subgroup_name(g.present_mask, modalities));
  w.key("present_mask");
  if (all) {
    w.null();
  } else {
    w.value(g.present_mask);
  }
  w.key("modalities");
  modality_list(w, all ? 0 : g.present_mask, modalities);
  w.key("ticks").value(g.ticks);
  w.key("positive_ticks").value(g.positive_ticks);
  w.key("patients").value(g.patients);
  w.key("positive_patients").value(g.positive_patients);
  w.key("prevalence").number(g.prevalence, kDigits);
  const Discrimination& d = g.discrimination;
  w.key("auroc").number(d.auroc, kDigits);
  w.key("auroc_ci");
  interval(w, d.auroc_ci);
  w.key("auprc").number(d.auprc, kDigits);
  w.key("auprc_ci");
  interval(w, d.auprc_ci);
  w.key("replicates_used").value(d.replicates_used);
  const Calibration& c = g.calibration;
  w.key("brier").number(c.brier, kDigits);
  w.key("ece").number(c.ece, kDigits);
  w.key("reliability").begin_array();
  for (const ReliabilityBin& b : c.bins) {
    w.begin_array(true)
        .number(b.lo, kDigits)
        .number(b.hi, kDigits)
        .value(b.ticks)
        .number(b.mean_risk, kDigits)
        .number(b.observed, kDigits)
        .end_array();
  }
  w.end_array();
  w.key("alert_policy").begin_array();
  for (const AlertPolicy& a : g.alerts) alert_policy(w, a);
  w.end_array();
  w.end_object();
}

void curve(JsonWriter& w, const std::vector<CurvePoint>& points) {
  w.begin_array(true);
  for (const CurvePoint& p : points) {
    w.begin_array(true).number(p.x, kCurveDigits).number(p.y, kCurveDigits).end_array();
  }
  w.end_array();
}

void delta(JsonWriter& w, const Delta& d) {
  w.begin_object();
  w.key("baseline").number(d.baseline, kDigits);
  w.key("stressed").number(d.stressed, kDigits);
  w.key("delta").number(d.delta, kDigits);
  w.key("delta_ci");
  interval(w, d.delta_ci);
  w.end_object();
}

void model(JsonWriter& w, const ModelReport& m, const std::vector<std::string>& modalities) {
  w.begin_object();
  w.key("name").value(m.info.name);
  w.key("strategy").value(m.info.strategy);
  w.key("model_id").value(m.info.model_id);
  w.key("alert_rate_threshold").number(m.evaluation.alert_rate_threshold, kThresholdDigits);
  w.key("overall");
  group(w, m.evaluation.overall, modalities);
  w.key("subgroups").begin_array();
  for (const GroupMetrics& g : m.evaluation.subgroups) group(w, g, modalities);
  w.end_array();
  w.key("curves").begin_object();
  w.key("roc");
  curve(w, m.evaluation.curves.roc);
  w.key("pr");
  curve(w, m.evaluation.curves.pr);
  w.end_object();
  w.key("stress").begin_array();
  for (const StressResult& s : m.stress) {
    w.begin_object();
    w.key("name").value(stress_name(s));
    w.key("kind").value(stress_kind_name(s.kind));
    w.key("modality").value(s.modality);
    w.key("delay_factor").number(s.delay_factor, kDigits);
    w.key("auroc");
    delta(w, s.comparison.auroc);
    w.key("auprc");
    delta(w, s.comparison.auprc);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

void timeline(JsonWriter& w, const Timeline& t, const std::vector<std::string>& modalities) {
  w.begin_object();
  w.key("subgroup").value(subgroup_name(t.present_mask, modalities));
  w.key("present_mask").value(t.present_mask);
  w.key("patient").value(t.patient);
  w.key("start_ms").value(t.start_ms);
  w.key("end_ms").value(t.end_ms);
  w.key("outcome_time_ms");
  optional_time(w, t.outcome_time_ms);
  w.key("horizon_ms").value(t.horizon_ms);
  w.key("events").begin_array();
  for (const ModalityEvents& e : t.events) {
    w.begin_object();
    w.key("modality").value(e.modality);
    w.key("count").value(e.times_ms.size());
    w.key("times_ms").begin_array(true);
    for (const int64_t time : thin_times(e.times_ms, kLanePoints)) w.value(time);
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.key("traces").begin_array();
  for (const RiskTrace& r : t.traces) {
    w.begin_object();
    w.key("model").value(r.model);
    w.key("threshold").number(r.threshold, kThresholdDigits);
    w.key("risk").begin_array(true);
    for (const TimePoint& p : r.risk)
      w.begin_array(true).value(p.time_ms).number(p.value, 4).end_array();
    w.end_array();
    w.key("alerts_ms").begin_array(true);
    for (const int64_t time : r.alert_times_ms) w.value(time);
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

}  // namespace

std::string report_json(const Report& report) {
  const ReportMeta& meta = report.meta;
  JsonWriter w;
  w.begin_object();
  w.key("format").value("tfe-backtest-report");
  w.key("version").value(1);
  w.key("title").value(meta.title);
  w.key("generator").value(meta.generator);
  w.key("histories").begin_array();
  for (const std::string& h : meta.histories) w.value(h);
  w.end_array();
  w.key("modalities").begin_array(true);
  for (const std::string& m : meta.modalities) w.value(m);
  w.end_array();
  w.key("horizon_ms").value(meta.horizon_ms);
  w.key("tick_cadence_ms").value(meta.tick_cadence_ms);
  w.key("patients").value(meta.patients);
  w.key("events").value(meta.events);
  const EvaluationOptions& o = meta.options;
  w.key("options").begin_object();
  w.key("bootstrap_replicates").value(o.bootstrap_replicates);
  w.key("seed").value(o.seed);
  w.key("confidence").number(o.confidence, kDigits);
  w.key("thresholds").begin_array(true);
  for (const double t : o.thresholds) w.number(t, kThresholdDigits);
  w.end_array();
  w.key("target_alerts_per_patient_day").number(o.target_alerts_per_patient_day, kDigits);
  w.key("calibration_bins").value(kCalibrationBins);
  w.end_object();
  w.key("models").begin_array();
  for (const ModelReport& m : report.models) model(w, m, meta.modalities);
  w.end_array();
  w.key("timelines").begin_array();
  for (const Timeline& t : report.timelines) timeline(w, t, meta.modalities);
  w.end_array();
  w.end_object();
  return w.str();
}

}  // namespace tfe::report
