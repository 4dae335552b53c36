#pragma once
// ScorerGroup: several scorers over one engine state. A backtest that compares models replays the
// history once: each patient's state, window statistics and snapshots are kept once, and every
// scorer of the group scores each tick from its own view of the snapshot (exactly what it would
// see replayed alone). Optionally each scorer also scores every tick with each modality masked in
// turn. Members score through Scorer::score_risks: a backtest reads risks, so no explanation is
// computed. The risks are recorded per tick (TickRisks) and turned into one TickTable per scorer
// and masked modality afterwards.
//
// Consumes: the union of the members' needs (docs/report.md says when needs can be merged).
// Produces: the first member's risk and logit for the engine's sink (weights zero); everything
// else in TickRisks.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/modality.h"
#include "engine/result.h"
#include "engine/scorer.h"
#include "tools/report/metrics.h"

namespace tfe::report {

// Risks recorded per tick, in columns.
class TickRisks {
 public:
  struct Tick {
    uint32_t patient = 0;
    int64_t score_time_ms = 0;
  };
  TickRisks() = default;
  // ticks sorted by (patient, time), unique; risks [ticks.size() * columns].
  TickRisks(uint32_t columns, std::vector<Tick> ticks, std::vector<double> risks);

  // `like` (a table of the same run) with each tick's risk taken from `column`, the presence bits
  // of `cleared` removed, and ticks whose risk is NaN left out; labels and outcomes are like's.
  // Errors: column out of range, a tick of `like` that was never recorded (another run's table),
  // a risk outside [0, 1].
  Result<TickTable> table(const TickTable& like, uint32_t column, uint32_t cleared = 0) const;

  uint64_t size() const { return ticks_.size(); }
  uint32_t columns() const { return columns_; }

 private:
  uint32_t columns_ = 0;
  std::vector<Tick> ticks_;
  std::vector<double> risks_;
};

class ScorerGroup final : public Scorer {
 public:
  // Errors: no scorer, or needs one engine state cannot serve (a vitals modality read as window
  // statistics by one member and as latest values by another; a text or embedding modality
  // encoded by one member and read raw by another).
  static Result<std::shared_ptr<const ScorerGroup>> create(
      std::vector<std::shared_ptr<const Scorer>> scorers, const ModalitySchema& schema,
      bool masked);

  const ScorerSpec& spec() const override { return spec_; }
  std::unique_ptr<ScorerState> make_state() const override;
  void score(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out) const override;

  std::size_t size() const;
  // Columns of collect(): member s's own risk at s * stride(); with masking, its risk with
  // modality m masked at s * stride() + 1 + m.
  uint32_t stride() const { return stride_; }
  // Every shard's records, sorted by (patient, time). Call after the replay.
  TickRisks collect(std::size_t n_patients) const;

  struct Member;
  struct ShardRecord;
  // Use create(); public for std::make_shared.
  ScorerGroup(std::vector<Member> members, ScorerSpec spec, std::size_t n_modalities, bool masked);
  ~ScorerGroup() override;

 private:
  std::vector<Member> members_;
  ScorerSpec spec_;
  std::size_t n_modalities_;
  uint32_t stride_;
  uint32_t history_items_ = 0;  // HistoryItem scratch a view needs
  mutable ShardRecords<ShardRecord> shards_;
};

}  // namespace tfe::report
