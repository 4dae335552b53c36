#include "connectors/kafka_history.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "connectors/event_codec.h"
#include "connectors/kafka_consumer.h"
#include "connectors/topic_record.h"

namespace tfe {
namespace {

using Clock = std::chrono::steady_clock;

// Topic positions order events of equal arrival time: (offset, partition, topic) in 64 bits.
constexpr int32_t kMaxPartitions = 4096;
constexpr std::size_t kMaxTopics = 256;
uint64_t record_seq(std::size_t topic, int32_t partition, int64_t offset) {
  return (static_cast<uint64_t>(offset) << 20) | (static_cast<uint64_t>(partition) << 8) | topic;
}

// What the consumer's error callback reported (on the reading thread, while it polls).
struct ReadErrors {
  std::optional<std::string> all_brokers_down;  // librdkafka's reason
};

struct PartitionRange {
  std::size_t topic;
  int32_t partition;
  int64_t start = 0;  // first offset to read
  int64_t end = 0;    // first offset not to read
  int64_t next = 0;   // next offset expected
  bool done = false;
};

// Reads the range's records with a consumer made for it.
Result<PackedHistory> read_range(kafka::KafkaConsumer& c, ReadErrors& errors,
                                 const KafkaConfig& kafka, const EngineConfig& engine,
                                 const KafkaTimeRange& range, PatientRegistry& registry,
                                 DeadLetterSink& dead, const KafkaHistoryOptions& options) {
  const auto say = [&](const std::string& line) {
    if (options.log) options.log(line);
  };

  // The lookups before the first fetch (metadata, offsets for times, watermarks) share one
  // deadline: against a broker away or slow the start ends within one timeout, not one for each
  // of its requests. A request that fails says so itself; one that would start past the deadline
  // is the line of start_timed_out.
  const auto start_deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
  const auto start_left_ms = [&] {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(start_deadline - Clock::now())
            .count();
    return static_cast<int>(std::max<int64_t>(left, 0));
  };
  const auto start_timed_out = [&](const std::string& topic) {
    return make_error(Errc::io, fmt::format("kafka: the brokers did not answer the lookups of the "
                                            "range (topic metadata, offsets for times, "
                                            "watermarks) within {} ms, at topic '{}'",
                                            options.timeout_ms, topic));
  };

  // Each partition's offsets for the two times; no record at or after `until` reads to the end.
  // parts holds topic 0's partitions, then topic 1's, ...; topics may differ in partition count
  // (reading needs no co-partitioning): topic t's are parts[first_part[t] .. first_part[t + 1]).
  std::vector<PartitionRange> parts;
  std::vector<std::size_t> first_part;
  for (std::size_t t = 0; t < kafka.modality_topics.size(); ++t) {
    first_part.push_back(parts.size());
    const std::string& topic = kafka.modality_topics[t];
    if (start_left_ms() == 0) return start_timed_out(topic);
    auto count = c.partition_count(topic, start_left_ms());
    if (!count) return count.error();
    if (count.value() == 0) {
      return make_error(Errc::config,
                        fmt::format("kafka: topic '{}' (modality '{}') does not exist", topic,
                                    engine.schema[static_cast<ModalityIndex>(t)].name));
    }
    if (count.value() > kMaxPartitions) {
      return make_error(Errc::config,
                        fmt::format("kafka: topic '{}' has {} partitions; at most {} can be read",
                                    topic, count.value(), kMaxPartitions));
    }
    kafka::TopicPartitions since, until;
    for (int32_t p = 0; p < count.value(); ++p) {
      since.emplace_back(topic, p, range.since_ms);
      until.emplace_back(topic, p, range.until_ms);
    }
    const auto lookup = [&](const kafka::TopicPartitions& times) -> Result<kafka::TopicPartitions> {
      if (start_left_ms() == 0) return start_timed_out(topic);
      return options.offsets_for_times ? options.offsets_for_times(times)
                                       : c.offsets_for_times(times, start_left_ms());
    };
    auto first = lookup(since);
    if (!first) return first.error();
    auto last = lookup(until);
    if (!last) return last.error();
    for (int32_t p = 0; p < count.value(); ++p) {
      PartitionRange r{t, p};
      const int64_t start = first.value()[static_cast<std::size_t>(p)].offset;
      int64_t end = last.value()[static_cast<std::size_t>(p)].offset;
      if (end < 0 || start < 0) {
        if (start_left_ms() == 0) return start_timed_out(topic);
        auto marks = c.query_watermarks(topic, p, start_left_ms());
        if (!marks) return marks.error();
        if (end < 0) end = marks.value().second;
        r.start = start < 0 ? marks.value().second : start;
      } else {
        r.start = start;
      }
      r.end = end;
      r.next = r.start;
      r.done = r.start >= r.end;
      parts.push_back(r);
    }
  }
  first_part.push_back(parts.size());
  const auto find = [&](std::size_t t, int32_t p) -> PartitionRange* {
    if (t >= kafka.modality_topics.size() || p < 0) return nullptr;
    const std::size_t i = first_part[t] + static_cast<std::size_t>(p);
    return i < first_part[t + 1] ? &parts[i] : nullptr;
  };
  kafka::TopicPartitions assignment;
  uint64_t expected = 0;
  std::size_t open = 0;
  for (const PartitionRange& r : parts) {
    if (r.done) continue;
    assignment.emplace_back(kafka.modality_topics[r.topic], r.partition, r.start);
    expected += static_cast<uint64_t>(r.end - r.start);
    ++open;
  }
  // Errors reported before the lookups above succeeded are stale: brokers answered since.
  std::vector<kafka::MessagePtr> batch;
  c.poll_batch(batch, 1, 0);
  errors.all_brokers_down.reset();
  say(fmt::format("{} records in range on {} of {} partitions", expected, open, parts.size()));

  PackedHistory history;
  if (open > 0) {
    if (auto a = c.assign(assignment); !a) return a.error();
  }
  EventDecoder decoder(engine.schema, registry, DecodeLimits::from(engine));
  Event event;
  DeadLetter dl;
  uint64_t read = 0;
  auto last_progress = Clock::now();
  auto next_log = last_progress + std::chrono::seconds(1);
  while (open > 0) {
    batch.clear();
    c.poll_batch(batch, 1024, 100);
    if (auto fatal = c.fatal_error()) return *fatal;
    // A one-shot read does not wait out an outage (up to the timeout, in silence): it ends with
    // the reason, and can be run again.
    if (errors.all_brokers_down) {
      return make_error(Errc::io, fmt::format("kafka: {}, {} of {} records read",
                                              *errors.all_brokers_down, read, expected));
    }
    for (const kafka::MessagePtr& mp : batch) {
      const rd_kafka_message_t& m = *mp;
      const std::string_view name = kafka::message_topic(m);
      std::size_t t = 0;
      while (t < kafka.modality_topics.size() && kafka.modality_topics[t] != name) ++t;
      PartitionRange* r = find(t, m.partition);
      if (r == nullptr || r->done) continue;
      if (m.err) {
        if (m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          // The end moved back (records deleted) or nothing more arrives: the range ends here.
          if (m.offset >= r->next) {
            r->done = true;
            --open;
          }
          continue;
        }
        say(fmt::format("consumer: {}[{}]: {}", name, m.partition, rd_kafka_err2str(m.err)));
        continue;
      }
      if (m.offset < r->next) continue;  // a re-delivery after a fetch retry
      last_progress = Clock::now();
      r->next = m.offset + 1;
      if (m.offset >= r->end) {
        r->done = true;
        --open;
        continue;
      }
      ++read;
      auto decoded =
          decode_topic_record(decoder, engine.schema, t, m, event, engine.max_event_skew_ms);
      if (decoded) {
        event.source_seq = record_seq(t, m.partition, m.offset);
        history.events.append(event);
      } else {
        const std::string_view value = kafka::message_value(m);
        dl.source = std::string(name);
        dl.partition = m.partition;
        dl.line = 0;
        dl.offset = m.offset;
        dl.reason = decoded.error().reason;
        dl.message = decoded.error().message;
        dl.raw_bytes = value.size();
        if (value.size() <= engine.max_record_bytes) {
          dl.raw.assign(value);
        } else {
          dl.raw.clear();
        }
        dead.write(dl);
        ++history.dead_letters;
      }
      if (r->next >= r->end) {
        r->done = true;
        --open;
      }
    }
    const auto now = Clock::now();
    if (open > 0 && now - last_progress > std::chrono::milliseconds(options.timeout_ms)) {
      for (const PartitionRange& r : parts) {
        if (r.done) continue;
        return make_error(
            Errc::io, fmt::format("kafka: no record from {}[{}] for {} ms, at offset {} of {}..{}",
                                  kafka.modality_topics[r.topic], r.partition, options.timeout_ms,
                                  r.next, r.start, r.end));
      }
    }
    if (now >= next_log) {
      next_log = now + std::chrono::seconds(1);
      if (options.on_read) {
        options.on_read(read, expected);
      } else {
        say(fmt::format("read {} of {} records", read, expected));
      }
    }
  }
  history.unknown_channels = decoder.unknown_channels();
  history.events.sort_for_replay();
  if (options.on_read) options.on_read(read, expected);
  say(fmt::format("read {} records: {} events, {} bad records", read, history.events.size(),
                  history.dead_letters));
  return history;
}

}  // namespace

Result<PackedHistory> load_history_from_kafka(const KafkaConfig& kafka, const EngineConfig& engine,
                                              const KafkaTimeRange& range,
                                              PatientRegistry& registry, DeadLetterSink& dead,
                                              const KafkaHistoryOptions& options) {
  if (kafka.embedded()) {
    return make_error(Errc::config,
                      "kafka: reading a history needs a broker address, and [kafka] brokers is "
                      "\"embedded\" (an in-process broker that starts empty): set it, or pass "
                      "--brokers or TFE_KAFKA_BROKERS");
  }
  if (range.until_ms <= range.since_ms) {
    return make_error(Errc::invalid_argument, "kafka: the time range is empty (until <= since)");
  }
  if (kafka.modality_topics.size() > kMaxTopics) {
    return make_error(Errc::config, "kafka: more than 256 modality topics");
  }
  kafka::Properties props = client_properties(kafka, kafka.brokers);
  props.insert(props.end(), {{"group.id", kafka.group_id + ".history"},
                             {"enable.auto.commit", "false"},
                             {"enable.auto.offset.store", "false"},
                             {"enable.partition.eof", "true"},
                             // A fetch out of range (retention moved the log start past the
                             // range's first offset after the time lookup) goes on from the log
                             // start: librdkafka's default, the end, skipped the rest silently.
                             {"auto.offset.reset", "earliest"},
                             {"fetch.wait.max.ms", "100"}});
  props.insert(props.end(), kafka.librdkafka.begin(), kafka.librdkafka.end());
  // A command: librdkafka's own error lines (a refused connection, once a second) are kept back
  // and the last one is named in the one error line the read ends with.
  ReadErrors errors;
  kafka::ConsumerCallbacks callbacks;
  // A fatal error is read from the consumer after each poll (with its reason); every broker down
  // ends the read.
  callbacks.on_error = [&errors](rd_kafka_resp_err_t err, std::string_view reason, bool) {
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
      errors.all_brokers_down = reason.empty() ? std::string(rd_kafka_err2str(err))
                                               : fmt::format("every broker is down ({})", reason);
    }
  };
  auto consumer =
      kafka::KafkaConsumer::create(props, std::move(callbacks), kafka::LogLines::keep_last_error);
  if (!consumer) return consumer.error();
  auto history =
      read_range(consumer.value(), errors, kafka, engine, range, registry, dead, options);
  if (!history) return consumer.value().with_last_log_error(std::move(history).error());
  return history;
}

}  // namespace tfe
