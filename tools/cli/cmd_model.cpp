// tfe model: model files without training: `init` writes one with deterministic random weights
// (so every strategy can be replayed and benchmarked before training), `show` describes one.

#include <cstdio>
#include <optional>

#include "operators/fusion_model.h"
#include "operators/model_config.h"
#include "operators/model_file.h"
#include "tools/cli/command.h"
#include "tools/cli/paths.h"
#include "tools/cli/scorers.h"

namespace tfe::cli {
namespace {

struct ModelInitArgs {
  std::string config = "configs/default.toml";
  std::string strategy;
  std::string out;
  uint64_t seed = 1;
};

int run_model_init(const ModelInitArgs& args) {
  // Arguments first: a misspelt strategy is a usage error whatever the config holds.
  const auto strategy = fusion_strategy_option(args.strategy);
  if (!strategy) {
    print_error("model init", strategy.error());
    return kExitUsage;
  }
  if (const std::string clash =
          overlapping_paths({{"--config", args.config}}, {{"--out", args.out}});
      !clash.empty()) {
    print_error("model init", clash);
    return kExitUsage;
  }
  auto doc = read_toml_file(args.config);
  if (!doc) {
    print_error("model init", doc.error());
    return kExitFailure;
  }
  auto engine = engine_config_from_toml(doc.value());
  auto arch = engine ? model_config_from_toml(doc.value()) : Result<ModelConfig>(engine.error());
  if (!arch) {
    print_error("model init", args.config + ": " + arch.error().message);
    return kExitFailure;
  }
  if (strategy.value()) arch.value().strategy = *strategy.value();
  auto model = init_model(arch.value(), engine.value(), args.seed);
  if (!model) {
    print_error("model init", model.error());
    return kExitFailure;
  }
  if (auto saved = save_model(model.value(), args.out); !saved) {
    print_error("model init", saved.error());
    return kExitFailure;
  }
  std::printf("model init: %s model (untrained, seed %llu) written to %s, id %s\n",
              std::string(to_string(model.value().strategy())).c_str(),
              static_cast<unsigned long long>(args.seed), args.out.c_str(),
              model_id(model.value()).c_str());
  return kExitOk;
}

int run_model_show(const std::string& path) {
  auto model = load_model(path);
  if (!model) {
    print_error("model show", model.error());
    return kExitFailure;
  }
  std::printf(
      "model %s\n  id        %s\n  strategy  %s\n  d_model   %u, heads %u, time2vec k %u, "
      "history K %u\n  modalities",
      path.c_str(), model_id(model.value()).c_str(),
      std::string(to_string(model.value().strategy())).c_str(), model.value().arch.d_model,
      model.value().arch.heads, model.value().arch.time2vec_k, model.value().arch.history_k);
  for (const auto& modality : model.value().schema.modalities) {
    std::printf(" %s", modality.name.c_str());
  }
  std::printf("\n");
  for (const auto& [key, value] : model.value().metadata) {
    std::printf("  %-9s %s\n", key.c_str(), value.c_str());
  }
  return kExitOk;
}

}  // namespace

void register_model(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("model", "Create or inspect model files");
  cmd->require_subcommand(1);

  auto init = std::make_shared<ModelInitArgs>();
  auto* init_cmd =
      cmd->add_subcommand("init",
                          "Write a model with deterministic random weights (untrained).\n"
                          "Example: tfe model init --strategy attention --out attention.tfemodel");
  init_cmd->add_option("--config", init->config, "Config with [[modality]] and [model]")
      ->capture_default_str();
  init_cmd->add_option("--strategy", init->strategy,
                       "early, intermediate, late or attention (default: the config's [model])");
  init_cmd->add_option("--out", init->out, "Model file to write")->required();
  init_cmd->add_option("--seed", init->seed, "Random seed")
      ->capture_default_str()
      ->check(SeedNumber());
  init_cmd->callback([init, exit_code] { *exit_code = run_model_init(*init); });

  auto path = std::make_shared<std::string>();
  auto* show_cmd = cmd->add_subcommand("show",
                                       "Describe a model file.\nExample: tfe model show "
                                       "attention.tfemodel");
  show_cmd->add_option("model", *path, "Model file")->required();
  show_cmd->callback([path, exit_code] { *exit_code = run_model_show(*path); });
}

}  // namespace tfe::cli
