#pragma once

// The memory allocator of the tfe command. Every build but the sanitizer one links jemalloc (the
// sanitizers bring an allocator of their own); tfe's libraries and tests use whatever malloc the
// program they are linked into has.

#include <string>

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

}  // namespace tfe::cli
