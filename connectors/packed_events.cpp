#include "connectors/packed_events.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <numeric>
#include <string>

namespace tfe {
namespace {

// What an event's payload holds, in this order after the flags byte.
enum PayloadPart : uint8_t {
  kVitals = 1,     // u32 present_mask, then one float per set bit, lowest channel first
  kText = 2,       // u32 length, bytes
  kEmbedding = 4,  // u32 count, floats
  kLabel = 8,      // u32 length, bytes
};

// The mask is kept whole; only channels the reading can hold have a value.
constexpr uint32_t kChannelBits = static_cast<uint32_t>((uint64_t{1} << kMaxChannels) - 1);

void put(std::vector<std::byte>& out, const void* data, std::size_t n) {
  const auto* bytes = static_cast<const std::byte*>(data);
  out.insert(out.end(), bytes, bytes + n);
}

void put_u32(std::vector<std::byte>& out, uint32_t v) { put(out, &v, sizeof v); }

uint32_t get_u32(const std::byte*& in) {
  uint32_t v;
  std::memcpy(&v, in, sizeof v);
  in += sizeof v;
  return v;
}

void get_string(const std::byte*& in, std::string& out) {
  const uint32_t n = get_u32(in);
  out.assign(reinterpret_cast<const char*>(in), n);
  in += n;
}

template <class T>
std::vector<T> permuted(const std::vector<T>& v, const std::vector<std::size_t>& order) {
  std::vector<T> out;
  out.reserve(v.size());
  for (const std::size_t i : order) out.push_back(v[i]);
  return out;
}

}  // namespace

PackedEvents::PackedEvents(std::span<const Event> events) {
  for (const Event& e : events) append(e);
}

void PackedEvents::append(const Event& e) {
  arrival_.push_back(e.arrival_time_ms);
  event_time_.push_back(e.event_time_ms);
  seq_.push_back(e.source_seq);
  patient_.push_back(e.patient);
  modality_.push_back(e.modality);
  payload_at_.push_back(payload_.size());
  const uint32_t mask = e.vitals.present_mask;
  uint8_t flags = 0;
  if (mask != 0) flags |= kVitals;
  if (!e.text.empty()) flags |= kText;
  if (!e.embedding.empty()) flags |= kEmbedding;
  if (!e.label.empty()) flags |= kLabel;
  payload_.push_back(static_cast<std::byte>(flags));
  if (flags & kVitals) {
    put_u32(payload_, mask);
    for (uint32_t bits = mask & kChannelBits; bits != 0; bits &= bits - 1) {
      put(payload_, &e.vitals.values[std::countr_zero(bits)], sizeof(float));
    }
  }
  if (flags & kText) {
    put_u32(payload_, static_cast<uint32_t>(e.text.size()));
    put(payload_, e.text.data(), e.text.size());
  }
  if (flags & kEmbedding) {
    put_u32(payload_, static_cast<uint32_t>(e.embedding.size()));
    put(payload_, e.embedding.data(), e.embedding.size() * sizeof(float));
  }
  if (flags & kLabel) {
    put_u32(payload_, static_cast<uint32_t>(e.label.size()));
    put(payload_, e.label.data(), e.label.size());
  }
}

void PackedEvents::decode(std::size_t i, Event& out) const {
  out.patient = patient_[i];
  out.modality = modality_[i];
  out.event_time_ms = event_time_[i];
  out.arrival_time_ms = arrival_[i];
  out.source_seq = seq_[i];
  const std::byte* in = payload_.data() + payload_at_[i];
  const auto flags = static_cast<uint8_t>(*in++);
  out.vitals.present_mask = 0;
  if (flags & kVitals) {
    const uint32_t mask = get_u32(in);
    out.vitals.present_mask = mask;
    for (uint32_t bits = mask & kChannelBits; bits != 0; bits &= bits - 1) {
      std::memcpy(&out.vitals.values[std::countr_zero(bits)], in, sizeof(float));
      in += sizeof(float);
    }
  }
  if (flags & kText) {
    get_string(in, out.text);
  } else {
    out.text.clear();
  }
  if (flags & kEmbedding) {
    const uint32_t n = get_u32(in);
    out.embedding.resize(n);
    std::memcpy(out.embedding.data(), in, n * sizeof(float));
    in += n * sizeof(float);
  } else {
    out.embedding.clear();
  }
  if (flags & kLabel) {
    get_string(in, out.label);
  } else {
    out.label.clear();
  }
}

void PackedEvents::sort_for_replay() {
  auto before = [&](std::size_t a, std::size_t b) {
    if (arrival_[a] != arrival_[b]) return arrival_[a] < arrival_[b];
    return seq_[a] < seq_[b];
  };
  std::vector<std::size_t> order(size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Histories are usually written in arrival order already: one linear check saves the sort.
  if (std::is_sorted(order.begin(), order.end(), before)) return;
  std::stable_sort(order.begin(), order.end(), before);
  // The payloads stay where they are; their offsets move with the events.
  arrival_ = permuted(arrival_, order);
  event_time_ = permuted(event_time_, order);
  seq_ = permuted(seq_, order);
  patient_ = permuted(patient_, order);
  modality_ = permuted(modality_, order);
  payload_at_ = permuted(payload_at_, order);
}

void PackedEvents::renumber_patients(std::span<const PatientIndex> renumber) {
  for (uint32_t& p : patient_) p = renumber[p];
}

std::size_t PackedEvents::bytes() const {
  return arrival_.capacity() * sizeof(int64_t) + event_time_.capacity() * sizeof(int64_t) +
         seq_.capacity() * sizeof(uint64_t) + patient_.capacity() * sizeof(uint32_t) +
         modality_.capacity() * sizeof(ModalityIndex) + payload_at_.capacity() * sizeof(uint64_t) +
         payload_.capacity();
}

}  // namespace tfe
