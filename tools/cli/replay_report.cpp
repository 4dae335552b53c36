#include "tools/cli/replay_report.h"

#include "tools/cli/command.h"
#include "tools/cli/scorers.h"

namespace tfe::cli {

void add_replay_report_options(CLI::App& cmd, ReplayReportArgs& args) {
  cmd.add_option("--report", args.dir, "Write a backtest report (report.html, report.json) to DIR");
}

int run_replay_report(const ReplayCommon&, const ReplayReportArgs&) {
  print_error("replay", "--report is not available in this build");
  return kExitFailure;
}

}  // namespace tfe::cli
