// The forward pass's per-shard scratch is bounded for every model that can exist: fields each
// within range can no longer combine into tens of MiB, and every shipped configuration fits.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "engine/config.h"
#include "operators/fusion_forward.h"
#include "operators/fusion_model.h"
#include "tests/operators/fusion_test_support.h"

namespace tfe {
namespace {

std::size_t allocated_floats(const Workspace& ws) {
  std::size_t n = 0;
  for (const std::vector<float>* v :
       {&ws.input, &ws.enc_hidden, &ws.latent, &ws.stage, &ws.timing, &ws.first, &ws.attn_score,
        &ws.attn_prob, &ws.attn_mix, &ws.context, &ws.mlp_pre, &ws.mlp_post, &ws.scratch}) {
    n += v->size();
  }
  return n;
}

// Builds the model and checks that its Workspace is what workspace_shape() says, within the
// bound.
void expect_fits(const ModelConfig& arch, const ModelSchema& schema, const std::string& what) {
  auto model = make_model_skeleton(arch, schema);
  ASSERT_TRUE(model) << what << ": " << model.error().message;
  const WorkspaceShape shape = workspace_shape(model.value());
  EXPECT_LE(shape.floats * sizeof(float), kMaxWorkspaceBytes) << what;
  const Workspace ws(model.value());
  EXPECT_EQ(allocated_floats(ws), shape.floats) << what;
}

// Sixteen text modalities of the widest input, with attention over sixteen events each: every
// field within its range, 256 token slots x 65536 features = 64 MiB of prepared inputs.
TEST(WorkspaceBounds, TheWorstCaseOfValidFieldsIsRefusedNamingThem) {
  ModelSchema schema;
  for (std::size_t m = 0; m < kMaxModalities; ++m) {
    ModelModality mod;
    mod.name = "notes" + std::to_string(m);
    mod.kind = ModalityKind::text;
    mod.text_hash_dim = 1u << 16;
    schema.modalities.push_back(mod);
  }
  ModelConfig arch;
  arch.strategy = Strategy::attention;
  arch.d_model = 1;
  arch.heads = 1;
  arch.history_k = kMaxHistoryK;
  ASSERT_TRUE(validate(arch));
  auto model = make_model_skeleton(arch, schema);
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().message,
            "model needs 64.0 MiB of scoring scratch per shard, at most 8 MiB: 256 token slots "
            "(history_k = 16) x 65536 features (modality 'notes0'), stage width 1 (hidden[0] = "
            "32, d_model = 1), head width 33 (hidden = [32]); lower history_k, hidden or d_model, "
            "or the modality's width");
  // One event per modality fits.
  arch.history_k = 1;
  expect_fits(arch, schema, "history_k = 1");
}

TEST(WorkspaceBounds, ShippedConfigsFitWithEveryStrategy) {
  std::vector<std::filesystem::path> files;
  for (const char* dir : {"/configs", "/configs/profiles"}) {
    for (const auto& e : std::filesystem::directory_iterator(std::string(TFE_SOURCE_DIR) + dir)) {
      if (e.path().extension() == ".toml") files.push_back(e.path());
    }
  }
  ASSERT_GE(files.size(), 8u);
  for (const auto& path : files) {
    auto doc = read_toml_file(path.string());
    ASSERT_TRUE(doc) << doc.error().message;
    auto config = engine_config_from_toml(doc.value());
    ASSERT_TRUE(config) << path << ": " << config.error().message;
    auto arch = model_config_from_toml(doc.value());
    ASSERT_TRUE(arch) << path << ": " << arch.error().message;
    for (Strategy s : kAllStrategies) {
      ModelConfig a = arch.value();
      a.strategy = s;
      expect_fits(a, model_schema_from_config(config.value()),
                  path.filename().string() + " " + std::string(to_string(s)));
    }
  }
}

// Each field at the top of its documented range, the others at their defaults, on the default
// deployment's modalities.
TEST(WorkspaceBounds, EachFieldAtItsMaximumFits) {
  const ModelSchema schema = model_schema_from_config(test::default_engine_config());
  std::vector<std::pair<std::string, ModelConfig>> cases;
  ModelConfig a;
  a.d_model = kMaxDModel;
  cases.emplace_back("d_model", a);
  a = {};
  a.d_model = kMaxHeads;
  a.heads = kMaxHeads;
  cases.emplace_back("heads", a);
  a = {};
  a.time2vec_k = kMaxTime2VecK;
  a.sinusoidal = true;
  a.sinusoidal_dim = kMaxSinusoidalDim;
  cases.emplace_back("timing", a);
  a = {};
  a.history_k = kMaxHistoryK;
  cases.emplace_back("history_k", a);
  a = {};
  a.hidden = {kMaxHiddenWidth, kMaxHiddenWidth};
  cases.emplace_back("hidden widths", a);
  a = {};
  a.hidden = std::vector<uint32_t>(kMaxHiddenLayers, 256);
  cases.emplace_back("hidden layers", a);
  a = {};
  a.encoder_hidden = kMaxHiddenWidth;
  cases.emplace_back("encoder_hidden", a);
  for (auto& [name, arch] : cases) {
    for (Strategy s : kAllStrategies) {
      arch.strategy = s;
      expect_fits(arch, schema, name + " " + std::string(to_string(s)));
    }
  }
}

}  // namespace
}  // namespace tfe
