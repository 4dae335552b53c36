#include "tools/report/backtest.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

namespace tfe::report {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One replay per scorer over the same events, side by side when asked. Each slot's result comes
// from its own pipeline, so the outcome does not depend on how the replays were scheduled.
template <class Fn>
void for_each_scorer(std::size_t n, bool parallel, Fn&& fn) {
  if (!parallel || n < 2) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 1),
                    [&](const tbb::blocked_range<std::size_t>& range) {
                      for (std::size_t i = range.begin(); i != range.end(); ++i) {
                        // A replay waiting on its own shards must not pick up another replay.
                        tbb::this_task_arena::isolate([&] { fn(i); });
                      }
                    });
}

// The threshold a timeline shows: the alert-rate one, else the first configured one.
double timeline_threshold(const Evaluation& evaluation, const EvaluationOptions& options) {
  if (!std::isnan(evaluation.alert_rate_threshold)) return evaluation.alert_rate_threshold;
  return options.thresholds.empty() ? kNaN : options.thresholds.front();
}

std::string millions(uint64_t n) { return fmt::format("{:.2f} M", static_cast<double>(n) / 1e6); }

// What one shard's MaskingScorer recorded, in the shard's tick order (time, then patient).
struct ShardMasks {
  std::vector<MaskedRisks::Tick> ticks;
  std::vector<double> risks;  // [ticks.size() * n_modalities]
};

class MaskingState final : public ScorerState {
 public:
  std::unique_ptr<ScorerState> inner;
  std::shared_ptr<ShardMasks> record;
};

// Consumes and produces what the wrapped scorer does; also records, for its shard, each tick's
// risks with each modality masked in turn (Scorer::score_masked).
class MaskingScorer final : public Scorer {
 public:
  MaskingScorer(std::shared_ptr<const Scorer> inner, std::size_t n_modalities)
      : inner_(std::move(inner)), n_modalities_(std::min(n_modalities, kMaxModalities)) {}

  const ScorerSpec& spec() const override { return inner_->spec(); }

  std::unique_ptr<ScorerState> make_state() const override {
    auto state = std::make_unique<MaskingState>();
    state->inner = inner_->make_state();
    state->record = std::make_shared<ShardMasks>();
    std::lock_guard lock(mutex_);
    shards_.push_back(state->record);
    return state;
  }

  void score(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out) const override {
    auto& st = static_cast<MaskingState&>(state);
    ShardMasks& r = *st.record;
    r.ticks.push_back({snapshot.patient, snapshot.time_ms});
    r.risks.resize(r.risks.size() + n_modalities_);
    inner_->score_masked(snapshot, *st.inner, out, std::span(r.risks).last(n_modalities_));
  }

  // Every shard's records in (patient, time) order. A patient is scored by one shard only, in
  // time order, so a stable bucket pass by patient suffices.
  MaskedRisks collect(std::size_t n_patients) const {
    std::lock_guard lock(mutex_);
    std::vector<std::size_t> start(n_patients + 1, 0);
    std::size_t total = 0;
    for (const auto& shard : shards_) {
      total += shard->ticks.size();
      for (const MaskedRisks::Tick& t : shard->ticks) ++start[t.patient + 1];
    }
    for (std::size_t p = 1; p < start.size(); ++p) start[p] += start[p - 1];
    std::vector<MaskedRisks::Tick> ticks(total);
    std::vector<double> risks(total * n_modalities_);
    for (const auto& shard : shards_) {
      for (std::size_t i = 0; i < shard->ticks.size(); ++i) {
        const std::size_t to = start[shard->ticks[i].patient]++;
        ticks[to] = shard->ticks[i];
        std::copy_n(shard->risks.begin() + static_cast<std::ptrdiff_t>(i * n_modalities_),
                    n_modalities_, risks.begin() + static_cast<std::ptrdiff_t>(to * n_modalities_));
      }
    }
    return MaskedRisks(static_cast<uint32_t>(n_modalities_), std::move(ticks), std::move(risks));
  }

 private:
  std::shared_ptr<const Scorer> inner_;
  std::size_t n_modalities_;
  mutable std::mutex mutex_;
  mutable std::vector<std::shared_ptr<ShardMasks>> shards_;
};

}  // namespace

MaskedRisks::MaskedRisks(uint32_t n_modalities, std::vector<Tick> ticks, std::vector<double> risks)
    : n_modalities_(n_modalities), ticks_(std::move(ticks)), risks_(std::move(risks)) {}

Result<TickTable> MaskedRisks::table(const TickTable& baseline, ModalityIndex m) const {
  if (m >= n_modalities_) {
    return make_error(Errc::invalid_argument,
                      fmt::format("report: no masked risks of modality {}", int(m)));
  }
  const auto before = [](const Tick& a, const ScoredTick& b) {
    return a.patient != b.patient ? a.patient < b.patient : a.score_time_ms < b.score_time_ms;
  };
  std::vector<ScoredTick> ticks;
  ticks.reserve(baseline.ticks.size());
  std::size_t j = 0;
  for (const ScoredTick& t : baseline.ticks) {
    while (j < ticks_.size() && before(ticks_[j], t)) ++j;
    if (j == ticks_.size() || ticks_[j].patient != t.patient ||
        ticks_[j].score_time_ms != t.score_time_ms) {
      return make_error(Errc::invalid_argument,
                        "report: a baseline tick has no masked risks (tables of different runs)");
    }
    const double risk = risks_[j * n_modalities_ + m];
    if (std::isnan(risk)) continue;
    ScoredTick masked = t;
    masked.risk = risk;
    masked.present_mask &= ~(1u << m);
    ticks.push_back(masked);
  }
  return make_tick_table(std::move(ticks), baseline.outcome_time_ms, baseline.horizon_ms,
                         baseline.tick_cadence_ms);
}

std::vector<OutcomeEvent> history_outcomes(std::span<const Event> events) {
  std::unordered_map<uint32_t, int64_t> first;
  for (const Event& e : events) {
    if (e.modality != kOutcomeModality) continue;
    auto [it, inserted] = first.try_emplace(e.patient, e.event_time_ms);
    if (!inserted) it->second = std::min(it->second, e.event_time_ms);
  }
  std::vector<OutcomeEvent> out;
  out.reserve(first.size());
  for (const auto& [patient, time] : first) out.push_back({patient, time});
  std::sort(out.begin(), out.end(),
            [](const OutcomeEvent& a, const OutcomeEvent& b) { return a.patient < b.patient; });
  return out;
}

std::vector<Event> scale_delays(std::span<const Event> events, double factor) {
  struct Key {
    int64_t arrival;
    uint64_t seq;
    std::size_t index;
  };
  std::vector<Key> keys(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    int64_t arrival = e.arrival_time_ms;
    const int64_t delay = e.arrival_time_ms - e.event_time_ms;
    if (e.modality != kOutcomeModality && delay > 0) {
      arrival = e.event_time_ms + std::llround(factor * static_cast<double>(delay));
    }
    keys[i] = {arrival, e.source_seq, i};
  }
  // The same order as sort_for_replay (arrival, source order, then position), sorting keys
  // rather than whole events.
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.arrival != b.arrival) return a.arrival < b.arrival;
    if (a.seq != b.seq) return a.seq < b.seq;
    return a.index < b.index;
  });
  std::vector<Event> out;
  out.reserve(events.size());
  for (const Key& k : keys) {
    out.push_back(events[k.index]);
    out.back().arrival_time_ms = k.arrival;
  }
  return out;
}

Result<int64_t> label_horizon(std::span<const BacktestScorer> scorers,
                              std::optional<int64_t> horizon_ms) {
  if (horizon_ms) {
    if (*horizon_ms <= 0) return make_error(Errc::invalid_argument, "horizon must be > 0");
    return *horizon_ms;
  }
  std::optional<int64_t> found;
  for (const BacktestScorer& s : scorers) {
    if (!s.horizon_ms) continue;
    if (found && *found != *s.horizon_ms) {
      return make_error(Errc::invalid_argument,
                        fmt::format("models were trained with different horizons ({} ms for '{}', "
                                    "{} ms before); give one with --horizon",
                                    *s.horizon_ms, s.name, *found));
    }
    found = s.horizon_ms;
  }
  return found.value_or(kDefaultHorizonMs);
}

Result<TickTable> score_events(std::span<const Event> events, const EngineConfig& config,
                               std::shared_ptr<const Scorer> scorer,
                               const PatientRegistry& registry,
                               std::span<const OutcomeEvent> outcomes, int64_t horizon_ms,
                               ReplayStats* stats, MaskedRisks* masked) {
  TickCollector sink(config.schema.size());
  std::shared_ptr<const MaskingScorer> masking;
  if (masked) {
    masking = std::make_shared<MaskingScorer>(std::move(scorer), config.schema.size());
    scorer = masking;
  }
  ReplayStats replay = replay_events(events, config, std::move(scorer), registry, sink);
  if (stats) *stats = replay;
  if (masking) *masked = masking->collect(registry.size());
  return build_labels(sink.take(), outcomes, static_cast<uint32_t>(registry.size()), horizon_ms,
                      config.tick_cadence_ms);
}

Result<Report> run_backtest(const History& history, const PatientRegistry& registry,
                            const EngineConfig& config, std::span<const BacktestScorer> scorers,
                            const BacktestOptions& options, BacktestStats* stats_out) {
  if (scorers.empty()) return make_error(Errc::invalid_argument, "no scorer to backtest");
  if (registry.size() >= kMaxPatients) {
    return make_error(
        Errc::invalid_argument,
        fmt::format("{} patients: a report handles at most {}", registry.size(), kMaxPatients - 1));
  }
  auto horizon = label_horizon(scorers, options.horizon_ms);
  if (!horizon) return horizon.error();
  if (!(options.delay_factor > 0)) {
    return make_error(Errc::invalid_argument, "delay factor must be > 0");
  }
  const auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  BacktestStats stats;
  stats.history_events = history.events.size();
  const std::span<const Event> events(history.events);
  const std::vector<OutcomeEvent> outcomes = history_outcomes(events);
  const std::size_t n = scorers.size();
  // The replay clock never passes the last arrival, so no baseline tick is later than this.
  int64_t history_end_ms = std::numeric_limits<int64_t>::min();
  for (const Event& e : events) history_end_ms = std::max(history_end_ms, e.arrival_time_ms);

  // Replays every scorer over `variant`; each table goes to `use` (from the calling thread). With
  // `masked`, each replay also records its ticks' masked risks there ([n]).
  const auto replay_all = [&](std::span<const Event> variant, const std::string& what,
                              std::vector<MaskedRisks>* masked, auto&& use) -> Result<void> {
    const auto start = Clock::now();
    std::vector<std::optional<Result<TickTable>>> tables(n);
    std::vector<ReplayStats> replay(n);
    if (masked) masked->assign(n, MaskedRisks{});
    for_each_scorer(n, options.parallel_replays, [&](std::size_t i) {
      // A failure stays a value of its slot: nothing thrown leaves a worker thread.
      try {
        tables[i].emplace(score_events(variant, config, scorers[i].scorer, registry, outcomes,
                                       horizon.value(), &replay[i],
                                       masked ? &(*masked)[i] : nullptr));
      } catch (const std::exception& e) {
        tables[i].emplace(make_error(Errc::config, std::string("replay failed: ") + e.what()));
      }
    });
    const double seconds = seconds_since(start);
    stats.replay_seconds += seconds;
    stats.runs += n;
    uint64_t ticks = 0;
    for (const ReplayStats& r : replay) ticks += r.pipeline.scores_emitted;
    stats.ticks += ticks;
    uint64_t masked_scores = 0;
    if (masked) {
      for (const MaskedRisks& m : *masked) masked_scores += m.size() * config.schema.size();
    }
    stats.masked_scores += masked_scores;
    log(fmt::format("replay {} ({} scorer{}): {} events, {} scores{}, {:.1f} s", what, n,
                    n == 1 ? "" : "s", millions(variant.size()), millions(ticks),
                    masked ? " (and each modality masked)" : "", seconds));
    const auto metrics_start = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      if (!*tables[i]) {
        return make_error(tables[i]->error().code,
                          scorers[i].name + ": " + tables[i]->error().message);
      }
      auto used = use(i, std::move(tables[i]->value()));
      if (!used) return used.error();
      tables[i].reset();
    }
    stats.metrics_seconds += seconds_since(metrics_start);
    return ok();
  };

  Report report;
  ReportMeta& meta = report.meta;
  for (const ModalitySpec& spec : config.schema.specs()) meta.modalities.push_back(spec.name);
  meta.horizon_ms = horizon.value();
  meta.tick_cadence_ms = config.tick_cadence_ms;
  meta.patients = static_cast<uint32_t>(registry.size());
  meta.events = history.events.size();
  meta.options = options.evaluation;

  // Baselines: evaluated, and kept for the stress comparisons and timelines.
  std::vector<TickTable> baselines(n);
  std::vector<MaskedRisks> masked;
  auto base = replay_all(events, "history", options.stress ? &masked : nullptr,
                         [&](std::size_t i, TickTable table) -> Result<void> {
                           baselines[i] = std::move(table);
                           return ok();
                         });
  if (!base) return base.error();
  report.models.resize(n);
  {
    const auto start = Clock::now();
    std::vector<double> seconds(n);
    std::vector<std::string> failed(n);
    for_each_scorer(n, options.parallel_replays, [&](std::size_t i) {
      const auto own_start = Clock::now();
      try {
        report.models[i].evaluation = evaluate(baselines[i], options.evaluation);
      } catch (const std::exception& e) {
        failed[i] = e.what();
      }
      seconds[i] = seconds_since(own_start);
    });
    for (std::size_t i = 0; i < n; ++i) {
      if (!failed[i].empty()) {
        return make_error(Errc::config, scorers[i].name + ": evaluation failed: " + failed[i]);
      }
      const ScorerSpec& spec = scorers[i].scorer->spec();
      report.models[i].info = {scorers[i].name, spec.strategy, spec.model_id};
      log(fmt::format("evaluate {}: {} ticks, {} subgroups, {:.1f} s", scorers[i].name,
                      millions(baselines[i].ticks.size()),
                      report.models[i].evaluation.subgroups.size(), seconds[i]));
    }
    stats.metrics_seconds += seconds_since(start);
  }

  if (options.stress) {
    std::vector<std::optional<ComparisonBaseline>> prepared(n);
    // Each scorer's stressed table against its prepared baseline, side by side; results are
    // added in scorer order.
    const auto compare_all = [&](const StressResult& kind, auto&& stressed_table) -> Result<void> {
      const auto start = Clock::now();
      std::vector<std::optional<Result<StressComparison>>> results(n);
      for_each_scorer(n, options.parallel_replays, [&](std::size_t i) {
        try {
          if (!prepared[i]) prepared[i].emplace(baselines[i], options.evaluation);
          Result<TickTable> table = stressed_table(i);
          if (!table) {
            results[i].emplace(table.error());
            return;
          }
          results[i].emplace(compare(*prepared[i], table.value()));
        } catch (const std::exception& e) {
          results[i].emplace(
              make_error(Errc::config, std::string("comparison failed: ") + e.what()));
        }
      });
      for (std::size_t i = 0; i < n; ++i) {
        if (!*results[i]) return results[i]->error();
        StressResult result = kind;
        result.comparison = results[i]->value();
        report.models[i].stress.push_back(std::move(result));
      }
      const double seconds = seconds_since(start);
      stats.metrics_seconds += seconds;
      log(fmt::format("stress '{}': compared in {:.1f} s", stress_name(kind), seconds));
      return ok();
    };
    for (std::size_t m = 0; m < config.schema.size(); ++m) {
      StressResult kind;
      kind.kind = StressKind::mask_modality;
      kind.modality = config.schema[static_cast<ModalityIndex>(m)].name;
      auto done = compare_all(kind, [&](std::size_t i) {
        return masked[i].table(baselines[i], static_cast<ModalityIndex>(m));
      });
      if (!done) return done.error();
    }
    masked.clear();

    const auto start = Clock::now();
    std::vector<Event> delayed = scale_delays(events, options.delay_factor);
    // Delayed evidence would keep the clock running past the history's end: time the baseline
    // never scored. The replay stops at the last arrival of the history.
    std::erase_if(delayed, [&](const Event& e) { return e.arrival_time_ms > history_end_ms; });
    stats.replay_seconds += seconds_since(start);
    StressResult kind;
    kind.kind = StressKind::delay_scale;
    kind.delay_factor = options.delay_factor;
    std::vector<TickTable> delayed_tables(n);
    auto replayed = replay_all(delayed, stress_name(kind), nullptr,
                               [&](std::size_t i, TickTable table) -> Result<void> {
                                 delayed_tables[i] = std::move(table);
                                 return ok();
                               });
    if (!replayed) return replayed.error();
    delayed.clear();
    delayed.shrink_to_fit();
    auto done = compare_all(
        kind, [&](std::size_t i) -> Result<TickTable> { return std::move(delayed_tables[i]); });
    if (!done) return done.error();
  }

  if (options.timelines) {
    const auto start = Clock::now();
    std::vector<uint32_t> masks;
    for (const GroupMetrics& g : report.models.front().evaluation.subgroups) {
      masks.push_back(g.present_mask);
    }
    const std::vector<uint32_t> picked = sample_patients(baselines.front(), masks);
    // Event lanes of the picked patients, from one pass over the history.
    std::unordered_map<uint32_t, std::vector<std::vector<int64_t>>> lanes;
    for (const uint32_t p : picked) {
      if (p != UINT32_MAX) lanes[p].resize(config.schema.size());
    }
    for (const Event& e : events) {
      if (e.modality == kOutcomeModality) continue;
      auto it = lanes.find(e.patient);
      if (it != lanes.end() && e.modality < it->second.size()) {
        it->second[e.modality].push_back(e.event_time_ms);
      }
    }
    for (std::size_t k = 0; k < masks.size(); ++k) {
      const uint32_t p = picked[k];
      if (p == UINT32_MAX) continue;
      Timeline t;
      t.present_mask = masks[k];
      t.patient = patient_pseudonym(registry.id(p));
      t.outcome_time_ms = baselines.front().outcome_time_ms[p];
      t.horizon_ms = horizon.value();
      int64_t lo = std::numeric_limits<int64_t>::max();
      int64_t hi = std::numeric_limits<int64_t>::min();
      std::vector<std::vector<int64_t>>& patient_lanes = lanes[p];
      for (std::size_t m = 0; m < patient_lanes.size(); ++m) {
        std::vector<int64_t>& times = patient_lanes[m];
        std::sort(times.begin(), times.end());
        if (!times.empty()) {
          lo = std::min(lo, times.front());
          hi = std::max(hi, times.back());
        }
        t.events.push_back({meta.modalities[m], times});
      }
      for (std::size_t i = 0; i < n; ++i) {
        RiskTrace trace = risk_trace(
            baselines[i], p, timeline_threshold(report.models[i].evaluation, options.evaluation));
        trace.model = scorers[i].name;
        if (!trace.risk.empty()) {
          lo = std::min(lo, trace.risk.front().time_ms);
          hi = std::max(hi, trace.risk.back().time_ms);
        }
        t.traces.push_back(std::move(trace));
      }
      if (t.outcome_time_ms != kNoOutcome) hi = std::max(hi, t.outcome_time_ms);
      if (lo > hi) continue;  // nothing to draw
      t.start_ms = lo;
      t.end_ms = std::max(hi, lo + 1);
      report.timelines.push_back(std::move(t));
    }
    const double seconds = seconds_since(start);
    stats.metrics_seconds += seconds;
    log(fmt::format("timelines: {} sample patients, {:.1f} s", report.timelines.size(), seconds));
  }
  if (stats_out) *stats_out = stats;
  return report;
}

}  // namespace tfe::report
