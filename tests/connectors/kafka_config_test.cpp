#include "connectors/kafka_config.h"

#include <string>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "tests/connectors/test_schema.h"

namespace tfe {
namespace {

Result<KafkaConfig> parse(const std::string& text, const KafkaOverrides& overrides = {},
                          std::optional<std::string> env = std::nullopt) {
  toml::table doc = toml::parse(text);
  return kafka_config_from_toml(doc, test::default_test_schema(), overrides, std::move(env));
}

std::string error_of(const std::string& text) {
  auto r = parse(text);
  EXPECT_FALSE(r) << "accepted: " << text;
  return r ? std::string() : r.error().message;
}

TEST(KafkaConfig, DefaultsWithoutSection) {
  auto c = parse("");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c.value().embedded());
  EXPECT_EQ(c.value().group_id, "tfe");
  EXPECT_EQ(c.value().score_topic, "tfe.scores");
  EXPECT_EQ(c.value().dead_letter_topic, "tfe.dead-letters");
  EXPECT_EQ(c.value().modality_topics,
            (std::vector<std::string>{"tfe.wearables", "tfe.notes", "tfe.imaging"}));
  EXPECT_EQ(c.value().linger_ms, 5);
  EXPECT_EQ(c.value().commit_interval_ms, 1000);
  EXPECT_EQ(c.value().http_host, "127.0.0.1");
  EXPECT_EQ(c.value().http_port, 8088);
  EXPECT_TRUE(c.value().http_enabled);
}

TEST(KafkaConfig, AllKeys) {
  auto c = parse(R"(
[kafka]
brokers = "127.0.0.1:9092, localhost:9093"
group_id = "g"
client_id = "c"
topic_prefix = "run1-"
score_topic = "s"
dead_letter_topic = "d"
create_topics = false
partitions = 8
replication_factor = 3
linger = "20ms"
commit_interval = "250ms"
shutdown_grace = "30s"
http = "0.0.0.0:0"
embedded_brokers = 3
[kafka.librdkafka]
"socket.keepalive.enable" = "true"
)");
  ASSERT_TRUE(c) << c.error().message;
  const KafkaConfig& k = c.value();
  EXPECT_FALSE(k.embedded());
  EXPECT_EQ(k.brokers, "127.0.0.1:9092, localhost:9093");
  EXPECT_EQ(k.score_topic, "run1-s");
  EXPECT_EQ(k.dead_letter_topic, "run1-d");
  EXPECT_EQ(k.modality_topics[0], "run1-tfe.wearables");
  EXPECT_FALSE(k.create_topics);
  EXPECT_EQ(k.partitions, 8);
  EXPECT_EQ(k.replication_factor, 3);
  EXPECT_EQ(k.linger_ms, 20);
  EXPECT_EQ(k.commit_interval_ms, 250);
  EXPECT_EQ(k.shutdown_grace_ms, 30'000);
  EXPECT_EQ(k.http_host, "0.0.0.0");
  EXPECT_EQ(k.http_port, 0);
  EXPECT_EQ(k.embedded_brokers, 3);
  ASSERT_EQ(k.librdkafka.size(), 1u);
  EXPECT_EQ(k.librdkafka[0].first, "socket.keepalive.enable");
}

TEST(KafkaConfig, BrokerOverridesFlagBeatsEnvironmentBeatsFile) {
  const std::string file = "[kafka]\nbrokers = \"file:1\"\n";
  auto from_file = parse(file);
  ASSERT_TRUE(from_file);
  EXPECT_EQ(from_file.value().brokers, "file:1");
  auto from_env = parse(file, {}, "env:2");
  ASSERT_TRUE(from_env);
  EXPECT_EQ(from_env.value().brokers, "env:2");
  KafkaOverrides flag;
  flag.brokers = "flag:3";
  auto from_flag = parse(file, flag, "env:2");
  ASSERT_TRUE(from_flag);
  EXPECT_EQ(from_flag.value().brokers, "flag:3");
  flag.brokers = "embedded";
  auto embedded = parse(file, flag);
  ASSERT_TRUE(embedded);
  EXPECT_TRUE(embedded.value().embedded());
  // A bad override names its origin.
  auto bad = parse(file, {}, "nohostport");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("TFE_KAFKA_BROKERS"), std::string::npos)
      << bad.error().message;
}

TEST(KafkaConfig, HttpOverrideAndDisable) {
  KafkaOverrides o;
  o.http = "127.0.0.1:9999";
  auto c = parse("", o);
  ASSERT_TRUE(c);
  EXPECT_EQ(c.value().http_port, 9999);
  auto off = parse("[kafka]\nhttp = \"\"\n");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off.value().http_enabled);
}

TEST(KafkaConfig, ErrorsNameTheKey) {
  EXPECT_NE(error_of("[kafka]\nbrokers = \"host\"\n").find("kafka.brokers"), std::string::npos);
  EXPECT_NE(error_of("[kafka]\nbrokers = \"host:99999\"\n").find("port"), std::string::npos);
  EXPECT_NE(error_of("[kafka]\nbrokers = \"\"\n").find("kafka.brokers"), std::string::npos);
  EXPECT_NE(error_of("[kafka]\ngroup_id = \"\"\n").find("kafka.group_id"), std::string::npos);
  EXPECT_NE(error_of("[kafka]\npartitions = 0\n").find("kafka.partitions"), std::string::npos);
  EXPECT_NE(error_of("[kafka]\nlinger = \"fast\"\n").find("kafka.linger"), std::string::npos);
  EXPECT_NE(error_of("[kafka]\ncommit_interval = \"0s\"\n").find("kafka.commit_interval"),
            std::string::npos);
  EXPECT_NE(error_of("[kafka]\nscore_topic = \"a b\"\n").find("kafka.score_topic"),
            std::string::npos);
  EXPECT_NE(error_of("[kafka]\nscore_topic = \"x\"\ndead_letter_topic = \"x\"\n")
                .find("kafka.dead_letter_topic"),
            std::string::npos);
  EXPECT_NE(error_of("[kafka]\nscore_topic = \"tfe.notes\"\n").find("modality 'notes'"),
            std::string::npos);
  EXPECT_NE(error_of("[kafka]\nbrokrs = \"a:1\"\n").find("unknown key 'brokrs'"),
            std::string::npos);
  EXPECT_NE(error_of("[kafka]\nhttp = \"localhost\"\n").find("kafka.http"), std::string::npos);
  // A name, not an address: refused at load, naming the key (the server binds addresses only).
  EXPECT_NE(error_of("[kafka]\nhttp = \"localhost:8088\"\n").find("kafka.http"), std::string::npos);
  KafkaOverrides named;
  named.http = "metrics.local:0";
  auto by_flag = parse("", named);
  ASSERT_FALSE(by_flag);
  EXPECT_NE(by_flag.error().message.find("--http"), std::string::npos) << by_flag.error().message;
  EXPECT_NE(error_of("[kafka.librdkafka]\n\"acks\" = 1\n").find("kafka.librdkafka.acks"),
            std::string::npos);
  EXPECT_NE(error_of("kafka = 3\n").find("[kafka]"), std::string::npos);
}

TEST(KafkaConfig, LibrdkafkaPropertiesThatTfeSetsCannotBreakItsGuarantees) {
  // Applied after tfe's own settings, these would silently commit offsets ahead of the scores,
  // stall the live clock, skip records, hijack the group, or make every produce fail.
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"enable.auto.commit", "true"},
      {"enable.auto.offset.store", "true"},
      {"enable.partition.eof", "false"},
      {"auto.offset.reset", "latest"},
      {"enable.idempotence", "false"},
      {"acks", "1"},
      {"transactional.id", "t1"},
      {"group.id", ""},
      {"group.id", "other"},
      {"bootstrap.servers", "elsewhere:9092"},
      {"client.id", "c"},
  };
  for (const auto& [key, value] : refused) {
    const std::string message =
        error_of(fmt::format("[kafka.librdkafka]\n\"{}\" = \"{}\"\n", key, value));
    EXPECT_NE(message.find("kafka.librdkafka." + key), std::string::npos) << key << ": " << message;
    if (value.size() > 1) {
      EXPECT_EQ(message.find(value), std::string::npos) << "the value is not repeated: " << message;
    }
  }
  EXPECT_NE(error_of("[kafka.librdkafka]\n\"group.id\" = \"x\"\n").find("kafka.group_id"),
            std::string::npos);
  // tfe's own values, and what tfe leaves to the operator, are accepted.
  auto kept = parse(R"([kafka.librdkafka]
"enable.auto.commit" = "false"
"enable.partition.eof" = "TRUE"
"auto.offset.reset" = "earliest"
"acks" = "all"
"isolation.level" = "read_committed"
"session.timeout.ms" = "10000"
"partition.assignment.strategy" = "cooperative-sticky"
)");
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept.value().librdkafka.size(), 7u);
}

TEST(KafkaConfig, ModalityTopicsMustBeDistinctAndSet) {
  ModalitySchema base = test::default_test_schema();
  std::vector<ModalitySpec> specs = base.specs();
  specs[1].topic = specs[0].topic;
  toml::table doc;
  auto dup = kafka_config_from_toml(doc, ModalitySchema(specs));
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("another modality"), std::string::npos);
  specs[1].topic = "";
  auto unset = kafka_config_from_toml(doc, ModalitySchema(specs));
  ASSERT_FALSE(unset);
  EXPECT_NE(unset.error().message.find("modality 'notes'"), std::string::npos);
}

TEST(KafkaConfig, HostPortParsing) {
  auto hp = parse_host_port("[::1]:8088", "x");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp.value().first, "::1");
  EXPECT_EQ(hp.value().second, 8088);
  EXPECT_FALSE(parse_host_port(":80", "x"));
  EXPECT_FALSE(parse_host_port("h:", "x"));
  EXPECT_FALSE(parse_host_port("h:8o", "x"));
  EXPECT_TRUE(check_broker_list("PLAINTEXT://a:1,b:2", "x"));
  EXPECT_FALSE(check_broker_list("a:1,", "x"));
}

}  // namespace
}  // namespace tfe
