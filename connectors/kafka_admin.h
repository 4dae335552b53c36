#pragma once
// KafkaAdmin: topic administration on a real cluster (the embedded broker creates its topics
// through EmbeddedBroker instead: librdkafka's mock cluster has no admin API).

#include <cstdint>
#include <string>
#include <vector>

#include "connectors/kafka_common.h"

namespace tfe::kafka {

struct NewTopic {
  std::string name;
  int32_t partitions = 1;
  int16_t replication_factor = 1;
};

class KafkaAdmin {
 public:
  // `properties`: bootstrap.servers and any client settings (security, timeouts). With
  // `keep_going`, the blocking requests below notice a stop (keep_going() false) within a fraction
  // of a second and give up with stopped_error().
  static Result<KafkaAdmin> create(const Properties& properties, LogLines lines = LogLines::print,
                                   KeepGoing keep_going = {});
  ~KafkaAdmin();
  KafkaAdmin(KafkaAdmin&&) noexcept;
  KafkaAdmin& operator=(KafkaAdmin&&) noexcept;

  // Creates the topics that do not exist yet (an existing topic is not an error, whatever its
  // partition count: check it with partition_count). Blocks up to timeout_ms.
  Result<void> create_topics(const std::vector<NewTopic>& topics, int timeout_ms);
  // Deletes topics (a missing one is not an error). Blocks up to timeout_ms.
  Result<void> delete_topics(const std::vector<std::string>& topics, int timeout_ms);
  // Partition count of a topic; 0 when it does not exist.
  Result<int32_t> partition_count(const std::string& topic, int timeout_ms);
  // `error` with this client's last kept-back librdkafka error appended
  // (LogLines::keep_last_error).
  Error with_last_log_error(Error error) const;

 private:
  KafkaAdmin(std::unique_ptr<detail::ClientLog> log, detail::HandlePtr rk, detail::QueuePtr queue,
             KeepGoing keep_going);
  std::unique_ptr<detail::ClientLog> log_;  // the handle's opaque: outlives rk_
  KeepGoing keep_going_;
  detail::HandlePtr rk_;
  detail::QueuePtr queue_;  // admin results (released before rk_)
};

}  // namespace tfe::kafka
