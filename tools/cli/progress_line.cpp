#include "tools/cli/progress_line.h"

#include <cmath>
#include <cstdio>
#include <utility>

#include <fmt/format.h>

namespace tfe::cli {
namespace {

void to_stderr(const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }

}  // namespace

ProgressLine::ProgressLine(std::string command, bool quiet)
    : ProgressLine(std::move(command), quiet, &Clock::now, &to_stderr) {}

ProgressLine::ProgressLine(std::string command, bool quiet, Now now, Sink sink)
    : command_(std::move(command)),
      quiet_(quiet),
      now_(std::move(now)),
      sink_(std::move(sink)),
      start_(now_()),
      last_line_(start_) {}

void ProgressLine::restart() { start_ = last_line_ = now_(); }

void ProgressLine::update(const ProgressCount& count) {
  if (quiet_ || (count.total_ > 0 && count.done_ >= count.total_)) return;
  const Clock::time_point now = now_();
  if (now - last_line_ < kProgressEvery) return;
  last_line_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  std::string line = fmt::format("{}: {}", command_, count.done_);
  if (count.total_ > 0) line += fmt::format(" of {}", count.total_);
  line += " events";
  if (!count.verb_.empty()) line += fmt::format(" {}", count.verb_);
  const double share = count.total_ > 0
                           ? static_cast<double>(count.done_) / static_cast<double>(count.total_)
                           : count.share_;
  if (!std::isnan(share)) {
    line += fmt::format(", {:.0f}%", 100.0 * share);
    if (!count.share_of_.empty()) line += fmt::format(" of {}", count.share_of_);
  }
  // At least kProgressEvery has passed since the start, so the rate divides by no zero.
  line += fmt::format(" ({:.0f} s, {:.0f} events/s)", seconds,
                      static_cast<double>(count.done_) / seconds);
  sink_(line);
}

void ProgressLine::step(std::string_view text) {
  if (!quiet_) sink_(fmt::format("{}: {}", command_, text));
}

}  // namespace tfe::cli
