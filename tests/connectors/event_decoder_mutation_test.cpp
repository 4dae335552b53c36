// The JSON event decoder against mutated records: seeded random edits of valid records (bytes
// flipped, replaced, inserted, deleted, duplicated; JSON tokens and awkward numbers spliced in;
// cuts). Whatever a producer sends, the decoder either returns an event that passes the semantic
// checks and survives its own canonical encoding, or one error line that names no payload, and a
// rejected record interns no patient. The padded path (no copy) decides exactly as the copying one.

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/event_codec.h"
#include "tests/connectors/test_schema.h"
#include "tests/support/mutation.h"

namespace tfe {
namespace {

using test::default_test_schema;
using test::same_event;

constexpr int64_t kT = 1'700'000'000'000;  // a Kafka message timestamp

// Payload markers: no error message may repeat them.
constexpr std::string_view kIdMarker = "QX7-PATIENT";
constexpr std::string_view kTextMarker = "zebracrossing";

const std::vector<std::string>& seed_records() {
  static const std::vector<std::string> records = {
      R"({"patient_id":"QX7-PATIENT","modality":"wearables","event_time":1700000000000,"arrival_time":1700000001000,"values":{"hr":72,"spo2":97.5,"rr":16,"temp":null,"sbp":121,"activity":3e1}})",
      R"({"patient_id":"QX7-PATIENT","modality":"wearables","event_time":1700000000000,"values":{"hr":-0.0,"pulse":1,"rr":1.5e-3}})",
      R"({"patient_id":"QX7-PATIENT","modality":"notes","event_time":1699996400000,"arrival_time":1700000002000,"text":"zebracrossing \"rr\" rising\n\u00e9 \ud83d\ude2e on 2L"})",
      R"({"patient_id":"QX7-PATIENT","modality":"notes","event_time":1699996400000,"text":"zebracrossing","embedding":[0.5,-1,2.25e2,1e-7]})",
      R"({"modality":"imaging","patient_id":"QX7-PATIENT","event_time":1699913600000,"arrival_time":1700000003000,"embedding":[0.0125,-0.331,1,0,3.4e38,-1.17549435e-38,7,8],"extra":{"a":[1,{"b":null}]}})",
      R"({"patient_id":"QX7-PATIENT","modality":"outcome","event_time":1700003000000,"label":"zebracrossing"})",
  };
  return records;
}

// Fragments spliced into records: JSON structure, the schema's names, and values at the edges
// of what the decoder accepts.
constexpr std::array<std::string_view, 34> kTokens = {
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\",
    "null",
    "true",
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "1.0",
    "-0",
    "3.5e38",
    "18446744073709551616",
    "-9223372036854775809",
    "253402300800000",
    "\"values\"",
    "\"embedding\"",
    "\"text\"",
    "\"label\"",
    "\"modality\"",
    "\"outcome\"",
    "\"hr\"",
    "\\u0000",
    "\\ud800",
    "\xc3",
    "\xff",
    "\xf0\x9f\x98",
    std::string_view("\0", 1),
    "{\"a\":[[[[[[[[1]]]]]]]]}",
};

class EventDecoderMutationTest : public ::testing::Test {
 protected:
  ModalitySchema schema_ = default_test_schema(/*notes_dim=*/4, /*imaging_dim=*/8);
  DecodeLimits limits_{};
};

TEST_F(EventDecoderMutationTest, SeedRecordsAreValid) {
  PatientRegistry registry;
  EventDecoder decoder(schema_, registry, limits_);
  for (const std::string& record : seed_records()) {
    auto r = decoder.decode(record);
    EXPECT_TRUE(r) << (r ? "" : r.error().message) << " in " << record;
  }
}

TEST_F(EventDecoderMutationTest, MutatedRecordsDecodeToValidEventsOrOneCleanError) {
  const int kRecords = test::mutation_count(40'000);
  PatientRegistry registry;
  EventDecoder decoder(schema_, registry, limits_);
  PatientRegistry padded_registry;
  EventDecoder padded_decoder(schema_, padded_registry, limits_);
  PatientRegistry echo_registry;
  EventDecoder echo_decoder(schema_, echo_registry, limits_);
  test::ByteMutator mutator(test::mutation_seed(20261207), kTokens);
  std::array<int, kDecodeReasonCount> reasons{};
  int accepted = 0;
  Event event{};
  Event padded_event{};
  std::string padded;
  std::string line;
  for (int i = 0; i < kRecords; ++i) {
    const std::string& base = seed_records()[static_cast<std::size_t>(i) % seed_records().size()];
    const std::string record = mutator.mutate(base);
    const std::size_t patients_before = registry.size();
    auto r = decoder.decode(record, event, kT);

    padded.assign(record);
    padded.append(kDecodePadding, '\0');
    auto p = padded_decoder.decode(std::string_view(padded.data(), record.size()), padded_event, kT,
                                   /*padded=*/true);
    ASSERT_EQ(static_cast<bool>(r), static_cast<bool>(p)) << "record " << i;

    if (!r) {
      const DecodeError& e = r.error();
      ASSERT_EQ(registry.size(), patients_before) << "record " << i << " interned a patient";
      ASSERT_EQ(e.reason, p.error().reason) << "record " << i;
      ASSERT_EQ(e.message, p.error().message) << "record " << i;
      ASSERT_FALSE(e.message.empty()) << "record " << i;
      ASSERT_TRUE(test::one_clean_line(e.message)) << "record " << i << ": " << e.message;
      ASSERT_EQ(e.message.find(kIdMarker), std::string::npos)
          << "record " << i << ": " << e.message;
      ASSERT_EQ(e.message.find(kTextMarker), std::string::npos)
          << "record " << i << ": " << e.message;
      ++reasons[static_cast<std::size_t>(e.reason)];
      continue;
    }
    ++accepted;
    ASSERT_TRUE(same_event(event, registry, padded_event, padded_registry)) << "record " << i;
    const auto invalid = check_event(event, schema_, limits_);
    ASSERT_FALSE(invalid.has_value()) << "record " << i << ": " << invalid->message;
    ASSERT_FALSE(check_patient_id(registry.id(event.patient)).has_value()) << "record " << i;

    // An accepted event is a fixed point of the canonical encoding.
    line.clear();
    append_event_json(line, event, schema_, registry);
    auto again = echo_decoder.decode(line);
    ASSERT_TRUE(again) << "record " << i << ": " << again.error().message;
    ASSERT_TRUE(same_event(event, registry, again.value(), echo_registry)) << "record " << i;
  }
  // The mutations reach both outcomes and many reasons, or the test proves little.
  EXPECT_GT(accepted, kRecords / 50);
  EXPECT_LT(accepted, kRecords / 2);
  int reasons_seen = 0;
  for (int n : reasons) reasons_seen += n > 0;
  EXPECT_GE(reasons_seen, 9);
}

}  // namespace
}  // namespace tfe
