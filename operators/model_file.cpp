#include "operators/model_file.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include <fmt/format.h>

#include "engine/file_writer.h"
#include "operators/hash.h"

namespace tfe {

static_assert(std::endian::native == std::endian::little,
              "model files are little-endian; this build assumes a little-endian host");

namespace {

constexpr std::size_t kHeaderBytes = 24;  // magic, version, section count, file size
constexpr std::size_t kTrailerBytes = 8;  // FNV-1a 64 of everything before it
constexpr uint32_t kMaxString = 1u << 16;
constexpr const char* kSections[] = {"ARCH", "SCHM", "WGHT", "STAT", "CALB", "META"};
constexpr uint32_t kSectionCount = 6;

// ---- writing --------------------------------------------------------------------------------

class Writer {
 public:
  std::vector<uint8_t> bytes;

  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
  void u8(uint8_t v) { bytes.push_back(v); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i64(int64_t v) { raw(&v, 8); }
  void f32(float v) { raw(&v, 4); }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  void floats(std::span<const float> v) { raw(v.data(), v.size() * sizeof(float)); }
  // Section: 4-byte tag, u64 payload length (patched by end_section).
  std::size_t begin_section(const char* tag) {
    raw(tag, 4);
    u64(0);
    return bytes.size();
  }
  void end_section(std::size_t start) {
    const uint64_t len = bytes.size() - start;
    std::memcpy(bytes.data() + start - 8, &len, 8);
  }
};

void write_params(Writer& w, const ParamSet& p) {
  w.u32(static_cast<uint32_t>(p.tensors().size()));
  for (const TensorInfo& t : p.tensors()) {
    w.str(t.name);
    w.u32(t.ref.rows);
    w.u32(t.ref.cols);
    w.floats(p.view(t.ref));
  }
}

// ---- reading --------------------------------------------------------------------------------

// Bounds-checked reader over one section's payload. The first failure is kept; later reads
// return zeros, so parsing code reads straight through and checks once.
class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, std::size_t base, std::string section)
      : bytes_(bytes), base_(base), section_(std::move(section)) {}

  bool failed() const { return error_.has_value(); }
  const Error& error() const { return *error_; }
  bool at_end() const { return pos_ == bytes_.size(); }
  std::size_t pos() const { return pos_; }

  void fail(std::string message) {
    if (!error_) {
      error_ =
          make_error(Errc::parse, fmt::format("model file section '{}': {}", section_, message));
    }
  }
  bool need(std::size_t n, std::string_view field) {
    if (failed()) return false;
    if (bytes_.size() - pos_ < n) {
      fail(fmt::format("truncated reading '{}' at byte {}", field, base_ + pos_));
      return false;
    }
    return true;
  }
  template <class T>
  T scalar(std::string_view field) {
    T v{};
    if (!need(sizeof(T), field)) return v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  uint8_t u8(std::string_view f) { return scalar<uint8_t>(f); }
  uint32_t u32(std::string_view f) { return scalar<uint32_t>(f); }
  int64_t i64(std::string_view f) { return scalar<int64_t>(f); }
  float f32(std::string_view f) {
    const float v = scalar<float>(f);
    if (!failed() && !std::isfinite(v)) fail(fmt::format("'{}' is not finite", f));
    return v;
  }
  bool boolean(std::string_view f) {
    const uint8_t v = u8(f);
    if (!failed() && v > 1) fail(fmt::format("'{}' = {} is not a boolean", f, v));
    return v == 1;
  }
  std::string str(std::string_view field) {
    const uint32_t n = u32(field);
    if (failed()) return {};
    if (n > kMaxString) {
      fail(fmt::format("'{}' length {} exceeds {}", field, n, kMaxString));
      return {};
    }
    if (!need(n, field)) return {};
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  // A count of items each at least min_item_bytes long: rejects counts the payload cannot hold
  // before anything is allocated for them.
  uint32_t count(std::string_view field, std::size_t min_item_bytes, uint32_t max) {
    const uint32_t n = u32(field);
    if (failed()) return 0;
    if (n > max) {
      fail(fmt::format("'{}' = {} exceeds the largest this format allows, {}", field, n, max));
      return 0;
    }
    if (std::size_t{n} * min_item_bytes > bytes_.size() - pos_) {
      fail(fmt::format("'{}' = {} is more than the section can hold", field, n));
      return 0;
    }
    return n;
  }
  void floats(std::span<float> out, std::string_view field) {
    if (!need(out.size() * sizeof(float), field)) return;
    if (out.empty()) return;  // out.data() may be null: memcpy must not see it
    std::memcpy(out.data(), bytes_.data() + pos_, out.size() * sizeof(float));
    pos_ += out.size() * sizeof(float);
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (!std::isfinite(out[i])) {
        fail(fmt::format("{}[{}] is not finite", field, i));
        return;
      }
    }
  }

 private:
  std::span<const uint8_t> bytes_;
  std::size_t base_;  // file offset of bytes_[0], for messages
  std::size_t pos_ = 0;
  std::string section_;
  std::optional<Error> error_;
};

ModelConfig read_arch(Reader& r) {
  ModelConfig a;
  const std::string strategy = r.str("strategy");
  if (auto s = strategy_from_string(strategy)) {
    a.strategy = *s;
  } else if (!r.failed()) {
    r.fail(fmt::format("unknown strategy '{}'", quoted_text(strategy)));
  }
  a.d_model = r.u32("d_model");
  a.heads = r.u32("heads");
  a.time2vec_k = r.u32("time2vec_k");
  a.sinusoidal = r.boolean("sinusoidal");
  a.sinusoidal_dim = r.u32("sinusoidal_dim");
  a.history_k = r.u32("history_k");
  const uint32_t n_hidden = r.count("hidden", 4, kMaxHiddenLayers);
  a.hidden.clear();
  for (uint32_t i = 0; i < n_hidden; ++i) a.hidden.push_back(r.u32(fmt::format("hidden[{}]", i)));
  a.encoder_hidden = r.u32("encoder_hidden");
  const std::string cal = r.str("calibration");
  if (auto c = calibration_method_from_string(cal)) {
    a.calibration = *c;
  } else if (!r.failed()) {
    r.fail(fmt::format("unknown calibration '{}'", quoted_text(cal)));
  }
  return a;
}

ModelSchema read_schema(Reader& r) {
  ModelSchema s;
  const uint32_t n_windows = r.count("windows", 8, 64);
  for (uint32_t i = 0; i < n_windows; ++i) {
    s.windows_ms.push_back(r.i64(fmt::format("windows[{}]", i)));
  }
  const uint32_t n_mod = r.count("modalities", 4, kMaxModalities);
  for (uint32_t m = 0; m < n_mod && !r.failed(); ++m) {
    ModelModality mod;
    const std::string f = fmt::format("modality[{}]", m);
    mod.name = r.str(f + ".name");
    if (!r.failed() && !valid_name(mod.name)) {
      r.fail(fmt::format("{}.name '{}' is not a name (1 to {} bytes, no control characters)", f,
                         quoted_text(mod.name), kMaxNameBytes));
    }
    const std::string kind = r.str(f + ".kind");
    if (auto k = modality_kind_from_string(kind)) {
      mod.kind = *k;
    } else if (!r.failed()) {
      r.fail(fmt::format("{} ('{}') has unknown kind '{}'", f, mod.name, quoted_text(kind)));
    }
    mod.dim = r.u32(f + ".dim");
    mod.text_hash_dim = r.u32(f + ".text_hash_dim");
    mod.l2_normalize = r.boolean(f + ".l2_normalize");
    const uint32_t n_ch = r.count(f + ".channels", 4, kMaxChannels);
    for (uint32_t c = 0; c < n_ch; ++c) {
      mod.channels.push_back(r.str(fmt::format("{}.channels[{}]", f, c)));
      if (!r.failed() && !valid_name(mod.channels.back())) {
        r.fail(fmt::format("{}.channels[{}] '{}' is not a name", f, c,
                           quoted_text(mod.channels.back())));
      }
    }
    s.modalities.push_back(std::move(mod));
  }
  return s;
}

// Reads a tensor set into `expected` (the skeleton's, all names and shapes known): the file must
// list exactly those tensors, in that order, with those shapes.
void read_params(Reader& r, ParamSet& expected) {
  const auto& tensors = expected.tensors();
  const uint32_t n = r.count("tensor count", 12, 1u << 20);
  if (r.failed()) return;
  if (n != tensors.size()) {
    r.fail(fmt::format("has {} tensors, the architecture expects {}", n, tensors.size()));
    return;
  }
  // Names are quoted whole up to the longest the architecture has (every name a valid file can
  // hold); only a longer one is cut, and then its length is given.
  std::size_t longest = 0;
  for (const TensorInfo& t : tensors) longest = std::max(longest, t.name.size());
  const auto show = [&](const std::string& name) {
    std::string s = fmt::format("'{}'", quoted_text(name, longest));
    if (name.size() > longest) s += fmt::format(" ({} bytes)", name.size());
    return s;
  };
  for (std::size_t i = 0; i < tensors.size() && !r.failed(); ++i) {
    const TensorInfo& t = tensors[i];
    const std::string name = r.str(fmt::format("tensor[{}].name", i));
    const std::string shown = show(name);
    const uint32_t rows = r.u32(fmt::format("tensor {} rows", shown));
    const uint32_t cols = r.u32(fmt::format("tensor {} cols", shown));
    if (r.failed()) return;
    if (name != t.name) {
      r.fail(fmt::format("tensor[{}].name is {}, the architecture expects {}", i, shown,
                         show(t.name)));
      return;
    }
    if (rows != t.ref.rows || cols != t.ref.cols) {
      r.fail(fmt::format("tensor[{}] {} is [{}x{}], the architecture expects [{}x{}]", i, shown,
                         rows, cols, t.ref.rows, t.ref.cols));
      return;
    }
    r.floats(expected.view(t.ref), fmt::format("tensor '{}'", t.name));
  }
}

Calibration read_calibration(Reader& r) {
  Calibration c;
  const std::string method = r.str("method");
  if (auto m = calibration_method_from_string(method)) {
    c.method = *m;
  } else if (!r.failed()) {
    r.fail(fmt::format("unknown calibration method '{}'", quoted_text(method)));
  }
  c.platt_a = r.f32("platt_a");
  c.platt_b = r.f32("platt_b");
  const uint32_t n = r.count("steps", 8, 1u << 20);
  c.thresholds.resize(n);
  c.values.resize(n);
  r.floats(c.thresholds, "'thresholds'");
  r.floats(c.values, "'values'");
  return c;
}

Error file_error(std::string message) { return make_error(Errc::parse, std::move(message)); }

Error with_prefix(std::string_view prefix, Error e) {
  e.message = fmt::format("{}{}", prefix, e.message);
  return e;
}

}  // namespace

std::vector<uint8_t> serialize_model(const FusionModel& model) {
  Writer w;
  w.raw(kModelMagic, sizeof kModelMagic);
  w.u32(kModelFormatVersion);
  w.u32(kSectionCount);
  w.u64(0);  // file size, patched below

  std::size_t s = w.begin_section("ARCH");
  const ModelConfig& a = model.arch;
  w.str(to_string(a.strategy));
  w.u32(a.d_model);
  w.u32(a.heads);
  w.u32(a.time2vec_k);
  w.u8(a.sinusoidal ? 1 : 0);
  w.u32(a.sinusoidal_dim);
  w.u32(a.history_k);
  w.u32(static_cast<uint32_t>(a.hidden.size()));
  for (uint32_t h : a.hidden) w.u32(h);
  w.u32(a.encoder_hidden);
  w.str(to_string(a.calibration));
  w.end_section(s);

  s = w.begin_section("SCHM");
  w.u32(static_cast<uint32_t>(model.schema.windows_ms.size()));
  for (int64_t ms : model.schema.windows_ms) w.i64(ms);
  w.u32(static_cast<uint32_t>(model.schema.modalities.size()));
  for (const ModelModality& m : model.schema.modalities) {
    w.str(m.name);
    w.str(to_string(m.kind));
    w.u32(m.dim);
    w.u32(m.text_hash_dim);
    w.u8(m.l2_normalize ? 1 : 0);
    w.u32(static_cast<uint32_t>(m.channels.size()));
    for (const std::string& c : m.channels) w.str(c);
  }
  w.end_section(s);

  s = w.begin_section("WGHT");
  write_params(w, model.weights);
  w.end_section(s);

  s = w.begin_section("STAT");
  write_params(w, model.stats);
  w.end_section(s);

  s = w.begin_section("CALB");
  const Calibration& c = model.calibration;
  w.str(to_string(c.method));
  w.f32(c.platt_a);
  w.f32(c.platt_b);
  w.u32(static_cast<uint32_t>(c.thresholds.size()));
  w.floats(c.thresholds);
  w.floats(c.values);
  w.end_section(s);

  s = w.begin_section("META");
  w.u32(static_cast<uint32_t>(model.metadata.size()));
  for (const auto& [k, v] : model.metadata) {  // std::map: sorted, so deterministic
    w.str(k);
    w.str(v);
  }
  w.end_section(s);

  const uint64_t size = w.bytes.size() + kTrailerBytes;
  std::memcpy(w.bytes.data() + 16, &size, 8);
  w.u64(fnv1a64(w.bytes));
  return std::move(w.bytes);
}

std::string model_id(const FusionModel& model) {
  const std::vector<uint8_t> bytes = serialize_model(model);
  uint64_t h = 0;
  std::memcpy(&h, bytes.data() + bytes.size() - kTrailerBytes, 8);
  return hex64(h);
}

namespace {

// The checks that need only the header (`head`: the first min(size, kHeaderBytes) bytes) and the
// file's size, so that a loader can refuse a file that is not a model before reading it.
Result<void> check_header(std::span<const uint8_t> head, uint64_t size) {
  if (size == 0) return file_error("model file is empty");
  if (std::memcmp(head.data(), kModelMagic, std::min(head.size(), sizeof kModelMagic)) != 0) {
    return file_error("not a tfe model file (bad magic)");
  }
  if (size < kHeaderBytes + kTrailerBytes) {
    return file_error(
        fmt::format("model file truncated: {} bytes, shorter than header and trailer ({} bytes)",
                    size, kHeaderBytes + kTrailerBytes));
  }
  uint32_t version = 0;
  uint64_t declared = 0;
  std::memcpy(&version, head.data() + 8, 4);
  std::memcpy(&declared, head.data() + 16, 8);
  if (version != kModelFormatVersion) {
    return make_error(
        Errc::unsupported,
        fmt::format("unsupported model format version {} (this build reads version {})", version,
                    kModelFormatVersion));
  }
  if (size < declared) {
    return file_error(
        fmt::format("model file truncated: header declares {} bytes, file has {}", declared, size));
  }
  if (size > declared) {
    return file_error(fmt::format("model file has {} bytes past its declared end ({} bytes)",
                                  size - declared, declared));
  }
  return ok();
}

// The range of every value of a tensor, by its kind (the name's suffix in STAT; every WGHT
// tensor is a weight).
struct ValueRange {
  float lo, hi;
  std::string_view what;
};

ValueRange value_range(std::string_view section, std::string_view tensor) {
  // Training's floor, rounded as training stores it: every trained deviation passes.
  constexpr float kMinStd = static_cast<float>(kMinInputStd);
  if (section == "WGHT") return {-kMaxWeight, kMaxWeight, "a weight"};
  if (tensor.ends_with(".std")) return {kMinStd, kMaxStatistic, "a standard deviation"};
  if (tensor.ends_with(".idf")) return {0.0f, kMaxIdf, "an IDF weight"};
  return {-kMaxStatistic, kMaxStatistic, "a mean"};
}

Result<void> check_bounds(std::string_view section, const ParamSet& params) {
  for (const TensorInfo& t : params.tensors()) {
    const ValueRange range = value_range(section, t.name);
    std::span<const float> v = params.view(t.ref);
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!(v[i] >= range.lo && v[i] <= range.hi)) {
        return file_error(
            fmt::format("model file section '{}': '{}'[{}] = {} is outside [{:g}, {:g}], the range "
                        "of {}",
                        section, t.name, i, v[i], range.lo, range.hi, range.what));
      }
    }
  }
  return ok();
}

Result<void> check_calibration_bounds(const Calibration& c) {
  constexpr float kMax = kMaxCalibrationMagnitude;
  const auto outside = [&](std::string field, float v) {
    return file_error(fmt::format(
        "model file section 'CALB': '{}' = {} is outside [{:g}, {:g}], the range of calibration",
        field, v, -kMax, kMax));
  };
  if (!(std::fabs(c.platt_a) <= kMax)) return outside("platt_a", c.platt_a);
  if (!(std::fabs(c.platt_b) <= kMax)) return outside("platt_b", c.platt_b);
  for (std::size_t i = 0; i < c.thresholds.size(); ++i) {
    if (!(std::fabs(c.thresholds[i]) <= kMax)) {
      return outside(fmt::format("thresholds[{}]", i), c.thresholds[i]);
    }
  }
  return ok();
}

}  // namespace

Result<FusionModel> parse_model(std::span<const uint8_t> bytes) {
  const std::size_t size = bytes.size();
  if (auto h = check_header(bytes.first(std::min(size, kHeaderBytes)), size); !h) {
    return h.error();
  }
  uint32_t sections = 0;
  std::memcpy(&sections, bytes.data() + 12, 4);
  uint64_t stored = 0;
  std::memcpy(&stored, bytes.data() + size - kTrailerBytes, 8);
  const uint64_t computed = fnv1a64(bytes.first(size - kTrailerBytes));
  if (stored != computed) {
    return file_error(
        fmt::format("model file checksum mismatch (stored {}, computed {}): the file is corrupted",
                    hex64(stored), hex64(computed)));
  }
  if (sections != kSectionCount) {
    return file_error(fmt::format("model file has {} sections, version {} has {}", sections,
                                  kModelFormatVersion, kSectionCount));
  }

  // Sections, in their fixed order. Each payload is parsed by its own bounded reader.
  std::span<const uint8_t> payload[kSectionCount];
  std::size_t offsets[kSectionCount];
  std::size_t pos = kHeaderBytes;
  const std::size_t end = size - kTrailerBytes;
  for (uint32_t i = 0; i < kSectionCount; ++i) {
    if (end - pos < 12) {
      return file_error(fmt::format("model file truncated before section '{}'", kSections[i]));
    }
    if (std::memcmp(bytes.data() + pos, kSections[i], 4) != 0) {
      return file_error(
          fmt::format("model file: expected section '{}' at byte {}", kSections[i], pos));
    }
    uint64_t len = 0;
    std::memcpy(&len, bytes.data() + pos + 4, 8);
    pos += 12;
    if (len > end - pos) {
      return file_error(fmt::format("model file section '{}' declares {} bytes, {} remain",
                                    kSections[i], len, end - pos));
    }
    payload[i] = bytes.subspan(pos, len);
    offsets[i] = pos;
    pos += len;
  }
  if (pos != end) {
    return file_error(
        fmt::format("model file has {} unexpected bytes after its sections", end - pos));
  }
  auto finish = [](Reader& r) -> Result<void> {
    if (!r.failed() && !r.at_end()) r.fail(fmt::format("{} unexpected trailing bytes", r.pos()));
    if (r.failed()) return r.error();
    return ok();
  };

  Reader arch_r(payload[0], offsets[0], "ARCH");
  const ModelConfig arch = read_arch(arch_r);
  if (auto f = finish(arch_r); !f) return f.error();
  if (auto v = validate(arch); !v) return with_prefix("model file section 'ARCH': ", v.error());

  Reader schema_r(payload[1], offsets[1], "SCHM");
  const ModelSchema schema = read_schema(schema_r);
  if (auto f = finish(schema_r); !f) return f.error();

  auto skeleton = make_model_skeleton(arch, schema);
  if (!skeleton) return with_prefix("model file section 'SCHM': ", skeleton.error());
  FusionModel model = std::move(skeleton).value();

  Reader weights_r(payload[2], offsets[2], "WGHT");
  read_params(weights_r, model.weights);
  if (auto f = finish(weights_r); !f) return f.error();
  if (auto b = check_bounds("WGHT", model.weights); !b) return b.error();

  Reader stats_r(payload[3], offsets[3], "STAT");
  read_params(stats_r, model.stats);
  if (auto f = finish(stats_r); !f) return f.error();
  if (auto b = check_bounds("STAT", model.stats); !b) return b.error();

  Reader cal_r(payload[4], offsets[4], "CALB");
  model.calibration = read_calibration(cal_r);
  if (auto f = finish(cal_r); !f) return f.error();
  if (auto v = validate(model.calibration); !v) {
    return with_prefix("model file section 'CALB': ", v.error());
  }
  if (auto b = check_calibration_bounds(model.calibration); !b) return b.error();
  if (model.calibration.method != arch.calibration) {
    return file_error(
        fmt::format("model file section 'CALB': method '{}' differs from the architecture's '{}'",
                    to_string(model.calibration.method), to_string(arch.calibration)));
  }

  Reader meta_r(payload[5], offsets[5], "META");
  const uint32_t n_meta = meta_r.count("entries", 8, 1u << 16);
  // Keys strictly ascending, as the writer's std::map orders them: any other order would load
  // as a model whose bytes, and so whose id, differ from the file's.
  const std::string* previous = nullptr;
  for (uint32_t i = 0; i < n_meta && !meta_r.failed(); ++i) {
    std::string k = meta_r.str(fmt::format("entry[{}].key", i));
    std::string v = meta_r.str(fmt::format("entry[{}].value", i));
    if (meta_r.failed()) break;
    if (previous != nullptr && !(*previous < k)) {
      meta_r.fail(*previous == k ? fmt::format("entry[{}] repeats the key '{}'", i, quoted_text(k))
                                 : fmt::format("entry[{}] key '{}' is not after '{}' (keys are "
                                               "sorted)",
                                               i, quoted_text(k), quoted_text(*previous)));
      break;
    }
    previous =
        &model.metadata.emplace_hint(model.metadata.end(), std::move(k), std::move(v))->first;
  }
  if (auto f = finish(meta_r); !f) return f.error();
  return model;
}

Result<void> save_model(const FusionModel& model, const std::string& path) {
  const std::vector<uint8_t> bytes = serialize_model(model);
  // Whole or absent: never cut short by a full disk, and a failed write leaves an earlier model
  // in place.
  auto file = FileWriter::create(path);
  if (!file) return file.error();
  file.value()->append(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  return file.value()->close();
}

Result<FusionModel> load_model(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
    return make_error(Errc::io,
                      fmt::format("{}: not a model file (a directory or a device)", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, fmt::format("{}: cannot open model file", path));
  // The header and the size first: a file that is not a model (a history of gigabytes given by
  // mistake) is refused without being read into memory.
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  in.seekg(0, std::ios::beg);
  if (end < 0 || !in) return make_error(Errc::io, fmt::format("{}: read failed", path));
  const auto size = static_cast<uint64_t>(end);
  std::array<uint8_t, kHeaderBytes> head{};
  const std::size_t head_bytes = static_cast<std::size_t>(std::min<uint64_t>(size, kHeaderBytes));
  if (!in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head_bytes))) {
    return make_error(Errc::io, fmt::format("{}: read failed", path));
  }
  if (auto h = check_header(std::span<const uint8_t>(head).first(head_bytes), size); !h) {
    return with_prefix(path + ": ", h.error());
  }
  // The declared size equals the file's: read it whole.
  std::vector<uint8_t> bytes(size);
  std::copy_n(head.begin(), head_bytes, bytes.begin());
  const auto rest = static_cast<std::streamsize>(size - head_bytes);
  if (!in.read(reinterpret_cast<char*>(bytes.data() + head_bytes), rest)) {
    return make_error(Errc::io, fmt::format("{}: read failed", path));
  }
  auto model = parse_model(bytes);
  if (!model) return with_prefix(path + ": ", model.error());
  return model;
}

Result<void> check_model_matches_config(const FusionModel& model, const EngineConfig& config) {
  return check_schema(model.schema, model_schema_from_config(config));
}

}  // namespace tfe
