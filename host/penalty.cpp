// Separable penalty and prior terms added on the host to a data objective.
//   L2:      (l2_j / 2) theta_j^2
//   prior:   (precision_j / 2) (theta_j - mean_j)^2,  precision_j = 1 / sd_j^2
//   pseudo:  C_j [softplus(theta_j) - theta_j] + C_j softplus(theta_j): C_j virtual wins and
//            C_j virtual losses against a virtual item fixed at 0 (Newman 2023; PlackettLuce's
//            npseudo).
#include <cmath>

#include "btfit/detail/maths.h"
#include "btfit/optimize.h"

namespace btfit {

using detail::sigmoid;
using detail::softplus;

bool DiagonalPenalty::empty() const {
  for (std::size_t j = 0; j < l2.size(); ++j)
    if (covers(j)) return false;
  return true;
}

double DiagonalPenalty::value(const double* theta) const {
  double total = 0.0;
  for (std::size_t j = 0; j < l2.size(); ++j) {
    const double t = theta[j];
    if (l2[j] != 0.0) total += 0.5 * l2[j] * t * t;
    if (prior_precision[j] != 0.0) {
      const double d = t - prior_mean[j];
      total += 0.5 * prior_precision[j] * d * d;
    }
    if (pseudo[j] != 0.0) total += pseudo[j] * (2.0 * softplus(t) - t);
  }
  return total;
}

void DiagonalPenalty::add_gradient(const double* theta, double* gradient) const {
  for (std::size_t j = 0; j < l2.size(); ++j) {
    const double t = theta[j];
    double g = l2[j] * t + prior_precision[j] * (t - prior_mean[j]);
    if (pseudo[j] != 0.0) g += pseudo[j] * (2.0 * sigmoid(t) - 1.0);
    gradient[j] += g;
  }
}

void DiagonalPenalty::curvature(const double* theta, double* diag) const {
  for (std::size_t j = 0; j < l2.size(); ++j) {
    double c = l2[j] + prior_precision[j];
    if (pseudo[j] != 0.0) c += 2.0 * pseudo[j] * sigmoid(theta[j]) * sigmoid(-theta[j]);
    diag[j] = c;
  }
}

PenalizedObjective::PenalizedObjective(Objective& data, DiagonalPenalty penalty)
    : data_(data),
      penalty_(std::move(penalty)),
      current_(data.n_params(), 0.0),
      penalty_curvature_(data.n_params(), 0.0) {}

double PenalizedObjective::value_gradient(const double* theta, double* gradient) {
  last_data_value_ = data_.value_gradient(theta, gradient);
  const std::size_t p = n_params();
  std::copy(theta, theta + p, current_.begin());
  penalty_.add_gradient(theta, gradient);
  penalty_.curvature(theta, penalty_curvature_.data());
  return last_data_value_ + penalty_.value(theta);
}

double PenalizedObjective::value(const double* theta) {
  last_data_value_ = data_.value(theta);
  return last_data_value_ + penalty_.value(theta);
}

void PenalizedObjective::hessian_vector(const double* v, double* hv) {
  data_.hessian_vector(v, hv);
  for (std::size_t j = 0; j < n_params(); ++j) hv[j] += penalty_curvature_[j] * v[j];
}

void PenalizedObjective::hessian_diagonal(double* diag) {
  data_.hessian_diagonal(diag);
  for (std::size_t j = 0; j < n_params(); ++j) diag[j] += penalty_curvature_[j];
}

void PenalizedObjective::value_gradient_batch(const double* theta, std::size_t k, double* values,
                                              double* gradients) {
  data_.value_gradient_batch(theta, k, values, gradients);
  const std::size_t p = n_params();
  for (std::size_t i = 0; i < k; ++i) {
    values[i] += penalty_.value(theta + i * p);
    penalty_.add_gradient(theta + i * p, gradients + i * p);
  }
}

}  // namespace btfit
