// EmbeddedBroker over librdkafka's mock cluster (rdkafka_mock.h).

#include "connectors/embedded_broker.h"

#include <librdkafka/rdkafka_mock.h>

#include <fmt/format.h>

namespace tfe::kafka {
namespace {

Result<void> check(rd_kafka_resp_err_t err, std::string_view what) {
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return kafka_error(err, fmt::format("embedded broker: {}", what));
  return ok();
}

}  // namespace

void EmbeddedBroker::ClusterDeleter::operator()(rd_kafka_mock_cluster_s* cluster) const {
  rd_kafka_mock_cluster_destroy(cluster);
}

EmbeddedBroker::~EmbeddedBroker() {
  cluster_.reset();
  host_.reset();
}

Result<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::start(int brokers) {
  if (brokers < 1) return make_error(Errc::config, "embedded broker: at least one broker");
  // The host handle never connects anywhere; quiet its "no bootstrap.servers" warning.
  auto conf = detail::make_conf({{"log_level", "3"}, {"client.id", "tfe-embedded-broker"}});
  if (!conf) return conf.error();
  auto host = detail::make_handle(RD_KAFKA_PRODUCER, std::move(conf).value());
  if (!host) return host.error();
  auto broker = std::make_unique<EmbeddedBroker>(Key{});
  broker->host_ = std::move(host).value();
  broker->cluster_.reset(rd_kafka_mock_cluster_new(broker->host_.get(), brokers));
  if (!broker->cluster_)
    return make_error(Errc::io, "embedded broker: cannot start the mock cluster");
  broker->bootstraps_ = rd_kafka_mock_cluster_bootstraps(broker->cluster_.get());
  broker->brokers_ = brokers;
  return broker;
}

Result<void> EmbeddedBroker::create_topic(const std::string& name, int32_t partitions,
                                          int16_t replication_factor) {
  if (partitions < 1) return make_error(Errc::config, "embedded broker: partitions must be >= 1");
  const int rf = std::min<int>(replication_factor, brokers_);
  const rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(cluster_.get(), name.c_str(), partitions, std::max(rf, 1));
  if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return ok();
  return check(err, fmt::format("create topic '{}'", name));
}

Result<void> EmbeddedBroker::set_broker_down(int32_t broker_id) {
  return check(rd_kafka_mock_broker_set_down(cluster_.get(), broker_id), "broker down");
}

Result<void> EmbeddedBroker::set_broker_up(int32_t broker_id) {
  return check(rd_kafka_mock_broker_set_up(cluster_.get(), broker_id), "broker up");
}

Result<void> EmbeddedBroker::set_broker_rtt(int32_t broker_id, int rtt_ms) {
  return check(rd_kafka_mock_broker_set_rtt(cluster_.get(), broker_id, rtt_ms), "broker rtt");
}

void EmbeddedBroker::push_request_errors(ApiKey api,
                                         const std::vector<rd_kafka_resp_err_t>& errors) {
  rd_kafka_mock_push_request_errors_array(cluster_.get(), static_cast<int16_t>(api), errors.size(),
                                          errors.data());
}

void EmbeddedBroker::clear_request_errors(ApiKey api) {
  rd_kafka_mock_clear_request_errors(cluster_.get(), static_cast<int16_t>(api));
}

void EmbeddedBroker::set_topic_error(const std::string& topic, rd_kafka_resp_err_t err) {
  rd_kafka_mock_topic_set_error(cluster_.get(), topic.c_str(), err);
}

Result<void> EmbeddedBroker::set_group_coordinator(const std::string& group, int32_t broker_id) {
  return check(rd_kafka_mock_coordinator_set(cluster_.get(), "group", group.c_str(), broker_id),
               "set coordinator");
}

Result<void> EmbeddedBroker::set_partition_leader(const std::string& topic, int32_t partition,
                                                  int32_t broker_id) {
  return check(
      rd_kafka_mock_partition_set_leader(cluster_.get(), topic.c_str(), partition, broker_id),
      "set partition leader");
}

}  // namespace tfe::kafka
