#pragma once
// The service's bookkeeping of its assigned partitions, apart from any Kafka handle so that it can
// be tested alone: the live engine clock, which offsets are applied (and may be committed), and
// the restore of newly assigned partitions.
//
// Partitions are co-partitioned: every modality topic has the same partition count P, and a slot
// is (topic index, partition). The live clock is the minimum, over assigned partitions, of the
// last consumed arrival time, except that a partition at its end offset (caught up) does not hold
// it back; a partition that has not answered yet (no message, no end-of-partition) holds it
// entirely. When every partition is caught up, the clock is the newest arrival consumed.
//
// The one use of the wall clock: a partition that just reached its end keeps holding the clock
// for `grace_ms` of wall time. Records of different partitions are fetched independently, so a
// partition can look caught up for a moment while its next record is already on the way; the
// grace keeps the clock from running past it (and that record from becoming late). A partition
// quiet for longer than the grace no longer holds anything back. Only wall time during which the
// partition could have been fetched counts: time the process did not run (stopped, starved of
// CPU) is taken off with extend_grace(), and a partition resumed after a pause starts its grace
// again (restart_grace()).
//
// With an allowed lateness (`lateness_ms` > 0, the promise that a record reaches the service
// within that much of its timestamp), a partition within its grace holds the clock at its last
// arrival plus the wall time since it reached its end: a live producer stamps its next record no
// earlier than that, less the record's transit, which the lateness absorbs. So on a live feed the
// quiet partitions stop holding ticks back, while a backlog (history minutes per wall
// millisecond) is held as without it.
//
// Offsets: an event is applied once the pipeline's released time (clock - allowed lateness) has
// reached its arrival time; a partition's commit offset is its first offset not yet applied.
// Events wait here, per partition, until then: release() hands them over in partition order, and
// the caller gives them to the pipeline (sorted by arrival) right before advancing it, so the
// pipeline only ever holds events it applies at once.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/circular_buffer.hpp>

#include "engine/event.h"

namespace tfe {

inline constexpr int64_t kNoArrival = INT64_MIN;

struct PartitionSlot {
  bool assigned = false;
  bool seen = false;            // a message or end-of-partition arrived since (re)start
  bool caught_up = false;       // at its end offset
  int64_t caught_up_at_ms = 0;  // wall time the end was reached
  bool paused = false;
  int64_t last_arrival_ms = kNoArrival;  // newest arrival consumed
  int64_t next_offset = -1;              // after the last consumed message (or end offset)
  struct Pending {
    int64_t offset;
    int64_t arrival_ms;  // kNoArrival for a dead letter (applied once it reaches the front)
    bool has_event;      // its Event waits in `events`
  };
  std::deque<Pending> pending;  // consumed, not yet applied, in offset order
  // The events of `pending` entries with has_event, same order. A ring that keeps its capacity
  // while in use (a deque of 192-byte events allocated and freed a block every second event),
  // and shrinks once a backlog is over: emptied, after a while of using little of it.
  boost::circular_buffer<Event> events = boost::circular_buffer<Event>();
  std::size_t events_peak = 0;  // most events held since the last release()
  int64_t events_busy_ms = 0;   // wall time a release() last found the ring well used
  int64_t restore_end = -1;     // replay without emitting until this offset (exclusive); -1: none
  bool restoring = false;
  uint64_t consumed = 0;  // messages consumed since (re)start
};

class PartitionTable {
 public:
  PartitionTable() = default;
  PartitionTable(std::size_t topics, int32_t partitions, int64_t grace_ms = 0,
                 int64_t lateness_ms = 0);

  std::size_t topics() const { return topics_; }
  int32_t partitions() const { return partitions_; }
  PartitionSlot& slot(std::size_t topic, int32_t partition) {
    return slots_[topic * static_cast<std::size_t>(partitions_) +
                  static_cast<std::size_t>(partition)];
  }
  const PartitionSlot& slot(std::size_t topic, int32_t partition) const {
    return slots_[topic * static_cast<std::size_t>(partitions_) +
                  static_cast<std::size_t>(partition)];
  }
  bool valid(std::size_t topic, int32_t partition) const {
    return topic < topics_ && partition >= 0 && partition < partitions_;
  }

  // Clears every slot and marks the given (topic, partition) pairs assigned.
  void reset(const std::vector<std::pair<std::size_t, int32_t>>& assigned);
  // Assigned (topic, partition) pairs.
  std::vector<std::pair<std::size_t, int32_t>> assigned() const;
  std::size_t assigned_count() const;

  // A consumed message (event or dead letter): arrival is the event's arrival time, or the
  // message timestamp for a dead letter (`applied_at_once`). No event is kept.
  void on_message(std::size_t topic, int32_t partition, int64_t offset, int64_t arrival_ms,
                  bool applied_at_once);
  // A consumed event, kept until released.
  void on_event(std::size_t topic, int32_t partition, int64_t offset, Event&& event);
  // End of partition reached at `end_offset`, at wall time now_ms.
  void on_end(std::size_t topic, int32_t partition, int64_t end_offset, int64_t now_ms = 0);

  // Partitions marked caught up whose end has moved beyond their position (records produced
  // since, known to the client, possibly already fetched and queued locally) stop being caught
  // up. `end_offset(topic, partition)` returns the latest known end, or -1.
  template <class EndOffset>
  void refresh_caught_up(EndOffset&& end_offset) {
    for (std::size_t t = 0; t < topics_; ++t) {
      for (int32_t p = 0; p < partitions_; ++p) {
        PartitionSlot& s = slot(t, p);
        if (s.assigned && s.caught_up && end_offset(t, p) > s.next_offset) s.caught_up = false;
      }
    }
  }

  // Wall time that does not count toward the grace of the partitions caught up at or before
  // `since_ms`: they were not fetched meanwhile (the process did not run), so their end may have
  // moved unseen.
  void extend_grace(int64_t since_ms, int64_t ms);
  // A caught-up partition that was paused (not fetched) starts its grace again at now_ms.
  void restart_grace(std::size_t topic, int32_t partition, int64_t now_ms);

  // The live clock at wall time now_ms (see above); nullopt while a partition holds it entirely or
  // nothing arrived.
  std::optional<int64_t> clock(int64_t now_ms = 0) const;
  // Marks events with arrival <= released_ms applied; their kept events are appended to `out`
  // (partition by partition, each in offset order) when out is given. now_ms (wall time) decides
  // when a ring grown by a backlog gives its memory back.
  void release(int64_t released_ms, std::vector<Event>* out = nullptr, int64_t now_ms = 0);
  // The first offset not yet applied; nullopt when nothing is known about the partition.
  std::optional<int64_t> commit_offset(std::size_t topic, int32_t partition) const;

  // Restore bookkeeping: a slot restores until restore_end; done once consumed up to it.
  void begin_restore(std::size_t topic, int32_t partition, int64_t start_offset,
                     int64_t end_offset);
  // Slots whose restore finished since the last call (so that they can be paused).
  std::vector<std::pair<std::size_t, int32_t>> take_restored();
  bool restoring() const { return restoring_count_ > 0; }

 private:
  void update_restore(PartitionSlot& s, std::size_t index);

  std::size_t topics_ = 0;
  int32_t partitions_ = 0;
  int64_t grace_ms_ = 0;
  int64_t lateness_ms_ = 0;
  std::vector<PartitionSlot> slots_;  // [topics * partitions]
  std::size_t restoring_count_ = 0;
  std::vector<std::size_t> restored_;  // slot indices done since take_restored()
};

// Commit metadata: the engine clock at the time of the commit, so that a later owner knows how far
// back to replay and which ticks were already emitted. "tfe1 clock=<epoch ms>".
std::string format_commit_metadata(std::optional<int64_t> clock_ms);
std::optional<int64_t> parse_commit_metadata(std::string_view metadata);

}  // namespace tfe
