#include "connectors/dead_letter.h"

#include <spdlog/spdlog.h>

#include "connectors/json_write.h"
#include "engine/file_writer.h"

namespace tfe {

namespace {
// Log lines per reason before logging turns sparse (one in kLogEvery).
constexpr uint64_t kLogFirst = 10;
constexpr uint64_t kLogEvery = 1000;
}  // namespace

void append_dead_letter_json(std::string& out, const DeadLetter& dead, bool include_raw) {
  out.append("{\"source\":");
  json::append_string(out, dead.source);
  if (dead.partition >= 0) {
    out.append(",\"partition\":");
    json::append_int(out, dead.partition);
  }
  if (dead.line > 0) {
    out.append(",\"line\":");
    json::append_uint(out, dead.line);
  }
  if (dead.offset >= 0) {
    out.append(",\"offset\":");
    json::append_int(out, dead.offset);
  }
  out.append(",\"reason\":");
  json::append_string(out, to_string(dead.reason));
  out.append(",\"message\":");
  json::append_string(out, dead.message);
  out.append(",\"raw_bytes\":");
  json::append_uint(out, dead.raw_bytes);
  if (include_raw && !dead.raw.empty()) {
    out.append(",\"raw_b64\":\"");
    json::append_base64(out, dead.raw);
    out.push_back('"');
  }
  out.push_back('}');
}

struct DeadLetterSink::Impl {
  std::unique_ptr<FileWriter> file;  // null: count and log only
  bool include_raw = true;
};

DeadLetterSink::DeadLetterSink() : impl_(std::make_unique<Impl>()) {}

DeadLetterSink::~DeadLetterSink() = default;

Result<std::unique_ptr<DeadLetterSink>> DeadLetterSink::open(const std::string& path,
                                                             bool include_raw) {
  auto file = FileWriter::create(path);
  if (!file) return std::move(file).error();
  auto sink = std::make_unique<DeadLetterSink>();
  sink->impl_->file = std::move(file).value();
  sink->impl_->include_raw = include_raw;
  return sink;
}

void DeadLetterSink::write(const DeadLetter& dead) {
  const uint64_t n = ++counts_[static_cast<std::size_t>(dead.reason)];
  if (n <= kLogFirst || n % kLogEvery == 0) {
    // Position and reason only: never the record.
    std::string where = dead.source;
    if (dead.partition >= 0) where += "[" + std::to_string(dead.partition) + "]";
    if (dead.line > 0) where += ":" + std::to_string(dead.line);
    if (dead.offset >= 0) where += "@" + std::to_string(dead.offset);
    spdlog::warn("dead letter {} ({}): {}{}", where, to_string(dead.reason), dead.message,
                 n == kLogFirst ? " (further ones of this reason are logged sparsely)" : "");
  }
  if (impl_->file) {
    append_dead_letter_json(impl_->file->buffer(), dead, impl_->include_raw);
    impl_->file->buffer().push_back('\n');
    impl_->file->maybe_flush();
  }
}

Result<void> DeadLetterSink::close() {
  if (!impl_->file) return ok();
  return impl_->file->close();
}

uint64_t DeadLetterSink::total() const {
  uint64_t t = 0;
  for (uint64_t c : counts_) t += c;
  return t;
}

}  // namespace tfe
