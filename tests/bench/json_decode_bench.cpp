// Event decoding throughput: one JSON line of each kind (vitals, note, 512-float imaging), and
// whole-file reads of a ward-like history from JSONL and from the binary log (decode only; the
// replay adds state and scoring). Targets for the whole replay on one core: JSONL >= 1 million
// events/s, binary log >= 5 million events/s, so the readers need well under 1 us and 200 ns.
//
//   tfe_json_decode_bench --benchmark_filter=. (see docs/performance.md)

#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "connectors/binlog.h"
#include "connectors/event_codec.h"
#include "connectors/event_files.h"
#include "connectors/jsonl_events.h"
#include "connectors/merge.h"
#include "engine/modality.h"
#include "engine/patient_registry.h"

namespace {

using namespace tfe;

constexpr int64_t kT = 1'700'000'000'000;

ModalitySchema bench_schema() {
  ModalitySpec wearables;
  wearables.name = "wearables";
  wearables.kind = ModalityKind::vitals;
  wearables.channels = {"hr", "spo2", "rr", "temp", "sbp", "activity"};
  ModalitySpec notes;
  notes.name = "notes";
  notes.kind = ModalityKind::text;
  ModalitySpec imaging;
  imaging.name = "imaging";
  imaging.kind = ModalityKind::embedding;
  imaging.dim = 512;
  return ModalitySchema({wearables, notes, imaging});
}

float round2(float v) { return std::round(v * 100.0f) / 100.0f; }

// A ward-like history in arrival order: per patient a reading a minute (all six channels in most,
// a subset in some), a note every few hours, rarely an image.
std::vector<Event> ward_events(const ModalitySchema& schema, PatientRegistry& registry,
                               std::size_t patients, std::size_t minutes) {
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0, 1);
  std::vector<PatientIndex> ids;
  for (std::size_t p = 0; p < patients; ++p) {
    ids.push_back(registry.intern("ward-" + std::to_string(100000 + p)));
  }
  std::vector<Event> events;
  events.reserve(patients * minutes * 101 / 100);
  for (std::size_t m = 0; m < minutes; ++m) {
    for (std::size_t p = 0; p < patients; ++p) {
      Event e{};
      e.patient = ids[p];
      e.arrival_time_ms = kT + static_cast<int64_t>(m * 60'000 + p * 5);
      e.event_time_ms = e.arrival_time_ms - 2'000;
      const uint32_t r = rng() % 1000;
      if (r < 4) {
        e.modality = 1;
        e.event_time_ms -= 3'600'000;
        e.text =
            "Patient reviewed on ward round. Resp rate slightly raised, on 2L O2 via nasal "
            "cannula, chest clear, plan to continue obs and repeat bloods in the morning.";
      } else if (r == 4 && m % 8 == 0) {
        e.modality = 2;
        e.embedding.resize(schema[2].dim);
        for (float& f : e.embedding) f = round2(noise(rng) * 0.1f);
      } else {
        e.modality = 0;
        e.vitals.values.fill(std::nanf(""));
        e.vitals.present_mask = r < 900 ? 0x3f : 0x07;
        const float base[6] = {78, 96, 17, 36.9f, 122, 0.2f};
        const float scale[6] = {6, 1.5f, 2, 0.3f, 9, 0.2f};
        for (int c = 0; c < 6; ++c) {
          if (e.vitals.present_mask >> c & 1)
            e.vitals.values[c] = round2(base[c] + scale[c] * noise(rng));
        }
      }
      events.push_back(std::move(e));
    }
  }
  return events;
}

std::string line_of(const std::vector<Event>& events, uint8_t modality,
                    const ModalitySchema& schema, const PatientRegistry& registry) {
  for (const Event& e : events) {
    if (e.modality == modality) {
      std::string line;
      append_event_json(line, e, schema, registry);
      return line;
    }
  }
  return {};
}

// One line decoded repeatedly from a padded buffer (as the JSONL reader does).
void decode_line(benchmark::State& state, uint8_t modality) {
  const ModalitySchema schema = bench_schema();
  PatientRegistry registry;
  const auto events = ward_events(schema, registry, 200, 60);
  std::string line = line_of(events, modality, schema, registry);
  if (line.empty()) {
    state.SkipWithError("no event of this modality in the sample");
    return;
  }
  const std::size_t size = line.size();
  line.append(kDecodePadding, ' ');
  PatientRegistry reg;
  EventDecoder decoder(schema, reg, DecodeLimits{});
  Event event{};
  for (auto _ : state) {
    auto r = decoder.decode(std::string_view(line.data(), size), event, std::nullopt, true);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(event);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
  state.counters["line_bytes"] = static_cast<double>(size);
}
void BM_DecodeVitalsLine(benchmark::State& state) { decode_line(state, 0); }
void BM_DecodeNoteLine(benchmark::State& state) { decode_line(state, 1); }
void BM_DecodeImagingLine(benchmark::State& state) { decode_line(state, 2); }
BENCHMARK(BM_DecodeVitalsLine);
BENCHMARK(BM_DecodeNoteLine);
BENCHMARK(BM_DecodeImagingLine);

void BM_EncodeVitalsLine(benchmark::State& state) {
  const ModalitySchema schema = bench_schema();
  PatientRegistry registry;
  const auto events = ward_events(schema, registry, 200, 1);
  std::string out;
  for (auto _ : state) {
    out.clear();
    append_event_json(out, events[0], schema, registry);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeVitalsLine);

// Files written once per process: 2,000 patients x 120 minutes (about 240,000 events).
struct History {
  ModalitySchema schema = bench_schema();
  std::string dir;
  std::string jsonl;
  std::string binlog;
  std::size_t events = 0;

  History() {
    dir = (std::filesystem::temp_directory_path() /
           ("tfe-json-decode-bench-" + std::to_string(::getpid())))
              .string();
    std::filesystem::create_directories(dir);
    jsonl = dir + "/ward.jsonl";
    binlog = dir + "/ward.tfelog";
    PatientRegistry registry;
    const auto all = ward_events(schema, registry, 2000, 120);
    events = all.size();
    for (const std::string& path : {jsonl, binlog}) {
      auto writer = open_event_writer(path, schema, registry);
      for (const Event& e : all) writer.value()->write(e);
      (void)writer.value()->close();
    }
  }
  ~History() { std::filesystem::remove_all(dir); }
};

const History& history() {
  static const History h;
  return h;
}

void read_whole(benchmark::State& state, const std::vector<std::string>& paths) {
  const History& h = history();
  uint64_t items = 0;
  uint64_t dead_letters = 0;
  for (auto _ : state) {
    PatientRegistry registry;
    auto source = open_event_sources(paths, h.schema, registry, DecodeLimits{});
    if (!source) {
      state.SkipWithError(source.error().message.c_str());
      return;
    }
    Event event{};
    DeadLetter dead;
    while (true) {
      auto item = source.value()->next(event, dead);
      if (!item || item.value() == SourceItem::end) break;
      ++items;
      if (item.value() == SourceItem::dead_letter) ++dead_letters;
      benchmark::DoNotOptimize(event);
    }
  }
  if (dead_letters > 0) {
    state.counters["dead_letters_per_read"] =
        static_cast<double>(dead_letters) / static_cast<double>(state.iterations());
  }
  state.SetItemsProcessed(static_cast<int64_t>(items));
  uint64_t bytes = 0;
  for (const auto& p : paths) bytes += std::filesystem::file_size(p);
  state.SetBytesProcessed(static_cast<int64_t>(bytes * state.iterations()));
  // Seconds per event (printed with an SI prefix: "95n" is 95 ns).
  state.counters["time_per_event"] = benchmark::Counter(
      static_cast<double>(items), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_JsonlReadWard(benchmark::State& state) { read_whole(state, {history().jsonl}); }
void BM_BinlogReadWard(benchmark::State& state) { read_whole(state, {history().binlog}); }
// Four copies of the binary log merged (one file named twice is refused): the heap's cost per
// event.
void BM_BinlogMerge4Ward(benchmark::State& state) {
  const std::string& b = history().binlog;
  std::vector<std::string> copies{b};
  for (int i = 1; i < 4; ++i) {
    copies.push_back(b.substr(0, b.size() - 7) + "-copy" + std::to_string(i) + ".tfelog");
    std::filesystem::copy_file(b, copies.back(), std::filesystem::copy_options::overwrite_existing);
  }
  read_whole(state, copies);
}
BENCHMARK(BM_JsonlReadWard)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BinlogReadWard)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BinlogMerge4Ward)->Unit(benchmark::kMillisecond);

void BM_BinlogWriteWard(benchmark::State& state) {
  const History& h = history();
  PatientRegistry registry;
  const auto all = ward_events(h.schema, registry, 2000, 120);
  const std::string path = h.dir + "/write.tfelog";
  for (auto _ : state) {
    auto writer = open_binlog_writer(path, h.schema, registry);
    for (const Event& e : all) writer.value()->write(e);
    (void)writer.value()->close();
  }
  state.SetItemsProcessed(static_cast<int64_t>(all.size() * state.iterations()));
}
BENCHMARK(BM_BinlogWriteWard)->Unit(benchmark::kMillisecond);

// The ward binary log with 4 MiB of random bytes over its middle: the reader resynchronises by
// trying each later offset as a record start. Time per damaged MiB is the figure to watch.
void BM_BinlogResyncThroughGarbage(benchmark::State& state) {
  const History& h = history();
  const std::string path = h.dir + "/garbage.tfelog";
  constexpr std::size_t kGarbage = std::size_t{4} << 20;
  {
    std::ifstream in(h.binlog, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() < kGarbage + (1u << 20)) {
      state.SkipWithError("history too small for the damage");
      return;
    }
    std::mt19937 rng(7);
    const std::size_t from = (bytes.size() - kGarbage) / 2;
    for (std::size_t i = 0; i < kGarbage; ++i) bytes[from + i] = static_cast<char>(rng());
    std::ofstream(path, std::ios::binary) << bytes;
  }
  read_whole(state, {path});
}
BENCHMARK(BM_BinlogResyncThroughGarbage)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
