#include "connectors/event_files.h"

#include <filesystem>
#include <system_error>

#include "connectors/binlog.h"
#include "connectors/jsonl_events.h"
#include "connectors/merge.h"

namespace tfe {

Result<EventFileFormat> event_file_format(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".jsonl") return EventFileFormat::jsonl;
  if (ext == ".tfelog") return EventFileFormat::binlog;
  return make_error(Errc::invalid_argument,
                    path + ": unknown event file extension (expected .jsonl or .tfelog)");
}

Result<std::unique_ptr<EventSource>> open_event_source(const std::string& path,
                                                       const ModalitySchema& schema,
                                                       PatientRegistry& registry,
                                                       DecodeLimits limits) {
  auto format = event_file_format(path);
  if (!format) return std::move(format).error();
  switch (format.value()) {
    case EventFileFormat::jsonl:
      return open_jsonl_source(path, schema, registry, limits);
    case EventFileFormat::binlog:
      return open_binlog_source(path, schema, registry, limits);
  }
  return make_error(Errc::invalid_argument, path + ": unknown event file format");
}

Result<std::unique_ptr<EventSource>> open_event_sources(const std::vector<std::string>& paths,
                                                        const ModalitySchema& schema,
                                                        PatientRegistry& registry,
                                                        DecodeLimits limits) {
  if (paths.empty()) return make_error(Errc::invalid_argument, "no event files given");
  if (paths.size() == 1) return open_event_source(paths[0], schema, registry, limits);
  // A file merged with itself would apply every event twice (window counts doubled, a different
  // model trained without a word): the same file twice, by name or through a link, is refused.
  for (std::size_t i = 1; i < paths.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      std::error_code ec;
      if (paths[i] == paths[j] || std::filesystem::equivalent(paths[i], paths[j], ec)) {
        return make_error(Errc::invalid_argument,
                          paths[i] == paths[j]
                              ? paths[i] + ": event file given twice"
                              : paths[i] + ": event file given twice (also as " + paths[j] + ")");
      }
    }
  }
  std::vector<std::unique_ptr<EventSource>> sources;
  for (const std::string& path : paths) {
    auto source = open_event_source(path, schema, registry, limits);
    if (!source) return std::move(source).error();
    sources.push_back(std::move(source).value());
  }
  return merge_sources(std::move(sources));
}

Result<std::unique_ptr<EventWriter>> open_event_writer(const std::string& path,
                                                       const ModalitySchema& schema,
                                                       const PatientRegistry& registry) {
  auto format = event_file_format(path);
  if (!format) return std::move(format).error();
  switch (format.value()) {
    case EventFileFormat::jsonl:
      return open_jsonl_writer(path, schema, registry);
    case EventFileFormat::binlog:
      return open_binlog_writer(path, schema, registry);
  }
  return make_error(Errc::invalid_argument, path + ": unknown event file format");
}

Result<ConvertStats> write_event_file(EventSource& source, const std::string& out,
                                      const ModalitySchema& schema, const PatientRegistry& registry,
                                      DecodeLimits limits, DeadLetterSink& dead_letters,
                                      const std::function<bool()>& stop_requested) {
  constexpr uint64_t kCheckEvery = 1 << 16;
  auto writer = open_event_writer(out, schema, registry);
  if (!writer) return std::move(writer).error();
  const auto stopped = [&] { return stop_requested && stop_requested(); };
  const auto in_format = event_file_format(source.name());
  const bool by_line = in_format && in_format.value() == EventFileFormat::jsonl;

  ConvertStats stats;
  const auto count_dead = [&](const DeadLetter& dead) {
    dead_letters.write(dead);
    ++stats.dead_letters;
    ++stats.dead_letter_counts[static_cast<std::size_t>(dead.reason)];
  };
  Event event{};
  DeadLetter dead;
  for (uint64_t items = 1;; ++items) {
    // An unclosed writer removes what it wrote: a stop leaves `out` as it was.
    if (items % kCheckEvery == 0 && stopped()) {
      stats.events = writer.value()->events_written();
      stats.interrupted = true;
      return stats;
    }
    auto item = source.next(event, dead);
    if (!item) return std::move(item).error();
    if (item.value() == SourceItem::end) break;
    if (item.value() == SourceItem::dead_letter) {
      count_dead(dead);
      continue;
    }
    // A record the service would refuse is refused here, so that the file publishes and replays
    // as the service would see it.
    if (auto err = check_record_size(event, schema, registry.id(event.patient), limits)) {
      dead.source = source.name();
      dead.partition = -1;
      dead.line = by_line ? event.source_seq : 0;
      dead.offset = -1;
      dead.reason = err->reason;
      dead.message = std::move(err->message);
      dead.raw_bytes = 0;
      dead.raw.clear();  // what is too large is not copied
      count_dead(dead);
      continue;
    }
    writer.value()->write(event);
  }
  stats.events = writer.value()->events_written();
  stats.unknown_channels = source.unknown_channels();
  if (stopped()) {
    stats.interrupted = true;
    return stats;
  }
  if (auto r = writer.value()->close(); !r) return std::move(r).error();
  return stats;
}

Result<ConvertStats> convert_events(const std::string& in, const std::string& out,
                                    const ModalitySchema& schema, DecodeLimits limits,
                                    DeadLetterSink& dead_letters,
                                    const std::function<bool()>& stop_requested) {
  std::error_code ec;
  if (std::filesystem::equivalent(in, out, ec)) {
    return make_error(Errc::invalid_argument, out + ": output is the input file");
  }
  if (auto f = event_file_format(out); !f) return std::move(f).error();
  PatientRegistry registry;
  auto source = open_event_source(in, schema, registry, limits);
  if (!source) return std::move(source).error();
  return write_event_file(*source.value(), out, schema, registry, limits, dead_letters,
                          stop_requested);
}

}  // namespace tfe
