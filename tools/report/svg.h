#pragma once
// Small inline-SVG chart helpers and the page shell shared by every tfe HTML page (the backtest
// report, the deployment profile). Each chart function returns one self-contained <svg> element
// (no scripts, no external resources) sized by a viewBox, so it scales down to narrow screens;
// page() wraps sections in one HTML document with the shared inline CSS.
//
// Colours come from one palette (colour-blind safe, Okabe-Ito) indexed by series, so the same
// model keeps its colour across charts. All text passed in is escaped here.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace tfe::report::svg {

inline constexpr double kNone = std::numeric_limits<double>::quiet_NaN();

// HTML/SVG text and attribute escaping (& < > " ').
std::string escape(std::string_view text);
// A number with fixed decimals for display; an en dash for NaN.
std::string fixed(double value, int decimals);
// Palette colour for series index i (wraps around).
std::string colour(std::size_t i);

struct Point {
  double x = 0;
  double y = 0;
};

struct Axis {
  std::string label;
  double min = 0;
  double max = 1;
  std::string suffix;  // appended to tick labels (" h", "%")
};

struct Series {
  std::string name;  // legend entry ("" for none)
  std::vector<Point> points;
  std::size_t colour = 0;
  bool dashed = false;
  bool line = true;      // join the points (a dot where there is only one)
  bool markers = false;  // a dot on every point
};

// A straight reference line across the plot (threshold, prevalence, outcome time).
struct RefLine {
  bool vertical = false;
  double at = 0;
  std::string label;
  std::string colour = "#777";
  bool dashed = true;
};

// A shaded x-range (e.g. the horizon window before an outcome).
struct Band {
  double from = 0;
  double to = 0;
  std::string label;
};

// A triangle marker at a point (alerts), drawn in a series colour.
struct Marker {
  Point at;
  std::size_t colour = 0;
};

struct LineChart {
  std::string title;  // the accessible name of the chart
  Axis x;
  Axis y;
  std::vector<Series> series;
  bool diagonal = false;  // dashed line from (x.min, y.min) to (x.max, y.max)
  std::vector<RefLine> ref_lines;
  std::vector<Band> bands;
  std::vector<Marker> markers;
  int width = 400;  // viewBox units; the element scales to its container
  int plot_height = 260;
  bool legend = true;
};
std::string line_chart(const LineChart& chart);

// Event lanes (one row of tick marks per lane) above a line chart that shares their x axis.
struct Lane {
  std::string label;
  std::vector<double> x;
  std::size_t colour = 0;
};
struct TimelineChart {
  std::vector<Lane> lanes;
  LineChart plot;  // title, x axis and width apply to the whole chart
};
std::string timeline_chart(const TimelineChart& chart);

// Horizontal bars (or dots with whiskers) per row, one per series; rows may be grouped under
// headings. Values may be negative (bars grow from the reference, e.g. 0 for deltas).
enum class BarStyle : uint8_t { bar, dot };
struct BarRow {
  std::string group;  // a heading is drawn whenever the group changes
  std::string label;
  std::vector<double> values;  // [series]; NaN: not drawn
  std::vector<double> lo;      // [series] whisker ends, or empty
  std::vector<double> hi;
};
struct BarChart {
  std::string title;
  Axis value;  // range of the value axis
  std::vector<std::string> series_names;
  std::vector<std::size_t> series_colours;  // [series]; defaults to 0, 1, ...
  std::vector<BarRow> rows;
  BarStyle style = BarStyle::bar;
  double reference = 0;  // bars start here; a vertical line marks it (NaN: none)
  int width = 640;
  bool legend = true;
};
std::string bar_chart(const BarChart& chart);

// A grid of cells coloured on a sequential scale from min to max, optionally annotated.
struct Heatmap {
  std::string title;
  std::vector<std::string> rows;
  std::vector<std::string> cols;
  std::vector<double> values;  // [rows x cols] row-major; NaN: blank cell
  double min = 0;
  double max = 1;
  int decimals = 2;
  bool annotate = true;
  int width = 640;
};
std::string heatmap(const Heatmap& chart);

// Counts over bins (edges: [bins + 1]); several series overlay translucently.
struct HistogramSeries {
  std::string name;
  std::vector<double> counts;  // [bins]
  std::size_t colour = 0;
};
struct Histogram {
  std::string title;
  Axis x;  // range taken from the edges when min == max
  Axis y;  // y.max <= y.min: from the largest count
  std::vector<double> edges;
  std::vector<std::string> bin_labels;  // tooltip per bin; absent: its edges "[lo, hi)"
  int decimals = 0;                     // of the values in the tooltips (counts: 0, shares: 3)
  std::vector<HistogramSeries> series;
  int width = 400;
  int plot_height = 220;
  bool legend = true;
};
std::string histogram(const Histogram& chart);

// "Nice" tick positions covering [min, max] (steps of 1, 2 or 5 x 10^k), about `target` of them.
std::vector<double> nice_ticks(double min, double max, int target = 5);

// One HTML document: doctype, UTF-8, viewport, a content security policy that allows no external
// resource and no script, the shared CSS, then `body` (already-escaped markup).
std::string page(std::string_view title, std::string_view body);

}  // namespace tfe::report::svg
