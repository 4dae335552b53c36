#include "connectors/crc32.h"

#include <isa-l/crc.h>

namespace tfe {

uint32_t crc32_ieee(uint32_t crc, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  // ISA-L takes a 64-bit length; larger spans never reach here (records are at most 16 MiB).
  return crc32_gzip_refl(crc, p, static_cast<uint64_t>(n));
}

}  // namespace tfe
