// KafkaOutput (producer with commit barrier), LatestScores and KafkaScoreSink.

#include "connectors/kafka_output.h"

#include <chrono>

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

}  // namespace

Result<std::unique_ptr<KafkaOutput>> KafkaOutput::create(const kafka::Properties& properties,
                                                         Histogram* latency) {
  auto out = std::make_unique<KafkaOutput>(Key{});
  KafkaOutput* self = out.get();
  auto producer = kafka::KafkaProducer::create(
      properties, [self](const kafka::DeliveryReport& r) { self->on_delivery(r); });
  if (!producer) return producer.error();
  out->producer_.emplace(std::move(producer).value());
  out->latency_ = latency;
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
  auto r = producer_->produce_wait(m, keep_waiting, 50);
  if (!r) return r;
  // Acknowledgements are served on this thread: during a burst of scores (a tick of every
  // patient) serve them as it goes, so that their latency is observed when they come.
  if (++produced_ % 256 == 0) producer_->poll(0);
  return ok();
}

void KafkaOutput::on_delivery(const kafka::DeliveryReport& report) {
  const int64_t stamp = static_cast<int64_t>(report.opaque & ~kScoreBit);
  if (report.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++failed_;
    if (!failure_) {
      failure_ = kafka::kafka_error(report.err, fmt::format("delivery to '{}'", report.topic));
    }
  } else {
    ++acknowledged_;
    if (latency_ != nullptr && (report.opaque & kScoreBit) != 0) {
      latency_->observe(static_cast<double>(steady_now_ns() - stamp) * 1e-9);
    }
  }
  if (barrier_open_ && barrier_remaining_ > 0 && stamp <= barrier_stamp_) --barrier_remaining_;
}

void KafkaOutput::poll(int timeout_ms) { producer_->poll(timeout_ms); }

Result<void> KafkaOutput::flush(int timeout_ms) {
  auto r = producer_->flush(timeout_ms);
  if (!r) return r;
  if (failure_) return *failure_;
  return ok();
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

void LatestScores::put(std::string_view patient_id, int64_t score_time_ms, std::string_view json) {
  std::lock_guard lock(mutex_);
  auto it = scores_.find(patient_id);
  if (it == scores_.end()) {
    scores_.emplace(std::string(patient_id), Entry{score_time_ms, std::string(json)});
  } else if (it->second.score_time_ms <= score_time_ms) {
    it->second.score_time_ms = score_time_ms;
    it->second.json.assign(json);
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
  std::erase_if(scores_, [&](const auto& kv) { return kv.second.score_time_ms < before_ms; });
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
  for (const ScoreRecord& score : scores) {
    buffer_.clear();
    format_.append(buffer_, score, *registry_);
    const std::string_view patient_id = registry_->id(score.patient);
    if (!error_) {
      auto r = output_.produce(topic_, patient_id, buffer_, {}, true, keep_waiting_);
      if (!r) {
        error_ = r.error();
        spdlog::error("{}", r.error().message);
      }
    }
    if (latest_ != nullptr) latest_->put(patient_id, score.score_time_ms, buffer_);
    ++emitted_;
  }
}

}  // namespace tfe
