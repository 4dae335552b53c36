#pragma once
// Dead letters: records that could not become events, with their source position and reason.
// DeadLetterSink counts them by reason and writes them to a JSONL file.
//
// Dead-letter file, one JSON object per line, keys in this order (absent ones omitted):
//   {"source":"a.jsonl","partition":3,"line":12,"offset":4096,"reason":"non_finite_value",
//    "message":"field 'values.hr' is not a finite float","raw_bytes":57,"raw_b64":"eyJwYXRp..."}
// `raw_b64` holds the exact record bytes (base64, so invalid UTF-8 survives) so that the record can
// be repaired and replayed; it is the only place payload is kept. Logs carry the position and
// reason only. Pass include_raw = false to leave payload out of the file as well (only raw_bytes
// remains). Records over max_record_bytes are never copied (raw_bytes only).

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "connectors/event_codec.h"
#include "engine/result.h"

namespace tfe {

struct DeadLetter {
  std::string source;      // file path, or Kafka topic
  int32_t partition = -1;  // Kafka partition; -1: none
  uint64_t line = 0;       // 1-based line of a JSONL file; 0: not line-oriented
  int64_t offset = -1;     // byte offset in a binary log, or Kafka offset; -1: none
  DecodeReason reason = DecodeReason::malformed_json;
  std::string message;     // never payload
  uint64_t raw_bytes = 0;  // size of the rejected record
  std::string raw;         // the record bytes when kept (may be empty)
};

using DeadLetterCounts = std::array<uint64_t, kDecodeReasonCount>;

// Appends the dead-letter file line (no newline) for `dead`; raw_b64 only if include_raw.
void append_dead_letter_json(std::string& out, const DeadLetter& dead, bool include_raw);

class DeadLetterSink {
 public:
  // A sink that counts and logs but writes no file.
  DeadLetterSink();
  // Creates (truncates) `path`. Fails with Errc::io naming the path.
  static Result<std::unique_ptr<DeadLetterSink>> open(const std::string& path,
                                                      bool include_raw = true);
  ~DeadLetterSink();
  DeadLetterSink(const DeadLetterSink&) = delete;
  DeadLetterSink& operator=(const DeadLetterSink&) = delete;

  // Counts `dead`, logs its position and reason (the first few of each reason, then one line per
  // thousand), and buffers its file line. I/O errors are kept and reported by close().
  void write(const DeadLetter& dead);
  // Writes buffered lines and closes the file; returns the first I/O error, if any.
  Result<void> close();

  const DeadLetterCounts& counts() const { return counts_; }
  uint64_t count(DecodeReason reason) const { return counts_[static_cast<std::size_t>(reason)]; }
  uint64_t total() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DeadLetterCounts counts_{};
};

}  // namespace tfe
