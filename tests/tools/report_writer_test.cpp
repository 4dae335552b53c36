// The report model's renderings: report.json (valid, stable, deterministic), report.html (one
// self-contained page, every text escaped), the SVG chart helpers, and the demo report that the
// browser test renders (written to $TFE_REPORT_DEMO_DIR when set).

#include <gtest/gtest.h>

#include <simdjson.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "tools/report/json_writer.h"
#include "tools/report/report.h"
#include "tools/report/svg.h"

namespace tfe::report {
namespace {

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// The demo report is computed once for all tests here (it runs the real metrics).
const Report& demo() {
  static const Report report = demo_report();
  return report;
}

TEST(ReportJsonWriter, EscapesNestsAndWritesNullForNaN) {
  JsonWriter w;
  w.begin_object();
  w.key("text").value("quote \" backslash \\ newline \n tab \t bell \x07 utf8 \xc3\xa9");
  w.key("nan").number(kNaN);
  w.key("negative_zero").number(-0.0);
  w.key("third").number(1.0 / 3.0, 4);
  w.key("big").value(uint64_t{18446744073709551615ULL});
  w.key("flag").value(true);
  w.key("points").begin_array(true);
  w.begin_array(true).number(0.5).number(1e-7).end_array();
  w.end_array();
  w.key("empty").begin_array().end_array();
  w.end_object();
  const std::string json = w.str();
  EXPECT_NE(json.find(R"("quote \" backslash \\ newline \n tab \t bell \u0007 utf8 é")"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"nan\": null"), std::string::npos);
  EXPECT_NE(json.find("\"negative_zero\": 0,"), std::string::npos);
  EXPECT_NE(json.find("\"third\": 0.3333,"), std::string::npos);
  EXPECT_NE(json.find("\"big\": 18446744073709551615"), std::string::npos);
  EXPECT_NE(json.find("\"points\": [[0.5,1e-07]]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"empty\": []"), std::string::npos);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  std::string_view text;
  ASSERT_EQ(doc["text"].get(text), simdjson::SUCCESS);
  EXPECT_EQ(text, "quote \" backslash \\ newline \n tab \t bell \x07 utf8 \xc3\xa9");
}

// JSON text is UTF-8 (RFC 8259): a history path or model name in another encoding (a Latin-1 file
// name, a cut multi-byte character) made report.json unreadable for every JSON parser. Each byte
// that does not belong to a well-formed UTF-8 sequence becomes U+FFFD; valid text is unchanged.
TEST(ReportJsonWriter, InvalidUtf8BecomesReplacementCharacters) {
  const std::string replacement = "\xef\xbf\xbd";
  const std::pair<std::string, std::string> cases[] = {
      {"donn\xe9"
       "es.jsonl",
       "donn" + replacement + "es.jsonl"},                        // Latin-1 e-acute
      {"cut \xc3", "cut " + replacement},                         // truncated at the end
      {"\xe2\x82 x", replacement + replacement + " x"},           // truncated in the middle
      {"\xc0\xaf", replacement + replacement},                    // overlong '/'
      {"\xed\xa0\x80", replacement + replacement + replacement},  // UTF-16 surrogate
      {"\xf4\x90\x80\x80", replacement + replacement + replacement + replacement},  // > U+10FFFF
      {"\x80\xbf", replacement + replacement},                    // stray continuations
      {"ok \xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80 \xef\xbf\xbd",  // valid: unchanged
       "ok \xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80 \xef\xbf\xbd"},
  };
  for (const auto& [input, expected] : cases) {
    JsonWriter w;
    w.begin_object().key(input).value(input).end_object();
    const std::string json = w.str();
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
    simdjson::dom::object object;
    ASSERT_EQ(doc.get(object), simdjson::SUCCESS);
    for (const auto field : object) {
      EXPECT_EQ(field.key, expected);
      std::string_view text;
      ASSERT_EQ(field.value.get(text), simdjson::SUCCESS);
      EXPECT_EQ(text, expected);
    }
  }
}

// The alert-rate threshold is an operating point people deploy: report.json must give it exactly.
// Rounded to 6 significant digits, 0.30000049 became 0.3, and at 0.3 a tick with risk 0.3000001
// alerts too: twice the target rate instead of the reported once a day.
TEST(ReportJson, AlertThresholdsReproduceTheirAlerts) {
  // One patient-day (four ticks, six-hour cadence): at 0.30000049 one alert, at 0.3000001 two.
  const int64_t six_h = 6 * 3'600'000;
  std::vector<ScoredTick> ticks{{0, 1, false, 0, 0.30000049},
                                {0, 1, false, six_h, 0.1},
                                {0, 1, false, 2 * six_h, 0.3000001},
                                {0, 1, false, 3 * six_h, 0.1}};
  auto table = make_tick_table(std::move(ticks), {kNoOutcome}, six_h, six_h);
  ASSERT_TRUE(table.has_value());
  EvaluationOptions options;
  options.bootstrap_replicates = 0;
  options.thresholds = {0.3000001};
  options.target_alerts_per_patient_day = 1.5;
  Report r;
  ModelReport m;
  m.info = {"m", "late", ""};
  m.evaluation = evaluate(table.value(), options);
  ASSERT_EQ(m.evaluation.alert_rate_threshold, 0.30000049);
  ASSERT_EQ(m.evaluation.overall.alerts.back().alerts, 1u);
  r.models.push_back(std::move(m));
  r.meta.options = options;
  const std::string json = report_json(r);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  double threshold = 0;
  ASSERT_EQ(doc["models"].at(0)["alert_rate_threshold"].get(threshold), simdjson::SUCCESS);
  EXPECT_EQ(threshold, 0.30000049);
  EXPECT_EQ(alert_policy(table.value(), threshold).alerts, 1u);
  simdjson::dom::array policies;
  ASSERT_EQ(doc["models"].at(0)["overall"]["alert_policy"].get(policies), simdjson::SUCCESS);
  for (const simdjson::dom::element policy : policies) {
    double t = 0;
    uint64_t alerts = 0;
    ASSERT_EQ(policy["threshold"].get(t), simdjson::SUCCESS);
    ASSERT_EQ(policy["alerts"].get(alerts), simdjson::SUCCESS);
    EXPECT_EQ(alert_policy(table.value(), t).alerts, alerts) << "threshold " << t;
  }
  double configured = 0;
  ASSERT_EQ(doc["options"]["thresholds"].at(0).get(configured), simdjson::SUCCESS);
  EXPECT_EQ(configured, 0.3000001);
}

TEST(ReportJson, DemoIsValidStableAndDeterministic) {
  const std::string json = report_json(demo());
  EXPECT_EQ(json, report_json(demo_report())) << "same inputs must give the same bytes";
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS);
  // Top-level keys in their fixed order.
  const std::vector<std::string_view> expected{
      "format",          "version",  "title",  "generator", "histories", "modalities", "horizon_ms",
      "tick_cadence_ms", "patients", "events", "options",   "models",    "timelines"};
  std::vector<std::string_view> keys;
  simdjson::dom::object root;
  ASSERT_EQ(doc.get(root), simdjson::SUCCESS);
  for (auto field : root) keys.push_back(field.key);
  EXPECT_EQ(keys, expected);
  simdjson::dom::array models;
  ASSERT_EQ(doc["models"].get(models), simdjson::SUCCESS);
  ASSERT_EQ(models.size(), 3u);
  for (simdjson::dom::element model : models) {
    double auroc = 0;
    ASSERT_EQ(model["overall"]["auroc"].get(auroc), simdjson::SUCCESS);
    EXPECT_GT(auroc, 0.5);
    EXPECT_LE(auroc, 1.0);
    simdjson::dom::array ci;
    ASSERT_EQ(model["overall"]["auroc_ci"].get(ci), simdjson::SUCCESS);
    EXPECT_EQ(ci.size(), 2u);
    simdjson::dom::array subgroups;
    ASSERT_EQ(model["subgroups"].get(subgroups), simdjson::SUCCESS);
    EXPECT_GE(subgroups.size(), 4u);
    simdjson::dom::array stress;
    ASSERT_EQ(model["stress"].get(stress), simdjson::SUCCESS);
    EXPECT_EQ(stress.size(), 4u);  // three masked modalities, delays doubled
    simdjson::dom::array roc;
    ASSERT_EQ(model["curves"]["roc"].get(roc), simdjson::SUCCESS);
    EXPECT_GT(roc.size(), 20u);
    EXPECT_LE(roc.size(), 302u);
    simdjson::dom::array policy;
    ASSERT_EQ(model["overall"]["alert_policy"].get(policy), simdjson::SUCCESS);
    EXPECT_EQ(policy.size(), 5u);  // four fixed thresholds and the alert-rate one
  }
  simdjson::dom::array timelines;
  ASSERT_EQ(doc["timelines"].get(timelines), simdjson::SUCCESS);
  EXPECT_GE(timelines.size(), 4u);
  for (simdjson::dom::element t : timelines) {
    simdjson::dom::array events;
    ASSERT_EQ(t["events"].get(events), simdjson::SUCCESS);
    for (simdjson::dom::element lane : events) {
      simdjson::dom::array times;
      ASSERT_EQ(lane["times_ms"].get(times), simdjson::SUCCESS);
      EXPECT_LE(times.size(), 1001u);  // dense lanes are thinned
    }
  }
}

TEST(ReportHtml, DemoPageIsSelfContainedAndEscaped) {
  const std::string html = report_html(demo());
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_EQ(occurrences(html, "<script"), 0u);
  for (const char* external : {"src=", "href=", "url(", "@import", "http:", "https:"}) {
    EXPECT_EQ(occurrences(html, external), 0u) << external;
  }
  // ROC, PR, reliability; two subgroup charts; the stress chart; one per timeline.
  const std::size_t charts = 3 + 2 + 1 + demo().timelines.size();
  EXPECT_EQ(occurrences(html, "<svg"), charts);
  EXPECT_EQ(occurrences(html, "</svg>"), charts);
  // The model name "attention <x-attn>" appears only escaped.
  EXPECT_EQ(occurrences(html, "<x-attn>"), 0u);
  EXPECT_GT(occurrences(html, "attention &lt;x-attn&gt;"), 3u);
  for (const char* id :
       {"summary", "discrimination", "alerts", "subgroups", "stress", "timelines", "reading"}) {
    EXPECT_NE(html.find(std::string("<section id=\"") + id + "\""), std::string::npos) << id;
  }
}

// The page names the delay stress test by the factor it ran with, not always "doubled".
TEST(ReportHtml, DelayStressTestIsDescribedByItsFactor) {
  const std::string doubled = report_html(demo());
  EXPECT_GE(occurrences(doubled, "arrival delay doubled"), 2u);  // the stress hint, the glossary
  Report tripled = demo();
  for (ModelReport& m : tripled.models) {
    for (StressResult& s : m.stress) {
      if (s.kind == StressKind::delay_scale) s.delay_factor = 3;
    }
  }
  const std::string html = report_html(tripled);
  EXPECT_EQ(occurrences(html, "doubled"), 0u);
  EXPECT_GE(occurrences(html, "arrival delay multiplied by 3"), 2u);
  EXPECT_GE(occurrences(html, "arrival delays x3"), 1u);
  // Without a delay stress test the page does not speak of delays changed.
  Report masked_only = demo();
  for (ModelReport& m : masked_only.models) {
    std::erase_if(m.stress,
                  [](const StressResult& s) { return s.kind == StressKind::delay_scale; });
  }
  EXPECT_EQ(occurrences(report_html(masked_only), "arrival delay"), 0u);
}

// Lead times under a minute are shown in seconds, not as "0 min".
TEST(ReportHtml, DurationsUnderAMinuteAreShownInSeconds) {
  Report r = demo();
  for (AlertPolicy& a : r.models.front().evaluation.overall.alerts) {
    a.median_lead_ms = 17'000;
  }
  const std::string html = report_html(r);
  EXPECT_GE(occurrences(html, ">17 s<"), 1u);
  EXPECT_EQ(occurrences(html, ">0 min<"), 0u);
}

// Thresholds of well-calibrated models at low prevalence are small risks: shown with fixed
// decimals, an alert-rate threshold of 0.000412 read "0.000" and a configured 0.005 "0.01".
// Thresholds show three significant digits.
TEST(ReportHtml, SmallThresholdsKeepTheirSignificantDigits) {
  Report r = demo();
  r.meta.options.thresholds = {0.005, 0.2};
  for (AlertPolicy& a : r.models.front().evaluation.overall.alerts) a.threshold = 0.000412;
  ASSERT_FALSE(r.timelines.empty());
  for (RiskTrace& t : r.timelines.front().traces) t.threshold = 0.0042;
  const std::string html = report_html(r);
  EXPECT_GE(occurrences(html, ">0.000412<"), 2u);  // the summary and the alert table
  EXPECT_EQ(occurrences(html, ">0.000<"), occurrences(report_html(demo()), ">0.000<"));
  EXPECT_NE(html.find("0.00500, 0.200"), std::string::npos);  // the run's thresholds
  EXPECT_NE(html.find(r.timelines.front().traces.front().model + " 0.00420"), std::string::npos);
}

TEST(ReportHtml, EmptyReportStillRenders) {
  Report empty;
  empty.meta.title = "nothing <yet>";
  const std::string html = report_html(empty);
  EXPECT_NE(html.find("<title>nothing &lt;yet&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find("No stress tests were run."), std::string::npos);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(report_json(empty)).get(doc), simdjson::SUCCESS);
}

// Models evaluated on degenerate tables (no ticks; no positives; one tick; one risk for every
// tick) still give valid JSON and a page without non-finite numbers in its charts.
TEST(ReportHtml, DegenerateEvaluationsRenderWithoutNonFiniteNumbers) {
  const auto table = [](std::vector<ScoredTick> ticks, std::size_t patients) {
    auto t = make_tick_table(std::move(ticks), std::vector<int64_t>(patients, kNoOutcome),
                             3'600'000, 60'000);
    EXPECT_TRUE(t.has_value());
    return std::move(t).value();
  };
  std::vector<TickTable> tables;
  tables.push_back(table({}, 0));
  tables.push_back(table({{0, 1, false, 0, 0.2}, {1, 1, false, 0, 0.4}}, 2));
  tables.push_back(table({{0, 3, true, 0, 1.0}}, 1));
  std::vector<ScoredTick> flat;
  for (uint32_t p = 0; p < 6; ++p) flat.push_back({p, 1, p % 2 == 0, 0, 0.25});
  tables.push_back(table(flat, 6));
  Report r;
  r.meta.modalities = {"wearables", "notes"};
  EvaluationOptions options;
  options.bootstrap_replicates = 20;
  for (std::size_t i = 0; i < tables.size(); ++i) {
    ModelReport m;
    m.info = {"model " + std::to_string(i), "late", ""};
    m.evaluation = evaluate(tables[i], options);
    auto c = compare(tables[i], tables[i], options);
    ASSERT_TRUE(c.has_value());
    m.stress.push_back({StressKind::mask_modality, "notes", 2, c.value()});
    r.models.push_back(std::move(m));
  }
  const std::string html = report_html(r);
  // No attribute (coordinates, sizes) holds a non-finite number.
  const std::regex non_finite(R"(="[^"]*\b(nan|inf)\b[^"]*")", std::regex::icase);
  std::smatch match;
  EXPECT_FALSE(std::regex_search(html, match, non_finite)) << match.str(0);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(report_json(r)).get(doc), simdjson::SUCCESS);
}

// ---- SVG helpers
// ----------------------------------------------------------------------------------------

TEST(ReportSvg, EscapeFixedAndTicks) {
  EXPECT_EQ(svg::escape("<a href='x'>\"&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(svg::fixed(kNaN, 3), "\u2013");
  EXPECT_EQ(svg::fixed(-0.0001, 3), "0.000");
  EXPECT_EQ(svg::fixed(0.12345, 2), "0.12");
  const std::vector<double> unit = svg::nice_ticks(0, 1, 5);
  ASSERT_EQ(unit.size(), 6u);
  EXPECT_DOUBLE_EQ(unit[1], 0.2);
  EXPECT_DOUBLE_EQ(unit.back(), 1.0);
  const std::vector<double> around = svg::nice_ticks(-0.3, 0.1, 4);
  EXPECT_NE(std::find(around.begin(), around.end(), 0.0), around.end());
  EXPECT_GE(around.front(), -0.3);
  const std::vector<double> hours = svg::nice_ticks(0, 24, 5);
  EXPECT_DOUBLE_EQ(hours[1] - hours[0], 5.0);
  EXPECT_EQ(svg::colour(0), svg::colour(8));
}

TEST(ReportSvg, ChartsDrawTheirElements) {
  svg::LineChart line;
  line.title = "t";
  line.series.push_back({"a & b", {{0, 0}, {0.5, 0.7}, {1, 1}}, 0, false, true, true});
  const std::string l = svg::line_chart(line);
  EXPECT_EQ(occurrences(l, "<circle"), 3u);
  EXPECT_EQ(occurrences(l, "<polyline"), 1u);
  EXPECT_NE(l.find("a &amp; b"), std::string::npos);

  svg::Heatmap heat;
  heat.title = "h";
  heat.rows = {"r1", "r2"};
  heat.cols = {"c1", "c2", "c3"};
  heat.values = {0, 0.5, 1, 0.25, kNaN, 0.75};
  const std::string h = svg::heatmap(heat);
  EXPECT_EQ(occurrences(h, "<rect"), 6u);
  EXPECT_EQ(occurrences(h, "class=\"cell\""), 5u);  // the NaN cell is blank

  svg::Histogram hist;
  hist.title = "d";
  hist.edges = {0, 1, 2, 3, 4};
  hist.series = {{"x", {1, 4, 2, 0}, 0}, {"y", {2, 2, 2, 2}, 1}};
  const std::string d = svg::histogram(hist);
  EXPECT_EQ(occurrences(d, "fill-opacity"), 8u);

  svg::BarChart bars;
  bars.title = "b";
  bars.value = {"", -0.2, 0.1, ""};
  bars.series_names = {"one", "two"};
  bars.rows = {{"g1", "row a", {-0.1, 0.05}, {-0.15, 0.0}, {-0.05, 0.08}},
               {"g1", "row b", {kNaN, -0.02}, {}, {}},
               {"g2", "row c", {0.01, 0.02}, {}, {}}};
  const std::string b = svg::bar_chart(bars);
  EXPECT_EQ(occurrences(b, "class=\"group\""), 2u);
  EXPECT_EQ(occurrences(b, "<title>one"), 2u);  // the NaN bar is not drawn
  EXPECT_EQ(occurrences(b, "<title>two"), 3u);

  // A lane of 100,000 events draws at most one mark per horizontal unit.
  svg::TimelineChart timeline;
  timeline.plot.title = "tl";
  timeline.plot.x = {"h", 0, 24, ""};
  svg::Lane lane{"wearables", {}, 6};
  for (int i = 0; i < 100000; ++i) lane.x.push_back(24.0 * i / 100000);
  timeline.lanes.push_back(lane);
  const std::string tl = svg::timeline_chart(timeline);
  EXPECT_LE(occurrences(tl, "v12"), static_cast<std::size_t>(timeline.plot.width));
  EXPECT_GT(occurrences(tl, "v12"), 100u);
}

// A line through a single point draws nothing: the precision-recall curve of a model whose risk
// is one value on every tick is one point, and the model was missing from the chart while its
// legend entry was there. A series with one drawable point gets a dot.
TEST(ReportSvg, ASeriesOfOnePointIsStillDrawn) {
  svg::LineChart line;
  line.title = "pr";
  line.series.push_back({"flat", {{1, 0.25}}, 2, false, true, false});
  line.series.push_back(
      {"flat with gaps", {{kNaN, 0.1}, {0.5, 0.5}, {0.2, kNaN}}, 3, false, true, false});
  const std::string l = svg::line_chart(line);
  EXPECT_EQ(occurrences(l, "<circle"), 2u) << l;
  EXPECT_NE(l.find("fill=\"" + svg::colour(2) + "\""), std::string::npos);
  EXPECT_NE(l.find("fill=\"" + svg::colour(3) + "\""), std::string::npos);
  // Two points or more: the line alone, as before.
  line.series = {{"two", {{0, 0}, {1, 1}}, 0, false, true, false}};
  EXPECT_EQ(occurrences(svg::line_chart(line), "<circle"), 0u);
}

TEST(ReportSvg, PageHasNoScriptAndAStrictPolicy) {
  const std::string page = svg::page("a <b>", "<p>x</p>");
  EXPECT_NE(page.find("<title>a &lt;b&gt;</title>"), std::string::npos);
  EXPECT_NE(page.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(page.find("name=\"viewport\""), std::string::npos);
  EXPECT_EQ(occurrences(page, "<script"), 0u);
}

// ---- model helpers
// ----------------------------------------------------------------------------------------

TEST(ReportModel, NamesOfSubgroupsAndStressTests) {
  const std::vector<std::string> names{"wearables", "notes", "imaging"};
  EXPECT_EQ(subgroup_name(0b101, names), "wearables + imaging");
  EXPECT_EQ(subgroup_name(0, names), "no modality");
  EXPECT_EQ(subgroup_name(GroupMetrics::kAllTicks, names), "all ticks");
  EXPECT_EQ(subgroup_name(0b1010, names), "notes + modality 3");
  StressResult mask;
  mask.modality = "notes";
  EXPECT_EQ(stress_name(mask), "without notes");
  StressResult delay;
  delay.kind = StressKind::delay_scale;
  delay.delay_factor = 2;
  EXPECT_EQ(stress_name(delay), "arrival delays x2");
}

TEST(ReportModel, TimelinePatientLabelsFollowTheListOrder) {
  TimelinePatientLabels labels;
  EXPECT_EQ(labels.label(4711), "patient 1");
  EXPECT_EQ(labels.label(3), "patient 2");
  EXPECT_EQ(labels.label(4711), "patient 1") << "a patient shown twice keeps its label";
  EXPECT_EQ(labels.label(0), "patient 3");
  for (const Timeline& t : demo().timelines)
    EXPECT_TRUE(t.patient.starts_with("patient ")) << t.patient;
}

TEST(ReportModel, CollectorRiskTraceAndThinning) {
  TickCollector collector(2);
  std::vector<ScoreRecord> scores(4);
  const double risks[] = {0.1, 0.6, 0.7, 0.2};
  for (int i = 0; i < 4; ++i) {
    scores[i].patient = 1;
    scores[i].score_time_ms = i * 60'000;
    scores[i].risk = risks[i];
    scores[i].modalities[0].present = true;
    scores[i].modalities[1].present = i >= 2;
    scores[i].modalities[2].present = true;  // beyond the schema: ignored
  }
  collector.emit(scores);
  std::vector<ScoredTick> ticks = collector.take();
  ASSERT_EQ(ticks.size(), 4u);
  EXPECT_EQ(ticks[0].present_mask, 0b01u);
  EXPECT_EQ(ticks[3].present_mask, 0b11u);
  auto table = build_labels(ticks, {}, 2, 3'600'000, 60'000);
  ASSERT_TRUE(table.has_value());
  const RiskTrace trace = risk_trace(table.value(), 1, 0.5);
  EXPECT_EQ(trace.risk.size(), 4u);
  EXPECT_EQ(trace.alert_times_ms, std::vector<int64_t>{60'000});
  EXPECT_TRUE(risk_trace(table.value(), 0, 0.5).risk.empty());

  std::vector<int64_t> dense;
  for (int64_t t = 0; t < 86'400'000; t += 1000) dense.push_back(t);
  const std::vector<int64_t> thin = thin_times(dense, 1000);
  EXPECT_LE(thin.size(), 1001u);
  EXPECT_GE(thin.size(), 999u);
  EXPECT_EQ(thin.front(), 0);
  const std::vector<int64_t> few{5, 10, 20};
  EXPECT_EQ(thin_times(few, 1000), few);
}

TEST(ReportFiles, WriteReportFailsOnAnUnwritableDirectory) {
  const std::string file = testing::TempDir() + "/tfe_report_not_a_dir";
  std::ofstream(file) << "x";
  const auto result = write_report(Report{}, file + "/sub");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::io);
}

// The browser test (tests/e2e/report_browser.sh) runs this with TFE_REPORT_DEMO_DIR set and opens
// the page it writes.
TEST(ReportDemo, WritesReportFiles) {
  const char* env = std::getenv("TFE_REPORT_DEMO_DIR");
  const std::string dir =
      env != nullptr && *env != '\0' ? std::string(env) : testing::TempDir() + "/tfe_report_demo";
  const auto written = write_demo_report(dir);
  ASSERT_TRUE(written.has_value()) << written.error().message;
  for (const char* name : {"report.json", "report.html"}) {
    const auto path = std::filesystem::path(dir) / name;
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    EXPECT_GT(std::filesystem::file_size(path), 10'000u) << path;
  }
}

}  // namespace
}  // namespace tfe::report
