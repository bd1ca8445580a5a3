// Bradley-Terry standard errors above the dense limit (host/se_at_scale.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "btfit/objective.h"
#include "btfit/optimize.h"
#include "btfit/options.h"

namespace btfit {

struct LargeScaleSe {
  std::vector<double> se;  // n_items; NaN where not computed
  double home_se = 0.0;    // NaN without a home advantage
  std::string method;      // which method produced which SEs
  std::size_t solves = 0;  // CG solves made
  std::size_t hessian_products = 0;
};

// Whether `options` asks for any SE above the dense limit.
bool large_scale_se_requested(const LargeScaleSeOptions& options);

// SEs from the Hessian H of the data objective plus the penalty's curvature at theta
// (n_params = n_items [+ 1]; the objective's current point is moved there). An unpenalized
// fit (penalty.empty()) has the singular Laplacian: the SEs are those of the mean-zero
// strengths, from its pseudo-inverse. reference >= 0: SEs of s_i - s_reference (0 for the
// reference). Items: the options.top strongest by theta, and options.items by name (UsageError
// for an unknown name); with options.probes > 0, every other item gets the stochastic estimate.
LargeScaleSe large_scale_standard_errors(Objective& data_objective, const DiagonalPenalty& penalty,
                                         const double* theta, std::size_t n_items, bool home_advantage,
                                         std::int64_t reference, const std::vector<std::string>& item_names,
                                         const LargeScaleSeOptions& options);

}  // namespace btfit
