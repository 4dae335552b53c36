// tfe profile: measures a history's deployment reality (availability, dimensionality, temporal
// dynamics) and recommends a fusion strategy from the decision matrix (docs/profile.md).

#include <cstdio>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "connectors/dead_letter.h"
#include "connectors/history_replay.h"
#include "connectors/kafka_history.h"
#include "connectors/service.h"
#include "engine/civil_time.h"
#include "engine/duration.h"
#include "engine/patient_registry.h"
#include "tools/cli/command.h"
#include "tools/cli/paths.h"
#include "tools/cli/progress_line.h"
#include "tools/cli/scorers.h"
#include "tools/profile/profile.h"

namespace tfe::cli {
namespace {

constexpr const char* kCmd = "profile";

struct ProfileArgs {
  std::vector<std::string> history;
  bool from_kafka = false;
  std::string since, until;
  std::optional<std::string> brokers;  // given empty: an error, not the config's
  DeadLetterFile dead_letters;
  std::string config_path = "configs/default.toml";
  std::string report;
  std::string horizon = "6h";
  std::string kafka_timeout = "30s";
  bool kafka_timeout_given = false;
  bool folds_given = false;
  uint32_t bootstrap = 200;
  uint64_t seed = 1;
  uint32_t sample = 4000;
  bool bakeoff = false;
  uint32_t folds = 5;
  bool quiet = false;
};

// A --since or --until value; prints the error and returns nullopt when it is not a time.
std::optional<int64_t> time_option(const char* option, const std::string& text) {
  int64_t ms = 0;
  if (parse_time_text(text, ms) == TimeTextError::none) return ms;
  print_error(kCmd, fmt::format("{}: expected epoch milliseconds or an ISO 8601 time with a zone, "
                                "such as 2024-01-01T00:00:00Z",
                                option));
  return std::nullopt;
}

// The history of the files, or of the modality topics over [since, until), or both merged (the
// files then typically hold the outcomes, which live topics do not carry).
struct LoadedHistory {
  EngineConfig config;
  PackedHistory history;
  std::vector<std::string> sources;
};

// The engine config, and with --from-kafka the [kafka] section.
struct LoadedConfig {
  EngineConfig engine;
  std::optional<KafkaConfig> kafka;
};

Result<LoadedConfig> load_profile_config(const ProfileArgs& args) {
  LoadedConfig out;
  if (args.from_kafka) {
    KafkaOverrides overrides;
    overrides.brokers = args.brokers;
    auto service = load_service_config(args.config_path, overrides);
    if (!service) return service.error();
    out.engine = std::move(service.value().engine);
    out.kafka = std::move(service.value().kafka);
  } else {
    auto config = load_engine_config(args.config_path);
    if (!config) return config.error();
    out.engine = std::move(config).value();
  }
  return out;
}

Result<LoadedHistory> load_profiled_history(const ProfileArgs& args, LoadedConfig loaded,
                                            KafkaTimeRange range, int64_t kafka_timeout_ms,
                                            PatientRegistry& registry, DeadLetterSink& dead,
                                            ProgressLine& progress) {
  LoadedHistory out;
  out.config = std::move(loaded.engine);
  const std::optional<KafkaConfig>& kafka = loaded.kafka;
  if (!args.history.empty()) {
    auto files = load_packed_history(args.history, out.config, registry, dead);
    if (!files) return files.error();
    out.history = std::move(files).value();
    out.sources = args.history;
  }
  if (kafka) {
    KafkaHistoryOptions options;
    options.timeout_ms = static_cast<int>(kafka_timeout_ms);
    options.log = [&progress](const std::string& line) { progress.step("kafka: " + line); };
    options.on_read = [&progress](uint64_t read, uint64_t expected) {
      progress.update(ProgressCount(read).of(expected).verb("read from Kafka"));
    };
    auto topics = load_history_from_kafka(*kafka, out.config, range, registry, dead, options);
    if (!topics) return topics.error();
    PackedHistory& h = out.history;
    const uint64_t dead_letters = h.dead_letters + topics.value().dead_letters;
    const uint64_t unknown_channels = h.unknown_channels + topics.value().unknown_channels;
    if (h.events.empty()) {
      h = std::move(topics.value());
    } else {
      topics.value().events.for_each([&](const Event& e) {
        h.events.append(e);
        return true;
      });
      h.events.sort_for_replay();  // files and topics by arrival
    }
    h.dead_letters = dead_letters;
    h.unknown_channels = unknown_channels;
    std::string names;
    for (const std::string& t : kafka->modality_topics) names += (names.empty() ? "" : ",") + t;
    out.sources.push_back(fmt::format("kafka {} topics {} from {} until {}", kafka->brokers, names,
                                      args.since, args.until));
  }
  return out;
}

int run_profile(const ProfileArgs& args) {
  std::vector<NamedPath> inputs = named("--history", args.history);
  inputs.push_back({"--config", args.config_path});
  if (const std::string clash =
          overlapping_paths(inputs, {{"--dead-letters", args.dead_letters.path}});
      !clash.empty()) {
    print_error(kCmd, clash);
    return kExitUsage;
  }
  auto horizon = parse_duration_ms(args.horizon);
  if (!horizon || horizon.value() <= 0) {
    print_error(kCmd, "--horizon: expected a positive duration such as 6h");
    return kExitUsage;
  }
  const auto kafka_timeout = parse_duration_ms(args.kafka_timeout);  // checked by its option
  KafkaTimeRange range;
  if (args.from_kafka) {
    if (args.since.empty() || args.until.empty()) {
      print_error(kCmd, "--from-kafka needs --since and --until (message timestamps)");
      return kExitUsage;
    }
    const auto since = time_option("--since", args.since);
    const auto until = time_option("--until", args.until);
    if (!since || !until) return kExitUsage;
    if (*until <= *since) {
      print_error(kCmd, "--until must be later than --since");
      return kExitUsage;
    }
    range = {*since, *until};
  } else if (args.history.empty()) {
    print_error(kCmd, "give --history FILE..., or --from-kafka with --since and --until");
    return kExitUsage;
  } else if (!args.since.empty() || !args.until.empty() || args.brokers ||
             args.kafka_timeout_given) {
    print_error(kCmd, "--since, --until, --brokers and --kafka-timeout go with --from-kafka");
    return kExitUsage;
  }
  if (args.folds_given && !args.bakeoff) {
    print_error(kCmd, "--folds goes with --bakeoff");
    return kExitUsage;
  }
  auto doc = read_toml_file(args.config_path);
  if (!doc) {
    print_error(kCmd, doc.error());
    return kExitFailure;
  }
  auto thresholds = profile::thresholds_from_toml(doc.value());
  if (!thresholds) {
    print_error(kCmd, args.config_path + ": " + thresholds.error().message);
    return kExitFailure;
  }
  // Everything the config and the options decide is checked before the history is read: reading
  // and profiling a large history takes minutes.
  auto profile_config = load_profile_config(args);
  if (!profile_config) {
    print_error(kCmd, profile_config.error());
    return kExitFailure;
  }
  if (auto fits = profile::check_sample_size(profile_config.value().engine, args.sample); !fits) {
    print_error(kCmd, "--sample: " + fits.error().message);
    return kExitUsage;
  }
  // The bake-off's [model] and [training], read once here and passed on as data.
  std::optional<profile::BakeoffConfig> bakeoff_config;
  if (args.bakeoff) {
    auto read = profile::bakeoff_config_from_toml(doc.value(), args.folds);
    if (!read) {
      print_error(kCmd, args.config_path + ": bake-off: " + read.error().message);
      return kExitFailure;
    }
    bakeoff_config = std::move(read).value();
  }
  if (!args.report.empty()) {
    if (auto writable = profile::check_profile_directory(args.report); !writable) {
      print_error(kCmd, writable.error());
      return kExitFailure;
    }
  }
  auto dead = open_dead_letters(args.dead_letters);
  if (!dead) {
    print_error(kCmd, dead.error());
    return kExitFailure;
  }
  ProgressLine progress(kCmd, args.quiet);
  PatientRegistry read_order;
  auto loaded = load_profiled_history(args, std::move(profile_config).value(), range,
                                      kafka_timeout.value(), read_order, *dead.value(), progress);
  if (!loaded) {
    print_error(kCmd, loaded.error());  // the dead letters of a failed load are discarded
    return kExitFailure;
  }
  if (auto closed = dead.value()->close(); !closed) {
    print_error(kCmd, closed.error());
    return kExitFailure;
  }
  const EngineConfig& config = loaded.value().config;
  PackedHistory& history = loaded.value().history;
  // The same records give the same profile, from files or from topics read in any order.
  PatientRegistry registry;
  reindex_patients_by_id(history, read_order, registry);
  // A warning, not progress: --quiet keeps it, as in every command that reads a history.
  warn_unknown_channels("profile", history.unknown_channels);
  if (history.dead_letters > 0) {
    progress.step(
        fmt::format("{} bad records skipped (dead letters{})", history.dead_letters,
                    args.dead_letters.path.empty() ? "" : " in " + args.dead_letters.path));
  }
  // Every fold's splits need a patient with an outcome: said before the profile, not after it.
  std::optional<profile::BakeoffPlan> bakeoff_plan;
  if (bakeoff_config) {
    auto planned = profile::plan_bakeoff(std::move(*bakeoff_config), history.events, registry);
    if (!planned) {
      print_error(kCmd, "bake-off: " + planned.error().message);
      return kExitFailure;
    }
    bakeoff_plan = std::move(planned).value();
  }
  profile::ProfileOptions options;
  options.thresholds = thresholds.value();
  options.horizon_ms = horizon.value();
  options.bootstrap = args.bootstrap;
  options.seed = args.seed;
  options.sample_ticks = args.sample;
  options.log = [&progress](const std::string& line) { progress.step(line); };
  auto result = profile::profile_history(history.events, registry, config, options);
  if (!result) {
    print_error(kCmd, result.error());
    return kExitFailure;
  }
  profile::DeploymentProfile& p = result.value();
  p.histories = loaded.value().sources;
  if (bakeoff_plan) {
    auto bakeoff = profile::run_bakeoff(*bakeoff_plan, config, p, args.seed, options.log);
    if (!bakeoff) {
      print_error(kCmd, "bake-off: " + bakeoff.error().message);
      return kExitFailure;
    }
    p.bakeoff = std::move(bakeoff.value());
  }
  std::fputs(profile::profile_table(p).c_str(), stdout);
  if (!args.report.empty()) {
    if (auto written = profile::write_profile(p, args.report); !written) {
      print_error(kCmd, written.error());
      return kExitFailure;
    }
    std::printf("profile: wrote %s/profile.json and %s/profile.html\n", args.report.c_str(),
                args.report.c_str());
  }
  return kExitOk;
}

}  // namespace

void register_profile(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ProfileArgs>();
  auto* cmd = app.add_subcommand(
      "profile",
      "Measure a history's modality availability, dimensionality and temporal dynamics and "
      "recommend a fusion strategy.\n"
      "Example: tfe profile --history ward.tfelog --config configs/profiles/ward.toml --report "
      "out/profile\n"
      "From the live topics: tfe profile --from-kafka --since 2024-01-01T00:00:00Z --until "
      "2024-01-08T00:00:00Z --history outcomes.jsonl --config service.toml --report out/profile");
  cmd->add_option("--history", args->history,
                  "History files (.jsonl or .tfelog); several are merged by arrival time (with "
                  "--from-kafka too, typically the outcomes, which live topics do not carry)");
  cmd->add_flag("--from-kafka", args->from_kafka,
                "Read the modality topics of the config's [kafka] over --since .. --until");
  cmd->add_option("--since", args->since,
                  "With --from-kafka: first message timestamp (epoch ms or ISO 8601, e.g. "
                  "2024-01-01T00:00:00Z)");
  cmd->add_option("--until", args->until,
                  "With --from-kafka: end of the range, exclusive (epoch ms or ISO 8601)");
  cmd->add_option("--brokers", args->brokers,
                  "With --from-kafka: bootstrap servers (overrides the config and "
                  "TFE_KAFKA_BROKERS)");
  auto* kafka_timeout =
      cmd->add_option("--kafka-timeout", args->kafka_timeout,
                      "With --from-kafka: how long a broker request, or a partition that delivers "
                      "nothing, may take before the read fails")
          ->capture_default_str()
          ->check(DurationFrom("1s", "1h"));
  add_dead_letter_options(*cmd, args->dead_letters,
                          "Write bad records (with their position and reason) to this JSONL file");
  cmd->add_option("--config", args->config_path,
                  "Config (modalities, engine, optional [profile_thresholds])")
      ->capture_default_str();
  cmd->add_option("--report", args->report, "Write profile.json and profile.html to DIR");
  cmd->add_option("--horizon", args->horizon, "Label horizon: an outcome within this after a tick")
      ->capture_default_str();
  cmd->add_option("--bootstrap", args->bootstrap,
                  "Bootstrap replicates over patients for the confidence and the interaction "
                  "gain's lower bound (0: none; without that bound the attention row cannot fire)")
      ->capture_default_str()
      ->check(CLI::Range(0u, profile::kMaxBootstrapReplicates));
  cmd->add_option("--seed", args->seed, "Sampling and bootstrap seed")
      ->capture_default_str()
      ->check(SeedNumber());
  cmd->add_option("--sample", args->sample, "Model sample: ticks per class")
      ->capture_default_str()
      ->check(CLI::Range(100u, 1'000'000u));
  cmd->add_flag("--bakeoff", args->bakeoff,
                "Also train all four strategies on patient folds and backtest each fold's models "
                "on its held-out patients");
  auto* folds =
      cmd->add_option(
             "--folds", args->folds,
             "Bake-off folds: each is the test split once (1: one train / validation / test "
             "split, as tfe train)")
          ->capture_default_str()
          ->check(CLI::Range(1u, profile::kMaxBakeoffFolds));
  cmd->add_flag("--quiet", args->quiet, "No progress lines on stderr");
  cmd->callback([args, exit_code, kafka_timeout, folds] {
    args->kafka_timeout_given = kafka_timeout->count() > 0;
    args->folds_given = folds->count() > 0;
    *exit_code = run_profile(*args);
  });
}

}  // namespace tfe::cli
