// CPU (OpenMP) objectives: the reference backend.
#pragma once

#include <cstddef>
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
  void hessian_vector(const double* v, double* hv) override;
  void hessian_diagonal(double* diag) override;
  void value_gradient_batch(const double* theta, std::size_t k, double* values,
                            double* gradients) override;
  std::size_t passes() const override { return passes_; }
  const char* device_name() const override { return "cpu"; }

 private:
  const Comparisons& data_;
  bool home_;
  std::size_t n_items_;
  std::size_t n_params_;
  int threads_;
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
  std::size_t passes() const override { return passes_; }
  const char* device_name() const override { return "cpu"; }

 private:
  const Rows& data_;
  std::size_t offset_;  // 1 with an intercept, else 0
  std::size_t n_params_;
  int threads_;
  std::vector<double> curvature_;  // n_rows: w p (1 - p) at the current point
  std::vector<double> scratch_;    // threads x n_params
  std::size_t passes_ = 0;
};

int resolve_threads(int threads);

}  // namespace btfit
