#include "connectors/score_jsonl.h"

#include "engine/file_writer.h"

namespace tfe {

Result<std::unique_ptr<JsonlScoreSink>> JsonlScoreSink::open(const std::string& path,
                                                             const ModalitySchema& schema,
                                                             const ScorerSpec& spec,
                                                             const PatientRegistry& registry) {
  auto file = FileWriter::create(path);
  if (!file) return std::move(file).error();
  return std::unique_ptr<JsonlScoreSink>(
      new JsonlScoreSink(std::move(file).value(), ScoreJsonFormat(schema, spec), registry));
}

JsonlScoreSink::JsonlScoreSink(std::unique_ptr<FileWriter> file, ScoreJsonFormat format,
                               const PatientRegistry& registry)
    : file_(std::move(file)), format_(std::move(format)), registry_(registry) {}

JsonlScoreSink::~JsonlScoreSink() = default;

void JsonlScoreSink::emit(std::span<const ScoreRecord> scores) {
  std::string& out = file_->buffer();
  for (const ScoreRecord& score : scores) {
    format_.append(out, score, registry_);
    out += '\n';
    file_->maybe_flush();
  }
  count_ += scores.size();
}

void JsonlScoreSink::flush() { (void)file_->flush(); }

Result<void> JsonlScoreSink::close() { return file_->close(); }

}  // namespace tfe
