// Counter-based random numbers shared by the CPU and CUDA backends.
//
// A draw is a pure function of (seed, stream, counter): no state is carried between draws,
// so any thread on any device that asks for (seed, replicate, row) gets the same number.
// The mixer is SplitMix64's finalizer (Steele, Lea and Flood 2014) applied to a combination
// of the three keys; Poisson draws use inversion of the CDF, exact for the small means
// (frequency weights) btfit needs and bounded in work.
#pragma once

#include <cstdint>

#include "btfit/detail/maths.h"

namespace btfit::detail {

BTFIT_HD std::uint64_t mix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

BTFIT_HD std::uint64_t counter_hash(std::uint64_t seed, std::uint64_t stream, std::uint64_t counter) {
  return mix64(mix64(mix64(seed) ^ stream) ^ counter);
}

// Uniform double in (0, 1): 53 random bits, never exactly 0 or 1.
BTFIT_HD double counter_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t counter) {
  const std::uint64_t bits = counter_hash(seed, stream, counter) >> 11;
  return (static_cast<double>(bits) + 0.5) * (1.0 / 9007199254740992.0);
}

// Poisson(mean) by inversion with one uniform. For means above 30 the sum of independent
// Poisson parts is used (each part <= 30), keyed by sub-counters.
BTFIT_HD std::uint32_t poisson_inversion(double mean, double u) {
  double p = exp(-mean);
  double cdf = p;
  std::uint32_t k = 0;
  while (u > cdf && k < 1000u) {
    ++k;
    p *= mean / static_cast<double>(k);
    cdf += p;
    if (p <= 0.0) break;
  }
  return k;
}

BTFIT_HD std::uint32_t counter_poisson(double mean, std::uint64_t seed, std::uint64_t stream,
                                       std::uint64_t counter) {
  if (mean <= 0.0) return 0u;
  std::uint32_t total = 0;
  std::uint64_t part = 0;
  while (mean > 0.0) {
    const double m = mean > 30.0 ? 30.0 : mean;
    const double u = counter_uniform(seed ^ (part * 0xD1B54A32D192ED03ULL), stream, counter);
    total += poisson_inversion(m, u);
    mean -= m;
    ++part;
  }
  return total;
}

}  // namespace btfit::detail
