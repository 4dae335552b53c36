#pragma once
// `tfe replay --report DIR`: the backtest of one history with several scorers side by side, with
// subgroup metrics, stress tests and the HTML/JSON report. cmd_replay.cpp owns the common
// options (history, config, models, strategy, shards, pace) and hands over here when --report is
// given.

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace tfe::cli {

// Options every replay mode shares, filled by cmd_replay.cpp.
struct ReplayCommon {
  std::vector<std::string> history;
  std::string config_path;
  std::vector<std::string> models;  // model files
  bool news2 = false;               // --strategy news2
  uint32_t shards = 0;              // 0: from the config
  double pace = 0;                  // 0: as fast as possible
};

struct ReplayReportArgs {
  std::string dir;  // --report DIR; empty: no report
};

// Registers the report's own options (--report and what only the report uses) on `cmd`.
void add_replay_report_options(CLI::App& cmd, ReplayReportArgs& args);

// Runs the backtest and writes DIR/report.html and DIR/report.json. Returns an exit code.
int run_replay_report(const ReplayCommon& common, const ReplayReportArgs& args);

}  // namespace tfe::cli
