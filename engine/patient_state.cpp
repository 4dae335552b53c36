// Per-patient state and snapshots (see patient_state.h).

#include "engine/patient_state.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace tfe {
namespace {

constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

}  // namespace

// One modality of one patient. The history ring is one block: [history] int64 event times, then
// [history][item_dim] floats; logical item i (0 = newest) lives in slot (head + i) % history.
// With VitalsFeatures::latest the block goes on with [latest_channels] int64 event times (8-byte
// aligned) and [latest_channels] floats: each channel's newest reading.
struct PatientState::ModalityState {
  std::unique_ptr<std::byte[]> ring;
  uint16_t head = 0;
  uint16_t count = 0;     // items held; 0: absent, nothing allocated
  VitalsWindows windows;  // vitals with features

  int64_t* times() const { return reinterpret_cast<int64_t*>(ring.get()); }
  float* item(const ModalityStorage& layout, uint32_t slot) const {
    return reinterpret_cast<float*>(ring.get() + layout.history * sizeof(int64_t)) +
           std::size_t{slot} * layout.item_dim;
  }
  uint32_t slot(const ModalityStorage& layout, uint32_t logical) const {
    const uint32_t s = head + logical;
    return s >= layout.history ? s - layout.history : s;
  }
  int64_t latest_event_ms() const { return times()[head]; }
  static std::size_t channels_offset(const ModalityStorage& layout) {
    const std::size_t items =
        layout.history * (sizeof(int64_t) + std::size_t{layout.item_dim} * sizeof(float));
    return (items + alignof(int64_t) - 1) & ~(alignof(int64_t) - 1);
  }
  std::size_t ring_bytes(const ModalityStorage& layout) const {
    return channels_offset(layout) +
           std::size_t{layout.latest_channels} * (sizeof(int64_t) + sizeof(float));
  }
  int64_t* channel_times(const ModalityStorage& layout) const {
    return reinterpret_cast<int64_t*>(ring.get() + channels_offset(layout));
  }
  float* channel_values(const ModalityStorage& layout) const {
    return reinterpret_cast<float*>(channel_times(layout) + layout.latest_channels);
  }
  void release() {
    ring.reset();
    head = 0;
    count = 0;
    windows.clear();
  }
  // Makes room for an event at `event_time_ms` in the newest-first ring and returns its slot, or
  // -1 when the ring is full of newer events. An event no older than the newest is the newest
  // (ties keep application order).
  int64_t insert(const ModalityStorage& layout, int64_t event_time_ms) {
    if (!ring) {
      ring = std::make_unique_for_overwrite<std::byte[]>(ring_bytes(layout));
      std::fill_n(channel_times(layout), layout.latest_channels, kNoTime);
    }
    const uint32_t capacity = layout.history;
    int64_t* t = times();
    if (count == 0 || event_time_ms >= t[head]) {
      head = static_cast<uint16_t>(head == 0 ? capacity - 1 : head - 1);
      if (count < capacity) ++count;
      t[head] = event_time_ms;
      return head;
    }
    // Out of event-time order (rare): insert before the first older item.
    uint32_t pos = 1;
    while (pos < count && t[slot(layout, pos)] > event_time_ms) ++pos;
    if (pos == capacity) return -1;
    const uint32_t last = count < capacity ? count : capacity - 1;  // logical slot freed/reused
    if (count < capacity) ++count;
    for (uint32_t i = last; i > pos; --i) {
      const uint32_t to = slot(layout, i);
      const uint32_t from = slot(layout, i - 1);
      t[to] = t[from];
      std::memcpy(item(layout, to), item(layout, from), layout.item_dim * sizeof(float));
    }
    const uint32_t s = slot(layout, pos);
    t[s] = event_time_ms;
    return s;
  }
};

Result<StateLayout> StateLayout::make(const EngineConfig& config, const ScorerSpec& spec) {
  const ModalitySchema& schema = config.schema;
  if (spec.needs.size() != schema.size()) {
    return make_error(Errc::invalid_argument,
                      fmt::format("scorer '{}' declares needs for {} modalities, the schema has {}",
                                  spec.strategy, spec.needs.size(), schema.size()));
  }
  StateLayout layout;
  for (std::size_t m = 0; m < schema.size(); ++m) {
    const ModalitySpec& modality = schema[static_cast<ModalityIndex>(m)];
    const ModalityNeeds& needs = spec.needs[m];
    ModalityStorage l;
    l.kind = modality.kind;
    l.horizon_ms = modality.horizon_ms;
    l.history = std::max<uint32_t>({modality.history, needs.history, 1});
    l.expose_history = needs.history > 0;
    l.features = needs.features;
    l.raw_dim = modality.dim;
    if (l.history > std::numeric_limits<uint16_t>::max()) {
      return make_error(Errc::invalid_argument, fmt::format("modality '{}': history {} is too long",
                                                            modality.name, l.history));
    }
    if (needs.features) {
      if (modality.kind == ModalityKind::vitals) {
        const auto channels = static_cast<uint32_t>(modality.channels.size());
        l.item_dim = channels;
        l.vitals_features = needs.vitals;
        if (needs.vitals == VitalsFeatures::latest) {
          if (needs.latest_within_ms < 0) {
            return make_error(
                Errc::invalid_argument,
                fmt::format("modality '{}': latest_within_ms is negative", modality.name));
          }
          l.latest_channels = channels;
          l.latest_within_ms = needs.latest_within_ms;
          l.snapshot_dim = channels;
        } else {
          l.windows.windows_ms = config.windows_ms;
          l.windows.channels = channels;
          l.windows.max_samples = config.max_window_samples;
          l.snapshot_dim = static_cast<uint32_t>(l.windows.feature_count());
        }
      } else {
        l.encoder = needs.encoder;
        if (l.encoder && l.encoder->dim() == 0) {
          return make_error(Errc::invalid_argument,
                            fmt::format("modality '{}': encoder dimension is 0", modality.name));
        }
        l.item_dim = l.encoder ? l.encoder->dim() : modality.dim;
        l.snapshot_dim = l.item_dim;
      }
    }
    l.scratch_feature_offset = layout.scratch_floats_;
    l.scratch_history_offset = layout.scratch_history_;
    if (l.kind == ModalityKind::vitals) layout.scratch_floats_ += l.snapshot_dim;
    layout.scratch_history_ += l.history;
    layout.modalities_.push_back(std::move(l));
  }
  return layout;
}

SnapshotScratch::SnapshotScratch(const StateLayout& layout)
    : modalities_(layout.size()),
      features_(layout.scratch_floats()),
      history_(layout.scratch_history()) {
  snapshot_.modalities = modalities_;
}

PatientState::PatientState(const StateLayout& layout)
    : modalities_(std::make_unique<ModalityState[]>(layout.size())) {}

PatientState::PatientState() = default;
PatientState::PatientState(PatientState&&) noexcept = default;
PatientState& PatientState::operator=(PatientState&&) noexcept = default;
PatientState::~PatientState() = default;

void PatientState::reset() { modalities_.reset(); }

void PatientState::apply(const StateLayout& layout, const Event& event) {
  assert(active() && event.modality < layout.size() && "apply() needs a configured modality");
  const ModalityStorage& l = layout[event.modality];
  ModalityState& s = modalities_[event.modality];
  const int64_t now = event.arrival_time_ms;
  if (s.count > 0 && now - s.latest_event_ms() > l.horizon_ms) s.release();
  // Already beyond the horizon: absent at every t >= now.
  if (now - event.event_time_ms > l.horizon_ms) return;

  const int64_t slot = s.insert(l, event.event_time_ms);
  if (slot >= 0 && l.item_dim > 0) {
    float* out = s.item(l, static_cast<uint32_t>(slot));
    if (l.kind == ModalityKind::vitals) {
      const uint32_t mask = event.vitals.present_mask;
      for (uint32_t c = 0; c < l.item_dim; ++c) {
        out[c] =
            (mask >> c & 1u) ? event.vitals.values[c] : std::numeric_limits<float>::quiet_NaN();
      }
    } else if (l.encoder) {
      l.encoder->encode(event, std::span<float>(out, l.item_dim));
    } else if (event.embedding.size() == l.item_dim) {
      std::copy(event.embedding.begin(), event.embedding.end(), out);
    } else {
      // A text event without its optional upstream embedding: zeros (presence still counts).
      std::fill(out, out + l.item_dim, 0.0f);
    }
  }
  if (l.latest_channels > 0) {
    // Ties in event time: the later applied reading is the newer, as in the history ring.
    int64_t* times = s.channel_times(l);
    float* values = s.channel_values(l);
    const uint32_t mask = event.vitals.present_mask;
    for (uint32_t c = 0; c < l.latest_channels; ++c) {
      if ((mask >> c & 1u) && event.event_time_ms >= times[c]) {
        times[c] = event.event_time_ms;
        values[c] = event.vitals.values[c];
      }
    }
  } else if (l.kind == ModalityKind::vitals && l.features) {
    s.windows.add(l.windows, now, event.event_time_ms, event.vitals);
  }
}

std::size_t PatientState::snapshot(const StateLayout& layout, PatientIndex patient, int64_t t_ms,
                                   SnapshotScratch& scratch) {
  assert(active() && "snapshot() of an evicted patient");
  std::size_t present = 0;
  for (std::size_t m = 0; m < layout.size(); ++m) {
    const ModalityStorage& l = layout[m];
    ModalityState& s = modalities_[m];
    ModalitySnapshot& out = scratch.modalities_[m];
    out = ModalitySnapshot{};
    if (s.count == 0) continue;
    const int64_t latest = s.latest_event_ms();
    if (t_ms - latest > l.horizon_ms) {
      s.release();
      continue;
    }
    ++present;
    out.present = true;
    out.event_time_ms = latest;
    out.age_ms = std::max<int64_t>(0, t_ms - latest);
    if (l.features) {
      if (l.kind == ModalityKind::vitals) {
        std::span<float> features(scratch.features_.data() + l.scratch_feature_offset,
                                  l.snapshot_dim);
        if (l.latest_channels > 0) {
          const int64_t* times = s.channel_times(l);
          const float* values = s.channel_values(l);
          for (uint32_t c = 0; c < l.latest_channels; ++c) {
            features[c] = times[c] != kNoTime && t_ms - times[c] <= l.latest_within_ms
                              ? values[c]
                              : std::numeric_limits<float>::quiet_NaN();
          }
        } else {
          s.windows.evict(l.windows, t_ms);
          s.windows.write_features(l.windows, features);
        }
        out.features = features;
      } else {
        out.features = std::span<const float>(s.item(l, s.head), l.item_dim);
      }
    }
    if (!l.expose_history) continue;
    HistoryItem* items = scratch.history_.data() + l.scratch_history_offset;
    for (uint32_t i = 0; i < s.count; ++i) {
      const uint32_t slot = s.slot(l, i);
      // An item past the horizon is evicted state: a restore, which replays only a horizon of
      // each topic, would not have it, and a score must not depend on whether one happened.
      // Items are newest first, so every later one is older still.
      if (t_ms - s.times()[slot] > l.horizon_ms) {
        s.count = static_cast<uint16_t>(i);
        break;
      }
      items[i].age_ms = std::max<int64_t>(0, t_ms - s.times()[slot]);
      items[i].features = std::span<const float>(s.item(l, slot), l.item_dim);
    }
    out.history = std::span<const HistoryItem>(items, s.count);
  }
  scratch.snapshot_.patient = patient;
  scratch.snapshot_.time_ms = t_ms;
  return present;
}

void PatientState::prefetch_header(const StateLayout& layout) const {
  if (!modalities_) return;
  // The array spans several cache lines (and new[] puts its length in front of it).
  const auto* first = reinterpret_cast<const std::byte*>(modalities_.get()) - sizeof(std::size_t);
  const std::size_t bytes = layout.size() * sizeof(ModalityState) + sizeof(std::size_t);
  for (std::size_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch(first + offset);
}

void PatientState::prefetch_state(const StateLayout& layout, std::size_t modality) const {
  if (!modalities_) return;
  const std::size_t first = modality == kAllModalities ? 0 : modality;
  const std::size_t last = modality == kAllModalities ? layout.size() : modality + 1;
  for (std::size_t m = first; m < last; ++m) {
    const ModalityState& s = modalities_[m];
    if (s.ring) {
      __builtin_prefetch(s.ring.get());
      const ModalityStorage& l = layout[m];
      // A snapshot reads the newest item's features (an encoded note or image: hundreds of bytes,
      // several lines past the ring's start, where a tick's scoring would wait for them).
      if (l.kind != ModalityKind::vitals && s.count > 0 && l.item_dim > 0) {
        const auto* item = reinterpret_cast<const std::byte*>(s.item(l, s.head));
        const std::size_t bytes = std::size_t{l.item_dim} * sizeof(float);
        for (std::size_t offset = 0; offset < bytes; offset += 64)
          __builtin_prefetch(item + offset);
        __builtin_prefetch(item + bytes - 1);
      }
      // Each channel's latest reading sits after the history items, often on the next lines.
      if (l.latest_channels > 0) {
        const auto* first = reinterpret_cast<const std::byte*>(s.channel_times(l));
        const auto* last =
            reinterpret_cast<const std::byte*>(s.channel_values(l) + l.latest_channels) - 1;
        __builtin_prefetch(first);
        __builtin_prefetch(last);
      }
    }
    s.windows.prefetch(layout[m].windows);
  }
}

std::size_t PatientState::state_bytes(const StateLayout& layout) const {
  if (!modalities_) return 0;
  // new[] of a type with a destructor stores the element count in front of the array.
  std::size_t bytes =
      detail::allocation_bytes(layout.size() * sizeof(ModalityState) + sizeof(std::size_t));
  for (std::size_t m = 0; m < layout.size(); ++m) {
    const ModalityState& s = modalities_[m];
    if (s.ring) bytes += detail::allocation_bytes(s.ring_bytes(layout[m]));
    bytes += s.windows.heap_bytes();
  }
  return bytes;
}

}  // namespace tfe
