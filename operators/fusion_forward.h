#pragma once
// The forward pass of the four fusion strategies, shared by serving (FusionOperator) and
// training. It writes every intermediate activation into a Workspace so that a backward pass can
// walk the same buffers in reverse. No heap allocation once the Workspace exists.
//
// Stages (docs/fusion.md has the equations):
//   1. tokens: one per present modality; with attention and history_k > 1, one per recent event
//      of each text/embedding modality (vitals always one: window statistics summarise history).
//   2. prepare_input: raw features -> model inputs (vitals z-scores, text TF-IDF + L2, embedding
//      L2), using the model's fitted statistics.
//   3. feature stage: inputs -> stage vector, a function of the features alone (no age), so a
//      serving encoder can compute it once per event and the engine caches it ("staged" form).
//   4. timing: Time2Vec (and optional sinusoids) of tau = log(1 + age_s).
//   5. fusion: strategy-specific, producing the logit and per-modality explanation weights.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/scorer.h"
#include "engine/snapshot.h"
#include "operators/fusion_model.h"

namespace tfe {

// How a snapshot's text/embedding features arrive (vitals features are always raw statistics).
enum class FeatureForm : uint8_t {
  raw,     // raw encoder output (RawEncoder): training examples, reference scoring
  staged,  // feature stage output (the model's serving encoder): live and replay scoring
};

inline constexpr uint32_t kMaxTokens = kMaxModalities * kMaxHistoryK;

// Values derived from the weights, recomputed whenever the weights change (once after loading;
// after every optimiser step in training).
struct DerivedWeights {
  // The weights with every matrix stored column-major (same offsets; vectors unchanged). The
  // forward pass reads weights from here.
  std::vector<float> colmajor;
  // attention: key_query[h][j] = sum_i key[h*dh + i][j] * query[h*dh + i] / sqrt(dh), so that a
  // head's score of token t is key_query[h] . t (one dot product per head instead of a matvec).
  std::vector<float> key_query;  // [heads][d]
  std::vector<float> sin_freq;   // [sinusoidal_dim / 2]: 100^(-j / (sinusoidal_dim / 2))
  // late: softplus(gate decay) of each modality, the gate's rate of decay with tau.
  std::vector<float> late_gate_decay;  // [modalities]
};
DerivedWeights derive_weights(const FusionModel& model);

// log(1 + age in seconds), the time axis of every timing encoding; negative ages count as 0.
float log_age(int64_t age_ms);

// out: [timing_dim]: Time2Vec of tau with modality m's parameters, then sinusoids.
void encode_time(const FusionModel& model, const DerivedWeights& derived, std::size_t m, float tau,
                 std::span<float> out);

// Raw features of modality m -> model inputs; raw and out: [layout.modalities[m].input_dim].
void prepare_input(const FusionModel& model, std::size_t m, std::span<const float> raw,
                   std::span<float> out);

// Feature stage of modality m from prepared inputs: out [stage_dim]. enc_hidden [E] (post-relu:
// its zeros are the relu mask) and latent [d] receive the intermediate encoder's activations
// (other strategies ignore them; they may be empty).
void feature_stage(const FusionModel& model, const DerivedWeights& derived, std::size_t m,
                   std::span<const float> input, std::span<float> out, std::span<float> enc_hidden,
                   std::span<float> latent);

// Every activation of one forward pass. Sized once for a model; reused for every pass.
struct Workspace {
  explicit Workspace(const FusionModel& model);

  // Tokens of this pass, in modality order (then newest event first).
  uint32_t n_tokens = 0;
  std::array<uint8_t, kMaxTokens> token_modality{};
  std::array<float, kMaxTokens> token_tau{};
  std::array<const float*, kMaxTokens> token_stage{};  // [stage_dim]: into the snapshot (staged)
                                                       // or into `stage` below (computed here)
  // Per-token slots, row t at t * width:
  std::vector<float> input;       // [kMaxTokens'][max input_dim]: prepared inputs (computed stages)
  std::vector<float> enc_hidden;  // [..][encoder_hidden]: intermediate, pre-relu
  std::vector<float> latent;      // [..][d_model]: intermediate
  std::vector<float> stage;       // [..][max stage_dim]
  std::vector<float> timing;      // [..][timing_dim]
  std::vector<float> first;       // [..][H1 or d]: early/intermediate: the token's additive
                                  // contribution; attention: the token vector (late keeps its
                                  // first layer's pre-activation in mlp_pre)
  uint32_t input_width = 0, stage_width = 0, first_width = 0;

  // attention: each head's score of each token [heads][kMaxTokens']; probabilities over the
  // pass's tokens [heads][kMaxTokens'], per-head mixtures [heads][d], context [d].
  std::vector<float> attn_score;
  std::vector<float> attn_prob;
  std::vector<float> attn_mix;
  std::vector<float> context;
  // Head MLP activations: per MLP pass, pre- and post-activation of every layer, concatenated
  // ([mlp_width] each). Late: one pass per token (row t); others: row 0.
  std::vector<float> mlp_pre, mlp_post;
  uint32_t mlp_width = 0;
  // late: per-token logits and gate scores, and the gate weights of the pass's tokens (the
  // softmax of their scores).
  std::array<float, kMaxTokens> token_logit{};
  std::array<float, kMaxTokens> token_gate{};
  std::array<float, kMaxTokens> token_weight{};
  // early/intermediate explanation scratch (occlusion passes): [H1] + [mlp_width] x 2.
  std::vector<float> scratch;
  uint32_t capacity = 0;  // token slots allocated
};

// Whether a pass computes the per-modality explanation weights (for early and intermediate
// fusion an occlusion pass per token; for the others a by-product) or leaves them zero.
enum class Explanation : uint8_t { computed, skipped };

// One forward pass. out.logit = fused logit, out.risk = calibrated probability, out.weight[m] =
// modality m's explanation weight (0 when absent; the present ones sum to 1; all 0 when
// skipped). With no modality present the logit is the model's prior (the fusion of nothing:
// bias-only) and weights are 0.
void forward(const FusionModel& model, const DerivedWeights& derived, const Snapshot& snapshot,
             FeatureForm form, Workspace& ws, ScoreOutput& out,
             Explanation explanation = Explanation::computed);

// After forward() of `snapshot` with `ws` (whose risk was `risk`): masked[m], for each
// m < masked.size(), is the risk of the snapshot with modality m marked absent, as
// Scorer::score_risks defines it. A token depends on its own modality alone, so each masked pass
// reuses the full pass's per-token rows (token vectors, attention scores, late heads' logits)
// and reruns only the fusion of the remaining tokens, and equals forward() of the masked
// snapshot bit for bit. Leaves `ws` holding the full pass's tokens and the last masked pass's
// fusion activations: run forward() again before a backward pass.
void forward_masked(const FusionModel& model, const DerivedWeights& derived,
                    const Snapshot& snapshot, Workspace& ws, double risk, std::span<double> masked);

}  // namespace tfe
