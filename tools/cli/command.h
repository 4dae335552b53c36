#pragma once
// Each subcommand of `tfe` lives in its own file and registers itself on the app here.

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <system_error>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "engine/duration.h"
#include "tools/cli/scorers.h"

namespace tfe::cli {

// --dead-letters FILE (`what` says what goes there) and --dead-letters-without-payload.
inline void add_dead_letter_options(CLI::App& cmd, DeadLetterFile& file, const std::string& what) {
  cmd.add_option("--dead-letters", file.path, what);
  cmd.add_flag("--dead-letters-without-payload", file.without_payload,
               "Leave the rejected bytes out of the dead-letter file (raw_b64): only position, "
               "reason and size, for files that must not hold patient data")
      ->needs("--dead-letters");
}

// A number from lo to hi. CLI11's Range, PositiveNumber and NonNegativeNumber compare with < and
// >, which NaN passes; this one does not let NaN or infinities through.
inline CLI::Validator NumberFrom(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !(v >= lo && v <= hi)) {
          return fmt::format("expected a number from {:g} to {:g}, got '{}'", lo, hi, text);
        }
        return {};
      },
      fmt::format("NUMBER in [{:g} - {:g}]", lo, hi));
}

// A duration ("30s", "2m", ...) from lo_text to hi_text (themselves durations).
inline CLI::Validator DurationFrom(const char* lo_text, const char* hi_text) {
  return CLI::Validator(
      [lo_text, hi_text](std::string& text) -> std::string {
        const auto v = parse_duration_ms(text);
        if (!v || v.value() < parse_duration_ms(lo_text).value() ||
            v.value() > parse_duration_ms(hi_text).value()) {
          return fmt::format("expected a duration from {} to {}, such as 30s (got '{}')", lo_text,
                             hi_text, text);
        }
        return {};
      },
      fmt::format("DURATION in [{} - {}]", lo_text, hi_text));
}

// A seed: an unsigned 64-bit integer, digits only. CLI11 reads "-1" into a uint64_t as 2^64 - 1
// and a number past 2^64 as its largest value; both would pass for another seed unnoticed.
inline CLI::Validator SeedNumber() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* end = text.data() + text.size();
        const auto [p, ec] = std::from_chars(text.data(), end, v);
        if (text.empty() || ec != std::errc() || p != end) {
          return fmt::format("expected a seed from 0 to {}, got '{}'", UINT64_MAX, text);
        }
        return {};
      },
      "SEED");
}

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the work failed (bad file, broker unreachable, ...)
inline constexpr int kExitUsage = 2;    // bad arguments

// Each register function adds one subcommand whose callback stores its exit code in *exit_code.
void register_convert(CLI::App& app, int* exit_code);
void register_synth(CLI::App& app, int* exit_code);
void register_replay(CLI::App& app, int* exit_code);
void register_model(CLI::App& app, int* exit_code);
void register_serve(CLI::App& app, int* exit_code);
void register_train(CLI::App& app, int* exit_code);
void register_profile(CLI::App& app, int* exit_code);
void register_import(CLI::App& app, int* exit_code);

}  // namespace tfe::cli
