#pragma once
// The [model] section of the TOML config: fusion strategy and architecture hyper-parameters.
// Every key is optional; see docs/fusion.md for the keys, defaults and ranges.
//
//   [model]
//   strategy = "late"        # early | intermediate | late | attention
//   d_model = 32             # attention token width; intermediate latent width
//   heads = 2                # attention heads (must divide d_model)
//   time2vec_k = 4           # periodic Time2Vec terms per modality
//   sinusoidal = false       # add a fixed sinusoidal encoding of log(1 + age_s)
//   sinusoidal_dim = 8       # its width (even)
//   history_k = 1            # attention: tokens per text/embedding modality (last K events)
//   hidden = [32]            # hidden layer widths of every MLP head
//   encoder_hidden = 32      # intermediate: hidden width of each per-modality encoder
//   calibration = "platt"    # platt | isotonic

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "engine/result.h"

namespace tfe {

enum class Strategy : uint8_t { early, intermediate, late, attention };
inline constexpr Strategy kAllStrategies[] = {Strategy::early, Strategy::intermediate,
                                              Strategy::late, Strategy::attention};

std::string_view to_string(Strategy strategy);
std::optional<Strategy> strategy_from_string(std::string_view name);

enum class CalibrationMethod : uint8_t { platt, isotonic };

std::string_view to_string(CalibrationMethod method);
std::optional<CalibrationMethod> calibration_method_from_string(std::string_view name);

// Upper bounds keep per-shard scratch small and reject typos such as d_model = 32000.
inline constexpr uint32_t kMaxDModel = 1024;
inline constexpr uint32_t kMaxHeads = 64;
inline constexpr uint32_t kMaxTime2VecK = 64;
inline constexpr uint32_t kMaxSinusoidalDim = 64;
inline constexpr uint32_t kMaxHistoryK = 16;
inline constexpr uint32_t kMaxHiddenLayers = 8;
inline constexpr uint32_t kMaxHiddenWidth = 4096;

struct ModelConfig {
  Strategy strategy = Strategy::late;  // the safe default while availability is unknown
  uint32_t d_model = 32;
  uint32_t heads = 2;
  uint32_t time2vec_k = 4;
  bool sinusoidal = false;
  uint32_t sinusoidal_dim = 8;
  uint32_t history_k = 1;
  std::vector<uint32_t> hidden{32};
  uint32_t encoder_hidden = 32;
  CalibrationMethod calibration = CalibrationMethod::platt;

  bool operator==(const ModelConfig&) const = default;
};

// Checks ranges and relations (heads divide d_model, ...). Errors name the key:
// "[model] heads = 3 must divide d_model = 32".
Result<void> validate(const ModelConfig& config);

// Reads [model] from a parsed document (defaults when the section or a key is absent) and
// validates it. Unknown keys are errors, so a misspelt key is never silently ignored.
Result<ModelConfig> model_config_from_toml(const toml::table& doc);

// Width of the timing encoding of one token: Time2Vec (1 + k) plus the sinusoidal part.
inline uint32_t timing_dim(const ModelConfig& config) {
  return 1 + config.time2vec_k + (config.sinusoidal ? config.sinusoidal_dim : 0);
}

}  // namespace tfe
