#include "connectors/merge.h"

#include <gtest/gtest.h>

#include <deque>

#include "tests/connectors/test_schema.h"

namespace tfe {
namespace {

// A source replaying a fixed script of items (events by arrival time, dead letters, an error).
class ScriptSource final : public EventSource {
 public:
  struct Step {
    enum Kind { event, dead, error } kind;
    int64_t arrival = 0;
  };
  ScriptSource(std::string name, std::vector<Step> steps)
      : name_(std::move(name)), steps_(steps.begin(), steps.end()) {}

  Result<SourceItem> next(Event& event, DeadLetter& dead) override {
    if (steps_.empty()) return SourceItem::end;
    const Step s = steps_.front();
    steps_.pop_front();
    switch (s.kind) {
      case Step::event:
        event = Event{};
        event.arrival_time_ms = s.arrival;
        event.event_time_ms = s.arrival;
        event.source_seq = ++seq_;
        event.label = name_ + "#" + std::to_string(seq_);  // identifies the event in the test
        return SourceItem::event;
      case Step::dead:
        dead = DeadLetter{};
        dead.source = name_;
        dead.reason = DecodeReason::malformed_json;
        return SourceItem::dead_letter;
      case Step::error:
        return make_error(Errc::io, name_ + ": read failed");
    }
    return SourceItem::end;
  }
  const std::string& name() const override { return name_; }
  uint64_t unknown_channels() const override { return 1; }

 private:
  std::string name_;
  std::deque<Step> steps_;
  uint64_t seq_ = 0;
};

using Step = ScriptSource::Step;
using test::drain;
using test::Drained;

std::vector<std::string> labels(const Drained& d) {
  std::vector<std::string> out;
  for (const Event& e : d.events) out.push_back(e.label);
  return out;
}

TEST(MergeTest, OrdersByArrivalThenSourceIndexThenSourceOrder) {
  std::vector<std::unique_ptr<EventSource>> sources;
  sources.push_back(std::make_unique<ScriptSource>(
      "a", std::vector<Step>{
               {Step::event, 10}, {Step::event, 20}, {Step::event, 20}, {Step::event, 40}}));
  sources.push_back(std::make_unique<ScriptSource>(
      "b", std::vector<Step>{{Step::event, 5}, {Step::event, 20}, {Step::event, 30}}));
  sources.push_back(
      std::make_unique<ScriptSource>("c", std::vector<Step>{{Step::event, 20}, {Step::event, 20}}));
  sources.push_back(std::make_unique<ScriptSource>("empty", std::vector<Step>{}));
  auto merged = merge_sources(std::move(sources));
  const Drained d = drain(*merged);
  ASSERT_TRUE(d.error.empty());
  EXPECT_EQ(labels(d), (std::vector<std::string>{"b#1", "a#1", "a#2", "a#3", "b#2", "c#1", "c#2",
                                                 "b#3", "a#4"}));
  for (std::size_t i = 0; i < d.events.size(); ++i) {
    EXPECT_EQ(d.events[i].source_seq, i + 1) << "global sequence in merged order";
  }
  EXPECT_EQ(merged->name(), "a+b+c+empty");
  EXPECT_EQ(merged->unknown_channels(), 4u);
}

TEST(MergeTest, DeadLettersPassThroughAndNothingIsLost) {
  std::vector<std::unique_ptr<EventSource>> sources;
  sources.push_back(std::make_unique<ScriptSource>("a", std::vector<Step>{{Step::dead},
                                                                          {Step::event, 1},
                                                                          {Step::dead},
                                                                          {Step::dead},
                                                                          {Step::event, 3},
                                                                          {Step::dead}}));
  sources.push_back(std::make_unique<ScriptSource>(
      "b", std::vector<Step>{{Step::event, 2}, {Step::dead}, {Step::event, 3}}));
  auto merged = merge_sources(std::move(sources));
  const Drained d = drain(*merged);
  EXPECT_EQ(labels(d), (std::vector<std::string>{"a#1", "b#1", "a#2", "b#2"}));
  ASSERT_EQ(d.dead.size(), 5u);
}

TEST(MergeTest, OutOfOrderInputStillMergesDeterministically) {
  std::vector<std::unique_ptr<EventSource>> sources;
  sources.push_back(std::make_unique<ScriptSource>(
      "a", std::vector<Step>{{Step::event, 10}, {Step::event, 1}, {Step::event, 12}}));
  sources.push_back(std::make_unique<ScriptSource>("b", std::vector<Step>{{Step::event, 11}}));
  const Drained d = drain(*merge_sources(std::move(sources)));
  EXPECT_EQ(labels(d), (std::vector<std::string>{"a#1", "a#2", "b#1", "a#3"}));
}

TEST(MergeTest, AnInputErrorEndsTheMerge) {
  std::vector<std::unique_ptr<EventSource>> sources;
  sources.push_back(std::make_unique<ScriptSource>(
      "a", std::vector<Step>{{Step::event, 1}, {Step::error}, {Step::event, 3}}));
  sources.push_back(std::make_unique<ScriptSource>("b", std::vector<Step>{{Step::event, 2}}));
  auto merged = merge_sources(std::move(sources));
  const Drained d = drain(*merged);
  EXPECT_EQ(d.error, "a: read failed");
  Event e;
  DeadLetter dl;
  auto after = merged->next(e, dl);
  ASSERT_TRUE(after);
  EXPECT_EQ(after.value(), SourceItem::end);
}

}  // namespace
}  // namespace tfe
