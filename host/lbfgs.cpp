// L-BFGS: Nocedal (1980), Liu and Nocedal (1989). The search direction comes from the
// two-loop recursion over the last m pairs (s, y); the step satisfies the strong Wolfe
// conditions (c1 = 1e-4, c2 = 0.9), found by bracketing and zooming with safeguarded cubic
// interpolation (Nocedal and Wright, Numerical Optimization, algorithms 3.5 and 3.6).
// Every trial point costs one value+gradient pass.
#include <algorithm>
#include <cmath>
#include <deque>
#include <vector>

#include "btfit/optimize.h"

namespace btfit {

namespace {

double dot(const std::vector<double>& x, const std::vector<double>& y) {
  double s = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

struct Trial {
  double step;
  double value;
  double slope;  // directional derivative g(x + step d) . d
};

// Minimizer of the cubic through (a, fa, da) and (b, fb, db), kept inside [lo, hi].
double cubic_step(const Trial& x, const Trial& y, double lo, double hi) {
  const double d1 = x.slope + y.slope - 3.0 * (x.value - y.value) / (x.step - y.step);
  const double disc = d1 * d1 - x.slope * y.slope;
  double t;
  if (disc >= 0.0) {
    const double d2 = std::copysign(std::sqrt(disc), y.step - x.step);
    t = y.step - (y.step - x.step) * (y.slope + d2 - d1) / (y.slope - x.slope + 2.0 * d2);
  } else {
    t = 0.5 * (x.step + y.step);
  }
  const double a = std::min(lo, hi), b = std::max(lo, hi);
  const double margin = 0.1 * (b - a);
  if (!std::isfinite(t) || t < a + margin || t > b - margin) t = 0.5 * (a + b);
  return t;
}

}  // namespace

OptimizerResult minimize_lbfgs(Objective& objective, double* theta, const OptimizerSettings& settings) {
  constexpr double c1 = 1e-4, c2 = 0.9;
  const std::size_t n = objective.n_params();
  const std::size_t memory = static_cast<std::size_t>(std::max(1, settings.lbfgs_memory));
  std::vector<double> x(theta, theta + n), g(n), d(n), x_trial(n), g_trial(n);
  std::deque<std::vector<double>> s_hist, y_hist;
  std::deque<double> rho_hist;
  OptimizerResult result;

  double f = objective.value_gradient(x.data(), g.data());
  double gnorm = std::sqrt(dot(g, g));
  result.initial_gradient_norm = gnorm;
  result.value = f;
  result.gradient_norm = gnorm;
  if (!std::isfinite(f)) {
    result.status = OptimizerStatus::numeric_error;
    return result;
  }
  const double target = settings.tolerance * gnorm;
  if (gnorm <= target || gnorm == 0.0) {
    result.status = OptimizerStatus::converged;
    return result;
  }
  result.status = OptimizerStatus::max_iterations;
  std::vector<double> alpha(memory);
  for (int iteration = 1; iteration <= settings.max_iterations; ++iteration) {
    // Two-loop recursion: d = -H_k g.
    for (std::size_t i = 0; i < n; ++i) d[i] = -g[i];
    const std::size_t m = s_hist.size();
    for (std::size_t j = m; j-- > 0;) {
      alpha[j] = rho_hist[j] * dot(s_hist[j], d);
      for (std::size_t i = 0; i < n; ++i) d[i] -= alpha[j] * y_hist[j][i];
    }
    if (m > 0) {
      const double gamma = dot(s_hist.back(), y_hist.back()) / dot(y_hist.back(), y_hist.back());
      for (double& v : d) v *= gamma;
    }
    for (std::size_t j = 0; j < m; ++j) {
      const double beta = rho_hist[j] * dot(y_hist[j], d);
      for (std::size_t i = 0; i < n; ++i) d[i] += (alpha[j] - beta) * s_hist[j][i];
    }
    double slope0 = dot(g, d);
    if (!(slope0 < 0.0)) {
      // Not a descent direction (lost curvature information): restart from steepest descent.
      s_hist.clear();
      y_hist.clear();
      rho_hist.clear();
      for (std::size_t i = 0; i < n; ++i) d[i] = -g[i];
      slope0 = -gnorm * gnorm;
    }
    double step = (m == 0) ? std::min(1.0, 1.0 / gnorm) : 1.0;

    // Strong Wolfe line search.
    const Trial start{0.0, f, slope0};
    Trial previous = start;
    Trial accepted{0.0, f, slope0};
    bool found = false;
    auto evaluate = [&](double t) {
      for (std::size_t i = 0; i < n; ++i) x_trial[i] = x[i] + t * d[i];
      const double value = objective.value_gradient(x_trial.data(), g_trial.data());
      return Trial{t, value, dot(g_trial, d)};
    };
    // Near the optimum f changes by less than its rounding error and the Armijo test is
    // noise; there the approximate Wolfe conditions of Hager and Zhang (2005) apply.
    const double f_noise = 1e-12 * std::max(1.0, std::fabs(f));
    auto approximately_wolfe = [&](const Trial& t) {
      return std::isfinite(t.value) && t.value <= f + f_noise && t.slope <= (2.0 * c1 - 1.0) * slope0 &&
             std::fabs(t.slope) <= -c2 * slope0;
    };
    auto zoom = [&](Trial lo, Trial hi) {
      for (int k = 0; k < 30; ++k) {
        const double t = cubic_step(lo, hi, lo.step, hi.step);
        const Trial trial = evaluate(t);
        if (approximately_wolfe(trial)) {
          accepted = trial;
          return true;
        }
        if (!std::isfinite(trial.value) || trial.value > f + c1 * t * slope0 || trial.value >= lo.value) {
          hi = trial;
        } else {
          if (std::fabs(trial.slope) <= -c2 * slope0) {
            accepted = trial;
            return true;
          }
          if (trial.slope * (hi.step - lo.step) >= 0.0) hi = lo;
          lo = trial;
        }
        if (std::fabs(hi.step - lo.step) <= 1e-16 * std::max(1.0, lo.step)) break;
      }
      // Accept the best point with sufficient decrease, if any.
      if (lo.step > 0.0 && lo.value < f) {
        const Trial again = evaluate(lo.step);
        accepted = again;
        return true;
      }
      return false;
    };
    for (int k = 0; k < 40; ++k) {
      const Trial trial = evaluate(step);
      if (approximately_wolfe(trial)) {
        accepted = trial;
        found = true;
        break;
      }
      if (!std::isfinite(trial.value) || trial.value > f + c1 * step * slope0 ||
          (k > 0 && trial.value >= previous.value)) {
        found = zoom(previous, trial);
        break;
      }
      if (std::fabs(trial.slope) <= -c2 * slope0) {
        accepted = trial;
        found = true;
        break;
      }
      if (trial.slope >= 0.0) {
        found = zoom(trial, previous);
        break;
      }
      previous = trial;
      step *= 2.0;
    }
    if (!found) {
      objective.value_gradient(x.data(), g.data());  // restore the current point
      result.status = OptimizerStatus::no_progress;
      break;
    }
    // x_trial/g_trial hold the accepted point (the last evaluation).
    std::vector<double> s_new(n), y_new(n);
    for (std::size_t i = 0; i < n; ++i) {
      s_new[i] = x_trial[i] - x[i];
      y_new[i] = g_trial[i] - g[i];
    }
    const double sy = dot(s_new, y_new);
    x.swap(x_trial);
    g.swap(g_trial);
    f = accepted.value;
    gnorm = std::sqrt(dot(g, g));
    result.iterations = iteration;
    if (settings.progress) settings.progress(settings.progress_context, iteration, f, gnorm);
    if (sy > 1e-300) {
      if (s_hist.size() == memory) {
        s_hist.pop_front();
        y_hist.pop_front();
        rho_hist.pop_front();
      }
      s_hist.push_back(std::move(s_new));
      y_hist.push_back(std::move(y_new));
      rho_hist.push_back(1.0 / sy);
    }
    if (gnorm <= target) {
      result.status = OptimizerStatus::converged;
      break;
    }
  }
  std::copy(x.begin(), x.end(), theta);
  result.value = f;
  result.gradient_norm = gnorm;
  return result;
}

}  // namespace btfit
