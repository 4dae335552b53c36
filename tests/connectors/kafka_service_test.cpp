// The Kafka service end to end on the embedded cluster: scores equal a direct replay, restarts and
// rebalances lose nothing and never contradict, bad records are dead-lettered, a broker outage is
// waited out, the HTTP endpoints answer.

#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "connectors/kafka_consumer.h"
#include "connectors/kafka_partitions.h"
#include "connectors/kafka_producer.h"
#include "connectors/kafka_publish.h"
#include "tests/connectors/kafka_test_util.h"

namespace tfe {
namespace {

using namespace std::chrono_literals;
using test::Collected;
using test::ScoreMap;

struct Fixture {
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  EngineConfig engine = test::kafka_test_engine_config();
  std::shared_ptr<const Scorer> scorer;
  PatientRegistry registry;

  explicit Fixture(int brokers = 1) {
    auto b = kafka::EmbeddedBroker::start(brokers);
    EXPECT_TRUE(b) << b.error().message;
    broker = std::move(b).value();
    auto s = make_news2_scorer(engine);
    EXPECT_TRUE(s) << s.error().message;
    scorer = s.value();
  }

  ServiceOptions options(const std::string& group) const {
    ServiceOptions o;
    o.engine = engine;
    o.kafka = test::kafka_test_config(broker->bootstrap_servers(), group);
    o.scorer = scorer;
    return o;
  }

  void create_topics(const KafkaConfig& k, int32_t partitions = 4) {
    for (const auto& t : k.modality_topics) ASSERT_TRUE(broker->create_topic(t, partitions));
    ASSERT_TRUE(broker->create_topic(k.score_topic, partitions));
    ASSERT_TRUE(broker->create_topic(k.dead_letter_topic, partitions));
  }

  // small_batches: many small record batches, so that small fetches return few records.
  void publish(const std::vector<Event>& events, KafkaConfig k, bool small_batches = false) {
    if (small_batches) {
      k.librdkafka.emplace_back("batch.num.messages", "20");
      k.librdkafka.emplace_back("linger.ms", "0");
    }
    test::VectorSource source(events);
    DeadLetterSink dead;
    auto r = publish_events(source, engine.schema, registry, k, dead, {});
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r.value().published, events.size());
  }
};

void expect_same(const ScoreMap& want, const Collected& got) {
  EXPECT_EQ(got.conflicts, 0u) << "two different scores for the same patient and time";
  EXPECT_EQ(got.scores.size(), want.size());
  std::size_t missing = 0, extra = 0, differ = 0;
  for (const auto& [key, json] : want) {
    auto it = got.scores.find(key);
    if (it == got.scores.end()) {
      if (++missing <= 3) ADD_FAILURE() << "missing " << key.first << "@" << key.second;
    } else if (it->second != json) {
      if (++differ <= 3) ADD_FAILURE() << "differs: " << it->second << "\nwant: " << json;
    }
  }
  for (const auto& [key, json] : got.scores) {
    if (!want.count(key) && ++extra <= 3)
      ADD_FAILURE() << "extra " << key.first << "@" << key.second;
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(extra, 0u);
  EXPECT_EQ(differ, 0u);
}

TEST(KafkaService, ScoresEqualADirectReplay) {
  Fixture f;
  auto options = f.options("svc1");
  f.create_topics(options.kafka);
  const auto events = test::make_cohort(f.registry, 12, 40);
  f.publish(events, options.kafka);
  const ScoreMap want = test::reference_scores(events, f.engine, f.scorer, f.registry);
  ASSERT_GT(want.size(), 300u);

  test::ServiceRunner service(options);
  const Collected got = test::collect_scores(f.broker->bootstrap_servers(),
                                             options.kafka.score_topic, want.size(), 60s);
  service.stop();
  ASSERT_TRUE(service.result()) << service.result().error().message;
  EXPECT_TRUE(service.result().value().clean_shutdown);
  EXPECT_EQ(service.result().value().events, events.size());
  expect_same(want, got);
  EXPECT_EQ(got.messages, want.size()) << "one uninterrupted run emits each score once";
}

// Runs the service until it has scored `scores` scores (the first part of a history), lets a
// periodic commit follow the last of them, and stops it cleanly.
void run_until_scored_then_stop(const Fixture& f, const ServiceOptions& options,
                                std::size_t scores) {
  test::ServiceRunner service(options);
  const auto got =
      test::collect_scores(f.broker->bootstrap_servers(), options.kafka.score_topic, scores, 60s);
  ASSERT_EQ(got.scores.size(), scores);
  std::this_thread::sleep_for(500ms);  // a periodic commit after the last score
  service.stop();
  ASSERT_TRUE(service.result()) << service.result().error().message;
  EXPECT_TRUE(service.result().value().clean_shutdown);
}

TEST(KafkaService, RestartRestoresStateAndLosesNothing) {
  Fixture f;
  auto options = f.options("svc2");
  f.create_topics(options.kafka);
  const auto all = test::make_cohort(f.registry, 10, 60);
  const auto [first, second] = test::split_by_arrival(all, test::kT0 + 30 * 60'000);
  const ScoreMap want = test::reference_scores(all, f.engine, f.scorer, f.registry);
  const ScoreMap want_first = test::reference_scores(first, f.engine, f.scorer, f.registry);

  f.publish(first, options.kafka);
  ASSERT_NO_FATAL_FAILURE(run_until_scored_then_stop(f, options, want_first.size()));
  f.publish(second, options.kafka);
  test::ServiceRunner service(options);
  const Collected got = test::collect_scores(f.broker->bootstrap_servers(),
                                             options.kafka.score_topic, want.size(), 90s);
  service.stop();
  ASSERT_TRUE(service.result()) << service.result().error().message;
  EXPECT_GE(service.result().value().restores, 1u);
  // The second run replayed the first half without emitting it again: at most the ticks pending
  // at the last commit (one per patient) repeat.
  EXPECT_LE(got.messages, want.size() + 10);
  expect_same(want, got);
}

std::pair<unsigned, std::string> http_get(const std::string& address, const std::string& target) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  const auto colon = address.rfind(':');
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(
      asio::ip::tcp::endpoint(asio::ip::make_address(address.substr(0, colon)),
                              static_cast<uint16_t>(std::stoi(address.substr(colon + 1)))));
  http::request<http::string_body> req{http::verb::get, target, 11};
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return {res.result_int(), res.body()};
}

// The value of an unlabelled counter or gauge on the instance's /metrics page, or -1 without it.
double metric_value(const std::string& address, const std::string& name) {
  const auto metrics = http_get(address, "/metrics").second;
  const auto pos = metrics.find("\n" + name + " ");
  return pos == std::string::npos ? -1.0 : std::stod(metrics.substr(pos + name.size() + 2));
}

// Polls `done` every 200 ms until it holds or `timeout` passes.
template <class Done>
bool wait_until(std::chrono::seconds timeout, Done&& done) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

// The instance at `address` owns partitions and has finished restoring them.
bool serving(const std::string& address) {
  return metric_value(address, "tfe_assigned_partitions") > 0 &&
         http_get(address, "/readyz").first == 200;
}

// Slows consumption down (small fetches, slow broker answers) so that faults land mid-stream.
// Everything is published before the service starts: no partition reaches its end early, so the
// live clock never runs ahead of data still to come.
void slow_down(Fixture& f, ServiceOptions& options, int rtt_ms) {
  options.kafka.librdkafka.emplace_back("max.partition.fetch.bytes", "1500");
  ASSERT_TRUE(f.broker->set_broker_rtt(1, rtt_ms));
}

// Creates every topic of the service with 4 partitions on a two-broker fixture, each topic's
// partitions led by the broker `leader_of(topic)` names.
template <class LeaderOf>
void create_topics_led_by(Fixture& f, const KafkaConfig& kafka, LeaderOf leader_of) {
  std::vector<std::string> topics = kafka.modality_topics;
  topics.push_back(kafka.score_topic);
  topics.push_back(kafka.dead_letter_topic);
  for (const auto& t : topics) {
    ASSERT_TRUE(f.broker->create_topic(t, 4, 2));
    const int32_t leader = leader_of(t);
    for (int32_t p = 0; p < 4; ++p) ASSERT_TRUE(f.broker->set_partition_leader(t, p, leader));
  }
}

TEST(KafkaService, SecondInstanceTakesPartitionsAndTheFirstTakesThemBack) {
  Fixture f;
  auto options = f.options("svc3");
  f.create_topics(options.kafka);
  const auto all = test::make_cohort(f.registry, 40, 120);
  const ScoreMap want = test::reference_scores(all, f.engine, f.scorer, f.registry);
  f.publish(all, options.kafka, true);
  slow_down(f, options, 250);

  test::ServiceRunner a(options);
  const auto early =
      test::collect_scores(f.broker->bootstrap_servers(), options.kafka.score_topic, 20, 60s);
  ASSERT_GE(early.scores.size(), 20u);
  {
    test::ServiceRunner b(options);
    // b joins; the partitions split between the two; b restores its share.
    ASSERT_TRUE(wait_until(60s, [&] { return serving(b.http_address()); }))
        << "the second instance got no partitions";
    // Slow fetches and a sanitizer build can take seconds to reach the next tick: wait for one.
    EXPECT_TRUE(wait_until(60s, [&] {
      return metric_value(b.http_address(), "tfe_scores_emitted_total") > 0;
    })) << "the second instance scored nothing";
    b.stop();  // leaves the group: a takes everything back and restores it
    ASSERT_TRUE(b.result()) << b.result().error().message;
    EXPECT_GE(b.result().value().restores, 1u);
    EXPECT_GT(b.result().value().scores, 0u) << "the second instance scored its share";
  }
  ASSERT_TRUE(f.broker->set_broker_rtt(1, 0));
  const Collected got = test::collect_scores(f.broker->bootstrap_servers(),
                                             options.kafka.score_topic, want.size(), 90s);
  a.stop();
  ASSERT_TRUE(a.result()) << a.result().error().message;
  EXPECT_GE(a.result().value().restores, 2u) << "alone, then beside the second instance";
  expect_same(want, got);
}

// The patients of the cohort whose latest score the instance at `address` answers.
std::set<std::string> patients_answered(const std::string& address, int patients) {
  std::set<std::string> answered;
  for (int p = 0; p < patients; ++p) {
    std::string id = "P";
    id += std::to_string(1000 + p);
    if (http_get(address, "/v1/patients/" + id + "/score").first == 200) answered.insert(id);
  }
  return answered;
}

// /readyz and the tfe_ready and tfe_restoring gauges tell the same story (read one after the
// other, so a rebalance in between may part them for a moment: they must agree again soon).
void expect_readiness_agrees(const std::string& address) {
  bool ready = false;
  double gauge = -1, restoring = -1;
  EXPECT_TRUE(wait_until(10s,
                         [&] {
                           ready = http_get(address, "/readyz").first == 200;
                           gauge = metric_value(address, "tfe_ready");
                           restoring = metric_value(address, "tfe_restoring");
                           return gauge == (ready ? 1.0 : 0.0) && (!ready || restoring == 0.0);
                         }))
      << address << ": /readyz " << (ready ? "ready" : "not ready") << ", tfe_ready " << gauge
      << ", tfe_restoring " << restoring;
}

// Partitions given to another instance take their patients' latest scores with them: the first
// instance must not go on answering them (stale) once the second one scores them.
TEST(KafkaService, PartitionsGivenAwayTakeTheirPatientsLatestScores) {
  Fixture f;
  auto options = f.options("svc-latest");
  f.create_topics(options.kafka);
  constexpr int kPatients = 40;
  const auto all = test::make_cohort(f.registry, kPatients, 120);
  f.publish(all, options.kafka, true);
  slow_down(f, options, 250);

  test::ServiceRunner a(options);
  const std::string a_address = a.http_address();
  ASSERT_TRUE(wait_until(60s, [&] {
    return patients_answered(a_address, kPatients).size() == kPatients;
  })) << "the first instance never scored every patient";
  test::ServiceRunner b(options);
  const std::string b_address = b.http_address();
  ASSERT_TRUE(wait_until(90s, [&] {
    return serving(b_address) && !patients_answered(b_address, kPatients).empty();
  })) << "the second instance scored nobody";
  ASSERT_TRUE(wait_until(60s, [&] { return serving(a_address); }));
  expect_readiness_agrees(a_address);
  expect_readiness_agrees(b_address);
  const auto on_a = patients_answered(a_address, kPatients);
  const auto on_b = patients_answered(b_address, kPatients);
  std::vector<std::string> both;
  std::set_intersection(on_a.begin(), on_a.end(), on_b.begin(), on_b.end(),
                        std::back_inserter(both));
  EXPECT_TRUE(both.empty()) << both.size() << " patient(s) answered by both instances, e.g. "
                            << both.front();
  EXPECT_LT(on_a.size(), static_cast<std::size_t>(kPatients));
}

// An instance the group leaves without partitions is ready (it has nothing to restore), and its
// gauges say so too. One partition per topic for two instances: the group gives them all to one
// of the two, and which one is the assignor's choice (the first may lose its membership while
// the second joins, a commit with a stale generation for instance, and sort after it on
// rejoining), so the test finds the idle one rather than assuming it.
TEST(KafkaService, AnInstanceWithoutPartitionsIsReadyOnItsGaugesToo) {
  Fixture f;
  auto options = f.options("svc-idle");
  f.create_topics(options.kafka, 1);
  f.publish(test::make_cohort(f.registry, 4, 10), options.kafka);
  test::ServiceRunner a(options);
  ASSERT_TRUE(wait_until(60s, [&] { return serving(a.http_address()); }));
  test::ServiceRunner b(options);
  const std::string addresses[] = {a.http_address(), b.http_address()};
  const auto topics = static_cast<double>(options.kafka.modality_topics.size());
  std::size_t idle = 0;
  ASSERT_TRUE(wait_until(60s, [&] {
    if (metric_value(addresses[1], "tfe_rebalances_total") < 1) return false;  // b joined
    for (std::size_t i = 0; i < 2; ++i) {
      if (metric_value(addresses[i], "tfe_assigned_partitions") == 0 &&
          http_get(addresses[i], "/readyz").first == 200 && serving(addresses[1 - i]) &&
          metric_value(addresses[1 - i], "tfe_assigned_partitions") == topics) {
        idle = i;
        return true;
      }
    }
    return false;
  })) << "no instance was left ready without partitions while the other held them all";
  expect_readiness_agrees(addresses[idle]);
  expect_readiness_agrees(addresses[1 - idle]);
}

// A restore pauses the partitions it has finished while others still replay. A rebalance that
// lands then (the second instance leaves again) must not leave them paused: librdkafka keeps a
// pause across reassignment, and the next restore would wait for them for ever.
TEST(KafkaService, ARebalanceDuringARestoreLeavesNoPartitionPaused) {
  // The wearables topic (most of the records) is led by a broker made slow during the restore:
  // the other topics' partitions finish first and wait, paused, while the second instance
  // leaves and the group rebalances.
  Fixture f(2);
  auto options = f.options("svc10");
  ASSERT_TRUE(f.broker->set_group_coordinator(options.kafka.group_id, 1));
  ASSERT_NO_FATAL_FAILURE(create_topics_led_by(f, options.kafka, [&](const std::string& t) {
    return t == options.kafka.modality_topics[0] ? 2 : 1;
  }));
  const auto all = test::make_cohort(f.registry, 40, 120);
  const ScoreMap want = test::reference_scores(all, f.engine, f.scorer, f.registry);
  f.publish(all, options.kafka, true);
  slow_down(f, options, 50);

  test::ServiceRunner a(options);
  const std::string a_address = a.http_address();
  ASSERT_FALSE(a_address.empty()) << "the first instance did not start";
  const auto early =
      test::collect_scores(f.broker->bootstrap_servers(), options.kafka.score_topic, 20, 60s);
  ASSERT_GE(early.scores.size(), 20u);
  ASSERT_TRUE(f.broker->set_broker_rtt(2, 1000));
  {
    // b joins: a gives partitions away and restores the rest, pausing what it has finished.
    test::ServiceRunner b(options);
    ASSERT_TRUE(wait_until(90s, [&] {
      return metric_value(a_address, "tfe_paused_partitions") > 0;
    })) << "the first instance's restore paused no partition";
    const double rebalances = metric_value(a_address, "tfe_rebalances_total");
    b.stop();  // a takes b's partitions back while its own restore goes on
    ASSERT_TRUE(b.result()) << b.result().error().message;
    ASSERT_TRUE(wait_until(60s, [&] {
      return metric_value(a_address, "tfe_rebalances_total") > rebalances;
    })) << "the first instance saw no rebalance after the second left";
  }
  ASSERT_TRUE(f.broker->set_broker_rtt(1, 0));
  ASSERT_TRUE(f.broker->set_broker_rtt(2, 0));
  const Collected got = test::collect_scores(f.broker->bootstrap_servers(),
                                             options.kafka.score_topic, want.size(), 90s);
  EXPECT_EQ(metric_value(a_address, "tfe_paused_partitions"), 0);
  a.stop();
  ASSERT_TRUE(a.result()) << a.result().error().message;
  EXPECT_GE(a.result().value().restores, 2u);
  expect_same(want, got);
}

TEST(KafkaService, BadRecordsGoToTheDeadLetterTopicWithTheirPosition) {
  Fixture f;
  auto options = f.options("svc4");
  f.create_topics(options.kafka);
  const auto events = test::make_cohort(f.registry, 6, 20);
  const ScoreMap want = test::reference_scores(events, f.engine, f.scorer, f.registry);
  // Bad records first (with early timestamps, so they never hold the clock), then the valid ones.
  auto producer = kafka::KafkaProducer::create(
      {{"bootstrap.servers", f.broker->bootstrap_servers()}, {"log_level", "2"}}, {});
  ASSERT_TRUE(producer);
  const std::string wearables = options.kafka.modality_topics[0];
  const std::string notes = options.kafka.modality_topics[1];
  struct Bad {
    std::string topic, value, reason;
  };
  const std::vector<Bad> bad = {
      {wearables, "not json", "malformed_json"},
      {wearables, R"({"patient_id":"P1000","modality":"wearables","event_time":1})",
       "missing_field"},
      {notes, R"({"patient_id":"","modality":"notes","event_time":1,"text":"x"})",
       "bad_patient_id"},
      {notes, R"({"patient_id":"P1000","modality":"scans","event_time":1})", "unknown_modality"},
      {notes, R"({"patient_id":"P1000","modality":"wearables","event_time":1,"values":{"hr":1}})",
       "unknown_modality"},
      // Valid on its own, but it claims to arrive ten years after it was produced: taken as it
      // is, it would move the live clock ten years on and no valid record would score again.
      {wearables,
       fmt::format(R"({{"patient_id":"P1000","modality":"wearables","event_time":{0},)"
                   R"("arrival_time":{0},"values":{{"hr":80}}}})",
                   test::kT0 + 10LL * 365 * 24 * 3600 * 1000),
       "arrival_time_out_of_range"},
      // Under the record limit, but its copy with the dead-letter headers is over what the
      // producer sends (message.max.bytes, 1,000,000): the dead letter goes without the body.
      {notes, std::string(999'900, 'x'), "malformed_json"},
  };
  for (const auto& b : bad) {
    ASSERT_EQ(producer.value().produce({b.topic, "P1000", b.value, test::kT0 - 1000, {}, 0}),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_TRUE(producer.value().flush(10'000));
  f.publish(events, options.kafka);

  test::ServiceRunner service(options);
  const Collected got = test::collect_scores(f.broker->bootstrap_servers(),
                                             options.kafka.score_topic, want.size(), 60s);
  expect_same(want, got);

  auto consumer =
      kafka::KafkaConsumer::create({{"bootstrap.servers", f.broker->bootstrap_servers()},
                                    {"group.id", "dlq-reader"},
                                    {"auto.offset.reset", "earliest"},
                                    {"log_level", "2"}},
                                   {});
  ASSERT_TRUE(consumer);
  ASSERT_TRUE(consumer.value().subscribe({options.kafka.dead_letter_topic}));
  std::multiset<std::string> reasons;
  std::vector<kafka::MessagePtr> batch;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (reasons.size() < bad.size() && std::chrono::steady_clock::now() < deadline) {
    batch.clear();
    consumer.value().poll_batch(batch, 100, 100);
    for (const auto& m : batch) {
      if (m->err) continue;
      rd_kafka_headers_t* headers = nullptr;
      ASSERT_EQ(rd_kafka_message_headers(m.get(), &headers), RD_KAFKA_RESP_ERR_NO_ERROR);
      auto header = [&](const char* name) {
        const void* v = nullptr;
        size_t n = 0;
        if (rd_kafka_header_get_last(headers, name, &v, &n)) return std::string("<none>");
        return std::string(static_cast<const char*>(v), n);
      };
      reasons.insert(header("reason"));
      const std::string topic = header("source_topic");
      EXPECT_TRUE(topic == wearables || topic == notes) << topic;
      EXPECT_NE(header("source_partition"), "<none>");
      EXPECT_NE(header("source_offset"), "<none>");
      const std::string_view value = kafka::message_value(*m);
      if (header("raw_bytes") == "999900") {
        EXPECT_TRUE(value.empty()) << "too large to copy";
        continue;
      }
      bool found = false;
      for (const auto& b : bad) found = found || (b.value == value);
      EXPECT_TRUE(found) << "the dead letter carries the record as it came";
    }
  }
  std::multiset<std::string> expected;
  for (const auto& b : bad) expected.insert(b.reason);
  EXPECT_EQ(reasons, expected);
  service.stop();
  ASSERT_TRUE(service.result()) << service.result().error().message;
  EXPECT_EQ(service.result().value().dead_letters, bad.size());
  EXPECT_TRUE(service.result().value().clean_shutdown);

  // A restart replays the bad records with the rest of the restore: they were dead-lettered
  // when first consumed, and are not again.
  {
    test::ServiceRunner again(options);
    const std::string address = again.http_address();
    ASSERT_FALSE(address.empty()) << "the service did not start again";
    ASSERT_TRUE(wait_until(60s, [&] { return serving(address); })) << "no restore finished";
    again.stop();
    ASSERT_TRUE(again.result()) << again.result().error().message;
    EXPECT_GE(again.result().value().restores, 1u);
    EXPECT_EQ(again.result().value().dead_letters, 0u);
  }
  int64_t dead_letters = 0;
  for (int32_t p = 0; p < 4; ++p) {
    auto marks = consumer.value().query_watermarks(options.kafka.dead_letter_topic, p, 10'000);
    ASSERT_TRUE(marks) << marks.error().message;
    dead_letters += marks.value().second;
  }
  EXPECT_EQ(dead_letters, static_cast<int64_t>(bad.size()));
}

TEST(KafkaService, ADeadLetterTheBrokerRefusesAsTooLargeGoesAgainWithoutTheRecord) {
  // The dead-letter topic may take smaller messages than the producer sends (its
  // max.message.bytes): a refused dead letter stopped the service, and every restart met the same
  // record again. It goes again without the record, its headers (raw_bytes: the size) kept, and
  // the stream goes on.
  Fixture f;
  auto options = f.options("svc11");
  f.create_topics(options.kafka);
  auto producer = kafka::KafkaProducer::create(
      {{"bootstrap.servers", f.broker->bootstrap_servers()}, {"log_level", "2"}}, {});
  ASSERT_TRUE(producer);
  const std::string record(5000, 'x');
  ASSERT_EQ(producer.value().produce(
                {options.kafka.modality_topics[1], "P1000", record, test::kT0 - 1000, {}, 0}),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(producer.value().flush(10'000));
  // The service's first produce request carries the dead letter (nothing else is in the topics
  // yet): the broker refuses it for its size, and again when it goes in a batch of its own.
  f.broker->push_request_errors(kafka::ApiKey::produce, {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                                         RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE});
  test::ServiceRunner service(options);

  auto consumer =
      kafka::KafkaConsumer::create({{"bootstrap.servers", f.broker->bootstrap_servers()},
                                    {"group.id", "dlq-reader-11"},
                                    {"auto.offset.reset", "earliest"},
                                    {"log_level", "2"}},
                                   {});
  ASSERT_TRUE(consumer);
  ASSERT_TRUE(consumer.value().subscribe({options.kafka.dead_letter_topic}));
  std::vector<kafka::MessagePtr> letters;
  std::vector<kafka::MessagePtr> batch;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (letters.empty() && std::chrono::steady_clock::now() < deadline) {
    batch.clear();
    consumer.value().poll_batch(batch, 100, 100);
    for (auto& m : batch) {
      if (!m->err) letters.push_back(std::move(m));
    }
  }
  ASSERT_EQ(letters.size(), 1u) << "no dead letter on its topic";
  EXPECT_TRUE(kafka::message_value(*letters[0]).empty());
  EXPECT_EQ(kafka::message_key(*letters[0]), "P1000");
  rd_kafka_headers_t* headers = nullptr;
  ASSERT_EQ(rd_kafka_message_headers(letters[0].get(), &headers), RD_KAFKA_RESP_ERR_NO_ERROR);
  auto header = [&](const char* name) {
    const void* v = nullptr;
    size_t n = 0;
    if (rd_kafka_header_get_last(headers, name, &v, &n)) return std::string("<none>");
    return std::string(static_cast<const char*>(v), n);
  };
  EXPECT_EQ(header("reason"), "malformed_json");
  EXPECT_EQ(header("raw_bytes"), "5000");
  EXPECT_EQ(header("source_topic"), options.kafka.modality_topics[1]);

  // The service goes on: what comes next is scored. Live, so neither compared with a replay nor
  // counted (these partitions were caught up when the records came, and how many ticks the live
  // clock has released by a given moment depends on the machine's speed); before the resend, the
  // service had stopped at the refusal and scored nothing.
  const auto events = test::make_cohort(f.registry, 3, 10);
  f.publish(events, options.kafka);
  const Collected got =
      test::collect_scores(f.broker->bootstrap_servers(), options.kafka.score_topic, 1, 60s);
  EXPECT_GE(got.scores.size(), 1u);
  service.stop();
  ASSERT_TRUE(service.result()) << service.result().error().message;
  EXPECT_EQ(service.result().value().dead_letters, 1u);
  EXPECT_TRUE(service.result().value().clean_shutdown);
}

TEST(KafkaService, WaitsOutABrokerOutage) {
  Fixture f;
  auto options = f.options("svc5");
  f.create_topics(options.kafka);
  const auto all = test::make_cohort(f.registry, 12, 60);
  const ScoreMap want = test::reference_scores(all, f.engine, f.scorer, f.registry);
  f.publish(all, options.kafka, true);
  slow_down(f, options, 200);
  test::ServiceRunner service(options);
  const auto before =
      test::collect_scores(f.broker->bootstrap_servers(), options.kafka.score_topic, 20, 60s);
  ASSERT_GE(before.scores.size(), 20u);
  ASSERT_LT(before.scores.size(), want.size()) << "the outage should come mid-stream";
  ASSERT_TRUE(f.broker->set_broker_down(1));
  std::this_thread::sleep_for(3s);
  ASSERT_TRUE(f.broker->set_broker_up(1));
  ASSERT_TRUE(f.broker->set_broker_rtt(1, 0));
  const Collected got = test::collect_scores(f.broker->bootstrap_servers(),
                                             options.kafka.score_topic, want.size(), 90s);
  service.stop();
  ASSERT_TRUE(service.result()) << service.result().error().message;
  expect_same(want, got);
}

TEST(KafkaService, AStopWhileTheRestoreRetriesEndsCleanly) {
  // A SIGTERM that lands while an assignment's restore waits for the coordinator (here: one that
  // refuses every committed-offsets lookup) stops the retries and ends the service with exit 0:
  // nothing of the new assignment is applied, so there is nothing to commit.
  Fixture f;
  auto options = f.options("svc9");
  f.create_topics(options.kafka);
  f.broker->push_request_errors(
      kafka::ApiKey::offset_fetch,
      std::vector<rd_kafka_resp_err_t>(100'000, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE));
  test::ServiceRunner service(options);
  const std::string address = service.http_address();
  ASSERT_FALSE(address.empty()) << "the service did not start";
  ASSERT_TRUE(wait_until(60s, [&] { return metric_value(address, "tfe_rebalances_total") >= 1; }))
      << "no assignment";
  std::this_thread::sleep_for(3s);  // several lookups and back-offs
  EXPECT_EQ(http_get(address, "/readyz").first, 503u) << "the restore should still be waiting";
  const auto stop_asked = std::chrono::steady_clock::now();
  service.stop();
  const auto stop_took = std::chrono::steady_clock::now() - stop_asked;
  ASSERT_TRUE(service.result()) << service.result().error().message;
  EXPECT_TRUE(service.result().value().clean_shutdown);
  EXPECT_EQ(service.result().value().events, 0u);
  // Not a timing target: without the stop the lookups go on for as long as the coordinator
  // refuses them, and a back-off alone reaches 5 s.
  EXPECT_LT(stop_took, 4s) << "the restore's retries did not stop";
}

// The group's commits on the modality topics: offset and engine clock (none for a commit made
// before the clock moved: nothing was applied then).
std::vector<std::pair<int64_t, std::optional<int64_t>>> group_commits(const Fixture& f,
                                                                      const KafkaConfig& k) {
  std::vector<std::pair<int64_t, std::optional<int64_t>>> out;
  auto consumer =
      kafka::KafkaConsumer::create({{"bootstrap.servers", f.broker->bootstrap_servers()},
                                    {"group.id", k.group_id},
                                    {"log_level", "2"}},
                                   {});
  EXPECT_TRUE(consumer) << consumer.error().message;
  if (!consumer) return out;
  kafka::TopicPartitions partitions;
  for (const auto& t : k.modality_topics) {
    for (int32_t p = 0; p < 4; ++p) partitions.emplace_back(t, p);
  }
  auto committed = consumer.value().committed(partitions, 10'000);
  EXPECT_TRUE(committed) << committed.error().message;
  if (!committed) return out;
  for (const auto& tp : committed.value()) {
    if (tp.offset >= 0) out.emplace_back(tp.offset, parse_commit_metadata(tp.metadata));
  }
  return out;
}

// The broker leading the score and dead-letter topics is down (or slow): the producer's queue (a
// few messages here) fills with the first scores. A stop then must still be noticed (the service
// used to wait, inside the scoring, for room in the queue for as long as the broker stayed away
// or slow), and no commit may cover a score that was not delivered (a score given up at the
// stop included, although what was in flight before it is delivered within the grace).
void stop_with_the_queue_full(const std::string& group, bool broker_down) {
  Fixture f(2);
  auto options = f.options(group);
  ASSERT_TRUE(f.broker->set_group_coordinator(options.kafka.group_id, 1));
  ASSERT_NO_FATAL_FAILURE(create_topics_led_by(f, options.kafka, [&](const std::string& t) {
    return t == options.kafka.score_topic || t == options.kafka.dead_letter_topic ? 2 : 1;
  }));
  const auto events = test::make_cohort(f.registry, 12, 40);
  const ScoreMap want = test::reference_scores(events, f.engine, f.scorer, f.registry);
  ASSERT_FALSE(want.empty());
  f.publish(events, options.kafka);
  options.kafka.librdkafka.emplace_back("queue.buffering.max.messages", "4");
  options.kafka.shutdown_grace_ms = 10'000;
  ASSERT_TRUE(broker_down ? f.broker->set_broker_down(2) : f.broker->set_broker_rtt(2, 1'500));

  test::ServiceRunner service(options);
  const std::string address = service.http_address();
  ASSERT_FALSE(address.empty()) << "the service did not start";
  ASSERT_TRUE(wait_until(60s, [&] {
    return metric_value(address, "tfe_events_in_total{modality=\"wearables\"}") > 0;
  })) << "nothing consumed";
  if (broker_down) {
    std::this_thread::sleep_for(5s);  // scores released: the queue fills
  } else {
    // Scores come out, four at a time, each round trip taking 1.5 s: the queue is full now.
    ASSERT_GE(test::collect_scores(f.broker->bootstrap_servers(), options.kafka.score_topic, 1, 60s)
                  .scores.size(),
              1u)
        << "no score delivered";
  }
  service.request_stop();
  const bool ended = wait_until(60s, [&] { return service.finished(); });
  // Lets a service that missed the stop end.
  EXPECT_TRUE(broker_down ? f.broker->set_broker_up(2) : f.broker->set_broker_rtt(2, 0));
  ASSERT_TRUE(ended) << "the stop was not noticed while the producer's queue was full";
  ASSERT_TRUE(service.result()) << service.result().error().message;
  if (!broker_down) {
    EXPECT_FALSE(service.result().value().clean_shutdown) << "queued scores were given up";
  }

  const Collected delivered = test::collect_scores(f.broker->bootstrap_servers(),
                                                   options.kafka.score_topic, want.size(), 10s);
  if (broker_down) {
    EXPECT_TRUE(delivered.scores.empty());
  }
  for (const auto& [offset, clock] : group_commits(f, options.kafka)) {
    if (!clock) {
      EXPECT_EQ(offset, 0) << "committed records applied before the clock moved";
      continue;
    }
    std::size_t undelivered = 0;
    for (const auto& [key, json] : want) {
      if (key.second <= *clock && !delivered.scores.count(key)) ++undelivered;
    }
    EXPECT_EQ(undelivered, 0u) << "committed at engine clock " << *clock << " past " << undelivered
                               << " score(s) never delivered";
  }
}

TEST(KafkaService, AStopWhileTheBrokerTakesNoScoresIsNoticedAndCommitsNothingUndelivered) {
  stop_with_the_queue_full("svc-full-down", true);
}

TEST(KafkaService, AStopWhileTheBrokerIsSlowGivesUpTheQueuedScoresAndCommitsNoneOfThem) {
  stop_with_the_queue_full("svc-full-slow", false);
}

// A reading whose event_time is ahead of its arrival (by max_event_skew, as the decoder allows):
// its record's timestamp (its arrival) lies before the point a restore seeks back to by horizon,
// lateness and cadence, while its event time is inside the horizon of ticks after the restore
// clock. The restore must replay it: the restored instance scores its patient as one that never
// stopped. The embedded cluster keeps no time index (its restores replay whole partitions), so
// the time lookups are answered from the records, by Kafka's rule.
TEST(KafkaService, ARestoreReplaysAReadingWhoseEventTimeIsAheadOfItsArrival) {
  Fixture f;
  auto options = f.options("svc-skew");
  f.create_topics(options.kafka);
  const auto cohort = test::make_cohort(f.registry, 6, 60);
  auto [first, second] = test::split_by_arrival(cohort, test::kT0 + 30 * 60'000);
  // The first run's last commit records the newest arrival of the first part as its engine
  // clock: the restore clock.
  int64_t restore_clock = INT64_MIN;
  for (const Event& e : first) restore_clock = std::max(restore_clock, e.arrival_time_ms);
  const ModalitySpec& wearables = f.engine.schema[0];
  const int64_t max_window =
      *std::max_element(f.engine.windows_ms.begin(), f.engine.windows_ms.end());
  // Where a restore sought the wearables topic back to without counting the skew.
  const int64_t unskewed_seek = restore_clock - std::max(wearables.horizon_ms, max_window) -
                                f.engine.allowed_lateness_ms - f.engine.tick_cadence_ms;
  Event skewed{};
  skewed.patient = f.registry.intern("PSKEW");
  skewed.modality = 0;
  skewed.arrival_time_ms = unskewed_seek - 10'000;
  skewed.event_time_ms = skewed.arrival_time_ms + f.engine.max_event_skew_ms;
  skewed.vitals.values[0] = 131.0f;  // hr
  skewed.vitals.values[1] = 90.0f;   // spo2
  skewed.vitals.values[2] = 26.0f;   // rr
  skewed.vitals.values[3] = 39.5f;   // temp
  skewed.vitals.values[4] = 88.0f;   // sbp
  skewed.vitals.present_mask = 0x1Fu;
  ASSERT_GT(skewed.event_time_ms + wearables.horizon_ms, restore_clock + f.engine.tick_cadence_ms)
      << "the reading must matter to ticks after the restore clock";

  // The first part in arrival order with the skewed reading at its place.
  std::vector<Event> all = first;
  all.insert(
      std::find_if(all.begin(), all.end(),
                   [&](const Event& e) { return e.arrival_time_ms > skewed.arrival_time_ms; }),
      skewed);
  const std::vector<Event> first_part = all;
  all.insert(all.end(), second.begin(), second.end());
  for (std::size_t i = 0; i < all.size(); ++i) all[i].source_seq = i;
  const ScoreMap want = test::reference_scores(all, f.engine, f.scorer, f.registry);
  const ScoreMap want_first = test::reference_scores(first_part, f.engine, f.scorer, f.registry);
  std::size_t after_restore = 0;
  for (const auto& [key, json] : want) {
    if (key.first == "PSKEW" && key.second > restore_clock) ++after_restore;
  }
  ASSERT_GT(after_restore, 0u) << "the skewed patient must be scored after the restore clock";

  f.publish(first_part, options.kafka);
  ASSERT_NO_FATAL_FAILURE(run_until_scored_then_stop(f, options, want_first.size()));
  for (const auto& [offset, clock] : group_commits(f, options.kafka)) {
    if (clock) {
      EXPECT_EQ(*clock, restore_clock) << "the restore clock the test assumes";
    }
  }
  f.publish(second, options.kafka);
  const test::TimeIndex index(f.broker->bootstrap_servers(), options.kafka.modality_topics);
  options.offsets_for_times = [&index](const kafka::TopicPartitions& times) {
    return Result<kafka::TopicPartitions>(index.offsets_for_times(times));
  };
  test::ServiceRunner service(options);
  const Collected got = test::collect_scores(f.broker->bootstrap_servers(),
                                             options.kafka.score_topic, want.size(), 90s);
  service.stop();
  ASSERT_TRUE(service.result()) << service.result().error().message;
  EXPECT_GE(service.result().value().restores, 1u);
  expect_same(want, got);
}

// The service ends by itself (a fatal client error), with an error naming `what` and librdkafka's
// error code, never the bare "Local: Fatal error" that says nothing of why.
void expect_stopped_by_fatal_error(const ServiceOptions& options, std::string_view what,
                                   std::string_view code) {
  test::ServiceRunner service(options);
  const bool ended = wait_until(60s, [&] { return service.finished(); });
  service.stop();
  ASSERT_TRUE(ended) << "the service ran on with a client that cannot go on";
  ASSERT_FALSE(service.result()) << "a fatal client error is an error";
  const std::string& message = service.result().error().message;
  EXPECT_NE(message.find(what), std::string::npos) << message;
  EXPECT_NE(message.find(code), std::string::npos) << message;
  EXPECT_EQ(message.find("Local: Fatal error"), std::string::npos) << message;
}

TEST(KafkaService, AFatalProducerErrorStopsTheServiceNamingIt) {
  // A producer that cannot go on (here: the broker refuses it a producer id, as a cluster does
  // to a principal without the idempotent-write permission) stops the service at once, with an
  // error that says why. An idle service used to run on, reporting ready, until its first score
  // failed with "Local: Fatal error".
  Fixture f;
  auto options = f.options("svc-fatal");
  f.create_topics(options.kafka);
  f.broker->push_request_errors(kafka::ApiKey::init_producer_id,
                                {RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED});
  expect_stopped_by_fatal_error(options, "producer fatal error", "CLUSTER_AUTHORIZATION_FAILED");
}

TEST(KafkaService, AFatalConsumerErrorStopsTheServiceNamingIt) {
  // A consumer that cannot go on (here: fenced, as a second instance configured with the same
  // group.instance.id fences the first) stops the service with librdkafka's reason, not with
  // "Local: Fatal error", which says nothing of it.
  Fixture f;
  auto options = f.options("svc-fatal-consumer");
  f.create_topics(options.kafka);
  f.publish(test::make_cohort(f.registry, 3, 10), options.kafka);
  options.kafka.librdkafka.emplace_back("group.instance.id", "tfe-instance-1");
  f.broker->push_request_errors(kafka::ApiKey::heartbeat, {RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID});
  expect_stopped_by_fatal_error(options, "consumer fatal error", "FENCED_INSTANCE_ID");
}

TEST(KafkaService, AStopWhileStartingAgainstABrokerAwayEndsTheStart) {
  // The broker refuses connections: every request at start (topic checks, leader waits) would
  // wait out its timeout (30 s for the topic checks) before the stop was seen. A stop asked once
  // the start is under way ends it: no error (nothing was consumed, nothing is left to commit),
  // and the service never reports itself started.
  Fixture f;
  auto options = f.options("svc-start-stop");
  f.create_topics(options.kafka);
  ASSERT_TRUE(f.broker->set_broker_down(1));
  options.handle_signals = false;
  // Asked to stop from its third question on: the start is then inside its first broker request.
  std::atomic<int> asked{0};
  options.stop_requested = [&asked] { return ++asked > 2; };
  bool started = false;
  options.on_started = [&started](const ServiceInfo&) { started = true; };
  auto r = run_service(options);
  EXPECT_TRUE(f.broker->set_broker_up(1));
  ASSERT_TRUE(r) << "a stop while starting is not an error: " << r.error().message;
  EXPECT_TRUE(r.value().stopped_while_starting);
  EXPECT_TRUE(r.value().clean_shutdown);
  EXPECT_EQ(r.value().events, 0u);
  EXPECT_FALSE(started);
}

TEST(KafkaService, HealthzIsOkWhileARestoreWaitsForTheBroker) {
  // A restore whose lookups the coordinator keeps refusing lasts longer than the stall limit (two
  // seconds here): the service is waiting for the broker, not stuck, and GET /healthz says so.
  Fixture f;
  auto options = f.options("svc-health");
  f.create_topics(options.kafka);
  options.stall_ms = 2'000;
  f.broker->push_request_errors(
      kafka::ApiKey::offset_fetch,
      std::vector<rd_kafka_resp_err_t>(100'000, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE));
  test::ServiceRunner service(options);
  const std::string address = service.http_address();
  ASSERT_FALSE(address.empty()) << "the service did not start";
  ASSERT_TRUE(wait_until(60s, [&] { return metric_value(address, "tfe_rebalances_total") >= 1; }))
      << "no assignment";
  // Three stall limits of restore: every answer is 200, none "stalled".
  const auto until = std::chrono::steady_clock::now() + 3 * std::chrono::milliseconds(2'000);
  std::size_t answers = 0;
  while (std::chrono::steady_clock::now() < until) {
    const auto health = http_get(address, "/healthz");
    EXPECT_EQ(health.first, 200u) << health.second;
    EXPECT_EQ(health.second, "ok: restoring\n");
    ++answers;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_GT(answers, 0u);
  EXPECT_EQ(http_get(address, "/readyz").first, 503u) << "the restore should still be waiting";
  f.broker->clear_request_errors(kafka::ApiKey::offset_fetch);
  service.stop();
  ASSERT_TRUE(service.result()) << service.result().error().message;
}

TEST(KafkaService, TheEmbeddedBrokerWithoutTopicCreationIsAnErrorAtStart) {
  // The embedded broker starts empty and has no admin API: with create_topics = false its topics
  // cannot exist, which is the same error as a missing topic on a real broker.
  EngineConfig engine = test::kafka_test_engine_config();
  auto scorer = make_news2_scorer(engine);
  ASSERT_TRUE(scorer) << scorer.error().message;
  ServiceOptions options;
  options.engine = engine;
  options.kafka = test::kafka_test_config("embedded", "svc-embedded");
  ASSERT_TRUE(options.kafka.embedded());
  ASSERT_FALSE(options.kafka.create_topics);
  options.kafka.http_enabled = false;
  options.scorer = scorer.value();
  options.handle_signals = false;
  std::atomic<bool> started{false};
  options.on_started = [&started](const ServiceInfo&) { started = true; };
  // Without the check the service runs: stopped once started, so that the test ends either way.
  options.stop_requested = [&started] { return started.load(); };
  auto r = run_service(options);
  ASSERT_FALSE(r) << "the service ran on an embedded broker it was told not to create topics on";
  EXPECT_FALSE(started.load());
  EXPECT_NE(r.error().message.find("does not exist"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("kafka.create_topics"), std::string::npos) << r.error().message;
}

TEST(KafkaService, HttpEndpointsReportReadinessMetricsAndScores) {
  Fixture f;
  auto options = f.options("svc6");
  f.create_topics(options.kafka);
  const auto events = test::make_cohort(f.registry, 5, 20);
  const ScoreMap want = test::reference_scores(events, f.engine, f.scorer, f.registry);
  f.publish(events, options.kafka);
  test::ServiceRunner service(options);
  const std::string address = service.http_address();
  ASSERT_FALSE(address.empty()) << "the service did not start";
  (void)test::collect_scores(f.broker->bootstrap_servers(), options.kafka.score_topic, want.size(),
                             60s);
  std::this_thread::sleep_for(1200ms);  // one stats refresh

  EXPECT_EQ(http_get(address, "/healthz").first, 200u);
  EXPECT_EQ(http_get(address, "/readyz").first, 200u);
  const auto metrics = http_get(address, "/metrics");
  EXPECT_EQ(metrics.first, 200u);
  for (const char* name :
       {"tfe_events_in_total{modality=\"wearables\"}", "tfe_decode_errors_total{reason=",
        "tfe_consumer_lag_messages{topic=", "tfe_engine_clock_seconds",
        "tfe_engine_clock_lag_seconds", "tfe_score_latency_seconds_bucket", "tfe_active_patients",
        "tfe_state_bytes", "tfe_scores_emitted_total"}) {
    EXPECT_NE(metrics.second.find(name), std::string::npos) << name;
  }
  EXPECT_NE(metrics.second.find("tfe_scores_emitted_total " + std::to_string(want.size())),
            std::string::npos)
      << metrics.second;
  // The latest score of a patient is its newest in the reference.
  std::string latest;
  int64_t latest_time = -1;
  for (const auto& [key, json] : want) {
    if (key.first == "P1002" && key.second > latest_time) {
      latest_time = key.second;
      latest = json;
    }
  }
  const auto score = http_get(address, "/v1/patients/P1002/score");
  EXPECT_EQ(score.first, 200u);
  EXPECT_EQ(score.second, latest + "\n");
  EXPECT_EQ(http_get(address, "/v1/patients/nobody/score").first, 404u);
  service.stop();
}

TEST(KafkaService, PublishingToExistingTopicsAsksNoAdminApi) {
  // The embedded cluster has no admin API: with every topic there (as a running `tfe serve`
  // creates them), create_topics = true must not ask for one.
  Fixture f;
  auto options = f.options("svc8");
  f.create_topics(options.kafka, 3);
  options.kafka.create_topics = true;
  auto count = ensure_topics(options.kafka, f.broker->bootstrap_servers());
  ASSERT_TRUE(count) << count.error().message;
  EXPECT_EQ(count.value(), 3);
  const auto events = test::make_cohort(f.registry, 3, 5);
  f.publish(events, options.kafka);
}

TEST(KafkaService, AMissingScoreOrDeadLetterTopicStopsTheStartNamingIt) {
  // create_topics = false and an output topic missing: the service must say so at start, not
  // report ready and stop at its first score or first bad record once the producer gives up on
  // the topic (and again after every restart).
  Fixture f;
  auto options = f.options("svc10");
  f.create_topics(options.kafka);
  const auto events = test::make_cohort(f.registry, 3, 10);
  f.publish(events, options.kafka);
  options.handle_signals = false;
  for (const std::string& missing : {options.kafka.dead_letter_topic, options.kafka.score_topic}) {
    SCOPED_TRACE(missing);
    f.broker->set_topic_error(missing, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    // Without the check the service runs on: bounded here so that the test ends either way.
    const auto give_up = std::chrono::steady_clock::now() + 45s;
    options.stop_requested = [give_up] { return std::chrono::steady_clock::now() > give_up; };
    bool started = false;
    options.on_started = [&started](const ServiceInfo&) { started = true; };
    auto r = run_service(options);
    f.broker->set_topic_error(missing, RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_FALSE(r) << "the service ran without its topic '" << missing << "'";
    EXPECT_FALSE(started) << "the error should come at start: " << r.error().message;
    EXPECT_NE(r.error().message.find("'" + missing + "' does not exist"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("kafka.create_topics"), std::string::npos)
        << r.error().message;
  }
}

TEST(KafkaService, TopicsWithDifferentPartitionCountsAreRefused) {
  Fixture f;
  auto options = f.options("svc7");
  ASSERT_TRUE(f.broker->create_topic(options.kafka.modality_topics[0], 4));
  ASSERT_TRUE(f.broker->create_topic(options.kafka.modality_topics[1], 3));
  ASSERT_TRUE(f.broker->create_topic(options.kafka.modality_topics[2], 4));
  options.kafka.create_topics = false;
  options.handle_signals = false;
  auto r = run_service(options);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("co-partitioned"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace tfe
