#pragma once
// Helpers for the Kafka service tests: a deterministic small cohort, the reference scores of a
// direct pipeline replay, a vector-backed event source, and score collection from a topic.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "connectors/embedded_broker.h"
#include "connectors/event_source.h"
#include "connectors/kafka_config.h"
#include "connectors/kafka_consumer.h"
#include "connectors/score_json.h"
#include "connectors/service.h"
#include "engine/pipeline.h"
#include "operators/news2.h"
#include "tests/connectors/test_schema.h"

namespace tfe::test {

inline constexpr int64_t kT0 = 1'700'000'000'000;  // epoch ms

inline EngineConfig kafka_test_engine_config() {
  EngineConfig c;
  c.schema = default_test_schema();
  c.windows_ms = {300'000, 900'000};
  c.tick_cadence_ms = 60'000;
  c.shards = 2;
  return c;
}

// `patients` patients over `minutes` minutes from kT0 + start_min: wearables every 20 s (a few
// channels at a time), a note every 25 minutes arriving 7 minutes late. Sorted by arrival.
inline std::vector<Event> make_cohort(PatientRegistry& registry, int patients, int minutes,
                                      int start_min = 0) {
  std::vector<Event> events;
  const ModalitySchema schema = default_test_schema();
  for (int p = 0; p < patients; ++p) {
    const PatientIndex id = registry.intern("P" + std::to_string(1000 + p));
    for (int s = start_min * 60; s < (start_min + minutes) * 60; s += 20) {
      Event e{};
      e.patient = id;
      e.modality = 0;
      e.event_time_ms = kT0 + s * 1000LL + p * 37;
      e.arrival_time_ms = e.event_time_ms + 500;
      const float phase = static_cast<float>((s / 20 + p) % 17);
      e.vitals.values[0] = 70.0f + phase * 3.0f;   // hr
      e.vitals.values[1] = 99.0f - phase * 0.5f;   // spo2
      e.vitals.values[2] = 14.0f + phase * 0.7f;   // rr
      e.vitals.values[3] = 36.8f + phase * 0.1f;   // temp
      e.vitals.values[4] = 125.0f - phase * 3.0f;  // sbp
      e.vitals.present_mask = (s / 20) % 3 == 0 ? 0x1Fu : 0x07u;
      events.push_back(e);
    }
    for (int m = start_min + (p % 5); m < start_min + minutes; m += 25) {
      Event e{};
      e.patient = id;
      e.modality = 1;
      e.event_time_ms = kT0 + m * 60'000LL + 1234;
      e.arrival_time_ms = e.event_time_ms + 7 * 60'000;
      e.text = (p % 2) ? "short of breath overnight" : "comfortable, eating well";
      events.push_back(e);
    }
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.arrival_time_ms < b.arrival_time_ms;
  });
  for (std::size_t i = 0; i < events.size(); ++i) events[i].source_seq = i;
  (void)schema;
  return events;
}

// Events with arrival < split_ms, and the rest: published one after the other, no event of the
// second part arrives before the end of the first (so none is late).
inline std::pair<std::vector<Event>, std::vector<Event>> split_by_arrival(
    const std::vector<Event>& events, int64_t split_ms) {
  std::pair<std::vector<Event>, std::vector<Event>> out;
  for (const Event& e : events)
    (e.arrival_time_ms < split_ms ? out.first : out.second).push_back(e);
  return out;
}

class VectorSource final : public EventSource {
 public:
  explicit VectorSource(std::vector<Event> events) : events_(std::move(events)) {}
  Result<SourceItem> next(Event& event, DeadLetter&) override {
    if (i_ == events_.size()) return SourceItem::end;
    event = events_[i_++];
    return SourceItem::event;
  }
  const std::string& name() const override { return name_; }

 private:
  std::vector<Event> events_;
  std::size_t i_ = 0;
  std::string name_ = "memory";
};

// (patient_id, score_time) -> score JSON.
using ScoreMap = std::map<std::pair<std::string, int64_t>, std::string>;

inline std::pair<std::string, int64_t> score_key(const std::string& json) {
  const std::string pid_tag = "\"patient_id\":\"";
  const std::string time_tag = "\"score_time\":";
  const auto a = json.find(pid_tag);
  const auto b = json.find('"', a + pid_tag.size());
  const auto t = json.find(time_tag);
  if (a == std::string::npos || b == std::string::npos || t == std::string::npos) return {"", -1};
  return {json.substr(a + pid_tag.size(), b - a - pid_tag.size()),
          std::stoll(json.substr(t + time_tag.size()))};
}

class CollectingSink final : public ScoreSink {
 public:
  CollectingSink(const ModalitySchema& schema, const ScorerSpec& spec,
                 const PatientRegistry& registry)
      : format_(schema, spec), registry_(registry) {}
  void emit(std::span<const ScoreRecord> scores) override {
    for (const auto& s : scores) {
      std::string json;
      format_.append(json, s, registry_);
      scores_[score_key(json)] = json;
    }
  }
  ScoreMap scores_;

 private:
  ScoreJsonFormat format_;
  const PatientRegistry& registry_;
};

// What the service should emit for `events`: a direct replay advanced to the newest arrival.
inline ScoreMap reference_scores(const std::vector<Event>& events, const EngineConfig& config,
                                 std::shared_ptr<const Scorer> scorer,
                                 const PatientRegistry& registry) {
  CollectingSink sink(config.schema, scorer->spec(), registry);
  Pipeline pipeline(config, scorer, registry, sink);
  int64_t newest = INT64_MIN;
  for (const Event& e : events) {
    pipeline.push(e);
    newest = std::max(newest, e.arrival_time_ms);
  }
  pipeline.advance(newest);
  return sink.scores_;
}

struct Collected {
  ScoreMap scores;
  std::size_t messages = 0;
  std::size_t conflicts = 0;  // same (patient, time) with a different JSON
};

// Reads the score topic from the beginning until `want` distinct scores or the timeout.
inline Collected collect_scores(const std::string& bootstrap, const std::string& topic,
                                std::size_t want, std::chrono::seconds timeout) {
  Collected out;
  static std::atomic<int> group{0};
  auto consumer = kafka::KafkaConsumer::create(
      {{"bootstrap.servers", bootstrap},
       {"group.id", "verifier-" + std::to_string(++group) + "-" + std::to_string(::getpid())},
       {"auto.offset.reset", "earliest"},
       {"enable.auto.commit", "false"},
       {"fetch.wait.max.ms", "5"},
       {"log_level", "2"}},
      {});
  EXPECT_TRUE(consumer) << consumer.error().message;
  if (!consumer) return out;
  EXPECT_TRUE(consumer.value().subscribe({topic}));
  std::vector<kafka::MessagePtr> batch;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.scores.size() < want && std::chrono::steady_clock::now() < deadline) {
    batch.clear();
    consumer.value().poll_batch(batch, 1000, 100);
    for (const auto& m : batch) {
      if (m->err) continue;
      std::string json(kafka::message_value(*m));
      ++out.messages;
      const auto key = score_key(json);
      EXPECT_EQ(std::string(kafka::message_key(*m)), key.first) << "score key is the patient id";
      auto [it, inserted] = out.scores.emplace(key, json);
      if (!inserted && it->second != json) ++out.conflicts;
    }
  }
  return out;
}

// The message timestamps of every record of `topics`, read once: answers time lookups by Kafka's
// rule (the first offset whose timestamp is at or after the time; kOffsetEnd when none is), which
// the embedded cluster, keeping no time index, does not.
class TimeIndex {
 public:
  TimeIndex(const std::string& bootstrap, const std::vector<std::string>& topics) {
    auto consumer = kafka::KafkaConsumer::create({{"bootstrap.servers", bootstrap},
                                                  {"group.id", "time-index"},
                                                  {"enable.auto.commit", "false"},
                                                  {"enable.partition.eof", "true"},
                                                  {"fetch.wait.max.ms", "5"},
                                                  {"log_level", "2"}},
                                                 {});
    EXPECT_TRUE(consumer) << consumer.error().message;
    if (!consumer) return;
    kafka::TopicPartitions all;
    for (const auto& t : topics) {
      auto count = consumer.value().partition_count(t, 10'000);
      EXPECT_TRUE(count) << count.error().message;
      if (!count) return;
      for (int32_t p = 0; p < count.value(); ++p) {
        all.emplace_back(t, p, kafka::kOffsetBeginning);
        records_[{t, p}];
      }
    }
    EXPECT_TRUE(consumer.value().assign(all));
    std::size_t open = all.size();
    std::vector<kafka::MessagePtr> batch;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (open > 0 && std::chrono::steady_clock::now() < deadline) {
      batch.clear();
      consumer.value().poll_batch(batch, 1000, 100);
      for (const auto& m : batch) {
        const std::pair<std::string, int32_t> key{std::string(kafka::message_topic(*m)),
                                                  m->partition};
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          if (!done_.count(key)) --open;
          done_.insert(key);
        } else if (!m->err) {
          records_[key].emplace_back(m->offset, kafka::message_timestamp_ms(*m).value_or(-1));
        }
      }
    }
    EXPECT_EQ(open, 0u) << "not every partition was read to its end";
  }

  kafka::TopicPartitions offsets_for_times(const kafka::TopicPartitions& times) const {
    kafka::TopicPartitions out = times;
    for (kafka::TopicPartition& tp : out) {
      int64_t first = kafka::kOffsetEnd;
      auto it = records_.find({tp.topic, tp.partition});
      if (it != records_.end()) {
        for (const auto& [offset, ts] : it->second) {
          if (ts >= tp.offset) {
            first = offset;
            break;
          }
        }
      }
      tp.offset = first;
    }
    return out;
  }

 private:
  // (topic, partition) -> (offset, timestamp) in offset order.
  std::map<std::pair<std::string, int32_t>, std::vector<std::pair<int64_t, int64_t>>> records_;
  std::set<std::pair<std::string, int32_t>> done_;
};

// Runs the service on its own thread until stop() (or the object dies).
class ServiceRunner {
 public:
  explicit ServiceRunner(ServiceOptions options) : options_(std::move(options)) {
    options_.handle_signals = false;
    options_.stop_requested = [this] { return stop_.load(); };
    options_.on_started = [this](const ServiceInfo& info) {
      std::lock_guard lock(mutex_);
      info_ = info;
      started_ = true;
    };
    thread_ = std::thread([this] {
      result_ = run_service(options_);
      finished_ = true;
    });
  }
  ~ServiceRunner() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Asks the service to stop without waiting for it (finished() tells when it has).
  void request_stop() { stop_ = true; }
  bool finished() const { return finished_.load(); }
  const Result<ServiceSummary>& result() const { return result_; }
  // The HTTP address once started ("" before).
  std::string http_address() {
    for (int i = 0; i < 300; ++i) {
      {
        std::lock_guard lock(mutex_);
        if (started_) return info_.http_address;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "";
  }

 private:
  ServiceOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::mutex mutex_;
  ServiceInfo info_;
  bool started_ = false;
  Result<ServiceSummary> result_ = make_error(Errc::io, "not finished");
  std::thread thread_;
};

inline KafkaConfig kafka_test_config(const std::string& bootstrap, const std::string& group,
                                     int32_t partitions = 4) {
  toml::table kafka;
  kafka.insert("brokers", bootstrap);
  kafka.insert("group_id", group);
  kafka.insert("partitions", partitions);
  kafka.insert("commit_interval", "200ms");
  kafka.insert("linger", "1ms");
  kafka.insert("http", "127.0.0.1:0");
  kafka.insert("create_topics", false);  // the embedded cluster has no admin API
  toml::table props;
  props.insert("session.timeout.ms", "6000");
  props.insert("heartbeat.interval.ms", "500");
  props.insert("log_level", "2");
  kafka.insert("librdkafka", props);
  toml::table doc;
  doc.insert("kafka", kafka);
  auto c = kafka_config_from_toml(doc, default_test_schema());
  EXPECT_TRUE(c) << c.error().message;
  return c ? c.value() : KafkaConfig{};
}

}  // namespace tfe::test
