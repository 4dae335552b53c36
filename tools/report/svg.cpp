#include "tools/report/svg.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include <fmt/format.h>

namespace tfe::report::svg {
namespace {

constexpr std::array<std::string_view, 8> kPalette = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                                      "#E69F00", "#56B4E9", "#000000", "#B8A100"};

constexpr double kCharWidth = 6.4;  // average glyph advance at font-size 11-12, in viewBox units
constexpr int kLegendRow = 18;

// viewBox coordinates with one decimal.
std::string c(double v) { return fmt::format("{:.1f}", v); }

double text_width(std::string_view text) { return kCharWidth * static_cast<double>(text.size()); }

// Decimals that tell ticks `step` apart.
int decimals_for(double step) {
  if (!(step > 0)) return 0;
  return std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 6);
}

std::string tick_label(double v, double step, std::string_view suffix) {
  if (std::abs(v) < step * 1e-9) v = 0;  // no "-0"
  return fmt::format("{:.{}f}{}", v, decimals_for(step), suffix);
}

std::string open_svg(const std::string& title, double width, double height) {
  return fmt::format(
      "<svg class=\"chart\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" style=\"max-width:{0}px\" "
      "role=\"img\" aria-label=\"{2}\"><title>{2}</title>",
      c(width), c(height), escape(title));
}

// A rectangular plot area mapping data to viewBox coordinates.
struct Frame {
  double left = 0;
  double top = 0;
  double width = 0;
  double height = 0;
  Axis x;
  Axis y;

  double sx(double v) const {
    const double span = x.max - x.min;
    const double t = span > 0 ? (v - x.min) / span : 0.5;
    return left + std::clamp(t, 0.0, 1.0) * width;
  }
  double sy(double v) const {
    const double span = y.max - y.min;
    const double t = span > 0 ? (v - y.min) / span : 0.5;
    return top + height - std::clamp(t, 0.0, 1.0) * height;
  }
  double bottom() const { return top + height; }
  double right() const { return left + width; }
};

// Grid, frame, tick labels and axis labels of a plot.
void draw_axes(std::string& out, const Frame& f, bool y_axis = true) {
  const std::vector<double> xt =
      nice_ticks(f.x.min, f.x.max, std::max(3, static_cast<int>(f.width / 60)));
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1;
  out += "<g class=\"grid\">";
  for (double v : xt) {
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>", c(f.sx(v)), c(f.top),
                       c(f.bottom()));
  }
  std::vector<double> yt;
  if (y_axis) {
    yt = nice_ticks(f.y.min, f.y.max, std::max(3, static_cast<int>(f.height / 50)));
    for (double v : yt) {
      out += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\"/>", c(f.sy(v)),
                         c(f.left), c(f.right()));
    }
  }
  out += "</g>";
  out += fmt::format("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                     c(f.left), c(f.top), c(f.width), c(f.height));
  out += "<g class=\"tick\">";
  for (double v : xt) {
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>", c(f.sx(v)),
                       c(f.bottom() + 14), escape(tick_label(v, xstep, f.x.suffix)));
  }
  if (y_axis) {
    const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
    for (double v : yt) {
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", c(f.left - 5),
                         c(f.sy(v) + 4), escape(tick_label(v, ystep, f.y.suffix)));
    }
  }
  out += "</g>";
  if (!f.x.label.empty()) {
    out +=
        fmt::format("<text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                    c(f.left + f.width / 2), c(f.bottom() + 32), escape(f.x.label));
  }
  if (y_axis && !f.y.label.empty()) {
    const double x = 14;
    const double y = f.top + f.height / 2;
    out += fmt::format(
        "<text class=\"axis-label\" x=\"{0}\" y=\"{1}\" text-anchor=\"middle\" "
        "transform=\"rotate(-90 {0} {1})\">{2}</text>",
        c(x), c(y), escape(f.y.label));
  }
}

struct LegendEntry {
  std::string name;
  std::string colour;
  bool dashed = false;
  bool box = false;  // a filled box (bars) instead of a line
};

// Height a legend needs at this width.
int legend_height(const std::vector<LegendEntry>& entries, double left, double width) {
  if (entries.empty()) return 0;
  int rows = 1;
  double x = left;
  for (const LegendEntry& e : entries) {
    const double w = 30 + text_width(e.name) + 14;
    if (x + w > left + width && x > left) {
      ++rows;
      x = left;
    }
    x += w;
  }
  return rows * kLegendRow + 6;
}

void draw_legend(std::string& out, const std::vector<LegendEntry>& entries, double left, double top,
                 double width) {
  double x = left;
  double y = top + 12;
  out += "<g class=\"legend\">";
  for (const LegendEntry& e : entries) {
    const double w = 30 + text_width(e.name) + 14;
    if (x + w > left + width && x > left) {
      x = left;
      y += kLegendRow;
    }
    if (e.box) {
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"18\" height=\"10\" fill=\"{}\"/>", c(x),
                         c(y - 9), e.colour);
    } else {
      out += fmt::format(
          "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2.5\"{}/>",
          c(x), c(y - 4), c(x + 22), c(y - 4), e.colour,
          e.dashed ? " stroke-dasharray=\"5 3\"" : "");
    }
    out += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>", c(x + 28), c(y), escape(e.name));
    x += w;
  }
  out += "</g>";
}

std::vector<LegendEntry> series_legend(const std::vector<Series>& series) {
  std::vector<LegendEntry> entries;
  for (const Series& s : series) {
    if (!s.name.empty()) entries.push_back({s.name, colour(s.colour), s.dashed, false});
  }
  return entries;
}

// The body of a line chart inside a frame: bands, reference lines, series, markers.
void draw_line_body(std::string& out, const Frame& f, const LineChart& chart) {
  for (const Band& b : chart.bands) {
    const double x0 = f.sx(std::min(b.from, b.to));
    const double x1 = f.sx(std::max(b.from, b.to));
    out += fmt::format("<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>", c(x0),
                       c(f.top), c(x1 - x0), c(f.height));
    if (!b.label.empty()) {
      out += fmt::format("<text class=\"note\" x=\"{}\" y=\"{}\">{}</text>", c(x0 + 3),
                         c(f.bottom() - 4), escape(b.label));
    }
  }
  if (chart.diagonal) {
    out += fmt::format(
        "<line class=\"ref\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\" "
        "stroke-dasharray=\"4 4\"/>",
        c(f.sx(f.x.min)), c(f.sy(f.y.min)), c(f.sx(f.x.max)), c(f.sy(f.y.max)));
  }
  for (const RefLine& r : chart.ref_lines) {
    const std::string dash = r.dashed ? " stroke-dasharray=\"4 4\"" : "";
    if (r.vertical) {
      const double x = f.sx(r.at);
      out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\"{4}/>",
                         c(x), c(f.top), c(f.bottom()), escape(r.colour), dash);
      if (!r.label.empty()) {
        out += fmt::format(
            "<text class=\"note\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{}\">{}</text>",
            c(x - 3), c(f.top + 12), escape(r.colour), escape(r.label));
      }
    } else {
      const double y = f.sy(r.at);
      out += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\" stroke=\"{3}\"{4}/>",
                         c(y), c(f.left), c(f.right()), escape(r.colour), dash);
      if (!r.label.empty()) {
        out += fmt::format("<text class=\"note\" x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>",
                           c(f.left + 4), c(y - 4), escape(r.colour), escape(r.label));
      }
    }
  }
  for (const Series& s : chart.series) {
    const std::string col = colour(s.colour);
    const auto drawable = static_cast<std::size_t>(
        std::count_if(s.points.begin(), s.points.end(),
                      [](const Point& p) { return !std::isnan(p.x) && !std::isnan(p.y); }));
    if (s.line && drawable > 1) {
      std::string pts;
      pts.reserve(s.points.size() * 12);
      for (const Point& p : s.points) {
        if (std::isnan(p.x) || std::isnan(p.y)) continue;
        if (!pts.empty()) pts += ' ';
        pts += c(f.sx(p.x));
        pts += ',';
        pts += c(f.sy(p.y));
      }
      out += fmt::format(
          "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linejoin=\"round\"{} "
          "points=\"{}\"/>",
          col, s.dashed ? " stroke-dasharray=\"6 4\"" : "", pts);
    }
    // A line through one point would draw nothing (a precision-recall curve of one threshold):
    // a dot stands for it.
    if (s.markers || (s.line && drawable == 1)) {
      for (const Point& p : s.points) {
        if (std::isnan(p.x) || std::isnan(p.y)) continue;
        out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{}\"/>", c(f.sx(p.x)),
                           c(f.sy(p.y)), col);
      }
    }
  }
  for (const Marker& m : chart.markers) {
    const double x = f.sx(m.at.x);
    const double y = f.sy(m.at.y) - 6;
    out += fmt::format(
        "<path d=\"M{} {}l-5 -8h10z\" fill=\"{}\" stroke=\"#fff\" stroke-width=\"0.8\"/>", c(x),
        c(y), colour(m.colour));
  }
}

// Shared by line_chart and timeline_chart: lanes (maybe none) above a line plot.
std::string draw_line_chart(const LineChart& chart, const std::vector<Lane>& lanes) {
  constexpr double kLaneHeight = 16;
  double left = 52;
  for (const Lane& lane : lanes) left = std::max(left, text_width(lane.label) + 12);
  const double right = 14;
  const double top = 10;
  const double lanes_height =
      lanes.empty() ? 0 : kLaneHeight * static_cast<double>(lanes.size()) + 8;
  Frame f;
  f.left = left;
  f.top = top + lanes_height;
  f.width = chart.width - left - right;
  f.height = chart.plot_height;
  f.x = chart.x;
  f.y = chart.y;
  const std::vector<LegendEntry> legend =
      chart.legend ? series_legend(chart.series) : std::vector<LegendEntry>{};
  const double legend_top = f.bottom() + (chart.x.label.empty() ? 22 : 40);
  const double height = legend_top + legend_height(legend, left, f.width) + 4;
  std::string out = open_svg(chart.title, chart.width, height);
  // Lanes: one tick per event, at most one per horizontal unit (dense streams merge).
  for (std::size_t i = 0; i < lanes.size(); ++i) {
    const Lane& lane = lanes[i];
    const double y = top + kLaneHeight * static_cast<double>(i);
    out += fmt::format("<text class=\"lane-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                       c(left - 6), c(y + 11), escape(lane.label));
    out += fmt::format("<line class=\"lane\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>",
                       c(left), c(y + 7), c(f.right()));
    std::set<long> columns;
    std::string path;
    for (double x : lane.x) {
      if (x < chart.x.min || x > chart.x.max) continue;
      const double px = f.sx(x);
      if (!columns.insert(std::lround(px)).second) continue;
      path += fmt::format("M{} {}v12", c(px), c(y + 1));
    }
    if (!path.empty()) {
      out += fmt::format("<path d=\"{}\" stroke=\"{}\" stroke-width=\"1\"/>", path,
                         colour(lane.colour));
    }
  }
  draw_axes(out, f);
  draw_line_body(out, f, chart);
  draw_legend(out, legend, left, legend_top, f.width);
  out += "</svg>";
  return out;
}

// Linear blend between two #rrggbb colours.
std::string blend(uint32_t from, uint32_t to, double t) {
  t = std::clamp(t, 0.0, 1.0);
  uint32_t rgb = 0;
  for (int shift = 16; shift >= 0; shift -= 8) {
    const double a = static_cast<double>((from >> shift) & 0xff);
    const double b = static_cast<double>((to >> shift) & 0xff);
    rgb |= static_cast<uint32_t>(std::lround(a + (b - a) * t)) << shift;
  }
  return fmt::format("#{:06x}", rgb);
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::string fixed(double value, int decimals) {
  if (std::isnan(value)) return "\u2013";
  if (std::isinf(value)) return value > 0 ? "\u221e" : "-\u221e";
  std::string s = fmt::format("{:.{}f}", value, decimals);
  if (s.starts_with('-') && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

std::string colour(std::size_t i) { return std::string(kPalette[i % kPalette.size()]); }

std::vector<double> nice_ticks(double min, double max, int target) {
  if (!(max > min) || target < 1) return {min};
  const double raw = (max - min) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  // Integer multiples of the step, snapped to its decimal precision (no 0.30000000000000004).
  const double snap = std::pow(10.0, decimals_for(step) + 2);
  std::vector<double> ticks;
  const auto first = static_cast<int64_t>(std::ceil(min / step - 1e-9));
  for (int64_t k = first; ticks.size() <= 100; ++k) {
    const double v = std::round(static_cast<double>(k) * step * snap) / snap;
    if (v > max + step * 1e-9) break;
    ticks.push_back(v == 0 ? 0.0 : v);
  }
  return ticks;
}

std::string line_chart(const LineChart& chart) { return draw_line_chart(chart, {}); }

std::string timeline_chart(const TimelineChart& chart) {
  return draw_line_chart(chart.plot, chart.lanes);
}

std::string bar_chart(const BarChart& chart) {
  const std::size_t n_series = chart.series_names.size();
  const auto series_colour = [&](std::size_t s) {
    return colour(s < chart.series_colours.size() ? chart.series_colours[s] : s);
  };
  double label_width = 0;
  for (const BarRow& row : chart.rows) label_width = std::max(label_width, text_width(row.label));
  const double left = std::min(240.0, label_width + 18);
  const double right = 16;
  const double band = chart.style == BarStyle::bar ? 11 : 9;  // per series in a row
  const double row_height = band * static_cast<double>(std::max<std::size_t>(n_series, 1)) + 10;
  constexpr double kHeading = 22;
  // Vertical layout first.
  std::vector<double> row_top(chart.rows.size());
  std::vector<bool> heading(chart.rows.size(), false);
  double y = 8;
  for (std::size_t r = 0; r < chart.rows.size(); ++r) {
    if (!chart.rows[r].group.empty() &&
        (r == 0 || chart.rows[r].group != chart.rows[r - 1].group)) {
      heading[r] = true;
      y += kHeading;
    }
    row_top[r] = y;
    y += row_height;
  }
  Frame f;
  f.left = left;
  f.top = 8;
  f.width = chart.width - left - right;
  f.height = std::max(y - 8, 20.0);
  f.x = chart.value;
  f.y = Axis{"", 0, 1, ""};
  std::vector<LegendEntry> legend;
  if (chart.legend) {
    for (std::size_t s = 0; s < n_series; ++s) {
      legend.push_back({chart.series_names[s], series_colour(s), false, true});
    }
  }
  const double legend_top = f.bottom() + (chart.value.label.empty() ? 22 : 40);
  const double height = legend_top + legend_height(legend, left, f.width) + 4;
  std::string out = open_svg(chart.title, chart.width, height);
  draw_axes(out, f, false);
  if (!std::isnan(chart.reference)) {
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#444\" stroke-width=\"1\"/>",
        c(f.sx(chart.reference)), c(f.top), c(f.bottom()));
  }
  for (std::size_t r = 0; r < chart.rows.size(); ++r) {
    const BarRow& row = chart.rows[r];
    if (heading[r]) {
      out += fmt::format("<text class=\"group\" x=\"{}\" y=\"{}\">{}</text>", c(4),
                         c(row_top[r] - 7), escape(row.group));
    }
    out += fmt::format("<text class=\"row-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                       c(left - 6), c(row_top[r] + row_height / 2), escape(row.label));
    for (std::size_t s = 0; s < n_series && s < row.values.size(); ++s) {
      const double v = row.values[s];
      if (std::isnan(v)) continue;
      const double cy = row_top[r] + 5 + band * static_cast<double>(s) + band / 2;
      const std::string col = series_colour(s);
      const bool whisker = s < row.lo.size() && s < row.hi.size() && !std::isnan(row.lo[s]) &&
                           !std::isnan(row.hi[s]);
      if (chart.style == BarStyle::bar) {
        const double base = std::isnan(chart.reference) ? chart.value.min : chart.reference;
        const double x0 = f.sx(std::min(base, v));
        const double x1 = f.sx(std::max(base, v));
        out += fmt::format(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" "
            "fill=\"{}\"><title>{}</title></rect>",
            c(x0), c(cy - band / 2 + 1), c(std::max(x1 - x0, 0.8)), c(band - 2), col,
            escape(chart.series_names[s] + " " + fixed(v, 3)));
      }
      if (whisker) {
        out += fmt::format(
            "<path d=\"M{0} {1}H{2}M{0} {3}v{5}M{2} {3}v{5}\" stroke=\"{4}\" stroke-width=\"1.2\" "
            "fill=\"none\"/>",
            c(f.sx(row.lo[s])), c(cy), c(f.sx(row.hi[s])), c(cy - 3),
            chart.style == BarStyle::bar ? "#222" : col, c(6));
      }
      if (chart.style == BarStyle::dot) {
        out += fmt::format(
            "<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{}\"><title>{}</title></circle>",
            c(f.sx(v)), c(cy), col, escape(chart.series_names[s] + " " + fixed(v, 3)));
      }
    }
  }
  draw_legend(out, legend, left, legend_top, f.width);
  out += "</svg>";
  return out;
}

std::string heatmap(const Heatmap& chart) {
  const std::size_t nr = chart.rows.size();
  const std::size_t nc = chart.cols.size();
  double label_width = 0;
  for (const std::string& r : chart.rows) label_width = std::max(label_width, text_width(r));
  double col_width = 0;
  for (const std::string& col : chart.cols) col_width = std::max(col_width, text_width(col));
  const double left = std::min(240.0, label_width + 14);
  const double cell_w = nc > 0 ? (chart.width - left - 10) / static_cast<double>(nc) : 0;
  const bool rotate = col_width > cell_w - 4;
  const double top = rotate ? std::min(140.0, col_width * 0.72 + 14) : 22;
  constexpr double kCellHeight = 26;
  const double height = top + kCellHeight * static_cast<double>(nr) + 10;
  std::string out = open_svg(chart.title, chart.width, height);
  constexpr uint32_t kLow = 0xf7fbff;
  constexpr uint32_t kHigh = 0x08306b;
  for (std::size_t j = 0; j < nc; ++j) {
    const double x = left + cell_w * (static_cast<double>(j) + 0.5);
    if (rotate) {
      out += fmt::format(
          "<text class=\"tick\" x=\"{0}\" y=\"{1}\" transform=\"rotate(-40 {0} {1})\">{2}</text>",
          c(x), c(top - 6), escape(chart.cols[j]));
    } else {
      out += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                         c(x), c(top - 8), escape(chart.cols[j]));
    }
  }
  const double span = chart.max - chart.min;
  for (std::size_t i = 0; i < nr; ++i) {
    const double y = top + kCellHeight * static_cast<double>(i);
    out += fmt::format("<text class=\"row-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                       c(left - 6), c(y + kCellHeight / 2 + 4), escape(chart.rows[i]));
    for (std::size_t j = 0; j < nc; ++j) {
      const double v = i * nc + j < chart.values.size() ? chart.values[i * nc + j] : kNone;
      const double x = left + cell_w * static_cast<double>(j);
      if (std::isnan(v)) {
        out += fmt::format(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fff\" stroke=\"#ddd\"/>",
            c(x), c(y), c(cell_w), c(kCellHeight));
        continue;
      }
      const double t = span > 0 ? (v - chart.min) / span : 0.5;
      out += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#fff\">"
          "<title>{}</title></rect>",
          c(x), c(y), c(cell_w), c(kCellHeight), blend(kLow, kHigh, t),
          escape(chart.rows[i] + " / " + chart.cols[j] + ": " + fixed(v, chart.decimals)));
      if (chart.annotate) {
        out += fmt::format(
            "<text class=\"cell\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\">{}</text>",
            c(x + cell_w / 2), c(y + kCellHeight / 2 + 4), t > 0.55 ? "#fff" : "#111",
            escape(fixed(v, chart.decimals)));
      }
    }
  }
  out += "</svg>";
  return out;
}

std::string histogram(const Histogram& chart) {
  Frame f;
  f.left = 52;
  f.top = 10;
  f.width = chart.width - f.left - 14;
  f.height = chart.plot_height;
  f.x = chart.x;
  if (!(f.x.max > f.x.min) && chart.edges.size() >= 2) {
    f.x.min = chart.edges.front();
    f.x.max = chart.edges.back();
  }
  f.y = chart.y;
  if (!(f.y.max > f.y.min)) {
    double top = 0;
    for (const HistogramSeries& s : chart.series) {
      for (double v : s.counts) top = std::max(top, v);
    }
    f.y.min = 0;
    const std::vector<double> ticks = nice_ticks(0, top > 0 ? top : 1, 4);
    f.y.max = ticks.back() < top ? ticks.back() + (ticks.size() > 1 ? ticks[1] - ticks[0] : 1)
                                 : ticks.back();
  }
  std::vector<LegendEntry> legend;
  if (chart.legend) {
    for (const HistogramSeries& s : chart.series) {
      if (!s.name.empty()) legend.push_back({s.name, colour(s.colour), false, true});
    }
  }
  const double legend_top = f.bottom() + (chart.x.label.empty() ? 22 : 40);
  const double height = legend_top + legend_height(legend, f.left, f.width) + 4;
  std::string out = open_svg(chart.title, chart.width, height);
  draw_axes(out, f);
  for (const HistogramSeries& s : chart.series) {
    const std::string col = colour(s.colour);
    for (std::size_t b = 0; b + 1 < chart.edges.size() && b < s.counts.size(); ++b) {
      const double x0 = f.sx(chart.edges[b]);
      const double x1 = f.sx(chart.edges[b + 1]);
      const double y0 = f.sy(s.counts[b]);
      out += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" fill-opacity=\"0.55\">"
          "<title>{}</title></rect>",
          c(x0), c(y0), c(std::max(x1 - x0 - 0.5, 0.5)), c(f.bottom() - y0), col,
          escape(fmt::format(
              "{}{}{}: {}", s.name, s.name.empty() ? "" : " ",
              b < chart.bin_labels.size()
                  ? chart.bin_labels[b]
                  : fmt::format("[{}, {})", fixed(chart.edges[b], 3), fixed(chart.edges[b + 1], 3)),
              fixed(s.counts[b], chart.decimals))));
    }
  }
  draw_legend(out, legend, f.left, legend_top, f.width);
  out += "</svg>";
  return out;
}

std::string page(std::string_view title, std::string_view body) {
  std::string out;
  out.reserve(body.size() + 4096);
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; img-src data:\">\n<title>";
  out += escape(title);
  out += "</title>\n<style>\n";
  out += R"css(:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Liberation Sans", Arial, sans-serif; color: #1b1f24; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 16px; }
header { background: #17324d; color: #fff; padding: 18px 16px; }
header .inner { max-width: 1180px; margin: 0 auto; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: #cdd8e4; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 12px 16px 16px; margin: 16px 0; }
h2 { font-size: 18px; margin: 4px 0 8px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
p.hint { color: #56606b; margin: 4px 0 10px; max-width: 80ch; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 340px), 1fr)); gap: 16px; }
.charts.wide { grid-template-columns: repeat(auto-fit, minmax(min(100%, 520px), 1fr)); }
figure { margin: 0; min-width: 0; }
figcaption { font-weight: 600; margin: 4px 0; }
svg.chart { display: block; width: 100%; height: auto; font-size: 11px; font-family: inherit; }
svg.chart .grid line { stroke: #eceef1; }
svg.chart .frame { fill: none; stroke: #9aa3ad; }
svg.chart .tick text, svg.chart text.tick { fill: #4a5561; }
svg.chart .axis-label { fill: #1b1f24; font-size: 12px; }
svg.chart .legend text { fill: #1b1f24; font-size: 12px; }
svg.chart .note { font-size: 10px; fill: #6b4e16; }
svg.chart .band { fill: #f6e7c8; fill-opacity: 0.6; }
svg.chart .lane { stroke: #e3e6ea; }
svg.chart .lane-label, svg.chart .row-label { fill: #1b1f24; }
svg.chart .group { font-weight: 600; font-size: 12px; fill: #17324d; }
svg.chart .cell { font-size: 10px; }
.table-wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; margin: 6px 0 10px; }
table { border-collapse: collapse; font-size: 13px; min-width: 100%; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e6e8eb; text-align: right; white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; }
figcaption .note { display: block; font-weight: 400; font-size: 12px; color: #56606b; overflow-wrap: anywhere; }
th { background: #f0f2f5; font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
td.name { text-align: left; }
td .ci { display: block; font-size: 11px; color: #6b747e; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
.muted { color: #6b747e; }
.small { font-size: 12px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0; }
dl.meta dt { color: #56606b; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 600px) { main { padding: 8px; } section { padding: 10px; } header h1 { font-size: 19px; } }
)css";
  out += "</style>\n</head>\n<body>\n";
  out += body;
  out += "\n</body>\n</html>\n";
  return out;
}

}  // namespace tfe::report::svg
