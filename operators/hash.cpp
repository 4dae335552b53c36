#include "operators/hash.h"

namespace tfe {

std::string hex64(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = kDigits[value & 0xf];
    value >>= 4;
  }
  return s;
}

}  // namespace tfe
