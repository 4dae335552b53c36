#pragma once
// EmbeddedBroker: librdkafka's mock cluster inside this process (`brokers = "embedded"`), so that
// `tfe serve` runs with no broker installed, and the fault injection the tests use (brokers down
// and up, request errors, coordinator and leader moves, round-trip delays).
//
// The mock cluster is marked experimental by librdkafka (no ABI promise): this class is the only
// code that touches it. It serves Produce, Fetch, ListOffsets, Metadata, OffsetCommit/Fetch,
// consumer groups and InitProducerId on real 127.0.0.1 TCP ports, so other processes can connect
// to bootstrap_servers() too. It has no admin API: topics are created here.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "connectors/kafka_common.h"

struct rd_kafka_mock_cluster_s;

namespace tfe::kafka {

// Kafka protocol API keys used for request-error injection.
enum class ApiKey : int16_t {
  produce = 0,
  fetch = 1,
  list_offsets = 2,
  metadata = 3,
  offset_commit = 8,
  offset_fetch = 9,
  find_coordinator = 10,
  join_group = 11,
  heartbeat = 12,
  leave_group = 13,
  sync_group = 14,
  init_producer_id = 22,
};

class EmbeddedBroker {
 public:
  // Starts a cluster of `brokers` brokers (ids 1..brokers) on ephemeral 127.0.0.1 ports.
  static Result<std::unique_ptr<EmbeddedBroker>> start(int brokers = 1);

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  explicit EmbeddedBroker(Key) {}  // made by start() only
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:port,..." for bootstrap.servers.
  const std::string& bootstrap_servers() const { return bootstraps_; }
  int broker_count() const { return brokers_; }

  // Creates a topic (an existing one is not an error).
  Result<void> create_topic(const std::string& name, int32_t partitions,
                            int16_t replication_factor = 1);

  // ---- fault injection ----
  // A down broker closes its connections and refuses new ones until set up again.
  Result<void> set_broker_down(int32_t broker_id);
  Result<void> set_broker_up(int32_t broker_id);
  // Delays every response of a broker by rtt_ms.
  Result<void> set_broker_rtt(int32_t broker_id, int rtt_ms);
  // The next errors.size() requests of `api` (to any broker) fail with these errors, in order.
  void push_request_errors(ApiKey api, const std::vector<rd_kafka_resp_err_t>& errors);
  void clear_request_errors(ApiKey api);
  // Metadata answers for `topic` carry `err` (RD_KAFKA_RESP_ERR_NO_ERROR clears it):
  // RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART makes a topic look missing.
  void set_topic_error(const std::string& topic, rd_kafka_resp_err_t err);
  // Moves the group coordinator of `group` to `broker_id`.
  Result<void> set_group_coordinator(const std::string& group, int32_t broker_id);
  // Moves the leader of a partition to `broker_id` (-1: no leader).
  Result<void> set_partition_leader(const std::string& topic, int32_t partition, int32_t broker_id);

 private:
  struct ClusterDeleter {
    void operator()(rd_kafka_mock_cluster_s* cluster) const;
  };
  detail::HandlePtr host_;  // the client handle whose threads run the cluster
  std::unique_ptr<rd_kafka_mock_cluster_s, ClusterDeleter> cluster_;  // destroyed before host_
  std::string bootstraps_;
  int brokers_ = 0;
};

}  // namespace tfe::kafka
