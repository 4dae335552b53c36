// The bake-off: the four strategies trained on the same history and backtested on its test
// patients, judged by what this deployment needs (subgroup metrics weighted by its own subgroup
// frequencies), and compared with the decision matrix.

#include <chrono>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "operators/fusion_operator.h"
#include "operators/model_config.h"
#include "operators/model_file.h"
#include "tools/profile/profile.h"
#include "tools/report/backtest.h"
#include "tools/train/train.h"

namespace tfe::profile {
namespace {

// Deployment-weighted AUROC differences below this are within the noise of a test split of a few
// dozen to a few hundred patients: the matrix, which
// does not depend on one split, keeps the call.
constexpr double kDecisiveMargin = 0.03;

Strategy from_operator(tfe::Strategy s) { return static_cast<Strategy>(static_cast<uint8_t>(s)); }

}  // namespace

Result<Bakeoff> run_bakeoff(const toml::table& doc, const History& history,
                            const PatientRegistry& registry, const EngineConfig& config,
                            const DeploymentProfile& profile, uint64_t seed,
                            const std::function<void(const std::string&)>& log) {
  using Clock = std::chrono::steady_clock;
  const auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  auto arch = model_config_from_toml(doc);
  if (!arch) return arch.error();
  auto training = train::training_config_from_toml(doc);
  if (!training) return training.error();
  training.value().horizon_ms = profile.horizon_ms;

  // The test patients of the training split; the backtest sees only their events.
  std::vector<uint8_t> is_test(registry.size(), 0);
  Bakeoff out;
  for (std::size_t p = 0; p < registry.size(); ++p) {
    const auto split =
        train::split_of(registry.id(static_cast<PatientIndex>(p)), training.value().train_fraction,
                        training.value().validation_fraction);
    is_test[p] = split == Split::test ? 1 : 0;
    out.test_patients += is_test[p];
  }
  History test;
  for (const Event& e : history.events) {
    if (e.patient < is_test.size() && is_test[e.patient]) test.events.push_back(e);
  }
  if (test.events.empty()) return make_error(Errc::invalid_argument, "the test split is empty");

  std::map<uint32_t, double> share;  // this deployment's subgroup frequencies
  for (const Subgroup& g : profile.availability.subgroups) share[g.present_mask] = g.share;

  std::vector<report::BacktestScorer> scorers;
  for (const tfe::Strategy s : kAllStrategies) {
    const auto start = Clock::now();
    train::TrainRequest request;
    request.engine = config;
    request.arch = arch.value();
    request.arch.strategy = s;
    request.training = training.value();
    request.seed = seed;
    request.masking = true;
    request.threads = 1;  // the bake-off shares the machine; results do not depend on it
    auto trained = train::train_from_events(history.events, registry, request);
    if (!trained) {
      return make_error(trained.error().code,
                        fmt::format("training {}: {}", to_string(s), trained.error().message));
    }
    auto model = std::make_shared<const FusionModel>(std::move(trained.value().model));
    auto op = FusionOperator::create(model, config);
    if (!op) return op.error();
    BakeoffEntry entry;
    entry.strategy = from_operator(s);
    entry.model_id = model_id(*model);
    entry.training_test_auroc = trained.value().test.auroc;
    entry.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    out.entries.push_back(entry);
    scorers.push_back({std::string(to_string(s)), op.value(), profile.horizon_ms});
    say(fmt::format("bake-off: trained {} in {:.1f} s", to_string(s), entry.seconds));
  }

  report::BacktestOptions options;
  options.horizon_ms = profile.horizon_ms;
  options.evaluation.bootstrap_replicates = 0;
  options.evaluation.seed = seed;
  options.timelines = false;
  options.log = [&](const std::string& line) { say("bake-off: " + line); };
  auto backtest = report::run_backtest(test, registry, config, scorers, options);
  if (!backtest) return backtest.error();
  const report::Report& rep = backtest.value();
  for (std::size_t i = 0; i < rep.models.size() && i < out.entries.size(); ++i) {
    const report::Evaluation& ev = rep.models[i].evaluation;
    BakeoffEntry& entry = out.entries[i];
    entry.auroc = ev.overall.discrimination.auroc;
    entry.auprc = ev.overall.discrimination.auprc;
    double w_roc = 0, s_roc = 0, w_pr = 0, s_pr = 0;
    for (const report::GroupMetrics& g : ev.subgroups) {
      const auto it = share.find(g.present_mask);
      const double w = it == share.end() ? 0 : it->second;
      if (!std::isnan(g.discrimination.auroc)) {
        w_roc += w;
        s_roc += w * g.discrimination.auroc;
      }
      if (!std::isnan(g.discrimination.auprc)) {
        w_pr += w;
        s_pr += w * g.discrimination.auprc;
      }
    }
    entry.weighted_auroc = w_roc > 0 ? s_roc / w_roc : kNaN;
    entry.weighted_auprc = w_pr > 0 ? s_pr / w_pr : kNaN;
    for (const report::StressResult& st : rep.models[i].stress) {
      entry.stress.push_back(
          {report::stress_name(st), st.comparison.auroc.delta, st.comparison.auprc.delta});
    }
  }

  // The winner: the highest deployment-weighted AUROC.
  const BakeoffEntry* best = nullptr;
  const BakeoffEntry* matrix = nullptr;
  for (const BakeoffEntry& e : out.entries) {
    if (!std::isnan(e.weighted_auroc) &&
        (best == nullptr || e.weighted_auroc > best->weighted_auroc)) {
      best = &e;
    }
    if (e.strategy == profile.recommendation.strategy) matrix = &e;
  }
  const Strategy chosen = profile.recommendation.strategy;
  if (best == nullptr) {
    out.recommended = chosen;
    out.verdict = fmt::format(
        "no strategy had a defined AUROC on the test patients: {} fusion "
        "from the matrix stands",
        to_string(chosen));
    return out;
  }
  out.winner = best->strategy;
  out.agrees = out.winner == chosen;
  if (out.agrees) {
    out.recommended = chosen;
    out.verdict = fmt::format(
        "the bake-off agrees with the matrix: {} fusion has the best deployment-weighted AUROC "
        "({:.3f})",
        to_string(chosen), best->weighted_auroc);
    return out;
  }
  const double margin = matrix ? best->weighted_auroc - matrix->weighted_auroc : kNaN;
  if (!std::isnan(margin) && margin < kDecisiveMargin) {
    out.recommended = chosen;
    out.verdict = fmt::format(
        "the bake-off and the matrix disagree: {} fusion leads ({:.3f} deployment-weighted AUROC) "
        "but by {:.3f} over the matrix's {} fusion, within the noise of {} test patients; "
        "recommend {} fusion ({})",
        to_string(out.winner), best->weighted_auroc, margin, to_string(chosen), out.test_patients,
        to_string(chosen), profile.recommendation.rows[profile.recommendation.fired].row);
  } else {
    out.recommended = out.winner;
    out.verdict = fmt::format(
        "the bake-off and the matrix disagree: {} fusion has {:.3f} deployment-weighted AUROC "
        "against {:.3f} for the matrix's {} fusion ({}); recommend {} fusion from the measured "
        "evidence, and check the stress rows for how it degrades",
        to_string(out.winner), best->weighted_auroc, matrix ? matrix->weighted_auroc : kNaN,
        to_string(chosen), profile.recommendation.rows[profile.recommendation.fired].row,
        to_string(out.winner));
  }
  return out;
}

}  // namespace tfe::profile
