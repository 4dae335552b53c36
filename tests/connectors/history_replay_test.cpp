// The replay driver: streaming a file and replaying it from memory give the same scores; bad
// records are counted and never stop the replay; an early stop still finishes the pipeline.

#include "connectors/history_replay.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "operators/news2.h"
#include "tests/connectors/test_schema.h"

namespace tfe {
namespace {

struct CollectingSink final : ScoreSink {
  void emit(std::span<const ScoreRecord> scores) override {
    for (const ScoreRecord& s : scores) {
      rows.push_back({s.patient, s.score_time_ms, s.risk});
    }
  }
  struct Row {
    PatientIndex patient;
    int64_t time;
    double risk;
    bool operator==(const Row&) const = default;
  };
  std::vector<Row> rows;
};

EngineConfig test_config() {
  EngineConfig config;
  config.schema = test::default_test_schema();
  return config;
}

// Two patients over 20 minutes, one reading a minute each, with a note in between.
std::string small_history() {
  std::string out;
  const int64_t t0 = 1'700'000'000'000;
  for (int minute = 0; minute < 20; ++minute) {
    for (int p = 0; p < 2; ++p) {
      const int64_t t = t0 + minute * 60'000 + p * 1'000;
      out += R"({"patient_id":"P)" + std::to_string(p) +
             R"(","modality":"wearables","event_time":)" + std::to_string(t) +
             R"(,"arrival_time":)" + std::to_string(t + 500) + R"(,"values":{"hr":)" +
             std::to_string(80 + minute + 10 * p) + R"(,"rr":)" + std::to_string(14 + minute / 2) +
             R"(,"spo2":0.95}})" + "\n";
    }
    if (minute == 7) {
      out += R"({"patient_id":"P1","modality":"notes","event_time":)" +
             std::to_string(t0 + 6 * 60'000) + R"(,"arrival_time":)" +
             std::to_string(t0 + minute * 60'000 + 2'000) + R"(,"text":"short of breath"})" + "\n";
    }
  }
  return out;
}

// The small history on disk, with the config and the NEWS2 scorer it is replayed with.
class SmallHistoryReplay : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_file(path, small_history());
    auto made = make_news2_scorer(config);
    ASSERT_TRUE(made) << made.error().message;
    scorer = made.value();
  }
  test::TempDir dir;
  const std::string path = dir.file("h.jsonl");
  const EngineConfig config = test_config();
  std::shared_ptr<const Scorer> scorer;
  DeadLetterSink dead;
};

TEST_F(SmallHistoryReplay, StreamingAndInMemoryReplayScoreTheSame) {
  PatientRegistry streamed_registry;
  CollectingSink streamed;
  auto stats = replay_history({path}, config, scorer, streamed_registry, streamed, dead);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats.value().events, 41u);
  EXPECT_EQ(stats.value().dead_letters, 0u);
  EXPECT_GT(streamed.rows.size(), 30u);

  PatientRegistry loaded_registry;
  auto history = load_history({path}, config, loaded_registry, dead);
  ASSERT_TRUE(history) << history.error().message;
  ASSERT_EQ(history.value().events.size(), 41u);
  CollectingSink replayed;
  const ReplayStats again =
      replay_events(history.value().events, config, scorer, loaded_registry, replayed);
  EXPECT_EQ(again.events, 41u);
  EXPECT_EQ(streamed.rows, replayed.rows);
}

TEST_F(SmallHistoryReplay, APackedHistoryHoldsAndReplaysWhatAPlainOneDoes) {
  PatientRegistry plain_registry;
  PatientRegistry packed_registry;
  auto plain = load_history({path}, config, plain_registry, dead);
  ASSERT_TRUE(plain) << plain.error().message;
  auto packed = load_packed_history({path}, config, packed_registry, dead);
  ASSERT_TRUE(packed) << packed.error().message;
  ASSERT_EQ(packed.value().events.size(), plain.value().events.size());
  Event e;
  for (std::size_t i = 0; i < plain.value().events.size(); ++i) {
    packed.value().events.decode(i, e);
    EXPECT_TRUE(test::same_event(e, packed_registry, plain.value().events[i], plain_registry))
        << "event " << i;
  }
  CollectingSink from_plain;
  CollectingSink from_packed;
  replay_events(plain.value().events, config, scorer, plain_registry, from_plain);
  replay_events(packed.value().events, config, scorer, packed_registry, from_packed);
  EXPECT_GT(from_plain.rows.size(), 30u);
  EXPECT_EQ(from_plain.rows, from_packed.rows);
}

TEST_F(SmallHistoryReplay, AReplayThatEmitsNothingStillScoresEveryTick) {
  PatientRegistry registry;
  auto history = load_history({path}, config, registry, dead);
  ASSERT_TRUE(history) << history.error().message;

  CollectingSink emitted;
  const ReplayStats loud = replay_events(history.value().events, config, scorer, registry, emitted);
  ReplayOptions options;
  options.emit_scores = false;
  CollectingSink silent;
  const ReplayStats quiet =
      replay_events(history.value().events, config, scorer, registry, silent, options);
  EXPECT_TRUE(silent.rows.empty());
  EXPECT_EQ(quiet.pipeline.scores_emitted, 0u);
  EXPECT_GT(emitted.rows.size(), 30u);
  EXPECT_EQ(quiet.pipeline.ticks, emitted.rows.size());
  EXPECT_EQ(loud.pipeline.ticks, emitted.rows.size());
}

TEST(HistoryReplay, BadRecordsAreDeadLetteredAndTheReplayGoesOn) {
  test::TempDir dir;
  const std::string clean_path = dir.file("clean.jsonl");
  const std::string mixed_path = dir.file("mixed.jsonl");
  const std::string clean = small_history();
  test::write_file(clean_path, clean);
  std::string mixed;
  std::size_t line_start = 0;
  int line = 0;
  while (line_start < clean.size()) {
    const std::size_t end = clean.find('\n', line_start) + 1;
    if (line++ % 10 == 3) mixed += "{\"patient_id\":\"P0\",\"modality\":\"wearables\",\"event_ti\n";
    mixed += clean.substr(line_start, end - line_start);
    line_start = end;
  }
  test::write_file(mixed_path, mixed);
  const EngineConfig config = test_config();
  auto scorer = make_news2_scorer(config);
  ASSERT_TRUE(scorer);

  PatientRegistry r1;
  PatientRegistry r2;
  CollectingSink clean_scores;
  CollectingSink mixed_scores;
  DeadLetterSink dead_clean;
  DeadLetterSink dead_mixed;
  ASSERT_TRUE(replay_history({clean_path}, config, scorer.value(), r1, clean_scores, dead_clean));
  auto stats = replay_history({mixed_path}, config, scorer.value(), r2, mixed_scores, dead_mixed);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats.value().dead_letters, 4u);  // before lines 3, 13, 23 and 33
  EXPECT_EQ(dead_mixed.total(), 4u);
  EXPECT_EQ(clean_scores.rows, mixed_scores.rows);
}

TEST(HistoryReplay, InMemoryEventsAllApplyAndMissingFilesAreErrors) {
  const EngineConfig config = test_config();
  auto scorer = make_news2_scorer(config);
  ASSERT_TRUE(scorer);
  PatientRegistry registry;
  CollectingSink sink;
  DeadLetterSink dead;
  auto missing =
      replay_history({"/nonexistent/history.jsonl"}, config, scorer.value(), registry, sink, dead);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/history.jsonl"), std::string::npos);

  // Events of one patient in memory, one a second: all are applied, none is late.
  std::vector<Event> events;
  PatientRegistry many;
  const PatientIndex p = many.intern("P");
  for (int i = 0; i < 3000; ++i) {
    Event e;
    e.patient = p;
    e.modality = 0;
    e.event_time_ms = 1'700'000'000'000 + i * 1'000;
    e.arrival_time_ms = e.event_time_ms;
    e.source_seq = static_cast<uint64_t>(i);
    e.vitals.present_mask = 1;
    e.vitals.values[0] = 80;
    events.push_back(e);
  }
  const ReplayStats full = replay_events(events, config, scorer.value(), many, sink);
  EXPECT_EQ(full.events, 3000u);
  EXPECT_EQ(full.pipeline.late_events, 0u);
  EXPECT_FALSE(full.stopped_early);
  EXPECT_GE(sink.rows.size(), 49u);  // a tick a minute over 50 minutes
}

// A history file named twice (or under a second path: a link to it) is refused with one error
// naming it: merged with itself, every reading would count twice in the window statistics and
// training would fit a silently different model.
TEST(HistoryReplay, TheSameFileGivenTwiceIsRefused) {
  test::TempDir dir;
  const std::string path = dir.file("h.jsonl");
  test::write_file(path, small_history());
  const std::string link = dir.file("link.jsonl");
  std::filesystem::create_symlink(path, link);
  const std::string other = dir.file("other.jsonl");
  test::write_file(other, small_history());
  const EngineConfig config = test_config();
  for (const std::vector<std::string>& paths :
       {std::vector<std::string>{path, path}, std::vector<std::string>{other, path, link}}) {
    PatientRegistry registry;
    DeadLetterSink dead;
    auto loaded = load_packed_history(paths, config, registry, dead);
    ASSERT_FALSE(loaded) << paths.size() << " files loaded";
    const std::string& message = loaded.error().message;
    EXPECT_NE(message.find(paths.back()), std::string::npos) << message;
    EXPECT_NE(message.find("twice"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  // Two files with equal content are two sources: both are read.
  PatientRegistry registry;
  DeadLetterSink dead;
  auto both = load_history({path, other}, config, registry, dead);
  ASSERT_TRUE(both) << both.error().message;
  PatientRegistry one_registry;
  auto one = load_history({path}, config, one_registry, dead);
  ASSERT_TRUE(one);
  EXPECT_EQ(both.value().events.size(), 2 * one.value().events.size());
}

// An event out of arrival order is late or not by the history alone: the same file replayed
// with the clock moved on every event, every few events or every 4096 gives the same scores and
// the same count of late events.
TEST(HistoryReplay, LatenessOfAnOutOfOrderEventDoesNotDependOnBatching) {
  const EngineConfig config = test_config();
  auto scorer = make_news2_scorer(config);
  ASSERT_TRUE(scorer);
  test::TempDir dir;
  const std::string path = dir.file("ooo.jsonl");
  const int64_t t0 = 1'700'000'000'000;
  std::string history;
  auto reading = [&](int arrival_s, int event_s, int hr) {
    history += R"({"patient_id":"P1","modality":"wearables","event_time":)" +
               std::to_string(t0 + event_s * 1000) + R"(,"arrival_time":)" +
               std::to_string(t0 + arrival_s * 1000) + R"(,"values":{"hr":)" + std::to_string(hr) +
               "}}\n";
  };
  for (int s : {0, 10, 20, 70, 75}) reading(s, s, 70);
  reading(50, 50, 140);  // behind the newest arrival (75 s) and the tick at 60 s
  reading(130, 130, 70);
  test::write_file(path, history);

  std::vector<std::vector<CollectingSink::Row>> rows;
  std::vector<uint64_t> late;
  for (uint32_t every : {1u, 3u, 4096u}) {
    PatientRegistry registry;
    CollectingSink sink;
    DeadLetterSink dead;
    ReplayOptions options;
    options.advance_every = every;
    auto stats = replay_history({path}, config, scorer.value(), registry, sink, dead, options);
    ASSERT_TRUE(stats) << stats.error().message;
    rows.push_back(sink.rows);
    late.push_back(stats.value().pipeline.late_events);
  }
  EXPECT_EQ(late[0], 1u) << "the 50 s reading arrives after the tick at 60 s has fired";
  for (std::size_t i = 1; i < rows.size(); ++i) {
    EXPECT_EQ(late[i], late[0]) << i;
    EXPECT_EQ(rows[i], rows[0]) << i;
  }
}

// Two reads of the same records that interned the patients in different orders (as two reads
// of Kafka partitions do) give identical histories once re-indexed by id; a patient with no event
// (a refused record's) is left out.
TEST(HistoryReplay, ReindexByIdMakesTheReadOrderIrrelevant) {
  const auto read = [](const std::vector<std::string>& intern_order, PatientRegistry& registry) {
    for (const std::string& id : intern_order) registry.intern(id);
    History h;
    for (const char* id : {"b", "a", "c", "a"}) {
      Event e;
      e.patient = registry.intern(id);
      e.modality = 0;
      e.event_time_ms = e.arrival_time_ms =
          1'700'000'000'000 + static_cast<int64_t>(h.events.size());
      h.events.push_back(e);
    }
    return h;
  };
  PatientRegistry first_order, second_order;
  History first = read({"c", "refused", "b", "a"}, first_order);
  History second = read({"a", "b", "c"}, second_order);
  ASSERT_NE(first.events[0].patient, second.events[0].patient);
  PatientRegistry first_ids, second_ids;
  reindex_patients_by_id(first, first_order, first_ids);
  reindex_patients_by_id(second, second_order, second_ids);
  ASSERT_EQ(first_ids.size(), 3u);
  ASSERT_EQ(second_ids.size(), 3u);
  for (PatientIndex p = 0; p < 3; ++p) EXPECT_EQ(first_ids.id(p), second_ids.id(p));
  EXPECT_EQ(first_ids.id(0), "a");
  EXPECT_EQ(first_ids.id(2), "c");
  ASSERT_EQ(first.events.size(), second.events.size());
  for (std::size_t i = 0; i < first.events.size(); ++i) {
    EXPECT_EQ(first.events[i].patient, second.events[i].patient);
    EXPECT_EQ(first_ids.id(first.events[i].patient),
              (std::vector<std::string>{"b", "a", "c", "a"}[i]));
  }
  // A packed history re-indexes the same way.
  PatientRegistry packed_order, packed_ids;
  PackedHistory packed;
  packed.events = PackedEvents(read({"c", "refused", "b", "a"}, packed_order).events);
  reindex_patients_by_id(packed, packed_order, packed_ids);
  ASSERT_EQ(packed_ids.size(), 3u);
  ASSERT_EQ(packed.events.size(), first.events.size());
  for (std::size_t i = 0; i < first.events.size(); ++i) {
    EXPECT_EQ(packed.events.patient(i), first.events[i].patient);
    Event decoded;
    packed.events.decode(i, decoded);
    EXPECT_EQ(decoded.patient, first.events[i].patient);
  }
}

}  // namespace
}  // namespace tfe
