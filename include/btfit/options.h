// Fit options. Each field states its meaning, default and allowed range; validate_* throws
// UsageError naming the field when a value is out of range.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace btfit {

// One Gaussian prior term: (theta_name - mean)^2 / (2 sd^2). `name` is an item or term name,
// or "(intercept)" / "(home)". sd > 0, mean finite.
struct PriorTerm {
  std::string name;
  double mean = 0.0;
  double sd = 1.0;
};

enum class Solver {
  automatic,  // the measured fastest (BENCHMARKS.md): Bradley-Terry on the CPU, Newman's
              // iteration, handing over to Newton-CG when its rate is slow; Newton-CG on a
              // GPU backend and for logistic regression
  newton,     // trust-region Newton-CG with a Jacobi preconditioner (LIBLINEAR's TRON)
  lbfgs,      // limited-memory BFGS with a Wolfe line search
  newman,     // Newman's (2023) fixed-point iteration; Bradley-Terry only (host/newman.cpp)
};

// Whether Bradley-Terry comparisons are collapsed into counts before fitting: rows with the
// same unordered pair, outcome and (with a home advantage) home flag become one weighted row.
// Exact: the objective, its gradient and Hessian are the same sums, only grouped.
enum class Aggregation {
  automatic,  // when the estimated number of distinct rows is below half the row count
  on,         // always
  off,        // never
};

enum class Device {
  automatic,  // CUDA when built with it, a device is present and the data are large; else CPU
  cpu,
  cuda,
};

// Sandwich (robust) standard errors, reported next to the model-based ones (CONVENTIONS.md).
enum class RobustCovariance {
  none,     // model-based standard errors only
  hc0,      // HC0 sandwich H^-1 B H^-1, B = sum_k w_k r_k^2 x_k x_k^T: a frequency weight w
            // counts w independent units
  cluster,  // cluster-robust: scores summed within each cluster of the data's `cluster` ids
            // first, times G/(G-1) * (N-1)/(N-K) (statsmodels' default for cov_type='cluster')
};

// Options that every fit shares.
struct SolverOptions {
  Solver solver = Solver::automatic;
  Device device = Device::automatic;
  int threads = 0;             // OpenMP threads; 0 = all available; >= 0
  double tolerance = 1e-8;     // stop when ||grad|| <= tolerance * ||grad at start||; (0, 1)
  int max_iterations = 1000;   // outer iterations (Newton steps or L-BFGS steps); >= 1
  int lbfgs_memory = 10;       // L-BFGS history pairs; >= 1
  std::size_t dense_limit = 5000;  // largest parameter count for dense SEs; >= 0
  bool standard_errors = true;  // compute standard errors (up to dense_limit)
  bool deterministic = false;   // the same bits on every run: on CUDA, sums onto items in a fixed
                                // order (sorted scatter) instead of atomics; the CPU always is
};

// Bootstrap percentile intervals (CONVENTIONS.md): in replicate r a row of weight w gets the
// weight Poisson(w), drawn by a counter-based generator keyed by (seed, r, row), so the draws
// do not depend on the thread count or the device.
struct BootstrapOptions {
  std::size_t replicates = 0;  // B, the number of replicates; 0 = no bootstrap
  std::uint64_t seed = 1;      // the same seed gives the same weights and intervals
  std::size_t batch = 0;       // replicates fitted together, one pass over the data serving all
                               // of them (K); 0 = automatic (up to 32, within a memory budget)
};

// Standard errors above the dense limit (Bradley-Terry), from conjugate-gradient solves with
// Hessian-vector products: no dense P x P matrix is formed.
struct LargeScaleSeOptions {
  std::size_t top = 0;             // exact SEs for the N strongest items; >= 0
  std::vector<std::string> items;  // exact SEs for these items (names)
  std::size_t probes = 0;          // stochastic SEs for every item from this many Rademacher
                                   // probes (Bekas, Kokiopoulou and Saad 2007); 0 = off
  std::uint64_t seed = 1;          // seed of the probes
  double cg_tolerance = 1e-10;     // relative residual at which each CG solve stops; (0, 0.1]
};

struct BradleyTerryOptions {
  bool home_advantage = false;   // add h to the margin of rows with a at home (needs flags)
  double l2 = 0.0;               // (l2/2) * sum_i s_i^2 over items; >= 0
  std::vector<PriorTerm> prior;  // Gaussian priors on named items and "(home)"
  double pseudo = 0.0;           // C virtual wins and losses per item vs strength 0; >= 0
  Aggregation aggregate = Aggregation::automatic;  // collapse repeated comparisons into counts
  std::string reference;         // report s_i - s_reference (empty: mean-zero or as fitted)
  bool firth = false;            // Jeffreys-prior penalty -(1/2) log det I (Firth 1993); dense only
  BootstrapOptions bootstrap;    // percentile intervals for strengths and ranks
  LargeScaleSeOptions large_scale_se;  // SEs when the parameters exceed solver.dense_limit
  double ci_level = 0.95;        // level of every interval; (0, 1)
  bool wald_intervals = false;    // fill ci_lo, ci_hi: estimate -+ z * SE at ci_level
  RobustCovariance robust = RobustCovariance::none;  // robust_se column (dense SEs only)
  bool quasi_variances = false;  // quasi_var, quasi_se (Firth and de Menezes 2004; dense only)
  bool keep_covariance = false;  // keep the covariance behind the Wald intervals in the result
                                 // (what saved_model needs for prediction intervals; dense only)
  SolverOptions solver;
};

struct LogisticOptions {
  bool intercept = true;           // add an unpenalized intercept "(intercept)"
  double l2 = 0.0;                 // (l2/2) * sum_j beta_j^2 over the coefficients; >= 0
  bool penalize_intercept = false;  // include the intercept in the L2 sum
  std::vector<PriorTerm> prior;    // Gaussian priors on named terms and "(intercept)"
  bool firth = false;              // Jeffreys-prior penalty -(1/2) log det I (Firth 1993); dense only
  BootstrapOptions bootstrap;      // percentile intervals for the coefficients
  double ci_level = 0.95;          // level of every interval; (0, 1)
  bool wald_intervals = false;      // fill ci_lo, ci_hi: estimate -+ z * SE at ci_level
  RobustCovariance robust = RobustCovariance::none;  // robust_se column (dense SEs only)
  bool keep_covariance = false;    // keep the covariance behind the Wald intervals in the result
  SolverOptions solver;
};

void validate(const SolverOptions& options);
void validate(const BradleyTerryOptions& options);
void validate(const LogisticOptions& options);

}  // namespace btfit
