#pragma once
// KafkaConsumer: one librdkafka consumer handle in a consumer group. Rebalance, commit and error
// callbacks run on the thread that calls poll_batch() or close(), never on librdkafka's threads.
// Single-threaded use.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/kafka_common.h"

namespace tfe::kafka {

struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

inline std::string_view message_topic(const rd_kafka_message_t& m) {
  return m.rkt ? rd_kafka_topic_name(m.rkt) : std::string_view{};
}
inline std::string_view message_key(const rd_kafka_message_t& m) {
  return {static_cast<const char*>(m.key), m.key ? m.key_len : 0};
}
inline std::string_view message_value(const rd_kafka_message_t& m) {
  return {static_cast<const char*>(m.payload), m.payload ? m.len : 0};
}
// The message timestamp in epoch ms, or nullopt when the message has none.
std::optional<int64_t> message_timestamp_ms(const rd_kafka_message_t& m);

enum class RebalanceKind : uint8_t {
  assign,  // partitions added to this member
  revoke,  // partitions taken away in an orderly rebalance (commits still possible)
  lost,    // partitions lost (session timed out, fenced): another member may own them already
};

struct ConsumerCallbacks {
  // Must apply the change with incremental_assign/incremental_unassign (cooperative protocol)
  // or assign/unassign (eager), possibly with a different list. Returns true when it moved the
  // fetch positions of partitions it keeps (a reassignment that seeks them back): messages
  // consumed before it are then read again, and poll_batch() drops them. A cooperative rebalance
  // that leaves this member's assignment as it was must return false, or those messages are
  // lost. Without a callback the wrapper applies the group's list as given.
  std::function<bool(RebalanceKind, const TopicPartitions&)> on_rebalance;
  // Result of an asynchronous commit.
  std::function<void(rd_kafka_resp_err_t, const TopicPartitions&)> on_commit;
  // Client-level errors (all brokers down, transport failures); informational unless fatal.
  std::function<void(rd_kafka_resp_err_t, std::string_view reason, bool fatal)> on_error;
};

class KafkaConsumer {
 public:
  // `properties` must include group.id and bootstrap.servers.
  static Result<KafkaConsumer> create(const Properties& properties, ConsumerCallbacks callbacks,
                                      LogLines lines = LogLines::print);
  // Leaves the group (close()) if not yet done.
  ~KafkaConsumer();
  KafkaConsumer(KafkaConsumer&&) noexcept;
  KafkaConsumer& operator=(KafkaConsumer&&) noexcept;

  Result<void> subscribe(const std::vector<std::string>& topics);
  // `error` with this client's last kept-back librdkafka error appended
  // (LogLines::keep_last_error).
  Error with_last_log_error(Error error) const;

  // Appends up to `max` messages (or events such as partition EOF, with err set) to `out`, waiting
  // up to timeout_ms for the first. Serves rebalance and commit callbacks. Messages consumed in
  // the same call before a rebalance that moved fetch positions are dropped (they belong to the
  // assignment before it and are fetched again), so every returned message was consumed after
  // the last such rebalance. Returns the number appended.
  std::size_t poll_batch(std::vector<MessagePtr>& out, std::size_t max, int timeout_ms);
  // Rebalance callbacks served so far, and those of them that moved fetch positions.
  uint64_t rebalances() const;
  uint64_t rewinds() const;

  // Stops or restarts fetching from assigned partitions (positions are kept).
  Result<void> pause(const TopicPartitions& partitions);
  Result<void> resume(const TopicPartitions& partitions);

  bool cooperative() const;  // the group's current rebalance protocol is COOPERATIVE
  Result<void> incremental_assign(const TopicPartitions& partitions);
  Result<void> incremental_unassign(const TopicPartitions& partitions);
  Result<void> assign(const TopicPartitions& partitions);  // eager: replaces the assignment
  Result<void> unassign();
  Result<TopicPartitions> assignment() const;

  // Committed offsets (and their metadata) of the group; blocks up to timeout_ms.
  Result<TopicPartitions> committed(const TopicPartitions& partitions, int timeout_ms);
  // Commits the given offsets (next offset to read) with their metadata. Synchronous commits
  // block until the coordinator answers; asynchronous ones report through on_commit.
  Result<void> commit(const TopicPartitions& offsets, bool async);
  // Synchronous commit that gives up after timeout_ms (the commit may still land later).
  Result<void> commit_wait(const TopicPartitions& offsets, int timeout_ms);
  // For each partition, the first offset whose timestamp is >= the `offset` field (a timestamp
  // in epoch ms); kOffsetEnd when there is none. Blocks up to timeout_ms.
  Result<TopicPartitions> offsets_for_times(const TopicPartitions& timestamps, int timeout_ms);
  // Moves the fetch position of assigned partitions to their `offset`; blocks up to timeout_ms.
  Result<void> seek(const TopicPartitions& positions, int timeout_ms);
  // Low and high watermarks as last seen by fetches (no broker round trip); nullopt if unknown.
  std::optional<std::pair<int64_t, int64_t>> cached_watermarks(const std::string& topic,
                                                               int32_t partition) const;
  // Low and high watermarks asked of the partition's leader; blocks up to timeout_ms.
  Result<std::pair<int64_t, int64_t>> query_watermarks(const std::string& topic, int32_t partition,
                                                       int timeout_ms);
  // Partition count of a topic (0 when it does not exist).
  Result<int32_t> partition_count(const std::string& topic, int timeout_ms);

  // Leaves the group: revokes the assignment through on_rebalance, then stops. Idempotent. After a
  // fatal error it returns that error and leaves nothing (the group member is fenced or gone);
  // the destructor then does not close either.
  Result<void> close();
  std::optional<Error> fatal_error() const;

  rd_kafka_t* handle() const { return rk_.get(); }

  struct State;  // callback state, defined in the .cpp

 private:
  KafkaConsumer(detail::HandlePtr rk, detail::QueuePtr queue, std::unique_ptr<State> state,
                std::string client_id);
  void destroy();                 // closes (unless after a fatal error) and frees the handle
  std::unique_ptr<State> state_;  // the callbacks' opaque: outlives rk_
  detail::HandlePtr rk_;
  detail::QueuePtr queue_;  // the consumer queue (released before rk_)
  std::string client_id_;
  bool closed_ = false;
};

}  // namespace tfe::kafka
