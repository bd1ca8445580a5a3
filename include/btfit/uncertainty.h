// Uncertainty beyond the model-based standard errors: Wald intervals, output scales,
// quasi-variances and the robust (sandwich) covariance.
//
// Definitions (CONVENTIONS.md):
// - Wald interval: estimate -+ z * SE, z = Phi^-1((1 + level) / 2).
// - Scales (Bradley-Terry): strength s (log-odds); Elo = offset + (400 / ln 10) s; worth exp(s).
//   SEs on another scale use the delta method (Elo: (400 / ln 10) SE; worth: exp(s) SE);
//   interval endpoints are transformed directly. The home advantage h is a difference of
//   strengths: on the Elo scale it is (400 / ln 10) h (no offset), on the worth scale exp(h)
//   (the factor by which playing at home multiplies the odds).
// - Quasi-variances (Firth and de Menezes 2004, R's qvcalc): q_1..q_n minimizing
//   sum_{i<j} (log(q_i + q_j) - log Var(s_i - s_j))^2, so that Var(s_i - s_j) ~ q_i + q_j for
//   every pair: any two items can be compared from the table alone.
// - Robust covariance: H^-1 B H^-1 (H^+ for an unpenalized Bradley-Terry fit),
//   B = sum_k w_k r_k^2 x_k x_k^T, r_k = sigmoid(eta_k) - y_k (HC0; a frequency weight w counts
//   w independent units); cluster-robust: B = c sum_g u_g u_g^T with u_g the sum of the scores
//   w_k r_k x_k in cluster g and c = G/(G-1) * (N-1)/(N-K) (statsmodels' default for
//   cov_type='cluster'; N = the sum of the weights, G = clusters, K = identified parameters).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "btfit/fit.h"
#include "btfit/io.h"

namespace btfit {

// Phi^-1(p), the standard normal quantile, for p in (0, 1) (relative error ~1e-15).
double normal_quantile(double p);

// The z of a two-sided Wald interval of `level` in (0, 1): Phi^-1((1 + level) / 2). Throws
// UsageError for a level outside (0, 1).
double wald_z(double level);

// Quasi-variances from the covariance of n_items estimates (n_items x n_items, row-major; any
// parameterization with the same contrast variances Var(s_i - s_j) gives the same answer).
struct QuasiVariances {
  bool ok = false;                  // false: see message
  std::vector<double> quasi_var;    // n_items (may be negative in rare cases, as in qvcalc)
  double max_relative_error = 0.0;  // max over pairs of |sqrt((q_i + q_j) / Var(s_i - s_j)) - 1|
  int iterations = 0;               // Gauss-Newton steps
  std::string message;              // why it failed, when it did
};
QuasiVariances quasi_variances(const std::vector<double>& covariance, std::size_t n_items);

// One row of a Bradley-Terry table on an output scale; NaN where a value is absent.
struct ScaledEstimate {
  double strength = 0.0;
  double se = 0.0;
  double robust_se = 0.0;
  double ci_lo = 0.0;
  double ci_hi = 0.0;
  double quasi_var = 0.0;  // Elo scale: times (400 / ln 10)^2; worth: kept on the log scale
  double quasi_se = 0.0;   // Elo scale: times 400 / ln 10; worth: kept on the log scale
};

const char* to_string(StrengthScale scale);

// Item `item` of a fit on `scale`; elo_offset is the Elo scale's constant (kEloBase unless an
// anchor moves it).
ScaledEstimate scaled_item(const BradleyTerryFit& fit, std::size_t item, StrengthScale scale,
                           double elo_offset);
// The home advantage on `scale`.
ScaledEstimate scaled_home(const BradleyTerryFit& fit, StrengthScale scale);

}  // namespace btfit
