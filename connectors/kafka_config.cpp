// The [kafka] config section.

#include "connectors/kafka_config.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <initializer_list>

#include <fmt/format.h>
#include <boost/asio/ip/address.hpp>

#include "engine/duration.h"

namespace tfe {
namespace {

constexpr int64_t kMaxLingerMs = 900'000;  // librdkafka's limit for linger.ms
constexpr int64_t kMaxIntervalMs = 3'600'000;
constexpr int32_t kMaxPartitions = 10'000;

Error config_error(std::string message) { return make_error(Errc::config, std::move(message)); }

Result<std::string> read_string(const toml::table& t, std::string_view key, std::string fallback) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return fallback;
  const auto* s = node->as_string();
  if (s == nullptr) return config_error(fmt::format("kafka.{}: expected a string", key));
  return s->get();
}

Result<int64_t> read_int(const toml::table& t, std::string_view key, int64_t fallback, int64_t lo,
                         int64_t hi) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return fallback;
  const auto* v = node->as_integer();
  if (v == nullptr) return config_error(fmt::format("kafka.{}: expected an integer", key));
  if (v->get() < lo || v->get() > hi) {
    return config_error(
        fmt::format("kafka.{}: must be between {} and {} (got {})", key, lo, hi, v->get()));
  }
  return v->get();
}

Result<int64_t> read_duration(const toml::table& t, std::string_view key, int64_t fallback,
                              int64_t lo, int64_t hi) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return fallback;
  const std::string field = fmt::format("kafka.{}", key);
  auto ms = duration_from_toml(*node, field);
  if (!ms) return ms.error();
  if (ms.value() < lo || ms.value() > hi) {
    return config_error(fmt::format("{}: must be between {} and {} (got {})", field,
                                    format_duration_ms(lo), format_duration_ms(hi),
                                    format_duration_ms(ms.value())));
  }
  return ms.value();
}

// A [kafka.librdkafka] property that tfe sets itself, where another value would break what the
// service promises. Either it has a [kafka] key of its own (`use`), or only tfe's own values
// (`keeps`, compared without case) are accepted and `why` says what depends on it.
struct OwnedProperty {
  std::string_view name;
  std::string_view use;                   // the [kafka] key (or flag) that sets it
  std::array<std::string_view, 3> keeps;  // values that leave tfe's setting as it is ("": none)
  std::string_view why;
};

bool same_text(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

Result<void> check_librdkafka_property(std::string_view key, std::string_view value) {
  static constexpr std::string_view kCommits =
      "the service commits offsets itself, only once the scores and dead letters of the records "
      "are acknowledged";
  static constexpr std::string_view kProducer =
      "scores are produced idempotently with acks=all, which every offset commit relies on";
  static const OwnedProperty kOwned[] = {
      {"bootstrap.servers", "kafka.brokers (or --brokers, TFE_KAFKA_BROKERS)", {}, {}},
      {"metadata.broker.list", "kafka.brokers (or --brokers, TFE_KAFKA_BROKERS)", {}, {}},
      {"group.id", "kafka.group_id", {}, {}},
      {"client.id", "kafka.client_id", {}, {}},
      {"enable.auto.commit", {}, {"false"}, kCommits},
      {"auto.commit.enable", {}, {"false"}, kCommits},
      {"enable.auto.offset.store", {}, {"false"}, kCommits},
      {"enable.partition.eof",
       {},
       {"true"},
       "the live clock needs to know when a partition is caught up"},
      {"auto.offset.reset",
       {},
       {"earliest", "smallest", "beginning"},
       "a position out of range must read on from the oldest record, not skip records"},
      {"enable.idempotence", {}, {"true"}, kProducer},
      {"acks", {}, {"all", "-1"}, kProducer},
      {"request.required.acks", {}, {"all", "-1"}, kProducer},
      {"transactional.id", {}, {}, "the service's producer is idempotent, not transactional"},
  };
  for (const OwnedProperty& p : kOwned) {
    if (key != p.name) continue;
    const std::string field = fmt::format("kafka.librdkafka.{}", p.name);
    if (!p.use.empty()) {
      return config_error(fmt::format("{}: set by tfe; use {}", field, p.use));
    }
    for (std::string_view keep : p.keeps) {
      if (!keep.empty() && same_text(value, keep)) return ok();
    }
    if (p.keeps[0].empty()) return config_error(fmt::format("{}: not supported: {}", field, p.why));
    return config_error(fmt::format("{}: set by tfe to {}: {}", field, p.keeps[0], p.why));
  }
  return ok();
}

}  // namespace

std::optional<std::string> KafkaOverrides::brokers_from_environment() {
  const char* env = std::getenv("TFE_KAFKA_BROKERS");
  if (env == nullptr || *env == '\0') return std::nullopt;
  return std::string(env);
}

Result<std::pair<std::string, uint16_t>> parse_host_port(std::string_view text,
                                                         std::string_view field) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return config_error(fmt::format("{}: expected host:port (got '{}')", field, text));
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  // [::1]:9092
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return config_error(fmt::format("{}: '{}' is not a port number (0..65535)", field, port_text));
  }
  if (host.find_first_of(" \t,") != std::string_view::npos) {
    return config_error(fmt::format("{}: bad host '{}'", field, host));
  }
  return std::make_pair(std::string(host), static_cast<uint16_t>(port));
}

Result<void> check_broker_list(std::string_view brokers, std::string_view field) {
  if (brokers.empty()) return config_error(fmt::format("{}: empty broker list", field));
  std::size_t start = 0;
  while (start <= brokers.size()) {
    const std::size_t comma = std::min(brokers.find(',', start), brokers.size());
    std::string_view item = brokers.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    // librdkafka also accepts a protocol prefix (PLAINTEXT://host:port).
    if (const auto scheme = item.find("://"); scheme != std::string_view::npos) {
      item.remove_prefix(scheme + 3);
    }
    auto hp = parse_host_port(item, field);
    if (!hp) return hp.error();
    if (hp.value().second == 0) {
      return config_error(fmt::format("{}: broker '{}' has port 0", field, item));
    }
    start = comma + 1;
  }
  return ok();
}

kafka::Properties client_properties(const KafkaConfig& config, const std::string& bootstrap) {
  kafka::Properties props = {
      {"bootstrap.servers", bootstrap}, {"client.id", config.client_id}, {"log_level", "4"}};
  // The embedded broker speaks a protocol version without the flag (librdkafka warns at every
  // start) and creates no topic on its own anyway.
  if (!config.embedded()) props.emplace_back("allow.auto.create.topics", "false");
  return props;
}

Result<void> check_topic_name(std::string_view name, std::string_view field) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") {
    return config_error(fmt::format("{}: '{}' is not a valid Kafka topic name", field, name));
  }
  for (char c : name) {
    const bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-';
    if (!okc) {
      return config_error(
          fmt::format("{}: '{}' is not a valid Kafka topic name (letters, digits, '.', '_', '-')",
                      field, name));
    }
  }
  return ok();
}

Result<KafkaConfig> kafka_config_from_toml(const toml::table& doc, const ModalitySchema& schema,
                                           const KafkaOverrides& overrides,
                                           std::optional<std::string> env_brokers) {
  KafkaConfig c;
  static const toml::table kEmpty;
  const toml::table* section = &kEmpty;
  if (const toml::node* node = doc.get("kafka")) {
    section = node->as_table();
    if (section == nullptr) return config_error("[kafka]: expected a table");
  }
  const toml::table& t = *section;
  static constexpr std::array<std::string_view, 16> kKeys = {
      "caught_up_grace", "brokers",           "group_id",       "client_id",  "topic_prefix",
      "score_topic",     "dead_letter_topic", "create_topics",  "partitions", "replication_factor",
      "linger",          "commit_interval",   "shutdown_grace", "http",       "embedded_brokers",
      "librdkafka"};
  for (const auto& [key, value] : t) {
    (void)value;
    if (std::find(kKeys.begin(), kKeys.end(), key.str()) == kKeys.end()) {
      return config_error(fmt::format("[kafka]: unknown key '{}'", quoted_text(key.str())));
    }
  }

#define TFE_TRY_ASSIGN(target, expr) \
  do {                               \
    auto r_ = (expr);                \
    if (!r_) return r_.error();      \
    target = std::move(r_).value();  \
  } while (0)

  TFE_TRY_ASSIGN(c.brokers, read_string(t, "brokers", c.brokers));
  if (env_brokers) c.brokers = *env_brokers;
  if (overrides.brokers) c.brokers = *overrides.brokers;
  if (!c.embedded()) {
    const std::string_view field = overrides.brokers ? "--brokers"
                                   : env_brokers     ? "TFE_KAFKA_BROKERS"
                                                     : "kafka.brokers";
    auto r = check_broker_list(c.brokers, field);
    if (!r) return r.error();
  }
  TFE_TRY_ASSIGN(c.group_id, read_string(t, "group_id", c.group_id));
  if (c.group_id.empty()) return config_error("kafka.group_id: must not be empty");
  TFE_TRY_ASSIGN(c.client_id, read_string(t, "client_id", c.client_id));
  TFE_TRY_ASSIGN(c.topic_prefix, read_string(t, "topic_prefix", c.topic_prefix));
  std::string score, dead;
  TFE_TRY_ASSIGN(score, read_string(t, "score_topic", c.score_topic));
  TFE_TRY_ASSIGN(dead, read_string(t, "dead_letter_topic", c.dead_letter_topic));
  c.score_topic = c.topic_prefix + score;
  c.dead_letter_topic = c.topic_prefix + dead;
  if (const toml::node* node = t.get("create_topics")) {
    const auto* b = node->as_boolean();
    if (b == nullptr) return config_error("kafka.create_topics: expected true or false");
    c.create_topics = b->get();
  }
  int64_t v = 0;
  TFE_TRY_ASSIGN(v, read_int(t, "partitions", c.partitions, 1, kMaxPartitions));
  c.partitions = static_cast<int32_t>(v);
  TFE_TRY_ASSIGN(v, read_int(t, "replication_factor", c.replication_factor, 1, 32));
  c.replication_factor = static_cast<int16_t>(v);
  TFE_TRY_ASSIGN(v, read_int(t, "embedded_brokers", c.embedded_brokers, 1, 16));
  c.embedded_brokers = static_cast<int32_t>(v);
  TFE_TRY_ASSIGN(c.linger_ms, read_duration(t, "linger", c.linger_ms, 0, kMaxLingerMs));
  TFE_TRY_ASSIGN(c.commit_interval_ms,
                 read_duration(t, "commit_interval", c.commit_interval_ms, 1, kMaxIntervalMs));
  TFE_TRY_ASSIGN(c.caught_up_grace_ms,
                 read_duration(t, "caught_up_grace", c.caught_up_grace_ms, 0, 60'000));
  TFE_TRY_ASSIGN(c.shutdown_grace_ms,
                 read_duration(t, "shutdown_grace", c.shutdown_grace_ms, 1, kMaxIntervalMs));

  std::string http = fmt::format("{}:{}", c.http_host, c.http_port);
  TFE_TRY_ASSIGN(http, read_string(t, "http", http));
  if (overrides.http) http = *overrides.http;
  if (http.empty()) {
    c.http_enabled = false;
  } else {
    const std::string_view field = overrides.http ? "--http" : "kafka.http";
    auto hp = parse_host_port(http, field);
    if (!hp) return hp.error();
    // The server binds an address, not a name: said here, naming the key, not at bind time.
    boost::system::error_code ec;
    (void)boost::asio::ip::make_address(hp.value().first, ec);
    if (ec) {
      return config_error(
          fmt::format("{}: '{}' is not an IP address (such as 127.0.0.1, 0.0.0.0 "
                      "or [::1])",
                      field, quoted_text(hp.value().first)));
    }
    c.http_host = hp.value().first;
    c.http_port = hp.value().second;
  }
#undef TFE_TRY_ASSIGN

  if (const toml::node* node = t.get("librdkafka")) {
    const auto* props = node->as_table();
    if (props == nullptr) return config_error("kafka.librdkafka: expected a table of strings");
    for (const auto& [key, value] : *props) {
      const auto* s = value.as_string();
      if (s == nullptr) {
        return config_error(
            fmt::format("kafka.librdkafka.{}: expected a string", quoted_text(key.str())));
      }
      // The value may hold a credential: errors name the property only.
      if (auto owned = check_librdkafka_property(key.str(), s->get()); !owned) return owned.error();
      c.librdkafka.emplace_back(std::string(key.str()), s->get());
    }
  }

  // Topics: every name valid, modality topics distinct from each other and from the outputs.
  auto r = check_topic_name(c.score_topic, "kafka.score_topic");
  if (!r) return r.error();
  r = check_topic_name(c.dead_letter_topic, "kafka.dead_letter_topic");
  if (!r) return r.error();
  if (c.score_topic == c.dead_letter_topic) {
    return config_error("kafka.dead_letter_topic: must differ from kafka.score_topic");
  }
  if (schema.size() == 0) return config_error("[kafka]: no [[modality]] configured");
  for (const ModalitySpec& m : schema.specs()) {
    const std::string field = fmt::format("modality '{}': topic", m.name);
    if (m.topic.empty()) return config_error(fmt::format("{}: must be set for the service", field));
    std::string topic = c.topic_prefix + m.topic;
    r = check_topic_name(topic, field);
    if (!r) return r.error();
    if (topic == c.score_topic || topic == c.dead_letter_topic) {
      return config_error(
          fmt::format("{}: '{}' is also the score or dead-letter topic", field, topic));
    }
    if (std::find(c.modality_topics.begin(), c.modality_topics.end(), topic) !=
        c.modality_topics.end()) {
      return config_error(fmt::format(
          "{}: '{}' is used by another modality (one topic per modality)", field, topic));
    }
    c.modality_topics.push_back(std::move(topic));
  }
  return c;
}

}  // namespace tfe
