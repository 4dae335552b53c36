#pragma once
// `tfe replay --report DIR`: the backtest of one history with several scorers side by side, with
// subgroup metrics, stress tests and the HTML/JSON report. cmd_replay.cpp owns the common
// options (history, config, models, strategy, shards, pace) and hands over here when --report is
// given.

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "connectors/dead_letter.h"
#include "engine/result.h"
#include "tools/cli/scorers.h"

namespace tfe::cli {

// Options every replay mode shares, filled by cmd_replay.cpp.
struct ReplayCommon {
  std::vector<std::string> history;
  std::string config_path;
  std::vector<std::string> models;  // model files
  bool news2 = false;               // --strategy news2
  uint32_t shards = 0;              // 0: from the config
  double pace = 0;                  // 0: as fast as possible
  DeadLetterFile dead_letters;
  bool quiet = false;  // no progress lines
};

struct ReplayReportArgs {
  std::string dir;                 // --report DIR; empty: no report
  std::string horizon;             // label horizon ("6h"); empty: the models', else 6h
  uint32_t bootstrap = 200;        // bootstrap replicates (0: no intervals)
  uint64_t seed = 1;               // bootstrap seed
  std::vector<double> thresholds;  // empty: the report's defaults
  double alerts_per_day = 2.0;     // target alerts per patient-day (0: none)
  bool no_stress = false;          // skip the stress tests
  double delay_factor = 2.0;       // arrival delay multiplier of the delay stress test
  bool sequential = false;         // one replay at a time (default: one per scorer in parallel)
  int64_t pretouch_mb = -1;        // memory touched ahead during the load; -1: estimated
};

// Registers the report's own options on `cmd`: --report, and options that only the report uses,
// which are usage errors without it.
void add_replay_report_options(CLI::App& cmd, ReplayReportArgs& args);

// Runs the backtest and writes DIR/report.html and DIR/report.json. Returns an exit code.
int run_replay_report(const ReplayCommon& common, const ReplayReportArgs& args);

}  // namespace tfe::cli
