#include "connectors/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tfe {

Result<std::unique_ptr<FileWriter>> FileWriter::create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return make_error(Errc::io, "cannot create " + path + ": " + std::strerror(errno));
  }
  return std::unique_ptr<FileWriter>(new FileWriter(path, fd));
}

FileWriter::FileWriter(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
  buffer_.reserve(kFlushBytes + (kFlushBytes >> 2));
}

FileWriter::~FileWriter() {
  if (fd_ >= 0) {
    write_buffer();
    ::close(fd_);
  }
}

void FileWriter::write_buffer() {
  std::size_t done = 0;
  while (done < buffer_.size() && error_.empty()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = "cannot write " + path_ + ": " + std::strerror(errno);
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  written_ += done;
  buffer_.clear();
}

Result<void> FileWriter::flush() {
  if (fd_ >= 0) write_buffer();
  if (!error_.empty()) return make_error(Errc::io, error_);
  return ok();
}

Result<void> FileWriter::close() {
  if (fd_ >= 0) {
    write_buffer();
    if (::close(fd_) != 0 && error_.empty()) {
      error_ = "cannot close " + path_ + ": " + std::strerror(errno);
    }
    fd_ = -1;
  }
  if (!error_.empty()) return make_error(Errc::io, error_);
  return ok();
}

}  // namespace tfe
