#pragma once
// The backtest: one history in memory, scored by several scorers side by side through the engine's
// own replay, then labelled, evaluated and stress-tested into a Report (see report.h, and
// docs/report.md for every definition). `tfe replay --report` and the profiler both run it.
//
// Scorers whose needs one engine state can serve replay together (ScorerGroup): state, window
// statistics and snapshots are kept once for all of them. Stress tests: each configured modality
// masked in turn costs no replay: while the baseline replay scores a tick, it also scores the
// same snapshot with each present modality marked absent (MaskedRisks), so a masked run has
// exactly the baseline's ticks. Scaled arrival delays (arrival'
// = event + factor * (arrival - event), re-sorted into replay order) change what the engine knows
// when, so that variant is replayed, up to the history's last arrival (the baseline never scored
// later time). Only the delayed events and the baseline tick tables are held at a time.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "connectors/history_replay.h"
#include "engine/config.h"
#include "engine/event.h"
#include "engine/patient_registry.h"
#include "engine/result.h"
#include "engine/scorer.h"
#include "tools/report/metrics.h"
#include "tools/report/report.h"
#include "tools/report/scorer_group.h"

namespace tfe::report {

inline constexpr int64_t kDefaultHorizonMs = 6 * 3'600'000;

struct BacktestScorer {
  std::string name;  // shown in the report
  std::shared_ptr<const Scorer> scorer;
  std::optional<int64_t> horizon_ms;  // the label horizon the scorer was trained with, if known
};

// The range of BacktestOptions::delay_factor.
inline constexpr double kMinDelayFactor = 1e-3;
inline constexpr double kMaxDelayFactor = 1e3;

struct BacktestOptions {
  // Label horizon: this when set, else the scorers' training horizon (they must agree), else
  // kDefaultHorizonMs.
  std::optional<int64_t> horizon_ms;
  EvaluationOptions evaluation;
  bool stress = true;       // the masked-modality and delay variants
  double delay_factor = 2;  // arrival delays are multiplied by this in the delay variant
  bool timelines = true;    // one sample patient per subgroup
  // Replays of one variant (one per group of scorers), evaluations and comparisons run side by
  // side on the oneTBB workers. Results are identical either way.
  bool parallel_replays = true;
  // Called with one line per finished stage ("replay attention: 14.2 M events, 3.1 s").
  std::function<void(const std::string&)> log;
};

// Stage timings and counts, for the command's summary line and the performance figures.
struct BacktestStats {
  uint64_t history_events = 0;
  uint64_t runs = 0;           // replays (groups of scorers sharing one replay x variants)
  uint64_t ticks = 0;          // scores over all runs (a tick scored by three scorers: three)
  uint64_t masked_scores = 0;  // snapshots rescored with a present modality masked (no replay of
                               // their own; MaskedRisks::rescored)
  uint64_t taken_over = 0;     // scores a variant took from the baseline (same snapshot)
  // Wall time in replays (and building variants), and in labelling, evaluation, comparisons and
  // timelines. They overlap: the delay variant replays while the baselines are evaluated.
  double replay_seconds = 0;
  double metrics_seconds = 0;
};

// The first outcome per patient among the history's outcome events (by event time).
std::vector<OutcomeEvent> history_outcomes(const ReplaySequence& events);

// Every configured modality's arrival delay multiplied by `factor` (arrival' = event +
// factor * (arrival - event)); a negative delay (a clock ahead of the source's) is kept as it is,
// and outcome events are untouched. `events` in replay order (not rearranged). Returned as the
// events' order of replay and new arrival times, which replay through events.rearranged()
// without a copy of the events.
std::vector<Rearrival> scale_delays(const ReplaySequence& events, double factor);

// The label horizon of a backtest (see BacktestOptions::horizon_ms). Error when scorers with a
// known horizon disagree and none is given.
Result<int64_t> label_horizon(std::span<const BacktestScorer> scorers,
                              std::optional<int64_t> horizon_ms);

// One scorer's risks of a run's ticks with each modality masked in turn, recorded while the run
// scored them: the scorer saw the tick's snapshot with that modality marked absent
// (Scorer::score_risks), everything else unchanged.
class MaskedRisks {
 public:
  MaskedRisks() = default;
  // Columns first_column + m of `risks` hold modality m masked, m < n_modalities. Shares them.
  MaskedRisks(const TickRisks& risks, uint32_t first_column, uint32_t n_modalities);

  // The scorer's table of the same run with modality m masked: each tick's risk is its masked
  // risk and m's presence bit is cleared; ticks where m was the only present modality are left
  // out. Labels and outcomes are the baseline's. Errors: m out of range or released, a baseline
  // tick that was never recorded (a table from another run).
  Result<TickTable> table(const TickTable& baseline, ModalityIndex m) const;
  // Lets go of modality m's risks (freed once no other MaskedRisks shares them).
  void release(ModalityIndex m) { risks_.release(m); }

  uint64_t size() const { return risks_.size(); }
  // The masked risks the scorer computed: one per present modality of each tick with another
  // modality present. The others are copies (a modality absent: the tick's own risk) or NaN (the
  // only present one), not scores.
  uint64_t rescored() const;

 private:
  TickRisks risks_;  // column m: modality m masked
};

// Replays `events` (in replay order) once for all `scorers` and labels the scores: one table per
// scorer. Scorers share one engine state (ScorerGroup) when there are several; they must be able
// to (share_groups). The registry must hold every patient of the events; its size is the tables'
// patient count. With `masked`, every tick is also scored with each modality masked in turn
// (*masked: one per scorer). With `link`, the run is recorded for a later one or takes over an
// earlier one (RunLink).
// Errors: those of build_labels (a risk outside [0, 1], a bad horizon or cadence), scorers that
// cannot share a state, an earlier run of another number of scorers or taken over with `masked`.
struct RunLink;
Result<std::vector<TickTable>> score_events(
    const ReplaySequence& events, const EngineConfig& config,
    std::span<const std::shared_ptr<const Scorer>> scorers, const PatientRegistry& registry,
    std::span<const OutcomeEvent> outcomes, int64_t horizon_ms, ReplayStats* stats = nullptr,
    std::vector<MaskedRisks>* masked = nullptr, RunLink* link = nullptr);

// A variant's replay taking over the baseline's unchanged ticks (ScorerGroup): the baseline's
// replay records its ticks (`takeover.record`: `recorded` is set); the variant's replay, given them
// as `takeover.earlier`, scores only the ticks whose snapshot differs from the baseline's at the
// same patient and time, and takes the others' risks (`taken_over` counts them).
struct RunLink {
  GroupTakeover takeover;                         // what the replay's group is given
  std::shared_ptr<const RecordedTicks> recorded;  // set by a recording replay
  // Called (on the replay's thread) as soon as `recorded` is set, before the tables are built:
  // a variant's replay can start.
  std::function<void()> recorded_ready;
  uint64_t taken_over = 0;  // set by a replay with `earlier`
};

// One scorer: the table of score_events above.
Result<TickTable> score_events(const ReplaySequence& events, const EngineConfig& config,
                               std::shared_ptr<const Scorer> scorer,
                               const PatientRegistry& registry,
                               std::span<const OutcomeEvent> outcomes, int64_t horizon_ms,
                               ReplayStats* stats = nullptr, MaskedRisks* masked = nullptr);

// The scorers partitioned into groups that can share one engine state (ScorerGroup::create
// accepts them), in first-come order: [group][scorer index], indices ascending within a group.
std::vector<std::vector<std::size_t>> share_groups(std::span<const BacktestScorer> scorers,
                                                   const ModalitySchema& schema);

// The whole backtest of a loaded history (in replay order, not rearranged: a History's events or
// a PackedHistory's). Errors: no scorers, an invalid option (horizon, cadence, delay factor,
// more than kMaxBootstrapReplicates), disagreeing horizons. `meta.histories` and
// `meta.generator` are left for the caller.
Result<Report> run_backtest(const ReplaySequence& events, const PatientRegistry& registry,
                            const EngineConfig& config, std::span<const BacktestScorer> scorers,
                            const BacktestOptions& options, BacktestStats* stats = nullptr);

}  // namespace tfe::report
