#include "connectors/crc32.h"

// Included here only: ISA-L also declares a global crc32_ieee, its non-reflected CRC, which gives
// other values than tfe::crc32_ieee (zlib's reflected one, crc32_gzip_refl in ISA-L).
#include <isa-l/crc.h>

namespace tfe {

uint32_t crc32_ieee(uint32_t crc, const void* data, std::size_t n) {
  static_assert(sizeof(std::size_t) <= sizeof(uint64_t));
  return crc32_gzip_refl(crc, static_cast<const unsigned char*>(data), n);
}

}  // namespace tfe
