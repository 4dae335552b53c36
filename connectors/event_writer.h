#pragma once
// The interface every event file writer implements (JSONL, binary log).

#include <cstdint>

#include "engine/event.h"
#include "engine/result.h"

namespace tfe {

class EventWriter {
 public:
  virtual ~EventWriter() = default;
  // Appends one event (valid against the writer's schema). Buffered: blocks only when a buffer
  // fills. I/O errors are kept and returned by close().
  virtual void write(const Event& event) = 0;
  // Flushes and closes; returns the first I/O error, if any.
  virtual Result<void> close() = 0;
  virtual uint64_t events_written() const = 0;
};

}  // namespace tfe
