#include "operators/encoders.h"

#include <algorithm>

#include "engine/snapshot.h"
#include "operators/hash.h"

namespace tfe {

uint64_t RawFeatureShape::wide_raw_dim() const {
  switch (kind) {
    case ModalityKind::vitals:
      return uint64_t{windows} * channels * kWindowStatCount;
    case ModalityKind::text:
      return uint64_t{dim} + text_hash_dim;
    case ModalityKind::embedding:
      return dim;
  }
  return 0;
}

namespace {

bool is_token_byte(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 32) : c; }

}  // namespace

void add_hashed_text_features(std::string_view text, std::span<float> buckets) {
  if (buckets.empty()) return;
  const auto n = static_cast<uint32_t>(buckets.size());
  bool have_prev = false;
  uint32_t prev_hash = 0;  // FNV-1a state after the previous token's bytes
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_token_byte(static_cast<uint8_t>(text[i]))) {
      ++i;
      continue;
    }
    // One token: hash it alone, and continue the previous token's state with " " + token for
    // the bigram (FNV-1a is streaming, so this equals hashing the joined string).
    uint32_t uni = kFnv32Offset;
    uint32_t bi = have_prev ? fnv1a32_byte(prev_hash, ' ') : 0;
    while (i < text.size() && is_token_byte(static_cast<uint8_t>(text[i]))) {
      const uint8_t c = lower(static_cast<uint8_t>(text[i]));
      uni = fnv1a32_byte(uni, c);
      if (have_prev) bi = fnv1a32_byte(bi, c);
      ++i;
    }
    buckets[uni % n] += 1.0f;
    if (have_prev) buckets[bi % n] += 1.0f;
    prev_hash = uni;
    have_prev = true;
  }
}

void encode_raw_event(const RawFeatureShape& shape, const Event& event, std::span<float> out) {
  std::fill(out.begin(), out.end(), 0.0f);
  switch (shape.kind) {
    case ModalityKind::vitals:
      return;  // vitals features are window statistics, built by the engine
    case ModalityKind::text: {
      if (shape.dim > 0 && event.embedding.size() == shape.dim) {
        std::copy(event.embedding.begin(), event.embedding.end(), out.begin());
      } else if (shape.text_hash_dim > 0) {
        add_hashed_text_features(event.text, out.subspan(shape.dim, shape.text_hash_dim));
      }
      return;
    }
    case ModalityKind::embedding:
      if (event.embedding.size() == shape.dim) {
        std::copy(event.embedding.begin(), event.embedding.end(), out.begin());
      }
      return;
  }
}

}  // namespace tfe
