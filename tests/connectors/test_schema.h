#pragma once
// Test helpers for connectors/: the default modality schema built in code (three modalities:
// wearables vitals, notes text, imaging embedding 512), temporary files, event comparison.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "connectors/event_source.h"
#include "engine/event.h"
#include "engine/modality.h"
#include "engine/patient_registry.h"

namespace tfe::test {

// notes_dim / imaging_dim differ from the defaults (0 / 512) only where a test needs it.
inline ModalitySchema default_test_schema(uint32_t notes_dim = 0, uint32_t imaging_dim = 512) {
  ModalitySpec wearables;
  wearables.name = "wearables";
  wearables.kind = ModalityKind::vitals;
  wearables.topic = "tfe.wearables";
  wearables.channels = {"hr", "spo2", "rr", "temp", "sbp", "activity"};
  wearables.horizon_ms = 15 * 60'000;
  wearables.cadence_ms = 60'000;
  ModalitySpec notes;
  notes.name = "notes";
  notes.kind = ModalityKind::text;
  notes.topic = "tfe.notes";
  notes.dim = notes_dim;
  notes.horizon_ms = 48 * 3'600'000LL;
  notes.cadence_ms = 4 * 3'600'000LL;
  ModalitySpec imaging;
  imaging.name = "imaging";
  imaging.kind = ModalityKind::embedding;
  imaging.topic = "tfe.imaging";
  imaging.dim = imaging_dim;
  imaging.horizon_ms = 30 * 86'400'000LL;
  imaging.cadence_ms = 86'400'000LL;
  return ModalitySchema({wearables, notes, imaging});
}

inline std::string source_dir() { return TFE_SOURCE_DIR; }
inline std::string data_path(const std::string& name) {
  return source_dir() + "/tests/data/" + name;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// A fresh directory under the build tree, removed at destruction.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "." + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    path_ = std::filesystem::path(TFE_BINARY_DIR) / "test-tmp" / "connectors" / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Events equal in every field the wire format carries (floats bit for bit; vitals values only
// where measured). source_seq is not compared. Patient ids compared as strings.
inline ::testing::AssertionResult same_event(const Event& a, const PatientRegistry& ra,
                                             const Event& b, const PatientRegistry& rb) {
  auto bits = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  };
  if (ra.id(a.patient) != rb.id(b.patient)) return ::testing::AssertionFailure() << "patient";
  if (a.modality != b.modality) return ::testing::AssertionFailure() << "modality";
  if (a.event_time_ms != b.event_time_ms) return ::testing::AssertionFailure() << "event_time";
  if (a.arrival_time_ms != b.arrival_time_ms) return ::testing::AssertionFailure() << "arrival";
  if (a.vitals.present_mask != b.vitals.present_mask)
    return ::testing::AssertionFailure() << "mask";
  for (std::size_t c = 0; c < kMaxChannels; ++c) {
    if ((a.vitals.present_mask >> c & 1) && bits(a.vitals.values[c]) != bits(b.vitals.values[c])) {
      return ::testing::AssertionFailure() << "vitals channel " << c;
    }
  }
  if (a.text != b.text) return ::testing::AssertionFailure() << "text";
  if (a.label != b.label) return ::testing::AssertionFailure() << "label";
  if (a.embedding.size() != b.embedding.size()) return ::testing::AssertionFailure() << "dim";
  for (std::size_t i = 0; i < a.embedding.size(); ++i) {
    if (bits(a.embedding[i]) != bits(b.embedding[i])) {
      return ::testing::AssertionFailure() << "embedding[" << i << "]";
    }
  }
  return ::testing::AssertionSuccess();
}

struct Drained {
  std::vector<Event> events;
  std::vector<DeadLetter> dead;
  std::string error;  // non-empty if the source failed
};

// Reads a source to its end (or error), with a bound on items as a guard against endless loops.
inline Drained drain(EventSource& source, std::size_t max_items = 10'000'000) {
  Drained out;
  Event event{};
  DeadLetter dead;
  for (std::size_t i = 0; i < max_items; ++i) {
    auto item = source.next(event, dead);
    if (!item) {
      out.error = item.error().message;
      return out;
    }
    switch (item.value()) {
      case SourceItem::event:
        out.events.push_back(event);
        break;
      case SourceItem::dead_letter:
        out.dead.push_back(dead);
        break;
      case SourceItem::end:
        return out;
    }
  }
  ADD_FAILURE() << "source did not end within " << max_items << " items";
  return out;
}

}  // namespace tfe::test
