// The bad-record corpus (tests/data/bad_records.jsonl): valid records interleaved with at least one
// record per decode reason. Each bad line carries an ignored field "_expect" naming the reason it
// must be dead-lettered with (found in the raw bytes, since some lines are not JSON at all).

#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "connectors/dead_letter.h"
#include "connectors/event_codec.h"
#include "connectors/jsonl_events.h"
#include "tests/connectors/test_schema.h"
#include "tests/support/mutation.h"

namespace tfe {
namespace {

using test::default_test_schema;
using test::drain;
using test::Drained;
using test::same_event;

struct CorpusLine {
  uint64_t line = 0;  // 1-based
  std::string bytes;
  std::string expect;  // empty: valid (or blank)
};

std::vector<CorpusLine> read_corpus(const std::string& path) {
  const std::string all = test::read_file(path);
  std::vector<CorpusLine> out;
  std::size_t start = 0;
  const std::regex expect_re(R"re(_expect\\?"[:,]\\?"([a-z_0-9]+))re");
  while (start < all.size()) {
    std::size_t nl = all.find('\n', start);
    if (nl == std::string::npos) nl = all.size();
    CorpusLine line;
    line.line = out.size() + 1;
    line.bytes = all.substr(start, nl - start);
    std::smatch m;
    if (std::regex_search(line.bytes, m, expect_re)) line.expect = m[1];
    out.push_back(std::move(line));
    start = nl + 1;
  }
  return out;
}

Drained read_jsonl(const std::string& path, const ModalitySchema& schema, PatientRegistry& registry,
                   DecodeLimits limits = {}) {
  auto source = open_jsonl_source(path, schema, registry, limits);
  EXPECT_TRUE(source) << (source ? "" : source.error().message);
  if (!source) return {};
  return drain(*source.value());
}

class BadRecordCorpusTest : public ::testing::Test {
 protected:
  ModalitySchema schema_ = default_test_schema();
  std::string corpus_path_ = test::data_path("bad_records.jsonl");
  std::vector<CorpusLine> corpus_ = read_corpus(corpus_path_);
  test::TempDir tmp_;
};

TEST_F(BadRecordCorpusTest, CorpusCoversEveryJsonReason) {
  std::set<std::string> reasons;
  for (const auto& l : corpus_) {
    if (l.expect.empty()) continue;
    ASSERT_TRUE(decode_reason_from_string(l.expect).has_value()) << "line " << l.line;
    reasons.insert(l.expect);
  }
  // record_too_large is generated in OversizedLines*; the binary-log reasons in binlog_test.
  for (const char* r :
       {"malformed_json", "invalid_utf8", "missing_field", "wrong_type", "unknown_modality",
        "wrong_dimension", "non_finite_value", "bad_patient_id", "event_time_out_of_range",
        "arrival_time_out_of_range", "empty_values", "value_out_of_range"}) {
    EXPECT_TRUE(reasons.count(r)) << "no corpus line for " << r;
  }
}

TEST_F(BadRecordCorpusTest, EachBadLineIsDeadLetteredWithItsReasonAndLine) {
  PatientRegistry registry;
  DeadLetterSink sink;
  const Drained got = read_jsonl(corpus_path_, schema_, registry);
  ASSERT_TRUE(got.error.empty()) << got.error;

  std::map<uint64_t, std::string> expected;  // line -> reason
  for (const auto& l : corpus_) {
    if (!l.expect.empty()) expected[l.line] = l.expect;
  }
  std::map<uint64_t, std::string> actual;
  for (const DeadLetter& d : got.dead) {
    EXPECT_EQ(d.source, corpus_path_);
    EXPECT_FALSE(d.message.empty());
    EXPECT_EQ(d.raw, corpus_[d.line - 1].bytes) << "line " << d.line;
    actual[d.line] = std::string(to_string(d.reason));
    sink.write(d);
  }
  EXPECT_EQ(actual, expected);
  for (const auto& [line, reason] : expected) {
    EXPECT_GT(sink.count(*decode_reason_from_string(reason)), 0u);
  }
  EXPECT_EQ(sink.total(), expected.size());
  EXPECT_EQ(got.dead.size(), expected.size());
}

TEST_F(BadRecordCorpusTest, ValidEventsAreExactlyThoseOfTheCleanFile) {
  // The clean file: the corpus without its bad lines.
  std::string clean;
  std::size_t valid_lines = 0;
  for (const auto& l : corpus_) {
    if (!l.expect.empty()) continue;
    clean += l.bytes + "\n";
    if (l.bytes.find_first_not_of(" \t\r") != std::string::npos) ++valid_lines;
  }
  const std::string clean_path = tmp_.file("clean.jsonl");
  test::write_file(clean_path, clean);

  PatientRegistry reg_bad, reg_clean;
  const Drained bad = read_jsonl(corpus_path_, schema_, reg_bad);
  const Drained good = read_jsonl(clean_path, schema_, reg_clean);
  ASSERT_TRUE(good.dead.empty()) << "clean line " << good.dead[0].line << ": "
                                 << good.dead[0].message;
  ASSERT_EQ(good.events.size(), valid_lines);
  ASSERT_EQ(bad.events.size(), good.events.size());
  for (std::size_t i = 0; i < good.events.size(); ++i) {
    EXPECT_TRUE(same_event(bad.events[i], reg_bad, good.events[i], reg_clean)) << "event " << i;
    // Same patient numbering: bad records intern nothing.
    EXPECT_EQ(bad.events[i].patient, good.events[i].patient) << "event " << i;
  }
  EXPECT_EQ(reg_bad.size(), reg_clean.size());
  // source_seq is the line number, increasing.
  for (std::size_t i = 1; i < bad.events.size(); ++i) {
    EXPECT_LT(bad.events[i - 1].source_seq, bad.events[i].source_seq);
  }
  EXPECT_EQ(bad.events.front().source_seq, 1u);
}

// A record over max_record_bytes, generated (not stored): one line far larger than the reader's
// buffer (exercising the skip across refills) and one that fits the buffer but not the limit.
TEST_F(BadRecordCorpusTest, OversizedLinesAreDeadLetteredAndReadingGoesOn) {
  const std::string big_text(10u << 20, 'a');  // 10 MiB, over the 1 MiB default
  const std::string huge =
      R"({"patient_id":"P1","modality":"notes","event_time":1,"text":")" + big_text + "\"}";
  const std::string ok1 =
      R"({"patient_id":"P1","modality":"wearables","event_time":1,"values":{"hr":1}})";
  const std::string ok2 =
      R"({"patient_id":"P2","modality":"wearables","event_time":2,"values":{"hr":2}})";
  const std::string path = tmp_.file("big.jsonl");
  const std::string over_small(1'100'000, ' ');  // blank-padded record just over the limit
  test::write_file(path, ok1 + "\n" + huge + "\n" + ok2 + "\n{" + over_small + "}\n" + ok1 + "\n" +
                             huge);  // last line without newline
  PatientRegistry registry;
  const Drained got = read_jsonl(path, schema_, registry);
  ASSERT_TRUE(got.error.empty()) << got.error;
  ASSERT_EQ(got.events.size(), 3u);
  EXPECT_EQ(got.events[0].source_seq, 1u);
  EXPECT_EQ(got.events[1].source_seq, 3u);
  EXPECT_EQ(got.events[2].source_seq, 5u);
  ASSERT_EQ(got.dead.size(), 3u);
  const uint64_t lines[] = {2, 4, 6};
  const uint64_t sizes[] = {huge.size(), over_small.size() + 2, huge.size()};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got.dead[i].reason, DecodeReason::record_too_large);
    EXPECT_EQ(got.dead[i].line, lines[i]);
    EXPECT_EQ(got.dead[i].raw_bytes, sizes[i]);
    EXPECT_TRUE(got.dead[i].raw.empty()) << "oversized records are never copied";
  }
  EXPECT_EQ(got.dead[0].offset, static_cast<int64_t>(ok1.size() + 1));
}

TEST_F(BadRecordCorpusTest, RecordAtExactlyTheLimitIsAccepted) {
  const std::string head = R"({"patient_id":"P1","modality":"notes","event_time":1,"text":")";
  const uint32_t limit = 4096;
  const std::string rec = head + std::string(limit - head.size() - 2, 'b') + "\"}";
  ASSERT_EQ(rec.size(), limit);
  const std::string path = tmp_.file("limit.jsonl");
  test::write_file(path, rec + "\r\n" + rec + "x\n");
  PatientRegistry registry;
  const Drained got = read_jsonl(path, schema_, registry, DecodeLimits{limit, 300'000});
  ASSERT_EQ(got.events.size(), 1u);
  ASSERT_EQ(got.dead.size(), 1u);
  EXPECT_EQ(got.dead[0].reason, DecodeReason::record_too_large);
  EXPECT_EQ(got.dead[0].line, 2u);
}

TEST_F(BadRecordCorpusTest, FileStartingWithAByteOrderMarkLosesNoRecord) {
  const std::string rec =
      R"({"patient_id":"P1","modality":"wearables","event_time":1700000000000,"values":{"hr":1}})";
  const std::string path = tmp_.file("bom.jsonl");
  test::write_file(path, "\xEF\xBB\xBF" + rec + "\r\n" + rec + "\r\n");
  PatientRegistry registry;
  const Drained got = read_jsonl(path, schema_, registry);
  EXPECT_TRUE(got.dead.empty()) << (got.dead.empty() ? "" : got.dead[0].message);
  ASSERT_EQ(got.events.size(), 2u);
  EXPECT_EQ(got.events[0].source_seq, 1u);
  EXPECT_EQ(got.events[1].source_seq, 2u);
}

// Lines ended by a lone CR (old Mac exports) are one line to the reader (a raw CR is JSON
// whitespace): the dead letter of the records they join, too large or not JSON, names the cause.
// A CR before a line feed is no such hint.
TEST_F(BadRecordCorpusTest, LinesJoinedByALoneCrSaySo) {
  const std::string rec =
      R"({"patient_id":"P1","modality":"wearables","event_time":1700000000000,"values":{"hr":1}})";
  const std::string path = tmp_.file("cr.jsonl");
  std::string joined_big;
  while (joined_big.size() < 300) joined_big += rec + "\r";
  test::write_file(path,
                   rec + "\r" + rec + "\r\n" + rec + "\r\n" + joined_big + "\n" + rec + "x\r\n");
  PatientRegistry registry;
  const Drained got = read_jsonl(path, schema_, registry, DecodeLimits{200, 300'000});
  ASSERT_TRUE(got.error.empty()) << got.error;
  ASSERT_EQ(got.events.size(), 1u);
  EXPECT_EQ(got.events[0].source_seq, 2u);
  ASSERT_EQ(got.dead.size(), 3u);
  EXPECT_EQ(got.dead[0].reason, DecodeReason::malformed_json);
  EXPECT_EQ(got.dead[0].line, 1u);
  EXPECT_NE(got.dead[0].message.find("lone CR"), std::string::npos) << got.dead[0].message;
  EXPECT_EQ(got.dead[1].reason, DecodeReason::record_too_large);
  EXPECT_EQ(got.dead[1].line, 3u);
  EXPECT_NE(got.dead[1].message.find("lone CR"), std::string::npos) << got.dead[1].message;
  EXPECT_EQ(got.dead[2].reason, DecodeReason::malformed_json);
  EXPECT_EQ(got.dead[2].message.find("lone CR"), std::string::npos) << got.dead[2].message;

  // Past the reader's buffer: the CRs are in the bytes it drops without keeping them.
  std::string huge;
  while (huge.size() < (9u << 20)) huge += rec + "\r";
  test::write_file(path, huge + "\n" + rec + "\n");
  PatientRegistry registry2;
  const Drained big = read_jsonl(path, schema_, registry2);
  ASSERT_EQ(big.events.size(), 1u);
  ASSERT_EQ(big.dead.size(), 1u);
  EXPECT_EQ(big.dead[0].reason, DecodeReason::record_too_large);
  EXPECT_NE(big.dead[0].message.find("lone CR"), std::string::npos) << big.dead[0].message;
}

// The reader drops an oversized line chunk by chunk (kJsonlReadBytes at a time): a lone CR as the
// last byte of a chunk is seen with the byte after it, in the next chunk, whether that chunk is
// dropped too or ends the line. A CRLF split across the boundary is no lone CR.
TEST_F(BadRecordCorpusTest, ALoneCrAtTheEndOfAReadChunkIsNamed) {
  const std::string rec =
      R"({"patient_id":"P1","modality":"wearables","event_time":1700000000000,"values":{"hr":1}})";
  const std::string first(kJsonlReadBytes - 1, 'a');  // the CR is the chunk's last byte
  struct Case {
    std::string bytes;
    bool lone;
  };
  const std::vector<Case> cases = {
      {first + "\r" + std::string(100, 'b') + "\n" + rec + "\n", true},
      {first + "\r" + std::string(kJsonlReadBytes + 10, 'b') + "\n" + rec + "\n", true},
      {first + "\r\n" + rec + "\n", false},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string path = tmp_.file("boundary.jsonl");
    test::write_file(path, cases[i].bytes);
    PatientRegistry registry;
    const Drained got = read_jsonl(path, schema_, registry);
    ASSERT_TRUE(got.error.empty()) << got.error;
    ASSERT_EQ(got.events.size(), 1u);
    EXPECT_EQ(got.events[0].source_seq, 2u);
    ASSERT_EQ(got.dead.size(), 1u);
    EXPECT_EQ(got.dead[0].reason, DecodeReason::record_too_large);
    EXPECT_EQ(got.dead[0].line, 1u);
    EXPECT_EQ(got.dead[0].message.find("lone CR") != std::string::npos, cases[i].lone)
        << got.dead[0].message;
  }
}

TEST_F(BadRecordCorpusTest, EmptyAndMissingFiles) {
  const std::string path = tmp_.file("empty.jsonl");
  test::write_file(path, "");
  PatientRegistry registry;
  const Drained got = read_jsonl(path, schema_, registry);
  EXPECT_TRUE(got.events.empty());
  EXPECT_TRUE(got.dead.empty());
  auto missing = open_jsonl_source(tmp_.file("nope.jsonl"), schema_, registry, {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::io);
  EXPECT_NE(missing.error().message.find("nope.jsonl"), std::string::npos);
}

TEST_F(BadRecordCorpusTest, DeadLetterFileHoldsPositionReasonAndRawBytes) {
  PatientRegistry registry;
  const Drained got = read_jsonl(corpus_path_, schema_, registry);
  const std::string path = tmp_.file("dead.jsonl");
  {
    auto sink = DeadLetterSink::open(path);
    ASSERT_TRUE(sink) << sink.error().message;
    for (const DeadLetter& d : got.dead) sink.value()->write(d);
    ASSERT_TRUE(sink.value()->close());
  }
  std::istringstream lines(test::read_file(path));
  std::string line;
  std::size_t n = 0;
  while (std::getline(lines, line)) {
    const DeadLetter& d = got.dead[n++];
    std::string want = "{\"source\":\"" + corpus_path_ + "\",\"line\":" + std::to_string(d.line) +
                       ",\"offset\":" + std::to_string(d.offset) + ",\"reason\":\"" +
                       std::string(to_string(d.reason)) + "\",";
    EXPECT_EQ(line.substr(0, want.size()), want);
    EXPECT_NE(line.find("\"raw_b64\":\""), std::string::npos);
  }
  EXPECT_EQ(n, got.dead.size());

  // Without raw payload.
  DeadLetter d = got.dead[0];
  std::string no_raw;
  append_dead_letter_json(no_raw, d, /*include_raw=*/false);
  EXPECT_EQ(no_raw.find("raw_b64"), std::string::npos);
  EXPECT_NE(no_raw.find("\"raw_bytes\":" + std::to_string(d.raw.size())), std::string::npos);
}

// The file reader against a line-by-line reference: seeded edits of a file of valid lines (line
// breaks, CRs, blanks, long runs and JSON fragments spliced in; bytes flipped, spans deleted or
// repeated; cuts). Splitting the edited bytes at '\n', dropping a trailing '\r', skipping blank
// lines, refusing lines over max_record_bytes and decoding the rest one by one must give exactly
// what the buffered reader gives: the same events in the same order, the same dead letters with
// the same lines, reasons and byte offsets.
TEST(JsonlFraming, BufferedReaderAgreesWithALineByLineReference) {
  const ModalitySchema schema = default_test_schema(/*notes_dim=*/0, /*imaging_dim=*/4);
  DecodeLimits limits;
  limits.max_record_bytes = 220;
  std::string base;
  PatientRegistry base_registry;
  const std::vector<std::string> texts = {"settled", "increased work of breathing", ""};
  for (int i = 0; i < 40; ++i) {
    Event e{};
    std::string id = "P";  // appended, not "P" + ...: GCC 12 warns falsely (-Wrestrict) on that
    id += std::to_string(i % 7);
    e.patient = base_registry.intern(id);
    e.arrival_time_ms = 1'700'000'000'000 + i * 60'000;
    e.event_time_ms = e.arrival_time_ms - 1000;
    switch (i % 4) {
      case 0:
      case 1:
        e.modality = 0;
        e.vitals.values.fill(0);
        e.vitals.present_mask = 0b1011;
        e.vitals.values[0] = 70.0f + static_cast<float>(i);
        e.vitals.values[1] = 97.5f;
        e.vitals.values[3] = 36.9f;
        break;
      case 2:
        e.modality = 1;
        e.text = texts[static_cast<std::size_t>(i) % 2] + " day " + std::to_string(i);
        break;
      default:
        e.modality = 2;
        e.embedding = {0.25f, -1.0f, static_cast<float>(i), 3e-3f};
        break;
    }
    append_event_json(base, e, schema, base_registry);
    base += i % 9 == 4 ? "\r\n" : "\n";
    if (i % 11 == 5) base += "  \t\n";
  }
  const std::string long_run(300, 'x');
  const std::string long_blank(260, ' ');
  const std::array<std::string_view, 12> tokens = {
      "\n",
      "\r",
      "\r\n",
      "\n\n",
      " \t",
      "{",
      "}",
      "\"",
      ",",
      long_run,
      long_blank,
      R"({"patient_id":"Q","modality":"outcome","event_time":1700000000000,"label":"x"})"};
  test::ByteMutator mutator(test::mutation_seed(20261207), tokens, 6);
  test::TempDir tmp;
  const std::string path = tmp.file("m.jsonl");
  const int files = test::mutation_count(300);
  uint64_t events = 0;
  uint64_t dead = 0;
  for (int i = 0; i < files; ++i) {
    SCOPED_TRACE("file " + std::to_string(i));
    std::string bytes = mutator.mutate(base);
    if (i % 10 == 0) bytes += long_blank;  // a last line, blank and over the limit
    test::write_file(path, bytes);
    PatientRegistry registry;
    const Drained got = read_jsonl(path, schema, registry, limits);
    ASSERT_EQ(got.error, "");

    PatientRegistry want_registry;
    EventDecoder decoder(schema, want_registry, limits);
    std::size_t next_event = 0;
    std::size_t next_dead = 0;
    uint64_t line_no = 0;
    for (std::size_t begin = 0; begin < bytes.size();) {
      std::size_t end = bytes.find('\n', begin);
      const bool last = end == std::string::npos;
      if (last) end = bytes.size();
      ++line_no;
      std::string_view line(bytes.data() + begin, end - begin);
      const auto offset = static_cast<int64_t>(begin);
      begin = last ? end : end + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank
      std::optional<DecodeReason> reason;
      if (line.size() > limits.max_record_bytes) {
        reason = DecodeReason::record_too_large;
      } else if (auto r = decoder.decode(line); !r) {
        reason = r.error().reason;
      } else {
        ASSERT_LT(next_event, got.events.size()) << "line " << line_no << " is missing";
        const Event& e = got.events[next_event++];
        ASSERT_TRUE(same_event(e, registry, r.value(), want_registry)) << "line " << line_no;
        ASSERT_EQ(e.source_seq, line_no);
        continue;
      }
      ASSERT_LT(next_dead, got.dead.size()) << "line " << line_no << " is not dead-lettered";
      const DeadLetter& d = got.dead[next_dead++];
      ASSERT_EQ(d.line, line_no);
      ASSERT_EQ(d.reason, *reason) << "line " << line_no << ": " << d.message;
      ASSERT_EQ(d.offset, offset) << "line " << line_no;
    }
    ASSERT_EQ(next_event, got.events.size()) << "events beyond the reference";
    ASSERT_EQ(next_dead, got.dead.size()) << "dead letters beyond the reference";
    events += got.events.size();
    dead += got.dead.size();
  }
  EXPECT_GT(events, static_cast<uint64_t>(files) * 25);
  EXPECT_GT(dead, static_cast<uint64_t>(files));
}

// Lines longer than the reader's buffer (at least 4 MiB) are skipped across several refills: a
// blank one is still blank, one with content after megabytes of spaces is record_too_large, and
// the lines around them read as usual.
TEST(JsonlFraming, LinesLongerThanTheBufferAreSkippedAcrossRefills) {
  const ModalitySchema schema = default_test_schema();
  const std::string valid =
      R"({"patient_id":"P1","modality":"wearables","event_time":1700000000000,"values":{"hr":70}})";
  const std::string spaces(5u << 20, ' ');
  const std::string bytes =
      valid + "\n" + spaces + "\n" + valid + "\n" + spaces + "x\n" + valid + "\nx" + spaces + "\n" +
      spaces + "\t\r";  // line 4 has content at its end, line 6 where it is dropped first
  test::TempDir tmp;
  test::write_file(tmp.file("long.jsonl"), bytes);
  PatientRegistry registry;
  const Drained got = read_jsonl(tmp.file("long.jsonl"), schema, registry);
  ASSERT_EQ(got.error, "");
  ASSERT_EQ(got.events.size(), 3u);
  EXPECT_EQ(got.events[0].source_seq, 1u);
  EXPECT_EQ(got.events[1].source_seq, 3u);
  EXPECT_EQ(got.events[2].source_seq, 5u);
  ASSERT_EQ(got.dead.size(), 2u);
  EXPECT_EQ(got.dead[0].line, 4u);
  EXPECT_EQ(got.dead[0].reason, DecodeReason::record_too_large);
  EXPECT_EQ(got.dead[0].raw_bytes, spaces.size() + 1);
  EXPECT_EQ(got.dead[0].offset, static_cast<int64_t>(2 * valid.size() + spaces.size() + 3));
  EXPECT_EQ(got.dead[1].line, 6u);
  EXPECT_EQ(got.dead[1].reason, DecodeReason::record_too_large);
}

}  // namespace
}  // namespace tfe
