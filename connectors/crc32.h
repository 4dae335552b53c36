#pragma once
// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320): the same value as zlib's crc32(), computed
// eight bytes at a time. zlib's routine goes byte by byte below 47 bytes, which is most binary-log
// records (a vitals record is about 40 bytes), and there it costs about as much as the rest of
// reading the record.

#include <cstddef>
#include <cstdint>

namespace tfe {

// Continues `crc` (0 to start) over n bytes; crc32_ieee(0, p, n) == zlib crc32(0, p, n).
uint32_t crc32_ieee(uint32_t crc, const void* data, std::size_t n);

}  // namespace tfe
