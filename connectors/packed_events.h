#pragma once
// A history held in memory in a compact form, for consumers that replay it several times (a
// backtest's baseline and stress variants). An Event is 192 bytes, most of them room for payloads
// an event does not have (16 vitals channels, the strings and vector of notes, embeddings and
// outcomes); a packed event keeps its fixed fields in columns and only the payload it has in one
// byte arena: about 66 bytes for a vitals reading of six channels.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/event.h"

namespace tfe {

class PackedEvents {
 public:
  PackedEvents() = default;
  explicit PackedEvents(std::span<const Event> events);

  void append(const Event& event);
  std::size_t size() const { return arrival_.size(); }
  bool empty() const { return arrival_.empty(); }

  // The fixed fields of event i, without decoding it.
  PatientIndex patient(std::size_t i) const { return patient_[i]; }
  ModalityIndex modality(std::size_t i) const { return modality_[i]; }
  int64_t event_time_ms(std::size_t i) const { return event_time_[i]; }
  int64_t arrival_time_ms(std::size_t i) const { return arrival_[i]; }
  uint64_t source_seq(std::size_t i) const { return seq_[i]; }

  // Overwrites `out` with event i (its strings and vector keep their capacity). Vitals channels
  // without their bit in present_mask are left as they were: they count for nothing.
  void decode(std::size_t i, Event& out) const;

  // Calls fn(event) for every event in order, decoded into one reused Event, while it returns
  // true.
  template <class Fn>
  void for_each(Fn&& fn) const {
    Event event;
    for (std::size_t i = 0; i < size(); ++i) {
      decode(i, event);
      if (!fn(static_cast<const Event&>(event))) return;
    }
  }

  // Puts the events into replay order: arrival time, then source_seq, stable for equal keys (the
  // order of sort_for_replay).
  void sort_for_replay();

  // Replaces each event's patient p by renumber[p] (every p must be below renumber.size()).
  void renumber_patients(std::span<const PatientIndex> renumber);

  // Heap bytes held (capacity, not size).
  std::size_t bytes() const;

 private:
  std::vector<int64_t> arrival_;
  std::vector<int64_t> event_time_;
  std::vector<uint64_t> seq_;
  std::vector<uint32_t> patient_;
  std::vector<ModalityIndex> modality_;
  std::vector<uint64_t> payload_at_;  // start of event i's payload in payload_
  std::vector<std::byte> payload_;
};

}  // namespace tfe
