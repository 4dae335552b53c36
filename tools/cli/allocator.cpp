#include "tools/cli/allocator.h"

#include <sys/types.h>

#include <cstdlib>
#include <fstream>
#include <string_view>

#ifdef TFE_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>

// jemalloc reads its options from this symbol at start. Freed memory stays with the process
// (no decay) and its mappings ask for transparent huge pages, which cut a report's page faults
// from millions to thousands.
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's interface.
const char* malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1,thp:always";
}
#endif

namespace tfe::cli {

#ifdef TFE_WITH_JEMALLOC
namespace {

// jemalloc's defaults for a long-running process: unused dirty pages go back after 10 s.
constexpr ssize_t kServiceDirtyDecayMs = 10000;
constexpr ssize_t kServiceMuzzyDecayMs = 0;

void set_decay(const char* name, ssize_t ms) {
  // Failure leaves the start-up setting, which is correct, only less frugal.
  (void)mallctl(name, nullptr, nullptr, &ms, sizeof ms);
}

}  // namespace

void return_freed_memory_over_time() {
  const char* operator_conf = std::getenv("MALLOC_CONF");
  if (operator_conf != nullptr &&
      std::string_view(operator_conf).find("decay_ms") != std::string_view::npos) {
    return;
  }
  // Arenas made from now on, and every existing one (arena MALLCTL_ARENAS_ALL).
  static_assert(MALLCTL_ARENAS_ALL == 4096);
  set_decay("arenas.dirty_decay_ms", kServiceDirtyDecayMs);
  set_decay("arenas.muzzy_decay_ms", kServiceMuzzyDecayMs);
  set_decay("arena.4096.dirty_decay_ms", kServiceDirtyDecayMs);
  set_decay("arena.4096.muzzy_decay_ms", kServiceMuzzyDecayMs);
}

std::string allocator_description() {
  const char* version = nullptr;
  std::size_t size = sizeof version;
  if (mallctl("version", &version, &size, nullptr, 0) != 0 || version == nullptr) {
    return "jemalloc";
  }
  return std::string("jemalloc ") + version;
}

#else

void return_freed_memory_over_time() {}

std::string allocator_description() { return "the C library's malloc"; }

#endif

namespace {
// Large enough that most of each chunk lies in whole 2 MB pages (the allocator aligns large
// allocations to 4 KB only; a partial huge page is faulted in 4 KB at a time).
constexpr std::size_t kPretouchChunk = std::size_t{64} << 20;
constexpr std::size_t kPage = 4096;
}  // namespace

MemoryPretouch::MemoryPretouch(std::size_t budget) {
  if (budget < kPretouchChunk) return;
  thread_ = std::thread([this, budget] {
    while (!stopping_.load(std::memory_order_relaxed) && touched_ + kPretouchChunk <= budget) {
      auto chunk = std::make_unique_for_overwrite<std::byte[]>(kPretouchChunk);
      volatile std::byte* p = chunk.get();
      for (std::size_t i = 0; i < kPretouchChunk; i += kPage) p[i] = std::byte{0};
      chunks_.push_back(std::move(chunk));
      touched_ += kPretouchChunk;
    }
  });
}

MemoryPretouch::~MemoryPretouch() { stop(); }

std::size_t MemoryPretouch::stop() {
  stopping_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
  chunks_.clear();
  return touched_;
}

std::size_t available_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::size_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

}  // namespace tfe::cli
