// tfe synth: a synthetic cohort from a deployment profile, written as JSONL or a binary event log.

#include <chrono>
#include <cstdio>

#include <filesystem>
#include "connectors/event_files.h"
#include "engine/patient_registry.h"

#include "tools/cli/command.h"
#include "tools/cli/paths.h"
#include "tools/cli/scorers.h"
#include "tools/synth/synth.h"

namespace tfe::cli {
namespace {

struct SynthArgs {
  std::string profile;
  std::string profiles_dir = "configs/profiles";
  std::string out;
  uint32_t patients = 100;
  double days = 1;
  uint64_t seed = 1;
};

int run_synth(const SynthArgs& args) {
  // A profile is a name or a file; as a file it is an input like any other.
  if (const std::string clash =
          overlapping_paths({{"--profile", args.profile}}, {{"--out", args.out}});
      !clash.empty() && std::filesystem::exists(args.profile)) {
    print_error("synth", clash);
    return kExitUsage;
  }
  auto profile = synth::load_profile(args.profile, args.profiles_dir);
  if (!profile) {
    print_error("synth", profile.error());
    return kExitFailure;
  }
  const synth::GenerateOptions options{args.patients, args.days, args.seed};
  if (auto valid = synth::validate_options(profile.value(), options); !valid) {
    print_error("synth", valid.error());
    return kExitUsage;
  }
  PatientRegistry registry;
  auto generator = synth::Generator::create(profile.value(), options, registry);
  if (!generator) {
    print_error("synth", generator.error());
    return kExitFailure;
  }
  // Patients are interned by create(), so the writer sees every id it will be asked to write.
  auto writer = open_event_writer(args.out, profile.value().engine.schema, registry);
  if (!writer) {
    print_error("synth", writer.error());
    return kExitFailure;
  }
  const auto start = std::chrono::steady_clock::now();
  while (const Event* event = generator.value()->next()) writer.value()->write(*event);
  if (auto closed = writer.value()->close(); !closed) {
    print_error("synth", closed.error());
    return kExitFailure;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const synth::GenerateStats& stats = generator.value()->stats();
  std::printf(
      "synth: profile %s, %u patients, %.3g days: %llu events (%llu vitals, %llu notes, %llu "
      "imaging, %llu outcomes) to %s in %.1f s\n",
      profile.value().name.c_str(), stats.patients, args.days,
      static_cast<unsigned long long>(stats.events), static_cast<unsigned long long>(stats.vitals),
      static_cast<unsigned long long>(stats.notes), static_cast<unsigned long long>(stats.imaging),
      static_cast<unsigned long long>(stats.outcomes), args.out.c_str(), seconds);
  return kExitOk;
}

}  // namespace

void register_synth(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<SynthArgs>();
  auto* cmd = app.add_subcommand(
      "synth",
      "Generate a synthetic cohort from a deployment profile (deterministic by seed).\n"
      "Example: tfe synth --profile ward --patients 1000 --days 1 --seed 7 --out ward.tfelog");
  cmd->add_option("--profile", args->profile,
                  "Profile name (looked up in --profiles-dir) or path to a profile TOML")
      ->required();
  cmd->add_option("--profiles-dir", args->profiles_dir, "Where profile names are looked up")
      ->capture_default_str();
  cmd->add_option("--out", args->out, "Output file: .jsonl or .tfelog")->required();
  cmd->add_option("--patients", args->patients, "Number of patients")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10'000'000u));
  cmd->add_option("--days", args->days, "History length in days")->capture_default_str();
  cmd->add_option("--seed", args->seed, "Random seed")->capture_default_str()->check(SeedNumber());
  cmd->callback([args, exit_code] { *exit_code = run_synth(*args); });
}

}  // namespace tfe::cli
