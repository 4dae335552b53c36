#pragma once
// Synthetic cohorts of the shipped deployment profiles (configs/profiles/), in replay order, for
// the profiler's tests.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "connectors/history_replay.h"
#include "engine/config.h"
#include "engine/patient_registry.h"
#include "tools/profile/profile.h"
#include "tools/synth/synth.h"

namespace tfe::profile::test {

inline const std::string kProfiles = std::string(TFE_SOURCE_DIR) + "/configs/profiles";

struct Cohort {
  PatientRegistry registry;
  History history;
  EngineConfig config;
};

inline std::unique_ptr<Cohort> make_cohort(const std::string& name, uint32_t patients, double days,
                                           uint64_t seed) {
  auto profile = synth::load_profile(name, kProfiles);
  EXPECT_TRUE(profile) << (profile ? "" : profile.error().message);
  if (!profile) return nullptr;
  auto cohort = std::make_unique<Cohort>();
  cohort->config = profile.value().engine;
  auto stats = synth::generate(profile.value(), {.patients = patients, .days = days, .seed = seed},
                               cohort->registry,
                               [&](const Event& e) { cohort->history.events.push_back(e); });
  EXPECT_TRUE(stats);
  sort_for_replay(cohort->history.events);
  return cohort;
}

// Options that keep a profile of a small cohort quick: a smaller model sample and fewer
// bootstrap replicates.
inline ProfileOptions quick_options(uint32_t bootstrap = 50) {
  ProfileOptions o;
  o.bootstrap = bootstrap;
  o.sample_ticks = 3000;
  return o;
}

}  // namespace tfe::profile::test
