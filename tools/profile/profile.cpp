// profile_history: one replay of the history through the engine with a recording scorer, then the
// three axes and the decision matrix. See docs/profile.md for every definition.

#include "tools/profile/profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "operators/encoders.h"
#include "operators/hash.h"
#include "tools/profile/stats.h"
#include "tools/report/metrics.h"

namespace tfe::profile {

static_assert(kMaxBootstrapReplicates == report::kMaxBootstrapReplicates,
              "one limit for every bootstrap of tfe");

namespace {

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kUnset = std::numeric_limits<int64_t>::min();
constexpr int64_t kNoOutcome = std::numeric_limits<int64_t>::max();
// Availability over the stay: bins of hours since the patient's first tick.
constexpr std::array<int64_t, 10> kStayEdgesMs{0,
                                               kHourMs,
                                               2 * kHourMs,
                                               4 * kHourMs,
                                               8 * kHourMs,
                                               16 * kHourMs,
                                               24 * kHourMs,
                                               48 * kHourMs,
                                               96 * kHourMs,
                                               std::numeric_limits<int64_t>::max()};
constexpr std::size_t kStayBins = kStayEdgesMs.size() - 1;
// Distribution histograms: log10(ms) from 2 (100 ms) to 10 (116 days) in quarter decades.
constexpr double kLogLo = 2;
constexpr double kLogHi = 10;
constexpr std::size_t kLogBins = 32;
constexpr double kRidge = 1.0;

// Patients split for the timing and interaction models: a third to test, by the stable id hash.
bool is_test_patient(uint64_t hash) { return mix64(hash ^ 0x7465737473706c69ull) % 3 == 0; }
// Train patients fall into two folds for out-of-fold scores: 0 test, 1 or 2 train.
uint8_t patient_fold(uint64_t hash) {
  if (is_test_patient(hash)) return 0;
  return static_cast<uint8_t>(1 + mix64(hash ^ 0x666f6c64ull) % 2);
}

std::size_t stay_bin(int64_t since_first_ms) {
  for (std::size_t b = 0; b + 1 < kStayEdgesMs.size(); ++b) {
    if (since_first_ms < kStayEdgesMs[b + 1]) return b;
  }
  return kStayBins - 1;
}

// ---- the recording scorer ----------------------------------------------------------------------

struct SampleEntry {
  uint64_t key = 0;
  uint32_t slot = 0;
  PatientIndex patient = 0;
  int64_t time_ms = 0;
  uint32_t mask = 0;
  std::array<int64_t, kMaxModalities> age_ms{};
};

// Sample order: key, then patient and time (a total order, so that the sample does not depend on
// the order in which ticks are offered).
bool sampled_before(const SampleEntry& a, const SampleEntry& b) {
  if (a.key != b.key) return a.key < b.key;
  if (a.patient != b.patient) return a.patient < b.patient;
  return a.time_ms < b.time_ms;
}

// The ticks first in sample order of all those offered, by every shard (a bottom-k sample: the
// same ticks whatever the sharding and the thread timing). One per class, shared by the shard
// workers, so that it holds `capacity` feature rows at most whatever the shard count: a tick whose
// key is above every kept one is turned away without taking the lock, and the kept ticks change
// rarely (about capacity x (1 + ln(ticks / capacity)) times over a replay).
class Reservoir {
 public:
  Reservoir(uint32_t capacity, uint32_t width) : capacity_(capacity), width_(width) {}

  // Offers a tick; when it is kept, fill(row) writes its feature row.
  template <typename Fill>
  void offer(const SampleEntry& entry, Fill&& fill) {
    if (entry.key > bound_.load(std::memory_order_relaxed)) return;
    const std::lock_guard<std::mutex> lock(mutex_);
    uint32_t slot = 0;
    if (heap_.size() < capacity_) {
      slot = static_cast<uint32_t>(heap_.size());
      features_.resize(features_.size() + width_);
    } else if (capacity_ > 0 && sampled_before(entry, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), sampled_before);
      slot = heap_.back().slot;
      heap_.pop_back();
    } else {
      return;
    }
    heap_.push_back(entry);
    heap_.back().slot = slot;
    std::push_heap(heap_.begin(), heap_.end(), sampled_before);
    if (heap_.size() == capacity_) bound_.store(heap_.front().key, std::memory_order_relaxed);
    fill(std::span<float>(features_).subspan(static_cast<std::size_t>(slot) * width_, width_));
  }

  // After the replay: the kept ticks (in no particular order) and their rows.
  const std::vector<SampleEntry>& entries() const { return heap_; }
  std::span<float> row(uint32_t slot) {
    return std::span<float>(features_).subspan(static_cast<std::size_t>(slot) * width_, width_);
  }

 private:
  uint32_t capacity_;
  uint32_t width_;
  std::atomic<uint64_t> bound_{
      std::numeric_limits<uint64_t>::max()};  // largest kept key, once full
  std::mutex mutex_;
  std::vector<SampleEntry> heap_;  // largest in sample order first
  std::vector<float> features_;
};

struct PatientAcc {
  int64_t first_ms = kUnset;
  uint64_t ticks = 0;
  std::array<uint64_t, kMaxModalities> present{};
  std::vector<uint32_t> masks;  // availability subgroups seen
};

struct ShardRecord {
  explicit ShardRecord(std::size_t patients) : patients(patients) {}
  std::vector<PatientAcc> patients;
  std::map<uint32_t, uint64_t> mask_ticks;
  std::array<std::array<uint64_t, kMaxModalities + 1>, kStayBins> stay{};  // ticks, per modality
};

// What the recording scorer reads (fixed before the replay) and the shard records it fills.
class Recording {
 public:
  std::size_t n_patients = 0;
  std::size_t n_modalities = 0;
  std::vector<uint32_t> offset;  // [modalities + 1] feature row layout
  std::vector<int64_t> outcome_ms;
  std::vector<uint64_t> hash;
  int64_t horizon_ms = 0;
  uint32_t capacity = 0;
  uint64_t seed = 0;

  // The model sample, one reservoir per class ([label]); made once offset and capacity are set.
  std::array<std::unique_ptr<Reservoir>, 2> sample;
  void start_sample() {
    for (auto& r : sample) r = std::make_unique<Reservoir>(capacity, offset.back());
  }

  std::shared_ptr<ShardRecord> add_shard() {
    return shards_.add(std::make_shared<ShardRecord>(n_patients));
  }
  std::vector<std::shared_ptr<ShardRecord>> shards() const { return shards_.all(); }

 private:
  ShardRecords<ShardRecord> shards_;
};

class RecorderState final : public ScorerState {
 public:
  explicit RecorderState(std::shared_ptr<ShardRecord> shard) : shard(std::move(shard)) {}
  std::shared_ptr<ShardRecord> shard;
};

class RecordingScorer final : public Scorer {
 public:
  RecordingScorer(ScorerSpec spec, Recording& recording)
      : spec_(std::move(spec)), recording_(recording) {}
  const ScorerSpec& spec() const override { return spec_; }
  std::unique_ptr<ScorerState> make_state() const override {
    return std::make_unique<RecorderState>(recording_.add_shard());
  }

  void score(const Snapshot& snap, ScorerState& state, ScoreOutput& out) const override {
    out.risk = 0;
    out.logit = 0;
    ShardRecord& shard = *static_cast<RecorderState&>(state).shard;
    const Recording& rec = recording_;
    // Ticks at or after the patient's outcome are left out, as in the backtest: the outcome is
    // known, nothing is left to predict, and the patient has left the unit.
    const int64_t outcome = rec.outcome_ms[snap.patient];
    if (snap.time_ms >= outcome) return;
    PatientAcc& patient = shard.patients[snap.patient];
    if (patient.first_ms == kUnset) patient.first_ms = snap.time_ms;
    uint32_t mask = 0;
    for (std::size_t m = 0; m < rec.n_modalities; ++m) {
      if (snap.modalities[m].present) mask |= 1u << m;
    }
    ++patient.ticks;
    if (std::find(patient.masks.begin(), patient.masks.end(), mask) == patient.masks.end()) {
      patient.masks.push_back(mask);
    }
    ++shard.mask_ticks[mask];
    auto& bin = shard.stay[stay_bin(snap.time_ms - patient.first_ms)];
    ++bin[0];
    for (std::size_t m = 0; m < rec.n_modalities; ++m) {
      if (mask >> m & 1u) {
        ++patient.present[m];
        ++bin[1 + m];
      }
    }
    // The model sample: one bottom-k sample per class.
    const bool label = outcome != kNoOutcome && outcome - snap.time_ms <= rec.horizon_ms;
    SampleEntry entry;
    entry.key =
        mix64(rec.seed ^ mix64(rec.hash[snap.patient] ^ static_cast<uint64_t>(snap.time_ms)));
    entry.patient = snap.patient;
    entry.time_ms = snap.time_ms;
    entry.mask = mask;
    for (std::size_t m = 0; m < rec.n_modalities; ++m) entry.age_ms[m] = snap.modalities[m].age_ms;
    recording_.sample[label ? 1 : 0]->offer(entry, [&](std::span<float> row) {
      std::fill(row.begin(), row.end(), 0.0f);
      for (std::size_t m = 0; m < rec.n_modalities; ++m) {
        if (!(mask >> m & 1u)) continue;
        const std::span<const float> f = snap.modalities[m].features;
        const std::size_t n = std::min<std::size_t>(f.size(), rec.offset[m + 1] - rec.offset[m]);
        std::copy_n(f.begin(), n, row.begin() + rec.offset[m]);
      }
    });
  }

 private:
  ScorerSpec spec_;
  Recording& recording_;
};

RawFeatureShape shape_of(const ModalitySpec& spec, const EngineConfig& config) {
  RawFeatureShape shape;
  shape.kind = spec.kind;
  shape.channels = static_cast<uint32_t>(spec.channels.size());
  shape.windows = static_cast<uint32_t>(config.windows_ms.size());
  shape.dim = spec.dim;
  shape.text_hash_dim = spec.kind == ModalityKind::text ? spec.text_hash_dim : 0;
  return shape;
}

// ---- the merged model sample -------------------------------------------------------------------

struct Sample {
  std::vector<SampleEntry> ticks;  // positives, then negatives, each in sample order
  std::vector<uint8_t> label;
  std::vector<uint8_t> test;
  std::vector<const float*> rows;  // [ticks] feature rows, held by the reservoirs
  uint64_t non_finite = 0;         // feature values that were NaN or infinite, taken as 0
  std::span<const float> row(std::size_t i, uint32_t from, uint32_t to) const {
    return {rows[i] + from, to - from};
  }
};

// The reservoirs' ticks in a fixed order. A non-finite feature value (an upstream vector holding
// NaN or an infinity, a statistic that overflowed) would turn every model and spectrum it enters
// into NaN: it is counted and taken as 0.
Sample merge_sample(Recording& rec) {
  Sample s;
  for (int label = 1; label >= 0; --label) {
    Reservoir& reservoir = *rec.sample[label];
    std::vector<SampleEntry> entries = reservoir.entries();
    std::sort(entries.begin(), entries.end(), sampled_before);
    for (const SampleEntry& e : entries) {
      const std::span<float> row = reservoir.row(e.slot);
      for (float& v : row) {
        if (!std::isfinite(v)) {
          v = 0;
          ++s.non_finite;
        }
      }
      s.ticks.push_back(e);
      s.label.push_back(static_cast<uint8_t>(label));
      s.test.push_back(is_test_patient(rec.hash[e.patient]) ? 1 : 0);
      s.rows.push_back(row.data());
    }
  }
  return s;
}

// The factor that L2-normalises a row (1 when l2 is off or the row is zero).
double row_scale(std::span<const float> row, bool l2) {
  if (!l2) return 1;
  double norm = 0;
  for (const float v : row) norm += static_cast<double>(v) * v;
  norm = std::sqrt(norm);
  return norm > 0 ? 1 / norm : 1;
}

// Rows of modality m's features for the given ticks, L2-normalised when the modality is.
std::vector<float> modality_matrix(const Sample& s, const std::vector<uint32_t>& ticks,
                                   uint32_t from, uint32_t to, bool l2) {
  const uint32_t d = to - from;
  std::vector<float> x(ticks.size() * d);
  for (std::size_t r = 0; r < ticks.size(); ++r) {
    const auto row = s.row(ticks[r], from, to);
    const double scale = row_scale(row, l2);
    for (uint32_t c = 0; c < d; ++c) x[r * d + c] = static_cast<float>(row[c] * scale);
  }
  return x;
}

// Inputs of the single-modality models: the modality's features, randomly projected (a fixed
// +-1/sqrt(k) matrix from the seed) to kModelDim columns when wider, which keeps the fits fast on
// 2048-float embeddings and regularises them. The projection goes row by row (no copy of the
// unprojected rows), kProjectionColumns input columns at a time: the matrix is never held whole
// (at the largest dimension a config allows it would be 1 GB), and each output still sums its
// columns in their order, so the result does not depend on the block size. A row whose float sums
// overflow (an upstream vector of values near the float range) is summed again in double and held
// at the largest float rather than becoming infinite.
constexpr uint32_t kModelDim = 256;
constexpr uint32_t kProjectionColumns = 256;

// Rows [c0, c1) of the projection matrix ([d][kModelDim]).
void projection_rows(uint64_t seed, uint32_t c0, uint32_t c1, std::vector<float>& proj) {
  const float unit = 1.0f / std::sqrt(static_cast<float>(kModelDim));
  proj.resize(static_cast<std::size_t>(c1 - c0) * kModelDim);
  const std::size_t first = static_cast<std::size_t>(c0) * kModelDim;
  for (std::size_t i = 0; i < proj.size(); ++i) {
    proj[i] = (mix64(seed ^ mix64(first + i)) & 1u) ? unit : -unit;
  }
}

std::vector<float> model_matrix(const Sample& s, const std::vector<uint32_t>& ticks,
                                const ModalitySpec& spec, uint32_t from, uint32_t to, uint64_t seed,
                                uint32_t* width) {
  const bool l2 = spec.kind != ModalityKind::vitals && spec.l2_normalize;
  const uint32_t d = to - from;
  *width = d;
  if (d <= kModelDim) return modality_matrix(s, ticks, from, to, l2);
  std::vector<double> scale(ticks.size());
  for (std::size_t r = 0; r < ticks.size(); ++r)
    scale[r] = row_scale(s.row(ticks[r], from, to), l2);
  std::vector<float> out(ticks.size() * kModelDim, 0.0f);
  std::vector<float> proj;
  for (uint32_t c0 = 0; c0 < d; c0 += kProjectionColumns) {
    const uint32_t c1 = std::min(d, c0 + kProjectionColumns);
    projection_rows(seed, c0, c1, proj);
    for (std::size_t r = 0; r < ticks.size(); ++r) {
      const auto row = s.row(ticks[r], from, to);
      float* o = &out[r * kModelDim];
      for (uint32_t c = c0; c < c1; ++c) {
        const float v = static_cast<float>(row[c] * scale[r]);
        if (v == 0) continue;
        const float* p = &proj[static_cast<std::size_t>(c - c0) * kModelDim];
        for (uint32_t k = 0; k < kModelDim; ++k) o[k] += v * p[k];
      }
    }
  }
  std::vector<uint32_t> overflowed;
  for (std::size_t r = 0; r < ticks.size(); ++r) {
    const float* o = &out[r * kModelDim];
    if (!std::all_of(o, o + kModelDim, [](float v) { return std::isfinite(v); })) {
      overflowed.push_back(static_cast<uint32_t>(r));
    }
  }
  if (!overflowed.empty()) {
    constexpr double kFloatMax = std::numeric_limits<float>::max();
    std::vector<std::array<double, kModelDim>> wide(overflowed.size());
    for (auto& w : wide) w.fill(0.0);
    for (uint32_t c0 = 0; c0 < d; c0 += kProjectionColumns) {
      const uint32_t c1 = std::min(d, c0 + kProjectionColumns);
      projection_rows(seed, c0, c1, proj);
      for (std::size_t j = 0; j < overflowed.size(); ++j) {
        const std::size_t r = overflowed[j];
        const auto row = s.row(ticks[r], from, to);
        for (uint32_t c = c0; c < c1; ++c) {
          const double v = row[c] * scale[r];
          const float* p = &proj[static_cast<std::size_t>(c - c0) * kModelDim];
          for (uint32_t k = 0; k < kModelDim; ++k) wide[j][k] += v * p[k];
        }
      }
    }
    for (std::size_t j = 0; j < overflowed.size(); ++j) {
      float* o = &out[std::size_t{overflowed[j]} * kModelDim];
      for (uint32_t k = 0; k < kModelDim; ++k) {
        o[k] = static_cast<float>(std::clamp(wide[j][k], -kFloatMax, kFloatMax));
      }
    }
  }
  *width = kModelDim;
  return out;
}

// The spectrum of a modality's features (docs/profile.md, "Dimensionality"): as encoded, read in
// place from the sample (L2-normalised when the modality is), except vitals, whose window
// statistics are a fixed expansion of the channels: their mean over the shortest window, one
// column per channel.
std::vector<double> modality_spectrum(const Sample& s, const std::vector<uint32_t>& ticks,
                                      const ModalitySpec& spec, uint32_t from, uint32_t to,
                                      std::span<const int64_t> windows_ms) {
  if (spec.kind == ModalityKind::vitals) {
    const std::vector<float> x = modality_matrix(s, ticks, from, to, false);
    const auto channels = static_cast<uint32_t>(spec.channels.size());
    const std::vector<float> means =
        detail::shortest_window_means(x, ticks.size(), channels, windows_ms);
    return detail::spectrum(means, ticks.size(), channels, true);
  }
  std::vector<detail::SpectrumRow> rows(ticks.size());
  for (std::size_t r = 0; r < ticks.size(); ++r) {
    const auto row = s.row(ticks[r], from, to);
    rows[r] = {row.data(), row_scale(row, spec.l2_normalize)};
  }
  return detail::spectrum(rows, to - from, false);
}

// ---- timing and interaction models -------------------------------------------------------------

// A set of test ticks scored one way, for repeated weighted AUROCs.
struct ScoredSet {
  std::vector<double> score;
  std::vector<uint8_t> label;
  std::vector<PatientIndex> patient;
  std::vector<uint32_t> order;
  void finish() { order = detail::score_order(score); }
  double auroc(std::span<const double> patient_weight) const {
    std::vector<double> w(score.size());
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = patient_weight[patient[i]];
    return detail::weighted_auroc_ordered(order, score, label, w);
  }
  uint64_t positives() const {
    return static_cast<uint64_t>(std::count(label.begin(), label.end(), 1));
  }
};

struct ModelSets {
  std::vector<std::vector<ScoredSet>> buckets;         // [modality][bucket], qualifying only
  std::vector<std::pair<ScoredSet, ScoredSet>> pairs;  // additive, interaction
};

std::vector<double> standardised_columns(std::vector<double> x, std::size_t n, std::size_t d,
                                         std::span<const uint8_t> train) {
  for (std::size_t c = 0; c < d; ++c) {
    double sum = 0;
    double sq = 0;
    double count = 0;
    for (std::size_t r = 0; r < n; ++r) {
      if (!train[r]) continue;
      sum += x[r * d + c];
      sq += x[r * d + c] * x[r * d + c];
      count += 1;
    }
    const double mean = count > 0 ? sum / count : 0;
    const double sd = count > 0 ? std::sqrt(std::max(0.0, sq / count - mean * mean)) : 0;
    for (std::size_t r = 0; r < n; ++r) x[r * d + c] = sd > 1e-12 ? (x[r * d + c] - mean) / sd : 0;
  }
  return x;
}

// Fits on the train rows, returns the logit of every row.
std::vector<double> fit_and_score(const std::vector<double>& x, std::size_t n, std::size_t d,
                                  const std::vector<uint8_t>& y,
                                  const std::vector<uint8_t>& train) {
  std::vector<double> xt;
  std::vector<uint8_t> yt;
  for (std::size_t r = 0; r < n; ++r) {
    if (!train[r]) continue;
    xt.insert(xt.end(), x.begin() + static_cast<std::ptrdiff_t>(r * d),
              x.begin() + static_cast<std::ptrdiff_t>((r + 1) * d));
    yt.push_back(y[r]);
  }
  const std::vector<double> w = detail::fit_logistic(xt, yt.size(), d, yt, kRidge);
  std::vector<double> logit(n);
  for (std::size_t r = 0; r < n; ++r) {
    logit[r] = detail::logistic_logit(w, std::span<const double>(x).subspan(r * d, d));
  }
  return logit;
}

double test_auroc(const std::vector<double>& score, const std::vector<uint8_t>& y,
                  const std::vector<uint8_t>& test) {
  std::vector<double> w(score.size());
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = test[i] ? 1 : 0;
  return detail::weighted_auroc(score, y, w);
}

double spread_of(std::span<const double> aurocs) {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  int n = 0;
  for (const double a : aurocs) {
    if (std::isnan(a)) continue;
    lo = std::min(lo, a);
    hi = std::max(hi, a);
    ++n;
  }
  return n >= 2 ? hi - lo : kNaN;
}

double nan_max(double a, double b) {
  if (std::isnan(a)) return b;
  if (std::isnan(b)) return a;
  return std::max(a, b);
}

}  // namespace

namespace detail {

std::vector<float> shortest_window_means(std::span<const float> x, std::size_t n, uint32_t channels,
                                         std::span<const int64_t> windows_ms) {
  const std::size_t shortest = static_cast<std::size_t>(
      std::min_element(windows_ms.begin(), windows_ms.end()) - windows_ms.begin());
  const std::size_t d = windows_ms.size() * channels * kWindowStatCount;
  std::vector<float> out(n * channels);
  for (std::size_t r = 0; r < n; ++r) {
    for (uint32_t c = 0; c < channels; ++c) {
      out[r * channels + c] = x[r * d + (shortest * channels + c) * kWindowStatCount +
                                static_cast<std::size_t>(WindowStat::mean)];
    }
  }
  return out;
}

double quantile_sorted(std::span<const double> sorted, double p) {
  if (sorted.empty()) return kNaN;
  const double h = std::clamp(p, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

namespace {

// quantile_sorted on unsorted values, in linear time: the order statistic at floor(p (n - 1)),
// then the smallest value above it.
double quantile(std::vector<float>& values, double p) {
  if (values.empty()) return kNaN;
  const double h = std::clamp(p, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  const auto k = static_cast<std::size_t>(std::floor(h));
  const auto at = values.begin() + static_cast<std::ptrdiff_t>(k);
  std::nth_element(values.begin(), at, values.end());
  const double lo = *at;
  if (k + 1 >= values.size()) return lo;
  const double hi = *std::min_element(at + 1, values.end());
  return lo + (h - static_cast<double>(k)) * (hi - lo);
}

}  // namespace

Distribution describe_distribution(std::vector<float> values_ms) {
  Distribution d;
  d.count = values_ms.size();
  // Negative values (a device clock ahead) are counted, since the statistics alone would hide the
  // skew, then taken as 0: a log histogram has no place for them.
  for (float& v : values_ms) {
    if (v < 0) {
      ++d.negative;
      v = 0;
    }
  }
  d.log10_edges.resize(kLogBins + 1);
  for (std::size_t i = 0; i <= kLogBins; ++i) {
    d.log10_edges[i] = kLogLo + (kLogHi - kLogLo) * static_cast<double>(i) / kLogBins;
  }
  d.counts.assign(kLogBins, 0);
  if (values_ms.empty()) return d;
  double sum = 0;
  double sq = 0;
  for (const float v : values_ms) {
    sum += v;
    sq += static_cast<double>(v) * v;
    const double l = std::log10(std::max(1.0, static_cast<double>(v)));
    const double pos = (l - kLogLo) / (kLogHi - kLogLo) * kLogBins;
    const auto bin = static_cast<std::size_t>(std::clamp(pos, 0.0, kLogBins - 1.0));
    d.counts[bin] += 1;
  }
  const double n = static_cast<double>(values_ms.size());
  const double mean = sum / n;
  const double var = std::max(0.0, sq / n - mean * mean);
  d.cv = mean > 0 ? std::sqrt(var) / mean : kNaN;
  d.median_ms = quantile(values_ms, 0.5);
  d.p90_ms = quantile(values_ms, 0.9);
  return d;
}

}  // namespace detail

uint32_t sample_row_floats(const EngineConfig& config) {
  uint32_t width = 0;
  for (const ModalitySpec& spec : config.schema.specs()) width += shape_of(spec, config).raw_dim();
  return width;
}

Result<void> check_options(const EngineConfig& config, const ProfileOptions& options) {
  if (options.horizon_ms <= 0) return make_error(Errc::invalid_argument, "horizon must be > 0");
  if (options.variance_share <= 0 || options.variance_share > 1) {
    return make_error(Errc::invalid_argument, "variance share must be in (0, 1]");
  }
  if (options.age_buckets < 1 || options.sample_ticks < 1 || !(options.ridge > 0)) {
    return make_error(Errc::invalid_argument,
                      "age buckets and sample size must be >= 1, ridge > 0");
  }
  if (options.bootstrap > kMaxBootstrapReplicates) {
    return make_error(Errc::invalid_argument, fmt::format("bootstrap replicates must be at most {}",
                                                          kMaxBootstrapReplicates));
  }
  return check_sample_size(config, options.sample_ticks);
}

Result<void> check_sample_size(const EngineConfig& config, uint32_t sample_ticks) {
  const uint64_t row_bytes = uint64_t{sample_row_floats(config)} * sizeof(float);
  const uint64_t bytes = 2 * uint64_t{sample_ticks} * row_bytes;
  if (bytes <= kMaxSampleBytes) return ok();
  return make_error(
      Errc::invalid_argument,
      fmt::format("a model sample of {} ticks per class, {} feature values a tick, would hold "
                  "{:.1f} GB, above the limit of {:.0f} GB: at most {} ticks per class with these "
                  "modalities",
                  sample_ticks, row_bytes / sizeof(float), static_cast<double>(bytes) / 1e9,
                  static_cast<double>(kMaxSampleBytes) / 1e9, kMaxSampleBytes / (2 * row_bytes)));
}

Result<DeploymentProfile> profile_history(const ReplaySequence& events,
                                          const PatientRegistry& registry,
                                          const EngineConfig& config,
                                          const ProfileOptions& options) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  if (events.size() == 0) return make_error(Errc::invalid_argument, "the history is empty");
  if (auto checked = check_options(config, options); !checked) return checked.error();
  const ModalitySchema& schema = config.schema;
  const std::size_t n_mod = schema.size();
  const std::size_t n_pat = registry.size();

  DeploymentProfile out;
  out.horizon_ms = options.horizon_ms;
  out.tick_cadence_ms = config.tick_cadence_ms;
  out.thresholds = options.thresholds;
  out.events = events.size();
  for (const ModalitySpec& spec : schema.specs()) out.modalities.push_back(spec.name);

  // Outcomes, cadence and documentation delay straight from the events.
  Recording rec;
  rec.n_patients = n_pat;
  rec.n_modalities = n_mod;
  rec.outcome_ms.assign(n_pat, kNoOutcome);
  rec.hash.resize(n_pat);
  for (std::size_t p = 0; p < n_pat; ++p) rec.hash[p] = registry.hash(static_cast<PatientIndex>(p));
  rec.horizon_ms = options.horizon_ms;
  rec.capacity = options.sample_ticks;
  rec.seed = options.seed;
  std::vector<std::vector<float>> gaps(n_mod);
  std::vector<std::vector<float>> delays(n_mod);
  std::vector<int64_t> last_arrival(n_pat * n_mod, kUnset);
  events.for_each_header([&](const EventHeader& e, int64_t) {
    if (e.modality == kOutcomeModality) {
      if (e.patient < n_pat)
        rec.outcome_ms[e.patient] = std::min(rec.outcome_ms[e.patient], e.event_time_ms);
      return true;
    }
    if (e.modality >= n_mod || e.patient >= n_pat) return true;
    delays[e.modality].push_back(static_cast<float>(e.arrival_time_ms - e.event_time_ms));
    int64_t& last = last_arrival[e.patient * n_mod + e.modality];
    if (last != kUnset) gaps[e.modality].push_back(static_cast<float>(e.arrival_time_ms - last));
    last = e.arrival_time_ms;
    return true;
  });
  last_arrival = {};

  // The recording replay.
  ScorerSpec spec;
  spec.strategy = "profile";
  spec.model_name = "profile";
  spec.needs.resize(n_mod);
  rec.offset.assign(n_mod + 1, 0);
  std::array<uint32_t, kMaxModalities> feature_dim{};
  for (std::size_t m = 0; m < n_mod; ++m) {
    const RawFeatureShape shape = shape_of(schema[static_cast<ModalityIndex>(m)], config);
    spec.needs[m].features = true;
    spec.needs[m].history = 1;
    if (shape.kind != ModalityKind::vitals)
      spec.needs[m].encoder = std::make_shared<RawEncoder>(shape);
    feature_dim[m] = shape.raw_dim();
    rec.offset[m + 1] = rec.offset[m] + feature_dim[m];
  }
  rec.start_sample();
  auto scorer = std::make_shared<RecordingScorer>(std::move(spec), rec);
  CountingScoreSink sink;
  const ReplayStats replay = replay_events(events, config, scorer, registry, sink);
  log(fmt::format("replay: {} events, {} ticks in {:.1f} s", replay.events, replay.pipeline.ticks,
                  replay.seconds));
  const auto shards = rec.shards();
  scorer.reset();

  // ---- availability
  std::vector<PatientAcc> patients(n_pat);
  std::map<uint32_t, uint64_t> mask_ticks;
  std::array<std::array<uint64_t, kMaxModalities + 1>, kStayBins> stay{};
  for (const auto& shard : shards) {
    for (std::size_t p = 0; p < n_pat; ++p) {
      const PatientAcc& from = shard->patients[p];
      if (from.ticks == 0) continue;
      PatientAcc& to = patients[p];
      to.first_ms = to.first_ms == kUnset ? from.first_ms : std::min(to.first_ms, from.first_ms);
      to.ticks += from.ticks;
      for (std::size_t m = 0; m < n_mod; ++m) to.present[m] += from.present[m];
      for (const uint32_t mask : from.masks) {
        if (std::find(to.masks.begin(), to.masks.end(), mask) == to.masks.end())
          to.masks.push_back(mask);
      }
    }
    for (const auto& [mask, n] : shard->mask_ticks) mask_ticks[mask] += n;
    for (std::size_t b = 0; b < kStayBins; ++b) {
      for (std::size_t k = 0; k <= n_mod; ++k) stay[b][k] += shard->stay[b][k];
    }
  }
  Availability& av = out.availability;
  std::vector<uint64_t> present_ticks(n_mod, 0);
  std::vector<uint32_t> ever(n_mod, 0);
  std::map<uint32_t, uint32_t> mask_patients;
  std::vector<PatientIndex> with_ticks;
  std::vector<uint64_t> pat_ticks(n_pat, 0);
  std::vector<uint64_t> pat_present(n_pat * n_mod, 0);
  for (std::size_t p = 0; p < n_pat; ++p) {
    const PatientAcc& acc = patients[p];
    if (acc.ticks == 0) continue;
    with_ticks.push_back(static_cast<PatientIndex>(p));
    pat_ticks[p] = acc.ticks;
    for (std::size_t m = 0; m < n_mod; ++m) pat_present[p * n_mod + m] = acc.present[m];
    av.ticks += acc.ticks;
    for (std::size_t m = 0; m < n_mod; ++m) {
      present_ticks[m] += acc.present[m];
      if (acc.present[m] > 0) ++ever[m];
    }
    for (const uint32_t mask : acc.masks) ++mask_patients[mask];
    if (rec.outcome_ms[p] != kNoOutcome) ++out.outcome_patients;
  }
  av.patients = static_cast<uint32_t>(with_ticks.size());
  out.patients = av.patients;
  if (av.ticks == 0)
    return make_error(Errc::invalid_argument, "the history produced no scoring ticks");
  for (std::size_t m = 0; m < n_mod; ++m) {
    av.modalities.push_back({schema[static_cast<ModalityIndex>(m)].name,
                             static_cast<double>(present_ticks[m]) / static_cast<double>(av.ticks),
                             static_cast<double>(ever[m]) / static_cast<double>(av.patients)});
  }
  for (const auto& [mask, n] : mask_ticks) {
    av.subgroups.push_back(
        {mask, n, static_cast<double>(n) / static_cast<double>(av.ticks), mask_patients[mask]});
  }
  std::sort(av.subgroups.begin(), av.subgroups.end(), [](const Subgroup& a, const Subgroup& b) {
    return a.ticks != b.ticks ? a.ticks > b.ticks : a.present_mask < b.present_mask;
  });
  for (std::size_t b = 0; b < kStayBins; ++b) {
    if (stay[b][0] == 0) continue;
    StayBin bin{kStayEdgesMs[b], kStayEdgesMs[b + 1], stay[b][0], {}};
    for (std::size_t m = 0; m < n_mod; ++m) {
      bin.share.push_back(static_cast<double>(stay[b][1 + m]) / static_cast<double>(stay[b][0]));
    }
    av.over_stay.push_back(std::move(bin));
  }

  // ---- the model sample
  const Sample sample = merge_sample(rec);
  if (sample.non_finite > 0) {
    log(fmt::format(
        "{} non-finite feature values (NaN or infinite) in the model sample, taken as 0",
        sample.non_finite));
  }
  patients = {};
  Temporal& tm = out.temporal;
  tm.sample_ticks = sample.ticks.size();
  for (const PatientIndex p : with_ticks)
    (is_test_patient(rec.hash[p]) ? tm.test_patients : tm.train_patients)++;

  // ---- dimensionality and single-modality models
  const std::size_t n_s = sample.ticks.size();
  std::vector<std::vector<double>> logit(n_mod, std::vector<double>(n_s, kNaN));
  // Model inputs per modality, kept for the pairwise models: rows of the ticks with the modality
  // present, row_of[m][tick] indexing them.
  std::vector<std::vector<float>> model_x(n_mod);
  std::vector<uint32_t> model_width(n_mod, 0);
  std::vector<std::vector<uint32_t>> row_of(n_mod, std::vector<uint32_t>(n_s, UINT32_MAX));
  ModelSets sets;
  sets.buckets.resize(n_mod);
  Dimensionality& dims = out.dimensionality;
  for (std::size_t m = 0; m < n_mod; ++m) {
    const ModalitySpec& mspec = schema[static_cast<ModalityIndex>(m)];
    ModalityDimension md;
    md.name = mspec.name;
    md.kind = std::string(to_string(mspec.kind));
    md.raw_dim = mspec.kind == ModalityKind::vitals ? static_cast<uint32_t>(mspec.channels.size())
                 : mspec.kind == ModalityKind::text ? mspec.dim + mspec.text_hash_dim
                                                    : mspec.dim;
    md.feature_dim = feature_dim[m];
    ModalityTiming timing;
    timing.name = mspec.name;
    timing.inter_arrival = detail::describe_distribution(std::move(gaps[m]));
    timing.delay = detail::describe_distribution(std::move(delays[m]));

    std::vector<uint32_t> present;
    std::vector<uint32_t> train;
    for (uint32_t i = 0; i < n_s; ++i) {
      if (!(sample.ticks[i].mask >> m & 1u)) continue;
      present.push_back(i);
      if (!sample.test[i]) train.push_back(i);
    }
    detail::keep_evenly_spread(train, options.pca_ticks);
    const bool vitals = mspec.kind == ModalityKind::vitals;
    const uint32_t from = rec.offset[m];
    const uint32_t to = rec.offset[m + 1];
    const uint32_t d = to - from;
    if (train.size() >= 2 && d > 0) {
      uint32_t width = 0;
      model_x[m] = model_matrix(sample, present, mspec, from, to, options.seed, &width);
      model_width[m] = width;
      for (std::size_t r = 0; r < present.size(); ++r)
        row_of[m][present[r]] = static_cast<uint32_t>(r);
      const std::vector<float>& all = model_x[m];
      std::vector<uint8_t> y(present.size());
      std::vector<uint8_t> fold(present.size());
      std::vector<uint8_t> is_test(present.size());
      for (std::size_t r = 0; r < present.size(); ++r) {
        y[r] = sample.label[present[r]];
        is_test[r] = sample.test[present[r]];
        fold[r] = patient_fold(rec.hash[sample.ticks[present[r]].patient]);
      }
      const detail::ModalityFit fit = detail::fit_modality(
          all, present.size(), width, fold, y, vitals, options.ridge, options.pca_ticks);
      {
        detail::Pca spec_of;
        spec_of.eigenvalues = modality_spectrum(sample, train, mspec, from, to, config.windows_ms);
        md.effective_dim = spec_of.effective(options.variance_share);
      }
      md.sample = static_cast<uint32_t>(train.size());
      {
        const std::vector<double>& s = fit.score;
        for (std::size_t r = 0; r < present.size(); ++r) logit[m][present[r]] = s[r];
        timing.auroc = test_auroc(s, y, is_test);
        // Age buckets: quantiles of the modality's age over the sample.
        std::vector<int64_t> ages;
        for (const uint32_t i : present) ages.push_back(sample.ticks[i].age_ms[m]);
        std::sort(ages.begin(), ages.end());
        std::vector<int64_t> edges{ages.front()};
        for (uint32_t b = 1; b < options.age_buckets; ++b) {
          const int64_t e = ages[ages.size() * b / options.age_buckets];
          if (e > edges.back()) edges.push_back(e);
        }
        edges.push_back(ages.back() + 1);
        std::vector<double> bucket_auroc;
        for (std::size_t b = 0; b + 1 < edges.size(); ++b) {
          AgeBucket bucket{edges[b], edges[b + 1], 0, 0, kNaN};
          ScoredSet set;
          for (std::size_t r = 0; r < present.size(); ++r) {
            const int64_t age = sample.ticks[present[r]].age_ms[m];
            if (!is_test[r] || age < bucket.from_ms || age >= bucket.to_ms) continue;
            set.score.push_back(s[r]);
            set.label.push_back(y[r]);
            set.patient.push_back(sample.ticks[present[r]].patient);
          }
          bucket.ticks = set.score.size();
          bucket.positives = set.positives();
          if (bucket.positives >= options.min_bucket_ticks &&
              bucket.ticks - bucket.positives >= options.min_bucket_ticks) {
            set.finish();
            bucket.auroc = set.auroc(std::vector<double>(n_pat, 1.0));
            sets.buckets[m].push_back(std::move(set));
          }
          bucket_auroc.push_back(bucket.auroc);
          timing.buckets.push_back(bucket);
        }
        timing.auroc_spread = spread_of(bucket_auroc);
        tm.max_auroc_spread = nan_max(tm.max_auroc_spread, timing.auroc_spread);
      }
    }
    dims.modalities.push_back(md);
    tm.modalities.push_back(std::move(timing));
  }
  {
    uint32_t lo = 0;
    uint32_t hi = 0;
    for (const ModalityDimension& md : dims.modalities) {
      if (md.effective_dim == 0) continue;
      lo = lo == 0 ? md.effective_dim : std::min(lo, md.effective_dim);
      hi = std::max(hi, md.effective_dim);
    }
    if (lo > 0) dims.ratio = static_cast<double>(hi) / lo;
  }
  log(fmt::format("single-modality models on {} sampled ticks", n_s));

  // ---- interaction: single versus pairwise models
  for (std::size_t a = 0; a < n_mod; ++a) {
    for (std::size_t b = a + 1; b < n_mod; ++b) {
      PairInteraction pair;
      pair.a = static_cast<uint32_t>(a);
      pair.b = static_cast<uint32_t>(b);
      std::vector<uint32_t> rows;
      for (uint32_t i = 0; i < n_s; ++i) {
        if (!std::isnan(logit[a][i]) && !std::isnan(logit[b][i])) rows.push_back(i);
      }
      const std::size_t n = rows.size();
      std::vector<double> add(n * 2);
      std::vector<uint8_t> y(n);
      std::vector<uint8_t> is_train(n);
      std::vector<uint8_t> is_test(n);
      uint64_t train_pos = 0;
      uint64_t test_pos = 0;
      std::vector<double> la(n);
      std::vector<double> lb(n);
      for (std::size_t r = 0; r < n; ++r) {
        la[r] = logit[a][rows[r]];
        lb[r] = logit[b][rows[r]];
        y[r] = sample.label[rows[r]];
        is_test[r] = sample.test[rows[r]];
        is_train[r] = !is_test[r];
        (is_test[r] ? test_pos : train_pos) += y[r];
        pair.test_ticks += is_test[r];
      }
      // Scores standardised on the train rows, so that the product term is centred.
      la = standardised_columns(std::move(la), n, 1, is_train);
      lb = standardised_columns(std::move(lb), n, 1, is_train);
      for (std::size_t r = 0; r < n; ++r) {
        add[r * 2] = la[r];
        add[r * 2 + 1] = lb[r];
      }
      if (train_pos < options.min_bucket_ticks || test_pos < options.min_bucket_ticks ||
          n - train_pos - test_pos < 2 * options.min_bucket_ticks) {
        tm.pairs.push_back(pair);
        continue;
      }
      std::vector<double> sa(n);
      std::vector<double> sb(n);
      for (std::size_t r = 0; r < n; ++r) {
        sa[r] = add[r * 2];
        sb[r] = add[r * 2 + 1];
      }
      pair.auroc_a = test_auroc(sa, y, is_test);
      pair.auroc_b = test_auroc(sb, y, is_test);
      // Interaction: does the meaning of one modality's features depend on the other? The
      // gated model refits modality `of`'s discriminant separately on the ticks where the other
      // modality's score is above and below its train median; both models see the stratum.
      const auto gated_auroc = [&](std::size_t of, const std::vector<double>& gate) {
        std::vector<double> sorted;
        for (std::size_t r = 0; r < n; ++r) {
          if (is_train[r]) sorted.push_back(gate[r]);
        }
        std::nth_element(sorted.begin(),
                         sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2),
                         sorted.end());
        const double median = sorted[sorted.size() / 2];
        const ModalitySpec& ms = schema[static_cast<ModalityIndex>(of)];
        const bool vit = ms.kind == ModalityKind::vitals;
        const uint32_t width = model_width[of];
        std::vector<float> x(n * width);
        for (std::size_t r = 0; r < n; ++r) {
          const std::size_t src = static_cast<std::size_t>(row_of[of][rows[r]]) * width;
          std::copy_n(model_x[of].begin() + static_cast<std::ptrdiff_t>(src), width,
                      x.begin() + static_cast<std::ptrdiff_t>(r * width));
        }
        std::vector<double> strat(n, 0.0);
        for (int side = 0; side < 2; ++side) {
          std::vector<uint8_t> fold(n, 0);
          for (std::size_t r = 0; r < n; ++r) {
            const bool high = gate[r] > median;
            if (high == (side == 1) && is_train[r])
              fold[r] = patient_fold(rec.hash[sample.ticks[rows[r]].patient]);
          }
          const detail::ModalityFit fit =
              detail::fit_modality(x, n, width, fold, y, vit, options.ridge, options.pca_ticks);
          for (std::size_t r = 0; r < n; ++r) {
            if ((gate[r] > median) == (side == 1)) strat[r] = fit.score[r];
          }
        }
        std::vector<double> base(n * 3);
        std::vector<double> gated(n * 3);
        const std::vector<double> strat_std = standardised_columns(strat, n, 1, is_train);
        const std::vector<double>& own = of == a ? la : lb;
        for (std::size_t r = 0; r < n; ++r) {
          const double ind = gate[r] > median ? 1 : 0;
          base[r * 3] = gated[r * 3] = gate[r];
          base[r * 3 + 1] = own[r];
          gated[r * 3 + 1] = strat_std[r];
          base[r * 3 + 2] = gated[r * 3 + 2] = ind;
        }
        const std::vector<double> s_base =
            fit_and_score(standardised_columns(base, n, 3, is_train), n, 3, y, is_train);
        const std::vector<double> s_gated =
            fit_and_score(standardised_columns(gated, n, 3, is_train), n, 3, y, is_train);
        return std::pair(s_base, s_gated);
      };
      auto [base_ab, gated_ab] = gated_auroc(b, la);  // a gates b
      auto [base_ba, gated_ba] = gated_auroc(a, lb);  // b gates a
      const double gain_ab = test_auroc(gated_ab, y, is_test) - test_auroc(base_ab, y, is_test);
      const double gain_ba = test_auroc(gated_ba, y, is_test) - test_auroc(base_ba, y, is_test);
      const bool ab = !(gain_ba > gain_ab);
      const std::vector<double> s_add = ab ? std::move(base_ab) : std::move(base_ba);
      const std::vector<double> s_int = ab ? std::move(gated_ab) : std::move(gated_ba);
      pair.gated = ab ? pair.b : pair.a;
      pair.auroc_additive = test_auroc(s_add, y, is_test);
      pair.auroc_interaction = test_auroc(s_int, y, is_test);
      pair.gain = pair.auroc_interaction - pair.auroc_additive;
      tm.max_interaction_gain = nan_max(tm.max_interaction_gain, pair.gain);
      ScoredSet set_add;
      ScoredSet set_int;
      for (std::size_t r = 0; r < n; ++r) {
        if (!is_test[r]) continue;
        const PatientIndex p = sample.ticks[rows[r]].patient;
        set_add.score.push_back(s_add[r]);
        set_int.score.push_back(s_int[r]);
        set_add.label.push_back(y[r]);
        set_int.label.push_back(y[r]);
        set_add.patient.push_back(p);
        set_int.patient.push_back(p);
      }
      set_add.finish();
      set_int.finish();
      sets.pairs.emplace_back(std::move(set_add), std::move(set_int));
      tm.pairs.push_back(pair);
    }
  }

  // ---- the decision, and its confidence from a bootstrap over patients
  detail::Evidence evidence;
  evidence.patients = out.patients;
  evidence.outcome_patients = out.outcome_patients;
  for (const ModalityAvailability& ma : av.modalities) evidence.tick_share.push_back(ma.tick_share);
  evidence.dimension_ratio = dims.ratio;
  evidence.max_auroc_spread = tm.max_auroc_spread;
  evidence.max_interaction_gain = tm.max_interaction_gain;
  evidence.no_bootstrap = options.bootstrap == 0;
  // The pair with the largest interaction gain, whose bootstrap interval the decision checks.
  std::size_t top_pair = 0;
  {
    double best = -std::numeric_limits<double>::infinity();
    const std::vector<double> ones(n_pat, 1.0);
    for (std::size_t k = 0; k < sets.pairs.size(); ++k) {
      const double g = sets.pairs[k].second.auroc(ones) - sets.pairs[k].first.auroc(ones);
      if (g > best) {
        best = g;
        top_pair = k;
      }
    }
  }
  std::vector<detail::Evidence> replicates;
  if (options.bootstrap > 0) {
    std::mt19937_64 engine(mix64(options.seed ^ 0x626f6f7473747261ull));
    std::vector<double> weight(n_pat, 0.0);
    std::vector<double> top_gains;
    for (uint32_t rep = 0; rep < options.bootstrap; ++rep) {
      std::fill(weight.begin(), weight.end(), 0.0);
      for (std::size_t i = 0; i < with_ticks.size(); ++i) {
        weight[with_ticks[report::uniform_below(engine, with_ticks.size())]] += 1;
      }
      detail::Evidence e = evidence;
      double outcome_w = 0;
      double ticks_w = 0;
      std::vector<double> present_w(n_mod, 0);
      for (const PatientIndex p : with_ticks) {
        if (weight[p] == 0) continue;
        if (rec.outcome_ms[p] != kNoOutcome) outcome_w += weight[p];
        ticks_w += weight[p] * static_cast<double>(pat_ticks[p]);
        for (std::size_t m = 0; m < n_mod; ++m) {
          present_w[m] += weight[p] * static_cast<double>(pat_present[p * n_mod + m]);
        }
      }
      for (std::size_t m = 0; m < n_mod; ++m) e.tick_share[m] = present_w[m] / ticks_w;
      e.outcome_patients = static_cast<uint32_t>(outcome_w);
      e.max_auroc_spread = kNaN;
      for (std::size_t m = 0; m < n_mod; ++m) {
        std::vector<double> a;
        for (const ScoredSet& set : sets.buckets[m]) a.push_back(set.auroc(weight));
        e.max_auroc_spread = nan_max(e.max_auroc_spread, spread_of(a));
      }
      e.max_interaction_gain = kNaN;
      for (std::size_t k = 0; k < sets.pairs.size(); ++k) {
        const double g = sets.pairs[k].second.auroc(weight) - sets.pairs[k].first.auroc(weight);
        e.max_interaction_gain = nan_max(e.max_interaction_gain, g);
        if (k == top_pair && !std::isnan(g)) top_gains.push_back(g);
      }
      replicates.push_back(std::move(e));
    }
    if (!top_gains.empty()) {
      std::sort(top_gains.begin(), top_gains.end());
      evidence.interaction_gain_lo = detail::quantile_sorted(top_gains, 0.05);
      tm.interaction_gain_lo = evidence.interaction_gain_lo;
    }
  }
  out.recommendation = detail::decide(evidence, out.modalities, options.thresholds);
  Recommendation& recm = out.recommendation;
  if (!replicates.empty()) {
    uint32_t agree = 0;
    for (detail::Evidence& e : replicates) {
      e.interaction_gain_lo = evidence.interaction_gain_lo;
      if (detail::decide(e, out.modalities, options.thresholds).fired == recm.fired) ++agree;
    }
    recm.replicates = static_cast<uint32_t>(replicates.size());
    recm.confidence = static_cast<double>(agree) / static_cast<double>(replicates.size());
  }
  recm.confidence_label = std::isnan(recm.confidence)            ? "unknown"
                          : recm.confidence >= kHighConfidence   ? "high"
                          : recm.confidence >= kMediumConfidence ? "medium"
                                                                 : "low";
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  log(fmt::format("{} fusion ({} confidence) in {:.1f} s", to_string(recm.strategy),
                  recm.confidence_label, out.seconds));
  return out;
}

}  // namespace tfe::profile
