#pragma once
// Civil date-times (proleptic Gregorian calendar, a UTC offset in minutes) as epoch milliseconds:
// the one conversion behind the profiles' start times, the CSV importer's ISO 8601 times and the
// time ranges of command lines.

#include <cstdint>
#include <string_view>

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

// Why a time text was refused (parse_time_text); callers word the message for their context.
enum class TimeTextError : uint8_t {
  none,
  empty,
  out_of_range,  // an integer beyond int64
  not_a_time,    // not returned: a lone '-' and digits with junk are not_iso
  not_iso,       // neither epoch milliseconds nor YYYY-MM-DDTHH:MM[:SS[.fff]] with a zone
  no_zone,       // an ISO 8601 date-time without Z or +-HH:MM
  invalid_date,  // month, day, hour, minute or second out of range
};

// Integer epoch milliseconds (a fraction of zeros allowed: "1704096000000.0"), or an ISO 8601
// date-time with a zone (Z or +-HH[:]MM; 'T', 't' or
// a space between date and time; seconds optional; fractional seconds truncated to ms).
TimeTextError parse_time_text(std::string_view text, int64_t& out_ms);

}  // namespace tfe
