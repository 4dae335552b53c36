#include "connectors/binlog.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <vector>

#include "connectors/crc32.h"
#include "engine/file_writer.h"

namespace tfe {

// Floats and fixed-width integers are copied as they lie in memory.
static_assert(std::endian::native == std::endian::little, "binary log code assumes little-endian");

namespace {

constexpr std::size_t kHeaderFixedBytes = 20;  // magic, version, fingerprint, text length
constexpr std::size_t kFrameBytes = 8;         // length before the body, checksum after it
constexpr std::size_t kReadAhead = 512;        // bytes prefetched ahead of the record being read
constexpr PatientIndex kNotInterned = std::numeric_limits<PatientIndex>::max();
// A file-local patient index beyond this cannot come from a real writer.
constexpr uint64_t kMaxLocalPatients = uint64_t{1} << 30;
// Length, a body of at least a patient reference, modality and times, checksum.
constexpr uint64_t kMinRecordBytes = 4 + 4 + 4;

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

uint32_t crc32_of(const uint8_t* p, std::size_t n) { return crc32_ieee(0, p, n); }

// std::popcount, inline: with GCC on the baseline x86-64 target (no POPCNT) it is a library call,
// once per vitals record.
int count_channels(uint32_t mask) {
  mask -= (mask >> 1) & 0x55555555u;
  mask = (mask & 0x33333333u) + ((mask >> 2) & 0x33333333u);
  mask = (mask + (mask >> 4)) & 0x0f0f0f0fu;
  return static_cast<int>((mask * 0x01010101u) >> 24);
}

void put_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

void put_varint(std::string& out, uint64_t v) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}

uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

void put_floats(std::string& out, const float* v, std::size_t n) {
  if (n == 0) return;  // v may be null
  out.append(reinterpret_cast<const char*>(v), n * sizeof(float));
}

// Bounds-checked reading of a record body.
struct Reader {
  const uint8_t* p;
  const uint8_t* end;

  bool varint(uint64_t& v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && p < end; shift += 7) {
      const uint8_t b = *p++;
      r |= uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) {
        v = r;
        return true;
      }
    }
    return false;
  }
  bool byte(uint8_t& v) {
    if (p == end) return false;
    v = *p++;
    return true;
  }
  bool bytes(std::string_view& v) {
    uint64_t n;
    if (!varint(n) || n > static_cast<uint64_t>(end - p)) return false;
    v = std::string_view(reinterpret_cast<const char*>(p), n);
    p += n;
    return true;
  }
  bool floats(float* out, std::size_t n) {
    if (n > static_cast<std::size_t>(end - p) / sizeof(float)) return false;
    if (n == 0) return true;  // out may be null
    std::memcpy(out, p, n * sizeof(float));
    p += n * sizeof(float);
    return true;
  }
};

bool valid_utf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

class BinlogSource final : public EventSource {
 public:
  BinlogSource(std::string path, const uint8_t* data, std::size_t size, std::size_t pos,
               const ModalitySchema& schema, PatientRegistry& registry, DecodeLimits limits)
      : path_(std::move(path)),
        data_(data),
        size_(size),
        pos_(pos),
        schema_(schema),
        registry_(registry),
        limits_(limits) {}
  ~BinlogSource() override {
    if (size_ > 0) ::munmap(const_cast<uint8_t*>(data_), size_);
  }

  Result<SourceItem> next(Event& event, DeadLetter& dead) override;
  const std::string& name() const override { return path_; }

 private:
  enum class BodyStatus { ok, malformed, lost_patient };

  // A whole record with a matching checksum starts at `at`.
  bool record_ok_at(std::size_t at) const {
    if (size_ - at < kFrameBytes) return false;
    const uint32_t len = load_u32(data_ + at);
    if (len == 0 || len > kBinlogMaxBodyBytes || len > size_ - at - kFrameBytes) return false;
    if (!plausible_body(data_ + at + 4, len)) return false;
    return crc32_of(data_ + at, 4 + std::size_t{len}) == load_u32(data_ + at + 4 + len);
  }
  // The body opens as a writer's does: a patient reference (with an id of 1..64 bytes when it
  // defines one) and a modality of the schema. A filter before the checksum in resync: in damaged
  // bytes about one offset in 256 claims a length that fits, and checksumming each claim (up to
  // 16 MiB) took about a second per damaged MiB; this leaves about one claim in a hundred.
  bool plausible_body(const uint8_t* p, uint32_t len) const {
    Reader r{p, p + len};
    uint64_t ref;
    if (!r.varint(ref) || (ref >> 1) >= kMaxLocalPatients) return false;
    std::string_view id;
    if ((ref & 1) && (!r.bytes(id) || id.empty() || id.size() > kMaxPatientIdBytes)) return false;
    uint8_t modality;
    return r.byte(modality) && (modality == kOutcomeModality || modality < schema_.size());
  }
  // Offset of the next record that checks out after damage at pos_, or size_ if none.
  std::size_t resync() const;
  BodyStatus parse_body(const uint8_t* p, const uint8_t* end, Event& event, uint32_t& local);
  SourceItem dead_letter(DeadLetter& dead, std::size_t offset, DecodeReason reason,
                         std::string message, uint64_t raw_bytes);

  std::string path_;
  const uint8_t* data_;
  std::size_t size_;
  std::size_t pos_;
  uint64_t record_ = 0;         // records consumed (good or bad)
  uint64_t damaged_bytes_ = 0;  // skipped as damaged so far
  const ModalitySchema& schema_;
  PatientRegistry& registry_;
  DecodeLimits limits_;
  // File-local patient table, by local index.
  std::vector<PatientIndex> interned_;  // kNotInterned until the patient's first valid event
  std::vector<std::string> ids_;
  std::vector<uint8_t> defined_;
};

std::size_t BinlogSource::resync() const {
  // The earliest later offset where a whole record checks out. Jumping by the damaged record's
  // own length would be quicker but wrong when the damage is in the length itself: records of
  // equal size are common, so a wrong length can land on a later boundary and skip good records.
  for (std::size_t at = pos_ + 1; at + kFrameBytes <= size_; ++at) {
    if (record_ok_at(at)) return at;
  }
  return size_;
}

SourceItem BinlogSource::dead_letter(DeadLetter& dead, std::size_t offset, DecodeReason reason,
                                     std::string message, uint64_t raw_bytes) {
  dead.source = path_;
  dead.partition = -1;
  dead.line = 0;
  dead.offset = static_cast<int64_t>(offset);
  dead.reason = reason;
  dead.message = std::move(message);
  dead.raw_bytes = raw_bytes;
  dead.raw.clear();
  if (raw_bytes <= limits_.max_record_bytes) {
    dead.raw.assign(reinterpret_cast<const char*>(data_ + offset), raw_bytes);
  }
  return SourceItem::dead_letter;
}

BinlogSource::BodyStatus BinlogSource::parse_body(const uint8_t* p, const uint8_t* end,
                                                  Event& event, uint32_t& local) {
  Reader r{p, end};
  uint64_t ref;
  if (!r.varint(ref) || (ref >> 1) >= kMaxLocalPatients) return BodyStatus::malformed;
  local = static_cast<uint32_t>(ref >> 1);
  // A writer numbers patients in the order it first writes them, so a new index is at most the
  // next one, plus one for each record lost to damage (a record takes at least kMinRecordBytes).
  // Beyond that the record is forged, and honouring it would size the tables by its claim.
  if ((ref & 1) && local > defined_.size() + damaged_bytes_ / kMinRecordBytes) {
    return BodyStatus::malformed;
  }
  if (ref & 1) {
    std::string_view id;
    // A writer writes only ids of 1..64 bytes of UTF-8; content rules (control characters) are
    // checked per record in next(), so that each record of such a patient says why.
    if (!r.bytes(id) || id.empty() || id.size() > kMaxPatientIdBytes || !valid_utf8(id)) {
      return BodyStatus::malformed;
    }
    if (local >= defined_.size()) {
      defined_.resize(local + 1, 0);
      ids_.resize(local + 1);
      interned_.resize(local + 1, kNotInterned);
    }
    if (defined_[local]) return BodyStatus::malformed;  // a writer defines each index once
    defined_[local] = 1;
    ids_[local].assign(id);
  } else if (local >= defined_.size() || !defined_[local]) {
    return BodyStatus::lost_patient;
  }

  uint64_t arrival, delta;
  if (!r.byte(event.modality) || !r.varint(arrival) || !r.varint(delta) ||
      arrival > static_cast<uint64_t>(kMaxTimeMs) ||
      delta > 4 * static_cast<uint64_t>(kMaxTimeMs)) {
    return BodyStatus::malformed;  // (bounds keep the sum below from overflowing)
  }
  event.arrival_time_ms = static_cast<int64_t>(arrival);
  event.event_time_ms = event.arrival_time_ms + unzigzag(delta);  // checked by check_event
  event.vitals.present_mask = 0;
  if (!event.text.empty()) event.text.clear();
  if (!event.embedding.empty()) event.embedding.clear();
  if (!event.label.empty()) event.label.clear();

  auto read_vector = [&]() {
    uint64_t n;
    if (!r.varint(n) || n > static_cast<uint64_t>(r.end - r.p) / sizeof(float)) return false;
    event.embedding.resize(n);
    return r.floats(event.embedding.data(), n);
  };
  if (event.modality == kOutcomeModality) {
    std::string_view label;
    if (!r.bytes(label) || !valid_utf8(label)) return BodyStatus::malformed;
    event.label.assign(label);
  } else {
    if (event.modality >= schema_.size()) return BodyStatus::malformed;
    switch (schema_[event.modality].kind) {
      case ModalityKind::vitals: {
        uint64_t mask;
        if (!r.varint(mask) || mask >> kMaxChannels) return BodyStatus::malformed;
        event.vitals.present_mask = static_cast<uint32_t>(mask);
        float packed[kMaxChannels];
        const int n = count_channels(event.vitals.present_mask);
        if (!r.floats(packed, n)) return BodyStatus::malformed;
        int k = 0;
        for (std::size_t c = 0; c < kMaxChannels; ++c) {
          event.vitals.values[c] =
              (mask >> c & 1) ? packed[k++] : std::numeric_limits<float>::quiet_NaN();
        }
        break;
      }
      case ModalityKind::text: {
        std::string_view text;
        if (!r.bytes(text) || !valid_utf8(text)) return BodyStatus::malformed;
        event.text.assign(text);
        if (!read_vector()) return BodyStatus::malformed;
        break;
      }
      case ModalityKind::embedding:
        if (!read_vector()) return BodyStatus::malformed;
        break;
    }
  }
  return r.p == r.end ? BodyStatus::ok : BodyStatus::malformed;
}

Result<SourceItem> BinlogSource::next(Event& event, DeadLetter& dead) {
  while (pos_ < size_) {
    const std::size_t at = pos_;
    const std::size_t left = size_ - at;
    // The hardware prefetcher stops at page boundaries of the mapping: ask for the bytes of the
    // records a few ahead (a vitals record is about 40 bytes), so that the checksum below does
    // not wait for memory.
    if (left > kReadAhead) __builtin_prefetch(data_ + at + kReadAhead);
    const uint32_t len = left >= 4 ? load_u32(data_ + at) : 0;
    const bool fits = left >= kFrameBytes && len <= left - kFrameBytes;
    if (!fits || len == 0 || len > kBinlogMaxBodyBytes ||
        crc32_of(data_ + at, 4 + std::size_t{len}) != load_u32(data_ + at + 4 + len)) {
      ++record_;
      const std::size_t next = left >= 4 ? resync() : size_;
      damaged_bytes_ += next - at;
      pos_ = next;
      if (next == size_ && (!fits || left < kFrameBytes)) {
        return dead_letter(dead, at, DecodeReason::truncated_record, "file ends inside a record",
                           left);
      }
      return dead_letter(
          dead, at, DecodeReason::bad_checksum,
          "record checksum mismatch; skipped " + std::to_string(next - at) +
              (next == size_ ? " bytes to the end of the file" : " bytes to the next valid record"),
          next - at);
    }
    ++record_;
    pos_ = at + kFrameBytes + len;
    const uint8_t* body = data_ + at + 4;
    uint32_t local = 0;
    switch (parse_body(body, body + len, event, local)) {
      case BodyStatus::ok:
        break;
      case BodyStatus::malformed:
        return dead_letter(dead, at, DecodeReason::malformed_record,
                           "record checks out but its body does not parse", kFrameBytes + len);
      case BodyStatus::lost_patient:
        return dead_letter(dead, at, DecodeReason::bad_checksum,
                           "record refers to a patient defined in a damaged record",
                           kFrameBytes + len);
    }
    auto err = check_patient_id(ids_[local]);
    if (!err) err = check_event(event, schema_, limits_);
    // A log written under a larger max_record_bytes, or before the writers checked it, may hold
    // a record the service would refuse: refused here too, so a replay matches the service.
    if (!err) err = check_record_size(event, schema_, ids_[local], limits_);
    if (err) return dead_letter(dead, at, err->reason, std::move(err->message), kFrameBytes + len);
    PatientIndex& p = interned_[local];
    if (p == kNotInterned) p = registry_.intern(ids_[local]);
    event.patient = p;
    event.source_seq = record_;
    return SourceItem::event;
  }
  return SourceItem::end;
}

class BinlogWriter final : public EventWriter {
 public:
  BinlogWriter(std::unique_ptr<FileWriter> file, const ModalitySchema& schema,
               const PatientRegistry& registry)
      : file_(std::move(file)), schema_(schema), registry_(registry) {
    const std::string text = binlog_schema_text(schema);
    std::string& out = file_->buffer();
    out.append(kBinlogMagic);
    const uint16_t version = kBinlogVersion;
    out.append(reinterpret_cast<const char*>(&version), 2);
    const uint64_t fingerprint = binlog_schema_fingerprint(schema);
    out.append(reinterpret_cast<const char*>(&fingerprint), 8);
    put_u32(out, static_cast<uint32_t>(text.size()));
    out.append(text);
    put_u32(out, crc32_of(reinterpret_cast<const uint8_t*>(out.data()), out.size()));
  }

  void write(const Event& event) override;
  Result<void> close() override {
    // A log that lost an event is not renamed into place: unclosed, the writer removes it.
    if (!error_.empty()) return make_error(Errc::invalid_argument, error_);
    return file_->close();
  }
  uint64_t events_written() const override { return count_; }

 private:
  std::unique_ptr<FileWriter> file_;
  const ModalitySchema& schema_;
  const PatientRegistry& registry_;
  std::vector<uint32_t> local_;  // by PatientIndex: file-local index + 1, 0 = not yet written
  uint32_t next_local_ = 0;
  uint64_t count_ = 0;
  std::string error_;
};

void BinlogWriter::write(const Event& event) {
  std::string& out = file_->buffer();
  const std::size_t start = out.size();
  put_u32(out, 0);  // body length, patched below
  if (event.patient >= local_.size()) local_.resize(std::size_t{event.patient} + 1, 0);
  uint32_t& slot = local_[event.patient];
  const bool define = slot == 0;
  const uint32_t local = define ? next_local_ : slot - 1;
  put_varint(out, uint64_t{local} << 1 | (define ? 1 : 0));
  if (define) {
    const std::string_view id = registry_.id(event.patient);
    put_varint(out, id.size());
    out.append(id);
  }
  out.push_back(static_cast<char>(event.modality));
  put_varint(out, static_cast<uint64_t>(event.arrival_time_ms));
  put_varint(out, zigzag(event.event_time_ms - event.arrival_time_ms));
  if (event.modality == kOutcomeModality) {
    put_varint(out, event.label.size());
    out.append(event.label);
  } else {
    switch (schema_[event.modality].kind) {
      case ModalityKind::vitals: {
        const uint32_t mask = event.vitals.present_mask;
        put_varint(out, mask);
        for (std::size_t c = 0; c < kMaxChannels; ++c) {
          if (mask >> c & 1) put_floats(out, &event.vitals.values[c], 1);
        }
        break;
      }
      case ModalityKind::text:
        put_varint(out, event.text.size());
        out.append(event.text);
        put_varint(out, event.embedding.size());
        put_floats(out, event.embedding.data(), event.embedding.size());
        break;
      case ModalityKind::embedding:
        put_varint(out, event.embedding.size());
        put_floats(out, event.embedding.data(), event.embedding.size());
        break;
    }
  }
  const std::size_t body = out.size() - start - 4;
  if (body > kBinlogMaxBodyBytes) {
    out.resize(start);
    if (error_.empty()) {
      error_ = file_->path() + ": an event of " + std::to_string(body) +
               " bytes exceeds the binary log record limit; not written";
    }
    return;
  }
  const uint32_t len = static_cast<uint32_t>(body);
  std::memcpy(out.data() + start, &len, 4);
  put_u32(out, crc32_of(reinterpret_cast<const uint8_t*>(out.data() + start), 4 + body));
  if (define) slot = ++next_local_;
  ++count_;
  file_->maybe_flush();
}

}  // namespace

std::string binlog_schema_text(const ModalitySchema& schema) {
  std::string text;
  for (const ModalitySpec& spec : schema.specs()) {
    if (!text.empty()) text.push_back(';');
    text.append(spec.name).push_back(':');
    text.append(to_string(spec.kind)).push_back(':');
    text.append(std::to_string(spec.dim)).push_back(':');
    for (std::size_t c = 0; c < spec.channels.size(); ++c) {
      if (c) text.push_back(',');
      text.append(spec.channels[c]);
    }
  }
  return text;
}

uint64_t binlog_schema_fingerprint(const ModalitySchema& schema) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : binlog_schema_text(schema)) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

Result<std::unique_ptr<EventSource>> open_binlog_source(const std::string& path,
                                                        const ModalitySchema& schema,
                                                        PatientRegistry& registry,
                                                        DecodeLimits limits) {
  // A log is mapped, which a directory, pipe or device cannot be (and opening a pipe would wait
  // for a writer): such a path is named for what it is, not as a failed mapping.
  if (struct stat st{}; ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return make_error(
        Errc::io, path + (S_ISDIR(st.st_mode) ? ": is a directory, not a binary event log"
                                              : ": is not a regular file (a binary event log is "
                                                "read from a file, not a pipe or device)"));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::io, "cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return make_error(Errc::io, "cannot stat " + path + ": " + std::strerror(e));
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  const uint8_t* data = nullptr;
  if (size > 0) {
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return make_error(Errc::io, "cannot map " + path + ": " + std::strerror(e));
    }
    ::madvise(m, size, MADV_SEQUENTIAL);
    data = static_cast<const uint8_t*>(m);
  }
  ::close(fd);  // the mapping stays valid
  auto fail = [&](Errc code, const std::string& what) -> Error {
    if (size > 0) ::munmap(const_cast<uint8_t*>(data), size);
    return make_error(code, path + ": " + what);
  };

  if (size < 6 || std::memcmp(data, kBinlogMagic.data(), 6) != 0) {
    return fail(Errc::parse, "not a tfe binary log (missing TFELOG header)");
  }
  if (size < kHeaderFixedBytes + 4) {
    return fail(Errc::parse, "binary log header is truncated (" + std::to_string(size) +
                                 " bytes; the header alone takes at least " +
                                 std::to_string(kHeaderFixedBytes + 4) + ")");
  }
  uint16_t version;
  std::memcpy(&version, data + 6, 2);
  if (version != kBinlogVersion) {
    return fail(Errc::unsupported, "binary log version " + std::to_string(version) +
                                       " is not supported (this build reads version " +
                                       std::to_string(kBinlogVersion) + ")");
  }
  const uint32_t text_len = load_u32(data + 16);
  if (text_len > size - kHeaderFixedBytes - 4) {
    return fail(Errc::parse, "binary log header is truncated");
  }
  const std::size_t header_end = kHeaderFixedBytes + text_len + 4;
  if (crc32_of(data, header_end - 4) != load_u32(data + header_end - 4)) {
    return fail(Errc::parse, "binary log header checksum mismatch");
  }
  uint64_t fingerprint;
  std::memcpy(&fingerprint, data + 8, 8);
  const std::string expected = binlog_schema_text(schema);
  if (fingerprint != binlog_schema_fingerprint(schema)) {
    const std::string_view written(reinterpret_cast<const char*>(data) + kHeaderFixedBytes,
                                   text_len);
    return fail(Errc::schema, "written under another modality schema (log: \"" +
                                  std::string(written) + "\", configured: \"" + expected + "\")");
  }
  return std::unique_ptr<EventSource>(
      std::make_unique<BinlogSource>(path, data, size, header_end, schema, registry, limits));
}

Result<std::unique_ptr<EventWriter>> open_binlog_writer(const std::string& path,
                                                        const ModalitySchema& schema,
                                                        const PatientRegistry& registry) {
  auto file = FileWriter::create(path);
  if (!file) return std::move(file).error();
  return std::unique_ptr<EventWriter>(
      std::make_unique<BinlogWriter>(std::move(file).value(), schema, registry));
}

}  // namespace tfe
