#pragma once
// JSONL event files: one wire-format record per line (docs/wire-format.md).
//
// Source: reads the file in large buffered reads, decodes each line, and yields events with
// source_seq = line number (1-based), or dead letters with file, line and byte offset. Lines may be
// up to max_record_bytes long; a longer line is dead-lettered as record_too_large without being
// held in memory, and reading goes on at the next line. Blank lines are skipped; a final line
// without a newline is read. Records without arrival_time arrive at their event_time.
// Writer: canonical lines (append_event_json), so JSONL -> binary log -> JSONL is byte-identical.

#include <cstddef>
#include <memory>
#include <string>

#include "connectors/event_codec.h"
#include "connectors/event_source.h"
#include "connectors/event_writer.h"
#include "engine/modality.h"
#include "engine/patient_registry.h"
#include "engine/result.h"

namespace tfe {

// The source reads in chunks of this many bytes (or twice max_record_bytes, when larger).
inline constexpr std::size_t kJsonlReadBytes = 4u << 20;

// Fails with Errc::io naming the path if it cannot be opened. schema and registry must outlive it.
Result<std::unique_ptr<EventSource>> open_jsonl_source(const std::string& path,
                                                       const ModalitySchema& schema,
                                                       PatientRegistry& registry,
                                                       DecodeLimits limits);

Result<std::unique_ptr<EventWriter>> open_jsonl_writer(const std::string& path,
                                                       const ModalitySchema& schema,
                                                       const PatientRegistry& registry);

}  // namespace tfe
