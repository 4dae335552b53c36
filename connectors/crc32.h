#pragma once
// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320): the value of zlib's crc32(), computed by
// Intel ISA-L (Debian's libisal), which folds 16 bytes at a time with carry-less multiplication
// where the CPU has it. zlib's own routine goes byte by byte below 47 bytes, which is most
// binary-log records (a vitals record is about 40 bytes); ISA-L takes half the time there and a
// tenth on a 2 KB imaging record.

#include <cstddef>
#include <cstdint>

namespace tfe {

// Continues `crc` (0 to start) over n bytes; crc32_ieee(0, p, n) == zlib crc32(0, p, n).
uint32_t crc32_ieee(uint32_t crc, const void* data, std::size_t n);

}  // namespace tfe
