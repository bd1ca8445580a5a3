// Bootstrap replicate weights on the host (CONVENTIONS.md): in replicate r, row i of weight w
// gets the weight detail::counter_poisson(w, seed, r, i).
//
// ReplicateWeights draws exactly those numbers, bit for bit, with less work per draw:
//   - counter_hash(seed, r, i) = mix64(mix64(mix64(seed) ^ r) ^ i): the inner two rounds depend
//     on (seed, r) only and are computed once per replicate;
//   - for w = 1 (every row of an unweighted file) the inversion of the Poisson CDF compares the
//     uniform with a table built by the same floating-point operations, in the same order, as
//     detail::poisson_inversion, so it stops at the same count.
// Other weights up to 30 invert directly (one part, as counter_poisson does); larger weights
// call counter_poisson itself. tests/test_firth_bootstrap.cpp checks the equality.
#pragma once

#include <cmath>
#include <cstdint>

#include "btfit/detail/rng.h"

namespace btfit {

// The cumulative Poisson(mean) probabilities that detail::poisson_inversion accumulates.
class PoissonTable {
 public:
  explicit PoissonTable(double mean) {
    double p = std::exp(-mean);
    cdf_[0] = p;
    std::uint32_t k = 0;
    limit_ = kMax;
    while (k < kMax) {
      ++k;
      p *= mean / static_cast<double>(k);
      cdf_[k] = cdf_[k - 1] + p;
      if (p <= 0.0) {
        limit_ = k;
        break;
      }
    }
  }
  // The cumulative probabilities (at least limit() + 1 of them).
  const double* cdf() const { return cdf_; }
  std::uint32_t limit() const { return limit_; }

  // poisson_inversion(mean, u): the first k with !(u > cdf[k]), or limit_. The cdf increases,
  // so for the first eight entries that k is the number of them below u, counted without
  // branches (a Poisson(1) draw exceeds 7 with probability 1e-5).
  std::uint32_t invert(double u) const {
    std::uint32_t k = 0;
    if (limit_ > 8) {
      k = static_cast<std::uint32_t>(u > cdf_[0]) + static_cast<std::uint32_t>(u > cdf_[1]) +
          static_cast<std::uint32_t>(u > cdf_[2]) + static_cast<std::uint32_t>(u > cdf_[3]) +
          static_cast<std::uint32_t>(u > cdf_[4]) + static_cast<std::uint32_t>(u > cdf_[5]) +
          static_cast<std::uint32_t>(u > cdf_[6]) + static_cast<std::uint32_t>(u > cdf_[7]);
      if (k < 8) return k;
    }
    while (k < limit_ && u > cdf_[k]) ++k;
    return k;
  }

 private:
  static constexpr std::uint32_t kMax = 1000;  // poisson_inversion's bound
  double cdf_[kMax + 1];
  std::uint32_t limit_;
};

inline const PoissonTable& poisson_table_mean_one() {
  static const PoissonTable table(1.0);
  return table;
}

// The draws of one replicate.
class ReplicateWeights {
 public:
  ReplicateWeights(std::uint64_t seed, std::uint64_t replicate)
      : seed_(seed), replicate_(replicate), key_(detail::mix64(detail::mix64(seed) ^ replicate)),
        unit_(poisson_table_mean_one()) {}

  // counter_poisson(1, seed, replicate, row): a row of an unweighted file.
  std::uint32_t unit(std::uint64_t row) const { return unit_.invert(uniform(row)); }
  // mix64(mix64(seed) ^ replicate): counter_hash(seed, replicate, row) = mix64(key() ^ row).
  std::uint64_t key() const { return key_; }

  // counter_poisson(weight, seed, replicate, row).
  std::uint32_t operator()(double weight, std::uint64_t row) const {
    if (weight == 1.0) return unit_.invert(uniform(row));
    if (!(weight > 0.0)) return 0u;
    if (weight <= 30.0) return detail::poisson_inversion(weight, uniform(row));
    return detail::counter_poisson(weight, seed_, replicate_, row);
  }

 private:
  // counter_uniform(seed, replicate, row).
  double uniform(std::uint64_t row) const {
    const std::uint64_t bits = detail::mix64(key_ ^ row) >> 11;
    return (static_cast<double>(bits) + 0.5) * (1.0 / 9007199254740992.0);
  }
  std::uint64_t seed_;
  std::uint64_t replicate_;
  std::uint64_t key_;
  const PoissonTable& unit_;
};

}  // namespace btfit
