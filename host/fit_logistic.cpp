// Logistic regression fit: uniqueness and separation checks, optimization through the
// Objective seam, standard errors, Wald z and p-values.
//
// Existence (Albert and Anderson 1984): the MLE is infinite under complete or quasi-complete
// separation. Checked exactly before fitting for the common cases (all labels equal with a
// free intercept; one column that separates the labels on its own), and after fitting by the
// behaviour that defines it: fitted probabilities reaching 0 or 1 while the coefficients keep
// growing when the optimizer is pushed further. Uniqueness: a constant, all-zero or collinear
// column without a penalty on it makes the Hessian singular.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>
#include <unordered_map>

#include "btfit/backend.h"
#include "btfit/error.h"
#include "btfit/fit.h"
#include "btfit/optimize.h"
#include "bootstrap.h"
#include "firth.h"
#include "inference.h"
#include "uncertainty.h"

namespace btfit {

namespace {

// Largest parameter count for which Solver::automatic takes the exact-Hessian Newton method
// on dense rows (BENCHMARKS.md: at 100 columns it needs a third of Newton-CG's time).
constexpr std::size_t kDenseNewtonMaxParams = 256;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

const char* kRemedies =
    "Options that make the estimate finite: --l2 LAMBDA (ridge penalty on the coefficients), "
    "--prior FILE (Gaussian priors on the terms involved) or --firth (Firth's bias-reducing "
    "Jeffreys-prior penalty, finite under separation).";

// Largest |eta_i| over the rows (one parallel pass).
double max_abs_margin(const Rows& data, const std::vector<double>& theta, std::size_t o) {
  double largest = 0.0;
  const double b0 = o ? theta[0] : 0.0;
#pragma omp parallel for reduction(max : largest) schedule(static)
  for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(data.n_rows); ++ii) {
    const auto i = static_cast<std::size_t>(ii);
    double eta = b0;
    if (!data.sparse) {
      const double* x = data.dense.data() + i * data.n_features;
      for (std::size_t j = 0; j < data.n_features; ++j) eta += x[j] * theta[o + j];
    } else {
      for (auto e = data.row_ptr[i]; e < data.row_ptr[i + 1]; ++e) eta += data.val[e] * theta[o + data.col[e]];
    }
    largest = std::max(largest, std::fabs(eta));
  }
  return largest;
}

}  // namespace

LogisticFit fit_logistic(const Rows& data, const LogisticOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  validate(options);
  LogisticFit fit;
  const std::size_t o = options.intercept ? 1 : 0;
  const std::size_t nf = data.n_features;
  const std::size_t p = nf + o;
  fit.n_rows = data.n_rows;
  if (o) fit.terms.push_back("(intercept)");
  for (const auto& name : data.feature_names) fit.terms.push_back(name);

  // Which parameters a penalty or prior covers.
  DiagonalPenalty penalty(p);
  for (std::size_t j = 0; j < p; ++j)
    if (j >= o || options.penalize_intercept) penalty.l2[j] = options.l2;
  {
    std::unordered_map<std::string, std::size_t> id;
    for (std::size_t j = 0; j < p; ++j) id.emplace(fit.terms[j], j);
    std::vector<std::string> unknown;
    for (const auto& t : options.prior) {
      auto it = id.find(t.name);
      if (it == id.end()) {
        unknown.push_back(t.name);
        continue;
      }
      penalty.prior_mean[it->second] = t.mean;
      penalty.prior_precision[it->second] = 1.0 / (t.sd * t.sd);
    }
    if (!unknown.empty()) fit.notes.push_back("prior names not among the terms (ignored): " + join(unknown));
  }
  const bool penalized = !penalty.empty();
  std::vector<std::size_t> uncovered;
  for (std::size_t j = 0; j < p; ++j)
    if (!penalty.covers(j)) uncovered.push_back(j);
  auto not_estimable = [&](const std::string& message, std::vector<std::string> terms) {
    fit.status = FitStatus::not_estimable;
    fit.diagnosis = message;
    fit.problem_terms = std::move(terms);
    fit.seconds = seconds_since(start);
    return fit;
  };

  // Labels all equal with a free intercept (or no columns at all).
  double positive = 0.0, negative = 0.0;
  for (std::size_t i = 0; i < data.n_rows; ++i) (data.label[i] > 0.5 ? positive : negative) += data.w(i);
  if (o && !penalty.covers(0) && (positive == 0.0 || negative == 0.0) && !options.firth) {
    return not_estimable(std::string("Every label is ") + (positive == 0.0 ? "0" : "1") +
                             ": the intercept's maximum-likelihood estimate is " +
                             (positive == 0.0 ? "-infinity" : "+infinity") +
                             " (complete separation by the intercept alone).\n" + kRemedies + "\n",
                         {"(intercept)"});
  }

  // Column statistics: never-nonzero columns and single-column separation.
  {
    std::vector<double> lo1(nf, std::numeric_limits<double>::infinity()), hi1(nf, -std::numeric_limits<double>::infinity());
    std::vector<double> lo0 = lo1, hi0 = hi1;
    std::vector<char> nonzero(nf, 0);
    std::vector<double> first(nf, std::numeric_limits<double>::quiet_NaN());
    std::vector<char> constant(nf, 1);
    std::vector<std::size_t> seen1(nf, 0), seen0(nf, 0);  // values visited per label class
    std::size_t rows1 = 0, rows0 = 0;
    auto visit = [&](std::size_t j, double v, bool y1) {
      if (v != 0.0) nonzero[j] = 1;
      if (std::isnan(first[j])) first[j] = v;
      else if (v != first[j]) constant[j] = 0;
      if (y1) { lo1[j] = std::min(lo1[j], v); hi1[j] = std::max(hi1[j], v); ++seen1[j]; }
      else { lo0[j] = std::min(lo0[j], v); hi0[j] = std::max(hi0[j], v); ++seen0[j]; }
    };
    for (std::size_t i = 0; i < data.n_rows; ++i) {
      const bool y1 = data.label[i] > 0.5;
      (y1 ? rows1 : rows0) += 1;
      if (!data.sparse) {
        const double* x = data.dense.data() + i * nf;
        for (std::size_t j = 0; j < nf; ++j) visit(j, x[j], y1);
      } else {
        for (auto e = data.row_ptr[i]; e < data.row_ptr[i + 1]; ++e) visit(data.col[e], data.val[e], y1);
      }
    }
    if (data.sparse) {
      // Implicit zeros: a class with fewer stored values than rows also holds 0.
      for (std::size_t j = 0; j < nf; ++j) {
        if (seen1[j] < rows1) visit(j, 0.0, true);
        if (seen0[j] < rows0) visit(j, 0.0, false);
      }
    }
    std::vector<std::string> zero_cols, const_cols;
    for (std::size_t j = 0; j < nf; ++j) {
      if (penalty.covers(o + j)) continue;
      if (!nonzero[j]) zero_cols.push_back(data.feature_names[j]);
      else if (o && constant[j] && !penalty.covers(0)) const_cols.push_back(data.feature_names[j]);
    }
    if (!zero_cols.empty() || !const_cols.empty()) {
      std::ostringstream msg;
      if (!zero_cols.empty())
        msg << "Column(s) that are zero in every row: " << join(zero_cols)
            << (data.sparse ? " (a LIBSVM feature index that never occurs)" : "") << ".\n";
      if (!const_cols.empty())
        msg << "Constant column(s), collinear with the intercept: " << join(const_cols) << ".\n";
      msg << "Their coefficients are not unique (the Hessian is singular). "
          << (data.sparse ? "Add" : "Drop them (--features), or add") << " --l2 LAMBDA or a --prior on them.\n";
      auto terms = zero_cols;
      terms.insert(terms.end(), const_cols.begin(), const_cols.end());
      return not_estimable(msg.str(), terms);
    }
    // One column separating the labels on its own (with the intercept, or through zero).
    for (std::size_t j = 0; j < nf; ++j) {
      if (penalty.covers(o + j)) continue;
      if (positive == 0.0 || negative == 0.0 || options.firth) break;  // Firth: finite anyway
      bool separates = false;
      if (o && !penalty.covers(0)) {
        separates = hi0[j] <= lo1[j] || hi1[j] <= lo0[j];
      } else if (!o) {
        separates = (lo1[j] >= 0.0 && hi0[j] <= 0.0) || (hi1[j] <= 0.0 && lo0[j] >= 0.0);
      }
      if (separates) {
        std::ostringstream msg;
        msg << "Column " << data.feature_names[j] << " separates the labels"
            << (hi0[j] < lo1[j] || hi1[j] < lo0[j] ? " completely" : " quasi-completely") << ": label-1 rows have "
            << data.feature_names[j] << " in [" << lo1[j] << ", " << hi1[j] << "], label-0 rows in [" << lo0[j]
            << ", " << hi0[j] << "], so its maximum-likelihood coefficient is infinite (Albert and Anderson 1984).\n"
            << kRemedies << "\n";
        return not_estimable(msg.str(), {data.feature_names[j]});
      }
    }
  }

  // Collinearity among the uncovered columns (dense, up to the dense limit).
  if (!data.sparse && uncovered.size() > 1 && uncovered.size() <= options.solver.dense_limit) {
    const auto q = static_cast<Eigen::Index>(uncovered.size());
    Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(q, q);
    constexpr std::size_t kBlock = 1024;
    Eigen::MatrixXd block(static_cast<Eigen::Index>(kBlock), q);
    for (std::size_t begin = 0; begin < data.n_rows; begin += kBlock) {
      const std::size_t rows = std::min(kBlock, data.n_rows - begin);
      for (std::size_t i = 0; i < rows; ++i) {
        const double* x = data.dense.data() + (begin + i) * nf;
        for (Eigen::Index c = 0; c < q; ++c) {
          const std::size_t j = uncovered[static_cast<std::size_t>(c)];
          block(static_cast<Eigen::Index>(i), c) = (o && j == 0) ? 1.0 : x[j - o];
        }
      }
      gram.selfadjointView<Eigen::Lower>().rankUpdate(block.topRows(static_cast<Eigen::Index>(rows)).transpose());
    }
    gram.triangularView<Eigen::StrictlyUpper>() = gram.transpose();
    Eigen::VectorXd scale = gram.diagonal().cwiseSqrt().cwiseMax(1e-300).cwiseInverse();
    Eigen::MatrixXd scaled = scale.asDiagonal() * gram * scale.asDiagonal();
    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(scaled);
    qr.setThreshold(1e-10);
    if (qr.rank() < q) {
      std::vector<std::string> dependent;
      const auto& perm = qr.colsPermutation().indices();
      for (Eigen::Index c = qr.rank(); c < q; ++c)
        dependent.push_back(fit.terms[uncovered[static_cast<std::size_t>(perm[c])]]);
      std::sort(dependent.begin(), dependent.end());
      std::ostringstream msg;
      msg << "The design is rank-deficient: " << (q - qr.rank()) << " linear dependence(s) among the columns; "
          << "these are linear combinations of the others: " << join(dependent)
          << ". Their coefficients are not unique (the Hessian is singular). Drop them (--features), or add "
             "--l2 LAMBDA or a --prior on them.\n";
      return not_estimable(msg.str(), dependent);
    }
  } else if (!data.sparse && uncovered.size() > options.solver.dense_limit) {
    fit.notes.push_back("collinearity check skipped: more unpenalized columns than the dense limit");
  }

  // Fit.
  BackendChoice backend = make_logistic_objective(data, options.intercept, options.solver.device,
                                                  options.solver.threads);
  fit.device = backend.device;
  if (!backend.reason.empty()) fit.notes.push_back(backend.reason);
  PenalizedObjective objective(*backend.objective, penalty);
  std::vector<double> theta(p, 0.0);
  OptimizerSettings settings;
  settings.tolerance = options.solver.tolerance;
  settings.max_iterations = options.solver.max_iterations;
  settings.lbfgs_memory = options.solver.lbfgs_memory;
  const Solver solver = options.solver.solver == Solver::automatic ? Solver::newton : options.solver.solver;
  fit.solver = solver == Solver::lbfgs ? "lbfgs" : "newton-cg";
  // Solver::automatic on the CPU with dense rows of few columns: Newton's method with the
  // exact Hessian (one pass per iteration, BLAS-3 work of p^2 / 2 per row), which beats
  // Newton-CG's 3 to 5 passes per iteration up to about kDenseNewtonMaxParams parameters.
  const bool dense_newton = options.solver.solver == Solver::automatic && !data.sparse && fit.device == "cpu" &&
                            p <= kDenseNewtonMaxParams && !options.firth;
  if (dense_newton)
    fit.solver = data.n_rows <= 2 * kDenseNewtonSampleRows ? "newton (exact Hessian)"
                                                           : "newton (Hessian from a sample of rows)";
  // Firth (host/firth.cpp): dense Fisher scoring on the Jeffreys-penalized objective.
  FirthResult firth;
  if (options.firth) {
    if (p > options.solver.dense_limit)
      throw UsageError("--firth needs the dense " + std::to_string(p) + " x " + std::to_string(p) +
                       " Fisher information: " + std::to_string(p) + " parameters is above the dense limit of " +
                       std::to_string(options.solver.dense_limit) + " (raise --dense-limit, or use --l2)");
    firth = firth_logistic(data, options.intercept, nullptr, penalty, theta.data(), settings);
    fit.solver = "firth (Fisher scoring on the adjusted score)";
    fit.firth = true;
    if (!firth.failure.empty())
      return not_estimable("Firth's penalized estimate is not unique: " + firth.failure +
                               " (collinear columns).\n",
                           {});
  }
  OptimizerResult opt = options.firth ? firth.optimizer
                        : dense_newton
                            ? minimize_logistic_dense_newton(data, options.intercept, penalty, theta.data(), settings,
                                                             options.solver.threads)
                            : minimize(objective, theta.data(), solver, settings);
  fit.iterations = opt.iterations;
  bool theta_from_optimizer = true;  // theta is where opt.value and opt.gradient_norm were taken

  // Separation shows as margins that keep growing when the optimizer is pushed further.
  if (!uncovered.empty() && !options.firth) {
    const double margin = max_abs_margin(data, theta, o);
    if (margin > 15.0 || opt.status != OptimizerStatus::converged) {
      std::vector<double> pushed = theta;
      OptimizerSettings further = settings;
      further.tolerance = 1e-6;
      further.max_iterations = 200;
      const OptimizerResult more = minimize(objective, pushed.data(), Solver::newton, further);
      (void)more;
      const double margin2 = max_abs_margin(data, pushed, o);
      if (margin2 > margin + 2.0 && margin2 > 15.0) {
        // The growing direction names the terms involved.
        double largest = 0.0;
        std::vector<double> change(p);
        for (std::size_t j = 0; j < p; ++j) {
          double scale = 1.0;
          change[j] = std::fabs(pushed[j] - theta[j]) * scale;
          largest = std::max(largest, change[j]);
        }
        std::vector<std::string> involved;
        for (std::size_t j = 0; j < p; ++j)
          if (change[j] >= 0.01 * largest && !penalty.covers(j)) involved.push_back(fit.terms[j]);
        std::ostringstream msg;
        msg << "The data are separated (Albert and Anderson 1984): fitted probabilities reach 0 or 1 and the "
               "coefficients keep growing (largest |margin| "
            << margin << " -> " << margin2 << " when the optimizer is pushed further), so the maximum-likelihood "
            << "estimate is infinite. Terms involved: " << join(involved) << ".\n" << kRemedies << "\n";
        return not_estimable(msg.str(), involved);
      }
      theta = pushed;
      theta_from_optimizer = false;
      opt.status = more.status == OptimizerStatus::converged ? OptimizerStatus::converged : opt.status;
    }
  }
  fit.optimizer_status = to_string(opt.status);
  fit.status = opt.status == OptimizerStatus::converged ? FitStatus::converged : FitStatus::not_converged;
  if (theta_from_optimizer && std::isfinite(opt.data_value)) {
    fit.objective = opt.value;  // from the solver's last pass (the dense-row Newton method)
    fit.nll = opt.data_value;
    fit.gradient_norm = opt.gradient_norm;
  } else {
    std::vector<double> g(p);
    fit.objective = objective.value_gradient(theta.data(), g.data());
    fit.nll = objective.last_data_value();
    double s = 0.0;
    for (double v : g) s += v * v;
    fit.gradient_norm = std::sqrt(s);
    if (options.firth) {  // the Firth objective includes -(1/2) log det I
      fit.objective = firth.objective;
      fit.gradient_norm = opt.gradient_norm;
    }
  }
  fit.estimate = theta;

  // Standard errors, z and p-values.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  fit.se.assign(p, nan);
  fit.z.assign(p, nan);
  fit.p_value.assign(p, nan);
  Eigen::MatrixXd cov;
  bool have_cov = false;
  if (!options.solver.standard_errors) {
    fit.se_method = "not requested";
  } else if (p > options.solver.dense_limit) {
    fit.se_method = "skipped: " + std::to_string(p) + " parameters is above the dense limit of " +
                    std::to_string(options.solver.dense_limit);
  } else {
    Eigen::MatrixXd h = logistic_hessian(data, theta.data(), options.intercept);
    std::vector<double> pc(p);
    penalty.curvature(theta.data(), pc.data());
    for (std::size_t j = 0; j < p; ++j) h(static_cast<Eigen::Index>(j), static_cast<Eigen::Index>(j)) += pc[j];
    std::string why;
    if ((have_cov = invert_hessian(h, Eigen::VectorXd(), &cov, &why))) {
      fit.se_method = options.firth
                          ? (penalized ? "inverse of the Fisher information plus the penalty's curvature at the "
                                         "Firth estimate (the Firth term's curvature left out)"
                                       : "inverse Fisher information at the Firth estimate, as brglm2 reports")
                          : penalized ? "inverse Hessian of the penalized objective (penalty/prior included)"
                                      : "inverse Hessian";
      for (std::size_t j = 0; j < p; ++j) {
        fit.se[j] = std::sqrt(cov(static_cast<Eigen::Index>(j), static_cast<Eigen::Index>(j)));
        fit.z[j] = theta[j] / fit.se[j];
        fit.p_value[j] = std::erfc(std::fabs(fit.z[j]) / std::sqrt(2.0));
      }
    } else {
      fit.se_method = "failed: " + why;
    }
  }
  add_logistic_uncertainty(data, theta, have_cov ? &cov : nullptr, options, &fit);  // robust SEs, intervals
  // Bootstrap (host/bootstrap.cpp): replicate weights are keyed by the rows as loaded.
  if (options.bootstrap.replicates > 0) bootstrap_logistic(data, options, penalty, theta, fit);
  fit.passes = backend.objective->passes() + opt.passes;
  fit.seconds = seconds_since(start);
  return fit;
}

}  // namespace btfit
