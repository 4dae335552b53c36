#include "operators/fusion_forward.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include <Eigen/Core>

#include "operators/matvec.h"
#include "operators/model_file.h"

namespace tfe {

namespace {

// Matrices are read from DerivedWeights::colmajor (column-major copies: a column-major
// matrix-vector kernel is the faster one at these sizes, operators/matvec.h); vectors are
// identical in both buffers.
using ConstVec = Eigen::Map<const Eigen::VectorXf>;
using Vec = Eigen::Map<Eigen::VectorXf>;

ConstVec vec(const float* base, TensorRef t) { return ConstVec(base + t.offset, t.size()); }

// y [rows] (+)= W x; x [cols]. Narrow matrices (timing projections) and single rows (output
// layers) are done inline: at these sizes the general kernel's call overhead dominates.
template <bool kAccumulate>
void matvec(const float* w, TensorRef t, const float* x, float* y) {
  Vec out(y, t.rows);
  if (t.rows == 1) {
    const float v = ConstVec(w + t.offset, t.cols).dot(ConstVec(x, t.cols));
    y[0] = kAccumulate ? y[0] + v : v;
  } else if (t.cols <= 8) {
    if (!kAccumulate) out.setZero();
    for (uint32_t j = 0; j < t.cols; ++j) {
      out += ConstVec(w + t.offset + std::size_t{j} * t.rows, t.rows) * x[j];
    }
  } else {
    detail::matvec_colmajor(w + t.offset, t.rows, t.cols, t.rows, x, y, kAccumulate);
  }
}

// y [out] = W x (+ b); x [in].
void linear(const float* w, const LinearRef& l, const float* x, float* y) {
  matvec<false>(w, l.w, x, y);
  if (l.b) Vec(y, l.out()) += vec(w, *l.b);
}

// Hidden activations are capped: with weights within kMaxWeight each layer can multiply a
// magnitude by up to kMaxWeight x its width, so eight layers of huge-but-valid weights would
// overflow to inf and then NaN (inf - inf). Below the cap no layer's output can overflow
// (kMaxActivation x kMaxWeight x kMaxHiddenWidth < FLT_MAX); trained activations never reach it.
constexpr float kMaxActivation = 1e20f;
static_assert(double{kMaxActivation} * kMaxWeight * kMaxHiddenWidth < 3.4e38);

void relu(const float* pre, float* post, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i)
    post[i] = pre[i] > 0.0f ? std::min(pre[i], kMaxActivation) : 0.0f;
}

// Runs an MLP on an activated input; pre/post receive [mlp.width()] activations (post of the
// last layer = its pre: the logit). Returns the logit.
float run_mlp(const float* w, const MlpRef& mlp, const float* input, float* pre, float* post) {
  const float* x = input;
  for (std::size_t i = 0; i < mlp.layers.size(); ++i) {
    const LinearRef& l = mlp.layers[i];
    linear(w, l, x, pre);
    if (i + 1 == mlp.layers.size()) {
      post[0] = pre[0];
      return pre[0];
    }
    relu(pre, post, l.out());
    x = post;
    pre += l.out();
    post += l.out();
  }
  return 0.0f;
}

// log1p of a sample count: a table for the small whole counts that windows hold, bit-identical
// to std::log1p (the table is built with it).
float log1p_count(float count) {
  constexpr int kTable = 4096;
  static const std::array<float, kTable> table = [] {
    std::array<float, kTable> t;
    for (int i = 0; i < kTable; ++i) t[i] = std::log1p(static_cast<float>(i));
    return t;
  }();
  // Range first: converting a float outside int's range (a huge or NaN count) is undefined.
  if (count >= 0.0f && count < static_cast<float>(kTable)) {
    const int i = static_cast<int>(count);
    if (static_cast<float>(i) == count) return table[i];
  }
  return std::log1p(count);
}

float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

// In place over n values; max-subtracted.
void softmax(float* v, uint32_t n) {
  if (n == 0) return;
  float mx = v[0];
  for (uint32_t i = 1; i < n; ++i) mx = std::max(mx, v[i]);
  float sum = 0.0f;
  for (uint32_t i = 0; i < n; ++i) {
    v[i] = std::exp(v[i] - mx);
    sum += v[i];
  }
  const float inv = 1.0f / sum;
  for (uint32_t i = 0; i < n; ++i) v[i] *= inv;
}

void l2_normalize(float* v, uint32_t n) {
  float ss = 0.0f;
  for (uint32_t i = 0; i < n; ++i) ss += v[i] * v[i];
  if (ss > 0.0f) {
    const float inv = 1.0f / std::sqrt(ss);
    for (uint32_t i = 0; i < n; ++i) v[i] *= inv;
  }
}

bool uses_history(const FusionModel& model, std::size_t m) {
  return model.strategy() == Strategy::attention && model.arch.history_k > 1 &&
         model.schema.modalities[m].kind != ModalityKind::vitals;
}

}  // namespace

DerivedWeights derive_weights(const FusionModel& model) {
  DerivedWeights d;
  const ModelConfig& a = model.arch;
  const std::span<const float> w = model.weights.values();
  d.colmajor.assign(w.begin(), w.end());
  for (const TensorInfo& t : model.weights.tensors()) {
    const TensorRef r = t.ref;
    for (uint32_t i = 0; i < r.rows; ++i) {
      for (uint32_t j = 0; j < r.cols; ++j) {
        d.colmajor[r.offset + std::size_t{j} * r.rows + i] =
            w[r.offset + std::size_t{i} * r.cols + j];
      }
    }
  }
  if (model.strategy() == Strategy::attention) {
    const uint32_t dm = a.d_model, dh = a.d_model / a.heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
    d.key_query.assign(std::size_t{a.heads} * dm, 0.0f);
    const float* key = w.data() + model.layout.key.offset;
    const float* query = w.data() + model.layout.query.offset;
    for (uint32_t h = 0; h < a.heads; ++h) {
      for (uint32_t j = 0; j < dm; ++j) {
        float s = 0.0f;
        for (uint32_t i = h * dh; i < (h + 1) * dh; ++i) s += key[i * dm + j] * query[i];
        d.key_query[h * dm + j] = s * scale;
      }
    }
  }
  if (model.strategy() == Strategy::late) {
    for (const ModalityLayout& ml : model.layout.modalities) {
      d.late_gate_decay.push_back(softplus(w[ml.gate_decay.offset]));
    }
  }
  if (a.sinusoidal) {
    const uint32_t half = a.sinusoidal_dim / 2;
    for (uint32_t j = 0; j < half; ++j) {
      d.sin_freq.push_back(
          static_cast<float>(std::pow(100.0, -static_cast<double>(j) / static_cast<double>(half))));
    }
  }
  return d;
}

float log_age(int64_t age_ms) {
  return std::log1p(static_cast<float>(std::max<int64_t>(age_ms, 0)) * 0.001f);
}

void encode_time(const FusionModel& model, const DerivedWeights& derived, std::size_t m, float tau,
                 std::span<float> out) {
  const float* w = model.weights.values().data();
  const ModalityLayout& ml = model.layout.modalities[m];
  const float* tw = w + ml.t2v_w.offset;
  const float* tb = w + ml.t2v_b.offset;
  const uint32_t k = model.arch.time2vec_k;
  out[0] = tw[0] * tau + tb[0];
  for (uint32_t i = 1; i <= k; ++i) out[i] = std::sin(tw[i] * tau + tb[i]);
  for (std::size_t j = 0; j < derived.sin_freq.size(); ++j) {
    out[1 + k + 2 * j] = std::sin(derived.sin_freq[j] * tau);
    out[2 + k + 2 * j] = std::cos(derived.sin_freq[j] * tau);
  }
}

namespace {
// Bounds on prepared inputs: a reading of 3.4e38 is a valid float, and unbounded it overflowed
// the projections into NaN risks. No real reading comes near: a vitals statistic 1000 standard
// deviations from the training mean, or an embedding component of a million.
constexpr float kMaxZ = 1000.0f;
constexpr float kMaxEmbedding = 1e6f;
void clamp_span(float* x, uint32_t n, float bound) {
  for (uint32_t i = 0; i < n; ++i) x[i] = std::clamp(x[i], -bound, bound);
}
}  // namespace

void prepare_input(const FusionModel& model, std::size_t m, std::span<const float> raw,
                   std::span<float> out) {
  const ModelModality& mod = model.schema.modalities[m];
  const ModalityLayout& ml = model.layout.modalities[m];
  const float* s = model.stats.values().data();
  const uint32_t n = ml.input_dim;
  assert(raw.size() == n && out.size() == n);
  switch (mod.kind) {
    case ModalityKind::vitals: {
      // Groups of kWindowStatCount: last, mean, std, min, max, slope, count. A channel with no
      // sample in the window (count 0) has its value statistics at the population mean (0) and
      // tells its absence through the normalised log1p(count).
      const float* mean = s + ml.mean.offset;
      const float* sd = s + ml.std.offset;
      constexpr uint32_t kStats = kWindowStatCount;
      for (uint32_t i = 0; i < n; ++i) {
        out[i] = std::clamp((raw[i] - mean[i]) / sd[i], -kMaxZ, kMaxZ);  // vectorises
      }
      for (uint32_t g = 0; g < n; g += kStats) {
        const float count = raw[g + kStats - 1];
        const bool seen = count > 0.0f;
        for (uint32_t i = g; i + 1 < g + kStats; ++i) {
          if (!seen || !std::isfinite(raw[i])) out[i] = 0.0f;
        }
        const uint32_t c = g + kStats - 1;
        out[c] = std::clamp((log1p_count(seen ? count : 0.0f) - mean[c]) / sd[c], -kMaxZ, kMaxZ);
      }
      return;
    }
    case ModalityKind::text: {
      std::copy(raw.begin(), raw.begin() + mod.dim, out.begin());
      clamp_span(out.data(), mod.dim, kMaxEmbedding);
      if (mod.text_hash_dim > 0) {
        const float* idf = s + ml.idf.offset;
        for (uint32_t i = 0; i < mod.text_hash_dim; ++i)
          out[mod.dim + i] = raw[mod.dim + i] * idf[i];
        clamp_span(out.data() + mod.dim, mod.text_hash_dim, kMaxEmbedding);
      }
      if (mod.l2_normalize) {
        l2_normalize(out.data(), mod.dim);
        l2_normalize(out.data() + mod.dim, mod.text_hash_dim);
      }
      return;
    }
    case ModalityKind::embedding:
      std::copy(raw.begin(), raw.end(), out.begin());
      clamp_span(out.data(), n, kMaxEmbedding);
      if (mod.l2_normalize) l2_normalize(out.data(), n);
      return;
  }
}

void feature_stage(const FusionModel& model, const DerivedWeights& derived, std::size_t m,
                   std::span<const float> input, std::span<float> out, std::span<float> enc_hidden,
                   std::span<float> latent) {
  const float* w = derived.colmajor.data();
  const ModalityLayout& ml = model.layout.modalities[m];
  if (model.strategy() == Strategy::intermediate) {
    // enc_hidden keeps the post-relu activation (its zeros are the relu mask).
    linear(w, ml.enc1, input.data(), enc_hidden.data());
    relu(enc_hidden.data(), enc_hidden.data(), ml.enc1.out());
    linear(w, ml.enc2, enc_hidden.data(), latent.data());
    linear(w, ml.proj, latent.data(), out.data());
  } else {
    linear(w, ml.proj, input.data(), out.data());
  }
}

Workspace::Workspace(const FusionModel& model) {
  const ModelConfig& a = model.arch;
  const WorkspaceShape shape = workspace_shape(model);
  const std::size_t cap = shape.tokens;
  capacity = shape.tokens;
  input_width = shape.input_width;
  stage_width = shape.stage_width;
  first_width = stage_width;
  const bool inter = model.strategy() == Strategy::intermediate;
  input.assign(cap * input_width, 0.0f);
  enc_hidden.assign(inter ? cap * a.encoder_hidden : 0, 0.0f);
  latent.assign(inter ? cap * a.d_model : 0, 0.0f);
  stage.assign(cap * stage_width, 0.0f);
  timing.assign(cap * model.layout.timing_dim, 0.0f);
  first.assign(cap * first_width, 0.0f);
  if (model.strategy() == Strategy::attention) {
    attn_score.assign(std::size_t{a.heads} * cap, 0.0f);
    attn_prob.assign(std::size_t{a.heads} * cap, 0.0f);
    attn_mix.assign(std::size_t{a.heads} * a.d_model, 0.0f);
    context.assign(a.d_model, 0.0f);
  }
  mlp_width = shape.mlp_width;
  mlp_pre.assign(std::size_t{shape.mlp_rows} * mlp_width, 0.0f);
  mlp_post.assign(std::size_t{shape.mlp_rows} * mlp_width, 0.0f);
  scratch.assign(std::size_t{a.hidden[0]} + 2 * std::size_t{mlp_width}, 0.0f);
}

namespace {

// A pass fuses a subset of the tokens: all of them, or all but one modality's (forward_masked).
// What depends on one token alone is computed once per snapshot by token_rows(); combine() then
// fuses the subset, reading those rows in token order, so a masked pass does exactly what a
// forward() of the masked snapshot would and gives the same bits.
using TokenSubset = std::span<const uint8_t>;
static_assert(kMaxTokens <= 256, "token indices are bytes");
// 0, 1, 2, ...: the subset of a full pass.
constexpr std::array<uint8_t, kMaxTokens> kAllTokens = [] {
  std::array<uint8_t, kMaxTokens> order{};
  for (std::size_t t = 0; t < order.size(); ++t) order[t] = static_cast<uint8_t>(t);
  return order;
}();

// Early and intermediate: the token's additive contribution to the first layer, stage +
// presence + time x timing. Late: the first layer's pre-activation and the head's logit, and the
// gate's score a_m - softplus(decay_m) * tau before the softmax. Attention: the token vector,
// stage + modality embedding + time x timing, and each head's score of it.
void token_rows(const FusionModel& model, const DerivedWeights& derived, Workspace& ws) {
  const float* w = derived.colmajor.data();
  const ModelLayout& L = model.layout;
  const uint32_t T = L.timing_dim;
  const Strategy strategy = model.strategy();
  const uint32_t width =
      strategy == Strategy::attention ? model.arch.d_model : model.arch.hidden[0];
  for (uint32_t t = 0; t < ws.n_tokens; ++t) {
    const std::size_t m = ws.token_modality[t];
    const ModalityLayout& ml = L.modalities[m];
    const float* timing = ws.timing.data() + std::size_t{t} * T;
    if (strategy == Strategy::late) {
      float* pre = ws.mlp_pre.data() + std::size_t{t} * ws.mlp_width;
      float* post = ws.mlp_post.data() + std::size_t{t} * ws.mlp_width;
      Vec a(pre, width);
      a = ConstVec(ws.token_stage[t], width) + vec(w, ml.bias);
      matvec<true>(w, ml.time, timing, pre);
      relu(pre, post, width);
      ws.token_logit[t] = run_mlp(w, ml.head, post, pre + width, post + width);
      ws.token_gate[t] = w[ml.gate_a.offset] - derived.late_gate_decay[m] * ws.token_tau[t];
      continue;
    }
    Vec row(ws.first.data() + std::size_t{t} * ws.first_width, width);
    row = ConstVec(ws.token_stage[t], width) +
          vec(w, strategy == Strategy::attention ? ml.bias : ml.presence);
    matvec<true>(w, ml.time, timing, row.data());
  }
  if (strategy != Strategy::attention) return;
  // A loop of its own: in the rows' loop the products would hold back the next token's loads of
  // features from memory.
  for (uint32_t h = 0; h < model.arch.heads; ++h) {
    const ConstVec kq(derived.key_query.data() + std::size_t{h} * width, width);
    for (uint32_t t = 0; t < ws.n_tokens; ++t) {
      ws.attn_score[std::size_t{h} * ws.capacity + t] =
          kq.dot(ConstVec(ws.first.data() + std::size_t{t} * ws.first_width, width));
    }
  }
}

// Early and intermediate: first layer = bias + sum over the subset's rows, then the head.
// Explanation: occlusion shares |logit - logit without m|.
void combine_additive(const FusionModel& model, const DerivedWeights& derived, Workspace& ws,
                      TokenSubset tokens, Explanation explanation, ScoreOutput& out) {
  const float* w = derived.colmajor.data();
  const ModelLayout& L = model.layout;
  const uint32_t h1 = model.arch.hidden[0];
  const auto row = [&](uint8_t t) {
    return ConstVec(ws.first.data() + std::size_t{t} * ws.first_width, h1);
  };
  Vec sum(ws.mlp_pre.data(), h1);
  sum = vec(w, L.in_bias);
  for (const uint8_t t : tokens) sum += row(t);
  relu(ws.mlp_pre.data(), ws.mlp_post.data(), h1);
  const float logit =
      run_mlp(w, L.head, ws.mlp_post.data(), ws.mlp_pre.data() + h1, ws.mlp_post.data() + h1);
  out.logit = logit;
  if (explanation == Explanation::skipped) return;
  if (tokens.size() == 1) {
    out.weight[ws.token_modality[tokens[0]]] = 1.0f;
    return;
  }
  float* s = ws.scratch.data();
  float* pre = s + h1;
  float* post = pre + ws.mlp_width;
  float total = 0.0f;
  for (const uint8_t t : tokens) {
    const float* c = row(t).data();
    for (uint32_t i = 0; i < h1; ++i) s[i] = ws.mlp_pre[i] - c[i];
    relu(s, s, h1);
    const float delta = std::fabs(logit - run_mlp(w, L.head, s, pre, post));
    out.weight[ws.token_modality[t]] = delta;
    total += delta;
  }
  for (const uint8_t t : tokens) {
    float& wt = out.weight[ws.token_modality[t]];
    wt = total > 0.0f ? wt / total : 1.0f / static_cast<float>(tokens.size());
  }
}

// Late: the logit is the gate-weighted mean of the heads' logits, gates softmax(a_m -
// softplus(decay_m) * tau) over the subset.
void combine_late(Workspace& ws, TokenSubset tokens, Explanation explanation, ScoreOutput& out) {
  const uint32_t n = static_cast<uint32_t>(tokens.size());
  for (uint32_t k = 0; k < n; ++k) ws.token_weight[k] = ws.token_gate[tokens[k]];
  softmax(ws.token_weight.data(), n);
  float logit = 0.0f;
  for (uint32_t k = 0; k < n; ++k) logit += ws.token_weight[k] * ws.token_logit[tokens[k]];
  out.logit = logit;
  if (explanation == Explanation::skipped) return;
  for (uint32_t k = 0; k < n; ++k) out.weight[ws.token_modality[tokens[k]]] = ws.token_weight[k];
}

// Attention: a learned query attends over the subset's tokens (multi-head, scaled dot product);
// the heads' value mixtures form the context, and the head MLP maps it to the logit. Weight of
// m = its tokens' probability, averaged over heads.
void combine_attention(const FusionModel& model, const DerivedWeights& derived, Workspace& ws,
                       TokenSubset tokens, Explanation explanation, ScoreOutput& out) {
  const float* w = derived.colmajor.data();
  const ModelLayout& L = model.layout;
  const uint32_t d = model.arch.d_model, H = model.arch.heads, dh = d / H;
  const uint32_t n = static_cast<uint32_t>(tokens.size());
  const auto token = [&](uint8_t t) {
    return ConstVec(ws.first.data() + std::size_t{t} * ws.first_width, d);
  };
  if (n == 0) {
    Vec(ws.context.data(), d).setZero();
  } else {
    for (uint32_t h = 0; h < H; ++h) {
      float* p = ws.attn_prob.data() + std::size_t{h} * ws.capacity;
      const float* score = ws.attn_score.data() + std::size_t{h} * ws.capacity;
      for (uint32_t k = 0; k < n; ++k) p[k] = score[tokens[k]];
      softmax(p, n);
      Vec mix(ws.attn_mix.data() + std::size_t{h} * d, d);
      mix = p[0] * token(tokens[0]);
      for (uint32_t k = 1; k < n; ++k) mix += p[k] * token(tokens[k]);
    }
    // Head h's context: rows h*dh .. (h+1)*dh of the column-major value matrix (leading
    // dimension d) times its mixture.
    detail::matvec_colmajor_blocks(w + L.value.offset, dh, H, d, d, ws.attn_mix.data(),
                                   ws.context.data());
  }
  if (explanation == Explanation::computed) {
    const float share = 1.0f / static_cast<float>(H);
    for (uint32_t h = 0; h < H; ++h) {
      const float* p = ws.attn_prob.data() + std::size_t{h} * ws.capacity;
      for (uint32_t k = 0; k < n; ++k) out.weight[ws.token_modality[tokens[k]]] += p[k] * share;
    }
  }
  out.logit = run_mlp(w, L.head, ws.context.data(), ws.mlp_pre.data(), ws.mlp_post.data());
}

// The logit and risk of the subset, and the modalities' weights unless skipped.
void combine(const FusionModel& model, const DerivedWeights& derived, Workspace& ws,
             TokenSubset tokens, Explanation explanation, ScoreOutput& out) {
  switch (model.strategy()) {
    case Strategy::early:
    case Strategy::intermediate:
      combine_additive(model, derived, ws, tokens, explanation, out);
      break;
    case Strategy::late:
      combine_late(ws, tokens, explanation, out);
      break;
    case Strategy::attention:
      combine_attention(model, derived, ws, tokens, explanation, out);
      break;
  }
  out.risk = model.calibration.apply(out.logit);
  if (explanation == Explanation::skipped) return;
  // Weights are shares of one: a sum of token shares (history tokens, heads) may pass 1 by an
  // ulp, and the one present modality has all of it.
  std::array<bool, kMaxModalities> present{};
  uint32_t n_present = 0;
  for (const uint8_t t : tokens) {
    if (!present[ws.token_modality[t]]) ++n_present;
    present[ws.token_modality[t]] = true;
  }
  for (std::size_t m = 0; m < present.size(); ++m) {
    if (present[m]) out.weight[m] = n_present == 1 ? 1.0f : std::clamp(out.weight[m], 0.0f, 1.0f);
  }
}

}  // namespace

void forward(const FusionModel& model, const DerivedWeights& derived, const Snapshot& snapshot,
             FeatureForm form, Workspace& ws, ScoreOutput& out, Explanation explanation) {
  const ModelLayout& L = model.layout;
  const std::size_t n_mod = std::min(snapshot.modalities.size(), L.modalities.size());
  out.weight.fill(0.0f);
  ws.n_tokens = 0;
  for (std::size_t m = 0; m < n_mod; ++m) {
    const ModalitySnapshot& ms = snapshot.modalities[m];
    if (!ms.present) continue;
    const ModalityLayout& ml = L.modalities[m];
    const bool staged =
        form == FeatureForm::staged && model.schema.modalities[m].kind != ModalityKind::vitals;
    const bool history = uses_history(model, m) && !ms.history.empty();
    const std::size_t items =
        history ? std::min<std::size_t>(ms.history.size(), model.arch.history_k) : 1;
    for (std::size_t j = 0; j < items && ws.n_tokens < ws.capacity; ++j) {
      const std::span<const float> f = history ? ms.history[j].features : ms.features;
      const int64_t age_ms = history ? ms.history[j].age_ms : ms.age_ms;
      // A feature vector of the wrong width is a wiring error (the engine sizes features from
      // the scorer's encoders); it is treated as absent rather than read out of bounds.
      assert(f.size() == (staged ? ml.stage_dim : ml.input_dim));
      if (f.size() != (staged ? ml.stage_dim : ml.input_dim)) continue;
      const uint32_t t = ws.n_tokens++;
      ws.token_modality[t] = static_cast<uint8_t>(m);
      ws.token_tau[t] = log_age(age_ms);
      if (staged) {
        ws.token_stage[t] = f.data();
      } else {
        std::span<float> in(ws.input.data() + std::size_t{t} * ws.input_width, ml.input_dim);
        std::span<float> st(ws.stage.data() + std::size_t{t} * ws.stage_width, ml.stage_dim);
        std::span<float> eh, lat;
        if (model.strategy() == Strategy::intermediate) {
          eh = std::span<float>(ws.enc_hidden)
                   .subspan(std::size_t{t} * model.arch.encoder_hidden, model.arch.encoder_hidden);
          lat = std::span<float>(ws.latent).subspan(std::size_t{t} * model.arch.d_model,
                                                    model.arch.d_model);
        }
        prepare_input(model, m, f, in);
        feature_stage(model, derived, m, in, st, eh, lat);
        ws.token_stage[t] = st.data();
      }
      encode_time(model, derived, m, ws.token_tau[t],
                  std::span<float>(ws.timing).subspan(std::size_t{t} * L.timing_dim, L.timing_dim));
    }
  }
  token_rows(model, derived, ws);
  combine(model, derived, ws, TokenSubset(kAllTokens.data(), ws.n_tokens), explanation, out);
}

void forward_masked(const FusionModel& model, const DerivedWeights& derived,
                    const Snapshot& snapshot, Workspace& ws, double risk,
                    std::span<double> masked) {
  std::array<uint8_t, kMaxTokens> kept;
  fill_masked_risks(snapshot, risk, masked, [&](ModalityIndex m) {
    uint32_t k = 0;
    for (uint32_t t = 0; t < ws.n_tokens; ++t) {
      if (ws.token_modality[t] != m) kept[k++] = static_cast<uint8_t>(t);
    }
    ScoreOutput o;
    combine(model, derived, ws, TokenSubset(kept.data(), k), Explanation::skipped, o);
    return o.risk;
  });
}

}  // namespace tfe
