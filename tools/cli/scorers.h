#pragma once
// What several subcommands share: the engine config from a TOML file, scorers by name (NEWS2 or a
// model file) and the dead-letter sink, each with a one-line error on failure.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "connectors/dead_letter.h"
#include "engine/config.h"
#include "engine/result.h"
#include "engine/scorer.h"
#include "operators/model_config.h"

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

// A --strategy value: empty gives none (the config's [model] decides), a fusion strategy's name
// gives it, anything else an error naming the choices (a usage error, checked before any file is
// read).
Result<std::optional<Strategy>> fusion_strategy_option(const std::string& text);

// Where a command sends the records it rejects.
struct DeadLetterFile {
  std::string path;              // --dead-letters FILE; empty: bad records are only counted
  bool without_payload = false;  // --dead-letters-without-payload: positions and reasons only
};

// The file given with --dead-letters, or a sink that only counts and logs when none is given.
Result<std::unique_ptr<DeadLetterSink>> open_dead_letters(const DeadLetterFile& file);

// Prints "tfe <command>: <message>" on stderr.
void print_error(const char* command, const Error& error);
void print_error(const char* command, const std::string& message);
// One line on stderr when vitals records named channels the config lacks: they were ignored, and
// a misspelt channel would otherwise go unnoticed (the records themselves are valid).
void warn_unknown_channels(const char* command, uint64_t count);

}  // namespace tfe::cli
