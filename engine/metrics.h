#pragma once
// A small metrics registry: counters, gauges and fixed-bucket histograms, optionally labelled,
// rendered in the Prometheus text exposition format (version 0.0.4).
//
// Hot path: a series (one label combination of a family) is looked up once, and its address is
// kept; updating it is one or two relaxed atomic operations, lock-free, from any thread. The
// registry's mutex guards only the creation of families and series and the rendering.
//
//   MetricsRegistry registry;
//   Counter& in = registry.counter_family("tfe_events_in_total", "Events decoded",
//                                         {"modality"}).with({"wearables"});
//   in.inc();
//   std::string text = registry.render();

#include <atomic>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tfe {

// A monotonically increasing count.
class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts of observations in fixed buckets (upper bounds, inclusive, ascending; +Inf implied),
// plus their sum.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<double> upper_bounds;  // [buckets]
    std::vector<uint64_t> counts;      // [buckets + 1], not cumulative; last is (bound, +Inf)
    double sum = 0;
    uint64_t count = 0;
  };
  // Not atomic as a whole: concurrent observations may land in some fields and not yet others.
  Snapshot snapshot() const;
  const std::vector<double>& upper_bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // [bounds_.size() + 1]
  std::atomic<double> sum_{0.0};
};

// Bucket bounds: `count` bounds from `start`, each `factor` times the previous.
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);

enum class MetricType : uint8_t { counter, gauge, histogram };

namespace detail {
// Checks a metric or label name against the Prometheus rules; throws std::invalid_argument
// (a programmer error: names are constants).
void check_metric_name(std::string_view name);
void check_label_name(std::string_view name);
}  // namespace detail

// All series of one metric name, one per combination of label values.
template <class M>
class Family {
 public:
  // The series for these label values (as many as the family has label names), created on first
  // use. The reference stays valid as long as the registry. Takes the family's lock: keep the
  // result rather than calling this per event.
  M& with(std::initializer_list<std::string_view> label_values);
  M& with(const std::vector<std::string>& label_values);

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Families are made by MetricsRegistry; `bounds` for histograms only.
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

 private:
  friend class MetricsRegistry;
  M& get(std::vector<std::string> values);
  void render(std::string& out, MetricType type) const;

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> series_;  // by label values
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registering a name again with the same type and label names returns the existing family;
  // with a different type or labels it throws std::invalid_argument (a programmer error).
  Family<Counter>& counter_family(std::string_view name, std::string_view help,
                                  std::vector<std::string> label_names);
  Family<Gauge>& gauge_family(std::string_view name, std::string_view help,
                              std::vector<std::string> label_names);
  Family<Histogram>& histogram_family(std::string_view name, std::string_view help,
                                      std::vector<double> upper_bounds,
                                      std::vector<std::string> label_names);

  // Unlabelled metrics: the family's single series.
  Counter& counter(std::string_view name, std::string_view help);
  Gauge& gauge(std::string_view name, std::string_view help);
  Histogram& histogram(std::string_view name, std::string_view help,
                       std::vector<double> upper_bounds);

  // The Prometheus text exposition of every series, families in registration order, series in
  // label order. Safe to call from any thread while others update.
  std::string render() const;

 private:
  struct Entry;
  Entry& find_or_add(std::string_view name, MetricType type, std::string_view help,
                     const std::vector<std::string>& label_names, std::vector<double> bounds);

  mutable std::mutex mutex_;
  std::deque<Entry> entries_;  // registration order; addresses stable
};

// Content-Type of render()'s output.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace tfe
