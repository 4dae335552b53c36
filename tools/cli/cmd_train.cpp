#include "tools/cli/command.h"

namespace tfe::cli {

void register_train(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("train", "(not yet available)");
  cmd->callback([exit_code] { *exit_code = kExitFailure; });
}

}  // namespace tfe::cli
