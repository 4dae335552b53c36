#include "engine/metrics.h"

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace tfe {
namespace {

TEST(Metrics, CounterAndGaugeExposition) {
  MetricsRegistry registry;
  auto& events =
      registry.counter_family("tfe_events_in_total", "Events decoded, by modality", {"modality"});
  events.with({"wearables"}).inc(3);
  events.with({"notes"}).inc();
  registry.gauge("tfe_engine_clock_seconds", "Engine clock").set(1.5);

  EXPECT_EQ(registry.render(),
            "# HELP tfe_events_in_total Events decoded, by modality\n"
            "# TYPE tfe_events_in_total counter\n"
            "tfe_events_in_total{modality=\"notes\"} 1\n"
            "tfe_events_in_total{modality=\"wearables\"} 3\n"
            "# HELP tfe_engine_clock_seconds Engine clock\n"
            "# TYPE tfe_engine_clock_seconds gauge\n"
            "tfe_engine_clock_seconds 1.5\n");
}

TEST(Metrics, SeriesAddressesAreStableAndShared) {
  MetricsRegistry registry;
  Counter& a = registry.counter_family("c_total", "c", {"k"}).with({"x"});
  Counter& b = registry.counter_family("c_total", "c", {"k"}).with({"x"});
  EXPECT_EQ(&a, &b);
  for (int i = 0; i < 100; ++i)
    registry.counter_family("c_total", "c", {"k"}).with({std::to_string(i)});
  a.inc(7);
  EXPECT_EQ(b.value(), 7u);
}

TEST(Metrics, HistogramIsCumulativeWithInf) {
  MetricsRegistry registry;
  Histogram& h = registry.histogram("lat_seconds", "Latency", {0.001, 0.01, 0.1});
  h.observe(0.0005);
  h.observe(0.001);  // bounds are inclusive
  h.observe(0.05);
  h.observe(3.0);
  const std::string text = registry.render();
  EXPECT_NE(text.find("# TYPE lat_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.001\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.01\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_sum 3.0515\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_count 4\n"), std::string::npos) << text;
}

TEST(Metrics, LabelledHistogramPutsLeLast) {
  MetricsRegistry registry;
  registry.histogram_family("h", "h", {1.0}, {"stage"}).with({"emit"}).observe(0.5);
  const std::string text = registry.render();
  EXPECT_NE(text.find("h_bucket{stage=\"emit\",le=\"1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_count{stage=\"emit\"} 1\n"), std::string::npos) << text;
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  MetricsRegistry registry;
  registry.counter_family("e_total", "line one\nback\\slash", {"v"}).with({"a\"b\\c\nd"}).inc();
  const std::string text = registry.render();
  EXPECT_NE(text.find("# HELP e_total line one\\nback\\\\slash\n"), std::string::npos) << text;
  EXPECT_NE(text.find("e_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
}

TEST(Metrics, SpecialGaugeValues) {
  MetricsRegistry registry;
  registry.gauge("g_inf", "g").set(1.0 / 0.0);
  registry.gauge("g_neg", "g").set(-2.25);
  const std::string text = registry.render();
  EXPECT_NE(text.find("g_inf +Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g_neg -2.25\n"), std::string::npos) << text;
}

TEST(Metrics, MisuseIsRejected) {
  MetricsRegistry registry;
  EXPECT_THROW(registry.counter("9bad", "x"), std::invalid_argument);
  EXPECT_THROW(registry.counter_family("ok_total", "x", {"le"}), std::invalid_argument);
  registry.counter_family("ok_total", "x", {"a"});
  EXPECT_THROW(registry.gauge_family("ok_total", "x", {"a"}), std::invalid_argument);
  EXPECT_THROW(registry.counter_family("ok_total", "x", {"b"}), std::invalid_argument);
  EXPECT_THROW(registry.counter_family("ok_total", "x", {"a"}).with({"1", "2"}),
               std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "x", {2.0, 1.0}), std::invalid_argument);
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry;
  Counter& c = registry.counter("n_total", "n");
  Histogram& h = registry.histogram("v", "v", exponential_buckets(1, 2, 4));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(3);
      }
    });
  }
  // Rendering while others update must be safe (and sanitizer-clean).
  for (int i = 0; i < 10; ++i) (void)registry.render();
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_EQ(s.counts[2], 40000u);  // bounds 1, 2, 4, 8: 3 lands in (2, 4]
  EXPECT_DOUBLE_EQ(s.sum, 120000.0);
}

}  // namespace
}  // namespace tfe
