// The Kafka service: the consume -> decode -> pipeline -> produce -> commit loop, restores on
// assignment changes, HTTP endpoints, signals and the graceful shutdown.
//
// Assignment: the group subscribes to the first modality topic only (the "leading" topic); for each
// of its partitions p that the group assigns, the service assigns partition p of every modality
// topic itself. Co-partitioning therefore holds by construction (a patient's records of every
// modality reach the same instance), whatever the assignor does, while the group still uses the
// cooperative-sticky protocol.
//
// Restore: on every assignment change the instance commits what it has applied (after every score
// produced so far is acknowledged), then rebuilds its state for all partitions it now owns: a new
// pipeline, each partition sought back to (restore clock - lookback of its modality) and replayed
// without emitting up to its committed offset, the clock held at the restore clock (the smallest
// engine clock recorded in the owned partitions' commits). Scores resume from there: ticks that
// may have been pending when the previous owner stopped are emitted again, identically.

#include "connectors/service.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "connectors/embedded_broker.h"
#include "connectors/event_codec.h"
#include "connectors/http_server.h"
#include "connectors/json_write.h"
#include "connectors/kafka_admin.h"
#include "connectors/kafka_consumer.h"
#include "connectors/kafka_output.h"
#include "connectors/kafka_partitions.h"
#include "connectors/kafka_publish.h"
#include "connectors/topic_record.h"
#include "engine/duration.h"
#include "engine/metrics.h"
#include "engine/pipeline.h"

namespace tfe {
namespace {

using SteadyClock = std::chrono::steady_clock;
namespace asio = boost::asio;

constexpr int kMetadataTimeoutMs = 10'000;
constexpr int kLookupTimeoutMs = 30'000;
constexpr std::size_t kMaxBatch = 1024;
constexpr int kPollTimeoutMs = 100;
constexpr int kAwaitTopicMs = 10'000;
// Longer than a turn of the loop normally takes (a poll plus a batch): wall time beyond it between
// two turns passed while the process did not run (stopped, starved of CPU), and does not count
// toward the grace of caught-up partitions.
constexpr int64_t kTurnMs = 500;
// The gauges that walk every patient (state bytes; the prune of the latest scores) refresh with the
// others, every second, unless a walk took more than this share of the time since the last one.
constexpr int64_t kStatsWalkShare = 100;
// The first wait for a leader of an output topic at start (doubled at each attempt; a stop is
// noticed between attempts).
constexpr int kAwaitSliceMs = 250;

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Same partitions, offsets and metadata, in the same order.
bool same_offsets(const kafka::TopicPartitions& a, const kafka::TopicPartitions& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i]) || a[i].offset != b[i].offset || a[i].metadata != b[i].metadata) {
      return false;
    }
  }
  return true;
}

int64_t saturating_sub(int64_t a, int64_t b) {
  if (b > 0 && a < std::numeric_limits<int64_t>::min() + b)
    return std::numeric_limits<int64_t>::min();
  return a - b;
}

// The service's metrics, registered once; hot-path series are kept by address.
struct ServiceMetrics {
  explicit ServiceMetrics(const ModalitySchema& schema, const std::vector<std::string>& topics) {
    auto& in = registry.counter_family("tfe_events_in_total",
                                       "Events decoded from the modality topics, by modality",
                                       {"modality"});
    for (const auto& spec : schema.specs()) events_in.push_back(&in.with({spec.name}));
    events_in_outcome = &in.with({"outcome"});
    auto& unknown = registry.counter_family(
        "tfe_unknown_channels_total",
        "Vitals channel names outside the config, ignored (records read again by a restore are not "
        "counted again), by the modality of the topic",
        {"modality"});
    for (const auto& spec : schema.specs()) unknown_channels.push_back(&unknown.with({spec.name}));
    auto& errors = registry.counter_family(
        "tfe_decode_errors_total", "Records rejected and sent to the dead-letter topic, by reason",
        {"reason"});
    for (std::size_t r = 0; r < kDecodeReasonCount; ++r) {
      decode_errors[r] = &errors.with({std::string(to_string(static_cast<DecodeReason>(r)))});
    }
    auto& lag_family = registry.gauge_family(
        "tfe_consumer_lag_messages",
        "Messages between the consumer's position and the end of its assigned partitions, by topic",
        {"topic"});
    for (const auto& t : topics) lag.push_back(&lag_family.with({t}));
    clock_seconds = &registry.gauge("tfe_engine_clock_seconds",
                                    "Released engine time (epoch seconds): clock minus lateness");
    clock_lag_seconds = &registry.gauge("tfe_engine_clock_lag_seconds",
                                        "Wall clock minus released engine time, in seconds");
    latency = &registry.histogram(
        "tfe_score_latency_seconds",
        "From consuming the record that released a tick to the broker acknowledging its score",
        exponential_buckets(0.0005, 2, 16));
    scores = &registry.counter("tfe_scores_emitted_total", "Scores produced to the score topic");
    active_patients = &registry.gauge("tfe_active_patients", "Patients with live state");
    state_bytes = &registry.gauge("tfe_state_bytes", "Heap bytes held by patient state");
    late_events = &registry.counter("tfe_late_events_total",
                                    "Events that arrived behind the released engine clock");
    ready = &registry.gauge("tfe_ready", "1 when the instance is serving (not restoring)");
    restoring = &registry.gauge("tfe_restoring", "1 while state is being rebuilt from the topics");
    restores = &registry.counter("tfe_restores_total", "State rebuilds (assignment changes)");
    restore_seconds =
        &registry.gauge("tfe_restore_duration_seconds", "Duration of the last completed restore");
    restore_events = &registry.counter("tfe_restore_events_total",
                                       "Events replayed without emitting during restores");
    paused = &registry.gauge("tfe_paused_partitions",
                             "Partitions restored and paused while others still restore");
    rebalances = &registry.counter("tfe_rebalances_total", "Rebalance callbacks served");
    auto& commits =
        registry.counter_family("tfe_commits_total", "Offset commits, by result", {"result"});
    commits_ok = &commits.with({"ok"});
    commits_failed = &commits.with({"error"});
    assigned = &registry.gauge("tfe_assigned_partitions",
                               "Partitions assigned to this instance, all modality topics");
    dead_letters =
        &registry.counter("tfe_dead_letters_total", "Records produced to the dead-letter topic");
    consumer_errors =
        &registry.counter("tfe_consumer_errors_total", "Errors reported by the Kafka consumer");
  }

  MetricsRegistry registry;
  std::vector<Counter*> events_in;  // [modality]
  Counter* events_in_outcome = nullptr;
  std::vector<Counter*> unknown_channels;  // [modality]
  std::array<Counter*, kDecodeReasonCount> decode_errors{};
  std::vector<Gauge*> lag;  // [topic]
  Gauge* clock_seconds = nullptr;
  Gauge* clock_lag_seconds = nullptr;
  Histogram* latency = nullptr;
  Counter* scores = nullptr;
  Gauge* active_patients = nullptr;
  Gauge* state_bytes = nullptr;
  Counter* late_events = nullptr;
  Gauge* ready = nullptr;
  Gauge* restoring = nullptr;
  Counter* restores = nullptr;
  Gauge* restore_seconds = nullptr;
  Counter* restore_events = nullptr;
  Gauge* paused = nullptr;
  Counter* rebalances = nullptr;
  Counter* commits_ok = nullptr;
  Counter* commits_failed = nullptr;
  Gauge* assigned = nullptr;
  Counter* dead_letters = nullptr;
  Counter* consumer_errors = nullptr;
};

// Logs the first few occurrences of a repeated condition, then one in every thousand.
class RateLimitedLog {
 public:
  bool should_log() { return ++count_ <= 5 || count_ % 1000 == 0; }
  uint64_t count() const { return count_; }

 private:
  uint64_t count_ = 0;
};

// The io_context thread: HTTP, signals, the shutdown watchdog.
class IoThread {
 public:
  IoThread() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~IoThread() { join(); }
  // Stops the io_context and waits for the thread: no handler runs once this returns (the
  // io_context itself lives on for the objects bound to it).
  void join() {
    if (!thread_.joinable()) return;
    work_.reset();
    io_.stop();
    thread_.join();
  }
  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

class Service {
 public:
  explicit Service(const ServiceOptions& options)
      : options_(options),
        kafka_(options.kafka),
        schema_(options.engine.schema),
        metrics_(options.engine.schema, options.kafka.modality_topics) {}
  // The HTTP handlers and the shutdown watchdog run on the io thread and use the members below
  // it (latest scores, metrics): the thread stops before any of them goes. A watchdog left
  // armed would otherwise exit(1) during the teardown of a cleanly committed engine.
  ~Service() {
    if (io_) io_->join();
    http_.reset();
    watchdog_.reset();
    signals_.reset();
  }
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  Result<ServiceSummary> run();

 private:
  Result<void> start_io();
  Result<void> prepare_topics();
  // The score and dead-letter topics exist (a real cluster; the embedded one gets them at start).
  Result<void> check_output_topics();
  Result<int32_t> check_co_partitioned();
  Result<void> create_clients();
  kafka::Properties common_properties() const;

  // Returns whether the fetch positions moved (see kafka::ConsumerCallbacks::on_rebalance).
  bool on_rebalance(kafka::RebalanceKind kind, const kafka::TopicPartitions& partitions);
  Result<void> rebuild();
  // Retries one of the restore's broker requests (the coordinator or a leader may be away) until
  // it answers, fails for good (an error other than Errc::io, such as topics that are not
  // co-partitioned) or the service is asked to stop.
  template <class Lookup>
  auto until_answered(std::string_view what, const Lookup& lookup) -> decltype(lookup());
  void drop_engine();
  void resume_paused();  // resumes the partitions the restore paused
  // What /readyz answers and the tfe_ready and tfe_restoring gauges show, set together so that
  // they never disagree.
  enum class Readiness : uint8_t { not_ready, restoring, ready };
  void set_readiness(Readiness readiness);
  // A signal, or the embedding code's stop_requested: the restore's lookups stop retrying.
  bool stopping() const {
    return stop_.load() || (options_.stop_requested && options_.stop_requested());
  }
  // Given to the blocking broker requests at start: a stop gives them up.
  kafka::KeepGoing keep_going() const {
    return [this] { return !stopping(); };
  }
  // A stop that came while the service was starting: nothing was consumed, nothing to commit.
  Result<ServiceSummary> stopped_while_starting();
  // The consumer's fatal error (with librdkafka's reason), or a generic one naming `context`.
  Error consumer_fatal(rd_kafka_resp_err_t err, std::string_view context) const;
  void finish_restore_if_done();
  void handle(const rd_kafka_message_t& m);
  void dead_letter(const rd_kafka_message_t& m, std::size_t topic, const DecodeError& error);
  void advance_clock();
  void advance_to(int64_t clock);
  kafka::TopicPartitions commit_snapshot() const;
  void commit_now(int timeout_ms);
  void periodic(int64_t now_ms);
  void update_stats();
  void count_scores();
  HttpResponse serve_http(const HttpRequest& request);
  void on_signal(const boost::system::error_code& ec, int signo);

  const ServiceOptions& options_;
  const KafkaConfig& kafka_;
  const ModalitySchema& schema_;
  ServiceMetrics metrics_;

  std::unique_ptr<IoThread> io_;
  std::unique_ptr<asio::signal_set> signals_;
  std::unique_ptr<asio::steady_timer> watchdog_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<kafka::EmbeddedBroker> embedded_;
  std::string bootstrap_;

  std::unique_ptr<KafkaOutput> output_;
  std::optional<kafka::KafkaConsumer> consumer_;
  LatestScores latest_;
  std::unique_ptr<KafkaScoreSink> sink_;

  // Engine state, rebuilt on every assignment change (pipeline before registry: it refers to it).
  std::unique_ptr<PatientRegistry> registry_;
  std::unique_ptr<EventDecoder> decoder_;
  uint64_t unknown_channels_seen_ = 0;  // decoder_->unknown_channels() already in the metric
  std::unique_ptr<Pipeline> pipeline_;
  Event event_;
  std::vector<Event> released_;  // scratch of advance_to()
  struct ReleaseKey {
    int64_t arrival_ms;
    uint64_t source_seq;
    uint32_t index;  // into released_
  };
  std::vector<ReleaseKey> release_order_;  // scratch of advance_to()
  PartitionTable table_;
  int32_t partitions_ = 0;
  std::set<int32_t> owned_;              // partitions of the leading topic owned
  std::optional<int64_t> cap_;           // restore clock: the clock stays at or below it
  bool restore_all_committed_ = false;   // every owned partition had a committed offset
  std::optional<int64_t> last_clock_;    // last value passed to advance()
  std::optional<int64_t> last_turn_ms_;  // wall time of the last advance_clock()
  SteadyClock::time_point restore_started_;
  uint64_t restore_events_base_ = 0;
  uint64_t late_base_ = 0;  // late events of previous pipelines
  uint64_t late_reported_ = 0;
  std::vector<std::pair<std::size_t, int32_t>> paused_;

  // Commit state.
  bool commit_pending_ = false;  // a snapshot waits for its barrier
  kafka::TopicPartitions pending_snapshot_;
  kafka::TopicPartitions last_committed_;  // as acknowledged by the coordinator
  int64_t next_commit_ms_ = 0;
  int64_t next_stats_ms_ = 0;
  int64_t next_walk_ns_ = 0;  // steady time of the next refresh of the gauges walking every patient

  std::atomic<bool> stop_{false};
  std::atomic<bool> ready_{false};
  std::atomic<bool> restoring_{false};
  std::atomic<bool> closing_{false};
  std::atomic<int64_t> heartbeat_ms_{0};
  std::optional<Error> fatal_;
  RateLimitedLog consumer_error_log_;
  RateLimitedLog commit_error_log_;
  std::array<RateLimitedLog, kDecodeReasonCount> dead_letter_log_;
  ServiceSummary summary_;
  std::string dead_buffer_;
};

kafka::Properties Service::common_properties() const {
  return client_properties(kafka_, bootstrap_);
}

void Service::on_signal(const boost::system::error_code& ec, int signo) {
  if (ec) return;
  if (!stop_.exchange(true)) {
    spdlog::info("signal {}: stopping intake, draining, committing (grace {})", signo,
                 format_duration_ms(kafka_.shutdown_grace_ms));
    watchdog_->expires_after(std::chrono::milliseconds(kafka_.shutdown_grace_ms));
    watchdog_->async_wait([](const boost::system::error_code& wec) {
      if (wec) return;
      spdlog::error(
          "shutdown grace period expired: exiting without the final commit (a restart replays "
          "from the last commit)");
      spdlog::default_logger()->flush();
      std::_Exit(1);
    });
  } else {
    spdlog::warn("second signal {}: exiting now without the final commit", signo);
    spdlog::default_logger()->flush();
    std::_Exit(1);
  }
  signals_->async_wait([this](const boost::system::error_code& e, int s) { on_signal(e, s); });
}

Result<void> Service::start_io() {
  io_ = std::make_unique<IoThread>();
  if (options_.handle_signals) {
    signals_ = std::make_unique<asio::signal_set>(io_->io(), SIGINT, SIGTERM);
    watchdog_ = std::make_unique<asio::steady_timer>(io_->io());
    signals_->async_wait([this](const boost::system::error_code& e, int s) { on_signal(e, s); });
  }
  if (kafka_.http_enabled) {
    auto server = HttpServer::start(io_->io(), kafka_.http_host, kafka_.http_port,
                                    [this](const HttpRequest& r) { return serve_http(r); });
    if (!server) return server.error();
    http_ = std::move(server).value();
  }
  return ok();
}

Result<void> Service::prepare_topics() {
  if (!kafka_.embedded()) {
    bootstrap_ = kafka_.brokers;
    auto count = ensure_topics(kafka_, bootstrap_, kafka::LogLines::print, 30'000, keep_going());
    if (!count) return count.error();
    return check_output_topics();
  }
  auto broker = kafka::EmbeddedBroker::start(kafka_.embedded_brokers);
  if (!broker) return broker.error();
  embedded_ = std::move(broker).value();
  bootstrap_ = embedded_->bootstrap_servers();
  std::vector<std::string> topics = kafka_.modality_topics;
  topics.push_back(kafka_.score_topic);
  topics.push_back(kafka_.dead_letter_topic);
  if (!kafka_.create_topics) {
    // The embedded broker starts empty and has no admin API: nothing can have created the
    // topics, and a service that created them anyway would run where its configuration says
    // they must already exist.
    return make_error(Errc::config,
                      fmt::format("kafka: topic '{}' does not exist (the embedded broker starts "
                                  "empty: set kafka.create_topics = true, or give kafka.brokers)",
                                  topics.front()));
  }
  for (const auto& t : topics) {
    auto r = embedded_->create_topic(t, kafka_.partitions, kafka_.replication_factor);
    if (!r) return r;
  }
  return ok();
}

Result<void> Service::check_output_topics() {
  // Without them the service would start, report ready, and stop at its first score (or, for
  // the dead-letter topic, at its first bad record, perhaps days later, and again after every
  // restart) once the producer gave up on a topic that does not exist.
  kafka::Properties props = common_properties();
  props.insert(props.end(), kafka_.librdkafka.begin(), kafka_.librdkafka.end());
  auto admin = kafka::KafkaAdmin::create(props, kafka::LogLines::print, keep_going());
  if (!admin) return admin.error();
  const std::pair<const std::string*, std::string_view> outputs[] = {
      {&kafka_.score_topic, "score topic (kafka.score_topic)"},
      {&kafka_.dead_letter_topic, "dead-letter topic (kafka.dead_letter_topic)"}};
  // Topics just created may take a moment to reach the metadata of every broker.
  const auto deadline =
      SteadyClock::now() + std::chrono::milliseconds(kafka_.create_topics ? kMetadataTimeoutMs : 0);
  for (const auto& [topic, what] : outputs) {
    auto n = admin.value().partition_count(*topic, kMetadataTimeoutMs);
    while (n && n.value() == 0 && SteadyClock::now() < deadline && !stopping()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      n = admin.value().partition_count(*topic, kMetadataTimeoutMs);
    }
    if (!n) return n.error();
    if (n.value() == 0) {
      return make_error(Errc::config,
                        fmt::format("kafka: {} '{}' does not exist (create it, or set "
                                    "kafka.create_topics = true)",
                                    what, *topic));
    }
  }
  return ok();
}

Result<int32_t> Service::check_co_partitioned() {
  KafkaConfig check = kafka_;
  check.create_topics = false;
  return ensure_topics(check, bootstrap_, kafka::LogLines::print, 30'000, keep_going());
}

Result<void> Service::create_clients() {
  kafka::Properties producer = common_properties();
  producer.insert(producer.end(),
                  {{"enable.idempotence", "true"},
                   {"acks", "all"},
                   {"linger.ms", std::to_string(kafka_.linger_ms)},
                   // Never give up on a score: while the broker is away the service waits.
                   {"message.timeout.ms", "0"},
                   {"queue.buffering.max.messages", "1000000"},
                   {"queue.buffering.max.kbytes", "1048576"}});
  producer.insert(producer.end(), kafka_.librdkafka.begin(), kafka_.librdkafka.end());
  auto output = KafkaOutput::create(producer, metrics_.latency);
  if (!output) return output.error();
  output_ = std::move(output).value();
  // Before consuming (and before /readyz says ready): otherwise the first second of scores waits
  // for the producer to learn where the score topic's partitions are, longer on topics just
  // created. A broker that does not answer in time is not fatal: scores then wait in the queue.
  // Waited for in attempts of growing length, so that a stop is noticed between them.
  for (const std::string& topic : {kafka_.score_topic, kafka_.dead_letter_topic}) {
    const auto deadline = SteadyClock::now() + std::chrono::milliseconds(kAwaitTopicMs);
    Result<void> r = ok();
    for (int slice = kAwaitSliceMs; !stopping(); slice *= 2) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now())
              .count();
      r = output_->await_topic(topic, static_cast<int>(std::clamp<int64_t>(left, 1, slice)));
      if (r || SteadyClock::now() >= deadline) break;
    }
    if (stopping()) return ok();  // run() sees the stop
    if (!r) spdlog::warn("{}; going on (its messages wait until it has)", r.error().message);
  }
  // While the producer's queue is full (the broker does not take messages), a score waits for
  // room, but not past a stop request: the shutdown then gives it up and commits nothing.
  sink_ = std::make_unique<KafkaScoreSink>(*output_, kafka_.score_topic,
                                           ScoreJsonFormat(schema_, options_.scorer->spec()),
                                           &latest_, [this] { return !stopping(); });

  kafka::Properties consumer = common_properties();
  consumer.insert(consumer.end(), {{"group.id", kafka_.group_id},
                                   {"partition.assignment.strategy", "cooperative-sticky"},
                                   {"enable.auto.commit", "false"},
                                   {"enable.auto.offset.store", "false"},
                                   {"auto.offset.reset", "earliest"},
                                   {"enable.partition.eof", "true"},
                                   // The embedded broker's fetches crawl with the default wait.
                                   {"fetch.wait.max.ms", kafka_.embedded() ? "5" : "100"},
                                   // librdkafka 2.0 stops fetching for a fixed second once its
                                   // local queue holds this many messages; the default (100,000)
                                   // is less than a second of a catching-up service's intake, so
                                   // it sat idle for part of every second.
                                   {"queued.min.messages", "300000"}});
  consumer.insert(consumer.end(), kafka_.librdkafka.begin(), kafka_.librdkafka.end());
  kafka::ConsumerCallbacks callbacks;
  callbacks.on_rebalance = [this](kafka::RebalanceKind kind, const kafka::TopicPartitions& parts) {
    return on_rebalance(kind, parts);
  };
  callbacks.on_commit = [this](rd_kafka_resp_err_t err, const kafka::TopicPartitions& offsets) {
    bool failed = err != RD_KAFKA_RESP_ERR_NO_ERROR;
    for (const auto& tp : offsets) failed = failed || tp.err != RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) failed = false;  // nothing to commit
    (failed ? metrics_.commits_failed : metrics_.commits_ok)->inc();
    if (!failed) last_committed_ = offsets;
    if (failed && commit_error_log_.should_log()) {
      spdlog::warn("commit failed ({}); the next commit retries", rd_kafka_err2str(err));
    }
  };
  callbacks.on_error = [this](rd_kafka_resp_err_t err, std::string_view reason, bool fatal) {
    metrics_.consumer_errors->inc();
    if (fatal) {
      fatal_ = consumer_fatal(err, reason);
      stop_ = true;
    } else if (consumer_error_log_.should_log()) {
      spdlog::warn("kafka: {} ({})", reason, rd_kafka_err2name(err));
    }
  };
  auto c = kafka::KafkaConsumer::create(consumer, std::move(callbacks));
  if (!c) return c.error();
  consumer_.emplace(std::move(c).value());
  return ok();
}

bool Service::on_rebalance(kafka::RebalanceKind kind, const kafka::TopicPartitions& partitions) {
  metrics_.rebalances->inc();
  const bool cooperative = consumer_->cooperative();
  auto apply = [&](const kafka::TopicPartitions& add, bool assign) {
    Result<void> r = ok();
    if (cooperative) {
      r = assign ? consumer_->incremental_assign(add) : consumer_->incremental_unassign(add);
    } else {
      r = assign ? consumer_->assign(add) : consumer_->unassign();
    }
    if (!r) spdlog::error("{}", r.error().message);
  };
  auto current = consumer_->assignment();
  const kafka::TopicPartitions all = current ? current.value() : kafka::TopicPartitions{};
  if (closing_.load()) {
    // The final revoke of close(): the last commit is already done.
    if (kind != kafka::RebalanceKind::assign) apply(all, false);
    return true;
  }
  std::set<int32_t> next = owned_;
  for (const auto& tp : partitions) {
    if (kind == kafka::RebalanceKind::assign) {
      next.insert(tp.partition);
    } else {
      next.erase(tp.partition);
    }
  }
  if (next == owned_ && kind == kafka::RebalanceKind::assign) {
    // Nothing changes here: the cooperative protocol wants an answer, even to an empty
    // assignment, and what was consumed stays valid (no position moved).
    apply({}, true);
    if (!pipeline_ && owned_.empty()) set_readiness(Readiness::ready);
    return false;
  }
  spdlog::info("rebalance: {} {} partition(s); {} -> {} partition(s) of each modality topic",
               kind == kafka::RebalanceKind::assign   ? "assigned"
               : kind == kafka::RebalanceKind::revoke ? "revoked"
                                                      : "lost",
               partitions.size(), owned_.size(), next.size());
  // Commit what is applied before giving partitions away (a lost assignment may already belong
  // to someone else: no commit then).
  if (kind != kafka::RebalanceKind::lost) commit_now(10'000);
  set_readiness(Readiness::not_ready);
  // Patients of partitions given away are scored elsewhere from now on: their last scores here
  // would go stale. Those kept here are scored again at their next tick.
  latest_.clear();
  // A pause outlives the assignment in librdkafka: partitions paused by the restore would stay
  // unfetched once assigned again, and the next restore would never end.
  resume_paused();
  apply(all, false);
  owned_ = std::move(next);
  commit_pending_ = false;
  if (owned_.empty()) {
    drop_engine();
    metrics_.assigned->set(0);        // rebuild() sets it for a non-empty assignment
    set_readiness(Readiness::ready);  // nothing to serve, nothing to restore
    return true;
  }
  auto r = rebuild();
  if (r) return true;
  if (stopping() && !fatal_) {
    // Asked to stop while the restore waited for its lookups: what was applied is committed
    // above and nothing of the new assignment is, so the shutdown has nothing to commit.
    spdlog::info("restore abandoned: stopping ({})", r.error().message);
    drop_engine();
    set_readiness(Readiness::not_ready);
    return true;
  }
  fatal_ = r.error();
  stop_ = true;
  set_readiness(Readiness::not_ready);
  return true;
}

void Service::set_readiness(Readiness readiness) {
  ready_ = readiness == Readiness::ready;
  restoring_ = readiness == Readiness::restoring;
  metrics_.ready->set(readiness == Readiness::ready ? 1 : 0);
  metrics_.restoring->set(readiness == Readiness::restoring ? 1 : 0);
}

void Service::resume_paused() {
  kafka::TopicPartitions resume;
  for (const auto& [t, p] : paused_) resume.emplace_back(kafka_.modality_topics[t], p);
  paused_.clear();
  metrics_.paused->set(0);
  if (auto r = consumer_->resume(resume); !r) spdlog::warn("{}", r.error().message);
}

void Service::drop_engine() {
  pipeline_.reset();
  decoder_.reset();
  registry_.reset();
  table_ = PartitionTable();
  cap_.reset();
}

template <class Lookup>
auto Service::until_answered(std::string_view what, const Lookup& lookup) -> decltype(lookup()) {
  for (int attempt = 0; !stopping(); ++attempt) {
    auto r = lookup();
    // Each attempt is bounded (kLookupTimeoutMs, well below the stall limit): a restore that
    // waits for the broker is alive, and GET /healthz says so.
    heartbeat_ms_ = wall_ms();
    if (r || r.error().code != Errc::io) return r;
    spdlog::warn("restore: {} (retrying)", r.error().message);
    // Backing off, but not past a stop request.
    const auto until =
        SteadyClock::now() + std::chrono::milliseconds(std::min(5000, 200 << std::min(attempt, 5)));
    while (!stopping() && SteadyClock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      heartbeat_ms_ = wall_ms();
    }
  }
  return make_error(Errc::io, fmt::format("{} not looked up: stopping", what));
}

Result<void> Service::rebuild() {
  restore_started_ = SteadyClock::now();
  // From the lookups on (they may wait for the broker): /healthz tells this from a stuck loop.
  set_readiness(Readiness::restoring);
  // A broker that does not answer is waited out, as the lookups below are; topics that are not
  // co-partitioned (a configuration error) are not.
  auto count = until_answered("partition counts", [&] { return check_co_partitioned(); });
  if (!count) return count.error();
  partitions_ = count.value();
  const std::size_t topics = kafka_.modality_topics.size();

  kafka::TopicPartitions full;
  std::vector<std::pair<std::size_t, int32_t>> pairs;
  for (int32_t p : owned_) {
    if (p >= partitions_) {
      return make_error(Errc::io, fmt::format("kafka: assigned partition {} of '{}' beyond its {} "
                                              "partitions (topics changed while running?)",
                                              p, kafka_.modality_topics[0], partitions_));
    }
    for (std::size_t t = 0; t < topics; ++t) {
      full.emplace_back(kafka_.modality_topics[t], p);
      pairs.emplace_back(t, p);
    }
  }
  auto topic_index = [&](const std::string& name) -> std::size_t {
    for (std::size_t t = 0; t < topics; ++t) {
      if (kafka_.modality_topics[t] == name) return t;
    }
    return topics;
  };

  // Committed offsets (retrying while the coordinator is away).
  auto committed = until_answered("committed offsets",
                                  [&] { return consumer_->committed(full, kLookupTimeoutMs); });
  if (!committed) return committed.error();

  std::optional<int64_t> cap;
  for (const auto& tp : committed.value()) {
    if (tp.offset < 0) continue;
    if (auto clock = parse_commit_metadata(tp.metadata))
      cap = cap ? std::min(*cap, *clock) : *clock;
  }

  // Start offsets: sought back by each modality's lookback from the restore clock.
  const EngineConfig& engine = options_.engine;
  const int64_t max_window =
      engine.windows_ms.empty()
          ? 0
          : *std::max_element(engine.windows_ms.begin(), engine.windows_ms.end());
  // Seeking goes by message timestamp, and a reading's event time may be ahead of it: by up to
  // max_event_skew ahead of its arrival_time, which may itself be ahead of the timestamp by as
  // much again (both are accepted by the decoder). Such a record, older than the horizon by its
  // timestamp, still counts for the ticks after the restore clock.
  auto lookback = [&](std::size_t t) {
    const ModalitySpec& spec = schema_[static_cast<ModalityIndex>(t)];
    int64_t back = spec.horizon_ms;
    if (spec.kind == ModalityKind::vitals) back = std::max(back, max_window);
    return back + engine.allowed_lateness_ms + engine.tick_cadence_ms +
           2 * engine.max_event_skew_ms;
  };
  std::map<std::pair<std::size_t, int32_t>, int64_t> end_offset, start_offset;
  kafka::TopicPartitions queries;
  for (const auto& tp : committed.value()) {
    const std::size_t t = topic_index(tp.topic);
    if (t >= topics) continue;
    end_offset[{t, tp.partition}] = tp.offset;
    if (tp.offset >= 0 && cap) {
      queries.emplace_back(tp.topic, tp.partition, saturating_sub(*cap, lookback(t)));
    }
  }
  auto lookup = [&](const kafka::TopicPartitions& q) {
    return until_answered("offsets for times", [&] {
      return options_.offsets_for_times ? options_.offsets_for_times(q)
                                        : consumer_->offsets_for_times(q, kLookupTimeoutMs);
    });
  };
  kafka::TopicPartitions probes;
  if (!queries.empty()) {
    auto answers = lookup(queries);
    if (!answers) return answers.error();
    for (const auto& a : answers.value()) {
      const auto key = std::make_pair(topic_index(a.topic), a.partition);
      const int64_t end = end_offset[key];
      if (a.err == RD_KAFKA_RESP_ERR_NO_ERROR && a.offset >= 0) {
        start_offset[key] = std::min(a.offset, end);
      } else {
        probes.emplace_back(a.topic, a.partition, 0);
      }
    }
  }
  if (!probes.empty()) {
    // "No offset at or after that time" from a broker with a time index means every record is
    // older: nothing to replay. A broker without one (the embedded cluster) answers that for any
    // time; a lookup at time 0 tells the two apart, and without an index the replay starts at the
    // beginning of the log.
    auto answers = lookup(probes);
    if (!answers) return answers.error();
    for (const auto& a : answers.value()) {
      const auto key = std::make_pair(topic_index(a.topic), a.partition);
      const int64_t end = end_offset[key];
      const bool indexed = a.err == RD_KAFKA_RESP_ERR_NO_ERROR && a.offset >= 0;
      start_offset[key] = indexed || end == 0 ? end : kafka::kOffsetBeginning;
    }
  }

  // A new engine.
  if (pipeline_) late_base_ += pipeline_->stats().late_events;
  pipeline_.reset();
  decoder_.reset();
  registry_ = std::make_unique<PatientRegistry>();
  decoder_ = std::make_unique<EventDecoder>(schema_, *registry_, DecodeLimits::from(engine));
  unknown_channels_seen_ = 0;
  sink_->set_registry(registry_.get());
  pipeline_ = std::make_unique<Pipeline>(engine, options_.scorer, *registry_, *sink_);
  table_ =
      PartitionTable(topics, partitions_, kafka_.caught_up_grace_ms, engine.allowed_lateness_ms);
  table_.reset(pairs);
  kafka::TopicPartitions assign_list;
  std::size_t replay_partitions = 0;
  restore_all_committed_ = true;
  for (const auto& [t, p] : pairs) {
    const int64_t end = end_offset.count({t, p}) ? end_offset[{t, p}] : -1;
    int64_t start = kafka::kOffsetBeginning;
    if (end < 0) restore_all_committed_ = false;
    if (end >= 0) {
      start = start_offset.count({t, p}) ? start_offset[{t, p}] : end;
      if (cap) table_.begin_restore(t, p, start == kafka::kOffsetBeginning ? -1 : start, end);
      if (table_.slot(t, p).restoring) ++replay_partitions;
    }
    assign_list.emplace_back(kafka_.modality_topics[t], p, start);
  }
  cap_ = table_.restoring() ? cap : std::nullopt;
  last_clock_.reset();
  last_committed_.clear();
  restore_events_base_ = summary_.events;
  pipeline_->set_emitting(!table_.restoring());
  metrics_.restores->inc();
  ++summary_.restores;
  metrics_.assigned->set(static_cast<double>(pairs.size()));

  Result<void> r = consumer_->cooperative() ? consumer_->incremental_assign(assign_list)
                                            : consumer_->assign(assign_list);
  if (!r) return r;
  if (cap_) {
    spdlog::info(
        "restore: {} partition(s) replay from engine clock {} back by each modality's "
        "horizon, without emitting",
        replay_partitions, *cap_);
    set_readiness(Readiness::restoring);
  } else {
    set_readiness(Readiness::ready);
  }
  return ok();
}

void Service::finish_restore_if_done() {
  if (!cap_ || !pipeline_) return;
  (void)table_.take_restored();
  if (table_.restoring()) {
    // Partitions done (or with nothing to replay) wait, paused, for the others: what they would
    // fetch meanwhile could not be applied before the restore ends.
    kafka::TopicPartitions pause;
    for (const auto& [t, p] : table_.assigned()) {
      PartitionSlot& s = table_.slot(t, p);
      if (!s.restoring && s.seen && !s.paused) {
        s.paused = true;
        pause.emplace_back(kafka_.modality_topics[t], p);
        paused_.emplace_back(t, p);
      }
    }
    if (auto r = consumer_->pause(pause); !r) spdlog::warn("{}", r.error().message);
    metrics_.paused->set(static_cast<double>(paused_.size()));
    return;
  }
  const int64_t now = wall_ms();
  for (const auto& [t, p] : paused_) {
    table_.slot(t, p).paused = false;
    // Not fetched while paused: its end may have moved unseen.
    table_.restart_grace(t, p, now);
  }
  resume_paused();
  const double seconds =
      std::chrono::duration<double>(SteadyClock::now() - restore_started_).count();
  const uint64_t replayed = summary_.events - restore_events_base_;
  metrics_.restore_seconds->set(seconds);
  metrics_.restore_events->inc(replayed);
  spdlog::info("restore done in {:.2f} s: {} events replayed up to engine clock {}", seconds,
               replayed, *cap_);
  // Every owned partition was committed at an engine clock >= the restore clock, so everything
  // that arrived up to it has been replayed: the clock moves there still without emitting (those
  // ticks were emitted by the previous owner). Partitions never committed have not been read up
  // to it; then the ticks from the replayed clock on are emitted again instead.
  if (restore_all_committed_ && (!last_clock_ || *last_clock_ < *cap_)) advance_to(*cap_);
  cap_.reset();
  pipeline_->set_emitting(true);
  set_readiness(Readiness::ready);
  advance_clock();
}

void Service::dead_letter(const rd_kafka_message_t& m, std::size_t topic,
                          const DecodeError& error) {
  const auto reason = static_cast<std::size_t>(error.reason);
  metrics_.decode_errors[reason]->inc();
  ++summary_.dead_letters;
  const std::string_view topic_name = kafka_.modality_topics[topic];
  if (dead_letter_log_[reason].should_log()) {
    spdlog::warn("dead letter {}[{}]@{} ({}): {}", topic_name, m.partition, m.offset,
                 to_string(error.reason), error.message);
  }
  const std::string partition = std::to_string(m.partition);
  const std::string offset = std::to_string(m.offset);
  const std::string_view value = kafka::message_value(m);
  const std::string raw_bytes = std::to_string(value.size());
  const kafka::Header headers[] = {
      {"reason", to_string(error.reason)}, {"message", error.message}, {"source_topic", topic_name},
      {"source_partition", partition},     {"source_offset", offset},  {"raw_bytes", raw_bytes}};
  // Oversized records are not copied (the dead-letter topic would refuse them too), nor is a
  // record the headers would push past what the producer sends: refused, it would stop the
  // service, and the restart would meet the same record again.
  std::size_t framing = 512;  // librdkafka's record overhead, generously
  for (const kafka::Header& h : headers) framing += h.name.size() + h.value.size() + 16;
  std::string_view key = kafka::message_key(m);
  const std::size_t limit = output_->max_message_bytes();
  if (key.size() + framing > limit) key = {};
  const bool copy = error.reason != DecodeReason::record_too_large &&
                    value.size() + key.size() + framing <= limit;
  auto r = output_->produce(kafka_.dead_letter_topic, key, copy ? value : std::string_view{},
                            headers, false, [this] { return !stopping(); });
  if (!r) {
    if (output_->gave_up()) return;  // stopping with the queue full: nothing more is committed
    fatal_ = r.error();
    stop_ = true;
    return;
  }
  metrics_.dead_letters->inc();
}

void Service::handle(const rd_kafka_message_t& m) {
  const std::string_view topic_name = kafka::message_topic(m);
  std::size_t t = 0;
  while (t < kafka_.modality_topics.size() && kafka_.modality_topics[t] != topic_name) ++t;
  if (m.err) {
    if (m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (table_.valid(t, m.partition) && table_.slot(t, m.partition).assigned) {
        table_.on_end(t, m.partition, m.offset, wall_ms());
      }
      return;
    }
    metrics_.consumer_errors->inc();
    if (consumer_error_log_.should_log()) {
      spdlog::warn("kafka: consumer: {}[{}]: {}", topic_name, m.partition, rd_kafka_err2str(m.err));
    }
    if (m.err == RD_KAFKA_RESP_ERR__FATAL) {
      fatal_ = consumer_fatal(m.err, "consumer");
      stop_ = true;
    }
    return;
  }
  if (!table_.valid(t, m.partition)) return;
  PartitionSlot& slot = table_.slot(t, m.partition);
  if (!slot.assigned || (slot.next_offset >= 0 && m.offset < slot.next_offset)) return;
  auto decoded =
      decode_topic_record(*decoder_, schema_, t, m, event_, options_.engine.max_event_skew_ms);
  if (const uint64_t unknown = decoder_->unknown_channels(); unknown != unknown_channels_seen_) {
    if (m.offset >= slot.restore_end)
      metrics_.unknown_channels[t]->inc(unknown - unknown_channels_seen_);
    unknown_channels_seen_ = unknown;
  }
  if (!decoded) {
    // Below the restore's end the record was consumed before, and dead-lettered then.
    if (m.offset >= slot.restore_end) dead_letter(m, t, decoded.error());
    // A bad record's timestamp says nothing reliable: it does not move the partition's clock.
    table_.on_message(t, m.partition, m.offset, kNoArrival, true);
    return;
  }
  event_.source_seq = (static_cast<uint64_t>(m.offset) << 8) | t;
  (event_.modality == kOutcomeModality ? metrics_.events_in_outcome : metrics_.events_in[t])->inc();
  ++summary_.events;
  table_.on_event(t, m.partition, m.offset, std::move(event_));
}

void Service::advance_clock() {
  if (!pipeline_) return;
  // After a gap (the process stopped or starved of CPU, typically what makes a group session
  // expire), a partition that looked caught up before it was not fetched meanwhile: records
  // produced to it during the gap are still unseen, and letting its grace run out over the gap
  // would make them late. The gap does not count toward its grace.
  const int64_t now = wall_ms();
  if (last_turn_ms_ && now - *last_turn_ms_ > kTurnMs) {
    table_.extend_grace(*last_turn_ms_, now - *last_turn_ms_ - kTurnMs);
  }
  last_turn_ms_ = now;
  // A partition that reached its end is not caught up any more once records beyond it are known
  // (they may sit in the local fetch queue behind other partitions' records).
  table_.refresh_caught_up([&](std::size_t t, int32_t p) -> int64_t {
    const auto marks = consumer_->cached_watermarks(kafka_.modality_topics[t], p);
    return marks ? marks->second : -1;
  });
  std::optional<int64_t> clock = table_.clock(now);
  if (!clock) return;
  if (cap_) clock = std::min(*clock, *cap_);
  if (last_clock_ && *clock <= *last_clock_) return;
  advance_to(*clock);
}

void Service::advance_to(int64_t clock) {
  // The events now applicable go to the pipeline in (arrival, source) order, so that it applies
  // all of them in this advance and holds none between advances.
  released_.clear();
  table_.release(saturating_sub(clock, options_.engine.allowed_lateness_ms), &released_, wall_ms());
  // Sorted by key, not by moving events: a stable sort of the events themselves allocated a
  // buffer of them on every advance. The index keeps equal keys in release order.
  release_order_.clear();
  for (uint32_t i = 0; i < released_.size(); ++i) {
    release_order_.push_back({released_[i].arrival_time_ms, released_[i].source_seq, i});
  }
  std::sort(release_order_.begin(), release_order_.end(),
            [](const ReleaseKey& a, const ReleaseKey& b) {
              return std::tie(a.arrival_ms, a.source_seq, a.index) <
                     std::tie(b.arrival_ms, b.source_seq, b.index);
            });
  for (const ReleaseKey& k : release_order_) pipeline_->push(std::move(released_[k.index]));
  pipeline_->advance(clock);
  last_clock_ = clock;
}

Result<ServiceSummary> Service::stopped_while_starting() {
  spdlog::info("stopped while starting: nothing consumed, nothing to commit");
  if (http_) http_->stop();
  summary_.clean_shutdown = true;
  summary_.stopped_while_starting = true;
  return summary_;
}

Error Service::consumer_fatal(rd_kafka_resp_err_t err, std::string_view context) const {
  if (consumer_) {
    if (auto f = consumer_->fatal_error()) return *std::move(f);
  }
  return kafka::kafka_error(err, fmt::format("consumer: {}", context));
}

kafka::TopicPartitions Service::commit_snapshot() const {
  kafka::TopicPartitions out;
  const std::string metadata = format_commit_metadata(last_clock_);
  for (const auto& [t, p] : table_.assigned()) {
    if (auto offset = table_.commit_offset(t, p)) {
      out.emplace_back(kafka_.modality_topics[t], p, *offset, metadata);
    }
  }
  return out;
}

void Service::commit_now(int timeout_ms) {
  if (!pipeline_ || cap_) return;  // restoring: nothing new is applied
  auto flushed = output_->flush(timeout_ms);
  if (!flushed) {
    spdlog::warn("not committing: {} (the next owner replays from the last commit)",
                 flushed.error().message);
    return;
  }
  auto snapshot = commit_snapshot();
  if (snapshot.empty()) return;
  auto r = consumer_->commit_wait(snapshot, timeout_ms);
  (r ? metrics_.commits_ok : metrics_.commits_failed)->inc();
  if (r) last_committed_ = snapshot;
  if (!r) spdlog::warn("{}", r.error().message);
  commit_pending_ = false;
}

void Service::update_stats() {
  if (pipeline_) {
    // The state bytes and the prune of the latest scores walk every patient: with hundreds of
    // thousands of them, doing so every second took several percent of the loop's time.
    const int64_t walk_start = steady_ns();
    const bool walk = walk_start >= next_walk_ns_;
    const PipelineStats st = pipeline_->stats(walk);
    metrics_.active_patients->set(static_cast<double>(st.active_patients));
    if (walk) metrics_.state_bytes->set(static_cast<double>(st.state_bytes));
    if (last_clock_) {
      const double released_s =
          static_cast<double>(saturating_sub(*last_clock_, options_.engine.allowed_lateness_ms)) /
          1000.0;
      metrics_.clock_seconds->set(released_s);
      metrics_.clock_lag_seconds->set(static_cast<double>(wall_ms()) / 1000.0 - released_s);
      if (walk) latest_.prune(saturating_sub(*last_clock_, schema_.max_horizon_ms()));
    }
    if (walk) next_walk_ns_ = walk_start + kStatsWalkShare * (steady_ns() - walk_start);
    const uint64_t late = late_base_ + st.late_events;
    if (late > late_reported_) {
      metrics_.late_events->inc(late - late_reported_);
      late_reported_ = late;
    }
  }
  std::vector<double> lag(kafka_.modality_topics.size(), 0.0);
  for (const auto& [t, p] : table_.assigned()) {
    const PartitionSlot& s = table_.slot(t, p);
    if (auto marks = consumer_->cached_watermarks(kafka_.modality_topics[t], p)) {
      const int64_t position = s.next_offset >= 0 ? s.next_offset : marks->first;
      lag[t] += static_cast<double>(std::max<int64_t>(0, marks->second - position));
    }
  }
  for (std::size_t t = 0; t < lag.size(); ++t) metrics_.lag[t]->set(lag[t]);
  count_scores();
}

void Service::count_scores() {
  metrics_.scores->inc(sink_->emitted() - summary_.scores);
  summary_.scores = sink_->emitted();
}

void Service::periodic(int64_t now_ms) {
  if (pipeline_ && !cap_) {
    if (!commit_pending_ && now_ms >= next_commit_ms_) {
      pending_snapshot_ = commit_snapshot();
      if (!pending_snapshot_.empty() && !same_offsets(pending_snapshot_, last_committed_)) {
        output_->begin_barrier();
        commit_pending_ = true;
      }
      next_commit_ms_ = now_ms + kafka_.commit_interval_ms;
    }
    if (commit_pending_ && output_->barrier_reached()) {
      auto r = consumer_->commit(pending_snapshot_, true);
      if (!r) {
        metrics_.commits_failed->inc();
        spdlog::warn("{}", r.error().message);
      }
      commit_pending_ = false;
    }
  }
  if (now_ms >= next_stats_ms_) {
    update_stats();
    next_stats_ms_ = now_ms + 1000;
  }
}

HttpResponse Service::serve_http(const HttpRequest& request) {
  constexpr std::string_view kText = "text/plain; charset=utf-8";
  if (request.path == "/healthz") {
    const int64_t idle = wall_ms() - heartbeat_ms_.load();
    if (idle > options_.stall_ms) return {503, std::string(kText), "stalled\n"};
    if (restoring_.load()) return {200, std::string(kText), "ok: restoring\n"};
    return {200, std::string(kText), "ok\n"};
  }
  if (request.path == "/readyz") {
    if (stop_.load()) return {503, std::string(kText), "stopping\n"};
    if (!ready_.load()) return {503, std::string(kText), "not ready: starting or restoring\n"};
    return {200, std::string(kText), "ready\n"};
  }
  if (request.path == "/metrics") {
    return {200, std::string(kPrometheusContentType), metrics_.registry.render()};
  }
  constexpr std::string_view kPrefix = "/v1/patients/";
  constexpr std::string_view kSuffix = "/score";
  const std::string_view path = request.path;
  if (path.starts_with(kPrefix) && path.ends_with(kSuffix) &&
      path.size() > kPrefix.size() + kSuffix.size()) {
    std::string id;
    if (!url_decode(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()),
                    id)) {
      return {400, "application/json", "{\"error\":\"bad patient id escape\"}\n"};
    }
    if (auto json = latest_.get(id)) return {200, "application/json", *json + "\n"};
    return {404, "application/json", "{\"error\":\"no score for this patient\"}\n"};
  }
  return {404, std::string(kText), "not found\n"};
}

Result<ServiceSummary> Service::run() {
  if (!options_.scorer) return make_error(Errc::invalid_argument, "serve: no scorer");
  heartbeat_ms_ = wall_ms();
  if (auto r = start_io(); !r) return r.error();
  // The broker requests at start give up on a stop: against a broker away or slow, each would
  // otherwise wait out its timeout first.
  if (auto r = prepare_topics(); !r) return stopping() ? stopped_while_starting() : r.error();
  auto count = check_co_partitioned();
  if (!count) return stopping() ? stopped_while_starting() : count.error();
  partitions_ = count.value();
  if (auto r = create_clients(); !r) return stopping() ? stopped_while_starting() : r.error();
  if (stopping()) return stopped_while_starting();
  ServiceInfo info;
  info.bootstrap_servers = bootstrap_;
  if (http_) {
    // An IPv6 address goes in brackets, as in a URL.
    const bool v6 = http_->host().find(':') != std::string::npos;
    info.http_address = v6 ? fmt::format("[{}]:{}", http_->host(), http_->port())
                           : fmt::format("{}:{}", http_->host(), http_->port());
  }
  spdlog::info(
      "serving: brokers {}{}, group '{}', {} modality topic(s) of {} partition(s), "
      "scores to '{}', dead letters to '{}'{}",
      bootstrap_, kafka_.embedded() ? " (embedded)" : "", kafka_.group_id,
      kafka_.modality_topics.size(), partitions_, kafka_.score_topic, kafka_.dead_letter_topic,
      http_ ? fmt::format(", http on {}", info.http_address) : std::string());
  if (options_.on_started) options_.on_started(info);
  if (auto r = consumer_->subscribe({kafka_.modality_topics[0]}); !r) return r.error();

  std::vector<kafka::MessagePtr> batch;
  batch.reserve(kMaxBatch);
  while (!stopping() && !fatal_) {
    batch.clear();
    // While scores await their acknowledgement, wait briefly: acknowledgements are served by
    // this loop (and time the score latency).
    consumer_->poll_batch(batch, kMaxBatch, output_->in_flight() > 0 ? 1 : kPollTimeoutMs);
    const int64_t now = wall_ms();
    heartbeat_ms_ = now;
    output_->set_batch_time(steady_ns());
    if (pipeline_) {
      for (const auto& m : batch) handle(*m);
      advance_clock();
      finish_restore_if_done();
      count_scores();
    }
    output_->poll(0);
    // Raised on librdkafka's threads, and reported as an error message that an instance without
    // partitions never handles: checked every turn, as the producer's.
    if (!fatal_) {
      if (auto f = consumer_->fatal_error()) fatal_ = *std::move(f);
    }
    if (output_->failure()) fatal_ = *output_->failure();
    if (sink_->error()) fatal_ = *sink_->error();
    // A message given up (a stop while the producer's queue was full) leaves offsets applied
    // whose scores or dead letters were never produced: no commit from here on.
    if (fatal_ || output_->gave_up()) break;
    periodic(now);
  }

  const auto stop_started = SteadyClock::now();
  auto remaining_ms = [&] {
    const auto spent =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - stop_started)
            .count();
    return static_cast<int>(std::max<int64_t>(100, kafka_.shutdown_grace_ms - spent));
  };
  if (fatal_) {
    spdlog::error("{}", fatal_->message);
    closing_ = true;
    (void)consumer_->close();
    return *fatal_;
  }
  spdlog::info("stopping: flushing scores and committing");
  stop_ = true;
  set_readiness(Readiness::not_ready);
  bool committed = false;
  if (output_->gave_up()) {
    spdlog::warn(
        "not committing: the stop came while the producer's queue was full ({} message(s) not "
        "acknowledged); the scores not produced are emitted again after a restart, which "
        "replays from the last commit",
        output_->in_flight());
  } else if (pipeline_ && !cap_) {
    auto flushed = output_->flush(remaining_ms());
    if (flushed) {
      auto snapshot = commit_snapshot();
      auto r = consumer_->commit_wait(snapshot, remaining_ms());
      committed = static_cast<bool>(r);
      if (!r) spdlog::warn("final commit: {}", r.error().message);
    } else {
      spdlog::warn("final flush: {}", flushed.error().message);
    }
  } else {
    committed = true;  // nothing applied since the last restore: nothing to commit
  }
  closing_ = true;
  if (auto r = consumer_->close(); !r) spdlog::warn("{}", r.error().message);
  // After a give-up nothing waits on the deliveries: the producer is not held up for them.
  if (!output_->gave_up()) (void)output_->flush(remaining_ms());
  update_stats();
  summary_.clean_shutdown = committed;
  if (http_) http_->stop();
  spdlog::info("stopped: {} events, {} dead letters, {} scores, {} restore(s){}", summary_.events,
               summary_.dead_letters, summary_.scores, summary_.restores,
               committed ? "" : " (final commit not done: a restart replays from the last one)");
  return summary_;
}

}  // namespace

Result<ServiceConfig> load_service_config(const std::string& path,
                                          const KafkaOverrides& overrides) {
  auto doc = read_toml_file(path);
  if (!doc) return doc.error();
  auto engine = engine_config_from_toml(doc.value());
  if (!engine)
    return make_error(engine.error().code, fmt::format("{}: {}", path, engine.error().message));
  auto kafka = kafka_config_from_toml(doc.value(), engine.value().schema, overrides,
                                      KafkaOverrides::brokers_from_environment());
  if (!kafka) {
    // A value from the command line or the environment is not the file's fault: no file prefix.
    const std::string& message = kafka.error().message;
    if (message.starts_with("--") || message.starts_with("TFE_")) return kafka.error();
    return make_error(kafka.error().code, fmt::format("{}: {}", path, message));
  }
  return ServiceConfig{std::move(engine).value(), std::move(kafka).value()};
}

Result<ServiceSummary> run_service(const ServiceOptions& options) {
  Service service(options);
  return service.run();
}

}  // namespace tfe
