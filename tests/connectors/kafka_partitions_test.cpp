#include "connectors/kafka_partitions.h"

#include <gtest/gtest.h>

namespace tfe {
namespace {

TEST(KafkaPartitions, ClockIsHeldUntilEveryPartitionAnswered) {
  PartitionTable table(2, 2);
  table.reset({{0, 0}, {0, 1}, {1, 0}, {1, 1}});
  table.on_message(0, 0, 0, 100, false);
  table.on_message(0, 1, 0, 200, false);
  table.on_message(1, 0, 0, 150, false);
  EXPECT_EQ(table.clock(), std::nullopt) << "partition (1,1) has not answered";
  table.on_message(1, 1, 0, 120, false);
  EXPECT_EQ(table.clock(), 100);
}

TEST(KafkaPartitions, CaughtUpPartitionDoesNotHoldTheClock) {
  PartitionTable table(2, 1);
  table.reset({{0, 0}, {1, 0}});
  table.on_message(0, 0, 0, 1000, false);
  table.on_end(1, 0, 0);  // empty imaging partition
  EXPECT_EQ(table.clock(), 1000);
  table.on_message(1, 0, 0, 10, false);  // a quiet topic's old record: not caught up any more
  EXPECT_EQ(table.clock(), 10);
  table.on_end(1, 0, 1);
  EXPECT_EQ(table.clock(), 1000);
  table.on_end(0, 0, 1);  // everything caught up: the newest arrival
  EXPECT_EQ(table.clock(), 1000);
}

TEST(KafkaPartitions, CaughtUpPartitionHoldsForTheGrace) {
  PartitionTable table(2, 1, /*grace_ms=*/2000);
  table.reset({{0, 0}, {1, 0}});
  table.on_message(0, 0, 0, 500, false);
  table.on_message(1, 0, 0, 900, false);
  table.on_end(0, 0, 1, /*now_ms=*/10'000);
  EXPECT_EQ(table.clock(10'500), 500) << "just caught up: still holds";
  EXPECT_EQ(table.clock(12'000), 900) << "quiet beyond the grace: released";
  table.on_end(0, 0, 1, 12'500);  // a repeated end does not restart the grace
  EXPECT_EQ(table.clock(12'500), 900);
}

TEST(KafkaPartitions, CommitOffsetIsTheFirstUnappliedRecord) {
  PartitionTable table(1, 1);
  table.reset({{0, 0}});
  EXPECT_EQ(table.commit_offset(0, 0), std::nullopt);
  table.on_message(0, 0, 10, 100, false);
  table.on_message(0, 0, 11, kNoArrival, true);  // a dead letter behind an unapplied event
  table.on_message(0, 0, 12, 300, false);
  EXPECT_EQ(table.commit_offset(0, 0), 10);
  table.release(100);
  EXPECT_EQ(table.commit_offset(0, 0), 12) << "the dead letter went with the event before it";
  table.release(299);
  EXPECT_EQ(table.commit_offset(0, 0), 12);
  table.release(300);
  EXPECT_EQ(table.commit_offset(0, 0), 13);
  table.on_message(0, 0, 13, kNoArrival, true);
  EXPECT_EQ(table.commit_offset(0, 0), 14) << "a dead letter with nothing pending is done at once";
}

TEST(KafkaPartitions, EmptyCaughtUpPartitionCommitsItsEnd) {
  PartitionTable table(1, 1);
  table.reset({{0, 0}});
  table.on_end(0, 0, 42);
  EXPECT_EQ(table.commit_offset(0, 0), 42);
}

TEST(KafkaPartitions, RestoreEndsAtTheCommittedOffset) {
  PartitionTable table(2, 1);
  table.reset({{0, 0}, {1, 0}});
  table.begin_restore(0, 0, 5, 8);
  table.begin_restore(1, 0, 3, 3);  // nothing to replay
  EXPECT_TRUE(table.restoring());
  table.on_message(0, 0, 5, 1, false);
  table.on_message(0, 0, 6, 2, false);
  EXPECT_TRUE(table.restoring());
  EXPECT_TRUE(table.take_restored().empty());
  table.on_message(0, 0, 7, 3, false);
  EXPECT_FALSE(table.restoring());
  EXPECT_EQ(table.take_restored(), (std::vector<std::pair<std::size_t, int32_t>>{{0, 0}}));
}

TEST(KafkaPartitions, RestoreOfATruncatedLogEndsAtItsEnd) {
  PartitionTable table(1, 1);
  table.reset({{0, 0}});
  table.begin_restore(0, 0, -1, 100);
  table.on_end(0, 0, 50);
  EXPECT_FALSE(table.restoring());
}

TEST(KafkaPartitions, CommitMetadataRoundTrips) {
  EXPECT_EQ(parse_commit_metadata(format_commit_metadata(1'700'000'000'123)), 1'700'000'000'123);
  EXPECT_EQ(parse_commit_metadata(format_commit_metadata(-5)), -5);
  EXPECT_EQ(parse_commit_metadata(format_commit_metadata(std::nullopt)), std::nullopt);
  EXPECT_EQ(parse_commit_metadata(""), std::nullopt);
  EXPECT_EQ(parse_commit_metadata("tfe1 clock=12x"), std::nullopt);
  EXPECT_EQ(parse_commit_metadata("other"), std::nullopt);
}

}  // namespace
}  // namespace tfe
