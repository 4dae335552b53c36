#include "connectors/merge.h"

#include <algorithm>
#include <utility>

namespace tfe {

namespace {

class MergedSource final : public EventSource {
 public:
  explicit MergedSource(std::vector<std::unique_ptr<EventSource>> sources)
      : sources_(std::move(sources)), slots_(sources_.size()) {
    for (std::size_t i = 0; i < sources_.size(); ++i) {
      if (i) name_ += "+";
      name_ += sources_[i]->name();
      to_fill_.push_back(static_cast<uint32_t>(sources_.size() - 1 - i));  // fill in index order
    }
    heap_.reserve(sources_.size());
  }

  Result<SourceItem> next(Event& event, DeadLetter& dead) override {
    if (failed_) return SourceItem::end;
    // Refill the slots of the sources whose event left last time (all of them at first).
    while (!to_fill_.empty()) {
      const uint32_t i = to_fill_.back();
      auto r = sources_[i]->next(slots_[i], dead);
      if (!r) {
        failed_ = true;
        return std::move(r).error();
      }
      if (r.value() == SourceItem::dead_letter) return SourceItem::dead_letter;
      to_fill_.pop_back();
      if (r.value() == SourceItem::event) {
        heap_.push_back(i);
        std::push_heap(heap_.begin(), heap_.end(), later_);
      }
    }
    if (heap_.empty()) return SourceItem::end;
    std::pop_heap(heap_.begin(), heap_.end(), later_);
    const uint32_t i = heap_.back();
    heap_.pop_back();
    std::swap(event, slots_[i]);
    event.source_seq = ++seq_;
    to_fill_.push_back(i);
    return SourceItem::event;
  }

  const std::string& name() const override { return name_; }

  uint64_t unknown_channels() const override {
    uint64_t n = 0;
    for (const auto& s : sources_) n += s->unknown_channels();
    return n;
  }

 private:
  // Heap order: the top is the earliest (arrival_time, source index). Each source has at most one
  // event in the heap, so order within a source is kept by construction.
  struct Later {
    const std::vector<Event>* slots;
    bool operator()(uint32_t a, uint32_t b) const {
      const int64_t ta = (*slots)[a].arrival_time_ms;
      const int64_t tb = (*slots)[b].arrival_time_ms;
      return ta != tb ? ta > tb : a > b;
    }
  };

  std::vector<std::unique_ptr<EventSource>> sources_;
  std::vector<Event> slots_;       // [sources]: the buffered event of each source in the heap
  std::vector<uint32_t> heap_;     // source indices
  std::vector<uint32_t> to_fill_;  // sources whose slot must be refilled (a stack)
  Later later_{&slots_};
  std::string name_;
  uint64_t seq_ = 0;
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<EventSource> merge_sources(std::vector<std::unique_ptr<EventSource>> sources) {
  return std::make_unique<MergedSource>(std::move(sources));
}

}  // namespace tfe
