#include "connectors/topic_record.h"

#include <optional>

#include <fmt/format.h>

#include "connectors/kafka_consumer.h"

namespace tfe {

DecodeResult<void> decode_topic_record(EventDecoder& decoder, const ModalitySchema& schema,
                                       std::size_t topic_modality, const rd_kafka_message_t& m,
                                       Event& out, int64_t max_skew_ms) {
  const std::optional<int64_t> ts = kafka::message_timestamp_ms(m);
  auto decoded = decoder.decode(kafka::message_value(m), out, ts, false);
  if (decoded && out.modality != topic_modality && out.modality != kOutcomeModality) {
    return DecodeError{
        DecodeReason::unknown_modality,
        fmt::format("modality '{}' on the topic of modality '{}'", schema[out.modality].name,
                    schema[static_cast<ModalityIndex>(topic_modality)].name)};
  }
  if (decoded && ts && out.arrival_time_ms > *ts && out.arrival_time_ms - *ts > max_skew_ms) {
    return DecodeError{
        DecodeReason::arrival_time_out_of_range,
        fmt::format("arrival_time is {} s after the record's message timestamp (at most {} s)",
                    (out.arrival_time_ms - *ts) / 1000, max_skew_ms / 1000)};
  }
  return decoded;
}

}  // namespace tfe
