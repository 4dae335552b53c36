#pragma once
// The modality schema: which modalities exist, of what kind and shape. Comes from configuration;
// nothing under engine/ names a concrete modality.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tfe {

enum class ModalityKind : uint8_t {
  vitals,     // named numeric channels, window statistics kept per channel
  text,       // free text and/or an upstream embedding
  embedding,  // a fixed-dimension vector
};

std::string_view to_string(ModalityKind kind);
std::optional<ModalityKind> modality_kind_from_string(std::string_view name);

using ModalityIndex = uint8_t;
// Outcome events (history only) are not a configured modality: they carry labels, never state.
inline constexpr ModalityIndex kOutcomeModality = 255;
inline constexpr std::size_t kMaxModalities = 16;
inline constexpr std::size_t kMaxChannels = 16;
inline constexpr std::size_t kMaxNameBytes = 64;  // modality and channel names

// A modality or channel name: 1 to kMaxNameBytes bytes with no control character (ASCII, or the
// UTF-8 of a C1 control, a line or a paragraph separator), so that every message quoting it stays
// one line.
inline bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto u = static_cast<unsigned char>(name[i]);
    const auto next = i + 1 < name.size() ? static_cast<unsigned char>(name[i + 1]) : 0;
    const auto third = i + 2 < name.size() ? static_cast<unsigned char>(name[i + 2]) : 0;
    if (u < 0x20 || u == 0x7f) return false;
    if (u == 0xc2 && next >= 0x80 && next <= 0x9f) return false;                      // U+0080..9F
    if (u == 0xe2 && next == 0x80 && (third == 0xa8 || third == 0xa9)) return false;  // U+2028/9
  }
  return true;
}

struct ModalitySpec {
  std::string name;
  ModalityKind kind = ModalityKind::vitals;
  std::string topic;                  // Kafka topic carrying this modality
  std::vector<std::string> channels;  // vitals only, at most kMaxChannels
  uint32_t dim = 0;        // embedding: vector length; text: upstream embedding length (0: none)
  int64_t horizon_ms = 0;  // freshness horizon: older state is evicted
  int64_t cadence_ms = 0;  // expected interval between events (for profiling and pacing)
  uint32_t history = 4;    // events kept in the per-modality history ring
  // Encoder options (read by operators/).
  uint32_t text_hash_dim = 256;  // text: hashed word/bigram feature dimension
  bool l2_normalize = true;      // text/embedding vectors
};

class ModalitySchema {
 public:
  ModalitySchema() = default;
  explicit ModalitySchema(std::vector<ModalitySpec> specs);

  std::size_t size() const { return specs_.size(); }
  const ModalitySpec& operator[](ModalityIndex i) const { return specs_[i]; }
  const std::vector<ModalitySpec>& specs() const { return specs_; }
  std::optional<ModalityIndex> find(std::string_view name) const;
  // Index of a channel within a vitals modality.
  std::optional<uint8_t> find_channel(ModalityIndex m, std::string_view channel) const;
  int64_t max_horizon_ms() const;

 private:
  std::vector<ModalitySpec> specs_;
};

}  // namespace tfe
