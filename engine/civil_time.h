#pragma once
// Civil date-times (proleptic Gregorian calendar, a UTC offset in minutes) as epoch milliseconds:
// the one conversion behind the profiles' start times and the CSV importer's ISO 8601 times.

#include <cstdint>

namespace tfe {

// Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil).
inline int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// Epoch milliseconds of a civil date and time of day given at UTC offset `offset_minutes`.
inline int64_t epoch_ms_from_civil(int64_t y, unsigned m, unsigned d, int64_t hour, int64_t minute,
                                   int64_t second, int64_t ms, int64_t offset_minutes) {
  const int64_t minutes = days_from_civil(y, m, d) * 1440 + hour * 60 + minute - offset_minutes;
  return (minutes * 60 + second) * 1000 + ms;
}

}  // namespace tfe
