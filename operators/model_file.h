#pragma once
// Model files: one self-describing, versioned binary file per model (layout in
// docs/model-format.md). The FNV-1a 64 of every byte before the trailer is both the whole-file
// checksum and the model id (16 hex digits) carried in every score.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/result.h"
#include "operators/fusion_model.h"

namespace tfe {

inline constexpr char kModelMagic[8] = {'T', 'F', 'E', 'M', 'O', 'D', 'E', 'L'};
inline constexpr uint32_t kModelFormatVersion = 1;

// Largest magnitudes a model file may hold, per kind of value. Trained models stay far inside
// (weights within about 10, IDF within about 20); the bounds keep every intermediate of a forward
// pass finite (docs/model-format.md, "Value bounds"), so that no score is ever NaN.
inline constexpr float kMaxWeight = 1e4f;                // |w| of every WGHT tensor
inline constexpr float kMaxStatistic = 1e15f;            // |mean| and std of vitals statistics
inline constexpr float kMaxIdf = 1e3f;                   // text IDF weights, from 0
inline constexpr float kMaxCalibrationMagnitude = 1e6f;  // Platt a, b; isotonic thresholds

// Deterministic bytes: the same model always serialises to the same bytes.
std::vector<uint8_t> serialize_model(const FusionModel& model);

// Parses and validates bytes: magic, version, declared size (truncation), checksum (corruption),
// every section and field, tensor names and shapes against the layout the architecture implies,
// finite values within the bounds above, statistics and calibration invariants. One error naming
// the field.
Result<FusionModel> parse_model(std::span<const uint8_t> bytes);

// The model id: hex of the FNV-1a 64 checksum of serialize_model(model).
std::string model_id(const FusionModel& model);

Result<void> save_model(const FusionModel& model, const std::string& path);
// Errors are prefixed with the path: "model.tfm: model file truncated: ...".
Result<FusionModel> load_model(const std::string& path);

// Whether a model can score under a config: the modality schemas must agree (names in order,
// kinds, dims, channels, encoder settings, windows), e.g. "model expects modality 'imaging' with
// dim 512, config has 256".
Result<void> check_model_matches_config(const FusionModel& model, const EngineConfig& config);

}  // namespace tfe
