// The modality schema: kind names and lookups.

#include "engine/modality.h"

#include <algorithm>
#include <utility>

namespace tfe {

std::string_view to_string(ModalityKind kind) {
  switch (kind) {
    case ModalityKind::vitals:
      return "vitals";
    case ModalityKind::text:
      return "text";
    case ModalityKind::embedding:
      return "embedding";
  }
  return "unknown";  // unreachable for valid enum values
}

std::optional<ModalityKind> modality_kind_from_string(std::string_view name) {
  for (ModalityKind kind : {ModalityKind::vitals, ModalityKind::text, ModalityKind::embedding}) {
    if (to_string(kind) == name) return kind;
  }
  return std::nullopt;
}

ModalitySchema::ModalitySchema(std::vector<ModalitySpec> specs) : specs_(std::move(specs)) {}

std::optional<ModalityIndex> ModalitySchema::find(std::string_view name) const {
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    if (specs_[i].name == name) return static_cast<ModalityIndex>(i);
  }
  return std::nullopt;
}

std::optional<uint8_t> ModalitySchema::find_channel(ModalityIndex m,
                                                    std::string_view channel) const {
  if (m >= specs_.size()) return std::nullopt;
  const auto& channels = specs_[m].channels;
  for (std::size_t c = 0; c < channels.size(); ++c) {
    if (channels[c] == channel) return static_cast<uint8_t>(c);
  }
  return std::nullopt;
}

int64_t ModalitySchema::max_horizon_ms() const {
  int64_t result = 0;
  for (const auto& spec : specs_) result = std::max(result, spec.horizon_ms);
  return result;
}

}  // namespace tfe
