// Publishing a history to the modality topics (publish_events) on the embedded cluster: each event
// on its modality's topic, keyed by patient, stamped with its arrival time; outcomes skipped;
// delivery failures fail the publish; an event too large to send is a dead letter, not the end of
// the publish; cancellation ends a paced publish and still delivers what was produced.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "connectors/dead_letter.h"
#include "connectors/embedded_broker.h"
#include "connectors/kafka_consumer.h"
#include "connectors/kafka_publish.h"
#include "tests/connectors/kafka_test_util.h"

namespace tfe {
namespace {

using test::kT0;

struct Fixture {
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  EngineConfig engine = test::kafka_test_engine_config();
  KafkaConfig kafka;
  PatientRegistry registry;

  // With two brokers, broker 2 leads the modality topics.
  explicit Fixture(int brokers = 1) {
    auto b = kafka::EmbeddedBroker::start(brokers);
    EXPECT_TRUE(b) << b.error().message;
    broker = std::move(b).value();
    kafka = test::kafka_test_config(broker->bootstrap_servers(), "publish", 2);
    for (const auto& t : kafka.modality_topics) {
      EXPECT_TRUE(broker->create_topic(t, 2, static_cast<int16_t>(brokers)));
      for (int32_t p = 0; brokers > 1 && p < 2; ++p) {
        EXPECT_TRUE(broker->set_partition_leader(t, p, 2));
      }
    }
    EXPECT_TRUE(broker->create_topic(kafka.score_topic, 2));
    EXPECT_TRUE(broker->create_topic(kafka.dead_letter_topic, 2));
  }

  Result<PublishSummary> publish(std::vector<Event> events, DeadLetterSink& dead,
                                 const PublishOptions& options = {}) {
    test::VectorSource source(std::move(events));
    return publish_events(source, engine.schema, registry, kafka, dead, options);
  }

  // Messages on the modality topics, by topic: (key, timestamp).
  std::map<std::string, std::vector<std::pair<std::string, int64_t>>> read_topics(
      std::size_t want) {
    std::map<std::string, std::vector<std::pair<std::string, int64_t>>> out;
    auto consumer =
        kafka::KafkaConsumer::create({{"bootstrap.servers", broker->bootstrap_servers()},
                                      {"group.id", "publish-reader"},
                                      {"auto.offset.reset", "earliest"},
                                      {"fetch.wait.max.ms", "5"},
                                      {"log_level", "2"}},
                                     {});
    EXPECT_TRUE(consumer) << consumer.error().message;
    if (!consumer) return out;
    EXPECT_TRUE(consumer.value().subscribe(kafka.modality_topics));
    std::vector<kafka::MessagePtr> batch;
    std::size_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (got < want && std::chrono::steady_clock::now() < deadline) {
      batch.clear();
      consumer.value().poll_batch(batch, 1000, 100);
      for (const auto& m : batch) {
        if (m->err) continue;
        out[std::string(kafka::message_topic(*m))].emplace_back(
            std::string(kafka::message_key(*m)), kafka::message_timestamp_ms(*m).value_or(-1));
        ++got;
      }
    }
    return out;
  }
};

TEST(KafkaPublish, EachEventGoesToItsTopicKeyedByPatientAtItsArrivalTime) {
  Fixture f;
  std::vector<Event> events = test::make_cohort(f.registry, 3, 30);
  Event outcome = events.back();
  outcome.modality = kOutcomeModality;
  outcome.label = "deterioration";
  events.push_back(outcome);
  std::map<std::string, std::multiset<std::pair<std::string, int64_t>>> want;
  for (const Event& e : events) {
    if (e.modality == kOutcomeModality) continue;
    want[f.kafka.modality_topics[e.modality]].emplace(std::string(f.registry.id(e.patient)),
                                                      e.arrival_time_ms);
  }
  DeadLetterSink dead;
  auto r = f.publish(events, dead);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().published, events.size() - 1);
  EXPECT_EQ(r.value().skipped, 1u) << "outcomes have no topic";
  auto got = f.read_topics(events.size() - 1);
  for (const auto& [topic, messages] : want) {
    const std::multiset<std::pair<std::string, int64_t>> on_topic(got[topic].begin(),
                                                                  got[topic].end());
    EXPECT_EQ(on_topic, messages) << topic;
  }
}

// The error of a publish whose every produce request the broker answers with `error`.
std::string publish_error(rd_kafka_resp_err_t error) {
  Fixture f;
  f.broker->push_request_errors(kafka::ApiKey::produce,
                                std::vector<rd_kafka_resp_err_t>(20, error));
  DeadLetterSink dead;
  auto r = f.publish(test::make_cohort(f.registry, 2, 5), dead);
  EXPECT_FALSE(r) << "published " << r.value().published;
  return r ? std::string("published") : r.error().message;
}

TEST(KafkaPublish, ADeliveryFailureFailsThePublish) {
  const std::string error = publish_error(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  EXPECT_NE(error.find("delivery"), std::string::npos) << error;
}

// The broker checks whole record batches against the topic's max.message.bytes, and the producer
// fills them up to its own message.max.bytes: with the topic's limit the lower one, it refuses
// records of any size as too large. The publish fails saying which settings disagree (it used to
// name only the broker's error).
TEST(KafkaPublish, ABatchTheBrokerRefusesAsTooLargeFailsNamingTheSettings) {
  const std::string error = publish_error(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  EXPECT_NE(error.find("MSG_SIZE_TOO_LARGE"), std::string::npos) << error;
  EXPECT_NE(error.find("message.max.bytes (1000000)"), std::string::npos) << error;
  EXPECT_NE(error.find("max.message.bytes"), std::string::npos) << error;
}

// One event whose message is over what the producer sends (message.max.bytes) is a dead letter
// with its reason; the events around it are published. It used to end the publish half way, with
// an error naming neither the event nor what to do.
TEST(KafkaPublish, AnEventTooLargeToSendIsADeadLetterAndTheRestArePublished) {
  Fixture f;
  f.kafka.librdkafka.emplace_back("message.max.bytes", "10000");
  std::vector<Event> events = test::make_cohort(f.registry, 2, 30);
  std::size_t big = 0;
  while (events[big].modality != 1) ++big;
  events[big].text = std::string(20'000, 'x');
  DeadLetterSink dead;
  auto r = f.publish(events, dead);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().published, events.size() - 1);
  EXPECT_EQ(r.value().dead_letters, 1u);
  EXPECT_EQ(dead.count(DecodeReason::record_too_large), 1u);
}

// A paced publish calls `progress` while it waits for the next event's time too, so that a
// cancellation (or a progress line) does not wait for a long gap in the history to pass.
TEST(KafkaPublish, ACancelDuringAPacingWaitEndsThePublishThere) {
  Fixture f;
  std::vector<Event> events = test::make_cohort(f.registry, 1, 1);
  events.resize(2);
  events[1].arrival_time_ms = events[0].arrival_time_ms + 20'000;  // 20 s at 1x
  DeadLetterSink dead;
  PublishOptions options;
  options.pace = 1;
  options.progress = [](uint64_t) { return false; };
  auto r = f.publish(events, dead, options);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r.value().cancelled);
  EXPECT_EQ(r.value().published, 1u) << "the second event was due after the cancel";
}

// What was produced before a cancellation is still delivered and counted, even when the broker
// takes longer than one flush step to acknowledge it.
TEST(KafkaPublish, ACancelStillDeliversWhatWasProduced) {
  Fixture f;
  ASSERT_TRUE(f.broker->set_broker_rtt(1, 1'200));
  const std::vector<Event> events = test::make_cohort(f.registry, 2, 2);
  DeadLetterSink dead;
  PublishOptions options;
  options.progress = [](uint64_t) { return false; };
  auto r = f.publish(events, dead, options);
  ASSERT_TRUE(f.broker->set_broker_rtt(1, 0));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().published, events.size());
}

// While the producer's queue is full (its broker away), the publish still reports progress and
// sees a cancellation (a Ctrl-C): it used to wait for room in the queue without either, for as
// long as the broker stayed away.
TEST(KafkaPublish, ACancelIsSeenWhileTheProducersQueueIsFull) {
  Fixture f(2);
  f.kafka.librdkafka.emplace_back("queue.buffering.max.messages", "4");
  ASSERT_TRUE(f.broker->set_broker_down(2));
  const std::vector<Event> events = test::make_cohort(f.registry, 3, 30);
  std::atomic<int> calls{0};
  std::atomic<bool> cancel{false};
  PublishOptions options;
  options.progress = [&](uint64_t) {
    ++calls;
    return !cancel.load();
  };
  Result<PublishSummary> r = make_error(Errc::io, "not finished");
  std::thread publishing([&] {
    DeadLetterSink dead;
    r = f.publish(events, dead, options);
  });
  bool progressed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!progressed && std::chrono::steady_clock::now() < deadline) {
    progressed = calls.load() >= 2;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  cancel = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // a progress call takes it
  EXPECT_TRUE(f.broker->set_broker_up(2));
  publishing.join();
  ASSERT_TRUE(progressed) << "no progress report, nor a chance to cancel, while the queue was full";
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r.value().cancelled);
  EXPECT_LE(r.value().published, 4u) << "events were taken after the cancel";
}

// A stop with the broker away ends within --kafka-timeout (options.timeout_ms), not after
// librdkafka's message.timeout.ms (5 minutes by default) of holding what was produced: what is
// still unacknowledged then is given up, and the publish fails saying exactly how many events
// went out and how many did not.
TEST(KafkaPublish, AStopWithTheBrokerAwayEndsAfterTheTimeoutCountingWhatWasNotDelivered) {
  Fixture f(2);
  f.kafka.librdkafka.emplace_back("queue.buffering.max.messages", "4");
  ASSERT_TRUE(f.broker->set_broker_down(2));
  const std::vector<Event> events = test::make_cohort(f.registry, 3, 30);
  std::atomic<int> calls{0};
  PublishOptions options;
  options.timeout_ms = 2'000;
  options.progress = [&](uint64_t) { return ++calls < 2; };  // the second report is a stop
  auto publishing = std::async(std::launch::async, [&] {
    DeadLetterSink dead;
    return f.publish(events, dead, options);
  });
  // Not a timing target: well below message.timeout.ms, so that a publish waiting for it is told
  // from one that ended.
  const bool ended = publishing.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  EXPECT_TRUE(f.broker->set_broker_up(2));  // lets a publish that waits go on
  auto r = publishing.get();
  ASSERT_TRUE(ended) << "the stopped publish waited for the broker";
  ASSERT_FALSE(r) << "a publish whose events were not delivered cannot succeed";
  // The queue held four events, none acknowledged: all four were given up, and said so.
  EXPECT_NE(r.error().message.find("0 events published, 4 given up"), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace tfe
