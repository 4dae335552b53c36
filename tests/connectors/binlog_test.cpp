#include "connectors/binlog.h"

#include <gtest/gtest.h>

#include <zlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>

#include "connectors/crc32.h"
#include "connectors/event_files.h"
#include "connectors/jsonl_events.h"
#include "tests/connectors/test_schema.h"
#include "tests/support/mutation.h"

namespace tfe {
namespace {

using test::default_test_schema;
using test::drain;
using test::Drained;
using test::same_event;

constexpr int64_t kT = 1'700'000'000'000;

// A small history: several patients, every kind, outcome, text with and without embedding.
std::vector<Event> sample_events(const ModalitySchema& schema, PatientRegistry& registry,
                                 std::size_t n) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-2, 2);
  std::vector<Event> events;
  for (std::size_t i = 0; i < n; ++i) {
    Event e{};
    e.patient = registry.intern("patient-" + std::to_string(rng() % 6));
    e.arrival_time_ms = kT + static_cast<int64_t>(i) * 997;
    e.event_time_ms = e.arrival_time_ms - static_cast<int64_t>(rng() % 5000);
    switch (i % 7) {
      case 3:
        e.modality = 1;
        e.text = "note " + std::to_string(i) + " \xc3\xa9";
        if (schema[1].dim > 0 && i % 2) {
          e.embedding.resize(schema[1].dim);
          for (float& f : e.embedding) f = u(rng);
        }
        break;
      case 5:
        e.modality = 2;
        e.embedding.resize(schema[2].dim);
        for (float& f : e.embedding) f = u(rng);
        break;
      case 6:
        e.modality = kOutcomeModality;
        e.label = "deterioration";
        break;
      default:
        e.modality = 0;
        e.vitals.values.fill(std::nanf(""));
        e.vitals.present_mask = static_cast<uint32_t>(rng() % 63) + 1;
        for (int c = 0; c < 6; ++c) {
          if (e.vitals.present_mask >> c & 1) e.vitals.values[c] = u(rng) * 50;
        }
    }
    events.push_back(std::move(e));
  }
  return events;
}

void write_events(EventWriter& writer, const std::vector<Event>& events) {
  for (const Event& e : events) writer.write(e);
  ASSERT_TRUE(writer.close());
  EXPECT_EQ(writer.events_written(), events.size());
}

TEST(Crc32Test, EqualsZlibCrc32) {
  std::mt19937 rng(9);
  std::string buf(300, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  const auto* p = reinterpret_cast<const Bytef*>(buf.data());
  for (std::size_t off = 0; off < 9; ++off) {
    for (std::size_t n = 0; n + off <= buf.size(); ++n) {
      ASSERT_EQ(crc32_ieee(0, buf.data() + off, n), ::crc32(0L, p + off, static_cast<uInt>(n)))
          << off << "+" << n;
    }
  }
  // Continuation over a split buffer.
  EXPECT_EQ(crc32_ieee(crc32_ieee(0, buf.data(), 100), buf.data() + 100, 200), ::crc32(0L, p, 300));
  EXPECT_EQ(crc32_ieee(0, "123456789", 9), 0xCBF43926u);  // the standard check value
  // Imaging-sized records take the long folding path.
  std::string big(5000, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  const auto* q = reinterpret_cast<const Bytef*>(big.data());
  for (const std::size_t n : {511u, 512u, 2060u, 4999u, 5000u}) {
    EXPECT_EQ(crc32_ieee(0, big.data(), n), ::crc32(0L, q, static_cast<uInt>(n))) << n;
  }
  EXPECT_EQ(crc32_ieee(crc32_ieee(0, big.data(), 1237), big.data() + 1237, 3763),
            ::crc32(0L, q, 5000));
}

class BinlogTest : public ::testing::Test {
 protected:
  ModalitySchema schema_ = default_test_schema(/*notes_dim=*/8);
  test::TempDir tmp_;
};

TEST_F(BinlogTest, WriteThenReadGivesTheSameEvents) {
  PatientRegistry reg;
  const auto events = sample_events(schema_, reg, 500);
  const std::string path = tmp_.file("a.tfelog");
  auto writer = open_binlog_writer(path, schema_, reg);
  ASSERT_TRUE(writer);
  write_events(*writer.value(), events);

  PatientRegistry reg2;
  auto source = open_binlog_source(path, schema_, reg2, {});
  ASSERT_TRUE(source) << source.error().message;
  const Drained got = drain(*source.value());
  ASSERT_TRUE(got.error.empty()) << got.error;
  ASSERT_TRUE(got.dead.empty()) << got.dead[0].message;
  ASSERT_EQ(got.events.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    ASSERT_TRUE(same_event(events[i], reg, got.events[i], reg2)) << i;
    EXPECT_EQ(got.events[i].source_seq, i + 1);
  }
}

// An event over the record limit cannot be written: close() fails and the log is not put in place
// (a command that then exits non-zero must not leave a log that lacks an event behind).
TEST_F(BinlogTest, ALogThatLostAnOversizedEventIsNotPutInPlace) {
  PatientRegistry reg;
  auto events = sample_events(schema_, reg, 20);
  const auto note =
      std::find_if(events.begin(), events.end(), [](const Event& e) { return e.modality == 1; });
  ASSERT_NE(note, events.end());
  note->text.assign(kBinlogMaxBodyBytes + 1, 'x');
  const std::string path = tmp_.file("big.tfelog");
  auto writer = open_binlog_writer(path, schema_, reg);
  ASSERT_TRUE(writer);
  for (const Event& e : events) writer.value()->write(e);
  auto closed = writer.value()->close();
  ASSERT_FALSE(closed);
  EXPECT_NE(closed.error().message.find("record limit"), std::string::npos)
      << closed.error().message;
  writer.value().reset();
  EXPECT_FALSE(std::filesystem::exists(path)) << "a log missing an event was left at its path";
}

TEST_F(BinlogTest, JsonlToBinlogToJsonlIsByteIdentical) {
  PatientRegistry reg;
  const auto events = sample_events(schema_, reg, 400);
  const std::string jsonl = tmp_.file("in.jsonl");
  auto writer = open_jsonl_writer(jsonl, schema_, reg);
  ASSERT_TRUE(writer);
  write_events(*writer.value(), events);

  DeadLetterSink dead;
  auto a = convert_events(jsonl, tmp_.file("mid.tfelog"), schema_, {}, dead);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a.value().events, events.size());
  auto b = convert_events(tmp_.file("mid.tfelog"), tmp_.file("out.jsonl"), schema_, {}, dead);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b.value().events, events.size());
  EXPECT_EQ(dead.total(), 0u);
  const std::string in_bytes = test::read_file(jsonl);
  EXPECT_EQ(test::read_file(tmp_.file("out.jsonl")), in_bytes);
  // And the binary log is smaller.
  EXPECT_LT(std::filesystem::file_size(tmp_.file("mid.tfelog")), in_bytes.size() / 2);
}

// A stop (Ctrl-C in tfe convert) ends the conversion at its next check with the output as it
// was: neither half a log nor its temporary file is left beside it.
TEST_F(BinlogTest, AStoppedConversionLeavesNothingBehind) {
  PatientRegistry reg;
  const auto events = sample_events(schema_, reg, 70'000);  // past the first check, at 65,536
  const std::string jsonl = tmp_.file("in.jsonl");
  auto writer = open_jsonl_writer(jsonl, schema_, reg);
  ASSERT_TRUE(writer);
  write_events(*writer.value(), events);
  const auto dir = std::filesystem::path(jsonl).parent_path();
  const auto files = [&] {
    return std::distance(std::filesystem::directory_iterator(dir),
                         std::filesystem::directory_iterator());
  };
  const auto before = files();

  DeadLetterSink dead;
  int asked = 0;
  auto r = convert_events(jsonl, tmp_.file("out.tfelog"), schema_, {}, dead, [&] {
    ++asked;
    return true;
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r.value().interrupted);
  EXPECT_EQ(asked, 1);
  EXPECT_LT(r.value().events, events.size());
  EXPECT_FALSE(std::filesystem::exists(tmp_.file("out.tfelog")));
  EXPECT_EQ(files(), before) << "a temporary file was left beside the output";

  auto whole =
      convert_events(jsonl, tmp_.file("out.tfelog"), schema_, {}, dead, [] { return false; });
  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_FALSE(whole.value().interrupted);
  EXPECT_EQ(whole.value().events, events.size());
}

// max_record_bytes bounds what the service accepts. A log holds events of any size (one written
// under a larger limit, or from records whose canonical JSON is longer than their input line), so
// converting must refuse what the service would refuse: a record_too_large dead letter naming
// max_record_bytes, and every other event written. The same from either input format.
TEST_F(BinlogTest, ConvertRefusesEventsOverMaxRecordBytesFromEitherFormat) {
  PatientRegistry reg;
  auto events = sample_events(schema_, reg, 40);
  const auto note =
      std::find_if(events.begin(), events.end(), [](const Event& e) { return e.modality == 1; });
  ASSERT_NE(note, events.end());
  note->text.assign(10'000, 'x');  // about 10 KB as JSON; the other events are under 8 KB
  note->embedding.clear();
  const std::string log = tmp_.file("big.tfelog");
  auto writer = open_binlog_writer(log, schema_, reg);
  ASSERT_TRUE(writer);
  write_events(*writer.value(), events);
  // An imaging record of 512 "1e-7": about 2.65 KB as written, 3.15 KB in canonical form
  // ("1e-07").
  std::string zeros = R"({"patient_id":"Z","modality":"imaging","event_time":1700000000000,)"
                      R"("embedding":[1e-7)";
  for (int i = 1; i < 512; ++i) zeros += ",1e-7";
  zeros += "]}";
  ASSERT_LT(zeros.size(), 3000u);
  const std::string jsonl = tmp_.file("zeros.jsonl");
  test::write_file(jsonl, R"({"patient_id":"Z","modality":"wearables","event_time":1700000000000,)"
                          R"("values":{"hr":72}})"
                          "\n" +
                              zeros + "\n");

  struct Case {
    std::string in;
    std::size_t events;
    uint32_t max_record_bytes;
  };
  for (const Case& c : {Case{log, events.size() - 1, 8192}, Case{jsonl, 1, 3000}}) {
    for (const char* out : {"out.jsonl", "out.tfelog"}) {
      SCOPED_TRACE(c.in + " -> " + out);
      DecodeLimits limits;
      limits.max_record_bytes = c.max_record_bytes;
      DeadLetterSink dead;
      auto r = convert_events(c.in, tmp_.file(out), schema_, limits, dead);
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r.value().events, c.events);
      EXPECT_EQ(r.value().dead_letters, 1u);
      EXPECT_EQ(dead.count(DecodeReason::record_too_large), 1u);
      // Every written event is accepted under the same limit: what the service would read.
      PatientRegistry back;
      auto source = open_event_source(tmp_.file(out), schema_, back, limits);
      ASSERT_TRUE(source) << source.error().message;
      const Drained got = drain(*source.value());
      EXPECT_TRUE(got.dead.empty());
      EXPECT_EQ(got.events.size(), c.events);
    }
  }
  // The reason's message names the limit (and no payload).
  DecodeLimits limits;
  limits.max_record_bytes = 8192;
  PatientRegistry again;
  auto source = open_binlog_source(log, schema_, again, limits);
  ASSERT_TRUE(source);
  const Drained got = drain(*source.value());
  ASSERT_EQ(got.dead.size(), 1u);
  EXPECT_EQ(got.dead[0].reason, DecodeReason::record_too_large);
  EXPECT_NE(got.dead[0].message.find("max_record_bytes"), std::string::npos) << got.dead[0].message;
  EXPECT_EQ(got.dead[0].message.find("xxx"), std::string::npos);
}

TEST_F(BinlogTest, ConvertingTheBadCorpusCountsEachReason) {
  const ModalitySchema schema = default_test_schema();
  DeadLetterSink dead;
  auto r =
      convert_events(test::data_path("bad_records.jsonl"), tmp_.file("c.tfelog"), schema, {}, dead);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GT(r.value().events, 10u);
  EXPECT_EQ(r.value().dead_letters, dead.total());
  EXPECT_EQ(r.value().dead_letter_counts, dead.counts());
  EXPECT_GT(r.value().dead_letter_counts[static_cast<std::size_t>(DecodeReason::wrong_type)], 0u);
  EXPECT_EQ(r.value().unknown_channels, 2u);  // also counted in records rejected later
  auto back = convert_events(tmp_.file("c.tfelog"), tmp_.file("c.jsonl"), schema, {}, dead);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back.value().events, r.value().events);
  EXPECT_EQ(back.value().dead_letters, 0u);
}

TEST_F(BinlogTest, ConvertRefusesBadPaths) {
  DeadLetterSink dead;
  const std::string in = tmp_.file("x.jsonl");
  test::write_file(in, "");
  auto same = convert_events(in, in, schema_, {}, dead);
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().code, Errc::invalid_argument);
  auto ext = convert_events(in, tmp_.file("x.csv"), schema_, {}, dead);
  ASSERT_FALSE(ext);
  EXPECT_NE(ext.error().message.find(".tfelog"), std::string::npos);
}

TEST_F(BinlogTest, LogOfAnotherSchemaIsRejectedClearly) {
  PatientRegistry reg;
  const auto events = sample_events(schema_, reg, 10);
  const std::string path = tmp_.file("s.tfelog");
  auto writer = open_binlog_writer(path, schema_, reg);
  ASSERT_TRUE(writer);
  write_events(*writer.value(), events);
  const ModalitySchema other = default_test_schema(/*notes_dim=*/16);
  PatientRegistry reg2;
  auto source = open_binlog_source(path, other, reg2, {});
  ASSERT_FALSE(source);
  EXPECT_EQ(source.error().code, Errc::schema);
  EXPECT_NE(source.error().message.find("another modality schema"), std::string::npos);
  EXPECT_NE(source.error().message.find("notes:text:8:"), std::string::npos)
      << source.error().message;
  EXPECT_NE(binlog_schema_fingerprint(schema_), binlog_schema_fingerprint(other));
}

TEST_F(BinlogTest, HeaderErrors) {
  PatientRegistry reg;
  const std::string path = tmp_.file("h.tfelog");
  test::write_file(path, "not a log at all, just text\n");
  auto a = open_binlog_source(path, schema_, reg, {});
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("not a tfe binary log"), std::string::npos);
  std::string header = test::read_file([&] {
    const std::string p = tmp_.file("ok.tfelog");
    auto w = open_binlog_writer(p, schema_, reg);
    EXPECT_TRUE(w.value()->close());
    return p;
  }());
  header[6] = 2;  // version 2
  test::write_file(path, header);
  auto b = open_binlog_source(path, schema_, reg, {});
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Errc::unsupported);
  EXPECT_NE(b.error().message.find("version 2"), std::string::npos);
}

// A log is mapped: a directory or a pipe given as one is named as such, not as a failed mapping
// ("No such device").
TEST_F(BinlogTest, ADirectoryOrPipeIsNotALog) {
  PatientRegistry reg;
  const std::string dir = tmp_.file("d.tfelog");
  std::filesystem::create_directory(dir);
  auto a = open_binlog_source(dir, schema_, reg, {});
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Errc::io);
  EXPECT_EQ(a.error().message, dir + ": is a directory, not a binary event log");
  const std::string fifo = tmp_.file("p.tfelog");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto b = open_binlog_source(fifo, schema_, reg, {});
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find(fifo + ": is not a regular file"), std::string::npos)
      << b.error().message;
}

// Reads `bytes` as a log: never crashes; either an error at open or a stream of items.
struct Outcome {
  bool opened = false;
  std::string open_error;
  Drained items;
};
Outcome read_bytes(const std::string& path, const std::string& bytes, const ModalitySchema& schema,
                   PatientRegistry& registry) {
  // A fresh file each time: truncating one in place makes some file systems flush it first.
  std::filesystem::remove(path);
  test::write_file(path, bytes);
  Outcome out;
  auto source = open_binlog_source(path, schema, registry, {});
  if (!source) {
    out.open_error = source.error().message;
    return out;
  }
  out.opened = true;
  out.items = drain(*source.value(), 100'000);
  return out;
}

// Small vectors keep the file small: every byte of it is damaged in turn.
class BinlogDamageTest : public BinlogTest {
 protected:
  void SetUp() override {
    schema_ = default_test_schema(/*notes_dim=*/8, /*imaging_dim=*/16);
    events_ = sample_events(schema_, reg_, 60);
    const std::string path = tmp_.file("d.tfelog");
    auto writer = open_binlog_writer(path, schema_, reg_);
    ASSERT_TRUE(writer);
    write_events(*writer.value(), events_);
    bytes_ = test::read_file(path);
    // Record boundaries, from the frame lengths.
    uint32_t text_len;
    std::memcpy(&text_len, bytes_.data() + 16, 4);
    header_end_ = 20 + text_len + 4;
    for (std::size_t at = header_end_; at < bytes_.size();) {
      starts_.push_back(at);
      uint32_t len;
      std::memcpy(&len, bytes_.data() + at, 4);
      at += 8 + len;
    }
    starts_.push_back(bytes_.size());
    ASSERT_EQ(starts_.size(), events_.size() + 1);
  }
  // Index of the record holding byte `at`.
  std::size_t record_of(std::size_t at) const {
    return static_cast<std::size_t>(std::upper_bound(starts_.begin(), starts_.end(), at) -
                                    starts_.begin()) -
           1;
  }
  std::vector<Event> events_;
  PatientRegistry reg_;
  std::string bytes_;
  std::size_t header_end_ = 0;
  std::vector<std::size_t> starts_;  // [records + 1]
};

TEST_F(BinlogDamageTest, EveryTruncationPointGivesAnErrorOrATruncatedRecord) {
  const std::string path = tmp_.file("t.tfelog");
  for (std::size_t cut = 0; cut < bytes_.size(); ++cut) {
    PatientRegistry reg;
    const Outcome out = read_bytes(path, bytes_.substr(0, cut), schema_, reg);
    if (cut < header_end_) {
      ASSERT_FALSE(out.opened) << "cut " << cut;
      // The magic alone, or a header cut short, each with what it is.
      const std::string_view want = cut < 6 ? "not a tfe binary log" : "header is truncated";
      EXPECT_NE(out.open_error.find(want), std::string::npos)
          << "cut " << cut << ": " << out.open_error;
      if (cut >= 6 && cut < 24) {  // shorter than the fixed part: the size is in the message
        EXPECT_NE(out.open_error.find("(" + std::to_string(cut) + " bytes;"), std::string::npos)
            << out.open_error;
      }
      continue;
    }
    ASSERT_TRUE(out.opened) << "cut " << cut << ": " << out.open_error;
    ASSERT_TRUE(out.items.error.empty()) << out.items.error;
    const std::size_t whole = record_of(cut);  // records entirely before the cut
    const bool partial = cut != starts_[whole];
    ASSERT_EQ(out.items.events.size(), whole) << "cut " << cut;
    for (std::size_t i = 0; i < whole; ++i) {
      ASSERT_TRUE(same_event(out.items.events[i], reg, events_[i], reg_)) << "cut " << cut;
    }
    ASSERT_EQ(out.items.dead.size(), partial ? 1u : 0u) << "cut " << cut;
    if (partial) {
      EXPECT_EQ(out.items.dead[0].reason, DecodeReason::truncated_record) << "cut " << cut;
      EXPECT_EQ(out.items.dead[0].offset, static_cast<int64_t>(starts_[whole]));
    }
  }
}

TEST_F(BinlogDamageTest, EveryFlippedByteIsCaughtAndOnlyItsRecordIsLost) {
  const std::string path = tmp_.file("f.tfelog");
  for (std::size_t at = 0; at < bytes_.size(); ++at) {
    for (const uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::string damaged = bytes_;
      damaged[at] = static_cast<char>(damaged[at] ^ flip);
      PatientRegistry reg;
      const Outcome out = read_bytes(path, damaged, schema_, reg);
      if (at < header_end_) {
        ASSERT_FALSE(out.opened) << "byte " << at;
        ASSERT_FALSE(out.open_error.empty());
        continue;
      }
      ASSERT_TRUE(out.opened) << "byte " << at;
      ASSERT_TRUE(out.items.error.empty()) << out.items.error;
      const std::size_t hit = record_of(at);
      // Lost: the damaged record, plus later records of its patient if it defined that patient.
      const PatientIndex patient = events_[hit].patient;
      bool defines = true;
      for (std::size_t i = 0; i < hit; ++i) defines &= events_[i].patient != patient;
      std::vector<std::size_t> kept;
      for (std::size_t i = 0; i < events_.size(); ++i) {
        if (i == hit || (defines && events_[i].patient == patient)) continue;
        kept.push_back(i);
      }
      ASSERT_EQ(out.items.events.size(), kept.size())
          << "byte " << at << " flip " << int(flip) << " record " << hit << " at " << starts_[hit]
          << ": " << [&] {
               std::string m;
               for (const DeadLetter& d : out.items.dead) {
                 m += std::to_string(d.offset) + " " + d.message + "; ";
               }
               return m;
             }();
      for (std::size_t k = 0; k < kept.size(); ++k) {
        ASSERT_TRUE(same_event(out.items.events[k], reg, events_[kept[k]], reg_)) << "byte " << at;
      }
      ASSERT_EQ(out.items.dead.size(), events_.size() - kept.size()) << "byte " << at;
      for (const DeadLetter& d : out.items.dead) {
        // A damaged length in the last record cannot be told from a cut file.
        const bool last_length = hit + 1 == events_.size() && at < starts_[hit] + 4;
        if (last_length && d.reason == DecodeReason::truncated_record) continue;
        ASSERT_EQ(d.reason, DecodeReason::bad_checksum) << "byte " << at << ": " << d.message;
      }
      EXPECT_EQ(out.items.dead[0].offset, static_cast<int64_t>(starts_[hit]));
    }
  }
}

TEST_F(BinlogDamageTest, GarbageTailAndInsertedBytes) {
  const std::string path = tmp_.file("g.tfelog");
  // Bytes inserted between two records: one dead letter, nothing else lost.
  const std::size_t mid = starts_[10];
  PatientRegistry reg;
  const Outcome out =
      read_bytes(path, bytes_.substr(0, mid) + "GARBAGE!" + bytes_.substr(mid), schema_, reg);
  ASSERT_TRUE(out.opened);
  EXPECT_EQ(out.items.events.size(), events_.size());
  ASSERT_EQ(out.items.dead.size(), 1u);
  EXPECT_EQ(out.items.dead[0].reason, DecodeReason::bad_checksum);
  EXPECT_EQ(out.items.dead[0].raw_bytes, 8u);
  // Random bytes after the last record.
  std::mt19937 rng(1);
  std::string tail(3000, '\0');
  for (char& c : tail) c = static_cast<char>(rng());
  PatientRegistry reg2;
  const Outcome out2 = read_bytes(path, bytes_ + tail, schema_, reg2);
  ASSERT_TRUE(out2.opened);
  EXPECT_EQ(out2.items.events.size(), events_.size());
  ASSERT_GE(out2.items.dead.size(), 1u);
}

// Megabytes of random bytes inside a log (a block of another file written over it): most offsets
// in them claim a length that fits in the rest of the file, and resynchronisation must not
// checksum every such claim (up to 16 MiB each, about a second per damaged MiB; measured by
// BM_BinlogResyncThroughGarbage). Everything outside the damaged bytes is read.
TEST_F(BinlogTest, ResyncThroughMegabytesOfGarbageLosesOnlyTheDamage) {
  PatientRegistry reg;
  const ModalitySchema schema = default_test_schema(0, 512);
  std::vector<Event> events = sample_events(schema, reg, 7);
  const Event imaging = events[5];
  ASSERT_EQ(imaging.modality, 2);
  events.clear();
  for (int i = 0; i < 12'000; ++i) {
    events.push_back(imaging);
    events.back().arrival_time_ms += i;
    events.back().event_time_ms += i;
  }
  const std::string path = tmp_.file("garbage.tfelog");
  auto writer = open_binlog_writer(path, schema, reg);
  ASSERT_TRUE(writer);
  write_events(*writer.value(), events);
  std::string bytes = test::read_file(path);
  std::mt19937 rng(7);
  const std::size_t garbage = 4u << 20;
  const std::size_t from = 4096;  // after the first record, which defines the patient
  for (std::size_t i = 0; i < garbage; ++i) bytes[from + i] = static_cast<char>(rng());
  test::write_file(path, bytes);
  PatientRegistry reg2;
  auto source = open_binlog_source(path, schema, reg2, {});
  ASSERT_TRUE(source) << source.error().message;
  const Drained got = drain(*source.value());
  ASSERT_EQ(got.dead.size(), 1u);
  EXPECT_EQ(got.dead[0].reason, DecodeReason::bad_checksum);
  const std::size_t record = bytes.size() / events.size();  // all records have one size
  EXPECT_GE(got.events.size(), events.size() - garbage / record - 2);
}

// Record bodies edited and resealed (length and checksum recomputed), as only a deliberate edit
// would be, reach the body parser behind the checksum. Whatever the body holds, each record is
// one item (the edited one an event that passes the checks, or a dead letter with a one-line
// message at its offset), and the records before it read as written. (After it, records may
// resolve to other patients: a forged record can claim a file-local patient index.)
TEST_F(BinlogDamageTest, ResealedBodyEditsGiveValidEventsOrDeadLetters) {
  const std::string path = tmp_.file("r.tfelog");
  const std::string le_max("\xff\xff\xff\xff", 4);
  const std::array<std::string_view, 6> tokens = {le_max, std::string_view("\0", 1),
                                                  "\x80", "\xff",
                                                  "\xc3", std::string_view("\x7f\x80\x80", 3)};
  auto reseal_record = [&](std::size_t hit, const std::string& edited) {
    const auto length = static_cast<uint32_t>(edited.size());
    std::string record(4, '\0');
    std::memcpy(record.data(), &length, 4);
    record += edited;
    const uint32_t crc = crc32_ieee(0, record.data(), record.size());
    record.append(reinterpret_cast<const char*>(&crc), 4);
    return bytes_.substr(0, starts_[hit]) + record + bytes_.substr(starts_[hit + 1]);
  };
  {
    // The first record defines patient index 0; forged to define index 2^29, it is refused
    // rather than sizing the reader's tables by its claim.
    const std::string body = bytes_.substr(starts_[0] + 4, starts_[1] - starts_[0] - 8);
    ASSERT_EQ(body[0], 1) << "record 0 defines local patient 0";
    const std::string forged = std::string("\x81\x80\x80\x80\x04", 5) + body.substr(1);
    PatientRegistry reg;
    const Outcome out = read_bytes(path, reseal_record(0, forged), schema_, reg);
    ASSERT_TRUE(out.opened);
    ASSERT_FALSE(out.items.dead.empty());
    EXPECT_EQ(out.items.dead[0].offset, static_cast<int64_t>(starts_[0]));
    EXPECT_EQ(out.items.dead[0].reason, DecodeReason::malformed_record);
  }
  test::ByteMutator mutator(test::mutation_seed(20261207), tokens, 3);
  const int files = test::mutation_count(1500);
  int accepted = 0;
  int refused = 0;
  for (int i = 0; i < files; ++i) {
    SCOPED_TRACE("file " + std::to_string(i));
    const std::size_t hit = static_cast<std::size_t>(i) % events_.size();
    const std::size_t start = starts_[hit];
    const std::string body = bytes_.substr(start + 4, starts_[hit + 1] - start - 8);
    const std::string edited = mutator.mutate(body);
    if (edited.empty() || edited == body) continue;
    const std::string file = reseal_record(hit, edited);

    PatientRegistry reg;
    const Outcome out = read_bytes(path, file, schema_, reg);
    ASSERT_TRUE(out.opened) << out.open_error;
    ASSERT_TRUE(out.items.error.empty()) << out.items.error;
    const Drained& got = out.items;
    ASSERT_EQ(got.events.size() + got.dead.size(), events_.size()) << "one item per record";
    bool edited_dead = false;
    for (const DeadLetter& d : got.dead) {
      ASSERT_FALSE(d.message.empty());
      ASSERT_TRUE(test::one_clean_line(d.message)) << d.message;
      ASSERT_GE(d.offset, static_cast<int64_t>(start)) << "a record before the edit was lost";
      edited_dead = edited_dead || d.offset == static_cast<int64_t>(start);
    }
    for (const Event& e : got.events) {
      const auto invalid = check_event(e, schema_, DecodeLimits{});
      ASSERT_FALSE(invalid.has_value()) << invalid->message;
      ASSERT_FALSE(check_patient_id(reg.id(e.patient)).has_value());
    }
    for (std::size_t k = 0; k < hit; ++k) {
      ASSERT_TRUE(same_event(got.events[k], reg, events_[k], reg_)) << "record " << k;
    }
    ++(edited_dead ? refused : accepted);
  }
  // Most edits break the body; some leave a valid event (a changed value or time).
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, files / 4);
}

}  // namespace
}  // namespace tfe
