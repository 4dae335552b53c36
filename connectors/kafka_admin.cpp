// KafkaAdmin over librdkafka's admin API (CreateTopics, DeleteTopics).

#include "connectors/kafka_admin.h"

#include <array>
#include <chrono>
#include <memory>
#include <utility>

#include <fmt/format.h>

namespace tfe::kafka {
namespace {

struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};
struct DeleteTopicDeleter {
  void operator()(rd_kafka_DeleteTopic_t* t) const { rd_kafka_DeleteTopic_destroy(t); }
};
struct OptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
using OptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter>;

OptionsPtr make_options(rd_kafka_t* rk, rd_kafka_admin_op_t op, int timeout_ms) {
  OptionsPtr options(rd_kafka_AdminOptions_new(rk, op));
  std::array<char, 256> err{};
  rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, err.data(), err.size());
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), timeout_ms, err.data(), err.size());
  return options;
}

// Waits for the admin result event on `queue`; with keep_going, in short steps that notice a stop.
Result<detail::EventPtr> wait_result(rd_kafka_queue_t* queue, int timeout_ms, std::string_view what,
                                     const KeepGoing& keep_going) {
  using Clock = std::chrono::steady_clock;
  constexpr int kStepMs = 100;
  // The request times out on its own after timeout_ms; wait a little longer for its report.
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms + 5000);
  detail::EventPtr event;
  if (!keep_going) {
    event.reset(rd_kafka_queue_poll(queue, timeout_ms + 5000));
  } else {
    while (!event && Clock::now() < deadline) {
      if (!keep_going()) return stopped_error(what);
      event.reset(rd_kafka_queue_poll(queue, kStepMs));
    }
  }
  if (!event) return make_error(Errc::io, fmt::format("kafka: {}: no answer in time", what));
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return kafka_error(rd_kafka_event_error(event.get()), what);
  }
  return event;
}

Result<void> check_topic_results(const rd_kafka_topic_result_t** results, std::size_t n,
                                 rd_kafka_resp_err_t tolerated, std::string_view what) {
  for (std::size_t i = 0; i < n; ++i) {
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == tolerated) continue;
    const char* msg = rd_kafka_topic_result_error_string(results[i]);
    return make_error(
        Errc::io,
        fmt::format("kafka: {} '{}': {} ({})", what, rd_kafka_topic_result_name(results[i]),
                    msg ? msg : rd_kafka_err2str(err), rd_kafka_err2name(err)));
  }
  return ok();
}

}  // namespace

KafkaAdmin::KafkaAdmin(std::unique_ptr<detail::ClientLog> log, detail::HandlePtr rk,
                       detail::QueuePtr queue, KeepGoing keep_going)
    : log_(std::move(log)),
      keep_going_(std::move(keep_going)),
      rk_(std::move(rk)),
      queue_(std::move(queue)) {}
KafkaAdmin::~KafkaAdmin() { queue_.reset(); }
KafkaAdmin::KafkaAdmin(KafkaAdmin&&) noexcept = default;
KafkaAdmin& KafkaAdmin::operator=(KafkaAdmin&& other) noexcept {
  if (this != &other) {
    queue_.reset();
    rk_.reset();
    log_ = std::move(other.log_);
    keep_going_ = std::move(other.keep_going_);
    rk_ = std::move(other.rk_);
    queue_ = std::move(other.queue_);
  }
  return *this;
}

Error KafkaAdmin::with_last_log_error(Error error) const {
  return log_ ? detail::with_last_log_error(std::move(error), *log_) : error;
}

Result<KafkaAdmin> KafkaAdmin::create(const Properties& properties, LogLines lines,
                                      KeepGoing keep_going) {
  auto log = std::make_unique<detail::ClientLog>(lines);
  auto conf = detail::make_conf(properties, log.get());
  if (!conf) return conf.error();
  auto rk = detail::make_handle(RD_KAFKA_PRODUCER, std::move(conf).value());
  if (!rk) return rk.error();
  detail::QueuePtr queue(rd_kafka_queue_new(rk.value().get()));
  return KafkaAdmin(std::move(log), std::move(rk).value(), std::move(queue), std::move(keep_going));
}

Result<void> KafkaAdmin::create_topics(const std::vector<NewTopic>& topics, int timeout_ms) {
  if (topics.empty()) return ok();
  std::vector<std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  std::array<char, 512> err{};
  for (const NewTopic& t : topics) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(t.name.c_str(), t.partitions,
                                                    t.replication_factor, err.data(), err.size());
    if (nt == nullptr) {
      return make_error(Errc::config, fmt::format("kafka: topic '{}': {}", t.name, err.data()));
    }
    owned.emplace_back(nt);
    raw.push_back(nt);
  }
  auto options = make_options(rk_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
  rd_kafka_CreateTopics(rk_.get(), raw.data(), raw.size(), options.get(), queue_.get());
  auto event = wait_result(queue_.get(), timeout_ms, "create topics", keep_going_);
  if (!event) return event.error();
  const auto* result = rd_kafka_event_CreateTopics_result(event.value().get());
  if (result == nullptr) return make_error(Errc::io, "kafka: create topics: unexpected answer");
  std::size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &n);
  return check_topic_results(results, n, RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, "create topic");
}

Result<void> KafkaAdmin::delete_topics(const std::vector<std::string>& topics, int timeout_ms) {
  if (topics.empty()) return ok();
  std::vector<std::unique_ptr<rd_kafka_DeleteTopic_t, DeleteTopicDeleter>> owned;
  std::vector<rd_kafka_DeleteTopic_t*> raw;
  for (const auto& name : topics) {
    owned.emplace_back(rd_kafka_DeleteTopic_new(name.c_str()));
    raw.push_back(owned.back().get());
  }
  auto options = make_options(rk_.get(), RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms);
  rd_kafka_DeleteTopics(rk_.get(), raw.data(), raw.size(), options.get(), queue_.get());
  auto event = wait_result(queue_.get(), timeout_ms, "delete topics", keep_going_);
  if (!event) return event.error();
  const auto* result = rd_kafka_event_DeleteTopics_result(event.value().get());
  if (result == nullptr) return make_error(Errc::io, "kafka: delete topics: unexpected answer");
  std::size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_DeleteTopics_result_topics(result, &n);
  return check_topic_results(results, n, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "delete topic");
}

Result<int32_t> KafkaAdmin::partition_count(const std::string& topic, int timeout_ms) {
  return detail::partition_count(rk_.get(), topic, timeout_ms, keep_going_);
}

}  // namespace tfe::kafka
