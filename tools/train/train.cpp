#include "tools/train/train.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "connectors/dead_letter.h"
#include "connectors/history_replay.h"
#include "engine/duration.h"
#include "engine/snapshot.h"
#include "operators/fusion_operator.h"
#include "operators/news2.h"
#include "tools/report/metrics.h"

namespace tfe::train {

namespace {

constexpr int64_t kNoOutcome = std::numeric_limits<int64_t>::max();

Error config_error(std::string message) { return make_error(Errc::config, std::move(message)); }

uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Result<double> read_fraction(const toml::node& node, std::string_view key) {
  auto v = node.value<double>();
  if (!v || !std::isfinite(*v) || *v < 0.0 || *v > 1.0) {
    return config_error(fmt::format("[training] {} must be a number in [0, 1]", key));
  }
  return *v;
}

Result<double> read_positive(const toml::node& node, std::string_view key, bool allow_zero) {
  auto v = node.value<double>();
  if (!v || !std::isfinite(*v) || *v < 0.0 || (!allow_zero && *v == 0.0)) {
    return config_error(fmt::format("[training] {} must be a {} number", key,
                                    allow_zero ? "non-negative" : "positive"));
  }
  return *v;
}

Result<uint32_t> read_count(const toml::node& node, std::string_view key, uint32_t lo,
                            uint32_t hi) {
  auto v = node.value_exact<int64_t>();
  if (!v || *v < lo || *v > hi) {
    return config_error(fmt::format("[training] {} must be an integer from {} to {}", key, lo, hi));
  }
  return static_cast<uint32_t>(*v);
}

// Examples recorded by one shard (one thread); merged in (patient, time) order afterwards.
struct ShardRecord {
  ExampleSet set;
  std::vector<float> news2;
  uint64_t ticks = 0, after_outcome = 0, strided_out = 0;
  struct Memo {
    uint32_t kept = 0;  // ticks before the outcome seen so far
    // Recently stored (event time, row) per modality: an unchanged note or image is one row.
    std::array<std::vector<std::pair<int64_t, uint32_t>>, kMaxModalities> recent;
  };
  std::unordered_map<PatientIndex, Memo> memo;
};

class RecorderState final : public ScorerState {
 public:
  std::shared_ptr<ShardRecord> record;
  std::unique_ptr<ScorerState> news2;
  std::array<ModalitySnapshot, kMaxModalities> news2_modalities{};  // the baseline's view
  std::vector<float> news2_values;                                  // its current values
};

// A vitals modality whose current values the baseline reads (VitalsFeatures::latest) while the
// recorder's snapshot carries window statistics: the values are the 'last' statistic of the
// shortest window (the newest reading within it; NaN when it has none), the same reading the
// engine would hand the baseline.
struct LatestView {
  std::size_t modality = 0;
  std::size_t window = 0;  // index of the window as long as latest_within_ms
  uint32_t channels = 0;
  std::size_t offset = 0;  // into RecorderState::news2_values
};

// The recording scorer: consumes what a raw-form FusionOperator of the same architecture
// consumes, and copies each tick's snapshot into its shard's ExampleSet.
class Recorder final : public Scorer {
 public:
  Recorder(ScorerSpec spec, ModelSchema schema, uint32_t history_k,
           std::shared_ptr<const Scorer> news2, std::vector<LatestView> news2_latest,
           std::vector<int64_t> outcome, std::vector<Split> split, int64_t horizon_ms,
           uint32_t stride)
      : spec_(std::move(spec)),
        schema_(std::move(schema)),
        history_k_(history_k),
        news2_(std::move(news2)),
        news2_latest_(std::move(news2_latest)),
        outcome_(std::move(outcome)),
        split_(std::move(split)),
        horizon_ms_(horizon_ms),
        stride_(stride) {
    spec_.strategy = "record";
  }

  const ScorerSpec& spec() const override { return spec_; }

  std::unique_ptr<ScorerState> make_state() const override {
    auto state = std::make_unique<RecorderState>();
    state->record = std::make_shared<ShardRecord>();
    state->record->set = ExampleSet(schema_);
    if (news2_) state->news2 = news2_->make_state();
    std::size_t values = 0;
    for (const LatestView& v : news2_latest_) values = std::max(values, v.offset + v.channels);
    state->news2_values.assign(values, 0.0f);
    shards_.add(state->record);
    return state;
  }

  void score(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out) const override {
    auto& st = static_cast<RecorderState&>(state);
    ShardRecord& r = *st.record;
    out = ScoreOutput{};
    ++r.ticks;
    const PatientIndex p = snapshot.patient;
    const int64_t t = snapshot.time_ms;
    const int64_t outcome = p < outcome_.size() ? outcome_[p] : kNoOutcome;
    if (t >= outcome) {
      ++r.after_outcome;
      return;
    }
    ShardRecord::Memo& memo = r.memo[p];
    if (memo.kept++ % stride_ != 0) {
      ++r.strided_out;
      return;
    }
    ExampleSet& set = r.set;
    Example ex;
    ex.patient = p;
    ex.time_ms = t;
    ex.first_item = static_cast<uint32_t>(set.items.size());
    ex.label = outcome != kNoOutcome && outcome - t <= horizon_ms_ ? 1 : 0;
    ex.split = p < split_.size() ? split_[p] : Split::train;
    const std::size_t n_mod = std::min(snapshot.modalities.size(), schema_.modalities.size());
    for (std::size_t m = 0; m < n_mod; ++m) {
      const ModalitySnapshot& ms = snapshot.modalities[m];
      if (!ms.present || ms.features.size() != set.dims[m]) continue;
      const auto mi = static_cast<uint8_t>(m);
      if (schema_.modalities[m].kind == ModalityKind::vitals) {
        set.items.push_back(ExampleItem{ms.age_ms, set.add_row(m, ms.features), mi});
        continue;
      }
      const bool history = history_k_ > 1 && !ms.history.empty();
      const std::size_t n = history ? std::min<std::size_t>(ms.history.size(), history_k_) : 1;
      for (std::size_t j = 0; j < n; ++j) {
        const int64_t age = history ? ms.history[j].age_ms : ms.age_ms;
        const std::span<const float> f = history ? ms.history[j].features : ms.features;
        if (f.size() != set.dims[m]) continue;
        set.items.push_back(ExampleItem{age, row_for(set, memo, m, t - age, f), mi});
      }
    }
    set.examples.push_back(ex);
    float baseline = std::numeric_limits<float>::quiet_NaN();
    if (news2_) {
      ScoreOutput o;
      news2_->score(news2_view(snapshot, st), *st.news2, o);
      baseline = static_cast<float>(o.risk);
    }
    r.news2.push_back(baseline);
  }

  std::vector<std::shared_ptr<ShardRecord>> shards() const { return shards_.all(); }

 private:
  // The snapshot as the baseline declared it: current values instead of window statistics.
  Snapshot news2_view(const Snapshot& snapshot, RecorderState& st) const {
    if (news2_latest_.empty()) return snapshot;
    const std::size_t n = std::min(snapshot.modalities.size(), st.news2_modalities.size());
    std::copy_n(snapshot.modalities.begin(), n, st.news2_modalities.begin());
    for (const LatestView& v : news2_latest_) {
      if (v.modality >= n) continue;
      ModalitySnapshot& ms = st.news2_modalities[v.modality];
      const std::size_t stats = std::size_t{v.channels} * kWindowStatCount;
      if (!ms.present || ms.features.size() < (v.window + 1) * stats) continue;
      float* values = st.news2_values.data() + v.offset;
      for (uint32_t c = 0; c < v.channels; ++c) {
        const std::size_t base = (v.window * v.channels + c) * kWindowStatCount;
        const float count = ms.features[base + static_cast<std::size_t>(WindowStat::count)];
        values[c] = count > 0.0f ? ms.features[base + static_cast<std::size_t>(WindowStat::last)]
                                 : std::numeric_limits<float>::quiet_NaN();
      }
      ms.features = std::span<const float>(values, v.channels);
    }
    return Snapshot{snapshot.patient, snapshot.time_ms,
                    std::span<const ModalitySnapshot>(st.news2_modalities.data(), n)};
  }

  static uint32_t row_for(ExampleSet& set, ShardRecord::Memo& memo, std::size_t m,
                          int64_t event_time, std::span<const float> f) {
    auto& recent = memo.recent[m];
    for (const auto& [time, row] : recent) {
      if (time != event_time) continue;
      const std::span<const float> stored = set.row(m, row);
      if (std::equal(stored.begin(), stored.end(), f.begin())) return row;
    }
    const uint32_t row = set.add_row(m, f);
    if (recent.size() >= 2 * kMaxHistoryK) recent.erase(recent.begin());
    recent.emplace_back(event_time, row);
    return row;
  }

  ScorerSpec spec_;
  ModelSchema schema_;
  uint32_t history_k_;
  std::shared_ptr<const Scorer> news2_;
  std::vector<LatestView> news2_latest_;
  std::vector<int64_t> outcome_;  // [patient]: first outcome time
  std::vector<Split> split_;      // [patient]
  int64_t horizon_ms_;
  uint32_t stride_;
  mutable ShardRecords<ShardRecord> shards_;
};

// Metadata values; a metric a split could not measure (one class only) is "none", not "nan".
std::string format_number(double v) { return std::isnan(v) ? "none" : fmt::format("{:.6g}", v); }

}  // namespace

Result<TrainingConfig> training_config_from_toml(const toml::table& doc) {
  TrainingConfig c;
  const toml::node* section = doc.get("training");
  if (!section) return c;
  const toml::table* t = section->as_table();
  if (!t) return config_error("[training] must be a table");
  for (const auto& [key_node, node] : *t) {
    const std::string_view key = key_node.str();
    if (key == "horizon") {
      auto v = duration_from_toml(node, "training.horizon");
      if (!v) return v.error();
      if (v.value() <= 0) return config_error("[training] horizon must be positive");
      c.horizon_ms = v.value();
    } else if (key == "stride") {
      auto v = read_count(node, key, 1, 1'000'000);
      if (!v) return v.error();
      c.stride = v.value();
    } else if (key == "train_fraction" || key == "validation_fraction") {
      auto v = read_fraction(node, key);
      if (!v) return v.error();
      (key == "train_fraction" ? c.train_fraction : c.validation_fraction) = v.value();
    } else if (key == "masking") {
      auto v = read_fraction(node, key);
      if (!v) return v.error();
      c.masking = v.value();
    } else if (key == "masking_by_modality") {
      const toml::table* by = node.as_table();
      if (!by) return config_error("[training] masking_by_modality must be a table name = p");
      for (const auto& [name, p] : *by) {
        auto v = read_fraction(p, fmt::format("masking_by_modality.{}", name.str()));
        if (!v) return v.error();
        c.masking_by[std::string(name.str())] = v.value();
      }
    } else if (key == "epochs") {
      auto v = read_count(node, key, 1, 10'000);
      if (!v) return v.error();
      c.optim.epochs = v.value();
    } else if (key == "batch") {
      auto v = read_count(node, key, 1, 1 << 20);
      if (!v) return v.error();
      c.optim.batch = v.value();
    } else if (key == "patience") {
      auto v = read_count(node, key, 1, 10'000);
      if (!v) return v.error();
      c.optim.patience = v.value();
    } else if (key == "learning_rate") {
      auto v = read_positive(node, key, false);
      if (!v) return v.error();
      c.optim.learning_rate = v.value();
    } else if (key == "weight_decay" || key == "clip_norm" || key == "positive_weight") {
      auto v = read_positive(node, key, true);
      if (!v) return v.error();
      double& field = key == "weight_decay" ? c.optim.weight_decay
                      : key == "clip_norm"  ? c.optim.clip_norm
                                            : c.optim.positive_weight;
      field = v.value();
    } else {
      return config_error(fmt::format("[training] unknown key '{}'", quoted_text(key)));
    }
  }
  // A test split of a rounding error (0.85 + 0.15) holds no patient: strictly below 1.
  if (c.train_fraction + c.validation_fraction > 1.0 - 1e-9) {
    return config_error(
        fmt::format("[training] train_fraction {} + validation_fraction {} must stay below 1",
                    c.train_fraction, c.validation_fraction));
  }
  if (c.train_fraction <= 0 || c.validation_fraction <= 0) {
    return config_error("[training] train_fraction and validation_fraction must be positive");
  }
  // Decoupled decay scales every weight matrix by 1 - lr * wd each step: at 1 or more it zeroes
  // (or flips) them every step, and training "converges" to a model that ignores its inputs.
  if (c.optim.learning_rate * c.optim.weight_decay >= 1.0) {
    return config_error(fmt::format(
        "[training] learning_rate {} x weight_decay {} must stay below 1 (each step scales the "
        "weights by 1 - learning_rate x weight_decay)",
        c.optim.learning_rate, c.optim.weight_decay));
  }
  return c;
}

namespace {
// The patient's position in [0, 1). Salted, so the split is independent of shard routing (which
// uses the same patient hash).
double split_position(std::string_view patient_id) {
  const uint64_t h = mix64(patient_hash(patient_id) ^ 0x747261696e73706cull);
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}
}  // namespace

Split split_of(std::string_view patient_id, double train_fraction, double validation_fraction) {
  const double u = split_position(patient_id);
  if (u < train_fraction) return Split::train;
  if (u < train_fraction + validation_fraction) return Split::validation;
  return Split::test;
}

Split split_of(std::string_view patient_id, const TrainingConfig& training) {
  if (training.folds < 2) {
    return split_of(patient_id, training.train_fraction, training.validation_fraction);
  }
  assert(training.test_fold < training.folds);
  const double scaled = split_position(patient_id) * training.folds;
  const double fold = std::min(std::floor(scaled), static_cast<double>(training.folds - 1));
  if (static_cast<uint32_t>(fold) == training.test_fold) return Split::test;
  const double v = scaled - fold;  // uniform in [0, 1) within the fold
  return v < fold_validation_share(training) ? Split::validation : Split::train;
}

double fold_validation_share(const TrainingConfig& training) {
  if (training.folds < 2) return std::numeric_limits<double>::quiet_NaN();
  const double k = training.folds;
  return std::min(0.5, training.validation_fraction * k / (k - 1));
}

std::vector<PatientIndex> outcome_patients(const ReplaySequence& events, std::size_t n_patients) {
  std::vector<uint8_t> counted(n_patients, 0);
  std::vector<PatientIndex> patients;
  events.for_each_header([&](const EventHeader& e, int64_t) {
    if (e.modality == kOutcomeModality && e.patient < n_patients && !counted[e.patient]) {
      counted[e.patient] = 1;
      patients.push_back(e.patient);
    }
    return true;
  });
  return patients;
}

Error no_outcome_events_error() {
  return make_error(Errc::invalid_argument,
                    "the history has no outcome events (records with \"modality\": \"outcome\", "
                    "docs/wire-format.md), so every example is negative: add the patients' "
                    "outcomes to the history to train a model");
}

Result<RecordedExamples> record_examples(const ReplaySequence& events, const EngineConfig& config,
                                         const PatientRegistry& registry, const ModelConfig& arch,
                                         const TrainingConfig& training,
                                         const RecordProgress& progress) {
  const auto start = std::chrono::steady_clock::now();
  auto skeleton = make_model_skeleton(arch, model_schema_from_config(config));
  if (!skeleton) return skeleton.error();
  auto shape_model = std::make_shared<const FusionModel>(std::move(skeleton).value());
  auto raw_op = FusionOperator::create(shape_model, config, FeatureForm::raw);
  if (!raw_op) return raw_op.error();

  const std::size_t n_patients = registry.size();
  std::vector<int64_t> outcome(n_patients, kNoOutcome);
  events.for_each_header([&](const EventHeader& e, int64_t) {
    if (e.modality == kOutcomeModality && e.patient < n_patients) {
      outcome[e.patient] = std::min(outcome[e.patient], e.event_time_ms);
    }
    return true;
  });
  std::vector<Split> split(n_patients);
  for (std::size_t p = 0; p < n_patients; ++p) {
    split[p] = split_of(registry.id(static_cast<PatientIndex>(p)), training);
  }
  auto news2 = make_news2_scorer(config);
  // The recorder's snapshot carries window statistics for every vitals modality; where the
  // baseline asks for current values, the recorder derives them (LatestView).
  std::vector<LatestView> latest;
  if (news2) {
    const std::vector<ModalityNeeds>& needs = news2.value()->spec().needs;
    std::size_t offset = 0;
    for (std::size_t m = 0; m < needs.size() && m < config.schema.size(); ++m) {
      const ModalitySpec& spec = config.schema[static_cast<ModalityIndex>(m)];
      if (spec.kind != ModalityKind::vitals || !needs[m].features ||
          needs[m].vitals != VitalsFeatures::latest) {
        continue;
      }
      // The window as long as the baseline's horizon for current values: its `last` statistic
      // is exactly that value.
      const auto window =
          std::find(config.windows_ms.begin(), config.windows_ms.end(), needs[m].latest_within_ms);
      if (window == config.windows_ms.end()) continue;
      const auto channels = static_cast<uint32_t>(spec.channels.size());
      latest.push_back(LatestView{m, static_cast<std::size_t>(window - config.windows_ms.begin()),
                                  channels, offset});
      offset += channels;
    }
  }
  const uint32_t history_k = arch.strategy == Strategy::attention ? arch.history_k : 1;
  auto recorder = std::make_shared<Recorder>(
      raw_op.value()->spec(), shape_model->schema, history_k,
      news2 ? news2.value() : std::shared_ptr<const Scorer>{}, std::move(latest),
      std::move(outcome), std::move(split), training.horizon_ms, training.stride);
  CountingScoreSink sink;  // training reads snapshots, not scores
  ReplayOptions options;
  const uint64_t total = events.size();
  if (progress) {
    options.progress = [&](uint64_t replayed) {
      progress(replayed, total);
      return true;
    };
  }
  replay_events(events, config, recorder, registry, sink, options);
  if (progress) progress(total, total);

  // Merge the shards in (patient, time) order; rows are renumbered by each shard's offset.
  const auto shards = recorder->shards();
  RecordedExamples result;
  result.set = ExampleSet(shape_model->schema);
  ExampleSet& set = result.set;
  const std::size_t n_mod = set.dims.size();
  std::vector<std::array<uint32_t, kMaxModalities>> offset(shards.size());
  struct Key {
    PatientIndex patient;
    int64_t time;
    uint32_t shard, index;
  };
  std::vector<Key> keys;
  for (std::size_t s = 0; s < shards.size(); ++s) {
    ShardRecord& r = *shards[s];
    for (std::size_t m = 0; m < n_mod; ++m) {
      offset[s][m] = set.row_count(m);
      set.rows[m].insert(set.rows[m].end(), r.set.rows[m].begin(), r.set.rows[m].end());
      std::vector<float>().swap(r.set.rows[m]);
    }
    for (std::size_t i = 0; i < r.set.examples.size(); ++i) {
      keys.push_back(Key{r.set.examples[i].patient, r.set.examples[i].time_ms,
                         static_cast<uint32_t>(s), static_cast<uint32_t>(i)});
    }
    result.stats.ticks += r.ticks;
    result.stats.after_outcome += r.after_outcome;
    result.stats.strided_out += r.strided_out;
  }
  std::stable_sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.patient != b.patient) return a.patient < b.patient;
    return a.time < b.time;
  });
  set.examples.reserve(keys.size());
  result.news2_risk.reserve(keys.size());
  PatientIndex last_patient = std::numeric_limits<PatientIndex>::max();
  for (const Key& k : keys) {
    const ShardRecord& r = *shards[k.shard];
    Example ex = r.set.examples[k.index];
    const std::span<const ExampleItem> items = r.set.items_of(k.index);
    ex.first_item = static_cast<uint32_t>(set.items.size());
    for (ExampleItem it : items) {
      it.row += offset[k.shard][it.modality];
      set.items.push_back(it);
    }
    set.examples.push_back(ex);
    result.news2_risk.push_back(r.news2[k.index]);
    const auto s = static_cast<std::size_t>(ex.split);
    ++result.stats.examples_by_split[s];
    result.stats.positives_by_split[s] += ex.label;
    result.stats.positives += ex.label;
    if (ex.patient != last_patient) ++result.stats.patients[s];
    last_patient = ex.patient;
  }
  if (!news2) result.news2_unavailable = news2.error().message;
  result.stats.examples = set.examples.size();
  result.stats.replay_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

namespace detail {

report::Discrimination discrimination_by_patient(std::span<const double> score,
                                                 std::span<const uint8_t> label,
                                                 std::span<const Example> examples,
                                                 std::span<const uint32_t> rows,
                                                 uint32_t replicates, uint64_t seed) {
  const std::size_t n = rows.size();
  assert(score.size() == n && label.size() == n);
  report::Discrimination out;
  if (n == 0) return out;
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
  std::vector<double> rank(n);
  std::size_t distinct = 0;
  for (std::size_t k = 0; k < n; ++k) {
    if (k > 0 && score[order[k]] != score[order[k - 1]]) ++distinct;
    rank[order[k]] = static_cast<double>(distinct);
  }
  const double top = std::max<double>(1.0, static_cast<double>(distinct));
  PatientIndex n_patients = 0;
  std::vector<report::ScoredTick> ticks(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Example& e = examples[rows[i]];
    ticks[i].patient = e.patient;
    ticks[i].score_time_ms = e.time_ms;
    ticks[i].label = label[i] != 0;
    ticks[i].risk = rank[i] / top;
    n_patients = std::max<PatientIndex>(n_patients, e.patient + 1);
  }
  // Outcome times only serve alert policies, which are not asked for.
  auto table = report::make_tick_table(std::move(ticks),
                                       std::vector<int64_t>(n_patients, report::kNoOutcome),
                                       /*horizon_ms=*/1, /*tick_cadence_ms=*/1);
  if (!table) return out;
  report::EvaluationOptions options;
  options.bootstrap_replicates = replicates;
  options.seed = seed;
  options.thresholds.clear();
  options.target_alerts_per_patient_day = 0;
  options.subgroups = false;
  options.curve_points = 2;
  return report::evaluate(table.value(), options).overall.discrimination;
}

}  // namespace detail

TestMetrics evaluate_test(const FusionModel& model, const RecordedExamples& examples,
                          uint32_t threads, uint64_t seed) {
  TestMetrics m;
  const std::vector<uint32_t> test = examples.set.indices(Split::test);
  m.examples = test.size();
  std::vector<double> logit(test.size()), baseline(test.size());
  std::vector<uint8_t> label(test.size());
  for (std::size_t i = 0; i < test.size(); ++i) {
    label[i] = examples.set.examples[test[i]].label;
    baseline[i] = examples.news2_risk[test[i]];
    m.positives += label[i];
  }
  // Measured on what is served: an isotonic table ties logits of one step, which ranks them
  // worse than the logits did (Platt keeps their order, so its figures are the logits').
  const auto served = [&] {
    if (model.calibration.method != CalibrationMethod::isotonic) return;
    for (double& x : logit) x = model.calibration.apply(x);
  };
  predict_logits(model, examples.set, test, 0, threads, logit);
  served();
  m.auroc = report::auroc(logit, label);
  m.auprc = report::average_precision(logit, label);
  const std::span<const Example> all(examples.set.examples);
  const report::Discrimination model_ci =
      detail::discrimination_by_patient(logit, label, all, test, kTestBootstrapReplicates, seed);
  m.auroc_ci = model_ci.auroc_ci;
  m.auprc_ci = model_ci.auprc_ci;
  // Without a NEWS2 baseline (the config lacks a channel it needs) every risk is NaN: ranked, they
  // would be one tie (AUROC 0.5, AUPRC the prevalence), a chance baseline that was never
  // measured. Its metrics stay NaN ("not measured") instead.
  if (std::all_of(baseline.begin(), baseline.end(), [](double r) { return std::isfinite(r); })) {
    m.news2_auroc = report::auroc(baseline, label);
    m.news2_auprc = report::average_precision(baseline, label);
    const report::Discrimination news2_ci = detail::discrimination_by_patient(
        baseline, label, all, test, kTestBootstrapReplicates, seed);
    m.news2_auroc_ci = news2_ci.auroc_ci;
    m.news2_auprc_ci = news2_ci.auprc_ci;
  } else {
    m.news2_auroc = m.news2_auprc = std::numeric_limits<double>::quiet_NaN();
  }
  for (std::size_t mod = 0; mod < examples.set.dims.size(); ++mod) {
    predict_logits(model, examples.set, test, 1u << mod, threads, logit);
    served();
    m.auroc_without.push_back(report::auroc(logit, label));
    m.auprc_without.push_back(report::average_precision(logit, label));
  }
  return m;
}

namespace {

// [training.masking_by_modality] names modalities of the config: a misspelt one would otherwise
// leave that modality at the default probability without a word.
Result<void> check_masking_names(const TrainRequest& request) {
  for (const auto& [name, p] : request.training.masking_by) {
    if (!request.engine.schema.find(name)) {
      std::string names;
      for (const ModalitySpec& spec : request.engine.schema.specs()) {
        if (!names.empty()) names += ", ";
        names += spec.name;
      }
      return config_error(
          fmt::format("[training.masking_by_modality] '{}' is not a modality of the config ({})",
                      quoted_text(name), names));
    }
  }
  return ok();
}

// Training and early stopping need positive examples in the training and validation splits; when
// one has none, why: none of its patients has an outcome, or those who have one have no tick within
// the horizon before it. (The trainer's own check stays for a split of positives alone.)
Result<void> check_split_positives(const RecordStats& rs,
                                   std::span<const PatientIndex> with_outcome,
                                   const PatientRegistry& registry,
                                   const TrainingConfig& training) {
  constexpr const char* kSplitName[] = {"training", "validation"};
  for (std::size_t s = 0; s < 2; ++s) {
    if (rs.positives_by_split[s] > 0 || rs.examples_by_split[s] == 0) continue;
    uint64_t in_split = 0;
    for (const PatientIndex p : with_outcome) {
      in_split += static_cast<std::size_t>(split_of(registry.id(p), training)) == s;
    }
    const std::string why =
        in_split == 0 ? fmt::format(
                            "none of its {} patients has an outcome ({} in the history); a "
                            "history of more patients puts some in it",
                            rs.patients[s], with_outcome.size())
                      : fmt::format(
                            "{} of its patients have an outcome, but none with a tick within the "
                            "{} horizon before it; a longer [training] horizon gives positives",
                            in_split, format_duration_ms(training.horizon_ms));
    return make_error(Errc::invalid_argument,
                      fmt::format("the {} split needs positive and negative examples ({} "
                                  "examples, 0 positive): {}",
                                  kSplitName[s], rs.examples_by_split[s], why));
  }
  return ok();
}

// Everything after the events are in memory. `loaded`, when given, holds `events` and is freed
// once the examples are recorded (the history is the larger of the two).
Result<TrainResult> train_events(const ReplaySequence& events, const PatientRegistry& registry,
                                 uint64_t dead_letters, const TrainRequest& request,
                                 PackedEvents* loaded) {
  auto log = [&](const std::string& line) {
    if (request.log) request.log(line);
  };
  // Before the replay, which takes minutes on a large history.
  const std::vector<PatientIndex> with_outcome = outcome_patients(events, registry.size());
  if (with_outcome.empty()) return no_outcome_events_error();
  log(fmt::format("replaying {} events to record examples", events.size()));
  if (request.on_replay) request.on_replay(0, events.size());
  auto recorded = record_examples(events, request.engine, registry, request.arch, request.training,
                                  request.on_replay);
  if (!recorded) return recorded.error();
  TrainResult result;
  result.events = events.size();
  result.dead_letters = dead_letters;
  if (loaded != nullptr) *loaded = PackedEvents();
  const RecordStats& rs = recorded.value().stats;
  result.record = rs;
  log(
      fmt::format("recorded {} examples ({} positive) from {} ticks in {:.1f} s; patients "
                  "train {} / validation {} / test {}",
                  rs.examples, rs.positives, rs.ticks, rs.replay_seconds, rs.patients[0],
                  rs.patients[1], rs.patients[2]));
  if (!recorded.value().news2_unavailable.empty()) {
    log(fmt::format("no NEWS2 baseline to compare with ({})", recorded.value().news2_unavailable));
  }

  if (auto positives = check_split_positives(rs, with_outcome, registry, request.training);
      !positives) {
    return positives.error();
  }

  auto init = init_model(request.arch, request.engine, request.seed);
  if (!init) return init.error();
  FusionModel model = std::move(init).value();
  TrainOptions options = request.training.optim;
  options.seed = request.seed;
  options.threads = request.threads;
  options.masking.assign(model.schema.modalities.size(), 0.0);
  if (request.masking) {
    for (std::size_t m = 0; m < model.schema.modalities.size(); ++m) {
      auto it = request.training.masking_by.find(model.schema.modalities[m].name);
      options.masking[m] =
          it != request.training.masking_by.end() ? it->second : request.training.masking;
    }
  }
  TrainHooks hooks;
  hooks.auroc = [](std::span<const double> s, std::span<const uint8_t> l) {
    return report::auroc(s, l);
  };
  hooks.auprc = [](std::span<const double> s, std::span<const uint8_t> l) {
    return report::average_precision(s, l);
  };
  hooks.on_epoch = request.on_epoch;
  auto summary = train_model(model, recorded.value().set, options, hooks);
  if (!summary) return summary.error();
  result.summary = summary.value();
  result.test = evaluate_test(model, recorded.value(), request.threads, request.seed);

  // Metadata: what reproduces the model, nothing that varies between runs (no times, no speeds).
  auto& md = model.metadata;
  const TrainingConfig& tc = request.training;
  md["name"] = fmt::format("{}-trained-{}", to_string(model.strategy()), request.seed);
  md["training_seed"] = std::to_string(request.seed);
  md["horizon_ms"] = std::to_string(tc.horizon_ms);
  md["stride"] = std::to_string(tc.stride);
  if (tc.folds >= 2) {
    const double validation_share = fold_validation_share(tc);
    md["split"] =
        fmt::format("patient hash: test fold {} of {}; the other folds validation {}, train {}",
                    tc.test_fold + 1, tc.folds, format_number(validation_share),
                    format_number(1.0 - validation_share));
  } else {
    md["split"] =
        fmt::format("patient hash: train {}, validation {}, test {}",
                    format_number(tc.train_fraction), format_number(tc.validation_fraction),
                    format_number(1.0 - tc.train_fraction - tc.validation_fraction));
  }
  md["split_patients"] = fmt::format("train {}, validation {}, test {}", rs.patients[0],
                                     rs.patients[1], rs.patients[2]);
  md["split_examples"] =
      fmt::format("train {} ({} positive), validation {} ({} positive), test {} ({} positive)",
                  rs.examples_by_split[0], rs.positives_by_split[0], rs.examples_by_split[1],
                  rs.positives_by_split[1], rs.examples_by_split[2], rs.positives_by_split[2]);
  std::string masking;
  for (std::size_t m = 0; m < options.masking.size(); ++m) {
    masking += fmt::format("{}{} {}", m ? ", " : "", model.schema.modalities[m].name,
                           format_number(options.masking[m]));
  }
  md["masking"] = request.masking ? masking : "off";
  md["optimiser"] = fmt::format(
      "adamw lr {} weight_decay {} batch {} clip_norm {} positive_weight {} patience {} "
      "epochs {}",
      format_number(options.learning_rate), format_number(options.weight_decay), options.batch,
      format_number(options.clip_norm), format_number(result.summary.positive_weight),
      options.patience, options.epochs);
  md["epochs_run"] = std::to_string(result.summary.epochs_run);
  md["best_epoch"] = std::to_string(result.summary.best_epoch);
  md["validation_auroc"] = format_number(result.summary.best_val_auroc);
  md["validation_auprc"] = format_number(result.summary.best_val_auprc);
  md["test_auroc"] = format_number(result.test.auroc);
  md["test_auprc"] = format_number(result.test.auprc);
  result.model = std::move(model);
  return result;
}

}  // namespace

Result<TrainResult> train_from_history(const TrainRequest& request) {
  if (auto names = check_masking_names(request); !names) return names.error();  // before the load
  PatientRegistry registry;
  DeadLetterSink dead;
  auto history = load_packed_history(request.history, request.engine, registry, dead);
  if (!history) return history.error();
  if (request.log) {
    request.log(fmt::format("loaded {} events of {} patients ({} bad records)",
                            history.value().events.size(), registry.size(),
                            history.value().dead_letters));
  }
  if (history.value().unknown_channels > 0 && request.on_unknown_channels) {
    request.on_unknown_channels(history.value().unknown_channels);
  }
  PackedEvents& events = history.value().events;
  return train_events(events, registry, history.value().dead_letters, request, &events);
}

Result<TrainResult> train_from_events(const ReplaySequence& events, const PatientRegistry& registry,
                                      const TrainRequest& request) {
  if (auto names = check_masking_names(request); !names) return names.error();
  return train_events(events, registry, 0, request, nullptr);
}

}  // namespace tfe::train
