#include <gtest/gtest.h>

#include "connectors/kafka_output.h"
#include "connectors/score_json.h"
#include "connectors/score_jsonl.h"
#include "tests/connectors/test_schema.h"

namespace tfe {
namespace {

ScorerSpec news2_spec() {
  ScorerSpec spec;
  spec.strategy = "news2";
  spec.model_name = "news2";
  spec.model_id = "";
  return spec;
}

ScoreRecord sample_score(PatientIndex p) {
  ScoreRecord s;
  s.patient = p;
  s.score_time_ms = 1'700'000'060'000;
  s.risk = 0.1;
  s.logit = -2.1972245773362196;
  s.modalities[0] = {.age_ms = 1000, .weight = 1.0f, .present = true};
  s.modalities[1] = {.age_ms = 0, .weight = 0.0f, .present = false};
  s.modalities[2] = {.age_ms = 86'400'000, .weight = 0.25f, .present = true};
  return s;
}

TEST(ScoreJsonTest, FixedKeyOrderAndNumberFormat) {
  const ModalitySchema schema = test::default_test_schema();
  PatientRegistry registry;
  const PatientIndex p = registry.intern("P\"1");
  const ScoreJsonFormat format(schema, news2_spec());
  std::string out;
  format.append(out, sample_score(p), registry);
  EXPECT_EQ(out,
            R"({"patient_id":"P\"1","score_time":1700000060000,"risk":0.1,)"
            R"("logit":-2.1972245773362196,"strategy":"news2","model":{"name":"news2","id":""},)"
            R"("modalities":{"wearables":{"present":true,"age_ms":1000,"weight":1},)"
            R"("notes":{"present":false,"age_ms":null,"weight":0},)"
            R"("imaging":{"present":true,"age_ms":86400000,"weight":0.25}}})");
  ScoreRecord odd = sample_score(p);
  odd.risk = std::nan("");
  out.clear();
  format.append(out, odd, registry);
  EXPECT_NE(out.find(R"("risk":null,)"), std::string::npos) << "JSON has no NaN";
}

TEST(ScoreJsonTest, SinkWritesOneLinePerScoreByteIdentically) {
  const ModalitySchema schema = test::default_test_schema();
  PatientRegistry registry;
  const PatientIndex a = registry.intern("A");
  const PatientIndex b = registry.intern("B");
  test::TempDir tmp;
  std::string contents[2];
  for (int run = 0; run < 2; ++run) {
    const std::string path = tmp.file("scores" + std::to_string(run) + ".jsonl");
    auto sink = JsonlScoreSink::open(path, schema, news2_spec(), registry);
    ASSERT_TRUE(sink) << sink.error().message;
    const ScoreRecord batch[] = {sample_score(a), sample_score(b)};
    sink.value()->emit(batch);
    sink.value()->emit(std::span<const ScoreRecord>(batch, 1));
    ASSERT_TRUE(sink.value()->close());
    EXPECT_EQ(sink.value()->scores_written(), 3u);
    contents[run] = test::read_file(path);
  }
  EXPECT_EQ(contents[0], contents[1]);
  EXPECT_EQ(std::count(contents[0].begin(), contents[0].end(), '\n'), 3);
  EXPECT_EQ(contents[0].rfind("{\"patient_id\":\"A\"", 0), 0u);
}

TEST(ScoreJsonTest, UnwritablePathIsAnError) {
  const ModalitySchema schema = test::default_test_schema();
  PatientRegistry registry;
  auto sink = JsonlScoreSink::open("/nonexistent-dir/x.jsonl", schema, news2_spec(), registry);
  ASSERT_FALSE(sink);
  EXPECT_EQ(sink.error().code, Errc::io);
  EXPECT_NE(sink.error().message.find("/nonexistent-dir/x.jsonl"), std::string::npos);
}

ScoreRecord score_at(PatientIndex p, int64_t time_ms) {
  ScoreRecord s = sample_score(p);
  s.score_time_ms = time_ms;
  return s;
}

TEST(LatestScoresTest, KeepsTheNewestScoreOfEachPatientAcrossBatchesAndRegistries) {
  LatestScores latest;
  PatientRegistry first;
  const PatientIndex a = first.intern("A");
  const PatientIndex b = first.intern("B");
  const std::vector<ScoreRecord> batch1{score_at(a, 100), score_at(b, 100), score_at(a, 160)};
  const std::vector<std::string_view> json1{"a100", "b100", "a160"};
  latest.put(batch1, json1, first);
  EXPECT_EQ(latest.get("A"), "a160");
  EXPECT_EQ(latest.get("B"), "b100");
  EXPECT_EQ(latest.get("C"), std::nullopt);

  // An older score (a repeat after a restore, say) does not replace a newer one.
  const std::vector<ScoreRecord> batch2{score_at(a, 120)};
  const std::vector<std::string_view> json2{"a120"};
  latest.put(batch2, json2, first);
  EXPECT_EQ(latest.get("A"), "a160");

  // A new registry (a new pipeline after a rebalance) numbers patients differently: index 0 is
  // now B, and its score must not land on A.
  PatientRegistry second;
  const PatientIndex b2 = second.intern("B");
  const PatientIndex c2 = second.intern("C");
  ASSERT_EQ(b2, a);
  const std::vector<ScoreRecord> batch3{score_at(b2, 220), score_at(c2, 220)};
  const std::vector<std::string_view> json3{"b220", "c220"};
  latest.put(batch3, json3, second);
  EXPECT_EQ(latest.get("A"), "a160");
  EXPECT_EQ(latest.get("B"), "b220");
  EXPECT_EQ(latest.get("C"), "c220");
  EXPECT_EQ(latest.size(), 3u);

  // Pruned patients come back with their next score.
  latest.prune(200);
  EXPECT_EQ(latest.get("A"), std::nullopt);
  EXPECT_EQ(latest.size(), 2u);
  const std::vector<ScoreRecord> batch4{score_at(a, 300)};
  const std::vector<std::string_view> json4{"a300"};
  latest.put(batch4, json4, first);
  EXPECT_EQ(latest.get("A"), "a300");
  EXPECT_EQ(latest.get("B"), "b220");

  // A prune that drops nothing keeps the patients' places; one that drops some forgets them (B's
  // place would point at a freed entry), and the next scores still land where they belong.
  latest.prune(50);
  EXPECT_EQ(latest.size(), 3u);
  const std::vector<ScoreRecord> batch5{score_at(a, 400), score_at(b, 250)};
  const std::vector<std::string_view> json5{"a400", "b250"};
  latest.put(batch5, json5, first);
  EXPECT_EQ(latest.get("A"), "a400");
  EXPECT_EQ(latest.get("B"), "b250");
  latest.prune(300);
  EXPECT_EQ(latest.get("B"), std::nullopt);
  EXPECT_EQ(latest.size(), 1u);
  const std::vector<ScoreRecord> batch6{score_at(a, 500), score_at(b, 500)};
  const std::vector<std::string_view> json6{"a500", "b500"};
  latest.put(batch6, json6, first);
  EXPECT_EQ(latest.get("A"), "a500");
  EXPECT_EQ(latest.get("B"), "b500");
  EXPECT_EQ(latest.size(), 2u);
}

}  // namespace
}  // namespace tfe
