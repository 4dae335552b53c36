#pragma once
// A fusion model: strategy and hyper-parameters, the modality schema it was built for, its
// parameters (trainable weights and fitted input statistics, each one contiguous buffer of named
// tensors), calibration and free-form metadata. The layout (where each tensor sits) is derived
// from strategy, hyper-parameters and schema, so it is rebuilt, never stored.
//
// Shapes (D_m = prepared input width of modality m, T = timing width, H1 = hidden[0],
// d = d_model, E = encoder_hidden; see docs/fusion.md for the maths):
//   every strategy   time.<m>.w [1+k], time.<m>.b [1+k]               Time2Vec per modality
//   early            early.<m>.x [H1][D_m], early.<m>.time [H1][T], early.<m>.presence [H1],
//                    early.bias [H1], head.l2.. [..], head.out [1][..]
//   intermediate     inter.<m>.enc1 [E][D_m] + b, inter.<m>.enc2 [d][E] + b,
//                    inter.<m>.z [H1][d], inter.<m>.time [H1][T], inter.<m>.presence [H1],
//                    inter.bias [H1], head.l2.. , head.out
//   late             late.<m>.x [H1][D_m], late.<m>.time [H1][T], late.<m>.bias [H1],
//                    late.<m>.head.l2.., late.<m>.head.out, late.<m>.gate.a [1], .gate.decay [1]
//   attention        attn.<m>.proj [d][D_m], attn.<m>.time [d][T], attn.<m>.embed [d],
//                    attn.query [d], attn.key [d][d], attn.value [d][d], head.l1.., head.out
// Statistics: stats.<m>.mean / stats.<m>.std [D_m] (vitals), stats.<m>.idf [text_hash_dim] (text).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/modality.h"
#include "engine/result.h"
#include "operators/calibration.h"
#include "operators/encoders.h"
#include "operators/model_config.h"
#include "operators/params.h"

namespace tfe {

// Smallest vitals standard deviation a model holds: training writes 1 for a feature whose
// deviation is at most this, and a loaded file may not go below it (as a float), since a tinier
// divisor turns ordinary readings into infinite z-scores.
inline constexpr double kMinInputStd = 1e-6;

// The part of a modality's configuration that a model depends on.
struct ModelModality {
  std::string name;
  ModalityKind kind = ModalityKind::vitals;
  std::vector<std::string> channels;  // vitals
  uint32_t dim = 0;                   // text: upstream embedding length (0: none); embedding
  uint32_t text_hash_dim = 0;         // text
  bool l2_normalize = true;           // text, embedding

  bool operator==(const ModelModality&) const = default;
};

struct ModelSchema {
  std::vector<int64_t> windows_ms;  // vitals window lengths, as in EngineConfig
  std::vector<ModelModality> modalities;

  RawFeatureShape shape(std::size_t m) const;
  bool operator==(const ModelSchema&) const = default;
};

ModelSchema model_schema_from_config(const EngineConfig& config);

// y = relu(...) between layers, none after the last; the last layer has one output (the logit).
struct MlpRef {
  std::vector<LinearRef> layers;
  uint32_t width() const;  // sum of layer output widths (activation scratch per pass)
};

struct ModalityLayout {
  uint32_t input_dim = 0;  // D_m: prepared features (= raw feature width)
  uint32_t stage_dim = 0;  // feature stage output: H1 (early, intermediate, late) or d (attention)
  TensorRef t2v_w, t2v_b;  // [1 + k]
  LinearRef proj;          // stage projection: x (early, late, attention) or latent (intermediate)
  LinearRef enc1, enc2;    // intermediate encoder: x -> E (relu) -> d
  TensorRef time;          // [stage_dim][T]
  TensorRef presence;      // early, intermediate: [H1]
  TensorRef bias;          // late: [H1]; attention: modality embedding [d]
  MlpRef head;             // late: the modality's head after its first layer
  TensorRef gate_a, gate_decay;  // late: [1] each
  // In the stats ParamSet:
  TensorRef mean, std;  // vitals: [D_m]
  TensorRef idf;        // text: [text_hash_dim]
};

struct ModelLayout {
  uint32_t timing_dim = 0;
  std::vector<ModalityLayout> modalities;
  TensorRef in_bias;     // early, intermediate: [H1]
  MlpRef head;           // early, intermediate: after the first (additive) layer; attention: full
  TensorRef query;       // attention: [d]
  TensorRef key, value;  // attention: [d][d]
};

struct FusionModel {
  ModelConfig arch;
  ModelSchema schema;
  ParamSet weights;  // trainable
  ParamSet stats;    // fitted input statistics (vitals mean/std, text IDF), not trained
  Calibration calibration;
  std::map<std::string, std::string> metadata;  // name, training split, seed, horizon, ...
  ModelLayout layout;                           // derived from arch and schema

  Strategy strategy() const { return arch.strategy; }
};

// The sizes of the forward pass's per-shard scratch (Workspace, operators/fusion_forward.h),
// which follow from the architecture and the schema alone.
struct WorkspaceShape {
  uint32_t tokens = 0;          // token slots: one per modality, history_k per text/embedding
                                // modality with attention
  uint32_t input_width = 0;     // widest prepared input of a modality
  uint32_t input_modality = 0;  // the modality that has it
  uint32_t stage_width = 0;     // stage and first-layer rows: H1, or d_model with attention
  uint32_t mlp_width = 0;  // head activations of one pass (with the first layer but attention's)
  uint32_t mlp_rows = 0;   // passes kept: one per token (late), else 1
  std::size_t floats = 0;  // every buffer together
};
WorkspaceShape workspace_shape(const FusionModel& model);

// Largest per-shard scratch a model may need: every shipped configuration needs well under a
// MiB; without a bound on the product, each field within its own range could ask for 64 MiB.
inline constexpr std::size_t kMaxWorkspaceBytes = std::size_t{8} << 20;

// A model with every tensor allocated and zero, statistics at identity (mean 0, std 1, IDF 1),
// initial calibration. Fails if the schema is unusable (no modality, a zero width) or if scoring
// would need more than kMaxWorkspaceBytes of scratch per shard (the error names the fields).
Result<FusionModel> make_model_skeleton(const ModelConfig& arch, const ModelSchema& schema);

// Random weights, deterministic by seed (Xavier-uniform matrices of more than one column, zero
// layer biases `.b`, other vectors small uniform; docs/fusion.md), so every strategy runs before
// training. Metadata: name, init_seed.
Result<FusionModel> init_model(const ModelConfig& arch, const EngineConfig& config, uint64_t seed);

// The model's schema against the config's: one error naming the first difference, e.g.
// "model expects modality 'imaging' with dim 512, config has 256".
Result<void> check_schema(const ModelSchema& model, const ModelSchema& config);

}  // namespace tfe
