#pragma once
// Engine configuration: the modality schema and the clock, window and tick settings. Read from the
// TOML config ([engine] and [[modality]]), validated once at load.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "engine/modality.h"
#include "engine/result.h"

namespace tfe {

struct EngineConfig {
  ModalitySchema schema;
  std::vector<int64_t> windows_ms{300'000, 900'000};  // vitals window statistics
  int64_t tick_cadence_ms = 60'000;                   // scoring ticks on this grid of engine time
  // Patients spread over this many evenly spaced offsets within the cadence (by their stable
  // hash), so that a live service emits a steady stream instead of every score at once. 1: every
  // patient ticks at the same grid times. Divides tick_cadence_ms.
  uint32_t tick_phases = 1;
  bool tick_on_event = true;            // also tick when a non-vitals event arrives
  int64_t allowed_lateness_ms = 0;      // a tick at t fires once the clock passes t + this
  uint32_t shards = 1;                  // state shards (each single-threaded)
  int64_t max_event_skew_ms = 300'000;  // event_time may exceed arrival_time by at most this
  uint32_t max_record_bytes = 1 << 20;  // larger records are dead-lettered
  uint32_t max_window_samples = 4096;   // per vitals window ring; beyond it the oldest drop early
};

// The sections a tfe config may hold; each is read by its component ([model], [training] by the
// operators and training, [kafka] by the service, [profile] by the synthetic generator,
// [profile_thresholds] by the profiler).
inline constexpr std::array<std::string_view, 7> kConfigSections = {
    "engine", "modality", "model", "training", "kafka", "profile", "profile_thresholds"};

// [engine] and [[modality]] from a parsed TOML document, after checking that its top level holds
// only the sections above.
Result<EngineConfig> engine_config_from_toml(const toml::table& doc);
// Parses a TOML file (one error line naming the file and position on failure).
Result<toml::table> read_toml_file(const std::string& path);

}  // namespace tfe
