#pragma once
// Backtest metrics over scored ticks: discrimination (AUROC, AUPRC) with 95% intervals from a
// bootstrap over patients, calibration (Brier score, expected calibration error, reliability
// diagram), an alert policy (sensitivity, PPV, alerts per patient-day, lead time), and all of these
// per modality-availability subgroup. Every definition is written out in docs/report.md.
//
// Scale: the ticks are sorted by risk once (O(n log n)); each bootstrap replicate then walks the
// sorted order once with patient multiplicities as weights (O(n)); the alert policy is one pass per
// threshold, and the threshold for a target alert rate is found by one sort and one sweep. Nothing
// is quadratic, so millions of ticks take seconds.
//
// Inputs:  a TickTable (scored ticks with labels, each patient's first outcome, the horizon).
// Outputs: an Evaluation (overall and per-subgroup metrics, curves for plotting), or a
//          StressComparison (a stressed run against its baseline, paired by patient).

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/modality.h"
#include "engine/result.h"

namespace tfe::report {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr int64_t kNoOutcome = std::numeric_limits<int64_t>::max();
// Patient indices must stay below this (two bits of a packed word hold the label and a tie flag).
inline constexpr uint32_t kMaxPatients = 1u << 30;
inline constexpr int64_t kMsPerDay = 86'400'000;

// One scored tick as the report sees it (a table holds it as a TickKey and a risk).
struct ScoredTick {
  uint32_t patient = 0;       // dense report-local patient index, < TickTable::n_patients()
  uint16_t present_mask = 0;  // bit m set: modality m was present (fresh) at the tick
  bool label = false;         // positive: the patient's outcome follows within the horizon
  int64_t score_time_ms = 0;
  double risk = 0;  // calibrated probability in [0, 1]
};
static_assert(sizeof(ScoredTick) == 24 && kMaxModalities <= 16);

// An outcome event from the history (only the first per patient counts).
struct OutcomeEvent {
  uint32_t patient = 0;
  int64_t time_ms = 0;
};

// A tick without its risk: what every scorer's table of one run has in common (the same
// patients, times, present modalities and labels), held once and shared by those tables.
struct TickKey {
  uint32_t patient = 0;
  uint16_t present_mask = 0;
  bool label = false;
  int64_t score_time_ms = 0;
};
static_assert(sizeof(TickKey) == 16);

// A table's ticks, read-only, each put together as a ScoredTick.
class TickView {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = ScoredTick;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = ScoredTick;
    iterator() = default;
    iterator(const TickView* view, std::size_t i) : view_(view), i_(i) {}
    ScoredTick operator*() const { return (*view_)[i_]; }
    iterator& operator++() {
      ++i_;
      return *this;
    }
    iterator operator++(int) {
      iterator before = *this;
      ++i_;
      return before;
    }
    bool operator==(const iterator& o) const { return i_ == o.i_; }

   private:
    const TickView* view_ = nullptr;
    std::size_t i_ = 0;
  };

  TickView() = default;
  TickView(std::span<const TickKey> keys, std::span<const double> risk)
      : keys_(keys), risk_(risk) {}
  std::size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  ScoredTick operator[](std::size_t i) const {
    const TickKey& k = keys_[i];
    return {k.patient, k.present_mask, k.label, k.score_time_ms, risk_[i]};
  }
  ScoredTick back() const { return (*this)[size() - 1]; }
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, size()}; }

 private:
  std::span<const TickKey> keys_;
  std::span<const double> risk_;
};

// The input of every metric: ticks sorted by (patient, score_time_ms), labelled. The keys are
// immutable and may be shared with the other scorers' tables of the same run (TickRisks::table):
// a backtest of three models holds them once.
struct TickTable {
  std::shared_ptr<const std::vector<TickKey>> keys;  // null: no ticks
  std::vector<double> risk;                          // [ticks]
  std::vector<int64_t> outcome_time_ms;  // [n_patients]: first outcome, kNoOutcome if none
  int64_t horizon_ms = 0;                // label horizon (the model's training horizon)
  // Observation time one tick stands for at most (the scoring cadence): alerts per patient-day
  // divides by the patient-time covered by ticks (see docs/report.md).
  int64_t tick_cadence_ms = 60'000;

  uint32_t n_patients() const { return static_cast<uint32_t>(outcome_time_ms.size()); }
  std::size_t size() const { return risk.size(); }
  std::span<const TickKey> tick_keys() const {
    return keys ? std::span<const TickKey>(*keys) : std::span<const TickKey>();
  }
  TickView ticks() const { return keys ? TickView(*keys, risk) : TickView(); }
  // A copy of the ticks, risks included.
  std::vector<ScoredTick> scored() const {
    const TickView view = ticks();
    return {view.begin(), view.end()};
  }
};

// Labels ticks from outcome events with a horizon. For each patient the first outcome counts;
// ticks at or after it are dropped (the outcome is then known, nothing is left to predict). A kept
// tick is positive when outcome_time - score_time <= horizon_ms. The input labels are ignored;
// the result is sorted by (patient, score_time_ms). Errors: a patient index >= n_patients, a risk
// that is not a number in [0, 1], horizon or cadence <= 0.
Result<TickTable> build_labels(std::vector<ScoredTick> ticks,
                               std::span<const OutcomeEvent> outcomes, uint32_t n_patients,
                               int64_t horizon_ms, int64_t tick_cadence_ms = 60'000);

// The same over ticks held as keys and risks ([ticks] each, labels ignored): nothing is copied
// into ScoredTicks on the way.
Result<TickTable> build_labels(std::vector<TickKey> keys, std::vector<double> risk,
                               std::span<const OutcomeEvent> outcomes, uint32_t n_patients,
                               int64_t horizon_ms, int64_t tick_cadence_ms = 60'000);

// Takes ticks whose labels are already set (and the first outcome per patient, for the alert
// policy): validates and sorts them. Same errors as build_labels.
Result<TickTable> make_tick_table(std::vector<ScoredTick> ticks,
                                  std::vector<int64_t> outcome_time_ms, int64_t horizon_ms,
                                  int64_t tick_cadence_ms = 60'000);
// The same over keys and risks ([ticks] each), labels as given.
Result<TickTable> make_tick_table(std::vector<TickKey> keys, std::vector<double> risk,
                                  std::vector<int64_t> outcome_time_ms, int64_t horizon_ms,
                                  int64_t tick_cadence_ms = 60'000);

// like's ticks with other risks ([ticks], each in [0, 1]), sharing like's keys: another scorer's
// table of the same run. Errors: a risk count other than like's, a risk outside [0, 1].
Result<TickTable> with_risks(const TickTable& like, std::vector<double> risk);

// ---- plain metrics over a tick set (the exact, unweighted definitions) -------------------------

// Area under the ROC curve: P(risk of a positive > risk of a negative) + 1/2 P(tie), over all
// positive-negative tick pairs. NaN without positives or without negatives.
double auroc(std::span<const double> risk, std::span<const uint8_t> label);
// Average precision (step-wise, no interpolation): sum over distinct thresholds t, from the
// highest, of (recall(t) - recall(previous t)) * precision(t), with ticks at risk >= t flagged.
// NaN without positives.
double average_precision(std::span<const double> risk, std::span<const uint8_t> label);

// ---- evaluation ---------------------------------------------------------------------------------

struct Interval {
  double lo = kNaN;
  double hi = kNaN;
};

// A bootstrap interval needs positive ticks from at least this many patients and negative ticks
// from at least this many: with a class in one patient, resampling patients cannot show how
// patients vary (a lone patient gives a zero-width interval). Fewer: no interval (NaN).
inline constexpr uint32_t kMinIntervalPatients = 2;

struct Discrimination {
  double auroc = kNaN;
  double auprc = kNaN;  // average precision
  Interval auroc_ci;    // bootstrap percentile interval over patients (kMinIntervalPatients)
  Interval auprc_ci;
  uint32_t replicates_used = 0;  // replicates in which the metric was defined (AUROC's count)
};

inline constexpr std::size_t kCalibrationBins = 10;

struct ReliabilityBin {
  double lo = 0;  // risk range [lo, hi) (the last bin includes 1)
  double hi = 0;
  uint64_t ticks = 0;
  double mean_risk = kNaN;  // NaN for an empty bin
  double observed = kNaN;   // fraction of positive ticks
};

struct Calibration {
  double brier = kNaN;  // mean of (risk - label)^2
  double ece = kNaN;    // sum over bins of (ticks_b / ticks) * |mean_risk_b - observed_b|
  std::array<ReliabilityBin, kCalibrationBins> bins{};
};

enum class ThresholdBasis : uint8_t {
  fixed,       // a configured threshold
  alert_rate,  // chosen to give the target alerts per patient-day (overall ticks)
};

struct AlertPolicy {
  double threshold = 0;  // alert state: risk >= threshold
  ThresholdBasis basis = ThresholdBasis::fixed;
  uint64_t alerts = 0;       // rising edges into the alert state
  uint64_t true_alerts = 0;  // alerts on a positive tick (outcome within the horizon)
  double patient_days = 0;
  double alerts_per_patient_day = kNaN;
  double ppv = kNaN;               // true_alerts / alerts
  uint32_t positive_patients = 0;  // patients with a positive tick (in this group)
  uint32_t detected_patients = 0;  // of those, in the alert state on some positive tick
  double sensitivity = kNaN;       // detected_patients / positive_patients
  double median_lead_ms = kNaN;    // outcome time - first alerting positive tick, detected patients
};

// Metrics of one set of ticks: all of them, or one modality-availability subgroup.
struct GroupMetrics {
  static constexpr uint32_t kAllTicks = 0xffffffffu;
  uint32_t present_mask = kAllTicks;  // the subgroup's mask, kAllTicks for the overall group
  uint64_t ticks = 0;
  uint64_t positive_ticks = 0;
  uint32_t patients = 0;           // patients with at least one tick in the group
  uint32_t positive_patients = 0;  // patients with at least one positive tick in the group
  double prevalence = kNaN;        // positive_ticks / ticks
  Discrimination discrimination;
  Calibration calibration;
  std::vector<AlertPolicy> alerts;  // the fixed thresholds in order, then the alert-rate one
};

struct CurvePoint {
  double x = 0;
  double y = 0;
};

struct Curves {
  std::vector<CurvePoint> roc;  // (false positive rate, true positive rate), from (0,0) to (1,1)
  std::vector<CurvePoint> pr;   // (recall, precision) at each distinct threshold, descending
};

// More replicates than this narrow no interval visibly and take hours; a larger count is a typo.
inline constexpr uint32_t kMaxBootstrapReplicates = 100'000;

struct EvaluationOptions {
  uint32_t bootstrap_replicates = 200;  // 0: no intervals; at most kMaxBootstrapReplicates
  uint64_t seed = 1;
  double confidence = 0.95;
  std::vector<double> thresholds{0.1, 0.2, 0.3, 0.5};
  double target_alerts_per_patient_day = 2.0;  // <= 0: no alert-rate threshold
  bool subgroups = true;
  uint32_t curve_points = 300;  // curves are decimated to about this many points
};

struct Evaluation {
  GroupMetrics overall;
  std::vector<GroupMetrics> subgroups;  // by tick count, descending (ties: mask ascending)
  Curves curves;                        // overall ticks
  double alert_rate_threshold = kNaN;   // NaN when no target was asked for
};

class ComparisonBaseline;

// Everything for one scored run. Deterministic for a given table and options. With `prepared`,
// also the table prepared for comparisons (ComparisonBaseline below) from the ranking and
// resamples the evaluation made anyway.
Evaluation evaluate(const TickTable& table, const EvaluationOptions& options,
                    std::optional<ComparisonBaseline>* prepared = nullptr);

// A stressed run (a modality masked, delays doubled, ...) against its baseline. Both tables must
// index the same patients (same n_patients). The interval of each delta comes from a paired
// bootstrap: one patient resample applied to both runs (none unless each run has positive and
// negative ticks from kMinIntervalPatients patients each).
struct Delta {
  double baseline = kNaN;
  double stressed = kNaN;
  double delta = kNaN;  // stressed - baseline
  Interval delta_ci;
};

struct StressComparison {
  Delta auroc;
  Delta auprc;
};

Result<StressComparison> compare(const TickTable& baseline, const TickTable& stressed,
                                 const EvaluationOptions& options);

// A baseline prepared once for several comparisons: its ranking, and its metrics in every bootstrap
// replicate drawn from its own patients. A comparison whose stressed run has no patient the
// baseline lacks (a masked rescoring of the same ticks) then ranks and resamples only the stressed
// run. Results are those of compare(table, stressed, options). The table must outlive it.
class ComparisonBaseline {
 public:
  ComparisonBaseline(const TickTable& table, const EvaluationOptions& options);
  ~ComparisonBaseline();
  ComparisonBaseline(ComparisonBaseline&&) noexcept;
  ComparisonBaseline& operator=(ComparisonBaseline&&) noexcept;

 private:
  struct Impl;
  explicit ComparisonBaseline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend Result<StressComparison> compare(const ComparisonBaseline& baseline,
                                          const TickTable& stressed);
  friend Evaluation evaluate(const TickTable& table, const EvaluationOptions& options,
                             std::optional<ComparisonBaseline>* prepared);
};

Result<StressComparison> compare(const ComparisonBaseline& baseline, const TickTable& stressed);

// ---- helpers shared with the report
// ---------------------------------------------------------------

// The threshold for a target rate of alerts (rising edges) per patient-day: the lowest distinct
// risk value t such that the rate is at most the target at t and at every higher threshold.
// Returns a value above every risk (no alerts) when even the highest risk exceeds the target.
double threshold_for_alert_rate(const TickTable& table, double alerts_per_patient_day);

// The alert policy at one threshold over all ticks.
AlertPolicy alert_policy(const TickTable& table, double threshold);

// One sample patient per subgroup for timelines: among patients with ticks in the subgroup, the
// one with an outcome and the most ticks in it (without any outcome there: the most ticks); ties
// go to the lowest index. [masks.size()], UINT32_MAX where no patient has such ticks.
std::vector<uint32_t> sample_patients(const TickTable& table, std::span<const uint32_t> masks);

// Reduces a polyline to about max_points points (always keeping both ends): a point is kept once
// the path has moved on by total_length / max_points (L1, in the units of the points) since the
// last kept point. Monotone curves such as ROC keep their shape.
std::vector<CurvePoint> decimate(std::span<const CurvePoint> points, uint32_t max_points);

// Portable uniform integer in [0, n) from a 64-bit engine: unbiased rejection sampling, the same
// numbers on every standard library (std::uniform_int_distribution is not specified exactly).
template <class Engine>
uint64_t uniform_below(Engine& engine, uint64_t n) {
  const uint64_t limit = (0 - n) % n;  // 2^64 mod n: draws below it would bias the remainder
  for (;;) {
    const uint64_t x = engine();
    if (x >= limit) return x % n;
  }
}

namespace detail {
// Exposed for tests: the patient multiplicities of bootstrap replicate `replicate` ([n_patients]),
// drawn from the patients that have ticks, and AUROC / average precision of a table with every
// tick weighted by its patient's multiplicity (what one replicate computes).
std::vector<uint32_t> bootstrap_multiplicities(const TickTable& table, uint64_t seed,
                                               uint64_t replicate);
// Which walk computes it: the one a replicate takes by default (16-bit weights, 32-bit totals),
// the same without AVX2 instructions (as on a processor without them), 64-bit totals (taken
// once ticks x largest multiplicity reach 2^31) or 32-bit weights (taken with more than 65,535
// patients).
enum class WalkWidth { narrow, narrow_portable, wide_totals, wide_weights };
std::array<double, 2> weighted_auroc_auprc(const TickTable& table,
                                           std::span<const uint32_t> multiplicity,
                                           WalkWidth width = WalkWidth::narrow);
}  // namespace detail

}  // namespace tfe::report
