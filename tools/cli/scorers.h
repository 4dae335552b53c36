#pragma once
// What several subcommands share: the engine config from a TOML file, and scorers by name
// (NEWS2 or a model file), each with a one-line error on failure.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "engine/config.h"
#include "engine/result.h"
#include "engine/scorer.h"

namespace tfe::cli {

// [engine] and [[modality]] of a TOML file, validated.
Result<EngineConfig> load_engine_config(const std::string& path);

struct NamedScorer {
  std::string label;  // "news2", or the model file's name
  std::shared_ptr<const Scorer> scorer;
  std::optional<int64_t> horizon_ms;  // the label horizon the model was trained with, if known
};

Result<NamedScorer> news2_scorer(const EngineConfig& config);
// Loads and validates a model file against the config's modalities.
Result<NamedScorer> model_scorer(const std::string& path, const EngineConfig& config);

// Prints "tfe <command>: <message>" on stderr.
void print_error(const char* command, const Error& error);
void print_error(const char* command, const std::string& message);

}  // namespace tfe::cli
