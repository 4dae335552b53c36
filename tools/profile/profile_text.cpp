// The terminal summary of a deployment profile: one table per axis, the decision matrix, the
// recommendation.

#include <fmt/format.h>

#include "tools/profile/format.h"
#include "tools/profile/profile.h"
#include "tools/report/report.h"

namespace tfe::profile {

using detail::human_ms;
using detail::num;

std::string profile_table(const DeploymentProfile& p) {
  std::string out;
  const auto line = [&out](std::string_view text) {
    out += text;
    out += '\n';
  };
  line(fmt::format(
      "profile: {} patients ({} with an outcome), {} events, {} ticks every {}, label horizon {}",
      p.patients, p.outcome_patients, p.events, p.availability.ticks,
      human_ms(static_cast<double>(p.tick_cadence_ms)),
      human_ms(static_cast<double>(p.horizon_ms))));
  line("");
  line(fmt::format("{:<34} {:>10} {:>10}", "availability", "ticks", "patients"));
  for (const ModalityAvailability& m : p.availability.modalities) {
    line(fmt::format("  {:<32} {:>10} {:>10}", m.name, num(m.tick_share), num(m.patient_share)));
  }
  line(fmt::format("{:<34} {:>10} {:>10}", "availability subgroups", "ticks", "patients"));
  std::size_t shown = 0;
  for (const Subgroup& g : p.availability.subgroups) {
    if (++shown > 8) break;
    line(fmt::format("  {:<32} {:>10} {:>10}", report::subgroup_name(g.present_mask, p.modalities),
                     num(g.share), g.patients));
  }
  line("");
  line(fmt::format("{:<20} {:>6} {:>9} {:>10} {:>7}", "dimensionality", "raw", "features",
                   "effective", "sample"));
  for (const ModalityDimension& d : p.dimensionality.modalities) {
    line(fmt::format("  {:<18} {:>6} {:>9} {:>10} {:>7}", d.name, d.raw_dim, d.feature_dim,
                     d.effective_dim, d.sample));
  }
  line(fmt::format("  largest / smallest effective dimension: {}", num(p.dimensionality.ratio, 1)));
  line("");
  line(fmt::format("{:<14} {:>30} {:>18} {:>6}  {}", "temporal", "inter-arrival median/p90 (cv)",
                   "delay median/p90", "AUROC", "AUROC by age bucket (spread)"));
  for (const ModalityTiming& t : p.temporal.modalities) {
    std::string buckets;
    for (const AgeBucket& b : t.buckets) {
      buckets += fmt::format("{}{}: {}", buckets.empty() ? "" : ", ", detail::bucket_label(b),
                             num(b.auroc));
    }
    line(fmt::format("  {:<12} {:>30} {:>18} {:>6}  {} ({})", t.name,
                     fmt::format("{} / {} ({})", human_ms(t.inter_arrival.median_ms),
                                 human_ms(t.inter_arrival.p90_ms), num(t.inter_arrival.cv, 1)),
                     fmt::format("{} / {}", human_ms(t.delay.median_ms), human_ms(t.delay.p90_ms)),
                     num(t.auroc), buckets, num(t.auroc_spread)));
  }
  line(fmt::format("{:<30} {:>8} {:>8} {:>9} {:>9} {:>7}", "interaction (test ticks)", "single a",
                   "single b", "additive", "gated", "gain"));
  for (const PairInteraction& q : p.temporal.pairs) {
    line(fmt::format("  {:<28} {:>8} {:>8} {:>9} {:>9} {:>7}",
                     fmt::format("{} x {}", p.modalities[q.a], p.modalities[q.b]),
                     num(q.auroc_a, 3), num(q.auroc_b, 3), num(q.auroc_additive, 3),
                     num(q.auroc_interaction, 3), num(q.gain, 3)));
  }
  line("");
  const Recommendation& r = p.recommendation;
  line("decision matrix (rows in precedence order; the first that holds fires)");
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    const DecisionRow& row = r.rows[i];
    std::string conds;
    for (const Condition& c : row.conditions) {
      conds += fmt::format("{}{} [{}]", conds.empty() ? "" : "; ", detail::condition_text(c),
                           c.met ? "yes" : "no");
    }
    line(fmt::format("  {} {:<52} -> {:<12} {}", i == r.fired ? "=>" : (row.holds ? " +" : "  "),
                     row.row, to_string(row.strategy), conds));
  }
  line("");
  line(
      fmt::format("recommendation: {} fusion, confidence {} ({}, {} bootstrap replicates over "
                  "patients)",
                  to_string(r.strategy), detail::confidence_num(r.confidence), r.confidence_label,
                  r.replicates));
  line(fmt::format("  {}", r.summary));
  if (p.bakeoff) {
    const Bakeoff& b = *p.bakeoff;
    line("");
    line(fmt::format(
        "bake-off: {} test patients{}", b.test_patients,
        b.folds >= 2 ? fmt::format(" in {} folds (figures: means over the folds)", b.folds) : ""));
    line(fmt::format("  {:<30} {:>6} {:>7} {:>15} {:>15} {:>15}  {}", "strategy", "AUROC", "AUPRC",
                     "weighted AUROC", "weighted AUPRC", "training AUROC",
                     "worst stress (AUROC change)"));
    for (const BakeoffEntry& e : b.entries) {
      const BakeoffStress* worst = nullptr;
      for (const BakeoffStress& st : e.stress) {
        if (!std::isnan(st.auroc_delta) &&
            (worst == nullptr || st.auroc_delta < worst->auroc_delta)) {
          worst = &st;
        }
      }
      line(
          fmt::format("  {:<30} {:>6} {:>7} {:>15} {:>15} {:>15}  {}", to_string(e.strategy),
                      num(e.auroc, 3), num(e.auprc, 3), num(e.weighted_auroc, 3),
                      num(e.weighted_auprc, 3), num(e.training_test_auroc, 3),
                      worst ? fmt::format("{} {}", worst->name, num(worst->auroc_delta, 3)) : "-"));
    }
    line(fmt::format("bake-off: {}", b.verdict));
  }
  return out;
}

}  // namespace tfe::profile
