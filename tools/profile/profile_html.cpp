// profile.html: the deployment profile as one self-contained page in the report's style (the page
// shell and every chart come from tools/report/svg.h), and write_profile.

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "engine/file_writer.h"
#include "tools/profile/format.h"
#include "tools/profile/profile.h"
#include "tools/report/report.h"
#include "tools/report/svg.h"

namespace tfe::profile {
namespace {

using detail::human_ms;
using detail::num;
using report::svg::escape;

std::string table(std::initializer_list<std::string_view> headings,
                  const std::vector<std::vector<std::string>>& rows) {
  std::string html = "<div class=\"table-wrap\"><table><thead><tr>";
  for (const std::string_view h : headings) html += fmt::format("<th>{}</th>", escape(h));
  html += "</tr></thead><tbody>";
  for (const auto& row : rows) {
    html += "<tr>";
    for (const std::string& cell : row) html += "<td>" + cell + "</td>";
    html += "</tr>";
  }
  return html + "</tbody></table></div>";
}

std::string figure(std::string_view caption, const std::string& chart) {
  return fmt::format("<figure><figcaption>{}</figcaption>{}</figure>", escape(caption), chart);
}

std::string header(const DeploymentProfile& p) {
  return fmt::format(
      "<header><div class=\"inner\"><h1>tfe deployment profile</h1><p>{} patients ({} with an "
      "outcome) \u00b7 {} events \u00b7 {} ticks every {} \u00b7 label horizon {}</p><p>"
      "Recommendation: <strong>{} fusion</strong>, confidence {} ({})</p></div></header>",
      p.patients, p.outcome_patients, p.events, p.availability.ticks,
      escape(human_ms(static_cast<double>(p.tick_cadence_ms))),
      escape(human_ms(static_cast<double>(p.horizon_ms))), to_string(p.recommendation.strategy),
      detail::confidence_num(p.recommendation.confidence),
      escape(p.recommendation.confidence_label));
}

std::string recommendation_section(const DeploymentProfile& p) {
  const Recommendation& r = p.recommendation;
  std::string out = fmt::format(
      "<section id=\"recommendation\"><h2>Recommendation</h2><p><strong>{}</strong></p>"
      "<p class=\"hint\">Rows in precedence order: the first whose conditions hold fires (thin "
      "evidence fires on any of its conditions). Confidence: the share of {} bootstrap "
      "replicates over patients in which the same row fires. Thresholds come from "
      "[profile_thresholds] in the config (docs/profile.md).</p>",
      escape(r.summary), r.replicates);
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    const DecisionRow& row = r.rows[i];
    std::string conds;
    for (const Condition& c : row.conditions) {
      conds += fmt::format("{}{} <span class=\"{}\">{}</span>", conds.empty() ? "" : "<br>",
                           escape(detail::condition_text(c)), c.met ? "" : "muted",
                           c.met ? "holds" : "no");
    }
    const std::string mark =
        i == r.fired ? "<strong>fired</strong>" : (row.holds ? "holds" : "\u2013");
    rows.push_back({i == r.fired ? "<strong>" + escape(row.row) + "</strong>" : escape(row.row),
                    escape(to_string(row.strategy)), conds.empty() ? "always" : conds, mark});
  }
  out += table({"Row", "Strategy", "Evidence (value vs threshold)", ""}, rows);
  out += "</section>";
  return out;
}

std::string availability_section(const DeploymentProfile& p) {
  const Availability& av = p.availability;
  std::string out =
      "<section id=\"availability\"><h2>Modality availability</h2><p class=\"hint\">A modality "
      "is present at a tick when its newest event is within its freshness horizon. Subgroups: "
      "the set of modalities present together at a tick.</p>";
  std::vector<std::vector<std::string>> rows;
  for (const ModalityAvailability& m : av.modalities) {
    rows.push_back({escape(m.name), num(m.tick_share, 3), num(m.patient_share, 3)});
  }
  out += table({"Modality", "Share of ticks present", "Share of patients ever present"}, rows);
  rows.clear();
  for (const Subgroup& g : av.subgroups) {
    rows.push_back({escape(report::subgroup_name(g.present_mask, p.modalities)),
                    std::to_string(g.ticks), num(g.share, 3), std::to_string(g.patients)});
  }
  out += table({"Availability subgroup", "Ticks", "Share of ticks", "Patients"}, rows);
  report::svg::Heatmap heat;
  heat.title = "Availability over the stay";
  heat.rows = p.modalities;
  for (const StayBin& b : av.over_stay) heat.cols.push_back(detail::stay_bin_label(b));
  heat.values.assign(heat.rows.size() * heat.cols.size(), report::svg::kNone);
  for (std::size_t c = 0; c < av.over_stay.size(); ++c) {
    for (std::size_t m = 0; m < heat.rows.size(); ++m) {
      heat.values[m * heat.cols.size() + c] = av.over_stay[c].share[m];
    }
  }
  heat.decimals = 2;
  report::svg::BarChart bars;
  bars.title = "Availability subgroups";
  bars.value = {"Share of ticks", 0, 1, ""};
  bars.series_names = {"share of ticks"};
  for (const Subgroup& g : av.subgroups) {
    bars.rows.push_back(
        {"", report::subgroup_name(g.present_mask, p.modalities), {g.share}, {}, {}});
  }
  bars.legend = false;
  out += "<div class=\"charts wide\">";
  out += figure("Share of ticks present, by time since the patient's first tick",
                report::svg::heatmap(heat));
  out += figure("Availability subgroups", report::svg::bar_chart(bars));
  out += "</div></section>";
  return out;
}

std::string dimensionality_section(const DeploymentProfile& p) {
  const Dimensionality& d = p.dimensionality;
  std::string out = fmt::format(
      "<section id=\"dimensionality\"><h2>Dimensionality balance</h2><p class=\"hint\">Effective "
      "dimension: principal components (Eigen) that hold 95% of the variance of the distinct "
      "vectors of the sample's train ticks with the modality present; text and embedding vectors "
      "as encoded, vitals as their channels (mean over the shortest window, standardised). Largest "
      "/ smallest: <strong>{}</strong>.</p>",
      num(d.ratio, 1));
  std::vector<std::vector<std::string>> rows;
  report::svg::BarChart bars;
  bars.title = "Effective dimension";
  bars.series_names = {"effective dimension"};
  double top = 1;
  for (const ModalityDimension& m : d.modalities) {
    rows.push_back({escape(m.name), escape(m.kind), std::to_string(m.raw_dim),
                    std::to_string(m.feature_dim), std::to_string(m.effective_dim),
                    std::to_string(m.sample)});
    bars.rows.push_back({"", m.name, {static_cast<double>(m.effective_dim)}, {}, {}});
    top = std::max(top, static_cast<double>(m.effective_dim));
  }
  bars.value = {"Components for 95% of the variance", 0, top * 1.05, ""};
  bars.legend = false;
  out += table({"Modality", "Kind", "Raw dimension", "Feature dimension", "Effective dimension",
                "Sample (ticks)"},
               rows);
  out += "<div class=\"charts\">" + figure("Effective dimension", report::svg::bar_chart(bars)) +
         "</div></section>";
  return out;
}

report::svg::Histogram distribution_chart(const DeploymentProfile& p, bool delay) {
  report::svg::Histogram h;
  h.title = delay ? "Documentation delay" : "Inter-arrival time";
  h.x = {delay ? "log10 of arrival \u2212 event time (ms): 3 = 1 s, 5 = 1.7 min, 7 = 2.8 h"
               : "log10 of time between arrivals (ms): 3 = 1 s, 5 = 1.7 min, 7 = 2.8 h",
         0, 0, ""};
  h.y = {"Share of events", 0, 0, ""};
  h.decimals = 3;
  for (std::size_t m = 0; m < p.temporal.modalities.size(); ++m) {
    const Distribution& d =
        delay ? p.temporal.modalities[m].delay : p.temporal.modalities[m].inter_arrival;
    if (h.edges.empty()) {
      h.edges = d.log10_edges;
      h.bin_labels =
          detail::log_bin_labels(h.edges, delay ? "0 and negative delays included" : "0 included");
    }
    report::svg::HistogramSeries s;
    s.name = p.temporal.modalities[m].name;
    s.colour = m;
    double total = 0;
    for (const double c : d.counts) total += c;
    for (const double c : d.counts) s.counts.push_back(total > 0 ? c / total : 0);
    h.series.push_back(std::move(s));
  }
  return h;
}

std::string temporal_section(const DeploymentProfile& p) {
  const Temporal& tm = p.temporal;
  std::string out = fmt::format(
      "<section id=\"temporal\"><h2>Temporal dynamics</h2><p class=\"hint\">Inter-arrival: time "
      "between consecutive arrivals of one patient's events of a modality. Delay: arrival time "
      "minus event time. Timing signal: a ridge linear discriminant on each modality's own "
      "features, fitted on {} patients and scored on {} others, evaluated by the "
      "age of the modality at the tick; a large spread between age buckets means the same "
      "features mean different things at different ages. Model sample: {} ticks (positives and "
      "negatives sampled separately). In the histograms the first bar holds every value under "
      "its upper edge, 0 included (and negative delays: a device clock ahead of the source), "
      "and the last every value from its lower edge up.</p>",
      tm.train_patients, tm.test_patients, tm.sample_ticks);
  std::vector<std::vector<std::string>> rows;
  for (const ModalityTiming& t : tm.modalities) {
    std::string buckets;
    for (const AgeBucket& b : t.buckets) {
      buckets += fmt::format("{}{}: {} <span class=\"muted\">({} / {})</span>",
                             buckets.empty() ? "" : "<br>", escape(detail::bucket_label(b)),
                             num(b.auroc, 3), b.positives, b.ticks);
    }
    rows.push_back({escape(t.name), escape(human_ms(t.inter_arrival.median_ms)),
                    escape(human_ms(t.inter_arrival.p90_ms)), num(t.inter_arrival.cv, 2),
                    escape(human_ms(t.delay.median_ms)), escape(human_ms(t.delay.p90_ms)),
                    std::to_string(t.delay.negative), num(t.auroc, 3),
                    buckets.empty() ? "\u2013" : buckets, num(t.auroc_spread, 3)});
  }
  out += table({"Modality", "Inter-arrival median", "p90", "CV", "Delay median", "p90",
                "Negative delays", "AUROC (test)", "AUROC by age (positives / ticks)", "Spread"},
               rows);
  out += "<div class=\"charts\">";
  out += figure("Inter-arrival time", report::svg::histogram(distribution_chart(p, false)));
  out += figure("Documentation delay", report::svg::histogram(distribution_chart(p, true)));
  report::svg::LineChart ages;
  ages.title = "AUROC by age bucket";
  ages.x = {"Age bucket (quantiles of the modality's age)", 0.5, 0.5, ""};
  std::size_t most = 1;
  double lowest = 0.4;  // the axis reaches down to the lowest AUROC, at least to 0.4
  for (std::size_t m = 0; m < tm.modalities.size(); ++m) {
    report::svg::Series s;
    s.name = tm.modalities[m].name;
    s.colour = m;
    s.markers = true;
    for (std::size_t b = 0; b < tm.modalities[m].buckets.size(); ++b) {
      const double a = tm.modalities[m].buckets[b].auroc;
      if (std::isnan(a)) continue;
      s.points.push_back({static_cast<double>(b + 1), a});
      lowest = std::min(lowest, a);
    }
    most = std::max(most, tm.modalities[m].buckets.size());
    ages.series.push_back(std::move(s));
  }
  ages.y = {"AUROC", std::floor(lowest * 10) / 10, 1, ""};
  ages.x.max = static_cast<double>(most) + 0.5;
  ages.ref_lines.push_back({false, 0.5, "chance", "#777", true});
  out += figure("AUROC by age bucket (1 = freshest)", report::svg::line_chart(ages));
  out += "</div>";
  rows.clear();
  for (const PairInteraction& q : tm.pairs) {
    rows.push_back({escape(p.modalities[q.a] + " \u00d7 " + p.modalities[q.b]),
                    std::to_string(q.test_ticks), num(q.auroc_a, 3), num(q.auroc_b, 3),
                    num(q.auroc_additive, 3), num(q.auroc_interaction, 3), num(q.gain, 3)});
  }
  out +=
      "<h3>Interaction</h3><p class=\"hint\">On test ticks with both modalities present: the two "
      "single-modality scores combined by a logistic model (with the stratum: first score above "
      "its median), against the same model where one modality's discriminant is refitted in "
      "each stratum; the gain (the larger of both directions) is the interaction.</p>";
  out += table({"Pair", "Test ticks", "AUROC a", "AUROC b", "Additive", "Gated", "Gain"}, rows);
  out += "</section>";
  return out;
}

std::string bakeoff_section(const DeploymentProfile& p) {
  if (!p.bakeoff) return {};
  const Bakeoff& b = *p.bakeoff;
  std::string out = fmt::format(
      "<section id=\"bakeoff\"><h2>Bake-off</h2><p><strong>{}</strong></p><p class=\"hint\">"
      "All four strategies trained on the same history (patient split and masking as tfe train) "
      "and backtested on its {} test patients{}. Weighted: subgroup metrics weighted by how often "
      "each availability subgroup occurs in this deployment. Stress: change in AUROC with a "
      "modality masked or arrival delays scaled.</p>",
      escape(b.verdict), b.test_patients,
      b.folds >= 2 ? fmt::format(" ({} folds: each patient tested once by models that never saw "
                                 "it; figures are means over the folds)",
                                 b.folds)
                   : "");
  std::vector<std::vector<std::string>> rows;
  for (const BakeoffEntry& e : b.entries) {
    std::string stress;
    for (const BakeoffStress& st : e.stress) {
      stress += fmt::format("{}{} {}", stress.empty() ? "" : "<br>", escape(st.name),
                            num(st.auroc_delta, 3));
    }
    const std::string name = std::string(to_string(e.strategy));
    rows.push_back({e.strategy == b.winner ? "<strong>" + escape(name) + "</strong>" : escape(name),
                    num(e.auroc, 3), num(e.auprc, 3), num(e.weighted_auroc, 3),
                    num(e.weighted_auprc, 3), stress.empty() ? "\u2013" : stress});
  }
  out += table(
      {"Strategy", "AUROC", "AUPRC", "Weighted AUROC", "Weighted AUPRC", "Stress: AUROC change"},
      rows);
  return out + "</section>";
}

std::string run_section(const DeploymentProfile& p) {
  std::string histories;
  for (const std::string& h : p.histories)
    histories += (histories.empty() ? "" : "<br>") + escape(h);
  const Thresholds& t = p.thresholds;
  return fmt::format(
      "<section id=\"run\"><h2>Run</h2><dl class=\"meta\"><dt>History</dt><dd>{}</dd>"
      "<dt>Thresholds</dt><dd>min_patients {}, min_outcome_patients {}, missing_availability {}, "
      "timing_auroc_spread {}, interaction_auroc_gain {}, early_availability {}, "
      "early_max_patients {}, dimension_ratio {}</dd><dt>Written by</dt><dd>tfe profile</dd>"
      "</dl></section>",
      histories.empty() ? "\u2013" : histories, t.min_patients, t.min_outcome_patients,
      num(t.missing_availability, 3), num(t.timing_auroc_spread, 3),
      num(t.interaction_auroc_gain, 3), num(t.early_availability, 3), t.early_max_patients,
      num(t.dimension_ratio, 1));
}

}  // namespace

std::string profile_html(const DeploymentProfile& p) {
  std::string body = header(p);
  body += "<main>";
  body += recommendation_section(p);
  body += bakeoff_section(p);
  body += availability_section(p);
  body += dimensionality_section(p);
  body += temporal_section(p);
  body += run_section(p);
  body += "</main>";
  return report::svg::page("tfe deployment profile", body);
}

namespace {
constexpr const char* kProfileJson = "profile.json";
constexpr const char* kProfileHtml = "profile.html";
}  // namespace

Result<void> write_profile(const DeploymentProfile& p, const std::string& dir) {
  return write_output_files(dir,
                            {{kProfileJson, profile_json(p)}, {kProfileHtml, profile_html(p)}});
}

Result<void> check_profile_directory(const std::string& dir) {
  return check_output_files(dir, {kProfileJson, kProfileHtml});
}

}  // namespace tfe::profile
