// Synthetic cohorts: the profiles load, the generator is deterministic and ordered, and the
// cadences, delays, counts and deterioration signal follow docs/synthetic.md.

#include "tools/synth/synth.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tools/synth/random.h"

namespace tfe::synth {
namespace {

const std::string kProfiles = std::string(TFE_SOURCE_DIR) + "/configs/profiles";
constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;

Profile load(const std::string& name) {
  auto p = load_profile(name, kProfiles);
  EXPECT_TRUE(p) << (p ? "" : p.error().message);
  if (!p) return Profile{};
  return std::move(p).value();
}

// A compact copy of every generated event, for order and content checks.
struct Record {
  PatientIndex patient;
  ModalityIndex modality;
  int64_t event_ms, arrival_ms;
  uint64_t seq;
  uint32_t mask;
  std::array<float, kMaxChannels> values;
  std::string text;
  std::vector<float> embedding;
  std::string label;
};

struct Cohort {
  std::vector<Record> events;
  GenerateStats stats;
  Profile profile;
};

Cohort run(const std::string& name, uint32_t patients, double days, uint64_t seed) {
  Cohort r;
  r.profile = load(name);
  PatientRegistry registry;
  auto stats =
      generate(r.profile, GenerateOptions{patients, days, seed}, registry, [&](const Event& e) {
        r.events.push_back(Record{e.patient, e.modality, e.event_time_ms, e.arrival_time_ms,
                                  e.source_seq, e.vitals.present_mask, e.vitals.values, e.text,
                                  e.embedding, e.label});
      });
  EXPECT_TRUE(stats) << (stats ? "" : stats.error().message);
  if (stats) r.stats = stats.value();
  return r;
}

uint64_t fingerprint(const std::vector<Record>& events) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ULL; };
  for (const auto& e : events) {
    mix(e.patient);
    mix(e.modality);
    mix(static_cast<uint64_t>(e.event_ms));
    mix(static_cast<uint64_t>(e.arrival_ms));
    mix(e.mask);
    for (float v : e.values) mix(static_cast<uint64_t>(std::llround(v * 1000)));
    for (char c : e.text) mix(static_cast<uint64_t>(c));
    for (float v : e.embedding) mix(static_cast<uint64_t>(std::llround(v * 1e6)));
  }
  return h;
}

uint32_t words(const std::string& text) {
  uint32_t n = 0;
  bool in_word = false;
  for (char c : text) {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (letter && !in_word) ++n;
    in_word = letter;
  }
  return n;
}

TEST(SynthProfiles, AllShippedProfilesLoad) {
  for (const char* name : {"icu", "ward", "home"}) {
    auto p = load_profile(name, kProfiles);
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_EQ(p.value().name, name);
    EXPECT_EQ(p.value().engine.schema.size(), 3u) << name;
    EXPECT_TRUE(p.value().engine.schema.find_channel(0, "rr").has_value()) << name;
    EXPECT_EQ(p.value().start_ms, 1'704'067'200'000) << name;  // 2024-01-01T00:00:00Z
  }
  auto by_path = load_profile(kProfiles + "/ward.toml");
  ASSERT_TRUE(by_path) << by_path.error().message;
  EXPECT_EQ(by_path.value().vitals.cadence_ms, kMinute);
  EXPECT_EQ(by_path.value().notes.delay.min_ms, 30 * kMinute);
  EXPECT_EQ(by_path.value().notes.delay.max_ms, 6 * kHour);
}

TEST(SynthGenerate, DeterministicBySeed) {
  const Cohort a = run("ward", 60, 0.5, 42);
  const Cohort b = run("ward", 60, 0.5, 42);
  const Cohort c = run("ward", 60, 0.5, 43);
  ASSERT_GT(a.events.size(), 1000u);
  EXPECT_EQ(a.events.size(), b.events.size());
  EXPECT_EQ(fingerprint(a.events), fingerprint(b.events));
  EXPECT_NE(fingerprint(a.events), fingerprint(c.events));
}

TEST(SynthGenerate, ArrivalOrderAndSequence) {
  for (const char* name : {"icu", "ward", "home"}) {
    const Cohort r = run(name, name == std::string("icu") ? 8 : 80, 1, 7);
    ASSERT_FALSE(r.events.empty()) << name;
    EXPECT_EQ(r.stats.events, r.events.size()) << name;
    for (std::size_t i = 0; i < r.events.size(); ++i) {
      const Record& e = r.events[i];
      ASSERT_EQ(e.seq, i) << name;
      if (i > 0) {
        ASSERT_LE(r.events[i - 1].arrival_ms, e.arrival_ms) << name << " at " << i;
      }
      ASSERT_GE(e.arrival_ms, r.stats.start_ms) << name;
      ASSERT_LT(e.arrival_ms, r.stats.end_ms) << name;
      ASSERT_LE(e.event_ms, e.arrival_ms) << name;
      if (e.modality == 0) {
        ASSERT_NE(e.mask, 0u) << name << ": empty vitals reading";
      }
    }
  }
}

// Median interval between a patient's consecutive vitals readings, over all patients.
double median_vitals_interval(const Cohort& r) {
  std::map<PatientIndex, int64_t> last;
  std::vector<int64_t> gaps;
  for (const auto& e : r.events) {
    if (e.modality != 0) continue;
    auto it = last.find(e.patient);
    if (it != last.end()) gaps.push_back(e.event_ms - it->second);
    last[e.patient] = e.event_ms;
  }
  if (gaps.empty()) return 0;
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  return static_cast<double>(gaps[gaps.size() / 2]);
}

TEST(SynthGenerate, CadencePerProfile) {
  EXPECT_NEAR(median_vitals_interval(run("icu", 4, 0.25, 3)), 1'000, 1);
  EXPECT_NEAR(median_vitals_interval(run("ward", 60, 1, 3)), 60'000, 2'500);
  const double home = median_vitals_interval(run("home", 60, 2, 3));
  EXPECT_NEAR(home, 5 * 60'000, 30'000);
}

TEST(SynthGenerate, ChannelPresenceFollowsProfile) {
  const Cohort r = run("ward", 100, 1, 5);
  std::array<uint64_t, 6> seen{};
  uint64_t readings = 0;
  for (const auto& e : r.events) {
    if (e.modality != 0) continue;
    ++readings;
    for (std::size_t c = 0; c < 6; ++c) seen[c] += (e.mask >> c) & 1u;
  }
  ASSERT_GT(readings, 10'000u);
  // Schema order hr, spo2, rr, temp, sbp, activity; profile probabilities .99 .96 .95 .5 .05 1.
  const std::array<double, 6> expected{0.99, 0.96, 0.95, 0.5, 0.05, 1.0};
  for (std::size_t c = 0; c < 6; ++c) {
    EXPECT_NEAR(static_cast<double>(seen[c]) / readings, expected[c], 0.02) << "channel " << c;
  }
}

TEST(SynthGenerate, VitalsWithinPhysiologicalRanges) {
  const Cohort r = run("ward", 100, 1, 9);
  const std::array<std::pair<float, float>, 6> range{
      {{25, 220}, {60, 100}, {5, 50}, {33, 42.5f}, {55, 250}, {0, 100}}};
  for (const auto& e : r.events) {
    if (e.modality != 0) continue;
    for (std::size_t c = 0; c < 6; ++c) {
      if (!((e.mask >> c) & 1u)) continue;
      ASSERT_GE(e.values[c], range[c].first) << c;
      ASSERT_LE(e.values[c], range[c].second) << c;
    }
  }
}

TEST(SynthGenerate, NotesDelayAndLength) {
  const Cohort r = run("ward", 200, 2, 11);
  uint64_t notes = 0;
  std::vector<int64_t> delays;
  for (const auto& e : r.events) {
    if (e.modality != 1) continue;
    ++notes;
    const int64_t delay = e.arrival_ms - e.event_ms;
    ASSERT_GE(delay, 30 * kMinute);
    ASSERT_LE(delay, 6 * kHour);
    delays.push_back(delay);
    const uint32_t n = words(e.text);
    ASSERT_GE(n, 10u) << e.text;
    ASSERT_LE(n, 40u) << e.text;
  }
  // Ward notes about every 4 hours for every patient: hundreds over two days.
  EXPECT_GT(notes, 1000u);
  EXPECT_EQ(notes, r.stats.notes);
  std::nth_element(delays.begin(), delays.begin() + delays.size() / 2, delays.end());
  EXPECT_NEAR(static_cast<double>(delays[delays.size() / 2]), 90.0 * kMinute, 20.0 * kMinute);
}

TEST(SynthGenerate, ImagingCountsDelaysAndDimension) {
  for (const char* name : {"ward", "icu"}) {
    const Cohort r =
        run(name, name == std::string("icu") ? 30 : 300, name == std::string("icu") ? 0.3 : 1, 13);
    std::map<PatientIndex, int> studies;
    for (const auto& e : r.events) {
      if (e.modality != 2) continue;
      ++studies[e.patient];
      ASSERT_EQ(e.embedding.size(), 512u);
      const int64_t delay = e.arrival_ms - e.event_ms;
      ASSERT_GE(delay, r.profile.imaging.read_delay.min_ms) << name;
      ASSERT_LE(delay, r.profile.imaging.read_delay.max_ms) << name;
      for (float v : e.embedding) ASSERT_TRUE(std::isfinite(v));
    }
    for (const auto& [patient, count] : studies) {
      EXPECT_GE(count, 1);
      EXPECT_LE(count, 3) << name;
    }
    if (name == std::string("icu")) {
      // Every ICU stay has an admission study: nearly every patient has imaging.
      EXPECT_GE(studies.size(), 27u);
    }
  }
}

TEST(SynthGenerate, HomeMostlyLacksNotesAndImaging) {
  const Cohort home = run("home", 400, 2, 17);
  std::map<PatientIndex, bool> with_notes, with_imaging, any;
  for (const auto& e : home.events) {
    any[e.patient] = true;
    if (e.modality == 1) with_notes[e.patient] = true;
    if (e.modality == 2) with_imaging[e.patient] = true;
  }
  ASSERT_GT(any.size(), 350u);
  EXPECT_LT(static_cast<double>(with_notes.size()) / any.size(), 0.35);
  EXPECT_LT(static_cast<double>(with_imaging.size()) / any.size(), 0.1);
}

TEST(SynthGenerate, DeteriorationFraction) {
  const Cohort r = run("ward", 3000, 0.25, 19);
  std::map<PatientIndex, int> outcomes;
  for (const auto& e : r.events) {
    if (e.modality == kOutcomeModality) {
      ++outcomes[e.patient];
      EXPECT_EQ(e.label, kOutcomeLabel);
      EXPECT_EQ(e.event_ms, e.arrival_ms);
    }
  }
  for (const auto& [p, n] : outcomes) EXPECT_EQ(n, 1);
  // Binomial(3000, 0.08): sd 0.005.
  EXPECT_NEAR(static_cast<double>(outcomes.size()) / 3000, 0.08, 0.02);
  EXPECT_EQ(r.stats.outcomes, outcomes.size());
}

TEST(SynthGenerate, OutcomeFollowsDeteriorationSignal) {
  const Cohort r = run("ward", 1200, 1, 23);
  std::map<PatientIndex, int64_t> outcome;
  for (const auto& e : r.events) {
    if (e.modality == kOutcomeModality) outcome[e.patient] = e.event_ms;
  }
  ASSERT_GT(outcome.size(), 60u);
  // Respiratory rate and heart rate in the last hour before the outcome, against every reading
  // of patients without an outcome. And no vitals after the outcome.
  double rr_late = 0, rr_other = 0, hr_late = 0, hr_other = 0;
  uint64_t n_late = 0, n_other = 0, nh_late = 0, nh_other = 0;
  for (const auto& e : r.events) {
    if (e.modality != 0) continue;
    auto it = outcome.find(e.patient);
    if (it != outcome.end()) {
      ASSERT_LT(e.event_ms, it->second) << "vitals after the outcome";
      if (it->second - e.event_ms > kHour) continue;
      if (e.mask & (1u << 2)) rr_late += e.values[2], ++n_late;
      if (e.mask & 1u) hr_late += e.values[0], ++nh_late;
    } else {
      if (e.mask & (1u << 2)) rr_other += e.values[2], ++n_other;
      if (e.mask & 1u) hr_other += e.values[0], ++nh_other;
    }
  }
  ASSERT_GT(n_late, 1000u);
  EXPECT_GT(rr_late / n_late, rr_other / n_other + 2.0);
  EXPECT_GT(hr_late / nh_late, hr_other / nh_other + 5.0);

  // Concern vocabulary is more frequent in notes written in the 6 h before an outcome.
  auto concern = [](const std::string& t) {
    for (const char* w : {"confusion", "drowsy", "clammy", "unwell", "urine output", "mottled",
                          "restless", "poor oral intake"}) {
      if (t.find(w) != std::string::npos) return true;
    }
    return false;
  };
  uint64_t c_late = 0, n_notes_late = 0, c_other = 0, n_notes_other = 0;
  for (const auto& e : r.events) {
    if (e.modality != 1) continue;
    auto it = outcome.find(e.patient);
    if (it != outcome.end() && it->second - e.event_ms < 6 * kHour && e.event_ms < it->second) {
      c_late += concern(e.text), ++n_notes_late;
    } else if (it == outcome.end()) {
      c_other += concern(e.text), ++n_notes_other;
    }
  }
  ASSERT_GT(n_notes_late, 50u);
  EXPECT_GT(static_cast<double>(c_late) / n_notes_late,
            3.0 * static_cast<double>(c_other) / n_notes_other);
}

TEST(SynthGenerate, RejectsBadOptions) {
  const Profile p = load("ward");
  PatientRegistry registry;
  auto none = generate(p, GenerateOptions{0, 1, 1}, registry, [](const Event&) {});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("patients"), std::string::npos);
  auto days = generate(p, GenerateOptions{10, 0, 1}, registry, [](const Event&) {});
  ASSERT_FALSE(days);
  EXPECT_NE(days.error().message.find("days"), std::string::npos);
  // One line that the command prefixes with "tfe synth: " (no second "synth: ").
  EXPECT_EQ(days.error().message, "days must be in (0, 3650]");
  EXPECT_EQ(registry.size(), 0u);
}

TEST(SynthGenerate, PatientIdsInterned) {
  const Profile p = load("ward");
  PatientRegistry registry;
  auto stats = generate(p, GenerateOptions{12, 0.1, 1}, registry, [](const Event&) {});
  ASSERT_TRUE(stats);
  ASSERT_EQ(registry.size(), 12u);
  EXPECT_EQ(registry.id(0), "ward-000001");
  EXPECT_EQ(registry.id(11), "ward-000012");
}

// Every id of a cohort has one width, so sorting the ids as text sorts the patients by number, up
// to the largest cohort the generator allows; cohorts below ten million keep their ids.
TEST(SynthGenerate, PatientIdsSortAsTheirNumbersForEveryCohortSize) {
  EXPECT_EQ(patient_id("ward", 1, 100), "ward-000001");
  EXPECT_EQ(patient_id("ward", 999'999, 999'999), "ward-999999");
  EXPECT_EQ(patient_id("ward", 1, 1'000'000), "ward-0000001");
  EXPECT_EQ(patient_id("ward", 1'000'000, 1'000'000), "ward-1000000");
  EXPECT_EQ(patient_id("ward", 9'999'999, 9'999'999), "ward-9999999");
  for (const uint32_t patients :
       {1u, 12u, 999'999u, 1'000'000u, 9'999'999u, 10'000'000u, 16'777'215u}) {
    const std::string first = patient_id("ward", 1, patients);
    const std::string last = patient_id("ward", patients, patients);
    EXPECT_EQ(first.size(), last.size()) << first << " " << last;
    for (const uint32_t n : {1u, 9u, 99'999u, 999'999u, 9'999'999u}) {
      if (n + 1 > patients) continue;
      EXPECT_LT(patient_id("ward", n, patients), patient_id("ward", n + 1, patients))
          << "cohort of " << patients;
    }
    if (patients > 1) {
      EXPECT_LT(patient_id("ward", patients - 1, patients), last);
    }
  }
  EXPECT_EQ(patient_id("ward", 10'000'000, 10'000'000), "ward-10000000");
  EXPECT_EQ(patient_id("ward", 9'999'999, 10'000'000), "ward-09999999");
}

// ---- profile loader errors -------------------------------------------------------------------

std::string minimal_profile() {
  return R"(
[profile]
name = "t"
[profile.stay]
median = "2d"
[profile.vitals]
cadence = "1m"
[profile.vitals.channel_probability]
hr = 1.0
[profile.deterioration]
fraction = 0.1

[[modality]]
name = "wearables"
kind = "vitals"
channels = ["hr", "spo2", "rr", "temp", "sbp", "activity"]
horizon = "15m"
)";
}

Result<Profile> parse(const std::string& text) {
  return profile_from_toml(toml::parse(text), "test.toml");
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

void expect_error(const std::string& text, const std::string& fragment) {
  auto p = parse(text);
  ASSERT_FALSE(p) << "expected an error containing: " << fragment;
  EXPECT_NE(p.error().message.find(fragment), std::string::npos) << p.error().message;
  EXPECT_NE(p.error().message.find("test.toml"), std::string::npos) << p.error().message;
}

TEST(SynthProfileLoader, MinimalProfileLoadsWithDefaults) {
  auto p = parse(minimal_profile());
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p.value().patient_prefix, "t");
  EXPECT_EQ(p.value().stay.median_ms, 48 * kHour);
  EXPECT_EQ(p.value().notes.delay.min_ms, 30 * kMinute);
  EXPECT_EQ(p.value().notes.delay.max_ms, 6 * kHour);
}

TEST(SynthProfileLoader, Errors) {
  const std::string base = minimal_profile();
  expect_error("[engine]\nshards = 1\n", "missing [profile]");
  expect_error(replace(base, "name = \"t\"", "name = \"t\"\ncolour = 1"), "colour: unknown key");
  expect_error(replace(base, "median = \"2d\"", "median = \"2 days\""), "[profile.stay] median");
  expect_error(replace(base, "median = \"2d\"", "sigma = 0.5"), "median: missing");
  expect_error(replace(base, "cadence = \"1m\"", "cadence = \"1m\"\njitter = \"30s\""),
               "jitter: must be less than half the cadence");
  expect_error(replace(base, "hr = 1.0", "heart = 1.0"), "heart: unknown channel");
  expect_error(replace(base, "hr = 1.0", "hr = 1.5"), "outside [0, 1]");
  expect_error(replace(base, "fraction = 0.1",
                       "fraction = 0.1\n[profile.imaging]\n"
                       "count_probability = [0.5, 0.5, 0.5, 0]"),
               "sum to");
  expect_error(replace(base, "fraction = 0.1",
                       "fraction = 0.1\n[profile.notes]\n"
                       "delay = [\"6h\", \"30m\"]"),
               "min exceeds max");
  expect_error(replace(base,
                       "kind = \"vitals\"\nchannels = [\"hr\", \"spo2\", \"rr\", \"temp\", "
                       "\"sbp\", \"activity\"]",
                       "kind = \"embedding\"\ndim = 4"),
               "no vitals modality");
  const std::string imaging =
      "\n[[modality]]\nname = \"imaging\"\nkind = \"embedding\"\n"
      "horizon = \"30d\"\ndim = ";
  expect_error(base + imaging + "1\n",
               "'imaging' has dim 1; the generator's imaging needs at least 2");
  EXPECT_TRUE(parse(base + imaging + "2\n"));
  expect_error(replace(base, "cadence = \"1m\"", "cadence = 9223372036854775807"),
               "[profile.vitals] cadence: must be at most 3650d");
  expect_error(replace(base, "name = \"t\"", "name = \"t\"\nstart = -1"),
               "start: must be between 1970 and 9999");
  auto missing = load_profile("no-such-profile", kProfiles);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no-such-profile.toml"), std::string::npos);
}

// ---- accepted values that the generator must still serve sensibly ------------------------------

// Generates from a parsed profile; every event is checked against the history window and the
// wire format, and the vitals are summarised.
struct Summary {
  uint64_t events = 0, vitals = 0, outcomes = 0;
  double activity = 0, hr = 0;
  uint64_t n_activity = 0, n_hr = 0;
};

Summary summarise(const Profile& profile, uint32_t patients, double days, uint64_t seed) {
  Summary s;
  PatientRegistry registry;
  auto stats =
      generate(profile, GenerateOptions{patients, days, seed}, registry, [&](const Event& e) {
        ++s.events;
        if (e.modality == kOutcomeModality) ++s.outcomes;
        if (e.modality != 0) return;
        ++s.vitals;
        if (e.vitals.present_mask & 1u) s.hr += e.vitals.values[0], ++s.n_hr;
        if (e.vitals.present_mask & (1u << 5)) {
          s.activity += e.vitals.values[5], ++s.n_activity;
        }
      });
  EXPECT_TRUE(stats) << (stats ? "" : stats.error().message);
  return s;
}

TEST(SynthGenerate, TinyHistoryKeepsEveryEventInsideTheWindow) {
  // A window of one millisecond: a deteriorating patient's outcome must not be emitted at or
  // after the end of the history, which the window does not cover.
  const Profile p = load("ward");
  for (double days : {1e-8, 2e-8}) {
    PatientRegistry registry;
    uint64_t events = 0, outside = 0;
    auto stats = generate(p, GenerateOptions{400, days, 3}, registry, [&](const Event& e) {
      ++events;
      const int64_t end = p.start_ms + static_cast<int64_t>(std::llround(days * 864e5));
      outside += e.arrival_time_ms < p.start_ms || e.arrival_time_ms >= end;
    });
    ASSERT_TRUE(stats) << stats.error().message;
    EXPECT_EQ(outside, 0u) << "days " << days;
    EXPECT_EQ(stats.value().events, events);
  }
  // A window that rounds to no millisecond at all is refused, not an empty cohort.
  PatientRegistry registry;
  auto none = generate(p, GenerateOptions{10, 1e-9, 3}, registry, [](const Event&) {});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, "days 1e-09 is shorter than a millisecond");
}

TEST(SynthGenerate, RareEpisodeRatesMeanRareEpisodes) {
  // A rate of episodes per day as small as the loader accepts (0, 100] means (almost) no
  // episodes, not an overflowing time and an episode that never ends.
  const std::string text = replace(
      replace(minimal_profile(), "hr = 1.0", "hr = 1.0\nactivity = 1.0"), "cadence = \"1m\"",
      "cadence = \"1m\"\ndevice_off = [\"6h\", \"6h\"]\n"
      "device_off_per_day = RATE\nexertion_per_day = RATE\ntransient_per_day = RATE");
  auto none = parse(replace(text, "RATE\nexertion_per_day = RATE\ntransient_per_day = RATE",
                            "0\nexertion_per_day = 0\ntransient_per_day = 0"));
  ASSERT_TRUE(none) << none.error().message;
  const Summary base = summarise(none.value(), 40, 1, 5);
  ASSERT_GT(base.vitals, 10'000u);
  for (const char* rate : {"1e-300", "1e-12"}) {
    std::string t = text;
    for (int i = 0; i < 3; ++i) t = replace(t, "RATE", rate);
    auto rare = parse(t);
    ASSERT_TRUE(rare) << rare.error().message;
    const Summary s = summarise(rare.value(), 40, 1, 5);
    // The same stays; only the phase of the first reading differs (at most one reading each).
    EXPECT_NEAR(static_cast<double>(s.vitals), static_cast<double>(base.vitals), 40.0) << rate;
    EXPECT_NEAR(s.activity / s.n_activity, base.activity / base.n_activity, 3.0) << rate;
    EXPECT_NEAR(s.hr / s.n_hr, base.hr / base.n_hr, 3.0) << rate;
  }
}

TEST(SynthProfileLoader, RejectsVitalsTheGeneratorCannotServe) {
  const std::string base = minimal_profile();
  // No channel of the vitals modality is one the generator models: it would emit no vitals.
  expect_error(
      replace(base, "channels = [\"hr\", \"spo2\", \"rr\", \"temp\", \"sbp\", \"activity\"]",
              "channels = [\"heart_rate\", \"sat\"]"),
      "'wearables' has none of the channels the generator models");
  // Channels the schema has, but none with a positive probability: no reading would be emitted.
  expect_error(replace(base, "hr = 1.0", "hr = 0.0\no2 = 1.0"),
               "[profile.vitals] channel_probability: no channel of 'wearables'");
}

TEST(SynthProfileLoader, NameAndPrefixStayOneLine) {
  const std::string base = minimal_profile();
  // A control character in the name or the prefix would split every message quoting it (and
  // every patient id) over lines.
  expect_error(replace(base, "name = \"t\"", "name = \"t\\nx\""), "[profile] name:");
  expect_error(replace(base, "name = \"t\"", "name = \"t\"\npatient_prefix = \"a\\tb\""),
               "[profile] patient_prefix:");
  // A long name without a prefix: the error says which key to set.
  expect_error(replace(base, "name = \"t\"", "name = \"" + std::string(60, 'n') + "\""),
               "[profile] name: longer than 48 bytes; set patient_prefix");
  // Long names keep working when the prefix is given.
  EXPECT_TRUE(parse(replace(base, "name = \"t\"",
                            "name = \"" + std::string(60, 'n') + "\"\npatient_prefix = \"p\"")));
}

// ---- the random generator ------------------------------------------------------------------

TEST(SynthRandom, NormalMomentsAndTails) {
  detail::Rng rng(123);
  double sum = 0, sq = 0;
  int beyond3 = 0;
  const int n = 400'000;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal();
    sum += z;
    sq += z * z;
    beyond3 += std::abs(z) > 3;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0, 0.01);
  // P(|Z| > 3) = 0.0027.
  EXPECT_NEAR(static_cast<double>(beyond3) / n, 0.0027, 0.0006);
  EXPECT_NEAR(detail::inverse_normal_cdf(0.975), 1.959964, 1e-6);
  EXPECT_NEAR(detail::inverse_normal_cdf(1e-6), -4.753424, 1e-5);
}

TEST(SynthRandom, FixedSequence) {
  // xoshiro256** seeded by splitmix64 is fully specified: the same numbers on every platform.
  detail::Rng a(2024), b(2024);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a.next(), b.next());
  uint64_t x = 0;
  EXPECT_EQ(detail::splitmix64(x), 0xe220a8397b1dcdafULL);
}

}  // namespace
}  // namespace tfe::synth
