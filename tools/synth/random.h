#pragma once
// Portable random numbers for the generator: xoshiro256** seeded through splitmix64, and
// distributions written out here (std:: distributions differ between standard libraries).
// 32 bytes of state per stream, so every patient owns its streams and the output does not depend
// on how patients interleave.

#include <cmath>
#include <cstdint>

namespace tfe::synth::detail {

inline uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// One seed from several words (order matters).
inline uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c = 0) {
  uint64_t x = a;
  uint64_t h = splitmix64(x);
  x = h ^ (b * 0xd1b54a32d192ed03ULL);
  h = splitmix64(x);
  x = h ^ (c * 0x8cb92ba72f3d8dd7ULL);
  return splitmix64(x);
}

class Rng {
 public:
  Rng() = default;
  explicit Rng(uint64_t seed) { reseed(seed); }

  void reseed(uint64_t seed) {
    uint64_t x = seed;
    for (auto& w : s_) w = splitmix64(x);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool bernoulli(double p) { return uniform() < p; }
  // Integer in [lo, hi] (inclusive); multiply-shift, bias below 2^-32 for small ranges.
  int64_t uniform_int(int64_t lo, int64_t hi) {
    const auto span = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>((static_cast<__uint128_t>(next()) * span) >> 64);
  }
  // Standard normal by inversion: one 64-bit draw; the top 12 bits pick a cell of a
  // piecewise-linear inverse-CDF table, the next 40 interpolate within it. The two outermost
  // cells (probability 1/2048) use the exact inverse CDF, so tails are not truncated.
  double normal();
  double normal(double mean, double sd) { return mean + sd * normal(); }
  // Exponential by inversion.
  double exponential(double mean) { return -mean * std::log(1.0 - uniform()); }
  // Log-normal with the given median, clamped to [lo, hi].
  double lognormal_clamped(double median, double sigma, double lo, double hi) {
    const double v = median * std::exp(sigma * normal());
    return v < lo ? lo : (v > hi ? hi : v);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4] = {1, 2, 3, 4};
};

// Inverse of the standard normal CDF for p in (0, 1): Acklam's rational approximation (relative
// error below 1.2e-9) refined by one Halley step.
double inverse_normal_cdf(double p);

}  // namespace tfe::synth::detail
