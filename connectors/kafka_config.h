#pragma once
// The [kafka] section of the TOML config: where the service reads and writes, and how. Validated
// once at load; every error is one line naming the key. Modality topics come from the [[modality]]
// entries (their `topic`), with topic_prefix applied.
//
//   [kafka]
//   brokers = "embedded"              # "embedded" (in-process broker) or "host:port,host:port"
//   group_id = "tfe"                  # consumer group shared by all instances
//   client_id = "tfe"
//   topic_prefix = ""                 # prepended to every topic name below and to modality topics
//   score_topic = "tfe.scores"
//   dead_letter_topic = "tfe.dead-letters"
//   create_topics = true              # create missing topics at start
//   partitions = 4                    # of topics created at start
//   replication_factor = 1            # of topics created at start
//   linger = "5ms"                    # producer linger (latency versus batching)
//   commit_interval = "1s"            # how often applied offsets are committed
//   shutdown_grace = "10s"            # SIGTERM: time allowed to drain, flush and commit
//   caught_up_grace = "2s"            # a partition at its end holds the live clock this long
//   http = "127.0.0.1:8088"           # health, metrics and scores (an IP address); "" disables
//   embedded_brokers = 1              # brokers of the embedded cluster
//   [kafka.librdkafka]                # extra librdkafka properties for every client (strings);
//                                     # those tfe owns (group, offsets, idempotence) are refused
//   "security.protocol" = "plaintext"
//
// Overrides, strongest first: the --brokers flag, the TFE_KAFKA_BROKERS environment variable, the
// file.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "connectors/kafka_common.h"
#include "engine/modality.h"
#include "engine/result.h"

namespace tfe {

inline constexpr std::string_view kEmbeddedBrokers = "embedded";

struct KafkaConfig {
  std::string brokers{kEmbeddedBrokers};
  std::string group_id = "tfe";
  std::string client_id = "tfe";
  std::string topic_prefix;
  std::vector<std::string> modality_topics;            // [schema.size()], prefix applied
  std::string score_topic = "tfe.scores";              // prefix applied
  std::string dead_letter_topic = "tfe.dead-letters";  // prefix applied
  bool create_topics = true;
  int32_t partitions = 4;
  int16_t replication_factor = 1;
  int64_t linger_ms = 5;
  int64_t commit_interval_ms = 1000;
  int64_t shutdown_grace_ms = 10'000;
  // Wall time a partition that reached its end keeps holding the live clock (see
  // connectors/kafka_partitions.h); 0: not at all. docs/service.md weighs it against latency.
  int64_t caught_up_grace_ms = 2'000;
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 8088;
  bool http_enabled = true;
  int32_t embedded_brokers = 1;
  kafka::Properties librdkafka;  // [kafka.librdkafka], applied after tfe's own settings

  bool embedded() const { return brokers == kEmbeddedBrokers; }
};

struct KafkaOverrides {
  std::optional<std::string> brokers;  // from --brokers
  std::optional<std::string> http;     // from --http ("host:port")
  // TFE_KAFKA_BROKERS when set and non-empty.
  static std::optional<std::string> brokers_from_environment();
};

// [kafka] from a parsed TOML document (the section may be absent: defaults), with `overrides`
// applied; env_brokers is TFE_KAFKA_BROKERS (see KafkaOverrides::brokers_from_environment).
Result<KafkaConfig> kafka_config_from_toml(const toml::table& doc, const ModalitySchema& schema,
                                           const KafkaOverrides& overrides = {},
                                           std::optional<std::string> env_brokers = std::nullopt);

// Properties every client of the service shares: bootstrap servers, client id, no topic
// auto-creation (not asked of the embedded broker, whose protocol version lacks the flag),
// librdkafka's log level; then [kafka.librdkafka] must be appended by the caller after its own
// settings.
kafka::Properties client_properties(const KafkaConfig& config, const std::string& bootstrap);

// Checks a "host:port" list; `field` names it in the error.
Result<void> check_broker_list(std::string_view brokers, std::string_view field);
// Splits "host:port" (port 0..65535; 0 picks a free port).
Result<std::pair<std::string, uint16_t>> parse_host_port(std::string_view text,
                                                         std::string_view field);
// A Kafka topic name: 1..249 of [a-zA-Z0-9._-], not "." or "..".
Result<void> check_topic_name(std::string_view name, std::string_view field);

}  // namespace tfe
