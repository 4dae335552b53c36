#pragma once
// Long-format CSV import (docs/import.md): clinical data warehouse exports with one measurement
// per row, read into events.
//
// Inputs:  CSV files (RFC 4180, UTF-8, a header row naming the columns patient_id, event_time,
//          arrival_time, modality, variable, value, text; order free; an unnamed first or last
//          column, a row index or a delimiter ending each line, is ignored), the ModalitySchema, a
//          PatientRegistry to intern patient ids (valid events only), DecodeLimits.
// Outputs: events in arrival-time order (ties keep file and row order). Adjacent vitals rows of
//          one (patient_id, modality, event_time, arrival_time) form one reading. Every event
//          passes check_event; a bad row, or a bad reading, goes to the DeadLetterSink with its
//          position FILE:LINE and its DecodeReason, and the import goes on.
//
// Events are held in memory until every file is read (they must be sorted by arrival time):
// about 200 bytes per event plus its text and embedding payloads.

#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/dead_letter.h"
#include "connectors/event_codec.h"
#include "engine/event.h"
#include "engine/modality.h"
#include "engine/patient_registry.h"
#include "engine/result.h"

namespace tfe {

// The header text of each column the import reads. Matching is case-insensitive and ignores
// surrounding spaces.
struct CsvColumns {
  std::string patient_id = "patient_id";
  std::string event_time = "event_time";
  std::string arrival_time = "arrival_time";
  std::string modality = "modality";
  std::string variable = "variable";
  std::string value = "value";
  std::string text = "text";
};

// Applies one rename "NAME=HEADER" (NAME one of the fields of CsvColumns): the column NAME is
// found under HEADER. Errc::invalid_argument on an unknown NAME or an empty HEADER.
Result<void> set_csv_column(CsvColumns& columns, std::string_view rename);
// Errc::invalid_argument when two columns are looked up under one header (case-insensitively),
// e.g. after --column text=value: its field would be read as both.
Result<void> check_csv_columns(const CsvColumns& columns);

struct CsvImportStats {
  uint64_t rows = 0;          // data rows read (header and blank lines not counted)
  uint64_t events = 0;        // valid events kept
  uint64_t dead_letters = 0;  // by reason in dead_letter_counts
  DeadLetterCounts dead_letter_counts{};
  bool interrupted = false;  // a stop was requested: reading ended early, nothing was written
};

// Reads CSV files into events. Single-threaded; the schema, registry and sink must outlive it.
class CsvImporter {
 public:
  // `stop_requested` (may be empty) is asked every 65,536 records; once it says yes, read ends
  // at once with stats().interrupted set.
  CsvImporter(const ModalitySchema& schema, PatientRegistry& registry, DecodeLimits limits,
              DeadLetterSink& dead_letters, CsvColumns columns = {},
              std::function<bool()> stop_requested = {});
  ~CsvImporter();
  CsvImporter(const CsvImporter&) = delete;
  CsvImporter& operator=(const CsvImporter&) = delete;

  // Reads one CSV file to its end (blocks on file reads). Bad rows become dead letters. Fails
  // with Errc::io when the file cannot be read, Errc::parse when its header row is missing or
  // names an unknown, duplicated or missing required column, Errc::invalid_argument when the
  // columns fail check_csv_columns; `source` names the file in dead letters and errors.
  Result<void> read_file(const std::string& path);
  Result<void> read(std::istream& in, const std::string& source);

  // The valid events read so far, in arrival-time order (stable: ties keep read order), with
  // source_seq 1, 2, 3, ... in that order. Leaves the importer without events.
  std::vector<Event> take_events();
  const CsvImportStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads every CSV file and writes their events to `out` (.jsonl or .tfelog, by extension) in
// arrival-time order, through write_event_file (tfe convert's writing step: an event whose JSON
// record exceeds max_record_bytes is a dead letter; they are checked as rows are read, with the
// row's position). The output is created only once every input has been read. Fails on an
// unreadable input or bad header, a file given twice (by the same path or through a link), an
// unknown output extension, or an unwritable output.
// `on_file` (may be empty) is called after each input file with the totals so far (progress).
// `stop_requested` (may be empty) is asked while reading (every 65,536 rows and after each file)
// and while writing (as write_event_file asks it); once it says yes the import ends with
// `interrupted` set and `out` as it was: neither a partial output nor a temporary file is left.
using CsvImportProgress = std::function<void(const std::string& path, const CsvImportStats&)>;
Result<CsvImportStats> import_csv(const std::vector<std::string>& paths, const std::string& out,
                                  const ModalitySchema& schema, DecodeLimits limits,
                                  DeadLetterSink& dead_letters, const CsvColumns& columns = {},
                                  const CsvImportProgress& on_file = {},
                                  const std::function<bool()>& stop_requested = {});

}  // namespace tfe
