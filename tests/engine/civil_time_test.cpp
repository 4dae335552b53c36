// Time texts: epoch milliseconds or ISO 8601 with a zone, as the CSV importer and the command
// lines' time ranges read them.

#include "engine/civil_time.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace tfe {
namespace {

TEST(CivilTime, ParsesEpochMillisecondsAndIsoTimesWithAZone) {
  int64_t ms = -1;
  EXPECT_EQ(parse_time_text("1704067200000", ms), TimeTextError::none);
  EXPECT_EQ(ms, 1'704'067'200'000);
  EXPECT_EQ(parse_time_text("2024-01-01T00:00:00Z", ms), TimeTextError::none);
  EXPECT_EQ(ms, 1'704'067'200'000);
  EXPECT_EQ(parse_time_text("2024-01-01 01:30+01:30", ms), TimeTextError::none);
  EXPECT_EQ(ms, 1'704'067'200'000);
  EXPECT_EQ(parse_time_text("2024-02-29t23:59:59.1239z", ms), TimeTextError::none);
  EXPECT_EQ(ms, 1'709'251'199'123);
  EXPECT_EQ(parse_time_text("-5", ms), TimeTextError::none);
  EXPECT_EQ(ms, -5);
}

// Integer columns with gaps come out of pandas and spreadsheets as floats: "N.0" is N, but a
// real fraction of a millisecond is not an epoch time.
TEST(CivilTime, EpochMillisecondsWrittenAsAFloatWithAZeroFraction) {
  int64_t ms = -1;
  EXPECT_EQ(parse_time_text("1704067200000.0", ms), TimeTextError::none);
  EXPECT_EQ(ms, 1'704'067'200'000);
  EXPECT_EQ(parse_time_text("1704067200001.000", ms), TimeTextError::none);
  EXPECT_EQ(ms, 1'704'067'200'001);
  EXPECT_NE(parse_time_text("1704067200000.5", ms), TimeTextError::none);
  EXPECT_NE(parse_time_text("1704067200000.", ms), TimeTextError::none);
  EXPECT_NE(parse_time_text(".0", ms), TimeTextError::none);
  EXPECT_NE(parse_time_text("-.0", ms), TimeTextError::none);
  EXPECT_NE(parse_time_text("1.0e12", ms), TimeTextError::none);
}

TEST(CivilTime, SaysWhyATextIsNotATime) {
  int64_t ms = 7;
  EXPECT_EQ(parse_time_text("", ms), TimeTextError::empty);
  EXPECT_EQ(parse_time_text("99999999999999999999", ms), TimeTextError::out_of_range);
  EXPECT_EQ(parse_time_text("-", ms), TimeTextError::not_iso);
  EXPECT_EQ(parse_time_text("yesterday", ms), TimeTextError::not_iso);
  EXPECT_EQ(parse_time_text("2024-01-01T00:00:00", ms), TimeTextError::no_zone);
  EXPECT_EQ(parse_time_text("2023-02-29T00:00:00Z", ms), TimeTextError::invalid_date);
  EXPECT_EQ(parse_time_text("2024-01-01T24:00Z", ms), TimeTextError::invalid_date);
  EXPECT_EQ(parse_time_text("2024-01-01T00:00:00Zjunk", ms), TimeTextError::not_iso);
  EXPECT_EQ(ms, 7);  // untouched on failure
}

}  // namespace
}  // namespace tfe
