// Patient registry: stable hashing, pseudonyms and interning.

#include <gtest/gtest.h>

#include <string>
#include <unordered_set>

#include "engine/patient_registry.h"

namespace tfe {
namespace {

TEST(PatientHash, KnownValuesNeverChange) {
  // FNV-1a 64 then the splitmix64 finaliser; pinned so that shard routing, data splits and log
  // pseudonyms stay the same on every machine and release.
  EXPECT_EQ(patient_hash(""), 17665956581633026203ull);
  EXPECT_EQ(patient_hash("patient-0001"), 16415537287576067489ull);
  EXPECT_EQ(patient_hash("P123"), 8907301494107277994ull);
}

TEST(PatientHash, PseudonymIsSixteenHexDigitsOfTheHash) {
  EXPECT_EQ(patient_pseudonym("patient-0001"), "e3cfb43097269da1");
  EXPECT_EQ(patient_pseudonym("P123"), "7b9d178417920aaa");
  EXPECT_EQ(patient_pseudonym("").size(), 16u);
}

TEST(PatientRegistry, InternIsIdempotentAndDense) {
  PatientRegistry registry;
  EXPECT_EQ(registry.intern("a"), 0u);
  EXPECT_EQ(registry.intern("b"), 1u);
  EXPECT_EQ(registry.intern("a"), 0u);
  EXPECT_EQ(registry.size(), 2u);
  EXPECT_EQ(registry.id(1), "b");
  EXPECT_EQ(registry.hash(0), patient_hash("a"));
}

TEST(PatientRegistry, ManyIdsAcrossChunksKeepStableViews) {
  PatientRegistry registry;
  constexpr int kIds = 70'000;  // several chunks and table growths
  const std::string_view first_view = registry.id(registry.intern("patient-0"));
  for (int i = 1; i < kIds; ++i) {
    ASSERT_EQ(registry.intern("patient-" + std::to_string(i)), static_cast<PatientIndex>(i));
  }
  // Entries never move: a view taken before all the growth still reads the id.
  EXPECT_EQ(first_view, "patient-0");
  EXPECT_EQ(first_view.data(), registry.id(0).data());
  for (int i = 0; i < kIds; i += 997) {
    const std::string id = "patient-" + std::to_string(i);
    EXPECT_EQ(registry.intern(id), static_cast<PatientIndex>(i));
    EXPECT_EQ(registry.id(static_cast<PatientIndex>(i)), id);
    EXPECT_EQ(registry.hash(static_cast<PatientIndex>(i)), patient_hash(id));
  }
  EXPECT_EQ(registry.size(), static_cast<std::size_t>(kIds));
}

TEST(PatientRegistry, LongIdsAndEmbeddedBytes) {
  PatientRegistry registry;
  const std::string long_id(64, 'x');
  const std::string with_nul("a\0b", 3);
  const PatientIndex a = registry.intern(long_id);
  const PatientIndex b = registry.intern(with_nul);
  EXPECT_NE(a, b);
  EXPECT_EQ(registry.id(b), with_nul);
  EXPECT_EQ(registry.intern(std::string("a\0b", 3)), b);
  EXPECT_NE(registry.intern("a"), b);
}

}  // namespace
}  // namespace tfe
