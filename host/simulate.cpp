// Seeded synthetic data from counter-based random numbers: draw k of a stream depends only
// on (seed, stream, k), so the data are the same for any thread count.
#include "btfit/simulate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "btfit/detail/maths.h"
#include "btfit/detail/rng.h"
#include "btfit/error.h"

namespace btfit {

namespace {

using detail::counter_uniform;

enum Stream : std::uint64_t {
  kStrength = 1,
  kPlayerA = 2,
  kPlayerB = 3,
  kOutcome = 4,
  kTie = 5,
  kPermutation = 6,
  kFeature = 7,
  kLabel = 8,
  kCoefficient = 9,
};

// Standard normal from two uniforms (Box-Muller).
double normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t k) {
  const double u1 = counter_uniform(seed, stream, 2 * k);
  const double u2 = counter_uniform(seed, stream, 2 * k + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

Comparisons simulate_comparisons(const ComparisonSimulation& spec, std::vector<double>* truth) {
  if (spec.n_items < 2) throw UsageError("simulate: --items must be at least 2");
  if (spec.n_items > 0xFFFFFFF0ULL) throw UsageError("simulate: too many items for 32-bit ids");
  if (!(spec.tie_rate >= 0.0 && spec.tie_rate < 1.0)) throw UsageError("simulate: --tie-rate must be in [0, 1)");
  const std::size_t n = spec.n_items;
  const std::uint64_t seed = spec.seed;
  std::vector<double> strength(n);
  for (std::size_t i = 0; i < n; ++i) strength[i] = spec.strength_sd * normal(seed, kStrength, i);
  const double mean = std::accumulate(strength.begin(), strength.end(), 0.0) / static_cast<double>(n);
  for (double& s : strength) s -= mean;

  // Popularity: cumulative weights for inverse-CDF sampling (heavy-tailed: 1/rank with the
  // ranks in a seeded random order).
  std::vector<double> cumulative;
  if (spec.popularity == Popularity::heavy_tailed) {
    std::vector<std::uint32_t> rank(n);
    std::iota(rank.begin(), rank.end(), 1u);
    for (std::size_t i = n - 1; i > 0; --i) {
      const auto j = static_cast<std::size_t>(counter_uniform(seed, kPermutation, i) * static_cast<double>(i + 1));
      std::swap(rank[i], rank[std::min(j, i)]);
    }
    cumulative.resize(n);
    double total = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      total += 1.0 / rank[i];
      cumulative[i] = total;
    }
    for (double& c : cumulative) c /= total;
  }
  auto draw = [&](std::uint64_t stream, std::uint64_t k) -> std::uint32_t {
    const double u = counter_uniform(seed, stream, k);
    if (cumulative.empty()) return static_cast<std::uint32_t>(std::min<std::size_t>(n - 1, static_cast<std::size_t>(u * n)));
    const auto it = std::lower_bound(cumulative.begin(), cumulative.end(), u);
    return static_cast<std::uint32_t>(std::min<std::size_t>(n - 1, static_cast<std::size_t>(it - cumulative.begin())));
  };

  Comparisons data;
  data.item_names.reserve(n);
  for (std::size_t i = 0; i < n; ++i) data.item_names.push_back("item" + std::to_string(i));
  const std::size_t m = spec.n_comparisons;
  data.a.resize(m);
  data.b.resize(m);
  data.outcome2.resize(m);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t kk = 0; kk < static_cast<std::ptrdiff_t>(m); ++kk) {
    const auto k = static_cast<std::uint64_t>(kk);
    const std::uint32_t a = draw(kPlayerA, k);
    std::uint32_t b = a;
    for (std::uint64_t attempt = 0; b == a; ++attempt) b = draw(kPlayerB, k + attempt * 0x100000000ULL);
    const bool tie = spec.tie_rate > 0.0 && counter_uniform(seed, kTie, k) < spec.tie_rate;
    const double p = detail::sigmoid(strength[a] - strength[b]);
    const bool a_wins = counter_uniform(seed, kOutcome, k) < p;
    const auto kz = static_cast<std::size_t>(k);
    if (tie) {
      data.a[kz] = a;
      data.b[kz] = b;
      data.outcome2[kz] = 1;
    } else {
      data.a[kz] = a_wins ? a : b;
      data.b[kz] = a_wins ? b : a;
      data.outcome2[kz] = 2;
    }
  }
  if (truth) *truth = std::move(strength);
  return data;
}

Rows simulate_rows(const RowSimulation& spec, std::vector<double>* truth) {
  if (spec.n_rows == 0 || spec.n_features == 0) throw UsageError("simulate: --rows and --features must be positive");
  const std::uint64_t seed = spec.seed;
  const std::size_t p = spec.n_features;
  std::vector<double> beta(p + 1);
  beta[0] = 0.5 * normal(seed, kCoefficient, 0);
  for (std::size_t j = 1; j <= p; ++j) beta[j] = spec.coefficient_sd * normal(seed, kCoefficient, j);
  Rows rows;
  rows.n_rows = spec.n_rows;
  rows.n_features = p;
  for (std::size_t j = 0; j < p; ++j) rows.feature_names.push_back("x" + std::to_string(j + 1));
  rows.dense.resize(spec.n_rows * p);
  rows.label.resize(spec.n_rows);
  const double scale = spec.decimals >= 0 ? std::pow(10.0, spec.decimals) : 0.0;
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(spec.n_rows); ++ii) {
    const auto i = static_cast<std::size_t>(ii);
    double eta = beta[0];
    for (std::size_t j = 0; j < p; ++j) {
      double x = normal(seed, kFeature, i * p + j);
      if (scale > 0.0) x = std::round(x * scale) / scale;
      rows.dense[i * p + j] = x;
      eta += beta[j + 1] * x;
    }
    rows.label[i] = counter_uniform(seed, kLabel, i) < detail::sigmoid(eta) ? 1.0 : 0.0;
  }
  if (truth) *truth = std::move(beta);
  return rows;
}

}  // namespace btfit
