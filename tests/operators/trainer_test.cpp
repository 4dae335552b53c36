// The trainer: statistics fitting, calibration fits, masking draws, learning on a separable
// example set, and bit-identical weights with 1 and 2 threads.

#include "operators/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "operators/model_file.h"
#include "tests/operators/fusion_test_support.h"
#include "tests/support/alloc_counter.h"

namespace tfe {
namespace {

// Exact pairwise AUROC (ties count one half): small sets only.
double pair_auroc(std::span<const double> s, std::span<const uint8_t> y) {
  double wins = 0, pairs = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!y[i]) continue;
    for (std::size_t j = 0; j < s.size(); ++j) {
      if (y[j]) continue;
      pairs += 1;
      wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
    }
  }
  return pairs > 0 ? wins / pairs : 0.5;
}

struct Fixture {
  EngineConfig config = test::default_engine_config({3, 16, 0, 12});
  ModelSchema schema = model_schema_from_config(config);
  ExampleSet data{schema};
};

// 80 patients x 12 ticks: imaging direction and a vitals statistic carry the label; notes are
// present on half of the ticks. Patients 0..55 train, 56..67 validation, the rest test.
void fill(Fixture& f) {
  test::TestRng rng(99);
  for (uint32_t p = 0; p < 80; ++p) {
    std::vector<float> image(12);
    for (float& v : image) v = rng.uniform(-1.0f, 1.0f);
    const uint32_t image_row = f.data.add_row(2, image);
    for (uint32_t k = 0; k < 12; ++k) {
      Example ex;
      ex.patient = p;
      ex.time_ms = 1'000'000 + k * 60'000;
      ex.first_item = static_cast<uint32_t>(f.data.items.size());
      ex.split = p < 56 ? Split::train : p < 68 ? Split::validation : Split::test;
      const std::vector<float> vitals = test::random_vitals(rng, 2, 3);
      f.data.items.push_back({30'000, f.data.add_row(0, vitals), 0});
      if (k % 2 == 0) {
        std::vector<float> note(16, 0.0f);
        add_hashed_text_features(test::random_text(rng), note);
        f.data.items.push_back({3'600'000, f.data.add_row(1, note), 1});
      }
      f.data.items.push_back({86'400'000, image_row, 2});
      const float signal = image[0] + 0.3f * vitals[1];
      ex.label = signal > 0.4f ? 1 : 0;
      f.data.examples.push_back(ex);
    }
  }
}

ModelConfig small_arch(Strategy s) {
  ModelConfig a;
  a.strategy = s;
  a.d_model = 8;
  a.heads = 2;
  a.hidden = {8};
  a.encoder_hidden = 6;
  a.time2vec_k = 2;
  return a;
}

TrainHooks hooks() {
  TrainHooks h;
  h.auroc = pair_auroc;
  h.auprc = pair_auroc;  // any rank metric will do for early stopping here
  return h;
}

TEST(TrainerTest, FitStatisticsOnTrainingSplitOnly) {
  Fixture f;
  fill(f);
  auto model = make_model_skeleton(small_arch(Strategy::late), f.schema);
  ASSERT_TRUE(model);
  fit_statistics(model.value(), f.data);
  const ModalityLayout& ml = model.value().layout.modalities[0];
  // Naive mean of statistic 1 (mean, channel 0, window 0) over train rows that saw a sample.
  double sum = 0, n = 0;
  for (std::size_t e = 0; e < f.data.examples.size(); ++e) {
    if (f.data.examples[e].split != Split::train) continue;
    const auto row = f.data.row(0, f.data.items_of(e)[0].row);
    if (row[kWindowStatCount - 1] > 0) {
      sum += row[1];
      n += 1;
    }
  }
  EXPECT_NEAR(model.value().stats.values()[ml.mean.offset + 1], sum / n, 1e-4);
  EXPECT_GT(model.value().stats.values()[ml.std.offset + 1], 0.0f);
  const ModalityLayout& text = model.value().layout.modalities[1];
  for (uint32_t i = 0; i < 16; ++i) {
    EXPECT_GE(model.value().stats.values()[text.idf.offset + i], 1.0f);
  }
}

// A feature constant over the training split whose one-pass variance is a rounding residue
// (sum2 / n - mean^2 over 500,000 copies): its deviation must become 1, as a zero one does, or
// a serving value a hair away from the constant gets a z-score of hundreds.
TEST(TrainerTest, ConstantFeatureGetsDeviationOneDespiteRounding) {
  const EngineConfig config = test::default_engine_config({1, 16, 0, 12});
  const ModelSchema schema = model_schema_from_config(config);
  ExampleSet data(schema);
  constexpr uint32_t kRows = 500'000;
  constexpr uint32_t kCount = kWindowStatCount - 1;
  // One-pass deviations of these constants: 97.3f 3.5e-4, log1p(30) 1.5e-5, log1p(5) 4.8e-6.
  constexpr float kCounts[2] = {30.0f, 5.0f};
  std::vector<float> row(2 * kWindowStatCount);
  double sum = 0, sum2 = 0;
  for (uint32_t r = 0; r < kRows; ++r) {
    for (uint32_t w = 0; w < 2; ++w) {
      float* g = row.data() + w * kWindowStatCount;
      g[0] = 97.3f;                               // last: constant
      g[1] = 90.0f + static_cast<float>(r % 10);  // mean: varies
      g[2] = 1.0f, g[3] = 95.0f, g[4] = 99.0f, g[5] = 0.1f;
      g[kCount] = kCounts[w];  // count: constant per window
    }
    sum += row[1];
    sum2 += double{row[1]} * row[1];
    Example ex;
    ex.patient = r;
    ex.first_item = static_cast<uint32_t>(data.items.size());
    data.items.push_back({0, data.add_row(0, row), 0});
    data.examples.push_back(ex);
  }
  auto model = make_model_skeleton(small_arch(Strategy::late), schema);
  ASSERT_TRUE(model);
  fit_statistics(model.value(), data);
  const ModalityLayout& ml = model.value().layout.modalities[0];
  const std::span<const float> stats = model.value().stats.values();
  for (uint32_t w = 0; w < 2; ++w) {
    const uint32_t g = w * kWindowStatCount;
    EXPECT_EQ(stats[ml.std.offset + g], 1.0f) << "last, window " << w;
    EXPECT_FLOAT_EQ(stats[ml.mean.offset + g], 97.3f);
    EXPECT_EQ(stats[ml.std.offset + g + kCount], 1.0f) << "count, window " << w;
    EXPECT_FLOAT_EQ(stats[ml.mean.offset + g + kCount],
                    static_cast<float>(std::log1p(double{kCounts[w]})));
  }
  // A varying feature keeps its deviation (0..9 uniform: sqrt(8.25)).
  const double mean = sum / kRows;
  EXPECT_EQ(stats[ml.std.offset + 1], static_cast<float>(std::sqrt(sum2 / kRows - mean * mean)));
  EXPECT_NEAR(stats[ml.std.offset + 1], std::sqrt(8.25), 1e-5);
}

// Weighted pool-adjacent-violators over the distinct logits: the isotonic fit by definition.
std::vector<double> reference_isotonic(std::span<const double> x, std::span<const uint8_t> y,
                                       std::vector<double>& distinct) {
  std::map<double, std::pair<double, double>> groups;  // logit -> (sum, n)
  for (std::size_t i = 0; i < x.size(); ++i) {
    groups[x[i]].first += y[i];
    groups[x[i]].second += 1;
  }
  struct Pool {
    double sum, n;
    std::size_t members;
  };
  std::vector<Pool> pools;
  distinct.clear();
  for (const auto& [logit, g] : groups) {
    distinct.push_back(logit);
    pools.push_back({g.first, g.second, 1});
    while (pools.size() > 1 && pools[pools.size() - 2].sum / pools[pools.size() - 2].n >
                                   pools.back().sum / pools.back().n) {
      const Pool b = pools.back();
      pools.pop_back();
      pools.back() = {pools.back().sum + b.sum, pools.back().n + b.n,
                      pools.back().members + b.members};
    }
  }
  std::vector<double> fitted;
  for (const Pool& p : pools) fitted.insert(fitted.end(), p.members, p.sum / p.n);
  return fitted;
}

// A sample tied with the largest logit of an already merged block joins that block: tied logits
// never land on different steps.
TEST(TrainerTest, IsotonicPoolsTiedLogitsIntoOneStep) {
  const std::vector<double> x = {1.0, 2.0, 2.0};
  const std::vector<uint8_t> y = {1, 0, 1};
  const Calibration c = fit_isotonic(x, y);
  ASSERT_TRUE(validate(c));
  EXPECT_EQ(c.thresholds, std::vector<float>({1.0f}));
  ASSERT_EQ(c.values.size(), 1u);
  EXPECT_FLOAT_EQ(c.values[0], 2.0f / 3.0f);
  EXPECT_FLOAT_EQ(c.apply(1.0), 2.0f / 3.0f);
  EXPECT_FLOAT_EQ(c.apply(2.0), 2.0f / 3.0f);

  // Many ties (logits on a grid of 12 values), against the textbook weighted fit.
  test::TestRng rng(11);
  std::vector<double> xs;
  std::vector<uint8_t> ys;
  for (int i = 0; i < 3000; ++i) {
    const double logit = std::floor(rng.uniform(0.0f, 12.0f)) * 0.5 - 3.0;
    xs.push_back(logit);
    ys.push_back(rng.uniform(0.0f, 1.0f) < 0.2 + 0.05 * std::sin(3.0 * logit) + 0.04 * logit);
  }
  std::vector<double> distinct;
  const std::vector<double> fitted = reference_isotonic(xs, ys, distinct);
  const Calibration iso = fit_isotonic(xs, ys);
  ASSERT_TRUE(validate(iso));
  for (std::size_t i = 0; i < distinct.size(); ++i) {
    EXPECT_NEAR(iso.apply(distinct[i]), fitted[i], 1e-6) << "logit " << distinct[i];
  }
}

// Weight decay follows the tensor's role, not its shape: with time2vec_k = 0 (and no sinusoids)
// every timing projection has one column, and it decays like the other matrices; the Time2Vec
// vectors, biases, presence, gates, embeddings and the query never do.
TEST(TrainerTest, WeightDecayFollowsTheTensorRole) {
  const EngineConfig config = test::default_engine_config({3, 16, 0, 12});
  const auto decayed = [&](ModelConfig arch) {
    auto model = make_model_skeleton(arch, model_schema_from_config(config));
    EXPECT_TRUE(model);
    std::vector<std::string> names;
    for (const TensorInfo& t : model.value().weights.tensors()) {
      if (weight_decays(t)) names.push_back(t.name);
    }
    return names;
  };
  using Names = std::vector<std::string>;
  ModelConfig arch = small_arch(Strategy::early);
  arch.time2vec_k = 0;
  EXPECT_EQ(decayed(arch), Names({"early.wearables.x.w", "early.wearables.time.w",
                                  "early.notes.x.w", "early.notes.time.w", "early.imaging.x.w",
                                  "early.imaging.time.w", "head.out.w"}));
  arch.strategy = Strategy::late;
  arch.hidden = {8};
  EXPECT_EQ(decayed(arch),
            Names({"late.wearables.x.w", "late.wearables.time.w", "late.wearables.head.out.w",
                   "late.notes.x.w", "late.notes.time.w", "late.notes.head.out.w",
                   "late.imaging.x.w", "late.imaging.time.w", "late.imaging.head.out.w"}));
  // d_model = 1: attention's key and value are 1 x 1 and still matrices.
  arch.strategy = Strategy::attention;
  arch.d_model = 1;
  arch.heads = 1;
  EXPECT_EQ(decayed(arch),
            Names({"attn.wearables.proj.w", "attn.wearables.time.w", "attn.notes.proj.w",
                   "attn.notes.time.w", "attn.imaging.proj.w", "attn.imaging.time.w", "attn.key.w",
                   "attn.value.w", "head.l1.w", "head.out.w"}));
  arch.strategy = Strategy::intermediate;
  EXPECT_EQ(
      decayed(arch),
      Names({"inter.wearables.enc1.w", "inter.wearables.enc2.w", "inter.wearables.z.w",
             "inter.wearables.time.w", "inter.notes.enc1.w", "inter.notes.enc2.w",
             "inter.notes.z.w", "inter.notes.time.w", "inter.imaging.enc1.w",
             "inter.imaging.enc2.w", "inter.imaging.z.w", "inter.imaging.time.w", "head.out.w"}));
}

// n logits uniform in [lo, hi) with labels drawn from sigmoid(a * logit + b).
struct LabelledLogits {
  std::vector<double> x;
  std::vector<uint8_t> y;
};
LabelledLogits platt_sample(uint64_t seed, int n, float lo, float hi, double a, double b) {
  test::TestRng rng(seed);
  LabelledLogits s;
  for (int i = 0; i < n; ++i) {
    const double logit = rng.uniform(lo, hi);
    s.x.push_back(logit);
    s.y.push_back(rng.uniform(0.0f, 1.0f) < 1.0 / (1.0 + std::exp(-(a * logit + b))) ? 1 : 0);
  }
  return s;
}

TEST(TrainerTest, PlattRecoversKnownCoefficients) {
  const auto [x, y] = platt_sample(3, 20'000, -4.0f, 4.0f, 0.5, -1.0);
  const Calibration c = fit_platt(x, y);
  EXPECT_NEAR(c.platt_a, 0.5, 0.05);
  EXPECT_NEAR(c.platt_b, -1.0, 0.08);
  const Calibration iso = fit_isotonic(x, y);
  EXPECT_TRUE(validate(iso));
  EXPECT_LT(iso.apply(-3.5), 0.1);
  EXPECT_GT(iso.apply(3.5), 0.5);
}

// A NaN or infinite logit among the validation logits: Platt's every trial loss was NaN, so
// the fit silently kept the identity (1, 0); the isotonic sort lost its ordering and produced a
// table with a NaN threshold that no model file loads. Both now fit the finite logits alone.
TEST(TrainerTest, CalibrationFitsLeaveOutNonFiniteLogits) {
  auto [x, y] = platt_sample(3, 20'000, -4.0f, 4.0f, 0.5, -1.0);
  const Calibration clean_platt = fit_platt(x, y);
  const Calibration clean_iso = fit_isotonic(x, y);
  x.insert(x.begin() + 7, std::nan(""));
  y.insert(y.begin() + 7, 1);
  x.push_back(HUGE_VAL);
  y.push_back(0);
  x.push_back(1e300);  // finite as a double, not as a float
  y.push_back(1);
  const Calibration platt = fit_platt(x, y);
  EXPECT_EQ(platt.platt_a, clean_platt.platt_a);
  EXPECT_EQ(platt.platt_b, clean_platt.platt_b);
  const Calibration iso = fit_isotonic(x, y);
  EXPECT_TRUE(validate(iso));
  EXPECT_EQ(iso, clean_iso);

  // Nothing finite: the initial calibrations.
  const std::vector<double> none = {std::nan(""), -HUGE_VAL};
  const std::vector<uint8_t> labels = {1, 0};
  EXPECT_EQ(fit_platt(none, labels), initial_calibration(CalibrationMethod::platt));
  EXPECT_EQ(fit_isotonic(none, labels), initial_calibration(CalibrationMethod::isotonic));
}

// Validation logits finite but far past what a model file's isotonic thresholds may hold
// (kMaxCalibrationMagnitude): the table stays within the bound, so that the model training
// writes loads, and the logits beyond it share the outermost steps.
TEST(TrainerTest, IsotonicThresholdsStayWithinTheModelFileBounds) {
  auto [x, y] = platt_sample(3, 20'000, -4.0f, 4.0f, 0.5, -1.0);
  for (double& v : x) v *= 1e30;
  const Calibration iso = fit_isotonic(x, y);
  ASSERT_TRUE(validate(iso));
  for (float t : iso.thresholds) EXPECT_LE(std::fabs(t), kMaxCalibrationMagnitude) << t;
  EXPECT_LT(iso.apply(-3.5e30), iso.apply(3.5e30));
}

// Validation logits far below zero (a class-weighted, strongly decayed model): the curvature at
// the identity start is tiny and a full Newton step overshoots; undamped, the fit diverged to a
// negative slope, the calibrated risk ranked ticks in reverse and backtests scored below chance.
TEST(TrainerTest, PlattConvergesWhenLogitsSitFarFromZero) {
  const auto [x, y] = platt_sample(5, 20'000, -12.0f, -1.0f, 0.25, -1.6);
  double positives = 0;
  for (uint8_t label : y) positives += label;
  const Calibration c = fit_platt(x, y);
  EXPECT_NEAR(c.platt_a, 0.25, 0.04);
  EXPECT_NEAR(c.platt_b, -1.6, 0.25);
  double mean_risk = 0;
  for (double v : x) mean_risk += c.apply(v);
  EXPECT_NEAR(mean_risk / static_cast<double>(x.size()), positives / static_cast<double>(x.size()),
              0.005);
  // The calibrated risk ranks as the logits do.
  std::vector<double> risk;
  for (double v : x) risk.push_back(c.apply(v));
  std::vector<double> xs(x.begin(), x.begin() + 2000), rs(risk.begin(), risk.begin() + 2000);
  std::vector<uint8_t> ys(y.begin(), y.begin() + 2000);
  EXPECT_GT(pair_auroc(xs, ys), 0.6);
  EXPECT_NEAR(pair_auroc(rs, ys), pair_auroc(xs, ys), 1e-9);
}

// Logits that rank validation ticks in reverse: the fit keeps a small positive slope rather
// than flipping the model's order.
TEST(TrainerTest, PlattNeverReversesTheOrder) {
  const auto [x, y] = platt_sample(6, 5'000, -4.0f, 4.0f, -1.0, 0.0);
  const Calibration c = fit_platt(x, y);
  EXPECT_GT(c.platt_a, 0.0f);
  EXPECT_LT(c.apply(-1.0), c.apply(1.0));
}

TEST(TrainerTest, MaskingNeverDropsEverything) {
  const std::vector<double> always = {1.0, 1.0, 1.0};
  for (uint32_t e = 0; e < 500; ++e) {
    const uint32_t keep = masking_keep(0b111, always, 1, 1, e);
    EXPECT_EQ(std::popcount(keep), 1) << e;
    EXPECT_EQ(keep & ~0b111u, 0u);
  }
  const std::vector<double> never = {0.0, 0.0, 0.0};
  EXPECT_EQ(masking_keep(0b101, never, 1, 1, 7), 0b101u);
  // About a quarter of present modalities dropped at p = 0.25.
  const std::vector<double> quarter = {0.25, 0.25, 0.25};
  int dropped = 0;
  for (uint32_t e = 0; e < 4000; ++e)
    dropped += 3 - std::popcount(masking_keep(0b111, quarter, 5, 2, e));
  EXPECT_NEAR(dropped / 12000.0, 0.25, 0.03);
  EXPECT_EQ(masking_keep(0b111, quarter, 5, 2, 17), masking_keep(0b111, quarter, 5, 2, 17));
}

class TrainerStrategyTest : public ::testing::TestWithParam<Strategy> {};

TEST_P(TrainerStrategyTest, LearnsAndIsDeterministicAcrossThreads) {
  Fixture f;
  fill(f);
  std::vector<std::vector<float>> weights;
  for (uint32_t threads : {1u, 2u}) {
    auto model = init_model(small_arch(GetParam()), f.config, 4);
    ASSERT_TRUE(model);
    TrainOptions o;
    o.epochs = 12;
    o.batch = 40;
    o.learning_rate = 1e-2;
    o.patience = 12;
    o.masking = {0.25, 0.25, 0.25};
    o.threads = threads;
    auto summary = train_model(model.value(), f.data, o, hooks());
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_GT(summary.value().best_val_auroc, 0.85) << to_string(GetParam());
    const std::vector<uint32_t> test = f.data.indices(Split::test);
    std::vector<double> logit(test.size());
    std::vector<uint8_t> label(test.size());
    for (std::size_t i = 0; i < test.size(); ++i) label[i] = f.data.examples[test[i]].label;
    predict_logits(model.value(), f.data, test, 0, threads, logit);
    EXPECT_GT(pair_auroc(logit, label), 0.8);
    const auto w = model.value().weights.values();
    weights.emplace_back(w.begin(), w.end());
  }
  EXPECT_EQ(weights[0], weights[1]);
}

TEST(TrainerTest, RejectsSplitsWithoutBothClasses) {
  Fixture f;
  fill(f);
  for (Example& e : f.data.examples) {
    if (e.split == Split::validation) e.label = 0;
  }
  auto model = init_model(small_arch(Strategy::late), f.config, 1);
  ASSERT_TRUE(model);
  auto summary = train_model(model.value(), f.data, TrainOptions{}, hooks());
  ASSERT_FALSE(summary);
  EXPECT_NE(summary.error().message.find("validation"), std::string::npos);
}

TEST(TrainerTest, DivergingRunIsAnErrorNamingTheLearningRate) {
  Fixture f;
  fill(f);
  auto model = init_model(small_arch(Strategy::late), f.config, 1);
  ASSERT_TRUE(model);
  TrainOptions o;
  o.epochs = 3;
  o.batch = 40;
  o.learning_rate = 1e6;  // every step overshoots until the weights overflow
  o.clip_norm = 0;
  auto summary = train_model(model.value(), f.data, o, hooks());
  ASSERT_FALSE(summary);
  EXPECT_NE(summary.error().message.find("diverged"), std::string::npos) << summary.error().message;
  EXPECT_NE(summary.error().message.find("learning_rate"), std::string::npos);
}

// A batch setting above the training split's size is one full batch, the same training as a
// batch of exactly the split; it allocated a gradient buffer and a scratch per chunk of 32
// examples of the setting (here 32,768 of each, gigabytes for a default-sized model) for
// examples that do not exist.
TEST(TrainerTest, BatchLargerThanTheTrainingSplitAllocatesForTheSplit) {
  Fixture f;
  fill(f);
  const auto train = [&](uint32_t batch, uint64_t& allocations) {
    auto model = init_model(small_arch(Strategy::late), f.config, 2);
    EXPECT_TRUE(model);
    TrainOptions o;
    o.epochs = 2;
    o.batch = batch;
    o.threads = 1;  // every allocation on this thread, where they are counted
    test::start_counting();
    auto summary = train_model(model.value(), f.data, o, hooks());
    allocations = test::stop_counting();
    EXPECT_TRUE(summary) << summary.error().message;
    const auto w = model.value().weights.values();
    return std::vector<float>(w.begin(), w.end());
  };
  const auto split = static_cast<uint32_t>(f.data.indices(Split::train).size());
  uint64_t warm = 0, exact = 0, huge = 0;
  train(split, warm);  // one-time initialisations (the task scheduler's) out of the counts
  const std::vector<float> exact_weights = train(split, exact);
  const std::vector<float> huge_weights = train(1u << 20, huge);
  EXPECT_EQ(huge_weights, exact_weights);
  EXPECT_GT(exact, 0u);
  EXPECT_LE(huge, exact + 16) << "a batch of 2^20 allocated as for 2^20 examples, not " << split;
}

INSTANTIATE_TEST_SUITE_P(AllStrategies, TrainerStrategyTest, ::testing::ValuesIn(kAllStrategies),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace tfe
