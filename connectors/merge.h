#pragma once
// K-way merge of event sources into one stream ordered by (arrival_time, source index, order
// within the source), with a binary heap over one buffered event per source.
//
// Each input is expected in arrival order (histories are written that way); an input that is not
// still merges deterministically, its out-of-order events simply come out late (the pipeline counts
// them). Merged events get a global source_seq (1, 2, 3, ...) in merged order. Dead letters of any
// input pass through as soon as they are met. An error of any input ends the merge with it.

#include <memory>
#include <string>
#include <vector>

#include "connectors/event_source.h"

namespace tfe {

std::unique_ptr<EventSource> merge_sources(std::vector<std::unique_ptr<EventSource>> sources);

}  // namespace tfe
