#include "connectors/event_codec.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include <simdjson.h>

#include "connectors/json_write.h"
#include "tests/connectors/test_schema.h"

namespace tfe {
namespace {

using test::default_test_schema;
using test::same_event;

constexpr int64_t kT = 1'700'000'000'000;

class EventCodecTest : public ::testing::Test {
 protected:
  ModalitySchema schema_ = default_test_schema(/*notes_dim=*/4);
  PatientRegistry registry_;
  EventDecoder decoder_{schema_, registry_, DecodeLimits{}};
};

TEST_F(EventCodecTest, DecodesVitals) {
  auto r =
      decoder_.decode(R"({"patient_id":"P1","modality":"wearables","event_time":1700000000000,)"
                      R"("arrival_time":1700000001000,"values":{"spo2":0.97,"hr":72}})");
  ASSERT_TRUE(r) << r.error().message;
  const Event& e = r.value();
  EXPECT_EQ(registry_.id(e.patient), "P1");
  EXPECT_EQ(e.modality, 0);
  EXPECT_EQ(e.event_time_ms, kT);
  EXPECT_EQ(e.arrival_time_ms, kT + 1000);
  EXPECT_EQ(e.vitals.present_mask, 0b11u);
  EXPECT_EQ(e.vitals.values[0], 72.0f);
  EXPECT_EQ(e.vitals.values[1], 0.97f);
  EXPECT_TRUE(std::isnan(e.vitals.values[2])) << "unmeasured channels hold NaN";
}

TEST_F(EventCodecTest, ArrivalDefaultsToEventTimeOrToTheCallersValue) {
  const std::string rec =
      R"({"patient_id":"P1","modality":"wearables","event_time":1700000000000,"values":{"hr":1}})";
  auto a = decoder_.decode(rec);
  ASSERT_TRUE(a);
  EXPECT_EQ(a.value().arrival_time_ms, kT);
  auto b = decoder_.decode(rec, kT + 42);
  ASSERT_TRUE(b);
  EXPECT_EQ(b.value().arrival_time_ms, kT + 42);
}

TEST_F(EventCodecTest, UnknownChannelsAreCountedAndIgnoredNullIsUnmeasured) {
  auto r =
      decoder_.decode(R"({"patient_id":"P1","modality":"wearables","event_time":1700000000000,)"
                      R"("values":{"hr":60,"etco2":35,"temp":null,"glucose":5}})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().vitals.present_mask, 1u);
  EXPECT_EQ(decoder_.unknown_channels(), 2u);
}

// A required field given as null is missing, as docs/wire-format.md says, whichever it is.
TEST_F(EventCodecTest, ARequiredFieldGivenAsNullIsMissing) {
  for (
      const char* record :
      {R"({"patient_id":null,"modality":"wearables","event_time":1700000000000,"values":{"hr":1}})",
       R"({"patient_id":"P1","modality":null,"event_time":1700000000000,"values":{"hr":1}})",
       R"({"patient_id":"P1","modality":"wearables","event_time":null,"values":{"hr":1}})",
       R"({"patient_id":"P1","modality":"wearables","event_time":1700000000000,"values":null})"}) {
    auto r = decoder_.decode(record);
    ASSERT_FALSE(r) << record;
    EXPECT_EQ(r.error().reason, DecodeReason::missing_field) << record << ": " << r.error().message;
  }
  EXPECT_EQ(registry_.size(), 0u);
}

// The caller's check (a topic's: its modality, its message timestamp) runs before the patient id
// is interned, so a record it refuses leaves the numbering of patients as it was.
TEST_F(EventCodecTest, ARecordTheCallersCheckRefusesInternsNoPatient) {
  const std::string rec =
      R"({"patient_id":"P9","modality":"notes","event_time":1700000000000,"text":"x"})";
  const EventDecoder::EventCheck wearables_only = [](const Event& e) -> std::optional<DecodeError> {
    if (e.modality == 0) return std::nullopt;
    return DecodeError{DecodeReason::unknown_modality, "not on this topic"};
  };
  Event event{};
  auto refused = decoder_.decode(rec, event, std::nullopt, false, wearables_only);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason, DecodeReason::unknown_modality);
  EXPECT_EQ(registry_.size(), 0u);
  const EventDecoder::EventCheck any = [](const Event&) { return std::optional<DecodeError>(); };
  ASSERT_TRUE(decoder_.decode(rec, event, std::nullopt, false, any));
  EXPECT_EQ(registry_.id(event.patient), "P9");
}

TEST_F(EventCodecTest, DecodesTextWithEmbeddingAndOutcome) {
  auto t = decoder_.decode(R"({"patient_id":"P2","modality":"notes","event_time":1700000000000,)"
                           R"("text":"a \"b\"\n\u00e9","embedding":[1,-0.5,2.5e-3,0]})");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t.value().modality, 1);
  EXPECT_EQ(t.value().text, "a \"b\"\n\xc3\xa9");
  EXPECT_EQ(t.value().embedding, (std::vector<float>{1.0f, -0.5f, 2.5e-3f, 0.0f}));
  auto o = decoder_.decode(
      R"({"patient_id":"P2","modality":"outcome","event_time":1700000000000,"label":"icu"})");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o.value().modality, kOutcomeModality);
  EXPECT_EQ(o.value().label, "icu");
}

TEST_F(EventCodecTest, BadRecordsInternNoPatient) {
  auto r = decoder_.decode(
      R"({"patient_id":"NEW","modality":"wearables","event_time":-5,"values":{"hr":1}})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, DecodeReason::event_time_out_of_range);
  EXPECT_EQ(registry_.size(), 0u) << "a rejected record must not change patient numbering";
}

TEST_F(EventCodecTest, MessagesNameTheFieldButNeverThePayload) {
  const std::string secret = "SECRET-ID-1234";
  const std::vector<std::string> records = {
      R"({"patient_id":"SECRET-ID-1234","modality":"wearables","event_time":1,"values":{"hr":"SECRET-ID-1234"}})",
      R"({"patient_id":"SECRET-ID-1234","modality":"SECRET-ID-1234","event_time":1,"values":{"hr":1}})",
      R"({"patient_id":"SECRET-ID-1234","modality":"wearables","event_time":"SECRET-ID-1234"})",
      R"({"patient_id":"SECRET-ID-1234","modality":"wearables","event_time":1,"values":{"SECRET-ID-1234":1}})",
      R"({"patient_id":"SECRET-ID-1234", SECRET-ID-1234})",
  };
  for (const std::string& rec : records) {
    auto r = decoder_.decode(rec);
    ASSERT_FALSE(r) << rec;
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_EQ(r.error().message.find(secret), std::string::npos) << r.error().message;
  }
  auto r = decoder_.decode(
      R"({"patient_id":"P1","modality":"wearables","event_time":1,"values":{"hr":"x"}})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("values.hr"), std::string::npos) << r.error().message;
}

TEST_F(EventCodecTest, RecordOverTheSizeLimit) {
  EventDecoder small(schema_, registry_, DecodeLimits{64, 300'000});
  auto r = small.decode(
      R"({"patient_id":"P1","modality":"notes","event_time":1700000000000,"text":"0123456789012345678901234567890123456789"})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, DecodeReason::record_too_large);
}

// A control character in a patient id (written as a JSON escape or raw) would break the CSV rows
// and terminal lines the id is written to later: the record is refused, naming no payload.
TEST_F(EventCodecTest, PatientIdsWithControlCharactersAreRefused) {
  const std::vector<std::string> ids = {
      R"(P\u00011)",
      R"(P\t1)",
      R"(P\n1)",
      R"(P\r1)",
      R"(P\u00001)",
      R"(P\u007f1)",
      R"(P\u00851)",  // C1 NEL
      "P\x7f"
      "1",
  };
  for (const std::string& id : ids) {
    const std::string record = R"({"patient_id":")" + id +
                               R"(","modality":"wearables","event_time":1700000000000,)"
                               R"("values":{"hr":72}})";
    auto r = decoder_.decode(record);
    ASSERT_FALSE(r) << id;
    EXPECT_EQ(r.error().reason, DecodeReason::bad_patient_id) << id;
    EXPECT_NE(r.error().message.find("control character"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("P"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(registry_.size(), 0u);
  EXPECT_TRUE(check_patient_id("P1").has_value() == false);
  EXPECT_TRUE(check_patient_id("P\t1").has_value());
  // Printable non-ASCII stays valid: names and ids in other scripts are common.
  auto ok = decoder_.decode(
      R"({"patient_id":"P\u00e9\u00a01","modality":"wearables","event_time":1700000000000,)"
      R"("values":{"hr":72}})");
  ASSERT_TRUE(ok) << ok.error().message;
}

// A finite float up to 3.4e38 overflows the engine's window sums, slopes and deviations to inf.
// Vitals beyond |value| <= 1e9 (far beyond any physical reading) are refused, and the record is
// treated as a record with a non-finite channel is: refused whole, its other channels included.
TEST_F(EventCodecTest, VitalsBeyondThePhysicalBoundAreRefused) {
  const std::string head =
      R"({"patient_id":"P1","modality":"wearables","event_time":1700000000000,"values":)";
  for (const std::string value : {"3e38", "-3.4e38", "1e10", "-1.5e9", "1.0000001e9"}) {
    auto r = decoder_.decode(head + R"({"hr":72,"spo2":)" + value + "}}");
    ASSERT_FALSE(r) << value;
    EXPECT_EQ(r.error().reason, DecodeReason::value_out_of_range) << value;
    EXPECT_EQ(to_string(r.error().reason), "value_out_of_range");
    EXPECT_NE(r.error().message.find("values.spo2"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("1e9"), std::string::npos) << r.error().message;
  }
  // A non-finite channel still says so; the same rule (the whole record) applies to both.
  auto inf = decoder_.decode(head + R"({"hr":72,"spo2":1e39}})");
  ASSERT_FALSE(inf);
  EXPECT_EQ(inf.error().reason, DecodeReason::non_finite_value);
  EXPECT_EQ(registry_.size(), 0u);
  for (const std::string value : {"1e9", "-1e9", "999999999", "0", "-0.0", "1e-38"}) {
    auto r = decoder_.decode(head + R"({"hr":)" + value + "}}");
    ASSERT_TRUE(r) << value << ": " << r.error().message;
  }
  // The check is the shared one, so the binary log and CSV readers refuse the same values.
  Event e{};
  e.modality = 0;
  e.event_time_ms = e.arrival_time_ms = kT;
  e.vitals.present_mask = 1;
  e.vitals.values[0] = 2e9f;
  const auto err = check_event(e, schema_, DecodeLimits{});
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->reason, DecodeReason::value_out_of_range);
}

TEST_F(EventCodecTest, LeadingByteOrderMarkIsIgnored) {
  // Windows tools (Notepad, PowerShell 5 Out-File) start a UTF-8 file with a byte order mark;
  // RFC 8259 lets a parser ignore it, and the record after it is valid.
  const std::string rec =
      R"({"patient_id":"P1","modality":"wearables","event_time":1700000000000,"values":{"hr":1}})";
  auto r = decoder_.decode("\xEF\xBB\xBF" + rec);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(registry_.id(r.value().patient), "P1");
  EXPECT_EQ(r.value().vitals.values[0], 1.0f);
  // Only one, and only first: elsewhere it is not JSON whitespace.
  for (const std::string& bad : {"\xEF\xBB\xBF\xEF\xBB\xBF" + rec, " \xEF\xBB\xBF" + rec,
                                 rec + "\xEF\xBB\xBF", std::string("\xEF\xBB\xBF")}) {
    auto b = decoder_.decode(bad);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().reason, DecodeReason::malformed_json) << b.error().message;
  }
}

TEST_F(EventCodecTest, ReasonNamesAreStableAndRoundTrip) {
  EXPECT_EQ(to_string(DecodeReason::malformed_json), "malformed_json");
  EXPECT_EQ(to_string(DecodeReason::event_time_out_of_range), "event_time_out_of_range");
  EXPECT_EQ(to_string(DecodeReason::malformed_record), "malformed_record");
  for (std::size_t i = 0; i < kDecodeReasonCount; ++i) {
    const auto reason = static_cast<DecodeReason>(i);
    const auto back = decode_reason_from_string(to_string(reason));
    ASSERT_TRUE(back.has_value()) << to_string(reason);
    EXPECT_EQ(*back, reason);
  }
  EXPECT_FALSE(decode_reason_from_string("nope").has_value());
}

// Random valid events of every kind, including awkward floats and strings.
std::vector<Event> random_events(const ModalitySchema& schema, PatientRegistry& registry,
                                 std::size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  auto any_float = [&] {
    while (true) {
      const uint32_t bits = static_cast<uint32_t>(rng());
      float f;
      std::memcpy(&f, &bits, 4);
      if (std::isfinite(f)) return f;
    }
  };
  auto some_float = [&] {
    switch (rng() % 4) {
      case 0:
        return any_float();
      case 1:
        return static_cast<float>(static_cast<int>(rng() % 200));
      case 2:
        return std::uniform_real_distribution<float>(-1, 1)(rng);
      default:
        return -0.0f;
    }
  };
  const std::vector<std::string> texts = {"plain", "quote \" backslash \\ slash /",
                                          "ctl \x01\x1f tab\t nl\n",
                                          "utf8 \xc3\xa9 \xe2\x86\x91 \xf0\x9f\x98\xae"};
  std::vector<Event> events;
  for (std::size_t i = 0; i < n; ++i) {
    Event e{};
    e.patient = registry.intern("P" + std::to_string(rng() % 50));
    e.arrival_time_ms = kT + static_cast<int64_t>(i) * 1000;
    e.event_time_ms = e.arrival_time_ms - static_cast<int64_t>(rng() % 10'000'000);
    const int kind = static_cast<int>(rng() % 5);
    if (kind <= 1) {
      e.modality = 0;
      e.vitals.values.fill(std::nanf(""));
      e.vitals.present_mask = static_cast<uint32_t>(rng() % 63) + 1;
      for (int c = 0; c < 6; ++c) {
        if (!(e.vitals.present_mask >> c & 1)) continue;
        do {  // vitals are valid within kMaxVitalsMagnitude only
          e.vitals.values[c] = some_float();
        } while (std::fabs(e.vitals.values[c]) > kMaxVitalsMagnitude);
      }
    } else if (kind == 2) {
      e.modality = 1;
      e.text = texts[rng() % texts.size()];
      if (rng() % 2) {
        e.embedding.resize(schema[1].dim);
        for (float& f : e.embedding) f = some_float();
      }
    } else if (kind == 3) {
      e.modality = 2;
      e.embedding.resize(512);
      for (float& f : e.embedding) f = some_float();
    } else {
      e.modality = kOutcomeModality;
      e.label = texts[rng() % texts.size()];
    }
    events.push_back(std::move(e));
  }
  return events;
}

TEST_F(EventCodecTest, EncodeDecodeRoundTripIsExact) {
  const auto events = random_events(schema_, registry_, 3000, 11);
  PatientRegistry other;
  EventDecoder decoder(schema_, other, DecodeLimits{});
  for (const Event& e : events) {
    std::string line;
    append_event_json(line, e, schema_, registry_);
    auto r = decoder.decode(line);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(same_event(e, registry_, r.value(), other));
    std::string again;
    append_event_json(again, r.value(), schema_, other);
    ASSERT_EQ(line, again) << "canonical encoding is a fixed point";
  }
}

TEST(JsonWriteTest, FloatsReadBackExactlyThroughTheDoublePath) {
  std::mt19937 rng(5);
  for (int i = 0; i < 2'000'000; ++i) {
    const uint32_t bits = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &bits, 4);
    if (!std::isfinite(f)) continue;
    std::string s;
    json::append_float(s, f);
    const float back = static_cast<float>(std::strtod(s.c_str(), nullptr));
    uint32_t back_bits;
    std::memcpy(&back_bits, &back, 4);
    ASSERT_EQ(back_bits, bits) << s;
  }
  std::string s;
  json::append_float(s, -0.0f);
  EXPECT_EQ(s, "-0.0");
  s.clear();
  json::append_float(s, 0.1f);
  EXPECT_EQ(s, "0.1");
  s.clear();
  json::append_float(s, std::nanf(""));
  EXPECT_EQ(s, "null");
}

TEST(JsonWriteTest, SmallWholeFloatsAreWrittenAsTheShortestFloatText) {
  for (int i = -1000; i <= 1000; ++i) {
    const float f = static_cast<float>(i);
    char buf[48];
    const auto r = std::to_chars(buf, buf + sizeof buf, f);
    std::string s;
    json::append_float(s, f);
    ASSERT_EQ(s, std::string(buf, r.ptr)) << i;
  }
}

// A dead letter's source is a file name, which need not be UTF-8 (a Latin-1 name): the line must
// still be JSON, so such bytes become U+FFFD and well-formed sequences stay as they are.
TEST(JsonWriteTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  std::string s;
  json::append_string(s,
                      "donn\xe9"
                      "es \xc3\xa9 \xed\xa0\x80 \xf0\x9f\x98\x80 cut \xc3");
  EXPECT_EQ(s,
            "\"donn\xef\xbf\xbd"
            "es \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
            "\xf0\x9f\x98\x80 cut \xef\xbf\xbd\"");
  simdjson::dom::parser parser;
  std::string_view back;
  ASSERT_EQ(parser.parse(s).get(back), simdjson::SUCCESS) << s;
}

TEST(JsonWriteTest, StringEscapesAndBase64) {
  std::string s;
  json::append_string(s, std::string("a\"\\\n\x01\x7f\xc3\xa9", 8));
  EXPECT_EQ(s, "\"a\\\"\\\\\\n\\u0001\x7f\xc3\xa9\"");
  for (const auto& [in, want] :
       std::vector<std::pair<std::string, std::string>>{{"", ""},
                                                        {"f", "Zg=="},
                                                        {"fo", "Zm8="},
                                                        {"foo", "Zm9v"},
                                                        {"foob", "Zm9vYg=="},
                                                        {"fooba", "Zm9vYmE="},
                                                        {"foobar", "Zm9vYmFy"},
                                                        {"\xff\xfe", "//4="}}) {
    std::string b;
    json::append_base64(b, in);
    EXPECT_EQ(b, want) << in;
  }
}

}  // namespace
}  // namespace tfe
