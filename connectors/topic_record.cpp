#include "connectors/topic_record.h"

#include <optional>

#include <fmt/format.h>

#include "connectors/kafka_consumer.h"

namespace tfe {

DecodeResult<void> decode_topic_record(EventDecoder& decoder, const ModalitySchema& schema,
                                       std::size_t topic_modality, const rd_kafka_message_t& m,
                                       Event& out, int64_t max_skew_ms) {
  const std::optional<int64_t> ts = kafka::message_timestamp_ms(m);
  // Checked before the patient id is interned: a refused record leaves no trace in the registry.
  const EventDecoder::EventCheck on_this_topic = [&](const Event& e) -> std::optional<DecodeError> {
    if (e.modality != topic_modality && e.modality != kOutcomeModality) {
      return DecodeError{
          DecodeReason::unknown_modality,
          fmt::format("modality '{}' on the topic of modality '{}'", schema[e.modality].name,
                      schema[static_cast<ModalityIndex>(topic_modality)].name)};
    }
    if (ts && e.arrival_time_ms > *ts && e.arrival_time_ms - *ts > max_skew_ms) {
      return DecodeError{
          DecodeReason::arrival_time_out_of_range,
          fmt::format("arrival_time is {} s after the record's message timestamp (at most {} s)",
                      (e.arrival_time_ms - *ts) / 1000, max_skew_ms / 1000)};
    }
    return std::nullopt;
  };
  return decoder.decode(kafka::message_value(m), out, ts, false, on_this_topic);
}

}  // namespace tfe
