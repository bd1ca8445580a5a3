// CPU (OpenMP) objectives: the reference backend.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "btfit/data.h"
#include "btfit/objective.h"

namespace btfit {

// Bradley-Terry negative log-likelihood
//   f(s, h) = sum_k w_k [softplus(eta_k) - y_k eta_k],  eta_k = s[a_k] - s[b_k] + h*home_k
// gradient: df/ds_a += r_k, df/ds_b -= r_k, df/dh += r_k*home_k with r_k = w_k (p_k - y_k);
// Hessian: sum_k w_k p_k (1 - p_k) x_k x_k^T, x_k = e_a - e_b (+ e_h): a weighted graph
// Laplacian (plus the home row and column). Parameters: n_items strengths, then h if home.
class BradleyTerryCpuObjective : public Objective {
 public:
  BradleyTerryCpuObjective(const Comparisons& data, bool home_advantage, int threads);
  std::size_t n_params() const override { return n_params_; }
  double value_gradient(const double* theta, double* gradient) override;
  // The NLL alone: one division and one log1p per comparison (worths exp(s_i - m), one exp
  // per item), no scatter; the current point is unchanged.
  double value(const double* theta) override;
  void hessian_vector(const double* v, double* hv) override;
  void hessian_diagonal(double* diag) override;
  void value_gradient_batch(const double* theta, std::size_t k, double* values,
                            double* gradients) override;
  void hessian_vector_batch(const double* v, std::size_t k, double* hv) override;
  // Bootstrap replicates (host/objective_cpu_replicates.cpp): one thread per replicate, so the
  // sums do not depend on the thread count. When rows repeat (same a, b and home flag), the
  // replicate weights are summed per distinct row once per batch and every later pass runs over
  // the distinct rows only.
  bool supports_replicates() const override { return true; }
  void value_gradient_replicates(const ReplicateBatch& batch, const double* theta, double* values,
                                 double* gradients) override;
  void hessian_vector_replicates(const ReplicateBatch& batch, const double* v, double* hv) override;
  void hessian_diagonal_replicates(const ReplicateBatch& batch, double* diag) override;
  std::size_t passes() const override { return passes_; }
  const char* device_name() const override { return "cpu"; }

  struct ReplicateState;  // host/objective_cpu_replicates.cpp

 private:
  ReplicateState& replicate_state(const ReplicateBatch& batch);
  std::shared_ptr<ReplicateState> replicates_;
  const Comparisons& data_;
  bool home_;
  std::size_t n_items_;
  std::size_t n_params_;
  int threads_;
  double* curvature();             // curvature_, allocated on first use
  std::vector<double> curvature_;  // n_comparisons: w p (1 - p) at the current point
  std::vector<double> scratch_;    // threads x n_params (per-thread gradient sums)
  std::size_t passes_ = 0;
};

// Logistic regression negative log-likelihood
//   f(beta) = sum_i w_i [softplus(eta_i) - y_i eta_i],  eta_i = beta_0 + x_i . beta
// gradient X^T r, Hessian X^T D X with r_i = w_i (p_i - y_i), D_ii = w_i p_i (1 - p_i).
// One read of X per value+gradient: each block of rows computes its margins and adds its
// share of X^T r while the block is in cache. Parameters: [intercept,] then n_features.
class LogisticCpuObjective : public Objective {
 public:
  LogisticCpuObjective(const Rows& data, bool intercept, int threads);
  std::size_t n_params() const override { return n_params_; }
  double value_gradient(const double* theta, double* gradient) override;
  void hessian_vector(const double* v, double* hv) override;
  void hessian_diagonal(double* diag) override;
  void value_gradient_batch(const double* theta, std::size_t k, double* values,
                            double* gradients) override;
  // Bootstrap replicates (host/objective_cpu_replicates.cpp): blocks of rows in parallel, each
  // block's margins for the K vectors from one matrix product.
  bool supports_replicates() const override { return true; }
  void value_gradient_replicates(const ReplicateBatch& batch, const double* theta, double* values,
                                 double* gradients) override;
  void hessian_vector_replicates(const ReplicateBatch& batch, const double* v, double* hv) override;
  void hessian_diagonal_replicates(const ReplicateBatch& batch, double* diag) override;
  std::size_t passes() const override { return passes_; }
  const char* device_name() const override { return "cpu"; }

 private:
  std::vector<double> replicate_curvature_;  // n_rows x K: w_rj p (1 - p) at replicate j's point
  ReplicateBatch replicate_batch_;           // the batch replicate_curvature_ belongs to
  const Rows& data_;
  std::size_t offset_;  // 1 with an intercept, else 0
  std::size_t n_params_;
  int threads_;
  std::vector<double> curvature_;  // n_rows: w p (1 - p) at the current point
  std::vector<double> scratch_;    // threads x n_params
  std::size_t passes_ = 0;
};

int resolve_threads(int threads);

// Worths pi_i = exp(theta_i - middle) of Bradley-Terry strengths, middle the midpoint of
// theta[0..n): they neither overflow nor underflow while half_range (plus |h| with a home
// advantage) stays within kWorthRange, so a sigmoid of s_a - s_b is pi_a / (pi_a + pi_b), a
// division instead of an exp (host/newman.cpp, BradleyTerryCpuObjective::value).
constexpr double kWorthRange = 600.0;  // exp(600) = 3.8e260: the sum of two still fits
struct StrengthSpan {
  double middle = 0.0;
  double half_range = 0.0;
};
StrengthSpan strength_span(const double* theta, std::size_t n);

}  // namespace btfit
