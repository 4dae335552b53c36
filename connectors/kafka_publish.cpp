// Publishing a history to the modality topics.

#include "connectors/kafka_publish.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "connectors/event_codec.h"
#include "connectors/event_files.h"
#include "connectors/kafka_admin.h"
#include "connectors/kafka_producer.h"

namespace tfe {

namespace {

Result<int32_t> ensure_topics_with(kafka::KafkaAdmin& admin, const KafkaConfig& config,
                                   int timeout_ms, const kafka::KeepGoing& keep_going) {
  if (config.create_topics) {
    // Only the missing ones: a cluster without the admin API (the embedded broker of a running
    // `tfe serve`, which created its topics itself) is then never asked.
    std::vector<std::string> names = config.modality_topics;
    names.push_back(config.score_topic);
    names.push_back(config.dead_letter_topic);
    std::vector<kafka::NewTopic> missing;
    for (const auto& name : names) {
      auto n = admin.partition_count(name, timeout_ms);
      if (!n) return n.error();
      if (n.value() == 0) missing.push_back({name, config.partitions, config.replication_factor});
    }
    auto r = admin.create_topics(missing, timeout_ms);
    if (!r) return r.error();
    // A created topic may take a moment to appear in the metadata brokers answer with: wait for
    // it (the check below says what is wrong if it never does).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (const auto& t : missing) {
      for (;;) {
        auto n = admin.partition_count(t.name, timeout_ms);
        if ((n && n.value() > 0) || std::chrono::steady_clock::now() >= deadline) break;
        if (keep_going && !keep_going()) return kafka::stopped_error("topic creation");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  int32_t count = -1;
  std::string first;
  for (const auto& t : config.modality_topics) {
    auto n = admin.partition_count(t, timeout_ms);
    if (!n) return n.error();
    if (n.value() == 0) {
      return make_error(Errc::config, fmt::format("kafka: topic '{}' does not exist (create it, or "
                                                  "set kafka.create_topics = true)",
                                                  t));
    }
    if (count < 0) {
      count = n.value();
      first = t;
    } else if (n.value() != count) {
      return make_error(
          Errc::config,
          fmt::format("kafka: modality topics are not co-partitioned: '{}' has {} partitions, "
                      "'{}' has {}; every modality topic needs the same partition count",
                      first, count, t, n.value()));
    }
  }
  return count;
}

}  // namespace

Result<int32_t> ensure_topics(const KafkaConfig& config, const std::string& bootstrap,
                              kafka::LogLines lines, int timeout_ms,
                              const kafka::KeepGoing& keep_going) {
  kafka::Properties props = client_properties(config, bootstrap);
  props.insert(props.end(), config.librdkafka.begin(), config.librdkafka.end());
  auto admin = kafka::KafkaAdmin::create(props, lines, keep_going);
  if (!admin) return admin.error();
  auto count = ensure_topics_with(admin.value(), config, timeout_ms, keep_going);
  if (!count) return admin.value().with_last_log_error(std::move(count).error());
  return count;
}

Result<double> parse_pace(std::string_view text) {
  if (text == "max") return 0.0;
  std::string_view number = text;
  if (!number.empty() && (number.back() == 'x' || number.back() == 'X')) number.remove_suffix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
  // Bounded so that a history's span over the speed stays a representable wall time (a speed of
  // 1e-12 made every wait overflow and the replay ran unpaced).
  constexpr double kSlowest = 1e-3, kFastest = 1e9;
  if (ec != std::errc{} || end != number.data() + number.size() || !(v >= kSlowest) ||
      !(v <= kFastest)) {
    return make_error(Errc::invalid_argument,
                      fmt::format("--pace: expected 'max' or a speed from {:g}x to {:g}x such as "
                                  "'60x' (got '{}')",
                                  kSlowest, kFastest, text));
  }
  return v;
}

Result<PublishSummary> publish_events(EventSource& source, const ModalitySchema& schema,
                                      const PatientRegistry& registry, const KafkaConfig& config,
                                      DeadLetterSink& dead, const PublishOptions& options) {
  using Clock = std::chrono::steady_clock;
  if (config.embedded()) {
    return make_error(Errc::config,
                      "--to-kafka: brokers = \"embedded\" lives inside a running `tfe serve`; pass "
                      "--brokers HOST:PORT (serve logs the embedded broker's address) or set "
                      "TFE_KAFKA_BROKERS");
  }
  // A command: librdkafka's error lines are kept back and the last one named in its error.
  auto partitions =
      ensure_topics(config, config.brokers, kafka::LogLines::keep_last_error, options.timeout_ms);
  if (!partitions) return partitions.error();

  uint64_t acknowledged = 0;
  uint64_t purged = 0;            // given up after a stop (never delivered, or not known to be)
  uint64_t purged_in_flight = 0;  // of those, sent and unanswered: the broker may have them
  std::optional<Error> failure;
  kafka::Properties props = client_properties(config, config.brokers);
  props.insert(props.end(), {{"enable.idempotence", "true"},
                             {"acks", "all"},
                             {"linger.ms", "20"},
                             {"batch.num.messages", "10000"},
                             {"queue.buffering.max.messages", "1000000"},
                             {"queue.buffering.max.kbytes", "1048576"}});
  props.insert(props.end(), config.librdkafka.begin(), config.librdkafka.end());
  kafka::KafkaProducer* reporting = nullptr;  // the producer below, once made
  auto producer = kafka::KafkaProducer::create(
      props,
      [&](const kafka::DeliveryReport& r) {
        if (r.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          ++acknowledged;
        } else if (r.err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                   r.err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
          ++purged;
          if (r.err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) ++purged_in_flight;
        } else if (!failure) {
          failure = reporting->delivery_error(r);
        }
      },
      kafka::LogLines::keep_last_error);
  if (!producer) return producer.error();
  reporting = &producer.value();

  PublishSummary summary;
  const auto started = Clock::now();
  auto next_progress = started + std::chrono::seconds(1);
  // About once a second: serves delivery reports and calls options.progress. False: cancelled.
  const auto report_progress = [&]() -> bool {
    if (Clock::now() < next_progress) return true;
    producer.value().poll(0);
    next_progress = Clock::now() + std::chrono::seconds(1);
    return !options.progress || options.progress(acknowledged);
  };
  std::optional<int64_t> first_arrival;
  Event event;
  DeadLetter dead_letter;
  std::string value;
  uint64_t produced = 0;
  for (;;) {
    auto item = source.next(event, dead_letter);
    if (!item) return item.error();
    if (item.value() == SourceItem::end) break;
    if (item.value() == SourceItem::dead_letter) {
      dead.write(dead_letter);
      ++summary.dead_letters;
      continue;
    }
    if (event.modality == kOutcomeModality || event.modality >= schema.size()) {
      ++summary.skipped;
      continue;
    }
    if (options.pace > 0) {
      if (!first_arrival) first_arrival = event.arrival_time_ms;
      const double due_ms =
          static_cast<double>(event.arrival_time_ms - *first_arrival) / options.pace;
      const auto due = started + std::chrono::microseconds(static_cast<int64_t>(due_ms * 1000.0));
      // A gap in the history (a night, at 60x: minutes) is waited out with progress reports, so
      // that a cancellation ends the wait instead of waiting for the next event.
      while (!summary.cancelled && Clock::now() < due) {
        producer.value().poll(0);
        summary.cancelled = !report_progress();
        std::this_thread::sleep_until(std::min(due, Clock::now() + std::chrono::milliseconds(50)));
      }
      if (summary.cancelled) break;
    }
    value.clear();
    append_event_json(value, event, schema, registry);
    const std::string_view key = registry.id(event.patient);
    kafka::Message m{
        config.modality_topics[event.modality], key, value, event.arrival_time_ms, {}, 0};
    if (const rd_kafka_resp_err_t err = producer.value().produce(m);
        err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
      // Bad input for this sink, not the end of the publish: a dead letter, and the rest goes on
      // (the record is not copied: it is what is too large).
      dead_letter.source = source.name();
      dead_letter.partition = -1;
      dead_letter.line = 0;
      dead_letter.offset = -1;
      dead_letter.reason = DecodeReason::record_too_large;
      dead_letter.message = fmt::format(
          "the {} event with event_time {} and arrival_time {} is {} bytes as a message to '{}', "
          "over the producer's message.max.bytes ({}; [kafka.librdkafka] sets it, up to the "
          "topic's max.message.bytes)",
          schema[event.modality].name, event.event_time_ms, event.arrival_time_ms,
          key.size() + value.size(), m.topic, producer.value().max_message_bytes());
      dead_letter.raw_bytes = value.size();
      dead_letter.raw.clear();
      dead.write(dead_letter);
      ++summary.dead_letters;
      continue;
    } else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // A full queue (the broker slower than the history, or away) is waited out with progress
      // reports, so that a cancellation still ends the publish there.
      auto r =
          err == RD_KAFKA_RESP_ERR__QUEUE_FULL
              ? producer.value().produce_wait(
                    m,
                    [&] {
                      summary.cancelled = summary.cancelled || !report_progress();
                      return !failure && !summary.cancelled;
                    },
                    50)
              : Result<void>(producer.value().error(err, fmt::format("produce to '{}'", m.topic)));
      if (!r && summary.cancelled && !failure) break;
      if (!r) return producer.value().with_last_log_error(failure ? *failure : r.error());
    }
    ++produced;
    if (!report_progress()) {
      summary.cancelled = true;
      break;
    }
    if (failure) return producer.value().with_last_log_error(*failure);
  }
  // Every event acknowledged, or the first failure. A cancellation has stopped the intake only:
  // what was produced is still delivered (or fails, within librdkafka's message.timeout.ms),
  // but for no longer than options.timeout_ms after the stop: with the broker away, librdkafka
  // would hold it for message.timeout.ms (5 minutes by default), and a stop must end promptly.
  const auto grace_end = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
  while (acknowledged < produced && !failure) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(grace_end - Clock::now()).count();
    if (summary.cancelled && left <= 0) break;
    auto flushed = producer.value().flush(
        summary.cancelled ? static_cast<int>(std::clamp<int64_t>(left, 1, 1000)) : 1000);
    (void)flushed;
    if (options.progress && acknowledged < produced) (void)options.progress(acknowledged);
  }
  if (failure) return producer.value().with_last_log_error(*failure);
  if (acknowledged < produced) {
    // Given up: each message is reported at once, acknowledged (it came in meanwhile) or purged,
    // so the counts below are exact.
    producer.value().purge();
    const auto reports_end = Clock::now() + std::chrono::seconds(10);
    while (acknowledged + purged < produced && !failure && Clock::now() < reports_end) {
      (void)producer.value().flush(100);
    }
    if (failure) return producer.value().with_last_log_error(*failure);
    std::string in_flight;
    if (purged_in_flight > 0) {
      in_flight = fmt::format(" ({} of them sent and unanswered: the broker may have written them)",
                              purged_in_flight);
    }
    return producer.value().with_last_log_error(make_error(
        Errc::io,
        fmt::format("kafka: stopped, and the broker did not acknowledge what was produced within "
                    "{} ms: {} events published, {} given up{}",
                    options.timeout_ms, acknowledged, produced - acknowledged, in_flight)));
  }
  summary.published = acknowledged;
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return summary;
}

}  // namespace tfe

namespace tfe {

Result<PublishSummary> publish_history(const std::vector<std::string>& paths,
                                       const EngineConfig& engine, const KafkaConfig& config,
                                       DeadLetterSink& dead, const PublishOptions& options) {
  PatientRegistry registry;
  auto source = open_event_sources(paths, engine.schema, registry, DecodeLimits::from(engine));
  if (!source) return source.error();
  return publish_events(*source.value(), engine.schema, registry, config, dead, options);
}

}  // namespace tfe
