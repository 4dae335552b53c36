#include "tools/cli/command.h"

namespace tfe::cli {

void register_profile(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("profile", "(not yet available)");
  cmd->callback([exit_code] { *exit_code = kExitFailure; });
}

}  // namespace tfe::cli
