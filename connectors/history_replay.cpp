#include "connectors/history_replay.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <thread>

#include "connectors/event_codec.h"
#include "connectors/event_files.h"

namespace tfe {
namespace {

using WallClock = std::chrono::steady_clock;

// Moves the replay clock: the newest arrival time seen, pushed to the pipeline every few
// thousand events or whenever history time has moved by a tick cadence, and held back to the
// wall clock when paced.
class ReplayClock {
 public:
  ReplayClock(Pipeline& pipeline, const EngineConfig& config, const ReplayOptions& options)
      : pipeline_(pipeline),
        cadence_ms_(config.tick_cadence_ms),
        options_(options),
        start_(WallClock::now()),
        last_progress_(start_) {}

  // Before pushing an event that arrived at `arrival_ms`. False: the caller asked to stop.
  bool before_push(int64_t arrival_ms) {
    if (!started_) {
      started_ = true;
      history_start_ms_ = arrival_ms;
      released_ms_ = arrival_ms;
      newest_ms_ = arrival_ms;
    }
    if (arrival_ms > newest_ms_) {
      if (pushed_since_advance_ >= options_.advance_every ||
          arrival_ms - released_ms_ >= cadence_ms_ || options_.pace > 0) {
        advance();
      }
      newest_ms_ = arrival_ms;
    } else if (arrival_ms < newest_ms_) {
      // An event out of arrival order is late or not against the ticks fired up to the newest
      // arrival before it, as if the clock had moved on every event: never against wherever
      // the batching last left the clock, which would make a patient's scores depend on the
      // pace and on other patients' events.
      advance();
    }
    if (options_.pace > 0) wait_for_wall(arrival_ms);
    return report_progress();
  }
  void pushed() {
    ++pushed_since_advance_;
    ++events_;
  }
  void finish() {
    if (started_) advance();
    pipeline_.finish();
  }
  uint64_t events() const { return events_; }
  double seconds() const {
    return std::chrono::duration<double>(WallClock::now() - start_).count();
  }

 private:
  void advance() {
    if (newest_ms_ <= released_ms_ && pushed_since_advance_ == 0) return;
    pipeline_.advance(newest_ms_);
    released_ms_ = newest_ms_;
    pushed_since_advance_ = 0;
  }
  void wait_for_wall(int64_t arrival_ms) {
    const double wall_ms = static_cast<double>(arrival_ms - history_start_ms_) / options_.pace;
    const auto due = start_ + std::chrono::microseconds(static_cast<int64_t>(wall_ms * 1000.0));
    if (due > WallClock::now()) std::this_thread::sleep_until(due);
  }
  bool report_progress() {
    if (!options_.progress || (events_ & 1023) != 0) return true;
    const auto now = WallClock::now();
    if (now - last_progress_ < std::chrono::seconds(1)) return true;
    last_progress_ = now;
    return options_.progress(events_);
  }

  Pipeline& pipeline_;
  int64_t cadence_ms_;
  const ReplayOptions& options_;
  WallClock::time_point start_;
  WallClock::time_point last_progress_;
  bool started_ = false;
  int64_t history_start_ms_ = 0;
  int64_t released_ms_ = 0;
  int64_t newest_ms_ = 0;
  uint32_t pushed_since_advance_ = 0;
  uint64_t events_ = 0;
};

ReplayStats finish_stats(ReplayClock& clock, Pipeline& pipeline, bool stopped_early) {
  clock.finish();
  ReplayStats stats;
  stats.events = clock.events();
  stats.seconds = clock.seconds();
  stats.stopped_early = stopped_early;
  stats.pipeline = pipeline.stats();
  return stats;
}

// Pulls every item of `source`: events to on_event (false stops), dead letters to `dead`.
// Returns the number of dead letters, or the source's error.
template <class OnEvent>
Result<uint64_t> drain(EventSource& source, DeadLetterSink& dead, OnEvent&& on_event) {
  Event event;
  DeadLetter letter;
  uint64_t dead_letters = 0;
  while (true) {
    auto item = source.next(event, letter);
    if (!item) return item.error();
    if (item.value() == SourceItem::end) break;
    if (item.value() == SourceItem::dead_letter) {
      dead.write(letter);
      ++dead_letters;
      continue;
    }
    if (!on_event(event)) break;
    reset_event(event);
  }
  return dead_letters;
}

template <class Events, class Append, class Sort>
Result<BasicHistory<Events>> load_into(const std::vector<std::string>& paths,
                                       const EngineConfig& config, PatientRegistry& registry,
                                       DeadLetterSink& dead, Append&& append, Sort&& sort) {
  auto source = open_event_sources(paths, config.schema, registry, DecodeLimits::from(config));
  if (!source) return source.error();
  BasicHistory<Events> history;
  auto dead_letters = drain(*source.value(), dead, [&](Event& event) {
    append(history.events, event);
    return true;
  });
  if (!dead_letters) return dead_letters.error();
  history.dead_letters = dead_letters.value();
  history.unknown_channels = source.value()->unknown_channels();
  sort(history.events);
  return history;
}

}  // namespace

Result<ReplayStats> replay_history(const std::vector<std::string>& paths,
                                   const EngineConfig& config, std::shared_ptr<const Scorer> scorer,
                                   PatientRegistry& registry, ScoreSink& scores,
                                   DeadLetterSink& dead, const ReplayOptions& options) {
  auto source = open_event_sources(paths, config.schema, registry, DecodeLimits::from(config));
  if (!source) return source.error();
  Pipeline pipeline(config, std::move(scorer), registry, scores);
  pipeline.set_emitting(options.emit_scores);
  ReplayClock clock(pipeline, config, options);
  bool stopped = false;
  auto dead_letters = drain(*source.value(), dead, [&](Event& event) {
    if (!clock.before_push(event.arrival_time_ms)) {
      stopped = true;
      return false;
    }
    pipeline.push(std::move(event));
    clock.pushed();
    return true;
  });
  if (!dead_letters) return dead_letters.error();
  ReplayStats stats = finish_stats(clock, pipeline, stopped);
  stats.dead_letters = dead_letters.value();
  stats.unknown_channels = source.value()->unknown_channels();
  return stats;
}

Result<History> load_history(const std::vector<std::string>& paths, const EngineConfig& config,
                             PatientRegistry& registry, DeadLetterSink& dead) {
  return load_into<std::vector<Event>>(
      paths, config, registry, dead,
      [](std::vector<Event>& events, Event& e) { events.push_back(std::move(e)); },
      [](std::vector<Event>& events) { sort_for_replay(events); });
}

Result<PackedHistory> load_packed_history(const std::vector<std::string>& paths,
                                          const EngineConfig& config, PatientRegistry& registry,
                                          DeadLetterSink& dead) {
  return load_into<PackedEvents>(
      paths, config, registry, dead, [](PackedEvents& events, Event& e) { events.append(e); },
      [](PackedEvents& events) { events.sort_for_replay(); });
}

ReplayStats replay_events(const ReplaySequence& events, const EngineConfig& config,
                          std::shared_ptr<const Scorer> scorer, const PatientRegistry& registry,
                          ScoreSink& scores, const ReplayOptions& options) {
  Pipeline pipeline(config, std::move(scorer), registry, scores);
  pipeline.set_emitting(options.emit_scores);
  ReplayClock clock(pipeline, config, options);
  bool stopped = false;
  events.for_each([&](const Event& event, int64_t arrival_ms) {
    if (!clock.before_push(arrival_ms)) {
      stopped = true;
      return false;
    }
    if (arrival_ms == event.arrival_time_ms) {
      pipeline.push(event);
    } else {
      Event moved = event;
      moved.arrival_time_ms = arrival_ms;
      pipeline.push(std::move(moved));
    }
    clock.pushed();
    return true;
  });
  return finish_stats(clock, pipeline, stopped);
}

void sort_for_replay(std::vector<Event>& events) {
  auto before = [](const Event& a, const Event& b) {
    if (a.arrival_time_ms != b.arrival_time_ms) return a.arrival_time_ms < b.arrival_time_ms;
    return a.source_seq < b.source_seq;
  };
  // Histories are usually written in arrival order already: one linear check saves the sort.
  if (std::is_sorted(events.begin(), events.end(), before)) return;
  std::stable_sort(events.begin(), events.end(), before);
}

namespace {

// Interns the patients of `from` that `seen` marks into the empty registry `to`, in the order of
// their ids; returns each one's new index. Only patients with an event are marked: a bad record
// may have interned its id before it was refused.
std::vector<PatientIndex> renumbering_by_id(const std::vector<uint8_t>& seen,
                                            const PatientRegistry& from, PatientRegistry& to) {
  assert(to.size() == 0);
  std::vector<PatientIndex> order;
  for (std::size_t p = 0; p < seen.size(); ++p) {
    if (seen[p]) order.push_back(static_cast<PatientIndex>(p));
  }
  std::sort(order.begin(), order.end(),
            [&](PatientIndex a, PatientIndex b) { return from.id(a) < from.id(b); });
  std::vector<PatientIndex> renumber(from.size());
  for (const PatientIndex p : order) renumber[p] = to.intern(from.id(p));
  return renumber;
}

}  // namespace

void reindex_patients_by_id(History& history, const PatientRegistry& from, PatientRegistry& to) {
  std::vector<uint8_t> seen(from.size(), 0);
  for (const Event& e : history.events) seen[e.patient] = 1;
  const std::vector<PatientIndex> renumber = renumbering_by_id(seen, from, to);
  for (Event& e : history.events) e.patient = renumber[e.patient];
}

void reindex_patients_by_id(PackedHistory& history, const PatientRegistry& from,
                            PatientRegistry& to) {
  std::vector<uint8_t> seen(from.size(), 0);
  for (std::size_t i = 0; i < history.events.size(); ++i) seen[history.events.patient(i)] = 1;
  history.events.renumber_patients(renumbering_by_id(seen, from, to));
}

}  // namespace tfe
