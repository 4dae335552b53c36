#pragma once
// A buffered output file shared by every file writer in connectors/ (event logs, scores, dead
// letters): the caller appends into buffer(), the writer hands full buffers to the OS in large
// writes. The first I/O error is kept and returned by flush()/close(), so hot paths need no checks.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/result.h"

namespace tfe {

class FileWriter {
 public:
  // Creates or truncates `path`. Fails with Errc::io naming the path and the OS error.
  static Result<std::unique_ptr<FileWriter>> create(const std::string& path);
  ~FileWriter();  // closes without reporting errors; call close() to see them
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  // Append here, then call maybe_flush(). Blocks on a write(2) once the buffer passes 1 MiB.
  std::string& buffer() { return buffer_; }
  void maybe_flush() {
    if (buffer_.size() >= kFlushBytes) write_buffer();
  }
  void append(std::string_view bytes) {
    buffer_.append(bytes);
    maybe_flush();
  }
  // Bytes handed to the OS plus bytes buffered.
  uint64_t bytes_written() const { return written_ + buffer_.size(); }

  Result<void> flush();
  Result<void> close();
  const std::string& path() const { return path_; }

 private:
  FileWriter(std::string path, int fd);
  void write_buffer();

  static constexpr std::size_t kFlushBytes = 1 << 20;
  std::string path_;
  int fd_ = -1;
  std::string buffer_;
  uint64_t written_ = 0;
  std::string error_;  // first I/O error, empty if none
};

}  // namespace tfe
