// KafkaOutput (producer with commit barrier), LatestScores and KafkaScoreSink.

#include "connectors/kafka_output.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace tfe {
namespace {

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The opaque value of a message: its stamp, with the low bit telling scores from dead letters
// (stamps advance in steps of 2).
constexpr uint64_t kScoreBit = 1;

// Acknowledgements come in runs, one callback after another within a poll: reading the clock for
// every one of them cost more than the rest of the acknowledgement. One reading serves a run of
// up to this many (tens of microseconds; the latency histogram's finest bucket is 0.5 ms).
constexpr uint32_t kAcksPerClockRead = 64;

}  // namespace

Result<std::unique_ptr<KafkaOutput>> KafkaOutput::create(const kafka::Properties& properties,
                                                         Histogram* latency) {
  auto out = std::make_unique<KafkaOutput>(Key{});
  KafkaOutput* self = out.get();
  auto producer = kafka::KafkaProducer::create(
      properties, [self](const kafka::DeliveryReport& r) { self->on_delivery(r, false); });
  if (!producer) return producer.error();
  out->producer_.emplace(std::move(producer).value());
  out->properties_ = properties;
  out->latency_ = latency;
  out->acks_per_clock_read_ = kAcksPerClockRead;
  // Made once, not per message: it only runs while the producer's queue is full.
  out->wait_step_ = [self] {
    self->acks_on_clock_ = 0;  // the producer polls next: a fresh reading for its acks
    if ((*self->keep_waiting_now_)()) return true;
    self->gave_up_ = true;
    return false;
  };
  return out;
}

KafkaOutput::~KafkaOutput() = default;

void KafkaOutput::set_batch_time(int64_t now_ns) {
  // Even stamps, strictly increasing.
  const int64_t even = now_ns & ~int64_t{1};
  last_stamp_ = std::max(even, last_stamp_ + 2);
}

Result<void> KafkaOutput::produce(std::string_view topic, std::string_view key,
                                  std::string_view value, std::span<const kafka::Header> headers,
                                  bool is_score, const std::function<bool()>& keep_waiting) {
  const int64_t stamp = last_stamp_;
  last_stamp_ += 2;
  kafka::Message m{topic, key,     value,
                   0,     headers, static_cast<uint64_t>(stamp) | (is_score ? kScoreBit : 0)};
  keep_waiting_now_ = &keep_waiting;
  auto r = producer_->produce_wait(m, wait_step_, 50);
  if (!r) return r;
  // Acknowledgements are served on this thread: during a burst of scores (a tick of every
  // patient) serve them as it goes, so that their latency is observed when they come.
  if (++produced_ % 256 == 0) poll(0);
  return ok();
}

bool KafkaOutput::resend_alone(const kafka::DeliveryReport& report, bool alone) {
  const rd_kafka_message_t* m = report.message;
  if (m == nullptr || (alone && m->len == 0)) return false;
  if (!alone_) {
    kafka::Properties properties = properties_;
    properties.emplace_back("batch.num.messages", "1");
    auto producer = kafka::KafkaProducer::create(
        properties, [this](const kafka::DeliveryReport& r) { on_delivery(r, true); });
    if (!producer) return false;
    alone_.emplace(std::move(producer).value());
  }
  rd_kafka_headers_t* headers = nullptr;
  std::vector<kafka::Header> copied;
  std::string_view source_topic, source_partition, source_offset;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      const std::string_view v(static_cast<const char*>(value), value != nullptr ? size : 0);
      copied.push_back({name, v});
      if (copied.back().name == "source_topic") source_topic = v;
      if (copied.back().name == "source_partition") source_partition = v;
      if (copied.back().name == "source_offset") source_offset = v;
    }
  }
  const std::string_view key(static_cast<const char*>(m->key), m->key != nullptr ? m->key_len : 0);
  const std::string_view value =
      alone ? std::string_view{}
            : std::string_view(static_cast<const char*>(m->payload), m->payload ? m->len : 0);
  // Same opaque (stamp): the commit barrier and the in-flight count follow the new copy.
  const kafka::Message again{report.topic, key, value, 0, copied, report.opaque};
  if (alone_->produce(again) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  if (alone) {
    spdlog::warn(
        "dead letter of {}[{}]@{} refused by '{}' as too large ({} bytes): sent again "
        "without the record",
        source_topic, source_partition, source_offset, report.topic, m->len);
  } else {
    spdlog::debug("dead letter of {}[{}]@{} refused by '{}' in a batch too large: sent again alone",
                  source_topic, source_partition, source_offset, report.topic);
  }
  return true;
}

void KafkaOutput::on_delivery(const kafka::DeliveryReport& report, bool alone) {
  const int64_t stamp = static_cast<int64_t>(report.opaque & ~kScoreBit);
  if (report.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // A dead letter the broker refuses for its size (the topic's max.message.bytes below the
    // producer's message.max.bytes) goes again alone, then, refused alone, without the record,
    // as an oversized record does from the start: refused, it would stop the service, and every
    // restart would meet the same record again.
    if (report.err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && (report.opaque & kScoreBit) == 0 &&
        resend_alone(report, alone)) {
      return;
    }
    ++failed_;
    if (!failure_) {
      failure_ = (alone ? *alone_ : *producer_).delivery_error(report);
    }
  } else {
    ++acknowledged_;
    if (latency_ != nullptr && (report.opaque & kScoreBit) != 0) {
      if (acks_on_clock_++ % acks_per_clock_read_ == 0) clock_ns_ = steady_now_ns();
      latency_->observe(static_cast<double>(clock_ns_ - stamp) * 1e-9);
    }
  }
  if (barrier_open_ && barrier_remaining_ > 0 && stamp <= barrier_stamp_) --barrier_remaining_;
}

void KafkaOutput::poll(int timeout_ms) {
  acks_on_clock_ = 0;
  producer_->poll(timeout_ms);
  if (alone_) alone_->poll(0);
  // Raised on librdkafka's threads, possibly with nothing in flight that would fail and say so.
  if (!failure_) failure_ = fatal_error();
}

std::optional<Error> KafkaOutput::fatal_error() const {
  if (auto e = producer_->fatal_error()) return e;
  return alone_ ? alone_->fatal_error() : std::nullopt;
}

Result<void> KafkaOutput::flush(int timeout_ms) {
  // A flush polls many times inside: every acknowledgement reads the clock.
  acks_on_clock_ = 0;
  const uint32_t saved = std::exchange(acks_per_clock_read_, 1);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
  auto r = producer_->flush(timeout_ms);
  // A refusal served by that flush may have queued records on alone_, and a refusal there more
  // on it: both are flushed within the one timeout.
  while (r && alone_ && alone_->in_flight() > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    r = alone_->flush(static_cast<int>(std::max<int64_t>(left, 0)));
  }
  acks_per_clock_read_ = saved;
  if (!failure_) failure_ = fatal_error();
  if (failure_) return *failure_;
  return r;
}

void KafkaOutput::begin_barrier() {
  barrier_open_ = true;
  barrier_stamp_ = last_stamp_ - 2;  // the last stamp handed out
  barrier_remaining_ = in_flight();
}

bool KafkaOutput::barrier_reached() {
  if (!barrier_open_) return false;
  if (barrier_remaining_ > 0 || failure_) return false;
  barrier_open_ = false;
  return true;
}

// ---- LatestScores ------------------------------------------------------------------------------

void LatestScores::put(std::span<const ScoreRecord> scores, std::span<const std::string_view> jsons,
                       const PatientRegistry& registry) {
  std::lock_guard lock(mutex_);
  if (indexed_registry_ != &registry) {
    by_index_.clear();
    indexed_registry_ = &registry;
  }
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const ScoreRecord& score = scores[i];
    const std::string_view patient_id = registry.id(score.patient);
    if (score.patient >= by_index_.size()) by_index_.resize(score.patient + 1, nullptr);
    Map::value_type*& node = by_index_[score.patient];
    if (node == nullptr || node->first != patient_id) {
      auto it = scores_.find(patient_id);
      if (it == scores_.end()) {
        it = scores_.emplace(std::string(patient_id), Entry{score.score_time_ms, {}}).first;
      }
      node = &*it;
    }
    Entry& entry = node->second;
    if (entry.score_time_ms <= score.score_time_ms) {
      entry.score_time_ms = score.score_time_ms;
      entry.json.assign(jsons[i]);
    }
  }
}

std::optional<std::string> LatestScores::get(std::string_view patient_id) const {
  std::lock_guard lock(mutex_);
  const auto it = scores_.find(patient_id);
  if (it == scores_.end()) return std::nullopt;
  return it->second.json;
}

void LatestScores::prune(int64_t before_ms) {
  std::lock_guard lock(mutex_);
  const auto erased =
      std::erase_if(scores_, [&](const auto& kv) { return kv.second.score_time_ms < before_ms; });
  if (erased > 0) by_index_.clear();  // some point at erased nodes; the others stay valid
}

void LatestScores::clear() {
  std::lock_guard lock(mutex_);
  scores_.clear();
  by_index_.clear();
}

std::size_t LatestScores::size() const {
  std::lock_guard lock(mutex_);
  return scores_.size();
}

// ---- KafkaScoreSink ----------------------------------------------------------------------------

KafkaScoreSink::KafkaScoreSink(KafkaOutput& output, std::string topic, ScoreJsonFormat format,
                               LatestScores* latest, std::function<bool()> keep_waiting)
    : output_(output),
      topic_(std::move(topic)),
      format_(std::move(format)),
      latest_(latest),
      keep_waiting_(std::move(keep_waiting)) {}

void KafkaScoreSink::emit(std::span<const ScoreRecord> scores) {
  buffer_.clear();
  ends_.clear();
  for (const ScoreRecord& score : scores) {
    const std::size_t begin = buffer_.size();
    format_.append(buffer_, score, *registry_);
    ends_.push_back(buffer_.size());
    if (!error_ && !output_.gave_up()) {
      auto r = output_.produce(topic_, registry_->id(score.patient),
                               std::string_view(buffer_).substr(begin), {}, true, keep_waiting_);
      if (r) {
        ++emitted_;
      } else if (!output_.gave_up()) {
        error_ = r.error();  // the service stops with it (and logs it then)
      }
    }
  }
  if (latest_ == nullptr) return;
  jsons_.clear();
  std::size_t begin = 0;
  for (const std::size_t end : ends_) {
    jsons_.emplace_back(std::string_view(buffer_).substr(begin, end - begin));
    begin = end;
  }
  latest_->put(scores, jsons_, *registry_);
}

}  // namespace tfe
