#include "tools/cli/scorers.h"

#include <charconv>
#include <cstdio>
#include <filesystem>

#include "operators/fusion_operator.h"
#include "operators/model_file.h"
#include "operators/news2.h"

namespace tfe::cli {

Result<EngineConfig> load_engine_config(const std::string& path) {
  auto doc = read_toml_file(path);
  if (!doc) return doc.error();
  auto config = engine_config_from_toml(doc.value());
  if (!config) return make_error(config.error().code, path + ": " + config.error().message);
  return config;
}

Result<std::unique_ptr<DeadLetterSink>> open_dead_letters(const DeadLetterFile& file) {
  if (file.path.empty()) return std::make_unique<DeadLetterSink>();
  return DeadLetterSink::open(file.path, !file.without_payload);
}

Result<std::optional<Strategy>> fusion_strategy_option(const std::string& text) {
  if (text.empty()) return std::optional<Strategy>{};
  if (const std::optional<Strategy> strategy = strategy_from_string(text)) return strategy;
  return make_error(Errc::invalid_argument,
                    "unknown strategy '" + text + "' (early, intermediate, late or attention)");
}

Result<NamedScorer> news2_scorer(const EngineConfig& config) {
  auto scorer = make_news2_scorer(config);
  if (!scorer) return scorer.error();
  return NamedScorer{"news2", std::move(scorer.value()), std::nullopt};
}

Result<NamedScorer> model_scorer(const std::string& path, const EngineConfig& config) {
  auto model = load_model(path);
  if (!model) return model.error();
  auto shared = std::make_shared<const FusionModel>(std::move(model.value()));
  auto op = FusionOperator::create(shared, config);
  if (!op) return make_error(op.error().code, path + ": " + op.error().message);
  NamedScorer named{std::filesystem::path(path).stem().string(), std::move(op.value()),
                    std::nullopt};
  // Models written by training carry their label horizon in the metadata.
  if (auto it = shared->metadata.find("horizon_ms"); it != shared->metadata.end()) {
    int64_t ms = 0;
    const auto& text = it->second;
    if (std::from_chars(text.data(), text.data() + text.size(), ms).ec == std::errc{} && ms > 0) {
      named.horizon_ms = ms;
    }
  }
  return named;
}

void print_error(const char* command, const Error& error) { print_error(command, error.message); }

void print_error(const char* command, const std::string& message) {
  std::fprintf(stderr, "tfe %s: %s\n", command, message.c_str());
}

void warn_unknown_channels(const char* command, uint64_t count) {
  if (count == 0) return;
  std::fprintf(stderr,
               "tfe %s: warning: %llu vitals channel name(s) not in the config were ignored "
               "(names are case-sensitive)\n",
               command, static_cast<unsigned long long>(count));
}

}  // namespace tfe::cli
