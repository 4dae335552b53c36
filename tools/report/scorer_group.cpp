#include "tools/report/scorer_group.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include <fmt/format.h>
#include <tbb/parallel_for.h>

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
};

namespace {

// One text/embedding modality encoded by several members: their features side by side.
class ConcatenatedEncoder final : public ModalityEncoder {
 public:
  explicit ConcatenatedEncoder(std::vector<std::shared_ptr<const ModalityEncoder>> parts)
      : parts_(std::move(parts)) {
    for (const auto& p : parts_) dim_ += p->dim();
  }
  uint32_t dim() const override { return dim_; }
  void encode(const Event& event, std::span<float> out) const override {
    std::size_t offset = 0;
    for (const auto& p : parts_) {
      p->encode(event, out.subspan(offset, p->dim()));
      offset += p->dim();
    }
  }

 private:
  std::vector<std::shared_ptr<const ModalityEncoder>> parts_;
  uint32_t dim_ = 0;
};

class GroupState final : public ScorerState {
 public:
  std::vector<std::unique_ptr<ScorerState>> members;
  std::shared_ptr<ScorerGroup::ShardRecord> record;
  std::vector<HistoryItem> items;  // history items of a member's view
  // A member's view of the snapshot, rewritten for each member (16 modalities: a kilobyte that
  // value-initialising per tick would clear for nothing).
  std::array<ModalitySnapshot, kMaxModalities> view;
};

}  // namespace

TickRisks::TickRisks(uint32_t columns, std::vector<Tick> ticks, std::vector<double> risks)
    : columns_(columns), ticks_(std::move(ticks)), risks_(std::move(risks)) {}

Result<TickTable> TickRisks::table(const TickTable& like, uint32_t column, uint32_t cleared) const {
  if (column >= columns_) {
    return make_error(Errc::invalid_argument,
                      fmt::format("report: no recorded risks in column {}", column));
  }
  const auto before = [](const Tick& a, const ScoredTick& b) {
    return a.patient != b.patient ? a.patient < b.patient : a.score_time_ms < b.score_time_ms;
  };
  std::vector<ScoredTick> ticks;
  ticks.reserve(like.ticks.size());
  std::size_t j = 0;
  for (const ScoredTick& t : like.ticks) {
    while (j < ticks_.size() && before(ticks_[j], t)) ++j;
    if (j == ticks_.size() || ticks_[j].patient != t.patient ||
        ticks_[j].score_time_ms != t.score_time_ms) {
      return make_error(Errc::invalid_argument,
                        "report: a tick has no recorded risks (tables of different runs)");
    }
    const double risk = risks_[j * columns_ + column];
    if (std::isnan(risk)) continue;
    ScoredTick out = t;
    out.risk = risk;
    out.present_mask &= ~cleared;
    ticks.push_back(out);
  }
  return make_tick_table(std::move(ticks), like.outcome_time_ms, like.horizon_ms,
                         like.tick_cadence_ms);
}

Result<std::shared_ptr<const ScorerGroup>> ScorerGroup::create(
    std::vector<std::shared_ptr<const Scorer>> scorers, const ModalitySchema& schema, bool masked) {
  if (scorers.empty()) return make_error(Errc::invalid_argument, "a scorer group needs a scorer");
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
    if (encoders.size() == 1) {
      merged.encoder = encoders.front();
    } else if (encoders.size() > 1) {
      merged.encoder = std::make_shared<ConcatenatedEncoder>(std::move(encoders));
    }
  }
  return std::make_shared<const ScorerGroup>(std::move(members), std::move(spec), n_mod, masked);
}

ScorerGroup::ScorerGroup(std::vector<Member> members, ScorerSpec spec, std::size_t n_modalities,
                         bool masked)
    : members_(std::move(members)),
      spec_(std::move(spec)),
      n_modalities_(std::min(n_modalities, kMaxModalities)),
      stride_(masked ? static_cast<uint32_t>(1 + n_modalities_) : 1) {
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
  shards_.add(state->record);
  return state;
}

void ScorerGroup::score(const Snapshot& snapshot, ScorerState& state, ScoreOutput& out) const {
  auto& st = static_cast<GroupState&>(state);
  ShardRecord& r = *st.record;
  r.ticks.push_back({snapshot.patient, snapshot.time_ms});
  const std::size_t base = r.risks.size();
  r.risks.resize(base + members_.size() * stride_);
  const std::size_t n = std::min(n_modalities_, snapshot.modalities.size());
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
    double* column = r.risks.data() + base + s * stride_;
    members_[s].scorer->score_risks(member_snapshot, *st.members[s], result,
                                    std::span<double>(column + 1, stride_ - 1));
    column[0] = result.risk;
  }
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
  std::vector<double> risks(total * columns);
  // Shards own disjoint patients, so they write disjoint rows (and counters): side by side.
  tbb::parallel_for(std::size_t{0}, shards.size(), [&](std::size_t k) {
    const ShardRecord& shard = *shards[k];
    for (std::size_t i = 0; i < shard.ticks.size(); ++i) {
      const std::size_t to = start[shard.ticks[i].patient]++;
      ticks[to] = shard.ticks[i];
      std::copy_n(shard.risks.begin() + static_cast<std::ptrdiff_t>(i * columns), columns,
                  risks.begin() + static_cast<std::ptrdiff_t>(to * columns));
    }
  });
  return TickRisks(static_cast<uint32_t>(columns), std::move(ticks), std::move(risks));
}

}  // namespace tfe::report
