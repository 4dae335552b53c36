#pragma once
// Reading a history back from the modality topics, for commands that analyse a deployment's own
// stream (`tfe profile --from-kafka`) instead of a file export. From each partition of each
// modality topic it reads the records from the first whose message timestamp is at or after
// `since` up to, not including, the first at or after `until` (Kafka's offsets for times, so a
// range costs two lookups per partition, not a scan). Records decode as the service decodes them
// (arrival time defaults to the message timestamp; a record must be of its topic's modality or an
// outcome); bad records go to the dead-letter sink with their topic, partition and offset. Reads
// without joining a group and commits nothing: the service's offsets are never touched.

#include <cstdint>
#include <functional>
#include <string>

#include "connectors/dead_letter.h"
#include "connectors/history_replay.h"
#include "connectors/kafka_common.h"
#include "connectors/kafka_config.h"
#include "engine/config.h"
#include "engine/patient_registry.h"
#include "engine/result.h"

namespace tfe {

// Message timestamps in epoch ms, [since, until).
struct KafkaTimeRange {
  int64_t since_ms = 0;
  int64_t until_ms = 0;
};

struct KafkaHistoryOptions {
  // Bounds the lookups before the first fetch (metadata, offsets for times, watermarks) together,
  // and how long an unfinished partition may deliver nothing: past either, the read fails (naming
  // the topic, or the partition and its position).
  int timeout_ms = 30'000;
  // Progress lines (about one a second while reading), never payload.
  std::function<void(const std::string&)> log;
  // Records read so far of those in range, about once a second while reading and once at the end
  // (read == expected). Set, it takes the place of the "read N of M records" lines of `log`, so a
  // command can pace them as it paces its other progress.
  std::function<void(uint64_t read, uint64_t expected)> on_read;
  // Tests only: answers the time lookups in place of the brokers (librdkafka's mock cluster, the
  // tests' broker, keeps no time index). Given (topic, partition, offset = a time in epoch ms)
  // entries, returns for each the first offset whose message timestamp is at or after that time,
  // or kafka::kOffsetEnd when there is none. Unset: the brokers answer.
  std::function<Result<kafka::TopicPartitions>(const kafka::TopicPartitions&)> offsets_for_times;
};

// The events of the range in replay order (arrival time, then topic position), packed, like
// load_packed_history(). Fails on an embedded broker (it starts empty), a missing topic, an
// unreachable broker or a timeout, a fatal consumer error (with its reason), or every broker going
// away while it reads (at once, not after the timeout); bad records never fail the read.
Result<PackedHistory> load_history_from_kafka(const KafkaConfig& kafka, const EngineConfig& engine,
                                              const KafkaTimeRange& range,
                                              PatientRegistry& registry, DeadLetterSink& dead,
                                              const KafkaHistoryOptions& options = {});

}  // namespace tfe
