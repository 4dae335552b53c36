#include "operators/fusion_operator.h"

#include <array>
#include <vector>

#include "operators/model_file.h"

namespace tfe {

namespace {

class FusionState final : public ScorerState {
 public:
  explicit FusionState(const FusionModel& model) : ws(model) {}
  Workspace ws;
};

// Serving encoder of one text/embedding modality: raw features -> prepared inputs -> feature
// stage, once per event. Its output is what the engine caches and a tick reads.
class StageEncoder final : public ModalityEncoder {
 public:
  StageEncoder(std::shared_ptr<const FusionModel> model,
               std::shared_ptr<const DerivedWeights> derived, std::size_t m)
      : model_(std::move(model)),
        derived_(std::move(derived)),
        m_(m),
        shape_(model_->schema.shape(m)) {}

  uint32_t dim() const override { return model_->layout.modalities[m_].stage_dim; }

  void encode(const Event& event, std::span<float> out) const override {
    const ModelConfig& a = model_->arch;
    const uint32_t n = shape_.raw_dim();
    // Per-event scratch (raw, prepared, and the intermediate encoder's activations): on the
    // stack up to a few thousand features, else on the heap (encoding is per event, not per tick).
    constexpr std::size_t kStack = 4096;
    const std::size_t need = 2 * std::size_t{n} + a.encoder_hidden + a.d_model;
    std::array<float, kStack> stack_buf;
    std::vector<float> heap_buf;
    float* buf = stack_buf.data();
    if (need > kStack) {
      heap_buf.resize(need);
      buf = heap_buf.data();
    }
    std::span<float> raw(buf, n), input(buf + n, n);
    std::span<float> enc_hidden(buf + 2 * n, a.encoder_hidden);
    std::span<float> latent(buf + 2 * n + a.encoder_hidden, a.d_model);
    encode_raw_event(shape_, event, raw);
    prepare_input(*model_, m_, raw, input);
    feature_stage(*model_, *derived_, m_, input, out, enc_hidden, latent);
  }

 private:
  std::shared_ptr<const FusionModel> model_;
  std::shared_ptr<const DerivedWeights> derived_;
  std::size_t m_;
  RawFeatureShape shape_;
};

void prefetch_records(const Snapshot& snapshot) {
  const auto* p = reinterpret_cast<const char*>(snapshot.modalities.data());
  const std::size_t bytes = snapshot.modalities.size_bytes();
  for (std::size_t i = 0; i < bytes; i += 64) __builtin_prefetch(p + i);
}

void prefetch_features(const Snapshot& snapshot) {
  constexpr std::size_t kLine = 64 / sizeof(float);
  for (const ModalitySnapshot& ms : snapshot.modalities) {
    if (!ms.present) continue;
    for (std::size_t i = 0; i < ms.features.size(); i += kLine) {
      __builtin_prefetch(ms.features.data() + i);
    }
  }
}

}  // namespace

FusionOperator::FusionOperator(std::shared_ptr<const FusionModel> model,
                               std::shared_ptr<const DerivedWeights> derived, FeatureForm form,
                               ScorerSpec spec)
    : model_(std::move(model)), form_(form), derived_(std::move(derived)), spec_(std::move(spec)) {}

Result<std::shared_ptr<const FusionOperator>> FusionOperator::create(
    std::shared_ptr<const FusionModel> model, const EngineConfig& config, FeatureForm form) {
  if (auto r = check_model_matches_config(*model, config); !r) return r.error();
  auto derived = std::make_shared<const DerivedWeights>(derive_weights(*model));
  ScorerSpec spec;
  spec.strategy = std::string(to_string(model->strategy()));
  auto name = model->metadata.find("name");
  spec.model_name = name != model->metadata.end() ? name->second : spec.strategy;
  spec.model_id = model_id(*model);
  for (std::size_t m = 0; m < model->schema.modalities.size(); ++m) {
    ModalityNeeds needs;
    needs.features = true;
    const ModalityKind kind = model->schema.modalities[m].kind;
    needs.history = (model->strategy() == Strategy::attention && kind != ModalityKind::vitals)
                        ? model->arch.history_k
                        : 1;
    if (kind != ModalityKind::vitals) {
      if (form == FeatureForm::staged) {
        needs.encoder = std::make_shared<StageEncoder>(model, derived, m);
      } else {
        needs.encoder = std::make_shared<RawEncoder>(model->schema.shape(m));
      }
    }
    spec.needs.push_back(std::move(needs));
  }
  return std::make_shared<const FusionOperator>(std::move(model), std::move(derived), form,
                                                std::move(spec));
}

std::unique_ptr<ScorerState> FusionOperator::make_state() const {
  return std::make_unique<FusionState>(*model_);
}

void FusionOperator::score(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out) const {
  forward(*model_, *derived_, snapshot, form_, static_cast<FusionState&>(state).ws, out);
}

void FusionOperator::score_risks(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out,
                                 std::span<double> masked) const {
  Workspace& ws = static_cast<FusionState&>(state).ws;
  forward(*model_, *derived_, snapshot, form_, ws, out, Explanation::skipped);
  forward_masked(*model_, *derived_, snapshot, ws, out.risk, masked);
}

void FusionOperator::score_batch(std::span<const Snapshot> snapshots, ScorerState& state,
                                 std::span<ScoreOutput> out) const {
  Workspace& ws = static_cast<FusionState&>(state).ws;
  const std::size_t n = std::min(snapshots.size(), out.size());
  for (std::size_t i = 0; i < n; ++i) {
    // While snapshot i is scored, its successor's features travel from memory to cache: the
    // per-score arithmetic is the same as score(), so batch and single scores are identical.
    // (Two steps: first the per-modality records, then, once they have arrived, the features
    // they point to.)
    if (i + 4 < n) prefetch_records(snapshots[i + 4]);
    if (i + 2 < n) prefetch_features(snapshots[i + 2]);
    forward(*model_, *derived_, snapshots[i], form_, ws, out[i]);
  }
}

const Workspace& FusionOperator::workspace(const ScorerState& state) {
  return static_cast<const FusionState&>(state).ws;
}

}  // namespace tfe
