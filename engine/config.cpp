// Engine configuration: [engine] and [[modality]] from TOML, validated once at load. Every error
// is one line naming the offending field; unknown keys in these sections are errors so that a
// misspelt key never passes silently. Other top-level sections belong to other components and are
// not looked at here.

#include "engine/config.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <initializer_list>
#include <limits>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/duration.h"

namespace tfe {
namespace {

// Windows longer than this would not fit the int32 millisecond offsets of the window rings.
constexpr int64_t kMaxWindowMs = 7LL * 24 * 3600 * 1000;
constexpr std::size_t kMaxWindows = 8;
constexpr uint32_t kMaxShards = 256;
// One offset per second of an hour-long cadence at most: more phases than that buy nothing.
constexpr uint32_t kMaxTickPhases = 3600;
constexpr uint32_t kMaxHistory = 1024;
constexpr uint32_t kMaxDim = 1u << 20;
// Every duration of the engine stays within ten years: sums of them (a restore's lookback is a
// horizon plus the allowed lateness plus a cadence) then never overflow.
constexpr int64_t kMaxDurationMs = 3650LL * 24 * 3600 * 1000;

struct Unit {
  std::string_view suffix;
  int64_t ms;
};
// Longest suffix first so that "ms" is not read as "m".
constexpr std::array<Unit, 5> kUnits{
    {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};

Error config_error(std::string message) { return make_error(Errc::config, std::move(message)); }

// Rejects keys of `table` that are not in `allowed`.
Result<void> check_keys(const toml::table& table, std::initializer_list<std::string_view> allowed,
                        std::string_view context) {
  for (const auto& [key, value] : table) {
    (void)value;
    if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
      return config_error(fmt::format("{}: unknown key '{}'", context, quoted_text(key.str())));
    }
  }
  return ok();
}

Result<int64_t> read_integer(const toml::node& node, std::string_view field, int64_t lo,
                             int64_t hi) {
  const auto* value = node.as_integer();
  if (value == nullptr) return config_error(fmt::format("{}: expected an integer", field));
  const int64_t v = value->get();
  if (v < lo || v > hi) {
    return config_error(fmt::format("{}: must be between {} and {} (got {})", field, lo, hi, v));
  }
  return v;
}

Result<bool> read_bool(const toml::node& node, std::string_view field) {
  const auto* value = node.as_boolean();
  if (value == nullptr) return config_error(fmt::format("{}: expected true or false", field));
  return value->get();
}

Result<std::string> read_string(const toml::node& node, std::string_view field) {
  const auto* value = node.as_string();
  if (value == nullptr) return config_error(fmt::format("{}: expected a string", field));
  return value->get();
}

// A duration that must be > 0 (or >= 0 with allow_zero).
Result<int64_t> read_duration(const toml::node& node, std::string_view field, bool allow_zero) {
  auto ms = duration_from_toml(node, field);
  if (!ms) return ms.error();
  if (ms.value() == 0 && !allow_zero) return config_error(fmt::format("{}: must be > 0", field));
  if (ms.value() > kMaxDurationMs) {
    return config_error(fmt::format("{}: at most 3650d", field));
  }
  return ms.value();
}

Result<void> read_engine_section(const toml::table& engine, EngineConfig& config) {
  auto keys =
      check_keys(engine,
                 {"windows", "tick_cadence", "tick_phases", "tick_on_event", "allowed_lateness",
                  "shards", "max_event_skew", "max_record_bytes", "max_window_samples"},
                 "[engine]");
  if (!keys) return keys.error();

  if (const auto* node = engine.get("windows")) {
    const auto* array = node->as_array();
    if (array == nullptr) {
      return config_error(
          "engine.windows: expected an array of durations such as [\"5m\", \"15m\"]");
    }
    if (array->empty()) return config_error("engine.windows: at least one window is required");
    if (array->size() > kMaxWindows) {
      return config_error(fmt::format("engine.windows: at most {} windows", kMaxWindows));
    }
    config.windows_ms.clear();
    for (const auto& item : *array) {
      auto ms = read_duration(item, "engine.windows", false);
      if (!ms) return ms.error();
      if (ms.value() > kMaxWindowMs) {
        return config_error(fmt::format("engine.windows: {} is longer than the maximum of {}",
                                        format_duration_ms(ms.value()),
                                        format_duration_ms(kMaxWindowMs)));
      }
      if (std::find(config.windows_ms.begin(), config.windows_ms.end(), ms.value()) !=
          config.windows_ms.end()) {
        return config_error(
            fmt::format("engine.windows: duplicate window {}", format_duration_ms(ms.value())));
      }
      config.windows_ms.push_back(ms.value());
    }
  }
  if (const auto* node = engine.get("tick_cadence")) {
    auto ms = read_duration(*node, "engine.tick_cadence", false);
    if (!ms) return ms.error();
    config.tick_cadence_ms = ms.value();
  }
  if (const auto* node = engine.get("tick_phases")) {
    auto value = read_integer(*node, "engine.tick_phases", 1, kMaxTickPhases);
    if (!value) return value.error();
    config.tick_phases = static_cast<uint32_t>(value.value());
  }
  if (config.tick_cadence_ms % config.tick_phases != 0) {
    return config_error(fmt::format(
        "engine.tick_phases: {} does not divide the tick cadence ({} ms) into whole milliseconds",
        config.tick_phases, config.tick_cadence_ms));
  }
  if (const auto* node = engine.get("tick_on_event")) {
    auto value = read_bool(*node, "engine.tick_on_event");
    if (!value) return value.error();
    config.tick_on_event = value.value();
  }
  if (const auto* node = engine.get("allowed_lateness")) {
    auto ms = read_duration(*node, "engine.allowed_lateness", true);
    if (!ms) return ms.error();
    config.allowed_lateness_ms = ms.value();
  }
  if (const auto* node = engine.get("shards")) {
    auto value = read_integer(*node, "engine.shards", 1, kMaxShards);
    if (!value) return value.error();
    config.shards = static_cast<uint32_t>(value.value());
  }
  if (const auto* node = engine.get("max_event_skew")) {
    auto ms = read_duration(*node, "engine.max_event_skew", true);
    if (!ms) return ms.error();
    config.max_event_skew_ms = ms.value();
  }
  if (const auto* node = engine.get("max_record_bytes")) {
    auto value = read_integer(*node, "engine.max_record_bytes", 64, 1LL << 30);
    if (!value) return value.error();
    config.max_record_bytes = static_cast<uint32_t>(value.value());
  }
  if (const auto* node = engine.get("max_window_samples")) {
    auto value = read_integer(*node, "engine.max_window_samples", 2, 1LL << 20);
    if (!value) return value.error();
    config.max_window_samples = static_cast<uint32_t>(value.value());
  }
  return ok();
}

Result<ModalitySpec> read_modality(const toml::table& table, std::size_t position) {
  ModalitySpec spec;
  // Until the name is known, errors name the entry by its 1-based position.
  std::string context = fmt::format("modality #{}", position + 1);

  const auto* name_node = table.get("name");
  if (name_node == nullptr) return config_error(fmt::format("{}: name is required", context));
  auto name = read_string(*name_node, context + ": name");
  if (!name) return name.error();
  spec.name = std::move(name).value();
  if (!valid_name(spec.name)) {
    return config_error(fmt::format(
        "{}: name must be 1 to {} bytes long, without control characters", context, kMaxNameBytes));
  }
  if (spec.name == "outcome") {
    return config_error(fmt::format(
        "{}: name 'outcome' is reserved for outcome labels and cannot be a modality", context));
  }
  context = fmt::format("modality '{}'", spec.name);

  auto keys = check_keys(table,
                         {"name", "kind", "topic", "channels", "dim", "horizon", "cadence",
                          "history", "text_hash_dim", "l2_normalize"},
                         context);
  if (!keys) return keys.error();

  const auto* kind_node = table.get("kind");
  if (kind_node == nullptr) {
    return config_error(
        fmt::format("{}: kind is required (one of vitals, text, embedding)", context));
  }
  auto kind_name = read_string(*kind_node, context + ": kind");
  if (!kind_name) return kind_name.error();
  const auto kind = modality_kind_from_string(kind_name.value());
  if (!kind) {
    return config_error(fmt::format("{}: kind must be one of vitals, text, embedding (got '{}')",
                                    context, quoted_text(kind_name.value())));
  }
  spec.kind = *kind;

  if (const auto* node = table.get("topic")) {
    auto topic = read_string(*node, context + ": topic");
    if (!topic) return topic.error();
    if (topic.value().empty())
      return config_error(fmt::format("{}: topic must not be empty", context));
    spec.topic = std::move(topic).value();
  } else {
    spec.topic = "tfe." + spec.name;
  }

  const auto* channels_node = table.get("channels");
  if (spec.kind == ModalityKind::vitals) {
    if (channels_node == nullptr) {
      return config_error(fmt::format("{}: channels is required for kind vitals", context));
    }
    const auto* array = channels_node->as_array();
    if (array == nullptr) {
      return config_error(fmt::format("{}: channels must be an array of names", context));
    }
    if (array->empty()) {
      return config_error(fmt::format("{}: channels must list at least one channel", context));
    }
    if (array->size() > kMaxChannels) {
      return config_error(fmt::format("{}: channels has {} entries, at most {} are supported",
                                      context, array->size(), kMaxChannels));
    }
    for (const auto& item : *array) {
      const auto* channel = item.as_string();
      if (channel == nullptr || !valid_name(channel->get())) {
        return config_error(
            fmt::format("{}: channels must be names of 1 to {} bytes, without control characters",
                        context, kMaxNameBytes));
      }
      if (std::find(spec.channels.begin(), spec.channels.end(), channel->get()) !=
          spec.channels.end()) {
        return config_error(fmt::format("{}: channels lists '{}' twice", context, channel->get()));
      }
      spec.channels.push_back(channel->get());
    }
  } else if (channels_node != nullptr) {
    return config_error(fmt::format("{}: channels is only valid for kind vitals", context));
  }

  const auto* dim_node = table.get("dim");
  if (spec.kind == ModalityKind::vitals) {
    if (dim_node != nullptr) {
      return config_error(
          fmt::format("{}: dim is not valid for kind vitals (its shape is channels)", context));
    }
  } else if (dim_node != nullptr) {
    auto dim = read_integer(*dim_node, context + ": dim", std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max());
    if (!dim) return dim.error();
    const bool zero_allowed = spec.kind == ModalityKind::text;  // text: 0 means no embedding
    if (dim.value() < (zero_allowed ? 0 : 1)) {
      return config_error(
          fmt::format("{}: dim must be {}", context, zero_allowed ? ">= 0" : "> 0"));
    }
    if (dim.value() > kMaxDim) {
      return config_error(fmt::format("{}: dim must be at most {}", context, kMaxDim));
    }
    spec.dim = static_cast<uint32_t>(dim.value());
  } else if (spec.kind == ModalityKind::embedding) {
    return config_error(fmt::format("{}: dim must be > 0 (required for kind embedding)", context));
  }

  const auto* horizon_node = table.get("horizon");
  if (horizon_node == nullptr) {
    return config_error(fmt::format("{}: horizon is required (e.g. \"15m\")", context));
  }
  auto horizon = read_duration(*horizon_node, context + ": horizon", false);
  if (!horizon) return horizon.error();
  spec.horizon_ms = horizon.value();

  if (const auto* node = table.get("cadence")) {
    auto cadence = read_duration(*node, context + ": cadence", false);
    if (!cadence) return cadence.error();
    spec.cadence_ms = cadence.value();
  }
  if (const auto* node = table.get("history")) {
    auto history = read_integer(*node, context + ": history", 1, kMaxHistory);
    if (!history) return history.error();
    spec.history = static_cast<uint32_t>(history.value());
  }
  if (const auto* node = table.get("text_hash_dim")) {
    if (spec.kind != ModalityKind::text) {
      return config_error(fmt::format("{}: text_hash_dim is only valid for kind text", context));
    }
    auto value = read_integer(*node, context + ": text_hash_dim", 1, kMaxDim);
    if (!value) return value.error();
    spec.text_hash_dim = static_cast<uint32_t>(value.value());
  }
  if (const auto* node = table.get("l2_normalize")) {
    if (spec.kind == ModalityKind::vitals) {
      return config_error(
          fmt::format("{}: l2_normalize is only valid for kinds text and embedding", context));
    }
    auto value = read_bool(*node, context + ": l2_normalize");
    if (!value) return value.error();
    spec.l2_normalize = value.value();
  }
  return spec;
}

}  // namespace

Result<int64_t> parse_duration_ms(std::string_view text) {
  auto bad = [&] {
    return config_error(
        fmt::format("'{}' is not a duration (expected an integer with a unit: ms, s, m, h or d)",
                    quoted_text(text)));
  };
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return bad();
  const std::string_view suffix = text.substr(digits);
  for (const Unit& unit : kUnits) {
    if (suffix != unit.suffix) continue;
    int64_t count = 0;
    const auto [end, errc] = std::from_chars(text.data(), text.data() + digits, count);
    if (errc != std::errc{} || end != text.data() + digits ||
        count > std::numeric_limits<int64_t>::max() / unit.ms) {
      return config_error(fmt::format("'{}' is too long a duration", quoted_text(text)));
    }
    return count * unit.ms;
  }
  return bad();
}

Result<int64_t> duration_from_toml(const toml::node& node, std::string_view field) {
  if (const auto* integer = node.as_integer()) {
    if (integer->get() < 0) {
      return config_error(fmt::format("{}: a duration must not be negative", field));
    }
    return integer->get();
  }
  if (const auto* string = node.as_string()) {
    auto ms = parse_duration_ms(string->get());
    if (!ms) return config_error(fmt::format("{}: {}", field, ms.error().message));
    return ms.value();
  }
  return config_error(fmt::format(
      "{}: expected a duration such as \"60s\" or an integer number of milliseconds", field));
}

std::string format_duration_ms(int64_t ms) {
  if (ms != 0) {
    for (auto it = kUnits.rbegin(); it != kUnits.rend(); ++it) {
      if (ms % it->ms == 0) return fmt::format("{}{}", ms / it->ms, it->suffix);
    }
  }
  return fmt::format("{}ms", ms);
}

Result<EngineConfig> engine_config_from_toml(const toml::table& doc) {
  EngineConfig config;
  // Every config is read through here first: a key outside any section, or a section no part of
  // tfe reads (a misspelt [trainig]), is an error rather than a setting silently ignored.
  for (const auto& [key, node] : doc) {
    // A known section of the wrong shape is left to the check of its own reader.
    if (std::find(kConfigSections.begin(), kConfigSections.end(), key.str()) !=
        kConfigSections.end()) {
      continue;
    }
    if (!node.is_table() && !node.is_array_of_tables()) {
      return config_error(
          fmt::format("'{}' is outside any section; settings go under a section such as [engine]",
                      quoted_text(key.str())));
    }
    return config_error(fmt::format("unknown section [{}]; a config holds {}",
                                    quoted_text(key.str()), fmt::join(kConfigSections, ", ")));
  }
  if (const auto* node = doc.get("engine")) {
    const auto* engine = node->as_table();
    if (engine == nullptr) return config_error("[engine]: expected a table");
    auto read = read_engine_section(*engine, config);
    if (!read) return read.error();
  }

  const auto* modalities_node = doc.get("modality");
  if (modalities_node == nullptr) {
    return config_error("[[modality]]: at least one modality is required");
  }
  const auto* modalities = modalities_node->as_array();
  if (modalities == nullptr || !modalities->is_array_of_tables()) {
    return config_error("[[modality]]: expected an array of tables ([[modality]] entries)");
  }
  if (modalities->empty()) return config_error("[[modality]]: at least one modality is required");
  if (modalities->size() > kMaxModalities) {
    return config_error(fmt::format("[[modality]]: {} modalities configured, at most {} supported",
                                    modalities->size(), kMaxModalities));
  }
  std::vector<ModalitySpec> specs;
  for (std::size_t i = 0; i < modalities->size(); ++i) {
    auto spec = read_modality(*modalities->get(i)->as_table(), i);
    if (!spec) return spec.error();
    for (std::size_t j = 0; j < specs.size(); ++j) {
      if (specs[j].name == spec.value().name) {
        return config_error(fmt::format("modality '{}': duplicate name (entries #{} and #{})",
                                        spec.value().name, j + 1, i + 1));
      }
    }
    specs.push_back(std::move(spec).value());
  }
  config.schema = ModalitySchema(std::move(specs));
  // A vitals ring holds at most max_window_samples readings: at a declared cadence that cannot
  // fill the longest window, its statistics would cover less time than the window says. A window
  // includes both its ends (event_time >= t - W), so it holds one reading more than W / cadence.
  const int64_t longest = *std::max_element(config.windows_ms.begin(), config.windows_ms.end());
  for (const ModalitySpec& spec : config.schema.specs()) {
    if (spec.kind != ModalityKind::vitals || spec.cadence_ms <= 0) continue;
    const int64_t readings = longest / spec.cadence_ms + 1;
    if (readings > static_cast<int64_t>(config.max_window_samples)) {
      return config_error(fmt::format(
          "modality '{}': the longest window ({}) at its cadence ({}) holds {} readings, more "
          "than engine.max_window_samples ({}): raise it or shorten the window",
          spec.name, format_duration_ms(longest), format_duration_ms(spec.cadence_ms), readings,
          config.max_window_samples));
    }
  }
  return config;
}

Result<toml::table> read_toml_file(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    // A missing or unreadable file is reported by toml++ as a parse error without a position.
    if (begin.line == 0) {
      return make_error(Errc::io, fmt::format("{}: {}", path, error.description()));
    }
    return make_error(Errc::parse, fmt::format("{}:{}:{}: {}", path, begin.line, begin.column,
                                               error.description()));
  }
}

}  // namespace tfe
