// KafkaConsumer over librdkafka's C API.

#include "connectors/kafka_consumer.h"

#include <cstring>

#include <fmt/format.h>

namespace tfe::kafka {

struct KafkaConsumer::State : detail::ClientLog {
  using ClientLog::ClientLog;
  // The handle's opaque is the ClientLog base (make_conf); callbacks come back to the state.
  static State* of(void* opaque) {
    return static_cast<State*>(static_cast<detail::ClientLog*>(opaque));
  }
  ConsumerCallbacks callbacks;
  uint64_t rebalances = 0;  // rebalance callbacks served so far
  uint64_t rewinds = 0;     // of them, those that moved fetch positions
};

namespace {

// Applies the group's own list when the application gave no rebalance callback. Returns whether
// positions moved: an eager assignment starts every partition again from its committed offset,
// an incremental one leaves the partitions kept where they were.
bool apply_default(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                   rd_kafka_topic_partition_list_t* partitions) {
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (cooperative) {
      detail::ErrorPtr(rd_kafka_incremental_assign(rk, partitions));
    } else {
      rd_kafka_assign(rk, partitions);
    }
  } else if (cooperative) {
    detail::ErrorPtr(rd_kafka_incremental_unassign(rk, partitions));
  } else {
    rd_kafka_assign(rk, nullptr);
  }
  return !cooperative;
}

void rebalance_trampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* state = KafkaConsumer::State::of(opaque);
  ++state->rebalances;
  if (!state->callbacks.on_rebalance || (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS &&
                                         err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)) {
    if (apply_default(rk, err, partitions)) ++state->rewinds;
    return;
  }
  RebalanceKind kind = RebalanceKind::assign;
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    kind = rd_kafka_assignment_lost(rk) ? RebalanceKind::lost : RebalanceKind::revoke;
  }
  if (state->callbacks.on_rebalance(kind, detail::from_list(partitions))) ++state->rewinds;
}

void commit_trampoline(rd_kafka_t*, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  auto* state = KafkaConsumer::State::of(opaque);
  if (state->callbacks.on_commit) state->callbacks.on_commit(err, detail::from_list(offsets));
}

void error_trampoline(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* state = KafkaConsumer::State::of(opaque);
  if (!state->callbacks.on_error) return;
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    // "Local: Fatal error" says nothing of why: the fatal error itself does.
    if (auto fatal = detail::fatal_error(rk, "consumer")) {
      state->callbacks.on_error(code, fatal->message, true);
      return;
    }
  }
  state->callbacks.on_error(code, reason ? reason : "", code == RD_KAFKA_RESP_ERR__FATAL);
}

Result<void> check(rd_kafka_error_t* raw, std::string_view context) {
  detail::ErrorPtr error(raw);
  if (error) return kafka_error(error.get(), context);
  return ok();
}

Result<void> check(rd_kafka_resp_err_t err, std::string_view context) {
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_error(err, context);
  return ok();
}

}  // namespace

std::optional<int64_t> message_timestamp_ms(const rd_kafka_message_t& m) {
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const int64_t ts = rd_kafka_message_timestamp(&m, &type);
  if (type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0) return std::nullopt;
  return ts;
}

KafkaConsumer::KafkaConsumer(detail::HandlePtr rk, detail::QueuePtr queue,
                             std::unique_ptr<State> state, std::string client_id)
    : state_(std::move(state)),
      rk_(std::move(rk)),
      queue_(std::move(queue)),
      client_id_(std::move(client_id)) {}

KafkaConsumer::~KafkaConsumer() { destroy(); }

void KafkaConsumer::destroy() {
  if (!rk_) return;
  if (fatal_error()) {
    // librdkafka 2.0.2 never finishes destroying a consumer after a fatal error (its main thread
    // spins, with or without the consumer close): the handle, and the state its threads use, are
    // left to the exit of the process, which a fatal error brings about.
    queue_.reset();
    (void)rk_.release();
    (void)state_.release();
    return;
  }
  if (!closed_) (void)close();
  queue_.reset();
  rk_.reset();
}
KafkaConsumer::KafkaConsumer(KafkaConsumer&&) noexcept = default;
KafkaConsumer& KafkaConsumer::operator=(KafkaConsumer&& other) noexcept {
  if (this != &other) {
    destroy();
    state_ = std::move(other.state_);
    rk_ = std::move(other.rk_);
    queue_ = std::move(other.queue_);
    client_id_ = std::move(other.client_id_);
    closed_ = other.closed_;
  }
  return *this;
}

Error KafkaConsumer::with_last_log_error(Error error) const {
  return state_ ? detail::with_last_log_error(std::move(error), *state_) : error;
}

Result<KafkaConsumer> KafkaConsumer::create(const Properties& properties,
                                            ConsumerCallbacks callbacks, LogLines lines) {
  auto state = std::make_unique<State>(lines);
  state->callbacks = std::move(callbacks);
  auto conf = detail::make_conf(properties, state.get());
  if (!conf) return conf.error();
  rd_kafka_conf_set_rebalance_cb(conf.value().get(), &rebalance_trampoline);
  rd_kafka_conf_set_offset_commit_cb(conf.value().get(), &commit_trampoline);
  rd_kafka_conf_set_error_cb(conf.value().get(), &error_trampoline);
  std::string client_id;
  for (const auto& [key, value] : properties) {
    if (key == "client.id") client_id = value;
  }
  auto rk = detail::make_handle(RD_KAFKA_CONSUMER, std::move(conf).value());
  if (!rk) return rk.error();
  // One queue for messages, rebalances, commits and errors: all served by poll_batch().
  rd_kafka_poll_set_consumer(rk.value().get());
  detail::QueuePtr queue(rd_kafka_queue_get_consumer(rk.value().get()));
  return KafkaConsumer(std::move(rk).value(), std::move(queue), std::move(state),
                       std::move(client_id));
}

Result<void> KafkaConsumer::subscribe(const std::vector<std::string>& topics) {
  detail::ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const auto& t : topics) {
    rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  return check(rd_kafka_subscribe(rk_.get(), list.get()), "subscribe");
}

std::size_t KafkaConsumer::poll_batch(std::vector<MessagePtr>& out, std::size_t max,
                                      int timeout_ms) {
  // One message per call, so that a rebalance served in between is seen at its exact place: when
  // it moved fetch positions, what was consumed before it is fetched again and is dropped here.
  const std::size_t start = out.size();
  for (std::size_t i = 0; i < max; ++i) {
    const uint64_t before = state_->rewinds;
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), i == 0 ? timeout_ms : 0);
    if (state_->rewinds != before) out.resize(start);
    if (m == nullptr) break;
    out.emplace_back(m);
  }
  return out.size() - start;
}

Result<void> KafkaConsumer::pause(const TopicPartitions& partitions) {
  if (partitions.empty()) return ok();
  auto list = detail::to_list(partitions);
  return check(rd_kafka_pause_partitions(rk_.get(), list.get()), "pause");
}

Result<void> KafkaConsumer::resume(const TopicPartitions& partitions) {
  if (partitions.empty()) return ok();
  auto list = detail::to_list(partitions);
  return check(rd_kafka_resume_partitions(rk_.get(), list.get()), "resume");
}

uint64_t KafkaConsumer::rebalances() const { return state_->rebalances; }
uint64_t KafkaConsumer::rewinds() const { return state_->rewinds; }

bool KafkaConsumer::cooperative() const {
  return std::strcmp(rd_kafka_rebalance_protocol(rk_.get()), "COOPERATIVE") == 0;
}

Result<void> KafkaConsumer::incremental_assign(const TopicPartitions& partitions) {
  auto list = detail::to_list(partitions);
  return check(rd_kafka_incremental_assign(rk_.get(), list.get()), "incremental assign");
}

Result<void> KafkaConsumer::incremental_unassign(const TopicPartitions& partitions) {
  auto list = detail::to_list(partitions);
  return check(rd_kafka_incremental_unassign(rk_.get(), list.get()), "incremental unassign");
}

Result<void> KafkaConsumer::assign(const TopicPartitions& partitions) {
  auto list = detail::to_list(partitions);
  return check(rd_kafka_assign(rk_.get(), list.get()), "assign");
}

Result<void> KafkaConsumer::unassign() {
  return check(rd_kafka_assign(rk_.get(), nullptr), "unassign");
}

Result<TopicPartitions> KafkaConsumer::assignment() const {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_assignment(rk_.get(), &raw);
  detail::ListPtr list(raw);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_error(err, "assignment");
  return detail::from_list(list.get());
}

Result<TopicPartitions> KafkaConsumer::committed(const TopicPartitions& partitions,
                                                 int timeout_ms) {
  auto list = detail::to_list(partitions);
  auto r = check(rd_kafka_committed(rk_.get(), list.get(), timeout_ms), "committed offsets");
  if (!r) return r.error();
  return detail::from_list(list.get());
}

Result<void> KafkaConsumer::commit(const TopicPartitions& offsets, bool async) {
  if (offsets.empty()) return ok();
  auto list = detail::to_list(offsets);
  return check(rd_kafka_commit(rk_.get(), list.get(), async ? 1 : 0), "commit");
}

Result<void> KafkaConsumer::commit_wait(const TopicPartitions& offsets, int timeout_ms) {
  if (offsets.empty()) return ok();
  auto list = detail::to_list(offsets);
  detail::QueuePtr queue(rd_kafka_queue_new(rk_.get()));
  auto r =
      check(rd_kafka_commit_queue(rk_.get(), list.get(), queue.get(), nullptr, nullptr), "commit");
  if (!r) return r;
  detail::EventPtr event(rd_kafka_queue_poll(queue.get(), timeout_ms));
  if (!event)
    return make_error(Errc::io, fmt::format("kafka: commit: no answer within {} ms", timeout_ms));
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return kafka_error(rd_kafka_event_error(event.get()), "commit");
  }
  const rd_kafka_topic_partition_list_t* done = rd_kafka_event_topic_partition_list(event.get());
  for (int i = 0; done != nullptr && i < done->cnt; ++i) {
    if (done->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return kafka_error(done->elems[i].err, fmt::format("commit {}[{}]", done->elems[i].topic,
                                                         done->elems[i].partition));
    }
  }
  return ok();
}

Result<TopicPartitions> KafkaConsumer::offsets_for_times(const TopicPartitions& timestamps,
                                                         int timeout_ms) {
  if (timestamps.empty()) return TopicPartitions{};
  auto list = detail::to_list(timestamps);
  auto r =
      check(rd_kafka_offsets_for_times(rk_.get(), list.get(), timeout_ms), "offsets for times");
  if (!r) return r.error();
  return detail::from_list(list.get());
}

Result<void> KafkaConsumer::seek(const TopicPartitions& positions, int timeout_ms) {
  if (positions.empty()) return ok();
  auto list = detail::to_list(positions);
  auto r = check(rd_kafka_seek_partitions(rk_.get(), list.get(), timeout_ms), "seek");
  if (!r) return r;
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return kafka_error(list->elems[i].err, fmt::format("seek {}[{}]", list->elems[i].topic,
                                                         list->elems[i].partition));
    }
  }
  return ok();
}

std::optional<std::pair<int64_t, int64_t>> KafkaConsumer::cached_watermarks(
    const std::string& topic, int32_t partition) const {
  int64_t low = -1, high = -1;
  if (rd_kafka_get_watermark_offsets(rk_.get(), topic.c_str(), partition, &low, &high) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      high < 0) {
    return std::nullopt;
  }
  return std::make_pair(low, high);
}

Result<std::pair<int64_t, int64_t>> KafkaConsumer::query_watermarks(const std::string& topic,
                                                                    int32_t partition,
                                                                    int timeout_ms) {
  int64_t low = -1, high = -1;
  auto r = check(rd_kafka_query_watermark_offsets(rk_.get(), topic.c_str(), partition, &low, &high,
                                                  timeout_ms),
                 "watermarks of " + topic + "[" + std::to_string(partition) + "]");
  if (!r) return r.error();
  return std::make_pair(low, high);
}

Result<int32_t> KafkaConsumer::partition_count(const std::string& topic, int timeout_ms) {
  return detail::partition_count(rk_.get(), topic, timeout_ms);
}

Result<void> KafkaConsumer::close() {
  if (closed_ || !rk_) return ok();
  closed_ = true;
  // Closing leaves the group, which a consumer after a fatal error cannot do: it waited for ever.
  if (auto fatal = fatal_error()) return *std::move(fatal);
  return check(rd_kafka_consumer_close(rk_.get()), "close consumer");
}

std::optional<Error> KafkaConsumer::fatal_error() const {
  return detail::fatal_error(rk_.get(), "consumer");
}

}  // namespace tfe::kafka
