// The librdkafka wrappers against the embedded (mock) cluster, including its fault injection:
// brokers down and up, request errors, coordinator moves.

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "connectors/embedded_broker.h"
#include "connectors/kafka_consumer.h"
#include "connectors/kafka_producer.h"
#include "tests/support/mutation.h"

namespace tfe::kafka {
namespace {

using Clock = std::chrono::steady_clock;

struct Delivered {
  std::vector<DeliveryReport> ok;
  std::vector<DeliveryReport> failed;
};

Properties producer_props(const EmbeddedBroker& broker) {
  return {{"bootstrap.servers", broker.bootstrap_servers()},
          {"enable.idempotence", "true"},
          {"acks", "all"},
          {"linger.ms", "1"},
          {"allow.auto.create.topics", "false"},
          {"log_level", "2"}};
}

// A producer that files each delivery report in `delivered`.
Result<KafkaProducer> recording_producer(const EmbeddedBroker& broker, Delivered& delivered) {
  return KafkaProducer::create(producer_props(broker), [&delivered](const DeliveryReport& r) {
    (r.err ? delivered.failed : delivered.ok).push_back(r);
  });
}

Properties consumer_props(const EmbeddedBroker& broker, const std::string& group) {
  return {{"bootstrap.servers", broker.bootstrap_servers()},
          {"group.id", group},
          {"partition.assignment.strategy", "cooperative-sticky"},
          {"enable.auto.commit", "false"},
          {"enable.auto.offset.store", "false"},
          {"auto.offset.reset", "earliest"},
          {"enable.partition.eof", "true"},
          {"fetch.wait.max.ms", "5"},
          {"session.timeout.ms", "6000"},
          {"heartbeat.interval.ms", "200"},
          {"log_level", "2"}};
}

std::unique_ptr<EmbeddedBroker> start_broker(int brokers = 1) {
  auto broker = EmbeddedBroker::start(brokers);
  EXPECT_TRUE(broker) << broker.error().message;
  return std::move(broker).value();
}

struct Received {
  std::string topic;
  int32_t partition;
  int64_t offset;
  std::string key;
  std::string value;
  int64_t timestamp_ms;
  std::map<std::string, std::string> headers;
};

// Consumes until `want` messages arrived or timeout; returns them.
std::vector<Received> consume(KafkaConsumer& consumer, std::size_t want,
                              std::chrono::seconds timeout = std::chrono::seconds(30)) {
  std::vector<Received> out;
  std::vector<MessagePtr> batch;
  const auto deadline = Clock::now() + timeout;
  while (out.size() < want && Clock::now() < deadline) {
    batch.clear();
    consumer.poll_batch(batch, 256, 100);
    for (const auto& m : batch) {
      if (m->err) continue;
      Received r{std::string(message_topic(*m)),
                 m->partition,
                 m->offset,
                 std::string(message_key(*m)),
                 std::string(message_value(*m)),
                 message_timestamp_ms(*m).value_or(-1),
                 {}};
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          r.headers[name] = std::string(static_cast<const char*>(value), size);
        }
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

void produce_all(KafkaProducer& producer, const std::string& topic, int n, int64_t ts0,
                 Delivered& delivered, std::chrono::seconds timeout = std::chrono::seconds(30)) {
  const std::size_t before = delivered.ok.size() + delivered.failed.size();
  for (int i = 0; i < n; ++i) {
    std::string key = "p";  // not "p" + ...: a false -Wrestrict from GCC 12
    key += std::to_string(i % 7);
    const std::string value = std::to_string(i);
    Message m{topic, key, value, ts0 + i, {}, static_cast<uint64_t>(i)};
    ASSERT_TRUE(producer.produce_wait(m, [] { return true; }));
  }
  const auto deadline = Clock::now() + timeout;
  while (delivered.ok.size() + delivered.failed.size() < before + static_cast<std::size_t>(n) &&
         Clock::now() < deadline) {
    producer.poll(50);
  }
}

TEST(KafkaClient, ProduceConsumeRoundTripKeepsKeyTimestampAndHeaders) {
  auto broker = start_broker();
  ASSERT_TRUE(broker->create_topic("t", 3));
  Delivered delivered;
  auto producer = recording_producer(*broker, delivered);
  ASSERT_TRUE(producer) << producer.error().message;
  const Header headers[] = {{"reason", "malformed_json"}, {"source_offset", "42"}};
  Message m{"t", "patient-1", "{\"x\":1}", 1'700'000'000'123, headers, 77};
  ASSERT_EQ(producer.value().produce(m), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(producer.value().flush(10'000));
  ASSERT_EQ(delivered.ok.size(), 1u);
  EXPECT_EQ(delivered.ok[0].opaque, 77u);
  EXPECT_EQ(delivered.ok[0].topic, "t");

  auto consumer = KafkaConsumer::create(consumer_props(*broker, "g1"), {});
  ASSERT_TRUE(consumer) << consumer.error().message;
  ASSERT_TRUE(consumer.value().subscribe({"t"}));
  auto got = consume(consumer.value(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "patient-1");
  EXPECT_EQ(got[0].value, "{\"x\":1}");
  EXPECT_EQ(got[0].timestamp_ms, 1'700'000'000'123);
  EXPECT_EQ(got[0].headers["reason"], "malformed_json");
  EXPECT_EQ(got[0].headers["source_offset"], "42");
  EXPECT_EQ(got[0].partition, delivered.ok[0].partition);
}

TEST(KafkaClient, CommitKeepsMetadataAndTimeLookupsAnswer) {
  auto broker = start_broker();
  ASSERT_TRUE(broker->create_topic("t", 1));
  Delivered delivered;
  auto producer = recording_producer(*broker, delivered);
  ASSERT_TRUE(producer);
  produce_all(producer.value(), "t", 100, 10'000, delivered);
  ASSERT_EQ(delivered.ok.size(), 100u);

  auto consumer = KafkaConsumer::create(consumer_props(*broker, "g2"), {});
  ASSERT_TRUE(consumer);
  ASSERT_TRUE(consumer.value().subscribe({"t"}));
  ASSERT_EQ(consume(consumer.value(), 100).size(), 100u);

  TopicPartition tp{"t", 0, 60, "tfe1 clock=12345"};
  ASSERT_TRUE(consumer.value().commit({tp}, false));
  auto committed = consumer.value().committed({{"t", 0}}, 10'000);
  ASSERT_TRUE(committed) << committed.error().message;
  ASSERT_EQ(committed.value().size(), 1u);
  EXPECT_EQ(committed.value()[0].offset, 60);
  EXPECT_EQ(committed.value()[0].metadata, "tfe1 clock=12345");

  // Time lookups: the embedded cluster answers every timestamp with the end offset (it keeps no
  // time index); the real broker's answers are checked by the integration tests.
  auto offsets = consumer.value().offsets_for_times({{"t", 0, 10'042}}, 10'000);
  ASSERT_TRUE(offsets) << offsets.error().message;
  ASSERT_EQ(offsets.value().size(), 1u);
  EXPECT_TRUE(offsets.value()[0].offset == 42 || offsets.value()[0].offset == kOffsetEnd);
}

TEST(KafkaClient, IdempotentProducerSurvivesBrokerDownAndUpWithoutDuplicates) {
  auto broker = start_broker();
  ASSERT_TRUE(broker->create_topic("t", 2));
  Delivered delivered;
  auto producer = recording_producer(*broker, delivered);
  ASSERT_TRUE(producer);
  produce_all(producer.value(), "t", 50, 0, delivered);
  ASSERT_EQ(delivered.ok.size(), 50u);

  ASSERT_TRUE(broker->set_broker_down(1));
  for (int i = 50; i < 150; ++i) {
    const std::string key = "p" + std::to_string(i % 7), value = std::to_string(i);
    ASSERT_EQ(producer.value().produce({"t", key, value, i, {}, static_cast<uint64_t>(i)}),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  producer.value().poll(500);
  EXPECT_EQ(delivered.ok.size(), 50u) << "nothing is acknowledged while the broker is down";
  ASSERT_TRUE(broker->set_broker_up(1));
  ASSERT_TRUE(producer.value().flush(30'000));
  EXPECT_EQ(delivered.failed.size(), 0u);
  ASSERT_EQ(delivered.ok.size(), 150u);

  auto consumer = KafkaConsumer::create(consumer_props(*broker, "g3"), {});
  ASSERT_TRUE(consumer);
  ASSERT_TRUE(consumer.value().subscribe({"t"}));
  auto got = consume(consumer.value(), 150);
  std::multiset<std::string> values;
  for (const auto& r : got) values.insert(r.value);
  EXPECT_EQ(got.size(), 150u);
  for (int i = 0; i < 150; ++i) EXPECT_EQ(values.count(std::to_string(i)), 1u) << i;
  // Per key (one partition each), the produce order is kept.
  std::map<std::string, int> last;
  for (const auto& r : got) {
    const int v = std::stoi(r.value);
    if (last.count(r.key)) {
      EXPECT_LT(last[r.key], v) << r.key;
    }
    last[r.key] = v;
  }
}

TEST(KafkaClient, ProduceRequestErrorsAreRetriedOnce) {
  auto broker = start_broker();
  ASSERT_TRUE(broker->create_topic("t", 1));
  Delivered delivered;
  auto producer = recording_producer(*broker, delivered);
  ASSERT_TRUE(producer);
  produce_all(producer.value(), "t", 1, 0, delivered);  // connection and producer id first
  broker->push_request_errors(ApiKey::produce, {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                                RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS});
  produce_all(producer.value(), "t", 20, 100, delivered);
  ASSERT_TRUE(producer.value().flush(30'000));
  EXPECT_EQ(delivered.failed.size(), 0u);
  EXPECT_EQ(delivered.ok.size(), 21u);

  auto consumer = KafkaConsumer::create(consumer_props(*broker, "g4"), {});
  ASSERT_TRUE(consumer);
  ASSERT_TRUE(consumer.value().subscribe({"t"}));
  auto got = consume(consumer.value(), 21);
  ASSERT_EQ(got.size(), 21u);
  // No duplicate after the retries: 21 messages, 21 distinct timestamps.
  std::set<int64_t> ts;
  for (const auto& r : got) ts.insert(r.timestamp_ms);
  EXPECT_EQ(ts.size(), 21u);
}

TEST(KafkaClient, CommitFailureIsReportedAndTheNextCommitSucceeds) {
  auto broker = start_broker();
  ASSERT_TRUE(broker->create_topic("t", 1));
  Delivered delivered;
  auto producer = recording_producer(*broker, delivered);
  ASSERT_TRUE(producer);
  produce_all(producer.value(), "t", 10, 0, delivered);

  std::vector<rd_kafka_resp_err_t> commit_results;
  ConsumerCallbacks callbacks;
  callbacks.on_commit = [&](rd_kafka_resp_err_t err, const TopicPartitions&) {
    commit_results.push_back(err);
  };
  auto consumer = KafkaConsumer::create(consumer_props(*broker, "g5"), std::move(callbacks));
  ASSERT_TRUE(consumer);
  ASSERT_TRUE(consumer.value().subscribe({"t"}));
  ASSERT_EQ(consume(consumer.value(), 10).size(), 10u);

  // A non-retriable commit error reaches the application.
  broker->push_request_errors(ApiKey::offset_commit, {RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE});
  ASSERT_TRUE(consumer.value().commit({{"t", 0, 5, "m"}}, true));
  std::vector<MessagePtr> batch;
  for (int i = 0; i < 100 && commit_results.empty(); ++i)
    consumer.value().poll_batch(batch, 16, 50);
  ASSERT_EQ(commit_results.size(), 1u);
  EXPECT_NE(commit_results[0], RD_KAFKA_RESP_ERR_NO_ERROR);

  ASSERT_TRUE(consumer.value().commit({{"t", 0, 10, "m2"}}, true));
  for (int i = 0; i < 100 && commit_results.size() < 2; ++i)
    consumer.value().poll_batch(batch, 16, 50);
  ASSERT_EQ(commit_results.size(), 2u);
  EXPECT_EQ(commit_results[1], RD_KAFKA_RESP_ERR_NO_ERROR);
  auto committed = consumer.value().committed({{"t", 0}}, 10'000);
  ASSERT_TRUE(committed);
  EXPECT_EQ(committed.value()[0].offset, 10);
  EXPECT_EQ(committed.value()[0].metadata, "m2");
}

TEST(KafkaClient, ConsumerFollowsACoordinatorMove) {
  auto broker = start_broker(3);
  ASSERT_TRUE(broker->create_topic("t", 3, 3));
  Delivered delivered;
  auto producer = recording_producer(*broker, delivered);
  ASSERT_TRUE(producer);
  ASSERT_TRUE(broker->set_group_coordinator("g6", 1));
  produce_all(producer.value(), "t", 30, 0, delivered);

  auto consumer = KafkaConsumer::create(consumer_props(*broker, "g6"), {});
  ASSERT_TRUE(consumer);
  ASSERT_TRUE(consumer.value().subscribe({"t"}));
  ASSERT_EQ(consume(consumer.value(), 30).size(), 30u);
  ASSERT_TRUE(consumer.value().commit({{"t", 0, 1, "a"}}, false));

  // The coordinator moves to broker 2 and broker 1 goes away (its partitions led elsewhere first:
  // the embedded cluster does not elect leaders by itself).
  for (int32_t p = 0; p < 3; ++p) ASSERT_TRUE(broker->set_partition_leader("t", p, 2 + p % 2));
  ASSERT_TRUE(broker->set_group_coordinator("g6", 2));
  ASSERT_TRUE(broker->set_broker_down(1));
  produce_all(producer.value(), "t", 30, 1000, delivered);
  ASSERT_EQ(delivered.ok.size(), 60u);
  auto more = consume(consumer.value(), 30, std::chrono::seconds(60));
  EXPECT_EQ(more.size(), 30u);
  // The commit finds the new coordinator (possibly after a retry inside librdkafka).
  Result<void> committed_ok = make_error(Errc::io, "not tried");
  for (int attempt = 0; attempt < 20 && !committed_ok; ++attempt) {
    committed_ok = consumer.value().commit({{"t", 0, 2, "b"}}, false);
    if (!committed_ok) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_TRUE(committed_ok) << committed_ok.error().message;
  auto committed = consumer.value().committed({{"t", 0}}, 10'000);
  ASSERT_TRUE(committed);
  EXPECT_EQ(committed.value()[0].metadata, "b");
  ASSERT_TRUE(broker->set_broker_up(1));
}

// A member whose assignment a rebalance leaves as it was (another member joins for another
// topic) keeps its fetch positions: nothing it consumed in the poll that served the rebalance
// may be dropped, or those offsets are never seen again.
TEST(KafkaClient, RebalanceThatKeepsTheAssignmentDropsNothing) {
  auto broker = start_broker();
  ASSERT_TRUE(broker->create_topic("t", 1));
  ASSERT_TRUE(broker->create_topic("u", 1));
  Delivered delivered;
  auto producer = recording_producer(*broker, delivered);
  ASSERT_TRUE(producer);
  constexpr int kMessages = 40'000;
  produce_all(producer.value(), "t", kMessages, 0, delivered);
  ASSERT_EQ(delivered.ok.size(), static_cast<std::size_t>(kMessages));

  // Applies each change as given; no position moves, so it reports none.
  auto keep_positions = [](KafkaConsumer*& self) {
    ConsumerCallbacks callbacks;
    callbacks.on_rebalance = [&self](RebalanceKind kind, const TopicPartitions& parts) {
      EXPECT_TRUE(kind == RebalanceKind::assign ? self->incremental_assign(parts)
                                                : self->incremental_unassign(parts));
      return false;
    };
    return callbacks;
  };
  KafkaConsumer* a_self = nullptr;
  auto a = KafkaConsumer::create(consumer_props(*broker, "g7"), keep_positions(a_self));
  ASSERT_TRUE(a) << a.error().message;
  a_self = &a.value();
  ASSERT_TRUE(a.value().subscribe({"t"}));

  std::vector<int64_t> offsets;
  std::vector<MessagePtr> batch;
  auto take = [&](std::size_t max) {
    batch.clear();
    a.value().poll_batch(batch, max, 100);
    for (const auto& m : batch) {
      if (!m->err) offsets.push_back(m->offset);
    }
  };
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (offsets.size() < 2'000 && Clock::now() < deadline) take(64);
  ASSERT_GE(offsets.size(), 2'000u) << "the first member consumed too little";
  const uint64_t rebalances_before = a.value().rebalances();

  // A second member joins for "u": the group rebalances, and the first member's assignment
  // stays as it was. Meanwhile the first consumes slowly, so that the rebalance lands among
  // messages it is polling.
  std::atomic<bool> done{false};
  std::thread other([&] {
    KafkaConsumer* b_self = nullptr;
    auto b = KafkaConsumer::create(consumer_props(*broker, "g7"), keep_positions(b_self));
    ASSERT_TRUE(b) << b.error().message;
    b_self = &b.value();
    ASSERT_TRUE(b.value().subscribe({"u"}));
    std::vector<MessagePtr> ignored;
    // Not closed before its first assignment (empty or not) has arrived: librdkafka 2.0.2 can
    // abort destroying a cooperative-sticky member that has none yet (issue #4312,
    // docs/service.md).
    while (!done || (b.value().rebalances() == 0 && Clock::now() < deadline)) {
      ignored.clear();
      b.value().poll_batch(ignored, 64, 50);
    }
  });
  while (a.value().rebalances() == rebalances_before && Clock::now() < deadline) {
    take(64);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const bool rebalanced = a.value().rebalances() > rebalances_before;
  while (offsets.size() < static_cast<std::size_t>(kMessages) && Clock::now() < deadline) {
    take(1024);
  }
  done = true;
  other.join();
  ASSERT_TRUE(rebalanced) << "the second member's join did not reach the first";
  EXPECT_EQ(a.value().rewinds(), 0u);
  ASSERT_EQ(offsets.size(), static_cast<std::size_t>(kMessages)) << "messages lost";
  for (int64_t i = 0; i < kMessages; ++i) {
    if (offsets[static_cast<std::size_t>(i)] != i) {
      FAIL() << "offset " << i << " is followed by " << offsets[static_cast<std::size_t>(i)];
    }
  }
}

TEST(KafkaClient, PartitionCountComesFromMetadata) {
  auto broker = start_broker();
  ASSERT_TRUE(broker->create_topic("four", 4));
  ASSERT_TRUE(broker->create_topic("seven", 7));
  auto consumer = KafkaConsumer::create(consumer_props(*broker, "g7"), {});
  ASSERT_TRUE(consumer);
  auto four = consumer.value().partition_count("four", 10'000);
  ASSERT_TRUE(four) << four.error().message;
  EXPECT_EQ(four.value(), 4);
  auto seven = consumer.value().partition_count("seven", 10'000);
  ASSERT_TRUE(seven) << seven.error().message;
  EXPECT_EQ(seven.value(), 7);
}

TEST(KafkaClient, ProducerAwaitsTheLeadersOfATopicOrSaysWhichTopicHasNone) {
  auto broker = start_broker();
  ASSERT_TRUE(broker->create_topic("scores", 3));
  auto producer = KafkaProducer::create(producer_props(*broker), {});
  ASSERT_TRUE(producer);
  auto ready = producer.value().await_topic("scores", 10'000);
  EXPECT_TRUE(ready) << ready.error().message;

  // With the only broker down no metadata comes: the wait ends at its timeout with an error.
  auto other = KafkaProducer::create(producer_props(*broker), {});
  ASSERT_TRUE(other);
  ASSERT_TRUE(broker->set_broker_down(1));
  auto down = other.value().await_topic("scores", 1'000);
  ASSERT_FALSE(down);
  EXPECT_NE(down.error().message.find("scores"), std::string::npos) << down.error().message;
  ASSERT_TRUE(broker->set_broker_up(1));
}

TEST(KafkaClient, BadPropertyIsAConfigError) {
  auto producer = KafkaProducer::create({{"no.such.property", "1"}}, {});
  ASSERT_FALSE(producer);
  EXPECT_EQ(producer.error().code, Errc::config);
  EXPECT_NE(producer.error().message.find("no.such.property"), std::string::npos);
  // A mistyped property may hold a secret: its value is not repeated.
  auto typo = KafkaProducer::create({{"sasl.pasword", "hunter2-secret"}}, {});
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("sasl.pasword"), std::string::npos) << typo.error().message;
  EXPECT_EQ(typo.error().message.find("hunter2"), std::string::npos) << typo.error().message;
  // librdkafka's own text quotes the value of a property of fixed choices: cut out too.
  auto misplaced = KafkaProducer::create({{"security.protocol", "hunter2-secret"}}, {});
  ASSERT_FALSE(misplaced);
  EXPECT_NE(misplaced.error().message.find("security.protocol"), std::string::npos);
  EXPECT_EQ(misplaced.error().message.find("hunter2"), std::string::npos)
      << misplaced.error().message;
  // A value that the cut's own mark contains is cut once, not forever.
  auto looping = KafkaProducer::create({{"security.protocol", "value"}}, {});
  ASSERT_FALSE(looping);
  EXPECT_NE(looping.error().message.find("<value>"), std::string::npos) << looping.error().message;
  // A key with a line break stays on one line.
  auto broken = KafkaProducer::create({{"bad\nkey", "1"}}, {});
  ASSERT_FALSE(broken);
  EXPECT_TRUE(test::one_clean_line(broken.error().message)) << broken.error().message;
}

}  // namespace
}  // namespace tfe::kafka
