// Window statistics against a naive recomputation over every reading.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/window_stats.h"

namespace tfe {
namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;

struct Reading {
  int64_t time_ms;
  uint32_t mask;
  std::array<float, kMaxChannels> values;
  uint64_t order;  // application order: breaks ties in event time
};

// Statistics of channel c over the readings with time >= t - window, recomputed from scratch
// with two-pass formulas.
std::array<double, kWindowStatCount> naive_stats(const std::vector<Reading>& readings, int64_t t,
                                                 int64_t window, uint32_t c) {
  std::vector<const Reading*> in;
  for (const Reading& r : readings) {
    if ((r.mask >> c & 1u) && r.time_ms >= t - window) in.push_back(&r);
  }
  std::array<double, kWindowStatCount> s{};
  if (in.empty()) return s;
  std::stable_sort(in.begin(), in.end(), [](const Reading* a, const Reading* b) {
    return a->time_ms != b->time_ms ? a->time_ms < b->time_ms : a->order < b->order;
  });
  const double n = static_cast<double>(in.size());
  double mean = 0, mean_t = 0;
  double lo = in[0]->values[c], hi = in[0]->values[c];
  for (const Reading* r : in) {
    mean += r->values[c];
    mean_t += static_cast<double>(r->time_ms) / 1000.0;
    lo = std::min<double>(lo, r->values[c]);
    hi = std::max<double>(hi, r->values[c]);
  }
  mean /= n;
  mean_t /= n;
  double var = 0, stt = 0, stv = 0;
  for (const Reading* r : in) {
    const double dv = r->values[c] - mean;
    const double dt = static_cast<double>(r->time_ms) / 1000.0 - mean_t;
    var += dv * dv;
    stt += dt * dt;
    stv += dt * dv;
  }
  s[static_cast<std::size_t>(WindowStat::last)] = in.back()->values[c];
  s[static_cast<std::size_t>(WindowStat::mean)] = mean;
  s[static_cast<std::size_t>(WindowStat::std)] = std::sqrt(var / n);
  s[static_cast<std::size_t>(WindowStat::min)] = lo;
  s[static_cast<std::size_t>(WindowStat::max)] = hi;
  s[static_cast<std::size_t>(WindowStat::slope)] = stt > 0 ? stv / stt : 0.0;
  s[static_cast<std::size_t>(WindowStat::count)] = n;
  return s;
}

// Compares write_features() with the naive statistics at time t; returns "" when equal.
std::string compare(const VitalsWindowsShape& shape, const VitalsWindows& windows,
                    const std::vector<Reading>& readings, int64_t t) {
  std::vector<float> features(shape.feature_count(), -1.0f);
  windows.write_features(shape, features);
  for (std::size_t w = 0; w < shape.windows_ms.size(); ++w) {
    for (uint32_t c = 0; c < shape.channels; ++c) {
      const auto expected = naive_stats(readings, t, shape.windows_ms[w], c);
      for (std::size_t k = 0; k < kWindowStatCount; ++k) {
        const double got = features[vitals_feature_index(shape, w, c, static_cast<WindowStat>(k))];
        const double want = expected[k];
        const auto stat = static_cast<WindowStat>(k);
        // Order statistics are copies of readings: exact. Moments carry rounding.
        const bool exact = stat == WindowStat::last || stat == WindowStat::min ||
                           stat == WindowStat::max || stat == WindowStat::count;
        const double tolerance = exact ? 0.0 : 2e-4 * (1.0 + std::abs(want));
        if (!std::isfinite(got) || std::abs(got - want) > tolerance) {
          return "t=" + std::to_string(t) + " window=" + std::to_string(shape.windows_ms[w]) +
                 " channel=" + std::to_string(c) + " stat=" + std::to_string(k) +
                 " got=" + std::to_string(got) + " want=" + std::to_string(want);
        }
      }
    }
  }
  return "";
}

struct StreamCase {
  const char* name;
  std::vector<int64_t> windows_ms;
  uint32_t channels;
  int64_t mean_step_ms;         // mean spacing of readings
  double partial_probability;   // a reading measures a random subset of channels
  double disorder_probability;  // a reading arrives with an earlier event time than the newest
  double gap_probability;       // a long silence (longer than every window)
  int readings;
  uint32_t seed;
};

class WindowStatsRandom : public ::testing::TestWithParam<StreamCase> {};

TEST_P(WindowStatsRandom, MatchesNaiveRecomputation) {
  const StreamCase& param = GetParam();
  VitalsWindowsShape shape;
  shape.windows_ms = param.windows_ms;
  shape.channels = param.channels;
  shape.max_samples = 1 << 16;
  std::mt19937_64 rng(param.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<float> noise(0.0f, 5.0f);

  VitalsWindows windows;
  std::vector<Reading> readings;
  int64_t now = 1'700'000'000'000;  // arrival clock
  int64_t newest = now;
  int compared = 0;
  for (int i = 0; i < param.readings; ++i) {
    // Advance the arrival clock: ordinary steps, now and then a silence of hours or days.
    int64_t step =
        1 + static_cast<int64_t>(unit(rng) * 2.0 * static_cast<double>(param.mean_step_ms));
    if (unit(rng) < param.gap_probability)
      step += static_cast<int64_t>(unit(rng) * 3 * 86'400'000.0);
    now += step;
    // A snapshot at some time between the previous arrival and this one.
    if (unit(rng) < 0.2) {
      const int64_t t = now - static_cast<int64_t>(unit(rng) * static_cast<double>(step));
      windows.evict(shape, t);
      const std::string diff = compare(shape, windows, readings, t);
      ASSERT_EQ(diff, "") << param.name << " after " << i << " readings";
      ++compared;
    }
    Reading r;
    r.order = static_cast<uint64_t>(i);
    r.time_ms = now;
    if (unit(rng) < param.disorder_probability) {
      r.time_ms -= static_cast<int64_t>(unit(rng) * 2.0 * static_cast<double>(param.windows_ms[0]));
    }
    // Device clocks stamp at most tenths of seconds; whole seconds half the time, so that ties
    // in event time happen too. (Readings closer than ~1e-6 of the window count as one instant
    // for the slope; see window_stats.h.)
    r.time_ms -= r.time_ms % (unit(rng) < 0.5 ? kSecond : kSecond / 10);
    newest = std::max(newest, r.time_ms);
    r.mask = (1u << param.channels) - 1;
    if (unit(rng) < param.partial_probability) {
      r.mask = static_cast<uint32_t>(rng()) & r.mask;
      if (r.mask == 0) r.mask = 1u << (rng() % param.channels);
    }
    r.values.fill(0);
    for (uint32_t c = 0; c < param.channels; ++c) {
      // Levels in the range of vitals, with a drift, noise and repeated values for ties.
      float v = 20.0f * static_cast<float>(c + 1) + noise(rng) +
                static_cast<float>((now / kMinute) % 50) * 0.1f;
      if (unit(rng) < 0.2) v = std::round(v);
      r.values[c] = v;
    }
    VitalsReading reading;
    reading.present_mask = r.mask;
    reading.values = r.values;
    // Mostly without eviction at arrival (as the engine does), sometimes with.
    if (i % 3 == 0) windows.evict(shape, now);
    windows.add(shape, now, r.time_ms, reading);
    readings.push_back(r);
    // The naive side never needs readings older than every window at the current clock.
    if (readings.size() > 4096) {
      const int64_t keep_from = now - shape.max_window_ms();
      std::erase_if(readings, [&](const Reading& x) { return x.time_ms < keep_from; });
    }
  }
  const int64_t t = now + 1;
  windows.evict(shape, t);
  ASSERT_EQ(compare(shape, windows, readings, t), "") << param.name << " at the end";
  EXPECT_GT(compared, param.readings / 10) << "the stream compared too few snapshots";
}

INSTANTIATE_TEST_SUITE_P(
    Streams, WindowStatsRandom,
    ::testing::Values(
        // The default shape: six channels, 5 and 15 minutes, a reading a minute (ward).
        StreamCase{"ward", {5 * kMinute, 15 * kMinute}, 6, kMinute, 0.3, 0.0, 0.002, 4000, 1},
        // One reading a second: rings of about 900 readings, wrapped around many times.
        StreamCase{"icu", {5 * kMinute, 15 * kMinute}, 6, kSecond, 0.2, 0.0, 0.0, 6000, 2},
        // Readings out of event-time order, partial channels, three windows.
        StreamCase{"disorder",
                   {30 * kSecond, 2 * kMinute, 10 * kMinute},
                   4,
                   10 * kSecond,
                   0.5,
                   0.15,
                   0.003,
                   5000,
                   3},
        // Sparse readings over weeks: the time origin is re-based many times.
        StreamCase{
            "long_span", {15 * kMinute, 60 * kMinute}, 3, 20 * kMinute, 0.3, 0.05, 0.02, 3000, 4},
        // Sixteen channels, a single window, always partial.
        StreamCase{"wide", {3 * kMinute}, 16, 5 * kSecond, 1.0, 0.02, 0.0, 3000, 5},
        // One reading a second with silences: rings sized from the cadence, emptied by a
        // silence (they shrink) and sized again, with readings out of order.
        StreamCase{
            "icu_silences", {5 * kMinute, 15 * kMinute}, 6, kSecond, 0.2, 0.05, 0.002, 8000, 6},
        // Windows not in length order, mostly partial readings at 1 Hz: the extremes' one pass
        // over a row orders the windows itself, and a channel's newest reading lies far back.
        StreamCase{"unordered_windows",
                   {15 * kMinute, 30 * kSecond, 5 * kMinute},
                   5,
                   kSecond,
                   0.9,
                   0.01,
                   0.001,
                   6000,
                   7}),
    [](const ::testing::TestParamInfo<StreamCase>& info) { return std::string(info.param.name); });

VitalsReading reading(std::initializer_list<std::pair<int, float>> values) {
  VitalsReading r;
  r.values.fill(0);
  for (auto [c, v] : values) {
    r.present_mask |= 1u << c;
    r.values[static_cast<std::size_t>(c)] = v;
  }
  return r;
}

float stat(const VitalsWindowsShape& shape, const std::vector<float>& f, std::size_t w,
           std::size_t c, WindowStat s) {
  return f[vitals_feature_index(shape, w, c, s)];
}

TEST(WindowStats, AbsentChannelKeepsItsWindowState) {
  VitalsWindowsShape shape{{5 * kMinute}, 2, 64};
  VitalsWindows windows;
  windows.add(shape, 0, 0, reading({{0, 10.0f}, {1, 1.0f}}));
  windows.add(shape, kMinute, kMinute, reading({{0, 20.0f}}));  // channel 1 not measured
  windows.evict(shape, 2 * kMinute);
  std::vector<float> f(shape.feature_count());
  windows.write_features(shape, f);
  EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::count), 2.0f);
  EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::last), 20.0f);
  EXPECT_NEAR(stat(shape, f, 0, 0, WindowStat::slope), 10.0 / 60.0, 1e-6);
  EXPECT_EQ(stat(shape, f, 0, 1, WindowStat::count), 1.0f);
  EXPECT_EQ(stat(shape, f, 0, 1, WindowStat::last), 1.0f);
  EXPECT_EQ(stat(shape, f, 0, 1, WindowStat::slope), 0.0f);
}

// The statistics are a function of the readings the windows hold, bit for bit: a ring that began
// hours earlier (one pass) and one that began a window before (a restore) agree exactly, whatever
// readings came and left the first one meanwhile.
TEST(WindowStats, SameReadingsHeldGiveTheSameBitsWhateverCameBefore) {
  VitalsWindowsShape shape{{5 * kMinute, 15 * kMinute}, 3, 4096};
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  VitalsWindows long_run;
  VitalsWindows restored;
  const int64_t restore_ms = 3 * 3600 * kSecond;
  int compared = 0;
  for (int64_t t = 0; t < 4 * 3600 * kSecond; t += kSecond) {
    // Readings up to three seconds out of event-time order, of very different magnitudes.
    const int64_t event_ms = t - static_cast<int64_t>(unit(rng) * 3000);
    const VitalsReading r =
        reading({{0, 36 + unit(rng)}, {1, 5000 + 10 * unit(rng)}, {2, unit(rng) * 1e-3f + 1e-4f}});
    long_run.add(shape, t, event_ms, r);
    if (t >= restore_ms - 16 * kMinute) restored.add(shape, t, event_ms, r);
    if (t % kMinute == 0 && t >= restore_ms - 15 * kMinute) {
      long_run.evict(shape, t);
      restored.evict(shape, t);
      if (t < restore_ms) continue;
      std::vector<float> a(shape.feature_count()), b(shape.feature_count());
      long_run.write_features(shape, a);
      restored.write_features(shape, b);
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << "t=" << t;
      ++compared;
    } else if (t % kMinute == 0) {
      long_run.evict(shape, t);
    }
  }
  EXPECT_EQ(compared, 60);
}

TEST(WindowStats, EmptyWindowGivesZerosNotNaN) {
  VitalsWindowsShape shape{{kMinute, 10 * kMinute}, 1, 64};
  VitalsWindows windows;
  windows.add(shape, 0, 0, reading({{0, 37.5f}}));
  windows.evict(shape, 5 * kMinute);  // out of the 1-minute window, inside the 10-minute one
  std::vector<float> f(shape.feature_count(), -1.0f);
  windows.write_features(shape, f);
  for (std::size_t k = 0; k < kWindowStatCount; ++k) {
    EXPECT_EQ(f[vitals_feature_index(shape, 0, 0, static_cast<WindowStat>(k))], 0.0f) << k;
  }
  EXPECT_EQ(stat(shape, f, 1, 0, WindowStat::count), 1.0f);
  EXPECT_EQ(stat(shape, f, 1, 0, WindowStat::mean), 37.5f);
  // At exactly t - W the reading is still in (age <= W); one millisecond later it is out.
  windows.evict(shape, 10 * kMinute);
  windows.write_features(shape, f);
  EXPECT_EQ(stat(shape, f, 1, 0, WindowStat::count), 1.0f);
  windows.evict(shape, 10 * kMinute + 1);
  windows.write_features(shape, f);
  EXPECT_EQ(stat(shape, f, 1, 0, WindowStat::count), 0.0f);
  EXPECT_EQ(windows.samples(), 0u);
}

TEST(WindowStats, EvictionKeepsASmallRingsCapacity) {
  VitalsWindowsShape shape{{kMinute}, 1, 4096};
  VitalsWindows windows;
  // All applied at time 0: nothing can be evicted before the ring holds them all.
  for (int i = 0; i < 30; ++i) windows.add(shape, 0, 2 * i * kSecond, reading({{0, float(i)}}));
  EXPECT_EQ(windows.samples(), 30u);
  const std::size_t bytes = windows.heap_bytes();
  EXPECT_GT(bytes, 30u * 8);
  windows.evict(shape, 200 * kSecond);
  EXPECT_EQ(windows.samples(), 0u);
  EXPECT_EQ(windows.heap_bytes(), bytes);
  windows.clear();
  EXPECT_EQ(windows.heap_bytes(), 0u);
}

// The heap sizes a ring takes while readings arrive every step_ms from from_ms to to_ms, each
// evicting first as the engine does.
std::vector<std::size_t> ring_sizes(const VitalsWindowsShape& shape, VitalsWindows& windows,
                                    int64_t from_ms, int64_t to_ms, int64_t step_ms) {
  std::vector<std::size_t> sizes;
  for (int64_t t = from_ms; t < to_ms; t += step_ms) {
    windows.evict(shape, t);
    windows.add(shape, t, t, reading({{0, float(t % 97)}}));
    if (sizes.empty() || sizes.back() != windows.heap_bytes())
      sizes.push_back(windows.heap_bytes());
  }
  return sizes;
}

TEST(WindowStats, AFullRingGrowsToWhatItsCadenceNeedsInOneStep) {
  // A 1 Hz monitor and a 15-minute window: 901 readings in the window. Growing by half from 4
  // slots took a dozen reallocations; from 8 readings on the cadence sets the size.
  VitalsWindowsShape shape{{15 * kMinute}, 1, 4096};
  VitalsWindows windows;
  const auto sizes = ring_sizes(shape, windows, 0, 30 * kMinute, kSecond);
  ASSERT_EQ(sizes.size(), 3u);  // 4 slots, 8, then the cadence's
  EXPECT_EQ(windows.samples(), 901u);
  EXPECT_GE(sizes.back(), 901u * 8);
  EXPECT_LT(sizes.back(), 901u * 8 * 2);
  std::vector<float> f(shape.feature_count());
  windows.write_features(shape, f);
  EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::count), 901.0f);
}

TEST(WindowStats, ARingSizedByABurstGivesItsSpareBackOnceReadingsLeave) {
  // Eight readings 10 ms apart size the ring for 100 readings a second (the cap); then one a
  // minute. Once the burst has left the window, the ring shrinks to what a minute's cadence needs.
  VitalsWindowsShape shape{{15 * kMinute}, 1, 4096};
  VitalsWindows windows;
  const auto burst = ring_sizes(shape, windows, 0, 90, 10);
  const std::size_t peak = burst.back();
  EXPECT_GE(peak, 4096u * 8);
  const auto later = ring_sizes(shape, windows, kMinute, 40 * kMinute, kMinute);
  EXPECT_LT(later.back(), peak / 10);
  EXPECT_EQ(windows.samples(), 16u);  // 24 to 39 minutes
  std::vector<float> f(shape.feature_count());
  windows.write_features(shape, f);
  EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::count), 16.0f);
  EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::last), float((39 * kMinute) % 97));
}

TEST(WindowStats, CapDropsTheOldestReadingEarly) {
  VitalsWindowsShape shape{{kMinute * 60}, 1, 8};
  VitalsWindows windows;
  for (int i = 0; i < 20; ++i) {
    windows.add(shape, i * kSecond, i * kSecond, reading({{0, float(i)}}));
  }
  windows.evict(shape, 20 * kSecond);
  std::vector<float> f(shape.feature_count());
  windows.write_features(shape, f);
  EXPECT_EQ(windows.samples(), 8u);
  EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::count), 8.0f);
  EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::min), 12.0f);
  EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::max), 19.0f);
  EXPECT_NEAR(stat(shape, f, 0, 0, WindowStat::mean), 15.5f, 1e-5);
  EXPECT_NEAR(stat(shape, f, 0, 0, WindowStat::slope), 1.0f, 1e-5);
}

TEST(WindowStats, ReadingOlderThanEveryWindowIsDropped) {
  VitalsWindowsShape shape{{kMinute}, 1, 64};
  VitalsWindows windows;
  windows.evict(shape, 10 * kMinute);
  windows.add(shape, 10 * kMinute, 8 * kMinute, reading({{0, 1.0f}}));
  EXPECT_EQ(windows.samples(), 0u);
  windows.add(shape, 10 * kMinute, 9 * kMinute + 30 * kSecond, reading({{0, 2.0f}}));
  EXPECT_EQ(windows.samples(), 1u);
}

// A huge (finite, valid) reading leaves the window: the statistics of what is left are those of
// a window that never held it, not the residue of subtracting its square from the sums.
TEST(WindowStats, AnOutlierLeavesNoTraceOnceItHasLeftTheWindow) {
  VitalsWindowsShape shape{{5 * kMinute}, 1, 4096};
  VitalsWindows with_outlier;
  VitalsWindows control;
  std::vector<Reading> readings;
  for (int i = 0; i <= 114; ++i) {
    const int64_t t = i * 10 * kSecond;
    const float v = 70.0f + static_cast<float>(i % 3);
    with_outlier.add(shape, t, t, reading({{0, i == 30 ? 1e12f : v}}));
    control.add(shape, t, t, reading({{0, v}}));
    readings.push_back({t, 1u, {v}, static_cast<uint64_t>(i)});
  }
  const int64_t now = 114 * 10 * kSecond;  // the outlier (at 300 s) left at 600 s
  with_outlier.evict(shape, now);
  control.evict(shape, now);
  std::vector<float> f(shape.feature_count());
  std::vector<float> g(shape.feature_count());
  with_outlier.write_features(shape, f);
  control.write_features(shape, g);
  EXPECT_NEAR(stat(shape, f, 0, 0, WindowStat::std), stat(shape, g, 0, 0, WindowStat::std), 1e-4);
  EXPECT_NEAR(stat(shape, f, 0, 0, WindowStat::slope), stat(shape, g, 0, 0, WindowStat::slope),
              1e-6);
  EXPECT_EQ(compare(shape, with_outlier, readings, now), "");
  // The same when the ring's cap, not the window, pushes the outlier out: the window still held
  // it.
  VitalsWindowsShape capped{{60 * kMinute}, 1, 8};
  VitalsWindows capped_outlier;
  VitalsWindows capped_control;
  for (int i = 0; i < 40; ++i) {
    const int64_t t = i * 10 * kSecond;
    const float v = 70.0f + static_cast<float>(i % 3);
    capped_outlier.add(capped, t, t, reading({{0, i == 20 ? 1e12f : v}}));
    capped_control.add(capped, t, t, reading({{0, v}}));
  }
  std::vector<float> h(capped.feature_count());
  std::vector<float> k(capped.feature_count());
  capped_outlier.write_features(capped, h);
  capped_control.write_features(capped, k);
  EXPECT_EQ(stat(capped, h, 0, 0, WindowStat::count), 8.0f);
  EXPECT_NEAR(stat(capped, h, 0, 0, WindowStat::std), stat(capped, k, 0, 0, WindowStat::std), 1e-4);
  EXPECT_NEAR(stat(capped, h, 0, 0, WindowStat::slope), stat(capped, k, 0, 0, WindowStat::slope),
              1e-6);
}

// Seven-day windows (the longest allowed) over a month: the readings' int32 time offsets never
// wrap, so the statistics at each day match a naive recomputation.
TEST(WindowStats, SevenDayWindowsOverAMonthKeepTheirTimes) {
  constexpr int64_t kHour = 60 * kMinute;
  VitalsWindowsShape shape{{7 * 24 * kHour}, 1, 4096};
  VitalsWindows windows;
  std::vector<Reading> readings;
  for (int h = 0; h <= 30 * 24; ++h) {
    const int64_t t = h * kHour;
    const float v = 50.0f * static_cast<float>(h);  // a steep trend: the slope shows the times
    windows.add(shape, t, t, reading({{0, v}}));
    readings.push_back({t, 1u, {v}, static_cast<uint64_t>(h)});
    if (h % 24 == 0 || h > 596) {  // and every hour once past 2^31 ms
      windows.evict(shape, t);
      EXPECT_EQ(compare(shape, windows, readings, t), "") << "day " << h / 24;
    }
  }
}

// A reading far older than the newest ones (beyond any window of them) cannot count: it is
// dropped, and the readings the windows hold stay.
TEST(WindowStats, AFarOlderReadingLeavesTheNewerOnesInPlace) {
  constexpr int64_t kDay = 24 * 60 * kMinute;
  VitalsWindowsShape shape{{5 * kMinute}, 1, 64};
  VitalsWindows windows;
  const int64_t t0 = 20 * kDay;
  windows.add(shape, t0, t0, reading({{0, 80.0f}}));
  windows.add(shape, t0 + kSecond, t0 - 13 * kDay, reading({{0, 140.0f}}));
  windows.add(shape, t0 + 2 * kMinute, t0 + 2 * kMinute, reading({{0, 82.0f}}));
  windows.evict(shape, t0 + 2 * kMinute);
  std::vector<float> f(shape.feature_count());
  windows.write_features(shape, f);
  EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::count), 2.0f);
  EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::min), 80.0f);
  EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::max), 82.0f);
  // And a reading far newer than the oldest keeps those still within a window of it.
  VitalsWindowsShape week{{7 * kDay}, 1, 64};
  VitalsWindows long_windows;
  long_windows.add(week, 0, 0, reading({{0, 1.0f}}));
  long_windows.add(week, 6 * kDay, 6 * kDay, reading({{0, 2.0f}}));
  long_windows.add(week, 13 * kDay, 13 * kDay, reading({{0, 3.0f}}));  // 13 days after the first
  long_windows.evict(week, 13 * kDay);
  long_windows.write_features(week, f);
  EXPECT_EQ(stat(week, f, 0, 0, WindowStat::count), 2.0f);
  EXPECT_EQ(stat(week, f, 0, 0, WindowStat::min), 2.0f);
}

TEST(WindowStats, MinMaxFollowTheWindowAcrossEvictions) {
  // Decreasing then increasing values: each window's extremes leave with their readings.
  VitalsWindowsShape shape{{3 * kSecond, 6 * kSecond}, 1, 64};
  VitalsWindows windows;
  const float values[] = {9, 7, 5, 3, 1, 2, 4, 6, 8, 10, 0, 5};
  std::vector<float> f(shape.feature_count());
  for (int i = 0; i < 12; ++i) {
    windows.evict(shape, i * kSecond);
    windows.add(shape, i * kSecond, i * kSecond, reading({{0, values[i]}}));
    windows.write_features(shape, f);
    float lo3 = 1e9f, hi3 = -1e9f, lo6 = 1e9f, hi6 = -1e9f;
    for (int j = std::max(0, i - 3); j <= i; ++j)
      lo3 = std::min(lo3, values[j]), hi3 = std::max(hi3, values[j]);
    for (int j = std::max(0, i - 6); j <= i; ++j)
      lo6 = std::min(lo6, values[j]), hi6 = std::max(hi6, values[j]);
    EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::min), lo3) << i;
    EXPECT_EQ(stat(shape, f, 0, 0, WindowStat::max), hi3) << i;
    EXPECT_EQ(stat(shape, f, 1, 0, WindowStat::min), lo6) << i;
    EXPECT_EQ(stat(shape, f, 1, 0, WindowStat::max), hi6) << i;
  }
}

}  // namespace
}  // namespace tfe
