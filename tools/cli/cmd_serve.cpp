// tfe serve: the long-running Kafka service (connectors/service.h, docs/service.md). Logs go to
// stderr; stdout carries the addresses once the service is up and the summary line at the end.

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "connectors/service.h"
#include "tools/cli/allocator.h"
#include "tools/cli/command.h"
#include "tools/cli/scorers.h"

namespace tfe::cli {
namespace {

struct ServeArgs {
  std::string config_path = "configs/dev.toml";
  std::string strategy;
  std::string model;
  std::optional<std::string> brokers;  // given empty: an error, not the config's
  std::optional<std::string> http;     // "" disables HTTP, as kafka.http = "" does
  uint32_t shards = 0;                 // 0: from the config
  std::string log_level = "info";
};

// Service logs on stderr, one line each, flushed at once: operators and tests follow them live.
void configure_logging(spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_logger_mt("tfe-serve");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

int run_serve(const ServeArgs& args) {
  return_freed_memory_over_time();
  const spdlog::level::level_enum level = spdlog::level::from_str(args.log_level);
  if (level == spdlog::level::off && args.log_level != "off") {
    print_error("serve", "--log-level: expected trace, debug, info, warn, error or off (got '" +
                             args.log_level + "')");
    return kExitUsage;
  }
  if (args.strategy.empty() == args.model.empty()) {
    print_error("serve", "give exactly one of --strategy news2 or --model FILE");
    return kExitUsage;
  }
  if (!args.strategy.empty() && args.strategy != "news2") {
    print_error("serve", "--strategy takes 'news2' (fusion strategies come from --model files)");
    return kExitUsage;
  }
  KafkaOverrides overrides;
  overrides.brokers = args.brokers;
  if (args.http) overrides.http = *args.http;
  auto config = load_service_config(args.config_path, overrides);
  if (!config) {
    print_error("serve", config.error());
    return kExitFailure;
  }
  ServiceConfig& service = config.value();
  if (args.shards > 0) service.engine.shards = args.shards;
  Result<NamedScorer> scorer =
      args.model.empty() ? news2_scorer(service.engine) : model_scorer(args.model, service.engine);
  if (!scorer) {
    print_error("serve", scorer.error());
    return kExitFailure;
  }

  configure_logging(level);
  ServiceOptions options;
  options.engine = std::move(service.engine);
  options.kafka = std::move(service.kafka);
  options.scorer = scorer.value().scorer;
  const bool embedded = options.kafka.embedded();
  const std::string label = scorer.value().label;
  options.on_started = [embedded, label](const ServiceInfo& info) {
    std::printf("serve: %s scores; brokers %s%s\n", label.c_str(), info.bootstrap_servers.c_str(),
                embedded ? " (embedded)" : "");
    if (!info.http_address.empty()) {
      std::printf(
          "serve: metrics at http://%s/metrics (also /healthz, /readyz, "
          "/v1/patients/{id}/score)\n",
          info.http_address.c_str());
    }
    std::fflush(stdout);
  };

  auto summary = run_service(options);
  if (!summary) {
    print_error("serve", summary.error());
    return kExitFailure;
  }
  const ServiceSummary& done = summary.value();
  if (done.stopped_while_starting) {
    std::printf("serve: stopped while starting: nothing consumed, nothing to commit\n");
    std::fflush(stdout);
    return kExitOk;
  }
  std::printf("serve: stopped: %llu events, %llu dead letters, %llu scores, %llu restore(s), %s\n",
              static_cast<unsigned long long>(done.events),
              static_cast<unsigned long long>(done.dead_letters),
              static_cast<unsigned long long>(done.scores),
              static_cast<unsigned long long>(done.restores),
              done.clean_shutdown ? "offsets committed"
                                  : "final commit not done (a restart replays from the last)");
  std::fflush(stdout);
  return done.clean_shutdown ? kExitOk : kExitFailure;
}

}  // namespace

void register_serve(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand(
      "serve",
      "Run the Kafka service: consume the modality topics, score, produce to the score topic.\n"
      "SIGTERM or SIGINT stops it gracefully. docs/service.md describes it.\n"
      "Example: tfe serve --config configs/dev.toml --strategy news2");
  cmd->add_option("--config", args->config_path, "Config: [engine], [[modality]] and [kafka]")
      ->capture_default_str();
  cmd->add_option("--strategy", args->strategy, "Built-in scorer: news2");
  cmd->add_option("--model", args->model, "Fusion model file (from tfe train or tfe model init)");
  cmd->add_option("--brokers", args->brokers,
                  "Kafka bootstrap servers host:port,... or 'embedded' (overrides "
                  "TFE_KAFKA_BROKERS and the config)");
  cmd->add_option("--http", args->http,
                  "HTTP address host:port for health, metrics and scores (port 0: any free port; "
                  "'' turns HTTP off)");
  cmd->add_option("--shards", args->shards, "State shards (default: from the config)")
      ->check(CLI::Range(1u, 256u));
  cmd->add_option("--log-level", args->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  cmd->callback([args, exit_code] { *exit_code = run_serve(*args); });
}

}  // namespace tfe::cli
