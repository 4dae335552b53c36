#pragma once
// Window statistics of one vitals modality of one patient: per channel and per configured window,
// last, mean, std (population), min, max, slope (least squares, units per second) and count. A
// reading costs O(1) amortised (a ring slot); a snapshot computes every statistic in one backward
// pass over the readings of the longest window, so the statistics are a function of the readings
// held alone, bit for bit, however the ring came to hold them (a restore that replays only the
// last horizon of readings gives the scores of a single pass).
//
// Window membership: at snapshot time t a window of length W holds the readings already applied
// (arrival_time <= t) whose event_time >= t - W; a reading stamped ahead of t stays in. The
// readings are kept in event-time order, so a reading arriving out of event-time order is exact
// too, at the cost of a copy of O(samples held) (rare: a device's readings arrive in order).
// A channel absent from a reading adds nothing to that channel: its window state is unchanged.
//
// Storage (one heap block per patient and modality, sized to the samples held: a full ring grows
// by half until it holds 8 readings, then to what the longest window holds at their cadence, and
// gives back its spare once readings leave and it is at most a quarter full):
// - a ring of samples in event-time order: int32 time offset from a time origin (moved forward
//   every few window lengths) and one float per channel (stored per channel row, NaN where not
//   measured);
// - per window, the logical index of its oldest reading.
// A snapshot sums count, v, v^2, t, t^2 and t*v in double (t in seconds relative to the newest
// reading) and finds min, max and last, in one pass over each channel's row from the newest slot
// to the oldest of the longest window (readings are many, snapshots few).
// Eviction is by time (evict(now)) and by the ring's sample cap (max_window_samples: when full,
// the oldest reading leaves every window early).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/event.h"
#include "engine/snapshot.h"

namespace tfe {

namespace detail {
// Bytes a heap allocation of `requested` bytes occupies with a glibc-style allocator (8-byte
// header, 16-byte granules, 32-byte minimum): what state_bytes() counts, so that bytes per
// patient are not flattered by tiny blocks.
inline std::size_t allocation_bytes(std::size_t requested) {
  if (requested == 0) return 0;
  return std::max<std::size_t>(32, (requested + 8 + 15) & ~std::size_t{15});
}
}  // namespace detail

// The shape shared by every patient's windows of one vitals modality.
struct VitalsWindowsShape {
  std::vector<int64_t> windows_ms;  // [W], in feature order
  uint32_t channels = 0;            // C, at most kMaxChannels
  uint32_t max_samples = 4096;      // ring cap (EngineConfig::max_window_samples)

  int64_t max_window_ms() const;
  // Floats written by VitalsWindows::write_features: W * C * kWindowStatCount.
  std::size_t feature_count() const { return windows_ms.size() * channels * kWindowStatCount; }
};

// Index of a statistic in the feature vector [window][channel][kWindowStatCount].
inline std::size_t vitals_feature_index(const VitalsWindowsShape& shape, std::size_t window,
                                        std::size_t channel, WindowStat stat) {
  return (window * shape.channels + channel) * kWindowStatCount + static_cast<std::size_t>(stat);
}

class VitalsWindows {
 public:
  VitalsWindows() = default;
  VitalsWindows(VitalsWindows&&) noexcept = default;
  VitalsWindows& operator=(VitalsWindows&&) noexcept = default;

  // Adds the measured channels of one reading, applied at engine time now_ms (its arrival: no
  // later snapshot is earlier). Eviction is left to evict(), except that a full ring first
  // evicts as of now_ms before it grows. A reading older than every window at the last eviction
  // is dropped. No allocation unless the ring grows (see Storage above).
  void add(const VitalsWindowsShape& shape, int64_t now_ms, int64_t event_time_ms,
           const VitalsReading& reading);

  // Drops readings with event_time < now - W from each window, and from the ring once they are
  // in no window. `now` never moves back: an earlier value than a previous call is ignored.
  // Allocates only when it shrinks the ring (see Storage above).
  void evict(const VitalsWindowsShape& shape, int64_t now_ms);

  // Writes [W][C][kWindowStatCount] floats (see WindowStat) as of the last evict(). A channel with
  // no reading in a window gives count 0 and 0 for every other statistic of that window, so the
  // vector never holds NaN. Slope is 0 with fewer than two distinct reading times (readings
  // closer than about 3e-6 of the time scale, within 30 ms for 15-minute windows, are one instant);
  // std is 0 when the variance is below 1e-12 of the mean square (rounding residue). out must
  // hold shape.feature_count() floats.
  void write_features(const VitalsWindowsShape& shape, std::span<float> out) const;

  // Hints the cache to load what the next add/evict/write_features touches: the whole block
  // while it is small (readings a minute apart), else the starts, and the ring's
  // newest and oldest slots of every row (readings a second apart: a 15-minute ring is tens
  // of kilobytes, and prefetching all of it for each reading stalled on the cache's fill
  // buffers and pushed the other patients' state out).
  void prefetch(const VitalsWindowsShape& shape) const {
    if (block_bytes_ <= kPrefetchWholeBytes) {
      const std::byte* p = block_.get();
      for (uint32_t offset = 0; offset < block_bytes_; offset += 64) __builtin_prefetch(p + offset);
    } else {
      prefetch_ends(shape);
    }
  }

  uint32_t samples() const { return count_; }
  // Heap bytes held (allocator-rounded).
  std::size_t heap_bytes() const;
  // Releases all memory.
  void clear();

 private:
  struct Block;  // byte layout of block_ for a given capacity
  static Block layout(const VitalsWindowsShape& shape, uint32_t capacity, std::byte* base);

  uint32_t slot_of(uint32_t logical) const {
    const uint32_t s = head_ + logical;
    return s >= capacity_ ? s - capacity_ : s;
  }
  void append(const VitalsWindowsShape& shape, const Block& b, int64_t event_time_ms,
              const VitalsReading& reading, uint32_t mask);
  void insert_sorted(const VitalsWindowsShape& shape, int64_t event_time_ms,
                     const VitalsReading& reading, uint32_t mask);
  void reserve(const VitalsWindowsShape& shape, uint32_t capacity);
  uint32_t grown_capacity(const VitalsWindowsShape& shape) const;
  // Drops the k oldest readings (at the cap, from windows that still hold them).
  void pop_front(const Block& b, uint32_t k);
  void prefetch_ends(const VitalsWindowsShape& shape) const;
  void rebuild(const VitalsWindowsShape& shape);
  void rebase(const VitalsWindowsShape& shape, int64_t new_origin_ms);
  int64_t lower_bound_ms(int64_t window_ms) const;

  std::unique_ptr<std::byte[]> block_;  // see Block
  int64_t origin_ms_ = 0;               // time origin of the ring's int32 offsets
  int64_t evicted_until_ms_ = kNoTime;
  uint32_t head_ = 0;      // slot of the oldest sample
  uint32_t count_ = 0;     // samples in the ring
  uint32_t capacity_ = 0;  // slots
  uint32_t block_bytes_ = 0;

  static constexpr int64_t kNoTime = INT64_MIN;
  // 64 cache lines: a ward patient's 15-minute windows of 8 channels fit well within it.
  static constexpr uint32_t kPrefetchWholeBytes = 4096;
};

}  // namespace tfe
