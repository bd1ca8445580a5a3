// The bootstrap of Bradley-Terry and logistic fits (host/bootstrap.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "btfit/data.h"
#include "btfit/fit.h"
#include "btfit/objective.h"
#include "btfit/optimize.h"

namespace btfit {

enum class ReplicateOutcome : std::uint8_t {
  used,           // converged; enters the intervals
  not_estimable,  // the existence rules fail on the replicate's rows of positive weight
  not_converged,  // the optimizer stopped first
};

// Replicate estimates, as fitted (no centring, no reference).
struct ReplicateFits {
  std::size_t n_params = 0;
  std::vector<double> theta;                // n_params x count, column-major
  std::vector<ReplicateOutcome> outcome;    // count
  std::size_t batch = 0;                    // replicates fitted together (K)
  std::string method;                       // how they were fitted
  std::string device;
};

// Replicates first .. first + count - 1 of options.bootstrap.seed, each warm-started from
// `start` (the full fit's estimate as fitted, n_params), with the full fit's penalty and prior.
// `data` are the comparisons as loaded: replicate weights are keyed by their row numbers.
ReplicateFits fit_bradley_terry_replicates(const Comparisons& data, const BradleyTerryOptions& options,
                                           const DiagonalPenalty& penalty, const std::vector<double>& start,
                                           std::uint64_t first, std::size_t count);
ReplicateFits fit_logistic_replicates(const Rows& data, const LogisticOptions& options,
                                      const DiagonalPenalty& penalty, const std::vector<double>& start,
                                      std::uint64_t first, std::size_t count);

// The whole bootstrap: fits options.bootstrap.replicates replicates and fills fit.boot_lo,
// boot_hi, rank_lo, rank_hi, home_boot_lo/hi and fit.bootstrap. `start` as above.
void bootstrap_bradley_terry(const Comparisons& data, const BradleyTerryOptions& options,
                             const DiagonalPenalty& penalty, const std::vector<double>& start, BradleyTerryFit& fit);
void bootstrap_logistic(const Rows& data, const LogisticOptions& options, const DiagonalPenalty& penalty,
                        const std::vector<double>& start, LogisticFit& fit);

// Sample quantiles of sorted values: type 7 of Hyndman and Fan (1996), numpy's default
// (linear interpolation), and type 1 (the inverse of the empirical distribution function,
// always one of the values).
double quantile_linear(const std::vector<double>& sorted, double q);
double quantile_inverse_cdf(const std::vector<double>& sorted, double q);

}  // namespace btfit
