#include "connectors/kafka_partitions.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

TEST(KafkaPartitions, WithALatenessACaughtUpPartitionsHoldRunsOnWithTheWallClock) {
  PartitionTable table(2, 1, /*grace_ms=*/2000, /*lateness_ms=*/250);
  table.reset({{0, 0}, {1, 0}});
  table.on_message(0, 0, 0, 500, false);
  table.on_message(1, 0, 0, 900, false);
  table.on_end(0, 0, 1, /*now_ms=*/10'000);
  EXPECT_EQ(table.clock(10'000), 500) << "just caught up: holds at its last arrival";
  EXPECT_EQ(table.clock(10'300), 800) << "then at its last arrival plus the wall time since";
  EXPECT_EQ(table.clock(10'700), 900) << "never past the newest record consumed";
  // A record of the held partition: held at its arrival again, not caught up.
  table.on_message(0, 0, 1, 650, false);
  EXPECT_EQ(table.clock(10'800), 650);
  table.on_end(0, 0, 2, 10'800);
  EXPECT_EQ(table.clock(10'900), 750);
  // The stall of the process does not count as time the partition could have been fetched.
  table.extend_grace(/*since_ms=*/10'900, 1000);
  EXPECT_EQ(table.clock(11'900), 750);
  EXPECT_EQ(table.clock(11'950), 800);
}

TEST(KafkaPartitions, WithoutALatenessACaughtUpPartitionHoldsAtItsLastArrival) {
  PartitionTable table(2, 1, /*grace_ms=*/2000, /*lateness_ms=*/0);
  table.reset({{0, 0}, {1, 0}});
  table.on_message(0, 0, 0, 500, false);
  table.on_message(1, 0, 0, 900, false);
  table.on_end(0, 0, 1, /*now_ms=*/10'000);
  EXPECT_EQ(table.clock(11'999), 500) << "the record in flight may be stamped at 500";
  EXPECT_EQ(table.clock(12'000), 900);
}

TEST(KafkaPartitions, TimeTheProcessDidNotRunDoesNotCountTowardTheGrace) {
  PartitionTable table(2, 1, /*grace_ms=*/2000);
  table.reset({{0, 0}, {1, 0}});
  table.on_message(0, 0, 0, 500, false);
  table.on_message(1, 0, 0, 900, false);
  table.on_end(0, 0, 1, /*now_ms=*/10'000);
  // The loop stalled for 5 s right after: the partition could not be fetched meanwhile.
  table.extend_grace(/*since_ms=*/10'000, 5000);
  EXPECT_EQ(table.clock(12'500), 500) << "the stall is not taken from the grace";
  EXPECT_EQ(table.clock(16'900), 500);
  EXPECT_EQ(table.clock(17'000), 900) << "2 s of fetchable time after the end";
  // A partition that reached its end after the stall began keeps its own start.
  table.on_message(0, 0, 1, 2000, false);
  table.on_end(0, 0, 2, 15'000);
  table.on_message(1, 0, 1, 950, false);
  table.on_end(1, 0, 2, 20'000);
  table.extend_grace(/*since_ms=*/19'000, 3000);
  EXPECT_EQ(table.clock(21'999), 950) << "partition (1,0) within its own grace";
  EXPECT_EQ(table.clock(22'000), 2000) << "not extended: released 2 s after its end";
  table.extend_grace(0, 0);  // nothing to extend: no change
  EXPECT_EQ(table.clock(22'000), 2000);
}

TEST(KafkaPartitions, AResumedPartitionStartsItsGraceAgain) {
  PartitionTable table(2, 1, /*grace_ms=*/2000);
  table.reset({{0, 0}, {1, 0}});
  table.on_message(0, 0, 0, 500, false);
  table.on_message(1, 0, 0, 900, false);
  table.on_end(0, 0, 1, /*now_ms=*/1000);
  EXPECT_EQ(table.clock(3000), 900) << "past the grace";
  // Paused during a restore and resumed at 8 s: its end may have moved unseen.
  table.restart_grace(0, 0, 8000);
  EXPECT_EQ(table.clock(9000), 500) << "holds again for a grace from the resume";
  EXPECT_EQ(table.clock(10'000), 900);
  // A partition that is not caught up has no grace to restart.
  table.restart_grace(1, 0, 10'000);
  EXPECT_EQ(table.clock(10'000), 900);
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

TEST(KafkaPartitions, ReleasesBufferedEventsInOffsetOrderAcrossManyBuffersWorth) {
  // More events than the buffer's first capacity, released in pieces while more arrive, so the
  // buffer grows while it wraps around.
  PartitionTable table(1, 1);
  table.reset({{0, 0}});
  std::vector<Event> released;
  int64_t next_offset = 0;
  auto consume = [&](int n) {
    for (int i = 0; i < n; ++i, ++next_offset) {
      Event e;
      e.arrival_time_ms = 1000 + next_offset;
      e.source_seq = static_cast<uint64_t>(next_offset);
      e.text = "note " + std::to_string(next_offset);  // a payload that must move with it
      table.on_event(0, 0, next_offset, std::move(e));
    }
  };
  consume(50);
  table.release(1000 + 29, &released);  // offsets 0..29
  consume(500);
  table.release(1000 + 399, &released);
  consume(1000);
  table.release(1000 + 1549, &released);
  ASSERT_EQ(released.size(), 1550u);
  for (std::size_t i = 0; i < released.size(); ++i) {
    ASSERT_EQ(released[i].source_seq, i);
    ASSERT_EQ(released[i].text, "note " + std::to_string(i));
  }
  EXPECT_EQ(table.commit_offset(0, 0), 1550);

  // A backlog's buffer is kept while the backlog lasts (emptied now and then), and given back
  // once it has been little used for 10 s of wall time.
  int64_t now_ms = 50'000;
  consume(100'000);
  const std::size_t grown = table.slot(0, 0).events.capacity();
  EXPECT_GE(grown, 100'000u);
  table.release(1000 + next_offset, &released, now_ms);
  ASSERT_EQ(released.size(), 101'550u);
  EXPECT_EQ(table.slot(0, 0).events.capacity(), grown) << "emptied, but just used to the full";
  consume(60'000);  // the backlog goes on: more than a quarter of the ring again
  now_ms += 9'000;
  table.release(1000 + next_offset, &released, now_ms);
  now_ms += 9'000;
  table.release(1000 + next_offset, &released, now_ms);
  EXPECT_EQ(table.slot(0, 0).events.capacity(), grown) << "used 9 s ago";
  consume(10);  // live: a few events between releases
  now_ms += 1'000;
  table.release(1000 + next_offset - 11, &released, now_ms);  // the 10 stay
  EXPECT_EQ(table.slot(0, 0).events.size(), 10u);
  EXPECT_EQ(table.slot(0, 0).events.capacity(), grown) << "used 10 s ago, but not empty";
  now_ms += 1;
  table.release(1000 + next_offset, &released, now_ms);
  EXPECT_EQ(table.slot(0, 0).events.capacity(), 4096u) << "empty, little used for 10 s";
  ASSERT_EQ(released.size(), 161'560u);
  for (std::size_t i = 0; i < released.size(); ++i) ASSERT_EQ(released[i].source_seq, i);
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
