// Seeded synthetic data with known parameters, for the demo, tests and benchmarks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "btfit/data.h"

namespace btfit {

enum class Popularity {
  uniform,      // every item equally likely to play
  heavy_tailed  // Zipf-like: the item of popularity rank r plays with weight 1 / r
};

struct ComparisonSimulation {
  std::size_t n_items = 1000;
  std::size_t n_comparisons = 1000000;
  Popularity popularity = Popularity::uniform;
  double strength_sd = 1.0;  // true strengths ~ N(0, sd^2), then centred to mean zero
  double tie_rate = 0.0;     // probability that a comparison is recorded as a tie
  std::uint64_t seed = 1;
};

// Returns the comparisons (winner = a, y = 1 unless a tie) and the true strengths.
Comparisons simulate_comparisons(const ComparisonSimulation& spec, std::vector<double>* truth);

struct RowSimulation {
  std::size_t n_rows = 100000;
  std::size_t n_features = 10;
  double coefficient_sd = 0.5;  // true coefficients ~ N(0, sd^2); intercept ~ N(0, 0.25)
  std::uint64_t seed = 1;
  int decimals = 4;  // features rounded to this many decimals, as measured data are (and the
                     // labels drawn from the rounded values); a negative count: not rounded
};

// Dense standard-normal features; `truth` gets the intercept then the coefficients.
Rows simulate_rows(const RowSimulation& spec, std::vector<double>* truth);

}  // namespace btfit
