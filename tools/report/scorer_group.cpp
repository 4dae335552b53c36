#include "tools/report/scorer_group.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include <fmt/format.h>
#include <tbb/parallel_for.h>
// Inlined: the digest runs at every tick of a recorded or taking-over run.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace tfe::report {

// How one member sees modality m of the group's snapshot.
struct ModalityView {
  bool features = false;  // the member declared features
  bool sliced = false;    // its features are [offset, offset + dim) of the group's
  uint32_t offset = 0;
  uint32_t dim = 0;
  bool expose_history = false;  // the member declared a history
  uint32_t history = 0;         // at most this many items (its own ring length)
};

struct ScorerGroup::Member {
  std::shared_ptr<const Scorer> scorer;
  std::vector<ModalityView> views;  // [n_modalities]
};

struct ScorerGroup::ShardRecord {
  std::vector<TickRisks::Tick> ticks;  // the shard's tick order: time, then patient
  std::vector<double> risks;           // [ticks.size() * columns]
  std::vector<uint64_t> digests;       // [ticks.size()] with GroupTakeover::record
  uint64_t taken_over = 0;             // ticks whose risks came from the earlier run
};

namespace {

// Chained: each piece's hash seeds the next.
uint64_t chain_hash(uint64_t seed, const void* data, std::size_t n) {
  return XXH3_64bits_withSeed(data, n, seed);
}

// A digest of encoded features stored after them, in the place of kDigestFloats floats.
constexpr uint32_t kDigestFloats = sizeof(uint64_t) / sizeof(float);

// One text/embedding modality encoded by several members: their features side by side. With a
// digest tail, the digest of those features follows them: computed once per event, it stands for
// them in every snapshot digest (ScorerGroup::snapshot_digest).
class ConcatenatedEncoder final : public ModalityEncoder {
 public:
  ConcatenatedEncoder(std::vector<std::shared_ptr<const ModalityEncoder>> parts, bool digest_tail)
      : parts_(std::move(parts)), digest_tail_(digest_tail) {
    for (const auto& p : parts_) features_ += p->dim();
  }
  uint32_t dim() const override { return features_ + (digest_tail_ ? kDigestFloats : 0); }
  void encode(const Event& event, std::span<float> out) const override {
    std::size_t offset = 0;
    for (const auto& p : parts_) {
      p->encode(event, out.subspan(offset, p->dim()));
      offset += p->dim();
    }
    if (!digest_tail_) return;
    const uint64_t digest = chain_hash(0, out.data(), std::size_t{features_} * sizeof(float));
    std::memcpy(out.data() + features_, &digest, sizeof digest);
  }

 private:
  std::vector<std::shared_ptr<const ModalityEncoder>> parts_;
  bool digest_tail_;
  uint32_t features_ = 0;
};

class GroupState final : public ScorerState {
 public:
  std::vector<std::unique_ptr<ScorerState>> members;
  std::shared_ptr<ScorerGroup::ShardRecord> record;
  std::vector<HistoryItem> items;  // history items of a member's view
  // A member's view of the snapshot, rewritten for each member (16 modalities: a kilobyte that
  // value-initialising per tick would clear for nothing).
  std::array<ModalitySnapshot, kMaxModalities> view;
  // Per shard of the earlier run, the first of its ticks not yet passed.
  std::vector<std::size_t> earlier_cursors;
};

bool before(const RecordedTicks::Tick& tick, const Snapshot& snapshot) {
  return tick.score_time_ms != snapshot.time_ms ? tick.score_time_ms < snapshot.time_ms
                                                : tick.patient < snapshot.patient;
}

}  // namespace

uint64_t RecordedTicks::size() const {
  uint64_t n = 0;
  for (const auto& shard : shards_) n += shard.size();
  return n;
}

TickRisks::TickRisks(std::vector<Tick> ticks, std::vector<std::vector<double>> columns)
    : ticks_(std::make_shared<const std::vector<Tick>>(std::move(ticks))) {
  columns_.reserve(columns.size());
  for (std::vector<double>& c : columns) {
    assert(c.size() == ticks_->size());
    columns_.push_back(std::make_shared<const std::vector<double>>(std::move(c)));
  }
}

TickRisks TickRisks::select(uint32_t first, uint32_t count) const {
  assert(std::size_t{first} + count <= columns_.size());
  TickRisks out;
  out.ticks_ = ticks_;
  out.columns_.assign(columns_.begin() + first, columns_.begin() + first + count);
  return out;
}

std::pair<std::vector<TickKey>, std::vector<double>> TickRisks::keyed(uint32_t column) const {
  if (column >= columns_.size() || !columns_[column]) return {};
  const std::vector<Tick>& recorded = *ticks_;
  std::vector<TickKey> keys(recorded.size());
  for (std::size_t i = 0; i < recorded.size(); ++i) {
    keys[i] = {recorded[i].patient, recorded[i].present_mask, false, recorded[i].score_time_ms};
  }
  return {std::move(keys), *columns_[column]};
}

void TickRisks::release(uint32_t column) {
  if (column < columns_.size()) columns_[column].reset();
}

Result<TickTable> TickRisks::table(const TickTable& like, uint32_t column, uint32_t cleared) const {
  if (column >= columns_.size() || !columns_[column]) {
    return make_error(Errc::invalid_argument,
                      fmt::format("report: no recorded risks in column {}", column));
  }
  const auto before = [](const Tick& a, const ScoredTick& b) {
    return a.patient != b.patient ? a.patient < b.patient : a.score_time_ms < b.score_time_ms;
  };
  const TickView like_ticks = like.ticks();
  std::vector<double> risk(like_ticks.size());
  const std::vector<Tick>& recorded = *ticks_;
  const std::vector<double>& risks = *columns_[column];
  bool any_nan = false;
  std::size_t j = 0;
  for (std::size_t i = 0; i < like_ticks.size(); ++i) {
    const ScoredTick t = like_ticks[i];
    while (j < recorded.size() && before(recorded[j], t)) ++j;
    if (j == recorded.size() || recorded[j].patient != t.patient ||
        recorded[j].score_time_ms != t.score_time_ms) {
      return make_error(Errc::invalid_argument,
                        "report: a tick has no recorded risks (tables of different runs)");
    }
    risk[i] = risks[j];
    any_nan = any_nan || std::isnan(risk[i]);
  }
  // The same ticks as like's: its keys are shared, only the risks are this table's.
  if (cleared == 0 && !any_nan) return with_risks(like, std::move(risk));
  std::vector<TickKey> keys;
  keys.reserve(risk.size());
  std::size_t kept = 0;
  for (std::size_t i = 0; i < risk.size(); ++i) {
    if (std::isnan(risk[i])) continue;
    TickKey k = (*like.keys)[i];
    k.present_mask &= static_cast<uint16_t>(~cleared);
    keys.push_back(k);
    risk[kept++] = risk[i];
  }
  risk.resize(kept);
  return make_tick_table(std::move(keys), std::move(risk), like.outcome_time_ms, like.horizon_ms,
                         like.tick_cadence_ms);
}

Result<std::shared_ptr<ScorerGroup>> ScorerGroup::create(
    std::vector<std::shared_ptr<const Scorer>> scorers, const ModalitySchema& schema, bool masked,
    GroupTakeover takeover) {
  if (scorers.empty()) return make_error(Errc::invalid_argument, "a scorer group needs a scorer");
  if (takeover.earlier && (masked || takeover.earlier->members() != scorers.size())) {
    return make_error(
        Errc::invalid_argument,
        fmt::format("a group of {} scorers{} cannot take over a run of {}", scorers.size(),
                    masked ? " with masked risks" : "", takeover.earlier->members()));
  }
  const std::size_t n_mod = schema.size();
  std::vector<Member> members(scorers.size());
  ScorerSpec spec;
  spec.strategy = "group";
  spec.needs.resize(n_mod);
  for (std::size_t s = 0; s < scorers.size(); ++s) {
    members[s].scorer = scorers[s];
    members[s].views.resize(n_mod);
    const ScorerSpec& own = scorers[s]->spec();
    if (own.needs.size() != n_mod) {
      return make_error(
          Errc::invalid_argument,
          fmt::format("scorer '{}' declares needs for {} modalities, the schema has {}",
                      own.strategy, own.needs.size(), n_mod));
    }
  }
  std::array<bool, kMaxModalities> digest_tails{};
  for (std::size_t m = 0; m < n_mod; ++m) {
    const ModalitySpec& modality = schema[static_cast<ModalityIndex>(m)];
    ModalityNeeds& merged = spec.needs[m];
    merged.history = 0;
    const ModalityNeeds* first_featured = nullptr;
    std::vector<std::shared_ptr<const ModalityEncoder>> encoders;
    bool raw = false;
    for (std::size_t s = 0; s < scorers.size(); ++s) {
      const ModalityNeeds& needs = scorers[s]->spec().needs[m];
      ModalityView& view = members[s].views[m];
      view.expose_history = needs.history > 0;
      view.history = std::max<uint32_t>({modality.history, needs.history, 1});
      merged.history = std::max(merged.history, needs.history);
      if (!needs.features) continue;
      view.features = true;
      merged.features = true;
      if (modality.kind == ModalityKind::vitals) {
        if (!first_featured) {
          first_featured = &needs;
          merged.vitals = needs.vitals;
          merged.latest_within_ms = needs.latest_within_ms;
        } else if (needs.vitals != first_featured->vitals ||
                   (needs.vitals == VitalsFeatures::latest &&
                    needs.latest_within_ms != first_featured->latest_within_ms)) {
          return make_error(Errc::invalid_argument,
                            fmt::format("modality '{}': the scorers read different vitals features",
                                        modality.name));
        }
        continue;
      }
      if (needs.encoder) {
        view.sliced = true;
        view.dim = needs.encoder->dim();
        view.offset = 0;
        for (const auto& e : encoders) view.offset += e->dim();
        encoders.push_back(needs.encoder);
      } else {
        raw = true;
      }
    }
    if (raw && !encoders.empty()) {
      return make_error(
          Errc::invalid_argument,
          fmt::format("modality '{}': one scorer encodes it, another reads it raw", modality.name));
    }
    // Snapshot digests read an encoded modality's digest tail instead of its features.
    const bool tail = (takeover.record || takeover.earlier) && !encoders.empty();
    if (encoders.size() == 1 && !tail) {
      merged.encoder = encoders.front();
    } else if (!encoders.empty()) {
      merged.encoder = std::make_shared<ConcatenatedEncoder>(std::move(encoders), tail);
      digest_tails[m] = tail;
    }
  }
  return std::make_shared<ScorerGroup>(std::move(members), std::move(spec), n_mod, masked,
                                       std::move(takeover), digest_tails);
}

ScorerGroup::ScorerGroup(std::vector<Member> members, ScorerSpec spec, std::size_t n_modalities,
                         bool masked, GroupTakeover takeover,
                         std::array<bool, kMaxModalities> digest_tails)
    : members_(std::move(members)),
      spec_(std::move(spec)),
      n_modalities_(std::min(n_modalities, kMaxModalities)),
      stride_(masked ? static_cast<uint32_t>(1 + n_modalities_) : 1),
      takeover_(std::move(takeover)),
      digest_tails_(digest_tails) {
  for (std::size_t m = 0; m < n_modalities_; ++m) {
    uint32_t most = 0;
    for (const Member& member : members_) most = std::max(most, member.views[m].history);
    history_items_ += most;
  }
}

ScorerGroup::~ScorerGroup() = default;

std::size_t ScorerGroup::size() const { return members_.size(); }

std::unique_ptr<ScorerState> ScorerGroup::make_state() const {
  auto state = std::make_unique<GroupState>();
  for (const Member& member : members_) state->members.push_back(member.scorer->make_state());
  state->record = std::make_shared<ShardRecord>();
  state->items.resize(history_items_);
  if (takeover_.earlier) state->earlier_cursors.assign(takeover_.earlier->shards_.size(), 0);
  shards_.add(state->record);
  return state;
}

namespace {
// The bytes of a snapshot gathered for a few hash calls instead of one per field: a tick's
// snapshot is a few hundred bytes in a dozen pieces.
class DigestStream {
 public:
  template <class T>
  void add(const T& value) {
    add(&value, sizeof value);
  }
  void add(const void* data, std::size_t n) {
    if (n == 0) return;  // an empty span's data() may be null
    if (n > bytes_.size() - used_) {
      flush();
      if (n > bytes_.size()) {
        digest_ = chain_hash(digest_, data, n);
        return;
      }
    }
    std::memcpy(bytes_.data() + used_, data, n);
    used_ += n;
  }
  uint64_t finish() {
    flush();
    return digest_;
  }

 private:
  void flush() {
    if (used_ == 0) return;
    digest_ = chain_hash(digest_, bytes_.data(), used_);
    used_ = 0;
  }
  std::array<std::byte, 1024> bytes_;
  std::size_t used_ = 0;
  uint64_t digest_ = 0;
};
}  // namespace

uint64_t ScorerGroup::snapshot_digest(const Snapshot& snapshot,
                                      std::span<const bool> digest_tails) {
  // Fixed-size fields ahead of each variable-length part, so that equal bytes mean equal fields
  // (and the points where the stream is hashed fall alike).
  struct Header {
    int64_t age_ms;
    int64_t event_time_ms;
    uint64_t features;
    uint64_t history;
    uint64_t present;
  };
  DigestStream stream;
  for (std::size_t m = 0; m < snapshot.modalities.size(); ++m) {
    const ModalitySnapshot& ms = snapshot.modalities[m];
    const bool tail = m < digest_tails.size() && digest_tails[m];
    // The features themselves, or the digest of them that follows them.
    const auto add_features = [&](std::span<const float> f) {
      if (tail && f.size() >= kDigestFloats) f = f.last(kDigestFloats);
      stream.add(f.data(), f.size_bytes());
    };
    stream.add(Header{ms.age_ms, ms.event_time_ms, ms.features.size(), ms.history.size(),
                      ms.present ? 1u : 0u});
    add_features(ms.features);
    for (const HistoryItem& item : ms.history) {
      const int64_t item_header[2] = {item.age_ms, static_cast<int64_t>(item.features.size())};
      stream.add(item_header);
      add_features(item.features);
    }
  }
  return stream.finish();
}

const double* ScorerGroup::earlier_risks(const Snapshot& snapshot, uint64_t digest,
                                         std::vector<std::size_t>& cursors) const {
  const RecordedTicks& e = *takeover_.earlier;
  if (snapshot.patient >= e.shard_of_patient_.size()) return nullptr;
  const uint32_t k = e.shard_of_patient_[snapshot.patient];
  if (k == UINT32_MAX) return nullptr;
  // That shard's ticks are in (time, patient) order and so are this shard's ticks of its
  // patients: its cursor only moves forward.
  const std::vector<RecordedTicks::Tick>& ticks = e.shards_[k];
  std::size_t& i = cursors[k];
  while (i < ticks.size() && before(ticks[i], snapshot)) ++i;
  if (i == ticks.size() || ticks[i].score_time_ms != snapshot.time_ms ||
      ticks[i].patient != snapshot.patient || ticks[i].digest != digest) {
    return nullptr;
  }
  return e.risks_[k].data() + i * e.members_;
}

void ScorerGroup::score(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out) const {
  auto& st = static_cast<GroupState&>(state);
  ShardRecord& r = *st.record;
  const std::size_t n = std::min(n_modalities_, snapshot.modalities.size());
  uint16_t present = 0;
  for (std::size_t m = 0; m < n; ++m) {
    if (snapshot.modalities[m].present) present |= static_cast<uint16_t>(1u << m);
  }
  r.ticks.push_back({snapshot.patient, present, snapshot.time_ms});
  const std::size_t base = r.risks.size();
  r.risks.resize(base + members_.size() * stride_);
  double* const row = r.risks.data() + base;
  if (takeover_.record || takeover_.earlier) {
    const uint64_t digest = snapshot_digest(snapshot, digest_tails_);
    if (takeover_.record) r.digests.push_back(digest);
    if (takeover_.earlier) {
      if (const double* risks = earlier_risks(snapshot, digest, st.earlier_cursors)) {
        std::copy_n(risks, members_.size(), row);  // stride 1: not masked
        ++r.taken_over;
        out.risk = risks[0];
        out.logit = std::numeric_limits<double>::quiet_NaN();
        return;
      }
    }
  }
  std::array<ModalitySnapshot, kMaxModalities>& view = st.view;
  for (std::size_t s = 0; s < members_.size(); ++s) {
    // The member's own view: its features (its slice of encoded ones), its history length.
    std::size_t used = 0;
    for (std::size_t m = 0; m < n; ++m) {
      const ModalitySnapshot& ms = snapshot.modalities[m];
      const ModalityView& mv = members_[s].views[m];
      ModalitySnapshot& v = view[m];
      v = ms;
      if (!mv.features) {
        v.features = {};
      } else if (mv.sliced) {
        v.features = ms.features.size() >= std::size_t{mv.offset} + mv.dim
                         ? ms.features.subspan(mv.offset, mv.dim)
                         : std::span<const float>();
      }
      if (!mv.expose_history) {
        v.history = {};
        continue;
      }
      const std::size_t items = std::min<std::size_t>(ms.history.size(), mv.history);
      if (mv.features && !mv.sliced) {
        v.history = ms.history.first(items);
        continue;
      }
      HistoryItem* out_items = st.items.data() + used;
      for (std::size_t j = 0; j < items; ++j) {
        const HistoryItem& h = ms.history[j];
        out_items[j].age_ms = h.age_ms;
        out_items[j].features = mv.features && h.features.size() >= std::size_t{mv.offset} + mv.dim
                                    ? h.features.subspan(mv.offset, mv.dim)
                                    : std::span<const float>();
      }
      v.history = std::span<const HistoryItem>(out_items, items);
      used += items;
    }
    const Snapshot member_snapshot{snapshot.patient, snapshot.time_ms,
                                   std::span<const ModalitySnapshot>(view.data(), n)};
    ScoreOutput own;
    ScoreOutput& result = s == 0 ? out : own;
    double* column = row + s * stride_;
    members_[s].scorer->score_risks(member_snapshot, *st.members[s], result,
                                    std::span<double>(column + 1, stride_ - 1));
    column[0] = result.risk;
  }
}

uint64_t ScorerGroup::taken_over() const {
  uint64_t n = 0;
  for (const auto& shard : shards_.all()) n += shard->taken_over;
  return n;
}

std::shared_ptr<const RecordedTicks> ScorerGroup::record_ticks(std::size_t n_patients) const {
  const std::vector<std::shared_ptr<ShardRecord>> shards = shards_.all();
  auto kept = std::make_shared<RecordedTicks>();
  if (!takeover_.record) return kept;
  kept->members_ = static_cast<uint32_t>(members_.size());
  kept->shards_.resize(shards.size());
  kept->risks_.resize(shards.size());
  kept->shard_of_patient_.assign(n_patients, UINT32_MAX);
  // Shards own disjoint patients: side by side.
  tbb::parallel_for(std::size_t{0}, shards.size(), [&](std::size_t k) {
    const ShardRecord& shard = *shards[k];
    std::vector<RecordedTicks::Tick>& own = kept->shards_[k];
    std::vector<double>& own_risks = kept->risks_[k];
    own.resize(shard.ticks.size());
    own_risks.resize(shard.ticks.size() * members_.size());
    for (std::size_t i = 0; i < shard.ticks.size(); ++i) {
      const TickRisks::Tick& t = shard.ticks[i];
      const double* risks = shard.risks.data() + i * (members_.size() * stride_);
      own[i] = {t.score_time_ms, t.patient, shard.digests[i]};
      kept->shard_of_patient_[t.patient] = static_cast<uint32_t>(k);
      for (std::size_t s = 0; s < members_.size(); ++s) {
        own_risks[i * members_.size() + s] = risks[s * stride_];
      }
    }
  });
  return kept;
}

TickRisks ScorerGroup::collect(std::size_t n_patients) const {
  // A patient is scored by one shard only, in time order, so a stable bucket pass by patient
  // gives (patient, time) order.
  const std::vector<std::shared_ptr<ShardRecord>> shards = shards_.all();
  const std::size_t columns = members_.size() * stride_;
  std::vector<std::size_t> start(n_patients + 1, 0);
  std::size_t total = 0;
  for (const auto& shard : shards) {
    total += shard->ticks.size();
    for (const TickRisks::Tick& t : shard->ticks) ++start[t.patient + 1];
  }
  for (std::size_t p = 1; p < start.size(); ++p) start[p] += start[p - 1];
  std::vector<TickRisks::Tick> ticks(total);
  std::vector<std::vector<double>> risks(columns, std::vector<double>(total));
  // Shards own disjoint patients, so they write disjoint rows (and counters): side by side.
  tbb::parallel_for(std::size_t{0}, shards.size(), [&](std::size_t k) {
    const ShardRecord& shard = *shards[k];
    for (std::size_t i = 0; i < shard.ticks.size(); ++i) {
      const TickRisks::Tick& t = shard.ticks[i];
      const std::size_t to = start[t.patient]++;
      ticks[to] = t;
      const double* row = shard.risks.data() + i * columns;
      for (std::size_t c = 0; c < columns; ++c) risks[c][to] = row[c];
    }
  });
  return TickRisks(std::move(ticks), std::move(risks));
}

}  // namespace tfe::report
