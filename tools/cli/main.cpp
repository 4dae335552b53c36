// tfe: the command-line entry point. Subcommands are registered from their own files.

#include <cstdio>
#include <exception>
#include <string>

#include "tools/cli/allocator.h"
#include "tools/cli/command.h"

int main(int argc, char** argv) {
  CLI::App app{
      "tfe: a streaming temporal-fusion engine for asynchronous clinical modalities.\n"
      "Keeps per-patient state in event time and fuses the latest state of each modality into\n"
      "calibrated risk scores, live from Kafka or replayed from history files."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  app.set_version_flag(
      "--version",
      std::string("tfe ") + TFE_VERSION + " (" + tfe::cli::allocator_description() + ")",
      "Print the version and the memory allocator, then exit");
  int exit_code = tfe::cli::kExitOk;
  tfe::cli::register_convert(app, &exit_code);
  tfe::cli::register_synth(app, &exit_code);
  tfe::cli::register_replay(app, &exit_code);
  tfe::cli::register_model(app, &exit_code);
  tfe::cli::register_serve(app, &exit_code);
  tfe::cli::register_train(app, &exit_code);
  tfe::cli::register_profile(app, &exit_code);
  tfe::cli::register_import(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // One clear line for bad arguments (help output keeps CLI11's formatting).
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "tfe: %s (see --help)\n", e.what());
    return tfe::cli::kExitUsage;
  } catch (const std::exception& e) {
    // Commands return errors as values; anything thrown past them still ends in one line.
    std::fprintf(stderr, "tfe: error: %s\n", e.what());
    return tfe::cli::kExitFailure;
  }
  return exit_code;
}
