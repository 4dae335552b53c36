#pragma once
// Training from history files: replays the history through the engine pipeline (the same path
// that serves), records each scoring tick's snapshot as an example in raw feature form, labels it
// by the outcome horizon, splits patients into train / validation / test by a stable hash, and
// trains a fusion model (operators/trainer.h). Reused by `tfe train` and by profilers.
//
// Example rules (docs/training.md):
//   - a tick at t is positive when the patient's first outcome o satisfies t < o <= t + horizon;
//   - ticks at or after the first outcome are excluded (nothing is left to predict);
//   - with stride n, only every n-th kept tick of each patient becomes an example;
//   - split by patient: u = mix(patient_hash(id) ^ salt) in [0, 1); train below train_fraction,
//     validation below train_fraction + validation_fraction, test above; with K folds, fold
//     floor(u K) is the patient's, and in the non-test folds v = u K - floor(u K) below
//     fold_validation_share() is validation, the rest train.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "connectors/history_replay.h"
#include "engine/config.h"
#include "engine/event.h"
#include "engine/patient_registry.h"
#include "engine/result.h"
#include "operators/fusion_model.h"
#include "operators/trainer.h"
#include "tools/report/metrics.h"

namespace tfe::train {

// The [training] section of the TOML config; every key optional (defaults below).
struct TrainingConfig {
  int64_t horizon_ms = 6 * 3'600'000;  // horizon = "6h"
  uint32_t stride = 1;                 // stride = 1: every tick
  double train_fraction = 0.7;         // test: 1 - train - validation
  double validation_fraction = 0.15;
  double masking = 0.25;                     // drop probability of each present modality
  std::map<std::string, double> masking_by;  // [training.masking_by_modality] name = p
  TrainOptions optim;  // epochs, batch, learning_rate, weight_decay, clip_norm, positive_weight,
                       // patience
  // Cross-fitting, set by callers rather than the config file: with folds >= 2 the patients fall
  // into `folds` equal hash buckets, bucket test_fold is the test split, and the others give
  // validation_fraction of all patients (at most half of theirs) to validation, the rest to train.
  uint32_t folds = 0;
  uint32_t test_fold = 0;
};

// Reads [training] (defaults when absent). Unknown keys are errors naming the key.
Result<TrainingConfig> training_config_from_toml(const toml::table& doc);

// The split of a patient id under the given fractions (stable across machines and runs).
Split split_of(std::string_view patient_id, double train_fraction, double validation_fraction);
// The same under a whole training config, folds included.
Split split_of(std::string_view patient_id, const TrainingConfig& training);
// With folds: the share of the non-test folds' patients that validate,
// min(0.5, validation_fraction K / (K - 1)), so that validation keeps its fraction of all
// patients; NaN without folds.
double fold_validation_share(const TrainingConfig& training);

// The patients with at least one outcome event (modality `outcome`), in the order their first
// one comes, from one pass over the event headers.
std::vector<PatientIndex> outcome_patients(const ReplaySequence& events, std::size_t n_patients);

// The one error for a history without a single outcome event: no example can be positive, so no
// split can train or be measured, however the patients are split.
Error no_outcome_events_error();

struct RecordStats {
  uint64_t ticks = 0;          // scoring ticks the pipeline fired
  uint64_t after_outcome = 0;  // ticks excluded: at or after the patient's outcome
  uint64_t strided_out = 0;    // ticks skipped by the stride
  uint64_t examples = 0;
  uint64_t positives = 0;
  std::array<uint64_t, 3> patients{};  // [split]: patients with at least one example
  std::array<uint64_t, 3> examples_by_split{};
  std::array<uint64_t, 3> positives_by_split{};
  double replay_seconds = 0;
};

struct RecordedExamples {
  ExampleSet set;
  std::vector<float> news2_risk;  // [example]: the NEWS2 baseline on the same snapshot (NaN
                                  // without one)
  std::string news2_unavailable;  // why the config has no NEWS2 baseline; empty when it has one
  RecordStats stats;
};

// Called with (events replayed, events in all) about once a second while examples are recorded,
// and once when the replay ends (replayed == in all).
using RecordProgress = std::function<void(uint64_t replayed, uint64_t total)>;

// Replays `events` (in replay order: a History's or a PackedHistory's) through one pipeline and
// records the examples a model of `arch` needs (history tokens for attention with history_k > 1).
// Blocks for the whole replay; `progress` may be empty.
Result<RecordedExamples> record_examples(const ReplaySequence& events, const EngineConfig& config,
                                         const PatientRegistry& registry, const ModelConfig& arch,
                                         const TrainingConfig& training,
                                         const RecordProgress& progress = {});

struct TestMetrics {
  double auroc = 0, auprc = 0;              // the trained model, test split
  double news2_auroc = 0, news2_auprc = 0;  // NEWS2 on the same test examples (NaN: no NEWS2)
  // 95% percentile intervals of a bootstrap over test patients (not examples: one patient's
  // ticks are correlated), kTestBootstrapReplicates replicates seeded by the training seed.
  report::Interval auroc_ci, auprc_ci, news2_auroc_ci, news2_auprc_ci;
  std::vector<double> auroc_without;  // [modality]: test AUROC with that modality removed
  std::vector<double> auprc_without;  // [modality]
  uint64_t examples = 0, positives = 0;
};

struct TrainRequest {
  std::vector<std::string> history;  // files (JSONL or binary log)
  EngineConfig engine;
  ModelConfig arch;
  TrainingConfig training;
  uint64_t seed = 1;
  uint32_t threads = 0;
  bool masking = true;
  std::function<void(const std::string&)> log;       // a line per stage (may be empty)
  std::function<void(const EpochReport&)> on_epoch;  // may be empty
  // The replay that records the examples: called with (0, events in all) as it starts, then as
  // record_examples calls its progress; may be empty. How often to say so is the caller's choice.
  RecordProgress on_replay;
  // Called once the history is loaded when its vitals records named channels the config lacks
  // (ignored, as in any replay: a misspelt channel would otherwise train unnoticed); may be empty.
  std::function<void(uint64_t)> on_unknown_channels;
};

struct TrainResult {
  FusionModel model;
  TrainSummary summary;
  RecordStats record;
  TestMetrics test;
  uint64_t events = 0;
  uint64_t dead_letters = 0;
};

// The whole job: load, record, train, calibrate, evaluate on the test split, fill metadata.
Result<TrainResult> train_from_history(const TrainRequest& request);
// The same on events already in memory, in replay order (request.history is not read), for a
// history read once and trained on several times; `registry` holds every patient they name.
Result<TrainResult> train_from_events(const ReplaySequence& events, const PatientRegistry& registry,
                                      const TrainRequest& request);

inline constexpr uint32_t kTestBootstrapReplicates = 200;

// Evaluates a trained model on the test split of recorded examples; `seed` draws the bootstrap.
TestMetrics evaluate_test(const FusionModel& model, const RecordedExamples& examples,
                          uint32_t threads, uint64_t seed = 1);

namespace detail {
// AUROC and AUPRC of `score` (any real numbers: logits) with percentile intervals of a bootstrap
// over patients, as the backtest report computes them. Scores are replaced by their dense rank
// scaled into [0, 1] first: both metrics depend on the order and ties alone, so the point
// estimates equal report::auroc and report::average_precision of the scores exactly.
report::Discrimination discrimination_by_patient(std::span<const double> score,
                                                 std::span<const uint8_t> label,
                                                 std::span<const Example> examples,
                                                 std::span<const uint32_t> rows,
                                                 uint32_t replicates, uint64_t seed);
}  // namespace detail

}  // namespace tfe::train
