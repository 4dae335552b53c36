#include "operators/fusion_model.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/snapshot.h"

namespace tfe {

RawFeatureShape ModelSchema::shape(std::size_t m) const {
  const ModelModality& mod = modalities[m];
  RawFeatureShape s;
  s.kind = mod.kind;
  s.channels = static_cast<uint32_t>(mod.channels.size());
  s.windows = static_cast<uint32_t>(windows_ms.size());
  s.dim = mod.dim;
  s.text_hash_dim = mod.kind == ModalityKind::text ? mod.text_hash_dim : 0;
  return s;
}

ModelSchema model_schema_from_config(const EngineConfig& config) {
  ModelSchema s;
  s.windows_ms = config.windows_ms;
  for (const ModalitySpec& spec : config.schema.specs()) {
    ModelModality m;
    m.name = spec.name;
    m.kind = spec.kind;
    if (spec.kind == ModalityKind::vitals) m.channels = spec.channels;
    if (spec.kind != ModalityKind::vitals) m.dim = spec.dim;
    if (spec.kind == ModalityKind::text) m.text_hash_dim = spec.text_hash_dim;
    if (spec.kind != ModalityKind::vitals) m.l2_normalize = spec.l2_normalize;
    s.modalities.push_back(std::move(m));
  }
  return s;
}

uint32_t MlpRef::width() const {
  uint32_t w = 0;
  for (const LinearRef& l : layers) w += l.out();
  return w;
}

namespace {

// Bounds that keep every offset and product within uint32.
constexpr uint32_t kMaxInputDim = 1u << 16;
constexpr std::size_t kMaxParams = std::size_t{1} << 26;  // 256 MiB of floats

Error schema_error(std::string message) { return make_error(Errc::schema, std::move(message)); }

LinearRef add_linear(ParamSet& p, const std::string& name, uint32_t out, uint32_t in, bool bias) {
  LinearRef l;
  l.w = p.add(name + ".w", out, in);
  if (bias) l.b = p.add(name + ".b", out, 1);
  return l;
}

// Hidden layers widths[first..] and the one-output layer, named prefix.l<i> and prefix.out.
MlpRef add_mlp(ParamSet& p, const std::string& prefix, uint32_t in,
               const std::vector<uint32_t>& widths, std::size_t first) {
  MlpRef mlp;
  for (std::size_t i = first; i < widths.size(); ++i) {
    mlp.layers.push_back(add_linear(p, fmt::format("{}.l{}", prefix, i + 1), widths[i], in, true));
    in = widths[i];
  }
  mlp.layers.push_back(add_linear(p, prefix + ".out", 1, in, true));
  return mlp;
}

Result<void> check_schema_usable(const ModelSchema& s) {
  if (s.modalities.empty()) return schema_error("model schema has no modality");
  if (s.modalities.size() > kMaxModalities) {
    return schema_error(fmt::format("model schema has {} modalities, at most {}",
                                    s.modalities.size(), kMaxModalities));
  }
  std::set<std::string> names;
  bool any_vitals = false;
  for (std::size_t m = 0; m < s.modalities.size(); ++m) {
    const ModelModality& mod = s.modalities[m];
    if (mod.name.empty()) return schema_error(fmt::format("modality {} has an empty name", m));
    if (!names.insert(mod.name).second) {
      return schema_error(fmt::format("modality '{}' appears twice", mod.name));
    }
    // A field the kind does not use must be unset: the model would otherwise carry a value that
    // nothing checks against the configuration's.
    const auto unused = [&](std::string_view field, uint64_t value) {
      return schema_error(
          fmt::format("modality '{}' ({}) sets {} = {}, which {} modalities do not use", mod.name,
                      to_string(mod.kind), field, value, to_string(mod.kind)));
    };
    const auto too_wide = [&](std::string_view field, uint64_t value) {
      return schema_error(fmt::format("modality '{}': {} = {} exceeds the largest input width, {}",
                                      mod.name, field, value, kMaxInputDim));
    };
    switch (mod.kind) {
      case ModalityKind::vitals:
        any_vitals = true;
        if (mod.channels.empty() || mod.channels.size() > kMaxChannels) {
          return schema_error(fmt::format("modality '{}' has {} channels, expected 1 to {}",
                                          mod.name, mod.channels.size(), kMaxChannels));
        }
        if (mod.dim != 0) return unused("dim", mod.dim);
        if (mod.text_hash_dim != 0) return unused("text_hash_dim", mod.text_hash_dim);
        // Vitals hold the default (true): a config cannot set it for them, so a model with false
        // would be refused against every config with a mismatch no config can fix.
        if (!mod.l2_normalize) {
          return schema_error(fmt::format(
              "modality '{}' (vitals) sets l2_normalize = false, which vitals modalities do not "
              "use (they hold the default, true)",
              mod.name));
        }
        break;
      case ModalityKind::text:
        if (!mod.channels.empty()) return unused("channels", mod.channels.size());
        if (mod.dim == 0 && mod.text_hash_dim == 0) {
          return schema_error(
              fmt::format("modality '{}' has neither dim nor text_hash_dim", mod.name));
        }
        // Each field alone, then their sum (in 64 bits: two u32 fields can wrap to a small one).
        if (mod.dim > kMaxInputDim) return too_wide("dim", mod.dim);
        if (mod.text_hash_dim > kMaxInputDim) return too_wide("text_hash_dim", mod.text_hash_dim);
        break;
      case ModalityKind::embedding:
        if (!mod.channels.empty()) return unused("channels", mod.channels.size());
        if (mod.text_hash_dim != 0) return unused("text_hash_dim", mod.text_hash_dim);
        if (mod.dim == 0) return schema_error(fmt::format("modality '{}' has dim 0", mod.name));
        if (mod.dim > kMaxInputDim) return too_wide("dim", mod.dim);
        break;
    }
    const uint64_t raw = s.shape(m).wide_raw_dim();
    if (raw > kMaxInputDim) {
      const std::string_view field =
          mod.kind == ModalityKind::text ? "dim + text_hash_dim" : "windows x channels x 7";
      return too_wide(field, raw);
    }
  }
  if (any_vitals && (s.windows_ms.empty() || s.windows_ms.size() > 8)) {
    return schema_error(
        fmt::format("vitals need 1 to 8 windows, schema has {}", s.windows_ms.size()));
  }
  return ok();
}

// splitmix64: a fixed, documented generator, identical on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-a, a), from the top 24 bits.
  float uniform(float a) {
    const float u = static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
    return (2.0f * u - 1.0f) * a;
  }

 private:
  uint64_t state_;
};

Result<void> check_workspace(const FusionModel& model) {
  const WorkspaceShape w = workspace_shape(model);
  const std::size_t bytes = w.floats * sizeof(float);
  if (bytes <= kMaxWorkspaceBytes) return ok();
  const ModelConfig& a = model.arch;
  return make_error(
      Errc::config,
      fmt::format("model needs {:.1f} MiB of scoring scratch per shard, at most {} MiB: {} token "
                  "slots (history_k = {}) x {} features (modality '{}'), stage width {} "
                  "(hidden[0] = {}, d_model = {}), head width {} (hidden = [{}]); lower "
                  "history_k, hidden or d_model, or the modality's width",
                  static_cast<double>(bytes) / (1 << 20), kMaxWorkspaceBytes >> 20, w.tokens,
                  a.history_k, w.input_width, model.schema.modalities[w.input_modality].name,
                  w.stage_width, a.hidden[0], a.d_model, w.mlp_width, fmt::join(a.hidden, ", ")));
}

}  // namespace

WorkspaceShape workspace_shape(const FusionModel& model) {
  const ModelConfig& a = model.arch;
  const ModelLayout& L = model.layout;
  const Strategy strategy = model.strategy();
  WorkspaceShape w;
  for (std::size_t m = 0; m < L.modalities.size(); ++m) {
    const bool history = strategy == Strategy::attention && a.history_k > 1 &&
                         model.schema.modalities[m].kind != ModalityKind::vitals;
    w.tokens += history ? a.history_k : 1;
    if (L.modalities[m].input_dim > w.input_width) {
      w.input_width = L.modalities[m].input_dim;
      w.input_modality = static_cast<uint32_t>(m);
    }
  }
  w.stage_width = strategy == Strategy::attention ? a.d_model : a.hidden[0];
  const MlpRef& head = strategy == Strategy::late ? L.modalities[0].head : L.head;
  w.mlp_width = (strategy == Strategy::attention ? 0 : a.hidden[0]) + head.width();
  w.mlp_rows = strategy == Strategy::late ? w.tokens : 1;
  const std::size_t n = w.tokens;
  // input, stage and first, timing
  std::size_t f = n * w.input_width + n * w.stage_width * 2 + n * L.timing_dim;
  if (strategy == Strategy::intermediate) f += n * (std::size_t{a.encoder_hidden} + a.d_model);
  if (strategy == Strategy::attention) {
    f += 2 * std::size_t{a.heads} * n + std::size_t{a.heads} * a.d_model + a.d_model;
  }
  f += 2 * std::size_t{w.mlp_rows} * w.mlp_width;                // mlp_pre, mlp_post
  f += std::size_t{a.hidden[0]} + 2 * std::size_t{w.mlp_width};  // scratch
  w.floats = f;
  return w;
}

Result<FusionModel> make_model_skeleton(const ModelConfig& arch, const ModelSchema& schema) {
  if (auto r = validate(arch); !r) return r.error();
  if (auto r = check_schema_usable(schema); !r) return r.error();

  FusionModel model;
  model.arch = arch;
  model.schema = schema;
  model.calibration = initial_calibration(arch.calibration);
  ModelLayout& L = model.layout;
  ParamSet& P = model.weights;
  ParamSet& S = model.stats;
  const uint32_t T = timing_dim(arch);
  const uint32_t H1 = arch.hidden[0];
  const uint32_t d = arch.d_model;
  L.timing_dim = T;

  for (std::size_t m = 0; m < schema.modalities.size(); ++m) {
    const ModelModality& mod = schema.modalities[m];
    const std::string& n = mod.name;
    ModalityLayout ml;
    ml.input_dim = schema.shape(m).raw_dim();
    ml.t2v_w = P.add(fmt::format("time.{}.w", n), 1 + arch.time2vec_k, 1);
    ml.t2v_b = P.add(fmt::format("time.{}.b", n), 1 + arch.time2vec_k, 1);
    switch (arch.strategy) {
      case Strategy::early:
        ml.stage_dim = H1;
        ml.proj = add_linear(P, fmt::format("early.{}.x", n), H1, ml.input_dim, false);
        ml.time = P.add(fmt::format("early.{}.time.w", n), H1, T);
        ml.presence = P.add(fmt::format("early.{}.presence", n), H1, 1);
        break;
      case Strategy::intermediate:
        ml.stage_dim = H1;
        ml.enc1 =
            add_linear(P, fmt::format("inter.{}.enc1", n), arch.encoder_hidden, ml.input_dim, true);
        ml.enc2 = add_linear(P, fmt::format("inter.{}.enc2", n), d, arch.encoder_hidden, true);
        ml.proj = add_linear(P, fmt::format("inter.{}.z", n), H1, d, false);
        ml.time = P.add(fmt::format("inter.{}.time.w", n), H1, T);
        ml.presence = P.add(fmt::format("inter.{}.presence", n), H1, 1);
        break;
      case Strategy::late:
        ml.stage_dim = H1;
        ml.proj = add_linear(P, fmt::format("late.{}.x", n), H1, ml.input_dim, false);
        ml.time = P.add(fmt::format("late.{}.time.w", n), H1, T);
        ml.bias = P.add(fmt::format("late.{}.bias", n), H1, 1);
        ml.head = add_mlp(P, fmt::format("late.{}.head", n), H1, arch.hidden, 1);
        ml.gate_a = P.add(fmt::format("late.{}.gate.a", n), 1, 1);
        ml.gate_decay = P.add(fmt::format("late.{}.gate.decay", n), 1, 1);
        break;
      case Strategy::attention:
        ml.stage_dim = d;
        ml.proj = add_linear(P, fmt::format("attn.{}.proj", n), d, ml.input_dim, false);
        ml.time = P.add(fmt::format("attn.{}.time.w", n), d, T);
        ml.bias = P.add(fmt::format("attn.{}.embed", n), d, 1);
        break;
    }
    if (mod.kind == ModalityKind::vitals) {
      ml.mean = S.add(fmt::format("stats.{}.mean", n), ml.input_dim, 1);
      ml.std = S.add(fmt::format("stats.{}.std", n), ml.input_dim, 1);
    } else if (mod.kind == ModalityKind::text && mod.text_hash_dim > 0) {
      ml.idf = S.add(fmt::format("stats.{}.idf", n), mod.text_hash_dim, 1);
    }
    L.modalities.push_back(ml);
  }
  switch (arch.strategy) {
    case Strategy::early:
    case Strategy::intermediate: {
      const char* prefix = arch.strategy == Strategy::early ? "early" : "inter";
      L.in_bias = P.add(fmt::format("{}.bias", prefix), H1, 1);
      L.head = add_mlp(P, "head", H1, arch.hidden, 1);
      break;
    }
    case Strategy::late:
      break;
    case Strategy::attention:
      L.query = P.add("attn.query", d, 1);
      L.key = P.add("attn.key.w", d, d);
      L.value = P.add("attn.value.w", d, d);
      L.head = add_mlp(P, "head", d, arch.hidden, 0);
      break;
  }
  // Checked before any storage exists: a hostile file cannot make the loader allocate much.
  if (P.size() > kMaxParams || S.size() > kMaxParams) {
    return schema_error(fmt::format("model has {} parameters, at most {}", P.size(), kMaxParams));
  }
  if (auto r = check_workspace(model); !r) return r.error();
  P.allocate();
  S.allocate();
  for (const ModalityLayout& ml : L.modalities) {
    if (ml.std.size() > 0) std::fill_n(S.values().begin() + ml.std.offset, ml.std.size(), 1.0f);
    if (ml.idf.size() > 0) std::fill_n(S.values().begin() + ml.idf.offset, ml.idf.size(), 1.0f);
  }
  return model;
}

Result<FusionModel> init_model(const ModelConfig& arch, const EngineConfig& config, uint64_t seed) {
  auto skeleton = make_model_skeleton(arch, model_schema_from_config(config));
  if (!skeleton) return skeleton.error();
  FusionModel model = std::move(skeleton).value();
  Rng rng(seed);
  // Matrices (cols > 1): Xavier-uniform. Time2Vec: frequencies and phases spread over [-1, 1]
  // and [-pi, pi]. Layer biases (`.b`): zero. Every other vector (attention query, modality
  // embeddings, presence, first-layer biases `*.bias`, gates) and one-column matrices: small
  // uniform, so that untrained models already depend on every input.
  for (const TensorInfo& t : model.weights.tensors()) {
    std::span<float> v = model.weights.view(t.ref);
    const bool is_bias = t.name.ends_with(".b") && !t.name.starts_with("time.");
    if (is_bias) continue;
    float a = 0.1f;
    if (t.ref.cols > 1) {
      a = std::sqrt(6.0f / static_cast<float>(t.ref.rows + t.ref.cols));
    } else if (t.name.starts_with("time.") && t.name.ends_with(".w")) {
      a = 1.0f;
    } else if (t.name.starts_with("time.")) {
      a = 3.14159265f;
    }
    for (float& x : v) x = rng.uniform(a);
  }
  model.metadata["name"] = fmt::format("{}-init-{}", to_string(arch.strategy), seed);
  model.metadata["init_seed"] = std::to_string(seed);
  return model;
}

Result<void> check_schema(const ModelSchema& model, const ModelSchema& config) {
  auto names = [](const ModelSchema& s) {
    std::vector<std::string> n;
    for (const ModelModality& m : s.modalities) n.push_back(m.name);
    return fmt::format("{}", fmt::join(n, ", "));
  };
  if (model.modalities.size() != config.modalities.size()) {
    return schema_error(fmt::format("model expects {} modalities ({}), config has {} ({})",
                                    model.modalities.size(), names(model), config.modalities.size(),
                                    names(config)));
  }
  bool any_vitals = false;
  for (std::size_t i = 0; i < model.modalities.size(); ++i) {
    const ModelModality& a = model.modalities[i];
    const ModelModality& b = config.modalities[i];
    if (a.name != b.name) {
      return schema_error(fmt::format("model expects modality '{}' at position {}, config has '{}'",
                                      a.name, i + 1, b.name));
    }
    if (a.kind != b.kind) {
      return schema_error(fmt::format("model expects modality '{}' of kind {}, config has {}",
                                      a.name, to_string(a.kind), to_string(b.kind)));
    }
    if (a.dim != b.dim) {
      return schema_error(fmt::format("model expects modality '{}' with dim {}, config has {}",
                                      a.name, a.dim, b.dim));
    }
    if (a.text_hash_dim != b.text_hash_dim) {
      return schema_error(
          fmt::format("model expects modality '{}' with text_hash_dim {}, config has {}", a.name,
                      a.text_hash_dim, b.text_hash_dim));
    }
    if (a.l2_normalize != b.l2_normalize) {
      return schema_error(
          fmt::format("model expects modality '{}' with l2_normalize = {}, config has {}", a.name,
                      a.l2_normalize, b.l2_normalize));
    }
    if (a.channels.size() != b.channels.size()) {
      return schema_error(fmt::format("model expects modality '{}' with {} channels, config has {}",
                                      a.name, a.channels.size(), b.channels.size()));
    }
    for (std::size_t c = 0; c < a.channels.size(); ++c) {
      if (a.channels[c] != b.channels[c]) {
        return schema_error(
            fmt::format("model expects modality '{}' channel {} to be '{}', config has '{}'",
                        a.name, c + 1, a.channels[c], b.channels[c]));
      }
    }
    any_vitals = any_vitals || a.kind == ModalityKind::vitals;
  }
  if (any_vitals && model.windows_ms != config.windows_ms) {
    return schema_error(fmt::format("model expects vitals windows [{}] ms, config has [{}]",
                                    fmt::join(model.windows_ms, ", "),
                                    fmt::join(config.windows_ms, ", ")));
  }
  return ok();
}

}  // namespace tfe
