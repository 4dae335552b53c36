#pragma once
// FusionOperator: the Scorer for the four fusion strategies (early, intermediate, late,
// attention) over a loaded FusionModel.
//
// Consumes, per modality: presence, age and features (vitals: window statistics; text and
// embedding: the output of the encoders it declares in spec(), cached by the engine per event).
// Produces: logit, calibrated risk, per-modality explanation weight (docs/fusion.md).
// Serving form: the declared encoders compute each text/embedding event's feature stage (its
// projection into the model's first layer) once, so a tick only projects vitals and fuses.
// Raw form: the encoders emit raw features (training examples); scores are the same.

#include <memory>
#include <span>

#include "engine/config.h"
#include "engine/result.h"
#include "engine/scorer.h"
#include "operators/fusion_forward.h"
#include "operators/fusion_model.h"

namespace tfe {

class FusionOperator final : public Scorer {
 public:
  // Checks the model against the config (check_model_matches_config).
  static Result<std::shared_ptr<const FusionOperator>> create(
      std::shared_ptr<const FusionModel> model, const EngineConfig& config,
      FeatureForm form = FeatureForm::staged);

  const ScorerSpec& spec() const override { return spec_; }
  std::unique_ptr<ScorerState> make_state() const override;
  // No heap allocation. `state` must come from this operator's make_state().
  void score(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out) const override;
  // One token pass without the explanation (out.weight stays zero); each masked variant reruns
  // only the fusion (forward_masked).
  void score_risks(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out,
                   std::span<double> masked) const override;
  // out[i] = score of snapshots[i]; identical to scoring each alone. No heap allocation.
  void score_batch(std::span<const Snapshot> snapshots, ScorerState& state,
                   std::span<ScoreOutput> out) const;

  const FusionModel& model() const { return *model_; }
  FeatureForm form() const { return form_; }
  // The activations of the last score() with this state (for inspection and training).
  static const Workspace& workspace(const ScorerState& state);

  // Use create(); public for std::make_shared.
  FusionOperator(std::shared_ptr<const FusionModel> model,
                 std::shared_ptr<const DerivedWeights> derived, FeatureForm form, ScorerSpec spec);

 private:
  std::shared_ptr<const FusionModel> model_;
  FeatureForm form_;
  std::shared_ptr<const DerivedWeights> derived_;
  ScorerSpec spec_;
};

}  // namespace tfe
