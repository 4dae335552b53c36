// The bake-off: the four strategies trained on the same history and backtested on its test
// patients, judged by what this deployment needs (subgroup metrics weighted by its own subgroup
// frequencies), and compared with the decision matrix.

#include <array>
#include <atomic>
#include <cassert>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include <boost/math/distributions/students_t.hpp>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include "operators/fusion_operator.h"
#include "operators/model_config.h"
#include "operators/model_file.h"
#include "tools/profile/format.h"
#include "tools/profile/profile.h"
#include "tools/report/backtest.h"
#include "tools/train/train.h"

namespace tfe::profile {
namespace {

// With one split, deployment-weighted AUROC differences below this are within the noise of a test
// split of a few dozen to a few hundred patients: the matrix, which does not depend on one split,
// keeps the call. With folds the noise is measured instead (the folds' spread).
constexpr double kDecisiveMargin = 0.03;

Strategy from_operator(tfe::Strategy s) { return static_cast<Strategy>(static_cast<uint8_t>(s)); }

// One strategy's figures on one fold.
struct FoldFigures {
  std::string model_id;
  double auroc = kNaN, auprc = kNaN, weighted_auroc = kNaN, weighted_auprc = kNaN;
  double training_test_auroc = kNaN;
  std::vector<BakeoffStress> stress;
  double seconds = 0;
};

// Mean of the defined values (NaN when none is).
double mean_defined(std::span<const double> values) {
  double sum = 0;
  std::size_t n = 0;
  for (const double v : values) {
    if (std::isnan(v)) continue;
    sum += v;
    ++n;
  }
  return n > 0 ? sum / static_cast<double>(n) : kNaN;
}

// Fold f of a bake-off: its training config (test split and folds) and its label in messages.
struct Fold {
  train::TrainingConfig training;
  std::string label;  // ", fold 2 of 5"; empty with one split
};

Fold fold_of(const BakeoffConfig& config, uint32_t f) {
  Fold fold{config.training, {}};
  fold.training.folds = config.folds >= 2 ? config.folds : 0;
  fold.training.test_fold = f;
  if (config.folds >= 2) fold.label = fmt::format(", fold {} of {}", f + 1, config.folds);
  return fold;
}

// Every split of every fold needs a patient with an outcome (training, early stopping and the
// test metrics all need both classes): one clear error, before minutes of training. The first
// fold and split without one, in order, is the error.
Result<void> check_fold_outcomes(const BakeoffConfig& config, const ReplaySequence& events,
                                 const PatientRegistry& registry) {
  // The patients with an outcome, from one pass over the events; each fold then splits them.
  std::vector<uint8_t> counted(registry.size(), 0);
  std::vector<PatientIndex> outcome_patients;
  events.for_each_header([&](const EventHeader& e, int64_t) {
    if (e.modality != kOutcomeModality || e.patient >= counted.size() || counted[e.patient]) {
      return true;
    }
    counted[e.patient] = 1;
    outcome_patients.push_back(e.patient);
    return true;
  });
  constexpr const char* kSplitName[] = {"training", "validation", "test"};
  for (uint32_t f = 0; f < config.folds; ++f) {
    const Fold fold = fold_of(config, f);
    std::array<uint32_t, 3> with_outcome{};
    for (const PatientIndex p : outcome_patients) {
      ++with_outcome[static_cast<std::size_t>(train::split_of(registry.id(p), fold.training))];
    }
    for (std::size_t s = 0; s < with_outcome.size(); ++s) {
      if (with_outcome[s] > 0) continue;
      return make_error(
          Errc::invalid_argument,
          fmt::format("{}the {} split has no patient with an outcome ({} in the history){}",
                      fold.label.empty() ? "" : fold.label.substr(2) + ": ", kSplitName[s],
                      outcome_patients.size(),
                      config.folds >= 2 ? "; fewer folds leave more patients in each split" : ""));
    }
  }
  return ok();
}

// Trains the four strategies with `training`'s split and backtests them on its test patients.
Result<std::vector<FoldFigures>> run_fold(const ReplaySequence& events,
                                          const PatientRegistry& registry,
                                          const EngineConfig& config, const ModelConfig& arch,
                                          const train::TrainingConfig& training,
                                          const DeploymentProfile& profile, uint64_t seed,
                                          const std::string& label, uint32_t& test_patients,
                                          const std::function<void(const std::string&)>& say) {
  using Clock = std::chrono::steady_clock;
  std::vector<uint8_t> is_test(registry.size(), 0);
  test_patients = 0;
  for (std::size_t p = 0; p < registry.size(); ++p) {
    is_test[p] =
        train::split_of(registry.id(static_cast<PatientIndex>(p)), training) == Split::test;
    test_patients += is_test[p];
  }
  // The test patients' events, packed (the backtest rearranges them for its delay variant).
  PackedEvents test;
  events.for_each([&](const Event& e, int64_t) {
    if (e.patient < is_test.size() && is_test[e.patient]) test.append(e);
    return true;
  });

  std::map<uint32_t, double> share;  // this deployment's subgroup frequencies
  for (const Subgroup& g : profile.availability.subgroups) share[g.present_mask] = g.share;

  std::vector<FoldFigures> figures;
  std::vector<report::BacktestScorer> scorers;
  for (const tfe::Strategy s : kAllStrategies) {
    const auto start = Clock::now();
    train::TrainRequest request;
    request.engine = config;
    request.arch = arch;
    request.arch.strategy = s;
    request.training = training;
    request.seed = seed;
    request.masking = true;
    request.threads = 1;  // the bake-off shares the machine; results do not depend on it
    auto trained = train::train_from_events(events, registry, request);
    if (!trained) {
      return make_error(trained.error().code, fmt::format("training {}{}: {}", to_string(s), label,
                                                          trained.error().message));
    }
    auto model = std::make_shared<const FusionModel>(std::move(trained.value().model));
    auto op = FusionOperator::create(model, config);
    if (!op) return op.error();
    FoldFigures f;
    f.model_id = model_id(*model);
    f.training_test_auroc = trained.value().test.auroc;
    f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    figures.push_back(std::move(f));
    scorers.push_back({std::string(to_string(s)), op.value(), profile.horizon_ms});
    say(fmt::format("bake-off: trained {}{} in {:.1f} s", to_string(s), label,
                    figures.back().seconds));
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
  for (std::size_t i = 0; i < rep.models.size() && i < figures.size(); ++i) {
    const report::Evaluation& ev = rep.models[i].evaluation;
    FoldFigures& f = figures[i];
    f.auroc = ev.overall.discrimination.auroc;
    f.auprc = ev.overall.discrimination.auprc;
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
    f.weighted_auroc = w_roc > 0 ? s_roc / w_roc : kNaN;
    f.weighted_auprc = w_pr > 0 ? s_pr / w_pr : kNaN;
    for (const report::StressResult& st : rep.models[i].stress) {
      f.stress.push_back(
          {report::stress_name(st), st.comparison.auroc.delta, st.comparison.auprc.delta});
    }
  }
  return figures;
}

// A strategy's entry: the mean of its folds' figures.
BakeoffEntry combine(tfe::Strategy s, std::span<const FoldFigures* const> folds) {
  BakeoffEntry e;
  e.strategy = from_operator(s);
  std::vector<double> auroc, auprc, wauprc, training;
  for (const FoldFigures* f : folds) {
    e.model_ids.push_back(f->model_id);
    auroc.push_back(f->auroc);
    auprc.push_back(f->auprc);
    e.fold_weighted_auroc.push_back(f->weighted_auroc);
    wauprc.push_back(f->weighted_auprc);
    training.push_back(f->training_test_auroc);
    e.seconds += f->seconds;
  }
  e.auroc = mean_defined(auroc);
  e.auprc = mean_defined(auprc);
  e.weighted_auroc = mean_defined(e.fold_weighted_auroc);
  e.weighted_auprc = mean_defined(wauprc);
  e.training_test_auroc = mean_defined(training);
  // Stress tests come in the same order on every fold.
  for (std::size_t k = 0; !folds.empty() && k < folds.front()->stress.size(); ++k) {
    std::vector<double> roc, pr;
    for (const FoldFigures* f : folds) {
      if (k >= f->stress.size()) continue;
      roc.push_back(f->stress[k].auroc_delta);
      pr.push_back(f->stress[k].auprc_delta);
    }
    e.stress.push_back({folds.front()->stress[k].name, mean_defined(roc), mean_defined(pr)});
  }
  return e;
}

}  // namespace

namespace detail {
Lead paired_lead(std::span<const double> a, std::span<const double> b, double test_over_train,
                 uint32_t comparisons) {
  std::vector<double> d;
  for (std::size_t f = 0; f < a.size() && f < b.size(); ++f) {
    if (!std::isnan(a[f]) && !std::isnan(b[f])) d.push_back(a[f] - b[f]);
  }
  Lead lead;
  lead.folds = static_cast<uint32_t>(d.size());
  lead.mean = mean_defined(d);
  if (d.size() < 2) return lead;
  double ss = 0;
  for (const double x : d) ss += (x - lead.mean) * (x - lead.mean);
  const double n = static_cast<double>(d.size());
  // Nadeau and Bengio's corrected resampled t: the folds train on overlapping patients, so their
  // differences are correlated and the plain s^2 / n understates the variance of the mean.
  const double se = std::sqrt(ss / (n - 1) * (1.0 / n + std::max(0.0, test_over_train)));
  const double tail = 0.025 / std::max<uint32_t>(1, comparisons);  // Bonferroni
  const double half = boost::math::quantile(boost::math::students_t(n - 1), 1.0 - tail) * se;
  lead.lo = lead.mean - half;
  lead.hi = lead.mean + half;
  return lead;
}

void judge(Bakeoff& out, const Recommendation& matrix_row, double test_over_train) {
  const BakeoffEntry* best = nullptr;
  const BakeoffEntry* matrix = nullptr;
  for (const BakeoffEntry& e : out.entries) {
    if (!std::isnan(e.weighted_auroc) &&
        (best == nullptr || e.weighted_auroc > best->weighted_auroc)) {
      best = &e;
    }
    if (e.strategy == matrix_row.strategy) matrix = &e;
  }
  const Strategy chosen = matrix_row.strategy;
  const std::string row =
      matrix_row.fired < matrix_row.rows.size() ? matrix_row.rows[matrix_row.fired].row : "";
  out.recommended = chosen;
  if (best == nullptr) {
    out.verdict = fmt::format(
        "no strategy had a defined AUROC on the test patients: {} fusion from the matrix stands",
        to_string(chosen));
    return;
  }
  out.winner = best->strategy;
  out.agrees = out.winner == chosen;
  if (out.agrees) {
    out.verdict = fmt::format(
        "the bake-off agrees with the matrix: {} fusion has the best deployment-weighted AUROC "
        "({:.3f})",
        to_string(chosen), best->weighted_auroc);
    return;
  }
  std::string noise;  // how the lead compares with the noise
  if (matrix == nullptr || std::isnan(matrix->weighted_auroc)) {
    out.decisive = true;
  } else if (out.folds >= 2) {
    // The winner is the best of the other strategies, so the interval covers each of them.
    const uint32_t challengers = static_cast<uint32_t>(out.entries.size()) - 1;
    const Lead lead = paired_lead(best->fold_weighted_auroc, matrix->fold_weighted_auroc,
                                  test_over_train, challengers);
    out.lead = lead.mean;
    out.lead_lo = lead.lo;
    out.lead_hi = lead.hi;
    out.decisive = !std::isnan(out.lead_lo) && out.lead_lo > 0;
    // An interval needs two folds where both strategies have a figure; say so rather than "nan".
    if (lead.folds == 0) {
      noise = fmt::format("(no interval: none of {} folds has both figures)", out.folds);
    } else if (lead.folds < 2) {
      noise = fmt::format("by {:.3f} (no interval: {} of {} folds with both figures)", out.lead,
                          lead.folds, out.folds);
    } else {
      // The interval's lower end decides: never shown as 0.000 when it is on either side of 0.
      noise = fmt::format(
          "by {:.3f} (95% interval {} to {:.3f} over {})", out.lead, num_apart(out.lead_lo, 0.0, 3),
          out.lead_hi,
          lead.folds == out.folds
              ? fmt::format("{} folds", out.folds)
              : fmt::format("the {} of {} folds with both figures", lead.folds, out.folds));
    }
  } else {
    out.lead = best->weighted_auroc - matrix->weighted_auroc;
    out.decisive = out.lead >= kDecisiveMargin;
    noise = fmt::format("by {}", num_apart(out.lead, kDecisiveMargin, 3));
  }
  if (!out.decisive) {
    out.verdict = fmt::format(
        "the bake-off and the matrix disagree: {} fusion leads ({:.3f} deployment-weighted AUROC) "
        "{} over the matrix's {} fusion, within the noise of {}; recommend {} fusion ({})",
        to_string(out.winner), best->weighted_auroc, noise, to_string(chosen),
        out.folds >= 2 ? fmt::format("{} folds", out.folds)
                       : fmt::format("{} test patients", out.test_patients),
        to_string(chosen), row);
    return;
  }
  out.recommended = out.winner;
  const std::string against =
      matrix != nullptr && !std::isnan(matrix->weighted_auroc)
          ? fmt::format("against {:.3f} for the matrix's {} fusion", matrix->weighted_auroc,
                        to_string(chosen))
          : fmt::format("where the matrix's {} fusion has no defined figure", to_string(chosen));
  out.verdict = fmt::format(
      "the bake-off and the matrix disagree: {} fusion has {:.3f} deployment-weighted AUROC "
      "{} ({}){}{}; recommend {} fusion from the measured evidence, and check the stress rows "
      "for how it degrades",
      to_string(out.winner), best->weighted_auroc, against, row, noise.empty() ? "" : ", ahead ",
      noise, to_string(out.winner));
}
}  // namespace detail

Result<BakeoffConfig> bakeoff_config_from_toml(const toml::table& doc, uint32_t folds) {
  if (folds == 0 || folds > kMaxBakeoffFolds) {
    return make_error(Errc::invalid_argument,
                      fmt::format("folds must be 1 to {} (got {})", kMaxBakeoffFolds, folds));
  }
  BakeoffConfig config;
  config.folds = folds;
  auto arch = model_config_from_toml(doc);
  if (!arch) return arch.error();
  config.arch = std::move(arch).value();
  auto training = train::training_config_from_toml(doc);
  if (!training) return training.error();
  config.training = std::move(training).value();
  return config;
}

Result<BakeoffPlan> plan_bakeoff(BakeoffConfig config, const ReplaySequence& events,
                                 const PatientRegistry& registry) {
  // A programmer's error: settings come from bakeoff_config_from_toml, which checks the folds.
  assert(config.folds >= 1 && config.folds <= kMaxBakeoffFolds);
  if (auto checked = check_fold_outcomes(config, events, registry); !checked) {
    return checked.error();
  }
  return BakeoffPlan(std::move(config), events, registry);
}

Result<Bakeoff> run_bakeoff(const BakeoffPlan& plan, const EngineConfig& config,
                            const DeploymentProfile& profile, uint64_t seed,
                            const std::function<void(const std::string&)>& log) {
  const auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  // The plan's folds were checked when it was made: none trains without both classes.
  BakeoffConfig settings = plan.config();
  settings.training.horizon_ms = profile.horizon_ms;
  const uint32_t folds = settings.folds;
  const ReplaySequence& events = plan.events();
  const PatientRegistry& registry = plan.registry();

  Bakeoff out;
  out.folds = folds;
  // The folds train side by side, as many at a time as there are cores (each one's four
  // trainings in turn, one thread each, its recorded examples in memory). Each fold fills its own
  // slot, so the outcome does not depend on the schedule.
  std::mutex log_mutex;
  const auto say_locked = [&](const std::string& line) {
    const std::lock_guard<std::mutex> lock(log_mutex);
    say(line);
  };
  std::vector<std::optional<Result<std::vector<FoldFigures>>>> fold_results(folds);
  std::vector<uint32_t> fold_test_patients(folds, 0);
  // After a failure, folds not yet started are skipped; folds under way run to their end.
  // (Cancelling the task group instead would cut short the parallel loops nested in the other
  // folds' trainings and backtests, which would then carry on with partial results.)
  std::atomic<bool> failed{false};
  tbb::parallel_for(
      tbb::blocked_range<uint32_t>(0, folds, 1), [&](const tbb::blocked_range<uint32_t>& range) {
        for (uint32_t f = range.begin(); f != range.end(); ++f) {
          if (failed.load()) return;
          const Fold fold = fold_of(settings, f);
          // A fold waiting on its backtest's shards must not pick up another fold;
          // a failure stays a value of its slot: nothing thrown leaves a worker.
          tbb::this_task_arena::isolate([&] {
            try {
              fold_results[f] =
                  run_fold(events, registry, config, settings.arch, fold.training, profile, seed,
                           fold.label, fold_test_patients[f], say_locked);
            } catch (const std::exception& e) {
              fold_results[f] = make_error(
                  Errc::config, fmt::format("bake-off{} failed: {}", fold.label, e.what()));
            }
          });
          if (!fold_results[f]->has_value()) failed.store(true);
        }
      });
  std::vector<std::vector<FoldFigures>> by_fold;
  for (uint32_t f = 0; f < folds; ++f) {
    if (!fold_results[f]) continue;  // skipped after another fold failed
    if (!fold_results[f]->has_value()) return fold_results[f]->error();
  }
  for (uint32_t f = 0; f < folds; ++f) {
    if (!fold_results[f]) return make_error(Errc::config, "the bake-off was cancelled");
    out.test_patients += fold_test_patients[f];
    by_fold.push_back(std::move(*fold_results[f]).value());
  }
  for (std::size_t i = 0; i < std::size(kAllStrategies); ++i) {
    std::vector<const FoldFigures*> folds_of;
    for (const auto& fold : by_fold) folds_of.push_back(&fold[i]);
    out.entries.push_back(combine(kAllStrategies[i], folds_of));
  }
  // A fold's test patients against its training patients, for the interval's correction.
  double test_over_train = 0;
  if (folds >= 2) {
    train::TrainingConfig t = settings.training;
    t.folds = folds;
    const double k = folds;
    test_over_train = 1.0 / ((k - 1) * (1.0 - train::fold_validation_share(t)));
  }
  detail::judge(out, profile.recommendation, test_over_train);
  return out;
}

}  // namespace tfe::profile
