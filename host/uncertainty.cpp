// Wald intervals, output scales, and the glue that adds robust SEs, quasi-variances, intervals
// and the kept covariance to a fit (definitions in btfit/uncertainty.h and CONVENTIONS.md).
#include "uncertainty.h"

#include <cmath>
#include <limits>
#include <string>

#include "btfit/error.h"
#include "btfit/uncertainty.h"

namespace btfit {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Acklam's rational approximation (relative error 1.15e-9) for the lower half, refined by one
// Halley step on 0.5 erfc(-x / sqrt 2) = p, which is accurate there (no cancellation).
double lower_normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2.0 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  }
  for (int step = 0; step < 2; ++step) {
    const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
    const double u = e * std::sqrt(2.0 * M_PI) * std::exp(0.5 * x * x);
    x -= u / (1.0 + 0.5 * x * u);
  }
  return x;
}

// Row-major copy of a covariance, exactly symmetric (the lower triangle mirrored).
void set_row_major(const Eigen::MatrixXd& m, std::vector<double>* out) {
  const auto p = m.rows();
  out->resize(static_cast<std::size_t>(p * p));
  for (Eigen::Index i = 0; i < p; ++i)
    for (Eigen::Index j = 0; j <= i; ++j)
      (*out)[static_cast<std::size_t>(i * p + j)] = (*out)[static_cast<std::size_t>(j * p + i)] = m(i, j);
}

const char* kind_name(RobustCovariance kind) {
  return kind == RobustCovariance::hc0 ? "hc0" : kind == RobustCovariance::cluster ? "cluster" : "model";
}

// The sandwich C B C from the model-based covariance C and the meat B: its diagonal always,
// the whole matrix when `full`.
struct Sandwich {
  Eigen::VectorXd diagonal;
  Eigen::MatrixXd full;  // empty unless asked for
};
Sandwich sandwich(const Eigen::MatrixXd& bread, const Eigen::MatrixXd& meat, bool full) {
  Sandwich out;
  const Eigen::MatrixXd half = meat * bread;  // B C
  if (full) {
    out.full = bread * half;
    out.full = 0.5 * (out.full + out.full.transpose());
    out.diagonal = out.full.diagonal();
  } else {
    out.diagonal = (bread.array() * half.transpose().array()).rowwise().sum();  // C_i. . (B C)_.i
  }
  return out;
}

std::string robust_description(RobustCovariance kind, bool pseudo_inverse, const std::string& detail) {
  if (kind == RobustCovariance::hc0)
    return std::string("HC0 sandwich ") + (pseudo_inverse ? "H^+ B H^+" : "H^-1 B H^-1") +
           " (each unit of weight is one independent unit)";
  return std::string("cluster-robust sandwich ") + (pseudo_inverse ? "H^+ B H^+" : "H^-1 B H^-1") + ", " +
         detail;
}

}  // namespace

double normal_quantile(double p) {
  if (!(p > 0.0 && p < 1.0)) return p == 0.0 ? -INFINITY : p == 1.0 ? INFINITY : kNaN;
  return p <= 0.5 ? lower_normal_quantile(p) : -lower_normal_quantile(1.0 - p);
}

double wald_z(double level) {
  if (!(level > 0.0 && level < 1.0)) throw UsageError("the interval level (--ci) must be in (0, 1)");
  return -lower_normal_quantile(0.5 * (1.0 - level));
}

const char* to_string(StrengthScale scale) {
  switch (scale) {
    case StrengthScale::strength:
      return "strength";
    case StrengthScale::elo:
      return "elo";
    case StrengthScale::worth:
      return "worth";
  }
  return "strength";
}

namespace {
ScaledEstimate to_scale(ScaledEstimate v, StrengthScale scale, double elo_offset) {
  switch (scale) {
    case StrengthScale::strength:
      return v;
    case StrengthScale::elo: {
      ScaledEstimate e;
      e.strength = elo_offset + kEloScale * v.strength;
      e.se = kEloScale * v.se;
      e.robust_se = kEloScale * v.robust_se;
      e.ci_lo = elo_offset + kEloScale * v.ci_lo;
      e.ci_hi = elo_offset + kEloScale * v.ci_hi;
      e.quasi_var = kEloScale * kEloScale * v.quasi_var;
      e.quasi_se = kEloScale * v.quasi_se;
      return e;
    }
    case StrengthScale::worth: {
      ScaledEstimate e = v;
      const double worth = std::exp(v.strength);
      e.strength = worth;
      e.se = worth * v.se;  // delta method: d exp(s) / ds = exp(s)
      e.robust_se = worth * v.robust_se;
      e.ci_lo = std::exp(v.ci_lo);
      e.ci_hi = std::exp(v.ci_hi);
      return e;  // quasi-variances stay on the log scale
    }
  }
  return v;
}
double at(const std::vector<double>& v, std::size_t i) {
  return i < v.size() ? v[i] : kNaN;
}
}  // namespace

ScaledEstimate scaled_item(const BradleyTerryFit& fit, std::size_t item, StrengthScale scale,
                           double elo_offset) {
  ScaledEstimate v;
  v.strength = fit.strength.at(item);
  v.se = at(fit.se, item);
  v.robust_se = at(fit.robust_se, item);
  v.ci_lo = at(fit.ci_lo, item);
  v.ci_hi = at(fit.ci_hi, item);
  v.quasi_var = at(fit.quasi_var, item);
  v.quasi_se = at(fit.quasi_se, item);
  return to_scale(v, scale, elo_offset);
}

ScaledEstimate scaled_home(const BradleyTerryFit& fit, StrengthScale scale) {
  ScaledEstimate v;
  v.strength = fit.home;
  v.se = fit.home_se;
  v.robust_se = fit.robust_se.empty() ? kNaN : fit.home_robust_se;
  v.ci_lo = fit.home_ci_lo;
  v.ci_hi = fit.home_ci_hi;
  v.quasi_var = kNaN;
  v.quasi_se = kNaN;
  return to_scale(v, scale, 0.0);
}

void add_bradley_terry_uncertainty(const Comparisons& data, const std::vector<double>& theta,
                                   const Eigen::MatrixXd* covariance, bool penalized,
                                   const BradleyTerryOptions& options, BradleyTerryFit* fit) {
  const std::size_t n = data.n_items();
  const bool home = options.home_advantage;
  const std::size_t p = n + (home ? 1 : 0);
  const double z = wald_z(options.ci_level);
  const auto hn = static_cast<Eigen::Index>(n);
  const std::int64_t reference = fit->reference;
  fit->ci_level = options.ci_level;

  // Robust standard errors.
  Sandwich robust;
  bool have_robust = false;
  if (options.robust != RobustCovariance::none) {
    fit->robust_se.assign(n, kNaN);
    fit->home_robust_se = kNaN;
    if (options.robust == RobustCovariance::cluster && data.cluster.size() != data.size())
      throw UsageError(
          "cluster-robust standard errors need a cluster id for every comparison (--cluster COL)");
    if (covariance == nullptr) {
      fit->robust_method =
          "not computed: they need the dense covariance (standard errors: " + fit->se_method + ")";
      fit->notes.push_back("robust standard errors " + fit->robust_method);
    } else {
      Eigen::MatrixXd meat;
      std::string detail;
      const std::size_t k_params = penalized ? p : p - 1;  // identified parameters
      if (bradley_terry_meat(data, theta.data(), home, options.robust, k_params, &meat, &detail)) {
        robust = sandwich(*covariance, meat, options.keep_covariance || reference >= 0);
        have_robust = true;
        for (std::size_t i = 0; i < n; ++i) {
          const auto ii = static_cast<Eigen::Index>(i);
          double var = robust.diagonal[ii];
          if (reference >= 0) {
            const auto r = static_cast<Eigen::Index>(reference);
            var = robust.full(ii, ii) + robust.full(r, r) - 2.0 * robust.full(ii, r);
          }
          fit->robust_se[i] = std::sqrt(std::max(var, 0.0));
        }
        if (reference >= 0) fit->robust_se[static_cast<std::size_t>(reference)] = 0.0;
        if (home) fit->home_robust_se = std::sqrt(std::max(robust.diagonal[hn], 0.0));
        fit->robust_method = robust_description(options.robust, !penalized, detail);
      } else {
        fit->robust_method = "failed: " + detail;
        fit->notes.push_back("robust standard errors " + fit->robust_method);
      }
    }
  }

  // Quasi-variances from the model-based covariance of the items.
  if (options.quasi_variances) {
    fit->quasi_var.assign(n, kNaN);
    fit->quasi_se.assign(n, kNaN);
    if (covariance == nullptr) {
      fit->notes.push_back("quasi-variances not computed: they need the dense covariance (standard errors: " +
                           fit->se_method + ")");
    } else {
      std::vector<double> items(n * n);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j)
          items[i * n + j] = (*covariance)(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j));
      const QuasiVariances qv = quasi_variances(items, n);
      if (qv.ok) {
        fit->quasi_var = qv.quasi_var;
        for (std::size_t i = 0; i < n; ++i)
          fit->quasi_se[i] = qv.quasi_var[i] >= 0.0 ? std::sqrt(qv.quasi_var[i]) : kNaN;
        fit->quasi_var_max_error = qv.max_relative_error;
      } else {
        fit->notes.push_back("quasi-variances not computed: " + qv.message);
      }
    }
  }

  // Wald intervals, from the robust SEs when they were asked for.
  const bool use_robust = options.robust != RobustCovariance::none;
  fit->ci_lo.clear();
  fit->ci_hi.clear();
  for (std::size_t i = 0; i < n && options.wald_intervals; ++i) {
    const double se = use_robust ? fit->robust_se[i] : fit->se[i];
    fit->ci_lo.push_back(fit->strength[i] - z * se);
    fit->ci_hi.push_back(fit->strength[i] + z * se);
  }
  if (home && options.wald_intervals) {
    const double se = use_robust ? fit->home_robust_se : fit->home_se;
    fit->home_ci_lo = fit->home - z * se;
    fit->home_ci_hi = fit->home + z * se;
  }

  // The covariance behind the intervals, for saved models.
  fit->covariance.clear();
  fit->covariance_kind.clear();
  if (options.keep_covariance && covariance != nullptr && (!use_robust || have_robust)) {
    set_row_major(have_robust ? robust.full : *covariance, &fit->covariance);
    fit->covariance_kind = kind_name(have_robust ? options.robust : RobustCovariance::none);
  }
}

void add_logistic_uncertainty(const Rows& data, const std::vector<double>& theta,
                              const Eigen::MatrixXd* covariance, const LogisticOptions& options,
                              LogisticFit* fit) {
  const std::size_t p = theta.size();
  const double z = wald_z(options.ci_level);
  fit->ci_level = options.ci_level;
  Sandwich robust;
  bool have_robust = false;
  if (options.robust != RobustCovariance::none) {
    fit->robust_se.assign(p, kNaN);
    if (options.robust == RobustCovariance::cluster && data.cluster.size() != data.n_rows)
      throw UsageError("cluster-robust standard errors need a cluster id for every row (--cluster COL)");
    if (covariance == nullptr) {
      fit->robust_method =
          "not computed: they need the dense covariance (standard errors: " + fit->se_method + ")";
      fit->notes.push_back("robust standard errors " + fit->robust_method);
    } else {
      Eigen::MatrixXd meat;
      std::string detail;
      if (logistic_meat(data, theta.data(), options.intercept, options.robust, p, &meat, &detail)) {
        robust = sandwich(*covariance, meat, options.keep_covariance);
        have_robust = true;
        for (std::size_t j = 0; j < p; ++j)
          fit->robust_se[j] = std::sqrt(std::max(robust.diagonal[static_cast<Eigen::Index>(j)], 0.0));
        fit->robust_method = robust_description(options.robust, false, detail);
      } else {
        fit->robust_method = "failed: " + detail;
        fit->notes.push_back("robust standard errors " + fit->robust_method);
      }
    }
  }
  const bool use_robust = options.robust != RobustCovariance::none;
  fit->ci_lo.clear();
  fit->ci_hi.clear();
  for (std::size_t j = 0; j < p && options.wald_intervals; ++j) {
    const double se = use_robust ? fit->robust_se[j] : fit->se[j];
    fit->ci_lo.push_back(fit->estimate[j] - z * se);
    fit->ci_hi.push_back(fit->estimate[j] + z * se);
  }
  fit->covariance.clear();
  fit->covariance_kind.clear();
  if (options.keep_covariance && covariance != nullptr && (!use_robust || have_robust)) {
    set_row_major(have_robust ? robust.full : *covariance, &fit->covariance);
    fit->covariance_kind = kind_name(have_robust ? options.robust : RobustCovariance::none);
  }
}

}  // namespace btfit
