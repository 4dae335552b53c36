// Model files: bit-exact round trips, and one clear error for every truncation, corruption,
// unknown version and schema mismatch.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include "operators/fusion_operator.h"
#include "operators/hash.h"
#include "operators/model_file.h"
#include "tests/operators/fusion_test_support.h"
#include "tests/support/mutation.h"

namespace tfe {
namespace {

ModelConfig small_arch(Strategy s) {
  ModelConfig a;
  a.strategy = s;
  a.d_model = 4;
  a.heads = 2;
  a.time2vec_k = 1;
  a.hidden = {4};
  a.encoder_hidden = 3;
  return a;
}

const test::DefaultDims kSmall{2, 8, 0, 4};

// Recomputes the trailer after a deliberate edit, to reach the checks behind the checksum.
void reseal(std::vector<uint8_t>& bytes) {
  const uint64_t h = fnv1a64(std::span(bytes).first(bytes.size() - 8));
  std::memcpy(bytes.data() + bytes.size() - 8, &h, 8);
}

class ModelFileTest : public ::testing::TestWithParam<Strategy> {};

std::string strategy_name(const ::testing::TestParamInfo<Strategy>& info) {
  return std::string(to_string(info.param));
}

TEST_P(ModelFileTest, RoundTripIsBitExact) {
  const EngineConfig config = test::default_engine_config();
  for (CalibrationMethod cal : {CalibrationMethod::platt, CalibrationMethod::isotonic}) {
    ModelConfig arch;
    arch.strategy = GetParam();
    arch.calibration = cal;
    arch.sinusoidal = true;
    auto model = test::random_model(arch, config, 1234);
    ASSERT_NE(model, nullptr);
    model->metadata["train.split"] = "0.7,0.15,0.15";
    model->metadata["train.seed"] = "42";
    const std::vector<uint8_t> bytes = serialize_model(*model);
    auto parsed = parse_model(bytes);
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed.value().arch, model->arch);
    EXPECT_EQ(parsed.value().schema, model->schema);
    EXPECT_EQ(parsed.value().weights, model->weights);
    EXPECT_EQ(parsed.value().stats, model->stats);
    EXPECT_EQ(parsed.value().calibration, model->calibration);
    EXPECT_EQ(parsed.value().metadata, model->metadata);
    EXPECT_EQ(serialize_model(parsed.value()), bytes);
    EXPECT_EQ(model_id(parsed.value()), model_id(*model));
    EXPECT_EQ(model_id(*model).size(), 16u);
  }
}

TEST_P(ModelFileTest, EveryTruncationIsAClearError) {
  const EngineConfig config = test::default_engine_config(kSmall);
  auto model = test::random_model(small_arch(GetParam()), config, 3);
  ASSERT_NE(model, nullptr);
  const std::vector<uint8_t> bytes = serialize_model(*model);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = parse_model(std::span(bytes).first(n));
    ASSERT_FALSE(r) << "truncated to " << n << " bytes was accepted";
    EXPECT_EQ(r.error().code, Errc::parse);
    const std::string& msg = r.error().message;
    EXPECT_TRUE(msg.find("truncated") != std::string::npos ||
                msg.find("empty") != std::string::npos)
        << n << ": " << msg;
  }
}

TEST_P(ModelFileTest, EveryFlippedByteIsAClearError) {
  const EngineConfig config = test::default_engine_config(kSmall);
  auto model = test::random_model(small_arch(GetParam()), config, 4);
  const std::vector<uint8_t> bytes = serialize_model(*model);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::vector<uint8_t> bad = bytes;
    bad[i] ^= 0x10;
    auto r = parse_model(bad);
    ASSERT_FALSE(r) << "flipped byte " << i << " was accepted";
    EXPECT_FALSE(r.error().message.empty());
    if (i >= 24 && i < bytes.size() - 8) {
      EXPECT_NE(r.error().message.find("checksum mismatch"), std::string::npos) << i;
    }
  }
}

// Edits resealed (declared size and checksum recomputed) reach the parser's checks of every
// section and field: each edited file is one clear error, or a model whose own bytes are the
// file's (nothing accepted that the writer would not write) and that an operator either takes or
// refuses in one line.
TEST_P(ModelFileTest, ResealedMutationsAreCleanErrorsOrCanonicalModels) {
  const EngineConfig config = test::default_engine_config(kSmall);
  auto model = test::random_model(small_arch(GetParam()), config, 5);
  const std::vector<uint8_t> bytes = serialize_model(*model);
  const std::string le_max("\xff\xff\xff\xff", 4);
  const std::string le_zero("\0\0\0\0", 4);
  const std::string le_big("\0\0\x01\0", 4);  // 65536
  const std::string nan_bits("\0\0\xc0\x7f", 4);
  const std::array<std::string_view, 14> tokens = {
      le_max, le_zero, le_big, nan_bits, "ARCH",      "SCHM",     "WGHT",
      "STAT", "CALB",  "META", "early",  "attention", "isotonic", "attn.query"};
  test::ByteMutator mutator(test::mutation_seed(20261207), tokens, 3);
  const int files = test::mutation_count(2000);
  int accepted = 0;
  for (int i = 0; i < files; ++i) {
    std::string edited = mutator.mutate(std::string(bytes.begin(), bytes.end()));
    std::vector<uint8_t> v(edited.begin(), edited.end());
    if (v.size() >= 24 && i % 8 != 0) {
      const uint64_t size = v.size();
      std::memcpy(v.data() + 16, &size, 8);
    }
    if (v.size() >= 32) reseal(v);
    auto r = parse_model(v);
    if (!r) {
      EXPECT_FALSE(r.error().message.empty()) << i;
      EXPECT_TRUE(test::one_clean_line(r.error().message)) << i << ": " << r.error().message;
      continue;
    }
    ++accepted;
    ASSERT_EQ(serialize_model(r.value()), v) << "file " << i << " parsed to another model's bytes";
    auto op =
        FusionOperator::create(std::make_shared<const FusionModel>(std::move(r.value())), config);
    if (!op) {
      EXPECT_TRUE(test::one_clean_line(op.error().message)) << i << ": " << op.error().message;
    }
  }
  // Some edits land in weights and stay valid; most break a structure the parser checks.
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, files / 2);
}

INSTANTIATE_TEST_SUITE_P(All, ModelFileTest, ::testing::ValuesIn(kAllStrategies), strategy_name);

TEST(ModelFile, HeaderErrors) {
  const EngineConfig config = test::default_engine_config(kSmall);
  auto model = test::random_model(small_arch(Strategy::late), config, 5);
  const std::vector<uint8_t> bytes = serialize_model(*model);

  std::vector<uint8_t> v = bytes;
  v[8] = 7;  // version
  auto r = parse_model(v);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unsupported);
  EXPECT_EQ(r.error().message, "unsupported model format version 7 (this build reads version 1)");

  v = bytes;
  v[0] = 'X';
  r = parse_model(v);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "not a tfe model file (bad magic)");

  v = bytes;
  v.push_back(0);
  r = parse_model(v);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("past its declared end"), std::string::npos);

  r = parse_model(std::span(bytes).first(100));
  ASSERT_FALSE(r);
  EXPECT_EQ(
      r.error().message,
      fmt::format("model file truncated: header declares {} bytes, file has 100", bytes.size()));
}

TEST(ModelFile, ChecksOfValuesBehindTheChecksum) {
  const EngineConfig config = test::default_engine_config(kSmall);
  auto model = test::random_model(small_arch(Strategy::attention), config, 6);

  FusionModel m = *model;
  m.weights.view(*m.weights.find("attn.query"))[2] = std::nanf("");
  std::vector<uint8_t> v = serialize_model(m);
  auto r = parse_model(v);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "model file section 'WGHT': tensor 'attn.query'[2] is not finite");

  m = *model;
  m.stats.view(*m.stats.find("stats.wearables.std"))[2] = 0.0f;
  r = parse_model(serialize_model(m));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "model file section 'STAT': 'stats.wearables.std'[2] = 0 is outside [1e-06, 1e+15], "
            "the range of a standard deviation");

  // A positive deviation below training's floor (here the smallest denormal) made z-scores
  // infinite; the floor itself, as training stores it, loads.
  m = *model;
  m.stats.view(*m.stats.find("stats.wearables.std"))[5] = 1e-45f;
  r = parse_model(serialize_model(m));
  ASSERT_FALSE(r);
  EXPECT_EQ(
      r.error().message,
      "model file section 'STAT': 'stats.wearables.std'[5] = 1e-45 is outside [1e-06, 1e+15], "
      "the range of a standard deviation");
  m.stats.view(*m.stats.find("stats.wearables.std"))[5] = static_cast<float>(kMinInputStd);
  EXPECT_TRUE(parse_model(serialize_model(m)));

  // A renamed tensor (same length, checksum resealed) is named against the architecture.
  v = serialize_model(*model);
  const std::string name = "attn.query";
  auto it = std::search(v.begin(), v.end(), name.begin(), name.end());
  ASSERT_NE(it, v.end());
  *(it + 5) = 'Q';
  reseal(v);
  r = parse_model(v);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("is 'attn.Query', the architecture expects 'attn.query'"),
            std::string::npos)
      << r.error().message;

  // Bytes that are not text are shown escaped: the message stays one line.
  *(it + 5) = '\n';
  reseal(v);
  r = parse_model(v);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("is 'attn.\\x0auery',"), std::string::npos) << r.error().message;
}

// Tensor names run past 64 bytes with long modality names (up to 64 bytes each): a mismatch
// shows both names in full, not cut where the difference may lie.
TEST(ModelFile, LongTensorNamesAppearInFullInMismatches) {
  EngineConfig config = test::default_engine_config(kSmall);
  std::vector<ModalitySpec> specs = config.schema.specs();
  const std::string modality = std::string(kMaxNameBytes - 4, 'i') + "ging";
  specs[2].name = modality;
  config.schema = ModalitySchema(std::move(specs));
  auto model = test::random_model(small_arch(Strategy::late), config, 9);
  ASSERT_NE(model, nullptr);
  std::vector<uint8_t> v = serialize_model(*model);
  ASSERT_TRUE(parse_model(v));

  const std::string expected = "time." + modality + ".w";
  ASSERT_GT(expected.size(), 64u);
  auto it = std::search(v.begin(), v.end(), expected.begin(), expected.end());
  ASSERT_NE(it, v.end());
  *(it + static_cast<std::ptrdiff_t>(expected.size()) - 1) = 'v';  // the last byte differs
  reseal(v);
  auto r = parse_model(v);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(
                fmt::format("is 'time.{}.v', the architecture expects '{}'", modality, expected)),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("..."), std::string::npos) << r.error().message;
}

TEST(ModelFile, SchemaMismatchNamesTheField) {
  const EngineConfig config = test::default_engine_config();
  auto model = init_model(ModelConfig{}, config, 1);
  ASSERT_TRUE(model);
  EXPECT_TRUE(check_model_matches_config(model.value(), config));

  test::DefaultDims dims;
  dims.imaging_dim = 256;
  auto r = check_model_matches_config(model.value(), test::default_engine_config(dims));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::schema);
  EXPECT_EQ(r.error().message, "model expects modality 'imaging' with dim 512, config has 256");

  dims = {};
  dims.channels = 5;
  r = check_model_matches_config(model.value(), test::default_engine_config(dims));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "model expects modality 'wearables' with 6 channels, config has 5");

  dims = {};
  dims.text_hash_dim = 128;
  r = check_model_matches_config(model.value(), test::default_engine_config(dims));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "model expects modality 'notes' with text_hash_dim 256, config has 128");

  EngineConfig windows = config;
  windows.windows_ms = {300'000};
  r = check_model_matches_config(model.value(), windows);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "model expects vitals windows [300000, 900000] ms, config has [300000]");

  std::vector<ModalitySpec> specs = config.schema.specs();
  std::swap(specs[1], specs[2]);
  EngineConfig swapped = config;
  swapped.schema = ModalitySchema(specs);
  r = check_model_matches_config(model.value(), swapped);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "model expects modality 'notes' at position 2, config has 'imaging'");

  specs.pop_back();
  EngineConfig fewer = config;
  fewer.schema = ModalitySchema(specs);
  r = check_model_matches_config(model.value(), fewer);
  ASSERT_FALSE(r);
  EXPECT_EQ(
      r.error().message,
      "model expects 3 modalities (wearables, notes, imaging), config has 2 (wearables, imaging)");

  // The operator refuses a mismatched config with the same message.
  auto op = FusionOperator::create(std::make_shared<FusionModel>(model.value()),
                                   test::default_engine_config(test::DefaultDims{6, 256, 0, 256}));
  ASSERT_FALSE(op);
  EXPECT_EQ(op.error().message, "model expects modality 'imaging' with dim 512, config has 256");
}

TEST(ModelFile, InitIsDeterministicBySeedAndEveryStrategyScores) {
  const EngineConfig config = test::default_engine_config();
  for (Strategy s : kAllStrategies) {
    ModelConfig arch;
    arch.strategy = s;
    auto a = init_model(arch, config, 42);
    auto b = init_model(arch, config, 42);
    auto c = init_model(arch, config, 43);
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(serialize_model(a.value()), serialize_model(b.value()));
    EXPECT_NE(model_id(a.value()), model_id(c.value()));
    auto op = FusionOperator::create(std::make_shared<FusionModel>(a.value()), config);
    ASSERT_TRUE(op);
    EXPECT_EQ(op.value()->spec().strategy, to_string(s));
    EXPECT_EQ(op.value()->spec().model_id, model_id(a.value()));
    auto state = op.value()->make_state();
    test::TestRng rng(1);
    auto snap = test::random_case(rng, *op.value(), {true, true, true});
    ScoreOutput out;
    op.value()->score(snap.staged_snapshot(), *state, out);
    EXPECT_TRUE(std::isfinite(out.logit));
    EXPECT_GT(out.risk, 0.0);
    EXPECT_LT(out.risk, 1.0);
  }
}

TEST(ModelFile, SaveAndLoadThroughAFile) {
  const EngineConfig config = test::default_engine_config();
  auto model = init_model(ModelConfig{}, config, 9);
  ASSERT_TRUE(model);
  const auto path = std::filesystem::temp_directory_path() /
                    ("tfe_model_file_test_" + std::to_string(::getpid()) + ".tfm");
  ASSERT_TRUE(save_model(model.value(), path.string()));
  auto loaded = load_model(path.string());
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(serialize_model(loaded.value()), serialize_model(model.value()));

  // Truncate the file on disk: the error carries the path.
  std::filesystem::resize_file(path, 50);
  auto bad = load_model(path.string());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind(path.string() + ": model file truncated", 0), 0u)
      << bad.error().message;
  std::filesystem::remove(path);

  auto missing = load_model(path.string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::io);
}

// A file that is not a model (a history of gigabytes given by mistake) was read whole into
// memory before its magic was looked at. A sparse 16 GiB file is loaded in a child process whose
// address space allows 1 GiB more than it uses: the load has to answer from the header.
TEST(ModelFile, LoadRefusesANonModelFileWithoutReadingIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto path = std::filesystem::temp_directory_path() /
                    ("tfe_model_file_test_big_" + std::to_string(::getpid()) + ".jsonl");
  {
    std::ofstream out(path, std::ios::binary);
    out << "{\"patient_id\": \"p1\", \"modality\": \"notes\"}\n";
  }
  std::filesystem::resize_file(path, std::uintmax_t{16} << 30);
  const std::string expected = path.string() + ": not a tfe model file (bad magic)";
  // The child's body: a function, since the macro cannot take an argument holding commas.
  const auto load_with_limited_memory = [&] {
#ifndef TFE_SANITIZE_BUILD  // the sanitizers' shadow memory needs an unlimited address space
    long pages = 0;
    std::ifstream("/proc/self/statm") >> pages;
    const rlim_t used = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::getpagesize());
    rlimit limit{};
    limit.rlim_cur = limit.rlim_max = used + (rlim_t{1} << 30);
    ::setrlimit(RLIMIT_AS, &limit);
#endif
    auto r = load_model(path.string());
    // The threadsafe style reruns this test in the child up to here, with a file of its own.
    std::filesystem::remove(path);
    std::fprintf(stderr, "%s\n", r ? "loaded" : r.error().message.c_str());
    std::exit(!r && r.error().message == expected ? 0 : 1);
  };
  EXPECT_EXIT(load_with_limited_memory(), ::testing::ExitedWithCode(0), "bad magic");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tfe

namespace tfe {
namespace {

// What parse_model says of a small random model of `strategy` once `edit` has changed it:
// its error message, or "accepted".
template <class Edit>
std::string refusal(Strategy strategy, uint64_t seed, Edit edit) {
  auto model = test::random_model(small_arch(strategy), test::default_engine_config(kSmall), seed);
  if (model == nullptr) return "no model";
  FusionModel m = *model;
  edit(m);
  auto r = parse_model(serialize_model(m));
  return r ? std::string("accepted") : r.error().message;
}

// A hostile schema whose u32 text widths wrap to a small sum (0xFFFFFF00 + 512 = 256 in 32 bits),
// written with weights shaped for the wrapped width and an IDF of 512 buckets, so that every
// tensor matches what a 32-bit width implies: it loaded, and preparing its input copied 4 GiB.
TEST(ModelFile, TextWidthsThatWrapIn32BitsAreRefused) {
  const EngineConfig wrapped = test::default_engine_config({2, 256, 0, 4});
  const EngineConfig buckets = test::default_engine_config({2, 512, 0, 4});
  auto model = test::random_model(small_arch(Strategy::early), wrapped, 7);
  auto stats = test::random_model(small_arch(Strategy::early), buckets, 7);
  ASSERT_TRUE(model && stats);
  FusionModel hostile = *model;
  hostile.stats = stats->stats;
  hostile.schema.modalities[1].dim = 0xFFFFFF00u;
  hostile.schema.modalities[1].text_hash_dim = 512;
  auto r = parse_model(serialize_model(hostile));
  ASSERT_FALSE(r) << "the wrapped schema loaded";
  EXPECT_EQ(r.error().message,
            "model file section 'SCHM': modality 'notes': dim = 4294967040 exceeds the largest "
            "input width, 65536");

  // Widths each within the bound whose sum is not.
  auto r2 = make_model_skeleton(small_arch(Strategy::early),
                                model_schema_from_config(test::default_engine_config(
                                    test::DefaultDims{2, 40'000, 40'000, 4})));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().message,
            "modality 'notes': dim + text_hash_dim = 80000 exceeds the largest input width, 65536");
}

// dim, text_hash_dim and channels on a kind that does not use them: nothing would check them
// against a configuration, so the file is refused instead of carrying them.
TEST(ModelFile, FieldsTheKindDoesNotUseAreRefused) {
  const auto refused = [](auto edit) {
    return refusal(Strategy::late, 8, [&](FusionModel& m) { edit(m.schema); });
  };
  EXPECT_EQ(refused([](ModelSchema& s) { s.modalities[0].dim = 5; }),
            "model file section 'SCHM': modality 'wearables' (vitals) sets dim = 5, which vitals "
            "modalities do not use");
  EXPECT_EQ(refused([](ModelSchema& s) { s.modalities[0].text_hash_dim = 16; }),
            "model file section 'SCHM': modality 'wearables' (vitals) sets text_hash_dim = 16, "
            "which vitals modalities do not use");
  EXPECT_EQ(refused([](ModelSchema& s) { s.modalities[1].channels = {"hr"}; }),
            "model file section 'SCHM': modality 'notes' (text) sets channels = 1, which text "
            "modalities do not use");
  EXPECT_EQ(refused([](ModelSchema& s) { s.modalities[2].text_hash_dim = 8; }),
            "model file section 'SCHM': modality 'imaging' (embedding) sets text_hash_dim = 8, "
            "which embedding modalities do not use");
  EXPECT_EQ(refused([](ModelSchema& s) {
              s.modalities[2].channels = {"hr", "rr"};
            }),
            "model file section 'SCHM': modality 'imaging' (embedding) sets channels = 2, which "
            "embedding modalities do not use");
  EXPECT_EQ(refused([](ModelSchema&) {}), "accepted");
}

// META keys are written sorted (std::map). Out of order they loaded into the same map, so the
// model's bytes, and so its id in every score, differed from the file's own checksum.
TEST(ModelFile, MetadataKeysOutOfOrderOrRepeatedAreRefused) {
  const EngineConfig config = test::default_engine_config(kSmall);
  auto model = test::random_model(small_arch(Strategy::late), config, 9);
  ASSERT_NE(model, nullptr);
  model->metadata = {{"aa", "1"}, {"ab", "2"}};
  const std::vector<uint8_t> bytes = serialize_model(*model);
  ASSERT_TRUE(parse_model(bytes));
  // The two keys as written: u32 length 2, then the key.
  const auto key_at = [&](std::string_view key) {
    const std::string needle = std::string("\x02\0\0\0", 4) + std::string(key);
    auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
    EXPECT_NE(it, bytes.end()) << key;
    return static_cast<std::size_t>(it - bytes.begin()) + 5;  // the key's second byte
  };
  const std::size_t first = key_at("aa"), second = key_at("ab");

  std::vector<uint8_t> swapped = bytes;
  swapped[first] = 'b';
  swapped[second] = 'a';
  reseal(swapped);
  auto r = parse_model(swapped);
  ASSERT_FALSE(r) << "loaded as a model whose bytes differ from the file's";
  EXPECT_EQ(r.error().message,
            "model file section 'META': entry[1] key 'aa' is not after 'ab' (keys are sorted)");

  std::vector<uint8_t> repeated = bytes;
  repeated[second] = 'a';
  reseal(repeated);
  r = parse_model(repeated);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "model file section 'META': entry[1] repeats the key 'aa'");
}

// A count above the format's limit was reported as "more than the section can hold", which sent
// the reader looking for a truncated file; it now names the limit.
TEST(ModelFile, CountsAboveTheFormatsLimitsNameTheLimit) {
  EXPECT_EQ(refusal(Strategy::late, 12,
                    [](FusionModel& m) { m.arch.hidden.assign(kMaxHiddenLayers + 1, 4); }),
            "model file section 'ARCH': 'hidden' = 9 exceeds the largest this format allows, 8");
  EXPECT_EQ(
      refusal(Strategy::late, 12,
              [](FusionModel& m) {
                for (std::size_t i = m.schema.modalities.size(); i <= kMaxModalities; ++i) {
                  m.schema.modalities.push_back(m.schema.modalities[2]);
                  m.schema.modalities.back().name = fmt::format("extra{}", i);
                }
              }),
      "model file section 'SCHM': 'modalities' = 17 exceeds the largest this format allows, 16");
}

// A config cannot set l2_normalize on vitals (they keep the default, true), so a file with false
// there loaded and was then refused against every config with a mismatch no config could fix.
TEST(ModelFile, VitalsWithoutTheDefaultL2NormalizeAreRefused) {
  EXPECT_EQ(refusal(Strategy::late, 10,
                    [](FusionModel& m) { m.schema.modalities[0].l2_normalize = false; }),
            "model file section 'SCHM': modality 'wearables' (vitals) sets l2_normalize = false, "
            "which vitals modalities do not use (they hold the default, true)");
}

// The format holds no isotonic steps for Platt (docs/model-format.md, CALB): a file with some
// loaded and carried them unused.
TEST(ModelFile, PlattCalibrationWithIsotonicStepsIsRefused) {
  EXPECT_EQ(refusal(Strategy::early, 11,
                    [](FusionModel& m) {
                      ASSERT_EQ(m.calibration.method, CalibrationMethod::platt);
                      m.calibration.thresholds = {-1.0f, 1.0f};
                      m.calibration.values = {0.2f, 0.8f};
                    }),
            "model file section 'CALB': calibration: platt has 2 isotonic steps, expected none");
}

TEST(ModelFile, OversizedArchitectureIsRefusedBeforeAllocating) {
  ModelConfig arch;
  arch.hidden = {4096};
  auto r = make_model_skeleton(
      arch,
      model_schema_from_config(test::default_engine_config(test::DefaultDims{6, 256, 0, 65536})));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::schema);
  EXPECT_NE(r.error().message.find("parameters, at most 67108864"), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace tfe
