// Incremental window statistics (see window_stats.h for the storage and the invariants).
//
// Hot paths: a reading touches its ring slot and the window sums (O(1)); the extremes are found
// when a snapshot asks for them, by one vector pass over each channel's row from the oldest slot
// of the longest window to the newest. At one reading a second a patient scores once per about
// sixty readings, so that pass over a row's consecutive floats costs less than keeping min/max
// structures up to date on every reading did, which had to visit ring slots far from the newest.

#include "engine/window_stats.h"

#include <array>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
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
// Sums per window and channel: count, sum v, sum v^2, sum t, sum t^2, sum t*v (t in seconds).
constexpr std::size_t kSums = 6;
enum SumIndex : std::size_t { kN, kV, kVV, kT, kTT, kTV };
// Ring time offsets are int32 milliseconds: readings further apart than this cannot share it.
constexpr int64_t kMaxSpanMs = int64_t{1} << 30;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

uint32_t low_mask(uint32_t n) { return n >= 32 ? ~uint32_t{0} : (uint32_t{1} << n) - 1; }

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

// One reading of one channel as the six sum increments (sign, sign*v, sign*v^2, sign*t,
// sign*t^2, sign*t*v), added to a window's sums with three two-wide additions.
struct Increments {
#if defined(__SSE2__)
  __m128d n_v, vv_t, tt_tv;
  Increments(double sign, double v, double t)
      : n_v(_mm_set_pd(sign * v, sign)),
        vv_t(_mm_set_pd(sign * t, sign * v * v)),
        tt_tv(_mm_set_pd(sign * t * v, sign * t * t)) {}
  void add_to(double* s) const {
    _mm_storeu_pd(s, _mm_add_pd(_mm_loadu_pd(s), n_v));
    _mm_storeu_pd(s + 2, _mm_add_pd(_mm_loadu_pd(s + 2), vv_t));
    _mm_storeu_pd(s + 4, _mm_add_pd(_mm_loadu_pd(s + 4), tt_tv));
  }
#else
  double d[kSums];
  Increments(double sign, double v, double t)
      : d{sign, sign * v, sign * v * v, sign * t, sign * t * t, sign * t * v} {}
  void add_to(double* s) const {
    for (std::size_t k = 0; k < kSums; ++k) s[k] += d[k];
  }
#endif
};

// The time origin moves forward once a reading is this far past it, so |t| in the sums stays
// below about this plus the longest window, and the int32 offsets hold it (four 7-day windows
// would be 28 days, past the 24.8 days of an int32 of milliseconds).
int64_t rebase_span_ms(const VitalsWindowsShape& shape) {
  return std::min(4 * std::max<int64_t>(shape.max_window_ms(), 60'000), kMaxSpanMs);
}

// A reading that leaves a window with a square this many times what the window keeps (or its
// count, for readings near zero) takes most of the sums' precision with it: the residue of the
// subtraction would outweigh the readings left, so the sums are rebuilt from the ring instead.
constexpr double kDominantSquare = 1e6;

// Largest |t| (ms from the origin) the sums hold: sets the scale of their rounding residue.
int64_t time_scale_ms(const VitalsWindowsShape& shape) {
  return rebase_span_ms(shape) + shape.max_window_ms();
}

}  // namespace

int64_t VitalsWindowsShape::max_window_ms() const {
  int64_t result = 0;
  for (int64_t w : windows_ms) result = std::max(result, w);
  return result;
}

// Typed views into block_ for one capacity. Order (largest alignment first): sums (double),
// starts (uint32), times (int32), values (float), masks (uint16).
struct VitalsWindows::Block {
  std::size_t windows = 0;
  std::size_t channels = 0;
  uint32_t stride = 0;  // floats per channel row: capacity rounded up to 4
  std::size_t bytes = 0;
  double* sums = nullptr;      // [W][C][kSums]
  uint32_t* starts = nullptr;  // [W] logical index of each window's oldest reading
  int32_t* times = nullptr;    // [capacity] event time - origin, ms
  float* values = nullptr;     // [C][stride] per channel row, NaN where not measured
  uint16_t* masks = nullptr;   // [capacity] channels measured

  double* sum(std::size_t w, std::size_t c) const { return sums + (w * channels + c) * kSums; }
  float* row(std::size_t c) const { return values + c * stride; }
  float value(uint32_t slot, std::size_t c) const { return values[c * stride + slot]; }
};

inline VitalsWindows::Block VitalsWindows::layout(const VitalsWindowsShape& shape,
                                                  uint32_t capacity, std::byte* base) {
  Block b;
  b.windows = shape.windows_ms.size();
  b.channels = shape.channels;
  b.stride = (capacity + 3) & ~3u;
  const std::size_t sums = 0;
  const std::size_t starts = sums + b.windows * b.channels * kSums * sizeof(double);
  const std::size_t times = starts + b.windows * sizeof(uint32_t);
  const std::size_t values = times + std::size_t{capacity} * sizeof(int32_t);
  const std::size_t masks = values + b.channels * b.stride * sizeof(float);
  b.bytes = align8(masks + std::size_t{capacity} * sizeof(uint16_t));
  if (base != nullptr) {
    b.sums = reinterpret_cast<double*>(base + sums);
    b.starts = reinterpret_cast<uint32_t*>(base + starts);
    b.times = reinterpret_cast<int32_t*>(base + times);
    b.values = reinterpret_cast<float*>(base + values);
    b.masks = reinterpret_cast<uint16_t*>(base + masks);
  }
  return b;
}

int64_t VitalsWindows::lower_bound_ms(int64_t window_ms) const {
  return evicted_until_ms_ == kNoTime ? std::numeric_limits<int64_t>::min()
                                      : evicted_until_ms_ - window_ms;
}

// Adds (sign +1) or removes (sign -1) the reading in ring slot s to the sums of window w.
bool VitalsWindows::accumulate(const Block& b, std::size_t w, uint32_t s, double sign) const {
  const double t = b.times[s] * 1e-3;
  bool imprecise = false;
  for (uint32_t mask = b.masks[s]; mask != 0; mask &= mask - 1) {
    const auto c = static_cast<std::size_t>(std::countr_zero(mask));
    double* sc = b.sum(w, c);
    const double v = b.value(s, c);
    Increments(sign, v, t).add_to(sc);
    // The window lost its last reading of this channel: restart its sums exactly at zero, so
    // that the rounding residue of add/remove pairs never outlives the readings.
    if (sc[kN] == 0) {
      std::fill(sc, sc + kSums, 0.0);
    } else if (sign < 0 && v * v > kDominantSquare * std::max(sc[kVV], sc[kN])) {
      imprecise = true;
    }
  }
  return imprecise;
}

void VitalsWindows::reserve(const VitalsWindowsShape& shape, uint32_t capacity) {
  std::unique_ptr<std::byte[]> previous = std::move(block_);
  const Block old = layout(shape, capacity_, previous.get());
  const Block sized = layout(shape, capacity, nullptr);
  block_ = std::make_unique_for_overwrite<std::byte[]>(sized.bytes);
  block_bytes_ = static_cast<uint32_t>(sized.bytes);
  const Block b = layout(shape, capacity, block_.get());
  // Samples are copied oldest first; sums and starts are recomputed by rebuild(). Every value
  // slot starts as NaN: the extremes' pass reads whole stretches of a row.
  std::fill(b.values, b.values + b.channels * b.stride, kNaN);
  if (previous) {
    for (uint32_t i = 0; i < count_; ++i) {
      const uint32_t from = slot_of(i);
      b.times[i] = old.times[from];
      b.masks[i] = old.masks[from];
      for (std::size_t c = 0; c < b.channels; ++c) b.row(c)[i] = old.value(from, c);
    }
  }
  head_ = 0;
  capacity_ = capacity;
  rebuild(shape);
}

void VitalsWindows::rebuild(const VitalsWindowsShape& shape) {
  const Block b = layout(shape, capacity_, block_.get());
  std::memset(b.sums, 0, b.windows * b.channels * kSums * sizeof(double));
  for (std::size_t w = 0; w < b.windows; ++w) {
    const int64_t lower = lower_bound_ms(shape.windows_ms[w]);
    uint32_t start = 0;
    while (start < count_ && origin_ms_ + b.times[slot_of(start)] < lower) ++start;
    b.starts[w] = start;
    for (uint32_t i = start; i < count_; ++i) accumulate(b, w, slot_of(i), +1);
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
  rebuild(shape);
}

void VitalsWindows::prefetch_ends(const VitalsWindowsShape& shape) const {
  const Block b = layout(shape, capacity_, block_.get());
  const auto line = [](const void* p) { __builtin_prefetch(p); };
  const auto lines = [&](const void* first, std::size_t bytes) {
    const auto* p = static_cast<const std::byte*>(first);
    for (std::size_t offset = 0; offset < bytes; offset += 64) line(p + offset);
    if (bytes > 0) line(p + bytes - 1);
  };
  lines(b.sums, b.windows * b.channels * kSums * sizeof(double));
  line(b.starts);
  // The next reading's slot (or, in a full ring, the oldest that it replaces) and the oldest.
  const uint32_t next = count_ < capacity_ ? slot_of(count_) : head_;
  for (const uint32_t slot : {next, head_}) {
    line(b.times + slot);
    line(b.masks + slot);
    for (std::size_t c = 0; c < b.channels; ++c) {
      line(b.row(c) + slot);
    }
  }
}

bool VitalsWindows::pop_front(const Block& b, uint32_t k) {
  bool imprecise = false;
  for (uint32_t i = 0; i < k; ++i) {
    const uint32_t s = head_;
    for (std::size_t w = 0; w < b.windows; ++w) {
      if (b.starts[w] == 0) {
        // Only when the ring is at its cap: the reading leaves a window it still belongs to.
        imprecise = accumulate(b, w, s, -1) || imprecise;
      } else {
        --b.starts[w];
      }
    }
    head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
    --count_;
  }
  if (count_ == 0) head_ = 0;
  return imprecise;
}

void VitalsWindows::append(const VitalsWindowsShape& shape, const Block& b, int64_t event_time_ms,
                           const VitalsReading& reading, uint32_t mask) {
  const uint32_t s = slot_of(count_);
  b.times[s] = static_cast<int32_t>(event_time_ms - origin_ms_);
  b.masks[s] = static_cast<uint16_t>(mask);
  for (std::size_t c = 0; c < b.channels; ++c) {
    b.row(c)[s] = (mask >> c & 1u) ? reading.values[c] : kNaN;
  }
  ++count_;
  uint32_t windows_in = 0;  // bit w: the reading is in window w
  for (std::size_t w = 0; w < b.windows; ++w) {
    if (event_time_ms >= lower_bound_ms(shape.windows_ms[w])) {
      windows_in |= 1u << w;
    } else {
      // Older than this window at the last eviction; so is everything before it (time order).
      b.starts[w] = count_;
    }
  }
  const double t = b.times[s] * 1e-3;
  for (uint32_t m = mask; m != 0; m &= m - 1) {
    const auto c = static_cast<std::size_t>(std::countr_zero(m));
    const Increments inc(1.0, reading.values[c], t);
    for (uint32_t in = windows_in; in != 0; in &= in - 1) {
      inc.add_to(b.sum(static_cast<std::size_t>(std::countr_zero(in)), c));
    }
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
    b.masks[to] = b.masks[from];
    for (std::size_t c = 0; c < b.channels; ++c) b.row(c)[to] = b.value(from, c);
  }
  const uint32_t s = slot_of(pos);
  b.times[s] = offset;
  b.masks[s] = static_cast<uint16_t>(mask);
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
        // At the cap the oldest leaves, possibly an outlier its windows still held.
        if (pop_front(layout(shape, capacity_, block_.get()), 1)) rebuild(shape);
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
      // Keep t (seconds from the origin) small in the sums; amortised O(1): at most once per
      // four window lengths of event time, over the readings of about one window.
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
  bool imprecise = false;
  for (std::size_t w = 0; w < b.windows; ++w) {
    const int64_t lower = now_ms - shape.windows_ms[w];
    uint32_t start = b.starts[w];
    while (start < count_) {
      const uint32_t s = slot_of(start);
      if (origin_ms_ + b.times[s] >= lower) break;
      imprecise = accumulate(b, w, s, -1) || imprecise;
      ++start;
    }
    b.starts[w] = start;
    min_start = std::min(min_start, start);
  }
  if (imprecise) rebuild(shape);  // an outlier (say 1e12 among readings near 70) has left
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
    // is one reallocation (a copy and a rebuild of the block) where growing by half took a
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
  const double time_scale_s = static_cast<double>(time_scale_ms(shape)) * 1e-3;
  const double min_spread = time_scale_s * time_scale_s * 1e-11;
  // Windows ordered by their oldest reading, newest first: all of them end at the newest
  // reading, so one backward pass over a row serves every window, each extending the extremes
  // of the window before it.
  constexpr std::size_t kMaxOrder = 32;  // windows_in of append() is a 32-bit set
  assert(b.windows <= kMaxOrder && "too many windows");
  std::array<uint32_t, kMaxOrder> order{};
  for (uint32_t w = 0; w < b.windows; ++w) {
    uint32_t i = w;
    for (; i > 0 && b.starts[order[i - 1]] < b.starts[w]; --i) order[i] = order[i - 1];
    order[i] = w;
  }
  std::array<float, kMaxOrder> lo{};
  std::array<float, kMaxOrder> hi{};
  for (std::size_t c = 0; c < b.channels; ++c) {
    const float* row = b.row(c);
    float running_lo = std::numeric_limits<float>::infinity();
    float running_hi = -std::numeric_limits<float>::infinity();
    uint32_t covered = count_;  // logical [covered, count_) is folded in
    for (std::size_t k = 0; k < b.windows; ++k) {
      const uint32_t w = order[k];
      const uint32_t start = std::min(b.starts[w], count_);
      if (start < covered) {
        // Logical [start, covered) as at most two physical stretches of the ring.
        const uint32_t a = slot_of(start);
        const uint32_t len = covered - start;
        const uint32_t first_len = std::min(len, capacity_ - a);
        fold_extremes(row, a, a + first_len, running_lo, running_hi);
        if (len > first_len) fold_extremes(row, 0, len - first_len, running_lo, running_hi);
        covered = start;
      }
      lo[w] = running_lo;
      hi[w] = running_hi;
    }
    // The channel's newest reading: the last statistic of every window holding any of its
    // readings (windows end at the newest reading). Looked for only when the longest window
    // holds one, and only within it, so a channel that is rarely or never measured costs no walk
    // over the whole ring.
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
      const double* s = b.sum(w, c);
      float* fw = f + vitals_feature_index(shape, w, c, WindowStat::last);
      const double n = s[kN];
      if (n < 0.5) {
        std::fill(fw, fw + kWindowStatCount, 0.0f);
        continue;
      }
      assert(lo[w] <= hi[w] && "a channel with readings in a window has extremes in it");
      // Running sums carry rounding residue of the order of 1e-16 times the magnitudes they
      // have held since the last rebuild. A variance within 1e-12 of the mean square is that
      // residue (std 0); so is a time spread below about 3e-6 of the time scale (no slope: the
      // readings are one instant, e.g. within 30 ms for 15-minute windows).
      const double inv_n = 1.0 / n;
      const double mean = s[kV] * inv_n;
      const double mean_square = s[kVV] * inv_n;
      const double var = mean_square - mean * mean;
      const double den = n * s[kTT] - s[kT] * s[kT];
      const double num = n * s[kTV] - s[kT] * s[kV];
      fw[static_cast<std::size_t>(WindowStat::last)] = last;
      fw[static_cast<std::size_t>(WindowStat::mean)] = static_cast<float>(mean);
      fw[static_cast<std::size_t>(WindowStat::std)] =
          var > 1e-12 * mean_square ? static_cast<float>(std::sqrt(var)) : 0.0f;
      fw[static_cast<std::size_t>(WindowStat::min)] = lo[w];
      fw[static_cast<std::size_t>(WindowStat::max)] = hi[w];
      fw[static_cast<std::size_t>(WindowStat::slope)] =
          n > 1.5 && den > n * n * min_spread ? static_cast<float>(num / den) : 0.0f;
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
