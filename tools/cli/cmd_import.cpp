// tfe import: long-format CSV (one measurement per row) to an event history; bad rows go to dead
// letters.

#include <cstdio>
#include <string>
#include <vector>

#include "connectors/csv_import.h"
#include "connectors/dead_letter.h"
#include "connectors/event_codec.h"
#include "connectors/event_files.h"
#include "tools/cli/command.h"
#include "tools/cli/paths.h"
#include "tools/cli/scorers.h"
#include "tools/cli/stop_signals.h"

namespace tfe::cli {
namespace {

struct ImportArgs {
  std::vector<std::string> csv;
  std::string out;
  std::string config = "configs/default.toml";
  DeadLetterFile dead_letters;
  std::vector<std::string> renames;
};

int run_import(const ImportArgs& args) {
  std::vector<NamedPath> inputs = named("--csv", args.csv);
  inputs.push_back({"--config", args.config});
  if (const std::string clash = overlapping_paths(
          inputs, {{"--out", args.out}, {"--dead-letters", args.dead_letters.path}});
      !clash.empty()) {
    print_error("import", clash);
    return kExitUsage;
  }
  CsvColumns columns;
  for (const std::string& rename : args.renames) {
    if (auto r = set_csv_column(columns, rename); !r) {
      print_error("import", r.error());
      return kExitUsage;
    }
  }
  if (auto r = check_csv_columns(columns); !r) {
    print_error("import", r.error());
    return kExitUsage;
  }
  if (auto format = event_file_format(args.out); !format) {
    print_error("import", format.error());
    return kExitUsage;
  }
  auto config = load_engine_config(args.config);
  if (!config) {
    print_error("import", config.error());
    return kExitFailure;
  }
  auto opened = open_dead_letters(args.dead_letters);
  if (!opened) {
    print_error("import", opened.error());
    return kExitFailure;
  }
  DeadLetterSink* dead = opened.value().get();
  // Ctrl-C or SIGTERM ends the import with neither a partial output nor its temporary file.
  StopSignals stop;
  auto stats = import_csv(
      args.csv, args.out, config.value().schema, DecodeLimits::from(config.value()), *dead, columns,
      [](const std::string& path, const CsvImportStats& so_far) {
        // Progress on stderr: stdout ends with the one summary line.
        std::fprintf(stderr, "import: read %s (%llu rows so far)\n", path.c_str(),
                     static_cast<unsigned long long>(so_far.rows));
      },
      [&stop] { return stop.requested(); });
  if (!stats) {
    print_error("import", stats.error());  // the dead letters of a failed run are discarded
    return kExitFailure;
  }
  if (stats.value().interrupted) {
    print_error("import", "interrupted after " + std::to_string(stats.value().rows) +
                              " rows; nothing was written");
    return 128 + stop.signal();
  }
  if (auto closed = dead->close(); !closed) {
    print_error("import", closed.error());
    return kExitFailure;
  }
  std::printf(
      "import: %llu rows, %llu events written to %s, %llu dead letters%s\n",
      static_cast<unsigned long long>(stats.value().rows),
      static_cast<unsigned long long>(stats.value().events), args.out.c_str(),
      static_cast<unsigned long long>(stats.value().dead_letters),
      args.dead_letters.path.empty() ? "" : (" (in " + args.dead_letters.path + ")").c_str());
  return kExitOk;
}

}  // namespace

void register_import(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ImportArgs>();
  auto* cmd = app.add_subcommand(
      "import",
      "Import long-format CSV (one measurement per row, as clinical data warehouses export)\n"
      "into an event history (.jsonl or .tfelog) in arrival-time order. Adjacent vitals rows of\n"
      "one patient, modality, event_time and arrival_time form one reading. See docs/import.md.\n"
      "Example: tfe import --csv export.csv --config configs/default.toml --out history.tfelog");
  cmd->add_option("--csv", args->csv,
                  "CSV file(s) with a header row (columns patient_id, event_time, arrival_time, "
                  "modality, variable, value, text)")
      ->required();
  cmd->add_option("--out", args->out, "Output event file (.jsonl or .tfelog)")->required();
  cmd->add_option("--config", args->config, "Config with the modality schema")
      ->capture_default_str();
  add_dead_letter_options(
      *cmd, args->dead_letters,
      "Write bad rows (with their reason and FILE:LINE position) to this JSONL file");
  cmd->add_option("--column", args->renames,
                  "Find a column under another header: NAME=HEADER, e.g. patient_id=MRN "
                  "(repeatable)");
  cmd->callback([args, exit_code] { *exit_code = run_import(*args); });
}

}  // namespace tfe::cli
