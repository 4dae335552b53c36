// Publishing a history to the modality topics (publish_events) on the embedded cluster: each event
// on its modality's topic, keyed by patient, stamped with its arrival time; outcomes skipped;
// delivery failures fail the publish; an event too large to send is a dead letter, not the end of
// the publish; cancellation ends a paced publish and still delivers what was produced.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
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

  Fixture() {
    auto b = kafka::EmbeddedBroker::start();
    EXPECT_TRUE(b) << b.error().message;
    broker = std::move(b).value();
    kafka = test::kafka_test_config(broker->bootstrap_servers(), "publish", 2);
    for (const auto& t : kafka.modality_topics) EXPECT_TRUE(broker->create_topic(t, 2));
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

TEST(KafkaPublish, ADeliveryFailureFailsThePublish) {
  Fixture f;
  f.broker->push_request_errors(
      kafka::ApiKey::produce,
      std::vector<rd_kafka_resp_err_t>(20, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
  DeadLetterSink dead;
  auto r = f.publish(test::make_cohort(f.registry, 2, 5), dead);
  ASSERT_FALSE(r) << "published " << r.value().published;
  EXPECT_NE(r.error().message.find("delivery"), std::string::npos) << r.error().message;
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

}  // namespace
}  // namespace tfe
