#include "operators/model_config.h"

#include <fmt/format.h>

namespace tfe {

std::string_view to_string(Strategy strategy) {
  switch (strategy) {
    case Strategy::early:
      return "early";
    case Strategy::intermediate:
      return "intermediate";
    case Strategy::late:
      return "late";
    case Strategy::attention:
      return "attention";
  }
  return "?";
}

std::optional<Strategy> strategy_from_string(std::string_view name) {
  for (Strategy s : kAllStrategies) {
    if (to_string(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view to_string(CalibrationMethod method) {
  switch (method) {
    case CalibrationMethod::platt:
      return "platt";
    case CalibrationMethod::isotonic:
      return "isotonic";
  }
  return "?";
}

std::optional<CalibrationMethod> calibration_method_from_string(std::string_view name) {
  if (name == "platt") return CalibrationMethod::platt;
  if (name == "isotonic") return CalibrationMethod::isotonic;
  return std::nullopt;
}

namespace {

Error config_error(std::string message) { return make_error(Errc::config, std::move(message)); }

Result<void> check_range(std::string_view key, uint32_t value, uint32_t lo, uint32_t hi) {
  if (value < lo || value > hi) {
    return config_error(fmt::format("[model] {} = {} out of range [{}, {}]", key, value, lo, hi));
  }
  return ok();
}

Result<uint32_t> read_uint(const toml::node& node, std::string_view key) {
  auto v = node.value_exact<int64_t>();
  if (!v) return config_error(fmt::format("[model] {} must be an integer", key));
  if (*v < 0 || *v > int64_t{UINT32_MAX}) {
    // The key's own range is checked with the others (validate); this is the type's.
    return config_error(
        fmt::format("[model] {} = {} must be a whole number from 0 to {}", key, *v, UINT32_MAX));
  }
  return static_cast<uint32_t>(*v);
}

}  // namespace

Result<void> validate(const ModelConfig& c) {
  if (auto r = check_range("d_model", c.d_model, 1, kMaxDModel); !r) return r;
  if (auto r = check_range("heads", c.heads, 1, kMaxHeads); !r) return r;
  if (c.d_model % c.heads != 0) {
    return config_error(
        fmt::format("[model] heads = {} must divide d_model = {}", c.heads, c.d_model));
  }
  if (auto r = check_range("time2vec_k", c.time2vec_k, 0, kMaxTime2VecK); !r) return r;
  if (auto r = check_range("sinusoidal_dim", c.sinusoidal_dim, 2, kMaxSinusoidalDim); !r) {
    return r;
  }
  if (c.sinusoidal_dim % 2 != 0) {
    return config_error(fmt::format("[model] sinusoidal_dim = {} must be even", c.sinusoidal_dim));
  }
  if (auto r = check_range("history_k", c.history_k, 1, kMaxHistoryK); !r) return r;
  if (c.hidden.empty() || c.hidden.size() > kMaxHiddenLayers) {
    return config_error(fmt::format("[model] hidden must list 1 to {} layer widths, has {}",
                                    kMaxHiddenLayers, c.hidden.size()));
  }
  for (std::size_t i = 0; i < c.hidden.size(); ++i) {
    if (c.hidden[i] < 1 || c.hidden[i] > kMaxHiddenWidth) {
      return config_error(fmt::format("[model] hidden[{}] = {} out of range [1, {}]", i,
                                      c.hidden[i], kMaxHiddenWidth));
    }
  }
  if (auto r = check_range("encoder_hidden", c.encoder_hidden, 1, kMaxHiddenWidth); !r) return r;
  return ok();
}

Result<ModelConfig> model_config_from_toml(const toml::table& doc) {
  ModelConfig c;
  const toml::node* section = doc.get("model");
  if (section == nullptr) return c;
  const toml::table* t = section->as_table();
  if (t == nullptr) return config_error("[model] must be a table");

  for (const auto& [key_node, node] : *t) {
    const std::string_view key = key_node.str();
    if (key == "strategy" || key == "calibration") {
      auto s = node.value_exact<std::string>();
      if (!s) return config_error(fmt::format("[model] {} must be a string", key));
      if (key == "strategy") {
        auto v = strategy_from_string(*s);
        if (!v) {
          return config_error(fmt::format(
              "[model] strategy = \"{}\" unknown (early, intermediate, late, attention)", *s));
        }
        c.strategy = *v;
      } else {
        auto v = calibration_method_from_string(*s);
        if (!v) {
          return config_error(
              fmt::format("[model] calibration = \"{}\" unknown (platt, isotonic)", *s));
        }
        c.calibration = *v;
      }
    } else if (key == "sinusoidal") {
      auto b = node.value_exact<bool>();
      if (!b) return config_error("[model] sinusoidal must be true or false");
      c.sinusoidal = *b;
    } else if (key == "hidden") {
      const toml::array* a = node.as_array();
      if (a == nullptr) return config_error("[model] hidden must be an array of integers");
      c.hidden.clear();
      for (std::size_t i = 0; i < a->size(); ++i) {
        auto w = read_uint(*a->get(i), fmt::format("hidden[{}]", i));
        if (!w) return w.error();
        c.hidden.push_back(w.value());
      }
    } else {
      uint32_t* field = nullptr;
      if (key == "d_model") field = &c.d_model;
      if (key == "heads") field = &c.heads;
      if (key == "time2vec_k") field = &c.time2vec_k;
      if (key == "sinusoidal_dim") field = &c.sinusoidal_dim;
      if (key == "history_k") field = &c.history_k;
      if (key == "encoder_hidden") field = &c.encoder_hidden;
      if (field == nullptr)
        return config_error(fmt::format("[model] unknown key '{}'", quoted_text(key)));
      auto v = read_uint(node, key);
      if (!v) return v.error();
      *field = v.value();
    }
  }
  if (auto r = validate(c); !r) return r.error();
  return c;
}

}  // namespace tfe
