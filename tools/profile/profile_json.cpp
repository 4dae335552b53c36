// profile.json: the whole profile, keys in a fixed order, numbers with fixed precision
// (tools/report/json_writer.h).

#include "tools/profile/profile.h"
#include "tools/report/json_writer.h"
#include "tools/report/report.h"

namespace tfe::profile {
namespace {

using report::JsonWriter;

void distribution(JsonWriter& w, const Distribution& d) {
  w.begin_object();
  w.key("count").value(d.count);
  w.key("negative").value(d.negative);
  w.key("median_ms").number(d.median_ms);
  w.key("p90_ms").number(d.p90_ms);
  w.key("cv").number(d.cv);
  w.key("log10_ms_edges").begin_array(true);
  for (const double e : d.log10_edges) w.number(e);
  w.end_array();
  w.key("counts").begin_array(true);
  for (const double c : d.counts) w.number(c, 12);
  w.end_array();
  w.end_object();
}

}  // namespace

std::string profile_json(const DeploymentProfile& p) {
  JsonWriter w;
  w.begin_object();
  w.key("format").value("tfe-profile");
  w.key("version").value(1);
  w.key("histories").begin_array();
  for (const std::string& h : p.histories) w.value(h);
  w.end_array();
  w.key("modalities").begin_array(true);
  for (const std::string& m : p.modalities) w.value(m);
  w.end_array();
  w.key("events").value(p.events);
  w.key("patients").value(p.patients);
  w.key("outcome_patients").value(p.outcome_patients);
  w.key("horizon_ms").value(p.horizon_ms);
  w.key("tick_cadence_ms").value(p.tick_cadence_ms);

  const Thresholds& t = p.thresholds;
  w.key("thresholds").begin_object();
  w.key("min_patients").value(t.min_patients);
  w.key("min_outcome_patients").value(t.min_outcome_patients);
  w.key("missing_availability").number(t.missing_availability);
  w.key("timing_auroc_spread").number(t.timing_auroc_spread);
  w.key("interaction_auroc_gain").number(t.interaction_auroc_gain);
  w.key("early_availability").number(t.early_availability);
  w.key("early_max_patients").value(t.early_max_patients);
  w.key("dimension_ratio").number(t.dimension_ratio);
  w.end_object();

  const Availability& av = p.availability;
  w.key("availability").begin_object();
  w.key("ticks").value(av.ticks);
  w.key("patients").value(av.patients);
  w.key("modalities").begin_array();
  for (const ModalityAvailability& m : av.modalities) {
    w.begin_object();
    w.key("name").value(m.name);
    w.key("tick_share").number(m.tick_share);
    w.key("patient_share").number(m.patient_share);
    w.end_object();
  }
  w.end_array();
  w.key("subgroups").begin_array();
  for (const Subgroup& g : av.subgroups) {
    w.begin_object();
    w.key("present_mask").value(g.present_mask);
    w.key("name").value(report::subgroup_name(g.present_mask, p.modalities));
    w.key("ticks").value(g.ticks);
    w.key("share").number(g.share);
    w.key("patients").value(g.patients);
    w.end_object();
  }
  w.end_array();
  w.key("over_stay").begin_array();
  for (const StayBin& b : av.over_stay) {
    w.begin_object();
    w.key("from_ms").value(b.from_ms);
    if (b.to_ms == std::numeric_limits<int64_t>::max()) {
      w.key("to_ms").null();
    } else {
      w.key("to_ms").value(b.to_ms);
    }
    w.key("ticks").value(b.ticks);
    w.key("share").begin_array(true);
    for (const double s : b.share) w.number(s);
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.end_object();

  w.key("dimensionality").begin_object();
  w.key("modalities").begin_array();
  for (const ModalityDimension& d : p.dimensionality.modalities) {
    w.begin_object();
    w.key("name").value(d.name);
    w.key("kind").value(d.kind);
    w.key("raw_dim").value(d.raw_dim);
    w.key("feature_dim").value(d.feature_dim);
    w.key("effective_dim").value(d.effective_dim);
    w.key("sample").value(d.sample);
    w.end_object();
  }
  w.end_array();
  w.key("ratio").number(p.dimensionality.ratio);
  w.end_object();

  const Temporal& tm = p.temporal;
  w.key("temporal").begin_object();
  w.key("sample_ticks").value(tm.sample_ticks);
  w.key("train_patients").value(tm.train_patients);
  w.key("test_patients").value(tm.test_patients);
  w.key("max_auroc_spread").number(tm.max_auroc_spread);
  w.key("max_interaction_gain").number(tm.max_interaction_gain);
  w.key("interaction_gain_lo").number(tm.interaction_gain_lo);
  w.key("modalities").begin_array();
  for (const ModalityTiming& m : tm.modalities) {
    w.begin_object();
    w.key("name").value(m.name);
    w.key("inter_arrival");
    distribution(w, m.inter_arrival);
    w.key("delay");
    distribution(w, m.delay);
    w.key("auroc").number(m.auroc);
    w.key("age_buckets").begin_array();
    for (const AgeBucket& b : m.buckets) {
      w.begin_object();
      w.key("from_ms").value(b.from_ms);
      w.key("to_ms").value(b.to_ms);
      w.key("ticks").value(b.ticks);
      w.key("positives").value(b.positives);
      w.key("auroc").number(b.auroc);
      w.end_object();
    }
    w.end_array();
    w.key("auroc_spread").number(m.auroc_spread);
    w.end_object();
  }
  w.end_array();
  w.key("pairs").begin_array();
  for (const PairInteraction& q : tm.pairs) {
    w.begin_object();
    w.key("a").value(p.modalities[q.a]);
    w.key("b").value(p.modalities[q.b]);
    w.key("gated").value(p.modalities[q.gated]);
    w.key("test_ticks").value(q.test_ticks);
    w.key("auroc_a").number(q.auroc_a);
    w.key("auroc_b").number(q.auroc_b);
    w.key("auroc_additive").number(q.auroc_additive);
    w.key("auroc_interaction").number(q.auroc_interaction);
    w.key("gain").number(q.gain);
    w.end_object();
  }
  w.end_array();
  w.end_object();

  const Recommendation& r = p.recommendation;
  w.key("recommendation").begin_object();
  w.key("strategy").value(to_string(r.strategy));
  w.key("row").value(r.rows[r.fired].row);
  w.key("confidence").number(r.confidence);
  w.key("confidence_label").value(r.confidence_label);
  w.key("replicates").value(r.replicates);
  w.key("summary").value(r.summary);
  w.key("rows").begin_array();
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    const DecisionRow& row = r.rows[i];
    w.begin_object();
    w.key("row").value(row.row);
    w.key("strategy").value(to_string(row.strategy));
    w.key("holds").value(row.holds);
    w.key("fired").value(i == r.fired);
    w.key("conditions").begin_array();
    for (const Condition& c : row.conditions) {
      w.begin_object();
      w.key("name").value(c.name);
      w.key("comparison").value(c.comparison);
      w.key("value").number(c.value);
      w.key("threshold").number(c.threshold);
      w.key("met").value(c.met);
      if (c.note.empty()) {
        w.key("note").null();
      } else {
        w.key("note").value(c.note);
      }
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  if (p.bakeoff) {
    const Bakeoff& b = *p.bakeoff;
    w.key("bakeoff").begin_object();
    w.key("folds").value(b.folds);
    w.key("test_patients").value(b.test_patients);
    w.key("winner").value(to_string(b.winner));
    w.key("agrees").value(b.agrees);
    w.key("lead").number(b.lead);
    w.key("lead_lo").number(b.lead_lo);
    w.key("lead_hi").number(b.lead_hi);
    w.key("decisive").value(b.decisive);
    w.key("recommended").value(to_string(b.recommended));
    w.key("verdict").value(b.verdict);
    w.key("strategies").begin_array();
    for (const BakeoffEntry& e : b.entries) {
      w.begin_object();
      w.key("strategy").value(to_string(e.strategy));
      w.key("model_ids").begin_array(true);
      for (const std::string& id : e.model_ids) w.value(id);
      w.end_array();
      w.key("auroc").number(e.auroc);
      w.key("auprc").number(e.auprc);
      w.key("weighted_auroc").number(e.weighted_auroc);
      w.key("weighted_auprc").number(e.weighted_auprc);
      w.key("fold_weighted_auroc").begin_array(true);
      for (const double v : e.fold_weighted_auroc) w.number(v);
      w.end_array();
      w.key("training_test_auroc").number(e.training_test_auroc);
      w.key("stress").begin_array();
      for (const BakeoffStress& st : e.stress) {
        w.begin_object();
        w.key("name").value(st.name);
        w.key("auroc_delta").number(st.auroc_delta);
        w.key("auprc_delta").number(st.auprc_delta);
        w.end_object();
      }
      w.end_array();
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_object();
  return w.str();
}

}  // namespace tfe::profile
