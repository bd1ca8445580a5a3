// Newton's method with the exact Hessian for logistic regression on dense rows of few
// columns (iteratively reweighted least squares with a line search). One pass over the rows
// per iteration computes the value, the gradient and H = X^T diag(w p (1 - p)) X: rows in
// blocks, each block scaled by sqrt(w p (1 - p)) and added by a symmetric rank-k update
// (Eigen's matrix kernels; one accumulator per thread, added in thread order). The step
// solves (H + penalty curvature) s = -g by a Cholesky factorization (LDLT when H is only
// semidefinite), and a backtracking line search (Armijo) keeps the objective decreasing.
// Newton-CG reads the rows 3 to 5 times per iteration (gradient, diagonal, Hessian-vector
// products); this reads them once and does p^2 / 2 multiply-adds per row on top, which pays
// while p is small (the caller's limit, measured in BENCHMARKS.md).
#include <omp.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "btfit/detail/maths.h"
#include "btfit/error.h"
#include "btfit/optimize.h"
#include "objective_cpu.h"

namespace btfit {

namespace {

constexpr std::size_t kRowBlock = 256;
// Rows whose curvature goes into the Hessian: all of them up to twice this many, else every
// stride-th block of rows, about this many (see minimize_logistic_dense_newton).
constexpr std::size_t kHessianRows = kDenseNewtonSampleRows;
constexpr double kArmijo = 1e-4;
constexpr int kMaxHalvings = 40;
// A promised decrease below this fraction of |f| is within f's rounding.
constexpr double kRoundingLevel = 1e-10;

struct DensePass {
  double nll = 0.0;
  double value = 0.0;  // NLL + penalty
  Eigen::VectorXd gradient;
  Eigen::MatrixXd hessian;  // lower triangle filled
};

// Value, gradient and (lower) Hessian of NLL + penalty at theta; the NLL's Hessian from every
// stride-th block of rows, scaled by rows / rows used.
void evaluate(const Rows& data, std::size_t offset, const DiagonalPenalty& penalty, const double* theta, int threads,
              std::size_t stride, DensePass* out) {
  const std::size_t n = data.n_rows, nf = data.n_features, p = nf + offset;
  const auto pp = static_cast<Eigen::Index>(p);
  const double intercept = offset ? theta[0] : 0.0;
  const Eigen::Map<const Eigen::VectorXd> beta(theta + offset, static_cast<Eigen::Index>(nf));
  const std::size_t n_blocks = (n + kRowBlock - 1) / kRowBlock;
  std::vector<Eigen::MatrixXd> hessians(static_cast<std::size_t>(threads));
  std::vector<Eigen::VectorXd> gradients(static_cast<std::size_t>(threads));
  std::vector<double> values(static_cast<std::size_t>(threads), 0.0);
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
#pragma omp parallel num_threads(threads)
  {
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    Eigen::MatrixXd& h = hessians[t];
    Eigen::VectorXd& g = gradients[t];
    h.setZero(pp, pp);
    g.setZero(pp);
    double value = 0.0;
    Eigen::VectorXd eta(static_cast<Eigen::Index>(kRowBlock)), resid(static_cast<Eigen::Index>(kRowBlock)),
        root(static_cast<Eigen::Index>(kRowBlock));
    Eigen::MatrixXd scaled(static_cast<Eigen::Index>(kRowBlock), pp);  // sqrt(d_i) (1, x_i)
#pragma omp for schedule(static)
    for (std::ptrdiff_t bb = 0; bb < static_cast<std::ptrdiff_t>(n_blocks); ++bb) {
      const std::size_t begin = static_cast<std::size_t>(bb) * kRowBlock;
      const auto rows = static_cast<Eigen::Index>(std::min(kRowBlock, n - begin));
      const Eigen::Map<const RowMajor> x(data.dense.data() + begin * nf, rows, static_cast<Eigen::Index>(nf));
      eta.head(rows).noalias() = x * beta;
      for (Eigen::Index i = 0; i < rows; ++i) {
        const std::size_t r = begin + static_cast<std::size_t>(i);
        const auto terms = detail::bernoulli_terms(eta[i] + intercept, data.label[r], data.w(r));
        value += terms.value;
        resid[i] = terms.residual;
        root[i] = std::sqrt(terms.curvature);
      }
      if (offset) g[0] += resid.head(rows).sum();
      g.tail(static_cast<Eigen::Index>(nf)).noalias() += x.transpose() * resid.head(rows);
      if (static_cast<std::size_t>(bb) % stride != 0) continue;  // not in the Hessian's sample
      if (offset) scaled.col(0).head(rows) = root.head(rows);
      scaled.block(0, static_cast<Eigen::Index>(offset), rows, static_cast<Eigen::Index>(nf)).noalias() =
          root.head(rows).asDiagonal() * x;
      h.selfadjointView<Eigen::Lower>().rankUpdate(scaled.topRows(rows).transpose());
    }
    values[t] = value;
  }
  out->hessian = hessians[0];
  out->gradient = gradients[0];
  out->value = values[0];
  for (std::size_t t = 1; t < hessians.size(); ++t) {
    out->hessian += hessians[t];
    out->gradient += gradients[t];
    out->value += values[t];
  }
  if (stride > 1) {
    std::size_t used = 0;
    for (std::size_t b = 0; b < n_blocks; b += stride) used += std::min(kRowBlock, n - b * kRowBlock);
    out->hessian *= static_cast<double>(n) / static_cast<double>(used);
  }
  std::vector<double> curvature(p);
  penalty.curvature(theta, curvature.data());
  penalty.add_gradient(theta, out->gradient.data());
  for (std::size_t j = 0; j < p; ++j) out->hessian(static_cast<Eigen::Index>(j), static_cast<Eigen::Index>(j)) += curvature[j];
  out->nll = out->value;
  out->value += penalty.value(theta);
}

}  // namespace

OptimizerResult minimize_logistic_dense_newton(const Rows& data, bool intercept, const DiagonalPenalty& penalty,
                                               double* theta, const OptimizerSettings& settings, int threads_in) {
  if (data.sparse) throw UsageError("the dense Newton solver needs dense rows");
  const std::size_t offset = intercept ? 1 : 0;
  const std::size_t p = data.n_features + offset;
  if (penalty.l2.size() != p) throw UsageError("dense Newton: the penalty has the wrong number of parameters");
  const int threads = static_cast<int>(std::max<std::size_t>(
      1, std::min<std::size_t>(static_cast<std::size_t>(resolve_threads(threads_in)), data.n_rows / kRowBlock)));
  const auto pp = static_cast<Eigen::Index>(p);
  OptimizerResult result;
  result.status = OptimizerStatus::max_iterations;
  Eigen::Map<Eigen::VectorXd> x(theta, pp);
  DensePass here, trial;
  // With many rows the Hessian comes from a systematic sample of blocks of rows (Byrd, Chin,
  // Neveitt and Nocedal 2011, "On the use of stochastic Hessian information in optimization
  // methods for machine learning", SIAM J. Optim. 21): the value and gradient stay exact, so
  // the iteration converges to the exact optimum, and the step, from a Hessian within a few
  // percent of the full one, keeps a fast linear rate at a fraction of the cost.
  const std::size_t n_blocks = (data.n_rows + kRowBlock - 1) / kRowBlock;
  const std::size_t stride =
      data.n_rows <= 2 * kHessianRows ? 1 : std::max<std::size_t>(1, n_blocks / (kHessianRows / kRowBlock));
  evaluate(data, offset, penalty, theta, threads, stride, &here);
  ++result.passes;
  result.initial_gradient_norm = here.gradient.norm();
  const double target = settings.tolerance * result.initial_gradient_norm;
  Eigen::VectorXd step(pp), candidate(pp);
  for (int iteration = 0;; ++iteration) {
    result.value = here.value;
    result.data_value = here.nll;
    result.gradient_norm = here.gradient.norm();
    if (!std::isfinite(here.value) || !std::isfinite(result.gradient_norm)) {
      result.status = OptimizerStatus::numeric_error;
      break;
    }
    if (iteration > 0 && settings.progress)
      settings.progress(settings.progress_context, iteration, here.value, result.gradient_norm);
    if (result.gradient_norm <= target || result.gradient_norm == 0.0) {
      result.status = OptimizerStatus::converged;
      break;
    }
    if (iteration >= settings.max_iterations) break;
    // The Newton step; LDLT with a tiny ridge when H + penalty is singular (a direction the
    // data do not determine: the line search then moves along the gradient's part there).
    Eigen::LLT<Eigen::MatrixXd> cholesky(here.hessian);
    if (cholesky.info() == Eigen::Success) {
      step = cholesky.solve(-here.gradient);
    } else {
      Eigen::MatrixXd ridged = here.hessian.selfadjointView<Eigen::Lower>();
      ridged.diagonal().array() += 1e-10 * std::max(1.0, ridged.diagonal().cwiseAbs().maxCoeff());
      step = ridged.ldlt().solve(-here.gradient);
    }
    const double slope = here.gradient.dot(step);
    if (!(slope < 0.0) || !step.allFinite()) {
      step = -here.gradient;  // not a descent direction: steepest descent, scaled by the search
    }
    const double directional = here.gradient.dot(step);
    // Near the optimum the decrease a step promises falls below the rounding of f (a sum over
    // all rows): there the step is taken when it reduces the gradient norm instead.
    const bool in_rounding = -directional <= kRoundingLevel * std::max(1.0, std::fabs(here.value));
    double alpha = 1.0;
    bool accepted = false;
    for (int halving = 0; halving <= kMaxHalvings; ++halving) {
      candidate = x + alpha * step;
      evaluate(data, offset, penalty, candidate.data(), threads, stride, &trial);
      ++result.passes;
      if (std::isfinite(trial.value) && (trial.value <= here.value + kArmijo * alpha * directional ||
                                         (in_rounding && trial.gradient.norm() < result.gradient_norm))) {
        accepted = true;
        break;
      }
      alpha *= 0.5;
    }
    result.iterations = iteration + 1;
    if (!accepted) {
      result.status = OptimizerStatus::no_progress;
      break;
    }
    x = candidate;
    std::swap(here, trial);
  }
  return result;
}

}  // namespace btfit
