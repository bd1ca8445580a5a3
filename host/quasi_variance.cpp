// Quasi-variances (Firth and de Menezes 2004), as R's qvcalc computes them.
//
// Given the covariance V of n item estimates, the contrast variances are
// v_ij = V_ii + V_jj - 2 V_ij. The quasi-variances q minimize
//     F(q) = sum_{i<j} (log(q_i + q_j) - log v_ij)^2,
// the least-squares criterion that qvcalc fits with a glm (identity variance, link
// log(q_i + q_j)); its IRLS is the Gauss-Newton iteration used here:
//     (J^T J) delta = J^T e,  e_ij = log(q_i + q_j) - log v_ij,  J_ij,i = J_ij,j = 1/(q_i + q_j),
// (J^T J)_ii = sum_{j != i} 1/(q_i + q_j)^2, (J^T J)_ij = 1/(q_i + q_j)^2, with step halving
// that keeps every q_i + q_j positive and F decreasing. The start is the linear least-squares
// solution of q_i + q_j = v_ij (closed form for the complete design). O(n^2) per iteration to
// form J^T J and O(n^3) to factor it: meant for up to a few thousand items (the dense limit).
// qvcalc's "relative errors" sqrt((q_i + q_j) / v_ij) - 1 summarize how well the q's do.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "btfit/uncertainty.h"

namespace btfit {

QuasiVariances quasi_variances(const std::vector<double>& covariance, std::size_t n_items) {
  QuasiVariances out;
  const std::size_t n = n_items;
  if (n < 3) {
    out.message = "quasi-variances need at least 3 items (qvcalc's rule)";
    return out;
  }
  if (covariance.size() != n * n) {
    out.message = "the covariance is not n_items x n_items";
    return out;
  }
  const double* cov = covariance.data();
  auto contrast_variance = [&](std::size_t i, std::size_t j) {
    return cov[i * n + i] + cov[j * n + j] - 2.0 * cov[i * n + j];
  };
  const auto nn = static_cast<std::ptrdiff_t>(n);

  // Contrast variances must be positive; the start from the linear least-squares fit.
  Eigen::VectorXd row_sum = Eigen::VectorXd::Zero(nn);
  bool positive = true;
#pragma omp parallel for schedule(static) reduction(&& : positive)
  for (std::ptrdiff_t ii = 0; ii < nn; ++ii) {
    const auto i = static_cast<std::size_t>(ii);
    double s = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const double v = contrast_variance(i, j);
      positive = positive && v > 0.0 && std::isfinite(v);
      s += v;
    }
    row_sum[ii] = s;
  }
  if (!positive) {
    out.message = "not all contrasts have positive variance";
    return out;
  }
  // log v_ij once (n x n, symmetric, row-major): every later pass reads a row of it.
  std::vector<double> log_variance(n * n, 0.0);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t ii = 0; ii < nn; ++ii) {
    const auto i = static_cast<std::size_t>(ii);
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) log_variance[i * n + j] = std::log(contrast_variance(i, j));
  }
  const double total = row_sum.sum() / (2.0 * static_cast<double>(n) - 2.0);
  Eigen::VectorXd q = (row_sum.array() - total) / (static_cast<double>(n) - 2.0);

  auto min_pair_sum = [&](const Eigen::VectorXd& x) {
    double lo1 = std::numeric_limits<double>::infinity(), lo2 = lo1;
    for (Eigen::Index i = 0; i < x.size(); ++i) {
      if (x[i] < lo1) {
        lo2 = lo1;
        lo1 = x[i];
      } else if (x[i] < lo2) {
        lo2 = x[i];
      }
    }
    return lo1 + lo2;
  };
  if (!(min_pair_sum(q) > 0.0)) q.setConstant(0.5 * row_sum.sum() / static_cast<double>(n * (n - 1)));

  auto objective = [&](const Eigen::VectorXd& x) {
    double f = 0.0;
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : f)
    for (std::ptrdiff_t ii = 0; ii < nn; ++ii) {
      const auto i = static_cast<std::size_t>(ii);
      const double* log_v = log_variance.data() + i * n;
      for (std::size_t j = i + 1; j < n; ++j) {
        const double e = std::log(x[ii] + x[static_cast<Eigen::Index>(j)]) - log_v[j];
        f += e * e;
      }
    }
    return f;
  };

  double f = objective(q);
  Eigen::MatrixXd normal(nn, nn);
  Eigen::VectorXd gradient(nn);
  constexpr int kMaxIterations = 200;
  for (int iteration = 1; iteration <= kMaxIterations; ++iteration) {
#pragma omp parallel for schedule(static)
    for (std::ptrdiff_t ii = 0; ii < nn; ++ii) {
      const auto i = static_cast<std::size_t>(ii);
      const double* log_v = log_variance.data() + i * n;
      double* column = normal.data() + ii * nn;  // column ii (the matrix is symmetric)
      double diagonal = 0.0, g = 0.0;
      for (std::size_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const double fitted = q[ii] + q[static_cast<Eigen::Index>(j)];
        const double inverse = 1.0 / fitted;
        const double e = std::log(fitted) - log_v[j];
        column[j] = inverse * inverse;
        diagonal += inverse * inverse;
        g += e * inverse;
      }
      normal(ii, ii) = diagonal;
      gradient[ii] = g;
    }
    Eigen::LLT<Eigen::MatrixXd> llt(normal);
    if (llt.info() != Eigen::Success) {
      out.message = "the Gauss-Newton system is not positive definite";
      return out;
    }
    const Eigen::VectorXd delta = llt.solve(gradient);
    out.iterations = iteration;
    const bool small = delta.cwiseAbs().maxCoeff() <= 1e-14 * q.cwiseAbs().maxCoeff();
    double t = 1.0;
    bool moved = false;
    for (int halving = 0; halving < 60; ++halving, t *= 0.5) {
      const Eigen::VectorXd trial = q - t * delta;
      if (!(min_pair_sum(trial) > 0.0)) continue;
      const double f_trial = objective(trial);
      if (f_trial <= f) {
        q = trial;
        moved = f - f_trial > 1e-15 * f;
        f = f_trial;
        break;
      }
    }
    if (small || !moved) break;  // converged, or at the optimum to rounding
  }

  out.quasi_var.assign(q.data(), q.data() + n);
  double worst = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j)
      worst = std::max(
          worst, std::fabs(std::sqrt((q[static_cast<Eigen::Index>(i)] + q[static_cast<Eigen::Index>(j)]) /
                                     contrast_variance(i, j)) -
                           1.0));
  out.max_relative_error = worst;
  out.ok = true;
  return out;
}

}  // namespace btfit
