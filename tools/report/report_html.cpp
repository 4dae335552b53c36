// report.html: one self-contained page. Every chart is inline SVG drawn by tools/report/svg.h;
// every piece of text from the report model is escaped.

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "tools/report/report.h"
#include "tools/report/svg.h"

namespace tfe::report {
namespace {

using svg::escape;
using svg::fixed;

constexpr double kMsPerHour = 3'600'000.0;
constexpr uint32_t kLanePoints = 1000;

std::string count(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string duration(double ms) {
  if (std::isnan(ms)) return "\u2013";
  if (ms < 60'000) return fmt::format("{:.0f} s", ms / 1'000.0);
  if (ms < kMsPerHour) return fmt::format("{:.0f} min", ms / 60'000.0);
  if (ms < 72 * kMsPerHour) return fmt::format("{:.1f} h", ms / kMsPerHour);
  return fmt::format("{:.1f} d", ms / (24 * kMsPerHour));
}

std::string with_ci(double v, const Interval& ci) {
  if (std::isnan(ci.lo)) return fixed(v, 3);
  return fmt::format("{}<span class=\"ci\">{}\u2013{}</span>", fixed(v, 3), fixed(ci.lo, 3),
                     fixed(ci.hi, 3));
}

// A risk threshold: three significant digits, in fixed notation (0.300, 0.0412, 0.000412), so
// that the small thresholds of a low-prevalence cohort do not read as 0.
std::string threshold_text(double t) {
  if (!std::isfinite(t) || t <= 0) return fixed(t, 2);
  const int decimals = std::clamp(2 - static_cast<int>(std::floor(std::log10(t))), 2, 12);
  return fixed(t, decimals);
}

std::string signed3(double v) {
  if (std::isnan(v)) return "\u2013";
  const std::string s = fixed(v, 3);
  return s.starts_with('-') ? "\u2212" + s.substr(1) : "+" + s;
}

std::string swatch(std::size_t i) {
  return fmt::format("<span class=\"swatch\" style=\"background:{}\"></span>", svg::colour(i));
}

std::string short_id(const std::string& id) {
  if (id.empty()) return "built-in";
  return id.size() > 12 ? id.substr(0, 12) + "\u2026" : id;
}

// Name, then strategy and short model id on a second line.
std::string model_cell(std::size_t i, const ModelInfo& info) {
  return fmt::format("{}{}<span class=\"ci\">{} \u00b7 {}</span>", swatch(i), escape(info.name),
                     escape(info.strategy), escape(short_id(info.model_id)));
}

// The alert policy shown in summaries: the alert-rate one when present, else the first.
const AlertPolicy* headline_policy(const GroupMetrics& g) {
  for (const AlertPolicy& a : g.alerts) {
    if (a.basis == ThresholdBasis::alert_rate) return &a;
  }
  return g.alerts.empty() ? nullptr : &g.alerts.front();
}

struct Table {
  std::string html;
  explicit Table(std::initializer_list<std::string_view> headings) {
    html = "<div class=\"table-wrap\"><table><thead><tr>";
    for (const std::string_view h : headings) html += fmt::format("<th>{}</th>", escape(h));
    html += "</tr></thead><tbody>";
  }
  // Cells are markup (already escaped by the caller).
  void row(std::initializer_list<std::string> cells) {
    html += "<tr>";
    for (const std::string& cell : cells) html += "<td>" + cell + "</td>";
    html += "</tr>";
  }
  std::string done() { return html + "</tbody></table></div>"; }
};

std::string figure(std::string_view caption, const std::string& chart, std::string_view note = {}) {
  return fmt::format("<figure><figcaption>{}{}</figcaption>{}</figure>", escape(caption),
                     note.empty() ? "" : "<span class=\"note\">" + escape(note) + "</span>", chart);
}

// ---- sections
// -------------------------------------------------------------------------------------

std::string header(const Report& r) {
  const ReportMeta& m = r.meta;
  const uint64_t ticks = r.models.empty() ? 0 : r.models.front().evaluation.overall.ticks;
  std::string out = "<header><div class=\"inner\">";
  out += fmt::format("<h1>{}</h1>", escape(m.title));
  out += fmt::format(
      "<p>{} patients \u00b7 {} scored ticks \u00b7 {} model{} \u00b7 label horizon {} \u00b7 "
      "ticks every {}</p>",
      count(m.patients), count(ticks), r.models.size(), r.models.size() == 1 ? "" : "s",
      escape(duration(static_cast<double>(m.horizon_ms))),
      escape(duration(static_cast<double>(m.tick_cadence_ms))));
  out += "</div></header>";
  return out;
}

std::string run_section(const Report& r) {
  const ReportMeta& m = r.meta;
  const EvaluationOptions& o = m.options;
  std::string out = "<section id=\"run\"><h2>Run</h2><dl class=\"meta\">";
  const auto item = [&](std::string_view key, const std::string& value_markup) {
    out += fmt::format("<dt>{}</dt><dd>{}</dd>", escape(key), value_markup);
  };
  std::string histories;
  for (const std::string& h : m.histories) {
    histories += (histories.empty() ? "" : "<br>") + escape(h);
  }
  item("History", histories.empty() ? "\u2013" : histories);
  std::string modalities;
  for (std::size_t i = 0; i < m.modalities.size(); ++i) {
    modalities += (i ? ", " : "") + escape(m.modalities[i]);
  }
  item("Modalities", modalities);
  if (m.events > 0) item("Events replayed", count(m.events));
  item("Bootstrap", fmt::format("{} replicates over patients, seed {}, {:g}% percentile intervals",
                                o.bootstrap_replicates, o.seed, o.confidence * 100));
  std::string thresholds;
  for (const double t : o.thresholds) {
    thresholds += (thresholds.empty() ? "" : ", ") + threshold_text(t);
  }
  if (o.target_alerts_per_patient_day > 0) {
    thresholds += fmt::format("{}and the threshold giving {:g} alerts per patient-day",
                              thresholds.empty() ? "" : ", ", o.target_alerts_per_patient_day);
  }
  item("Alert thresholds", escape(thresholds));
  item("Written by", escape(m.generator));
  out += "</dl></section>";
  return out;
}

std::string summary_section(const Report& r) {
  std::string out =
      "<section id=\"summary\"><h2>Summary</h2><p class=\"hint\">All ticks of the history. "
      "Intervals: 95% bootstrap over patients. The alert columns use the threshold chosen for the "
      "target alert rate.</p>";
  Table t({"Model", "AUROC (95% CI)", "AUPRC (95% CI)", "Prevalence", "Brier", "ECE", "Threshold",
           "Sensitivity", "PPV", "Alerts / patient-day", "Median lead"});
  for (std::size_t i = 0; i < r.models.size(); ++i) {
    const ModelReport& m = r.models[i];
    const GroupMetrics& g = m.evaluation.overall;
    const AlertPolicy* a = headline_policy(g);
    t.row({model_cell(i, m.info), with_ci(g.discrimination.auroc, g.discrimination.auroc_ci),
           with_ci(g.discrimination.auprc, g.discrimination.auprc_ci), fixed(g.prevalence, 3),
           fixed(g.calibration.brier, 3), fixed(g.calibration.ece, 3),
           a ? threshold_text(a->threshold) : "\u2013", a ? fixed(a->sensitivity, 3) : "\u2013",
           a ? fixed(a->ppv, 3) : "\u2013", a ? fixed(a->alerts_per_patient_day, 2) : "\u2013",
           a ? escape(duration(a->median_lead_ms)) : "\u2013"});
  }
  out += t.done();
  out += "</section>";
  return out;
}

std::string curves_section(const Report& r) {
  svg::LineChart roc;
  roc.title = "ROC curves";
  roc.x = {"False positive rate", 0, 1, ""};
  roc.y = {"True positive rate", 0, 1, ""};
  roc.diagonal = true;
  svg::LineChart pr;
  pr.title = "Precision-recall curves";
  pr.x = {"Recall (sensitivity)", 0, 1, ""};
  pr.y = {"Precision (PPV)", 0, 1, ""};
  svg::LineChart rel;
  rel.title = "Reliability diagram";
  rel.x = {"Mean predicted risk (bin)", 0, 1, ""};
  rel.y = {"Observed fraction positive", 0, 1, ""};
  rel.diagonal = true;
  for (std::size_t i = 0; i < r.models.size(); ++i) {
    const ModelReport& m = r.models[i];
    svg::Series s;
    s.name = m.info.name;
    s.colour = i;
    for (const CurvePoint& p : m.evaluation.curves.roc) s.points.push_back({p.x, p.y});
    roc.series.push_back(s);
    s.points.clear();
    for (const CurvePoint& p : m.evaluation.curves.pr) s.points.push_back({p.x, p.y});
    pr.series.push_back(s);
    s.points.clear();
    for (const ReliabilityBin& b : m.evaluation.overall.calibration.bins) {
      if (b.ticks > 0) s.points.push_back({b.mean_risk, b.observed});
    }
    s.markers = true;
    rel.series.push_back(s);
  }
  if (!r.models.empty()) {
    const double prevalence = r.models.front().evaluation.overall.prevalence;
    if (!std::isnan(prevalence)) {
      pr.ref_lines.push_back(
          {false, prevalence, "prevalence " + fixed(prevalence, 3), "#777", true});
    }
  }
  std::string out =
      "<section id=\"discrimination\"><h2>Discrimination and calibration</h2><p class=\"hint\">"
      "ROC and precision-recall curves over all ticks; the dashed diagonal is chance. In the "
      "reliability diagram each point is one tenth of the risk range: points on the diagonal are "
      "well calibrated, points below it over-predict.</p><div class=\"charts\">";
  out += figure("ROC", svg::line_chart(roc));
  out += figure("Precision-recall", svg::line_chart(pr));
  out += figure("Reliability", svg::line_chart(rel));
  out += "</div></section>";
  return out;
}

std::string alerts_section(const Report& r) {
  std::string out =
      "<section id=\"alerts\"><h2>Alert policy</h2><p class=\"hint\">An alert is a rising edge: "
      "a tick at or above the threshold whose previous tick (same patient) was below it. "
      "Sensitivity counts patients whose outcome was preceded, within the horizon, by a tick in "
      "the alert state; PPV counts alerts followed by the outcome within the horizon; lead time "
      "runs from the first alerting tick inside the horizon to the outcome.</p>";
  for (std::size_t i = 0; i < r.models.size(); ++i) {
    const ModelReport& m = r.models[i];
    out += fmt::format("<h3>{}{}</h3>", swatch(i), escape(m.info.name));
    Table t({"Threshold", "Chosen by", "Alerts / patient-day", "PPV", "Sensitivity",
             "Detected / positive patients", "Median lead", "Alerts"});
    for (const AlertPolicy& a : m.evaluation.overall.alerts) {
      t.row({threshold_text(a.threshold),
             a.basis == ThresholdBasis::alert_rate
                 ? escape(fmt::format("target {:g} alerts / patient-day",
                                      r.meta.options.target_alerts_per_patient_day))
                 : "fixed",
             fixed(a.alerts_per_patient_day, 2), fixed(a.ppv, 3), fixed(a.sensitivity, 3),
             count(a.detected_patients) + " / " + count(a.positive_patients),
             escape(duration(a.median_lead_ms)), count(a.alerts)});
    }
    out += t.done();
  }
  out += "</section>";
  return out;
}

// Subgroup masks in display order: the first model's order, then any others.
std::vector<uint32_t> subgroup_masks(const Report& r) {
  std::vector<uint32_t> masks;
  for (const ModelReport& m : r.models) {
    for (const GroupMetrics& g : m.evaluation.subgroups) {
      if (std::find(masks.begin(), masks.end(), g.present_mask) == masks.end()) {
        masks.push_back(g.present_mask);
      }
    }
  }
  return masks;
}

const GroupMetrics* find_group(const ModelReport& m, uint32_t mask) {
  for (const GroupMetrics& g : m.evaluation.subgroups) {
    if (g.present_mask == mask) return &g;
  }
  return nullptr;
}

std::string subgroups_section(const Report& r) {
  const std::vector<uint32_t> masks = subgroup_masks(r);
  std::string out =
      "<section id=\"subgroups\"><h2>By modality availability</h2><p class=\"hint\">Ticks grouped "
      "by the set of modalities present when they were scored. Small subgroups have wide "
      "intervals; a dot without whiskers had too few patients for a bootstrap (positive or "
      "negative ticks from fewer than two patients).</p>";
  if (masks.empty() || r.models.empty()) return out + "<p>No subgroups.</p></section>";
  svg::BarChart roc;
  roc.title = "AUROC by subgroup";
  roc.style = svg::BarStyle::dot;
  roc.reference = 0.5;
  svg::BarChart pr;
  pr.title = "AUPRC by subgroup";
  pr.style = svg::BarStyle::dot;
  pr.reference = svg::kNone;
  double roc_min = 0.5;
  double pr_max = 0.1;
  for (std::size_t i = 0; i < r.models.size(); ++i) {
    roc.series_names.push_back(r.models[i].info.name);
    pr.series_names.push_back(r.models[i].info.name);
  }
  for (const uint32_t mask : masks) {
    svg::BarRow roc_row;
    const GroupMetrics* first = find_group(r.models.front(), mask);
    roc_row.label = subgroup_name(mask, r.meta.modalities) +
                    (first ? " (" + count(first->ticks) + ")" : std::string());
    svg::BarRow pr_row = roc_row;
    for (const ModelReport& m : r.models) {
      const GroupMetrics* g = find_group(m, mask);
      const Discrimination d = g ? g->discrimination : Discrimination{};
      roc_row.values.push_back(d.auroc);
      roc_row.lo.push_back(d.auroc_ci.lo);
      roc_row.hi.push_back(d.auroc_ci.hi);
      pr_row.values.push_back(d.auprc);
      pr_row.lo.push_back(d.auprc_ci.lo);
      pr_row.hi.push_back(d.auprc_ci.hi);
      for (const double v : {d.auroc, d.auroc_ci.lo}) {
        if (!std::isnan(v)) roc_min = std::min(roc_min, v);
      }
      for (const double v : {d.auprc, d.auprc_ci.hi}) {
        if (!std::isnan(v)) pr_max = std::max(pr_max, v);
      }
    }
    roc.rows.push_back(roc_row);
    pr.rows.push_back(pr_row);
  }
  roc.width = 560;
  pr.width = 560;
  roc.value = {"AUROC (95% CI)", std::floor(roc_min * 10) / 10, 1, ""};
  pr.value = {"AUPRC (95% CI)", 0, std::min(1.0, std::ceil(pr_max * 10) / 10), ""};
  out += "<div class=\"charts\">";
  out += figure("AUROC by subgroup (ticks in brackets)", svg::bar_chart(roc));
  out += figure("AUPRC by subgroup", svg::bar_chart(pr));
  out += "</div>";
  for (std::size_t i = 0; i < r.models.size(); ++i) {
    const ModelReport& m = r.models[i];
    out += fmt::format("<h3>{}{}</h3>", swatch(i), escape(m.info.name));
    Table t({"Subgroup", "Ticks", "Patients", "Positive patients", "Prevalence", "AUROC (95% CI)",
             "AUPRC (95% CI)", "Brier", "ECE", "Sensitivity", "PPV", "Alerts / patient-day"});
    const auto add = [&](const GroupMetrics& g) {
      const AlertPolicy* a = headline_policy(g);
      t.row({escape(subgroup_name(g.present_mask, r.meta.modalities)), count(g.ticks),
             count(g.patients), count(g.positive_patients), fixed(g.prevalence, 3),
             with_ci(g.discrimination.auroc, g.discrimination.auroc_ci),
             with_ci(g.discrimination.auprc, g.discrimination.auprc_ci),
             fixed(g.calibration.brier, 3), fixed(g.calibration.ece, 3),
             a ? fixed(a->sensitivity, 3) : "\u2013", a ? fixed(a->ppv, 3) : "\u2013",
             a ? fixed(a->alerts_per_patient_day, 2) : "\u2013"});
    };
    for (const GroupMetrics& g : m.evaluation.subgroups) add(g);
    add(m.evaluation.overall);
    out += t.done();
  }
  out += "</section>";
  return out;
}

// The factor of the report's delay stress test, if it ran one.
std::optional<double> delay_factor(const Report& r) {
  for (const ModelReport& m : r.models) {
    for (const StressResult& s : m.stress) {
      if (s.kind == StressKind::delay_scale) return s.delay_factor;
    }
  }
  return std::nullopt;
}

// "doubled", "halved", "multiplied by 3".
std::string scaled(double factor) {
  if (factor == 2) return "doubled";
  if (factor == 0.5) return "halved";
  return fmt::format("multiplied by {:g}", factor);
}

std::string stress_section(const Report& r) {
  const std::optional<double> factor = delay_factor(r);
  std::string out = fmt::format(
      "<section id=\"stress\"><h2>Stress tests</h2><p class=\"hint\">Each model rescored with one "
      "modality masked (never present){}. Bars show the change against the unmasked run "
      "(negative: worse); whiskers are 95% paired-bootstrap intervals over patients.</p>",
      factor ? " and with every arrival delay " + scaled(*factor) : "");
  bool any = false;
  svg::BarChart chart;
  chart.title = "Change in AUROC and AUPRC under stress";
  chart.series_names = {"\u0394 AUROC", "\u0394 AUPRC"};
  chart.series_colours = {5, 4};
  double lo = 0;
  double hi = 0;
  Table t({"Model", "Test", "AUROC", "\u0394 AUROC (95% CI)", "AUPRC", "\u0394 AUPRC (95% CI)"});
  for (std::size_t i = 0; i < r.models.size(); ++i) {
    const ModelReport& m = r.models[i];
    for (const StressResult& s : m.stress) {
      any = true;
      const StressComparison& c = s.comparison;
      svg::BarRow row;
      row.group = m.info.name;
      row.label = stress_name(s);
      row.values = {c.auroc.delta, c.auprc.delta};
      row.lo = {c.auroc.delta_ci.lo, c.auprc.delta_ci.lo};
      row.hi = {c.auroc.delta_ci.hi, c.auprc.delta_ci.hi};
      for (const double v : {c.auroc.delta, c.auprc.delta, c.auroc.delta_ci.lo, c.auprc.delta_ci.lo,
                             c.auroc.delta_ci.hi, c.auprc.delta_ci.hi}) {
        if (std::isnan(v)) continue;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      chart.rows.push_back(row);
      const auto delta_ci = [](const Delta& d) {
        if (std::isnan(d.delta_ci.lo)) return signed3(d.delta);
        return fmt::format("{}<span class=\"ci\">{} to {}</span>", signed3(d.delta),
                           signed3(d.delta_ci.lo), signed3(d.delta_ci.hi));
      };
      t.row({swatch(i) + escape(m.info.name), escape(stress_name(s)), fixed(c.auroc.stressed, 3),
             delta_ci(c.auroc), fixed(c.auprc.stressed, 3), delta_ci(c.auprc)});
    }
  }
  if (!any) return out + "<p>No stress tests were run.</p></section>";
  // Round the value axis out to a tick step, at least +-0.02.
  const double span = std::max({hi - lo, 0.04});
  const std::vector<double> ticks = svg::nice_ticks(lo, hi > lo ? hi : lo + span, 6);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 0.01;
  chart.value = {"Change against the unmasked run",
                 std::floor(lo / step) * step - (lo < 0 ? 0 : step),
                 std::ceil(hi / step) * step + (hi > 0 ? 0 : step), ""};
  if (chart.value.min > -step) chart.value.min = std::min(chart.value.min, -step);
  if (chart.value.max < step) chart.value.max = std::max(chart.value.max, step);
  out += figure("Degradation under stress", svg::bar_chart(chart));
  out += t.done();
  out += "</section>";
  return out;
}

std::string timelines_section(const Report& r) {
  std::string out =
      "<section id=\"timelines\"><h2>Sample timelines</h2><p class=\"hint\">One patient per "
      "subgroup (preferring one with an outcome): the events of each modality, each model's risk, "
      "its alert threshold (dashed) and alerts (triangles), the outcome and the horizon before "
      "it (shaded).</p>";
  if (r.timelines.empty()) return out + "<p>No timelines.</p></section>";
  out += "<div class=\"charts wide\">";
  for (const Timeline& tl : r.timelines) {
    const auto hours = [&](int64_t t) { return static_cast<double>(t - tl.start_ms) / kMsPerHour; };
    svg::TimelineChart chart;
    svg::LineChart& plot = chart.plot;
    plot.title = "Timeline: " + subgroup_name(tl.present_mask, r.meta.modalities);
    plot.x = {"Hours since the start of the window", 0, std::max(hours(tl.end_ms), 1e-3), ""};
    plot.y = {"Risk", 0, 1, ""};
    plot.plot_height = 170;
    plot.width = 640;
    for (const ModalityEvents& e : tl.events) {
      svg::Lane lane;
      lane.label = e.modality;
      lane.colour = 6;
      for (const int64_t t : thin_times(e.times_ms, kLanePoints)) lane.x.push_back(hours(t));
      chart.lanes.push_back(lane);
    }
    std::string thresholds;
    for (const RiskTrace& trace : tl.traces) {
      std::size_t idx = 0;
      while (idx < r.models.size() && r.models[idx].info.name != trace.model) ++idx;
      svg::Series s;
      s.name = trace.model;
      s.colour = idx;
      for (const TimePoint& p : trace.risk) s.points.push_back({hours(p.time_ms), p.value});
      plot.series.push_back(s);
      if (!std::isnan(trace.threshold)) {
        plot.ref_lines.push_back({false, trace.threshold, "", svg::colour(idx), true});
        thresholds +=
            (thresholds.empty() ? "" : ", ") + trace.model + " " + threshold_text(trace.threshold);
      }
      for (const int64_t t : trace.alert_times_ms)
        plot.markers.push_back({{hours(t), trace.threshold}, idx});
    }
    std::string note = tl.patient;
    if (tl.outcome_time_ms != kNoOutcome) {
      const double at = hours(tl.outcome_time_ms);
      plot.bands.push_back({hours(tl.outcome_time_ms - tl.horizon_ms), at, "horizon"});
      plot.ref_lines.push_back({true, at, "outcome", "#b00020", false});
      note += " \u00b7 outcome at " + fixed(at, 1) + " h";
    } else {
      note += " \u00b7 no outcome";
    }
    if (!thresholds.empty()) note += " \u00b7 alert thresholds: " + thresholds;
    out +=
        figure(subgroup_name(tl.present_mask, r.meta.modalities), svg::timeline_chart(chart), note);
  }
  out += "</div></section>";
  return out;
}

std::string reading_section(const Report& r) {
  const std::optional<double> factor = delay_factor(r);
  const std::string stress =
      factor ? "a modality masked or every arrival delay " + scaled(*factor) : "a modality masked";
  return R"html(<section id="reading"><h2>How to read this page</h2><dl class="meta small">
<dt>Tick</dt><dd>One score of one patient at one time; labels are positive when the patient's first outcome follows within the horizon. Ticks at or after the outcome are left out.</dd>
<dt>AUROC</dt><dd>Probability that a positive tick scores above a negative one (ties count half). 0.5 is chance.</dd>
<dt>AUPRC</dt><dd>Average precision: precision averaged over the recall steps of every distinct threshold. Chance level is the prevalence.</dd>
<dt>95% CI</dt><dd>Percentile bootstrap over patients: patients are resampled with replacement and all their ticks come along, so correlated ticks of one patient do not narrow the interval.</dd>
<dt>Brier</dt><dd>Mean squared difference between risk and label (lower is better).</dd>
<dt>ECE</dt><dd>Expected calibration error over 10 equal-width risk bins: the tick-weighted mean gap between mean risk and observed positive fraction.</dd>
<dt>Alerts</dt><dd>Rising edges into risk &#8805; threshold; per patient-day of scored time (each tick stands for the time to the next tick, at most one scoring interval).</dd>
<dt>Sensitivity</dt><dd>Patients with an outcome (and a tick inside the horizon before it) who were in the alert state on one of those ticks.</dd>
<dt>PPV</dt><dd>Alerts followed by the outcome within the horizon, over all alerts.</dd>
<dt>Lead time</dt><dd>From the first alerting tick inside the horizon to the outcome; the median over detected patients.</dd>
<dt>Stress tests</dt><dd>The same history rescored with )html" +
         stress + R"html(; the change is stressed minus baseline.</dd>
</dl></section>)html";
}

}  // namespace

std::string report_html(const Report& report) {
  std::string body = header(report);
  body += "<main>";
  body += summary_section(report);
  body += curves_section(report);
  body += alerts_section(report);
  body += subgroups_section(report);
  body += stress_section(report);
  body += timelines_section(report);
  body += run_section(report);
  body += reading_section(report);
  body += "</main>";
  return svg::page(report.meta.title, body);
}

}  // namespace tfe::report
