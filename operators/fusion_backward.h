#pragma once
// The backward pass of the four fusion strategies: given the activations a forward pass left in
// its Workspace (raw feature form) and d(loss)/d(logit), accumulates d(loss)/d(weight) for every
// trainable tensor. Hand-derived, stage by stage in the reverse order of fusion_forward.h:
// fusion (strategy-specific) -> timing (Time2Vec) -> feature stage (projection, or the
// intermediate encoder). Prepared inputs and statistics are constants: nothing flows into them.
//
// The gradient buffer has the weights' layout: grad [model.weights.size()], row-major, the same
// offsets as model.weights (so an optimiser walks weights and gradients as two flat vectors).

#include <span>
#include <vector>

#include "operators/fusion_forward.h"
#include "operators/fusion_model.h"

namespace tfe {

// Scratch of one backward pass, sized once per model; no heap allocation per pass.
class BackwardScratch {
 public:
  explicit BackwardScratch(const FusionModel& model);

 private:
  friend void backward(const FusionModel&, const DerivedWeights&, const Workspace&, float,
                       BackwardScratch&, std::span<float>);
  std::vector<float> d_first;    // [kMaxTokens'][first width]: d(token vector / first layer)
  std::vector<float> d_timing;   // [timing_dim]
  std::vector<float> d_a, d_b;   // [max layer width]: MLP backward ping-pong
  std::vector<float> d_mix;      // attention: [d]
  std::vector<float> d_kq;       // attention: [heads][d]
  std::vector<float> d_score;    // attention: [kMaxTokens']
  std::vector<float> d_latent;   // intermediate: [d]
  std::vector<float> d_context;  // attention: [d]
  std::vector<float> d_hidden;   // intermediate: [encoder_hidden]
};

// Adds d(loss)/d(weights) to grad, for the pass `ws` holds (forward() with FeatureForm::raw on
// the same model and derived weights). dlogit = d(loss)/d(logit).
void backward(const FusionModel& model, const DerivedWeights& derived, const Workspace& ws,
              float dlogit, BackwardScratch& scratch, std::span<float> grad);

}  // namespace tfe
