#pragma once

// The memory allocator of the tfe command. Every build but the sanitizer one links jemalloc (the
// sanitizers bring an allocator of their own); tfe's libraries and tests use whatever malloc the
// program they are linked into has.

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tfe::cli {

// One-shot commands (replay, train, profile, ...) keep the memory they free for their next
// allocations: the report's metrics allocate and free buffers of hundreds of megabytes, and
// memory handed back to the kernel comes back as fresh pages that it zeroes on first touch (a
// fifth of a report's CPU time with the C library's malloc). This is the default at start.
//
// The service, which runs for weeks, hands memory it has not reused for a few seconds back to
// the system instead: call this once, before its work starts. An operator's own decay setting
// in MALLOC_CONF (dirty_decay_ms or muzzy_decay_ms) is left as it is: a service that catches up
// on large backlogs runs faster keeping its memory (docs/service.md).
void return_freed_memory_over_time();

// "jemalloc 5.3.0-..." or "the C library's malloc": for --version and bug reports.
std::string allocator_description();

// Touches up to `budget` bytes of fresh memory on a thread of its own while the calling thread
// works alone (a history's load, which leaves the second core idle), then hands it to the
// allocator, which keeps it (above): the work after it reuses pages already faulted in instead
// of faulting them in on its own threads, where each fault holds up a busy core. What a JVM's
// AlwaysPreTouch does for its heap, for the part of the memory a command is about to need.
// Touching stops at stop() whatever is left of the budget.
class MemoryPretouch {
 public:
  explicit MemoryPretouch(std::size_t budget);
  ~MemoryPretouch();
  MemoryPretouch(const MemoryPretouch&) = delete;
  MemoryPretouch& operator=(const MemoryPretouch&) = delete;

  // Stops touching and frees what was touched; returns its size. Idempotent.
  std::size_t stop();

 private:
  std::atomic<bool> stopping_{false};
  std::vector<std::unique_ptr<std::byte[]>> chunks_;  // the thread's until it is joined
  std::size_t touched_ = 0;
  std::thread thread_;
};

// MemAvailable of /proc/meminfo in bytes; 0 where it cannot be read.
std::size_t available_memory();

}  // namespace tfe::cli
