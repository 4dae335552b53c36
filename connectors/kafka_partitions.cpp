// Live clock, applied offsets and restore bookkeeping of the assigned partitions.

#include "connectors/kafka_partitions.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace tfe {
namespace {

// Events buffered per partition: a ring's first capacity (doubling as it fills), and the most it
// keeps once empty.
constexpr std::size_t kEventRingFirst = 64;
constexpr std::size_t kEventRingKept = 4096;
// A larger ring shrinks back once empty after this much wall time of holding at most a quarter
// of its capacity. Shrinking as soon as it emptied made a catching-up service regrow it by
// doubling, and page in fresh memory, every few turns.
constexpr int64_t kEventRingIdleMs = 10'000;

// a + b for b >= 0, at most INT64_MAX.
int64_t saturating_add(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }

}  // namespace

PartitionTable::PartitionTable(std::size_t topics, int32_t partitions, int64_t grace_ms,
                               int64_t lateness_ms)
    : topics_(topics),
      partitions_(partitions),
      grace_ms_(grace_ms),
      lateness_ms_(lateness_ms),
      slots_(topics * static_cast<std::size_t>(std::max(partitions, 0))) {}

void PartitionTable::reset(const std::vector<std::pair<std::size_t, int32_t>>& assigned) {
  for (auto& s : slots_) s = PartitionSlot{};
  restoring_count_ = 0;
  restored_.clear();
  for (const auto& [t, p] : assigned) {
    if (valid(t, p)) slot(t, p).assigned = true;
  }
}

std::vector<std::pair<std::size_t, int32_t>> PartitionTable::assigned() const {
  std::vector<std::pair<std::size_t, int32_t>> out;
  for (std::size_t t = 0; t < topics_; ++t) {
    for (int32_t p = 0; p < partitions_; ++p) {
      if (slot(t, p).assigned) out.emplace_back(t, p);
    }
  }
  return out;
}

std::size_t PartitionTable::assigned_count() const {
  return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(),
                                                [](const PartitionSlot& s) { return s.assigned; }));
}

void PartitionTable::on_message(std::size_t topic, int32_t partition, int64_t offset,
                                int64_t arrival_ms, bool applied_at_once) {
  PartitionSlot& s = slot(topic, partition);
  s.seen = true;
  s.caught_up = false;
  s.next_offset = offset + 1;
  ++s.consumed;
  if (arrival_ms != kNoArrival) s.last_arrival_ms = std::max(s.last_arrival_ms, arrival_ms);
  if (applied_at_once && s.pending.empty()) {
    // Nothing before it waits: applied (and committable) at once.
  } else {
    s.pending.push_back({offset, applied_at_once ? kNoArrival : arrival_ms, false});
  }
  if (s.restoring) update_restore(s, topic * static_cast<std::size_t>(partitions_) + partition);
}

void PartitionTable::on_event(std::size_t topic, int32_t partition, int64_t offset, Event&& event) {
  const int64_t arrival = event.arrival_time_ms;
  PartitionSlot& s = slot(topic, partition);
  if (s.events.full()) {
    s.events.set_capacity(std::max(kEventRingFirst, 2 * s.events.capacity()));
  }
  s.events.push_back(std::move(event));
  s.events_peak = std::max(s.events_peak, s.events.size());
  on_message(topic, partition, offset, arrival, false);
  s.pending.back().has_event = true;
}

void PartitionTable::on_end(std::size_t topic, int32_t partition, int64_t end_offset,
                            int64_t now_ms) {
  PartitionSlot& s = slot(topic, partition);
  s.seen = true;
  if (!s.caught_up) s.caught_up_at_ms = now_ms;
  s.caught_up = true;
  s.next_offset = std::max(s.next_offset, end_offset);
  if (s.restoring) update_restore(s, topic * static_cast<std::size_t>(partitions_) + partition);
}

void PartitionTable::extend_grace(int64_t since_ms, int64_t ms) {
  if (ms <= 0) return;
  for (PartitionSlot& s : slots_) {
    if (s.assigned && s.caught_up && s.caught_up_at_ms <= since_ms) {
      s.caught_up_at_ms = saturating_add(s.caught_up_at_ms, ms);
    }
  }
}

void PartitionTable::restart_grace(std::size_t topic, int32_t partition, int64_t now_ms) {
  PartitionSlot& s = slot(topic, partition);
  if (s.caught_up) s.caught_up_at_ms = std::max(s.caught_up_at_ms, now_ms);
}

std::optional<int64_t> PartitionTable::clock(int64_t now_ms) const {
  bool any_arrival = false;
  bool any_behind = false;
  int64_t min_behind = INT64_MAX;
  int64_t newest = kNoArrival;
  for (const PartitionSlot& s : slots_) {
    if (!s.assigned) continue;
    if (!s.seen) return std::nullopt;  // not answered yet: holds the clock entirely
    if (s.last_arrival_ms != kNoArrival) {
      any_arrival = true;
      newest = std::max(newest, s.last_arrival_ms);
    }
    if (s.caught_up && now_ms - s.caught_up_at_ms >= grace_ms_) continue;
    if (s.last_arrival_ms == kNoArrival) continue;  // seen only dead letters without timestamps
    int64_t hold = s.last_arrival_ms;
    if (s.caught_up && lateness_ms_ > 0 && now_ms > s.caught_up_at_ms) {
      hold = saturating_add(hold, now_ms - s.caught_up_at_ms);
    }
    any_behind = true;
    min_behind = std::min(min_behind, hold);
  }
  if (any_behind) return std::min(min_behind, newest);  // a hold never runs past every record
  if (any_arrival) return newest;
  return std::nullopt;
}

void PartitionTable::release(int64_t released_ms, std::vector<Event>* out, int64_t now_ms) {
  for (PartitionSlot& s : slots_) {
    while (!s.pending.empty() && (s.pending.front().arrival_ms == kNoArrival ||
                                  s.pending.front().arrival_ms <= released_ms)) {
      if (s.pending.front().has_event) {
        if (out != nullptr) out->push_back(std::move(s.events.front()));
        s.events.pop_front();
      }
      s.pending.pop_front();
    }
    // A ring grown by a backlog gives its memory back once the backlog is gone.
    if (s.events.capacity() > kEventRingKept) {
      if (s.events_peak * 4 > s.events.capacity()) s.events_busy_ms = now_ms;
      if (s.events.empty() && now_ms - s.events_busy_ms >= kEventRingIdleMs) {
        s.events.set_capacity(kEventRingKept);
      }
    }
    s.events_peak = s.events.size();
  }
}

std::optional<int64_t> PartitionTable::commit_offset(std::size_t topic, int32_t partition) const {
  const PartitionSlot& s = slot(topic, partition);
  if (!s.assigned || s.next_offset < 0) return std::nullopt;
  if (!s.pending.empty()) return s.pending.front().offset;
  return s.next_offset;
}

void PartitionTable::begin_restore(std::size_t topic, int32_t partition, int64_t start_offset,
                                   int64_t end_offset) {
  PartitionSlot& s = slot(topic, partition);
  s.restore_end = end_offset;
  if (end_offset > start_offset && !s.restoring) {
    s.restoring = true;
    ++restoring_count_;
  }
}

void PartitionTable::update_restore(PartitionSlot& s, std::size_t index) {
  // Done once consumed up to the end offset, or at the end of the partition (a log truncated
  // below the committed offset has nothing more to give).
  if (s.next_offset >= s.restore_end || s.caught_up) {
    s.restoring = false;
    --restoring_count_;
    restored_.push_back(index);
  }
}

std::vector<std::pair<std::size_t, int32_t>> PartitionTable::take_restored() {
  std::vector<std::pair<std::size_t, int32_t>> out;
  for (std::size_t index : restored_) {
    out.emplace_back(index / static_cast<std::size_t>(partitions_),
                     static_cast<int32_t>(index % static_cast<std::size_t>(partitions_)));
  }
  restored_.clear();
  return out;
}

std::string format_commit_metadata(std::optional<int64_t> clock_ms) {
  return clock_ms ? fmt::format("tfe1 clock={}", *clock_ms) : std::string("tfe1");
}

std::optional<int64_t> parse_commit_metadata(std::string_view metadata) {
  constexpr std::string_view kPrefix = "tfe1 clock=";
  if (!metadata.starts_with(kPrefix)) return std::nullopt;
  const std::string_view digits = metadata.substr(kPrefix.size());
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return v;
}

}  // namespace tfe
