#include "engine/file_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace tfe {

Result<std::unique_ptr<FileWriter>> FileWriter::create(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    // A device or a pipe (--out /dev/stdout): nothing to rename, written as it goes.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return make_error(Errc::io, "cannot open " + path + ": " + std::strerror(errno));
    return std::unique_ptr<FileWriter>(new FileWriter(path, path, "", fd));
  }
  // A symbolic link (out/scores.jsonl -> /data/run7/scores.jsonl) is written through: the file it
  // names is replaced, not the link. A dangling link is replaced by the file.
  std::string target = path;
  struct stat link {};
  if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
    if (char* resolved = ::realpath(path.c_str(), nullptr)) {
      target = resolved;
      std::free(resolved);
    }
  }
  const bool exists = ::stat(target.c_str(), &st) == 0;
  std::string temp = target + ".tmp-XXXXXX";
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) {
    return make_error(Errc::io, "cannot create " + path + ": " + std::strerror(errno));
  }
  // mkostemp's 0600 would make outputs private to their writer; a file rewritten keeps its mode.
  ::fchmod(fd, exists ? (st.st_mode & 07777) : 0644);
  return std::unique_ptr<FileWriter>(new FileWriter(path, std::move(target), std::move(temp), fd));
}

FileWriter::FileWriter(std::string path, std::string target, std::string temp, int fd)
    : path_(std::move(path)), target_(std::move(target)), temp_(std::move(temp)), fd_(fd) {
  buffer_.reserve(kFlushBytes + (kFlushBytes >> 2));
}

FileWriter::~FileWriter() {
  if (fd_ < 0) return;
  if (temp_.empty()) write_buffer();  // a stream keeps what it was given
  ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
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
    if (!temp_.empty()) {
      if (error_.empty() && ::rename(temp_.c_str(), target_.c_str()) != 0) {
        error_ = "cannot write " + path_ + ": " + std::strerror(errno);
      }
      if (!error_.empty()) ::unlink(temp_.c_str());
      temp_.clear();
    }
  }
  if (!error_.empty()) return make_error(Errc::io, error_);
  return ok();
}

namespace {

Result<void> make_directory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(Errc::io, "cannot create directory " + dir + ": " + ec.message());
  return ok();
}

}  // namespace

Result<void> check_output_files(const std::string& dir, const std::vector<std::string>& names) {
  if (auto made = make_directory(dir); !made) return made;
  for (const std::string& name : names) {
    auto file = FileWriter::create((std::filesystem::path(dir) / name).string());
    if (!file) return file.error();
  }
  return ok();
}

Result<void> write_output_files(const std::string& dir, const std::vector<OutputFile>& files) {
  if (auto made = make_directory(dir); !made) return made;
  for (const OutputFile& f : files) {
    auto file = FileWriter::create((std::filesystem::path(dir) / f.name).string());
    if (!file) return file.error();
    file.value()->append(f.text);
    if (auto closed = file.value()->close(); !closed) return closed;
  }
  return ok();
}

}  // namespace tfe
