#pragma once
// ScorerGroup: several scorers over one engine state. A backtest that compares models replays the
// history once: each patient's state, window statistics and snapshots are kept once, and every
// scorer of the group scores each tick from its own view of the snapshot (exactly what it would
// see replayed alone). Optionally each scorer also scores every tick with each modality masked in
// turn. Members score through Scorer::score_risks: a backtest reads risks, so no explanation is
// computed. The risks are recorded per tick (TickRisks) and turned into one TickTable per scorer
// and masked modality afterwards.
//
// Taking over an earlier run: a variant's replay (arrival delays scaled) sees, at many of its
// ticks, exactly the snapshot the baseline saw at the same patient and time. The baseline's group
// records a digest of each tick's snapshot (RecordedTicks); the variant's group computes the same
// digest and, where the baseline has that tick with that digest, copies the members' risks
// instead of scoring again. This relies on what the engine already requires of scorers for its
// scores not to depend on the shard count: a member's risk is a function of its snapshot alone.
//
// Consumes: the union of the members' needs (docs/report.md says when needs can be merged).
// Produces: the first member's risk and logit for the engine's sink (weights zero; a tick taken
// over from an earlier run carries the risk alone, its logit NaN); every member's risks and each
// tick's present modalities in TickRisks, which is all a backtest reads.

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "engine/modality.h"
#include "engine/result.h"
#include "engine/scorer.h"
#include "tools/report/metrics.h"

namespace tfe::report {

// Risks recorded per tick, in columns. Each column is held on its own and shared by the tables
// of risks selected from it (select()): a column is freed as soon as no selection holds it, so a
// backtest lets go of a stress test's risks once that test is compared.
class TickRisks {
 public:
  struct Tick {
    uint32_t patient = 0;
    uint16_t present_mask = 0;  // as ScoredTick::present_mask
    int64_t score_time_ms = 0;
  };
  TickRisks() = default;
  // ticks sorted by (patient, time), unique; columns[c][i] is tick i's risk in column c.
  TickRisks(std::vector<Tick> ticks, std::vector<std::vector<double>> columns);

  // `like` (a table of the same run) with each tick's risk taken from `column`, the presence bits
  // of `cleared` removed, and ticks whose risk is NaN left out; labels and outcomes are like's.
  // Errors: column out of range or released, a tick of `like` that was never recorded (another
  // run's table), a risk outside [0, 1].
  Result<TickTable> table(const TickTable& like, uint32_t column, uint32_t cleared = 0) const;
  // Every tick (unlabelled) and its risk in `column`, in (patient, time) order: what the engine's
  // sink would have collected from the scorer of that column, as build_labels takes it. Empty for
  // a released column.
  std::pair<std::vector<TickKey>, std::vector<double>> keyed(uint32_t column) const;
  // The same ticks with columns [first, first + count) of these, sharing their storage.
  TickRisks select(uint32_t first, uint32_t count) const;
  // Lets go of a column: table() refuses it from now on.
  void release(uint32_t column);

  uint64_t size() const { return ticks_ ? ticks_->size() : 0; }
  uint32_t columns() const { return static_cast<uint32_t>(columns_.size()); }
  // The recorded ticks, in (patient, time) order.
  std::span<const Tick> ticks() const {
    return ticks_ ? std::span<const Tick>(*ticks_) : std::span<const Tick>();
  }

 private:
  std::shared_ptr<const std::vector<Tick>> ticks_;
  std::vector<std::shared_ptr<const std::vector<double>>> columns_;
};

// A run's ticks in the order each shard scored them (time, then patient), with each tick's
// snapshot digest and each member's own risk: what a later run of the same members takes over
// from. Built by ScorerGroup::record_ticks.
class RecordedTicks {
 public:
  struct Tick {
    int64_t score_time_ms = 0;
    uint32_t patient = 0;
    uint64_t digest = 0;
  };
  uint32_t members() const { return members_; }
  uint64_t size() const;

 private:
  friend class ScorerGroup;
  uint32_t members_ = 0;
  std::vector<std::vector<Tick>> shards_;   // [shard][tick]
  std::vector<std::vector<double>> risks_;  // [shard][tick * members + member]
  std::vector<uint32_t> shard_of_patient_;  // UINT32_MAX: a patient without ticks
};

// How a group's run relates to another run of the same members.
struct GroupTakeover {
  bool record = false;  // record each tick's snapshot digest for a later run (record_ticks)
  // Take over the ticks this earlier run saw unchanged. Only a run without masked risks can.
  std::shared_ptr<const RecordedTicks> earlier;
};

class ScorerGroup final : public Scorer {
 public:
  // Errors: no scorer, or needs one engine state cannot serve (a vitals modality read as window
  // statistics by one member and as latest values by another; a text or embedding modality
  // encoded by one member and read raw by another); an earlier run of another number of members,
  // or taken over by a masked run.
  static Result<std::shared_ptr<ScorerGroup>> create(
      std::vector<std::shared_ptr<const Scorer>> scorers, const ModalitySchema& schema, bool masked,
      GroupTakeover takeover = {});

  const ScorerSpec& spec() const override { return spec_; }
  std::unique_ptr<ScorerState> make_state() const override;
  void score(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out) const override;

  std::size_t size() const;
  // Columns of collect(): member s's own risk at s * stride(); with masking, its risk with
  // modality m masked at s * stride() + 1 + m.
  uint32_t stride() const { return stride_; }
  // Every shard's records, sorted by (patient, time). Call after the replay.
  TickRisks collect(std::size_t n_patients) const;
  // The run's ticks for a later run to take over (GroupTakeover::record; without it, none).
  // Call after the replay.
  std::shared_ptr<const RecordedTicks> record_ticks(std::size_t n_patients) const;
  // Ticks of the run whose risks were taken over from the earlier run. Call after the replay.
  uint64_t taken_over() const;
  // Lets go of the earlier run's ticks, read while scoring only. Call after the replay.
  void release_earlier() { takeover_.earlier.reset(); }

  // The digest of everything a member can read from a snapshot: each modality's presence, age,
  // latest event time, features and history items, as bytes (XXH3, 64 bits). For a modality m
  // with digest_tails[m], the group's encoder stored the digest of each item's features after
  // them, and that digest stands for them.
  static uint64_t snapshot_digest(const Snapshot& snapshot, std::span<const bool> digest_tails);

  struct Member;
  struct ShardRecord;
  // Use create(); public for std::make_shared.
  ScorerGroup(std::vector<Member> members, ScorerSpec spec, std::size_t n_modalities, bool masked,
              GroupTakeover takeover, std::array<bool, kMaxModalities> digest_tails);
  ~ScorerGroup() override;

 private:
  // The earlier run's risks of this tick ([members]) when it saw the same snapshot, else null.
  const double* earlier_risks(const Snapshot& snapshot, uint64_t digest,
                              std::vector<std::size_t>& cursors) const;

  std::vector<Member> members_;
  ScorerSpec spec_;
  std::size_t n_modalities_;
  uint32_t stride_;
  GroupTakeover takeover_;
  std::array<bool, kMaxModalities> digest_tails_;  // encoded with a digest after the features
  uint32_t history_items_ = 0;                     // HistoryItem scratch a view needs
  mutable ShardRecords<ShardRecord> shards_;
};

}  // namespace tfe::report
