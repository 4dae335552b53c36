// tfe synth: a synthetic cohort from a deployment profile, written as JSONL or a binary event log.

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "connectors/event_files.h"
#include "engine/patient_registry.h"
#include "tools/cli/command.h"
#include "tools/cli/paths.h"
#include "tools/cli/progress_line.h"
#include "tools/cli/scorers.h"
#include "tools/cli/stop_signals.h"
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
  bool quiet = false;
};

// Events between two looks at the clock and at pending stop signals: about 15 ms of generation.
constexpr uint64_t kCheckEvery = 1 << 16;

int run_synth(const SynthArgs& args) {
  // A profile is a name or a file; as a file it is an input like any other.
  if (const std::string clash =
          overlapping_paths({{"--profile", args.profile}}, {{"--out", args.out}});
      !clash.empty() && std::filesystem::exists(args.profile)) {
    print_error("synth", clash);
    return kExitUsage;
  }
  if (auto format = event_file_format(args.out); !format) {
    print_error("synth", format.error());
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
  // Opened before the cohort is set up (seconds and gigabytes for millions of patients), so that
  // an output that cannot be written fails at once. Writers look ids up as they write them, and
  // create() interns every patient before the first event.
  auto writer = open_event_writer(args.out, profile.value().engine.schema, registry);
  if (!writer) {
    print_error("synth", writer.error());
    return kExitFailure;
  }
  // Ctrl-C or SIGTERM stops the run; the unclosed writer then removes what it wrote, so neither a
  // partial cohort nor its temporary file is left behind.
  StopSignals stop;
  const auto start = std::chrono::steady_clock::now();
  auto generator = synth::Generator::create(profile.value(), options, registry);
  if (!generator) {
    print_error("synth", generator.error());
    return kExitFailure;
  }
  const synth::GenerateStats& stats = generator.value()->stats();
  ProgressLine progress("synth", args.quiet);  // the rate counts from the first event
  uint64_t written = 0;
  while (const Event* event = generator.value()->next()) {
    writer.value()->write(*event);
    if (++written % kCheckEvery != 0) continue;
    if (stop.requested()) break;
    // Events come in arrival order, so the share of the history window passed is the progress.
    progress.update(
        ProgressCount(written).share(static_cast<double>(event->arrival_time_ms - stats.start_ms) /
                                         static_cast<double>(stats.end_ms - stats.start_ms),
                                     "the history"));
  }
  if (stop.requested()) {
    print_error("synth", "interrupted after " + std::to_string(written) + " events; " + args.out +
                             " was not written");
    return 128 + stop.signal();
  }
  if (auto closed = writer.value()->close(); !closed) {
    print_error("synth", closed.error());
    return kExitFailure;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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
  cmd->add_flag("--quiet", args->quiet, "No progress lines on stderr");
  cmd->callback([args, exit_code] { *exit_code = run_synth(*args); });
}

}  // namespace tfe::cli
