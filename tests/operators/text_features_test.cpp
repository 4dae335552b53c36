// The built-in text encoder's fixed hash: known values, tokenisation, bigrams.

#include <gtest/gtest.h>

#include <vector>

#include "operators/encoders.h"
#include "operators/hash.h"

namespace tfe {
namespace {

TEST(Fnv, KnownValues) {
  EXPECT_EQ(fnv1a32(""), 0x811c9dc5u);
  EXPECT_EQ(fnv1a32("a"), 0xe40c292cu);
  EXPECT_EQ(fnv1a32("foobar"), 0xbf9cf968u);
  const std::string_view foobar = "foobar";
  EXPECT_EQ(fnv1a64(std::span(reinterpret_cast<const uint8_t*>(foobar.data()), foobar.size())),
            0x85944171f73967e8ull);
  EXPECT_EQ(fnv1a64({}), 0xcbf29ce484222325ull);
  EXPECT_EQ(hex64(0x85944171f73967e8ull), "85944171f73967e8");
}

TEST(TextFeatures, HashedUnigramsAndBigramsAtKnownBuckets) {
  std::vector<float> b(1024, 0.0f);
  add_hashed_text_features("Hello, HELLO world", b);
  // fnv1a32: "hello" 0x4f9f2cab -> 171, "world" 0x37a3e893 -> 147,
  // "hello hello" 0xcba01bbf -> 959, "hello world" 0xd58b3fa7 -> 935.
  EXPECT_EQ(b[171], 2.0f);
  EXPECT_EQ(b[147], 1.0f);
  EXPECT_EQ(b[959], 1.0f);
  EXPECT_EQ(b[935], 1.0f);
  float total = 0.0f;
  for (float x : b) total += x;
  EXPECT_EQ(total, 5.0f);  // 3 unigrams + 2 bigrams
}

TEST(TextFeatures, SeparatorsAndUtf8) {
  std::vector<float> b(256, 0.0f);
  // "38.5C" is the tokens "38" and "5c"; "café" stays one token (UTF-8 bytes are token bytes).
  add_hashed_text_features("38.5C café", b);
  EXPECT_EQ(b[14], 1.0f);   // "38"   0x8ff05e0e % 256
  EXPECT_EQ(b[201], 1.0f);  // "5c"   0x56e0f9c9 % 256
  EXPECT_EQ(b[73], 1.0f);   // "café" 0xa82b5049 % 256
  float total = 0.0f;
  for (float x : b) total += x;
  EXPECT_EQ(total, 5.0f);  // 3 unigrams + 2 bigrams
}

TEST(TextFeatures, EmptyAndSeparatorOnlyTextGiveZeros) {
  std::vector<float> b(64, 0.0f);
  add_hashed_text_features("", b);
  add_hashed_text_features(" ,.;-- ", b);
  for (float x : b) EXPECT_EQ(x, 0.0f);
}

TEST(RawEncoder, TextUsesTheUpstreamEmbeddingWhenPresentElseHashes) {
  RawFeatureShape shape{ModalityKind::text, 0, 0, 3, 8};
  RawEncoder enc(shape);
  ASSERT_EQ(enc.dim(), 11u);
  std::vector<float> out(11, -1.0f);
  Event e;
  e.text = "a";
  e.embedding = {1.0f, 2.0f, 3.0f};
  enc.encode(e, out);
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0}));
  e.embedding.clear();
  enc.encode(e, out);
  std::vector<float> expected(11, 0.0f);
  expected[3 + 0xe40c292cu % 8] = 1.0f;
  EXPECT_EQ(out, expected);
}

}  // namespace
}  // namespace tfe
