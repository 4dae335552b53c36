#include "connectors/csv_import.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <system_error>

#include <simdjson.h>

#include "connectors/event_files.h"
#include "connectors/history_replay.h"
#include "engine/civil_time.h"

namespace tfe {

namespace {

// CSV reading is a small RFC 4180 state machine rather than libcsv: the import needs each
// record's first line, byte offset and exact bytes for dead letters, and a bound on a record's
// size (a stray quote must not swallow the file into memory); libcsv's field callbacks give none
// of these, so it would save little code and add a dependency.
class CsvRecordReader {
 public:
  enum class Status : uint8_t { record, malformed, too_large, end };

  struct Record {
    std::vector<std::string> fields;
    std::vector<bool> quoted;  // [fields.size()]: the field was quoted
    std::string raw;           // the record's bytes, without the final line break
    uint64_t raw_bytes = 0;    // size of the record (raw may be cut at max_record_bytes)
    uint64_t line = 0;         // 1-based line where the record starts
    int64_t offset = 0;        // byte offset where the record starts
    std::string message;       // malformed: what is wrong
  };

  CsvRecordReader(std::istream& in, uint32_t max_record_bytes)
      : in_(in), max_record_bytes_(max_record_bytes), buffer_(64 * 1024) {}

  // Reads the next record into `record` (reusing its buffers); blank lines are skipped.
  Result<Status> next(Record& record);

 private:
  // Reading resumes at byte `offset` (the start of line `line`); false when the input cannot
  // seek (a pipe).
  bool resume_at(int64_t offset, uint64_t line) {
    in_.clear();
    in_.seekg(offset);
    if (!in_) return false;
    pos_ = size_ = 0;
    eof_ = failed_ = false;
    offset_ = offset;
    line_ = line;
    return true;
  }
  // Next byte, or -1 at end of input; -2 after a read error.
  int get() {
    if (pos_ == size_ && !refill()) return failed_ ? -2 : -1;
    ++offset_;
    return static_cast<unsigned char>(buffer_[pos_++]);
  }
  int peek() {
    if (pos_ == size_ && !refill()) return -1;
    return static_cast<unsigned char>(buffer_[pos_]);
  }
  bool refill() {
    if (eof_) return false;
    in_.read(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    size_ = static_cast<std::size_t>(in_.gcount());
    pos_ = 0;
    if (in_.bad()) failed_ = true;
    if (!in_) eof_ = true;
    return size_ > 0;
  }

  std::istream& in_;
  uint32_t max_record_bytes_;
  std::vector<char> buffer_;
  std::size_t pos_ = 0;
  std::size_t size_ = 0;
  bool eof_ = false;
  bool failed_ = false;
  bool started_ = false;
  uint64_t line_ = 1;
  int64_t offset_ = 0;
};

Result<CsvRecordReader::Status> CsvRecordReader::next(Record& record) {
  if (!started_) {
    started_ = true;
    // A UTF-8 byte order mark, as spreadsheet exports write, is not part of the first column.
    // The first refill holds the file's first 64 KiB, so the mark is whole in the buffer.
    if (peek() >= 0 && size_ >= 3 && buffer_[0] == '\xEF' && buffer_[1] == '\xBB' &&
        buffer_[2] == '\xBF') {
      pos_ = 3;
      offset_ = 3;
    }
  }
  enum class State : uint8_t { field_start, unquoted, quoted, after_quote };
  while (true) {
    record.fields.clear();
    record.quoted.clear();
    record.raw.clear();
    record.raw_bytes = 0;
    record.message.clear();
    record.line = line_;
    record.offset = offset_;
    bool too_large = false;
    bool malformed = false;
    std::string field;
    bool field_quoted = false;
    State state = State::field_start;
    bool any = false;  // bytes consumed for this record
    // Where the record's first line ends, when a quoted field runs past it: a stray quote makes
    // the rest of the file one field, and the record is then cut back to its first line.
    int64_t next_line_offset = -1;
    uint64_t next_line = 0;
    uint64_t first_line_bytes = 0;
    std::string first_line;  // its bytes (empty when over max_record_bytes)
    bool unclosed = false;   // the input ended inside a quoted field
    auto keep = [&](char c) {
      ++record.raw_bytes;
      if (too_large) return;
      if (record.raw_bytes > max_record_bytes_) {
        too_large = true;
        record.raw.clear();
        record.raw.shrink_to_fit();
        field.clear();
        return;
      }
      record.raw.push_back(c);
    };
    auto end_field = [&] {
      if (!too_large) {
        record.fields.push_back(std::move(field));
        record.quoted.push_back(field_quoted);
      }
      field.clear();
      field_quoted = false;
      state = State::field_start;
    };
    auto append = [&](char c) {
      if (!too_large) field.push_back(c);
    };
    while (true) {
      const int c = get();
      if (c == -2) return make_error(Errc::io, "read error");
      if (c == -1) {
        if (!any) return Status::end;
        if (state == State::quoted) {
          malformed = true;
          unclosed = true;
          record.message = "quoted field not closed before the end of the file";
        }
        end_field();
        break;
      }
      any = true;
      const char ch = static_cast<char>(c);
      if (ch == '\n') {
        ++line_;
        if (state == State::quoted && next_line_offset < 0) {
          next_line_offset = offset_;
          next_line = line_;
          first_line_bytes = record.raw_bytes;
          if (!too_large) first_line = record.raw;
        }
      }
      if (state != State::quoted && (ch == '\n' || (ch == '\r' && peek() == '\n'))) {
        if (ch == '\r') {
          get();
          ++line_;
        }
        end_field();
        break;
      }
      keep(ch);
      switch (state) {
        case State::field_start:
          if (ch == '"') {
            state = State::quoted;
            field_quoted = true;
          } else if (ch == ',') {
            end_field();
          } else {
            append(ch);
            state = State::unquoted;
          }
          break;
        case State::unquoted:
          // A quote inside an unquoted field is kept as a character (lenient, as most readers).
          if (ch == ',') {
            end_field();
          } else {
            append(ch);
          }
          break;
        case State::quoted:
          if (ch == '"') {
            if (peek() == '"') {
              keep(static_cast<char>(get()));
              append('"');
            } else {
              state = State::after_quote;
            }
          } else {
            append(ch);
          }
          break;
        case State::after_quote:
          if (ch == ',') {
            end_field();
          } else {
            if (!malformed) record.message = "characters after the closing quote of a field";
            malformed = true;
            append(ch);
            state = State::unquoted;
          }
          break;
      }
    }
    // A quoted field that ran past its first line and never closed, or closed only beyond
    // max_record_bytes: most likely a stray quote. The record is its first line, and reading
    // goes on from the next, so one bad quote costs one row, not the rest of the file.
    if ((too_large || unclosed) && next_line_offset >= 0 &&
        resume_at(next_line_offset, next_line)) {
      if (!first_line.empty() && first_line.back() == '\r') first_line.pop_back();
      record.raw = std::move(first_line);
      record.raw_bytes = first_line_bytes;
      record.fields.clear();
      record.quoted.clear();
      record.message =
          "a quoted field is not closed on its line (a stray quote?); reading goes on from the "
          "next line";
      return Status::malformed;
    }
    if (too_large) return Status::too_large;
    if (malformed) return Status::malformed;
    // A blank line (nothing but spaces) is no record; nor is a row of empty unquoted fields,
    // which spreadsheets save for formatted rows below the data.
    if (std::none_of(record.quoted.begin(), record.quoted.end(), [](bool q) { return q; }) &&
        std::all_of(record.fields.begin(), record.fields.end(), [](const std::string& f) {
          return f.find_first_not_of(" \t\r") == std::string::npos;
        })) {
      continue;
    }
    return Status::record;
  }
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool valid_utf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

DecodeError fail(DecodeReason reason, std::string message) {
  return DecodeError{reason, std::move(message)};
}

// ISO 8601 date-time with a zone (Z or +-HH:MM), or integer epoch milliseconds.
std::optional<DecodeError> parse_time(std::string_view s, std::string_view column,
                                      DecodeReason range_reason, int64_t& out) {
  const std::string field = std::string(column);
  switch (parse_time_text(s, out)) {
    case TimeTextError::none:
      return std::nullopt;
    case TimeTextError::empty:
      return fail(DecodeReason::missing_field, "field '" + field + "' is empty");
    case TimeTextError::out_of_range:
      return fail(range_reason, "field '" + field + "' is before 1970 or after 9999");
    case TimeTextError::not_a_time:
      return fail(DecodeReason::wrong_type, "field '" + field + "' is not a time");
    case TimeTextError::no_zone:
      return fail(DecodeReason::wrong_type,
                  "field '" + field + "' has no time zone (a UTC time ends with Z)");
    case TimeTextError::invalid_date:
      return fail(DecodeReason::wrong_type, "field '" + field + "' is not a valid date and time");
    case TimeTextError::not_iso:
      break;
  }
  return fail(DecodeReason::wrong_type,
              "field '" + field +
                  "' is neither epoch milliseconds nor an ISO 8601 time with a zone "
                  "(YYYY-MM-DDTHH:MM:SS[.fff]Z)");
}

// A `value` cell that means "not measured", as an empty one does: the markers exports write for a
// missing number (R's NA, SQL's NULL, pandas' NaN, N/A), matched case-insensitively as the whole
// cell. Inside a vector they are not markers: one missing element makes no vector.
bool is_missing_value(std::string_view trimmed) {
  if (trimmed.empty()) return true;
  for (std::string_view marker : {"NA", "N/A", "NULL", "NaN"}) {
    if (iequal(trimmed, marker)) return true;
  }
  return false;
}

// A number as the JSON decoder reads it: a double, then narrowed to float.
std::optional<DecodeError> parse_float(std::string_view s, const std::string& field, float& out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  double d = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if ((ec != std::errc() && ec != std::errc::result_out_of_range) || end != s.data() + s.size() ||
      s.empty()) {
    return fail(DecodeReason::wrong_type, "field '" + field + "' is not a number");
  }
  if (ec == std::errc::result_out_of_range) {
    // Beyond double range: an overflow is not finite, but an underflow (1e-400) is a zero of its
    // sign, as the JSON decoder reads it. from_chars leaves d alone either way; strtod tells them
    // apart (infinity for an overflow).
    d = std::strtod(std::string(s).c_str(), nullptr);
  }
  out = static_cast<float>(d);
  if (!std::isfinite(d) || !std::isfinite(out)) {
    return fail(DecodeReason::non_finite_value, "field '" + field + "' is not a finite float");
  }
  return std::nullopt;
}

// A header names columns. A field that reads as a time (with or without a zone, in range or not),
// a number, or is mostly digits (a date, an identifier) is data.
bool reads_as_data(std::string_view s) {
  int64_t ms = 0;
  switch (parse_time_text(s, ms)) {
    case TimeTextError::none:
    case TimeTextError::out_of_range:
    case TimeTextError::no_zone:
    case TimeTextError::invalid_date:
      return true;
    default:
      break;
  }
  const auto digits = static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }));
  float number = 0;
  return (digits >= 4 && 2 * digits >= s.size()) ||
         (digits > 0 && !parse_float(s, std::string(), number).has_value());
}

// Floats separated by spaces and/or commas, optionally inside [ ].
std::optional<DecodeError> parse_floats(std::string_view s, std::vector<float>& out) {
  out.clear();
  s = trim(s);
  if (!s.empty() && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t start = s.find_first_not_of(" \t\r\n,", pos);
    if (start == std::string_view::npos) break;
    std::size_t stop = s.find_first_of(" \t\r\n,", start);
    if (stop == std::string_view::npos) stop = s.size();
    float f = 0;
    if (auto err = parse_float(s.substr(start, stop - start),
                               "value[" + std::to_string(out.size()) + "]", f)) {
      return err;
    }
    out.push_back(f);
    pos = stop;
  }
  return std::nullopt;
}

constexpr std::string_view kOutcomeName = "outcome";

enum Column : uint8_t {
  kPatientId,
  kEventTime,
  kArrivalTime,
  kModality,
  kVariable,
  kValue,
  kText,
  kColumnCount
};
constexpr std::array<std::string_view, kColumnCount> kColumnNames{
    "patient_id", "event_time", "arrival_time", "modality", "variable", "value", "text"};

std::array<std::string*, kColumnCount> column_headers(CsvColumns& c) {
  return {&c.patient_id, &c.event_time, &c.arrival_time, &c.modality,
          &c.variable,   &c.value,      &c.text};
}

}  // namespace

Result<void> set_csv_column(CsvColumns& columns, std::string_view rename) {
  const auto eq = rename.find('=');
  if (eq == std::string_view::npos) {
    return make_error(Errc::invalid_argument,
                      "column rename '" + std::string(rename) + "' is not NAME=HEADER");
  }
  const std::string_view name = trim(rename.substr(0, eq));
  const std::string_view header = trim(rename.substr(eq + 1));
  if (header.empty()) {
    return make_error(Errc::invalid_argument,
                      "column rename '" + std::string(rename) + "' has an empty HEADER");
  }
  auto headers = column_headers(columns);
  for (std::size_t i = 0; i < kColumnCount; ++i) {
    if (name == kColumnNames[i]) {
      *headers[i] = std::string(header);
      return ok();
    }
  }
  return make_error(Errc::invalid_argument,
                    "column rename names no column '" + std::string(name) +
                        "' (columns: patient_id, event_time, arrival_time, modality, variable, "
                        "value, text)");
}

Result<void> check_csv_columns(const CsvColumns& columns) {
  CsvColumns copy = columns;
  const auto headers = column_headers(copy);
  for (std::size_t b = 1; b < kColumnCount; ++b) {
    for (std::size_t a = 0; a < b; ++a) {
      if (!iequal(trim(*headers[a]), trim(*headers[b]))) continue;
      // One header cannot be two columns: its field would be read as both (a note's text parsed
      // as a vector, say), and every row would fail for a reason the file does not show.
      std::string renames;
      for (const std::size_t c : {a, b}) {
        if (*headers[c] == kColumnNames[c]) continue;
        renames += (renames.empty() ? "--column " : ", --column ") + std::string(kColumnNames[c]) +
                   "=" + *headers[c];
      }
      return make_error(Errc::invalid_argument, "columns " + std::string(kColumnNames[a]) +
                                                    " and " + std::string(kColumnNames[b]) +
                                                    " are both looked up under the header '" +
                                                    quoted_text(*headers[b]) + "' (" + renames +
                                                    "); give each column its own header");
    }
  }
  return ok();
}

struct CsvImporter::Impl {
  Impl(const ModalitySchema& schema, PatientRegistry& registry, DecodeLimits limits,
       DeadLetterSink& dead_letters, CsvColumns columns, std::function<bool()> stop_requested)
      : schema(schema),
        registry(registry),
        limits(limits),
        dead_letters(dead_letters),
        columns(std::move(columns)),
        stop_requested(std::move(stop_requested)) {}

  // Adjacent vitals rows of one key, collected into one reading.
  struct Reading {
    bool open = false;
    std::string patient_id;
    ModalityIndex modality = 0;
    int64_t event_time_ms = 0;
    int64_t arrival_time_ms = 0;
    uint64_t first_line = 0;
    uint64_t last_line = 0;
    int64_t offset = 0;
    uint64_t rows = 0;  // rows accepted into the reading (a dead-lettered row is not)
    std::string raw;    // the rows' bytes, joined by '\n' (cut at max_record_bytes)
    uint64_t raw_bytes = 0;
    std::array<uint64_t, kMaxChannels> channel_line{};  // row that gave each channel
    VitalsReading vitals{};
  };

  Result<void> read(std::istream& in, const std::string& source);
  Result<std::array<int, kColumnCount>> read_header(const CsvRecordReader::Record& header,
                                                    const std::string& source);
  void row(const CsvRecordReader::Record& record, const std::array<int, kColumnCount>& index,
           const std::string& source);
  void flush_reading(const std::string& source);
  void keep(Event& event, std::string_view patient_id);
  void dead_letter(const std::string& source, uint64_t line, int64_t offset, DecodeError error,
                   std::string_view raw, uint64_t raw_bytes);

  const ModalitySchema& schema;
  PatientRegistry& registry;
  DecodeLimits limits;
  DeadLetterSink& dead_letters;
  CsvColumns columns;
  std::function<bool()> stop_requested;
  CsvImportStats stats;
  std::vector<Event> events;
  Reading reading;
  Event scratch{};
};

void CsvImporter::Impl::dead_letter(const std::string& source, uint64_t line, int64_t offset,
                                    DecodeError error, std::string_view raw, uint64_t raw_bytes) {
  DeadLetter dead;
  dead.source = source;
  dead.line = line;
  dead.offset = offset;
  dead.reason = error.reason;
  dead.message = std::move(error.message);
  dead.raw_bytes = raw_bytes;
  if (raw_bytes <= limits.max_record_bytes) dead.raw.assign(raw);
  dead_letters.write(dead);
  ++stats.dead_letters;
  ++stats.dead_letter_counts[static_cast<std::size_t>(dead.reason)];
}

void CsvImporter::Impl::keep(Event& event, std::string_view patient_id) {
  event.patient = registry.intern(patient_id);
  event.source_seq = events.size();  // read order over every file: ties in arrival keep it
  events.push_back(event);
  ++stats.events;
}

Result<std::array<int, kColumnCount>> CsvImporter::Impl::read_header(
    const CsvRecordReader::Record& header, const std::string& source) {
  const std::string where = source + ":" + std::to_string(header.line) + ": ";
  std::array<int, kColumnCount> index;
  index.fill(-1);
  auto headers = column_headers(columns);
  std::vector<std::string_view> unknown;
  int first_data_field = -1;  // among the unknown fields
  for (std::size_t f = 0; f < header.fields.size(); ++f) {
    const std::string_view name = trim(header.fields[f]);
    // An unnamed last column is a delimiter ending every line; an unnamed first one, a row index
    // (pandas' to_csv). Neither can be renamed to a column, so neither fails the file. Between
    // named columns it may be a column whose name was lost, and is reported as unknown.
    if (name.empty() && (f == 0 || f + 1 == header.fields.size())) continue;
    bool found = false;
    for (std::size_t c = 0; c < kColumnCount; ++c) {
      if (!iequal(name, *headers[c])) continue;
      if (index[c] >= 0) {
        return make_error(Errc::parse,
                          where + "column '" + quoted_text(name) + "' appears twice in the header");
      }
      index[c] = static_cast<int>(f);
      found = true;
    }
    if (found) continue;
    unknown.push_back(name);
    if (first_data_field < 0 && reads_as_data(name)) first_data_field = static_cast<int>(f);
  }
  const bool any_known =
      std::any_of(index.begin(), index.end(), [](int column) { return column >= 0; });
  // A renamed column the header lacks explains the unknown columns better than their list does.
  for (std::size_t c = 0; c < kColumnCount; ++c) {
    if (index[c] >= 0 || *headers[c] == kColumnNames[c]) continue;
    return make_error(Errc::parse, where + "the header has no column '" + *headers[c] +
                                       "' (given with --column " + std::string(kColumnNames[c]) +
                                       "=" + *headers[c] + ")");
  }
  // A headerless export, or line endings the reader does not split on (a lone CR), put a row of
  // data where the header belongs: its fields are payload and are not repeated.
  constexpr std::string_view kExpected =
      "the first line must name the columns patient_id, event_time, arrival_time, modality, "
      "variable, value, text (rename with --column NAME=HEADER; lines end with LF or CRLF)";
  if (!unknown.empty() && first_data_field >= 0) {
    return make_error(Errc::parse, where + "the header row holds data (field " +
                                       std::to_string(first_data_field + 1) +
                                       " reads as a time, a number or an identifier); " +
                                       std::string(kExpected));
  }
  if (!unknown.empty() && !any_known) {
    return make_error(Errc::parse, where +
                                       "the first row names none of the columns, so it may be "
                                       "data and is not repeated; " +
                                       std::string(kExpected));
  }
  if (!unknown.empty()) {
    std::string list;
    for (const auto& u : unknown) list += (list.empty() ? "'" : ", '") + quoted_text(u) + "'";
    return make_error(Errc::parse,
                      where + "unknown column" + (unknown.size() > 1 ? "s " : " ") + list +
                          " (known: patient_id, event_time, arrival_time, modality, variable, "
                          "value, text; rename with --column NAME=HEADER)");
  }
  for (Column c : {kPatientId, kEventTime, kModality}) {
    if (index[c] < 0) {
      return make_error(Errc::parse, where + "the header has no column '" + *headers[c] + "'");
    }
  }
  return index;
}

void CsvImporter::Impl::flush_reading(const std::string& source) {
  if (!reading.open) return;
  reading.open = false;
  // Every row of the reading was dead-lettered on its own: nothing left to reject.
  if (reading.rows == 0) return;
  Event& event = scratch;
  reset_event(event);
  event.modality = reading.modality;
  event.event_time_ms = reading.event_time_ms;
  event.arrival_time_ms = reading.arrival_time_ms;
  event.vitals = reading.vitals;
  auto err = check_event(event, schema, limits);
  if (!err) err = check_record_size(event, schema, reading.patient_id, limits);
  if (err) {
    if (reading.last_line != reading.first_line) {
      err->message += " (reading of lines " + std::to_string(reading.first_line) + "-" +
                      std::to_string(reading.last_line) + ")";
    }
    dead_letter(source, reading.first_line, reading.offset, std::move(*err), reading.raw,
                reading.raw_bytes);
    return;
  }
  keep(event, reading.patient_id);
}

void CsvImporter::Impl::row(const CsvRecordReader::Record& record,
                            const std::array<int, kColumnCount>& index, const std::string& source) {
  auto field = [&](Column c) -> std::string_view {
    return index[c] < 0 ? std::string_view{} : std::string_view(record.fields[index[c]]);
  };
  auto reject = [&](DecodeError error) {
    dead_letter(source, record.line, record.offset, std::move(error), record.raw, record.raw_bytes);
  };
  // Key fields: a row whose key cannot be read ends the reading before it.
  const std::string_view patient_id = trim(field(kPatientId));
  const std::string_view modality_name = trim(field(kModality));
  ModalityIndex modality = kOutcomeModality;
  int64_t event_time_ms = 0;
  int64_t arrival_time_ms = 0;
  std::optional<DecodeError> key_error;
  if (!valid_utf8(patient_id)) {
    key_error = fail(DecodeReason::invalid_utf8, "field 'patient_id' is not valid UTF-8");
  } else if (auto err = check_patient_id(patient_id)) {
    key_error = std::move(err);
  } else if (modality_name.empty()) {
    key_error = fail(DecodeReason::missing_field, "field 'modality' is empty");
  } else if (modality_name != kOutcomeName) {
    if (const auto m = schema.find(modality_name)) {
      modality = *m;
    } else {
      key_error =
          fail(DecodeReason::unknown_modality, "field 'modality' names no configured modality");
    }
  }
  if (!key_error) {
    key_error = parse_time(trim(field(kEventTime)), "event_time",
                           DecodeReason::event_time_out_of_range, event_time_ms);
  }
  if (!key_error) {
    const std::string_view arrival = trim(field(kArrivalTime));
    if (arrival.empty()) {
      arrival_time_ms = event_time_ms;
    } else {
      key_error = parse_time(arrival, "arrival_time", DecodeReason::arrival_time_out_of_range,
                             arrival_time_ms);
    }
  }
  if (key_error) {
    flush_reading(source);
    reject(std::move(*key_error));
    return;
  }

  const bool vitals = modality != kOutcomeModality && schema[modality].kind == ModalityKind::vitals;
  if (vitals) {
    if (!reading.open || reading.patient_id != patient_id || reading.modality != modality ||
        reading.event_time_ms != event_time_ms || reading.arrival_time_ms != arrival_time_ms) {
      flush_reading(source);
      reading.open = true;
      reading.patient_id.assign(patient_id);
      reading.modality = modality;
      reading.event_time_ms = event_time_ms;
      reading.arrival_time_ms = arrival_time_ms;
      reading.first_line = record.line;
      reading.offset = record.offset;
      reading.rows = 0;
      reading.raw.clear();
      reading.raw_bytes = 0;
      reading.vitals.present_mask = 0;
    }
    const ModalitySpec& spec = schema[modality];
    const std::string_view variable = trim(field(kVariable));
    if (variable.empty()) {
      reject(fail(DecodeReason::missing_field, "field 'variable' is empty (a vitals channel)"));
      return;
    }
    const auto channel = schema.find_channel(modality, variable);
    if (!channel) {
      reject(fail(DecodeReason::empty_values,
                  "field 'variable' names no channel of modality '" + spec.name + "'"));
      return;
    }
    const std::string field_name = "value (" + spec.channels[*channel] + ")";
    const uint32_t bit = uint32_t{1} << *channel;
    std::string_view value = trim(field(kValue));
    if (is_missing_value(value)) value = {};
    float number = 0;
    if (!value.empty()) {
      // A bad value costs its row only, as in the reading's other checks below.
      auto err = parse_float(value, field_name, number);
      if (!err) err = check_vitals_value(number, field_name);
      if (err) {
        reject(std::move(*err));
        return;
      }
      if (reading.vitals.present_mask & bit) {
        reject(fail(DecodeReason::malformed_record,
                    "channel '" + spec.channels[*channel] + "' given twice in one reading (line " +
                        std::to_string(reading.channel_line[*channel]) + ")"));
        return;
      }
    }
    // An empty value (or NA, NULL...) is a channel not measured, as a JSON null: the row joins
    // the reading and adds nothing (a reading with no measured channel is empty_values).
    if (!value.empty()) {
      reading.vitals.present_mask |= bit;
      reading.vitals.values[*channel] = number;
      reading.channel_line[*channel] = record.line;
    }
    ++reading.rows;
    reading.last_line = record.line;
    if (reading.raw_bytes > 0) ++reading.raw_bytes;
    reading.raw_bytes += record.raw_bytes;
    if (reading.raw_bytes <= limits.max_record_bytes) {
      if (!reading.raw.empty()) reading.raw.push_back('\n');
      reading.raw += record.raw;
    }
    return;
  }

  flush_reading(source);
  Event& event = scratch;
  reset_event(event);
  event.modality = modality;
  event.event_time_ms = event_time_ms;
  event.arrival_time_ms = arrival_time_ms;
  if (modality == kOutcomeModality) {
    const std::string_view label = trim(field(kVariable));
    if (!valid_utf8(label)) {
      reject(fail(DecodeReason::invalid_utf8, "field 'variable' (label) is not valid UTF-8"));
      return;
    }
    event.label.assign(label);
  } else {
    const ModalitySpec& spec = schema[modality];
    if (spec.kind == ModalityKind::text) {
      const std::string_view text = field(kText);
      if (!valid_utf8(text)) {
        reject(fail(DecodeReason::invalid_utf8, "field 'text' is not valid UTF-8"));
        return;
      }
      event.text.assign(text);
    }
    std::string_view value = field(kValue);
    if (is_missing_value(trim(value))) value = {};
    if (spec.kind == ModalityKind::embedding && value.empty()) {
      reject(fail(DecodeReason::missing_field, "field 'value' (the embedding) is empty"));
      return;
    }
    if (auto err = parse_floats(value, event.embedding)) {
      reject(std::move(*err));
      return;
    }
  }
  auto err = check_event(event, schema, limits);
  if (!err) err = check_record_size(event, schema, patient_id, limits);
  if (err) {
    reject(std::move(*err));
    return;
  }
  keep(event, patient_id);
}

Result<void> CsvImporter::Impl::read(std::istream& in, const std::string& source) {
  if (auto r = check_csv_columns(columns); !r) return std::move(r).error();
  CsvRecordReader reader(in, limits.max_record_bytes);
  CsvRecordReader::Record record;
  std::optional<std::array<int, kColumnCount>> index;
  std::size_t header_fields = 0;
  constexpr uint64_t kCheckEvery = 1 << 16;
  for (uint64_t records = 1;; ++records) {
    if (records % kCheckEvery == 0 && stop_requested && stop_requested()) {
      stats.interrupted = true;
      return ok();
    }
    auto status = reader.next(record);
    if (!status) return make_error(Errc::io, source + ": " + status.error().message);
    if (status.value() == CsvRecordReader::Status::end) break;
    if (!index) {
      if (status.value() != CsvRecordReader::Status::record) {
        return make_error(Errc::parse, source + ":" + std::to_string(record.line) +
                                           ": the header row is not valid CSV");
      }
      auto header = read_header(record, source);
      if (!header) return std::move(header).error();
      index = header.value();
      header_fields = record.fields.size();
      continue;
    }
    ++stats.rows;
    switch (status.value()) {
      case CsvRecordReader::Status::record:
        break;
      case CsvRecordReader::Status::malformed:
        flush_reading(source);
        dead_letter(source, record.line, record.offset,
                    fail(DecodeReason::malformed_record, std::move(record.message)), record.raw,
                    record.raw_bytes);
        continue;
      case CsvRecordReader::Status::too_large:
        flush_reading(source);
        dead_letter(source, record.line, record.offset,
                    fail(DecodeReason::record_too_large, "row exceeds max_record_bytes"), {},
                    record.raw_bytes);
        continue;
      case CsvRecordReader::Status::end:
        break;
    }
    if (record.fields.size() != header_fields) {
      flush_reading(source);
      dead_letter(source, record.line, record.offset,
                  fail(DecodeReason::malformed_record,
                       "row has " + std::to_string(record.fields.size()) +
                           " fields, the header has " + std::to_string(header_fields) +
                           (has_lone_cr(record.raw)
                                ? " (it holds a lone CR, which does not end a line: lines end "
                                  "with LF or CRLF)"
                                : "")),
                  record.raw, record.raw_bytes);
      continue;
    }
    row(record, *index, source);
  }
  flush_reading(source);
  if (!index) return make_error(Errc::parse, source + ": no header row (the file is empty)");
  return ok();
}

CsvImporter::CsvImporter(const ModalitySchema& schema, PatientRegistry& registry,
                         DecodeLimits limits, DeadLetterSink& dead_letters, CsvColumns columns,
                         std::function<bool()> stop_requested)
    : impl_(std::make_unique<Impl>(schema, registry, limits, dead_letters, std::move(columns),
                                   std::move(stop_requested))) {}

CsvImporter::~CsvImporter() = default;

Result<void> CsvImporter::read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return make_error(Errc::io, path + ": is a directory, not a CSV file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, path + ": cannot open for reading");
  return read(in, path);
}

Result<void> CsvImporter::read(std::istream& in, const std::string& source) {
  return impl_->read(in, source);
}

std::vector<Event> CsvImporter::take_events() {
  std::vector<Event> events = std::move(impl_->events);
  impl_->events.clear();
  sort_for_replay(events);
  for (std::size_t i = 0; i < events.size(); ++i) events[i].source_seq = i + 1;
  return events;
}

const CsvImportStats& CsvImporter::stats() const { return impl_->stats; }

namespace {

// The imported events, in order, as a source for write_event_file.
class EventVectorSource final : public EventSource {
 public:
  EventVectorSource(std::string name, const std::vector<Event>& events)
      : name_(std::move(name)), events_(events) {}
  Result<SourceItem> next(Event& event, DeadLetter&) override {
    if (next_ == events_.size()) return SourceItem::end;
    event = events_[next_++];
    return SourceItem::event;
  }
  const std::string& name() const override { return name_; }

 private:
  std::string name_;
  const std::vector<Event>& events_;
  std::size_t next_ = 0;
};

}  // namespace

Result<CsvImportStats> import_csv(const std::vector<std::string>& paths, const std::string& out,
                                  const ModalitySchema& schema, DecodeLimits limits,
                                  DeadLetterSink& dead_letters, const CsvColumns& columns,
                                  const CsvImportProgress& on_file,
                                  const std::function<bool()>& stop_requested) {
  if (paths.empty()) return make_error(Errc::invalid_argument, "no CSV files given");
  if (auto f = event_file_format(out); !f) return std::move(f).error();
  if (auto r = check_csv_columns(columns); !r) return std::move(r).error();
  for (std::size_t i = 0; i < paths.size(); ++i) {
    std::error_code ec;
    if (std::filesystem::equivalent(paths[i], out, ec)) {
      return make_error(Errc::invalid_argument, out + ": output is an input file");
    }
    // A file read twice would write every event twice (doubled window counts in a replay, a
    // different trained model), as a history given twice would: refused the same way.
    for (std::size_t j = 0; j < i; ++j) {
      if (paths[i] == paths[j] || std::filesystem::equivalent(paths[i], paths[j], ec)) {
        return make_error(Errc::invalid_argument,
                          paths[i] == paths[j]
                              ? paths[i] + ": CSV file given twice"
                              : paths[i] + ": CSV file given twice (also as " + paths[j] + ")");
      }
    }
  }
  PatientRegistry registry;
  CsvImporter importer(schema, registry, limits, dead_letters, columns, stop_requested);
  for (const std::string& path : paths) {
    if (auto r = importer.read_file(path); !r) return std::move(r).error();
    if (importer.stats().interrupted || (stop_requested && stop_requested())) {
      CsvImportStats stats = importer.stats();
      stats.interrupted = true;
      return stats;
    }
    if (on_file) on_file(path, importer.stats());
  }
  const std::vector<Event> events = importer.take_events();
  // The same writing step as tfe convert: a stop leaves neither the output nor its temporary file.
  EventVectorSource source(paths.size() == 1 ? paths[0] : "CSV import", events);
  auto written =
      write_event_file(source, out, schema, registry, limits, dead_letters, stop_requested);
  if (!written) return std::move(written).error();
  CsvImportStats stats = importer.stats();
  stats.events = written.value().events;
  stats.interrupted = written.value().interrupted;
  stats.dead_letters += written.value().dead_letters;
  for (std::size_t r = 0; r < kDecodeReasonCount; ++r) {
    stats.dead_letter_counts[r] += written.value().dead_letter_counts[r];
  }
  return stats;
}

}  // namespace tfe
