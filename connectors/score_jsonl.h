#pragma once
// Scores to a JSONL file, one ScoreJsonFormat object per line, in the order the engine emits them
// (canonical: score_time, then patient). Byte-identical for identical inputs.

#include <memory>
#include <string>

#include "connectors/score_json.h"
#include "engine/result.h"
#include "engine/score.h"

namespace tfe {

class FileWriter;

class JsonlScoreSink final : public ScoreSink {
 public:
  // Creates (truncates) `path`. schema and spec are copied into the format; registry must outlive
  // the sink.
  static Result<std::unique_ptr<JsonlScoreSink>> open(const std::string& path,
                                                      const ModalitySchema& schema,
                                                      const ScorerSpec& spec,
                                                      const PatientRegistry& registry);
  ~JsonlScoreSink() override;

  // Buffered; blocks on a write(2) when 1 MiB has accumulated. I/O errors are reported by close().
  void emit(std::span<const ScoreRecord> scores) override;
  void flush() override;
  // Writes everything and closes; the first I/O error, if any.
  Result<void> close();
  uint64_t scores_written() const { return count_; }

 private:
  JsonlScoreSink(std::unique_ptr<FileWriter> file, ScoreJsonFormat format,
                 const PatientRegistry& registry);

  std::unique_ptr<FileWriter> file_;
  ScoreJsonFormat format_;
  const PatientRegistry& registry_;
  uint64_t count_ = 0;
};

}  // namespace tfe
