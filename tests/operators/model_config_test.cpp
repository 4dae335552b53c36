// The [model] TOML section.

#include <gtest/gtest.h>

#include "operators/model_config.h"

namespace tfe {
namespace {

Result<ModelConfig> parse(std::string_view text) {
  return model_config_from_toml(toml::parse(text));
}

TEST(ModelConfigToml, DefaultsWhenAbsent) {
  auto c = parse("[engine]\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c.value(), ModelConfig{});
  EXPECT_EQ(c.value().d_model, 32u);
  EXPECT_EQ(c.value().heads, 2u);
  EXPECT_EQ(c.value().history_k, 1u);
  EXPECT_EQ(c.value().strategy, Strategy::late);
}

TEST(ModelConfigToml, ReadsEveryKey) {
  auto c = parse(R"(
[model]
strategy = "attention"
d_model = 16
heads = 4
time2vec_k = 3
sinusoidal = true
sinusoidal_dim = 4
history_k = 2
hidden = [64, 32]
encoder_hidden = 48
calibration = "isotonic"
)");
  ASSERT_TRUE(c) << c.error().message;
  const ModelConfig& m = c.value();
  EXPECT_EQ(m.strategy, Strategy::attention);
  EXPECT_EQ(m.d_model, 16u);
  EXPECT_EQ(m.heads, 4u);
  EXPECT_EQ(m.time2vec_k, 3u);
  EXPECT_TRUE(m.sinusoidal);
  EXPECT_EQ(m.sinusoidal_dim, 4u);
  EXPECT_EQ(m.history_k, 2u);
  EXPECT_EQ(m.hidden, (std::vector<uint32_t>{64, 32}));
  EXPECT_EQ(m.encoder_hidden, 48u);
  EXPECT_EQ(m.calibration, CalibrationMethod::isotonic);
  EXPECT_EQ(timing_dim(m), 1u + 3u + 4u);
}

TEST(ModelConfigToml, ErrorsNameTheKey) {
  struct Case {
    const char* toml;
    const char* message;
  };
  const Case cases[] = {
      {"[model]\nheads = 3\n", "[model] heads = 3 must divide d_model = 32"},
      {"[model]\nd_model = 0\n", "[model] d_model = 0 out of range [1, 1024]"},
      {"[model]\nstrategy = \"fancy\"\n",
       "[model] strategy = \"fancy\" unknown (early, intermediate, late, attention)"},
      {"[model]\ncalibration = \"beta\"\n",
       "[model] calibration = \"beta\" unknown (platt, isotonic)"},
      {"[model]\nhidden = []\n", "[model] hidden must list 1 to 8 layer widths, has 0"},
      {"[model]\nhidden = [32, 0]\n", "[model] hidden[1] = 0 out of range [1, 4096]"},
      {"[model]\nhistory_k = 0\n", "[model] history_k = 0 out of range [1, 16]"},
      {"[model]\nsinusoidal_dim = 5\n", "[model] sinusoidal_dim = 5 must be even"},
      {"[model]\nd_modle = 32\n", "[model] unknown key 'd_modle'"},
      {"[model]\nd_model = \"32\"\n", "[model] d_model must be an integer"},
      {"[model]\nsinusoidal = 1\n", "[model] sinusoidal must be true or false"},
      {"[model]\nd_model = -4\n",
       "[model] d_model = -4 must be a whole number from 0 to 4294967295"},
  };
  for (const Case& c : cases) {
    auto r = parse(c.toml);
    ASSERT_FALSE(r) << c.toml;
    EXPECT_EQ(r.error().code, Errc::config);
    EXPECT_EQ(r.error().message, c.message);
  }
}

TEST(Strategy, NamesRoundTrip) {
  for (Strategy s : kAllStrategies) EXPECT_EQ(strategy_from_string(to_string(s)), s);
  EXPECT_FALSE(strategy_from_string("news2"));
}

}  // namespace
}  // namespace tfe
