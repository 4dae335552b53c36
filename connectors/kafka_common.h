#pragma once
// Shared pieces of the librdkafka wrappers (kafka_producer.h, kafka_consumer.h, kafka_admin.h,
// embedded_broker.h): client properties, topic-partition values, errors as tfe::Error, and owning
// handles for the C API's objects. Only connectors/ includes librdkafka.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "engine/result.h"

namespace tfe::kafka {

// librdkafka configuration properties, applied in order (later ones win).
using Properties = std::vector<std::pair<std::string, std::string>>;

// Logical offsets (librdkafka's RD_KAFKA_OFFSET_*).
inline constexpr int64_t kOffsetBeginning = RD_KAFKA_OFFSET_BEGINNING;
inline constexpr int64_t kOffsetEnd = RD_KAFKA_OFFSET_END;
inline constexpr int64_t kOffsetStored = RD_KAFKA_OFFSET_STORED;
inline constexpr int64_t kOffsetInvalid = RD_KAFKA_OFFSET_INVALID;

struct TopicPartition {
  TopicPartition() = default;
  TopicPartition(std::string topic_in, int32_t partition_in, int64_t offset_in = kOffsetInvalid,
                 std::string metadata_in = {})
      : topic(std::move(topic_in)),
        partition(partition_in),
        offset(offset_in),
        metadata(std::move(metadata_in)) {}

  std::string topic;
  int32_t partition = 0;
  int64_t offset = kOffsetInvalid;  // meaning depends on the call (position, timestamp, ...)
  std::string metadata;             // commit metadata
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

  friend bool operator==(const TopicPartition& a, const TopicPartition& b) {
    return a.topic == b.topic && a.partition == b.partition;
  }
};
using TopicPartitions = std::vector<TopicPartition>;

// One line: "kafka: <context>: <librdkafka's description> (<error name>)".
Error kafka_error(rd_kafka_resp_err_t err, std::string_view context);
Error kafka_error(const rd_kafka_error_t* err, std::string_view context);

// Asked between the slices of a blocking broker request: false gives the request up (a stop
// request), with the error stopped_error() makes.
using KeepGoing = std::function<bool()>;
Error stopped_error(std::string_view what);

// What becomes of a client's librdkafka log lines. A service prints them to its log; a command
// that ends in one error line keeps back the errors (a broker that refuses connections is
// reported once a second until the command gives up) and names the last one in that line.
enum class LogLines : uint8_t { print, keep_last_error };

namespace detail {

// The log side of a client handle; the handle's opaque points to it (the consumer's and
// producer's callback state derive from it). Thread-safe: librdkafka logs from its own threads.
class ClientLog {
 public:
  explicit ClientLog(LogLines lines = LogLines::print) : lines_(lines) {}
  void line(const rd_kafka_t* rk, int level, const char* facility, const char* message);
  // The last error-level line kept back ("" when none or when lines are printed).
  std::string last_error() const;

 private:
  LogLines lines_;
  mutable std::mutex mutex_;
  std::string last_error_;
};

// `error` with the client's last kept-back librdkafka error appended, when there is one.
Error with_last_log_error(Error error, const ClientLog& log);

// The client's fatal error with librdkafka's reason for it ("kafka: <client> fatal error: <reason>
// (<error name>)"), or nullopt. librdkafka reports it as RD_KAFKA_RESP_ERR__FATAL ("Local: Fatal
// error"), which says nothing of why. `client` names the client ("producer", "consumer").
std::optional<Error> fatal_error(rd_kafka_t* rk, std::string_view client);

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* error) const { rd_kafka_error_destroy(error); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};

using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

// A configuration object with `properties` set; errors name the property. Log lines go to `log`
// (which must outlive the handle), or are printed when it is null.
Result<ConfPtr> make_conf(const Properties& properties, ClientLog* log = nullptr);
// Creates the client handle (takes ownership of `conf` on success and on failure).
Result<HandlePtr> make_handle(rd_kafka_type_t type, ConfPtr conf);

ListPtr to_list(const TopicPartitions& partitions);
TopicPartitions from_list(const rd_kafka_topic_partition_list_t* list);

// Partition count of `topic` from the cluster's metadata; 0 when the topic does not exist. With
// `keep_going`, the request goes in slices (a librdkafka metadata request cannot be interrupted)
// and a stop is noticed between them; a broker too slow for a slice gets twice the time at the
// next. Blocks up to timeout_ms.
Result<int32_t> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms,
                                const KeepGoing& keep_going = {});
// A topic's partition count (0: no such topic) and whether each partition has a leader.
struct TopicLeadership {
  int32_t partitions = 0;
  bool every_partition_led = false;
};
Result<TopicLeadership> topic_leadership(rd_kafka_t* rk, rd_kafka_topic_t* handle,
                                         const std::string& topic, int timeout_ms,
                                         const KeepGoing& keep_going = {});

}  // namespace detail

}  // namespace tfe::kafka
