#include "tools/report/backtest.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_invoke.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

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

}  // namespace

MaskedRisks::MaskedRisks(const TickRisks& risks, uint32_t first_column, uint32_t n_modalities)
    : risks_(risks.select(first_column, n_modalities)) {}

Result<TickTable> MaskedRisks::table(const TickTable& baseline, ModalityIndex m) const {
  if (m >= risks_.columns()) {
    return make_error(Errc::invalid_argument,
                      fmt::format("report: no masked risks of modality {}", int(m)));
  }
  return risks_.table(baseline, m, 1u << m);
}

uint64_t MaskedRisks::rescored() const {
  const uint32_t columns = risks_.columns() >= 32 ? ~0u : (1u << risks_.columns()) - 1;
  uint64_t n = 0;
  for (const TickRisks::Tick& t : risks_.ticks()) {
    const int present = std::popcount(static_cast<uint32_t>(t.present_mask));
    if (present >= 2) n += static_cast<uint64_t>(std::popcount(t.present_mask & columns));
  }
  return n;
}

std::vector<OutcomeEvent> history_outcomes(const ReplaySequence& events) {
  std::unordered_map<uint32_t, int64_t> first;
  events.for_each_header([&](const EventHeader& e, int64_t) {
    if (e.modality != kOutcomeModality) return true;
    auto [it, inserted] = first.try_emplace(e.patient, e.event_time_ms);
    if (!inserted) it->second = std::min(it->second, e.event_time_ms);
    return true;
  });
  std::vector<OutcomeEvent> out;
  out.reserve(first.size());
  for (const auto& [patient, time] : first) out.push_back({patient, time});
  std::sort(out.begin(), out.end(),
            [](const OutcomeEvent& a, const OutcomeEvent& b) { return a.patient < b.patient; });
  return out;
}

std::vector<Rearrival> scale_delays(const ReplaySequence& events, double factor) {
  struct Key {
    int64_t arrival;
    uint64_t seq;
    std::size_t index;
  };
  std::vector<Key> keys;
  keys.reserve(events.size());
  events.for_each_header([&](const EventHeader& e, int64_t) {
    int64_t arrival = e.arrival_time_ms;
    const int64_t delay = e.arrival_time_ms - e.event_time_ms;
    if (e.modality != kOutcomeModality && delay > 0) {
      arrival = e.event_time_ms + std::llround(factor * static_cast<double>(delay));
    }
    keys.push_back({arrival, e.source_seq, keys.size()});
    return true;
  });
  // The same order as sort_for_replay (arrival, source order, then position), sorting keys
  // rather than whole events.
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.arrival != b.arrival) return a.arrival < b.arrival;
    if (a.seq != b.seq) return a.seq < b.seq;
    return a.index < b.index;
  });
  std::vector<Rearrival> order;
  order.reserve(keys.size());
  for (const Key& k : keys) order.push_back({k.index, k.arrival});
  return order;
}

Result<int64_t> label_horizon(std::span<const BacktestScorer> scorers,
                              std::optional<int64_t> horizon_ms) {
  if (horizon_ms) {
    if (*horizon_ms <= 0) return make_error(Errc::invalid_argument, "horizon must be > 0");
    return *horizon_ms;
  }
  const BacktestScorer* found = nullptr;  // the first scorer with a known horizon
  for (const BacktestScorer& s : scorers) {
    if (!s.horizon_ms) continue;
    if (found && *found->horizon_ms != *s.horizon_ms) {
      return make_error(Errc::invalid_argument,
                        fmt::format("models were trained with different horizons ({} ms for '{}', "
                                    "{} ms for '{}'); give one with --horizon",
                                    *found->horizon_ms, found->name, *s.horizon_ms, s.name));
    }
    if (!found) found = &s;
  }
  return found ? *found->horizon_ms : kDefaultHorizonMs;
}

Result<std::vector<TickTable>> score_events(const ReplaySequence& events,
                                            const EngineConfig& config,
                                            std::span<const std::shared_ptr<const Scorer>> scorers,
                                            const PatientRegistry& registry,
                                            std::span<const OutcomeEvent> outcomes,
                                            int64_t horizon_ms, ReplayStats* stats,
                                            std::vector<MaskedRisks>* masked, RunLink* link) {
  if (scorers.empty()) return make_error(Errc::invalid_argument, "no scorer to replay");
  const auto n_patients = static_cast<uint32_t>(registry.size());
  if (scorers.size() == 1 && !masked && !link) {
    TickCollector sink(config.schema.size());
    ReplayStats replay = replay_events(events, config, scorers.front(), registry, sink);
    if (stats) *stats = replay;
    auto table =
        build_labels(sink.take(), outcomes, n_patients, horizon_ms, config.tick_cadence_ms);
    if (!table) return table.error();
    std::vector<TickTable> tables;
    tables.push_back(std::move(table.value()));
    return tables;
  }
  auto group = ScorerGroup::create(std::vector(scorers.begin(), scorers.end()), config.schema,
                                   masked != nullptr, link ? link->takeover : GroupTakeover{});
  if (!group) return group.error();
  // The group records every tick with its risks and present modalities: the engine emits nothing.
  CountingScoreSink unused;
  ReplayOptions quiet;
  quiet.emit_scores = false;
  ReplayStats replay = replay_events(events, config, group.value(), registry, unused, quiet);
  if (stats) *stats = replay;
  if (link) {
    // The earlier run's ticks go before this run's tables are built: at the backtest's peak.
    group.value()->release_earlier();
    link->takeover.earlier.reset();
    link->taken_over = group.value()->taken_over();
    if (link->takeover.record) {
      link->recorded = group.value()->record_ticks(n_patients);
      if (link->recorded_ready) link->recorded_ready();
    }
  }
  // Isolated: a variant's replay started by recorded_ready must not run inside this thread's
  // waits below (it would hold these tables until it ends); an idle worker takes it.
  return tbb::this_task_arena::isolate([&]() -> Result<std::vector<TickTable>> {
    // The first scorer's table is labelled; the others' take its labels.
    TickRisks risks = group.value()->collect(n_patients);
    // The shards' records are all in `risks` now: freed before the tables are built from it.
    const uint32_t stride = group.value()->stride();
    group.value().reset();
    // Already in (patient, time) order: labelling sorts nothing.
    auto [keys, first_risks] = risks.keyed(0);
    Result<TickTable> first = build_labels(std::move(keys), std::move(first_risks), outcomes,
                                           n_patients, horizon_ms, config.tick_cadence_ms);
    if (!first) return first.error();
    std::vector<std::optional<Result<TickTable>>> others(scorers.size());
    tbb::parallel_for(std::size_t{1}, scorers.size(), [&](std::size_t s) {
      others[s].emplace(risks.table(first.value(), static_cast<uint32_t>(s) * stride));
    });
    std::vector<TickTable> tables(scorers.size());
    for (std::size_t s = 1; s < scorers.size(); ++s) {
      if (!*others[s]) return others[s]->error();
      tables[s] = std::move(others[s]->value());
    }
    tables[0] = std::move(first.value());
    if (masked) {
      masked->clear();
      for (std::size_t s = 0; s < scorers.size(); ++s) {
        masked->emplace_back(risks, static_cast<uint32_t>(s) * stride + 1,
                             static_cast<uint32_t>(stride - 1));
      }
    }
    return tables;
  });
}

Result<TickTable> score_events(const ReplaySequence& events, const EngineConfig& config,
                               std::shared_ptr<const Scorer> scorer,
                               const PatientRegistry& registry,
                               std::span<const OutcomeEvent> outcomes, int64_t horizon_ms,
                               ReplayStats* stats, MaskedRisks* masked) {
  std::vector<MaskedRisks> risks;
  auto tables = score_events(events, config, std::span(&scorer, 1), registry, outcomes, horizon_ms,
                             stats, masked ? &risks : nullptr);
  if (!tables) return tables.error();
  if (masked) *masked = std::move(risks.front());
  return std::move(tables.value().front());
}

std::vector<std::vector<std::size_t>> share_groups(std::span<const BacktestScorer> scorers,
                                                   const ModalitySchema& schema) {
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < scorers.size(); ++i) {
    bool placed = false;
    for (auto& group : groups) {
      std::vector<std::shared_ptr<const Scorer>> members;
      for (const std::size_t j : group) members.push_back(scorers[j].scorer);
      members.push_back(scorers[i].scorer);
      if (ScorerGroup::create(std::move(members), schema, false)) {
        group.push_back(i);
        placed = true;
        break;
      }
    }
    if (!placed) groups.push_back({i});
  }
  return groups;
}

Result<Report> run_backtest(const ReplaySequence& events, const PatientRegistry& registry,
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
  // Bounded: scaled arrival times must stay representable (a factor of 1e12 overflowed them).
  if (!(options.delay_factor >= kMinDelayFactor && options.delay_factor <= kMaxDelayFactor)) {
    return make_error(Errc::invalid_argument, fmt::format("delay factor must be from {:g} to {:g}",
                                                          kMinDelayFactor, kMaxDelayFactor));
  }
  if (options.evaluation.bootstrap_replicates > kMaxBootstrapReplicates) {
    return make_error(Errc::invalid_argument, fmt::format("bootstrap replicates must be at most {}",
                                                          kMaxBootstrapReplicates));
  }
  // Outside (0, 1) the percentile positions leave the replicates (an out-of-bounds read).
  if (!(options.evaluation.confidence > 0 && options.evaluation.confidence < 1)) {
    return make_error(Errc::invalid_argument, fmt::format("interval confidence must be in (0, 1), "
                                                          "got {:g}",
                                                          options.evaluation.confidence));
  }
  // Thresholds ascending and each once, as the defaults are: a repeated one (--threshold 0.2
  // twice) would repeat its row in every alert table of the report.
  EvaluationOptions evaluation = options.evaluation;
  for (const double t : evaluation.thresholds) {
    if (!(t >= 0 && t <= 1)) {
      return make_error(Errc::invalid_argument,
                        fmt::format("alert thresholds must be from 0 to 1, got {:g}", t));
    }
  }
  std::sort(evaluation.thresholds.begin(), evaluation.thresholds.end());
  evaluation.thresholds.erase(
      std::unique(evaluation.thresholds.begin(), evaluation.thresholds.end()),
      evaluation.thresholds.end());
  // The delay variant's replay logs from another thread while the baselines are evaluated.
  std::mutex log_mutex;
  const auto log = [&](const std::string& line) {
    if (!options.log) return;
    const std::lock_guard lock(log_mutex);
    options.log(line);
  };
  BacktestStats stats;
  stats.history_events = events.size();
  // The delay variant's replay may start while the baseline's finishes: both add to the stats.
  std::mutex stats_mutex;
  const auto add_replay_seconds = [&](double seconds) {
    const std::lock_guard lock(stats_mutex);
    stats.replay_seconds += seconds;
  };
  const std::vector<OutcomeEvent> outcomes = history_outcomes(events);
  const std::size_t n = scorers.size();
  // The replay clock never passes the last arrival, so no baseline tick is later than this.
  int64_t history_end_ms = std::numeric_limits<int64_t>::min();
  events.for_each_header([&](const EventHeader&, int64_t arrival_ms) {
    history_end_ms = std::max(history_end_ms, arrival_ms);
    return true;
  });

  // Scorers that can share one engine state replay together.
  const std::vector<std::vector<std::size_t>> groups = share_groups(scorers, config.schema);
  if (groups.size() < n) {
    std::string shared;
    for (const auto& group : groups) {
      if (!shared.empty()) shared += "; ";
      for (std::size_t k = 0; k < group.size(); ++k) {
        shared += (k ? " + " : "") + scorers[group[k]].name;
      }
    }
    log(fmt::format("{} scorers in {} replay{} per variant: {}", n, groups.size(),
                    groups.size() == 1 ? "" : "s", shared));
  }

  // Replays every group over `variant`: one table per scorer, in scorer order. With `masked`,
  // the replays also record each scorer's masked risks there ([n]). With `links` ([groups]),
  // each group's run is recorded or takes over an earlier one.
  const auto replay_all = [&](const ReplaySequence& variant, const std::string& what,
                              std::vector<MaskedRisks>* masked,
                              std::span<RunLink> links) -> Result<std::vector<TickTable>> {
    const auto start = Clock::now();
    std::vector<std::optional<Result<std::vector<TickTable>>>> tables(groups.size());
    std::vector<std::vector<MaskedRisks>> group_masked(groups.size());
    std::vector<ReplayStats> replay(groups.size());
    for_each_scorer(groups.size(), options.parallel_replays, [&](std::size_t g) {
      std::vector<std::shared_ptr<const Scorer>> members;
      for (const std::size_t i : groups[g]) members.push_back(scorers[i].scorer);
      // A failure stays a value of its slot: nothing thrown leaves a worker thread.
      try {
        tables[g].emplace(
            score_events(variant, config, members, registry, outcomes, horizon.value(), &replay[g],
                         masked ? &group_masked[g] : nullptr, links.empty() ? nullptr : &links[g]));
      } catch (const std::exception& e) {
        tables[g].emplace(make_error(Errc::config, std::string("replay failed: ") + e.what()));
      }
    });
    const double seconds = seconds_since(start);
    std::unique_lock stats_lock(stats_mutex);
    stats.replay_seconds += seconds;
    stats.runs += groups.size();
    uint64_t scores = 0;
    uint64_t reused = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      scores += replay[g].pipeline.ticks * groups[g].size();
      if (!links.empty()) reused += links[g].taken_over * groups[g].size();
    }
    stats.ticks += scores;
    stats.taken_over += reused;
    uint64_t masked_scores = 0;
    if (masked) {
      masked->assign(n, MaskedRisks{});
      for (std::size_t g = 0; g < groups.size(); ++g) {
        for (std::size_t k = 0; k < group_masked[g].size(); ++k) {
          masked_scores += group_masked[g][k].rescored();
          (*masked)[groups[g][k]] = std::move(group_masked[g][k]);
        }
      }
    }
    stats.masked_scores += masked_scores;
    stats_lock.unlock();
    log(fmt::format(
        "replay {} ({} scorer{}): {} events, {} scores{}{}, {:.1f} s", what, n, n == 1 ? "" : "s",
        millions(variant.size()), millions(scores), masked ? " (and each modality masked)" : "",
        reused == 0
            ? ""
            : fmt::format(" ({} of them the history's, snapshot unchanged)", millions(reused)),
        seconds));
    std::vector<TickTable> by_scorer(n);
    for (std::size_t g = 0; g < groups.size(); ++g) {
      if (!*tables[g]) {
        std::string names;
        for (const std::size_t i : groups[g])
          names += (names.empty() ? "" : ", ") + scorers[i].name;
        return make_error(tables[g]->error().code, names + ": " + tables[g]->error().message);
      }
      for (std::size_t k = 0; k < groups[g].size(); ++k) {
        by_scorer[groups[g][k]] = std::move(tables[g]->value()[k]);
      }
      tables[g].reset();
    }
    return by_scorer;
  };

  Report report;
  ReportMeta& meta = report.meta;
  for (const ModalitySpec& spec : config.schema.specs()) meta.modalities.push_back(spec.name);
  meta.horizon_ms = horizon.value();
  meta.tick_cadence_ms = config.tick_cadence_ms;
  meta.patients = static_cast<uint32_t>(registry.size());
  meta.events = events.size();
  meta.options = evaluation;

  // The delay variant needs the events alone, so its replay runs while the baselines are evaluated
  // and compared, phases that leave a core idle at times; it is compared once both are done. It
  // takes over the baseline's ticks whose snapshot the delays left unchanged (each group's
  // baseline records its ticks for that), so it starts once every group's baseline is recorded;
  // with one group, before that group's tables are built. Each result has its own slot, so the
  // report does not depend on the overlap.
  StressResult delay_kind;
  delay_kind.kind = StressKind::delay_scale;
  delay_kind.delay_factor = options.delay_factor;
  std::optional<Result<std::vector<TickTable>>> delayed_tables;
  std::vector<RunLink> recording(options.stress ? groups.size() : 0);
  std::vector<RunLink> taking_over(recording.size());
  const auto replay_delayed = [&] {
    try {
      const auto start = Clock::now();
      std::vector<Rearrival> delayed = scale_delays(events, options.delay_factor);
      // Delayed evidence would keep the clock running past the history's end: time the baseline
      // never scored. The replay stops at the last arrival of the history.
      std::erase_if(delayed, [&](const Rearrival& r) { return r.arrival_ms > history_end_ms; });
      add_replay_seconds(seconds_since(start));
      delayed_tables.emplace(
          replay_all(events.rearranged(delayed), stress_name(delay_kind), nullptr, taking_over));
      taking_over.clear();
    } catch (const std::exception& e) {
      delayed_tables.emplace(make_error(Errc::config, std::string("replay failed: ") + e.what()));
    }
  };
  const bool overlap = options.stress && options.parallel_replays;
  tbb::task_group background;
  bool delay_started = false;
  for (std::size_t g = 0; g < recording.size(); ++g) {
    recording[g].takeover.record = true;
    if (overlap && groups.size() == 1) {
      // Spawned from the baseline's replay thread: its own waits after this are isolated.
      recording[g].recorded_ready = [&, g] {
        taking_over[g].takeover.earlier = recording[g].recorded;
        background.run(replay_delayed);
        delay_started = true;
      };
    }
  }

  // Baselines: evaluated, and kept for the stress comparisons and timelines.
  std::vector<MaskedRisks> masked;
  auto base = replay_all(events, "history", options.stress ? &masked : nullptr, recording);
  if (!base) {
    background.wait();
    return base.error();
  }
  const std::vector<TickTable> baselines = std::move(base.value());
  if (!delay_started) {
    for (std::size_t g = 0; g < recording.size(); ++g) {
      taking_over[g].takeover.earlier = std::move(recording[g].recorded);
    }
    if (overlap) background.run(replay_delayed);
  }
  recording.clear();

  report.models.resize(n);
  std::vector<std::optional<ComparisonBaseline>> prepared(n);
  const auto evaluate_all = [&]() -> Result<void> {
    const auto start = Clock::now();
    std::vector<double> seconds(n);
    std::vector<std::string> failed(n);
    for_each_scorer(n, options.parallel_replays, [&](std::size_t i) {
      const auto own_start = Clock::now();
      try {
        // The ranking and resamples of the evaluation also serve the stress comparisons.
        report.models[i].evaluation =
            evaluate(baselines[i], evaluation, options.stress ? &prepared[i] : nullptr);
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
                      millions(baselines[i].size()), report.models[i].evaluation.subgroups.size(),
                      seconds[i]));
    }
    stats.metrics_seconds += seconds_since(start);
    return ok();
  };

  // Each scorer's stressed table against its prepared baseline, side by side; results are added
  // in scorer order.
  const auto compare_all = [&](const StressResult& kind, auto&& stressed_table) -> Result<void> {
    const auto start = Clock::now();
    std::vector<std::optional<Result<StressComparison>>> results(n);
    for_each_scorer(n, options.parallel_replays, [&](std::size_t i) {
      try {
        Result<TickTable> table = stressed_table(i);
        if (!table) {
          results[i].emplace(table.error());
          return;
        }
        results[i].emplace(compare(*prepared[i], table.value()));
      } catch (const std::exception& e) {
        results[i].emplace(make_error(Errc::config, std::string("comparison failed: ") + e.what()));
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
  const auto compare_masked = [&]() -> Result<void> {
    for (std::size_t m = 0; m < config.schema.size(); ++m) {
      StressResult kind;
      kind.kind = StressKind::mask_modality;
      kind.modality = config.schema[static_cast<ModalityIndex>(m)].name;
      auto done = compare_all(kind, [&](std::size_t i) {
        return masked[i].table(baselines[i], static_cast<ModalityIndex>(m));
      });
      if (!done) return done.error();
      // Compared: its risks make room for what the delay variant's replay is still building.
      for (MaskedRisks& risks : masked) risks.release(static_cast<ModalityIndex>(m));
    }
    masked.clear();
    return ok();
  };

  std::optional<Result<void>> evaluated;
  // Isolated: this thread must not take up the background replay between its own tasks (it would
  // hold the comparisons until that replay ends); idle workers do.
  tbb::this_task_arena::isolate([&] {
    evaluated.emplace(evaluate_all());
    if (*evaluated && options.stress) evaluated.emplace(compare_masked());
  });
  background.wait();
  if (!*evaluated) return evaluated->error();
  if (options.stress) {
    if (!overlap) replay_delayed();
    if (!*delayed_tables) return delayed_tables->error();
    auto done = compare_all(delay_kind, [&](std::size_t i) -> Result<TickTable> {
      return std::move(delayed_tables->value()[i]);
    });
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
    events.for_each_header([&](const EventHeader& e, int64_t) {
      if (e.modality == kOutcomeModality) return true;
      auto it = lanes.find(e.patient);
      if (it != lanes.end() && e.modality < it->second.size()) {
        it->second[e.modality].push_back(e.event_time_ms);
      }
      return true;
    });
    TimelinePatientLabels labels;
    for (std::size_t k = 0; k < masks.size(); ++k) {
      const uint32_t p = picked[k];
      if (p == UINT32_MAX) continue;
      Timeline t;
      t.present_mask = masks[k];
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
        RiskTrace trace = risk_trace(baselines[i], p,
                                     timeline_threshold(report.models[i].evaluation, evaluation));
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
      t.patient = labels.label(p);  // labelled once kept, so the numbers follow the list
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
