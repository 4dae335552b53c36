#include "operators/fusion_backward.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <utility>

#include <Eigen/Core>

namespace tfe {

namespace {

// Weights and gradients are row-major here (the ParamSet layout), not the forward pass's
// column-major copies.
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMat = Eigen::Map<const RowMat>;
using RowMatMap = Eigen::Map<RowMat>;
using ConstVec = Eigen::Map<const Eigen::VectorXf>;
using Vec = Eigen::Map<Eigen::VectorXf>;

// G [rows][cols] += d [rows] x^T [cols].
void outer_add(float* g, TensorRef t, const float* d, const float* x) {
  if (t.rows == 1) {
    Vec(g + t.offset, t.cols) += d[0] * ConstVec(x, t.cols);
    return;
  }
  RowMatMap(g + t.offset, t.rows, t.cols).noalias() +=
      ConstVec(d, t.rows) * ConstVec(x, t.cols).transpose();
}

// dx [cols] = W^T d [rows] (kAccumulate: +=).
template <bool kAccumulate>
void matvec_t(const float* w, TensorRef t, const float* d, float* dx) {
  Vec out(dx, t.cols);
  if (kAccumulate) {
    out.noalias() += ConstRowMat(w + t.offset, t.rows, t.cols).transpose() * ConstVec(d, t.rows);
  } else {
    out.noalias() = ConstRowMat(w + t.offset, t.rows, t.cols).transpose() * ConstVec(d, t.rows);
  }
}

void add(float* g, TensorRef t, const float* d) {
  Vec(g + t.offset, t.size()) += ConstVec(d, t.size());
}

// Backward through an MLP that run_mlp() evaluated on `input` with activations pre/post.
// Writes d(input) [layers[0].in()] to d_input; a, b: scratch [max layer width].
void mlp_backward(const float* w, float* g, const MlpRef& mlp, const float* input, const float* pre,
                  const float* post, float dlogit, float* d_input, float* a, float* b) {
  const std::size_t n = mlp.layers.size();
  std::array<uint32_t, kMaxHiddenLayers + 2> off{};
  for (std::size_t i = 0; i < n; ++i) off[i + 1] = off[i] + mlp.layers[i].out();
  float* d_cur = a;  // d(pre-activation) of layer i
  float* d_next = b;
  d_cur[0] = dlogit;
  for (std::size_t i = n; i-- > 0;) {
    const LinearRef& l = mlp.layers[i];
    const float* x = i == 0 ? input : post + off[i - 1];
    outer_add(g, l.w, d_cur, x);
    if (l.b) add(g, *l.b, d_cur);
    if (i == 0) {
      matvec_t<false>(w, l.w, d_cur, d_input);
      return;
    }
    matvec_t<false>(w, l.w, d_cur, d_next);
    const float* p = pre + off[i - 1];
    for (uint32_t k = 0; k < l.in(); ++k) {
      if (!(p[k] > 0.0f)) d_next[k] = 0.0f;
    }
    std::swap(d_cur, d_next);
  }
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Time2Vec of token t: out[0] = w0 tau + b0, out[i] = sin(wi tau + bi); the sinusoids are fixed.
void time_backward(const FusionModel& model, const Workspace& ws, uint32_t t, const float* d_timing,
                   float* g) {
  const float* w = model.weights.values().data();
  const ModalityLayout& ml = model.layout.modalities[ws.token_modality[t]];
  const float tau = ws.token_tau[t];
  const float* tw = w + ml.t2v_w.offset;
  const float* tb = w + ml.t2v_b.offset;
  float* gw = g + ml.t2v_w.offset;
  float* gb = g + ml.t2v_b.offset;
  gw[0] += d_timing[0] * tau;
  gb[0] += d_timing[0];
  for (uint32_t i = 1; i <= model.arch.time2vec_k; ++i) {
    const float c = d_timing[i] * std::cos(tw[i] * tau + tb[i]);
    gw[i] += c * tau;
    gb[i] += c;
  }
}

// A token's additive timing term `time [rows][T] x timing`: its weight gradient, then back into
// Time2Vec.
void timing_term_backward(const FusionModel& model, const Workspace& ws, uint32_t t,
                          const float* d_out, float* d_timing, float* g) {
  const float* w = model.weights.values().data();
  const ModalityLayout& ml = model.layout.modalities[ws.token_modality[t]];
  const float* timing = ws.timing.data() + std::size_t{t} * model.layout.timing_dim;
  outer_add(g, ml.time, d_out, timing);
  matvec_t<false>(w, ml.time, d_out, d_timing);
  time_backward(model, ws, t, d_timing, g);
}

// Feature stage of token t (raw form: its prepared input is in ws.input).
void stage_backward(const FusionModel& model, const Workspace& ws, uint32_t t, const float* d_stage,
                    float* d_latent, float* d_hidden, float* g) {
  const float* w = model.weights.values().data();
  const ModalityLayout& ml = model.layout.modalities[ws.token_modality[t]];
  const float* input = ws.input.data() + std::size_t{t} * ws.input_width;
  if (model.strategy() != Strategy::intermediate) {
    outer_add(g, ml.proj.w, d_stage, input);
    return;
  }
  const uint32_t E = model.arch.encoder_hidden, d = model.arch.d_model;
  const float* hidden = ws.enc_hidden.data() + std::size_t{t} * E;  // post-relu
  const float* latent = ws.latent.data() + std::size_t{t} * d;
  outer_add(g, ml.proj.w, d_stage, latent);
  matvec_t<false>(w, ml.proj.w, d_stage, d_latent);
  outer_add(g, ml.enc2.w, d_latent, hidden);
  add(g, *ml.enc2.b, d_latent);
  matvec_t<false>(w, ml.enc2.w, d_latent, d_hidden);
  for (uint32_t i = 0; i < E; ++i) {
    if (!(hidden[i] > 0.0f)) d_hidden[i] = 0.0f;
  }
  outer_add(g, ml.enc1.w, d_hidden, input);
  add(g, *ml.enc1.b, d_hidden);
}

}  // namespace

BackwardScratch::BackwardScratch(const FusionModel& model) {
  const Workspace probe(model);
  const ModelConfig& a = model.arch;
  d_first.assign(std::size_t{probe.capacity} * std::max(probe.first_width, 1u), 0.0f);
  d_timing.assign(model.layout.timing_dim, 0.0f);
  uint32_t widest = std::max(a.d_model, a.encoder_hidden);
  for (uint32_t h : a.hidden) widest = std::max(widest, h);
  d_a.assign(widest + 1, 0.0f);
  d_b.assign(widest + 1, 0.0f);
  d_mix.assign(a.d_model, 0.0f);
  d_kq.assign(std::size_t{a.heads} * a.d_model, 0.0f);
  d_score.assign(probe.capacity, 0.0f);
  d_latent.assign(a.d_model, 0.0f);
  d_context.assign(a.d_model, 0.0f);
  d_hidden.assign(a.encoder_hidden, 0.0f);
}

void backward(const FusionModel& model, const DerivedWeights& derived, const Workspace& ws,
              float dlogit, BackwardScratch& s, std::span<float> grad) {
  assert(grad.size() == model.weights.size());
  const float* w = model.weights.values().data();
  float* g = grad.data();
  const ModelLayout& L = model.layout;
  const uint32_t n = ws.n_tokens;
  const uint32_t fw = ws.first_width;

  switch (model.strategy()) {
    case Strategy::early:
    case Strategy::intermediate: {
      // first = relu(bias + sum_t (stage_t + presence_m + time_m timing_t)), then the head.
      const uint32_t h1 = model.arch.hidden[0];
      float* d_sum = s.d_first.data();
      mlp_backward(w, g, L.head, ws.mlp_post.data(), ws.mlp_pre.data() + h1,
                   ws.mlp_post.data() + h1, dlogit, d_sum, s.d_a.data(), s.d_b.data());
      for (uint32_t i = 0; i < h1; ++i) {
        if (!(ws.mlp_pre[i] > 0.0f)) d_sum[i] = 0.0f;
      }
      add(g, L.in_bias, d_sum);
      for (uint32_t t = 0; t < n; ++t) {
        const ModalityLayout& ml = L.modalities[ws.token_modality[t]];
        add(g, ml.presence, d_sum);
        timing_term_backward(model, ws, t, d_sum, s.d_timing.data(), g);
        stage_backward(model, ws, t, d_sum, s.d_latent.data(), s.d_hidden.data(), g);
      }
      return;
    }
    case Strategy::late: {
      // logit = sum_t gate_t logit_t, gate = softmax(a_m - softplus(decay_m) tau_t).
      const uint32_t h1 = model.arch.hidden[0];
      float logit = 0.0f;
      for (uint32_t t = 0; t < n; ++t) logit += ws.token_weight[t] * ws.token_logit[t];
      for (uint32_t t = 0; t < n; ++t) {
        const ModalityLayout& ml = L.modalities[ws.token_modality[t]];
        const float gate = ws.token_weight[t];
        const float d_gate_score = dlogit * gate * (ws.token_logit[t] - logit);
        g[ml.gate_a.offset] += d_gate_score;
        g[ml.gate_decay.offset] +=
            d_gate_score * -ws.token_tau[t] * sigmoid(w[ml.gate_decay.offset]);
        const float* pre = ws.mlp_pre.data() + std::size_t{t} * ws.mlp_width;
        const float* post = ws.mlp_post.data() + std::size_t{t} * ws.mlp_width;
        float* d_pre = s.d_first.data() + std::size_t{t} * fw;
        mlp_backward(w, g, ml.head, post, pre + h1, post + h1, dlogit * gate, d_pre, s.d_a.data(),
                     s.d_b.data());
        for (uint32_t i = 0; i < h1; ++i) {
          if (!(pre[i] > 0.0f)) d_pre[i] = 0.0f;
        }
        add(g, ml.bias, d_pre);
        timing_term_backward(model, ws, t, d_pre, s.d_timing.data(), g);
        stage_backward(model, ws, t, d_pre, s.d_latent.data(), s.d_hidden.data(), g);
      }
      return;
    }
    case Strategy::attention: {
      const uint32_t d = model.arch.d_model, H = model.arch.heads, dh = d / H;
      float* d_context = s.d_context.data();
      mlp_backward(w, g, L.head, ws.context.data(), ws.mlp_pre.data(), ws.mlp_post.data(), dlogit,
                   d_context, s.d_a.data(), s.d_b.data());
      if (n == 0) return;
      std::fill(s.d_first.begin(), s.d_first.begin() + std::size_t{n} * fw, 0.0f);
      std::fill(s.d_kq.begin(), s.d_kq.end(), 0.0f);
      const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
      for (uint32_t h = 0; h < H; ++h) {
        const float* p = ws.attn_prob.data() + std::size_t{h} * ws.capacity;
        const float* mix = ws.attn_mix.data() + std::size_t{h} * d;
        const float* d_ctx_h = d_context + std::size_t{h} * dh;
        // ctx_h = value[h rows] mix_h.
        const TensorRef rows{L.value.offset + h * dh * d, dh, d};
        outer_add(g, rows, d_ctx_h, mix);
        matvec_t<false>(w, rows, d_ctx_h, s.d_mix.data());
        // mix_h = sum_t p_t tok_t; p = softmax(kq_h . tok_t).
        const ConstVec d_mix(s.d_mix.data(), d);
        float dot = 0.0f;
        for (uint32_t t = 0; t < n; ++t) {
          const ConstVec tok(ws.first.data() + std::size_t{t} * fw, d);
          s.d_score[t] = d_mix.dot(tok);
          dot += p[t] * s.d_score[t];
        }
        const ConstVec kq(derived.key_query.data() + std::size_t{h} * d, d);
        Vec d_kq(s.d_kq.data() + std::size_t{h} * d, d);
        for (uint32_t t = 0; t < n; ++t) {
          const float d_sc = p[t] * (s.d_score[t] - dot);
          const ConstVec tok(ws.first.data() + std::size_t{t} * fw, d);
          Vec d_tok(s.d_first.data() + std::size_t{t} * fw, d);
          d_tok += p[t] * d_mix + d_sc * kq;
          d_kq += d_sc * tok;
        }
        // kq_h[j] = scale sum_{i in head h} key[i][j] query[i].
        const float* key = w + L.key.offset;
        const float* query = w + L.query.offset;
        for (uint32_t i = h * dh; i < (h + 1) * dh; ++i) {
          float* gk = g + L.key.offset + std::size_t{i} * d;
          float dq = 0.0f;
          for (uint32_t j = 0; j < d; ++j) {
            gk[j] += scale * d_kq[j] * query[i];
            dq += d_kq[j] * key[std::size_t{i} * d + j];
          }
          g[L.query.offset + i] += scale * dq;
        }
      }
      // tok_t = stage_t + embed_m + time_m timing_t.
      for (uint32_t t = 0; t < n; ++t) {
        const ModalityLayout& ml = L.modalities[ws.token_modality[t]];
        const float* d_tok = s.d_first.data() + std::size_t{t} * fw;
        add(g, ml.bias, d_tok);
        timing_term_backward(model, ws, t, d_tok, s.d_timing.data(), g);
        stage_backward(model, ws, t, d_tok, s.d_latent.data(), s.d_hidden.data(), g);
      }
      return;
    }
  }
}

}  // namespace tfe
