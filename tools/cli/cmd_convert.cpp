// tfe convert: between JSONL and the binary event log; bad records go to dead letters.

#include <cstdio>
#include <initializer_list>

#include "connectors/dead_letter.h"
#include "connectors/event_codec.h"
#include "connectors/event_files.h"
#include "tools/cli/command.h"
#include "tools/cli/paths.h"
#include "tools/cli/scorers.h"
#include "tools/cli/stop_signals.h"

namespace tfe::cli {
namespace {

struct ConvertArgs {
  std::string in;
  std::string out;
  std::string config = "configs/default.toml";
  DeadLetterFile dead_letters;
};

int run_convert(const ConvertArgs& args) {
  if (const std::string clash =
          overlapping_paths({{"--in", args.in}, {"--config", args.config}},
                            {{"--out", args.out}, {"--dead-letters", args.dead_letters.path}});
      !clash.empty()) {
    print_error("convert", clash);
    return kExitUsage;
  }
  // The formats come from the extensions: another one is a bad argument, as for tfe import.
  for (const std::string* path : {&args.in, &args.out}) {
    if (auto format = event_file_format(*path); !format) {
      print_error("convert", format.error());
      return kExitUsage;
    }
  }
  auto config = load_engine_config(args.config);
  if (!config) {
    print_error("convert", config.error());
    return kExitFailure;
  }
  auto opened = open_dead_letters(args.dead_letters);
  if (!opened) {
    print_error("convert", opened.error());
    return kExitFailure;
  }
  DeadLetterSink* dead = opened.value().get();
  // Ctrl-C or SIGTERM ends the conversion with neither a partial output nor its temporary file.
  StopSignals stop;
  auto stats =
      convert_events(args.in, args.out, config.value().schema, DecodeLimits::from(config.value()),
                     *dead, [&stop] { return stop.requested(); });
  if (!stats) {
    print_error("convert", stats.error());  // the dead letters of a failed run are discarded
    return kExitFailure;
  }
  if (stats.value().interrupted) {
    print_error("convert", "interrupted after " + std::to_string(stats.value().events) +
                               " events; nothing was written");
    return 128 + stop.signal();
  }
  if (auto closed = dead->close(); !closed) {
    print_error("convert", closed.error());
    return kExitFailure;
  }
  warn_unknown_channels("convert", stats.value().unknown_channels);
  std::printf(
      "convert: %llu events to %s, %llu dead letters%s\n",
      static_cast<unsigned long long>(stats.value().events), args.out.c_str(),
      static_cast<unsigned long long>(stats.value().dead_letters),
      args.dead_letters.path.empty() ? "" : (" (in " + args.dead_letters.path + ")").c_str());
  return kExitOk;
}

}  // namespace

void register_convert(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ConvertArgs>();
  auto* cmd = app.add_subcommand(
      "convert",
      "Convert events between JSONL (.jsonl) and the binary event log (.tfelog).\n"
      "Example: tfe convert --in history.jsonl --out history.tfelog");
  cmd->add_option("--in", args->in, "Input file (.jsonl or .tfelog)")->required();
  cmd->add_option("--out", args->out, "Output file (.jsonl or .tfelog)")->required();
  cmd->add_option("--config", args->config, "Config with the modality schema")
      ->capture_default_str();
  add_dead_letter_options(*cmd, args->dead_letters,
                          "Write bad records (with their reason and position) to this JSONL file");
  cmd->callback([args, exit_code] { *exit_code = run_convert(*args); });
}

}  // namespace tfe::cli
