#pragma once
// Publishing a history to the modality topics (`tfe replay --history FILE --to-kafka`): each event
// as its canonical JSON line (connectors/event_codec.h), key = patient_id, message timestamp =
// arrival_time, to the topic of its modality, in the source's order (arrival order). Outcome
// events have no topic and are skipped. Paced (history time runs `pace` times faster than the
// wall clock) or as fast as the broker takes them.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "connectors/dead_letter.h"
#include "connectors/event_source.h"
#include "connectors/kafka_common.h"
#include "connectors/kafka_config.h"
#include "engine/config.h"
#include "engine/modality.h"
#include "engine/patient_registry.h"
#include "engine/result.h"

namespace tfe {

// Creates the service's topics (modality, score, dead-letter) that do not exist yet, when
// config.create_topics; checks that the modality topics exist and share one partition count
// (co-partitioning). Returns that partition count. Not for brokers = "embedded". With
// `keep_going`, a stop (keep_going() false) gives the broker requests up at once.
Result<int32_t> ensure_topics(const KafkaConfig& config, const std::string& bootstrap,
                              kafka::LogLines lines = kafka::LogLines::print,
                              int timeout_ms = 30'000, const kafka::KeepGoing& keep_going = {});

struct PublishOptions {
  double pace = 0;  // history ms per wall ms (60: one hour per minute); 0: as fast as possible
  // How long a broker request (metadata, topic creation) may take, and how long what was
  // produced may take to be acknowledged after a cancellation.
  int timeout_ms = 30'000;
  // Progress and cancellation: called about once a second with the events published so far,
  // during pacing waits too; returning false stops the publishing (what was produced is still
  // delivered, and counted, before the call returns; what is not acknowledged within timeout_ms
  // is given up, and the publish fails counting it).
  std::function<bool(uint64_t published)> progress;
};

struct PublishSummary {
  uint64_t published = 0;     // acknowledged by the broker
  uint64_t dead_letters = 0;  // invalid records of the source (to `dead`)
  uint64_t skipped = 0;       // outcome events (no topic)
  double seconds = 0;
  bool cancelled = false;
};

// Publishes every event of `source` (whose registry is `registry`). Dead letters of the source go
// to `dead`, and so does an event whose message is over the producer's message.max.bytes
// (record_too_large; the others are published). Fails when the broker is unreachable, a topic is
// missing, a delivery fails, or, after a cancellation, what was produced is not all acknowledged
// within options.timeout_ms (the error counts the events published and those given up).
Result<PublishSummary> publish_events(EventSource& source, const ModalitySchema& schema,
                                      const PatientRegistry& registry, const KafkaConfig& config,
                                      DeadLetterSink& dead, const PublishOptions& options);

// publish_events over history files (JSONL or binary log by extension; several are merged by
// arrival time). Dead letters of the files go to `dead`.
Result<PublishSummary> publish_history(const std::vector<std::string>& paths,
                                       const EngineConfig& engine, const KafkaConfig& config,
                                       DeadLetterSink& dead, const PublishOptions& options);

// Parses a pace argument: "max" (0), "60x" or "60" (60 times real time), "1x".
Result<double> parse_pace(std::string_view text);

}  // namespace tfe
