// Per-comparison and per-row maths shared by the CPU and CUDA backends.
//
// Every loss in btfit is the negative log-likelihood of a Bernoulli outcome with
// log-odds eta and frequency weight w:
//     loss(eta, y, w) = w * [ softplus(eta) - y * eta ],  softplus(t) = log(1 + e^t)
//     d loss / d eta  = w * (sigmoid(eta) - y)
//     d2 loss / d eta2 = w * sigmoid(eta) * (1 - sigmoid(eta))
// softplus is evaluated as max(t, 0) + log1p(e^-|t|) and sigmoid branches on the sign of
// t, so exp never overflows (the LIBLINEAR habit). These functions compile for host and
// device; this header needs no CUDA headers.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define BTFIT_HD __host__ __device__ __forceinline__
#else
#define BTFIT_HD inline
#endif

namespace btfit::detail {

BTFIT_HD double softplus(double t) {
  return (t > 0.0 ? t : 0.0) + log1p(exp(-fabs(t)));
}

BTFIT_HD double sigmoid(double t) {
  if (t >= 0.0) {
    return 1.0 / (1.0 + exp(-t));
  }
  const double e = exp(t);
  return e / (1.0 + e);
}

// Bernoulli NLL of one observation, its derivative and curvature in eta.
struct LossTerms {
  double value;      // w * [softplus(eta) - y*eta]
  double residual;   // w * (sigmoid(eta) - y)
  double curvature;  // w * sigmoid(eta) * (1 - sigmoid(eta))
};

// One exp and one log1p per call: with e = exp(-|eta|),
//   softplus(eta) = max(eta, 0) + log1p(e),
//   sigmoid(eta) = 1/(1+e) for eta >= 0 and e/(1+e) below, sigmoid(-eta) the other one,
// so p and 1 - p are both computed without cancellation.
BTFIT_HD LossTerms bernoulli_terms(double eta, double y, double w) {
  const double e = exp(-fabs(eta));
  const double inv = 1.0 / (1.0 + e);
  const double p = eta >= 0.0 ? inv : e * inv;  // sigmoid(eta)
  const double q = eta >= 0.0 ? e * inv : inv;  // sigmoid(-eta) = 1 - p
  LossTerms out;
  out.value = w * ((eta > 0.0 ? eta : 0.0) + log1p(e) - y * eta);
  out.residual = w * (p - y);
  out.curvature = w * p * q;
  return out;
}

BTFIT_HD double bernoulli_value(double eta, double y, double w) {
  return w * (softplus(eta) - y * eta);
}

// The residual and curvature of bernoulli_terms without the value (no log1p): for passes
// that need the gradient and the Hessian only. value is set to 0.
BTFIT_HD LossTerms bernoulli_gradient_terms(double eta, double y, double w) {
  const double e = exp(-fabs(eta));
  const double inv = 1.0 / (1.0 + e);
  const double p = eta >= 0.0 ? inv : e * inv;
  const double q = eta >= 0.0 ? e * inv : inv;
  LossTerms out;
  out.value = 0.0;
  out.residual = w * (p - y);
  out.curvature = w * p * q;
  return out;
}

// Comparison outcomes are stored as twice y (0, 1 or 2) in one byte.
BTFIT_HD double outcome_y(std::uint8_t outcome2) { return 0.5 * static_cast<double>(outcome2); }

// Bradley-Terry margin: eta = s[a] - s[b] (+ h when a plays at home).
BTFIT_HD double bt_margin(const double* strength, std::uint32_t a, std::uint32_t b, double home,
                          bool at_home) {
  return strength[a] - strength[b] + (at_home ? home : 0.0);
}

}  // namespace btfit::detail
