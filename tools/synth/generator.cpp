// The synthetic cohort generator. The model (latent deterioration, vitals, notes, imaging,
// distractors) is documented in docs/synthetic.md; constants here carry their units.
//
// Shape: every patient is an independent simulation with its own random streams. Vitals are made
// lazily, one reading at a time; the sparse events (notes, imaging, the outcome) are planned when
// the patient is set up and sorted by arrival time. A binary heap keyed by (next arrival time,
// patient number) merges the patients, so memory is O(patients) and the work per event is
// O(log patients) with no heap allocation.

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "tools/synth/random.h"
#include "tools/synth/synth.h"

namespace tfe::synth {
namespace {

using detail::mix_seed;
using detail::Rng;

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// Later than any time an event can carry (year 9999 plus the longest profile duration), and far
// enough from kNever that adding a duration to it cannot overflow.
constexpr int64_t kFarMs = 4 * kMaxTimeMs;
// Fixed seed of the "world": vocabulary directions of imaging are the same for every run seed,
// so a model trained on one seed's cohort applies to another's.
constexpr uint64_t kWorldSeed = 0x7fe5'2024'0b5e'11adULL;

constexpr std::size_t kHr = 0, kSpo2 = 1, kRr = 2, kTemp = 3, kSbp = 4, kActivity = 5, kO2 = 6,
                      kAvpu = 7;

// ---- physiology (units: hr beats/min, spo2 %, rr breaths/min, temp degC, sbp mmHg, activity
// index 0..100) ---------------------------------------------------------------------------------
struct ChannelModel {
  double mean;        // population mean at acuity 0
  double acuity;      // shift of the mean per unit of acuity
  double between_sd;  // between-patient sd of the baseline
  double ou_sd;       // stationary sd of the slow within-patient drift
  double noise_sd;    // per-reading measurement noise
  double diurnal;     // peak-to-trough amplitude (low at 04:00, high at 16:00)
  double lo, hi;      // physiological clamp
  double resolution;  // reported resolution
};
constexpr std::array<ChannelModel, 6> kModel{{
    {78, 12, 9, 4.0, 2.5, 8, 25, 220, 1},               // hr
    {97, -1.5, 1.0, 0.6, 0.6, 0, 60, 100, 1},           // spo2
    {15, 3, 1.8, 1.2, 1.0, 1.5, 5, 50, 1},              // rr
    {36.8, 0.2, 0.25, 0.12, 0.05, 0.3, 33, 42.5, 0.1},  // temp
    {125, -6, 14, 5.0, 4.0, 6, 55, 250, 1},             // sbp
    {30, -21, 8, 6.0, 5.0, 0, 0, 100, 0.1},             // activity (diurnal handled as a factor)
}};
constexpr double kDriftTauMs = 30.0 * 60'000;  // OU time constant of the slow drift

// Shift at full deterioration (severity 1, expression 1), per type.
constexpr std::array<std::array<double, 5>, 2> kShift{{
    // hr, spo2, rr, temp, sbp
    {18, -6, 10, 0.3, -6},  // respiratory
    {28, -2, 6, 1.2, -28},  // circulatory (septic)
}};
constexpr double kActivityLoss = 0.3;  // fraction of activity lost at full deterioration
constexpr double kNoiseGain = 0.5;     // hr/rr/spo2 noise grows by this fraction at full severity
// Imaging: a deteriorating patient's studies show underlying pathology (present from before the
// prodrome) with this probability; patients who do not deteriorate show it with kPathologyOther.
constexpr double kPathologyDet = 0.6;
constexpr double kPathologyOther = 0.12;

enum class Phenotype : uint8_t { none, copd, af, hypertension };
enum class SparseKind : uint8_t { note, imaging, outcome };

// ---- vocabulary ----------------------------------------------------------------------------
constexpr std::array<std::string_view, 32> kNeutral{"patient comfortable",
                                                    "observations stable",
                                                    "eating and drinking well",
                                                    "mobilising with assistance",
                                                    "pain well controlled",
                                                    "slept well overnight",
                                                    "family visited this afternoon",
                                                    "plan to continue current management",
                                                    "awaiting physiotherapy review",
                                                    "tolerating oral diet",
                                                    "bowels opened",
                                                    "skin intact",
                                                    "pressure areas checked",
                                                    "medications given as prescribed",
                                                    "cannula site clean",
                                                    "independent with personal care",
                                                    "plan discussed with patient",
                                                    "fluid balance reviewed",
                                                    "awaiting blood results",
                                                    "seen on ward round",
                                                    "mood appropriate",
                                                    "walked to bathroom",
                                                    "wound dressing dry and intact",
                                                    "occupational therapy assessment booked",
                                                    "discharge planning started",
                                                    "no new complaints",
                                                    "routine bloods taken",
                                                    "repositioned in bed",
                                                    "hydration encouraged",
                                                    "analgesia given with effect",
                                                    "chatting with staff",
                                                    "reviewed by pharmacist"};
// Respiratory concern: seen in deterioration and, as distractors, without it; informative only
// together with a rising respiratory rate.
constexpr std::array<std::string_view, 6> kRespiratory{
    "increased work of breathing", "breathless",       "tachypnoeic",
    "using accessory muscles",     "productive cough", "increased oxygen requirement"};
// General concern: seen almost only in deterioration.
constexpr std::array<std::string_view, 8> kGeneral{
    "new confusion",        "drowsy",       "clammy peripheries", "looks unwell",
    "reduced urine output", "mottled skin", "poor oral intake",   "agitated and restless"};
constexpr std::array<std::string_view, 4> kResolved{
    "settled", "improved after treatment", "symptoms resolved", "responding well to treatment"};
constexpr std::array<std::array<std::string_view, 2>, 4> kContext{{
    {"", ""},
    {"known copd", "saturations at usual baseline"},
    {"known atrial fibrillation", "rate controlled"},
    {"known hypertension", "on antihypertensives"},
}};

// Waiting time (ms) to the next event of a Poisson process of `per_day` events a day. A rate the
// loader accepts can be tiny (1e-300): the draw is then held at kFarMs, where a plain conversion
// would overflow int64 (undefined, in practice an episode that starts at once and never ends).
int64_t exponential_ms(Rng& rng, double per_day) {
  const double ms = rng.exponential(static_cast<double>(kDayMs) / per_day);
  return ms < static_cast<double>(kFarMs) ? static_cast<int64_t>(ms) : kFarMs;
}

uint32_t word_count(std::string_view phrase) {
  return static_cast<uint32_t>(std::count(phrase.begin(), phrase.end(), ' ') + 1);
}

struct Sparse {
  int64_t arrival_ms;
  int64_t event_ms;
  uint64_t seed;  // content seed (text or embedding)
  SparseKind kind;
};

struct PatientSim {
  PatientIndex index = 0;
  uint32_t number = 0;
  int64_t admit_ms = 0;
  int64_t begin_ms = 0;  // vitals from here (history start or admission)
  int64_t end_ms = 0;    // stay end within the history (discharge, outcome or history end)

  // Latent deterioration (see docs/synthetic.md).
  bool deteriorates = false;
  int64_t outcome_ms = kNever;
  int64_t onset_ms = kNever;
  int64_t prodrome_ms = 1;
  bool near_miss = false;
  int64_t nm_start_ms = kNever, nm_peak_ms = kNever;
  double nm_level = 0;
  uint8_t type = 0;  // 0 respiratory, 1 circulatory
  double express_vitals = 1, express_text = 1, express_imaging = 1;
  Phenotype phenotype = Phenotype::none;
  bool home_oxygen = false;

  std::array<float, 6> base{};   // baseline per physiological channel
  std::array<float, 6> drift{};  // OU state
  double activity_level = 0;     // awake activity baseline

  Rng rng;  // vitals stream
  int64_t next_t_ms = kNever, next_arrival_ms = kNever, last_t_ms = kNever;
  int64_t latency_ms = 0, upload_phase_ms = 0;
  int64_t gap_start_ms = kNever, gap_end_ms = kNever;
  int64_t ex_start_ms = kNever, ex_end_ms = kNever;
  int64_t tr_start_ms = kNever, tr_end_ms = kNever;
  float tr_scale = 1;

  std::vector<Sparse> sparse;  // by arrival time
  uint32_t next_sparse = 0;
  uint64_t image_base_seed = 0;

  int64_t sparse_arrival_ms = kNever;  // arrival of sparse[next_sparse] (kept here: no pointer
                                       // chase on the hot path)

  int64_t next_key() const { return std::min(next_arrival_ms, sparse_arrival_ms); }
  void update_sparse_arrival() {
    sparse_arrival_ms = next_sparse < sparse.size() ? sparse[next_sparse].arrival_ms : kNever;
  }

  // Latent severity in [0, 1] at time t, as each modality expresses it. Deterioration progress
  // x = (t - onset) / prodrome shows in vitals as x^1.5 (late), in notes as sqrt(x) (clinical
  // worry comes early) and in imaging as x. A near-miss episode (quadratic rise to its level,
  // exponential resolution with the fade constant) shows the same in every modality; the larger
  // of the two counts.
  enum class Curve : uint8_t { vitals, notes, imaging };
  double severity(int64_t t, int64_t fade_ms, Curve curve) const {
    double s = 0;
    if (deteriorates && t > onset_ms) {
      const double x = std::min(1.0, static_cast<double>(t - onset_ms) / prodrome_ms);
      s = curve == Curve::vitals ? x * std::sqrt(x) : (curve == Curve::notes ? std::sqrt(x) : x);
    }
    if (near_miss && t > nm_start_ms) {
      double e;
      if (t <= nm_peak_ms) {
        const double x = static_cast<double>(t - nm_start_ms) / (nm_peak_ms - nm_start_ms);
        e = nm_level * x * x;
      } else {
        const double age = static_cast<double>(t - nm_peak_ms);
        e = age > 8.0 * fade_ms ? 0.0 : nm_level * std::exp(-age / fade_ms);
      }
      s = std::max(s, e);
    }
    return s;
  }
  bool pathology = false;  // imaging shows underlying pathology
};

// Heap order: (arrival - history start) in the high 40 bits, patient number in the low 24, so one
// integer comparison orders by arrival and then patient.
constexpr int kNumberBits = 24;
constexpr uint32_t kMaxPatients = (1u << kNumberBits) - 1;

struct HeapEntry {
  uint64_t order;
  uint32_t slot;  // position in the patients vector
};

}  // namespace

struct Generator::Impl {
  Profile profile;
  GenerateOptions options;
  GenerateStats stats;
  int64_t t0 = 0, t1 = 0;

  ModalityIndex vitals_m = 0;
  int notes_m = -1;    // first text modality, -1: none
  int imaging_m = -1;  // first embedding modality, -1: none
  uint32_t imaging_dim = 0;
  std::array<int, kChannelCount> slot{};  // schema channel per generator channel, -1: absent
  std::array<double, kChannelCount> presence{};

  std::array<float, 1440> day_factor{};  // per minute of the day, 0 at 04:00 .. 1 at 16:00
  double drift_a = 0, drift_b = 0;       // OU step factors at the nominal cadence
  std::vector<float> direction_det, direction_copd;  // [imaging_dim], unit vectors

  std::vector<PatientSim> patients;
  std::vector<HeapEntry> heap;  // min-heap
  Event event;
  uint64_t seq = 0;
  std::vector<std::string_view> phrases;  // scratch for note assembly
  std::vector<float> scratch;             // [imaging_dim]

  void setup(PatientRegistry& registry);
  void setup_patient(PatientSim& p, uint32_t number);
  void plan_sparse(PatientSim& p, Rng& rng);
  void advance_vitals(PatientSim& p);
  bool emit_vitals(PatientSim& p);
  void emit_sparse(PatientSim& p, const Sparse& s);
  void write_note(const PatientSim& p, const Sparse& s);
  void write_image(const PatientSim& p, const Sparse& s);

  int64_t fade_ms() const { return profile.signal.timing_fade_ms; }

  uint64_t order_of(int64_t key, uint32_t number) const {
    return (static_cast<uint64_t>(key - t0) << kNumberBits) | number;
  }

  // Replaces the top with e: the hole goes down to a leaf along the smaller children, then e
  // climbs back. A patient's next arrival usually belongs near the bottom, so this makes about
  // half the comparisons of a classic sift-down, and they are branch-free selections.
  void replace_top(HeapEntry e) {
    const std::size_t n = heap.size();
    std::size_t i = 0;
    for (;;) {
      std::size_t c = 2 * i + 1;
      if (c >= n) break;
      c += static_cast<std::size_t>(c + 1 < n && heap[c + 1].order < heap[c].order);
      heap[i] = heap[c];
      i = c;
    }
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (heap[parent].order <= e.order) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = e;
  }
};

void Generator::Impl::setup(PatientRegistry& registry) {
  const ModalitySchema& schema = profile.engine.schema;
  bool found_vitals = false;
  for (std::size_t i = 0; i < schema.size(); ++i) {
    const auto m = static_cast<ModalityIndex>(i);
    const ModalityKind kind = schema[m].kind;
    if (kind == ModalityKind::vitals && !found_vitals) {
      vitals_m = m;
      found_vitals = true;
    } else if (kind == ModalityKind::text && notes_m < 0) {
      notes_m = static_cast<int>(i);
    } else if (kind == ModalityKind::embedding && imaging_m < 0 && schema[m].dim > 0) {
      imaging_m = static_cast<int>(i);
      imaging_dim = schema[m].dim;
    }
  }
  for (std::size_t c = 0; c < kChannelCount; ++c) {
    auto idx = schema.find_channel(vitals_m, kChannelNames[c]);
    slot[c] = idx ? *idx : -1;
    presence[c] = idx ? profile.vitals.channel_probability[c] : 0.0;
  }

  t0 = profile.start_ms;
  t1 = t0 + static_cast<int64_t>(std::llround(options.days * kDayMs));
  stats.start_ms = t0;
  stats.end_ms = t1;

  for (std::size_t minute = 0; minute < day_factor.size(); ++minute) {
    const double hours = static_cast<double>(minute) / 60.0;
    day_factor[minute] =
        static_cast<float>(0.5 - 0.5 * std::cos(6.283185307179586 * (hours - 4.0) / 24.0));
  }
  drift_a = std::exp(-static_cast<double>(profile.vitals.cadence_ms) / kDriftTauMs);
  drift_b = std::sqrt(1.0 - drift_a * drift_a);

  if (imaging_m >= 0) {
    Rng world(kWorldSeed);
    direction_det.resize(imaging_dim);
    direction_copd.resize(imaging_dim);
    double n1 = 0, dot = 0, n2 = 0;
    for (auto& v : direction_det) v = static_cast<float>(world.normal());
    for (auto& v : direction_copd) v = static_cast<float>(world.normal());
    for (float v : direction_det) n1 += double{v} * v;
    n1 = std::sqrt(n1);
    for (auto& v : direction_det) v = static_cast<float>(v / n1);
    for (std::size_t j = 0; j < imaging_dim; ++j)
      dot += double{direction_det[j]} * direction_copd[j];
    for (std::size_t j = 0; j < imaging_dim; ++j) {
      direction_copd[j] = static_cast<float>(direction_copd[j] - dot * direction_det[j]);
      n2 += double{direction_copd[j]} * direction_copd[j];
    }
    n2 = std::sqrt(n2);
    for (auto& v : direction_copd) v = static_cast<float>(v / n2);
    scratch.resize(imaging_dim);
    event.embedding.reserve(imaging_dim);
  }
  event.text.reserve(512);
  phrases.reserve(64);

  std::vector<PatientSim> planned(options.patients);
  heap.reserve(options.patients);
  for (uint32_t i = 0; i < options.patients; ++i) {
    PatientSim& p = planned[i];
    p.index = registry.intern(patient_id(profile.patient_prefix, i + 1, options.patients));
    setup_patient(p, i);
    const int64_t key = p.next_key();
    if (key != kNever) heap.push_back(HeapEntry{order_of(key, i), i});
  }
  // Memory order follows the first arrival (for regular cadences, the order in which patients
  // recur), so that consecutive events touch neighbouring state. Output order does not depend on
  // it: the heap orders by (key, patient number).
  std::sort(heap.begin(), heap.end(),
            [](const HeapEntry& a, const HeapEntry& b) { return a.order < b.order; });
  patients.reserve(heap.size());
  for (auto& e : heap) {
    const uint32_t number = e.slot;
    e.slot = static_cast<uint32_t>(patients.size());
    patients.push_back(std::move(planned[number]));
  }
  // A sorted array is a valid min-heap.
  stats.patients = options.patients;
}

void Generator::Impl::setup_patient(PatientSim& p, uint32_t number) {
  const Profile& pr = profile;
  p.number = number;
  Rng rng(mix_seed(options.seed, number, 0));  // patient setup and sparse-event plan
  p.rng.reseed(mix_seed(options.seed, number, 1));
  p.image_base_seed = mix_seed(options.seed, number, 2);

  // Stay: log-normal length; the stay overlaps the history window [t0, t1) by construction.
  const double stay = rng.lognormal_clamped(static_cast<double>(pr.stay.median_ms), pr.stay.sigma,
                                            static_cast<double>(pr.stay.clamp.min_ms),
                                            static_cast<double>(pr.stay.clamp.max_ms));
  const auto stay_ms = static_cast<int64_t>(stay);
  p.admit_ms =
      t0 - stay_ms + static_cast<int64_t>(rng.uniform() * static_cast<double>(stay_ms + (t1 - t0)));
  p.begin_ms = std::max(p.admit_ms, t0);
  p.end_ms = std::min(p.admit_ms + stay_ms, t1);
  if (p.end_ms <= p.begin_ms) p.end_ms = p.begin_ms + 1;

  // Phenotype and baselines.
  const double acuity = pr.vitals.acuity;
  if (rng.bernoulli(pr.vitals.chronic_fraction)) {
    const double u = rng.uniform();
    p.phenotype = u < 0.4 ? Phenotype::copd : (u < 0.7 ? Phenotype::af : Phenotype::hypertension);
  }
  for (std::size_t c = 0; c < 6; ++c) {
    const ChannelModel& m = kModel[c];
    p.base[c] = static_cast<float>(rng.normal(m.mean + m.acuity * acuity, m.between_sd));
    p.drift[c] = static_cast<float>(rng.normal(0, m.ou_sd));
  }
  p.base[kSpo2] = std::min(p.base[kSpo2], 99.5f);
  switch (p.phenotype) {
    case Phenotype::copd:
      p.base[kSpo2] = static_cast<float>(rng.normal(90.5, 1.2));
      p.base[kRr] = static_cast<float>(rng.normal(21, 1.5));
      p.home_oxygen = rng.bernoulli(0.5);
      break;
    case Phenotype::af:
      p.base[kHr] = static_cast<float>(rng.normal(106, 8));
      break;
    case Phenotype::hypertension:
      p.base[kSbp] = static_cast<float>(rng.normal(165, 10));
      break;
    case Phenotype::none:
      break;
  }
  p.activity_level = std::max(2.0, static_cast<double>(p.base[kActivity]));

  // Latent processes.
  const int64_t visible = p.end_ms - p.begin_ms;
  p.type = rng.bernoulli(0.6) ? 0 : 1;
  p.express_vitals = rng.uniform(0.3, 1.3) * pr.signal.vitals;
  p.express_text = rng.uniform(0.3, 1.3);
  p.express_imaging = rng.uniform(0.3, 1.3);
  if (rng.bernoulli(pr.deterioration.fraction)) {
    p.deteriorates = true;
    const int64_t lead = std::min<int64_t>(kHourMs, visible / 2);
    p.outcome_ms = p.begin_ms + lead +
                   static_cast<int64_t>(rng.uniform() * static_cast<double>(visible - lead));
    p.outcome_ms = std::clamp(p.outcome_ms, p.begin_ms + 1, p.end_ms);
    p.end_ms = p.outcome_ms;  // the stay on this unit ends with the outcome
    p.prodrome_ms =
        static_cast<int64_t>(rng.uniform(static_cast<double>(pr.deterioration.prodrome.min_ms),
                                         static_cast<double>(pr.deterioration.prodrome.max_ms)));
    p.prodrome_ms = std::max<int64_t>(p.prodrome_ms, 1);
    p.onset_ms = p.outcome_ms - p.prodrome_ms;
    p.pathology = rng.bernoulli(kPathologyDet);
  } else if (rng.bernoulli(pr.deterioration.near_miss_fraction)) {
    p.near_miss = true;
    const auto rise = static_cast<int64_t>(rng.uniform(2.0, 8.0) * kHourMs);
    p.nm_peak_ms = p.begin_ms + static_cast<int64_t>(rng.uniform() * static_cast<double>(visible));
    p.nm_start_ms = p.nm_peak_ms - rise;
    p.nm_level = rng.uniform(0.3, 0.8);
  }
  if (!p.deteriorates) p.pathology = rng.bernoulli(kPathologyOther);

  // Vitals stream.
  const auto& v = pr.vitals;
  p.latency_ms = v.latency.min_ms +
                 static_cast<int64_t>(rng.uniform() *
                                      static_cast<double>(v.latency.max_ms - v.latency.min_ms));
  if (v.upload_interval_ms > 0) {
    p.upload_phase_ms =
        static_cast<int64_t>(rng.uniform() * static_cast<double>(v.upload_interval_ms));
  }
  if (v.device_off_per_day > 0) {
    p.gap_start_ms = p.begin_ms + exponential_ms(rng, v.device_off_per_day);
    p.gap_end_ms = p.gap_start_ms +
                   static_cast<int64_t>(rng.uniform(static_cast<double>(v.device_off.min_ms),
                                                    static_cast<double>(v.device_off.max_ms)));
  }
  if (v.exertion_per_day > 0) {
    p.ex_start_ms = p.begin_ms + exponential_ms(rng, v.exertion_per_day);
    p.ex_end_ms = p.ex_start_ms + static_cast<int64_t>(rng.uniform(5, 20) * 60'000);
  }
  if (v.transient_per_day > 0) {
    p.tr_start_ms = p.begin_ms + exponential_ms(rng, v.transient_per_day);
    p.tr_end_ms = p.tr_start_ms + static_cast<int64_t>(rng.uniform(10, 40) * 60'000);
    p.tr_scale = static_cast<float>(rng.uniform(0.5, 1.0));
  }
  p.next_t_ms =
      p.begin_ms + static_cast<int64_t>(rng.uniform() * static_cast<double>(v.cadence_ms));
  // advance_vitals adds one cadence and up to -jitter back: the first reading is >= begin_ms.
  p.next_t_ms += v.jitter_ms - v.cadence_ms;
  p.next_arrival_ms = kNever;
  p.last_t_ms = kNever;
  advance_vitals(p);

  plan_sparse(p, rng);
}

void Generator::Impl::plan_sparse(PatientSim& p, Rng& rng) {
  const Profile& pr = profile;
  p.sparse.clear();
  auto keep = [&](int64_t event_ms, int64_t arrival_ms, SparseKind kind, uint64_t seed) {
    if (arrival_ms >= t0 && arrival_ms < t1)
      p.sparse.push_back(Sparse{arrival_ms, event_ms, seed, kind});
  };

  // Notes: a Poisson process whose rate grows with severity (thinning), each with a log-normal
  // documentation delay clamped to the profile's bounds. Notes written shortly before the history
  // start that arrive within it are kept.
  if (notes_m >= 0 && rng.bernoulli(pr.notes.patient_fraction)) {
    const double boost = pr.notes.concern_rate_boost;
    const double mean_gap = static_cast<double>(pr.notes.interval_ms) / (1.0 + boost);
    const auto& d = pr.notes.delay;
    int64_t t = std::max(p.admit_ms, t0 - d.max_ms);
    for (;;) {
      t += static_cast<int64_t>(rng.exponential(mean_gap)) + 1;
      if (t >= p.end_ms) break;
      const double accept =
          (1.0 + boost * p.severity(t, fade_ms(), PatientSim::Curve::notes)) / (1.0 + boost);
      if (!rng.bernoulli(accept)) continue;
      const auto delay = static_cast<int64_t>(
          rng.lognormal_clamped(static_cast<double>(pr.notes.delay_median_ms), 0.6,
                                static_cast<double>(d.min_ms), static_cast<double>(d.max_ms)));
      keep(t, t + delay, SparseKind::note, rng.next());
    }
  }

  // Imaging: 0..3 studies over the part of the stay the history covers (the first at its start
  // when at_admission); a deterioration or near-miss episode orders one with on_deterioration.
  if (imaging_m >= 0) {
    const auto& rd = pr.imaging.read_delay;
    const int64_t from = std::max(p.admit_ms, t0 - rd.max_ms);
    const int64_t span = std::max<int64_t>(1, p.end_ms - from);
    const double u = rng.uniform();
    int count = 0;
    double acc = 0;
    for (int k = 0; k < 4; ++k) {
      acc += pr.imaging.count_probability[k];
      if (u >= acc) count = k + 1;
    }
    count = std::min(count, 3);
    std::array<int64_t, 4> times{};
    for (int k = 0; k < count; ++k) {
      times[k] = from + static_cast<int64_t>(rng.uniform() * static_cast<double>(span));
    }
    if (count > 0 && pr.imaging.at_admission) {
      // Admitted within the history: a study in the first hour. Admitted before it: the study
      // current at the history start, taken just early enough to be read within the history.
      times[0] =
          p.admit_ms >= t0
              ? p.admit_ms + static_cast<int64_t>(rng.uniform() *
                                                  static_cast<double>(std::min(span, kHourMs)))
              : t0 - static_cast<int64_t>(rng.uniform() * static_cast<double>(rd.min_ms));
    }
    int64_t episode_end = kNever, episode_start = kNever;
    if (p.deteriorates) {
      episode_start = p.onset_ms + p.prodrome_ms / 3;
      episode_end = p.outcome_ms;
    } else if (p.near_miss) {
      episode_start = p.nm_start_ms + (p.nm_peak_ms - p.nm_start_ms) / 2;
      episode_end = p.nm_peak_ms;
    }
    if (episode_end != kNever && rng.bernoulli(pr.imaging.on_deterioration)) {
      const int64_t lo = std::max(episode_start, from);
      if (lo < episode_end) {
        const int64_t t =
            lo + static_cast<int64_t>(rng.uniform() * static_cast<double>(episode_end - lo));
        if (count < 3) {
          times[count++] = t;
        } else {
          times[2] = t;  // keeps the admission study, replaces a routine one
        }
      }
    }
    for (int k = 0; k < count; ++k) {
      const auto delay = static_cast<int64_t>(
          rng.lognormal_clamped(static_cast<double>(pr.imaging.read_delay_median_ms), 0.6,
                                static_cast<double>(rd.min_ms), static_cast<double>(rd.max_ms)));
      keep(times[k], times[k] + delay, SparseKind::imaging, rng.next());
    }
  }

  std::sort(p.sparse.begin(), p.sparse.end(), [](const Sparse& a, const Sparse& b) {
    if (a.arrival_ms != b.arrival_ms) return a.arrival_ms < b.arrival_ms;
    if (a.event_ms != b.event_ms) return a.event_ms < b.event_ms;
    return a.kind < b.kind;
  });
  // The outcome is known when it happens; it is the patient's last arrival at that instant. Like
  // every event it is emitted only if the history covers it (a stay that ends at the last
  // millisecond of the window puts it at the window's end).
  if (p.deteriorates && p.outcome_ms < t1) {
    const Sparse outcome{p.outcome_ms, p.outcome_ms, 0, SparseKind::outcome};
    auto at = std::upper_bound(
        p.sparse.begin(), p.sparse.end(), outcome,
        [](const Sparse& a, const Sparse& b) { return a.arrival_ms < b.arrival_ms; });
    p.sparse.insert(at, outcome);
  }
  p.sparse.shrink_to_fit();
  p.next_sparse = 0;
  p.update_sparse_arrival();
}

// Moves the vitals stream to its next reading time: cadence plus jitter, skipping device-off
// gaps; done at the end of the stay or when the arrival leaves the history.
void Generator::Impl::advance_vitals(PatientSim& p) {
  const auto& v = profile.vitals;
  int64_t t = p.next_t_ms + v.cadence_ms;
  if (v.jitter_ms > 0) t += p.rng.uniform_int(-v.jitter_ms, v.jitter_ms);
  while (t >= p.gap_start_ms) {
    if (t < p.gap_end_ms)
      t = p.gap_end_ms + static_cast<int64_t>(p.rng.uniform() * static_cast<double>(v.cadence_ms));
    p.gap_start_ms = p.gap_end_ms + exponential_ms(p.rng, v.device_off_per_day);
    p.gap_end_ms = p.gap_start_ms +
                   static_cast<int64_t>(p.rng.uniform(static_cast<double>(v.device_off.min_ms),
                                                      static_cast<double>(v.device_off.max_ms)));
  }
  p.next_t_ms = t;
  if (t >= p.end_ms) {
    p.next_arrival_ms = kNever;
    return;
  }
  int64_t arrival = t + p.latency_ms;
  if (v.upload_interval_ms > 0) {
    // Batched upload: the reading arrives at the next upload instant of this device.
    const int64_t k =
        (arrival - p.upload_phase_ms + v.upload_interval_ms - 1) / v.upload_interval_ms;
    arrival = p.upload_phase_ms + k * v.upload_interval_ms;
  }
  if (p.next_arrival_ms != kNever) arrival = std::max(arrival, p.next_arrival_ms);
  p.next_arrival_ms = arrival < t1 ? arrival : kNever;
}

bool Generator::Impl::emit_vitals(PatientSim& p) {
  const int64_t t = p.next_t_ms;
  Rng& rng = p.rng;

  // Slow drift: exact OU step at the nominal cadence, recomputed after gaps.
  double a = drift_a, b = drift_b;
  if (p.last_t_ms == kNever) {
    a = 0;
    b = 1;
  } else if (t - p.last_t_ms > profile.vitals.cadence_ms + profile.vitals.cadence_ms / 2) {
    a = std::exp(-static_cast<double>(t - p.last_t_ms) / kDriftTauMs);
    b = std::sqrt(1 - a * a);
  }
  p.last_t_ms = t;
  for (std::size_t c = 0; c < 6; ++c) {
    p.drift[c] = static_cast<float>(a * p.drift[c] + b * kModel[c].ou_sd * rng.normal());
  }

  const int64_t ms_of_day = ((t % kDayMs) + kDayMs) % kDayMs;
  const double day = day_factor[static_cast<std::size_t>(ms_of_day / 60'000)];
  const double sv = p.severity(t, fade_ms(), PatientSim::Curve::vitals) * p.express_vitals;

  // Excursions: exertion (activity up, hr/rr follow) while awake, and transient ones (pain,
  // anxiety). Past episodes schedule the next.
  const auto& vp = profile.vitals;
  while (t >= p.ex_end_ms) {
    p.ex_start_ms = p.ex_end_ms + exponential_ms(rng, vp.exertion_per_day);
    p.ex_end_ms = p.ex_start_ms + static_cast<int64_t>(rng.uniform(5, 20) * 60'000);
  }
  while (t >= p.tr_end_ms) {
    p.tr_start_ms = p.tr_end_ms + exponential_ms(rng, vp.transient_per_day);
    p.tr_end_ms = p.tr_start_ms + static_cast<int64_t>(rng.uniform(10, 40) * 60'000);
    p.tr_scale = static_cast<float>(rng.uniform(0.5, 1.0));
  }
  const double ex = (t >= p.ex_start_ms && day > 0.3) ? 1.0 : 0.0;
  const double tr = t >= p.tr_start_ms ? p.tr_scale : 0.0;

  const auto& shift = kShift[p.type];
  std::array<double, 6> x;
  x[kHr] = p.base[kHr] + kModel[kHr].diurnal * (day - 0.5) + shift[0] * sv + 22 * ex + 20 * tr;
  x[kSpo2] =
      p.base[kSpo2] + shift[1] * sv - (p.phenotype == Phenotype::copd ? 3.0 : 1.0) * ex - 2 * tr;
  x[kRr] = p.base[kRr] + kModel[kRr].diurnal * (day - 0.5) + shift[2] * sv + 6 * ex + 5 * tr;
  x[kTemp] = p.base[kTemp] + kModel[kTemp].diurnal * (day - 0.5) + shift[3] * sv;
  x[kSbp] = p.base[kSbp] + kModel[kSbp].diurnal * (day - 0.5) + shift[4] * sv + 12 * ex + 15 * tr;
  x[kActivity] =
      p.activity_level * (0.15 + 0.85 * day) * (1 - kActivityLoss * std::min(1.0, sv)) + 45 * ex;
  const double noise_gain = 1 + kNoiseGain * std::min(1.0, sv);

  VitalsReading& r = event.vitals;
  r.present_mask = 0;
  for (std::size_t c = 0; c < 6; ++c) {
    if (slot[c] < 0 || !rng.bernoulli(presence[c])) continue;
    const ChannelModel& m = kModel[c];
    const double gain = (c == kHr || c == kRr || c == kSpo2) ? noise_gain : 1.0;
    double value = x[c] + p.drift[c] + m.noise_sd * gain * rng.normal();
    value = std::clamp(value, m.lo, m.hi);
    // Values are positive after the clamp: truncation of v + 0.5 rounds half up.
    value = static_cast<double>(static_cast<int64_t>(value / m.resolution + 0.5)) * m.resolution;
    r.values[slot[c]] = static_cast<float>(value);
    r.present_mask |= 1u << slot[c];
  }
  // Supplemental oxygen: home oxygen, or a falling saturation in respiratory deterioration.
  if (slot[kO2] >= 0 && rng.bernoulli(presence[kO2])) {
    const bool oxygen = p.home_oxygen || (p.type == 0 && sv > 0.5);
    r.values[slot[kO2]] = oxygen ? 1.0f : 0.0f;
    r.present_mask |= 1u << slot[kO2];
  }
  // Consciousness: new confusion late in deterioration (0 alert, 1 confused).
  if (slot[kAvpu] >= 0 && rng.bernoulli(presence[kAvpu])) {
    r.values[slot[kAvpu]] = sv > 0.8 ? 1.0f : 0.0f;
    r.present_mask |= 1u << slot[kAvpu];
  }
  if (r.present_mask == 0) return false;  // nothing measured: no reading
  event.modality = vitals_m;
  event.event_time_ms = t;
  event.arrival_time_ms = p.next_arrival_ms;
  event.text.clear();
  event.embedding.clear();
  event.label.clear();
  ++stats.vitals;
  return true;
}

void Generator::Impl::write_note(const PatientSim& p, const Sparse& s) {
  Rng rng(s.seed);
  const Profile& pr = profile;
  const double sev = p.severity(s.event_ms, fade_ms(), PatientSim::Curve::notes);
  phrases.clear();
  uint32_t words = 0;
  auto add = [&](std::string_view phrase) {
    phrases.push_back(phrase);
    words += word_count(phrase);
  };
  // Concern: up to three phrases, each with probability text * expression * severity. For a
  // respiratory course a phrase is respiratory with probability `interaction`, else general; a
  // circulatory course gives general phrases.
  const double p_concern = std::min(0.95, pr.signal.text * p.express_text * sev);
  const double p_respiratory = p.type == 0 ? pr.signal.interaction : 0.0;
  for (int slot_i = 0; slot_i < 3; ++slot_i) {
    if (!rng.bernoulli(p_concern)) continue;
    if (rng.bernoulli(p_respiratory)) {
      add(kRespiratory[rng.uniform_int(0, kRespiratory.size() - 1)]);
    } else {
      add(kGeneral[rng.uniform_int(0, kGeneral.size() - 1)]);
    }
  }
  // Distractor: a respiratory phrase with no deterioration behind it (breathless on a walk,
  // anxious, a cough).
  if (sev < 0.05 && rng.bernoulli(pr.signal.distractor_notes)) {
    add(kRespiratory[rng.uniform_int(0, kRespiratory.size() - 1)]);
  }
  // Resolution of a near-miss episode.
  if (p.near_miss && s.event_ms > p.nm_peak_ms && sev > 0.02 && rng.bernoulli(0.6)) {
    add(kResolved[rng.uniform_int(0, kResolved.size() - 1)]);
  }
  if (p.phenotype != Phenotype::none && rng.bernoulli(0.5)) {
    add(kContext[static_cast<std::size_t>(p.phenotype)][rng.uniform_int(0, 1)]);
  }
  const auto target =
      static_cast<uint32_t>(rng.uniform_int(pr.notes.min_words, pr.notes.max_words));
  while (words < target) {
    std::string_view phrase = kNeutral[rng.uniform_int(0, kNeutral.size() - 1)];
    if (words + word_count(phrase) > pr.notes.max_words) phrase = "reviewed";
    add(phrase);
  }
  // Shuffle the phrases (Fisher-Yates) and join them as short sentences.
  for (std::size_t i = phrases.size(); i > 1; --i) {
    std::swap(phrases[i - 1], phrases[rng.uniform_int(0, static_cast<int64_t>(i) - 1)]);
  }
  std::string& text = event.text;
  text.clear();
  for (std::string_view phrase : phrases) {
    if (!text.empty()) text += ". ";
    text += phrase;
  }
  text += '.';
}

void Generator::Impl::write_image(const PatientSim& p, const Sparse& s) {
  // Embedding = patient baseline (norm ~1, the same for every study of the patient)
  //           + study noise (norm ~0.5)
  //           + imaging * expression * (0.4 * pathology + 0.6 * severity) * deterioration
  //             direction
  //           + 0.8 * copd direction for the COPD phenotype.
  const double inv_sqrt = 1.0 / std::sqrt(static_cast<double>(imaging_dim));
  Rng base(p.image_base_seed);
  Rng noise(s.seed);
  const double det = profile.signal.imaging * p.express_imaging *
                     (0.4 * (p.pathology ? 1.0 : 0.0) +
                      0.6 * p.severity(s.event_ms, fade_ms(), PatientSim::Curve::imaging));
  const double copd = p.phenotype == Phenotype::copd ? 0.8 : 0.0;
  event.embedding.resize(imaging_dim);
  for (std::size_t j = 0; j < imaging_dim; ++j) {
    const double v = inv_sqrt * (base.normal() + 0.5 * noise.normal()) + det * direction_det[j] +
                     copd * direction_copd[j];
    event.embedding[j] = static_cast<float>(v);
  }
}

void Generator::Impl::emit_sparse(PatientSim& p, const Sparse& s) {
  event.event_time_ms = s.event_ms;
  event.arrival_time_ms = s.arrival_ms;
  event.vitals.present_mask = 0;
  event.label.clear();
  event.text.clear();
  event.embedding.clear();
  switch (s.kind) {
    case SparseKind::note:
      event.modality = static_cast<ModalityIndex>(notes_m);
      write_note(p, s);
      ++stats.notes;
      break;
    case SparseKind::imaging:
      event.modality = static_cast<ModalityIndex>(imaging_m);
      write_image(p, s);
      ++stats.imaging;
      break;
    case SparseKind::outcome:
      event.modality = kOutcomeModality;
      event.label = kOutcomeLabel;
      ++stats.outcomes;
      break;
  }
}

Generator::Generator(Key, const Profile& profile, const GenerateOptions& options,
                     PatientRegistry& registry)
    : impl_(std::make_unique<Impl>()) {
  impl_->profile = profile;
  impl_->options = options;
  impl_->setup(registry);
}

Generator::~Generator() = default;

const GenerateStats& Generator::stats() const { return impl_->stats; }

const Event* Generator::next() {
  Impl& g = *impl_;
  while (!g.heap.empty()) {
    PatientSim& p = g.patients[g.heap.front().slot];
    bool emitted;
    const bool sparse_next = p.sparse_arrival_ms < p.next_arrival_ms;  // vitals first on ties
    if (sparse_next) {
      g.emit_sparse(p, p.sparse[p.next_sparse++]);
      p.update_sparse_arrival();
      emitted = true;
    } else {
      emitted = g.emit_vitals(p);
      g.advance_vitals(p);
    }
    if (emitted) g.event.patient = p.index;
    const int64_t key = p.next_key();
    if (key == kNever) {
      const HeapEntry last = g.heap.back();
      g.heap.pop_back();
      if (!g.heap.empty()) g.replace_top(last);
    } else {
      g.replace_top(HeapEntry{g.order_of(key, p.number), g.heap.front().slot});
    }
    // The next patient's state is a likely cache miss: start loading it while the caller works.
    if (!g.heap.empty()) {
      const char* next = reinterpret_cast<const char*>(&g.patients[g.heap.front().slot]);
      for (std::size_t off = 0; off < sizeof(PatientSim); off += 64) __builtin_prefetch(next + off);
    }
    if (emitted) {
      g.event.source_seq = g.seq++;
      ++g.stats.events;
      return &g.event;
    }
  }
  return nullptr;
}

std::string patient_id(std::string_view prefix, uint32_t number, uint32_t patients) {
  // Six digits at least, the width of every cohort of fewer than a million patients.
  const auto width = std::max<std::size_t>(6, std::to_string(patients).size());
  return fmt::format("{}-{:0{}}", prefix, number, width);
}

Result<void> validate_options(const Profile& profile, const GenerateOptions& options) {
  if (options.patients == 0 || options.patients > kMaxPatients) {
    return make_error(Errc::invalid_argument,
                      fmt::format("patients must be in 1..{}", kMaxPatients));
  }
  if (!(options.days > 0) || options.days > kMaxDays) {
    return make_error(Errc::invalid_argument, fmt::format("days must be in (0, {}]", kMaxDays));
  }
  // The window is whole milliseconds: one that rounds to nothing holds no event.
  if (std::llround(options.days * kDayMs) < 1) {
    return make_error(Errc::invalid_argument,
                      fmt::format("days {} is shorter than a millisecond", options.days));
  }
  // A note or study arriving in the window may have been written up to its longest delay before
  // the start; every time must stay in the range events may carry.
  const int64_t lead_ms = std::max(profile.notes.delay.max_ms, profile.imaging.read_delay.max_ms);
  const double end_ms = static_cast<double>(profile.start_ms) + options.days * kDayMs;
  if (profile.start_ms - lead_ms < 0 || end_ms > static_cast<double>(kMaxTimeMs)) {
    return make_error(Errc::invalid_argument,
                      fmt::format("profile '{}' puts events outside 1970..9999 (start, "
                                  "days and the longest documentation delay)",
                                  profile.name));
  }
  bool has_vitals = false;
  for (const auto& spec : profile.engine.schema.specs()) {
    has_vitals |= spec.kind == ModalityKind::vitals;
  }
  if (!has_vitals) {
    return make_error(Errc::config,
                      fmt::format("profile '{}' has no vitals modality", profile.name));
  }
  return ok();
}

Result<std::unique_ptr<Generator>> Generator::create(const Profile& profile,
                                                     const GenerateOptions& options,
                                                     PatientRegistry& registry) {
  auto valid = validate_options(profile, options);
  if (!valid) return valid.error();
  return std::make_unique<Generator>(Key{}, profile, options, registry);
}

Result<GenerateStats> generate(const Profile& profile, const GenerateOptions& options,
                               PatientRegistry& registry, const EventCallback& emit) {
  auto gen = Generator::create(profile, options, registry);
  if (!gen) return gen.error();
  Generator& g = *gen.value();
  while (const Event* e = g.next()) emit(*e);
  return g.stats();
}

}  // namespace tfe::synth
