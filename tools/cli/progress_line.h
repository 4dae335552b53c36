#pragma once
// Progress lines of the commands that run for minutes (synth, replay, train, profile), one
// format and one cadence for all: on stderr (stdout keeps the summary and what scripts read), a
// periodic line at most every kProgressEvery, and nothing at all with --quiet.
//
//   synth: 1200000 events, 45% of the history (10 s, 120000 events/s)
//   replay: 2400000 events published (20 s, 120000 events/s)
//   train: 1200000 of 2000000 events replayed, 60% (10 s, 120000 events/s)
//   train: epoch 2/20  loss 0.2917  ...          (a step: printed as it happens)

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>

namespace tfe::cli {

inline constexpr std::chrono::seconds kProgressEvery{10};

// What a periodic line counts: ProgressCount(done).of(total).verb("replayed").
class ProgressCount {
 public:
  explicit ProgressCount(uint64_t done) : done_(done) {}
  ProgressCount& of(uint64_t total) {  // 0: not known
    total_ = total;
    return *this;
  }
  ProgressCount& verb(std::string_view verb) {  // after the unit: "published", "replayed"
    verb_ = verb;
    return *this;
  }
  // The share of the work done when it is not done / total (synth: of the history window), and
  // what it is a share of ("the history").
  ProgressCount& share(double share, std::string_view of) {
    share_ = share;
    share_of_ = of;
    return *this;
  }

 private:
  friend class ProgressLine;
  uint64_t done_;  // units so far, since the start (the rate is done per second)
  uint64_t total_ = 0;
  std::string_view verb_;
  double share_ = std::numeric_limits<double>::quiet_NaN();
  std::string_view share_of_;
};

// update() and restart() from one thread at a time (the replay driver's, the generator's); step()
// changes nothing, and each line goes out in one write, so callers that log from several threads
// need only keep their lines in order.
class ProgressLine {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;
  using Sink = std::function<void(const std::string& line)>;  // one line, without its newline

  // Lines start "COMMAND: "; with `quiet` there are none. The clock starts now.
  ProgressLine(std::string command, bool quiet);
  // The same with another clock and another destination than stderr (tests).
  ProgressLine(std::string command, bool quiet, Now now, Sink sink);

  // Starts the clock again, for the next stage of the work: the rate and the cadence count from
  // here.
  void restart();

  // A periodic line, when kProgressEvery has passed since the start or the last periodic line:
  // "COMMAND: DONE[ of TOTAL] events[ VERB][, P%[ of WHAT]] (T s, R events/s)". A count already
  // complete (done == total) prints nothing: the line that follows it says so. Reads the clock
  // once; cheap enough for every few thousand units of work.
  void update(const ProgressCount& count);

  // A line for a step of the work (a stage, an epoch), printed whenever it is not quiet.
  void step(std::string_view text);

  bool quiet() const { return quiet_; }

 private:
  std::string command_;
  bool quiet_;
  Now now_;
  Sink sink_;
  Clock::time_point start_;
  Clock::time_point last_line_;
};

}  // namespace tfe::cli
