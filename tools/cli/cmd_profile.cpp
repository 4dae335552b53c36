// tfe profile: measures a history's deployment reality (availability, dimensionality, temporal
// dynamics) and recommends a fusion strategy from the decision matrix (docs/profile.md).

#include <cstdio>

#include "connectors/dead_letter.h"
#include "connectors/history_replay.h"
#include "engine/duration.h"
#include "engine/patient_registry.h"
#include "tools/cli/command.h"
#include "tools/cli/scorers.h"
#include "tools/profile/profile.h"

namespace tfe::cli {
namespace {

constexpr const char* kCmd = "profile";

struct ProfileArgs {
  std::vector<std::string> history;
  std::string config_path = "configs/default.toml";
  std::string report;
  std::string horizon = "6h";
  uint32_t bootstrap = 200;
  uint64_t seed = 1;
  uint32_t sample = 4000;
  bool bakeoff = false;
  bool quiet = false;
};

int run_profile(const ProfileArgs& args) {
  auto horizon = parse_duration_ms(args.horizon);
  if (!horizon || horizon.value() <= 0) {
    print_error(kCmd, "--horizon: expected a positive duration such as 6h");
    return kExitUsage;
  }
  auto config = load_engine_config(args.config_path);
  if (!config) {
    print_error(kCmd, config.error());
    return kExitFailure;
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
  PatientRegistry registry;
  DeadLetterSink dead;
  auto history = load_history(args.history, config.value(), registry, dead);
  if (!history) {
    print_error(kCmd, history.error());
    return kExitFailure;
  }
  profile::ProfileOptions options;
  options.thresholds = thresholds.value();
  options.horizon_ms = horizon.value();
  options.bootstrap = args.bootstrap;
  options.seed = args.seed;
  options.sample_ticks = args.sample;
  if (!args.quiet) {
    options.log = [](const std::string& line) {
      std::fprintf(stderr, "profile: %s\n", line.c_str());
    };
  }
  auto result = profile::profile_history(history.value(), registry, config.value(), options);
  if (!result) {
    print_error(kCmd, result.error());
    return kExitFailure;
  }
  profile::DeploymentProfile& p = result.value();
  p.histories = args.history;
  if (args.bakeoff) {
    auto bakeoff = profile::run_bakeoff(args.history, doc.value(), history.value(), registry,
                                        config.value(), p, args.seed, options.log);
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
      "out/profile");
  cmd->add_option("--history", args->history,
                  "History files (.jsonl or .tfelog); several are merged by arrival time")
      ->required();
  cmd->add_option("--config", args->config_path,
                  "Config (modalities, engine, optional [profile_thresholds])")
      ->capture_default_str();
  cmd->add_option("--report", args->report, "Write profile.json and profile.html to DIR");
  cmd->add_option("--horizon", args->horizon, "Label horizon: an outcome within this after a tick")
      ->capture_default_str();
  cmd->add_option("--bootstrap", args->bootstrap,
                  "Bootstrap replicates over patients for the confidence (0: none)")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Sampling and bootstrap seed")->capture_default_str();
  cmd->add_option("--sample", args->sample, "Model sample: ticks per class")
      ->capture_default_str()
      ->check(CLI::Range(100u, 1'000'000u));
  cmd->add_flag(
      "--bakeoff", args->bakeoff,
      "Also train all four strategies on a patient split and backtest them on the test patients");
  cmd->add_flag("--quiet", args->quiet, "No progress lines on stderr");
  cmd->callback([args, exit_code] { *exit_code = run_profile(*args); });
}

}  // namespace tfe::cli
