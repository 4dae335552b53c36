#pragma once
// Durations in configuration files: a string with a unit ("250ms", "60s", "5m", "48h", "30d") or
// an integer number of milliseconds. Every section of the TOML config uses the same rules.

#include <cstdint>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "engine/result.h"

namespace tfe {

// "90s" -> 90000. A non-negative integer followed by one of ms, s, m, h, d; no sign, no fraction,
// no spaces. Errc::config on anything else, or on overflow of int64 milliseconds.
Result<int64_t> parse_duration_ms(std::string_view text);

// A TOML value (string with a unit, or integer milliseconds) as a duration; `field` names the
// value in the error message ("engine.tick_cadence: ...").
Result<int64_t> duration_from_toml(const toml::node& node, std::string_view field);

// The largest unit that represents `ms` exactly: 300000 -> "5m", 1500 -> "1500ms".
std::string format_duration_ms(int64_t ms);

}  // namespace tfe
