// The ingest -> state -> scorer pipeline: a reorder buffer, N single-threaded state shards run as
// oneTBB tasks, scoring ticks in engine time, and a canonical-order merge of the shards' scores.
//
// Ordering (the leakage rule): within a shard, events are applied in (arrival_time, source_seq)
// order and a tick at t fires after every event with arrival_time <= t and before any with
// arrival_time > t. Ticks: every active patient on its grid t = k * tick_cadence + phase * step
// (epoch-aligned; step = tick_cadence / tick_phases, phase from the patient's stable hash, so with
// one phase every patient shares the grid), plus, with tick_on_event, a tick at the arrival of each
// non-vitals event (merged with the patient's grid tick when it falls on it). A tick at t fires
// once the released time (clock - allowed lateness) has passed t; finish() fires the ticks at the
// released time itself. A patient becomes active with its first event; a tick at which none of
// its modalities is present emits nothing and evicts it.
//
// Determinism: each patient lives in one shard (patient_hash % shards) and its state depends only
// on its own events, so the scores do not depend on the shard count; each shard emits in (time,
// patient) order and the merge keeps that order.

#include "engine/pipeline.h"

#include <algorithm>
#include <limits>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "engine/patient_state.h"

namespace tfe {
namespace {

constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();
constexpr int64_t kEndOfTime = std::numeric_limits<int64_t>::max();
// Below this much work (events plus patient ticks) one advance runs its shards on the calling
// thread: dispatching tasks would cost more than it saves.
constexpr std::size_t kParallelWork = 2048;
// Prefetch distances (in events or patients) of the two stages of PatientState's cache hints.
constexpr std::size_t kPrefetchHeader = 12;
constexpr std::size_t kPrefetchState = 6;

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// The first grid time >= t.
int64_t grid_at_or_after(int64_t t, int64_t step_ms) {
  if (t == kNoTime) return kNoTime;
  const int64_t k = floor_div(t, step_ms);
  return k * step_ms == t ? t : (k + 1) * step_ms;
}

bool arrives_before(const Event& a, const Event& b) {
  return a.arrival_time_ms != b.arrival_time_ms ? a.arrival_time_ms < b.arrival_time_ms
                                                : a.source_seq < b.source_seq;
}

struct EventTick {
  int64_t time_ms;
  PatientIndex patient;
};

struct MergeCursor {
  int64_t time_ms;       // of the shard's next record
  PatientIndex patient;  // of the shard's next record
  uint32_t shard;
  std::size_t next;  // index of that record in the shard's output
};

// One shard: the state of the patients routed to it, their tick schedule and the scorer's
// per-shard state. Only ever used by one thread at a time.
class Shard {
  // The active patients of one phase.
  struct PhaseList {
    std::vector<PatientIndex> active;   // ascending
    std::vector<PatientIndex> joining;  // activated below active.back(), merged before a tick
  };

 public:
  Shard(const EngineConfig& config, const StateLayout& layout, const Scorer& scorer,
        const PatientRegistry& registry)
      : layout_(layout),
        scorer_(scorer),
        registry_(registry),
        scorer_state_(scorer.make_state()),
        scratch_(layout),
        phases_(config.tick_phases),
        step_ms_(config.tick_cadence_ms / config.tick_phases),
        tick_on_event_(config.tick_on_event),
        phase_lists_(config.tick_phases) {}

  // Applies events (all, or those at `selection` indices), in arrival order, and fires the
  // ticks with time < tick_end in between. Events arriving before `fired_until` (late ones) get no
  // tick of their own. Scores go to out() (cleared first).
  void run(std::span<const Event> events, const std::vector<uint32_t>* selection, int64_t tick_end,
           int64_t fired_until, bool emitting) {
    out_count_ = 0;
    emitting_ = emitting;
    const std::size_t n = selection ? selection->size() : events.size();
    auto at = [&](std::size_t i) -> const Event& {
      return selection ? events[(*selection)[i]] : events[i];
    };
    // Patient state is cold in cache by the time its next event comes: fetch it ahead.
    auto prefetch = [&](std::size_t j) {
      if (j + kPrefetchHeader < n) prefetch_header(at(j + kPrefetchHeader));
      if (j + kPrefetchState < n) prefetch_state(at(j + kPrefetchState));
    };
    std::size_t i = 0;
    for (;;) {
      const int64_t arrival = i < n ? at(i).arrival_time_ms : kEndOfTime;
      fire_ticks_before(std::min(arrival, tick_end));
      if (i == n) break;
      const bool was_idle = idle();
      for (; i < n && at(i).arrival_time_ms == arrival; ++i) {
        prefetch(i);
        apply(at(i), fired_until);
      }
      if (was_idle && !idle()) {
        next_grid_ms_ = grid_at_or_after(std::max(arrival, fired_until), step_ms_);
      }
    }
  }

  // After finish(): ticks before `fired_until` never fire.
  void skip_ticks_before(int64_t fired_until) {
    while (pending_head_ < pending_.size() && pending_[pending_head_].time_ms < fired_until) {
      ++pending_head_;
    }
    compact_pending();
    if (!idle()) {
      next_grid_ms_ = std::max(next_grid_ms_, grid_at_or_after(fired_until, step_ms_));
    }
  }

  // Rough count of work for run(): decides whether to dispatch shards in parallel.
  std::size_t tick_work(int64_t tick_end) const {
    std::size_t work = pending_.size() - pending_head_;
    if (!idle() && tick_end > next_grid_ms_) {
      const int64_t steps = (tick_end - next_grid_ms_ + step_ms_ - 1) / step_ms_;
      work += active() * static_cast<std::size_t>(std::min<int64_t>(steps, 1 << 20)) / phases_;
    }
    return work;
  }

  std::span<const ScoreRecord> out() const { return {out_.data(), out_count_}; }
  uint64_t events_applied() const { return events_applied_; }
  uint64_t outcome_events() const { return outcome_events_; }
  uint64_t ticks() const { return ticks_; }
  uint64_t evicted() const { return evicted_; }
  std::size_t active() const { return active_count_; }

  std::size_t state_bytes() const {
    std::size_t bytes = states_.capacity() * sizeof(PatientState);
    for (const PhaseList& list : phase_lists_) {
      bytes += (list.active.capacity() + list.joining.capacity()) * sizeof(PatientIndex);
      for (PatientIndex p : list.active) bytes += states_[p].state_bytes(layout_);
      for (PatientIndex p : list.joining) bytes += states_[p].state_bytes(layout_);
    }
    return bytes;
  }

 private:
  void apply(const Event& event, int64_t fired_until) {
    if (event.modality == kOutcomeModality) {
      ++outcome_events_;  // labels, never state
      return;
    }
    if (event.modality >= layout_.size()) return;  // decoders only emit configured modalities
    const PatientIndex p = event.patient;
    if (p >= states_.size()) states_.resize(std::size_t{p} + 1);
    PatientState& state = states_[p];
    if (!state.active()) {
      state = PatientState(layout_);
      ++active_count_;
      // New patients mostly have the highest index yet (ids are interned in arrival order).
      PhaseList& list = phase_lists_[phase_of_patient(p)];
      if (list.active.empty() || p > list.active.back()) {
        list.active.push_back(p);
      } else {
        list.joining.push_back(p);
      }
    }
    state.apply(layout_, event);
    ++events_applied_;
    const int64_t a = event.arrival_time_ms;
    if (tick_on_event_ && layout_[event.modality].kind != ModalityKind::vitals &&
        a >= fired_until && !on_own_grid(p, a)) {
      pending_.push_back(EventTick{a, p});  // arrivals come in order: pending_ stays sorted by time
    }
  }

  void fire_ticks_before(int64_t limit) {
    for (;;) {
      const int64_t grid = idle() ? kEndOfTime : next_grid_ms_;
      const int64_t event =
          pending_head_ < pending_.size() ? pending_[pending_head_].time_ms : kEndOfTime;
      const int64_t t = std::min(grid, event);
      if (t >= limit) break;
      fire_at(t, grid == t);
      if (grid == t) next_grid_ms_ = grid + step_ms_;
    }
    compact_pending();
  }

  // Scores, in patient order, the patients whose grid tick falls on t (when on_grid) and those
  // with an event tick at t; evicts those with nothing present. The two sets are disjoint: an
  // event on its patient's own grid never becomes an event tick.
  void fire_at(int64_t t, bool on_grid) {
    std::size_t end = pending_head_;
    while (end < pending_.size() && pending_[end].time_ms == t) ++end;
    const auto first = pending_.begin() + static_cast<std::ptrdiff_t>(pending_head_);
    const auto last = pending_.begin() + static_cast<std::ptrdiff_t>(end);
    std::sort(first, last,
              [](const EventTick& a, const EventTick& b) { return a.patient < b.patient; });
    pending_head_ = end;

    PhaseList* list = on_grid ? &phase_lists_[phase_at(t)] : nullptr;
    if (list) {
      merge_joining(*list);
      prefetch_following_steps(t);
    }
    PatientIndex* grid = list ? list->active.data() : nullptr;
    const std::size_t n = list ? list->active.size() : 0;
    std::size_t keep = 0;
    auto event = first;
    for (std::size_t k = 0; k < n || event != last;) {
      if (event == last || (k < n && grid[k] < event->patient)) {
        if (k + kPrefetchHeader < n) states_[grid[k + kPrefetchHeader]].prefetch_header(layout_);
        if (k + kPrefetchState < n) {
          states_[grid[k + kPrefetchState]].prefetch_state(layout_, PatientState::kAllModalities);
        }
        const PatientIndex p = grid[k++];
        if (tick(p, t)) {
          grid[keep++] = p;
        } else {
          evict(p);
        }
        continue;
      }
      const PatientIndex p = (event++)->patient;
      while (event != last && event->patient == p) ++event;  // one tick per patient and time
      if (!states_[p].active()) continue;
      if (!tick(p, t)) {
        evict(p);
        PhaseList& own = phase_lists_[phase_of_patient(p)];
        merge_joining(own);
        own.active.erase(std::lower_bound(own.active.begin(), own.active.end(), p));
      }
    }
    if (list) list->active.resize(keep);
  }

  // The prefetch in fire_at runs ahead within one step's patients. With many phases a step holds
  // a handful of them (3,000 phases, 10,000 patients: about 3), so it never gets ahead and every
  // tick waits for memory: fetch the first patients of the next steps while this one is scored,
  // in the same two stages (a header two steps ahead, the state it points to one step ahead).
  void prefetch_following_steps(int64_t t) const {
    if (phases_ == 1) return;
    const std::vector<PatientIndex>& next = phase_lists_[phase_at(t + step_ms_)].active;
    for (std::size_t k = 0; k < std::min(next.size(), kPrefetchState); ++k) {
      states_[next[k]].prefetch_state(layout_, PatientState::kAllModalities);
    }
    const std::vector<PatientIndex>& after = phase_lists_[phase_at(t + 2 * step_ms_)].active;
    for (std::size_t k = 0; k < std::min(after.size(), kPrefetchHeader); ++k) {
      states_[after[k]].prefetch_header(layout_);
    }
  }

  void evict(PatientIndex p) {
    states_[p].reset();
    --active_count_;
    ++evicted_;
  }

  // The patient's phase: which step of the cadence its grid ticks fall on.
  uint32_t phase_of_patient(PatientIndex p) const {
    // The high half of the hash: shard routing uses the low bits.
    return phases_ == 1 ? 0 : static_cast<uint32_t>((registry_.hash(p) >> 32) % phases_);
  }
  // The phase whose grid ticks fall on step time t.
  uint32_t phase_at(int64_t t) const {
    const int64_t phase = floor_div(t, step_ms_) % static_cast<int64_t>(phases_);
    return static_cast<uint32_t>(phase < 0 ? phase + phases_ : phase);
  }
  bool on_own_grid(PatientIndex p, int64_t t) const {
    return grid_at_or_after(t, step_ms_) == t && phase_at(t) == phase_of_patient(p);
  }

  void prefetch_header(const Event& e) const {
    if (e.patient < states_.size()) states_[e.patient].prefetch_header(layout_);
  }
  void prefetch_state(const Event& e) const {
    if (e.patient < states_.size() && e.modality < layout_.size()) {
      states_[e.patient].prefetch_state(layout_, e.modality);
    }
  }

  bool idle() const { return active_count_ == 0; }

  // Returning patients (an index below the newest active one of their phase) join its sorted
  // list in one merge before its next tick instead of one insertion each.
  static void merge_joining(PhaseList& list) {
    if (list.joining.empty()) return;
    std::sort(list.joining.begin(), list.joining.end());
    const auto middle = static_cast<std::ptrdiff_t>(list.active.size());
    list.active.insert(list.active.end(), list.joining.begin(), list.joining.end());
    std::inplace_merge(list.active.begin(), list.active.begin() + middle, list.active.end());
    list.joining.clear();
  }

  void compact_pending() {
    if (pending_head_ == pending_.size()) {
      pending_.clear();
      pending_head_ = 0;
    }
  }

  // One scoring tick. Returns false when nothing is present (the caller evicts).
  bool tick(PatientIndex p, int64_t t) {
    const std::size_t present = states_[p].snapshot(layout_, p, t, scratch_);
    if (present == 0) return false;
    const Snapshot& snapshot = scratch_.snapshot();
    ScoreOutput result;
    scorer_.score(snapshot, *scorer_state_, result);
    ++ticks_;
    if (emitting_) {
      // Slots are reused: a tick writes only the schema's modalities, the rest stay zero.
      if (out_count_ == out_.size()) out_.emplace_back();
      ScoreRecord& record = out_[out_count_++];
      record.patient = p;
      record.score_time_ms = t;
      record.risk = result.risk;
      record.logit = result.logit;
      for (std::size_t m = 0; m < snapshot.modalities.size(); ++m) {
        const ModalitySnapshot& ms = snapshot.modalities[m];
        ModalityScoreInfo& info = record.modalities[m];
        info.age_ms = ms.age_ms;
        info.weight = result.weight[m];
        info.present = ms.present;
      }
    }
    return true;
  }

  const StateLayout& layout_;
  const Scorer& scorer_;
  const PatientRegistry& registry_;
  std::unique_ptr<ScorerState> scorer_state_;
  SnapshotScratch scratch_;
  const uint32_t phases_;
  const int64_t step_ms_;  // tick_cadence / tick_phases
  const bool tick_on_event_;
  bool emitting_ = true;

  std::vector<PatientState> states_;    // [PatientIndex]; inactive where not routed here
  std::vector<PhaseList> phase_lists_;  // [phase]
  std::size_t active_count_ = 0;
  int64_t next_grid_ms_ = kNoTime;  // next grid step, meaningful while a patient is active
  std::vector<EventTick> pending_;  // event ticks not yet fired, by time
  std::size_t pending_head_ = 0;
  std::vector<ScoreRecord> out_;  // [out_count_] this run's scores, then reusable slots
  std::size_t out_count_ = 0;

  uint64_t events_applied_ = 0;
  uint64_t outcome_events_ = 0;
  uint64_t ticks_ = 0;
  uint64_t evicted_ = 0;
};

StateLayout make_layout(const EngineConfig& config, const Scorer& scorer) {
  if (config.tick_cadence_ms <= 0) throw std::invalid_argument("tick cadence must be > 0");
  if (config.tick_phases == 0 || config.tick_cadence_ms % config.tick_phases != 0) {
    throw std::invalid_argument("tick phases must divide the tick cadence");
  }
  if (config.shards == 0) throw std::invalid_argument("shard count must be > 0");
  auto layout = StateLayout::make(config, scorer.spec());
  if (!layout) throw std::invalid_argument(layout.error().message);
  return std::move(layout).value();
}

}  // namespace

struct Pipeline::Impl {
  Impl(EngineConfig config_in, std::shared_ptr<const Scorer> scorer_in,
       const PatientRegistry& registry_in, ScoreSink& sink_in)
      : config(std::move(config_in)),
        scorer(std::move(scorer_in)),
        registry(registry_in),
        sink(sink_in),
        layout(make_layout(config, *scorer)) {
    for (uint32_t s = 0; s < config.shards; ++s) {
      shards.push_back(std::make_unique<Shard>(config, layout, *scorer, registry));
    }
    selections.resize(config.shards);
  }

  // Applies the buffered events with arrival <= release_bound and fires ticks < tick_end.
  void process(int64_t release_bound, int64_t tick_end) {
    auto first = buffer.begin() + static_cast<std::ptrdiff_t>(head);
    if (!sorted) {
      std::stable_sort(first, buffer.end(), arrives_before);
      sorted = true;
    }
    const auto last = std::partition_point(
        first, buffer.end(), [&](const Event& e) { return e.arrival_time_ms <= release_bound; });
    const std::span<const Event> released(buffer.data() + head,
                                          static_cast<std::size_t>(last - first));
    if (!released.empty())
      max_applied_arrival = std::max(max_applied_arrival, released.back().arrival_time_ms);

    if (shards.size() == 1) {
      shards[0]->run(released, nullptr, tick_end, fired_until, emitting);
      emit(shards[0]->out());
    } else {
      for (auto& selection : selections) selection.clear();
      for (std::size_t i = 0; i < released.size(); ++i) {
        const uint64_t h = registry.hash(released[i].patient);
        selections[h % shards.size()].push_back(static_cast<uint32_t>(i));
      }
      std::size_t work = released.size();
      for (const auto& shard : shards) work += shard->tick_work(tick_end);
      auto run_shard = [&](std::size_t s) {
        shards[s]->run(released, &selections[s], tick_end, fired_until, emitting);
      };
      if (work >= kParallelWork) {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, shards.size(), 1),
                          [&](const tbb::blocked_range<std::size_t>& range) {
                            for (std::size_t s = range.begin(); s != range.end(); ++s) run_shard(s);
                          });
      } else {
        for (std::size_t s = 0; s < shards.size(); ++s) run_shard(s);
      }
      merge_and_emit();
    }

    head += released.size();
    if (head == buffer.size()) {
      buffer.clear();
      head = 0;
    } else if (head * 2 >= buffer.size()) {
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(head));
      head = 0;
    }
  }

  // Applies the events that arrived by `bound` and fires the ticks up to it.
  void release(int64_t bound) {
    released = bound;
    process(bound, bound);
    fired_until = std::max(fired_until, bound);
  }

  // K-way merge of the shards' (time, patient)-ordered outputs.
  void merge_and_emit() {
    merged.clear();
    auto later = [](const MergeCursor& x, const MergeCursor& y) {
      return x.time_ms != y.time_ms ? x.time_ms > y.time_ms : x.patient > y.patient;
    };
    heap.clear();
    for (uint32_t s = 0; s < shards.size(); ++s) {
      const auto out = shards[s]->out();
      if (!out.empty()) heap.push_back({out[0].score_time_ms, out[0].patient, s, 0});
    }
    std::make_heap(heap.begin(), heap.end(), later);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      MergeCursor& c = heap.back();
      const auto out = shards[c.shard]->out();
      merged.push_back(out[c.next]);
      if (++c.next < out.size()) {
        c.time_ms = out[c.next].score_time_ms;
        c.patient = out[c.next].patient;
        std::push_heap(heap.begin(), heap.end(), later);
      } else {
        heap.pop_back();
      }
    }
    emit(merged);
  }

  // Before buffering `event`: counts it late if it arrives behind the fired ticks, and notes
  // whether it breaks the buffer's (arrival, seq) order. The comparison is with the largest key
  // buffered so far, not the last one pushed: after 100, 50 and an advance to 60 the buffer holds
  // 100, and a push of 70 breaks its order although 70 follows 50.
  void note_order(const Event& event) {
    if (fired_until != kNoTime && event.arrival_time_ms < fired_until) ++late_events;
    if (have_last && (event.arrival_time_ms < last_arrival ||
                      (event.arrival_time_ms == last_arrival && event.source_seq < last_seq))) {
      sorted = false;
      return;
    }
    have_last = true;
    last_arrival = event.arrival_time_ms;
    last_seq = event.source_seq;
  }

  void emit(std::span<const ScoreRecord> scores) {
    if (!emitting || scores.empty()) return;
    sink.emit(scores);
    scores_emitted += scores.size();
  }

  EngineConfig config;
  std::shared_ptr<const Scorer> scorer;
  const PatientRegistry& registry;
  ScoreSink& sink;
  StateLayout layout;
  std::vector<std::unique_ptr<Shard>> shards;
  std::vector<std::vector<uint32_t>> selections;  // [shard] indices into the released events
  std::vector<ScoreRecord> merged;
  std::vector<MergeCursor> heap;

  std::vector<Event> buffer;  // pending events from index `head` on
  std::size_t head = 0;
  bool sorted = true;      // buffer[head..] in (arrival, seq) order
  bool have_last = false;  // last_arrival/last_seq: the largest key pushed
  int64_t last_arrival = 0;
  uint64_t last_seq = 0;

  int64_t released = kNoTime;     // released time: clock - allowed lateness
  int64_t last_clock = kNoTime;   // the newest clock given to advance()
  int64_t fired_until = kNoTime;  // every tick before this time has fired (or never will)
  int64_t max_applied_arrival = kNoTime;
  bool emitting = true;
  uint64_t late_events = 0;
  uint64_t scores_emitted = 0;
};

Pipeline::Pipeline(EngineConfig config, std::shared_ptr<const Scorer> scorer,
                   const PatientRegistry& registry, ScoreSink& sink)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(scorer), registry, sink)) {}

Pipeline::~Pipeline() = default;

void Pipeline::push(const Event& event) {
  impl_->note_order(event);
  impl_->buffer.push_back(event);
}

void Pipeline::push(Event&& event) {
  impl_->note_order(event);
  impl_->buffer.push_back(std::move(event));
}

void Pipeline::advance(int64_t clock_ms) {
  Impl& impl = *impl_;
  impl.last_clock = std::max(impl.last_clock, clock_ms);
  const int64_t lateness = impl.config.allowed_lateness_ms;
  int64_t bound = clock_ms < kNoTime + lateness ? kNoTime : clock_ms - lateness;
  if (impl.released != kNoTime) bound = std::max(bound, impl.released);
  impl.release(bound);
}

void Pipeline::finish() {
  Impl& impl = *impl_;
  // The end of a finite history: nothing more can arrive, so the allowed lateness has nothing left
  // to wait for, and the ticks it held back (up to the last clock) fire now.
  if (impl.last_clock != kNoTime && impl.last_clock > impl.released) impl.release(impl.last_clock);
  // Ticks at the released time itself fire now (nothing more can arrive before them); events
  // beyond it are applied without ticks.
  const int64_t tick_end = impl.released == kNoTime ? kNoTime : impl.released + 1;
  impl.process(kEndOfTime, tick_end);
  int64_t fired = std::max(impl.fired_until, tick_end);
  if (impl.max_applied_arrival != kNoTime) fired = std::max(fired, impl.max_applied_arrival + 1);
  impl.fired_until = fired;
  if (fired != kNoTime) {
    for (auto& shard : impl.shards) shard->skip_ticks_before(fired);
  }
}

void Pipeline::set_emitting(bool emitting) { impl_->emitting = emitting; }

PipelineStats Pipeline::stats(bool with_state_bytes) const {
  const Impl& impl = *impl_;
  PipelineStats stats;
  for (const auto& shard : impl.shards) {
    stats.events_applied += shard->events_applied();
    stats.outcome_events += shard->outcome_events();
    stats.ticks += shard->ticks();
    stats.patients_evicted += shard->evicted();
    stats.active_patients += shard->active();
    if (with_state_bytes) stats.state_bytes += shard->state_bytes();
  }
  stats.late_events = impl.late_events;
  stats.scores_emitted = impl.scores_emitted;
  stats.clock_ms = impl.released == kNoTime ? 0 : impl.released;
  return stats;
}

}  // namespace tfe
