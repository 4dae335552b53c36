#pragma once
// The long-running service (`tfe serve`): one consumer in a group over the modality topics, the
// engine pipeline fed with the live clock, scores to the score topic, bad records to the
// dead-letter topic, state rebuilt from the topics on every assignment change, HTTP endpoints for
// health, readiness, metrics and the latest score per patient. docs/service.md describes it for
// operators.
//
// Threads: the calling thread consumes, decodes, runs the pipeline (whose shards run on oneTBB),
// produces and commits; an io_context thread runs the HTTP server, the signal handling and the
// shutdown watchdog.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "connectors/kafka_config.h"
#include "engine/config.h"
#include "engine/result.h"
#include "engine/scorer.h"

namespace tfe {

// The two sections the service reads from one TOML file: [engine] with [[modality]], and [kafka]
// (with the broker override of --brokers, else TFE_KAFKA_BROKERS).
struct ServiceConfig {
  EngineConfig engine;
  KafkaConfig kafka;
};
Result<ServiceConfig> load_service_config(const std::string& path,
                                          const KafkaOverrides& overrides = {});

struct ServiceInfo {
  std::string bootstrap_servers;  // the embedded broker's address when brokers = "embedded"
  std::string http_address;       // "host:port" actually bound; empty when HTTP is disabled
};

struct ServiceOptions {
  EngineConfig engine;
  KafkaConfig kafka;
  std::shared_ptr<const Scorer> scorer;
  // SIGTERM and SIGINT start the graceful shutdown. Tests turn this off and use stop_requested.
  bool handle_signals = true;
  // Checked once per loop (about every 100 ms at most): true starts the graceful shutdown.
  std::function<bool()> stop_requested;
  // Called once the service is up (topics created, HTTP listening), before the first poll.
  std::function<void(const ServiceInfo&)> on_started;
  // GET /healthz answers 503 "stalled" after this long without a turn of the consume loop (a
  // restore waiting for the broker's answers counts as turning).
  int64_t stall_ms = 120'000;
  // Tests only: answers the restore's time lookups in place of the brokers (the embedded cluster
  // keeps no time index, so its restores replay whole partitions). Given (topic, partition,
  // offset = a time in epoch ms), returns for each the first offset whose message timestamp is at
  // or after that time, or kafka::kOffsetEnd. Unset: the brokers answer.
  std::function<Result<kafka::TopicPartitions>(const kafka::TopicPartitions&)> offsets_for_times;
};

struct ServiceSummary {
  uint64_t events = 0;  // decoded events consumed (restores included)
  uint64_t dead_letters = 0;
  uint64_t scores = 0;          // scores produced
  uint64_t restores = 0;        // state rebuilds (one per assignment change)
  bool clean_shutdown = false;  // flushed and committed within the grace period
  // A stop came while the service was starting (topic checks, leader waits): it consumed
  // nothing and gave up the broker requests under way (clean_shutdown is then true).
  bool stopped_while_starting = false;
};

// Runs until a signal (or stop_requested) and a graceful shutdown. Returns the summary on a
// clean or forced-by-grace stop; an error (one line) when the service cannot start or cannot go
// on (broker unreachable at start, topics not co-partitioned, producer fenced, ...).
Result<ServiceSummary> run_service(const ServiceOptions& options);

}  // namespace tfe
