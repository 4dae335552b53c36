// tfe replay: a history through the engine, as fast as possible or paced; scores to a file, a
// backtest report (replay_report.h), or the history itself published to Kafka (--to-kafka).

#include <cstdio>
#include <optional>
#include <string>

#include "connectors/dead_letter.h"
#include "connectors/history_replay.h"
#include "connectors/kafka_publish.h"
#include "connectors/score_jsonl.h"
#include "connectors/service.h"
#include "engine/patient_registry.h"
#include "tools/cli/command.h"
#include "tools/cli/paths.h"
#include "tools/cli/progress_line.h"
#include "tools/cli/replay_report.h"
#include "tools/cli/scorers.h"
#include "tools/cli/stop_signals.h"

namespace tfe::cli {
namespace {

struct ReplayArgs {
  ReplayCommon common;
  ReplayReportArgs report;
  std::string strategy;
  std::string pace = "max";
  std::string out;
  std::optional<std::string> brokers;  // given empty: an error, not the config's
  std::string kafka_timeout = "30s";
  bool to_kafka = false;
};

int publish_to_kafka(const ReplayArgs& args) {
  KafkaOverrides overrides;
  overrides.brokers = args.brokers;
  auto service = load_service_config(args.common.config_path, overrides);
  if (!service) {
    print_error("replay", service.error());
    return kExitFailure;
  }
  auto dead = open_dead_letters(args.common.dead_letters);
  if (!dead) {
    print_error("replay", dead.error());
    return kExitFailure;
  }
  PublishOptions options;
  options.pace = args.common.pace;
  options.timeout_ms = static_cast<int>(parse_duration_ms(args.kafka_timeout).value());
  // Ctrl-C or SIGTERM ends the publish where it is: what was produced is delivered and counted.
  StopSignals stop;
  ProgressLine progress("replay", args.common.quiet);
  options.progress = [&stop, &progress](uint64_t published) {
    progress.update(ProgressCount(published).verb("published"));
    return !stop.requested();
  };
  auto summary = publish_history(args.common.history, service.value().engine, service.value().kafka,
                                 *dead.value(), options);
  if (auto closed = dead.value()->close(); !closed) {
    print_error("replay", closed.error());
    return kExitFailure;
  }
  if (!summary) {
    print_error("replay", summary.error());
    return kExitFailure;
  }
  const bool interrupted = stop.requested();
  std::printf(
      "replay: %s%llu events published to Kafka in %.1f s (%.0f events/s), %llu outcomes skipped, "
      "%llu dead letters\n",
      interrupted ? "interrupted: " : "",
      static_cast<unsigned long long>(summary.value().published), summary.value().seconds,
      summary.value().seconds > 0
          ? static_cast<double>(summary.value().published) / summary.value().seconds
          : 0.0,
      static_cast<unsigned long long>(summary.value().skipped),
      static_cast<unsigned long long>(summary.value().dead_letters));
  return interrupted ? 128 + stop.signal() : kExitOk;
}

int replay_to_scores(const ReplayArgs& args, EngineConfig config) {
  if (args.common.shards > 0) config.shards = args.common.shards;
  Result<NamedScorer> scorer =
      args.common.news2 ? news2_scorer(config) : model_scorer(args.common.models.front(), config);
  if (!scorer) {
    print_error("replay", scorer.error());
    return kExitFailure;
  }
  auto dead = open_dead_letters(args.common.dead_letters);
  if (!dead) {
    print_error("replay", dead.error());
    return kExitFailure;
  }
  PatientRegistry registry;
  CountingScoreSink counter;
  std::unique_ptr<JsonlScoreSink> file;
  if (!args.out.empty()) {
    auto opened =
        JsonlScoreSink::open(args.out, config.schema, scorer.value().scorer->spec(), registry);
    if (!opened) {
      print_error("replay", opened.error());
      return kExitFailure;
    }
    file = std::move(opened.value());
  }
  ScoreSink& sink = file ? static_cast<ScoreSink&>(*file) : counter;
  ReplayOptions options;
  options.pace = args.common.pace;
  ProgressLine progress("replay", args.common.quiet);
  options.progress = [&progress](uint64_t events) {
    progress.update(ProgressCount(events));
    return true;
  };
  auto stats = replay_history(args.common.history, config, scorer.value().scorer, registry, sink,
                              *dead.value(), options);
  if (!stats) {
    // Unclosed, the score and dead-letter files are discarded: no half run passes for a whole one.
    print_error("replay", stats.error());
    return kExitFailure;
  }
  Result<void> closed_dead = dead.value()->close();
  Result<void> closed_scores = file ? file->close() : Result<void>(ok());
  for (const Result<void>* closed : {&closed_dead, &closed_scores}) {
    if (!*closed) {
      print_error("replay", closed->error());
      return kExitFailure;
    }
  }
  warn_unknown_channels("replay", stats.value().unknown_channels);
  const uint64_t scores = file ? file->scores_written() : counter.count();
  const double seconds = stats.value().seconds > 0 ? stats.value().seconds : 1e-9;
  std::printf(
      "replay: %s, %u shards: %llu events in %.2f s (%.0f events/s), %llu scores (%.0f "
      "scores/s), %llu dead letters, %llu patients, %llu late events, %.2f KiB state per active "
      "patient at the end\n",
      scorer.value().label.c_str(), config.shards,
      static_cast<unsigned long long>(stats.value().events), stats.value().seconds,
      static_cast<double>(stats.value().events) / seconds, static_cast<unsigned long long>(scores),
      static_cast<double>(scores) / seconds,
      static_cast<unsigned long long>(stats.value().dead_letters),
      static_cast<unsigned long long>(registry.size()),
      static_cast<unsigned long long>(stats.value().pipeline.late_events),
      stats.value().pipeline.active_patients > 0
          ? static_cast<double>(stats.value().pipeline.state_bytes) /
                static_cast<double>(stats.value().pipeline.active_patients) / 1024.0
          : 0.0);
  return kExitOk;
}

int run_replay(ReplayArgs& args) {
  auto pace = parse_pace(args.pace);
  if (!pace) {
    print_error("replay", pace.error());
    return kExitUsage;
  }
  args.common.pace = pace.value();
  if (!args.strategy.empty() && args.strategy != "news2") {
    print_error("replay", "--strategy takes 'news2' (fusion strategies come from --model files)");
    return kExitUsage;
  }
  args.common.news2 = args.strategy == "news2";
  std::vector<NamedPath> inputs = named("--history", args.common.history);
  for (NamedPath& m : named("--model", args.common.models)) inputs.push_back(std::move(m));
  inputs.push_back({"--config", args.common.config_path});
  if (const std::string clash = overlapping_paths(
          inputs, {{"--out", args.out}, {"--dead-letters", args.common.dead_letters.path}});
      !clash.empty()) {
    print_error("replay", clash);
    return kExitUsage;
  }
  // Options the chosen mode would not read are usage errors, never silently ignored.
  const char* ignored = nullptr;
  if (args.to_kafka) {
    if (!args.out.empty()) ignored = "--out";
    if (!args.report.dir.empty()) ignored = "--report";
    if (!args.common.models.empty()) ignored = "--model";
    if (args.common.news2) ignored = "--strategy";
    if (args.common.shards > 0) ignored = "--shards";
  } else if (!args.report.dir.empty() && !args.out.empty()) {
    ignored = "--out";
  }
  if (ignored != nullptr) {
    print_error("replay", args.to_kafka
                              ? fmt::format("{} does not go with --to-kafka (it publishes the "
                                            "history as it is; tfe serve scores it)",
                                            ignored)
                              : fmt::format("{} does not go with --report (the report writes its "
                                            "own files under DIR)",
                                            ignored));
    return kExitUsage;
  }
  if (args.to_kafka) return publish_to_kafka(args);
  if (!args.report.dir.empty()) return run_replay_report(args.common, args.report);
  const std::size_t scorers = args.common.models.size() + (args.common.news2 ? 1 : 0);
  if (scorers != 1) {
    print_error("replay", scorers == 0 ? "give --strategy news2 or --model FILE"
                                       : "several scorers need --report DIR (one per replay "
                                         "otherwise)");
    return kExitUsage;
  }
  auto config = load_engine_config(args.common.config_path);
  if (!config) {
    print_error("replay", config.error());
    return kExitFailure;
  }
  return replay_to_scores(args, std::move(config.value()));
}

}  // namespace

void register_replay(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ReplayArgs>();
  auto* cmd = app.add_subcommand(
      "replay",
      "Replay a history through the engine: score it, backtest it (--report) or publish it to "
      "Kafka (--to-kafka).\n"
      "Example: tfe replay --history ward.tfelog --strategy news2 --out scores.jsonl");
  cmd->add_option("--history", args->common.history,
                  "History files (.jsonl or .tfelog); several are merged by arrival time")
      ->required();
  args->common.config_path = "configs/default.toml";
  cmd->add_option("--config", args->common.config_path, "Config (modalities, engine, kafka)")
      ->capture_default_str();
  cmd->add_option("--strategy", args->strategy, "Built-in scorer: news2");
  cmd->add_option("--model", args->common.models, "Fusion model file(s) (from tfe train)");
  cmd->add_option("--out", args->out, "Write scores as JSONL to this file");
  add_dead_letter_options(*cmd, args->common.dead_letters, "Write bad records to this JSONL file");
  cmd->add_option("--shards", args->common.shards, "State shards (default: from the config)")
      ->check(CLI::Range(1u, 256u));
  cmd->add_option("--pace", args->pace,
                  "max (as fast as possible) or a speed-up such as 60x (one hour per minute)")
      ->capture_default_str();
  auto* to_kafka =
      cmd->add_flag("--to-kafka", args->to_kafka,
                    "Publish the history to the modality topics of the config's [kafka] section");
  cmd->add_option("--brokers", args->brokers,
                  "With --to-kafka: bootstrap servers (overrides the config)")
      ->needs(to_kafka);
  cmd->add_option("--kafka-timeout", args->kafka_timeout,
                  "With --to-kafka: how long a broker request (metadata, topic creation) may take "
                  "before publishing fails")
      ->capture_default_str()
      ->check(DurationFrom("1s", "1h"))
      ->needs(to_kafka);
  cmd->add_flag("--quiet", args->common.quiet, "No progress lines on stderr");
  add_replay_report_options(*cmd, args->report);
  cmd->callback([args, exit_code] { *exit_code = run_replay(*args); });
}

}  // namespace tfe::cli
