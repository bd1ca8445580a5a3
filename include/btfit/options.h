// Fit options. Each field states its meaning, default and allowed range; validate_* throws
// UsageError naming the field when a value is out of range.
#pragma once

#include <cstddef>
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
  automatic,  // the measured fastest for the model (trust-region Newton-CG for both)
  newton,     // trust-region Newton-CG with a Jacobi preconditioner (LIBLINEAR's TRON)
  lbfgs,      // limited-memory BFGS with a Wolfe line search
};

enum class Device {
  automatic,  // CUDA when built with it, a device is present and the data are large; else CPU
  cpu,
  cuda,
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
};

struct BradleyTerryOptions {
  bool home_advantage = false;   // add h to the margin of rows with a at home (needs flags)
  double l2 = 0.0;               // (l2/2) * sum_i s_i^2 over items; >= 0
  std::vector<PriorTerm> prior;  // Gaussian priors on named items and "(home)"
  double pseudo = 0.0;           // C virtual wins and losses per item vs strength 0; >= 0
  std::string reference;         // report s_i - s_reference (empty: mean-zero or as fitted)
  SolverOptions solver;
};

struct LogisticOptions {
  bool intercept = true;           // add an unpenalized intercept "(intercept)"
  double l2 = 0.0;                 // (l2/2) * sum_j beta_j^2 over the coefficients; >= 0
  bool penalize_intercept = false;  // include the intercept in the L2 sum
  std::vector<PriorTerm> prior;    // Gaussian priors on named terms and "(intercept)"
  SolverOptions solver;
};

void validate(const SolverOptions& options);
void validate(const BradleyTerryOptions& options);
void validate(const LogisticOptions& options);

}  // namespace btfit
