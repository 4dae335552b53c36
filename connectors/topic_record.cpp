#include "connectors/topic_record.h"

#include <optional>

#include <fmt/format.h>

#include "connectors/kafka_consumer.h"

namespace tfe {

DecodeResult<void> decode_topic_record(EventDecoder& decoder, const ModalitySchema& schema,
                                       std::size_t topic_modality, const rd_kafka_message_t& m,
                                       Event& out, int64_t max_skew_ms) {
  // The check's inputs travel behind one pointer: a lambda capturing a single reference fits in
  // std::function's inline storage, so no record costs a heap allocation.
  const struct {
    const ModalitySchema& schema;
    std::size_t topic_modality;
    int64_t max_skew_ms;
    std::optional<int64_t> ts;
  } topic{schema, topic_modality, max_skew_ms, kafka::message_timestamp_ms(m)};
  // Checked before the patient id is interned: a refused record leaves no trace in the registry.
  const EventDecoder::EventCheck on_this_topic =
      [&topic](const Event& e) -> std::optional<DecodeError> {
    if (e.modality != topic.topic_modality && e.modality != kOutcomeModality) {
      return DecodeError{
          DecodeReason::unknown_modality,
          fmt::format("modality '{}' on the topic of modality '{}'", topic.schema[e.modality].name,
                      topic.schema[static_cast<ModalityIndex>(topic.topic_modality)].name)};
    }
    const std::optional<int64_t>& ts = topic.ts;
    if (ts && e.arrival_time_ms > *ts && e.arrival_time_ms - *ts > topic.max_skew_ms) {
      return DecodeError{
          DecodeReason::arrival_time_out_of_range,
          fmt::format("arrival_time is {} s after the record's message timestamp (at most {} s)",
                      (e.arrival_time_ms - *ts) / 1000, topic.max_skew_ms / 1000)};
    }
    return std::nullopt;
  };
  return decoder.decode(kafka::message_value(m), out, topic.ts, false, on_this_topic);
}

}  // namespace tfe
