#pragma once
// The interface every event source implements (JSONL file, binary log, their merge): a pull of
// one item at a time, which is either an event, a dead letter, or the end.

#include <cstdint>
#include <string>

#include "connectors/dead_letter.h"
#include "engine/event.h"
#include "engine/result.h"

namespace tfe {

enum class SourceItem : uint8_t {
  event,        // `event` was filled
  dead_letter,  // `dead` was filled; the source goes on
  end,          // no more items
};

class EventSource {
 public:
  virtual ~EventSource() = default;
  // Produces the next item into `event` or `dead` (their buffers are reused). Blocks on file reads
  // only. An error means the source cannot go on (I/O error, unreadable header); after end or an
  // error, further calls return end. Single-threaded.
  virtual Result<SourceItem> next(Event& event, DeadLetter& dead) = 0;
  // Display name for progress and errors (a path).
  virtual const std::string& name() const = 0;
  // Vitals channel names outside the schema met so far (counted and ignored).
  virtual uint64_t unknown_channels() const { return 0; }
};

}  // namespace tfe
