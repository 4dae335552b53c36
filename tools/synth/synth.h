#pragma once
// Synthetic cohorts: deployment profiles (configs/profiles/*.toml) and a deterministic generator
// of patient histories in arrival-time order. The generative model is documented in
// docs/synthetic.md.
//
// Inputs: a profile (its [profile] section and the engine config beside it), patients, days,
//   seed.
// Output: tfe::Event values (modalities of the profile's schema, plus outcome events with
//   modality kOutcomeModality and label "deterioration"), arrival_time non-decreasing, ties in
//   patient order then in each patient's own order; source_seq numbers events 0, 1, 2, ...
// Deterministic: the same profile, patients, days and seed give the same events on every machine
//   (own random generator and distributions, no std:: distributions).

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "engine/config.h"
#include "engine/event.h"
#include "engine/patient_registry.h"
#include "engine/result.h"

namespace tfe::synth {

// The physiological channels the generator models, by the names it looks for in the schema.
// Channels of the schema with other names are never emitted; absent ones are not generated.
enum class Channel : uint8_t { hr, spo2, rr, temp, sbp, activity, o2, avpu };
inline constexpr std::size_t kChannelCount = 8;
inline constexpr std::array<const char*, kChannelCount> kChannelNames{
    "hr", "spo2", "rr", "temp", "sbp", "activity", "o2", "avpu"};

struct DurationRange {
  int64_t min_ms = 0;
  int64_t max_ms = 0;
};

// Every tunable of the generative model. Durations in ms; rates per day; probabilities in [0,1].
struct Profile {
  std::string name;
  std::string description;
  std::string patient_prefix;  // patient ids are "<prefix>-000001" ... (patient_id below)
  int64_t start_ms = 0;        // history start (epoch ms)

  struct Stay {
    int64_t median_ms = 0;  // log-normal stay length
    double sigma = 0.5;     // log-normal shape
    DurationRange clamp;    // bounds of the stay length
  } stay;

  struct Vitals {
    int64_t cadence_ms = 60'000;     // one reading per cadence
    int64_t jitter_ms = 0;           // uniform +- jitter on each interval (< cadence / 2)
    DurationRange latency;           // per-patient device latency (arrival - event)
    int64_t upload_interval_ms = 0;  // 0: streaming; else readings arrive in batches
    double device_off_per_day = 0;   // device-off gaps (Poisson)
    DurationRange device_off;        // gap length
    double acuity = 0;               // 0 ward; 1 sicker baselines (icu); < 0 healthier (home)
    double chronic_fraction = 0;     // patients with a chronic abnormal baseline
    double exertion_per_day = 0;     // activity-driven excursions (hr, rr up with activity)
    double transient_per_day = 0;    // non-exertional excursions (pain, anxiety)
    std::array<double, kChannelCount> channel_probability{};  // per reading, by Channel
  } vitals;

  struct Notes {
    double patient_fraction = 1;          // patients who have notes at all
    int64_t interval_ms = 4 * 3'600'000;  // mean interval between notes at baseline
    double concern_rate_boost = 0;        // note rate multiplier grows by this at full severity
    DurationRange delay;                  // documentation delay bounds (arrival - event)
    int64_t delay_median_ms = 0;          // log-normal median, clamped to the bounds
    uint32_t min_words = 10;
    uint32_t max_words = 40;
  } notes;

  struct Imaging {
    std::array<double, 4> count_probability{1, 0, 0, 0};  // P(0, 1, 2, 3 studies per stay)
    bool at_admission = false;    // the first study at the start of the stay
    double on_deterioration = 0;  // P(a study during a deterioration episode)
    DurationRange read_delay;     // report delay bounds (arrival - event)
    int64_t read_delay_median_ms = 0;
  } imaging;

  struct Deterioration {
    double fraction = 0;            // patients whose stay ends with an outcome
    DurationRange prodrome;         // latent process length before the outcome
    double near_miss_fraction = 0;  // others with an episode that resolves (no outcome)
  } deterioration;

  struct Signal {
    double vitals = 1;         // scale of the deterioration shift of vitals
    double text = 1;           // P(concern phrase per slot) at full severity
    double imaging = 1;        // deterioration component of imaging, in baseline-norm units
    double interaction = 0.5;  // share of concern phrases that are respiratory (also distractors)
    int64_t timing_fade_ms = 2 * 3'600'000;  // resolution time constant of near-miss episodes
    double distractor_notes = 0;             // P(respiratory phrase in a note with no episode)
  } signal;

  EngineConfig engine;  // [engine] and [[modality]] of the same file
};

// Parses a profile from a TOML document ([profile] plus the engine config). source names the
// document in error messages.
Result<Profile> profile_from_toml(const toml::table& doc, const std::string& source);

// Resolves a profile: a path (contains '/' or ends in ".toml") or a NAME looked up as
// <profiles_dir>/NAME.toml. Errors name the file and the offending key.
Result<Profile> load_profile(const std::string& name_or_path,
                             const std::string& profiles_dir = "configs/profiles");

// The longest history, in days; also the longest duration a profile may give.
inline constexpr int kMaxDays = 3650;

// The id of patient `number` (1-based) of a cohort of `patients`: "<prefix>-" and the number
// zero-padded to the width of `patients`, at least 6 digits ("ward-000001", "ward-1000000" for the
// millionth of a million, "ward-00000001" of ten million). Every id of a cohort has one width, so
// the ids sort as the numbers do.
std::string patient_id(std::string_view prefix, uint32_t number, uint32_t patients);

struct GenerateOptions {
  uint32_t patients = 100;
  double days = 1;  // history length from profile.start_ms
  uint64_t seed = 1;
};

struct GenerateStats {
  uint64_t events = 0;
  uint64_t vitals = 0;
  uint64_t notes = 0;
  uint64_t imaging = 0;
  uint64_t outcomes = 0;
  uint32_t patients = 0;
  int64_t start_ms = 0;  // history window [start_ms, end_ms) in arrival time
  int64_t end_ms = 0;
};

// Pull-style generator. create() validates the options and interns the patient ids (in patient
// order) into registry, which must outlive the generator. next() only computes: O(log patients)
// per event, no heap allocation.
class Generator {
  struct Key {
    explicit Key() = default;
  };

 public:
  static Result<std::unique_ptr<Generator>> create(const Profile& profile,
                                                   const GenerateOptions& options,
                                                   PatientRegistry& registry);
  Generator(Key, const Profile& profile, const GenerateOptions& options, PatientRegistry& registry);
  ~Generator();
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // The next event in arrival order, or nullptr at the end. The pointee is reused: valid until
  // the next call.
  const Event* next();
  // Counts so far (complete once next() has returned nullptr).
  const GenerateStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

using EventCallback = std::function<void(const Event&)>;

// Runs a Generator to the end, calling emit for each event. Fails on invalid options (no patients,
// days <= 0, under a millisecond or beyond kMaxDays, a profile whose schema has no vitals
// modality).
Result<GenerateStats> generate(const Profile& profile, const GenerateOptions& options,
                               PatientRegistry& registry, const EventCallback& emit);

// Checks options against a profile (the same checks generate() makes).
Result<void> validate_options(const Profile& profile, const GenerateOptions& options);

// The outcome label the generator writes.
inline constexpr const char* kOutcomeLabel = "deterioration";

}  // namespace tfe::synth
