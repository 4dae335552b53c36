// The progress lines of tfe's commands (tools/cli/progress_line.h) on a clock the test moves by
// hand: the cadence, the format, --quiet, and a new stage's clock.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tools/cli/progress_line.h"

namespace tfe::cli {
namespace {

using namespace std::chrono_literals;

// A ProgressLine whose clock stands still until the test advances it, and whose lines are kept.
struct Fixture {
  ProgressLine::Clock::time_point now{};  // an arbitrary origin
  std::vector<std::string> lines;
  ProgressLine make(const char* command, bool quiet = false) {
    return ProgressLine(
        command, quiet, [this] { return now; },
        [this](const std::string& line) { lines.push_back(line); });
  }
};

TEST(ProgressLine, AtMostOneLineEveryTenSecondsCountedFromTheLastLine) {
  Fixture f;
  ProgressLine progress = f.make("replay");
  const auto at = [&](std::chrono::milliseconds t, uint64_t done) {
    f.now = ProgressLine::Clock::time_point{} + t;
    progress.update(ProgressCount(done));
  };
  at(0ms, 1);
  at(9'999ms, 2);
  EXPECT_TRUE(f.lines.empty());
  at(10'000ms, 3);
  ASSERT_EQ(f.lines.size(), 1u);
  at(15'000ms, 4);
  at(19'999ms, 5);
  EXPECT_EQ(f.lines.size(), 1u);
  at(20'000ms, 6);
  // A late call does not shift the cadence back: after a line at 31 s the next is at 41 s or
  // later, not at 40 s.
  at(25'000ms, 7);
  at(31'000ms, 8);
  at(40'000ms, 9);
  at(41'000ms, 10);
  ASSERT_EQ(f.lines.size(), 4u);
  EXPECT_EQ(f.lines[0], "replay: 3 events (10 s, 0 events/s)");
  EXPECT_EQ(f.lines[1], "replay: 6 events (20 s, 0 events/s)");
  EXPECT_EQ(f.lines[2], "replay: 8 events (31 s, 0 events/s)");
  EXPECT_EQ(f.lines[3], "replay: 10 events (41 s, 0 events/s)");
  EXPECT_EQ(kProgressEvery, 10s);
}

// One format: count (of the total), unit, verb, share (of what), then time and rate.
TEST(ProgressLine, FormatsCountShareTimeAndRate) {
  Fixture f;
  ProgressLine synth = f.make("synth");
  ProgressLine publish = f.make("replay");
  ProgressLine train = f.make("train");
  f.now += 20s;
  synth.update(ProgressCount(2'400'000).share(0.454, "the history"));
  publish.update(ProgressCount(1'000'000).verb("published"));
  train.update(ProgressCount(600'000).of(2'000'000).verb("replayed"));
  ASSERT_EQ(f.lines.size(), 3u);
  EXPECT_EQ(f.lines[0], "synth: 2400000 events, 45% of the history (20 s, 120000 events/s)");
  EXPECT_EQ(f.lines[1], "replay: 1000000 events published (20 s, 50000 events/s)");
  EXPECT_EQ(f.lines[2], "train: 600000 of 2000000 events replayed, 30% (20 s, 30000 events/s)");
}

// A count already complete prints nothing: the line that follows (a stage, the summary) says so.
TEST(ProgressLine, ACompleteCountPrintsNothing) {
  Fixture f;
  ProgressLine progress = f.make("train");
  f.now += 30s;
  progress.update(ProgressCount(50).of(50));
  EXPECT_TRUE(f.lines.empty());
  progress.update(ProgressCount(49).of(50));
  EXPECT_EQ(f.lines.size(), 1u);
}

TEST(ProgressLine, StepsPrintAtOnceAndLeaveTheCadenceAlone) {
  Fixture f;
  ProgressLine progress = f.make("train");
  progress.step("epoch 1/2  loss 0.4105");
  f.now += 1s;
  progress.step("epoch 2/2  loss 0.2699");
  ASSERT_EQ(f.lines.size(), 2u);
  EXPECT_EQ(f.lines[0], "train: epoch 1/2  loss 0.4105");
  EXPECT_EQ(f.lines[1], "train: epoch 2/2  loss 0.2699");
  f.now += 9s;  // 10 s since the start, steps in between
  progress.update(ProgressCount(7));
  ASSERT_EQ(f.lines.size(), 3u);
  EXPECT_EQ(f.lines[2], "train: 7 events (10 s, 1 events/s)");
}

TEST(ProgressLine, QuietPrintsNothing) {
  Fixture f;
  ProgressLine progress = f.make("synth", /*quiet=*/true);
  EXPECT_TRUE(progress.quiet());
  progress.step("a stage");
  for (int i = 1; i <= 10; ++i) {
    f.now += 10s;
    progress.update(ProgressCount(static_cast<uint64_t>(i)));
  }
  EXPECT_TRUE(f.lines.empty());
}

// restart() begins a stage: its rate and its first line count from there, not from the start.
TEST(ProgressLine, RestartBeginsTheRateAndTheCadenceAgain) {
  Fixture f;
  ProgressLine progress = f.make("train");
  f.now += 60s;  // loading the history
  progress.restart();
  f.now += 9s;
  progress.update(ProgressCount(900).of(10'000).verb("replayed"));
  EXPECT_TRUE(f.lines.empty());
  f.now += 1s;
  progress.update(ProgressCount(1'000).of(10'000).verb("replayed"));
  ASSERT_EQ(f.lines.size(), 1u);
  EXPECT_EQ(f.lines[0], "train: 1000 of 10000 events replayed, 10% (10 s, 100 events/s)");
}

}  // namespace
}  // namespace tfe::cli
