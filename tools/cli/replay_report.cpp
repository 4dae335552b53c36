#include "tools/cli/replay_report.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "connectors/dead_letter.h"
#include "connectors/history_replay.h"
#include "engine/duration.h"
#include "engine/patient_registry.h"
#include "tools/cli/allocator.h"
#include "tools/cli/command.h"
#include "tools/cli/progress_line.h"
#include "tools/cli/scorers.h"
#include "tools/report/backtest.h"

namespace tfe::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Scorer names must tell models apart in the report: a repeated name gets " (2)", " (3)", ...
void make_names_unique(std::vector<report::BacktestScorer>& scorers) {
  std::set<std::string> seen;
  for (report::BacktestScorer& s : scorers) {
    std::string name = s.name;
    for (int k = 2; !seen.insert(name).second; ++k) name = fmt::format("{} ({})", s.name, k);
    s.name = name;
  }
}

// What the report's replays and metrics will allocate, from the history files' sizes: on the
// 10,000-patient ward day (a 432 MB binary log) each scorer with the stress tests needed about
// 1.5 GB beyond the history (docs/performance.md, "Backtest report"), 3.5 bytes per byte of file;
// without the stress tests about half. Capped at a quarter of the memory available. Only an
// estimate: touching stops when the load is done, and what is not reused stays with the
// allocator until the command exits.
std::size_t pretouch_estimate(const std::vector<std::string>& files, std::size_t scorers,
                              bool stress) {
  std::size_t bytes = 0;
  for (const std::string& f : files) {
    std::error_code error;
    const auto size = std::filesystem::file_size(f, error);
    if (!error) bytes += static_cast<std::size_t>(size);
  }
  const double per_byte = (stress ? 3.5 : 1.75) * static_cast<double>(scorers);
  const auto estimate = static_cast<std::size_t>(per_byte * static_cast<double>(bytes));
  return std::min(estimate, available_memory() / 4);
}

}  // namespace

void add_replay_report_options(CLI::App& cmd, ReplayReportArgs& args) {
  CLI::Option* report =
      cmd.add_option("--report", args.dir,
                     "Backtest: write report.html and report.json to DIR (every --model and, with "
                     "--strategy news2, NEWS2 side by side)")
          ->option_text("DIR");
  const std::size_t first_report_only = cmd.get_options().size();
  cmd.add_option("--horizon", args.horizon,
                 "Report: label horizon (e.g. 6h); default: the models' training horizon, else 6h")
      ->option_text("DURATION");
  cmd.add_option("--bootstrap", args.bootstrap,
                 "Report: bootstrap replicates over patients for the intervals (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0u, report::kMaxBootstrapReplicates));
  cmd.add_option("--seed", args.seed, "Report: bootstrap seed")
      ->capture_default_str()
      ->check(SeedNumber());
  cmd.add_option("--threshold", args.thresholds,
                 "Report: alert threshold on the risk, repeatable (default 0.1 0.2 0.3 0.5)")
      ->check(NumberFrom(0.0, 1.0));
  cmd.add_option("--alerts-per-day", args.alerts_per_day,
                 "Report: also the threshold giving this many alerts per patient-day (0: none)")
      ->capture_default_str()
      ->check(NumberFrom(0.0, 1e6));
  cmd.add_flag("--no-stress", args.no_stress,
               "Report: skip the stress tests (each modality masked, arrival delays scaled)");
  cmd.add_option("--delay-factor", args.delay_factor,
                 "Report: arrival delay multiplier of the delay stress test")
      ->capture_default_str()
      ->check(NumberFrom(report::kMinDelayFactor, report::kMaxDelayFactor));
  cmd.add_flag("--sequential", args.sequential,
               "Report: one replay at a time (default: the scorers' replays run side by side)");
  cmd.add_option("--pretouch", args.pretouch_mb,
                 "Report: MB of memory to fault in on the idle core while the history loads, for "
                 "the replays to reuse (0: none; default: estimated from the files and scorers)")
      ->option_text("MB")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  // Silently ignoring them would let a user believe they shaped a run they did not.
  const std::vector<CLI::Option*> options = cmd.get_options();
  for (std::size_t i = first_report_only; i < options.size(); ++i) options[i]->needs(report);
}

int run_replay_report(const ReplayCommon& common, const ReplayReportArgs& args) {
  constexpr const char* kCmd = "replay";
  const auto start = Clock::now();
  if (common.history.empty()) {
    print_error(kCmd, "--report needs at least one --history file");
    return kExitUsage;
  }
  if (common.models.empty() && !common.news2) {
    print_error(kCmd, "--report needs at least one --model or --strategy news2");
    return kExitUsage;
  }
  if (common.pace > 0) {
    print_error(kCmd, "--report replays as fast as possible; leave out --pace");
    return kExitUsage;
  }
  report::BacktestOptions options;
  if (!args.horizon.empty()) {
    auto horizon = parse_duration_ms(args.horizon);
    if (!horizon || horizon.value() <= 0) {
      print_error(kCmd,
                  "--horizon: expected a positive duration such as 6h, got '" + args.horizon + "'");
      return kExitUsage;
    }
    options.horizon_ms = horizon.value();
  }
  options.evaluation.bootstrap_replicates = args.bootstrap;
  options.evaluation.seed = args.seed;
  if (!args.thresholds.empty()) options.evaluation.thresholds = args.thresholds;
  options.evaluation.target_alerts_per_patient_day = args.alerts_per_day;
  options.stress = !args.no_stress;
  options.delay_factor = args.delay_factor;
  options.parallel_replays = !args.sequential;
  ProgressLine progress("report", common.quiet);
  options.log = [&progress](const std::string& line) { progress.step(line); };

  auto config = load_engine_config(common.config_path);
  if (!config) {
    print_error(kCmd, config.error());
    return kExitFailure;
  }
  if (common.shards > 0) {
    config.value().shards = common.shards;
  } else if (!common.models.empty()) {
    // A fusion model's tick costs a microsecond or more, so its replay gains from every core
    // (models that replay together are one replay: shards are what spreads it). NEWS2's ticks
    // cost tens of nanoseconds, and shards only add hand-off there. Scores are the same with any
    // shard count.
    const uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
    config.value().shards = std::max(config.value().shards, cores);
  }
  std::vector<report::BacktestScorer> scorers;
  if (common.news2) {
    auto named = news2_scorer(config.value());
    if (!named) {
      print_error(kCmd, named.error());
      return kExitFailure;
    }
    scorers.push_back({named.value().label, named.value().scorer, named.value().horizon_ms});
  }
  for (const std::string& path : common.models) {
    auto named = model_scorer(path, config.value());
    if (!named) {
      print_error(kCmd, named.error());
      return kExitFailure;
    }
    scorers.push_back({named.value().label, named.value().scorer, named.value().horizon_ms});
  }
  make_names_unique(scorers);
  if (auto horizon = report::label_horizon(scorers, options.horizon_ms); !horizon) {
    print_error(kCmd, horizon.error());
    return kExitUsage;
  }
  // An unwritable directory is found before the replays, not after them.
  if (auto writable = report::check_report_directory(args.dir); !writable) {
    print_error(kCmd, writable.error());
    return kExitFailure;
  }
  // Once the scorers are in hand: a model refused for its file or its modalities is one line.
  options.log(fmt::format("{} shard{} per replay", config.value().shards,
                          config.value().shards == 1 ? "" : "s"));

  // The history once in memory; every scorer and stress variant replays it from there.
  PatientRegistry registry;
  auto dead = open_dead_letters(common.dead_letters);
  if (!dead) {
    print_error(kCmd, dead.error());
    return kExitFailure;
  }
  const auto load_start = Clock::now();
  // A given amount is held to half the memory available, as the estimate is to a quarter: more
  // would only take pages from the replays it is meant to help.
  MemoryPretouch pretouch(
      args.pretouch_mb >= 0
          ? std::min(static_cast<std::size_t>(args.pretouch_mb) << 20, available_memory() / 2)
          : pretouch_estimate(common.history, scorers.size(), !args.no_stress));
  auto history = load_packed_history(common.history, config.value(), registry, *dead.value());
  const std::size_t pretouched = pretouch.stop();
  if (!history) {
    print_error(kCmd, history.error());  // the dead letters of a failed load are discarded
    return kExitFailure;
  }
  Result<void> closed_dead = dead.value()->close();
  if (!closed_dead) {
    print_error(kCmd, closed_dead.error());
    return kExitFailure;
  }
  warn_unknown_channels("replay", history.value().unknown_channels);
  const double load_seconds = seconds_since(load_start);
  progress.step(fmt::format(
      "history {} events, {} patients, {} dead letters, {:.1f} s ({} MB of memory touched ahead)",
      history.value().events.size(), registry.size(), history.value().dead_letters, load_seconds,
      pretouched >> 20));

  report::BacktestStats stats;
  auto built = report::run_backtest(history.value().events, registry, config.value(), scorers,
                                    options, &stats);
  if (!built) {
    print_error(kCmd, built.error());
    return kExitFailure;
  }
  report::Report& report = built.value();
  report.meta.generator = "tfe replay";
  report.meta.histories = common.history;
  const auto write_start = Clock::now();
  if (auto written = report::write_report(report, args.dir); !written) {
    print_error(kCmd, written.error());
    return kExitFailure;
  }
  const double write_seconds = seconds_since(write_start);
  const std::string html = (std::filesystem::path(args.dir) / "report.html").string();
  std::printf(
      "replay: report %s: %zu scorer%s, %llu run%s, %llu events, %.1f M scores (%.1f M of them "
      "with a modality masked, %.1f M taken over unchanged); load %.1f s, replays %.1f s, "
      "metrics %.1f s (the two overlap), write %.1f s, total %.1f s\n",
      html.c_str(), scorers.size(), scorers.size() == 1 ? "" : "s",
      static_cast<unsigned long long>(stats.runs), stats.runs == 1 ? "" : "s",
      static_cast<unsigned long long>(stats.history_events),
      static_cast<double>(stats.ticks + stats.masked_scores) / 1e6,
      static_cast<double>(stats.masked_scores) / 1e6, static_cast<double>(stats.taken_over) / 1e6,
      load_seconds, stats.replay_seconds, stats.metrics_seconds, write_seconds,
      seconds_since(start));
  return kExitOk;
}

}  // namespace tfe::cli
