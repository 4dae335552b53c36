// The packed history: every kind of event decodes to what was appended, the replay order is
// sort_for_replay's, a packed sequence replays (rearranged too) the events a plain one does, and
// their headers alone, and it takes well under the room of the events it holds.

#include "connectors/packed_events.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <vector>

#include "connectors/history_replay.h"
#include "tests/connectors/test_schema.h"

namespace tfe {
namespace {

// Events of every shape a decoder produces: vitals with any channels (none, some, all sixteen),
// notes with and without an upstream embedding, embeddings, outcomes, and an empty one.
std::vector<Event> mixed_events(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> kind(0, 5);
  std::uniform_real_distribution<float> value(-100.0f, 100.0f);
  std::vector<Event> out;
  for (std::size_t i = 0; i < n; ++i) {
    Event e;
    e.patient = static_cast<PatientIndex>(rng() % 50);
    e.event_time_ms = 1'700'000'000'000 + static_cast<int64_t>(rng() % 100'000);
    e.arrival_time_ms = e.event_time_ms + static_cast<int64_t>(rng() % 5'000);
    e.source_seq = rng();
    switch (kind(rng)) {
      case 0:
        e.modality = 0;
        e.vitals.present_mask = rng() & 0xffffu;
        for (float& v : e.vitals.values) v = value(rng);
        break;
      case 1:
        e.modality = 0;
        e.vitals.present_mask = 0xffffu;
        for (float& v : e.vitals.values) v = value(rng);
        e.vitals.values[3] = std::numeric_limits<float>::quiet_NaN();
        break;
      case 2:
        e.modality = 1;
        e.text = std::string(rng() % 300, 'a' + static_cast<char>(rng() % 26));
        if (rng() % 2) e.embedding.assign(rng() % 8 + 1, value(rng));
        break;
      case 3:
        e.modality = 2;
        for (int d = 0; d < 512; ++d) e.embedding.push_back(value(rng));
        break;
      case 4:
        e.modality = kOutcomeModality;
        e.label = "deterioration";
        break;
      default:
        e.modality = 1;  // a note with nothing in it
        break;
    }
    out.push_back(std::move(e));
  }
  return out;
}

::testing::AssertionResult same(const Event& a, const Event& b, const PatientRegistry& registry) {
  if (a.source_seq != b.source_seq) return ::testing::AssertionFailure() << "source_seq";
  return test::same_event(a, registry, b, registry);
}

// The 50 patients mixed_events draws from.
const PatientRegistry& patients() {
  static PatientRegistry registry;
  static const bool filled = [] {
    for (int p = 0; p < 50; ++p) registry.intern("P" + std::to_string(p));
    return true;
  }();
  (void)filled;
  return registry;
}

TEST(PackedEvents, EveryKindOfEventDecodesToWhatWasAppended) {
  const std::vector<Event> events = mixed_events(2000, 1);
  const PatientRegistry& registry = patients();
  const PackedEvents packed(events);
  ASSERT_EQ(packed.size(), events.size());
  // Random access, in an order that makes each decode follow an event of another shape.
  for (std::size_t k = 0; k < events.size(); ++k) {
    const std::size_t i = (k * 7919) % events.size();
    Event out = events[(i + 1) % events.size()];
    packed.decode(i, out);
    ASSERT_TRUE(same(out, events[i], registry)) << "event " << i;
    EXPECT_EQ(packed.patient(i), events[i].patient);
    EXPECT_EQ(packed.modality(i), events[i].modality);
    EXPECT_EQ(packed.event_time_ms(i), events[i].event_time_ms);
    EXPECT_EQ(packed.arrival_time_ms(i), events[i].arrival_time_ms);
    EXPECT_EQ(packed.source_seq(i), events[i].source_seq);
  }
  std::size_t visited = 0;
  packed.for_each([&](const Event& e) {
    EXPECT_TRUE(same(e, events[visited], registry)) << "event " << visited;
    return ++visited < 100;
  });
  EXPECT_EQ(visited, 100u) << "for_each stops when fn returns false";
}

TEST(PackedEvents, SortsIntoTheOrderOfSortForReplay) {
  std::vector<Event> events = mixed_events(3000, 2);
  // Ties: arrival times on a coarse grid, and pairs with the same arrival and source_seq, which
  // must keep the order they were appended in.
  for (std::size_t i = 0; i < events.size(); ++i) {
    events[i].arrival_time_ms -= events[i].arrival_time_ms % 10'000;
    events[i].source_seq %= 40;
    events[i].event_time_ms = static_cast<int64_t>(i);  // identifies the event
  }
  const PatientRegistry& registry = patients();
  PackedEvents packed(events);
  packed.sort_for_replay();
  std::vector<Event> expected = events;
  sort_for_replay(expected);
  ASSERT_FALSE(
      std::equal(expected.begin(), expected.end(), events.begin(),
                 [](const Event& a, const Event& b) { return a.event_time_ms == b.event_time_ms; }))
      << "the events must start out of order for this test to mean anything";
  ASSERT_EQ(packed.size(), expected.size());
  Event out;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    packed.decode(i, out);
    ASSERT_TRUE(same(out, expected[i], registry)) << "position " << i;
  }
}

TEST(PackedEvents, ReplaysTheSameSequenceAsThePlainEventsRearrangedToo) {
  std::vector<Event> events = mixed_events(1500, 3);
  sort_for_replay(events);
  const PatientRegistry& registry = patients();
  const PackedEvents packed(events);
  std::vector<Rearrival> order;
  for (std::size_t i = 0; i < events.size(); i += 3) {
    order.push_back({events.size() - 1 - i, static_cast<int64_t>(i)});
  }
  const ReplaySequence plain(events);
  const ReplaySequence compact(packed);
  for (const auto& [a, b] :
       {std::pair{plain, compact}, std::pair{plain.rearranged(order), compact.rearranged(order)}}) {
    ASSERT_EQ(a.size(), b.size());
    std::vector<Event> seen_a;
    std::vector<int64_t> arrivals_a;
    a.for_each([&](const Event& e, int64_t arrival_ms) {
      seen_a.push_back(e);
      arrivals_a.push_back(arrival_ms);
      return true;
    });
    std::size_t k = 0;
    b.for_each([&](const Event& e, int64_t arrival_ms) {
      EXPECT_TRUE(same(e, seen_a[k], registry)) << "position " << k;
      EXPECT_EQ(arrival_ms, arrivals_a[k]) << "position " << k;
      ++k;
      return true;
    });
    EXPECT_EQ(k, a.size());
    // The headers alone, from either, are those of the same events in the same order.
    for (const ReplaySequence* sequence : {&a, &b}) {
      std::size_t h = 0;
      sequence->for_each_header([&](const EventHeader& e, int64_t arrival_ms) {
        const Event& want = seen_a[h];
        EXPECT_EQ(e.patient, want.patient) << "position " << h;
        EXPECT_EQ(e.modality, want.modality) << "position " << h;
        EXPECT_EQ(e.event_time_ms, want.event_time_ms) << "position " << h;
        EXPECT_EQ(e.arrival_time_ms, want.arrival_time_ms) << "position " << h;
        EXPECT_EQ(e.source_seq, want.source_seq) << "position " << h;
        EXPECT_EQ(arrival_ms, arrivals_a[h]) << "position " << h;
        return ++h < 700;  // stops when fn returns false
      });
      EXPECT_EQ(h, std::min<std::size_t>(700, a.size()));
    }
  }
}

TEST(PackedEvents, AVitalsReadingTakesAThirdOfAnEventsRoom) {
  // The ward's shape: six channels a reading.
  std::vector<Event> events(10'000);
  for (std::size_t i = 0; i < events.size(); ++i) {
    events[i].patient = static_cast<PatientIndex>(i % 100);
    events[i].arrival_time_ms = static_cast<int64_t>(i);
    events[i].vitals.present_mask = 0x3f;
    for (float& v : events[i].vitals.values) v = 1.0f;
  }
  const PackedEvents packed(events);
  const std::size_t plain = events.size() * sizeof(Event);
  // 37 bytes of fixed fields and 29 of payload, in vectors grown by doubling (at most twice that).
  EXPECT_LT(packed.bytes(), plain * 2 / 3) << packed.bytes() << " bytes against " << plain;
  EXPECT_GE(packed.bytes(), events.size() * 66);
}

}  // namespace
}  // namespace tfe
