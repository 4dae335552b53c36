#pragma once
// Raw modality features: what an event or a window contributes before any model statistics are
// applied. Training records these; a model turns them into its inputs with prepare_input()
// (operators/fusion_forward.h). See docs/fusion.md for the layouts.
//
//   vitals     [windows][channels][kWindowStatCount] window statistics (built by the engine)
//   text       [dim | text_hash_dim]: the upstream embedding when the event carries one of the
//              configured length, else hashed term frequencies of the text (the other part zero)
//   embedding  [dim]: the vector as is

#include <cstdint>
#include <span>
#include <string_view>

#include "engine/modality.h"
#include "engine/scorer.h"

namespace tfe {

// What an encoder needs to know of its modality (a subset of ModalitySpec).
struct RawFeatureShape {
  ModalityKind kind = ModalityKind::vitals;
  uint32_t channels = 0;       // vitals
  uint32_t windows = 0;        // vitals
  uint32_t dim = 0;            // text: upstream embedding length (0: none); embedding: length
  uint32_t text_hash_dim = 0;  // text: hashed feature buckets (0: no built-in text encoder)

  // The width in 64 bits: a model file may declare any u32 dims, and their sum must not wrap
  // before the schema check compares it with the largest input width.
  uint64_t wide_raw_dim() const;
  // The width of a checked shape (at most the largest input width, so it fits).
  uint32_t raw_dim() const { return static_cast<uint32_t>(wide_raw_dim()); }
};

// Adds hashed unigram and bigram term frequencies of text into buckets (size = bucket count).
// Tokens: maximal runs of ASCII letters and digits, plus bytes >= 0x80 (UTF-8 stays whole);
// A-Z lower-cased; everything else separates. A unigram counts 1 in bucket
// fnv1a32(token) % buckets; a bigram of consecutive tokens a, b counts 1 in
// fnv1a32(a + " " + b) % buckets. Unsigned: collisions add.
void add_hashed_text_features(std::string_view text, std::span<float> buckets);

// Raw features of one text or embedding event; out: [shape.raw_dim()], fully written.
// An embedding whose length differs from the configured dim is ignored (zeros; the engine
// rejects such events before they reach an encoder).
void encode_raw_event(const RawFeatureShape& shape, const Event& event, std::span<float> out);

// The engine-facing encoder for raw features (training examples, reference scoring).
class RawEncoder final : public ModalityEncoder {
 public:
  explicit RawEncoder(RawFeatureShape shape) : shape_(shape) {}
  uint32_t dim() const override { return shape_.raw_dim(); }
  void encode(const Event& event, std::span<float> out) const override {
    encode_raw_event(shape_, event, out);
  }

 private:
  RawFeatureShape shape_;
};

}  // namespace tfe
