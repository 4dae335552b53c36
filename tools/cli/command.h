#pragma once
// Each subcommand of `tfe` lives in its own file and registers itself on the app here.

#include <CLI/CLI.hpp>

namespace tfe::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the work failed (bad file, broker unreachable, ...)
inline constexpr int kExitUsage = 2;    // bad arguments

// Each register function adds one subcommand whose callback stores its exit code in *exit_code.
void register_convert(CLI::App& app, int* exit_code);
void register_synth(CLI::App& app, int* exit_code);
void register_replay(CLI::App& app, int* exit_code);
void register_model(CLI::App& app, int* exit_code);
void register_serve(CLI::App& app, int* exit_code);
void register_train(CLI::App& app, int* exit_code);
void register_profile(CLI::App& app, int* exit_code);
void register_import(CLI::App& app, int* exit_code);

}  // namespace tfe::cli
