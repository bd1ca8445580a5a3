// Bradley-Terry fit: existence check, optimization through the Objective seam, centring,
// records and standard errors.
//
// Model (Bradley and Terry 1952; Zermelo 1929): P(a beats b) = sigmoid(s_a - s_b [+ h]).
// The objective is the weighted NLL plus the L2, prior and pseudo-comparison terms of
// CONVENTIONS.md. Without any penalty or prior the strengths are reported with mean zero
// and their covariance is the pseudo-inverse of the (singular) Laplacian Hessian.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>
#include <unordered_map>

#include "btfit/aggregate.h"
#include "btfit/backend.h"
#include "btfit/error.h"
#include "btfit/fit.h"
#include "btfit/optimize.h"
#include "bootstrap.h"
#include "firth.h"
#include "inference.h"
#include "objective_cpu.h"
#include "se_at_scale.h"
#include "uncertainty.h"

namespace btfit {

const char* to_string(FitStatus status) {
  switch (status) {
    case FitStatus::converged: return "converged";
    case FitStatus::not_converged: return "not_converged";
    case FitStatus::not_estimable: return "not_estimable";
  }
  return "unknown";
}

void validate(const SolverOptions& o) {
  if (o.threads < 0) throw UsageError("threads must be >= 0 (0 = all available)");
  if (!(o.tolerance > 0.0 && o.tolerance < 1.0)) throw UsageError("tolerance must be in (0, 1)");
  if (o.max_iterations < 1) throw UsageError("max_iterations must be >= 1");
  if (o.lbfgs_memory < 1) throw UsageError("lbfgs_memory must be >= 1");
}

namespace {
void validate_prior(const std::vector<PriorTerm>& prior) {
  for (const auto& t : prior) {
    if (t.name.empty()) throw UsageError("a prior term has an empty name");
    if (!std::isfinite(t.mean)) throw UsageError("prior mean for " + t.name + " is not finite");
    if (!(t.sd > 0.0) || !std::isfinite(t.sd)) throw UsageError("prior sd for " + t.name + " must be positive and finite");
  }
}
}  // namespace

void validate(const BradleyTerryOptions& o) {
  validate(o.solver);
  if (!(o.l2 >= 0.0) || !std::isfinite(o.l2)) throw UsageError("--l2 must be a finite number >= 0");
  if (!(o.pseudo >= 0.0) || !std::isfinite(o.pseudo)) throw UsageError("--pseudo must be a finite number >= 0");
  validate_prior(o.prior);
  if (!(o.ci_level > 0.0 && o.ci_level < 1.0)) throw UsageError("the interval level (--ci) must be in (0, 1)");
}

void validate(const LogisticOptions& o) {
  validate(o.solver);
  if (o.solver.solver == Solver::newman) throw UsageError("--solver newman fits Bradley-Terry models only");
  if (!(o.l2 >= 0.0) || !std::isfinite(o.l2)) throw UsageError("--l2 must be a finite number >= 0");
  if (o.penalize_intercept && !o.intercept) throw UsageError("--penalize-intercept needs an intercept");
  validate_prior(o.prior);
  if (!(o.ci_level > 0.0 && o.ci_level < 1.0)) throw UsageError("the interval level (--ci) must be in (0, 1)");
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Below this many rows a pass costs microseconds: aggregation cannot pay.
constexpr std::size_t kAggregateMinRows = 10000;
// Aggregate when at most this fraction of the rows would be left (tools/bench.sh measures it).
constexpr double kAggregateMaxFraction = 0.5;

// Whether to fit on aggregated counts (btfit/aggregate.h); *note says why not when asked to;
// *fraction gets the expected fraction of rows left when it is known (else 0).
bool should_aggregate(const Comparisons& data, const BradleyTerryOptions& options, std::string* note,
                      double* fraction) {
  *fraction = 0.0;
  if (options.aggregate == Aggregation::off) return false;
  if (!data.cluster.empty()) {
    if (options.aggregate == Aggregation::on) *note = "not aggregated: cluster ids are kept per comparison";
    return false;
  }
  if (options.aggregate == Aggregation::on) return true;
  const std::size_t rows = data.size();
  if (rows < kAggregateMinRows) return false;
  // At most 3 outcomes per unordered pair (and per ordered pair for home games).
  const double items = static_cast<double>(data.n_items());
  const double keys = items * (items - 1.0) * 1.5 * (options.home_advantage ? 3.0 : 1.0);
  if (keys <= kAggregateMaxFraction * static_cast<double>(rows)) {
    *fraction = keys / static_cast<double>(rows);  // an upper bound
    return true;
  }
  *fraction = estimate_distinct_fraction(data, options.home_advantage, options.solver.threads, kAggregateMaxFraction);
  return *fraction <= kAggregateMaxFraction;
}

// Solver::automatic for Bradley-Terry (the measurements: BENCHMARKS.md). On the CPU, Newman's
// iteration with Anderson acceleration: 8 to 15 passes without a log per comparison, where
// Newton-CG makes 25 to 35 and L-BFGS 30 to hundreds. When its rate predicts more than
// kNewmanPassBudget passes (a graph with a small spectral gap, such as long chains), Newton-CG
// goes on from where it stopped. On a GPU backend the same, its passes on the device, where the
// backend offers Newman's sums (not the deterministic one: Newton-CG there).
constexpr int kNewmanPassBudget = 50;

Solver choose_bradley_terry_solver(const std::string& device, const Objective& objective) {
  return device == "cpu" || objective.has_newman_sums() ? Solver::newman : Solver::newton;
}

}  // namespace

BradleyTerryFit fit_bradley_terry(const Comparisons& data, const BradleyTerryOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  validate(options);
  if (options.home_advantage && !data.has_home_flags())
    throw UsageError("home advantage needs home flags in the data (the --a/--b/--outcome layout)");
  BradleyTerryFit fit;
  const std::size_t n = data.n_items();
  fit.item_names = data.item_names;
  fit.n_comparisons = data.size();
  fit.has_home = options.home_advantage;

  // Records: wins, losses, ties per item (games = their sum), per thread when the items are
  // few next to the comparisons, added in thread order.
  fit.wins.assign(n, 0.0);
  fit.losses.assign(n, 0.0);
  fit.ties.assign(n, 0.0);
  fit.games.assign(n, 0.0);
  {
    const int threads = data.size() >= 8 * n * static_cast<std::size_t>(resolve_threads(options.solver.threads)) &&
                                data.size() >= 1000000
                            ? resolve_threads(options.solver.threads)
                            : 1;
    std::vector<double> scratch(static_cast<std::size_t>(threads) * 3 * n, 0.0);
#pragma omp parallel num_threads(threads)
    {
      double* mine = scratch.data() + static_cast<std::size_t>(omp_get_thread_num()) * 3 * n;
#pragma omp for schedule(static)
      for (std::ptrdiff_t kk = 0; kk < static_cast<std::ptrdiff_t>(data.size()); ++kk) {
        const auto k = static_cast<std::size_t>(kk);
        const double w = data.w(k);
        const auto a = data.a[k], b = data.b[k];
        switch (data.outcome2[k]) {  // mine[3i]: wins, [3i + 1]: losses, [3i + 2]: ties
          case 2: mine[3 * a] += w; mine[3 * b + 1] += w; break;
          case 0: mine[3 * b] += w; mine[3 * a + 1] += w; break;
          default: mine[3 * a + 2] += w; mine[3 * b + 2] += w; break;
        }
      }
    }
    for (int t = 0; t < threads; ++t) {
      const double* part = scratch.data() + static_cast<std::size_t>(t) * 3 * n;
      for (std::size_t i = 0; i < n; ++i) {
        fit.wins[i] += part[3 * i];
        fit.losses[i] += part[3 * i + 1];
        fit.ties[i] += part[3 * i + 2];
      }
    }
    for (std::size_t i = 0; i < n; ++i) fit.games[i] = fit.wins[i] + fit.losses[i] + fit.ties[i];
  }
  if (!options.reference.empty()) {
    for (std::size_t i = 0; i < n; ++i)
      if (data.item_names[i] == options.reference) fit.reference = static_cast<std::int64_t>(i);
    if (fit.reference < 0) throw UsageError("--reference " + options.reference + ": no such item");
  }

  // Aggregation: the existence check, the solver and the standard errors read `fitted`, the
  // comparisons or their counts (the same sums); the records and the comparison count stay
  // those of the comparisons.
  const auto start_aggregate = std::chrono::steady_clock::now();
  Comparisons aggregated;
  const Comparisons* fitted = &data;
  {
    std::string note;
    double fraction = 0.0;
    if (should_aggregate(data, options, &note, &fraction)) {
      aggregated = aggregate_comparisons(data, options.home_advantage, options.solver.threads, fraction);
      fitted = &aggregated;
    }
    if (!note.empty()) fit.notes.push_back(note);
  }
  fit.n_rows_fitted = fitted->size();
  fit.seconds_aggregate = seconds_since(start_aggregate);

  fit.diagnosis = diagnose_bradley_terry(*fitted, options);
  if (fit.diagnosis.n_groups > 1)
    fit.notes.push_back("the comparison graph falls apart into " + std::to_string(fit.diagnosis.n_groups) +
                        " groups: strengths in different groups are not comparable");
  if (!fit.diagnosis.estimable) {
    fit.status = FitStatus::not_estimable;
    fit.seconds = seconds_since(start);
    return fit;
  }

  // Home advantage that runs to infinity: every non-neutral game won (or lost) by the home side.
  const bool home_prior = [&] {
    for (const auto& t : options.prior)
      if (t.name == "(home)") return true;
    return false;
  }();
  if (options.home_advantage && !home_prior) {
    double home_wins = 0, home_losses = 0;
    for (std::size_t k = 0; k < fitted->size(); ++k) {
      if (!fitted->at_home[k]) continue;
      home_wins += fitted->w(k) * fitted->y(k);
      home_losses += fitted->w(k) * (1.0 - fitted->y(k));
    }
    // Firth's penalty keeps h finite when the home side won (or lost) every home game.
    if ((home_wins == 0.0 || home_losses == 0.0) && !(options.firth && home_wins + home_losses > 0.0)) {
      fit.status = FitStatus::not_estimable;
      std::ostringstream msg;
      msg << "The home advantage has no finite estimate: the home side "
          << (home_wins + home_losses == 0.0 ? "never played (every game is on neutral ground)"
                                             : (home_losses == 0.0 ? "won every game played at home"
                                                                   : "lost every game played at home"))
          << " (" << home_wins << " home wins, " << home_losses << " home losses).\n"
          << "A prior on (home) (--prior FILE with a row for (home)) or --firth makes it finite; the L2 "
             "penalty does not cover it.\n";
      fit.diagnosis.estimable = false;
      fit.diagnosis.message += msg.str();
      fit.seconds = seconds_since(start);
      return fit;
    }
  }

  fit.seconds_check = seconds_since(start) - fit.seconds_aggregate;
  // Objective = data NLL (backend) + penalty (host).
  BackendChoice backend = make_bradley_terry_objective(*fitted, options.home_advantage, options.solver.device,
                                                       options.solver.threads, options.solver.deterministic);
  fit.device = backend.device;
  if (!backend.reason.empty()) fit.notes.push_back(backend.reason);
  const std::size_t p = backend.objective->n_params();
  DiagonalPenalty penalty(p);
  for (std::size_t i = 0; i < n; ++i) {
    penalty.l2[i] = options.l2;
    penalty.pseudo[i] = options.pseudo;
  }
  std::vector<std::string> unknown;
  if (!options.prior.empty()) {
    std::unordered_map<std::string, std::size_t> id;
    for (std::size_t i = 0; i < n; ++i) id.emplace(data.item_names[i], i);
    if (options.home_advantage) id.emplace("(home)", n);
    for (const auto& t : options.prior) {
      auto it = id.find(t.name);
      if (it == id.end()) {
        unknown.push_back(t.name);
        continue;
      }
      penalty.prior_mean[it->second] = t.mean;
      penalty.prior_precision[it->second] = 1.0 / (t.sd * t.sd);
    }
  }
  if (!unknown.empty()) {
    std::string list;
    for (std::size_t i = 0; i < unknown.size() && i < 10; ++i) list += (i ? ", " : "") + unknown[i];
    fit.notes.push_back("prior names not in the data (ignored): " + list + (unknown.size() > 10 ? ", ..." : ""));
  }
  const bool penalized = !penalty.empty();
  PenalizedObjective objective(*backend.objective, penalty);

  std::vector<double> theta(p, 0.0);
  OptimizerSettings settings;
  settings.tolerance = options.solver.tolerance;
  settings.max_iterations = options.solver.max_iterations;
  settings.lbfgs_memory = options.solver.lbfgs_memory;
  const bool automatic = options.solver.solver == Solver::automatic;
  const Solver solver =
      automatic ? choose_bradley_terry_solver(fit.device, *backend.objective) : options.solver.solver;
  fit.solver = solver == Solver::lbfgs ? "lbfgs" : solver == Solver::newman ? "newman" : "newton-cg";
  // Newman's passes on the backend's device when it offers them, else on the CPU.
  Objective* newman_device =
      fit.device != "cpu" && backend.objective->has_newman_sums() ? backend.objective.get() : nullptr;
  if (solver == Solver::newman && fit.device != "cpu" && newman_device == nullptr)
    fit.notes.push_back("Newman's iteration runs on the CPU; the " + fit.device + " backend evaluated the result");
  const auto start_optimize = std::chrono::steady_clock::now();
  // Firth (host/firth.cpp): dense Fisher scoring on the Jeffreys-penalized objective.
  FirthResult firth;
  ItemGroups firth_groups;
  if (options.firth) {
    if (p > options.solver.dense_limit)
      throw UsageError("--firth needs the dense " + std::to_string(p) + " x " + std::to_string(p) +
                       " Fisher information: " + std::to_string(p) + " parameters is above the dense limit of " +
                       std::to_string(options.solver.dense_limit) + " (raise --dense-limit, or use --pseudo or --l2)");
    firth_groups = item_groups(*fitted, nullptr);
    firth = firth_bradley_terry(*fitted, options.home_advantage, nullptr, penalty, firth_groups, theta.data(), settings);
    fit.solver = "firth (Fisher scoring on the adjusted score)";
    fit.firth = true;
    if (!firth.failure.empty()) {
      fit.status = FitStatus::not_estimable;
      fit.diagnosis.estimable = false;
      fit.diagnosis.message += "Firth's penalized estimate is not unique: " + firth.failure +
                               " (a parameter the comparisons do not identify).\n";
      fit.seconds = seconds_since(start);
      return fit;
    }
    if (firth_groups.count() > 1 && !penalized)
      fit.notes.push_back("--firth: each of the " + std::to_string(firth_groups.count()) +
                          " groups was fitted on its own; strengths have mean zero within each group");
  }
  OptimizerResult opt;
  if (options.firth) {
    opt = firth.optimizer;
  } else if (solver == Solver::newman) {
    OptimizerSettings newman_settings = settings;
    if (automatic) newman_settings.newman_pass_budget = kNewmanPassBudget;
    opt = minimize_newman(*fitted, options.home_advantage, penalty, theta.data(), newman_settings,
                          options.solver.threads, newman_device);
    // Passes on the device are the objective's own, counted by its passes() (as for the solvers
    // through the seam); opt.passes counts only the passes Newman made over the host's data.
    if (newman_device != nullptr) opt.passes = 0;
    if (automatic && opt.status == OptimizerStatus::no_progress) {
      // Newton-CG from Newman's last point, to the same target ||g|| <= tolerance * ||g0||.
      OptimizerSettings rest = settings;
      rest.tolerance = std::min(0.5, settings.tolerance * opt.initial_gradient_norm / opt.gradient_norm);
      OptimizerResult more = minimize(objective, theta.data(), Solver::newton, rest);
      more.passes += opt.passes;
      more.iterations += opt.iterations;
      more.initial_gradient_norm = opt.initial_gradient_norm;
      opt = more;
      fit.solver = "newman, then newton-cg";
    }
  } else {
    opt = minimize(objective, theta.data(), solver, settings);
  }
  fit.seconds_optimize = seconds_since(start_optimize);
  fit.optimizer_status = to_string(opt.status);
  fit.iterations = opt.iterations;
  fit.gradient_norm = opt.gradient_norm;
  fit.status = opt.status == OptimizerStatus::converged ? FitStatus::converged : FitStatus::not_converged;

  // Mean zero when nothing pins the level.
  if (!penalized) {
    double mean = 0.0;
    for (std::size_t i = 0; i < n; ++i) mean += theta[i];
    mean /= static_cast<double>(n);
    for (std::size_t i = 0; i < n; ++i) theta[i] -= mean;
  }
  if (std::isfinite(opt.data_value)) {
    fit.nll = opt.data_value;  // from the solver's last pass (the centring does not change it)
    fit.objective = fit.nll + penalty.value(theta.data());
  } else {
    fit.objective = objective.value(theta.data());
    fit.nll = objective.last_data_value();
    if (options.firth) fit.objective = firth.objective;  // includes -(1/2) log det I
  }
  if (options.home_advantage && !home_prior && std::fabs(theta[n]) > 25.0) {
    fit.notes.push_back("the home advantage estimate is very large (|h| > 25): the data may separate on it");
  }

  // Standard errors.
  const auto start_se = std::chrono::steady_clock::now();
  fit.se.assign(n, std::numeric_limits<double>::quiet_NaN());
  fit.home_se = std::numeric_limits<double>::quiet_NaN();
  Eigen::MatrixXd cov;
  bool have_cov = false;
  if (!options.solver.standard_errors) {
    fit.se_method = "not requested";
  } else if (p > options.solver.dense_limit && large_scale_se_requested(options.large_scale_se)) {
    // Conjugate gradients on Hessian-vector products (host/se_at_scale.cpp).
    const LargeScaleSe large = large_scale_standard_errors(*backend.objective, penalty, theta.data(), n,
                                                           options.home_advantage, fit.reference, data.item_names,
                                                           options.large_scale_se);
    fit.se = large.se;
    fit.home_se = large.home_se;
    fit.se_method = large.method;
  } else if (p > options.solver.dense_limit) {
    fit.se_method = "skipped: " + std::to_string(p) + " parameters is above the dense limit of " +
                    std::to_string(options.solver.dense_limit) + " (a dense " + std::to_string(p) + " x " +
                    std::to_string(p) + " inverse would need " +
                    std::to_string(static_cast<unsigned long long>(8.0 * p * p / 1e6)) +
                    " MB; --se-top N, --se-items FILE or --se-probes M compute SEs without it)";
  } else {
    Eigen::MatrixXd h = bradley_terry_hessian(*fitted, theta.data(), options.home_advantage);
    std::vector<double> pc(p);
    penalty.curvature(theta.data(), pc.data());
    for (std::size_t j = 0; j < p; ++j) h(static_cast<Eigen::Index>(j), static_cast<Eigen::Index>(j)) += pc[j];
    Eigen::VectorXd u;
    if (!penalized) {
      u = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(p));
      u.head(static_cast<Eigen::Index>(n)).setConstant(1.0 / std::sqrt(static_cast<double>(n)));
    }
    std::string why;
    have_cov = options.firth ? invert_hessian_null_space(h, group_null_basis(firth_groups, p, &penalty), &cov, &why)
                             : invert_hessian(h, u, &cov, &why);
    if (have_cov && options.firth) {
      fit.se_method = penalized ? "inverse of the Fisher information plus the penalty's curvature at the Firth "
                                  "estimate (the Firth term's curvature left out)"
                                : "inverse Fisher information at the Firth estimate (pseudo-inverse: mean-zero "
                                  "strengths), as brglm2 reports";
    } else if (have_cov) {
      fit.se_method = penalized ? "inverse Hessian of the penalized objective (penalty/prior included)"
                                : "pseudo-inverse of the Hessian (mean-zero strengths)";
    } else {
      fit.se_method = "failed: " + why;
    }
  }

  // Report: reference differences or the strengths as they are.
  fit.strength.assign(theta.begin(), theta.begin() + static_cast<std::ptrdiff_t>(n));
  if (options.home_advantage) fit.home = theta[n];
  if (have_cov) {
    for (std::size_t i = 0; i < n; ++i) {
      const auto ii = static_cast<Eigen::Index>(i);
      double var = cov(ii, ii);
      if (fit.reference >= 0) {
        const auto r = static_cast<Eigen::Index>(fit.reference);
        var = cov(ii, ii) + cov(r, r) - 2.0 * cov(ii, r);
      }
      fit.se[i] = std::sqrt(std::max(var, 0.0));
    }
    if (options.home_advantage) {
      const auto j = static_cast<Eigen::Index>(n);
      fit.home_se = std::sqrt(cov(j, j));
    }
  }
  if (fit.reference >= 0) {
    const double ref = fit.strength[static_cast<std::size_t>(fit.reference)];
    for (double& s : fit.strength) s -= ref;
    fit.se[static_cast<std::size_t>(fit.reference)] = have_cov ? 0.0 : fit.se[static_cast<std::size_t>(fit.reference)];
  }
  // Robust SEs, quasi-variances, Wald intervals (from the original rows: they hold the clusters).
  add_bradley_terry_uncertainty(data, theta, have_cov ? &cov : nullptr, penalized, options, &fit);
  if (options.firth)
    for (std::size_t i = 0; i < n; ++i)
      if (fit.games[i] == 0.0) fit.se[i] = std::numeric_limits<double>::quiet_NaN();  // never played
  fit.seconds_se = seconds_since(start_se);
  // Bootstrap (host/bootstrap.cpp): replicate weights are keyed by the rows as loaded.
  if (options.bootstrap.replicates > 0) bootstrap_bradley_terry(data, options, penalty, theta, fit);
  fit.passes = backend.objective->passes() + opt.passes;
  fit.seconds = seconds_since(start);
  return fit;
}

}  // namespace btfit
