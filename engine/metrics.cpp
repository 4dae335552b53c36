// Metrics registry and its Prometheus text exposition.

#include "engine/metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace tfe {
namespace {

bool name_char(char c, bool first, bool allow_colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  const bool digit = c >= '0' && c <= '9';
  return alpha || (allow_colon && c == ':') || (!first && digit);
}

bool valid_name(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, allow_colon)) return false;
  }
  return true;
}

// A sample value as Prometheus reads it: shortest round-trip decimal, or +Inf, -Inf, NaN.
void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

// Label values escape backslash, double quote and newline.
void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// HELP text escapes backslash and newline.
void append_help(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// {a="x",b="y"} plus an optional extra label (the histogram's le); nothing when there are none.
void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    append_label_value(out, values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

std::string_view type_name(MetricType type) {
  switch (type) {
    case MetricType::counter:
      return "counter";
    case MetricType::gauge:
      return "gauge";
    case MetricType::histogram:
      return "histogram";
  }
  return "untyped";
}

template <class M>
std::unique_ptr<M> make_series(const std::vector<double>& bounds) {
  if constexpr (std::is_same_v<M, Histogram>) {
    return std::make_unique<Histogram>(bounds);
  } else {
    (void)bounds;
    return std::make_unique<M>();
  }
}

}  // namespace

namespace detail {

void check_metric_name(std::string_view name) {
  if (!valid_name(name, true)) {
    throw std::invalid_argument(fmt::format("invalid metric name '{}'", name));
  }
}

void check_label_name(std::string_view name) {
  if (!valid_name(name, false) || name == "le" || name.starts_with("__")) {
    throw std::invalid_argument(fmt::format("invalid or reserved label name '{}'", name));
  }
}

}  // namespace detail

// ---- Histogram ---------------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    throw std::invalid_argument("histogram bounds must be strictly ascending");
  }
  // The implied +Inf bucket is added by the exposition: drop an explicit one.
  if (!bounds_.empty() && std::isinf(bounds_.back()) && bounds_.back() > 0) bounds_.pop_back();
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  // First bound >= v; NaN lands in +Inf.
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  const std::size_t bucket = std::isnan(v) ? bounds_.size() : std::size_t(it - bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.count += s.counts[i];
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  if (start <= 0 || factor <= 1) {
    throw std::invalid_argument("exponential_buckets: start must be > 0 and factor > 1");
  }
  std::vector<double> bounds;
  bounds.reserve(count);
  double b = start;
  for (std::size_t i = 0; i < count; ++i, b *= factor) bounds.push_back(b);
  return bounds;
}

// ---- Family ------------------------------------------------------------------------------------

template <class M>
M& Family<M>::with(std::initializer_list<std::string_view> label_values) {
  return get(std::vector<std::string>(label_values.begin(), label_values.end()));
}

template <class M>
M& Family<M>::with(const std::vector<std::string>& label_values) {
  return get(label_values);
}

template <class M>
M& Family<M>::get(std::vector<std::string> values) {
  if (values.size() != label_names_.size()) {
    throw std::invalid_argument(fmt::format("metric {}: {} label values for {} label names", name_,
                                            values.size(), label_names_.size()));
  }
  std::lock_guard lock(mutex_);
  auto& slot = series_[std::move(values)];
  if (!slot) slot = make_series<M>(bounds_);
  return *slot;
}

template <class M>
void Family<M>::render(std::string& out, MetricType type) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_help(out, help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type);
  out += '\n';
  std::lock_guard lock(mutex_);
  for (const auto& [values, series] : series_) {
    if constexpr (std::is_same_v<M, Histogram>) {
      const Histogram::Snapshot s = series->snapshot();
      uint64_t cumulative = 0;
      std::string le;
      for (std::size_t b = 0; b <= s.upper_bounds.size(); ++b) {
        cumulative += s.counts[b];
        le.clear();
        if (b < s.upper_bounds.size()) {
          append_value(le, s.upper_bounds[b]);
        } else {
          le = "+Inf";
        }
        out += name_;
        out += "_bucket";
        append_labels(out, label_names_, values, "le", le);
        fmt::format_to(std::back_inserter(out), " {}\n", cumulative);
      }
      out += name_;
      out += "_sum";
      append_labels(out, label_names_, values);
      out += ' ';
      append_value(out, s.sum);
      out += '\n';
      out += name_;
      out += "_count";
      append_labels(out, label_names_, values);
      fmt::format_to(std::back_inserter(out), " {}\n", cumulative);
    } else if constexpr (std::is_same_v<M, Counter>) {
      out += name_;
      append_labels(out, label_names_, values);
      fmt::format_to(std::back_inserter(out), " {}\n", series->value());
    } else {
      out += name_;
      append_labels(out, label_names_, values);
      out += ' ';
      append_value(out, series->value());
      out += '\n';
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- Registry ----------------------------------------------------------------------------------

struct MetricsRegistry::Entry {
  MetricType type;
  std::variant<std::unique_ptr<Family<Counter>>, std::unique_ptr<Family<Gauge>>,
               std::unique_ptr<Family<Histogram>>>
      family;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Entry& MetricsRegistry::find_or_add(std::string_view name, MetricType type,
                                                     std::string_view help,
                                                     const std::vector<std::string>& label_names,
                                                     std::vector<double> bounds) {
  detail::check_metric_name(name);
  for (const auto& label : label_names) detail::check_label_name(label);
  std::lock_guard lock(mutex_);
  for (Entry& entry : entries_) {
    const bool same_name =
        std::visit([&](const auto& f) { return f->name() == name; }, entry.family);
    if (!same_name) continue;
    const bool same_labels =
        std::visit([&](const auto& f) { return f->label_names() == label_names; }, entry.family);
    if (entry.type != type || !same_labels) {
      throw std::invalid_argument(
          fmt::format("metric {} registered again with another type or labels", name));
    }
    return entry;
  }
  Entry& entry = entries_.emplace_back();
  entry.type = type;
  std::string n(name), h(help);
  switch (type) {
    case MetricType::counter:
      entry.family.emplace<0>(std::make_unique<Family<Counter>>(
          std::move(n), std::move(h), label_names, std::vector<double>{}));
      break;
    case MetricType::gauge:
      entry.family.emplace<1>(std::make_unique<Family<Gauge>>(std::move(n), std::move(h),
                                                              label_names, std::vector<double>{}));
      break;
    case MetricType::histogram:
      // Validates the bounds once, at registration.
      (void)Histogram(bounds);
      entry.family.emplace<2>(std::make_unique<Family<Histogram>>(std::move(n), std::move(h),
                                                                  label_names, std::move(bounds)));
      break;
  }
  return entry;
}

Family<Counter>& MetricsRegistry::counter_family(std::string_view name, std::string_view help,
                                                 std::vector<std::string> label_names) {
  return *std::get<0>(find_or_add(name, MetricType::counter, help, label_names, {}).family);
}

Family<Gauge>& MetricsRegistry::gauge_family(std::string_view name, std::string_view help,
                                             std::vector<std::string> label_names) {
  return *std::get<1>(find_or_add(name, MetricType::gauge, help, label_names, {}).family);
}

Family<Histogram>& MetricsRegistry::histogram_family(std::string_view name, std::string_view help,
                                                     std::vector<double> upper_bounds,
                                                     std::vector<std::string> label_names) {
  return *std::get<2>(
      find_or_add(name, MetricType::histogram, help, label_names, std::move(upper_bounds)).family);
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help) {
  return counter_family(name, help, {}).with({});
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help) {
  return gauge_family(name, help, {}).with({});
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      std::vector<double> upper_bounds) {
  return histogram_family(name, help, std::move(upper_bounds), {}).with({});
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const Entry& entry : entries_) {
    std::visit([&](const auto& f) { f->render(out, entry.type); }, entry.family);
  }
  return out;
}

}  // namespace tfe
