// A complete report from a small synthetic cohort: real metrics over made-up scores, so the
// writers and the page can be tested (also in a browser) without a replay.
//
// Cohort: 240 patients over one day, scored every 10 minutes; 20% deteriorate towards an outcome.
// Modalities: wearables (sometimes off the wrist for hours), notes (from the first note on),
// imaging (a third of patients). Three scorers weigh the modalities differently; stress variants
// drop one modality or delay the evidence.

#include <cmath>
#include <random>

#include "tools/report/report.h"

namespace tfe::report {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
constexpr uint32_t kPatients = 240;
constexpr int64_t kCadence = 10 * kMinute;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kHorizon = 6 * kHour;
constexpr uint64_t kSeed = 20240601;

enum Modality : uint32_t { kWearables = 0, kNotes = 1, kImaging = 2 };

struct Patient {
  int64_t outcome_ms = kNoOutcome;
  bool wears = false;
  int64_t off_from_ms = 0;  // wearable off the wrist in [off_from, off_to)
  int64_t off_to_ms = 0;
  bool has_notes = false;
  int64_t first_note_ms = 0;
  bool has_imaging = false;
  int64_t imaging_ms = 0;
};

// Portable draws (the standard distributions differ between libraries).
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
double normal(std::mt19937_64& rng) {
  const double u1 = 1.0 - uniform01(rng);
  const double u2 = uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}
int64_t uniform_ms(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(hi - lo)));
}

std::vector<Patient> make_cohort() {
  std::vector<Patient> cohort(kPatients);
  std::mt19937_64 rng(kSeed);
  for (Patient& p : cohort) {
    if (uniform01(rng) < 0.2) p.outcome_ms = uniform_ms(rng, 5 * kHour, kDay);
    p.wears = uniform01(rng) < 0.85;
    if (uniform01(rng) < 0.5) {
      p.off_from_ms = uniform_ms(rng, 0, 20 * kHour);
      p.off_to_ms = p.off_from_ms + uniform_ms(rng, 2 * kHour, 6 * kHour);
    }
    p.has_notes = uniform01(rng) < 0.9;
    p.first_note_ms = uniform_ms(rng, 0, 14 * kHour);
    p.has_imaging = uniform01(rng) < 0.33;
    p.imaging_ms = uniform_ms(rng, 0, 3 * kHour);
  }
  return cohort;
}

struct Variant {
  int masked = -1;          // modality never present
  double delay_factor = 1;  // evidence (and note arrival) delayed by this factor
};

// Modality weights of the three demo scorers.
constexpr double kWeights[3][3] = {{1.0, 0.0, 0.0}, {1.0, 0.8, 0.5}, {1.15, 0.9, 0.7}};

// Ticks of one scorer under one variant. The per-tick noise depends only on the patient and the
// tick, so the variants of a model differ only by the stress.
std::vector<ScoredTick> make_ticks(const std::vector<Patient>& cohort, int model,
                                   const Variant& variant) {
  std::vector<ScoredTick> ticks;
  const auto ramp = [](const Patient& p, int64_t t) {
    if (p.outcome_ms == kNoOutcome) return 0.0;
    return std::clamp(1.0 - static_cast<double>(p.outcome_ms - t) / (8.0 * kHour), 0.0, 1.0);
  };
  for (uint32_t id = 0; id < cohort.size(); ++id) {
    const Patient& p = cohort[id];
    std::mt19937_64 rng(kSeed ^ (0x9e3779b97f4a7c15ULL * (id + 1)));
    const double frailty = 0.6 * normal(rng);
    const auto note_delay = static_cast<int64_t>(45.0 * kMinute * variant.delay_factor);
    const auto vitals_delay = static_cast<int64_t>(5.0 * kMinute * variant.delay_factor);
    // Slowly varying noise (AR(1), correlation 0.9 per tick), as physiological signals are.
    double noise[3] = {normal(rng), normal(rng), normal(rng)};
    double model_noise = normal(rng);
    constexpr double kKeep = 0.9;
    const double fresh = std::sqrt(1 - kKeep * kKeep);
    for (int64_t t = 0; t < kDay; t += kCadence) {
      for (double& n : noise) n = kKeep * n + fresh * normal(rng);
      model_noise = kKeep * model_noise + fresh * normal(rng);
      bool present[3];
      present[kWearables] = p.wears && !(t >= p.off_from_ms && t < p.off_to_ms);
      present[kNotes] = p.has_notes && t >= p.first_note_ms + note_delay;
      present[kImaging] = p.has_imaging && t >= p.imaging_ms;
      double evidence[3];
      evidence[kWearables] = 2.6 * ramp(p, t - vitals_delay) + 0.7 * noise[0];
      evidence[kNotes] = 1.6 * ramp(p, t - note_delay) + 0.8 * noise[1];
      evidence[kImaging] = (p.outcome_ms != kNoOutcome ? 0.9 : 0.0) + 0.7 * noise[2];
      ScoredTick tick;
      tick.patient = id;
      tick.score_time_ms = t;
      double logit = -3.2 + frailty + 0.45 * model_noise;
      for (uint32_t m = 0; m < 3; ++m) {
        if (static_cast<int>(m) == variant.masked || !present[m]) continue;
        tick.present_mask |= 1u << m;
        logit += kWeights[model][m] * evidence[m];
      }
      tick.risk = 1.0 / (1.0 + std::exp(-logit));
      ticks.push_back(tick);
    }
  }
  return ticks;
}

std::vector<OutcomeEvent> outcomes(const std::vector<Patient>& cohort) {
  std::vector<OutcomeEvent> out;
  for (uint32_t id = 0; id < cohort.size(); ++id) {
    if (cohort[id].outcome_ms != kNoOutcome) out.push_back({id, cohort[id].outcome_ms});
  }
  return out;
}

TickTable table_for(const std::vector<Patient>& cohort, int model, const Variant& variant) {
  // The demo's own data is always valid.
  return build_labels(make_ticks(cohort, model, variant), outcomes(cohort), kPatients, kHorizon,
                      kCadence)
      .value();
}

std::vector<ModalityEvents> events_of(const Patient& p) {
  std::vector<ModalityEvents> lanes{{"wearables", {}}, {"notes", {}}, {"imaging", {}}};
  if (p.wears) {
    for (int64_t t = 0; t < kDay; t += kMinute) {
      if (!(t >= p.off_from_ms && t < p.off_to_ms)) lanes[kWearables].times_ms.push_back(t);
    }
  }
  if (p.has_notes) {
    for (int64_t t = p.first_note_ms; t < kDay; t += 5 * kHour) lanes[kNotes].times_ms.push_back(t);
  }
  if (p.has_imaging) lanes[kImaging].times_ms.push_back(p.imaging_ms);
  return lanes;
}

}  // namespace

Report demo_report() {
  const std::vector<Patient> cohort = make_cohort();
  Report report;
  ReportMeta& meta = report.meta;
  meta.title = "tfe backtest report (synthetic demo)";
  meta.generator = "tfe report demo";
  meta.histories = {"synthetic demo cohort: 240 patients, 1 day"};
  meta.modalities = {"wearables", "notes", "imaging"};
  meta.horizon_ms = kHorizon;
  meta.tick_cadence_ms = kCadence;
  meta.patients = kPatients;
  meta.options.bootstrap_replicates = 100;
  meta.options.seed = 7;
  meta.options.target_alerts_per_patient_day = 3;
  const ModelInfo infos[3] = {{"NEWS2", "news2", ""},
                              {"late fusion", "late", "3f9a1c7e2b6d4a80"},
                              {"attention <x-attn>", "attention", "a41be09c77d21f35"}};
  std::vector<TickTable> tables;
  for (int model = 0; model < 3; ++model) {
    TickTable base = table_for(cohort, model, {});
    ModelReport m;
    m.info = infos[model];
    m.evaluation = evaluate(base, meta.options);
    for (int masked = 0; masked < 3; ++masked) {
      StressResult s;
      s.kind = StressKind::mask_modality;
      s.modality = meta.modalities[masked];
      s.comparison = compare(base, table_for(cohort, model, {masked, 1}), meta.options).value();
      m.stress.push_back(s);
    }
    StressResult delay;
    delay.kind = StressKind::delay_scale;
    delay.delay_factor = 2;
    delay.comparison = compare(base, table_for(cohort, model, {-1, 2}), meta.options).value();
    m.stress.push_back(delay);
    report.models.push_back(std::move(m));
    tables.push_back(std::move(base));
  }
  std::vector<uint32_t> masks;
  for (const GroupMetrics& g : report.models.front().evaluation.subgroups)
    masks.push_back(g.present_mask);
  const std::vector<uint32_t> picked = sample_patients(tables.front(), masks);
  TimelinePatientLabels labels;
  for (std::size_t k = 0; k < masks.size(); ++k) {
    if (picked[k] == UINT32_MAX) continue;
    const uint32_t id = picked[k];
    Timeline t;
    t.present_mask = masks[k];
    t.patient = labels.label(id);
    t.start_ms = 0;
    t.end_ms = kDay;
    t.outcome_time_ms = cohort[id].outcome_ms;
    t.horizon_ms = kHorizon;
    t.events = events_of(cohort[id]);
    for (std::size_t model = 0; model < report.models.size(); ++model) {
      RiskTrace trace =
          risk_trace(tables[model], id, report.models[model].evaluation.alert_rate_threshold);
      trace.model = report.models[model].info.name;
      t.traces.push_back(std::move(trace));
    }
    report.timelines.push_back(std::move(t));
  }
  return report;
}

Result<void> write_demo_report(const std::string& dir) { return write_report(demo_report(), dir); }

}  // namespace tfe::report
