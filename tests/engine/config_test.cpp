// Engine configuration: parsing, durations and every validation message.

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/config.h"
#include "engine/duration.h"

namespace tfe {
namespace {

const char* kVitals = R"(
[[modality]]
name = "vit"
kind = "vitals"
channels = ["a", "b"]
horizon = "15m"
)";

Result<EngineConfig> parse(const std::string& text) {
  return engine_config_from_toml(toml::parse(text));
}

// The error message of parsing `text`; fails the test when parsing succeeds.
std::string error_of(const std::string& text) {
  auto config = parse(text);
  if (config) {
    ADD_FAILURE() << "expected a configuration error for:\n" << text;
    return {};
  }
  EXPECT_EQ(config.error().code, Errc::config);
  return config.error().message;
}

#define EXPECT_CONFIG_ERROR(text, fragment) \
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, fragment, error_of(text))

TEST(Duration, ParsesEveryUnit) {
  EXPECT_EQ(parse_duration_ms("250ms").value(), 250);
  EXPECT_EQ(parse_duration_ms("60s").value(), 60'000);
  EXPECT_EQ(parse_duration_ms("5m").value(), 300'000);
  EXPECT_EQ(parse_duration_ms("48h").value(), 172'800'000);
  EXPECT_EQ(parse_duration_ms("30d").value(), 2'592'000'000);
  EXPECT_EQ(parse_duration_ms("0s").value(), 0);
}

TEST(Duration, RejectsMalformed) {
  for (const char* bad :
       {"", "5", "m", "-5m", "5 m", "1.5h", "5min", "5M", "s5", "99999999999999999999d"}) {
    auto ms = parse_duration_ms(bad);
    EXPECT_FALSE(ms) << "accepted '" << bad << "'";
    if (!ms) {
      EXPECT_EQ(ms.error().code, Errc::config);
    }
  }
  EXPECT_NE(parse_duration_ms("1.5h").error().message.find("ms, s, m, h or d"), std::string::npos);
}

TEST(Duration, FormatsWithTheLargestExactUnit) {
  EXPECT_EQ(format_duration_ms(300'000), "5m");
  EXPECT_EQ(format_duration_ms(1500), "1500ms");
  EXPECT_EQ(format_duration_ms(86'400'000), "1d");
  EXPECT_EQ(format_duration_ms(0), "0ms");
}

TEST(Duration, TomlIntegersAreMilliseconds) {
  auto config =
      parse(std::string("[engine]\ntick_cadence = 1500\nallowed_lateness = \"2s\"\n") + kVitals);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config.value().tick_cadence_ms, 1500);
  EXPECT_EQ(config.value().allowed_lateness_ms, 2000);
}

TEST(EngineConfig, KeysOutsideASectionAndUnknownSectionsAreErrors) {
  const std::string modality =
      "[[modality]]\nname = \"wearables\"\nkind = \"vitals\"\ntopic = \"w\"\n"
      "channels = [\"hr\"]\nhorizon = \"15m\"\ncadence = \"1m\"\n";
  ASSERT_TRUE(engine_config_from_toml(toml::parse(modality)));
  // Above its [engine] header, a key is at the top level: silently ignored before.
  auto top = engine_config_from_toml(toml::parse("tick_cadence = \"1ms\"\n" + modality));
  ASSERT_FALSE(top);
  EXPECT_NE(top.error().message.find("'tick_cadence' is outside any section"), std::string::npos)
      << top.error().message;
  auto typo = engine_config_from_toml(toml::parse(modality + "[trainig]\nepochs = 3\n"));
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("unknown section [trainig]"), std::string::npos)
      << typo.error().message;
  for (const std::string_view section : kConfigSections) {
    if (section == "modality") continue;
    EXPECT_TRUE(engine_config_from_toml(toml::parse(modality + "[" + std::string(section) + "]\n")))
        << section;
  }
}

TEST(EngineConfig, DefaultFileHasTheThreeModalities) {
  auto doc = read_toml_file(std::string(TFE_SOURCE_DIR) + "/configs/default.toml");
  ASSERT_TRUE(doc) << doc.error().message;
  auto config = engine_config_from_toml(doc.value());
  ASSERT_TRUE(config) << config.error().message;
  const EngineConfig& c = config.value();
  EXPECT_EQ(c.windows_ms, (std::vector<int64_t>{300'000, 900'000}));
  EXPECT_EQ(c.tick_cadence_ms, 60'000);
  EXPECT_EQ(c.tick_phases, 3000u);
  EXPECT_TRUE(c.tick_on_event);
  EXPECT_EQ(c.allowed_lateness_ms, 0);
  EXPECT_EQ(c.max_event_skew_ms, 300'000);
  EXPECT_EQ(c.max_record_bytes, 1u << 20);
  EXPECT_EQ(c.max_window_samples, 4096u);
  ASSERT_EQ(c.schema.size(), 3u);

  const ModalitySpec& wearables = c.schema[c.schema.find("wearables").value()];
  EXPECT_EQ(wearables.kind, ModalityKind::vitals);
  EXPECT_EQ(wearables.topic, "tfe.wearables");
  EXPECT_EQ(wearables.channels,
            (std::vector<std::string>{"hr", "spo2", "rr", "temp", "sbp", "activity"}));
  EXPECT_EQ(wearables.horizon_ms, 15 * 60'000);
  EXPECT_EQ(wearables.cadence_ms, 60'000);
  EXPECT_EQ(c.schema.find_channel(c.schema.find("wearables").value(), "rr"), 2);

  const ModalitySpec& notes = c.schema[c.schema.find("notes").value()];
  EXPECT_EQ(notes.kind, ModalityKind::text);
  EXPECT_EQ(notes.topic, "tfe.notes");
  EXPECT_EQ(notes.horizon_ms, 48LL * 3'600'000);
  EXPECT_EQ(notes.cadence_ms, 4LL * 3'600'000);
  EXPECT_EQ(notes.text_hash_dim, 256u);

  const ModalitySpec& imaging = c.schema[c.schema.find("imaging").value()];
  EXPECT_EQ(imaging.kind, ModalityKind::embedding);
  EXPECT_EQ(imaging.topic, "tfe.imaging");
  EXPECT_EQ(imaging.dim, 512u);
  EXPECT_EQ(imaging.horizon_ms, 30LL * 86'400'000);
  EXPECT_EQ(imaging.cadence_ms, 3LL * 86'400'000);
  EXPECT_EQ(c.schema.max_horizon_ms(), 30LL * 86'400'000);
}

TEST(EngineConfig, TickPhasesMustDivideTheCadence) {
  auto config = parse(std::string("[engine]\ntick_cadence = \"1m\"\ntick_phases = 60\n") + kVitals);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config.value().tick_phases, 60u);
  auto uneven = parse(std::string("[engine]\ntick_cadence = 1000\ntick_phases = 7\n") + kVitals);
  ASSERT_FALSE(uneven);
  EXPECT_NE(uneven.error().message.find("engine.tick_phases"), std::string::npos)
      << uneven.error().message;
  auto zero = parse(std::string("[engine]\ntick_phases = 0\n") + kVitals);
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message.find("engine.tick_phases"), std::string::npos);
}

TEST(EngineConfig, OtherSectionsAreIgnoredAndDefaultsApply) {
  auto config = parse(
      std::string("[kafka]\nbrokers = \"embedded\"\nanything = 1\n[model]\nx = 2\n") + kVitals);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config.value().tick_cadence_ms, 60'000);
  EXPECT_EQ(config.value().tick_phases, 1u);
  const ModalitySpec& vit = config.value().schema[0];
  EXPECT_EQ(vit.topic, "tfe.vit");
  EXPECT_EQ(vit.history, 4u);
}

TEST(EngineConfig, ModalityKindNamesRoundTrip) {
  for (auto kind : {ModalityKind::vitals, ModalityKind::text, ModalityKind::embedding}) {
    EXPECT_EQ(modality_kind_from_string(to_string(kind)), kind);
  }
  EXPECT_FALSE(modality_kind_from_string("audio"));
}

TEST(EngineConfig, EngineSectionErrors) {
  EXPECT_CONFIG_ERROR(std::string("[engine]\ntick_cadance = \"60s\"\n") + kVitals,
                      "[engine]: unknown key 'tick_cadance'");
  EXPECT_CONFIG_ERROR(std::string("[engine]\ntick_cadence = \"0s\"\n") + kVitals,
                      "engine.tick_cadence: must be > 0");
  EXPECT_CONFIG_ERROR(std::string("[engine]\ntick_cadence = \"soon\"\n") + kVitals,
                      "engine.tick_cadence: 'soon' is not a duration");
  EXPECT_CONFIG_ERROR(std::string("[engine]\ntick_cadence = true\n") + kVitals,
                      "engine.tick_cadence: expected a duration");
  EXPECT_CONFIG_ERROR(std::string("[engine]\nallowed_lateness = -5\n") + kVitals,
                      "engine.allowed_lateness: a duration must not be negative");
  EXPECT_CONFIG_ERROR(std::string("[engine]\nwindows = []\n") + kVitals,
                      "engine.windows: at least one window is required");
  EXPECT_CONFIG_ERROR(std::string("[engine]\nwindows = \"5m\"\n") + kVitals,
                      "engine.windows: expected an array of durations");
  EXPECT_CONFIG_ERROR(std::string("[engine]\nwindows = [\"5m\", \"5m\"]\n") + kVitals,
                      "engine.windows: duplicate window 5m");
  EXPECT_CONFIG_ERROR(std::string("[engine]\nwindows = [\"8d\"]\n") + kVitals,
                      "engine.windows: 8d is longer than the maximum of 7d");
  EXPECT_CONFIG_ERROR(
      std::string("[engine]\nwindows = "
                  "[\"1m\",\"2m\",\"3m\",\"4m\",\"5m\",\"6m\",\"7m\",\"8m\",\"9m\"]\n") +
          kVitals,
      "engine.windows: at most 8 windows");
  EXPECT_CONFIG_ERROR(std::string("[engine]\nshards = 0\n") + kVitals,
                      "engine.shards: must be between 1 and 256 (got 0)");
  EXPECT_CONFIG_ERROR(std::string("[engine]\nshards = \"4\"\n") + kVitals,
                      "engine.shards: expected an integer");
  EXPECT_CONFIG_ERROR(std::string("[engine]\ntick_on_event = 1\n") + kVitals,
                      "engine.tick_on_event: expected true or false");
  EXPECT_CONFIG_ERROR(std::string("[engine]\nmax_window_samples = 1\n") + kVitals,
                      "engine.max_window_samples: must be between 2 and");
  // A declared cadence that cannot fill the longest window within the cap: the "2h" statistics
  // would cover 68 minutes.
  const std::string monitor = R"(
[[modality]]
name = "monitor"
kind = "vitals"
channels = ["hr"]
horizon = "15m"
cadence = "1s"
)";
  EXPECT_CONFIG_ERROR("[engine]\nwindows = [\"5m\", \"2h\"]\n" + monitor,
                      "modality 'monitor': the longest window (2h) at its cadence (1s) holds 7201 "
                      "readings, more than engine.max_window_samples (4096)");
  EXPECT_TRUE(engine_config_from_toml(
      toml::parse("[engine]\nwindows = [\"5m\", \"2h\"]\nmax_window_samples = 8000\n" + monitor)));
  // At the limit: readings at t - 2h, t - 2h + 1s, ..., t are all in the window, 7201 of them.
  EXPECT_CONFIG_ERROR("[engine]\nwindows = [\"2h\"]\nmax_window_samples = 7200\n" + monitor,
                      "holds 7201 readings, more than engine.max_window_samples (7200)");
  EXPECT_TRUE(engine_config_from_toml(
      toml::parse("[engine]\nwindows = [\"2h\"]\nmax_window_samples = 7201\n" + monitor)));
  // Durations stay within ten years, so that sums of them cannot overflow.
  EXPECT_CONFIG_ERROR(std::string("[engine]\nallowed_lateness = \"3651d\"\n") + kVitals,
                      "engine.allowed_lateness: at most 3650d");
  EXPECT_CONFIG_ERROR(std::string("[[modality]]\nname = \"v\"\nkind = \"vitals\"\n"
                                  "channels = [\"a\"]\nhorizon = \"100000d\"\n"),
                      "horizon: at most 3650d");
  EXPECT_CONFIG_ERROR(std::string("[engine]\nmax_record_bytes = 10\n") + kVitals,
                      "engine.max_record_bytes: must be between 64 and");
  EXPECT_CONFIG_ERROR(std::string("engine = 5\n") + kVitals, "[engine]: expected a table");
}

// A value quoted back in an error is escaped: the message stays one line whatever it held.
TEST(EngineConfig, QuotedValuesKeepTheErrorOnOneLine) {
  const std::string cadence =
      error_of(std::string("[engine]\ntick_cadence = \"5\\nm\"\n") + kVitals);
  EXPECT_EQ(cadence.find('\n'), std::string::npos) << cadence;
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "engine.tick_cadence: '5\\x0am' is not a duration",
                      cadence);
  const std::string window =
      error_of(std::string("[engine]\nwindows = [\"1\\r\\nd\"]\n") + kVitals);
  EXPECT_EQ(window.find_first_of("\r\n"), std::string::npos) << window;
  const std::string kind =
      error_of("[[modality]]\nname = \"x\"\nkind = \"vitals\\n\"\nhorizon = \"1m\"\n");
  EXPECT_EQ(kind.find('\n'), std::string::npos) << kind;
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "(got 'vitals\\x0a')", kind);
}

TEST(EngineConfig, ModalityListErrors) {
  EXPECT_CONFIG_ERROR("[engine]\nshards = 2\n", "[[modality]]: at least one modality is required");
  EXPECT_CONFIG_ERROR("modality = 3\n", "[[modality]]: expected an array of tables");
  std::string many;
  for (int i = 0; i < 17; ++i) {
    many += "[[modality]]\nname = \"m" + std::to_string(i) +
            "\"\nkind = \"embedding\"\ndim = 2\nhorizon = \"1h\"\n";
  }
  EXPECT_CONFIG_ERROR(many, "[[modality]]: 17 modalities configured, at most 16 supported");
  EXPECT_CONFIG_ERROR(std::string(kVitals) + kVitals,
                      "modality 'vit': duplicate name (entries #1 and #2)");
}

struct ModalityErrorCase {
  const char* body;      // keys of one [[modality]] entry
  const char* fragment;  // expected in the error
};

class ModalityErrors : public ::testing::TestWithParam<ModalityErrorCase> {};

TEST_P(ModalityErrors, NamesTheField) {
  EXPECT_CONFIG_ERROR(std::string("[[modality]]\n") + GetParam().body, GetParam().fragment);
}

INSTANTIATE_TEST_SUITE_P(
    EngineConfig, ModalityErrors,
    ::testing::Values(
        ModalityErrorCase{"kind = \"vitals\"\nchannels = [\"a\"]\nhorizon = \"1m\"\n",
                          "modality #1: name is required"},
        ModalityErrorCase{"name = \"\"\nkind = \"text\"\nhorizon = \"1m\"\n",
                          "modality #1: name must be 1 to 64 bytes long"},
        ModalityErrorCase{"name = \"outcome\"\nkind = \"text\"\nhorizon = \"1m\"\n",
                          "modality #1: name 'outcome' is reserved"},
        ModalityErrorCase{"name = \"x\"\nhorizon = \"1m\"\n", "modality 'x': kind is required"},
        ModalityErrorCase{
            "name = \"x\"\nkind = \"audio\"\nhorizon = \"1m\"\n",
            "modality 'x': kind must be one of vitals, text, embedding (got 'audio')"},
        ModalityErrorCase{"name = \"x\"\nkind = \"text\"\nhorizon = \"1m\"\ncolour = 1\n",
                          "modality 'x': unknown key 'colour'"},
        ModalityErrorCase{"name = \"x\"\nkind = \"vitals\"\nhorizon = \"1m\"\n",
                          "modality 'x': channels is required for kind vitals"},
        ModalityErrorCase{"name = \"x\"\nkind = \"vitals\"\nchannels = []\nhorizon = \"1m\"\n",
                          "modality 'x': channels must list at least one channel"},
        ModalityErrorCase{"name = \"x\"\nkind = \"vitals\"\nchannels = [\"a\",\"a\"]\nhorizon = "
                          "\"1m\"\n",
                          "modality 'x': channels lists 'a' twice"},
        ModalityErrorCase{"name = \"x\"\nkind = \"vitals\"\nchannels = [\"a\",\"b\",\"c\",\"d\","
                          "\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\","
                          "\"q\"]\nhorizon = \"1m\"\n",
                          "modality 'x': channels has 17 entries, at most 16 are supported"},
        ModalityErrorCase{"name = \"x\"\nkind = \"vitals\"\nchannels = [\"a\", 3]\nhorizon = "
                          "\"1m\"\n",
                          "modality 'x': channels must be names of 1 to 64 bytes"},
        ModalityErrorCase{"name = \"x\"\nkind = \"vitals\"\nchannels = [\"a\\nb\"]\nhorizon = "
                          "\"1m\"\n",
                          "modality 'x': channels must be names of 1 to 64 bytes, without control "
                          "characters"},
        ModalityErrorCase{"name = \"x\\u2028y\"\nkind = \"text\"\nhorizon = \"1m\"\n",
                          "modality #1: name must be 1 to 64 bytes long, without control "
                          "characters"},
        ModalityErrorCase{"name = \"x\\u0085y\"\nkind = \"text\"\nhorizon = \"1m\"\n",
                          "modality #1: name must be 1 to 64 bytes long, without control "
                          "characters"},
        ModalityErrorCase{"name = \"x\\ty\"\nkind = \"text\"\nhorizon = \"1m\"\n",
                          "modality #1: name must be 1 to 64 bytes long, without control "
                          "characters"},
        ModalityErrorCase{"name = \"x\"\nkind = \"text\"\nchannels = [\"a\"]\nhorizon = \"1m\"\n",
                          "modality 'x': channels is only valid for kind vitals"},
        ModalityErrorCase{"name = \"x\"\nkind = \"vitals\"\nchannels = [\"a\"]\ndim = 3\nhorizon = "
                          "\"1m\"\n",
                          "modality 'x': dim is not valid for kind vitals"},
        ModalityErrorCase{"name = \"imaging\"\nkind = \"embedding\"\nhorizon = \"30d\"\n",
                          "modality 'imaging': dim must be > 0"},
        ModalityErrorCase{"name = \"imaging\"\nkind = \"embedding\"\ndim = 0\nhorizon = \"30d\"\n",
                          "modality 'imaging': dim must be > 0"},
        ModalityErrorCase{"name = \"n\"\nkind = \"text\"\ndim = -1\nhorizon = \"30d\"\n",
                          "modality 'n': dim must be >= 0"},
        ModalityErrorCase{"name = \"x\"\nkind = \"embedding\"\ndim = 4\n",
                          "modality 'x': horizon is required"},
        ModalityErrorCase{"name = \"x\"\nkind = \"embedding\"\ndim = 4\nhorizon = \"0s\"\n",
                          "modality 'x': horizon: must be > 0"},
        ModalityErrorCase{"name = \"x\"\nkind = \"embedding\"\ndim = 4\nhorizon = \"1h\"\ncadence "
                          "= \"1 h\"\n",
                          "modality 'x': cadence: '1 h' is not a duration"},
        ModalityErrorCase{"name = \"x\"\nkind = \"embedding\"\ndim = 4\nhorizon = \"1h\"\nhistory "
                          "= 0\n",
                          "modality 'x': history: must be between 1 and 1024 (got 0)"},
        ModalityErrorCase{"name = \"x\"\nkind = \"embedding\"\ndim = 4\nhorizon = "
                          "\"1h\"\ntext_hash_dim = 8\n",
                          "modality 'x': text_hash_dim is only valid for kind text"},
        ModalityErrorCase{"name = \"x\"\nkind = \"text\"\nhorizon = \"1h\"\ntext_hash_dim = 0\n",
                          "modality 'x': text_hash_dim: must be between 1 and"},
        ModalityErrorCase{"name = \"x\"\nkind = \"vitals\"\nchannels = [\"a\"]\nhorizon = "
                          "\"1h\"\nl2_normalize = true\n",
                          "modality 'x': l2_normalize is only valid for kinds text and embedding"},
        ModalityErrorCase{"name = \"x\"\nkind = \"text\"\nhorizon = \"1h\"\nl2_normalize = 1\n",
                          "modality 'x': l2_normalize: expected true or false"},
        ModalityErrorCase{"name = \"x\"\nkind = \"text\"\nhorizon = \"1h\"\ntopic = \"\"\n",
                          "modality 'x': topic must not be empty"}));

TEST(ReadTomlFile, ParseErrorNamesFileLineAndColumn) {
  const std::filesystem::path path = std::filesystem::path(TFE_BINARY_DIR) / "config_test_bad.toml";
  {
    std::ofstream out(path);
    out << "[engine]\nshards = 2\nwindows = [\"5m\",\n= 3\n";
  }
  auto doc = read_toml_file(path.string());
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().code, Errc::parse);
  EXPECT_EQ(doc.error().message.rfind(path.string() + ":4:", 0), 0u) << doc.error().message;
  std::filesystem::remove(path);
}

TEST(ReadTomlFile, MissingFileIsAnIoError) {
  auto doc = read_toml_file("/nonexistent/tfe/config.toml");
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().code, Errc::io);
  EXPECT_NE(doc.error().message.find("/nonexistent/tfe/config.toml"), std::string::npos);
}

TEST(ModalityNames, UnicodeIsAllowedControlsAndSeparatorsAreNot) {
  EXPECT_TRUE(valid_name("herzfrequenz_\xc3\xa4"));     // a-umlaut
  EXPECT_TRUE(valid_name("\xe5\xbf\x83\xe7\x8e\x87"));  // two CJK characters
  EXPECT_TRUE(
      valid_name("\xe2\x80\x94"
                 "dash"));  // U+2014, not a separator
  EXPECT_FALSE(valid_name(""));
  EXPECT_FALSE(valid_name(std::string(65, 'a')));
  EXPECT_FALSE(valid_name("a\nb"));
  EXPECT_FALSE(valid_name("a\x7f"));
  EXPECT_FALSE(
      valid_name("a\xc2\x85"
                 "b"));  // U+0085, next line
  EXPECT_FALSE(
      valid_name("a\xe2\x80\xa8"
                 "b"));  // U+2028, line separator
  EXPECT_FALSE(
      valid_name("a\xe2\x80\xa9"
                 "b"));  // U+2029, paragraph separator
}

}  // namespace
}  // namespace tfe
