// Long-format CSV import: grouping of vitals rows into readings, RFC 4180 quoting, times, every
// dead-letter reason the import produces (with its FILE:LINE position), outcome rows, and a round
// trip CSV -> binary log -> events.

#include "connectors/csv_import.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

#include <simdjson.h>

#include "connectors/event_files.h"
#include "tests/connectors/test_schema.h"
#include "tests/support/mutation.h"

namespace tfe {
namespace {

using test::default_test_schema;
using test::TempDir;

constexpr std::string_view kHeader =
    "patient_id,event_time,arrival_time,modality,variable,value,text\n";
// 2024-01-01T00:00:00Z in epoch milliseconds.
constexpr int64_t kJan1 = 1'704'067'200'000;
constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;

struct DeadRecord {
  std::string source;
  uint64_t line = 0;
  std::string reason;
  std::string message;
  uint64_t raw_bytes = 0;
  bool has_raw = false;
};

// Imports CSV text (one "file") and collects events, dead letters (read back from the sink's
// file) and the error, if any.
class Imported {
 public:
  Imported(const std::string& csv, const ModalitySchema& schema, DecodeLimits limits = {},
           CsvColumns columns = {})
      : schema_(schema) {
    auto sink = DeadLetterSink::open(dir_.file("dead.jsonl"));
    EXPECT_TRUE(sink) << (sink ? "" : sink.error().message);
    if (!sink) return;
    {
      CsvImporter importer(schema_, registry, limits, *sink.value(), columns);
      std::istringstream in(csv);
      auto r = importer.read(in, "ward.csv");
      if (!r) error = r.error().message;
      events = importer.take_events();
      stats = importer.stats();
    }
    EXPECT_TRUE(sink.value()->close());
    counts = sink.value()->counts();
    simdjson::dom::parser parser;
    std::istringstream lines(test::read_file(dir_.file("dead.jsonl")));
    for (std::string line; std::getline(lines, line);) {
      simdjson::dom::element doc = parser.parse(line);
      DeadRecord d;
      d.source = std::string(std::string_view(doc["source"]));
      d.line = uint64_t(doc["line"]);
      d.reason = std::string(std::string_view(doc["reason"]));
      d.message = std::string(std::string_view(doc["message"]));
      d.raw_bytes = uint64_t(doc["raw_bytes"]);
      d.has_raw = doc["raw_b64"].error() == simdjson::SUCCESS;
      dead.push_back(std::move(d));
    }
  }

  std::string_view patient(std::size_t i) const { return registry.id(events.at(i).patient); }
  uint64_t count(DecodeReason reason) const { return counts[static_cast<std::size_t>(reason)]; }

  PatientRegistry registry;
  std::vector<Event> events;
  std::vector<DeadRecord> dead;
  DeadLetterCounts counts{};
  CsvImportStats stats;
  std::string error;

 private:
  TempDir dir_;
  const ModalitySchema& schema_;
};

std::string csv(std::string_view rows) { return std::string(kHeader) + std::string(rows); }

// Channel indexes of the test schema's wearables.
constexpr uint8_t kHr = 0, kSpo2 = 1, kRr = 2;

TEST(CsvImportTest, AdjacentVitalsRowsOfOneKeyFormOneReading) {
  const auto schema = default_test_schema();
  Imported r(csv("P1,2024-01-01T08:00:00Z,2024-01-01T08:00:03Z,wearables,hr,88,\n"
                 "P1,2024-01-01T08:00:00Z,2024-01-01T08:00:03Z,wearables,spo2,95,\n"
                 "P1,2024-01-01T08:00:00Z,2024-01-01T08:00:03Z,wearables,rr,18,\n"
                 // Another arrival time: another reading.
                 "P1,2024-01-01T08:00:00Z,2024-01-01T08:00:04Z,wearables,hr,90,\n"
                 // Another patient at the same times.
                 "P2,2024-01-01T08:00:00Z,2024-01-01T08:00:04Z,wearables,hr,70,\n"),
             schema);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.stats.rows, 5u);
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.stats.dead_letters, 0u);
  const Event& first = r.events[0];
  EXPECT_EQ(r.patient(0), "P1");
  EXPECT_EQ(first.modality, 0);
  EXPECT_EQ(first.event_time_ms, kJan1 + 8 * kHour);
  EXPECT_EQ(first.arrival_time_ms, kJan1 + 8 * kHour + 3000);
  EXPECT_EQ(first.vitals.present_mask, (1u << kHr) | (1u << kSpo2) | (1u << kRr));
  EXPECT_EQ(first.vitals.values[kHr], 88.0f);
  EXPECT_EQ(first.vitals.values[kSpo2], 95.0f);
  EXPECT_EQ(first.vitals.values[kRr], 18.0f);
  EXPECT_EQ(r.events[1].vitals.present_mask, 1u << kHr);
  EXPECT_EQ(r.events[1].vitals.values[kHr], 90.0f);
  EXPECT_EQ(r.patient(2), "P2");
  EXPECT_EQ(r.events[2].vitals.values[kHr], 70.0f);
}

TEST(CsvImportTest, RowsOfOneKeySeparatedByAnotherRowAreTwoReadings) {
  const auto schema = default_test_schema();
  Imported r(csv("P1,1704096000000,,wearables,hr,88,\n"
                 "P2,1704096000000,,wearables,hr,70,\n"
                 "P1,1704096000000,,wearables,spo2,95,\n"),
             schema);
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[0].vitals.present_mask, 1u << kHr);
  EXPECT_EQ(r.events[2].vitals.present_mask, 1u << kSpo2);
}

TEST(CsvImportTest, EmptyValueIsAChannelNotMeasured) {
  const auto schema = default_test_schema();
  Imported r(csv("P1,1704096000000,,wearables,hr,88,\n"
                 "P1,1704096000000,,wearables,spo2,,\n"
                 // A reading whose every value is empty measures nothing.
                 "P1,1704096060000,,wearables,hr,,\n"
                 "P1,1704096060000,,wearables,spo2, ,\n"),
             schema);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].vitals.present_mask, 1u << kHr);
  ASSERT_EQ(r.dead.size(), 1u);
  EXPECT_EQ(r.dead[0].reason, "empty_values");
  EXPECT_EQ(r.dead[0].line, 4u);  // the reading's first row
  EXPECT_NE(r.dead[0].message.find("lines 4-5"), std::string::npos) << r.dead[0].message;
}

// Exports write a missing number as NA (R), NULL (SQL), NaN (pandas) or N/A: in `value` such a
// cell, in any case, is a channel not measured, exactly as an empty cell is. Anything else that
// is not a number is still wrong_type, and inside a vector these are not markers.
TEST(CsvImportTest, MissingValueMarkersAreChannelsNotMeasured) {
  const auto schema = default_test_schema(/*notes_dim=*/4, /*imaging_dim=*/3);
  Imported r(csv("P1,1704096000000,,wearables,hr,88,\n"
                 "P1,1704096000000,,wearables,spo2,NA,\n"
                 "P1,1704096000000,,wearables,rr,N/A,\n"
                 "P1,1704096000000,,wearables,temp,NULL,\n"
                 "P1,1704096000000,,wearables,sbp,NaN,\n"
                 "P1,1704096000000,,wearables,activity,\" na \",\n"
                 // Every value missing: the reading measures nothing, as with empty cells.
                 "P1,1704096060000,,wearables,hr,null,\n"
                 "P1,1704096060000,,wearables,spo2,nan,\n"
                 "P1,1704096060000,,wearables,rr,n/a,\n"
                 // A note with a missing vector keeps its text; an imaging row needs its vector.
                 "P1,1704096120000,,notes,,NA,seen\n"
                 "P1,1704096180000,,imaging,,NULL,\n"
                 "P1,1704096240000,,wearables,hr,N A,\n"
                 "P1,1704096300000,,imaging,,0.1 NA 0.3,\n"),
             schema);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].vitals.present_mask, 1u << kHr);
  EXPECT_EQ(r.events[0].vitals.values[kHr], 88.0f);
  EXPECT_EQ(r.events[1].text, "seen");
  EXPECT_TRUE(r.events[1].embedding.empty());
  ASSERT_EQ(r.dead.size(), 4u);
  EXPECT_EQ(r.dead[0].reason, "empty_values");
  EXPECT_EQ(r.dead[0].line, 8u);
  EXPECT_EQ(r.dead[1].reason, "missing_field");  // as an empty imaging value
  EXPECT_EQ(r.dead[1].line, 12u);
  EXPECT_EQ(r.dead[2].reason, "wrong_type");
  EXPECT_EQ(r.dead[2].line, 13u);
  EXPECT_EQ(r.dead[3].reason, "wrong_type");
  EXPECT_EQ(r.dead[3].line, 14u);

  // The same file with empty cells in place of the markers reads the same.
  Imported e(csv("P1,1704096000000,,wearables,hr,88,\n"
                 "P1,1704096000000,,wearables,spo2,,\n"
                 "P1,1704096000000,,wearables,rr,,\n"
                 "P1,1704096000000,,wearables,temp,,\n"
                 "P1,1704096000000,,wearables,sbp,,\n"
                 "P1,1704096000000,,wearables,activity,,\n"
                 "P1,1704096060000,,wearables,hr,,\n"
                 "P1,1704096060000,,wearables,spo2,,\n"
                 "P1,1704096060000,,wearables,rr,,\n"
                 "P1,1704096120000,,notes,,,seen\n"
                 "P1,1704096180000,,imaging,,,\n"),
             schema);
  ASSERT_EQ(e.events.size(), 2u);
  EXPECT_EQ(e.events[0].vitals.present_mask, r.events[0].vitals.present_mask);
  ASSERT_EQ(e.dead.size(), 2u);
  EXPECT_EQ(e.dead[0].reason, r.dead[0].reason);
  EXPECT_EQ(e.dead[1].reason, r.dead[1].reason);
}

// A value beyond the vitals bound (|value| <= 1e9) costs its row, as any bad value in a reading
// does: the reading keeps its other channels.
TEST(CsvImportTest, AVitalsValueBeyondTheBoundCostsItsRowOnly) {
  const auto schema = default_test_schema();
  Imported r(csv("P1,1704096000000,,wearables,hr,88,\n"
                 "P1,1704096000000,,wearables,spo2,3e38,\n"
                 "P1,1704096000000,,wearables,rr,18,\n"
                 "P1,1704096060000,,wearables,hr,-1e9,\n"),
             schema);
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].vitals.present_mask, (1u << kHr) | (1u << kRr));
  EXPECT_EQ(r.events[1].vitals.values[kHr], -1e9f);
  ASSERT_EQ(r.dead.size(), 1u);
  EXPECT_EQ(r.dead[0].reason, "value_out_of_range");
  EXPECT_EQ(r.dead[0].line, 3u);
  EXPECT_NE(r.dead[0].message.find("1e9"), std::string::npos) << r.dead[0].message;
}

// A row within max_record_bytes can make a longer JSON record (a control character is six bytes
// as "\u0001"): the service would refuse it, so the import does, at the row's position.
TEST(CsvImportTest, AnEventLongerThanMaxRecordBytesAsJsonIsADeadLetter) {
  const auto schema = default_test_schema();
  DecodeLimits limits;
  limits.max_record_bytes = 256;
  const std::string note = "P1,1704096000000,,notes,,,\"" + std::string(60, '\x01') + "\"";
  ASSERT_LT(note.size(), limits.max_record_bytes);
  Imported r(csv("P1,1704096000000,,wearables,hr,88,\n" + note + "\n" +
                 "P1,1704096120000,,notes,,,short\n"),
             schema, limits);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.events.size(), 2u);
  ASSERT_EQ(r.dead.size(), 1u);
  EXPECT_EQ(r.dead[0].reason, "record_too_large");
  EXPECT_EQ(r.dead[0].line, 3u);
  EXPECT_NE(r.dead[0].message.find("max_record_bytes"), std::string::npos) << r.dead[0].message;
}

TEST(CsvImportTest, QuotedFieldsKeepCommasDoubledQuotesAndNewlines) {
  const auto schema = default_test_schema();
  Imported r(csv("P1,2024-01-01T07:10:00Z,2024-01-01T09:00:00Z,notes,,,\"Patient, comfortable; "
                 "\"\"no distress\"\"\"\n"
                 "\"P2\",2024-01-01T07:10:00Z,2024-01-01T09:00:00Z,\"notes\",,,\"line one\n"
                 "line two, \"\"quoted\"\"\r\nline three\"\r\n"
                 "P3,2024-01-01T07:10:00Z,2024-01-01T09:00:00Z,notes,,,plain text\n"
                 // A quote inside an unquoted field is a character.
                 "P4,2024-01-01T07:10:00Z,2024-01-01T09:00:00Z,notes,,,5'10\" tall\n"),
             schema);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.events.size(), 4u) << (r.dead.empty() ? "" : r.dead[0].message);
  EXPECT_EQ(r.events[0].text, "Patient, comfortable; \"no distress\"");
  EXPECT_EQ(r.patient(1), "P2");
  EXPECT_EQ(r.events[1].text, "line one\nline two, \"quoted\"\r\nline three");
  EXPECT_EQ(r.events[2].text, "plain text");
  EXPECT_EQ(r.events[3].text, "5'10\" tall");
  // The quoted newlines count as lines: the row after a three-line record starts at line 5.
  Imported bad(csv("P1,1704096000000,,notes,,,\"a\nb\"\n"
                   "P1,1704096000000,,notes,,,\"unterminated\n"),
               schema);
  ASSERT_EQ(bad.dead.size(), 1u);
  EXPECT_EQ(bad.dead[0].line, 4u);
  EXPECT_EQ(bad.dead[0].reason, "malformed_record");
}

TEST(CsvImportTest, IsoAndEpochTimes) {
  const auto schema = default_test_schema();
  Imported r(csv("P1,2024-01-01T08:00:00Z,2024-01-01T08:00:00.250Z,wearables,hr,1,\n"
                 "P1,2024-01-01 08:00:00.123456Z,2024-01-01T08:00:01.5Z,wearables,hr,2,\n"
                 "P1,2024-01-01T09:00:00+01:00,1704096002000,wearables,hr,3,\n"
                 "P1,2024-01-01T03:00-05:00,,wearables,hr,4,\n"
                 "P1,1704096000000,1704096000007,wearables,hr,5,\n"
                 "P1,2024-02-29T00:00:00Z,,wearables,hr,6,\n"),
             schema);
  ASSERT_EQ(r.events.size(), 6u) << (r.dead.empty() ? "" : r.dead[0].message);
  const int64_t eight = kJan1 + 8 * kHour;
  // Sorted by arrival time: missing arrival_time is the event_time.
  EXPECT_EQ(r.events[0].event_time_ms, eight);
  EXPECT_EQ(r.events[0].arrival_time_ms, eight);
  EXPECT_EQ(r.events[0].vitals.values[kHr], 4.0f);
  EXPECT_EQ(r.events[1].event_time_ms, eight);
  EXPECT_EQ(r.events[1].arrival_time_ms, eight + 7);
  EXPECT_EQ(r.events[1].vitals.values[kHr], 5.0f);
  EXPECT_EQ(r.events[2].arrival_time_ms, eight + 250);
  EXPECT_EQ(r.events[3].event_time_ms, eight + 123);  // fractions truncated to milliseconds
  EXPECT_EQ(r.events[3].arrival_time_ms, eight + 1500);
  EXPECT_EQ(r.events[4].event_time_ms, eight);
  EXPECT_EQ(r.events[4].arrival_time_ms, eight + 2000);
  EXPECT_EQ(r.events[5].event_time_ms, kJan1 + 59 * 24 * kHour);
}

TEST(CsvImportTest, EventsComeOutInArrivalOrderWithTiesInRowOrder) {
  const auto schema = default_test_schema();
  Imported r(csv("P1,2024-01-01T06:00:00Z,2024-01-01T10:00:00Z,notes,,,late note\n"
                 "P1,2024-01-01T08:00:00Z,2024-01-01T08:00:03Z,wearables,hr,88,\n"
                 "P2,2024-01-01T08:00:00Z,2024-01-01T08:00:03Z,wearables,hr,77,\n"),
             schema);
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.patient(0), "P1");
  EXPECT_EQ(r.events[0].modality, 0);
  EXPECT_EQ(r.patient(1), "P2");
  EXPECT_EQ(r.events[2].text, "late note");
  EXPECT_EQ(r.events[0].source_seq, 1u);
  EXPECT_EQ(r.events[2].source_seq, 3u);
}

TEST(CsvImportTest, OutcomeRowsCarryTheVariableAsLabel) {
  const auto schema = default_test_schema();
  Imported r(csv("P1,2024-01-01T12:00:00Z,,outcome,deterioration,,\n"
                 "P1,2024-01-01T13:00:00Z,,outcome,,,\n"),
             schema);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].modality, kOutcomeModality);
  EXPECT_EQ(r.events[0].label, "deterioration");
  EXPECT_EQ(r.events[0].event_time_ms, kJan1 + 12 * kHour);
  EXPECT_EQ(r.events[0].arrival_time_ms, kJan1 + 12 * kHour);
  ASSERT_EQ(r.dead.size(), 1u);
  EXPECT_EQ(r.dead[0].reason, "missing_field");
  EXPECT_EQ(r.dead[0].line, 3u);
}

TEST(CsvImportTest, EmbeddingsAndTextEmbeddingsReadFromValue) {
  const auto schema = default_test_schema(/*notes_dim=*/2, /*imaging_dim=*/3);
  Imported r(csv("P1,1704096000000,,imaging,,0.1 0.2  -3e2,\n"
                 "P1,1704096000001,,imaging,,\"[1, 2, 3]\",\n"
                 "P1,1704096000002,,notes,,0.5 0.25,with a vector\n"
                 "P1,1704096000003,,notes,,0.5 0.25,\n"),
             schema);
  ASSERT_EQ(r.events.size(), 4u) << (r.dead.empty() ? "" : r.dead[0].message);
  EXPECT_EQ(r.events[0].embedding, (std::vector<float>{0.1f, 0.2f, -300.0f}));
  EXPECT_EQ(r.events[1].embedding, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(r.events[2].text, "with a vector");
  EXPECT_EQ(r.events[2].embedding, (std::vector<float>{0.5f, 0.25f}));
  EXPECT_EQ(r.events[3].text, "");
  EXPECT_EQ(r.events[3].embedding.size(), 2u);
}

// One bad row per reason the import produces; each lands at its line with that reason, the valid
// rows around it are kept, and patient numbering is that of the valid rows alone.
TEST(CsvImportTest, EachBadRowIsADeadLetterWithItsReasonAndLine) {
  const auto schema = default_test_schema(0, 3);
  const std::string long_id(65, 'x');
  struct Bad {
    std::string row;
    std::string reason;
  };
  const std::vector<Bad> bad = {
      {"P1,1704096000000,,wearables,hr,88,extra,field", "malformed_record"},
      {"P1,1704096000000,,notes,,,\"closed\"then more", "malformed_record"},
      {"P1,1704096000000,,notes,,,\"bad \xff\xfe utf8\"", "invalid_utf8"},
      {"\xc3\x28,1704096000000,,notes,,,text", "invalid_utf8"},
      {",1704096000000,,notes,,,text", "bad_patient_id"},
      {long_id + ",1704096000000,,notes,,,text", "bad_patient_id"},
      {"P1,1704096000000,,,hr,88,", "missing_field"},
      {"P1,,,wearables,hr,88,", "missing_field"},
      {"P1,1704096000000,,notes,,,", "missing_field"},
      {"P1,1704096000000,,imaging,,,", "missing_field"},
      {"P1,1704096000000,,wearables,,88,", "missing_field"},
      {"P1,Monday,,wearables,hr,88,", "wrong_type"},
      {"P1,2024-01-01T08:00:00,,wearables,hr,88,", "wrong_type"},  // no zone
      {"P1,2024-02-30T08:00:00Z,,wearables,hr,88,", "wrong_type"},
      {"P1,1704096000000,,wearables,hr,high,", "wrong_type"},
      {"P1,1704096000000,,imaging,,0.1 x 0.3,", "wrong_type"},
      {"P1,1704096000000,,labs,hr,88,", "unknown_modality"},
      {"P1,1704096000000,,Wearables,hr,88,", "unknown_modality"},
      {"P1,1704096000000,,imaging,,0.1 0.2,", "wrong_dimension"},
      {"P1,1704096000000,,wearables,hr,-inf,", "non_finite_value"},
      {"P1,1704096000000,,wearables,hr,1e39,", "non_finite_value"},
      {"P1,1704096000000,,imaging,,0.1 inf 0.3,", "non_finite_value"},
      {"P1,1969-12-31T23:59:59Z,,wearables,hr,88,", "event_time_out_of_range"},
      {"P1,2024-01-01T08:10:00Z,2024-01-01T08:00:00Z,wearables,hr,88,", "event_time_out_of_range"},
      {"P1,99999999999999999999,,wearables,hr,88,", "event_time_out_of_range"},
      {"P1,1704096000000,-5,wearables,hr,88,", "arrival_time_out_of_range"},
      {"P1,1704096000000,,wearables,pulse,88,", "empty_values"},
      {"P1,1704096000000,,wearables,hr,2e9,", "value_out_of_range"},
  };
  std::string rows;
  for (const Bad& b : bad) {
    rows += "G,1704000000000,,wearables,hr,60,\n";  // a valid reading before each bad row
    rows += b.row + "\n";
  }
  rows += "G,1704000000000,,wearables,hr,60,\n";
  Imported r(csv(rows), schema);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.stats.rows, 2 * bad.size() + 1);
  ASSERT_EQ(r.dead.size(), bad.size());
  for (std::size_t i = 0; i < bad.size(); ++i) {
    SCOPED_TRACE("bad row " + std::to_string(i) + ": " + r.dead[i].message);
    EXPECT_EQ(r.dead[i].reason, bad[i].reason);
    EXPECT_EQ(r.dead[i].source, "ward.csv");
    EXPECT_EQ(r.dead[i].line, 3 + 2 * i);
    EXPECT_TRUE(r.dead[i].has_raw);
    EXPECT_EQ(r.dead[i].raw_bytes, bad[i].row.size());
    EXPECT_FALSE(r.dead[i].message.empty());
  }
  // The valid rows around each bad row are kept; bad rows intern no patient.
  EXPECT_EQ(r.events.size(), bad.size() + 1);
  EXPECT_EQ(r.registry.size(), 1u);
  EXPECT_EQ(r.stats.dead_letters, bad.size());
  EXPECT_EQ(r.count(DecodeReason::wrong_type), 5u);
}

TEST(CsvImportTest, ABadRowInsideAReadingLeavesTheRestOfTheReading) {
  const auto schema = default_test_schema();
  Imported r(csv("P1,1704096000000,,wearables,hr,88,\n"
                 "P1,1704096000000,,wearables,spo2,high,\n"
                 "P1,1704096000000,,wearables,rr,18,\n"
                 "P1,1704096000000,,wearables,hr,89,\n"),
             schema);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].vitals.present_mask, (1u << kHr) | (1u << kRr));
  EXPECT_EQ(r.events[0].vitals.values[kHr], 88.0f);
  ASSERT_EQ(r.dead.size(), 2u);
  EXPECT_EQ(r.dead[0].reason, "wrong_type");
  EXPECT_EQ(r.dead[0].line, 3u);
  EXPECT_EQ(r.dead[1].reason, "malformed_record");  // hr twice in one reading
  EXPECT_EQ(r.dead[1].line, 5u);
}

TEST(CsvImportTest, AReadingFailingCheckEventIsOneDeadLetter) {
  const auto schema = default_test_schema();
  // event_time ten minutes after arrival_time: beyond the 5 min skew.
  const std::string hr = "P1,2024-01-01T08:10:00Z,2024-01-01T08:00:00Z,wearables,hr,88,";
  const std::string spo2 = "P1,2024-01-01T08:10:00Z,2024-01-01T08:00:00Z,wearables,spo2,95,";
  Imported r(csv(hr + "\n" + spo2 + "\n"), schema);
  EXPECT_TRUE(r.events.empty());
  ASSERT_EQ(r.dead.size(), 1u);
  EXPECT_EQ(r.dead[0].reason, "event_time_out_of_range");
  EXPECT_EQ(r.dead[0].line, 2u);
  // Both rows' bytes, joined by a newline.
  EXPECT_EQ(r.dead[0].raw_bytes, hr.size() + 1 + spo2.size());
}

TEST(CsvImportTest, RowLongerThanMaxRecordBytesIsDeadLetteredWithoutPayload) {
  const auto schema = default_test_schema();
  DecodeLimits limits;
  limits.max_record_bytes = 128;  // the kept note is 104 bytes as a JSON record
  const std::string text(300, 'a');
  Imported r(csv("P1,1704096000000,,notes,,,\"" + text + "\"\nP1,1704096000000,,notes,,,ok\n"),
             schema, limits);
  ASSERT_EQ(r.events.size(), 1u);
  ASSERT_EQ(r.dead.size(), 1u);
  EXPECT_EQ(r.dead[0].reason, "record_too_large");
  EXPECT_EQ(r.dead[0].line, 2u);
  EXPECT_FALSE(r.dead[0].has_raw);
  EXPECT_GT(r.dead[0].raw_bytes, 300u);
}

TEST(CsvImportTest, AStrayQuoteCostsItsRowNotTheRestOfTheFile) {
  // An opening quote never closed makes the rest of the file one field: the reader cuts the
  // record back to its first line and goes on from the next, whether the field grows past
  // max_record_bytes or reaches the end of the file.
  const auto schema = default_test_schema();
  const std::string stray = "P1,1704096000000,,wearables,hr,\"80,";
  std::string valid;
  for (int i = 0; i < 50; ++i) {
    // Appended piece by piece: "P" + std::to_string(...) draws a false -Wrestrict from GCC 12.
    valid += 'P';
    valid += std::to_string(i % 5);
    valid += ',';
    valid += std::to_string(1704096000000 + i * 60000);
    valid += ",,wearables,hr,80,\n";
  }
  DecodeLimits limits;
  limits.max_record_bytes = 256;  // the 50 rows are over 1 KB: too large before the end
  for (const DecodeLimits& l : {limits, DecodeLimits{}}) {
    SCOPED_TRACE(l.max_record_bytes);
    Imported r(csv(stray + "\n" + valid), schema, l);
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.events.size(), 50u);
    ASSERT_EQ(r.dead.size(), 1u);
    EXPECT_EQ(r.dead[0].reason, "malformed_record");
    EXPECT_EQ(r.dead[0].line, 2u);
    EXPECT_EQ(r.dead[0].raw_bytes, stray.size());
    EXPECT_NE(r.dead[0].message.find("not closed on its line"), std::string::npos);
    EXPECT_EQ(r.stats.rows, 51u);
  }
}

TEST(CsvImportTest, HeaderColumnsFoundByNameInAnyOrder) {
  const auto schema = default_test_schema();
  // Other order, other case, spaces, a byte order mark, CRLF, no arrival_time or text columns.
  Imported r(
      "\xEF\xBB\xBFValue, Variable ,MODALITY,Event_Time,patient_id\r\n"
      "88,hr,wearables,1704096000000,P1\r\n"
      "95,spo2,wearables,1704096000000,P1\r\n",
      schema);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].vitals.present_mask, (1u << kHr) | (1u << kSpo2));
  EXPECT_EQ(r.events[0].arrival_time_ms, 1704096000000);
}

TEST(CsvImportTest, UnnamedFirstOrLastColumnIsIgnored) {
  const auto schema = default_test_schema();
  // Exports that end every line with a delimiter (the header's last name is then empty), and
  // pandas' to_csv, which writes the row index first under an empty name. Neither column is
  // one of the import's, and neither can be renamed with --column.
  for (const std::string& file :
       {std::string("patient_id,event_time,arrival_time,modality,variable,value,text,\r\n"
                    "P1,1704096000000,,wearables,hr,88,,\r\n"
                    "P1,1704096000000,,wearables,spo2,95,,\r\n"),
        std::string(",patient_id,event_time,modality,variable,value\n"
                    "0,P1,1704096000000,wearables,hr,88\n"
                    "1,P1,1704096000000,wearables,spo2,95\n")}) {
    Imported r(file, schema);
    ASSERT_EQ(r.error, "") << file;
    EXPECT_TRUE(r.dead.empty()) << r.dead[0].message;
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].vitals.present_mask, (1u << kHr) | (1u << kSpo2));
    EXPECT_EQ(r.events[0].vitals.values[kSpo2], 95.0f);
  }
  // An unnamed column between named ones may be a column whose name was lost: still refused.
  Imported middle(
      "patient_id,event_time,,modality,variable,value\nP1,1704096000000,1704096000001,"
      "wearables,hr,88\n",
      schema);
  EXPECT_NE(middle.error.find("unknown column ''"), std::string::npos) << middle.error;
}

TEST(CsvImportTest, RowsOfOnlyDelimitersAreBlankLines) {
  // Spreadsheets save formatted but empty rows below the data as a run of commas.
  const auto schema = default_test_schema();
  Imported r(csv("P1,1704096000000,,wearables,hr,88,\n"
                 ",,,,,,\n"
                 " , ,,,,,\r\n"
                 "P1,1704096060000,,wearables,hr,89,\n"
                 ",,,,,,\n"),
             schema);
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(r.dead.empty()) << r.dead[0].reason;
  EXPECT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.stats.rows, 2u);
  // A quoted empty field is data, not a blank: the row is checked as any other.
  Imported q(csv("\"\",,,,,,\n"), schema);
  ASSERT_EQ(q.dead.size(), 1u);
  EXPECT_EQ(q.dead[0].reason, "bad_patient_id");
}

TEST(CsvImportTest, ColumnRenames) {
  const auto schema = default_test_schema();
  CsvColumns columns;
  ASSERT_TRUE(set_csv_column(columns, "patient_id=MRN"));
  ASSERT_TRUE(set_csv_column(columns, "event_time = charted_at"));
  EXPECT_FALSE(set_csv_column(columns, "patient=MRN"));
  EXPECT_FALSE(set_csv_column(columns, "patient_id="));
  EXPECT_FALSE(set_csv_column(columns, "patient_id"));
  Imported r("mrn,charted_at,modality,variable,value\n123,1704096000000,wearables,hr,88\n", schema,
             {}, columns);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.patient(0), "123");
}

TEST(CsvImportTest, BadHeadersFailTheFileNamingTheColumn) {
  const auto schema = default_test_schema();
  Imported unknown("patient_id,event_time,modality,variable,value,unit,site\nP1,1,w,hr,1,bpm,a\n",
                   schema);
  EXPECT_NE(unknown.error.find("ward.csv:1: unknown columns 'unit', 'site'"), std::string::npos)
      << unknown.error;
  EXPECT_TRUE(unknown.events.empty());
  // A headerless export, or lone-CR line endings that make the file one row: the row holds data,
  // which the error does not repeat.
  for (const std::string& bad :
       {std::string("SECRET-7,1704096000000,,wearables,hr,80,\nSECRET-7,1704096060000,,"
                    "wearables,hr,81,\n"),
        std::string("SECRET-7,2024-01-01 08:00:00,,notes,,,SECRET confused overnight\n"),
        std::string("patient_id,event_time,arrival_time,modality,variable,value,text\rSECRET-7,"
                    "2024-01-01T08:00:00Z,,wearables,hr,80,\r")}) {
    Imported data(bad, schema);
    EXPECT_NE(data.error.find("ward.csv:1: the header row holds data (field "), std::string::npos)
        << data.error;
    EXPECT_EQ(data.error.find("SECRET"), std::string::npos) << data.error;
    EXPECT_TRUE(data.events.empty());
  }
  // A first row naming none of the columns is not repeated either; names of a header that is
  // evidently one are, escaped.
  Imported none("SECRET-7,notes,SECRET text\n", schema);
  EXPECT_NE(none.error.find("the first row names none of the columns"), std::string::npos)
      << none.error;
  EXPECT_EQ(none.error.find("SECRET"), std::string::npos) << none.error;
  Imported escaped("patient_id,event_time,modality,\"unit\nname\"\n", schema);
  EXPECT_NE(escaped.error.find("unknown column 'unit\\x0aname'"), std::string::npos)
      << escaped.error;
  Imported missing("patient_id,modality,variable,value\n", schema);
  EXPECT_NE(missing.error.find("no column 'event_time'"), std::string::npos) << missing.error;
  Imported twice("patient_id,event_time,modality,Modality\n", schema);
  EXPECT_NE(twice.error.find("appears twice"), std::string::npos) << twice.error;
  Imported empty("\n\n", schema);
  EXPECT_NE(empty.error.find("no header row"), std::string::npos) << empty.error;
  // A rename whose header is not there is named, rather than the header's column it left over.
  CsvColumns renamed;
  ASSERT_TRUE(set_csv_column(renamed, "patient_id=NOPE"));
  Imported wrong_rename("MRN,event_time,modality,variable,value\nP1,1,w,hr,1\n", schema, {},
                        renamed);
  EXPECT_NE(
      wrong_rename.error.find(
          "ward.csv:1: the header has no column 'NOPE' (given with --column patient_id=NOPE)"),
      std::string::npos)
      << wrong_rename.error;
}

TEST(CsvImportTest, UnreadableFileIsAnIoError) {
  const auto schema = default_test_schema();
  PatientRegistry registry;
  DeadLetterSink sink;
  CsvImporter importer(schema, registry, {}, sink);
  auto r = importer.read_file("/nonexistent/ward.csv");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::io);
  EXPECT_NE(r.error().message.find("/nonexistent/ward.csv"), std::string::npos);
}

TEST(CsvImportTest, RoundTripThroughBinaryLogGivesTheExpectedEvents) {
  const auto schema = default_test_schema(0, 3);
  TempDir dir;
  test::write_file(dir.file("a.csv"),
                   csv("P1,2024-01-01T08:00:00Z,2024-01-01T08:00:03Z,wearables,hr,88,\n"
                       "P1,2024-01-01T08:00:00Z,2024-01-01T08:00:03Z,wearables,spo2,95,\n"
                       "P1,2024-01-01T07:10:00Z,2024-01-01T09:00:00Z,notes,,,\"Patient, "
                       "comfortable; \"\"no distress\"\"\"\n"
                       "P1,2024-01-01T06:00:00Z,2024-01-01T10:00:00Z,imaging,,0.1 0.2 0.3,\n"
                       "P1,2024-01-01T12:00:00Z,,outcome,deterioration,,\n"
                       "P1,2024-01-01T08:01:00Z,,wearables,hr,bad,\n"));
  test::write_file(dir.file("b.csv"),
                   "patient_id,event_time,modality,variable,value\n"
                   "P2,2024-01-01T08:00:01Z,wearables,temp,37.5\n");
  DeadLetterSink dead;
  auto stats =
      import_csv({dir.file("a.csv"), dir.file("b.csv")}, dir.file("out.tfelog"), schema, {}, dead);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats.value().rows, 7u);
  EXPECT_EQ(stats.value().events, 5u);
  EXPECT_EQ(stats.value().dead_letters, 1u);

  PatientRegistry expected_registry;
  std::vector<Event> expected(5);
  auto at = [](int h, int m, int s) { return kJan1 + h * kHour + m * kMinute + s * 1000; };
  expected[0].patient = expected_registry.intern("P2");
  expected[0].modality = 0;
  expected[0].event_time_ms = expected[0].arrival_time_ms = at(8, 0, 1);
  expected[0].vitals.present_mask = 1u << 3;
  expected[0].vitals.values[3] = 37.5f;
  expected[1].patient = expected_registry.intern("P1");
  expected[1].modality = 0;
  expected[1].event_time_ms = at(8, 0, 0);
  expected[1].arrival_time_ms = at(8, 0, 3);
  expected[1].vitals.present_mask = (1u << kHr) | (1u << kSpo2);
  expected[1].vitals.values[kHr] = 88;
  expected[1].vitals.values[kSpo2] = 95;
  expected[2].patient = expected[1].patient;
  expected[2].modality = 1;
  expected[2].event_time_ms = at(7, 10, 0);
  expected[2].arrival_time_ms = at(9, 0, 0);
  expected[2].text = "Patient, comfortable; \"no distress\"";
  expected[3].patient = expected[1].patient;
  expected[3].modality = 2;
  expected[3].event_time_ms = at(6, 0, 0);
  expected[3].arrival_time_ms = at(10, 0, 0);
  expected[3].embedding = {0.1f, 0.2f, 0.3f};
  expected[4].patient = expected[1].patient;
  expected[4].modality = kOutcomeModality;
  expected[4].event_time_ms = expected[4].arrival_time_ms = at(12, 0, 0);
  expected[4].label = "deterioration";

  PatientRegistry registry;
  auto source = open_event_source(dir.file("out.tfelog"), schema, registry, {});
  ASSERT_TRUE(source) << source.error().message;
  const test::Drained read = test::drain(*source.value());
  ASSERT_EQ(read.error, "");
  EXPECT_TRUE(read.dead.empty());
  ASSERT_EQ(read.events.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(test::same_event(read.events[i], registry, expected[i], expected_registry))
        << "event " << i;
  }
}

TEST(CsvImportTest, ImportRefusesAnUnknownOutputExtensionBeforeWriting) {
  const auto schema = default_test_schema();
  TempDir dir;
  test::write_file(dir.file("a.csv"), csv("P1,1704096000000,,wearables,hr,88,\n"));
  DeadLetterSink dead;
  auto stats = import_csv({dir.file("a.csv")}, dir.file("out.csv"), schema, {}, dead);
  ASSERT_FALSE(stats);
  EXPECT_NE(stats.error().message.find("out.csv"), std::string::npos);
}

// A stop (Ctrl-C in tfe import) asked at the final write, after every file was read and every
// event written to the temporary file: the import ends with neither the output nor its temporary
// file, the path as it was.
TEST(CsvImportTest, AStopAtTheFinalWriteLeavesNothingBehind) {
  const auto schema = default_test_schema();
  TempDir dir;
  std::string rows;
  for (int i = 0; i < 500; ++i) {
    rows += "P" + std::to_string(i % 7) + "," + std::to_string(1704096000000 + i * 1000) +
            ",,wearables,hr," + std::to_string(60 + i % 50) + ",\n";
  }
  test::write_file(dir.file("a.csv"), csv(rows));
  const auto files = [&] {
    return std::distance(std::filesystem::directory_iterator(dir.file("")),
                         std::filesystem::directory_iterator());
  };
  const auto before = files();
  for (const char* out : {"out.tfelog", "out.jsonl"}) {
    SCOPED_TRACE(out);
    DeadLetterSink dead;
    int asked = 0;
    // Asked once after the file (no), then before the output is put in place (yes).
    auto r = import_csv({dir.file("a.csv")}, dir.file(out), schema, {}, dead, {}, {},
                        [&] { return ++asked >= 2; });
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r.value().interrupted);
    EXPECT_EQ(asked, 2);
    EXPECT_EQ(r.value().rows, 500u);
    EXPECT_FALSE(std::filesystem::exists(dir.file(out)));
    EXPECT_EQ(files(), before) << "a temporary file was left beside the output";

    auto whole = import_csv({dir.file("a.csv")}, dir.file(out), schema, {}, dead, {}, {},
                            [] { return false; });
    ASSERT_TRUE(whole) << whole.error().message;
    EXPECT_FALSE(whole.value().interrupted);
    EXPECT_EQ(whole.value().events, 500u);
    EXPECT_TRUE(std::filesystem::exists(dir.file(out)));
    std::filesystem::remove(dir.file(out));
  }
}

// A number too small for a double (1e-400) reads as a zero of its sign, as the JSON decoder reads
// it: the row is a valid measurement, not a non-finite one. One too large is still refused.
TEST(CsvImportTest, NumbersBelowDoubleRangeReadAsZeroAsInJson) {
  const auto schema = default_test_schema(0, 3);
  Imported r(csv("P1,1704096000000,,wearables,hr,1e-400,\n"
                 "P1,1704096000000,,wearables,spo2,-1e-400,\n"
                 "P1,1704096001000,,wearables,hr,1e400,\n"
                 "P1,1704096002000,,imaging,,0.5 1e-400 -2.5e-999,\n"),
             schema);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.events.size(), 2u) << (r.dead.empty() ? "" : r.dead[0].message);
  EXPECT_EQ(r.events[0].vitals.present_mask, (1u << kHr) | (1u << kSpo2));
  EXPECT_EQ(r.events[0].vitals.values[kHr], 0.0f);
  EXPECT_FALSE(std::signbit(r.events[0].vitals.values[kHr]));
  EXPECT_EQ(r.events[0].vitals.values[kSpo2], 0.0f);
  EXPECT_TRUE(std::signbit(r.events[0].vitals.values[kSpo2]));
  EXPECT_EQ(r.events[1].embedding, (std::vector<float>{0.5f, 0.0f, -0.0f}));
  ASSERT_EQ(r.dead.size(), 1u);
  EXPECT_EQ(r.dead[0].reason, "non_finite_value");
  EXPECT_EQ(r.dead[0].line, 4u);
}

// Two columns looked up under one header (a rename onto another column's header) would read one
// field as both: every note's text parsed as a vector, say. Refused before any row is read.
TEST(CsvImportTest, TwoColumnsUnderOneHeaderAreRefused) {
  const auto schema = default_test_schema();
  CsvColumns text_is_value;
  ASSERT_TRUE(set_csv_column(text_is_value, "text=Value"));
  Imported r(csv("P1,1704096000000,,notes,,,\"a note\"\n"), schema, {}, text_is_value);
  EXPECT_NE(r.error.find("columns value and text are both looked up under the header 'Value' "
                         "(--column text=Value)"),
            std::string::npos)
      << r.error;
  EXPECT_TRUE(r.events.empty());
  EXPECT_TRUE(r.dead.empty());
  // Renaming the other column too resolves it.
  ASSERT_TRUE(set_csv_column(text_is_value, "value=vector"));
  Imported ok("patient_id,event_time,modality,value,vector\nP1,1704096000000,notes,a note,\n",
              schema, {}, text_is_value);
  EXPECT_EQ(ok.error, "");
  ASSERT_EQ(ok.events.size(), 1u);
  EXPECT_EQ(ok.events[0].text, "a note");
}

// A file read twice would write each of its events twice, as a history given twice would apply
// them twice: refused by name or through a link, and nothing is written.
TEST(CsvImportTest, ACsvFileGivenTwiceIsRefused) {
  const auto schema = default_test_schema();
  TempDir dir;
  test::write_file(dir.file("a.csv"), csv("P1,1704096000000,,wearables,hr,88,\n"));
  std::filesystem::create_symlink(dir.file("a.csv"), dir.file("link.csv"));
  DeadLetterSink dead;
  auto same =
      import_csv({dir.file("a.csv"), dir.file("a.csv")}, dir.file("o.jsonl"), schema, {}, dead);
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().code, Errc::invalid_argument);
  EXPECT_EQ(same.error().message, dir.file("a.csv") + ": CSV file given twice");
  auto linked =
      import_csv({dir.file("a.csv"), dir.file("link.csv")}, dir.file("o.jsonl"), schema, {}, dead);
  ASSERT_FALSE(linked);
  EXPECT_NE(linked.error().message.find("given twice (also as " + dir.file("a.csv") + ")"),
            std::string::npos)
      << linked.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir.file("o.jsonl")));
  EXPECT_EQ(dead.total(), 0u);
}

// A line ended by a lone CR (old Mac exports) does not end the row: the rows it joins are one
// dead letter, whose message names the cause (and no field of the row).
TEST(CsvImportTest, RowsJoinedByALoneCrSaySo) {
  const auto schema = default_test_schema();
  Imported r(csv("P1,1704096000000,,wearables,hr,88,\rP1,1704096001000,,wearables,hr,89,\n"
                 "P1,1704096002000,,wearables,hr,90,\r\n"),
             schema);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.events.size(), 1u);
  ASSERT_EQ(r.dead.size(), 1u);
  EXPECT_EQ(r.dead[0].reason, "malformed_record");
  EXPECT_EQ(r.dead[0].line, 2u);
  EXPECT_NE(r.dead[0].message.find("lone CR"), std::string::npos) << r.dead[0].message;
  EXPECT_EQ(r.dead[0].message.find("P1"), std::string::npos) << r.dead[0].message;
}

// Mutated exports: seeded edits of a valid export (every modality, grouped vitals rows, quoted
// multi-line text, embeddings, ISO and epoch times). Damage below the header never stops the
// import: every event it keeps is valid, only the kept events' patients are interned, and each
// dead letter has its line and a reason, in one line without payload. Damage to the header line
// (its line break included) is refused in one line without payload, or imports the same way.
TEST(CsvImportTest, MutatedExportsGiveValidEventsOrDeadLettersWithoutPayload) {
  const auto schema = default_test_schema(/*notes_dim=*/2, /*imaging_dim=*/3);
  const std::string base =
      csv("QX7-A,2024-01-01T08:00:00Z,2024-01-01T08:00:02Z,wearables,hr,72,\n"
          "QX7-A,2024-01-01T08:00:00Z,2024-01-01T08:00:02Z,wearables,spo2,97,\n"
          "QX7-A,2024-01-01T08:00:00Z,2024-01-01T08:00:02Z,wearables,rr,,\n"
          "QX7-B,1704096000000,1704096001000,wearables,temp,37.5,\n"
          "QX7-B,1704096000000,1704096001000,wearables,sbp,121,\n"
          "QX7-A,2024-01-01T07:30:00Z,2024-01-01T08:05:30Z,notes,,,"
          "\"zebracrossing, eating; \"\"no distress\"\"\nsecond line\"\n"
          "QX7-B,1704096000002,,notes,,0.5 0.25,zebracrossing with a vector\n"
          "QX7-A,1704096000001,,imaging,,\"[1, 2, 3]\",\n"
          "QX7-B,1704096000003,,imaging,,0.1 0.2  -3e2,\n"
          "QX7-B,2024-01-01T09:00:00Z,,outcome,deterioration,,\n");
  {
    Imported r(base, schema);
    ASSERT_EQ(r.error, "");
    ASSERT_TRUE(r.dead.empty()) << r.dead[0].message;
    ASSERT_EQ(r.events.size(), 7u);
  }
  const std::array<std::string_view, 20> tokens = {",",
                                                   "\"",
                                                   "\"\"",
                                                   "\n",
                                                   "\r\n",
                                                   "\r",
                                                   " ",
                                                   "wearables",
                                                   "notes",
                                                   "imaging",
                                                   "outcome",
                                                   "hr",
                                                   "1e999",
                                                   "NaN",
                                                   "-1",
                                                   "99999999999999999999",
                                                   "9999-12-31T23:59:59.999Z",
                                                   "1969-12-31T23:59:59Z",
                                                   "\xc3",
                                                   std::string_view("\0", 1)};
  test::ByteMutator mutator(test::mutation_seed(20261207), tokens);
  const int files = test::mutation_count(400);
  int refused = 0;
  uint64_t events = 0;
  uint64_t dead = 0;
  const std::string body = base.substr(kHeader.size());
  for (int i = 0; i < files; ++i) {
    SCOPED_TRACE("file " + std::to_string(i));
    const bool header_damaged = i % 4 == 0;
    Imported r(header_damaged ? mutator.mutate(std::string(kHeader)) + body
                              : std::string(kHeader) + mutator.mutate(body),
               schema);
    if (!r.error.empty()) {
      ASSERT_TRUE(header_damaged) << r.error;
      ++refused;
      EXPECT_TRUE(test::one_clean_line(r.error)) << r.error;
      EXPECT_EQ(r.error.find("QX7-"), std::string::npos) << r.error;
      continue;
    }
    ASSERT_EQ(r.stats.events, r.events.size());
    ASSERT_EQ(r.stats.dead_letters, r.dead.size());
    std::set<PatientIndex> patients;
    for (const Event& e : r.events) {
      const auto invalid = check_event(e, schema, DecodeLimits{});
      ASSERT_FALSE(invalid.has_value()) << invalid->message;
      ASSERT_FALSE(check_patient_id(r.registry.id(e.patient)).has_value());
      patients.insert(e.patient);
    }
    ASSERT_EQ(patients.size(), r.registry.size()) << "a rejected row interned a patient";
    for (const DeadRecord& d : r.dead) {
      EXPECT_EQ(d.source, "ward.csv");
      EXPECT_GE(d.line, 2u);
      EXPECT_TRUE(decode_reason_from_string(d.reason).has_value()) << d.reason;
      EXPECT_FALSE(d.message.empty());
      EXPECT_TRUE(test::one_clean_line(d.message)) << d.message;
      EXPECT_EQ(d.message.find("QX7-"), std::string::npos) << d.message;
      EXPECT_EQ(d.message.find("zebracrossing"), std::string::npos) << d.message;
    }
    events += r.events.size();
    dead += r.dead.size();
  }
  // Header damage is mostly refused; bad rows and kept events are common.
  EXPECT_GT(refused, files / 8);
  EXPECT_GT(events, static_cast<uint64_t>(files) * 3);
  EXPECT_GT(dead, static_cast<uint64_t>(files) / 4);
}

}  // namespace
}  // namespace tfe
