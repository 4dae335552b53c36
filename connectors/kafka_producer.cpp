// KafkaProducer over librdkafka's C API.

#include "connectors/kafka_producer.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace tfe::kafka {

struct KafkaProducer::State : detail::ClientLog {
  using ClientLog::ClientLog;
  struct TopicDeleter {
    void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
  };
  DeliveryCallback on_delivery;
  // Topic handles by name, made on first use (a service produces to a handful of topics).
  std::vector<std::pair<std::string, std::unique_ptr<rd_kafka_topic_t, TopicDeleter>>> topics;

  rd_kafka_topic_t* topic(rd_kafka_t* rk, std::string_view name) {
    for (auto& [n, t] : topics) {
      if (n == name) return t.get();
    }
    std::string owned(name);
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk, owned.c_str(), nullptr);
    if (t != nullptr) topics.emplace_back(std::move(owned), t);
    return t;
  }
};

namespace {

void delivery_trampoline(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  // The handle's opaque is the ClientLog base (make_conf).
  auto* state = static_cast<KafkaProducer::State*>(static_cast<detail::ClientLog*>(opaque));
  if (!state->on_delivery) return;
  DeliveryReport report;
  report.err = msg->err;
  report.opaque = reinterpret_cast<uintptr_t>(msg->_private);
  report.topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : std::string_view{};
  report.partition = msg->partition;
  report.offset = msg->offset;
  report.message = msg;
  state->on_delivery(report);
}

}  // namespace

KafkaProducer::KafkaProducer(detail::HandlePtr rk, std::unique_ptr<State> state)
    : state_(std::move(state)), rk_(std::move(rk)) {}
KafkaProducer::~KafkaProducer() {
  // Topic handles go before the client handle.
  if (state_) state_->topics.clear();
}
KafkaProducer::KafkaProducer(KafkaProducer&&) noexcept = default;
KafkaProducer& KafkaProducer::operator=(KafkaProducer&& other) noexcept {
  if (this != &other) {
    // Topic handles, then the client handle, then the state its callbacks and log lines use.
    if (state_) state_->topics.clear();
    rk_.reset();
    state_ = std::move(other.state_);
    rk_ = std::move(other.rk_);
  }
  return *this;
}

Error KafkaProducer::with_last_log_error(Error error) const {
  return state_ ? detail::with_last_log_error(std::move(error), *state_) : error;
}

Result<KafkaProducer> KafkaProducer::create(const Properties& properties,
                                            DeliveryCallback on_delivery, LogLines lines) {
  auto state = std::make_unique<State>(lines);
  state->on_delivery = std::move(on_delivery);
  auto conf = detail::make_conf(properties, state.get());
  if (!conf) return conf.error();
  rd_kafka_conf_set_dr_msg_cb(conf.value().get(), &delivery_trampoline);
  auto rk = detail::make_handle(RD_KAFKA_PRODUCER, std::move(conf).value());
  if (!rk) return rk.error();
  return KafkaProducer(std::move(rk).value(), std::move(state));
}

rd_kafka_resp_err_t KafkaProducer::produce(const Message& m) {
  std::array<rd_kafka_vu_t, 7> vus{};
  std::size_t n = 0;
  rd_kafka_topic_t* rkt = state_->topic(rk_.get(), m.topic);
  if (rkt == nullptr) return rd_kafka_last_error();
  vus[n].vtype = RD_KAFKA_VTYPE_RKT;
  vus[n++].u.rkt = rkt;
  vus[n].vtype = RD_KAFKA_VTYPE_KEY;
  vus[n].u.mem.ptr = const_cast<char*>(m.key.data());
  vus[n++].u.mem.size = m.key.size();
  vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[n].u.mem.ptr = const_cast<char*>(m.value.data());
  vus[n++].u.mem.size = m.value.size();
  vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
  vus[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
  vus[n++].u.i64 = m.timestamp_ms;
  vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vus[n++].u.ptr = reinterpret_cast<void*>(static_cast<uintptr_t>(m.opaque));
  rd_kafka_headers_t* headers = nullptr;
  if (!m.headers.empty()) {
    headers = rd_kafka_headers_new(m.headers.size());
    for (const Header& h : m.headers) {
      rd_kafka_header_add(headers, h.name.data(), static_cast<ssize_t>(h.name.size()),
                          h.value.data(), static_cast<ssize_t>(h.value.size()));
    }
    vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
    vus[n++].u.headers = headers;
  }
  detail::ErrorPtr error(rd_kafka_produceva(rk_.get(), vus.data(), n));
  if (!error) return RD_KAFKA_RESP_ERR_NO_ERROR;
  // On failure the headers object stays ours.
  if (headers != nullptr) rd_kafka_headers_destroy(headers);
  return rd_kafka_error_code(error.get());
}

Result<void> KafkaProducer::produce_wait(const Message& message,
                                         const std::function<bool()>& keep_waiting, int step_ms) {
  for (;;) {
    const rd_kafka_resp_err_t err = produce(message);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return ok();
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return error(err, fmt::format("produce to '{}'", message.topic));
    }
    if (!keep_waiting()) {
      return error(err, fmt::format("produce to '{}' (gave up waiting)", message.topic));
    }
    rd_kafka_poll(rk_.get(), step_ms);
  }
}

Result<void> KafkaProducer::await_topic(const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* rkt = state_->topic(rk_.get(), topic);
  if (rkt == nullptr) return kafka_error(rd_kafka_last_error(), fmt::format("topic '{}'", topic));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    auto leadership = detail::topic_leadership(rk_.get(), rkt, topic,
                                               static_cast<int>(std::max<int64_t>(left, 1)));
    if (leadership && leadership.value().every_partition_led) return ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      if (!leadership) return leadership.error();
      return make_error(Errc::io, fmt::format("kafka: topic '{}' has no leader for every "
                                              "partition after {} ms",
                                              topic, timeout_ms));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int KafkaProducer::poll(int timeout_ms) { return rd_kafka_poll(rk_.get(), timeout_ms); }

Result<void> KafkaProducer::flush(int timeout_ms) {
  const rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return kafka_error(err, fmt::format("flush ({} messages still in flight)", in_flight()));
  }
  return ok();
}

void KafkaProducer::purge() {
  (void)rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                                      RD_KAFKA_PURGE_F_NON_BLOCKING);
}

int KafkaProducer::in_flight() const { return rd_kafka_outq_len(rk_.get()); }

std::size_t KafkaProducer::max_message_bytes() const {
  std::array<char, 32> text{};
  std::size_t size = text.size();
  if (rd_kafka_conf_get(rd_kafka_conf(rk_.get()), "message.max.bytes", text.data(), &size) !=
      RD_KAFKA_CONF_OK) {
    return 1'000'000;  // librdkafka's default
  }
  return static_cast<std::size_t>(std::strtoull(text.data(), nullptr, 10));
}

std::optional<Error> KafkaProducer::fatal_error() const {
  return detail::fatal_error(rk_.get(), "producer");
}

Error KafkaProducer::error(rd_kafka_resp_err_t err, std::string_view context) const {
  if (auto fatal = fatal_error()) return *std::move(fatal);
  return kafka_error(err, context);
}

Error KafkaProducer::delivery_error(const DeliveryReport& report) const {
  Error e = error(report.err, fmt::format("delivery to '{}'", report.topic));
  if (report.err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && !fatal_error()) {
    // The broker checks whole record batches against the topic's limit, and the producer fills
    // them up to its own: with the topic's limit the lower one, records of any size are refused.
    e.message += fmt::format(
        "; the topic's max.message.bytes is below the producer's message.max.bytes ({}): lower "
        "message.max.bytes to the topic's, or raise the topic's",
        max_message_bytes());
  }
  return e;
}

}  // namespace tfe::kafka
