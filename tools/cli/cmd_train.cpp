// tfe train: fits a fusion model by replaying history files through the engine (the pipeline
// that serves), with modality masking, early stopping and calibration (docs/training.md).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <tbb/global_control.h>
#include <tbb/info.h>

#include "engine/file_writer.h"
#include "operators/model_config.h"
#include "operators/model_file.h"
#include "tools/cli/command.h"
#include "tools/cli/paths.h"
#include "tools/cli/progress_line.h"
#include "tools/cli/scorers.h"
#include "tools/train/train.h"

namespace tfe::cli {
namespace {

// More would only spread the same work thinner; the model bytes are the same with any count.
constexpr uint32_t kMaxThreads = 1024;

struct TrainArgs {
  std::vector<std::string> history;
  std::string config = "configs/default.toml";
  std::string strategy;
  std::string out;
  uint64_t seed = 1;
  uint32_t threads = 0;
  bool no_masking = false;
  uint32_t epochs = 0;
  uint32_t stride = 0;
  bool quiet = false;
};

// The examples/s figure counts the training pass alone; validation's time is given beside it.
std::string epoch_line(const EpochReport& r) {
  return fmt::format(
      "epoch {}/{}  loss {:.4f}  {:.0f} training examples/s ({:.2f} s)  validation AUROC {:.4f} "
      "AUPRC {:.4f} ({:.2f} s){}",
      r.epoch, r.epochs, r.loss, r.examples_per_s, r.train_seconds, r.val_auroc, r.val_auprc,
      r.validation_seconds, r.improved ? "  *" : "");
}

int run_train(const TrainArgs& args) {
  const auto start = std::chrono::steady_clock::now();
  // Arguments first: a misspelt strategy is a usage error whatever the files hold.
  const auto strategy = fusion_strategy_option(args.strategy);
  if (!strategy) {
    print_error("train", strategy.error());
    return kExitUsage;
  }
  std::vector<NamedPath> inputs = named("--history", args.history);
  inputs.push_back({"--config", args.config});
  if (const std::string clash = overlapping_paths(inputs, {{"--out", args.out}}); !clash.empty()) {
    print_error("train", clash);
    return kExitUsage;
  }
  auto doc = read_toml_file(args.config);
  if (!doc) {
    print_error("train", doc.error());
    return kExitFailure;
  }
  auto engine = engine_config_from_toml(doc.value());
  if (!engine) {
    print_error("train", args.config + ": " + engine.error().message);
    return kExitFailure;
  }
  auto arch = model_config_from_toml(doc.value());
  if (!arch) {
    print_error("train", args.config + ": " + arch.error().message);
    return kExitFailure;
  }
  auto training = train::training_config_from_toml(doc.value());
  if (!training) {
    print_error("train", args.config + ": " + training.error().message);
    return kExitFailure;
  }
  train::TrainRequest request;
  request.history = args.history;
  request.engine = engine.value();
  request.arch = arch.value();
  request.training = training.value();
  if (strategy.value()) request.arch.strategy = *strategy.value();
  if (args.epochs > 0) request.training.optim.epochs = args.epochs;
  if (args.stride > 0) request.training.stride = args.stride;
  request.seed = args.seed;
  request.threads = args.threads;
  request.masking = !args.no_masking;
  // On stderr even with --quiet, as every command that reads a history warns.
  request.on_unknown_channels = [](uint64_t count) { warn_unknown_channels("train", count); };
  // Stages and epochs as they happen, the replay every 10 s; the summary goes to stdout.
  ProgressLine progress("train", args.quiet);
  request.log = [&progress](const std::string& line) { progress.step(line); };
  request.on_replay = [&progress](uint64_t replayed, uint64_t total) {
    if (replayed == 0) progress.restart();  // the rate is the replay's, not the load's
    progress.update(ProgressCount(replayed).of(total).verb("replayed"));
  };
  request.on_epoch = [&progress](const EpochReport& r) { progress.step(epoch_line(r)); };
  // An output that cannot be written (a missing directory) is refused before the history is
  // read, not after the whole training. Only tried here: the file is written at the end, so an
  // interrupted training leaves nothing beside it. Not a pipe or device: opening and closing one
  // would end the stream its reader waits for.
  std::error_code ec;
  if (!std::filesystem::exists(args.out, ec) || std::filesystem::is_regular_file(args.out, ec)) {
    if (auto writable = FileWriter::create(args.out); !writable) {
      print_error("train", writable.error());
      return kExitFailure;
    }
  }
  // More threads than cores: without raising oneTBB's limit the extra ones are ignored with a
  // warning on stderr.
  std::optional<tbb::global_control> parallelism;
  if (args.threads > static_cast<uint32_t>(std::max(1, tbb::info::default_concurrency()))) {
    parallelism.emplace(tbb::global_control::max_allowed_parallelism, args.threads);
  }
  auto result = train::train_from_history(request);
  if (!result) {
    print_error("train", result.error());
    return kExitFailure;
  }
  const train::TrainResult& r = result.value();
  if (auto saved = save_model(r.model, args.out); !saved) {
    print_error("train", saved.error());
    return kExitFailure;
  }
  const auto& t = r.test;
  // A split without both classes has no AUROC: a dash, as the report and profile print it.
  const auto metric = [](double v) {
    return std::isnan(v) ? std::string("–") : fmt::format("{:.4f}", v);
  };
  bool intervals = false;  // whether any figure has one (a class from one patient has none)
  const auto with_ci = [&](double v, const report::Interval& ci) {
    if (std::isnan(v) || std::isnan(ci.lo)) return metric(v);
    intervals = true;
    return fmt::format("{} ({:.4f} to {:.4f})", metric(v), ci.lo, ci.hi);
  };
  std::string without;
  for (std::size_t m = 0; m < t.auroc_without.size(); ++m) {
    without += fmt::format("{}{} {}", m ? ", " : "", r.model.schema.modalities[m].name,
                           metric(t.auroc_without[m]));
  }
  const std::string test_auroc = with_ci(t.auroc, t.auroc_ci);
  const std::string test_auprc = with_ci(t.auprc, t.auprc_ci);
  const std::string news2_auroc = with_ci(t.news2_auroc, t.news2_auroc_ci);
  const std::string news2_auprc = with_ci(t.news2_auprc, t.news2_auprc_ci);
  // The whole command, loading and the test evaluation included.
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fputs(
      fmt::format("train: {} model written to {}, id {}\n"
                  "  epochs {} (best {}), {:.0f} training examples/s, {:.1f} s in all\n"
                  "  validation AUROC {} AUPRC {}\n"
                  "  test ({} examples, {} positive): AUROC {} AUPRC {}\n"
                  "  NEWS2 on the same examples: AUROC {} AUPRC {}\n"
                  "{}"
                  "  test AUROC with each modality removed, all test examples kept: {}\n",
                  to_string(r.model.strategy()), args.out, model_id(r.model), r.summary.epochs_run,
                  r.summary.best_epoch, r.summary.examples_per_s, seconds,
                  metric(r.summary.best_val_auroc), metric(r.summary.best_val_auprc), t.examples,
                  t.positives, test_auroc, test_auprc, news2_auroc, news2_auprc,
                  intervals ? "  (in brackets: 95% intervals, bootstrap over the test patients)\n"
                            : "  (no intervals: the test split's positive or negative examples "
                              "come from fewer than two patients)\n",
                  without)
          .c_str(),
      stdout);
  return kExitOk;
}

}  // namespace

void register_train(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand(
      "train",
      "Fit a fusion model by replaying history through the engine.\n"
      "Example: tfe train --history ward.tfelog --strategy attention --out attention.tfemodel");
  cmd->add_option("--history", args->history, "History files (JSONL or binary log)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--config", args->config, "Config with [[modality]], [model] and [training]")
      ->capture_default_str();
  cmd->add_option("--strategy", args->strategy,
                  "early, intermediate, late or attention (default: the config's [model])");
  cmd->add_option("--out", args->out, "Model file to write")->required();
  cmd->add_option("--seed", args->seed, "Seed of initial weights, shuffling and masking")
      ->capture_default_str()
      ->check(SeedNumber());
  cmd->add_option("--threads", args->threads, "Training threads (0: every core)")
      ->capture_default_str()
      ->check(CLI::Range(0u, kMaxThreads));
  cmd->add_flag("--no-masking", args->no_masking, "Train without modality masking");
  // The config's own ranges: 0 is not "the default" here, it is an error as it is there.
  cmd->add_option("--epochs", args->epochs, "Maximum epochs (default: [training] epochs)")
      ->check(CLI::Range(1u, 10'000u));
  cmd->add_option("--stride", args->stride, "Keep every n-th tick per patient (default: config)")
      ->check(CLI::Range(1u, 1'000'000u));
  cmd->add_flag("--quiet", args->quiet, "No progress lines on stderr, only the summary");
  cmd->callback([args, exit_code] { *exit_code = run_train(*args); });
}

}  // namespace tfe::cli
