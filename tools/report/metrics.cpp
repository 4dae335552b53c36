#include "tools/report/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

namespace tfe::report {
namespace {

// ---- validation and ordering
// ----------------------------------------------------------------------

Result<void> validate(std::span<const TickKey> keys, std::span<const double> risk,
                      uint32_t n_patients, int64_t horizon_ms, int64_t tick_cadence_ms) {
  if (n_patients >= kMaxPatients) {
    return make_error(Errc::invalid_argument,
                      "report: too many patients (" + std::to_string(n_patients) + ")");
  }
  if (horizon_ms <= 0) return make_error(Errc::invalid_argument, "report: horizon must be > 0");
  if (tick_cadence_ms <= 0) {
    return make_error(Errc::invalid_argument, "report: tick cadence must be > 0");
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const TickKey& t = keys[i];
    if (t.patient >= n_patients) {
      return make_error(Errc::invalid_argument,
                        "report: tick " + std::to_string(i) + " has patient index " +
                            std::to_string(t.patient) + " >= " + std::to_string(n_patients));
    }
    if (!(risk[i] >= 0.0 && risk[i] <= 1.0)) {
      // Its time and value lead to the scorer's fault; the index alone was internal.
      return make_error(Errc::invalid_argument,
                        fmt::format("report: the score at {} ms (tick {}) has a risk of {} "
                                    "outside [0, 1]; the scorer is at fault",
                                    t.score_time_ms, i, risk[i]));
    }
  }
  return ok();
}

// Orders ticks by (patient, score_time), keeping the input order of equal pairs. A stable counting
// sort by patient, then each patient's slice by time where it is not already in order: O(n) for
// the usual input, which arrives in time order (the engine emits by score time, then patient).
void sort_by_patient_time(std::vector<TickKey>& keys, std::vector<double>& risk,
                          uint32_t n_patients) {
  const auto by_patient_time = [](const TickKey& a, const TickKey& b) {
    return a.patient != b.patient ? a.patient < b.patient : a.score_time_ms < b.score_time_ms;
  };
  if (std::is_sorted(keys.begin(), keys.end(), by_patient_time)) return;
  std::vector<std::size_t> start(static_cast<std::size_t>(n_patients) + 1, 0);
  for (const TickKey& t : keys) ++start[t.patient + 1];
  for (std::size_t p = 1; p < start.size(); ++p) start[p] += start[p - 1];
  std::vector<std::size_t> order(keys.size());
  std::vector<std::size_t> next(start.begin(), start.end() - 1);
  for (std::size_t i = 0; i < keys.size(); ++i) order[next[keys[i].patient]++] = i;
  const auto by_time = [&](std::size_t a, std::size_t b) {
    return keys[a].score_time_ms < keys[b].score_time_ms;
  };
  for (std::size_t p = 0; p + 1 < start.size(); ++p) {
    const auto first = order.begin() + static_cast<std::ptrdiff_t>(start[p]);
    const auto last = order.begin() + static_cast<std::ptrdiff_t>(start[p + 1]);
    if (!std::is_sorted(first, last, by_time)) std::stable_sort(first, last, by_time);
  }
  std::vector<TickKey> sorted_keys(keys.size());
  for (std::size_t i = 0; i < order.size(); ++i) sorted_keys[i] = keys[order[i]];
  keys.swap(sorted_keys);
  sorted_keys = {};
  std::vector<double> sorted_risk(risk.size());
  for (std::size_t i = 0; i < order.size(); ++i) sorted_risk[i] = risk[order[i]];
  risk.swap(sorted_risk);
}

// Keys and risks of ScoredTicks; the ticks are freed on the way out.
std::pair<std::vector<TickKey>, std::vector<double>> split_ticks(std::vector<ScoredTick> ticks) {
  std::vector<TickKey> keys(ticks.size());
  std::vector<double> risk(ticks.size());
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const ScoredTick& t = ticks[i];
    keys[i] = {t.patient, t.present_mask, t.label, t.score_time_ms};
    risk[i] = t.risk;
  }
  return {std::move(keys), std::move(risk)};
}

TickTable table_of(std::vector<TickKey> keys, std::vector<double> risk,
                   std::vector<int64_t> outcome_time_ms, int64_t horizon_ms,
                   int64_t tick_cadence_ms) {
  TickTable table;
  table.keys = std::make_shared<const std::vector<TickKey>>(std::move(keys));
  table.risk = std::move(risk);
  table.outcome_time_ms = std::move(outcome_time_ms);
  table.horizon_ms = horizon_ms;
  table.tick_cadence_ms = tick_cadence_ms;
  return table;
}

// ---- ranking
// ------------------------------------------------------------------------------------------ Ticks
// are ranked by descending risk, ties by ascending tick index (so the order is fully determined),
// with an LSD radix sort: O(n) and sequential in memory, several times faster than a comparison
// sort at millions of ticks. Each record carries what the ranked walk needs, so nothing is gathered
// afterwards.

struct RankRecord {
  uint64_t key = 0;      // ascending key = descending risk; equal keys = equal risks
  uint32_t payload = 0;  // patient << 2 | label << 1
  uint32_t group = 0;    // subgroup index
};

uint64_t rank_key(double risk) {
  const double v = risk == 0 ? 0.0 : risk;  // -0 ranks (and ties) with +0
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  // Ascending for every double: flip all bits of negatives, the sign bit of the rest; then
  // complement, so that ascending keys are descending risks.
  bits = (bits >> 63) != 0 ? ~bits : bits | (uint64_t{1} << 63);
  return ~bits;
}

double risk_of_key(uint64_t key) {
  uint64_t bits = ~key;
  bits = (bits >> 63) != 0 ? bits & ~(uint64_t{1} << 63) : ~bits;
  double v = 0;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// Stable sort by key: six passes of 11-bit digits, skipping digits that every key shares.
void radix_sort(std::vector<RankRecord>& records) {
  constexpr int kBits = 11;
  constexpr int kPasses = 6;
  constexpr std::size_t kBuckets = std::size_t{1} << kBits;
  const std::size_t n = records.size();
  if (n < 2) return;
  std::vector<std::size_t> count(kPasses * kBuckets, 0);
  for (const RankRecord& r : records) {
    for (int p = 0; p < kPasses; ++p)
      ++count[p * kBuckets + ((r.key >> (p * kBits)) & (kBuckets - 1))];
  }
  std::vector<RankRecord> tmp(n);
  for (int p = 0; p < kPasses; ++p) {
    std::size_t* c = &count[p * kBuckets];
    const int shift = p * kBits;
    if (c[(records[0].key >> shift) & (kBuckets - 1)] == n) continue;  // one digit: no change
    std::size_t sum = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) sum += std::exchange(c[b], sum);
    for (const RankRecord& r : records) tmp[c[(r.key >> shift) & (kBuckets - 1)]++] = r;
    records.swap(tmp);
  }
}

// A ranked tick set is one word per tick in descending risk order:
//   patient << 2 | label << 1 | (1 if the next tick has a different risk: the end of a tie group).
// One walk computes AUROC and average precision for any patient weights.
struct RankedSet {
  std::vector<uint32_t> packed;
};

// The ranked sets of all records ([n_groups]) and of each group g < n_groups ([g]), from records
// sorted by key. A group's tie groups are the global ones restricted to it.
std::vector<RankedSet> split_ranked(const std::vector<RankRecord>& sorted, std::size_t n_groups) {
  std::vector<RankedSet> sets(n_groups + 1);
  RankedSet& all = sets[n_groups];
  all.packed.reserve(sorted.size());
  std::vector<uint64_t> last_key(n_groups, 0);
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const RankRecord& r = sorted[i];
    const bool ends = i + 1 == sorted.size() || sorted[i + 1].key != r.key;
    all.packed.push_back(r.payload | (ends ? 1u : 0u));
    if (n_groups == 0) continue;
    RankedSet& g = sets[r.group];
    if (!g.packed.empty() && last_key[r.group] != r.key) g.packed.back() |= 1u;
    g.packed.push_back(r.payload);
    last_key[r.group] = r.key;
  }
  for (std::size_t g = 0; g < n_groups; ++g) {
    if (!sets[g].packed.empty()) sets[g].packed.back() |= 1u;
  }
  return sets;
}

struct Ranked {
  double auroc = kNaN;
  double auprc = kNaN;
};

// ---- the weighted walk
// ---------------------------------------------------------------------------------- One walk over
// a ranked set computes AUROC and average precision with every tick weighted by its patient's
// weight: 1 for the point estimates, the patient's multiplicity in a bootstrap replicate. kLanes
// weightings (replicates) share one walk: the ranked word is read once and each patient's kLanes
// weights sit side by side ([patient][lane]). A multiplicity never exceeds the number of patients
// drawn, so with at most 65,535 of them 16 bits are exact (10,000 patients x 8 lanes: 160 KB,
// inside L2); 32-bit counters suffice while every weighted total stays below 2^31.
//
// Per tick, the weight goes to the positives of the current tie group or to the negatives seen so
// far. AUROC counts pairs from the positives' side, so that the multiply happens only at tie
// groups holding positives (a few percent of ticks), not at every negative:
//   2 * concordant + tied = 2 P N - sum over groups g with positives of
//                           gp_g * (fp before g + fp through g)
// since a positive of g outranks every negative below g and ties the negatives of g. Average
// precision adds gp_g * precision(g) over the same groups and divides by P.

constexpr std::size_t kLanes = 8;

struct ReplicateBlock {
  std::vector<uint16_t> narrow;  // [n_patients][kLanes] when every multiplicity fits in 16 bits
  std::vector<uint32_t> wide;    // [n_patients][kLanes] otherwise
  uint32_t max_multiplicity = 0;
};

// What a walk adds up at the ends of tie groups holding positives, per lane.
struct GroupTotals {
  uint64_t tp[kLanes] = {};                    // weighted positives through the previous group
  unsigned __int128 discordant2[kLanes] = {};  // the subtracted sum above
  double ap[kLanes] = {};                      // sum of gp_g * precision(g)

  // Closes a group with gp positives, fp negatives so far and fp_start before it. Out of line, so
  // that the walk keeps its lane vectors in registers.
  template <class Acc>
  [[gnu::noinline]] void close(const std::array<Acc, kLanes>& gp, const std::array<Acc, kLanes>& fp,
                               const std::array<Acc, kLanes>& fp_start) {
    for (std::size_t l = 0; l < kLanes; ++l) {
      if (gp[l] == 0) continue;
      discordant2[l] +=
          static_cast<unsigned __int128>(gp[l]) * (static_cast<uint64_t>(fp_start[l]) + fp[l]);
      tp[l] += gp[l];
      ap[l] += static_cast<double>(gp[l]) * static_cast<double>(tp[l]) /
               static_cast<double>(tp[l] + fp[l]);
    }
  }
  uint64_t positives(std::size_t l) const { return tp[l]; }
  unsigned __int128 discordant(std::size_t l) const { return discordant2[l]; }
};

// GroupTotals for walks whose weighted totals stay below 2^31 (32-bit lane counters): then
// tp + fp fits 31 bits and the discordant sum, at most 2 P N, fits 64, so the close is one
// branch-free pass the compiler vectorises. A lane without positives in the group adds
// 0 * tp / max(tp + fp, 1) = +0.0 and zeros, so every total is the same as GroupTotals' bit for
// bit.
struct NarrowGroupTotals {
  uint32_t tp[kLanes] = {};
  uint64_t discordant2[kLanes] = {};
  double ap[kLanes] = {};

  [[gnu::noinline]] void close(const std::array<uint32_t, kLanes>& gp,
                               const std::array<uint32_t, kLanes>& fp,
                               const std::array<uint32_t, kLanes>& fp_start) {
    for (std::size_t l = 0; l < kLanes; ++l) {
      discordant2[l] += static_cast<uint64_t>(gp[l]) * (uint64_t{fp_start[l]} + fp[l]);
      tp[l] += gp[l];
      uint32_t seen = tp[l] + fp[l];
      seen += seen == 0 ? 1u : 0u;
      // Below 2^31: exact through int32, which converts to double in vector registers.
      ap[l] += static_cast<double>(static_cast<int32_t>(gp[l])) *
               static_cast<double>(static_cast<int32_t>(tp[l])) /
               static_cast<double>(static_cast<int32_t>(seen));
    }
  }
  uint64_t positives(std::size_t l) const { return tp[l]; }
  unsigned __int128 discordant(std::size_t l) const { return discordant2[l]; }
};

// The lanes of a walk's running totals as vectors of kBytes (GCC/Clang vector extensions: 16-byte
// ones are SSE2 registers on every x86-64 target, 32-byte ones AVX2 registers in a function built
// for AVX2): a tick costs one load, a widening and an add per vector instead of kLanes scalar
// adds. Integer lanes: the totals are exact on any target.
template <class Weight, class Acc, std::size_t kBytes = 16>
struct LaneVectors {
  static constexpr std::size_t kPerVector = kBytes / sizeof(Acc);
  static constexpr std::size_t kVectors = kLanes / kPerVector;
  typedef Acc Totals __attribute__((vector_size(kBytes)));
  typedef Weight Weights __attribute__((vector_size(kPerVector * sizeof(Weight))));

  static_assert(kLanes % kPerVector == 0 && sizeof(Totals) * kVectors == sizeof(Acc) * kLanes);

  Totals v[kVectors] = {};

  void add(const Weight* wt) {
    for (std::size_t k = 0; k < kVectors; ++k) {
      Weights w;
      std::memcpy(&w, wt + k * kPerVector, sizeof w);
      v[k] += __builtin_convertvector(w, Totals);
    }
  }
  std::array<Acc, kLanes> lanes() const {
    std::array<Acc, kLanes> out;
    std::memcpy(out.data(), v, sizeof out);
    return out;
  }
};

// Inlined into each caller, so that the loop is built for the caller's target (narrow_walk_avx2).
template <class Weight, class Acc, std::size_t kBytes = 16>
[[gnu::always_inline]] inline std::array<Ranked, kLanes> lanes_walk(const RankedSet& set,
                                                                    const Weight* weights) {
  using Lanes = LaneVectors<Weight, Acc, kBytes>;
  Lanes gp;        // weighted positives of the current tie group
  Lanes fp;        // weighted negatives so far (including the current group's)
  Lanes fp_start;  // weighted negatives before the current group
  std::conditional_t<std::is_same_v<Acc, uint32_t>, NarrowGroupTotals, GroupTotals> totals;
  bool any_positive = false;  // some lane has positives in the current group
  for (const uint32_t w : set.packed) {
    const Weight* wt = weights + static_cast<std::size_t>(w >> 2) * kLanes;
    if (w & 2u) {
      gp.add(wt);
      any_positive = true;
    } else {
      fp.add(wt);
    }
    if (w & 1u) {
      if (any_positive) {
        totals.close(gp.lanes(), fp.lanes(), fp_start.lanes());
        gp = Lanes{};
        any_positive = false;
      }
      fp_start = fp;
    }
  }
  const std::array<Acc, kLanes> negatives = fp.lanes();
  std::array<Ranked, kLanes> out;
  for (std::size_t l = 0; l < kLanes; ++l) {
    const uint64_t neg = negatives[l];
    const uint64_t tp = totals.positives(l);
    if (tp > 0 && neg > 0) {
      const unsigned __int128 pairs2 =
          2 * static_cast<unsigned __int128>(tp) * neg - totals.discordant(l);
      out[l].auroc =
          static_cast<double>(pairs2) / (2.0 * static_cast<double>(tp) * static_cast<double>(neg));
    }
    if (tp > 0) out[l].auprc = totals.ap[l] / static_cast<double>(tp);
  }
  return out;
}

// The walk every replicate takes by default (16-bit weights, 32-bit totals): with AVX2, each
// tick's eight weights widen into one register and add in one instruction, where SSE2 spends
// several shuffles widening them into two (a paired stress comparison about a tenth faster).
// The same integer sums, so the same results on every host.
std::array<Ranked, kLanes> narrow_walk_portable(const RankedSet& set, const uint16_t* weights) {
  return lanes_walk<uint16_t, uint32_t>(set, weights);
}
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) std::array<Ranked, kLanes> narrow_walk_avx2(
    const RankedSet& set, const uint16_t* weights) {
  return lanes_walk<uint16_t, uint32_t, 32>(set, weights);
}
#endif
std::array<Ranked, kLanes> narrow_walk(const RankedSet& set, const uint16_t* weights,
                                       bool portable) {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2 && !portable) return narrow_walk_avx2(set, weights);
#endif
  return narrow_walk_portable(set, weights);
}

// `walk` forces the 64-bit totals or the portable walk (tests); the block's weights choose
// between 16- and 32-bit weights.
std::array<Ranked, kLanes> ranked_metrics(const RankedSet& set, const ReplicateBlock& block,
                                          detail::WalkWidth walk = detail::WalkWidth::narrow) {
  const bool small_totals =
      static_cast<uint64_t>(set.packed.size()) * block.max_multiplicity < (uint64_t{1} << 31);
  if (!block.narrow.empty()) {
    return small_totals && walk != detail::WalkWidth::wide_totals
               ? narrow_walk(set, block.narrow.data(), walk == detail::WalkWidth::narrow_portable)
               : lanes_walk<uint16_t, uint64_t>(set, block.narrow.data());
  }
  return lanes_walk<uint32_t, uint64_t>(set, block.wide.data());
}

// Unweighted metrics of a ranked set whose patient indices are below n_patients.
Ranked ranked_metrics(const RankedSet& set, uint32_t n_patients) {
  ReplicateBlock ones;
  ones.narrow.assign(static_cast<std::size_t>(std::max<uint32_t>(n_patients, 1)) * kLanes, 0);
  for (std::size_t p = 0; p < ones.narrow.size(); p += kLanes) ones.narrow[p] = 1;
  ones.max_multiplicity = 1;
  return ranked_metrics(set, ones)[0];
}

// Streams a polyline and keeps a point once the path has moved on by `step` (L1) since the last
// kept one; the first and last points are always kept. step <= 0 with keep_all: every point.
class Decimator {
 public:
  Decimator(double step, bool keep_all) : step_(step), keep_all_(keep_all) {}
  void add(const CurvePoint& p) {
    if (!has_prev_) {
      out_.push_back(p);
      has_prev_ = true;
      kept_last_ = true;
    } else {
      moved_ += std::abs(p.x - prev_.x) + std::abs(p.y - prev_.y);
      kept_last_ = keep_all_ || (step_ > 0 && moved_ >= step_);
      if (kept_last_) {
        out_.push_back(p);
        moved_ = 0;
      }
    }
    prev_ = p;
  }
  std::vector<CurvePoint> finish() {
    if (has_prev_ && !kept_last_) out_.push_back(prev_);
    return std::move(out_);
  }

 private:
  double step_;
  bool keep_all_;
  double moved_ = 0;
  bool has_prev_ = false;
  bool kept_last_ = false;
  CurvePoint prev_;
  std::vector<CurvePoint> out_;
};

// ROC and PR curves of a ranked set, decimated while they are generated (two walks: the first
// measures the path lengths), so no full-resolution copy of millions of points is held.
Curves ranked_curves(const RankedSet& set, uint32_t max_points) {
  uint64_t pos = 0;
  for (const uint32_t w : set.packed) pos += (w >> 1) & 1u;
  const uint64_t neg = set.packed.size() - pos;
  Curves curves;
  if (pos == 0 || neg == 0) return curves;
  const auto walk = [&](auto&& emit) {
    emit(CurvePoint{0, 0}, CurvePoint{kNaN, kNaN});  // ROC starts at the origin; PR has no point
    uint64_t tp = 0;
    uint64_t fp = 0;
    for (const uint32_t w : set.packed) {
      if ((w >> 1) & 1u) {
        ++tp;
      } else {
        ++fp;
      }
      if (w & 1u) {
        emit(CurvePoint{static_cast<double>(fp) / static_cast<double>(neg),
                        static_cast<double>(tp) / static_cast<double>(pos)},
             CurvePoint{static_cast<double>(tp) / static_cast<double>(pos),
                        static_cast<double>(tp) / static_cast<double>(tp + fp)});
      }
    }
  };
  double roc_length = 0;
  double pr_length = 0;
  std::size_t points = 0;
  CurvePoint roc_prev;
  CurvePoint pr_prev{kNaN, kNaN};
  walk([&](const CurvePoint& roc, const CurvePoint& pr) {
    roc_length += std::abs(roc.x - roc_prev.x) + std::abs(roc.y - roc_prev.y);
    if (!std::isnan(pr.x) && !std::isnan(pr_prev.x)) {
      pr_length += std::abs(pr.x - pr_prev.x) + std::abs(pr.y - pr_prev.y);
    }
    roc_prev = roc;
    pr_prev = pr;
    ++points;
  });
  const bool keep_all = points <= std::max<std::size_t>(max_points, 2);
  const double budget = std::max<uint32_t>(max_points, 1);
  Decimator roc(roc_length / budget, keep_all);
  Decimator pr(pr_length / budget, keep_all);
  walk([&](const CurvePoint& r, const CurvePoint& p) {
    roc.add(r);
    if (!std::isnan(p.x)) pr.add(p);
  });
  curves.roc = roc.finish();
  curves.pr = pr.finish();
  return curves;
}

// ---- bootstrap
// ----------------------------------------------------------------------------------------

uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Replicate b draws from its own engine, so replicates can run in any order or in parallel.
uint64_t replicate_seed(uint64_t seed, uint64_t replicate) {
  return splitmix64(splitmix64(seed) ^ (replicate * 0xd1b54a32d192ed03ULL));
}

// Patient multiplicities of one replicate: |eligible| draws with replacement from eligible.
void draw_multiplicities(uint64_t seed, uint64_t replicate, std::span<const uint32_t> eligible,
                         std::vector<uint32_t>& mult) {
  std::fill(mult.begin(), mult.end(), 0u);
  if (eligible.empty()) return;
  std::mt19937_64 engine(replicate_seed(seed, replicate));
  for (std::size_t k = 0; k < eligible.size(); ++k) {
    ++mult[eligible[uniform_below(engine, eligible.size())]];
  }
}

// Percentile interval over the defined (non-NaN) values; quantiles interpolate linearly between
// order statistics at position p * (count - 1).
Interval percentile_interval(std::vector<double> values, double confidence) {
  std::erase_if(values, [](double v) { return std::isnan(v); });
  Interval out;
  if (values.empty()) return out;
  std::sort(values.begin(), values.end());
  const auto quantile = [&](double p) {
    const double h = p * static_cast<double>(values.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (h - static_cast<double>(lo)) * (values[hi] - values[lo]);
  };
  const double alpha = 1.0 - confidence;
  out.lo = quantile(alpha / 2);
  out.hi = quantile(1 - alpha / 2);
  return out;
}

// Patients with at least one tick in any of the tables, ascending.
std::vector<uint32_t> patients_with_ticks(std::span<const TickTable* const> tables,
                                          uint32_t n_patients) {
  std::vector<uint8_t> seen(n_patients, 0);
  for (const TickTable* table : tables) {
    for (const TickKey& t : table->tick_keys()) seen[t.patient] = 1;
  }
  std::vector<uint32_t> out;
  for (uint32_t p = 0; p < n_patients; ++p) {
    if (seen[p]) out.push_back(p);
  }
  return out;
}

// Fills lanes 0..count-1 of a block with the multiplicities of replicates first..first+count-1
// (unused lanes weigh nothing).
void fill_block(uint64_t seed, uint32_t first, uint32_t count, std::span<const uint32_t> eligible,
                uint32_t n_patients, bool wide, std::vector<uint32_t>& mult,
                ReplicateBlock& block) {
  const std::size_t cells = static_cast<std::size_t>(n_patients) * kLanes;
  block.narrow.assign(wide ? 0 : cells, 0);
  block.wide.assign(wide ? cells : 0, 0);
  block.max_multiplicity = 0;
  for (uint32_t l = 0; l < count; ++l) {
    draw_multiplicities(seed, first + l, eligible, mult);
    for (uint32_t p = 0; p < n_patients; ++p) {
      if (mult[p] == 0) continue;
      block.max_multiplicity = std::max(block.max_multiplicity, mult[p]);
      if (wide) {
        block.wide[static_cast<std::size_t>(p) * kLanes + l] = mult[p];
      } else {
        block.narrow[static_cast<std::size_t>(p) * kLanes + l] = static_cast<uint16_t>(mult[p]);
      }
    }
  }
}

// Runs fn(first replicate, count, block) over blocks of up to kLanes replicates, in parallel; fn
// writes only to its own replicates' slots, so the results do not depend on scheduling.
template <class Fn>
void for_each_replicate_block(uint32_t replicates, uint64_t seed,
                              std::span<const uint32_t> eligible, uint32_t n_patients, Fn fn) {
  const bool wide = eligible.size() > UINT16_MAX;
  const auto blocks = static_cast<uint32_t>((replicates + kLanes - 1) / kLanes);
  tbb::parallel_for(tbb::blocked_range<uint32_t>(0, blocks, 1),
                    [&](const tbb::blocked_range<uint32_t>& range) {
                      std::vector<uint32_t> mult(n_patients);
                      ReplicateBlock block;
                      for (uint32_t k = range.begin(); k != range.end(); ++k) {
                        const auto first = static_cast<uint32_t>(k * kLanes);
                        const uint32_t count = std::min<uint32_t>(kLanes, replicates - first);
                        fill_block(seed, first, count, eligible, n_patients, wide, mult, block);
                        fn(first, count, block);
                      }
                    });
}

// ---- per-group passes
// ------------------------------------------------------------------------------- Groups are
// indexed 0..n_subgroups-1 for subgroups and n_subgroups for all ticks.

// Observation time a tick stands for: up to the patient's next tick, at most one cadence.
std::vector<int64_t> tick_durations(const TickTable& table) {
  const TickView ticks = table.ticks();
  std::vector<int64_t> d(ticks.size(), table.tick_cadence_ms);
  for (std::size_t i = 0; i + 1 < ticks.size(); ++i) {
    if (ticks[i + 1].patient == ticks[i].patient) {
      d[i] = std::min(ticks[i + 1].score_time_ms - ticks[i].score_time_ms, table.tick_cadence_ms);
    }
  }
  return d;
}

double median(std::vector<double>& values) {
  if (values.empty()) return kNaN;
  const std::size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower =
      *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

// Per-patient, per-group scratch reset lazily by a stamp (the patient index + 1).
struct PatientScratch {
  explicit PatientScratch(std::size_t groups)
      : stamp(groups, 0),
        has_pos(groups, 0),
        has_neg(groups, 0),
        detected(groups, 0),
        first_alert_ms(groups, 0) {}
  void touch(std::size_t g, uint32_t patient) {
    if (stamp[g] == patient + 1) return;
    stamp[g] = patient + 1;
    has_pos[g] = 0;
    has_neg[g] = 0;
    detected[g] = 0;
    touched.push_back(g);
  }
  std::vector<uint32_t> stamp;
  std::vector<uint8_t> has_pos;
  std::vector<uint8_t> has_neg;
  std::vector<uint8_t> detected;
  std::vector<int64_t> first_alert_ms;
  std::vector<std::size_t> touched;
};

// The alert policy at one threshold for every group. group_of: [ticks] subgroup index.
std::vector<AlertPolicy> alert_pass(const TickTable& table, std::span<const uint32_t> group_of,
                                    std::size_t n_subgroups, std::span<const int64_t> duration,
                                    double threshold) {
  const std::size_t n_groups = n_subgroups + 1;
  const std::size_t all = n_subgroups;
  std::vector<AlertPolicy> out(n_groups);
  std::vector<int64_t> time_ms(n_groups, 0);
  std::vector<std::vector<double>> leads(n_groups);
  PatientScratch scratch(n_groups);
  const TickView ticks = table.ticks();
  const auto finish_patient = [&](uint32_t patient) {
    for (const std::size_t g : scratch.touched) {
      if (!scratch.has_pos[g]) continue;
      ++out[g].positive_patients;
      if (scratch.detected[g]) {
        ++out[g].detected_patients;
        leads[g].push_back(
            static_cast<double>(table.outcome_time_ms[patient] - scratch.first_alert_ms[g]));
      }
    }
    scratch.touched.clear();
  };
  bool prev_alert = false;
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const ScoredTick& t = ticks[i];
    const bool first = i == 0 || ticks[i - 1].patient != t.patient;
    if (first && i > 0) finish_patient(ticks[i - 1].patient);
    if (first) prev_alert = false;
    const bool in_alert = t.risk >= threshold;
    const bool edge = in_alert && !prev_alert;
    prev_alert = in_alert;
    const std::size_t groups[2] = {group_of.empty() ? all : group_of[i], all};
    const std::size_t n_touch = groups[0] == all ? 1 : 2;
    for (std::size_t k = 0; k < n_touch; ++k) {
      const std::size_t g = groups[k];
      scratch.touch(g, t.patient);
      time_ms[g] += duration[i];
      if (edge) {
        ++out[g].alerts;
        out[g].true_alerts += t.label ? 1 : 0;
      }
      if (t.label) {
        scratch.has_pos[g] = 1;
        if (in_alert && !scratch.detected[g]) {
          scratch.detected[g] = 1;
          scratch.first_alert_ms[g] = t.score_time_ms;
        }
      }
    }
  }
  if (!ticks.empty()) finish_patient(ticks.back().patient);
  for (std::size_t g = 0; g < n_groups; ++g) {
    AlertPolicy& a = out[g];
    a.threshold = threshold;
    a.patient_days = static_cast<double>(time_ms[g]) / static_cast<double>(kMsPerDay);
    if (a.patient_days > 0)
      a.alerts_per_patient_day = static_cast<double>(a.alerts) / a.patient_days;
    if (a.alerts > 0) a.ppv = static_cast<double>(a.true_alerts) / static_cast<double>(a.alerts);
    if (a.positive_patients > 0) {
      a.sensitivity =
          static_cast<double>(a.detected_patients) / static_cast<double>(a.positive_patients);
    }
    a.median_lead_ms = median(leads[g]);
  }
  return out;
}

// Counts and calibration for every group. Returns the number of patients with a negative tick
// in each group ([groups]).
std::vector<uint32_t> count_and_calibrate(const TickTable& table,
                                          std::span<const uint32_t> group_of,
                                          std::vector<GroupMetrics>& groups) {
  const std::size_t n_groups = groups.size();
  const std::size_t all = n_groups - 1;
  struct Sums {
    double sq = 0;
    std::array<uint64_t, kCalibrationBins> n{};
    std::array<double, kCalibrationBins> risk{};
    std::array<uint64_t, kCalibrationBins> pos{};
  };
  std::vector<Sums> sums(n_groups);
  std::vector<uint32_t> negative_patients(n_groups, 0);
  PatientScratch scratch(n_groups);
  const TickView ticks = table.ticks();
  const auto finish_patient = [&] {
    for (const std::size_t g : scratch.touched) {
      ++groups[g].patients;
      groups[g].positive_patients += scratch.has_pos[g];
      negative_patients[g] += scratch.has_neg[g];
    }
    scratch.touched.clear();
  };
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const ScoredTick& t = ticks[i];
    if (i > 0 && ticks[i - 1].patient != t.patient) finish_patient();
    const auto bin = std::min<std::size_t>(static_cast<std::size_t>(std::floor(t.risk * 10.0)),
                                           kCalibrationBins - 1);
    const double y = t.label ? 1.0 : 0.0;
    const std::size_t gs[2] = {group_of.empty() ? all : group_of[i], all};
    const std::size_t n_touch = gs[0] == all ? 1 : 2;
    for (std::size_t k = 0; k < n_touch; ++k) {
      const std::size_t g = gs[k];
      scratch.touch(g, t.patient);
      (t.label ? scratch.has_pos : scratch.has_neg)[g] = 1;
      GroupMetrics& m = groups[g];
      ++m.ticks;
      m.positive_ticks += t.label ? 1 : 0;
      Sums& s = sums[g];
      s.sq += (t.risk - y) * (t.risk - y);
      ++s.n[bin];
      s.risk[bin] += t.risk;
      s.pos[bin] += t.label ? 1 : 0;
    }
  }
  if (!ticks.empty()) finish_patient();
  for (std::size_t g = 0; g < n_groups; ++g) {
    GroupMetrics& m = groups[g];
    const Sums& s = sums[g];
    Calibration& c = m.calibration;
    for (std::size_t b = 0; b < kCalibrationBins; ++b) {
      ReliabilityBin& bin = c.bins[b];
      bin.lo = static_cast<double>(b) / kCalibrationBins;
      bin.hi = static_cast<double>(b + 1) / kCalibrationBins;
      bin.ticks = s.n[b];
      if (s.n[b] > 0) {
        bin.mean_risk = s.risk[b] / static_cast<double>(s.n[b]);
        bin.observed = static_cast<double>(s.pos[b]) / static_cast<double>(s.n[b]);
      }
    }
    if (m.ticks == 0) continue;
    const auto n = static_cast<double>(m.ticks);
    m.prevalence = static_cast<double>(m.positive_ticks) / n;
    c.brier = s.sq / n;
    c.ece = 0;
    for (const ReliabilityBin& bin : c.bins) {
      if (bin.ticks > 0) {
        c.ece += static_cast<double>(bin.ticks) / n * std::abs(bin.mean_risk - bin.observed);
      }
    }
  }
  return negative_patients;
}

// Whether a bootstrap over patients can give an interval for ticks whose positives come from
// `positive_patients` patients and negatives from `negative_patients`: with all of one class in
// one patient, resampling patients shows nothing of how patients vary (one patient alone gives
// the same value in every replicate that draws it: a zero-width interval).
bool interval_defined(uint32_t positive_patients, uint32_t negative_patients) {
  return positive_patients >= kMinIntervalPatients && negative_patients >= kMinIntervalPatients;
}

// Patients with a positive and with a negative tick in a table.
std::pair<uint32_t, uint32_t> class_patients(const TickTable& table) {
  std::vector<uint8_t> seen(table.n_patients(), 0);  // bit 0: a negative tick, bit 1: a positive
  for (const TickKey& t : table.tick_keys()) seen[t.patient] |= t.label ? 2 : 1;
  uint32_t positive = 0;
  uint32_t negative = 0;
  for (const uint8_t s : seen) {
    positive += (s >> 1) & 1;
    negative += s & 1;
  }
  return {positive, negative};
}

// The ranked sets of a table: per subgroup (group_of: [ticks] subgroup index, or empty for
// none) and, last, of all ticks.
std::vector<RankedSet> rank_table(const TickTable& table, std::span<const uint32_t> group_of,
                                  std::size_t n_sub) {
  const TickView ticks = table.ticks();
  std::vector<RankRecord> records(ticks.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    const ScoredTick t = ticks[i];
    records[i] = {rank_key(t.risk), t.patient << 2 | (t.label ? 2u : 0u),
                  group_of.empty() ? 0u : group_of[i]};
  }
  radix_sort(records);
  return split_ranked(records, n_sub);
}

RankedSet ranked_all(const TickTable& table) { return std::move(rank_table(table, {}, 0).back()); }

Ranked unweighted(std::span<const double> risk, std::span<const uint8_t> label) {
  std::vector<RankRecord> records(risk.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    records[i] = {rank_key(risk[i]), label[i] ? 2u : 0u, 0};
  }
  radix_sort(records);
  return ranked_metrics(split_ranked(records, 0).back(), 1);
}

}  // namespace

// ---- tables
// ---------------------------------------------------------------------------------------

Result<TickTable> build_labels(std::vector<TickKey> keys, std::vector<double> risk,
                               std::span<const OutcomeEvent> outcomes, uint32_t n_patients,
                               int64_t horizon_ms, int64_t tick_cadence_ms) {
  std::vector<int64_t> first(n_patients, kNoOutcome);
  for (const OutcomeEvent& o : outcomes) {
    if (o.patient >= n_patients) {
      return make_error(Errc::invalid_argument, "report: outcome for patient index " +
                                                    std::to_string(o.patient) +
                                                    " >= " + std::to_string(n_patients));
    }
    first[o.patient] = std::min(first[o.patient], o.time_ms);
  }
  auto valid = validate(keys, risk, n_patients, horizon_ms, tick_cadence_ms);
  if (!valid) return valid.error();
  std::size_t kept = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    TickKey t = keys[i];
    if (t.score_time_ms >= first[t.patient]) continue;
    // first - score_time > 0 here; kNoOutcome keeps the difference huge, never positive.
    t.label = first[t.patient] != kNoOutcome && first[t.patient] - t.score_time_ms <= horizon_ms;
    keys[kept] = t;
    risk[kept] = risk[i];
    ++kept;
  }
  keys.resize(kept);
  risk.resize(kept);
  sort_by_patient_time(keys, risk, n_patients);
  return table_of(std::move(keys), std::move(risk), std::move(first), horizon_ms, tick_cadence_ms);
}

Result<TickTable> build_labels(std::vector<ScoredTick> ticks,
                               std::span<const OutcomeEvent> outcomes, uint32_t n_patients,
                               int64_t horizon_ms, int64_t tick_cadence_ms) {
  auto [keys, risk] = split_ticks(std::move(ticks));
  return build_labels(std::move(keys), std::move(risk), outcomes, n_patients, horizon_ms,
                      tick_cadence_ms);
}

Result<TickTable> make_tick_table(std::vector<TickKey> keys, std::vector<double> risk,
                                  std::vector<int64_t> outcome_time_ms, int64_t horizon_ms,
                                  int64_t tick_cadence_ms) {
  const auto n_patients = static_cast<uint32_t>(outcome_time_ms.size());
  auto valid = validate(keys, risk, n_patients, horizon_ms, tick_cadence_ms);
  if (!valid) return valid.error();
  sort_by_patient_time(keys, risk, n_patients);
  return table_of(std::move(keys), std::move(risk), std::move(outcome_time_ms), horizon_ms,
                  tick_cadence_ms);
}

Result<TickTable> with_risks(const TickTable& like, std::vector<double> risk) {
  if (risk.size() != like.size()) {
    return make_error(
        Errc::invalid_argument,
        fmt::format("report: {} risks for a table of {} ticks", risk.size(), like.size()));
  }
  auto valid =
      validate(like.tick_keys(), risk, like.n_patients(), like.horizon_ms, like.tick_cadence_ms);
  if (!valid) return valid.error();
  TickTable table;
  table.keys = like.keys;
  table.risk = std::move(risk);
  table.outcome_time_ms = like.outcome_time_ms;
  table.horizon_ms = like.horizon_ms;
  table.tick_cadence_ms = like.tick_cadence_ms;
  return table;
}

Result<TickTable> make_tick_table(std::vector<ScoredTick> ticks,
                                  std::vector<int64_t> outcome_time_ms, int64_t horizon_ms,
                                  int64_t tick_cadence_ms) {
  auto [keys, risk] = split_ticks(std::move(ticks));
  return make_tick_table(std::move(keys), std::move(risk), std::move(outcome_time_ms), horizon_ms,
                         tick_cadence_ms);
}

// ---- plain metrics
// ---------------------------------------------------------------------------------

double auroc(std::span<const double> risk, std::span<const uint8_t> label) {
  return unweighted(risk, label).auroc;
}

double average_precision(std::span<const double> risk, std::span<const uint8_t> label) {
  return unweighted(risk, label).auprc;
}

// ---- evaluation
// -------------------------------------------------------------------------------------

struct ComparisonBaseline::Impl {
  const TickTable* table = nullptr;
  EvaluationOptions options;
  RankedSet set;
  Ranked point;
  std::vector<uint32_t> eligible;  // patients with baseline ticks
  std::vector<Ranked> replicates;  // [bootstrap_replicates], drawn from `eligible`
};

Evaluation evaluate(const TickTable& table, const EvaluationOptions& options,
                    std::optional<ComparisonBaseline>* prepared) {
  const TickView ticks = table.ticks();
  const std::size_t n = ticks.size();

  // Subgroups by present mask, largest first.
  std::vector<uint32_t> masks;
  std::vector<uint32_t> group_of;
  if (options.subgroups) {
    std::vector<std::pair<uint32_t, uint64_t>> counts;  // (mask, ticks), sorted by mask
    for (const ScoredTick& t : ticks) {
      auto it = std::lower_bound(counts.begin(), counts.end(), t.present_mask,
                                 [](const auto& c, uint32_t m) { return c.first < m; });
      if (it == counts.end() || it->first != t.present_mask) {
        it = counts.insert(it, {t.present_mask, 0});
      }
      ++it->second;
    }
    std::stable_sort(counts.begin(), counts.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& c : counts) masks.push_back(c.first);
    group_of.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      group_of[i] = static_cast<uint32_t>(
          std::find(masks.begin(), masks.end(), ticks[i].present_mask) - masks.begin());
    }
  }
  const std::size_t n_sub = masks.size();
  const std::size_t n_groups = n_sub + 1;

  // One sort; every group's ranked set keeps that order.
  std::vector<RankedSet> ranked = rank_table(table, group_of, n_sub);
  auto baseline = prepared ? std::make_unique<ComparisonBaseline::Impl>() : nullptr;

  std::vector<GroupMetrics> groups(n_groups);
  for (std::size_t g = 0; g < n_sub; ++g) groups[g].present_mask = masks[g];
  for (std::size_t g = 0; g < n_groups; ++g) {
    const Ranked r = ranked_metrics(ranked[g], table.n_patients());
    groups[g].discrimination.auroc = r.auroc;
    groups[g].discrimination.auprc = r.auprc;
  }

  const std::vector<uint32_t> negative_patients = count_and_calibrate(table, group_of, groups);

  // Bootstrap over patients: every group of one replicate uses the same resample.
  const uint32_t reps = options.bootstrap_replicates;
  if (reps > 0) {
    const TickTable* tables[] = {&table};
    const std::vector<uint32_t> eligible = patients_with_ticks(tables, table.n_patients());
    std::vector<double> roc_values(n_groups * reps);  // [group][replicate]
    std::vector<double> pr_values(n_groups * reps);
    for_each_replicate_block(reps, options.seed, eligible, table.n_patients(),
                             [&](uint32_t first, uint32_t count, const ReplicateBlock& block) {
                               for (std::size_t g = 0; g < n_groups; ++g) {
                                 const std::array<Ranked, kLanes> r =
                                     ranked_metrics(ranked[g], block);
                                 for (uint32_t l = 0; l < count; ++l) {
                                   roc_values[g * reps + first + l] = r[l].auroc;
                                   pr_values[g * reps + first + l] = r[l].auprc;
                                 }
                               }
                             });
    if (baseline) {
      // All ticks are group n_sub: the replicates compare() would draw for this table alone.
      baseline->eligible = eligible;
      baseline->replicates.resize(reps);
      for (uint32_t r = 0; r < reps; ++r) {
        baseline->replicates[r] = {roc_values[n_sub * reps + r], pr_values[n_sub * reps + r]};
      }
    }
    for (std::size_t g = 0; g < n_groups; ++g) {
      const auto first = static_cast<std::ptrdiff_t>(g * reps);
      std::vector<double> roc(roc_values.begin() + first, roc_values.begin() + first + reps);
      std::vector<double> pr(pr_values.begin() + first, pr_values.begin() + first + reps);
      Discrimination& d = groups[g].discrimination;
      d.replicates_used = static_cast<uint32_t>(
          std::count_if(roc.begin(), roc.end(), [](double v) { return !std::isnan(v); }));
      if (!interval_defined(groups[g].positive_patients, negative_patients[g])) continue;
      d.auroc_ci = percentile_interval(std::move(roc), options.confidence);
      d.auprc_ci = percentile_interval(std::move(pr), options.confidence);
    }
  }

  // Alert policies: fixed thresholds, then the one for the target alert rate.
  std::vector<double> thresholds = options.thresholds;
  Evaluation out;
  if (options.target_alerts_per_patient_day > 0) {
    out.alert_rate_threshold =
        threshold_for_alert_rate(table, options.target_alerts_per_patient_day);
    if (!std::isnan(out.alert_rate_threshold)) thresholds.push_back(out.alert_rate_threshold);
  }
  const std::vector<int64_t> duration = tick_durations(table);
  for (std::size_t k = 0; k < thresholds.size(); ++k) {
    std::vector<AlertPolicy> per_group =
        alert_pass(table, group_of, n_sub, duration, thresholds[k]);
    for (std::size_t g = 0; g < n_groups; ++g) {
      per_group[g].basis =
          k < options.thresholds.size() ? ThresholdBasis::fixed : ThresholdBasis::alert_rate;
      groups[g].alerts.push_back(per_group[g]);
    }
  }

  out.curves = ranked_curves(ranked[n_sub], options.curve_points);
  if (baseline) {
    baseline->table = &table;
    baseline->options = options;
    baseline->point = {groups[n_sub].discrimination.auroc, groups[n_sub].discrimination.auprc};
    baseline->set = std::move(ranked[n_sub]);
    *prepared = ComparisonBaseline(std::move(baseline));
  }
  out.overall = std::move(groups[n_sub]);
  groups.pop_back();
  out.subgroups = std::move(groups);
  return out;
}

namespace {
Error patients_differ(const TickTable& baseline, const TickTable& stressed) {
  return make_error(Errc::invalid_argument,
                    "report: a stressed run must index the same patients as its baseline (" +
                        std::to_string(stressed.n_patients()) + " vs " +
                        std::to_string(baseline.n_patients()) + ")");
}
}  // namespace

ComparisonBaseline::ComparisonBaseline(const TickTable& table, const EvaluationOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& b = *impl_;
  b.table = &table;
  b.options = options;
  b.set = ranked_all(table);
  b.point = ranked_metrics(b.set, table.n_patients());
  const uint32_t reps = options.bootstrap_replicates;
  if (reps == 0) return;
  const TickTable* tables[] = {&table};
  b.eligible = patients_with_ticks(tables, table.n_patients());
  b.replicates.resize(reps);
  for_each_replicate_block(reps, options.seed, b.eligible, table.n_patients(),
                           [&](uint32_t first, uint32_t count, const ReplicateBlock& block) {
                             const std::array<Ranked, kLanes> r = ranked_metrics(b.set, block);
                             std::copy_n(r.begin(), count, b.replicates.begin() + first);
                           });
}

ComparisonBaseline::ComparisonBaseline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ComparisonBaseline::~ComparisonBaseline() = default;
ComparisonBaseline::ComparisonBaseline(ComparisonBaseline&&) noexcept = default;
ComparisonBaseline& ComparisonBaseline::operator=(ComparisonBaseline&&) noexcept = default;

Result<StressComparison> compare(const ComparisonBaseline& prepared, const TickTable& stressed) {
  const ComparisonBaseline::Impl& b = *prepared.impl_;
  const TickTable& baseline = *b.table;
  if (baseline.n_patients() != stressed.n_patients()) return patients_differ(baseline, stressed);
  const RankedSet stress_set = ranked_all(stressed);
  const Ranked stress = ranked_metrics(stress_set, stressed.n_patients());
  StressComparison out;
  out.auroc = {b.point.auroc, stress.auroc, stress.auroc - b.point.auroc, {}};
  out.auprc = {b.point.auprc, stress.auprc, stress.auprc - b.point.auprc, {}};
  const uint32_t reps = b.options.bootstrap_replicates;
  if (reps == 0) return out;
  // As in evaluate(): no interval unless both runs have two patients of each class.
  for (const TickTable* t : {&baseline, &stressed}) {
    const auto [positive, negative] = class_patients(*t);
    if (!interval_defined(positive, negative)) return out;
  }
  const TickTable* tables[] = {&baseline, &stressed};
  const std::vector<uint32_t> eligible = patients_with_ticks(tables, baseline.n_patients());
  // The replicates draw from the patients of either run: when the stressed run adds none, the
  // baseline's side of each replicate is the one prepared.
  const bool reuse = eligible == b.eligible;
  std::vector<double> roc(reps);
  std::vector<double> pr(reps);
  for_each_replicate_block(reps, b.options.seed, eligible, baseline.n_patients(),
                           [&](uint32_t first, uint32_t count, const ReplicateBlock& block) {
                             std::array<Ranked, kLanes> rb{};
                             if (reuse) {
                               std::copy_n(b.replicates.begin() + first, count, rb.begin());
                             } else {
                               rb = ranked_metrics(b.set, block);
                             }
                             const std::array<Ranked, kLanes> rs =
                                 ranked_metrics(stress_set, block);
                             for (uint32_t l = 0; l < count; ++l) {
                               roc[first + l] = rs[l].auroc - rb[l].auroc;
                               pr[first + l] = rs[l].auprc - rb[l].auprc;
                             }
                           });
  out.auroc.delta_ci = percentile_interval(std::move(roc), b.options.confidence);
  out.auprc.delta_ci = percentile_interval(std::move(pr), b.options.confidence);
  return out;
}

Result<StressComparison> compare(const TickTable& baseline, const TickTable& stressed,
                                 const EvaluationOptions& options) {
  // Checked before the baseline is ranked for nothing.
  if (baseline.n_patients() != stressed.n_patients()) return patients_differ(baseline, stressed);
  return compare(ComparisonBaseline(baseline, options), stressed);
}

// ---- alert helpers
// ---------------------------------------------------------------------------------

double threshold_for_alert_rate(const TickTable& table, double alerts_per_patient_day) {
  const TickView ticks = table.ticks();
  if (ticks.empty()) return kNaN;
  const std::vector<int64_t> duration = tick_durations(table);
  const double patient_days =
      static_cast<double>(std::accumulate(duration.begin(), duration.end(), int64_t{0})) /
      static_cast<double>(kMsPerDay);
  double max_risk = 0;
  for (const ScoredTick& t : ticks) max_risk = std::max(max_risk, t.risk);
  const double above_all = std::nextafter(max_risk, 2.0);
  if (!(patient_days > 0)) return above_all;
  // Tick i raises an alert at threshold t exactly when lo_i < t <= risk_i, where lo_i is the
  // previous tick's risk (minus infinity for a patient's first tick): count(t) = #{risk_i >= t}
  // - #{lo_i >= t} over ticks that can rise. Between two distinct risk values the alert set does
  // not change, so every distinct risk is a candidate; one sorted sweep from the highest down
  // adds +1 at each risk_i and -1 at each lo_i.
  enum : uint32_t { kCandidate = 0, kRise = 1, kLeave = 2 };
  std::vector<RankRecord> records;
  records.reserve(ticks.size() * 2);
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const bool first = i == 0 || ticks[i - 1].patient != ticks[i].patient;
    const bool rises = first || ticks[i - 1].risk < ticks[i].risk;
    records.push_back({rank_key(ticks[i].risk), rises ? kRise : kCandidate, 0});
    if (rises && !first) records.push_back({rank_key(ticks[i - 1].risk), kLeave, 0});
  }
  radix_sort(records);
  int64_t alerts = 0;
  double best = above_all;
  for (std::size_t i = 0; i < records.size();) {
    const uint64_t key = records[i].key;
    for (; i < records.size() && records[i].key == key; ++i) {
      alerts += records[i].payload == kRise ? 1 : (records[i].payload == kLeave ? -1 : 0);
    }
    if (static_cast<double>(alerts) / patient_days > alerts_per_patient_day) break;
    best = risk_of_key(key);
  }
  return best;
}

AlertPolicy alert_policy(const TickTable& table, double threshold) {
  const std::vector<int64_t> duration = tick_durations(table);
  return alert_pass(table, {}, 0, duration, threshold)[0];
}

std::vector<uint32_t> sample_patients(const TickTable& table, std::span<const uint32_t> masks) {
  const std::size_t k = masks.size();
  std::vector<uint32_t> best(k, UINT32_MAX);
  std::vector<std::pair<bool, uint64_t>> best_key(k, {false, 0});
  std::vector<uint64_t> count(k, 0);
  const TickView ticks = table.ticks();
  std::size_t i = 0;
  while (i < ticks.size()) {
    const uint32_t patient = ticks[i].patient;
    std::fill(count.begin(), count.end(), 0);
    for (; i < ticks.size() && ticks[i].patient == patient; ++i) {
      const auto it = std::find(masks.begin(), masks.end(), ticks[i].present_mask);
      if (it != masks.end()) ++count[static_cast<std::size_t>(it - masks.begin())];
    }
    const bool has_outcome = table.outcome_time_ms[patient] != kNoOutcome;
    for (std::size_t m = 0; m < k; ++m) {
      if (count[m] == 0) continue;
      const std::pair<bool, uint64_t> key{has_outcome, count[m]};
      // Patients come in ascending index order, so only a strictly better key replaces.
      if (best[m] == UINT32_MAX || key > best_key[m]) {
        best[m] = patient;
        best_key[m] = key;
      }
    }
  }
  return best;
}

std::vector<CurvePoint> decimate(std::span<const CurvePoint> points, uint32_t max_points) {
  double total = 0;
  for (std::size_t i = 1; i < points.size(); ++i) {
    total += std::abs(points[i].x - points[i - 1].x) + std::abs(points[i].y - points[i - 1].y);
  }
  Decimator d(total / std::max<uint32_t>(max_points, 1),
              points.size() <= std::max<std::size_t>(max_points, 2));
  for (const CurvePoint& p : points) d.add(p);
  return d.finish();
}

namespace detail {

std::vector<uint32_t> bootstrap_multiplicities(const TickTable& table, uint64_t seed,
                                               uint64_t replicate) {
  const TickTable* tables[] = {&table};
  const std::vector<uint32_t> eligible = patients_with_ticks(tables, table.n_patients());
  std::vector<uint32_t> mult(table.n_patients());
  draw_multiplicities(seed, replicate, eligible, mult);
  return mult;
}

std::array<double, 2> weighted_auroc_auprc(const TickTable& table,
                                           std::span<const uint32_t> multiplicity,
                                           WalkWidth width) {
  // One block with the multiplicities in lane 3 (the other lanes weigh nothing).
  constexpr std::size_t kLane = 3;
  const bool wide = width == WalkWidth::wide_weights;
  ReplicateBlock block;
  const std::size_t cells = static_cast<std::size_t>(table.n_patients()) * kLanes;
  block.narrow.assign(wide ? 0 : cells, 0);
  block.wide.assign(wide ? cells : 0, 0);
  for (uint32_t p = 0; p < table.n_patients(); ++p) {
    block.max_multiplicity = std::max(block.max_multiplicity, multiplicity[p]);
    if (wide) {
      block.wide[p * kLanes + kLane] = multiplicity[p];
    } else {
      block.narrow[p * kLanes + kLane] = static_cast<uint16_t>(multiplicity[p]);
    }
  }
  const std::array<Ranked, kLanes> r = ranked_metrics(ranked_all(table), block, width);
  return {r[kLane].auroc, r[kLane].auprc};
}

}  // namespace detail

}  // namespace tfe::report
