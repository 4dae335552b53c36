#include "connectors/event_codec.h"

#include <simdjson.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <span>
#include <string>

#include "connectors/json_write.h"

namespace tfe {

static_assert(kDecodePadding == simdjson::SIMDJSON_PADDING);

namespace {

constexpr std::string_view kOutcomeName = "outcome";
constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

constexpr std::array<std::string_view, kDecodeReasonCount> kReasonNames = {
    "malformed_json",
    "invalid_utf8",
    "missing_field",
    "wrong_type",
    "unknown_modality",
    "wrong_dimension",
    "non_finite_value",
    "bad_patient_id",
    "event_time_out_of_range",
    "arrival_time_out_of_range",
    "record_too_large",
    "empty_values",
    "bad_checksum",
    "truncated_record",
    "malformed_record",
    "value_out_of_range",
};
static_assert(static_cast<std::size_t>(DecodeReason::value_out_of_range) + 1 == kDecodeReasonCount);

DecodeError fail(DecodeReason reason, std::string message) {
  return DecodeError{reason, std::move(message)};
}

std::string field_message(std::string_view field, std::string_view what) {
  std::string m = "field '";
  m.append(field).append("' ").append(what);
  return m;
}

// Known top-level fields; anything else is ignored (forward compatibility).
enum Field : uint8_t {
  kPatientId,
  kModality,
  kEventTime,
  kArrivalTime,
  kValues,
  kText,
  kEmbedding,
  kLabel,
  kFieldCount,
  kUnknownField = kFieldCount,
};
constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "patient_id", "modality", "event_time", "arrival_time", "values", "text", "embedding", "label"};

Field classify_field(std::string_view key) {
  Field f = kUnknownField;
  switch (key.size()) {  // the names differ in length except text/label
    case 10:
      f = key[0] == 'p' ? kPatientId : kEventTime;
      break;
    case 8:
      f = kModality;
      break;
    case 12:
      f = kArrivalTime;
      break;
    case 6:
      f = kValues;
      break;
    case 4:
      f = kText;
      break;
    case 9:
      f = kEmbedding;
      break;
    case 5:
      f = kLabel;
      break;
    default:
      return kUnknownField;
  }
  return key == kFieldNames[f] ? f : kUnknownField;
}

// After simdjson rejects a document: is the cause a NaN/Infinity literal or a number beyond double
// range (reported as non_finite_value) rather than plain malformed JSON? Scans tokens outside
// string literals; runs on the error path only.
bool has_non_finite_token(std::string_view s) {
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
      std::size_t j = i;
      while (j < s.size() && ((s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= 'a' && s[j] <= 'z'))) ++j;
      const std::string_view word = s.substr(i, j - i);
      if (word == "NaN" || word == "nan" || word == "Infinity" || word == "infinity" ||
          word == "inf" || word == "Inf") {
        return true;
      }
      i = j - 1;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t j = i + 1;
      while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.' || s[j] == 'e' ||
                              s[j] == 'E' || s[j] == '+' || s[j] == '-')) {
        ++j;
      }
      const std::string token(s.substr(i, j - i));
      char* end = nullptr;
      const double v = std::strtod(token.c_str(), &end);
      if (end != token.c_str() && std::isinf(v)) return true;
      i = j - 1;
    }
  }
  return false;
}

DecodeError classify_parse_error(simdjson::error_code code, std::string_view record) {
  switch (code) {
    case simdjson::UTF8_ERROR:
      return fail(DecodeReason::invalid_utf8, "record is not valid UTF-8");
    case simdjson::CAPACITY:
      return fail(DecodeReason::record_too_large, "record exceeds max_record_bytes");
    default:
      break;
  }
  if (has_non_finite_token(record)) {
    return fail(DecodeReason::non_finite_value,
                "record holds a NaN, Infinity or out-of-range number");
  }
  std::string m = "record is not valid JSON (";
  m.append(simdjson::error_message(code)).append(")");
  return fail(DecodeReason::malformed_json, std::move(m));
}

// An integer field in epoch milliseconds.
DecodeResult<int64_t> read_time(simdjson::dom::element el, Field field, DecodeReason range_reason) {
  const std::string_view name = kFieldNames[field];
  switch (el.type()) {
    case simdjson::dom::element_type::INT64:
      return int64_t(el.get_int64().value_unsafe());
    case simdjson::dom::element_type::UINT64:
      return fail(range_reason, field_message(name, "is out of range"));
    case simdjson::dom::element_type::DOUBLE: {
      const double d = el.get_double().value_unsafe();
      if (std::nearbyint(d) == d && std::fabs(d) >= 9.2e18) {
        return fail(range_reason, field_message(name, "is out of range"));
      }
      return fail(DecodeReason::wrong_type, field_message(name, "is not an integer"));
    }
    default:
      return fail(DecodeReason::wrong_type, field_message(name, "is not an integer"));
  }
}

bool is_null(simdjson::dom::element el) {
  return el.type() == simdjson::dom::element_type::NULL_VALUE;
}

}  // namespace

std::string_view to_string(DecodeReason reason) {
  return kReasonNames[static_cast<std::size_t>(reason)];
}

std::optional<DecodeReason> decode_reason_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kDecodeReasonCount; ++i) {
    if (kReasonNames[i] == name) return static_cast<DecodeReason>(i);
  }
  return std::nullopt;
}

bool has_lone_cr(std::string_view text) {
  for (std::size_t i = text.find('\r'); i != std::string_view::npos && i + 1 < text.size();
       i = text.find('\r', i + 1)) {
    if (text[i + 1] != '\n') return true;
  }
  return false;
}

std::optional<DecodeError> check_patient_id(std::string_view patient_id) {
  if (patient_id.empty()) return fail(DecodeReason::bad_patient_id, "field 'patient_id' is empty");
  if (patient_id.size() > kMaxPatientIdBytes) {
    return fail(DecodeReason::bad_patient_id, "field 'patient_id' is longer than 64 bytes");
  }
  // Control characters (a JSON "\u0001", a tab, a newline) break CSV rows and terminal output
  // wherever the id is written later: C0, DEL, and C1 (U+0080..U+009F, UTF-8 C2 80..C2 9F).
  for (std::size_t i = 0; i < patient_id.size(); ++i) {
    const auto c = static_cast<unsigned char>(patient_id[i]);
    const bool c1 = c == 0xC2 && i + 1 < patient_id.size() &&
                    static_cast<unsigned char>(patient_id[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(patient_id[i + 1]) <= 0x9F;
    if (c < 0x20 || c == 0x7F || c1) {
      return fail(DecodeReason::bad_patient_id,
                  "field 'patient_id' holds a control character at byte " + std::to_string(i));
    }
  }
  return std::nullopt;
}

namespace {
bool vitals_value_in_bounds(float value) {
  return std::isfinite(value) && std::fabs(double{value}) <= kMaxVitalsMagnitude;
}
}  // namespace

std::optional<DecodeError> check_vitals_value(float value, std::string_view field) {
  if (vitals_value_in_bounds(value)) return std::nullopt;
  if (!std::isfinite(value)) {
    return fail(DecodeReason::non_finite_value, field_message(field, "is not a finite float"));
  }
  return fail(DecodeReason::value_out_of_range,
              field_message(field, "is outside |value| <= 1e9, the bound on vitals values"));
}

std::optional<DecodeError> check_record_size(const Event& event, const ModalitySchema& schema,
                                             std::string_view patient_id,
                                             const DecodeLimits& limits) {
  // An upper bound of the canonical record: a string byte takes at most 6 (\u00XX), a float at
  // most 32 with its separator, the keys and times about 200 in all.
  constexpr std::size_t kFixed = 256;
  constexpr std::size_t kPerFloat = 32;
  std::size_t bound = kFixed + 6 * patient_id.size() + 6 * event.label.size() +
                      6 * event.text.size() + kPerFloat * event.embedding.size();
  if (event.modality != kOutcomeModality && event.modality < schema.size()) {
    const ModalitySpec& spec = schema[event.modality];
    bound += 6 * spec.name.size();
    if (spec.kind == ModalityKind::vitals) {
      for (std::size_t c = 0; c < spec.channels.size(); ++c) {
        if (event.vitals.present_mask >> c & 1) bound += 6 * spec.channels[c].size() + kPerFloat;
      }
    }
  }
  if (bound <= limits.max_record_bytes) return std::nullopt;
  std::string record;
  append_event_json(record, event, schema, patient_id);
  if (record.size() <= limits.max_record_bytes) return std::nullopt;
  return fail(DecodeReason::record_too_large,
              "the event is " + std::to_string(record.size()) +
                  " bytes as a JSON record, over max_record_bytes (" +
                  std::to_string(limits.max_record_bytes) + "); the service would refuse it");
}

std::optional<DecodeError> check_event(const Event& event, const ModalitySchema& schema,
                                       const DecodeLimits& limits) {
  if (event.event_time_ms < 0 || event.event_time_ms > kMaxTimeMs) {
    return fail(DecodeReason::event_time_out_of_range,
                "field 'event_time' is before 1970 or after 9999");
  }
  if (event.arrival_time_ms < 0 || event.arrival_time_ms > kMaxTimeMs) {
    return fail(DecodeReason::arrival_time_out_of_range,
                "field 'arrival_time' is before 1970 or after 9999");
  }
  if (event.event_time_ms - event.arrival_time_ms > limits.max_event_skew_ms) {
    return fail(DecodeReason::event_time_out_of_range,
                "field 'event_time' is after arrival_time by more than max_event_skew_ms");
  }
  if (event.modality == kOutcomeModality) {
    if (event.label.empty()) return fail(DecodeReason::missing_field, "field 'label' is empty");
    return std::nullopt;
  }
  if (event.modality >= schema.size()) {
    return fail(DecodeReason::unknown_modality, "modality index is not in the schema");
  }
  const ModalitySpec& spec = schema[event.modality];
  auto check_vector = [&](std::span<const float> v) -> std::optional<DecodeError> {
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i])) {
        return fail(DecodeReason::non_finite_value,
                    "field 'embedding' has a non-finite element at index " + std::to_string(i));
      }
    }
    return std::nullopt;
  };
  switch (spec.kind) {
    case ModalityKind::vitals: {
      const std::size_t n = spec.channels.size();
      const uint32_t allowed = n >= 32 ? ~uint32_t{0} : (uint32_t{1} << n) - 1;
      if (event.vitals.present_mask & ~allowed) {
        return fail(DecodeReason::malformed_record,
                    "vitals mask names a channel not in the schema");
      }
      if (event.vitals.present_mask == 0) {
        return fail(DecodeReason::empty_values,
                    "field 'values' holds none of the configured channels");
      }
      for (std::size_t c = 0; c < n; ++c) {
        // Per reading and channel: the field's name is put together only for a bad value.
        if (!(event.vitals.present_mask >> c & 1) ||
            vitals_value_in_bounds(event.vitals.values[c])) {
          continue;
        }
        return check_vitals_value(event.vitals.values[c], "values." + spec.channels[c]);
      }
      return std::nullopt;
    }
    case ModalityKind::text:
      if (event.text.empty() && event.embedding.empty()) {
        return fail(DecodeReason::missing_field,
                    "a text record needs a non-empty 'text' or an 'embedding'");
      }
      if (!event.embedding.empty() && event.embedding.size() != spec.dim) {
        return fail(DecodeReason::wrong_dimension,
                    "field 'embedding' has " + std::to_string(event.embedding.size()) +
                        " elements, the modality expects " + std::to_string(spec.dim));
      }
      return check_vector(event.embedding);
    case ModalityKind::embedding:
      if (event.embedding.size() != spec.dim) {
        return fail(DecodeReason::wrong_dimension,
                    "field 'embedding' has " + std::to_string(event.embedding.size()) +
                        " elements, the modality expects " + std::to_string(spec.dim));
      }
      return check_vector(event.embedding);
  }
  return std::nullopt;
}

struct EventDecoder::Impl {
  const ModalitySchema& schema;
  PatientRegistry& registry;
  DecodeLimits limits;
  simdjson::dom::parser parser;

  Impl(const ModalitySchema& s, PatientRegistry& r, DecodeLimits l)
      : schema(s), registry(r), limits(l), parser(l.max_record_bytes) {}

  DecodeResult<void> decode(std::string_view record, Event& out,
                            std::optional<int64_t> default_arrival_ms, bool padded,
                            uint64_t& unknown_channels, const EventDecoder::EventCheck* check);
  DecodeResult<void> read_embedding(simdjson::dom::element el, Event& out);
};

DecodeResult<void> EventDecoder::Impl::read_embedding(simdjson::dom::element el, Event& out) {
  simdjson::dom::array arr;
  if (el.get_array().get(arr)) {
    return fail(DecodeReason::wrong_type, field_message("embedding", "is not an array"));
  }
  const ModalitySpec& spec = schema[out.modality];
  const std::size_t n = arr.size();
  if (n != spec.dim) {
    return fail(DecodeReason::wrong_dimension, "field 'embedding' has " + std::to_string(n) +
                                                   " elements, the modality expects " +
                                                   std::to_string(spec.dim));
  }
  out.embedding.resize(n);
  std::size_t i = 0;
  for (simdjson::dom::element item : arr) {
    double d;
    if (item.get_double().get(d)) {
      return fail(DecodeReason::wrong_type,
                  "field 'embedding' has a non-number element at index " + std::to_string(i));
    }
    out.embedding[i++] = static_cast<float>(d);
  }
  return boost::outcome_v2::success();
}

DecodeResult<void> EventDecoder::Impl::decode(std::string_view record, Event& out,
                                              std::optional<int64_t> default_arrival_ms,
                                              bool padded, uint64_t& unknown_channels,
                                              const EventDecoder::EventCheck* check) {
  using simdjson::dom::element;
  if (record.size() > limits.max_record_bytes) {
    return fail(DecodeReason::record_too_large, "record exceeds max_record_bytes");
  }
  // A UTF-8 byte order mark, as Windows tools write at the start of a file, is not part of the
  // JSON text (RFC 8259 lets a parser ignore it); simdjson would reject it. The padding after the
  // record is unchanged.
  if (record.starts_with(kByteOrderMark)) record.remove_prefix(kByteOrderMark.size());
  element root;
  if (const auto code = parser.parse(record.data(), record.size(), !padded).get(root)) {
    return classify_parse_error(code, record);
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) {
    return fail(DecodeReason::wrong_type, "record is not a JSON object");
  }

  std::array<element, kFieldCount> fields;
  uint32_t seen = 0;  // bit f: field f present
  for (const simdjson::dom::key_value_pair kv : obj) {
    const Field f = classify_field(kv.key);
    if (f == kUnknownField) continue;
    if (seen >> f & 1) {
      return fail(DecodeReason::malformed_json, field_message(kFieldNames[f], "appears twice"));
    }
    seen |= uint32_t{1} << f;
    fields[f] = kv.value;
  }
  // A field given as null counts as absent: optional ones are then defaults, required ones
  // missing_field (exporters write a missing value as null; the reason should say so).
  for (uint8_t f = 0; f < kFieldCount; ++f) {
    if ((seen >> f & 1) && is_null(fields[f])) seen &= ~(uint32_t{1} << f);
  }
  auto has = [&](Field f) { return (seen >> f & 1) != 0; };
  auto missing = [](Field f) {
    return fail(DecodeReason::missing_field, field_message(kFieldNames[f], "is missing"));
  };

  // patient_id: checked now, interned only once the whole record is valid.
  if (!has(kPatientId)) return missing(kPatientId);
  std::string_view patient_id;
  if (fields[kPatientId].get_string().get(patient_id)) {
    return fail(DecodeReason::wrong_type, field_message("patient_id", "is not a string"));
  }
  if (auto err = check_patient_id(patient_id)) return std::move(*err);

  if (!has(kModality)) return missing(kModality);
  std::string_view modality_name;
  if (fields[kModality].get_string().get(modality_name)) {
    return fail(DecodeReason::wrong_type, field_message("modality", "is not a string"));
  }
  if (modality_name == kOutcomeName) {
    out.modality = kOutcomeModality;
  } else if (const auto m = schema.find(modality_name)) {
    out.modality = *m;
  } else {
    return fail(DecodeReason::unknown_modality, "field 'modality' names no configured modality");
  }

  if (!has(kEventTime)) return missing(kEventTime);
  {
    auto t = read_time(fields[kEventTime], kEventTime, DecodeReason::event_time_out_of_range);
    if (!t) return std::move(t).error();
    out.event_time_ms = t.value();
  }
  if (has(kArrivalTime)) {
    auto t = read_time(fields[kArrivalTime], kArrivalTime, DecodeReason::arrival_time_out_of_range);
    if (!t) return std::move(t).error();
    out.arrival_time_ms = t.value();
  } else {
    out.arrival_time_ms = default_arrival_ms.value_or(out.event_time_ms);
  }

  out.vitals.present_mask = 0;
  out.text.clear();
  out.embedding.clear();
  out.label.clear();
  if (out.modality == kOutcomeModality) {
    if (!has(kLabel)) return missing(kLabel);
    std::string_view label;
    if (fields[kLabel].get_string().get(label)) {
      return fail(DecodeReason::wrong_type, field_message("label", "is not a string"));
    }
    out.label.assign(label);
  } else {
    const ModalitySpec& spec = schema[out.modality];
    switch (spec.kind) {
      case ModalityKind::vitals: {
        if (!has(kValues)) return missing(kValues);
        simdjson::dom::object values;
        if (fields[kValues].get_object().get(values)) {
          return fail(DecodeReason::wrong_type, field_message("values", "is not an object"));
        }
        out.vitals.values.fill(std::numeric_limits<float>::quiet_NaN());
        uint32_t seen_channels = 0;  // including null ones, to catch duplicates
        for (const simdjson::dom::key_value_pair kv : values) {
          const auto c = schema.find_channel(out.modality, kv.key);
          if (!c) {
            ++unknown_channels;
            continue;
          }
          const uint32_t bit = uint32_t{1} << *c;
          if (seen_channels & bit) {
            return fail(DecodeReason::malformed_json,
                        field_message("values." + spec.channels[*c], "appears twice"));
          }
          seen_channels |= bit;
          if (is_null(kv.value)) continue;  // not measured in this reading
          double d;
          if (kv.value.get_double().get(d)) {
            return fail(DecodeReason::wrong_type,
                        field_message("values." + spec.channels[*c], "is not a number"));
          }
          out.vitals.values[*c] = static_cast<float>(d);
          out.vitals.present_mask |= bit;
        }
        break;
      }
      case ModalityKind::text:
        if (has(kText)) {
          std::string_view text;
          if (fields[kText].get_string().get(text)) {
            return fail(DecodeReason::wrong_type, field_message("text", "is not a string"));
          }
          out.text.assign(text);
        }
        if (has(kEmbedding)) {
          if (spec.dim == 0) {
            return fail(DecodeReason::wrong_dimension,
                        "field 'embedding' given but the modality has no embedding (dim 0)");
          }
          if (auto r = read_embedding(fields[kEmbedding], out); !r) return std::move(r).error();
        }
        break;
      case ModalityKind::embedding:
        if (!has(kEmbedding)) return missing(kEmbedding);
        if (auto r = read_embedding(fields[kEmbedding], out); !r) return std::move(r).error();
        break;
    }
  }

  if (auto err = check_event(out, schema, limits)) return std::move(*err);
  if (check != nullptr) {
    if (auto err = (*check)(out)) return std::move(*err);
  }
  out.patient = registry.intern(patient_id);
  return boost::outcome_v2::success();
}

EventDecoder::EventDecoder(const ModalitySchema& schema, PatientRegistry& registry,
                           DecodeLimits limits)
    : impl_(std::make_unique<Impl>(schema, registry, limits)) {}

EventDecoder::~EventDecoder() = default;

DecodeResult<void> EventDecoder::decode(std::string_view record, Event& out,
                                        std::optional<int64_t> default_arrival_ms, bool padded) {
  return impl_->decode(record, out, default_arrival_ms, padded, unknown_channels_, nullptr);
}

DecodeResult<void> EventDecoder::decode(std::string_view record, Event& out,
                                        std::optional<int64_t> default_arrival_ms, bool padded,
                                        const EventCheck& check) {
  return impl_->decode(record, out, default_arrival_ms, padded, unknown_channels_, &check);
}

DecodeResult<Event> EventDecoder::decode(std::string_view record,
                                         std::optional<int64_t> default_arrival_ms) {
  Event event{};
  if (auto r = impl_->decode(record, event, default_arrival_ms, false, unknown_channels_, nullptr);
      !r) {
    return std::move(r).error();
  }
  return event;
}

void append_event_json(std::string& out, const Event& event, const ModalitySchema& schema,
                       const PatientRegistry& registry) {
  append_event_json(out, event, schema, registry.id(event.patient));
}

void append_event_json(std::string& out, const Event& event, const ModalitySchema& schema,
                       std::string_view patient_id) {
  out.append("{\"patient_id\":");
  json::append_string(out, patient_id);
  out.append(",\"modality\":");
  const bool outcome = event.modality == kOutcomeModality;
  json::append_string(out, outcome ? kOutcomeName : std::string_view(schema[event.modality].name));
  out.append(",\"event_time\":");
  json::append_int(out, event.event_time_ms);
  out.append(",\"arrival_time\":");
  json::append_int(out, event.arrival_time_ms);
  if (outcome) {
    out.append(",\"label\":");
    json::append_string(out, event.label);
    out.push_back('}');
    return;
  }
  const ModalitySpec& spec = schema[event.modality];
  auto append_embedding = [&] {
    out.append(",\"embedding\":[");
    for (std::size_t i = 0; i < event.embedding.size(); ++i) {
      if (i) out.push_back(',');
      json::append_float(out, event.embedding[i]);
    }
    out.push_back(']');
  };
  switch (spec.kind) {
    case ModalityKind::vitals: {
      out.append(",\"values\":{");
      bool first = true;
      for (std::size_t c = 0; c < spec.channels.size(); ++c) {
        if (!(event.vitals.present_mask >> c & 1)) continue;
        if (!first) out.push_back(',');
        first = false;
        json::append_string(out, spec.channels[c]);
        out.push_back(':');
        json::append_float(out, event.vitals.values[c]);
      }
      out.push_back('}');
      break;
    }
    case ModalityKind::text:
      if (!event.text.empty() || event.embedding.empty()) {
        out.append(",\"text\":");
        json::append_string(out, event.text);
      }
      if (!event.embedding.empty()) append_embedding();
      break;
    case ModalityKind::embedding:
      append_embedding();
      break;
  }
  out.push_back('}');
}

}  // namespace tfe
