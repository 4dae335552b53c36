#pragma once
// A buffered output file shared by every file writer (event logs, scores, dead letters, model
// files, reports): the caller appends into buffer(), the writer hands full buffers to the OS in
// large writes. The first I/O error is kept and returned by flush()/close(), so hot paths need no
// checks. A regular file is written beside its path and renamed onto it by a successful close(): a
// reader never sees half a file, and a failed or abandoned write leaves the path as it was.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/result.h"

namespace tfe {

class FileWriter {
 public:
  // Writes `path` (through a temporary file beside it, unless the path is a device or a pipe
  // such as /dev/stdout; through a symbolic link, the file it names). A file rewritten keeps its
  // permissions; a new one is 0644. Fails with Errc::io naming the path and the OS error.
  static Result<std::unique_ptr<FileWriter>> create(const std::string& path);
  ~FileWriter();  // without a successful close(), removes what it wrote: the path stays as it was
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
  FileWriter(std::string path, std::string target, std::string temp, int fd);
  void write_buffer();

  static constexpr std::size_t kFlushBytes = 1 << 20;
  std::string path_;    // as given: named in errors
  std::string target_;  // the file replaced: path_, or the file a symbolic link at path_ names
  std::string temp_;    // written here, renamed onto path_ by close(); empty: path_ directly
  int fd_ = -1;
  std::string buffer_;
  uint64_t written_ = 0;
  std::string error_;  // first I/O error, empty if none
};

// A directory of output files (a backtest report, a deployment profile).
struct OutputFile {
  std::string name;  // within the directory
  std::string text;
};

// Makes `dir` if missing and opens each named file in it for writing, then abandons them (the
// paths stay as they were): run before the work that fills them, so that an unwritable directory
// is found at once, not after a long run.
Result<void> check_output_files(const std::string& dir, const std::vector<std::string>& names);

// Makes `dir` if missing and writes each file whole (a reader never sees half a file).
Result<void> write_output_files(const std::string& dir, const std::vector<OutputFile>& files);

}  // namespace tfe
