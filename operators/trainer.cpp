#include "operators/trainer.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "operators/hash.h"
#include "operators/model_file.h"

namespace tfe {

namespace {

// Examples per gradient chunk: fixed, so the reduction order never depends on the thread count.
constexpr uint32_t kChunk = 32;

// Uniform in [0, 1) from 53 bits.
double unit(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

double bce(double logit, bool label) {
  const double z = label ? -logit : logit;
  return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
}

Snapshot make_snapshot(const ExampleSet& data, std::size_t e, uint32_t keep, ExampleScratch& s) {
  const std::size_t n_mod = data.dims.size();
  for (std::size_t m = 0; m < n_mod; ++m) s.mods[m] = ModalitySnapshot{};
  std::array<uint32_t, kMaxModalities> count{};
  const Example& ex = data.examples[e];
  for (const ExampleItem& it : data.items_of(e)) {
    const std::size_t m = it.modality;
    if (!((keep >> m) & 1u) || count[m] >= kMaxHistoryK) continue;
    const std::span<const float> f = data.row(m, it.row);
    if (count[m] == 0) {
      s.mods[m].present = true;
      s.mods[m].age_ms = it.age_ms;
      s.mods[m].event_time_ms = ex.time_ms - it.age_ms;
      s.mods[m].features = f;
    }
    s.history[m][count[m]++] = HistoryItem{it.age_ms, f};
  }
  for (std::size_t m = 0; m < n_mod; ++m) {
    s.mods[m].history = std::span<const HistoryItem>(s.history[m].data(), count[m]);
  }
  return Snapshot{ex.patient, ex.time_ms, std::span<const ModalitySnapshot>(s.mods.data(), n_mod)};
}

std::size_t thread_count(uint32_t threads) {
  return threads == 0 ? static_cast<std::size_t>(tbb::this_task_arena::max_concurrency()) : threads;
}

}  // namespace

double training_rate(uint64_t examples, double train_seconds) {
  return static_cast<double>(examples) / std::max(train_seconds, 1e-9);  // 1 ns: never divide by 0
}

uint32_t masking_keep(uint32_t present, const std::vector<double>& p, uint64_t seed, uint32_t epoch,
                      uint32_t example) {
  uint64_t state = mix64(seed ^ mix64((uint64_t{epoch} << 32) | example));
  uint32_t keep = present;
  for (std::size_t m = 0; m < p.size(); ++m) {
    if (!((present >> m) & 1u)) continue;
    state = mix64(state);
    if (unit(state) < p[m]) keep &= ~(1u << m);
  }
  if (keep == 0 && present != 0) {
    const int n = std::popcount(present);
    state = mix64(state);
    int pick = static_cast<int>(state % static_cast<uint64_t>(n));
    for (uint32_t m = 0; m < 32; ++m) {
      if (((present >> m) & 1u) && pick-- == 0) {
        keep = 1u << m;
        break;
      }
    }
  }
  return keep;
}

ExampleSet::ExampleSet(const ModelSchema& schema) {
  for (std::size_t m = 0; m < schema.modalities.size(); ++m) {
    dims.push_back(schema.shape(m).raw_dim());
  }
  rows.resize(dims.size());
}

std::span<const ExampleItem> ExampleSet::items_of(std::size_t e) const {
  const std::size_t begin = examples[e].first_item;
  const std::size_t end = e + 1 < examples.size() ? examples[e + 1].first_item : items.size();
  return std::span<const ExampleItem>(items).subspan(begin, end - begin);
}

uint32_t ExampleSet::add_row(std::size_t m, std::span<const float> features) {
  const uint32_t r = row_count(m);
  rows[m].insert(rows[m].end(), features.begin(), features.end());
  return r;
}

uint32_t ExampleSet::present_mask(std::size_t e) const {
  uint32_t mask = 0;
  for (const ExampleItem& it : items_of(e)) mask |= 1u << it.modality;
  return mask;
}

std::vector<uint32_t> ExampleSet::indices(Split split) const {
  std::vector<uint32_t> out;
  for (std::size_t e = 0; e < examples.size(); ++e) {
    if (examples[e].split == split) out.push_back(static_cast<uint32_t>(e));
  }
  return out;
}

void fit_statistics(FusionModel& model, const ExampleSet& data) {
  const std::size_t n_mod = model.schema.modalities.size();
  float* stats = model.stats.values().data();
  for (std::size_t m = 0; m < n_mod; ++m) {
    const ModelModality& mod = model.schema.modalities[m];
    const ModalityLayout& ml = model.layout.modalities[m];
    // The rows the training split uses (each once).
    std::vector<uint8_t> used(data.row_count(m), 0);
    for (std::size_t e = 0; e < data.examples.size(); ++e) {
      if (data.examples[e].split != Split::train) continue;
      for (const ExampleItem& it : data.items_of(e)) {
        if (it.modality == m) used[it.row] = 1;
      }
    }
    if (mod.kind == ModalityKind::vitals) {
      // Value statistics over windows that saw a sample (prepare_input zeroes the others); the
      // count feature over log1p(count) of every row.
      const uint32_t D = ml.input_dim;
      std::vector<double> sum(D, 0.0), sum2(D, 0.0), n(D, 0.0);
      // A constant feature is recognised by its range: the one-pass variance of many copies of
      // one value is a rounding residue (1e5 copies of log1p(3): sd 2e-6), not zero.
      std::vector<double> lo(D, HUGE_VAL), hi(D, -HUGE_VAL);
      for (uint32_t r = 0; r < used.size(); ++r) {
        if (!used[r]) continue;
        const std::span<const float> raw = data.row(m, r);
        for (uint32_t g = 0; g < D; g += kWindowStatCount) {
          const float count = raw[g + kWindowStatCount - 1];
          const bool seen = count > 0.0f;
          for (uint32_t i = g; i + 1 < g + kWindowStatCount; ++i) {
            if (!seen || !std::isfinite(raw[i])) continue;
            sum[i] += raw[i];
            sum2[i] += double{raw[i]} * raw[i];
            n[i] += 1;
            lo[i] = std::min(lo[i], double{raw[i]});
            hi[i] = std::max(hi[i], double{raw[i]});
          }
          const uint32_t c = g + kWindowStatCount - 1;
          const double v = std::log1p(seen ? double{count} : 0.0);
          sum[c] += v;
          sum2[c] += v * v;
          n[c] += 1;
          lo[c] = std::min(lo[c], v);
          hi[c] = std::max(hi[c], v);
        }
      }
      for (uint32_t i = 0; i < D; ++i) {
        double mean = 0, sd = 1;
        if (n[i] > 0) {
          mean = sum[i] / n[i];
          const double var = std::max(0.0, sum2[i] / n[i] - mean * mean);
          sd = std::sqrt(var);
          if (!(sd > kMinInputStd) || lo[i] == hi[i]) sd = 1;
        }
        stats[ml.mean.offset + i] = static_cast<float>(mean);
        stats[ml.std.offset + i] = static_cast<float>(sd);
      }
    } else if (mod.kind == ModalityKind::text && mod.text_hash_dim > 0) {
      // Smoothed IDF over the training split's distinct documents with hashed terms.
      std::vector<double> df(mod.text_hash_dim, 0.0);
      double docs = 0;
      for (uint32_t r = 0; r < used.size(); ++r) {
        if (!used[r]) continue;
        const std::span<const float> hashed = data.row(m, r).subspan(mod.dim, mod.text_hash_dim);
        bool any = false;
        for (uint32_t i = 0; i < mod.text_hash_dim; ++i) {
          if (hashed[i] > 0.0f) {
            df[i] += 1;
            any = true;
          }
        }
        docs += any ? 1 : 0;
      }
      for (uint32_t i = 0; i < mod.text_hash_dim; ++i) {
        stats[ml.idf.offset + i] = static_cast<float>(std::log((1.0 + docs) / (1.0 + df[i])) + 1.0);
      }
    }
  }
}

bool weight_decays(const TensorInfo& tensor) {
  // By name, not shape: with time2vec_k = 0 a timing projection has one column, with d_model = 1
  // so do attention's key and value, and they are weight matrices all the same. Every tensor name
  // ends in a suffix fixed by its role: linear maps end in ".w", and so do the Time2Vec
  // frequency vectors, the only tensors whose names start with "time.".
  return tensor.name.ends_with(".w") && !tensor.name.starts_with("time.");
}

namespace {

// Mean log loss of sigmoid(a x + b) over (logit, label).
double platt_loss(std::span<const double> logit, std::span<const uint8_t> label, double a,
                  double b) {
  double sum = 0;
  for (std::size_t i = 0; i < logit.size(); ++i) sum += bce(a * logit[i] + b, label[i] != 0);
  return sum / static_cast<double>(std::max<std::size_t>(logit.size(), 1));
}

// The (logit, label) pairs whose logit is finite within float's range (the model's logits are
// floats). A non-finite logit has no place on the logit axis: it makes every Platt trial loss NaN
// (the fit would silently keep the identity) and breaks the isotonic sort's ordering (a NaN or
// infinite threshold, a table no model file accepts).
struct FinitePairs {
  std::vector<double> logit;
  std::vector<uint8_t> label;
};
FinitePairs finite_pairs(std::span<const double> logit, std::span<const uint8_t> label) {
  FinitePairs p;
  for (std::size_t i = 0; i < logit.size(); ++i) {
    if (!(std::fabs(logit[i]) <= double{std::numeric_limits<float>::max()})) continue;
    p.logit.push_back(logit[i]);
    p.label.push_back(label[i]);
  }
  return p;
}

// Smallest slope kept: a calibration must never reverse the model's order. A validation split
// on which the logits rank no better than chance gets a nearly flat map instead.
constexpr double kMinPlattSlope = 1e-3;

}  // namespace

Calibration fit_platt(std::span<const double> all_logit, std::span<const uint8_t> all_label) {
  const FinitePairs finite = finite_pairs(all_logit, all_label);
  const std::span<const double> logit = finite.logit;
  const std::span<const uint8_t> label = finite.label;
  // Newton's method on the mean log loss of sigmoid(a x + b), with a tiny ridge for stability
  // and a backtracking line search. From the identity start a full Newton step overshoots when
  // the validation logits sit far from zero (e.g. around -6): the curvature there is tiny, the
  // step huge, and undamped iterations diverge, ending at a negative slope that turns the
  // ranking upside down. Each accepted step lowers the (convex) loss, so the fit converges.
  double a = 1.0, b = 0.0;
  const double n = static_cast<double>(std::max<std::size_t>(logit.size(), 1));
  double loss = platt_loss(logit, label, a, b);
  // With fit_slope false only b moves (the slope held at kMinPlattSlope).
  const auto newton = [&](bool fit_slope) {
    for (int iter = 0; iter < 100; ++iter) {
      double ga = 0, gb = 0, haa = 1e-6, hab = 0, hbb = 1e-6;
      for (std::size_t i = 0; i < logit.size(); ++i) {
        const double x = logit[i];
        const double p = 1.0 / (1.0 + std::exp(-(a * x + b)));
        const double r = p - (label[i] ? 1.0 : 0.0);
        const double w = std::max(p * (1 - p), 1e-12);
        ga += r * x;
        gb += r;
        haa += w * x * x;
        hab += w * x;
        hbb += w;
      }
      ga /= n;
      gb /= n;
      haa /= n;
      hab /= n;
      hbb /= n;
      double da = 0, db = gb / hbb;
      if (fit_slope) {
        const double det = haa * hbb - hab * hab;
        if (!(std::fabs(det) > 1e-18)) break;
        da = (hbb * ga - hab * gb) / det;
        db = (haa * gb - hab * ga) / det;
      }
      // Halve the step until the loss falls (Armijo condition on the Newton decrement).
      const double decrease = ga * da + gb * db;
      double t = 1.0;
      bool accepted = false;
      for (int halvings = 0; halvings < 60; ++halvings, t *= 0.5) {
        const double trial = platt_loss(logit, label, a - t * da, b - t * db);
        if (std::isfinite(trial) && trial <= loss - 1e-4 * t * decrease) {
          a -= t * da;
          b -= t * db;
          loss = trial;
          accepted = true;
          break;
        }
      }
      if (!accepted || t * (std::fabs(da) + std::fabs(db)) < 1e-10) break;
    }
  };
  newton(true);
  if (!(a >= kMinPlattSlope)) {
    a = kMinPlattSlope;
    b = 0.0;
    loss = platt_loss(logit, label, a, b);
    newton(false);
  }
  Calibration c = initial_calibration(CalibrationMethod::platt);
  if (std::isfinite(a) && std::isfinite(b)) {
    c.platt_a = static_cast<float>(a);
    c.platt_b = static_cast<float>(b);
  }
  return c;
}

Calibration fit_isotonic(std::span<const double> all_logit, std::span<const uint8_t> all_label) {
  const FinitePairs finite = finite_pairs(all_logit, all_label);
  const std::span<const double> logit = finite.logit;
  const std::span<const uint8_t> label = finite.label;
  std::vector<uint32_t> order(logit.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t x, uint32_t y) { return logit[x] < logit[y]; });
  // Groups of equal float logit first (thresholds must be strictly increasing), then PAV over
  // whole groups. Pooled sample by sample, a tied sample's label decided a merge before the rest
  // of its group was counted, blocks never split again, and tied logits could end up on
  // different steps.
  struct Block {
    float lo;
    double sum, n;
  };
  std::vector<Block> groups;
  // Thresholds within a model file's bound: logits beyond it share the outermost step.
  constexpr float kMax = kMaxCalibrationMagnitude;
  for (uint32_t i : order) {
    const float x = std::clamp(static_cast<float>(logit[i]), -kMax, kMax);
    const double y = label[i] ? 1.0 : 0.0;
    if (!groups.empty() && groups.back().lo == x) {
      groups.back().sum += y;
      groups.back().n += 1;
    } else {
      groups.push_back({x, y, 1});
    }
  }
  std::vector<Block> blocks;
  for (const Block& g : groups) {
    blocks.push_back(g);
    while (blocks.size() > 1) {
      const Block& b = blocks[blocks.size() - 1];
      const Block& a = blocks[blocks.size() - 2];
      if (a.sum / a.n <= b.sum / b.n) break;
      Block merged{a.lo, a.sum + b.sum, a.n + b.n};
      blocks.pop_back();
      blocks.back() = merged;
    }
  }
  Calibration c = initial_calibration(CalibrationMethod::isotonic);
  if (blocks.empty()) return c;
  c.thresholds.clear();
  c.values.clear();
  for (const Block& b : blocks) {
    c.thresholds.push_back(b.lo);
    c.values.push_back(static_cast<float>(b.sum / b.n));
  }
  // Float rounding of a mean must not break monotonicity.
  for (std::size_t i = 1; i < c.values.size(); ++i)
    c.values[i] = std::max(c.values[i], c.values[i - 1]);
  return c;
}

double accumulate_gradient(const FusionModel& model, const DerivedWeights& derived,
                           const ExampleSet& data, std::span<const uint32_t> examples,
                           std::span<const uint32_t> keep, float positive_weight, float scale,
                           ExampleScratch& scratch, std::span<float> grad) {
  double loss = 0;
  ScoreOutput out;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const uint32_t e = examples[i];
    const Snapshot snap = make_snapshot(data, e, keep[i], scratch);
    forward(model, derived, snap, FeatureForm::raw, scratch.ws, out);
    const bool y = data.examples[e].label != 0;
    const double w = (y ? positive_weight : 1.0f) * scale;
    const double p = 1.0 / (1.0 + std::exp(-out.logit));
    loss += w * bce(out.logit, y);
    backward(model, derived, scratch.ws, static_cast<float>(w * (p - (y ? 1.0 : 0.0))),
             scratch.back, grad);
  }
  return loss;
}

void predict_logits(const FusionModel& model, const ExampleSet& data,
                    std::span<const uint32_t> examples, uint32_t drop_mask, uint32_t threads,
                    std::span<double> out) {
  const DerivedWeights derived = derive_weights(model);
  tbb::enumerable_thread_specific<ExampleScratch> scratch([&] { return ExampleScratch(model); });
  tbb::task_arena arena(static_cast<int>(thread_count(threads)));
  arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, examples.size(), 256),
                      [&](const tbb::blocked_range<std::size_t>& r) {
                        ExampleScratch& s = scratch.local();
                        ScoreOutput o;
                        for (std::size_t i = r.begin(); i < r.end(); ++i) {
                          const Snapshot snap = make_snapshot(data, examples[i], ~drop_mask, s);
                          forward(model, derived, snap, FeatureForm::raw, s.ws, o);
                          out[i] = o.logit;
                        }
                      });
  });
}

Result<TrainSummary> train_model(FusionModel& model, const ExampleSet& data,
                                 const TrainOptions& options, const TrainHooks& hooks) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const std::vector<uint32_t> train_idx = data.indices(Split::train);
  const std::vector<uint32_t> val_idx = data.indices(Split::validation);
  auto count_pos = [&](const std::vector<uint32_t>& idx) {
    uint64_t n = 0;
    for (uint32_t e : idx) n += data.examples[e].label;
    return n;
  };
  const uint64_t train_pos = count_pos(train_idx), val_pos = count_pos(val_idx);
  if (train_pos == 0 || train_pos == train_idx.size()) {
    return make_error(Errc::invalid_argument,
                      fmt::format("the training split needs positive and negative examples "
                                  "({} examples, {} positive)",
                                  train_idx.size(), train_pos));
  }
  if (val_pos == 0 || val_pos == val_idx.size()) {
    return make_error(Errc::invalid_argument,
                      fmt::format("the validation split needs positive and negative examples "
                                  "({} examples, {} positive)",
                                  val_idx.size(), val_pos));
  }
  if (!hooks.auroc || !hooks.auprc) {
    return make_error(Errc::invalid_argument, "training needs AUROC and AUPRC functions");
  }
  if (options.batch == 0 || options.epochs == 0) {
    return make_error(Errc::invalid_argument, "[training] batch and epochs must be positive");
  }

  fit_statistics(model, data);
  const float pos_weight =
      options.positive_weight > 0
          ? static_cast<float>(options.positive_weight)
          : static_cast<float>(static_cast<double>(train_idx.size() - train_pos) /
                               static_cast<double>(train_pos));
  std::vector<double> masking(data.dims.size(), 0.0);
  for (std::size_t m = 0; m < masking.size() && m < options.masking.size(); ++m) {
    masking[m] = options.masking[m];
  }

  const std::size_t P = model.weights.size();
  std::vector<float> adam_m(P, 0.0f), adam_v(P, 0.0f), grad(P, 0.0f);
  // Decoupled weight decay applies to weight matrices, chosen by role (weight_decays).
  std::vector<uint8_t> decays(P, 0);
  for (const TensorInfo& t : model.weights.tensors()) {
    if (weight_decays(t)) std::fill_n(decays.begin() + t.ref.offset, t.ref.size(), 1);
  }
  // Buffers for the largest batch that occurs, so that a batch setting above the training
  // split's size (full-batch training) does not allocate a gradient buffer and a scratch per
  // chunk of the setting (up to 32768 of each) for examples that do not exist.
  const std::size_t largest_batch = std::min<std::size_t>(options.batch, train_idx.size());
  const auto max_chunks = static_cast<uint32_t>((largest_batch + kChunk - 1) / kChunk);
  std::vector<std::vector<float>> chunk_grad(max_chunks, std::vector<float>(P, 0.0f));
  std::vector<double> chunk_loss(max_chunks, 0.0);
  std::vector<ExampleScratch> chunk_scratch;
  chunk_scratch.reserve(max_chunks);
  for (uint32_t c = 0; c < max_chunks; ++c) chunk_scratch.emplace_back(model);
  std::vector<uint32_t> order = train_idx;
  std::vector<uint32_t> keep(largest_batch, ~0u);
  std::vector<double> val_logit(val_idx.size());
  std::vector<uint8_t> val_label(val_idx.size());
  for (std::size_t i = 0; i < val_idx.size(); ++i) val_label[i] = data.examples[val_idx[i]].label;

  tbb::task_arena arena(static_cast<int>(thread_count(options.threads)));
  TrainSummary summary;
  summary.train_examples = train_idx.size();
  summary.validation_examples = val_idx.size();
  summary.positive_weight = pos_weight;
  summary.best_val_auprc = -1;
  ParamSet best = model.weights;
  uint32_t since_best = 0;
  uint64_t step = 0;
  double train_seconds = 0;
  constexpr float kBeta1 = 0.9f, kBeta2 = 0.999f, kAdamEps = 1e-8f;

  for (uint32_t epoch = 1; epoch <= options.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    // Fisher-Yates with the epoch's own stream.
    uint64_t shuffle_state = mix64(options.seed ^ (0xabcdefull * epoch));
    for (std::size_t i = order.size(); i > 1; --i) {
      shuffle_state = mix64(shuffle_state);
      std::swap(order[i - 1], order[shuffle_state % i]);
    }
    double epoch_loss = 0, epoch_weight = 0;
    for (std::size_t begin = 0; begin < order.size(); begin += options.batch) {
      const std::size_t n = std::min<std::size_t>(options.batch, order.size() - begin);
      const std::span<const uint32_t> batch(order.data() + begin, n);
      double weight_sum = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const uint32_t e = batch[i];
        weight_sum += data.examples[e].label ? pos_weight : 1.0;
        keep[i] = masking_keep(data.present_mask(e), masking, options.seed, epoch, e);
      }
      const float scale = static_cast<float>(1.0 / weight_sum);
      const DerivedWeights derived = derive_weights(model);
      const uint32_t chunks = static_cast<uint32_t>((n + kChunk - 1) / kChunk);
      arena.execute([&] {
        tbb::parallel_for(
            tbb::blocked_range<uint32_t>(0, chunks, 1),
            [&](const tbb::blocked_range<uint32_t>& r) {
              for (uint32_t c = r.begin(); c < r.end(); ++c) {
                const std::size_t lo = std::size_t{c} * kChunk;
                const std::size_t cnt = std::min<std::size_t>(kChunk, n - lo);
                std::fill(chunk_grad[c].begin(), chunk_grad[c].end(), 0.0f);
                chunk_loss[c] =
                    accumulate_gradient(model, derived, data, batch.subspan(lo, cnt),
                                        std::span<const uint32_t>(keep).subspan(lo, cnt),
                                        pos_weight, scale, chunk_scratch[c], chunk_grad[c]);
              }
            },
            tbb::simple_partitioner());
      });
      // Fixed reduction order: chunk 0, 1, 2, ...
      std::copy(chunk_grad[0].begin(), chunk_grad[0].end(), grad.begin());
      double batch_loss = chunk_loss[0];
      for (uint32_t c = 1; c < chunks; ++c) {
        const float* cg = chunk_grad[c].data();
        for (std::size_t i = 0; i < P; ++i) grad[i] += cg[i];
        batch_loss += chunk_loss[c];
      }
      epoch_loss += batch_loss * weight_sum;
      epoch_weight += weight_sum;
      double norm2 = 0;
      for (float g : grad) norm2 += double{g} * g;
      const double norm = std::sqrt(norm2);
      const float clip = options.clip_norm > 0 && norm > options.clip_norm
                             ? static_cast<float>(options.clip_norm / norm)
                             : 1.0f;
      ++step;
      const double c1 = 1.0 - std::pow(double{kBeta1}, static_cast<double>(step));
      const double c2 = 1.0 - std::pow(double{kBeta2}, static_cast<double>(step));
      const float lr = static_cast<float>(options.learning_rate);
      const float wd = static_cast<float>(options.learning_rate * options.weight_decay);
      const float inv_c1 = static_cast<float>(1.0 / c1), inv_c2 = static_cast<float>(1.0 / c2);
      float* w = model.weights.values().data();
      for (std::size_t i = 0; i < P; ++i) {
        const float g = grad[i] * clip;
        adam_m[i] = kBeta1 * adam_m[i] + (1.0f - kBeta1) * g;
        adam_v[i] = kBeta2 * adam_v[i] + (1.0f - kBeta2) * g * g;
        const float mhat = adam_m[i] * inv_c1, vhat = adam_v[i] * inv_c2;
        w[i] -= lr * mhat / (std::sqrt(vhat) + kAdamEps);
        if (decays[i]) w[i] -= wd * w[i];
      }
    }
    const auto validation_start = Clock::now();
    EpochReport report;
    report.epoch = epoch;
    report.epochs = options.epochs;
    report.loss = epoch_weight > 0 ? epoch_loss / epoch_weight : 0;
    report.examples = order.size();
    report.train_seconds = std::chrono::duration<double>(validation_start - epoch_start).count();
    report.examples_per_s = training_rate(report.examples, report.train_seconds);
    train_seconds += report.train_seconds;
    predict_logits(model, data, val_idx, 0, options.threads, val_logit);
    report.val_auroc = hooks.auroc(val_logit, val_label);
    report.val_auprc = hooks.auprc(val_logit, val_label);
    report.validation_seconds =
        std::chrono::duration<double>(Clock::now() - validation_start).count();
    report.improved = report.val_auprc > summary.best_val_auprc;
    summary.epochs_run = epoch;
    if (report.improved) {
      summary.best_val_auprc = report.val_auprc;
      summary.best_val_auroc = report.val_auroc;
      summary.best_epoch = epoch;
      best = model.weights;
      since_best = 0;
    } else {
      ++since_best;
    }
    if (hooks.on_epoch) hooks.on_epoch(report);
    // A step too large for the loss surface ends in overflow; nothing written after it would
    // score (a model file refuses non-finite weights), so the run stops here with the reason.
    const auto& values = model.weights.values();
    if (!std::isfinite(report.loss) ||
        !std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); })) {
      return make_error(Errc::invalid_argument,
                        fmt::format("training diverged in epoch {} (the loss or a weight is no "
                                    "longer finite): lower [training] learning_rate (now {:g})",
                                    epoch, options.learning_rate));
    }
    if (since_best >= options.patience) break;
  }
  model.weights = best;
  predict_logits(model, data, val_idx, 0, options.threads, val_logit);
  model.calibration = model.arch.calibration == CalibrationMethod::isotonic
                          ? fit_isotonic(val_logit, val_label)
                          : fit_platt(val_logit, val_label);
  summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  summary.examples_per_s =
      training_rate(summary.train_examples * summary.epochs_run, train_seconds);
  return summary;
}

}  // namespace tfe
