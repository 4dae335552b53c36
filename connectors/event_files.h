#pragma once
// Event files by extension: ".jsonl" (one wire-format record per line) or ".tfelog" (binary event
// log). Opening sources and writers, merging several inputs, and converting between the formats.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "connectors/dead_letter.h"
#include "connectors/event_codec.h"
#include "connectors/event_source.h"
#include "connectors/event_writer.h"
#include "engine/modality.h"
#include "engine/patient_registry.h"
#include "engine/result.h"

namespace tfe {

enum class EventFileFormat : uint8_t { jsonl, binlog };

// By extension; any other extension is an Errc::invalid_argument naming the path.
Result<EventFileFormat> event_file_format(const std::string& path);

// One file, or several merged by arrival time (merge_sources) when paths has more than one. A
// file given twice (by the same path or through a link) is an Errc::invalid_argument naming it:
// its events would otherwise apply twice.
Result<std::unique_ptr<EventSource>> open_event_source(const std::string& path,
                                                       const ModalitySchema& schema,
                                                       PatientRegistry& registry,
                                                       DecodeLimits limits);
Result<std::unique_ptr<EventSource>> open_event_sources(const std::vector<std::string>& paths,
                                                        const ModalitySchema& schema,
                                                        PatientRegistry& registry,
                                                        DecodeLimits limits);

Result<std::unique_ptr<EventWriter>> open_event_writer(const std::string& path,
                                                       const ModalitySchema& schema,
                                                       const PatientRegistry& registry);

struct ConvertStats {
  uint64_t events = 0;        // written to the output
  uint64_t dead_letters = 0;  // by reason in dead_letter_counts
  DeadLetterCounts dead_letter_counts{};
  uint64_t unknown_channels = 0;
  bool interrupted = false;  // stop_requested said so: `out` was not written
};

// Writes the events of `source` to `out` (format by extension) through a temporary file beside
// it, put in place only when complete: the one writing step of tfe convert and tfe import. The
// source's dead letters, and events whose JSON record would exceed limits.max_record_bytes
// (check_record_size: the service would refuse them; position: the source's name and, for a
// JSONL source, the event's line), go to `dead_letters` and the write goes on. `stop_requested`
// (may be empty) is asked every 65,536 items and once more before the output is put in place;
// once it says yes the write ends with `interrupted` set and `out` as it was (no partial or
// temporary file is left). Fails on an unreadable source or an unwritable output.
Result<ConvertStats> write_event_file(EventSource& source, const std::string& out,
                                      const ModalitySchema& schema, const PatientRegistry& registry,
                                      DecodeLimits limits, DeadLetterSink& dead_letters,
                                      const std::function<bool()>& stop_requested = {});

// Reads `in` and writes its valid events to `out` (write_event_file), formats chosen by extension
// (the same format on both sides canonicalises a file). Bad records go to `dead_letters` and the
// conversion goes on. Fails on unreadable input, an unwritable output, or out naming the same
// file as in. `stop_requested`: as for write_event_file.
Result<ConvertStats> convert_events(const std::string& in, const std::string& out,
                                    const ModalitySchema& schema, DecodeLimits limits,
                                    DeadLetterSink& dead_letters,
                                    const std::function<bool()>& stop_requested = {});

}  // namespace tfe
