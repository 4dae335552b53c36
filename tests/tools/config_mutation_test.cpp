// Every config loader against seeded mutations of the shipped configs: values replaced by others
// of any type or at the edges of their ranges, keys removed or added, array elements dropped or
// repeated. A config is validated once, at load, so whatever a loader accepts must run: an
// accepted profile generates valid events, an accepted [model] builds a model the engine config
// accepts, and that model scores the generated events with finite risks. Whatever a loader
// refuses, it refuses with one line.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "connectors/event_codec.h"
#include "connectors/kafka_config.h"
#include "connectors/kafka_producer.h"
#include "engine/config.h"
#include "engine/pipeline.h"
#include "engine/score.h"
#include "operators/fusion_model.h"
#include "operators/fusion_operator.h"
#include "operators/model_config.h"
#include "tests/support/mutation.h"
#include "tools/profile/profile.h"
#include "tools/synth/synth.h"
#include "tools/train/train.h"

namespace tfe {
namespace {

// A place in a document that holds a value: a key of a table or an element of an array.
struct Slot {
  toml::table* table = nullptr;
  std::string key;
  toml::array* array = nullptr;
  std::size_t index = 0;
};

void collect(toml::node& node, std::vector<Slot>& slots, std::vector<toml::table*>& tables,
             std::vector<toml::array*>& arrays) {
  if (auto* t = node.as_table()) {
    tables.push_back(t);
    for (auto&& [key, child] : *t) {
      slots.push_back({t, std::string(key.str()), nullptr, 0});
      collect(child, slots, tables, arrays);
    }
  } else if (auto* a = node.as_array()) {
    arrays.push_back(a);
    for (std::size_t i = 0; i < a->size(); ++i) {
      slots.push_back({nullptr, {}, a, i});
      collect(*a->get(i), slots, tables, arrays);
    }
  }
}

class ConfigMutator {
 public:
  explicit ConfigMutator(uint64_t seed) : rng_(seed) {}

  void mutate(toml::table& doc) {
    const int edits = 1 + static_cast<int>(below(3));
    for (int i = 0; i < edits; ++i) edit(doc);
  }

 private:
  uint64_t below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }

  // A value of any TOML type, many of them at or past the edge of some key's range.
  void with_random_value(const std::function<void(toml::node&&)>& put) {
    static const std::vector<int64_t> ints = {0,
                                              -1,
                                              1,
                                              2,
                                              3,
                                              7,
                                              64,
                                              4097,
                                              1'000'000'000'000,
                                              std::numeric_limits<int64_t>::max(),
                                              std::numeric_limits<int64_t>::min()};
    static const std::vector<double> floats = {0.0,
                                               -0.0,
                                               0.5,
                                               1.0,
                                               -1.0,
                                               1e300,
                                               1e-300,
                                               std::numeric_limits<double>::infinity(),
                                               std::numeric_limits<double>::quiet_NaN()};
    static const std::vector<std::string> strings = {"",
                                                     "0s",
                                                     "1ms",
                                                     "-5m",
                                                     "15m",
                                                     "48h",
                                                     "30d",
                                                     "1e9d",
                                                     "99999999999999999999ms",
                                                     "10 m",
                                                     "x",
                                                     "late",
                                                     "attention",
                                                     "isotonic",
                                                     "vitals",
                                                     "text",
                                                     "embedding",
                                                     "outcome",
                                                     "hr",
                                                     "wearables",
                                                     "localhost:1",
                                                     "2024-01-01T00:00:00Z"};
    switch (below(7)) {
      case 0:
        put(toml::value<int64_t>(ints[below(ints.size())]));
        break;
      case 1:
        put(toml::value<double>(floats[below(floats.size())]));
        break;
      case 2:
        put(toml::value<std::string>(strings[below(strings.size())]));
        break;
      case 3:
        put(toml::value<bool>(below(2) == 1));
        break;
      case 4: {
        toml::array a;
        const auto n = below(4);
        for (uint64_t i = 0; i < n; ++i) {
          if (below(2)) {
            a.push_back(strings[below(strings.size())]);
          } else {
            a.push_back(ints[below(ints.size())]);
          }
        }
        put(std::move(a));
        break;
      }
      case 5:
        put(toml::table{{"unexpected", 1}});
        break;
      default:
        put(toml::value<toml::date_time>(toml::date_time{{1969, 12, 31}, {23, 59, 59}}));
        break;
    }
  }

  void edit(toml::table& doc) {
    std::vector<Slot> slots;
    std::vector<toml::table*> tables;
    std::vector<toml::array*> arrays;
    collect(doc, slots, tables, arrays);
    switch (below(5)) {
      case 0:
      case 1: {  // replace a value
        const Slot& s = slots[below(slots.size())];
        with_random_value([&](toml::node&& v) {
          if (s.table != nullptr) {
            s.table->insert_or_assign(s.key, std::move(v));
          } else {
            s.array->replace(s.array->cbegin() + static_cast<std::ptrdiff_t>(s.index),
                             std::move(v));
          }
        });
        break;
      }
      case 2: {  // remove a key or an element
        const Slot& s = slots[below(slots.size())];
        if (s.table != nullptr) {
          s.table->erase(s.key);
        } else {
          s.array->erase(s.array->cbegin() + static_cast<std::ptrdiff_t>(s.index));
        }
        break;
      }
      case 3: {  // add an unknown key
        toml::table* t = tables[below(tables.size())];
        // Half of them with a line break and a control byte in the key, which an error quotes.
        const std::string key = below(2) == 0 ? "unknown_key" : "unknown\nkey\x01";
        with_random_value([&](toml::node&& v) { t->insert_or_assign(key, std::move(v)); });
        break;
      }
      default: {  // repeat an array element ([[modality]], windows, channels, ...)
        if (arrays.empty()) break;
        toml::array* a = arrays[below(arrays.size())];
        if (a->empty()) break;
        const std::size_t i = below(a->size());
        std::unique_ptr<toml::node> copy;
        a->get(i)->visit([&](auto&& n) { copy = std::make_unique<std::decay_t<decltype(n)>>(n); });
        a->push_back(std::move(*copy));
        break;
      }
    }
  }

  std::mt19937_64 rng_;
};

std::vector<toml::table> base_documents() {
  const std::filesystem::path configs = std::filesystem::path(TFE_SOURCE_DIR) / "configs";
  const toml::table defaults = toml::parse_file((configs / "default.toml").string());
  const toml::table dev = toml::parse_file((configs / "dev.toml").string());
  std::vector<toml::table> docs;
  for (const char* name :
       {"ward", "icu", "home", "small_complete", "imaging_heavy", "icu_timing"}) {
    toml::table doc =
        toml::parse_file((configs / "profiles" / (std::string(name) + ".toml")).string());
    // Profiles are complete engine configs; the other sections come from the shipped files.
    doc.insert_or_assign("model", *defaults["model"].as_table());
    doc.insert_or_assign("training", *defaults["training"].as_table());
    doc.insert_or_assign("kafka", *dev["kafka"].as_table());
    doc.insert_or_assign("profile_thresholds", toml::table{{"min_patients", 40},
                                                           {"interaction_auroc_gain", 0.02},
                                                           {"dimension_ratio", 8}});
    docs.push_back(std::move(doc));
  }
  return docs;
}

class ScoreCheck final : public ScoreSink {
 public:
  void emit(std::span<const ScoreRecord> scores) override {
    for (const ScoreRecord& s : scores) {
      ++count;
      if (!(s.risk >= 0 && s.risk <= 1)) ++bad;
    }
  }
  uint64_t count = 0;
  uint64_t bad = 0;
};

#define EXPECT_ONE_LINE_ERROR(result, what)                                  \
  do {                                                                       \
    const std::string& message_ = (result).error().message;                  \
    EXPECT_FALSE(message_.empty()) << what;                                  \
    EXPECT_TRUE(test::one_clean_line(message_)) << what << ": " << message_; \
  } while (false)

TEST(ConfigMutation, ShippedConfigsLoadAsTheyAre) {
  for (const toml::table& doc : base_documents()) {
    auto profile = synth::profile_from_toml(doc, "test.toml");
    ASSERT_TRUE(profile) << profile.error().message;
    ASSERT_TRUE(model_config_from_toml(doc));
    ASSERT_TRUE(train::training_config_from_toml(doc));
    ASSERT_TRUE(kafka_config_from_toml(doc, profile.value().engine.schema));
    ASSERT_TRUE(profile::thresholds_from_toml(doc));
  }
}

TEST(ConfigMutation, WhatLoadsRunsAndWhatDoesNotLoadSaysSoInOneLine) {
  const int kDocuments = test::mutation_count(1500);
  constexpr std::size_t kMaxEvents = 4000;
  const std::vector<toml::table> bases = base_documents();
  ConfigMutator mutator(test::mutation_seed(20261207));
  int profiles_ok = 0;
  int models_ok = 0;
  int refused = 0;
  uint64_t scored = 0;
  for (int i = 0; i < kDocuments; ++i) {
    toml::table doc = bases[static_cast<std::size_t>(i) % bases.size()];
    mutator.mutate(doc);
    const std::string what = "document " + std::to_string(i);

    // The sections read on their own, whatever the engine section holds.
    if (auto training = train::training_config_from_toml(doc); !training) {
      EXPECT_ONE_LINE_ERROR(training, what);
    }
    if (auto thresholds = profile::thresholds_from_toml(doc); !thresholds) {
      EXPECT_ONE_LINE_ERROR(thresholds, what);
    }
    if (auto arch = model_config_from_toml(doc); !arch) {
      EXPECT_ONE_LINE_ERROR(arch, what);
    }
    auto engine = engine_config_from_toml(doc);
    if (!engine) {
      EXPECT_ONE_LINE_ERROR(engine, what);
      ++refused;
      continue;
    }
    if (auto kafka = kafka_config_from_toml(doc, engine.value().schema); !kafka) {
      EXPECT_ONE_LINE_ERROR(kafka, what);
    } else if (!kafka.value().librdkafka.empty()) {
      // [kafka.librdkafka] goes to librdkafka as it is; what it refuses is one line too.
      if (auto client = kafka::KafkaProducer::create(kafka.value().librdkafka, {}); !client) {
        EXPECT_ONE_LINE_ERROR(client, what);
      }
    }

    // An accepted profile generates events the decoders would accept.
    std::vector<Event> events;
    PatientRegistry registry;
    auto profile = synth::profile_from_toml(doc, "test.toml");
    if (!profile) {
      EXPECT_ONE_LINE_ERROR(profile, what);
    } else {
      ++profiles_ok;
      auto generator = synth::Generator::create(
          profile.value(), {.patients = 3, .days = 0.02, .seed = static_cast<uint64_t>(i)},
          registry);
      if (!generator) {
        EXPECT_ONE_LINE_ERROR(generator, what);
        continue;
      }
      const DecodeLimits limits = DecodeLimits::from(profile.value().engine);
      while (const Event* e = generator.value()->next()) {
        const auto invalid = check_event(*e, profile.value().engine.schema, limits);
        ASSERT_FALSE(invalid.has_value()) << what << ": " << invalid->message << "\n" << doc;
        if (events.size() < kMaxEvents) events.push_back(*e);
        if (generator.value()->stats().events > 20 * kMaxEvents) break;
      }
    }

    // An accepted [model] builds a model that the same engine config accepts and that scores.
    auto arch = model_config_from_toml(doc);
    if (!arch) {
      EXPECT_ONE_LINE_ERROR(arch, what);
      continue;
    }
    auto model = init_model(arch.value(), engine.value(), static_cast<uint64_t>(i));
    if (!model) {
      EXPECT_ONE_LINE_ERROR(model, what);
      continue;
    }
    ++models_ok;
    auto op = FusionOperator::create(std::make_shared<const FusionModel>(std::move(model.value())),
                                     engine.value());
    ASSERT_TRUE(op) << what << ": " << op.error().message;
    if (!profile) continue;
    ScoreCheck sink;
    {
      Pipeline pipeline(engine.value(), op.value(), registry, sink);
      for (const Event& e : events) {
        pipeline.push(e);
        pipeline.advance(e.arrival_time_ms);
      }
      pipeline.finish();
    }
    EXPECT_EQ(sink.bad, 0u) << what;
    scored += sink.count;
  }
  // Both sides are reached often, or the mutations prove little.
  EXPECT_GT(refused, kDocuments / 10);
  EXPECT_GT(profiles_ok, kDocuments / 10);
  EXPECT_GT(models_ok, kDocuments / 10);
  EXPECT_GT(scored, 1000u);
}

}  // namespace
}  // namespace tfe
