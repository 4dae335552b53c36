// Profile loading and validation: [profile] and its sub-tables, plus the engine config of the same
// file. Every error names the source, the table and the key.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "engine/civil_time.h"
#include "engine/duration.h"
#include "tools/synth/synth.h"

namespace tfe::synth {
namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kMaxProfileDurationMs = kMaxDays * kDayMs;

// Reads one table, checking that every key is known, with errors that name source and table.
class TableReader {
 public:
  TableReader(const toml::table* table, std::string source, std::string path)
      : table_(table), source_(std::move(source)), path_(std::move(path)) {}

  bool exists() const { return table_ != nullptr; }
  const std::string& error() const { return error_; }
  bool ok() const { return error_.empty(); }

  void fail(std::string_view key, std::string_view what) {
    if (error_.empty())
      error_ = fmt::format("{}: [{}] {}: {}", source_, path_, quoted_text(key), what);
  }

  // Every key must be in `known`.
  void check_keys(std::initializer_list<std::string_view> known) {
    if (!table_) return;
    for (const auto& [key, node] : *table_) {
      bool found = false;
      for (auto k : known) found = found || k == key.str();
      if (!found) fail(key.str(), "unknown key");
    }
  }

  const toml::node* node(std::string_view key) const { return table_ ? table_->get(key) : nullptr; }
  const toml::table* table(std::string_view key) {
    const toml::node* n = node(key);
    if (!n) return nullptr;
    if (!n->is_table()) fail(key, "expected a table");
    return n->as_table();
  }

  void string(std::string_view key, std::string& out) {
    if (const toml::node* n = node(key)) {
      if (auto v = n->value<std::string>())
        out = *v;
      else
        fail(key, "expected a string");
    }
  }
  void number(std::string_view key, double& out, double lo, double hi) {
    if (const toml::node* n = node(key)) {
      auto v = n->value<double>();
      if (!v || !std::isfinite(*v)) return fail(key, "expected a number");
      if (*v < lo || *v > hi) return fail(key, fmt::format("{} is outside [{}, {}]", *v, lo, hi));
      out = *v;
    }
  }
  void integer(std::string_view key, uint32_t& out, int64_t lo, int64_t hi) {
    if (const toml::node* n = node(key)) {
      auto v = n->value<int64_t>();
      if (!v || !n->is_integer()) return fail(key, "expected an integer");
      if (*v < lo || *v > hi) return fail(key, fmt::format("{} is outside [{}, {}]", *v, lo, hi));
      out = static_cast<uint32_t>(*v);
    }
  }
  void boolean(std::string_view key, bool& out) {
    if (const toml::node* n = node(key)) {
      if (auto v = n->value<bool>(); v && n->is_boolean())
        out = *v;
      else
        fail(key, "expected true or false");
    }
  }
  // A duration by the config's rules (engine/duration.h): "500ms", "15s", "15m", "48h", "30d"
  // or integer milliseconds. At most kMaxProfileDurationMs, so that the generator's sums of
  // times and durations stay far from overflow.
  std::optional<int64_t> duration_of(std::string_view key, const toml::node& n) {
    auto ms = duration_from_toml(n, fmt::format("[{}] {}", path_, key));
    if (!ms) {
      if (error_.empty()) error_ = fmt::format("{}: {}", source_, ms.error().message);
      return std::nullopt;
    }
    if (ms.value() > kMaxProfileDurationMs) {
      fail(key, fmt::format("must be at most {}d", kMaxDays));
      return std::nullopt;
    }
    return ms.value();
  }
  void duration(std::string_view key, int64_t& out) {
    if (const toml::node* n = node(key)) {
      if (auto ms = duration_of(key, *n)) out = *ms;
    }
  }
  // ["min", "max"] with min <= max.
  void duration_range(std::string_view key, DurationRange& out) {
    const toml::node* n = node(key);
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a || a->size() != 2) return fail(key, "expected [\"min\", \"max\"] durations");
    auto lo = duration_of(key, *a->get(0));
    auto hi = duration_of(key, *a->get(1));
    if (!lo || !hi) return;
    if (*lo > *hi) return fail(key, "min exceeds max");
    out = DurationRange{*lo, *hi};
  }
  void require(std::string_view key) {
    if (!node(key)) fail(key, "missing");
  }

 private:
  const toml::table* table_;
  std::string source_;
  std::string path_;
  std::string error_;
};

// A control character (ASCII, a C1 control in UTF-8, a line or paragraph separator) would split
// every message that quotes the text, and every patient id made from it, over lines.
bool one_line(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    if (u < 0x20 || u == 0x7f) return false;
    if (u == 0xc2 && next >= 0x80 && next <= 0x9f) return false;  // U+0080..9F
    if (text.substr(i).starts_with("\xe2\x80\xa8") || text.substr(i).starts_with("\xe2\x80\xa9")) {
      return false;  // U+2028, U+2029
    }
  }
  return true;
}

Result<int64_t> read_start(const toml::node* n, const std::string& source) {
  if (!n) return int64_t{1'704'067'200'000};  // 2024-01-01T00:00:00Z
  if (auto dt = n->value<toml::date_time>()) {
    return epoch_ms_from_civil(dt->date.year, dt->date.month, dt->date.day, dt->time.hour,
                               dt->time.minute, dt->time.second, dt->time.nanosecond / 1'000'000,
                               dt->offset ? dt->offset->minutes : 0);
  }
  if (n->is_integer()) return *n->value<int64_t>();
  return make_error(Errc::config, fmt::format("{}: [profile] start: expected a date-time such as "
                                              "2024-01-01T00:00:00Z or epoch milliseconds",
                                              source));
}

}  // namespace

Result<Profile> profile_from_toml(const toml::table& doc, const std::string& source) {
  Profile p;
  const toml::table* root = doc["profile"].as_table();
  if (!root) return make_error(Errc::config, fmt::format("{}: missing [profile] table", source));

  TableReader top(root, source, "profile");
  top.check_keys({"name", "description", "patient_prefix", "start", "stay", "vitals", "notes",
                  "imaging", "deterioration", "signal"});
  top.require("name");
  top.string("name", p.name);
  top.string("description", p.description);
  p.patient_prefix = p.name;
  top.string("patient_prefix", p.patient_prefix);
  if (!top.ok()) return make_error(Errc::config, top.error());
  if (p.name.empty()) return make_error(Errc::config, source + ": [profile] name: empty");
  if (!one_line(p.name)) {
    return make_error(Errc::config,
                      source + ": [profile] name: must not contain control characters");
  }
  if (p.patient_prefix.empty() || p.patient_prefix.size() > 48) {
    return make_error(Errc::config,
                      source + (root->get("patient_prefix")
                                    ? ": [profile] patient_prefix: must be 1..48 bytes (ids are <= "
                                      "64)"
                                    : ": [profile] name: longer than 48 bytes; set patient_prefix "
                                      "(1..48 bytes, the default is the name)"));
  }
  if (!one_line(p.patient_prefix)) {
    return make_error(Errc::config,
                      source + ": [profile] patient_prefix: must not contain control characters");
  }
  auto start = read_start(root->get("start"), source);
  if (!start) return start.error();
  if (start.value() < 0 || start.value() > kMaxTimeMs) {
    return make_error(Errc::config,
                      fmt::format("{}: [profile] start: must be between 1970 and 9999", source));
  }
  p.start_ms = start.value();

  const toml::table* stay_t = top.table("stay");
  const toml::table* vitals_t = top.table("vitals");
  const toml::table* notes_t = top.table("notes");
  const toml::table* imaging_t = top.table("imaging");
  const toml::table* det_t = top.table("deterioration");
  const toml::table* signal_t = top.table("signal");
  if (!top.ok()) return make_error(Errc::config, top.error());

  // [profile.stay]
  TableReader stay(stay_t, source, "profile.stay");
  stay.check_keys({"median", "sigma", "range"});
  stay.require("median");
  stay.duration("median", p.stay.median_ms);
  stay.number("sigma", p.stay.sigma, 0.0, 3.0);
  p.stay.clamp = DurationRange{3'600'000, 365 * kDayMs};
  stay.duration_range("range", p.stay.clamp);
  if (stay.ok() && p.stay.median_ms <= 0) stay.fail("median", "must be positive");
  if (stay.ok() && p.stay.clamp.min_ms <= 0) stay.fail("range", "min must be positive");
  if (!stay.ok()) return make_error(Errc::config, stay.error());

  // [profile.vitals]
  TableReader vit(vitals_t, source, "profile.vitals");
  vit.check_keys({"cadence", "jitter", "latency", "upload_interval", "device_off_per_day",
                  "device_off", "acuity", "chronic_fraction", "exertion_per_day",
                  "transient_per_day", "channel_probability"});
  vit.require("cadence");
  vit.require("channel_probability");
  vit.duration("cadence", p.vitals.cadence_ms);
  vit.duration("jitter", p.vitals.jitter_ms);
  vit.duration_range("latency", p.vitals.latency);
  vit.duration("upload_interval", p.vitals.upload_interval_ms);
  vit.number("device_off_per_day", p.vitals.device_off_per_day, 0, 100);
  vit.duration_range("device_off", p.vitals.device_off);
  vit.number("acuity", p.vitals.acuity, -1, 2);
  vit.number("chronic_fraction", p.vitals.chronic_fraction, 0, 1);
  vit.number("exertion_per_day", p.vitals.exertion_per_day, 0, 100);
  vit.number("transient_per_day", p.vitals.transient_per_day, 0, 100);
  if (vit.ok() && p.vitals.cadence_ms <= 0) vit.fail("cadence", "must be positive");
  if (vit.ok() && 2 * p.vitals.jitter_ms >= p.vitals.cadence_ms) {
    vit.fail("jitter", "must be less than half the cadence");
  }
  if (vit.ok() && p.vitals.device_off_per_day > 0 && p.vitals.device_off.min_ms <= 0) {
    vit.fail("device_off", "gaps need a positive minimum length");
  }
  if (const toml::table* cp = vit.table("channel_probability")) {
    TableReader chan(cp, source, "profile.vitals.channel_probability");
    for (const auto& [key, node] : *cp) {
      bool known = false;
      for (std::size_t c = 0; c < kChannelCount; ++c) {
        if (key.str() == kChannelNames[c]) {
          known = true;
          chan.number(key.str(), p.vitals.channel_probability[c], 0, 1);
        }
      }
      if (!known) {
        chan.fail(key.str(),
                  "unknown channel (known: hr, spo2, rr, temp, sbp, activity, o2, avpu)");
      }
    }
    if (!chan.ok()) return make_error(Errc::config, chan.error());
  }
  if (!vit.ok()) return make_error(Errc::config, vit.error());

  // [profile.notes]
  TableReader notes(notes_t, source, "profile.notes");
  notes.check_keys(
      {"patient_fraction", "interval", "concern_rate_boost", "delay", "delay_median", "words"});
  notes.number("patient_fraction", p.notes.patient_fraction, 0, 1);
  notes.duration("interval", p.notes.interval_ms);
  notes.number("concern_rate_boost", p.notes.concern_rate_boost, 0, 20);
  p.notes.delay = DurationRange{1'800'000, 6 * 3'600'000};
  notes.duration_range("delay", p.notes.delay);
  p.notes.delay_median_ms = 5'400'000;
  notes.duration("delay_median", p.notes.delay_median_ms);
  if (const toml::node* w = notes.node("words")) {
    const toml::array* a = w->as_array();
    if (!a || a->size() != 2 || !a->get(0)->is_integer() || !a->get(1)->is_integer()) {
      notes.fail("words", "expected [min, max] integers");
    } else {
      const int64_t lo = *a->get(0)->value<int64_t>();
      const int64_t hi = *a->get(1)->value<int64_t>();
      // max >= 25 leaves room for the longest set of concern and context phrases (24 words).
      if (lo < 10 || hi < 25 || hi > 200 || lo > hi) {
        notes.fail("words", "expected 10 <= min <= max <= 200 and max >= 25");
      }
      p.notes.min_words = static_cast<uint32_t>(lo);
      p.notes.max_words = static_cast<uint32_t>(hi);
    }
  }
  if (notes.ok() && p.notes.patient_fraction > 0 && p.notes.interval_ms <= 0) {
    notes.fail("interval", "must be positive when patients have notes");
  }
  if (notes.ok() && (p.notes.delay_median_ms < p.notes.delay.min_ms ||
                     p.notes.delay_median_ms > p.notes.delay.max_ms)) {
    notes.fail("delay_median", "must lie within delay");
  }
  if (!notes.ok()) return make_error(Errc::config, notes.error());

  // [profile.imaging]
  TableReader img(imaging_t, source, "profile.imaging");
  img.check_keys(
      {"count_probability", "at_admission", "on_deterioration", "read_delay", "read_delay_median"});
  if (const toml::node* cp = img.node("count_probability")) {
    const toml::array* a = cp->as_array();
    double sum = 0;
    bool good = a && a->size() == 4;
    for (std::size_t i = 0; good && i < 4; ++i) {
      auto v = a->get(i)->value<double>();
      good = v && *v >= 0 && *v <= 1;
      if (good) sum += p.imaging.count_probability[i] = *v;
    }
    if (!good) {
      img.fail("count_probability", "expected 4 probabilities for 0, 1, 2, 3 studies per stay");
    } else if (std::abs(sum - 1.0) > 1e-6) {
      img.fail("count_probability", fmt::format("probabilities sum to {}, not 1", sum));
    }
  }
  img.boolean("at_admission", p.imaging.at_admission);
  img.number("on_deterioration", p.imaging.on_deterioration, 0, 1);
  p.imaging.read_delay = DurationRange{1'800'000, 8 * 3'600'000};
  img.duration_range("read_delay", p.imaging.read_delay);
  p.imaging.read_delay_median_ms = 7'200'000;
  img.duration("read_delay_median", p.imaging.read_delay_median_ms);
  if (img.ok() && (p.imaging.read_delay_median_ms < p.imaging.read_delay.min_ms ||
                   p.imaging.read_delay_median_ms > p.imaging.read_delay.max_ms)) {
    img.fail("read_delay_median", "must lie within read_delay");
  }
  if (!img.ok()) return make_error(Errc::config, img.error());

  // [profile.deterioration]
  TableReader det(det_t, source, "profile.deterioration");
  det.check_keys({"fraction", "prodrome", "near_miss_fraction"});
  det.require("fraction");
  det.number("fraction", p.deterioration.fraction, 0, 1);
  p.deterioration.prodrome = DurationRange{6 * 3'600'000, 16 * 3'600'000};
  det.duration_range("prodrome", p.deterioration.prodrome);
  det.number("near_miss_fraction", p.deterioration.near_miss_fraction, 0, 1);
  if (det.ok() && p.deterioration.prodrome.min_ms <= 0) det.fail("prodrome", "must be positive");
  if (!det.ok()) return make_error(Errc::config, det.error());

  // [profile.signal]
  TableReader sig(signal_t, source, "profile.signal");
  sig.check_keys({"vitals", "text", "imaging", "interaction", "timing_fade", "distractor_notes"});
  sig.number("vitals", p.signal.vitals, 0, 5);
  sig.number("text", p.signal.text, 0, 1);
  sig.number("imaging", p.signal.imaging, 0, 10);
  sig.number("interaction", p.signal.interaction, 0, 1);
  sig.duration("timing_fade", p.signal.timing_fade_ms);
  sig.number("distractor_notes", p.signal.distractor_notes, 0, 1);
  if (sig.ok() && p.signal.timing_fade_ms <= 0) sig.fail("timing_fade", "must be positive");
  if (!sig.ok()) return make_error(Errc::config, sig.error());

  auto engine = engine_config_from_toml(doc);
  if (!engine) {
    return make_error(engine.error().code, fmt::format("{}: {}", source, engine.error().message));
  }
  p.engine = std::move(engine).value();
  const ModalitySpec* vitals = nullptr;  // the first vitals modality: the one the generator fills
  for (const auto& spec : p.engine.schema.specs()) {
    if (spec.kind == ModalityKind::vitals) {
      vitals = &spec;
      break;
    }
  }
  if (!vitals) {
    return make_error(
        Errc::config,
        fmt::format("{}: the profile's [[modality]] list has no vitals modality", source));
  }
  // A reading is emitted when at least one channel is present: the vitals modality needs a
  // channel the generator models, and one of those a positive probability, or the cohort would
  // have no vitals at all.
  bool modelled = false, measured = false;
  for (std::size_t c = 0; c < kChannelCount; ++c) {
    if (std::find(vitals->channels.begin(), vitals->channels.end(), kChannelNames[c]) ==
        vitals->channels.end()) {
      continue;
    }
    modelled = true;
    measured |= p.vitals.channel_probability[c] > 0;
  }
  if (!modelled) {
    return make_error(Errc::config,
                      fmt::format("{}: [[modality]] '{}' has none of the channels the generator "
                                  "models (hr, spo2, rr, temp, sbp, activity, o2, avpu)",
                                  source, vitals->name));
  }
  if (!measured) {
    return make_error(Errc::config,
                      fmt::format("{}: [profile.vitals] channel_probability: no channel of '{}' "
                                  "has a positive probability, so no reading would be emitted",
                                  source, vitals->name));
  }
  // The imaging model places two orthogonal directions (deterioration, COPD) in the first
  // embedding modality, which a 1-float vector cannot hold.
  for (const auto& spec : p.engine.schema.specs()) {
    if (spec.kind != ModalityKind::embedding) continue;
    if (spec.dim < 2) {
      return make_error(Errc::config,
                        fmt::format("{}: [[modality]] '{}' has dim {}; the generator's imaging "
                                    "needs at least 2",
                                    source, spec.name, spec.dim));
    }
    break;
  }
  return p;
}

Result<Profile> load_profile(const std::string& name_or_path, const std::string& profiles_dir) {
  if (name_or_path.empty()) return make_error(Errc::invalid_argument, "profile: empty name");
  const bool is_path = name_or_path.find('/') != std::string::npos ||
                       std::string_view(name_or_path).ends_with(".toml");
  const std::string path =
      is_path ? name_or_path
              : (std::filesystem::path(profiles_dir) / (name_or_path + ".toml")).string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return make_error(Errc::io, is_path ? fmt::format("profile file {} not found", path)
                                        : fmt::format("profile '{}' not found (looked for {})",
                                                      name_or_path, path));
  }
  auto doc = read_toml_file(path);
  if (!doc) return doc.error();
  return profile_from_toml(doc.value(), path);
}

}  // namespace tfe::synth
