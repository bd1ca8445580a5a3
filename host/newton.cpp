// Trust-region Newton-CG (TRON): Lin, Weng and Keerthi (2008), "Trust region Newton method
// for large-scale logistic regression", JMLR 9; with the diagonal preconditioner of Hsia,
// Chiang and Lin (2018), "Preconditioned conjugate gradient methods in truncated Newton
// frameworks for large-scale linear classification", ACML. The step solves
//   min_s  g's + s'Hs/2   subject to  ||s||_M <= delta
// by preconditioned CG on Hessian-vector products (Steihaug), M = diag(H); the radius
// follows the ratio of actual to predicted reduction.
//
// The Hessian may be singular along directions the objective ignores (the common shift of
// Bradley-Terry strengths); the gradient is orthogonal to them, so CG stays consistent.
#include <algorithm>
#include <cmath>
#include <vector>

#include "btfit/optimize.h"

namespace btfit {

namespace {

double dot(const std::vector<double>& x, const std::vector<double>& y) {
  double s = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

double m_dot(const std::vector<double>& x, const std::vector<double>& m, const std::vector<double>& y) {
  double s = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * m[i] * y[i];
  return s;
}

void make_preconditioner(Objective& objective, std::vector<double>& m) {
  objective.hessian_diagonal(m.data());
  double largest = 0.0;
  for (double v : m) largest = std::max(largest, v);
  const double floor = largest > 0.0 ? 1e-10 * largest : 1.0;
  for (double& v : m) v = (std::isfinite(v) && v > floor) ? v : floor;
}

// Steihaug CG for the trust-region subproblem; returns the number of Hessian products.
int trust_region_cg(Objective& objective, double delta, const std::vector<double>& g,
                    const std::vector<double>& m, std::vector<double>& s, std::vector<double>& r,
                    bool* reach_boundary) {
  const std::size_t n = g.size();
  constexpr double kCgTolerance = 0.1;
  std::vector<double> d(n), hd(n), z(n);
  *reach_boundary = false;
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = 0.0;
    r[i] = -g[i];
    z[i] = r[i] / m[i];
    d[i] = z[i];
  }
  double z_r = dot(z, r);
  const double cg_tolerance = kCgTolerance * std::sqrt(std::max(z_r, 0.0));
  const int max_cg = static_cast<int>(std::max<std::size_t>(n, 5));
  int iterations = 0;
  while (iterations < max_cg) {
    if (std::sqrt(std::max(z_r, 0.0)) <= cg_tolerance) break;
    ++iterations;
    objective.hessian_vector(d.data(), hd.data());
    const double d_hd = dot(d, hd);
    if (!(d_hd > 0.0)) {
      // Zero curvature along d (a null direction): nothing more to gain from it.
      break;
    }
    double alpha = z_r / d_hd;
    for (std::size_t i = 0; i < n; ++i) s[i] += alpha * d[i];
    if (std::sqrt(m_dot(s, m, s)) > delta) {
      *reach_boundary = true;
      for (std::size_t i = 0; i < n; ++i) s[i] -= alpha * d[i];
      const double std_ = m_dot(s, m, d);
      const double sts = m_dot(s, m, s);
      const double dtd = m_dot(d, m, d);
      const double dsq = delta * delta;
      const double rad = std::sqrt(std::max(std_ * std_ + dtd * (dsq - sts), 0.0));
      alpha = std_ >= 0.0 ? (dsq - sts) / (std_ + rad) : (rad - std_) / dtd;
      for (std::size_t i = 0; i < n; ++i) {
        s[i] += alpha * d[i];
        r[i] -= alpha * hd[i];
      }
      break;
    }
    for (std::size_t i = 0; i < n; ++i) {
      r[i] -= alpha * hd[i];
      z[i] = r[i] / m[i];
    }
    const double z_r_new = dot(z, r);
    const double beta = z_r_new / z_r;
    for (std::size_t i = 0; i < n; ++i) d[i] = z[i] + beta * d[i];
    z_r = z_r_new;
  }
  return iterations;
}

bool all_finite(const std::vector<double>& x) {
  for (double v : x)
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

OptimizerResult minimize_newton(Objective& objective, double* theta, const OptimizerSettings& settings) {
  constexpr double eta0 = 1e-4, eta1 = 0.25, eta2 = 0.75;
  constexpr double sigma1 = 0.25, sigma2 = 0.5, sigma3 = 4.0;
  const std::size_t n = objective.n_params();
  std::vector<double> w(theta, theta + n), w_new(n), g(n), g_new(n), s(n), r(n), m(n);
  OptimizerResult result;

  double f = objective.value_gradient(w.data(), g.data());
  double gnorm = std::sqrt(dot(g, g));
  result.initial_gradient_norm = gnorm;
  result.value = f;
  result.gradient_norm = gnorm;
  if (!std::isfinite(f) || !all_finite(g)) {
    result.status = OptimizerStatus::numeric_error;
    return result;
  }
  const double target = settings.tolerance * gnorm;
  if (gnorm <= target || gnorm == 0.0) {
    result.status = OptimizerStatus::converged;
    return result;
  }
  make_preconditioner(objective, m);
  double delta = std::sqrt(m_dot(g, std::vector<double>(n, 1.0), g));
  {
    // Initial radius: the preconditioned gradient norm (LIBLINEAR).
    double gmg = 0.0;
    for (std::size_t i = 0; i < n; ++i) gmg += g[i] * g[i] / m[i];
    delta = std::sqrt(gmg);
  }
  result.status = OptimizerStatus::max_iterations;
  int iteration = 1;
  bool first = true;
  while (iteration <= settings.max_iterations) {
    bool reach_boundary = false;
    result.hessian_products += static_cast<std::size_t>(
        trust_region_cg(objective, delta, g, m, s, r, &reach_boundary));
    for (std::size_t i = 0; i < n; ++i) w_new[i] = w[i] + s[i];
    const double gs = dot(g, s);
    const double prered = -0.5 * (gs - dot(s, r));
    const double f_new = objective.value_gradient(w_new.data(), g_new.data());
    const double actred = f - f_new;
    const double snorm = std::sqrt(m_dot(s, m, s));
    if (prered <= 0.0 || !std::isfinite(prered)) {
      objective.value_gradient(w.data(), g_new.data());  // restore the current point
      result.status = OptimizerStatus::no_progress;
      break;
    }
    // Near the optimum the predicted reduction falls below the rounding error of f, and the
    // ratio actred/prered is noise: there a step is judged by the gradient norm instead
    // (the Newton step is reliable in that quadratic regime).
    const bool rounding_regime = prered <= 1e-12 * std::max(1.0, std::fabs(f));
    bool accepted = false;
    if (rounding_regime) {
      accepted = std::isfinite(f_new) && all_finite(g_new) && std::sqrt(dot(g_new, g_new)) < gnorm;
    } else {
      if (first) {
        delta = std::min(delta, snorm);
        first = false;
      }
      double alpha;
      if (!std::isfinite(f_new) || f_new - f - gs <= 0.0)
        alpha = sigma3;
      else
        alpha = std::max(sigma1, -0.5 * (gs / (f_new - f - gs)));
      if (!std::isfinite(f_new) || actred < eta0 * prered)
        delta = std::min(alpha * snorm, sigma2 * delta);
      else if (actred < eta1 * prered)
        delta = std::max(sigma1 * delta, std::min(alpha * snorm, sigma2 * delta));
      else if (actred < eta2 * prered)
        delta = std::max(sigma1 * delta, std::min(alpha * snorm, sigma3 * delta));
      else if (reach_boundary)
        delta = sigma3 * delta;
      else
        delta = std::max(delta, std::min(alpha * snorm, sigma3 * delta));
      accepted = std::isfinite(f_new) && all_finite(g_new) && actred > eta0 * prered;
    }
    if (accepted) {
      w.swap(w_new);
      g.swap(g_new);
      f = f_new;
      gnorm = std::sqrt(dot(g, g));
      result.iterations = iteration;
      if (settings.progress) settings.progress(settings.progress_context, iteration, f, gnorm);
      ++iteration;
      if (gnorm <= target) {
        result.status = OptimizerStatus::converged;
        break;
      }
      make_preconditioner(objective, m);
    } else {
      // The trial point became the objective's current point: restore w.
      objective.value_gradient(w.data(), g_new.data());
      if (rounding_regime) {
        result.status = OptimizerStatus::no_progress;
        break;
      }
    }
    if (delta <= 0.0 || !std::isfinite(delta)) {
      result.status = OptimizerStatus::no_progress;
      break;
    }
  }
  std::copy(w.begin(), w.end(), theta);
  result.value = f;
  result.gradient_norm = gnorm;
  if (!std::isfinite(f)) result.status = OptimizerStatus::numeric_error;
  return result;
}

const char* to_string(OptimizerStatus status) {
  switch (status) {
    case OptimizerStatus::converged: return "converged";
    case OptimizerStatus::max_iterations: return "max_iterations";
    case OptimizerStatus::no_progress: return "no_progress";
    case OptimizerStatus::numeric_error: return "numeric_error";
  }
  return "unknown";
}

OptimizerResult minimize(Objective& objective, double* theta, Solver solver,
                         const OptimizerSettings& settings) {
  if (solver == Solver::lbfgs) return minimize_lbfgs(objective, theta, settings);
  return minimize_newton(objective, theta, settings);
}

}  // namespace btfit
