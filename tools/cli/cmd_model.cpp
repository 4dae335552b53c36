// tfe model: model files without training: `init` writes one with deterministic random weights
// (so every strategy can be replayed and benchmarked before training), `show` describes one.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

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

// A label longer than this does not widen the column for every other line: only its own value
// moves right.
constexpr std::size_t kMaxLabelWidth = 24;

using Rows = std::vector<std::pair<std::string, std::string>>;

// The [model] settings the strategy reads, by their config keys (docs/fusion.md): a setting the
// strategy ignores (heads outside attention, say) is left out rather than shown with a value that
// means nothing. Every strategy has Time2Vec timing, hidden layers and a calibration.
Rows architecture_rows(const ModelConfig& arch) {
  Rows rows;
  switch (arch.strategy) {
    case Strategy::early:
    case Strategy::late:
      break;
    case Strategy::intermediate:
      rows.emplace_back("d_model", fmt::format("{} (latent width)", arch.d_model));
      rows.emplace_back("encoder_hidden", std::to_string(arch.encoder_hidden));
      break;
    case Strategy::attention:
      rows.emplace_back("d_model", fmt::format("{} (token width)", arch.d_model));
      rows.emplace_back("heads", std::to_string(arch.heads));
      rows.emplace_back("history_k", std::to_string(arch.history_k));
      break;
  }
  rows.emplace_back("hidden", fmt::format("[{}]", fmt::join(arch.hidden, ", ")));
  rows.emplace_back("time2vec_k", std::to_string(arch.time2vec_k));
  rows.emplace_back("sinusoidal",
                    arch.sinusoidal ? fmt::format("on, dim {}", arch.sinusoidal_dim) : "off");
  rows.emplace_back("calibration", std::string(to_string(arch.calibration)));
  return rows;
}

int run_model_show(const std::string& path) {
  auto model = load_model(path);
  if (!model) {
    print_error("model show", model.error());
    return kExitFailure;
  }
  const FusionModel& m = model.value();
  std::string modalities;
  for (const auto& modality : m.schema.modalities) {
    modalities += (modalities.empty() ? "" : " ") + modality.name;
  }
  // Label and value, one line each. Metadata is free-form text from the file: a line break or
  // control byte in it is shown escaped, so that every entry stays on its line.
  Rows rows = {{"id", model_id(m)}, {"strategy", std::string(to_string(m.strategy()))}};
  for (auto& row : architecture_rows(m.arch)) rows.push_back(std::move(row));
  rows.emplace_back("modalities", modalities);
  for (const auto& [key, value] : m.metadata) {
    rows.emplace_back(quoted_text(key, SIZE_MAX), quoted_text(value, SIZE_MAX));
  }
  std::size_t width = 0;
  for (const auto& row : rows) width = std::max(width, std::min(row.first.size(), kMaxLabelWidth));
  std::string out = fmt::format("model {}\n", path);
  for (const auto& [label, value] : rows) out += fmt::format("  {:<{}}  {}\n", label, width, value);
  std::fputs(out.c_str(), stdout);
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
