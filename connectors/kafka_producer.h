#pragma once
// KafkaProducer: one librdkafka producer handle. Messages are copied on produce; delivery reports
// come back through the DeliveryCallback from poll() and flush(), on the caller's thread.
// Single-threaded use: one thread produces and polls.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "connectors/kafka_common.h"

namespace tfe::kafka {

struct DeliveryReport {
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  uint64_t opaque = 0;  // the value given to produce()
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;
  // The message as librdkafka reports it (key, value, headers): valid during the callback only.
  const rd_kafka_message_t* message = nullptr;
};
using DeliveryCallback = std::function<void(const DeliveryReport&)>;

struct Header {
  std::string_view name;
  std::string_view value;
};

struct Message {
  std::string_view topic;
  std::string_view key;
  std::string_view value;
  int64_t timestamp_ms = 0;  // message timestamp (CreateTime); 0: now
  std::span<const Header> headers;
  uint64_t opaque = 0;  // handed back in the delivery report
};

class KafkaProducer {
 public:
  // `properties` are librdkafka's (bootstrap.servers, enable.idempotence, acks, linger.ms, ...).
  static Result<KafkaProducer> create(const Properties& properties, DeliveryCallback on_delivery,
                                      LogLines lines = LogLines::print);
  ~KafkaProducer();
  KafkaProducer(KafkaProducer&&) noexcept;
  KafkaProducer& operator=(KafkaProducer&&) noexcept;

  // Enqueues one message. Does not block: when the local queue is full it returns
  // RD_KAFKA_RESP_ERR__QUEUE_FULL and the caller polls and retries (produce_wait does that).
  rd_kafka_resp_err_t produce(const Message& message);
  // produce() that, while the queue is full, serves delivery reports in steps of `step_ms` until
  // `keep_waiting()` returns false. Errors other than a full queue return at once (see error()).
  Result<void> produce_wait(const Message& message, const std::function<bool()>& keep_waiting,
                            int step_ms = 100);

  // Serves delivery reports; waits up to timeout_ms for the first. Returns the number served.
  // Waits, up to timeout_ms, until the producer knows a leader for every partition of `topic`:
  // its first messages then go out at once instead of waiting for metadata (and, on a topic
  // just created, for its partitions to get leaders).
  Result<void> await_topic(const std::string& topic, int timeout_ms);
  int poll(int timeout_ms);
  // Waits up to timeout_ms for every queued message to be delivered (or fail).
  Result<void> flush(int timeout_ms);
  // Gives up every message not yet acknowledged, without waiting: each is reported (by the next
  // poll or flush) as failed with RD_KAFKA_RESP_ERR__PURGE_QUEUE (never sent) or
  // RD_KAFKA_RESP_ERR__PURGE_INFLIGHT (sent and unanswered: the broker may have written it).
  void purge();
  // Messages produced and not yet reported.
  int in_flight() const;
  // The largest message this producer sends (`message.max.bytes`: key, value and headers, plus
  // a little framing); a larger one is refused at produce().
  std::size_t max_message_bytes() const;
  // A fatal error (idempotence guarantees broken, no permission to produce idempotently): the
  // producer cannot go on. librdkafka raises it on its own threads, possibly while nothing is
  // being produced: owners check it as they poll.
  std::optional<Error> fatal_error() const;
  // The error of a produce() that failed with `err`: the fatal error when there is one (the
  // producer then refuses messages and purges its queue with local errors that do not say why),
  // else kafka_error(err, context).
  Error error(rd_kafka_resp_err_t err, std::string_view context) const;
  // The same for a failed delivery ("delivery to '<topic>'"), saying what to do when the broker
  // refused it as too large.
  Error delivery_error(const DeliveryReport& report) const;
  // `error` with this client's last kept-back librdkafka error appended
  // (LogLines::keep_last_error).
  Error with_last_log_error(Error error) const;

  rd_kafka_t* handle() const { return rk_.get(); }

  struct State;  // callback state, defined in the .cpp

 private:
  KafkaProducer(detail::HandlePtr rk, std::unique_ptr<State> state);
  std::unique_ptr<State> state_;  // outlives rk_ (destroyed after it): the callback's opaque
  detail::HandlePtr rk_;
};

}  // namespace tfe::kafka
