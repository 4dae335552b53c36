#pragma once
// The service's output side: one idempotent producer for scores and dead letters, with the
// commit barrier that keeps "offset committed" behind "score acknowledged", and the ScoreSink that
// turns engine scores into score-topic messages (key = patient_id, value = the score JSON).
//
// Commit barrier: every message carries a stamp (strictly increasing, nanoseconds of the steady
// clock at the time its source batch was consumed). begin_barrier() takes the number of messages
// in flight; each acknowledgement of a message stamped before the barrier counts it down, and the
// barrier holds once all of them are acknowledged. Offsets snapshotted at begin_barrier() are
// committed only then, so a committed offset never runs ahead of an undelivered score.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "connectors/kafka_producer.h"
#include "connectors/score_json.h"
#include "engine/metrics.h"
#include "engine/patient_registry.h"
#include "engine/score.h"

namespace tfe {

class KafkaOutput {
 public:
  // `latency` observes, per acknowledged score, seconds from its stamp to the acknowledgement.
  static Result<std::unique_ptr<KafkaOutput>> create(const kafka::Properties& properties,
                                                     Histogram* latency);
  ~KafkaOutput();

  // The stamp of messages produced from now on: `now_ns` of the batch being processed (kept
  // strictly increasing).
  void set_batch_time(int64_t now_ns);
  // Produces one message (key/value copied), waiting while the local queue is full as long as
  // keep_waiting() is true; when it turns false first, the message is not produced, the call
  // fails and gave_up() is true from then on. Score messages count towards the latency histogram.
  Result<void> produce(std::string_view topic, std::string_view key, std::string_view value,
                       std::span<const kafka::Header> headers, bool is_score,
                       const std::function<bool()>& keep_waiting);

  // See KafkaProducer::max_message_bytes.
  std::size_t max_message_bytes() const { return producer_->max_message_bytes(); }
  // See KafkaProducer::await_topic.
  Result<void> await_topic(const std::string& topic, int timeout_ms) {
    return producer_->await_topic(topic, timeout_ms);
  }
  // Serves acknowledgements without blocking (or up to timeout_ms for the first), and notices a
  // fatal error of the producer (failure()).
  void poll(int timeout_ms = 0);
  // Waits up to timeout_ms for every message in flight to be acknowledged.
  Result<void> flush(int timeout_ms);

  // Starts a barrier over the messages now in flight, replacing one still open (a snapshot given
  // up, as on a rebalance, must not let the next one through before its own scores are
  // acknowledged).
  void begin_barrier();
  bool barrier_open() const { return barrier_open_; }
  // True once every message in flight at begin_barrier() is acknowledged (closes the barrier).
  bool barrier_reached();

  // The first delivery failure or the producer's fatal error, if any: the service must stop
  // without committing further.
  const std::optional<Error>& failure() const { return failure_; }
  // A produce() was given up while the queue was full (keep_waiting() turned false): a message
  // the offsets applied so far rely on was never produced, so they must not be committed.
  bool gave_up() const { return gave_up_; }
  uint64_t acknowledged() const { return acknowledged_; }
  uint64_t in_flight() const { return produced_ - acknowledged_ - failed_; }

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  explicit KafkaOutput(Key) {}  // made by create() only
  KafkaOutput(const KafkaOutput&) = delete;
  KafkaOutput& operator=(const KafkaOutput&) = delete;

 private:
  // `alone`: the report comes from alone_ (the record was refused in a batch of its own).
  void on_delivery(const kafka::DeliveryReport& report, bool alone);
  // Produces a dead letter the broker refused for its size again through alone_, each record in
  // a batch of its own: intact when producer_ sent it (its batch may have held others, and the
  // batch, not the record, been too large), else without its value (headers and key kept). False
  // when it cannot be queued, or was refused alone without a value: a real failure.
  bool resend_alone(const kafka::DeliveryReport& report, bool alone);
  // The fatal error of either producer.
  std::optional<Error> fatal_error() const;

  kafka::Properties properties_;  // what alone_ is made with, when first needed
  std::optional<kafka::KafkaProducer> producer_;
  // A producer that puts each record in a batch of its own (batch.num.messages=1), made at the
  // first dead letter refused as too large: the broker checks whole batches against the topic's
  // max.message.bytes, so only a record refused alone is too large by itself.
  std::optional<kafka::KafkaProducer> alone_;
  Histogram* latency_ = nullptr;
  int64_t last_stamp_ = 0;
  uint64_t produced_ = 0;
  uint64_t acknowledged_ = 0;
  uint64_t failed_ = 0;
  bool barrier_open_ = false;
  int64_t barrier_stamp_ = 0;
  uint64_t barrier_remaining_ = 0;
  std::optional<Error> failure_;
  bool gave_up_ = false;
  // The clock reading shared by a run of acknowledgements (see on_delivery).
  int64_t clock_ns_ = 0;
  uint32_t acks_on_clock_ = 0;
  uint32_t acks_per_clock_read_ = 1;
  // What produce_wait() calls before each poll while the queue is full: restarts the clock
  // reading, then asks the caller's keep_waiting (of the produce() in progress).
  std::function<bool()> wait_step_;
  const std::function<bool()>* keep_waiting_now_ = nullptr;
};

// The latest score JSON of each patient, for GET /v1/patients/{id}/score. Written by the engine
// thread, read by the HTTP thread.
class LatestScores {
 public:
  // The scores of one emitted batch (jsons[i] is scores[i] formatted), under one lock. Patients
  // are found by their index in `registry` first, by id only the first time (or after a prune or
  // a new registry), so a score costs no hashing.
  void put(std::span<const ScoreRecord> scores, std::span<const std::string_view> jsons,
           const PatientRegistry& registry);
  std::optional<std::string> get(std::string_view patient_id) const;
  // Drops patients whose latest score is older than `before_ms`.
  void prune(int64_t before_ms);
  // Drops every patient (the instance's partitions changed).
  void clear();
  std::size_t size() const;

 private:
  struct Entry {
    int64_t score_time_ms;
    std::string json;
  };
  // Looked up by string_view: no key copy per score.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, Entry, Hash, std::equal_to<>>;
  mutable std::mutex mutex_;
  Map scores_;
  // Map nodes by patient index of the registry last written with (nodes never move; a node's
  // key is checked before use, so a stale or reused index can never write another patient).
  std::vector<Map::value_type*> by_index_;
  const PatientRegistry* indexed_registry_ = nullptr;
};

class KafkaScoreSink final : public ScoreSink {
 public:
  // output, latest and keep_waiting must outlive the sink; the registry is set per pipeline.
  KafkaScoreSink(KafkaOutput& output, std::string topic, ScoreJsonFormat format,
                 LatestScores* latest, std::function<bool()> keep_waiting);
  void set_registry(const PatientRegistry* registry) { registry_ = registry; }

  // Produces every score, waiting while the producer's queue is full as long as keep_waiting()
  // is true (then the output has given up, and the batch's other scores are not produced
  // either). A produce error is kept and reported by error(); the service then stops without
  // committing.
  void emit(std::span<const ScoreRecord> scores) override;
  const std::optional<Error>& error() const { return error_; }
  uint64_t emitted() const { return emitted_; }  // scores produced

 private:
  KafkaOutput& output_;
  std::string topic_;
  ScoreJsonFormat format_;
  LatestScores* latest_;
  std::function<bool()> keep_waiting_;
  const PatientRegistry* registry_ = nullptr;
  std::string buffer_;             // the batch's score JSONs, back to back
  std::vector<std::size_t> ends_;  // where each one ends in buffer_
  std::vector<std::string_view> jsons_;
  uint64_t emitted_ = 0;
  std::optional<Error> error_;
};

}  // namespace tfe
