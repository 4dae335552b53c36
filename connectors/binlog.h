#pragma once
// The binary event log (.tfelog): the same events as a JSONL history, compact and fast to replay.
// Layout (all integers little-endian; docs/wire-format.md has the full description):
//
//   header:  "TFELOG" | u16 version | u64 schema fingerprint | u32 n | n bytes schema text
//            | u32 crc32 of all preceding header bytes
//   record:  u32 body length L | L bytes body | u32 crc32 of (length bytes + body)
//   (crc32: CRC-32/IEEE, the value of zlib's crc32(); see connectors/crc32.h)
//   body:    varint patient ref (local index << 1 | 1 if the id follows: varint length + bytes)
//            | u8 modality (255: outcome) | varint arrival_time_ms
//            | zigzag varint (event_time_ms - arrival_time_ms) | payload by kind:
//              vitals: varint channel mask, one f32 per set bit in channel order
//              text: varint length + UTF-8 bytes, varint n, n f32
//              embedding: varint n, n f32
//              outcome: varint length + UTF-8 label
//
// A patient id is written once per file, in the first record of that patient; later records
// carry its file-local index. Every record is self-contained otherwise (no deltas across
// records), so the reader can skip a damaged one.
//
// Reader: validates every checksum. A damaged region becomes one `bad_checksum` dead letter
// (offset = its first byte) and the reader resynchronises at the first later offset where a whole
// record checks out and its body opens as a writer's would (patient reference, modality); a false
// match has probability 2^-32 per offset; the damaged record's own length is not trusted. Records
// of a patient whose defining record was lost are dead-lettered as bad_checksum too. A file cut
// inside its last record ends with one `truncated_record` dead letter. A header that is short,
// damaged, of another version or written under another modality schema is an error at open. Records
// that check out but do not parse, or whose event is invalid, are dead-lettered (malformed_record,
// or the decode reason).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "connectors/event_codec.h"
#include "connectors/event_source.h"
#include "connectors/event_writer.h"
#include "engine/modality.h"
#include "engine/patient_registry.h"
#include "engine/result.h"

namespace tfe {

inline constexpr std::string_view kBinlogMagic = "TFELOG";
inline constexpr uint16_t kBinlogVersion = 1;
// Largest record body a writer produces and a reader accepts.
inline constexpr uint32_t kBinlogMaxBodyBytes = 16u << 20;

// The schema as the log records it: per modality "name:kind:dim:channel,channel", joined by ';'.
// Only what shapes the encoding (not topics, horizons or encoder options).
std::string binlog_schema_text(const ModalitySchema& schema);
// FNV-1a 64 of binlog_schema_text.
uint64_t binlog_schema_fingerprint(const ModalitySchema& schema);

// Maps the file and checks its header. schema and registry must outlive the source.
Result<std::unique_ptr<EventSource>> open_binlog_source(const std::string& path,
                                                        const ModalitySchema& schema,
                                                        PatientRegistry& registry,
                                                        DecodeLimits limits);

// Events must be valid against `schema` (as decoded). An event whose body would exceed
// kBinlogMaxBodyBytes is not written and makes close() fail.
Result<std::unique_ptr<EventWriter>> open_binlog_writer(const std::string& path,
                                                        const ModalitySchema& schema,
                                                        const PatientRegistry& registry);

}  // namespace tfe
