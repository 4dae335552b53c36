#pragma once
// Shared fixtures of the fusion tests and benchmark: the default modalities, random models and
// random snapshots in both feature forms (raw, and staged through the operator's encoders).

#include <cmath>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/config.h"
#include "engine/event.h"
#include "engine/snapshot.h"
#include "operators/fusion_model.h"
#include "operators/fusion_operator.h"

namespace tfe::test {

// splitmix64, uniform floats.
class TestRng {
 public:
  explicit TestRng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
  }
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
  bool chance(float p) { return uniform(0.0f, 1.0f) < p; }

 private:
  uint64_t s_;
};

struct DefaultDims {
  uint32_t channels = 6;
  uint32_t text_hash_dim = 256;
  uint32_t text_embedding_dim = 0;  // upstream embedding of the text modality (0: none)
  uint32_t imaging_dim = 512;
};

// wearables (vitals), notes (text), imaging (embedding): the default deployment's shapes.
inline EngineConfig default_engine_config(DefaultDims dims = {}) {
  static const char* kChannels[] = {"hr", "spo2", "rr", "temp", "sbp", "activity",
                                    "c6", "c7",   "c8", "c9",   "c10", "c11"};
  std::vector<ModalitySpec> specs(3);
  specs[0].name = "wearables";
  specs[0].kind = ModalityKind::vitals;
  for (uint32_t c = 0; c < dims.channels; ++c) specs[0].channels.push_back(kChannels[c]);
  specs[1].name = "notes";
  specs[1].kind = ModalityKind::text;
  specs[1].dim = dims.text_embedding_dim;
  specs[1].text_hash_dim = dims.text_hash_dim;
  specs[2].name = "imaging";
  specs[2].kind = ModalityKind::embedding;
  specs[2].dim = dims.imaging_dim;
  EngineConfig config;
  config.schema = ModalitySchema(std::move(specs));
  return config;
}

// Every weight uniform in +-1/sqrt(fan_in) (vectors: +-0.5), statistics plausible (std > 0,
// IDF > 0), Platt coefficients random.
inline void randomize(FusionModel& model, uint64_t seed) {
  TestRng rng(seed);
  for (const TensorInfo& t : model.weights.tensors()) {
    const float a = t.ref.cols > 1 ? 1.0f / std::sqrt(static_cast<float>(t.ref.cols)) : 0.5f;
    for (float& v : model.weights.view(t.ref)) v = rng.uniform(-a, a);
  }
  for (const TensorInfo& t : model.stats.tensors()) {
    const bool positive = t.name.ends_with(".std") || t.name.ends_with(".idf");
    for (float& v : model.stats.view(t.ref)) {
      v = positive ? rng.uniform(0.5f, 2.0f) : rng.uniform(-1.0f, 1.0f);
    }
  }
  model.calibration.platt_a = rng.uniform(0.5f, 1.5f);
  model.calibration.platt_b = rng.uniform(-0.5f, 0.5f);
}

inline std::shared_ptr<FusionModel> random_model(const ModelConfig& arch,
                                                 const EngineConfig& config, uint64_t seed) {
  auto m = make_model_skeleton(arch, model_schema_from_config(config));
  if (!m) return nullptr;
  auto model = std::make_shared<FusionModel>(std::move(m).value());
  randomize(*model, seed);
  return model;
}

inline std::string random_text(TestRng& rng) {
  static const char* kWords[] = {"Patient", "stable", "overnight", "SOB",     "worsening",
                                 "fever",   "38.5C",  "lactate",   "2.1",     "on",
                                 "O2",      "review", "chest",     "x-ray",   "clear",
                                 "café",    "no",     "new",       "concerns"};
  std::string s;
  const uint32_t n = 3 + rng.below(20);
  for (uint32_t i = 0; i < n; ++i) {
    if (i) s += rng.chance(0.2f) ? ", " : " ";
    s += kWords[rng.below(sizeof kWords / sizeof kWords[0])];
  }
  return s;
}

// One patient's snapshot in both forms, with the storage its spans point into.
struct SnapshotCase {
  std::vector<std::vector<std::vector<float>>> raw, staged;  // [modality][history item][features]
  std::vector<std::vector<int64_t>> ages_ms;                 // [modality][history item]
  std::vector<std::vector<HistoryItem>> raw_items, staged_items;
  std::vector<ModalitySnapshot> raw_mods, staged_mods;
  std::vector<bool> present;
  int64_t time_ms = 1'700'000'000'000;

  Snapshot raw_snapshot() const { return Snapshot{0, time_ms, raw_mods}; }
  Snapshot staged_snapshot() const { return Snapshot{0, time_ms, staged_mods}; }

  // Rebuilds spans after the vectors changed (call after editing raw/staged/ages/present).
  void link() {
    const std::size_t n = raw.size();
    raw_items.assign(n, {});
    staged_items.assign(n, {});
    raw_mods.assign(n, {});
    staged_mods.assign(n, {});
    for (std::size_t m = 0; m < n; ++m) {
      for (std::size_t j = 0; j < raw[m].size(); ++j) {
        raw_items[m].push_back(HistoryItem{ages_ms[m][j], raw[m][j]});
        staged_items[m].push_back(HistoryItem{ages_ms[m][j], staged[m][j]});
      }
      for (int form = 0; form < 2; ++form) {
        ModalitySnapshot& ms = form == 0 ? raw_mods[m] : staged_mods[m];
        const auto& items = form == 0 ? raw_items[m] : staged_items[m];
        ms.present = present[m];
        if (!present[m]) continue;
        ms.age_ms = ages_ms[m][0];
        ms.event_time_ms = time_ms - ms.age_ms;
        ms.features = items[0].features;
        ms.history = items;
      }
    }
  }
};

// Random vitals window statistics [windows][channels][7]; about one channel-window in five has
// no sample (count 0, all zeros).
inline std::vector<float> random_vitals(TestRng& rng, uint32_t windows, uint32_t channels) {
  std::vector<float> v;
  for (uint32_t i = 0; i < windows * channels; ++i) {
    if (rng.chance(0.2f)) {
      v.insert(v.end(), kWindowStatCount, 0.0f);
      continue;
    }
    const float centre = rng.uniform(-2.0f, 2.0f);
    const float spread = rng.uniform(0.0f, 1.0f);
    v.push_back(centre + rng.uniform(-spread, spread));  // last
    v.push_back(centre);                                 // mean
    v.push_back(spread);                                 // std
    v.push_back(centre - spread);                        // min
    v.push_back(centre + spread);                        // max
    v.push_back(rng.uniform(-0.1f, 0.1f));               // slope
    v.push_back(static_cast<float>(1 + rng.below(60)));  // count
  }
  return v;
}

inline Event random_event(TestRng& rng, const ModelModality& mod) {
  Event e;
  if (mod.kind == ModalityKind::text) {
    if (mod.dim > 0 && rng.chance(0.5f)) {
      for (uint32_t i = 0; i < mod.dim; ++i) e.embedding.push_back(rng.uniform(-1.0f, 1.0f));
    } else {
      e.text = random_text(rng);
    }
  } else {
    for (uint32_t i = 0; i < mod.dim; ++i) e.embedding.push_back(rng.uniform(-1.0f, 1.0f));
  }
  return e;
}

// present[m] decides presence; `items` events per non-vitals modality (newest first, ages
// increasing). Staged features come from the staged operator's own encoders.
inline SnapshotCase random_case(TestRng& rng, const FusionOperator& staged_op,
                                const std::vector<bool>& present, uint32_t items = 1) {
  const FusionModel& model = staged_op.model();
  const ModelSchema& schema = model.schema;
  SnapshotCase c;
  const std::size_t n = schema.modalities.size();
  c.raw.resize(n);
  c.staged.resize(n);
  c.ages_ms.resize(n);
  c.present = present;
  for (std::size_t m = 0; m < n; ++m) {
    const ModelModality& mod = schema.modalities[m];
    const uint32_t k = mod.kind == ModalityKind::vitals ? 1 : items;
    int64_t age = static_cast<int64_t>(rng.below(3'600'000));
    for (uint32_t j = 0; j < k; ++j) {
      c.ages_ms[m].push_back(age);
      age += 1 + static_cast<int64_t>(rng.below(86'400'000));
      if (mod.kind == ModalityKind::vitals) {
        c.raw[m].push_back(random_vitals(rng, static_cast<uint32_t>(schema.windows_ms.size()),
                                         static_cast<uint32_t>(mod.channels.size())));
        c.staged[m].push_back(c.raw[m].back());
        continue;
      }
      const Event e = random_event(rng, mod);
      RawEncoder raw_encoder(schema.shape(m));
      c.raw[m].emplace_back(raw_encoder.dim());
      raw_encoder.encode(e, c.raw[m].back());
      const auto& encoder = staged_op.spec().needs[m].encoder;
      c.staged[m].emplace_back(encoder->dim());
      encoder->encode(e, c.staged[m].back());
    }
  }
  c.link();
  return c;
}

// One parameter of the per-strategy test suites: an architecture, the deployment's shapes and how
// many history items a snapshot carries.
struct ModelVariant {
  const char* name;
  ModelConfig arch;
  DefaultDims dims;
  uint32_t history_items = 1;
};

inline void PrintTo(const ModelVariant& v, std::ostream* os) {
  *os << to_string(v.arch.strategy) << "/" << v.name;
}

// "attention_history3": a test name.
inline std::string variant_name(const ::testing::TestParamInfo<ModelVariant>& info) {
  return std::string(to_string(info.param.arch.strategy)) + "_" + info.param.name;
}

}  // namespace tfe::test
