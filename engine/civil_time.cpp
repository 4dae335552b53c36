#include "engine/civil_time.h"

#include <array>
#include <charconv>
#include <system_error>

namespace tfe {
namespace {

int days_in_month(int64_t y, int64_t m) {
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[static_cast<std::size_t>(m - 1)];
}

// Reads exactly `n` digits at s[pos..]; advances pos.
bool digits(std::string_view s, std::size_t& pos, std::size_t n, int64_t& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

}  // namespace

TimeTextError parse_time_text(std::string_view s, int64_t& out) {
  if (s.empty()) return TimeTextError::empty;
  // "1704096000000.0": an integer column with gaps, as pandas and spreadsheets write it (as a
  // float). Only zeros may follow the point: a fraction of a millisecond is not an epoch time.
  if (const std::size_t point = s.find('.');
      point != std::string_view::npos && point > 0 && point + 1 < s.size() &&
      s.find_first_not_of('0', point + 1) == std::string_view::npos &&
      s.find_first_not_of("0123456789", s[0] == '-' ? 1 : 0) == point) {
    s = s.substr(0, point);
  }
  const bool integer =
      s.find_first_not_of("0123456789", s[0] == '-' ? 1 : 0) == std::string_view::npos && s != "-";
  if (integer) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc::result_out_of_range) return TimeTextError::out_of_range;
    if (ec != std::errc() || end != s.data() + s.size()) return TimeTextError::not_a_time;
    return TimeTextError::none;
  }
  std::size_t pos = 0;
  int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, ms = 0;
  if (!digits(s, pos, 4, year) || pos >= s.size() || s[pos++] != '-' || !digits(s, pos, 2, month) ||
      pos >= s.size() || s[pos++] != '-' || !digits(s, pos, 2, day) || pos >= s.size() ||
      (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) {
    return TimeTextError::not_iso;
  }
  ++pos;
  if (!digits(s, pos, 2, hour) || pos >= s.size() || s[pos++] != ':' ||
      !digits(s, pos, 2, minute)) {
    return TimeTextError::not_iso;
  }
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!digits(s, pos, 2, second)) return TimeTextError::not_iso;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      std::size_t n = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (n < 3) ms = ms * 10 + (s[pos] - '0');
        ++n;
        ++pos;
      }
      if (n == 0) return TimeTextError::not_iso;
      for (std::size_t i = n; i < 3; ++i) ms *= 10;
    }
  }
  int64_t zone_minutes = 0;
  if (pos >= s.size()) return TimeTextError::no_zone;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    const int64_t sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int64_t zh = 0, zm = 0;
    if (!digits(s, pos, 2, zh)) return TimeTextError::not_iso;
    if (pos < s.size() && s[pos] == ':') ++pos;
    if (!digits(s, pos, 2, zm) || zh > 23 || zm > 59) return TimeTextError::not_iso;
    zone_minutes = sign * (zh * 60 + zm);
  } else {
    return TimeTextError::not_iso;
  }
  if (pos != s.size()) return TimeTextError::not_iso;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return TimeTextError::invalid_date;
  }
  out = epoch_ms_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day), hour,
                            minute, second, ms, zone_minutes);
  return TimeTextError::none;
}

}  // namespace tfe
