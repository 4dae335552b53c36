#pragma once
// A record consumed from a modality topic, as the service and the history reader both take it:
// wire-format JSON whose arrival time defaults to the message timestamp, and whose modality must
// be the topic's own (outcome records are accepted on any modality topic).

#include <cstddef>

#include <librdkafka/rdkafka.h>

#include "connectors/event_codec.h"
#include "engine/modality.h"

namespace tfe {

// Decodes `m`, consumed from the topic of modality `topic_modality`, into `out` (its buffers are
// reused; out.source_seq is left to the caller). A record of another modality is an
// unknown_modality error naming both. A record whose arrival_time is later than its message
// timestamp by more than `max_skew_ms` (it claims to have arrived after it was produced, as a
// mistyped year does) is an arrival_time_out_of_range error: taken as it is, it would move the
// live clock years ahead and stop every patient's scoring.
DecodeResult<void> decode_topic_record(EventDecoder& decoder, const ModalitySchema& schema,
                                       std::size_t topic_modality, const rd_kafka_message_t& m,
                                       Event& out, int64_t max_skew_ms);

}  // namespace tfe
