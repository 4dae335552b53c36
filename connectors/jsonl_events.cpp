#include "connectors/jsonl_events.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/file_writer.h"

namespace tfe {

namespace {

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

constexpr std::string_view kLoneCrHint =
    "; the line holds a lone CR, which does not end a line (lines end with LF or CRLF)";

class JsonlSource final : public EventSource {
 public:
  JsonlSource(std::string path, int fd, const ModalitySchema& schema, PatientRegistry& registry,
              DecodeLimits limits)
      : path_(std::move(path)),
        fd_(fd),
        // Room for a whole record of the maximum size (plus "\r\n") next to the partial line
        // being completed, so that a refill always makes progress.
        capacity_(
            std::max<std::size_t>(kJsonlReadBytes, 2 * std::size_t{limits.max_record_bytes} + 16)),
        buffer_(new char[capacity_ + kDecodePadding]),
        max_record_bytes_(limits.max_record_bytes),
        decoder_(schema, registry, limits) {
    std::memset(buffer_.get() + capacity_, ' ', kDecodePadding);
  }
  ~JsonlSource() override { ::close(fd_); }

  Result<SourceItem> next(Event& event, DeadLetter& dead) override;
  const std::string& name() const override { return path_; }
  uint64_t unknown_channels() const override { return decoder_.unknown_channels(); }

 private:
  // Reads more bytes after end_ (compacting first). Sets eof_ at end of file.
  Result<void> refill();
  SourceItem dead_letter(DeadLetter& dead, DecodeReason reason, std::string message,
                         std::string_view raw, uint64_t raw_bytes);

  std::string path_;
  int fd_;
  std::size_t capacity_;
  std::unique_ptr<char[]> buffer_;  // [capacity_ + kDecodePadding]: the padding is never data
  std::size_t begin_ = 0;           // unconsumed data is [begin_, end_)
  std::size_t end_ = 0;
  std::size_t scanned_ = 0;   // [begin_, scanned_) holds no newline
  int64_t begin_offset_ = 0;  // file offset of begin_
  bool eof_ = false;
  bool done_ = false;
  uint64_t line_ = 0;            // lines consumed
  uint64_t skipping_bytes_ = 0;  // > 0: inside an oversized line, this many bytes dropped
  int64_t skipping_offset_ = 0;
  bool skipping_blank_ = true;     // the dropped bytes were all blank
  bool skipping_lone_cr_ = false;  // the dropped bytes hold a lone CR
  bool skipping_end_cr_ = false;   // their last byte is a CR, lone unless an LF comes next
  uint32_t max_record_bytes_;
  EventDecoder decoder_;
};

Result<void> JsonlSource::refill() {
  if (begin_ > 0) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    scanned_ -= begin_;
    begin_ = 0;
  }
  while (end_ < capacity_) {
    const ssize_t n = ::read(fd_, buffer_.get() + end_, capacity_ - end_);
    if (n < 0) {
      if (errno == EINTR) continue;
      done_ = true;
      return make_error(Errc::io, "cannot read " + path_ + ": " + std::strerror(errno));
    }
    if (n == 0) {
      eof_ = true;
      break;
    }
    end_ += static_cast<std::size_t>(n);
    break;
  }
  return ok();
}

SourceItem JsonlSource::dead_letter(DeadLetter& dead, DecodeReason reason, std::string message,
                                    std::string_view raw, uint64_t raw_bytes) {
  dead.source = path_;
  dead.partition = -1;
  dead.line = line_;
  dead.reason = reason;
  dead.message = std::move(message);
  dead.raw_bytes = raw_bytes;
  dead.raw.assign(raw);
  return SourceItem::dead_letter;
}

Result<SourceItem> JsonlSource::next(Event& event, DeadLetter& dead) {
  while (!done_) {
    char* base = buffer_.get();
    char* nl = static_cast<char*>(std::memchr(base + scanned_, '\n', end_ - scanned_));
    std::size_t line_end;    // one past the record's last byte
    std::size_t next_begin;  // where the following line starts
    if (nl != nullptr) {
      line_end = static_cast<std::size_t>(nl - base);
      next_begin = line_end + 1;
    } else if (end_ - begin_ > std::size_t{max_record_bytes_} + 1) {
      // Oversized line: drop what we hold (keeping no payload) and go on until its newline.
      if (skipping_bytes_ == 0) {
        skipping_offset_ = begin_offset_;
        skipping_blank_ = true;
        skipping_lone_cr_ = false;
        skipping_end_cr_ = false;
      }
      const std::string_view dropped(base + begin_, end_ - begin_);
      skipping_bytes_ += dropped.size();
      skipping_blank_ = skipping_blank_ && is_blank(dropped);
      // A CR that ended the previous chunk is lone when this one goes on without an LF
      // (has_lone_cr cannot see past a chunk's last byte).
      skipping_lone_cr_ = skipping_lone_cr_ || has_lone_cr(dropped) ||
                          (skipping_end_cr_ && !dropped.empty() && dropped.front() != '\n');
      skipping_end_cr_ = !dropped.empty() && dropped.back() == '\r';
      begin_offset_ += static_cast<int64_t>(end_ - begin_);
      begin_ = scanned_ = end_;
      if (auto r = refill(); !r) return std::move(r).error();
      continue;
    } else if (!eof_) {
      scanned_ = end_;
      if (auto r = refill(); !r) return std::move(r).error();
      continue;
    } else if (end_ > begin_ || skipping_bytes_ > 0) {
      line_end = next_begin = end_;  // last line without a newline
    } else {
      done_ = true;
      break;
    }

    const std::size_t line_begin = begin_;
    const int64_t line_offset = begin_offset_;
    begin_offset_ += static_cast<int64_t>(next_begin - begin_);
    begin_ = scanned_ = next_begin;
    ++line_;
    std::string_view line(base + line_begin, line_end - line_begin);
    // The last chunk of an oversized line follows a CR that ended the one before: lone when
    // bytes other than the line's end follow it.
    const bool after_end_cr = skipping_bytes_ > 0 && skipping_end_cr_ && !line.empty();
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    if (skipping_bytes_ > 0) {
      const uint64_t total = skipping_bytes_ + line.size();
      skipping_bytes_ = 0;
      // A long blank line is still blank.
      if (skipping_blank_ && is_blank(line)) continue;
      dead.offset = skipping_offset_;
      const bool lone_cr = skipping_lone_cr_ || after_end_cr || has_lone_cr(line);
      return dead_letter(dead, DecodeReason::record_too_large,
                         "record exceeds max_record_bytes" +
                             std::string(lone_cr ? kLoneCrHint : std::string_view()),
                         {}, total);
    }
    if (is_blank(line)) continue;
    if (line.size() > max_record_bytes_) {
      dead.offset = line_offset;
      return dead_letter(dead, DecodeReason::record_too_large,
                         "record exceeds max_record_bytes" +
                             std::string(has_lone_cr(line) ? kLoneCrHint : std::string_view()),
                         {}, line.size());
    }
    // The buffer always has kDecodePadding readable bytes past any line.
    auto r = decoder_.decode(line, event, std::nullopt, /*padded=*/true);
    if (!r) {
      dead.offset = line_offset;
      DecodeError& err = r.error();
      if (err.reason == DecodeReason::malformed_json && has_lone_cr(line)) {
        err.message += kLoneCrHint;
      }
      return dead_letter(dead, err.reason, std::move(err.message), line, line.size());
    }
    event.source_seq = line_;
    return SourceItem::event;
  }
  return SourceItem::end;
}

class JsonlWriter final : public EventWriter {
 public:
  JsonlWriter(std::unique_ptr<FileWriter> file, const ModalitySchema& schema,
              const PatientRegistry& registry)
      : file_(std::move(file)), schema_(schema), registry_(registry) {}

  void write(const Event& event) override {
    std::string& out = file_->buffer();
    append_event_json(out, event, schema_, registry_);
    out.push_back('\n');
    file_->maybe_flush();
    ++count_;
  }
  Result<void> close() override { return file_->close(); }
  uint64_t events_written() const override { return count_; }

 private:
  std::unique_ptr<FileWriter> file_;
  const ModalitySchema& schema_;
  const PatientRegistry& registry_;
  uint64_t count_ = 0;
};

}  // namespace

Result<std::unique_ptr<EventSource>> open_jsonl_source(const std::string& path,
                                                       const ModalitySchema& schema,
                                                       PatientRegistry& registry,
                                                       DecodeLimits limits) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::io, "cannot open " + path + ": " + std::strerror(errno));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<EventSource>(
      std::make_unique<JsonlSource>(path, fd, schema, registry, limits));
}

Result<std::unique_ptr<EventWriter>> open_jsonl_writer(const std::string& path,
                                                       const ModalitySchema& schema,
                                                       const PatientRegistry& registry) {
  auto file = FileWriter::create(path);
  if (!file) return std::move(file).error();
  return std::unique_ptr<EventWriter>(
      std::make_unique<JsonlWriter>(std::move(file).value(), schema, registry));
}

}  // namespace tfe
