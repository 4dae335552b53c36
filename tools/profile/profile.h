#pragma once
// The deployment-reality profile: a history replayed through the engine's own pipeline, measured
// on the three axes that decide which fusion strategy survives a deployment, and the decision
// matrix applied to those numbers. Every definition and threshold is written out in
// docs/profile.md.
//
//   availability     per modality: share of scoring ticks present, share of patients ever
//                    present; availability subgroups (modalities present together); availability
//                    over the stay (hours since the patient's first tick)
//   dimensionality   raw and feature dimension per modality; effective dimension (principal
//                    components for 95% of the variance, on a sample of ticks); largest/smallest
//   temporal         inter-arrival and documentation delay per modality; AUROC of a
//                    single-modality model by age bucket (timing signal); single versus pairwise
//                    model with an interaction term (interaction)
//   recommendation   the first decision row whose conditions hold, the numbers it fired on, and a
//                    confidence: the share of bootstrap replicates over patients that pick the
//                    same row
//
// Typical use:
//   auto thresholds = thresholds_from_toml(doc);          // [profile_thresholds], else defaults
//   auto profile = profile_history(history.events, registry, config, options);
//   write_profile(profile.value(), dir);                  // dir/profile.json, dir/profile.html
//   std::fputs(profile_table(profile.value()).c_str(), stdout);

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "connectors/history_replay.h"
#include "engine/config.h"
#include "engine/patient_registry.h"
#include "engine/result.h"
#include "operators/model_config.h"
#include "tools/train/train.h"

namespace tfe::profile {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The decision matrix thresholds ([profile_thresholds] of the config; defaults below).
struct Thresholds {
  // Evidence: fewer patients or fewer patients with an outcome than this is thin evidence, and
  // the recommendation falls back to late fusion.
  uint32_t min_patients = 40;
  uint32_t min_outcome_patients = 8;
  // Late fusion: some modality is present at fewer than this share of ticks.
  double missing_availability = 0.6;
  // Early fusion: every modality present at this share of ticks or more, and at most this many
  // patients (checked before attention: a small cohort cannot support learned attention).
  double early_availability = 0.85;
  uint32_t early_max_patients = 1000;
  // Attention: the AUROC of some modality's own model differs by at least this between its age
  // buckets, and the interaction model of some pair gains at least this AUROC over the additive
  // (with the 5th bootstrap percentile of that gain above zero).
  double timing_auroc_spread = 0.08;
  double interaction_auroc_gain = 0.02;
  // Intermediate fusion: largest / smallest effective dimension at least this.
  double dimension_ratio = 8;
};

// Parses [profile_thresholds] of a config document (absent: defaults). Unknown keys and values
// out of range are errors naming the key.
Result<Thresholds> thresholds_from_toml(const toml::table& doc);

// Bootstrap replicates at most (more narrow nothing visibly and take hours: a typo). The
// backtest's limit is the same.
inline constexpr uint32_t kMaxBootstrapReplicates = 100'000;

struct ProfileOptions {
  Thresholds thresholds;
  int64_t horizon_ms = 6 * 3'600'000;  // label: an outcome within this after the tick
  uint32_t sample_ticks = 4000;        // per class (positive / negative) in the model sample
  uint32_t pca_ticks = 6000;           // train ticks per modality for the spectrum and the model
  double variance_share = 0.95;        // effective dimension: components for this variance
  double ridge = 1.0;        // single-modality models: ridge, as a multiple of the mean eigenvalue
  uint32_t age_buckets = 4;  // quantile buckets of a modality's age
  uint32_t min_bucket_ticks = 30;  // a bucket's AUROC needs this many positive and negative
  // Replicates over patients for the confidence and the interaction gain's lower bound (0: none,
  // which leaves the bound unmeasured and the attention row unable to fire).
  uint32_t bootstrap = 200;
  uint64_t seed = 1;
  std::function<void(const std::string&)> log;  // one line per finished stage
};

// The model sample's feature rows (two classes of sample_ticks rows) may hold at most this many
// bytes: a larger --sample is refused before any work rather than exhausting the memory.
inline constexpr uint64_t kMaxSampleBytes = 4'000'000'000;

// Feature values a tick of the model sample holds (every modality's raw features, side by side).
uint32_t sample_row_floats(const EngineConfig& config);

// The checks profile_history makes on its options before any work, among them
// check_sample_size; callers may make them before reading a history.
Result<void> check_options(const EngineConfig& config, const ProfileOptions& options);
// The model sample of sample_ticks ticks per class against kMaxSampleBytes (the error names the
// largest sample that fits).
Result<void> check_sample_size(const EngineConfig& config, uint32_t sample_ticks);

// ---- the measured axes ------------------------------------------------------------------------

struct ModalityAvailability {
  std::string name;
  double tick_share = kNaN;     // ticks with the modality present / ticks
  double patient_share = kNaN;  // patients present at some tick / patients with ticks
};

struct Subgroup {
  uint32_t present_mask = 0;  // bit m: modality m present
  uint64_t ticks = 0;
  double share = kNaN;  // of all ticks
  uint32_t patients = 0;
};

// Availability over the stay: ticks bucketed by time since the patient's first tick.
struct StayBin {
  int64_t from_ms = 0;
  int64_t to_ms = 0;  // INT64_MAX for the last bin
  uint64_t ticks = 0;
  std::vector<double> share;  // [modalities] present share
};

struct Availability {
  uint64_t ticks = 0;
  uint32_t patients = 0;  // with at least one tick
  std::vector<ModalityAvailability> modalities;
  std::vector<Subgroup> subgroups;  // by ticks, descending (ties: mask ascending)
  std::vector<StayBin> over_stay;
};

struct ModalityDimension {
  std::string name;
  std::string kind;
  uint32_t raw_dim = 0;        // channels, hashed text buckets (+ upstream length), vector length
  uint32_t feature_dim = 0;    // what the engine hands a scorer (vitals: window statistics)
  uint32_t effective_dim = 0;  // components for variance_share of the variance (0: no sample)
  uint32_t sample = 0;         // ticks the effective dimension was computed on
};

struct Dimensionality {
  std::vector<ModalityDimension> modalities;
  // Largest / smallest effective dimension, over modalities whose effective dimension is not 0
  // (NaN when none is).
  double ratio = kNaN;
};

struct Distribution {
  uint64_t count = 0;
  uint64_t negative = 0;    // values below 0 (a device clock ahead of the source), taken as 0
  double median_ms = kNaN;  // quantiles interpolate linearly (detail::quantile_sorted)
  double p90_ms = kNaN;
  double cv = kNaN;  // standard deviation / mean (NaN when the mean is 0)
  // Histogram over log10(milliseconds): edges [bins + 1], counts [bins]. The first bin holds every
  // value under its upper edge (0 included), the last every value at or above its lower edge.
  std::vector<double> log10_edges;
  std::vector<double> counts;
};

struct AgeBucket {
  int64_t from_ms = 0;  // age range [from, to)
  int64_t to_ms = 0;
  uint64_t ticks = 0;      // test ticks
  uint64_t positives = 0;  // positive test ticks
  double auroc = kNaN;     // NaN: too few positives or negatives
};

struct ModalityTiming {
  std::string name;
  Distribution inter_arrival;  // between consecutive arrivals of a patient's events
  Distribution delay;          // arrival - event time
  double auroc = kNaN;         // single-modality model on test ticks with the modality present
  std::vector<AgeBucket> buckets;
  double auroc_spread = kNaN;  // max - min bucket AUROC (NaN with fewer than two buckets)
};

struct PairInteraction {
  uint32_t a = 0;  // modality indices
  uint32_t b = 0;
  uint64_t test_ticks = 0;
  double auroc_a = kNaN;  // single-modality models on the pair's test ticks
  double auroc_b = kNaN;
  uint32_t gated = 0;               // the modality whose model is refitted per stratum of the other
  double auroc_additive = kNaN;     // logistic on both scores (and the stratum)
  double auroc_interaction = kNaN;  // ... with the gated modality's model fitted per stratum
  double gain = kNaN;               // interaction - additive (the larger of both directions)
};

struct Temporal {
  std::vector<ModalityTiming> modalities;
  std::vector<PairInteraction> pairs;
  double max_auroc_spread = kNaN;
  double max_interaction_gain = kNaN;
  // 5th percentile of the largest pair's gain over the bootstrap replicates (NaN without them).
  double interaction_gain_lo = kNaN;
  uint64_t sample_ticks = 0;  // model sample (both classes)
  uint32_t train_patients = 0;
  uint32_t test_patients = 0;
};

// ---- the decision -----------------------------------------------------------------------------

using ::tfe::Strategy;  // the fusion strategies of operators/model_config.h

struct Condition {
  std::string name;        // "notes present at ticks"
  std::string comparison;  // ">=" or "<"
  double value = kNaN;
  double threshold = kNaN;
  bool met = false;
  std::string note;  // why the value was not measured, when that is known (shown in its place)
};

struct DecisionRow {
  std::string row;  // "thin evidence", "frequently missing", ...
  Strategy strategy = Strategy::late;
  std::vector<Condition> conditions;  // all must hold (thin evidence: any)
  bool holds = false;
};

// Confidence labels: "high" from the first bound, "medium" from the second, else "low".
inline constexpr double kHighConfidence = 0.8;
inline constexpr double kMediumConfidence = 0.6;

struct Recommendation {
  Strategy strategy = Strategy::late;
  std::size_t fired = 0;          // index into rows
  std::vector<DecisionRow> rows;  // in precedence order
  double confidence = kNaN;       // share of bootstrap replicates choosing the same row
  std::string confidence_label;   // "high" (>= 0.8), "medium" (>= 0.6), "low"
  uint32_t replicates = 0;
  std::string summary;  // one sentence: the row and the numbers it fired on
};

// ---- the bake-off ------------------------------------------------------------------------------

struct BakeoffStress {
  std::string name;  // "without notes", "arrival delays x2"
  double auroc_delta = kNaN;
  double auprc_delta = kNaN;
};

// With several folds every figure is the mean over the folds (each fold's models backtested on
// that fold's test patients).
struct BakeoffEntry {
  Strategy strategy = Strategy::late;
  std::vector<std::string> model_ids;  // [fold]
  double auroc = kNaN;                 // test patients, all ticks
  double auprc = kNaN;
  // Subgroup AUROC / AUPRC weighted by how often the subgroup occurs in this deployment (its share
  // of ticks in the profile), over subgroups where the metric is defined.
  double weighted_auroc = kNaN;
  double weighted_auprc = kNaN;
  std::vector<double> fold_weighted_auroc;  // [fold]
  // Training's own AUROC on the test split's recorded examples (logits): the same patients and
  // ticks as the backtest, so the two agree unless serving and training part ways.
  double training_test_auroc = kNaN;
  std::vector<BakeoffStress> stress;
  double seconds = 0;  // training and scoring, all folds
};

struct Bakeoff {
  std::vector<BakeoffEntry> entries;  // early, intermediate, late, attention
  uint32_t folds = 1;                 // 1: one train / validation / test split
  uint32_t test_patients = 0;         // over all folds (each patient is tested in one)
  Strategy winner = Strategy::late;   // highest deployment-weighted AUROC
  bool agrees = false;                // winner == the matrix's strategy
  // When they disagree: the winner's lead in deployment-weighted AUROC over the matrix's
  // strategy, and (folds >= 2) its 95% interval from the paired fold differences (Student t).
  double lead = kNaN;
  double lead_lo = kNaN;
  double lead_hi = kNaN;
  bool decisive = false;  // the lead is beyond the noise: interval above 0 (one split: >= 0.03)
  Strategy recommended = Strategy::late;
  std::string verdict;  // agreement, or the disagreement and why, and the recommendation
};

struct DeploymentProfile {
  std::vector<std::string> histories;
  std::vector<std::string> modalities;
  uint64_t events = 0;
  uint32_t patients = 0;
  uint32_t outcome_patients = 0;
  int64_t horizon_ms = 0;
  int64_t tick_cadence_ms = 0;
  Thresholds thresholds;
  Availability availability;
  Dimensionality dimensionality;
  Temporal temporal;
  Recommendation recommendation;
  std::optional<Bakeoff> bakeoff;
  double seconds = 0;  // wall time of the profile
};

// Replays the history (events in replay order: a History's or a PackedHistory's) through the
// engine with a recording scorer, measures the three axes and applies the decision matrix.
// Deterministic for a given history, config and options (whatever the shard count). Errors: an
// empty history, invalid options.
Result<DeploymentProfile> profile_history(const ReplaySequence& events,
                                          const PatientRegistry& registry,
                                          const EngineConfig& config,
                                          const ProfileOptions& options);

// ---- running the bake-off -----------------------------------------------------------------------

constexpr uint32_t kMaxBakeoffFolds = 20;

// What the bake-off trains with: the config's [model] and [training] sections (read as `tfe train`
// reads them) and the folds. Read and checked once, before the history is read (a large history
// takes minutes to read and profile); from then on it is data.
struct BakeoffConfig {
  ModelConfig arch;
  train::TrainingConfig training;
  // 1: one train / validation / test split, as `tfe train`; 2 to kMaxBakeoffFolds: each patient
  // fold is the test split once.
  uint32_t folds = 1;
};

// Errors: folds 0 or above kMaxBakeoffFolds; a bad [model] or [training] key (the error names it).
Result<BakeoffConfig> bakeoff_config_from_toml(const toml::table& doc, uint32_t folds);

// A bake-off checked against its history: every fold's training, validation and test splits hold
// a patient with an outcome (training, early stopping and the test metrics need both classes), so
// that no fold fails after minutes of training. Only plan_bakeoff makes one. It refers to the
// events and the registry it was checked on, which must outlive it.
class BakeoffPlan {
 public:
  const BakeoffConfig& config() const { return config_; }
  const ReplaySequence& events() const { return events_; }
  const PatientRegistry& registry() const { return *registry_; }

 private:
  friend Result<BakeoffPlan> plan_bakeoff(BakeoffConfig config, const ReplaySequence& events,
                                          const PatientRegistry& registry);
  BakeoffPlan(BakeoffConfig config, const ReplaySequence& events, const PatientRegistry& registry)
      : config_(std::move(config)), events_(events), registry_(&registry) {}
  BakeoffConfig config_;
  ReplaySequence events_;
  const PatientRegistry* registry_;
};

// `events`: the profiled history (files or topics) in replay order, whose patients `registry`
// holds. Reads the events once. Errors: a fold's split without a patient with an outcome (the
// error names the fold and the split).
Result<BakeoffPlan> plan_bakeoff(BakeoffConfig config, const ReplaySequence& events,
                                 const PatientRegistry& registry);

// Trains all four strategies on the plan's history (patient split, masking and every setting from
// its [model] and [training], as `tfe train`, with the profile's label horizon), backtests them on
// the test patients (as `tfe replay --report`, with the stress tests) and weighs subgroup metrics
// by this deployment's subgroup frequencies. With folds >= 2 it cross-fits: each of `folds`
// patient buckets is the test split once, and the winner must lead beyond the spread of the
// folds. Errors: a training failure.
Result<Bakeoff> run_bakeoff(const BakeoffPlan& plan, const EngineConfig& config,
                            const DeploymentProfile& profile, uint64_t seed,
                            const std::function<void(const std::string&)>& log);

// ---- output -----------------------------------------------------------------------------------

std::string profile_table(const DeploymentProfile& p);  // terminal summary
std::string profile_json(const DeploymentProfile& p);
std::string profile_html(const DeploymentProfile& p);
// Creates dir if needed, writes dir/profile.json and dir/profile.html.
Result<void> write_profile(const DeploymentProfile& p, const std::string& dir);
// Before the profile: creates dir if needed and checks that both files can be written there.
Result<void> check_profile_directory(const std::string& dir);

namespace detail {
// Exposed for tests.

// Components needed for `share` of the variance of the distinct rows of x ([n][d], row-major); with
// `standardise` each column is scaled to unit variance first (constant columns dropped).
uint32_t effective_dimension(std::span<const float> x, std::size_t n, std::size_t d, double share,
                             bool standardise);

// The columns vitals are measured on: for each of n rows of window statistics
// ([windows][channels][kWindowStatCount], windows in config order), each channel's mean over the
// shortest window. Returns [n][channels].
std::vector<float> shortest_window_means(std::span<const float> x, std::size_t n, uint32_t channels,
                                         std::span<const int64_t> windows_ms);

// Count, negatives (taken as 0), median, p90, coefficient of variation and log10 histogram of
// durations in milliseconds (docs/profile.md, "Temporal dynamics").
Distribution describe_distribution(std::vector<float> values_ms);

// The p-quantile of values sorted ascending, interpolated linearly between the order statistics
// at position p (n - 1), as the backtest's bootstrap intervals (docs/report.md); NaN when empty.
double quantile_sorted(std::span<const double> sorted, double p);

// Ridge logistic regression (Newton steps); x [n][d] row-major, returns [d + 1] weights, the
// intercept last (not penalised).
std::vector<double> fit_logistic(std::span<const double> x, std::size_t n, std::size_t d,
                                 std::span<const uint8_t> y, double ridge);

// AUROC with ties counted one half, every item weighted (weights >= 0). NaN without positive or
// without negative weight, or when an item of non-zero weight has a NaN score.
double weighted_auroc(std::span<const double> score, std::span<const uint8_t> label,
                      std::span<const double> weight);

// The decision matrix on a set of evidence numbers.
struct Evidence {
  uint32_t patients = 0;
  uint32_t outcome_patients = 0;
  std::vector<double> tick_share;  // [modalities]
  double dimension_ratio = kNaN;
  double max_auroc_spread = kNaN;
  double max_interaction_gain = kNaN;
  double interaction_gain_lo = kNaN;  // must be > 0 for the interaction to count
  bool no_bootstrap = false;          // no replicates: interaction_gain_lo was not measured
};
Recommendation decide(const Evidence& evidence, std::span<const std::string> modalities,
                      const Thresholds& thresholds);

// The mean paired difference a[f] - b[f] over the folds where both are defined, and its 95%
// interval: Student t with folds - 1 degrees of freedom on the differences' spread, the variance
// corrected for the folds' overlapping training sets (Nadeau and Bengio: s^2 (1/n +
// test_over_train)) and the tail split over `comparisons` (Bonferroni). NaN bounds with fewer
// than two folds.
struct Lead {
  double mean = kNaN, lo = kNaN, hi = kNaN;
  uint32_t folds = 0;  // folds where both figures are defined
};
Lead paired_lead(std::span<const double> a, std::span<const double> b, double test_over_train,
                 uint32_t comparisons);

// The verdict of a bake-off whose entries, folds and test_patients are filled: the winner, whether
// it agrees with the matrix's row, and when not, the lead (with folds: its interval from
// paired_lead, with every other strategy a challenger) and the recommendation.
void judge(Bakeoff& out, const Recommendation& matrix_row, double test_over_train);
}  // namespace detail

}  // namespace tfe::profile
