// KafkaOutput on the embedded cluster: dead letters the broker refuses as too large.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "connectors/embedded_broker.h"
#include "connectors/kafka_consumer.h"
#include "connectors/kafka_output.h"

namespace tfe {
namespace {

using namespace std::chrono_literals;

std::string header_of(const rd_kafka_message_t& m, const char* name) {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return "<none>";
  const void* v = nullptr;
  size_t n = 0;
  if (rd_kafka_header_get_last(headers, name, &v, &n)) return "<none>";
  return std::string(static_cast<const char*>(v), n);
}

// The broker checks whole record batches against the topic's max.message.bytes: a batch holding
// one dead letter too large for the topic and a small one is refused for both. Only the one
// refused in a batch of its own loses its value; the small one goes out as it came.
TEST(KafkaOutput, ADeadLetterRefusedInABatchTooLargeLosesItsValueOnlyWhenTooLargeAlone) {
  auto broker = kafka::EmbeddedBroker::start();
  ASSERT_TRUE(broker) << broker.error().message;
  const std::string topic = "output.dead-letters";
  ASSERT_TRUE(broker.value()->create_topic(topic, 1));
  auto output = KafkaOutput::create({{"bootstrap.servers", broker.value()->bootstrap_servers()},
                                     {"enable.idempotence", "true"},
                                     {"acks", "all"},
                                     {"linger.ms", "200"},  // both in one batch
                                     {"log_level", "2"}},
                                    nullptr);
  ASSERT_TRUE(output) << output.error().message;
  KafkaOutput& out = *output.value();
  ASSERT_TRUE(out.await_topic(topic, 10'000));

  // The batch of both is refused, then the large one alone; the rest is taken.
  broker.value()->push_request_errors(
      kafka::ApiKey::produce,
      {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE});
  const std::string large(50'000, 'x');
  const std::string small = "not json";
  struct Letter {
    std::string value, offset;
  };
  const std::vector<Letter> letters = {{large, "7"}, {small, "8"}};
  out.set_batch_time(2);
  for (const Letter& l : letters) {
    const std::string raw_bytes = std::to_string(l.value.size());
    const kafka::Header headers[] = {{"reason", "malformed_json"},
                                     {"source_topic", "wearables"},
                                     {"source_partition", "0"},
                                     {"source_offset", l.offset},
                                     {"raw_bytes", raw_bytes}};
    ASSERT_TRUE(out.produce(topic, "P1", l.value, headers, false, [] { return true; }));
  }
  auto flushed = out.flush(30'000);
  ASSERT_TRUE(flushed) << flushed.error().message;
  EXPECT_FALSE(out.failure());
  EXPECT_EQ(out.acknowledged(), 2u);
  EXPECT_EQ(out.in_flight(), 0u);

  auto consumer =
      kafka::KafkaConsumer::create({{"bootstrap.servers", broker.value()->bootstrap_servers()},
                                    {"group.id", "output-reader"},
                                    {"auto.offset.reset", "earliest"},
                                    {"fetch.wait.max.ms", "5"},
                                    {"log_level", "2"}},
                                   {});
  ASSERT_TRUE(consumer) << consumer.error().message;
  ASSERT_TRUE(consumer.value().subscribe({topic}));
  std::map<std::string, kafka::MessagePtr> by_offset;  // source_offset -> dead letter
  std::vector<kafka::MessagePtr> batch;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (by_offset.size() < letters.size() && std::chrono::steady_clock::now() < deadline) {
    batch.clear();
    consumer.value().poll_batch(batch, 100, 100);
    for (auto& m : batch) {
      if (!m->err) by_offset[header_of(*m, "source_offset")] = std::move(m);
    }
  }
  ASSERT_EQ(by_offset.size(), 2u) << "both dead letters on their topic, once each";
  const rd_kafka_message_t& refused = *by_offset.at("7");
  EXPECT_TRUE(kafka::message_value(refused).empty()) << "too large for the topic by itself";
  EXPECT_EQ(header_of(refused, "raw_bytes"), "50000");
  EXPECT_EQ(header_of(refused, "reason"), "malformed_json");
  EXPECT_EQ(kafka::message_key(refused), "P1");
  const rd_kafka_message_t& kept = *by_offset.at("8");
  EXPECT_EQ(kafka::message_value(kept), small) << "a dead letter that fits keeps its record";
  EXPECT_EQ(header_of(kept, "raw_bytes"), std::to_string(small.size()));
}

}  // namespace
}  // namespace tfe
