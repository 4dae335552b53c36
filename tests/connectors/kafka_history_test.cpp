// Reading a history back from the modality topics over a time range (load_history_from_kafka) on
// the embedded cluster. That cluster keeps no time index, so the time lookups are answered from
// the records the test produced, by Kafka's rule (the first offset whose timestamp is at or after
// the time); everything else (watermarks, fetches, their errors) is the cluster's.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "connectors/dead_letter.h"
#include "connectors/embedded_broker.h"
#include "connectors/kafka_history.h"
#include "connectors/kafka_producer.h"
#include "tests/connectors/kafka_test_util.h"
#include "tests/connectors/test_schema.h"
#include "tests/support/mutation.h"

namespace tfe {
namespace {

using test::kT0;

// A record as produced: where it landed and its message timestamp.
struct Produced {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = 0;
  std::string patient;
  bool valid = true;  // a wire-format event of its topic's modality
};

struct Fixture {
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  EngineConfig engine = test::kafka_test_engine_config();
  KafkaConfig kafka;
  std::vector<Produced> produced;

  Fixture() {
    auto b = kafka::EmbeddedBroker::start();
    EXPECT_TRUE(b) << b.error().message;
    broker = std::move(b).value();
    kafka = test::kafka_test_config(broker->bootstrap_servers(), "history");
  }

  // Produces `value` with key `key` and timestamp `ts` to `topic`; waits for its report.
  void produce(const std::string& topic, const std::string& key, const std::string& value,
               int64_t ts, bool valid = true) {
    if (!producer_) {
      auto p = kafka::KafkaProducer::create(
          {{"bootstrap.servers", broker->bootstrap_servers()},
           {"linger.ms", "0"},
           {"log_level", "2"}},
          [this](const kafka::DeliveryReport& r) { reports_.push_back(r); });
      ASSERT_TRUE(p) << p.error().message;
      producer_ = std::make_unique<kafka::KafkaProducer>(std::move(p).value());
    }
    reports_.clear();
    ASSERT_EQ(producer_->produce({topic, key, value, ts, {}, 0}), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(producer_->flush(10'000));
    ASSERT_EQ(reports_.size(), 1u);
    ASSERT_EQ(reports_[0].err, RD_KAFKA_RESP_ERR_NO_ERROR);
    produced.push_back({topic, reports_[0].partition, reports_[0].offset, ts, key, valid});
  }

  // A valid event of modality `m` (0 wearables, 1 notes) for `patient`, arriving at `ts`.
  void produce_event(std::size_t m, const std::string& patient, int64_t ts) {
    const std::string payload = m == 0 ? R"("values":{"hr":80})" : R"("text":"stable")";
    produce(kafka.modality_topics[m], patient,
            fmt::format(R"({{"patient_id":"{}","modality":"{}","event_time":{},{}}})", patient,
                        engine.schema[static_cast<ModalityIndex>(m)].name, ts - 500, payload),
            ts);
  }

  // Kafka's time lookup over what was produced.
  KafkaHistoryOptions options(int timeout_ms = 20'000) const {
    KafkaHistoryOptions o;
    o.timeout_ms = timeout_ms;
    o.offsets_for_times = [this](const kafka::TopicPartitions& times) {
      kafka::TopicPartitions out = times;
      for (kafka::TopicPartition& tp : out) {
        int64_t first = kafka::kOffsetEnd;
        for (const Produced& r : produced) {
          if (r.topic == tp.topic && r.partition == tp.partition && r.timestamp_ms >= tp.offset &&
              (first == kafka::kOffsetEnd || r.offset < first)) {
            first = r.offset;
          }
        }
        tp.offset = first;
      }
      return Result<kafka::TopicPartitions>(std::move(out));
    };
    return o;
  }

  // The valid records of [since, until), in replay order: (arrival, offset, partition, topic).
  std::vector<Produced> expected(int64_t since, int64_t until) const {
    std::vector<Produced> out;
    for (const Produced& r : produced) {
      if (r.valid && r.timestamp_ms >= since && r.timestamp_ms < until) out.push_back(r);
    }
    const auto topic_index = [&](const std::string& t) {
      return std::find(kafka.modality_topics.begin(), kafka.modality_topics.end(), t) -
             kafka.modality_topics.begin();
    };
    std::sort(out.begin(), out.end(), [&](const Produced& a, const Produced& b) {
      return std::make_tuple(a.timestamp_ms, a.offset, a.partition, topic_index(a.topic)) <
             std::make_tuple(b.timestamp_ms, b.offset, b.partition, topic_index(b.topic));
    });
    return out;
  }

 private:
  std::unique_ptr<kafka::KafkaProducer> producer_;
  std::vector<kafka::DeliveryReport> reports_;
};

void expect_history(const PackedHistory& history, const PatientRegistry& registry,
                    const std::vector<Produced>& want) {
  if (history.events.size() != want.size()) {
    for (const Produced& r : want) {
      bool found = false;
      for (std::size_t i = 0; i < history.events.size(); ++i) {
        found = found || (history.events.arrival_time_ms(i) == r.timestamp_ms &&
                          registry.id(history.events.patient(i)) == r.patient);
      }
      if (!found) {
        ADD_FAILURE() << "missing " << r.topic << "[" << r.partition << "]@" << r.offset << " "
                      << r.patient << " " << r.timestamp_ms - kT0;
      }
    }
  }
  ASSERT_EQ(history.events.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(history.events.arrival_time_ms(i), want[i].timestamp_ms) << i;
    EXPECT_EQ(registry.id(history.events.patient(i)), want[i].patient) << i;
  }
}

// Partitions of every kind: records all before `since` (no offset for it), records that end
// before `until` (none for it), records on both sides, an empty topic, and topics of different
// partition counts (reading needs no co-partitioning).
TEST(KafkaHistory, ReadsEachPartitionsRecordsOfTheRangeInReplayOrder) {
  Fixture f;
  ASSERT_TRUE(f.broker->create_topic(f.kafka.modality_topics[0], 3));
  ASSERT_TRUE(f.broker->create_topic(f.kafka.modality_topics[1], 2));
  ASSERT_TRUE(f.broker->create_topic(f.kafka.modality_topics[2], 1));  // empty
  const int64_t since = kT0 + 100'000, until = kT0 + 200'000;
  // In time order, as a producer stamping arrival times publishes them (with timestamps out of
  // order the range is an offset range: docs/profile.md).
  for (int64_t t = 50'000; t <= 260'000; t += 10'000) {
    for (int p = 0; p < 8; ++p) {
      const std::string patient = "P" + std::to_string(p);
      // Patients 0 and 1: only before the range; 2 and 3: into it, ending before `until`.
      const int64_t last = p < 2 ? 90'000 : p < 4 ? 150'000 : 260'000;
      if (t <= last) f.produce_event(0, patient, kT0 + t + p * 7);
      // Notes at the same times for every patient: ties across partitions and topics.
      if (t >= 80'000 && t <= 230'000 && t % 30'000 == 20'000) f.produce_event(1, patient, kT0 + t);
    }
  }
  PatientRegistry registry;
  DeadLetterSink dead;
  // Progress as counts for the command to pace, the last once everything in range is read; the
  // log keeps its other lines but no longer counts.
  KafkaHistoryOptions options = f.options();
  std::vector<std::pair<uint64_t, uint64_t>> counts;
  std::vector<std::string> lines;
  options.on_read = [&](uint64_t read, uint64_t expected) { counts.emplace_back(read, expected); };
  options.log = [&](const std::string& line) { lines.push_back(line); };
  auto history =
      load_history_from_kafka(f.kafka, f.engine, {since, until}, registry, dead, options);
  ASSERT_TRUE(history) << history.error().message;
  EXPECT_EQ(history.value().dead_letters, 0u);
  expect_history(history.value(), registry, f.expected(since, until));
  ASSERT_FALSE(counts.empty()) << "no progress count";
  const uint64_t records = f.expected(since, until).size();
  EXPECT_EQ(counts.back(), std::make_pair(records, records));
  for (const std::string& line : lines) {
    EXPECT_FALSE(std::regex_search(line, std::regex("^read [0-9]+ of [0-9]+ records")))
        << "a count in the log: " << line;
  }
  EXPECT_FALSE(lines.empty()) << "the log lost its other lines";
}

// A fetch answered "offset out of range" (the log start moved past the range's first offset:
// retention deleted records between the time lookup and the fetch) resets to the log start, not
// to the end: the records still there are read, not silently skipped.
TEST(KafkaHistory, AnOutOfRangeFetchReadsOnFromTheLogStartNotTheEnd) {
  Fixture f;
  ASSERT_TRUE(f.broker->create_topic(f.kafka.modality_topics[0], 1));
  ASSERT_TRUE(f.broker->create_topic(f.kafka.modality_topics[1], 1));
  ASSERT_TRUE(f.broker->create_topic(f.kafka.modality_topics[2], 1));
  for (int i = 0; i < 20; ++i) f.produce_event(0, "P1", kT0 + i * 1000);
  f.produce_event(0, "P1", kT0 + 100'000);  // past the range: the read has an end before the log's
  f.broker->push_request_errors(kafka::ApiKey::fetch, {RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE});
  PatientRegistry registry;
  DeadLetterSink dead;
  auto history =
      load_history_from_kafka(f.kafka, f.engine, {kT0, kT0 + 50'000}, registry, dead, f.options());
  ASSERT_TRUE(history) << history.error().message;
  expect_history(history.value(), registry, f.expected(kT0, kT0 + 50'000));
}

TEST(KafkaHistory, BadRecordsAreDeadLetteredWithTheirTopicPartitionAndOffset) {
  Fixture f;
  for (const auto& t : f.kafka.modality_topics) ASSERT_TRUE(f.broker->create_topic(t, 2));
  f.produce_event(0, "P1", kT0 + 1000);
  f.produce(f.kafka.modality_topics[1], "P1", "not json", kT0 + 2000, false);
  f.produce(f.kafka.modality_topics[1], "P2",
            R"({"patient_id":"P2","modality":"wearables","event_time":1,"values":{"hr":1}})",
            kT0 + 3000, false);
  f.produce_event(1, "P2", kT0 + 4000);
  const test::TempDir dir;
  auto dead = DeadLetterSink::open(dir.file("dead.jsonl"), false);
  ASSERT_TRUE(dead) << dead.error().message;
  PatientRegistry registry;
  auto history = load_history_from_kafka(f.kafka, f.engine, {kT0, kT0 + 10'000}, registry,
                                         *dead.value(), f.options());
  ASSERT_TRUE(history) << history.error().message;
  ASSERT_TRUE(dead.value()->close());
  EXPECT_EQ(history.value().dead_letters, 2u);
  expect_history(history.value(), registry, f.expected(kT0, kT0 + 10'000));
  const std::string lines = test::read_file(dir.file("dead.jsonl"));
  for (std::size_t i : {1u, 2u}) {
    const Produced& bad = f.produced[i];
    EXPECT_NE(lines.find(fmt::format(R"("source":"{}")", bad.topic)), std::string::npos) << lines;
    EXPECT_NE(lines.find(fmt::format(R"("partition":{})", bad.partition)), std::string::npos)
        << lines;
    EXPECT_NE(lines.find(fmt::format(R"("offset":{})", bad.offset)), std::string::npos) << lines;
  }
  EXPECT_NE(lines.find("malformed_json"), std::string::npos) << lines;
  EXPECT_NE(lines.find("unknown_modality"), std::string::npos) << lines;
}

// A partition that stops delivering before the end of its range (its leader gone) fails the read
// after the timeout, naming the partition and its position, instead of waiting forever.
TEST(KafkaHistory, APartitionThatNeverDeliversFailsAfterTheTimeout) {
  Fixture f;
  for (const auto& t : f.kafka.modality_topics) ASSERT_TRUE(f.broker->create_topic(t, 1));
  for (int i = 0; i < 5; ++i) f.produce_event(1, "P1", kT0 + i * 1000);
  f.produce_event(1, "P1", kT0 + 20'000);  // past the range: its end needs no watermark
  ASSERT_TRUE(f.broker->set_partition_leader(f.kafka.modality_topics[1], 0, -1));
  PatientRegistry registry;
  DeadLetterSink dead;
  auto history = load_history_from_kafka(f.kafka, f.engine, {kT0, kT0 + 10'000}, registry, dead,
                                         f.options(1'500));
  ASSERT_FALSE(history);
  EXPECT_NE(history.error().message.find(f.kafka.modality_topics[1] + "[0]"), std::string::npos)
      << history.error().message;
}

// The lookups before the first fetch share one timeout: against a slow broker (every answer
// half a second late, each well within the timeout) a range of many partitions ends when that
// timeout has passed, with one line saying so, instead of waiting it out once per request.
TEST(KafkaHistory, TheLookupsOfTheRangeShareOneTimeout) {
  Fixture f;
  for (const auto& t : f.kafka.modality_topics) ASSERT_TRUE(f.broker->create_topic(t, 4));
  // No record in range: every partition's ends come from its watermarks, one request each (with
  // the metadata of each topic, fifteen requests, seven and a half seconds of answers).
  ASSERT_TRUE(f.broker->set_broker_rtt(1, 500));
  PatientRegistry registry;
  DeadLetterSink dead;
  auto history = load_history_from_kafka(f.kafka, f.engine, {kT0, kT0 + 10'000}, registry, dead,
                                         f.options(3'000));
  ASSERT_FALSE(history) << "the lookups took longer than the one timeout they share";
  EXPECT_NE(history.error().message.find("did not answer the lookups of the range"),
            std::string::npos)
      << history.error().message;
  EXPECT_NE(history.error().message.find("within 3000 ms"), std::string::npos)
      << history.error().message;
}

// The broker goes away once the read has its offsets, before the first fetch: the read ends with
// one error saying so, instead of waiting in silence for the timeout (ten minutes here; up to an
// hour with --kafka-timeout) to pass without a record.
TEST(KafkaHistory, ABrokerThatGoesAwayMidReadEndsTheReadSayingSo) {
  Fixture f;
  for (const auto& t : f.kafka.modality_topics) ASSERT_TRUE(f.broker->create_topic(t, 1));
  for (int i = 0; i < 5; ++i) f.produce_event(0, "P1", kT0 + i * 1000);
  f.produce_event(0, "P1", kT0 + 20'000);  // past the range: its end needs no watermark
  KafkaHistoryOptions options = f.options(10 * 60'000);
  bool down = false;
  options.log = [&](const std::string& line) {
    // The first progress line comes after the time lookups, before the first fetch.
    if (!down && line.find("records in range") != std::string::npos) {
      down = true;
      EXPECT_TRUE(f.broker->set_broker_down(1));
    }
  };
  PatientRegistry registry;
  DeadLetterSink dead;
  auto read = std::async(std::launch::async, [&] {
    return load_history_from_kafka(f.kafka, f.engine, {kT0, kT0 + 10'000}, registry, dead, options);
  });
  // Not a timing target: well below the configured timeout, so that a read waiting for it is
  // told from one that ended.
  const bool ended = read.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  EXPECT_TRUE(f.broker->set_broker_up(1));  // lets a read that waits go on
  auto history = read.get();
  ASSERT_TRUE(down) << "the read never got to its records";
  ASSERT_TRUE(ended) << "the read waited for the broker instead of ending";
  ASSERT_FALSE(history) << "a read without its broker cannot succeed";
  EXPECT_NE(history.error().message.find("down"), std::string::npos) << history.error().message;
}

// A time lookup that the broker refuses for a partition fails the read: read as "no record at or
// after the time", the partition's records would silently be left out.
TEST(KafkaHistory, ARefusedTimeLookupFailsTheRead) {
  Fixture f;
  for (const auto& t : f.kafka.modality_topics) ASSERT_TRUE(f.broker->create_topic(t, 1));
  f.produce_event(0, "P1", kT0);
  f.broker->push_request_errors(
      kafka::ApiKey::list_offsets,
      {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
       RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED});
  PatientRegistry registry;
  DeadLetterSink dead;
  KafkaHistoryOptions options;  // the brokers answer the lookups
  options.timeout_ms = 10'000;
  auto history =
      load_history_from_kafka(f.kafka, f.engine, {kT0, kT0 + 1000}, registry, dead, options);
  ASSERT_FALSE(history);
  EXPECT_NE(history.error().message.find("uthoriz"), std::string::npos) << history.error().message;
}

}  // namespace
}  // namespace tfe
