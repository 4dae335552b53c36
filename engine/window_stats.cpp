// Window statistics (see window_stats.h for the storage and the invariants).
//
// Hot paths: a reading touches its ring slot (O(1)); every statistic is computed when a snapshot
// asks for it, by one backward pass over each channel's row from the newest reading to the oldest
// of the longest window. Running sums, updated as readings came and left, were somewhat cheaper
// (tfe_state_update_bench's pipelines: bedside about 150 against 175 ns an event, ward 350
// against 450), but they carried the rounding residue of every reading that had come and gone,
// so the same window gave other low bits after a restore, which replays only the last horizon of
// readings: the statistics now are a function of the readings held alone.

#include "engine/window_stats.h"

#include <array>
#include <cassert>
#include <cmath>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tfe {
namespace {

constexpr uint32_t kInitialCapacity = 4;
// From this many readings on, a full ring grows to the size their cadence needs (grown_capacity).
constexpr uint32_t kPredictFrom = 8;
// A ring larger than this gives back its spare once its windows hold a quarter of it or less.
constexpr uint32_t kShrinkAbove = 64;
// Ring time offsets are int32 milliseconds: readings further apart than this cannot share it.
constexpr int64_t kMaxSpanMs = int64_t{1} << 30;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

uint32_t low_mask(uint32_t n) { return n >= 32 ? ~uint32_t{0} : (uint32_t{1} << n) - 1; }

// The time origin moves forward once a reading is this far past it, so that the int32 offsets
// hold every reading of the windows (four 7-day windows would be 28 days, past the 24.8 days of
// an int32 of milliseconds).
int64_t rebase_span_ms(const VitalsWindowsShape& shape) {
  return std::min(4 * std::max<int64_t>(shape.max_window_ms(), 60'000), kMaxSpanMs);
}

// Folds the measured values of row[a, b) into lo and hi (NaN, not measured, is skipped: a
// comparison with NaN is false, and MINPS/MAXPS return their second operand then).
void fold_extremes(const float* row, uint32_t a, uint32_t b, float& lo, float& hi) {
#if defined(__SSE2__)
  if (b - a >= 4) {
    __m128 lo4 = _mm_set1_ps(lo);
    __m128 hi4 = _mm_set1_ps(hi);
    uint32_t i = a;
    for (; i + 4 <= b; i += 4) {
      const __m128 x = _mm_loadu_ps(row + i);
      lo4 = _mm_min_ps(x, lo4);
      hi4 = _mm_max_ps(x, hi4);
    }
    if (i < b) {
      // The last four again, overlapping what is done: min and max do not mind a repeat.
      const __m128 x = _mm_loadu_ps(row + b - 4);
      lo4 = _mm_min_ps(x, lo4);
      hi4 = _mm_max_ps(x, hi4);
    }
    lo4 = _mm_min_ps(lo4, _mm_movehl_ps(lo4, lo4));
    hi4 = _mm_max_ps(hi4, _mm_movehl_ps(hi4, hi4));
    lo4 = _mm_min_ss(lo4, _mm_shuffle_ps(lo4, lo4, 1));
    hi4 = _mm_max_ss(hi4, _mm_shuffle_ps(hi4, hi4, 1));
    lo = _mm_cvtss_f32(lo4);
    hi = _mm_cvtss_f32(hi4);
    return;
  }
#endif
  for (uint32_t i = a; i < b; ++i) {
    lo = row[i] < lo ? row[i] : lo;
    hi = row[i] > hi ? row[i] : hi;
  }
}

// Count and sums of one channel's readings: v, v^2, t, t^2 and t*v, t in milliseconds relative to
// the newest reading held (exact in a double).
struct Moments {
  double n = 0, v = 0, vv = 0, t = 0, tt = 0, tv = 0;

  // Adds a reading (nothing for NaN, not measured, but the same operations: no branch).
  void add(float x, int32_t t_ms) {
    const bool measured = x == x;
    const double dv = measured ? x : 0.0;
    const double dt = measured ? static_cast<double>(t_ms) : 0.0;
    n += measured ? 1.0 : 0.0;
    v += dv;
    vv += dv * dv;
    t += dt;
    tt += dt * dt;
    tv += dt * dv;
  }
  Moments operator+(const Moments& o) const {
    return {n + o.n, v + o.v, vv + o.vv, t + o.t, tt + o.tt, tv + o.tv};
  }
};

// Moments in two lanes, each taking every other reading: half the dependency chains. A lane gets
// the same operations in the same order whether its reading comes alone or in a pair, so the
// sums do not depend on where a ring's stretches begin (which differs with its history).
#if defined(__SSE2__)
class LanedMoments {
 public:
  // Reading x, t_ms from the newest reading, into lane `lane` alone.
  void add_one(float x, int32_t t_ms, unsigned lane) {
    Sums next = sums_;
    next.add(_mm_set1_pd(x), _mm_set1_pd(t_ms));
    // Lane 1 is the low element, lane 0 the high one.
    for (std::size_t k = 0; k < kSums; ++k) {
      sums_.s[k] =
          lane == 1 ? _mm_move_sd(sums_.s[k], next.s[k]) : _mm_move_sd(next.s[k], sums_.s[k]);
    }
  }
  // Readings x1 (lane 1) and x0 (lane 0), t1 and t0 ms from the newest reading.
  void add_pair(float x1, float x0, int32_t t1, int32_t t0) {
    sums_.add(_mm_set_pd(x0, x1), _mm_set_pd(t0, t1));
  }
  Moments total() const {
    double out[kSums];
    for (std::size_t k = 0; k < kSums; ++k) {
      const __m128d x = sums_.s[k];
      out[k] = _mm_cvtsd_f64(_mm_add_sd(_mm_unpackhi_pd(x, x), x));  // lane 0 + lane 1
    }
    return {out[0], out[1], out[2], out[3], out[4], out[5]};
  }

 private:
  static constexpr std::size_t kSums = 6;
  // n, v, vv, t, tt, tv as in Moments.
  struct Sums {
    __m128d s[kSums] = {_mm_setzero_pd(), _mm_setzero_pd(), _mm_setzero_pd(),
                        _mm_setzero_pd(), _mm_setzero_pd(), _mm_setzero_pd()};
    // As Moments::add, per lane.
    void add(__m128d x, __m128d t) {
      const __m128d measured = _mm_cmpord_pd(x, x);
      const __m128d v = _mm_and_pd(x, measured);
      const __m128d dt = _mm_and_pd(t, measured);
      s[0] = _mm_add_pd(s[0], _mm_and_pd(_mm_set1_pd(1.0), measured));
      s[1] = _mm_add_pd(s[1], v);
      s[2] = _mm_add_pd(s[2], _mm_mul_pd(v, v));
      s[3] = _mm_add_pd(s[3], dt);
      s[4] = _mm_add_pd(s[4], _mm_mul_pd(dt, dt));
      s[5] = _mm_add_pd(s[5], _mm_mul_pd(dt, v));
    }
  };
  Sums sums_;
};
#else
class LanedMoments {
 public:
  void add_one(float x, int32_t t_ms, unsigned lane) { lane_[lane].add(x, t_ms); }
  void add_pair(float x1, float x0, int32_t t1, int32_t t0) {
    lane_[0].add(x0, t0);
    lane_[1].add(x1, t1);
  }
  Moments total() const { return lane_[0] + lane_[1]; }

 private:
  std::array<Moments, 2> lane_{};
};
#endif

// The time scale below which a spread of reading times counts as one instant (write_features).
int64_t time_scale_ms(const VitalsWindowsShape& shape) {
  return rebase_span_ms(shape) + shape.max_window_ms();
}

}  // namespace

int64_t VitalsWindowsShape::max_window_ms() const {
  int64_t result = 0;
  for (int64_t w : windows_ms) result = std::max(result, w);
  return result;
}

// Typed views into block_ for one capacity: starts (uint32), times (int32), values (float).
struct VitalsWindows::Block {
  std::size_t windows = 0;
  std::size_t channels = 0;
  uint32_t stride = 0;  // floats per channel row: capacity rounded up to 4
  std::size_t bytes = 0;
  uint32_t* starts = nullptr;  // [W] logical index of each window's oldest reading
  int32_t* times = nullptr;    // [capacity] event time - origin, ms
  float* values = nullptr;     // [C][stride] per channel row, NaN where not measured

  float* row(std::size_t c) const { return values + c * stride; }
  float value(uint32_t slot, std::size_t c) const { return values[c * stride + slot]; }
};

inline VitalsWindows::Block VitalsWindows::layout(const VitalsWindowsShape& shape,
                                                  uint32_t capacity, std::byte* base) {
  Block b;
  b.windows = shape.windows_ms.size();
  b.channels = shape.channels;
  b.stride = (capacity + 3) & ~3u;
  const std::size_t starts = 0;
  const std::size_t times = starts + b.windows * sizeof(uint32_t);
  const std::size_t values = times + std::size_t{capacity} * sizeof(int32_t);
  b.bytes = align8(values + b.channels * b.stride * sizeof(float));
  if (base != nullptr) {
    b.starts = reinterpret_cast<uint32_t*>(base + starts);
    b.times = reinterpret_cast<int32_t*>(base + times);
    b.values = reinterpret_cast<float*>(base + values);
  }
  return b;
}

int64_t VitalsWindows::lower_bound_ms(int64_t window_ms) const {
  return evicted_until_ms_ == kNoTime ? std::numeric_limits<int64_t>::min()
                                      : evicted_until_ms_ - window_ms;
}

void VitalsWindows::reserve(const VitalsWindowsShape& shape, uint32_t capacity) {
  std::unique_ptr<std::byte[]> previous = std::move(block_);
  const Block old = layout(shape, capacity_, previous.get());
  const Block sized = layout(shape, capacity, nullptr);
  block_ = std::make_unique_for_overwrite<std::byte[]>(sized.bytes);
  block_bytes_ = static_cast<uint32_t>(sized.bytes);
  const Block b = layout(shape, capacity, block_.get());
  // Samples are copied oldest first; starts are recomputed by rebuild(). Every value
  // slot starts as NaN: the extremes' pass reads whole stretches of a row.
  std::fill(b.values, b.values + b.channels * b.stride, kNaN);
  if (previous) {
    for (uint32_t i = 0; i < count_; ++i) {
      const uint32_t from = slot_of(i);
      b.times[i] = old.times[from];
      for (std::size_t c = 0; c < b.channels; ++c) b.row(c)[i] = old.value(from, c);
    }
  }
  head_ = 0;
  capacity_ = capacity;
  rebuild(shape);
}

void VitalsWindows::rebuild(const VitalsWindowsShape& shape) {
  const Block b = layout(shape, capacity_, block_.get());
  for (std::size_t w = 0; w < b.windows; ++w) {
    const int64_t lower = lower_bound_ms(shape.windows_ms[w]);
    uint32_t start = 0;
    while (start < count_ && origin_ms_ + b.times[slot_of(start)] < lower) ++start;
    b.starts[w] = start;
  }
}

void VitalsWindows::rebase(const VitalsWindowsShape& shape, int64_t new_origin_ms) {
  const Block b = layout(shape, capacity_, block_.get());
  const int64_t delta = new_origin_ms - origin_ms_;
  for (uint32_t i = 0; i < count_; ++i) {
    const uint32_t s = slot_of(i);
    b.times[s] = static_cast<int32_t>(b.times[s] - delta);
  }
  origin_ms_ = new_origin_ms;
}

void VitalsWindows::prefetch_ends(const VitalsWindowsShape& shape) const {
  const Block b = layout(shape, capacity_, block_.get());
  const auto line = [](const void* p) { __builtin_prefetch(p); };
  line(b.starts);
  // The next reading's slot (or, in a full ring, the oldest that it replaces) and the oldest.
  const uint32_t next = count_ < capacity_ ? slot_of(count_) : head_;
  for (const uint32_t slot : {next, head_}) {
    line(b.times + slot);
    for (std::size_t c = 0; c < b.channels; ++c) {
      line(b.row(c) + slot);
    }
  }
}

void VitalsWindows::pop_front(const Block& b, uint32_t k) {
  // A window that starts at the front loses the reading (only at the ring's cap); the others
  // start one reading nearer the front.
  for (std::size_t w = 0; w < b.windows; ++w) b.starts[w] -= std::min(b.starts[w], k);
  head_ = (head_ + k) % capacity_;
  count_ -= k;
  if (count_ == 0) head_ = 0;
}

void VitalsWindows::append(const VitalsWindowsShape& shape, const Block& b, int64_t event_time_ms,
                           const VitalsReading& reading, uint32_t mask) {
  const uint32_t s = slot_of(count_);
  b.times[s] = static_cast<int32_t>(event_time_ms - origin_ms_);
  for (std::size_t c = 0; c < b.channels; ++c) {
    b.row(c)[s] = (mask >> c & 1u) ? reading.values[c] : kNaN;
  }
  ++count_;
  for (std::size_t w = 0; w < b.windows; ++w) {
    // Older than this window at the last eviction; so is everything before it (time order).
    if (event_time_ms < lower_bound_ms(shape.windows_ms[w])) b.starts[w] = count_;
  }
}

void VitalsWindows::insert_sorted(const VitalsWindowsShape& shape, int64_t event_time_ms,
                                  const VitalsReading& reading, uint32_t mask) {
  const Block b = layout(shape, capacity_, block_.get());
  const int32_t offset = static_cast<int32_t>(event_time_ms - origin_ms_);
  // First logical position holding a later reading: equal times keep their application order.
  uint32_t pos = count_;
  while (pos > 0 && b.times[slot_of(pos - 1)] > offset) --pos;
  for (uint32_t i = count_; i > pos; --i) {
    const uint32_t to = slot_of(i);
    const uint32_t from = slot_of(i - 1);
    b.times[to] = b.times[from];
    for (std::size_t c = 0; c < b.channels; ++c) b.row(c)[to] = b.value(from, c);
  }
  const uint32_t s = slot_of(pos);
  b.times[s] = offset;
  for (std::size_t c = 0; c < b.channels; ++c) {
    b.row(c)[s] = (mask >> c & 1u) ? reading.values[c] : kNaN;
  }
  ++count_;
  rebuild(shape);
}

void VitalsWindows::add(const VitalsWindowsShape& shape, int64_t now_ms, int64_t event_time_ms,
                        const VitalsReading& reading) {
  const uint32_t channel_mask = low_mask(shape.channels);
  const uint32_t mask = reading.present_mask & channel_mask;
  if (mask == 0) return;
  const int64_t max_window_ms = shape.max_window_ms();
  if (event_time_ms < lower_bound_ms(max_window_ms)) return;  // in no window, now or later

  if (!block_) {
    origin_ms_ = event_time_ms;
    reserve(shape, std::min(kInitialCapacity, std::max<uint32_t>(shape.max_samples, 1)));
  }
  if (count_ == capacity_) {
    // Before growing, drop what no snapshot at or after now can see.
    evict(shape, now_ms);
    if (count_ == capacity_) {
      if (capacity_ < shape.max_samples) {
        reserve(shape, grown_capacity(shape));
      } else {
        // At the cap the oldest leaves, although its windows may still hold it.
        pop_front(layout(shape, capacity_, block_.get()), 1);
      }
    }
  }
  const Block b = layout(shape, capacity_, block_.get());
  if (count_ == 0) {
    origin_ms_ = event_time_ms;
  } else {
    const int64_t oldest = origin_ms_ + b.times[slot_of(0)];
    const int64_t newest = origin_ms_ + b.times[slot_of(count_ - 1)];
    // Readings this far apart cannot share the int32 offsets, and are further apart than any
    // window (at most 7 days) is long: the older one can count in no window of the newer.
    if (newest - event_time_ms > kMaxSpanMs) return;  // the newer readings stay
    if (event_time_ms - oldest > kMaxSpanMs) {
      uint32_t gone = 0;
      while (gone < count_ && event_time_ms - (origin_ms_ + b.times[slot_of(gone)]) > kMaxSpanMs) {
        ++gone;
      }
      pop_front(b, gone);
      if (count_ == 0) {
        origin_ms_ = event_time_ms;
      } else {
        rebase(shape, event_time_ms);
      }
    } else if (event_time_ms - origin_ms_ > rebase_span_ms(shape)) {
      // Keep the offsets within int32; amortised O(1): at most once per four window lengths of
      // event time, over the readings of about one window.
      rebase(shape, event_time_ms);
    }
  }
  if (count_ == 0 || event_time_ms >= origin_ms_ + b.times[slot_of(count_ - 1)]) {
    append(shape, b, event_time_ms, reading, mask);
  } else {
    insert_sorted(shape, event_time_ms, reading, mask);
  }
}

void VitalsWindows::evict(const VitalsWindowsShape& shape, int64_t now_ms) {
  if (evicted_until_ms_ != kNoTime && now_ms <= evicted_until_ms_) return;
  evicted_until_ms_ = now_ms;
  if (count_ == 0) return;
  const Block b = layout(shape, capacity_, block_.get());
  uint32_t min_start = count_;
  for (std::size_t w = 0; w < b.windows; ++w) {
    const int64_t lower = now_ms - shape.windows_ms[w];
    uint32_t start = b.starts[w];
    while (start < count_ && origin_ms_ + b.times[slot_of(start)] < lower) ++start;
    b.starts[w] = start;
    min_start = std::min(min_start, start);
  }
  if (min_start > 0) {
    pop_front(b, min_start);
    // Readings have begun to leave, so the ring now holds what the windows hold at this cadence:
    // one sized for a faster cadence (a burst, or a monitor since switched off) gives its spare
    // back. Halving at a quarter full cannot make the next reading grow it again.
    if (capacity_ > kShrinkAbove && count_ <= capacity_ / 4) {
      reserve(shape, std::max(count_ * 2, kShrinkAbove));
    }
  }
}

uint32_t VitalsWindows::grown_capacity(const VitalsWindowsShape& shape) const {
  const uint32_t stepped = capacity_ + std::max<uint32_t>(4, capacity_ / 2);
  uint64_t wanted = stepped;
  if (count_ >= kPredictFrom) {
    // The readings held cover span_ms at their cadence; the longest window will hold
    // window / span as many intervals, plus an eighth for a cadence that wanders. At 1 Hz this
    // is one reallocation (a copy of the block) where growing by half took a
    // dozen, and a census whose monitors started together no longer reallocates in lockstep
    // every few seconds.
    const Block b = layout(shape, capacity_, block_.get());
    const int64_t span_ms = int64_t{b.times[slot_of(count_ - 1)]} - b.times[slot_of(0)];
    if (span_ms > 0) {
      const uint64_t intervals = static_cast<uint64_t>(count_ - 1) *
                                 static_cast<uint64_t>(shape.max_window_ms()) /
                                 static_cast<uint64_t>(span_ms);
      wanted = std::max<uint64_t>(wanted, (intervals + 1) + (intervals + 1) / 8);
    }
  }
  return static_cast<uint32_t>(std::min<uint64_t>(wanted, shape.max_samples));
}

void VitalsWindows::write_features(const VitalsWindowsShape& shape, std::span<float> out) const {
  assert(out.size() >= shape.feature_count() && "feature buffer too small");
  float* f = out.data();
  if (count_ == 0 || !block_) {
    std::fill(f, f + shape.feature_count(), 0.0f);
    return;
  }
  const Block b = layout(shape, capacity_, block_.get());
  // In ms^2, as the sums: a spread of reading times below this is one instant.
  const double time_scale = static_cast<double>(time_scale_ms(shape));
  const double min_spread = time_scale * time_scale * 1e-11;
  // Times relative to the newest reading, not to the origin: the origin depends on when the ring
  // began, a restore's later than a single pass's.
  const int32_t newest = b.times[slot_of(count_ - 1)];
  // Windows ordered by their oldest reading, newest first: all of them end at the newest
  // reading, so one backward pass over a row serves every window, each extending the sums and
  // extremes of the window before it.
  constexpr std::size_t kMaxOrder = 32;
  assert(b.windows <= kMaxOrder && "too many windows");
  std::array<uint32_t, kMaxOrder> order{};
  for (uint32_t w = 0; w < b.windows; ++w) {
    uint32_t i = w;
    for (; i > 0 && b.starts[order[i - 1]] < b.starts[w]; --i) order[i] = order[i - 1];
    order[i] = w;
  }
  std::array<float, kMaxOrder> lo{};
  std::array<float, kMaxOrder> hi{};
  std::array<Moments, kMaxOrder> moments{};
  for (std::size_t c = 0; c < b.channels; ++c) {
    const float* row = b.row(c);
    float running_lo = std::numeric_limits<float>::infinity();
    float running_hi = -std::numeric_limits<float>::infinity();
    // Lane 0 takes the readings at an even logical distance from the newest, lane 1 the others.
    LanedMoments lanes;
    unsigned parity = 0;  // lane of the next reading folded in
    // Ring offsets are within 2^30 ms of each other: their differences fit an int32.
    auto t_of = [&](uint32_t s) { return static_cast<int32_t>(b.times[s] - newest); };
    // Physical slots [a, end), newest first.
    auto add_moments = [&](uint32_t a, uint32_t end) {
      uint32_t s = end;
      if (parity == 1 && s > a) {
        --s;
        lanes.add_one(row[s], t_of(s), 1);
        parity = 0;
      }
      for (; s >= a + 2; s -= 2) lanes.add_pair(row[s - 2], row[s - 1], t_of(s - 2), t_of(s - 1));
      if (s > a) {
        --s;
        lanes.add_one(row[s], t_of(s), 0);
        parity = 1;
      }
    };
    uint32_t covered = count_;  // logical [covered, count_) is folded in
    for (std::size_t k = 0; k < b.windows; ++k) {
      const uint32_t w = order[k];
      const uint32_t start = std::min(b.starts[w], count_);
      if (start < covered) {
        // Logical [start, covered) as at most two physical stretches of the ring; the sums take
        // the later one (wrapped to the front of the block) first.
        const uint32_t a = slot_of(start);
        const uint32_t len = covered - start;
        const uint32_t first_len = std::min(len, capacity_ - a);
        fold_extremes(row, a, a + first_len, running_lo, running_hi);
        if (len > first_len) {
          fold_extremes(row, 0, len - first_len, running_lo, running_hi);
          add_moments(0, len - first_len);
        }
        add_moments(a, a + first_len);
        covered = start;
      }
      lo[w] = running_lo;
      hi[w] = running_hi;
      moments[w] = lanes.total();
    }
    // The channel's newest reading: the last statistic of every window holding any of its
    // readings (windows end at the newest reading). Looked for only when the longest window
    // holds one, and only within it.
    float last = 0.0f;
    if (running_lo <= running_hi) {
      for (uint32_t i = count_; i-- > covered;) {
        const float v = row[slot_of(i)];
        if (v == v) {
          last = v;
          break;
        }
      }
    }
    for (std::size_t w = 0; w < b.windows; ++w) {
      const Moments& s = moments[w];
      float* fw = f + vitals_feature_index(shape, w, c, WindowStat::last);
      const double n = s.n;
      if (n < 0.5) {
        std::fill(fw, fw + kWindowStatCount, 0.0f);
        continue;
      }
      assert(lo[w] <= hi[w] && "a channel with readings in a window has extremes in it");
      // The sums carry rounding residue of the order of 1e-16 times their magnitudes. A variance
      // within 1e-12 of the mean square is that residue (std 0); so is a time spread below
      // about 3e-6 of the time scale (no slope: the readings are one instant, e.g. within 30 ms
      // for 15-minute windows).
      const double inv_n = 1.0 / n;
      const double mean = s.v * inv_n;
      const double mean_square = s.vv * inv_n;
      const double var = mean_square - mean * mean;
      const double den = n * s.tt - s.t * s.t;
      const double num = n * s.tv - s.t * s.v;
      fw[static_cast<std::size_t>(WindowStat::last)] = last;
      fw[static_cast<std::size_t>(WindowStat::mean)] = static_cast<float>(mean);
      fw[static_cast<std::size_t>(WindowStat::std)] =
          var > 1e-12 * mean_square ? static_cast<float>(std::sqrt(var)) : 0.0f;
      fw[static_cast<std::size_t>(WindowStat::min)] = lo[w];
      fw[static_cast<std::size_t>(WindowStat::max)] = hi[w];
      fw[static_cast<std::size_t>(WindowStat::slope)] =
          n > 1.5 && den > n * n * min_spread ? static_cast<float>(num / den * 1e3) : 0.0f;
      fw[static_cast<std::size_t>(WindowStat::count)] = static_cast<float>(n);
    }
  }
}

std::size_t VitalsWindows::heap_bytes() const { return detail::allocation_bytes(block_bytes_); }

void VitalsWindows::clear() {
  block_.reset();
  block_bytes_ = 0;
  origin_ms_ = 0;
  evicted_until_ms_ = kNoTime;
  head_ = 0;
  count_ = 0;
  capacity_ = 0;
}

}  // namespace tfe
