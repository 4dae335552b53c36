#pragma once
// The event wire format (docs/wire-format.md): one JSON object per record, decoded into a
// tfe::Event against the modality schema, or rejected with a DecodeReason. Also the inverse: an
// Event as its canonical JSON line.
//
// Inputs:  record bytes (one JSON object, UTF-8), the ModalitySchema, a PatientRegistry to intern
//          patient ids (interned only once a record is fully valid, so bad records never change
//          the numbering of patients), DecodeLimits.
// Outputs: an Event, or a DecodeError {reason, message}. The message names the field and never
//          contains payload.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/outcome/result.hpp>

#include "engine/config.h"
#include "engine/event.h"
#include "engine/modality.h"
#include "engine/patient_registry.h"

namespace tfe {

// Why a record was rejected. Each has a stable snake_case name (to_string) used as a metric label
// and as the dead-letter reason; never renumber or rename one.
enum class DecodeReason : uint8_t {
  malformed_json,             // not JSON, or duplicate key among the known fields
  invalid_utf8,               // bytes are not valid UTF-8
  missing_field,              // a required field is absent
  wrong_type,                 // a field has the wrong JSON type (or the record is not an object)
  unknown_modality,           // `modality` names no configured modality (nor "outcome")
  wrong_dimension,            // an embedding's length differs from the modality's dim
  non_finite_value,           // NaN/Infinity literal, or a number outside float range
  bad_patient_id,             // patient_id empty or longer than 64 bytes
  event_time_out_of_range,    // before 1970, after year 9999, or after arrival_time + max skew
  arrival_time_out_of_range,  // before 1970 or after year 9999
  record_too_large,           // record longer than max_record_bytes
  empty_values,               // a vitals record with no configured channel measured
  bad_checksum,               // binary log: record checksum mismatch (or lost with one)
  truncated_record,           // binary log: the file ends inside a record
  malformed_record,           // binary log: checksum valid but the body does not parse
  value_out_of_range,         // a vitals value beyond the physical bound kMaxVitalsMagnitude
};
inline constexpr std::size_t kDecodeReasonCount = 16;

std::string_view to_string(DecodeReason reason);
std::optional<DecodeReason> decode_reason_from_string(std::string_view name);

struct DecodeError {
  DecodeReason reason = DecodeReason::malformed_json;
  std::string message;  // one line naming the field; never payload
};

template <class T>
using DecodeResult =
    boost::outcome_v2::basic_result<T, DecodeError, boost::outcome_v2::policy::terminate>;

inline constexpr std::size_t kMaxPatientIdBytes = 64;
// Largest magnitude of a vitals value, far beyond any physical reading in any unit. Finite floats
// up to 3.4e38 would overflow the engine's window sums, slopes and deviations to inf (NaN scores).
inline constexpr double kMaxVitalsMagnitude = 1e9;

struct DecodeLimits {
  uint32_t max_record_bytes = 1 << 20;
  int64_t max_event_skew_ms = 300'000;  // event_time may exceed arrival_time by at most this
  static DecodeLimits from(const EngineConfig& config) {
    return {config.max_record_bytes, config.max_event_skew_ms};
  }
};

// Bytes that must be readable after a record passed with `padded = true` (their content is
// irrelevant). Equal to SIMDJSON_PADDING.
inline constexpr std::size_t kDecodePadding = 64;

// Semantic checks shared by every decoder (JSON, binary log, CSV): times, finite values, vitals
// within kMaxVitalsMagnitude, vector dimensions, non-empty vitals. Patient ids are checked by
// check_patient_id before interning: 1..64 bytes, no control character (C0, DEL or C1; they would
// break CSV and terminal output downstream).
std::optional<DecodeError> check_event(const Event& event, const ModalitySchema& schema,
                                       const DecodeLimits& limits);
std::optional<DecodeError> check_patient_id(std::string_view patient_id);
// One vitals value: finite (non_finite_value) and within kMaxVitalsMagnitude
// (value_out_of_range). `field` names it in the message (e.g. "values.hr").
std::optional<DecodeError> check_vitals_value(float value, std::string_view field);

// record_too_large when the canonical JSON record of `event` (append_event_json, what tfe writes
// to JSONL and publishes to Kafka) exceeds limits.max_record_bytes: the service would refuse it.
// Cheap for small events (an upper bound first; the record is built only near the limit).
std::optional<DecodeError> check_record_size(const Event& event, const ModalitySchema& schema,
                                             std::string_view patient_id,
                                             const DecodeLimits& limits);

// True when `text` holds a carriage return not followed by a line feed (before its last byte):
// the line ending of old Mac exports, on which neither the JSONL nor the CSV reader splits. The
// readers name it in the messages of the records it merges, whose cause would otherwise not show.
bool has_lone_cr(std::string_view text);

// Decodes JSON records. Holds a reusable parser (allocated once, grows to the largest record);
// single-threaded; the schema and registry must outlive it.
class EventDecoder {
 public:
  EventDecoder(const ModalitySchema& schema, PatientRegistry& registry, DecodeLimits limits);
  ~EventDecoder();
  EventDecoder(const EventDecoder&) = delete;
  EventDecoder& operator=(const EventDecoder&) = delete;

  // Decodes `record` into `out` (reusing its buffers). `default_arrival_ms` is the arrival time
  // of a record without `arrival_time` (e.g. the Kafka message timestamp); nullopt means
  // arrival = event_time (history files). `padded`: the caller guarantees kDecodePadding readable
  // bytes after the record, which saves a copy. out.source_seq is left untouched. On failure
  // `out` holds unspecified values.
  DecodeResult<void> decode(std::string_view record, Event& out,
                            std::optional<int64_t> default_arrival_ms = std::nullopt,
                            bool padded = false);
  // The same, with a check of the caller's (the record's topic, say) applied to the decoded event
  // before its patient id is interned: a record it refuses leaves the registry as it was, as any
  // invalid record does. `out.patient` is not yet set when `check` runs.
  using EventCheck = std::function<std::optional<DecodeError>(const Event&)>;
  DecodeResult<void> decode(std::string_view record, Event& out,
                            std::optional<int64_t> default_arrival_ms, bool padded,
                            const EventCheck& check);
  DecodeResult<Event> decode(std::string_view record,
                             std::optional<int64_t> default_arrival_ms = std::nullopt);

  // Channel names outside the schema met in otherwise valid or invalid vitals records (ignored).
  uint64_t unknown_channels() const { return unknown_channels_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t unknown_channels_ = 0;
};

// Appends the canonical JSON line of `event` (no trailing newline): keys in the order patient_id,
// modality, event_time, arrival_time, then the payload (values in schema channel order, text,
// embedding, label). Decoding the line gives back the same event exactly (floats included).
// `event.modality` must index `schema` or be kOutcomeModality.
void append_event_json(std::string& out, const Event& event, const ModalitySchema& schema,
                       const PatientRegistry& registry);
// The same with the patient id given (an event not yet interned).
void append_event_json(std::string& out, const Event& event, const ModalitySchema& schema,
                       std::string_view patient_id);

}  // namespace tfe
