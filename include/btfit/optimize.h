// Optimizers that see only the Objective seam, and the penalty terms the host adds to it.
#pragma once

#include <cstddef>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "btfit/data.h"
#include "btfit/objective.h"
#include "btfit/options.h"

namespace btfit {

// Separable penalty and prior terms, per parameter j (all vectors n_params long):
//   l2[j]/2 * theta_j^2  +  precision[j]/2 * (theta_j - mean[j])^2
//   + pseudo[j] * (2 softplus(theta_j) - theta_j)   (pseudo[j] virtual wins and losses
//                                                      against a virtual item at 0)
struct DiagonalPenalty {
  std::vector<double> l2;
  std::vector<double> prior_mean;
  std::vector<double> prior_precision;
  std::vector<double> pseudo;

  explicit DiagonalPenalty(std::size_t n_params = 0)
      : l2(n_params, 0.0), prior_mean(n_params, 0.0), prior_precision(n_params, 0.0),
        pseudo(n_params, 0.0) {}
  bool empty() const;
  double value(const double* theta) const;
  // gradient += d penalty / d theta
  void add_gradient(const double* theta, double* gradient) const;
  // diag H of the penalty at theta (it is diagonal).
  void curvature(const double* theta, double* diag) const;
  // Whether parameter j has a term that makes it strictly convex.
  bool covers(std::size_t j) const { return l2[j] > 0 || prior_precision[j] > 0 || pseudo[j] > 0; }
};

// data objective + DiagonalPenalty, behind the same seam.
class PenalizedObjective : public Objective {
 public:
  PenalizedObjective(Objective& data, DiagonalPenalty penalty);
  std::size_t n_params() const override { return data_.n_params(); }
  double value_gradient(const double* theta, double* gradient) override;
  // The data's value plus the penalty's; sets last_data_value().
  double value(const double* theta) override;
  void hessian_vector(const double* v, double* hv) override;
  void hessian_diagonal(double* diag) override;
  void value_gradient_batch(const double* theta, std::size_t k, double* values,
                            double* gradients) override;
  std::size_t passes() const override { return data_.passes(); }
  const char* device_name() const override { return data_.device_name(); }
  const DiagonalPenalty& penalty() const { return penalty_; }
  // The NLL part of the last value_gradient or value call.
  double last_data_value() const { return last_data_value_; }

 private:
  Objective& data_;
  DiagonalPenalty penalty_;
  std::vector<double> current_;  // theta of the last value_gradient call
  std::vector<double> penalty_curvature_;
  double last_data_value_ = 0.0;
};

enum class OptimizerStatus {
  converged,       // ||g|| <= tolerance * ||g0||
  max_iterations,  // the iteration limit came first
  no_progress,     // neither the objective nor the step could improve further
  numeric_error,   // a non-finite value or gradient
};
const char* to_string(OptimizerStatus status);

struct OptimizerResult {
  OptimizerStatus status = OptimizerStatus::numeric_error;
  int iterations = 0;
  double value = 0.0;
  double gradient_norm = 0.0;
  double initial_gradient_norm = 0.0;
  std::size_t hessian_products = 0;
  // The NLL at the returned point when the solver had it from its last pass (Newman's
  // iteration on unweighted wins, the dense-row Newton method), else NaN.
  double data_value = std::numeric_limits<double>::quiet_NaN();
  std::size_t passes = 0;  // passes made by a solver that reads the data itself (Newman, the
                           // dense-row Newton method, Firth); the seam solvers leave 0 (their
                           // Objective counts its own passes)
};

// Optional per-iteration callback: (iteration, value, gradient norm).
using ProgressCallback = void (*)(void* context, int iteration, double value, double gnorm);

struct OptimizerSettings {
  double tolerance = 1e-8;
  int max_iterations = 1000;
  int lbfgs_memory = 10;
  // Newman only: stop with status no_progress once the rate of the last iterations predicts
  // more passes in all than this (Solver::automatic then goes on with Newton-CG); 0 = never.
  int newman_pass_budget = 0;
  ProgressCallback progress = nullptr;
  void* progress_context = nullptr;
};

// Trust-region Newton-CG with a Jacobi preconditioner (Lin, Weng and Keerthi 2008; Hsia,
// Chiang and Lin 2018): LIBLINEAR's TRON. theta is the start on entry, the optimum on exit.
OptimizerResult minimize_newton(Objective& objective, double* theta, const OptimizerSettings& settings);

// L-BFGS (Nocedal 1980; Liu and Nocedal 1989) with a line search satisfying the strong Wolfe
// conditions (More and Thuente 1994, as bracketing with cubic interpolation).
OptimizerResult minimize_lbfgs(Objective& objective, double* theta, const OptimizerSettings& settings);

// Newman's (2023) iteration for Bradley-Terry ("Efficient computation of rankings from pairwise
// comparisons", JMLR 24), on the comparisons directly: one pass gives, per parameter j, the
// win-side and loss-side sums A_j and B_j (the gradient is B - A + penalty') and the update
//   theta_j <- theta_j + delta_j,  A_j e^(-delta_j/2) - B_j e^(delta_j/2) = c_j (theta_j + delta_j) - d_j
// (Newman's exp(delta) = A/B when c_j = 0; c_j, d_j from the L2 and prior terms; pseudo-
// comparisons are added to A and B), with Anderson acceleration. Parameters: n_items
// strengths, then h with home_advantage. theta is the start on entry, the optimum on exit.
// The stopping rule is the one of the other solvers: ||grad f|| <= tolerance * ||grad f at
// the start||. result.value is NaN; result.data_value is the NLL at the optimum when the last
// pass could give it (unweighted wins above 16384 items, strengths within a span of 40), else
// NaN (evaluate it through the seam). The passes run on the CPU (OpenMP) over `data`, or,
// with device_sums (an objective over the same comparisons whose has_newman_sums() is true,
// such as the CUDA backend's), on that backend's device: then only the update runs here.
OptimizerResult minimize_newman(const Comparisons& data, bool home_advantage, const DiagonalPenalty& penalty,
                                double* theta, const OptimizerSettings& settings, int threads,
                                Objective* device_sums = nullptr);

// Newton's method with the exact Hessian for logistic regression on dense rows (few columns):
// one pass per iteration gives the value, the gradient and X^T diag(w p (1 - p)) X (symmetric
// rank-k updates over blocks of rows), the step comes from a Cholesky factorization of the
// penalized Hessian, and a backtracking (Armijo) line search keeps the objective decreasing.
// Parameters: the intercept (when `intercept`), then the coefficients; theta is the start on
// entry, the optimum on exit. Same stopping rule as the other solvers; result.value is the
// penalized objective, result.data_value its NLL part and result.passes the passes over the
// rows. CPU only (OpenMP).
// Above 2 kDenseNewtonSampleRows rows the Hessian comes from every k-th block of rows, about
// kDenseNewtonSampleRows of them (the value and gradient from all rows).
constexpr std::size_t kDenseNewtonSampleRows = 131072;
OptimizerResult minimize_logistic_dense_newton(const Rows& data, bool intercept, const DiagonalPenalty& penalty,
                                               double* theta, const OptimizerSettings& settings, int threads);

// Newton-CG or L-BFGS through the seam (Solver::automatic and Solver::newman run Newton-CG:
// Newman's iteration needs the comparisons, see minimize_newman).
OptimizerResult minimize(Objective& objective, double* theta, Solver solver,
                         const OptimizerSettings& settings);

}  // namespace btfit
