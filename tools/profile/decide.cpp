// The decision matrix: [profile_thresholds] from the config, and the rows in precedence order.

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "tools/profile/format.h"
#include "tools/profile/profile.h"

namespace tfe::profile {

namespace {

Error threshold_error(std::string_view key, std::string_view what) {
  return make_error(Errc::config, fmt::format("profile_thresholds.{}: {}", key, what));
}

Result<double> read_number(const toml::node& node, std::string_view key, double lo, double hi) {
  std::optional<double> v = node.value<double>();
  if (!v) return threshold_error(key, "expected a number");
  if (!std::isfinite(*v) || *v < lo || *v > hi) {
    return threshold_error(key, fmt::format("{} is outside [{}, {}]", *v, lo, hi));
  }
  return *v;
}

Result<uint32_t> read_count(const toml::node& node, std::string_view key) {
  std::optional<int64_t> v = node.value<int64_t>();
  if (!v || !node.is_integer()) return threshold_error(key, "expected a non-negative integer");
  if (*v < 0 || *v > 1'000'000'000) return threshold_error(key, "out of range");
  return static_cast<uint32_t>(*v);
}

}  // namespace

Result<Thresholds> thresholds_from_toml(const toml::table& doc) {
  Thresholds t;
  const toml::node* section = doc.get("profile_thresholds");
  if (section == nullptr) return t;
  const toml::table* table = section->as_table();
  if (table == nullptr) return make_error(Errc::config, "profile_thresholds: expected a table");
  for (const auto& [key_node, node] : *table) {
    const std::string_view key = key_node.str();
    Result<void> done = ok();
    const auto number = [&](double& field, double lo, double hi) {
      auto v = read_number(node, key, lo, hi);
      if (!v) return Result<void>(v.error());
      field = v.value();
      return Result<void>(ok());
    };
    const auto count = [&](uint32_t& field) {
      auto v = read_count(node, key);
      if (!v) return Result<void>(v.error());
      field = v.value();
      return Result<void>(ok());
    };
    if (key == "min_patients") {
      done = count(t.min_patients);
    } else if (key == "min_outcome_patients") {
      done = count(t.min_outcome_patients);
    } else if (key == "missing_availability") {
      done = number(t.missing_availability, 0, 1);
    } else if (key == "timing_auroc_spread") {
      done = number(t.timing_auroc_spread, 0, 1);
    } else if (key == "interaction_auroc_gain") {
      done = number(t.interaction_auroc_gain, 0, 1);
    } else if (key == "early_availability") {
      done = number(t.early_availability, 0, 1);
    } else if (key == "early_max_patients") {
      done = count(t.early_max_patients);
    } else if (key == "dimension_ratio") {
      done = number(t.dimension_ratio, 1, 1e9);
    } else {
      return threshold_error(quoted_text(key), "unknown key");
    }
    if (!done) return done.error();
  }
  return t;
}

namespace detail {
namespace {

Condition at_least(std::string name, double value, double threshold) {
  return {std::move(name), ">=", value, threshold, !std::isnan(value) && value >= threshold, {}};
}

Condition below(std::string name, double value, double threshold) {
  return {std::move(name), "<", value, threshold, !std::isnan(value) && value < threshold, {}};
}

Condition at_most(std::string name, double value, double threshold) {
  return {std::move(name), "<=", value, threshold, !std::isnan(value) && value <= threshold, {}};
}

}  // namespace

Recommendation decide(const Evidence& e, std::span<const std::string> modalities,
                      const Thresholds& t) {
  Recommendation rec;
  // The least available modality decides both availability rows.
  std::size_t least = 0;
  for (std::size_t m = 1; m < e.tick_share.size(); ++m) {
    if (e.tick_share[m] < e.tick_share[least]) least = m;
  }
  const double min_share = e.tick_share.empty() ? kNaN : e.tick_share[least];
  const std::string least_name =
      least < modalities.size() ? modalities[least] : fmt::format("modality {}", least);

  DecisionRow thin{"thin evidence", Strategy::late, {}, false};
  thin.conditions.push_back(
      below("patients", static_cast<double>(e.patients), static_cast<double>(t.min_patients)));
  thin.conditions.push_back(below("patients with an outcome",
                                  static_cast<double>(e.outcome_patients),
                                  static_cast<double>(t.min_outcome_patients)));
  thin.holds = std::any_of(thin.conditions.begin(), thin.conditions.end(),
                           [](const Condition& c) { return c.met; });
  rec.rows.push_back(std::move(thin));

  DecisionRow missing{"modalities frequently missing", Strategy::late, {}, false};
  missing.conditions.push_back(
      below(least_name + " present at ticks", min_share, t.missing_availability));
  rec.rows.push_back(std::move(missing));

  DecisionRow early{
      "all modalities nearly always present, small cohort", Strategy::early, {}, false};
  early.conditions.push_back(
      at_least(least_name + " present at ticks", min_share, t.early_availability));
  early.conditions.push_back(at_most("patients", static_cast<double>(e.patients),
                                     static_cast<double>(t.early_max_patients)));
  rec.rows.push_back(std::move(early));

  DecisionRow timing{
      "timing carries signal and modalities interact", Strategy::attention, {}, false};
  timing.conditions.push_back(
      at_least("AUROC spread across age buckets", e.max_auroc_spread, t.timing_auroc_spread));
  timing.conditions.push_back(at_least("AUROC gain of the interaction model",
                                       e.max_interaction_gain, t.interaction_auroc_gain));
  // Said where the value would be: a dash would read as "measured, and nothing to show".
  timing.conditions.push_back(
      {"5th bootstrap percentile of that gain", ">", e.interaction_gain_lo, 0.0,
       !std::isnan(e.interaction_gain_lo) && e.interaction_gain_lo > 0,
       e.no_bootstrap ? "not measured with --bootstrap 0, so this row cannot fire" : ""});
  rec.rows.push_back(std::move(timing));

  DecisionRow dims{
      "high- and low-dimensional modalities side by side", Strategy::intermediate, {}, false};
  dims.conditions.push_back(
      at_least("largest / smallest effective dimension", e.dimension_ratio, t.dimension_ratio));
  rec.rows.push_back(std::move(dims));

  DecisionRow fallback{"no row above holds (the safe default)", Strategy::late, {}, true};
  rec.rows.push_back(std::move(fallback));

  for (std::size_t i = 1; i + 1 < rec.rows.size(); ++i) {
    DecisionRow& row = rec.rows[i];
    row.holds = std::all_of(row.conditions.begin(), row.conditions.end(),
                            [](const Condition& c) { return c.met; });
  }
  for (std::size_t i = 0; i < rec.rows.size(); ++i) {
    if (rec.rows[i].holds) {
      rec.fired = i;
      break;
    }
  }
  const DecisionRow& row = rec.rows[rec.fired];
  rec.strategy = row.strategy;
  std::string because;
  for (const Condition& c : row.conditions) {
    if (!c.met && rec.fired == 0) continue;  // thin evidence: only the conditions that hold
    because += (because.empty() ? "" : "; ") + condition_text(c);
  }
  rec.summary = fmt::format("{} fusion: {}{}{}", to_string(row.strategy), row.row,
                            because.empty() ? "" : " (", because.empty() ? "" : because + ")");
  return rec;
}

}  // namespace detail
}  // namespace tfe::profile
