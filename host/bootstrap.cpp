// The bootstrap: Poisson-weighted replicates (CONVENTIONS.md), fitted in batches through the
// replicate calls of the Objective seam, and percentile intervals from them.
//
// Replicate r gives row i of weight w_i the weight counter_poisson(w_i, seed, r, i): w_i
// comparisons, each kept Poisson(1) times (the Poisson bootstrap; Hanley and MacGibbon 2006,
// Chamandy et al. 2012), a pure function of (seed, r, i), so the draws do not depend on the
// thread count or the device. Each replicate is the full fit's objective with these weights,
// the same penalty and prior, warm-started from the full fit's estimate.
//
// Fitting: K replicates advance together in a batched Newton-CG. Each iteration makes one
// Hessian-diagonal pass for all K (the Jacobi preconditioner), then preconditioned CG with one batched Hessian-vector pass per CG step (each replicate
// stops at its own residual, forcing term min(0.1, sqrt(|g| / |g(0)|)), Eisenstat and Walker
// 1996), then one gradient pass at the full steps: a step that lowers the gradient norm is
// taken (the pass skips the objective's values; Newton steps near the optimum, where a
// warm-started replicate is, do lower it), else a backtracking line
// search on each replicate's objective (Armijo, 1e-4). A replicate stops when
// |g| <= tolerance * |g(0)| (the rule of a fit from zero, with the data's g(0); the warm
// start's own gradient when larger). Firth replicates are fitted one at a time by the dense
// Firth solver (host/firth.cpp).
//
// Existence: before fitting, each replicate is checked with the rules of the full fit on its
// rows of positive weight. Bradley-Terry: the directed comparison graph of the replicate goes
// through diagnose_bradley_terry (an edge is present when any of the rows giving it draws a
// positive weight: the scan of a row group stops at the first such row); with a home
// advantage, the home side must have both won and lost. Logistic: all labels equal with a
// free intercept, zero or constant columns, a column separating the labels; after fitting, a
// replicate whose margins exceed 15 is refitted by fit_logistic on its weights, which applies
// the separation rule in full. A replicate that fails is dropped and counted.
//
// Intervals: percentiles at the levels (1 - level)/2 and (1 + level)/2, by linear
// interpolation (Hyndman and Fan's type 7, numpy's default) for strengths and coefficients,
// and by the inverse of the empirical distribution (type 1, always an attained rank) for
// ranks. An unpenalized Bradley-Terry replicate is centred to mean zero (or, with a reference
// item, reported relative to it) before the percentiles, as the full fit is.
#include "bootstrap.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <unordered_map>

#include "btfit/backend.h"
#include "btfit/error.h"
#include "firth.h"
#include "objective_cpu.h"
#include "replicate_weights.h"

namespace btfit {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void validate_bootstrap(const BootstrapOptions& b, double ci_level) {
  if (b.replicates > 100000000) throw UsageError("--bootstrap: at most 1e8 replicates");
  if (!(ci_level > 0.0 && ci_level < 1.0)) throw UsageError("--ci must be in (0, 1)");
}

double dot(const double* x, const double* y, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

// Replicates per batch: the requested number, else up to 32 within a memory budget for the
// per-replicate curvature the backend keeps (units x K doubles; units <= rows).
std::size_t batch_size(std::size_t requested, std::size_t count, std::size_t rows, std::size_t budget_bytes) {
  std::size_t k = requested > 0 ? requested : 32;
  if (requested == 0) {
    const std::size_t by_memory = std::max<std::size_t>(1, budget_bytes / (8 * std::max<std::size_t>(rows, 1)));
    k = std::min(k, by_memory);
  }
  return std::max<std::size_t>(1, std::min(k, count));
}

// ---------------------------------------------------------------------------------------
// Batched Newton-CG over the replicate seam.

struct BatchSettings {
  double tolerance = 1e-8;
  double gradient_scale = 0.0;   // |g(0)| of the data as loaded: a replicate stops at
                                 // tolerance * max(gradient_scale, |g at the warm start|)
  int max_iterations = 1000;
  std::size_t center_items = 0;  // > 0: the objective is flat along the shift of the first
                                 // center_items parameters (unpenalized Bradley-Terry)
};

// theta (p x K) gets the estimates; outcome[j] must be `used` for the replicates to fit and is
// set to not_converged for those whose optimizer stops first.
void newton_replicates(Objective& objective, const DiagonalPenalty& penalty, const ReplicateBatch& batch,
                       const std::vector<double>& start, const BatchSettings& settings, std::vector<double>& theta,
                       std::vector<ReplicateOutcome>& outcome) {
  const std::size_t p = objective.n_params();
  const std::size_t k_vectors = batch.count;
  enum class State { running, converged, stopped };
  std::vector<State> state(k_vectors, State::running);
  for (std::size_t j = 0; j < k_vectors; ++j)
    if (outcome[j] != ReplicateOutcome::used) state[j] = State::stopped;
  theta.resize(p * k_vectors);
  for (std::size_t j = 0; j < k_vectors; ++j) std::copy(start.begin(), start.end(), theta.begin() + j * p);
  std::vector<double> values(k_vectors), grad(p * k_vectors), trial(p * k_vectors), trial_values(k_vectors),
      trial_grad(p * k_vectors), m(p * k_vectors), pen_curv(p * k_vectors), x(p * k_vectors), r(p * k_vectors),
      z(p * k_vectors), d(p * k_vectors), hd(p * k_vectors);
  std::vector<double> gnorm(k_vectors), target(k_vectors), zr(k_vectors), cg_tol(k_vectors), slope(k_vectors),
      alpha(k_vectors);
  // One pass at `points` (p x K); with vals null the gradients only (no log per row).
  auto evaluate = [&](const std::vector<double>& points, std::vector<double>* vals, std::vector<double>& grads) {
    objective.value_gradient_replicates(batch, points.data(), vals ? vals->data() : nullptr, grads.data());
    for (std::size_t j = 0; j < k_vectors; ++j) {
      if (vals) (*vals)[j] += penalty.value(points.data() + j * p);
      penalty.add_gradient(points.data() + j * p, grads.data() + j * p);
    }
  };
  auto any = [&](const std::vector<char>& flags) {
    return std::any_of(flags.begin(), flags.end(), [](char c) { return c != 0; });
  };
  // The stopping rule of a fit from zero (||g|| <= tolerance * ||g(0)||; a replicate's g(0) is
  // the data's in expectation), so that a replicate warm-started at its own optimum (it may
  // draw the original weights) still stops.
  evaluate(theta, nullptr, grad);
  for (std::size_t j = 0; j < k_vectors; ++j) {
    gnorm[j] = std::sqrt(dot(grad.data() + j * p, grad.data() + j * p, p));
    target[j] = settings.tolerance * std::max(settings.gradient_scale, gnorm[j]);
    if (state[j] != State::running) continue;
    if (!std::isfinite(gnorm[j])) state[j] = State::stopped;
    else if (gnorm[j] <= target[j] || gnorm[j] == 0.0) state[j] = State::converged;
  }
  const int max_cg = static_cast<int>(std::min<std::size_t>(std::max<std::size_t>(p, 5), 2000));
  for (int iteration = 1; iteration <= settings.max_iterations; ++iteration) {
    std::vector<char> running(k_vectors, 0);
    for (std::size_t j = 0; j < k_vectors; ++j) running[j] = state[j] == State::running;
    if (!any(running)) break;
    // Jacobi preconditioner.
    objective.hessian_diagonal_replicates(batch, m.data());
    for (std::size_t j = 0; j < k_vectors; ++j) {
      double* mj = m.data() + j * p;
      double* cj = pen_curv.data() + j * p;
      penalty.curvature(theta.data() + j * p, cj);
      double largest = 0.0;
      for (std::size_t i = 0; i < p; ++i) {
        mj[i] += cj[i];
        largest = std::max(largest, mj[i]);
      }
      const double floor = largest > 0.0 ? 1e-10 * largest : 1.0;
      for (std::size_t i = 0; i < p; ++i) mj[i] = (std::isfinite(mj[i]) && mj[i] > floor) ? mj[i] : floor;
    }
    // Preconditioned CG on H_j x_j = -g_j, all running replicates in lockstep.
    std::vector<char> cg_active(k_vectors, 0);
    std::fill(x.begin(), x.end(), 0.0);
    std::fill(d.begin(), d.end(), 0.0);
    for (std::size_t j = 0; j < k_vectors; ++j) {
      if (!running[j]) continue;
      double* rj = r.data() + j * p;
      double* zj = z.data() + j * p;
      double* dj = d.data() + j * p;
      const double* gj = grad.data() + j * p;
      const double* mj = m.data() + j * p;
      for (std::size_t i = 0; i < p; ++i) {
        rj[i] = -gj[i];
        zj[i] = rj[i] / mj[i];
      }
      if (settings.center_items > 0) {
        double mean = 0.0;
        for (std::size_t i = 0; i < settings.center_items; ++i) mean += zj[i];
        mean /= static_cast<double>(settings.center_items);
        for (std::size_t i = 0; i < settings.center_items; ++i) zj[i] -= mean;
      }
      std::copy(zj, zj + p, dj);
      zr[j] = dot(zj, rj, p);
      const double forcing = std::min(0.1, std::sqrt(gnorm[j] / std::max(target[j] / settings.tolerance, 1e-300)));
      cg_tol[j] = forcing * std::sqrt(std::max(zr[j], 0.0));
      cg_active[j] = zr[j] > 0.0 ? 1 : 0;
    }
    for (int cg = 0; cg < max_cg && any(cg_active); ++cg) {
      objective.hessian_vector_replicates(batch, d.data(), hd.data());
      for (std::size_t j = 0; j < k_vectors; ++j) {
        if (!cg_active[j]) continue;
        double* xj = x.data() + j * p;
        double* rj = r.data() + j * p;
        double* zj = z.data() + j * p;
        double* dj = d.data() + j * p;
        double* hdj = hd.data() + j * p;
        const double* mj = m.data() + j * p;
        const double* cj = pen_curv.data() + j * p;
        for (std::size_t i = 0; i < p; ++i) hdj[i] += cj[i] * dj[i];
        const double curvature = dot(dj, hdj, p);
        if (!(curvature > 0.0)) {
          cg_active[j] = 0;
          continue;
        }
        const double step = zr[j] / curvature;
        for (std::size_t i = 0; i < p; ++i) {
          xj[i] += step * dj[i];
          rj[i] -= step * hdj[i];
          zj[i] = rj[i] / mj[i];
        }
        if (settings.center_items > 0) {
          double mean = 0.0;
          for (std::size_t i = 0; i < settings.center_items; ++i) mean += zj[i];
          mean /= static_cast<double>(settings.center_items);
          for (std::size_t i = 0; i < settings.center_items; ++i) zj[i] -= mean;
        }
        const double zr_new = dot(zj, rj, p);
        if (std::sqrt(std::max(zr_new, 0.0)) <= cg_tol[j]) {
          cg_active[j] = 0;
          continue;
        }
        const double beta = zr_new / zr[j];
        for (std::size_t i = 0; i < p; ++i) dj[i] = zj[i] + beta * dj[i];
        zr[j] = zr_new;
      }
      for (std::size_t j = 0; j < k_vectors; ++j)
        if (!cg_active[j]) std::fill(d.begin() + static_cast<std::ptrdiff_t>(j * p),
                                     d.begin() + static_cast<std::ptrdiff_t>((j + 1) * p), 0.0);
    }
    // Directions: the CG solution, or the preconditioned gradient when CG gave no descent.
    for (std::size_t j = 0; j < k_vectors; ++j) {
      if (!running[j]) continue;
      double* xj = x.data() + j * p;
      const double* gj = grad.data() + j * p;
      slope[j] = dot(gj, xj, p);
      if (!(slope[j] < 0.0)) {
        const double* mj = m.data() + j * p;
        for (std::size_t i = 0; i < p; ++i) xj[i] = -gj[i] / mj[i];
        slope[j] = dot(gj, xj, p);
      }
      alpha[j] = 1.0;
    }
    // The full step first, judged by the gradient alone (a pass without values): near the
    // optimum, where a warm-started replicate is, a Newton step lowers |g| and is taken.
    for (std::size_t j = 0; j < k_vectors; ++j) {
      const double* tj = theta.data() + j * p;
      double* out = trial.data() + j * p;
      const double* xj = x.data() + j * p;
      for (std::size_t i = 0; i < p; ++i) out[i] = running[j] ? tj[i] + xj[i] : tj[i];
    }
    evaluate(trial, nullptr, trial_grad);
    std::vector<char> pending(k_vectors, 0);
    for (std::size_t j = 0; j < k_vectors; ++j) {
      if (!running[j]) continue;
      const double* gt = trial_grad.data() + j * p;
      const double gt_norm = std::sqrt(dot(gt, gt, p));
      if (std::isfinite(gt_norm) && gt_norm < gnorm[j]) {
        std::copy(trial.begin() + static_cast<std::ptrdiff_t>(j * p),
                  trial.begin() + static_cast<std::ptrdiff_t>((j + 1) * p),
                  theta.begin() + static_cast<std::ptrdiff_t>(j * p));
        std::copy(gt, gt + p, grad.begin() + static_cast<std::ptrdiff_t>(j * p));
        gnorm[j] = gt_norm;
        if (gnorm[j] <= target[j]) state[j] = State::converged;
      } else {
        pending[j] = 1;
      }
    }
    // Otherwise backtracking on each replicate's objective (Armijo): values at the current
    // points, then one pass per trial.
    if (any(pending)) evaluate(theta, &values, grad);
    for (int attempt = 0; attempt < 60 && any(pending); ++attempt) {
      for (std::size_t j = 0; j < k_vectors; ++j) {
        const double* tj = theta.data() + j * p;
        double* out = trial.data() + j * p;
        if (pending[j]) {
          const double* xj = x.data() + j * p;
          for (std::size_t i = 0; i < p; ++i) out[i] = tj[i] + alpha[j] * xj[i];
        } else {
          std::copy(tj, tj + p, out);
        }
      }
      evaluate(trial, &trial_values, trial_grad);
      for (std::size_t j = 0; j < k_vectors; ++j) {
        if (!pending[j]) continue;
        const double* gt = trial_grad.data() + j * p;
        const double gt_norm = std::sqrt(dot(gt, gt, p));
        const double decrease = -alpha[j] * slope[j];
        const double noise = 1e-12 * std::max(1.0, std::fabs(values[j]));
        const bool finite = std::isfinite(trial_values[j]) && std::isfinite(gt_norm);
        const bool armijo = trial_values[j] <= values[j] - 1e-4 * decrease;
        const bool rounding = decrease <= noise && gt_norm < gnorm[j];
        if (finite && (armijo || rounding)) {
          std::copy(trial.begin() + static_cast<std::ptrdiff_t>(j * p),
                    trial.begin() + static_cast<std::ptrdiff_t>((j + 1) * p),
                    theta.begin() + static_cast<std::ptrdiff_t>(j * p));
          std::copy(gt, gt + p, grad.begin() + static_cast<std::ptrdiff_t>(j * p));
          values[j] = trial_values[j];
          gnorm[j] = gt_norm;
          pending[j] = 0;
          if (gnorm[j] <= target[j]) state[j] = State::converged;
        } else if (decrease <= 1e-3 * noise) {
          pending[j] = 0;
          state[j] = State::stopped;
        } else {
          alpha[j] *= 0.5;
        }
      }
    }
    for (std::size_t j = 0; j < k_vectors; ++j)
      if (pending[j]) state[j] = State::stopped;
  }
  for (std::size_t j = 0; j < k_vectors; ++j)
    if (outcome[j] == ReplicateOutcome::used && state[j] != State::converged)
      outcome[j] = ReplicateOutcome::not_converged;
}

// ---------------------------------------------------------------------------------------
// Bradley-Terry existence per replicate.

class BradleyTerryReplicateCheck {
 public:
  BradleyTerryReplicateCheck(const Comparisons& data, const BradleyTerryOptions& options)
      : data_(data), options_(options) {
    always_ = options.l2 > 0.0 || options.pseudo > 0.0 || options.firth;
    bool home_prior = false;
    for (const auto& t : options.prior)
      if (t.name == "(home)") home_prior = true;
    check_home_ = options.home_advantage && !home_prior && !options.firth && data.has_home_flags();
    if (data.size() >= 0xFFFFFFFFull) throw UsageError("the bootstrap supports up to 2^32 - 1 comparisons");
    // Directed edges loser -> winner (both ways for a tie), with the rows that give each.
    std::unordered_map<std::uint64_t, std::uint32_t> edge_id;
    std::vector<std::uint32_t> edge_of_row_from_b, edge_of_row_from_a;  // per row, or kNone
    constexpr std::uint32_t kNone = 0xFFFFFFFFu;
    if (!always_) {
      edge_of_row_from_b.assign(data.size(), kNone);
      edge_of_row_from_a.assign(data.size(), kNone);
      auto id_of = [&](std::uint32_t from, std::uint32_t to) {
        const std::uint64_t key = (static_cast<std::uint64_t>(from) << 32) | to;
        const auto [it, added] = edge_id.emplace(key, static_cast<std::uint32_t>(edge_from_.size()));
        if (added) {
          edge_from_.push_back(from);
          edge_to_.push_back(to);
        }
        return it->second;
      };
      for (std::size_t k = 0; k < data.size(); ++k) {
        if (!(data.w(k) > 0.0)) continue;
        const auto y2 = data.outcome2[k];
        if (y2 >= 1) edge_of_row_from_b[k] = id_of(data.b[k], data.a[k]);
        if (y2 <= 1) edge_of_row_from_a[k] = id_of(data.a[k], data.b[k]);
      }
      offset_.assign(edge_from_.size() + 1, 0);
      for (std::size_t k = 0; k < data.size(); ++k) {
        if (edge_of_row_from_b[k] != kNone) ++offset_[edge_of_row_from_b[k] + 1];
        if (edge_of_row_from_a[k] != kNone) ++offset_[edge_of_row_from_a[k] + 1];
      }
      for (std::size_t e = 0; e < edge_from_.size(); ++e) offset_[e + 1] += offset_[e];
      rows_.resize(offset_.back());
      std::vector<std::uint64_t> fill(offset_.begin(), offset_.end() - 1);
      for (std::size_t k = 0; k < data.size(); ++k) {
        if (edge_of_row_from_b[k] != kNone) rows_[fill[edge_of_row_from_b[k]]++] = static_cast<std::uint32_t>(k);
        if (edge_of_row_from_a[k] != kNone) rows_[fill[edge_of_row_from_a[k]]++] = static_cast<std::uint32_t>(k);
      }
      names_ = &data.item_names;
    }
    if (check_home_) {
      for (std::size_t k = 0; k < data.size(); ++k) {
        if (!data.at_home[k] || !(data.w(k) > 0.0)) continue;
        if (data.outcome2[k] >= 1) home_won_.push_back(static_cast<std::uint32_t>(k));
        if (data.outcome2[k] <= 1) home_lost_.push_back(static_cast<std::uint32_t>(k));
      }
    }
  }

  // scratch: the replicate's graph is built there (one per thread; the check is const).
  bool estimable(std::uint64_t seed, std::uint64_t replicate, Comparisons& graph) const {
    const ReplicateWeights draw(seed, replicate);
    auto any_drawn = [&](const std::uint32_t* begin, const std::uint32_t* end) {
      for (const std::uint32_t* r = begin; r != end; ++r)
        if (draw(data_.w(*r), *r) > 0) return true;
      return false;
    };
    if (check_home_) {
      if (!any_drawn(home_won_.data(), home_won_.data() + home_won_.size())) return false;
      if (!any_drawn(home_lost_.data(), home_lost_.data() + home_lost_.size())) return false;
    }
    if (always_) return true;
    if (graph.item_names.size() != names_->size()) graph.item_names = *names_;
    graph.a.clear();
    graph.b.clear();
    graph.outcome2.clear();
    for (std::size_t e = 0; e < edge_from_.size(); ++e) {
      if (!any_drawn(rows_.data() + offset_[e], rows_.data() + offset_[e + 1])) continue;
      graph.a.push_back(edge_to_[e]);  // the winner
      graph.b.push_back(edge_from_[e]);
      graph.outcome2.push_back(2);
    }
    return diagnose_bradley_terry(graph, options_).estimable;
  }

 private:
  const Comparisons& data_;
  const BradleyTerryOptions& options_;
  bool always_ = false;
  bool check_home_ = false;
  std::vector<std::uint32_t> edge_from_, edge_to_;
  std::vector<std::uint64_t> offset_;
  std::vector<std::uint32_t> rows_;
  std::vector<std::uint32_t> home_won_, home_lost_;
  const std::vector<std::string>* names_ = nullptr;
};

// Replicates first .. first + count - 1 that pass the check: in parallel, one scratch graph
// per thread.
void check_replicates(const BradleyTerryReplicateCheck& check, std::uint64_t seed, std::uint64_t first,
                      std::size_t count, std::size_t rows, int threads, std::vector<ReplicateOutcome>& outcome) {
  std::vector<Comparisons> scratch(static_cast<std::size_t>(threads));
  const bool parallel = count > 1 && rows * count >= (std::size_t{1} << 16);  // else threads cost more
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (parallel)
  for (std::ptrdiff_t jj = 0; jj < static_cast<std::ptrdiff_t>(count); ++jj) {
    const auto j = static_cast<std::size_t>(jj);
    if (!check.estimable(seed, first + j, scratch[static_cast<std::size_t>(omp_get_thread_num())]))
      outcome[j] = ReplicateOutcome::not_estimable;
  }
}

std::vector<double> replicate_weights(const std::vector<double>* weights, std::size_t n, std::uint64_t seed,
                                      std::uint64_t replicate) {
  const ReplicateWeights draw(seed, replicate);
  std::vector<double> out(n);
  for (std::size_t r = 0; r < n; ++r) out[r] = draw(weights && !weights->empty() ? (*weights)[r] : 1.0, r);
  return out;
}

// |gradient at zero| of the objective on the data as loaded (penalty included): at theta = 0
// every p is 1/2, so g = sum_k w_k (1/2 - y_k) x_k + penalty'(0), no transcendental needed.
double gradient_norm_at_zero(const Comparisons& data, bool home, const DiagonalPenalty& penalty) {
  const std::size_t n = data.n_items();
  std::vector<double> g(n + (home ? 1 : 0), 0.0);
  const bool flags = home && data.has_home_flags();
  for (std::size_t k = 0; k < data.size(); ++k) {
    const double r = data.w(k) * (0.5 - data.y(k));
    g[data.a[k]] += r;
    g[data.b[k]] -= r;
    if (flags && data.at_home[k]) g[n] += r;
  }
  const std::vector<double> zero(g.size(), 0.0);
  penalty.add_gradient(zero.data(), g.data());
  return std::sqrt(dot(g.data(), g.data(), g.size()));
}

double gradient_norm_at_zero(const Rows& data, bool intercept, const DiagonalPenalty& penalty) {
  const std::size_t o = intercept ? 1 : 0;
  std::vector<double> g(data.n_features + o, 0.0);
  for (std::size_t i = 0; i < data.n_rows; ++i) {
    const double r = data.w(i) * (0.5 - data.label[i]);
    if (o) g[0] += r;
    if (!data.sparse) {
      const double* x = data.dense.data() + i * data.n_features;
      for (std::size_t j = 0; j < data.n_features; ++j) g[o + j] += r * x[j];
    } else {
      for (auto e = data.row_ptr[i]; e < data.row_ptr[i + 1]; ++e) g[o + data.col[e]] += r * data.val[e];
    }
  }
  const std::vector<double> zero(g.size(), 0.0);
  penalty.add_gradient(zero.data(), g.data());
  return std::sqrt(dot(g.data(), g.data(), g.size()));
}

OptimizerSettings settings_of(const SolverOptions& solver) {
  OptimizerSettings s;
  s.tolerance = solver.tolerance;
  s.max_iterations = solver.max_iterations;
  s.lbfgs_memory = solver.lbfgs_memory;
  return s;
}

// ---------------------------------------------------------------------------------------
// Logistic existence per replicate (the checks of fit_logistic before fitting).

bool logistic_replicate_estimable(const Rows& data, const LogisticOptions& options, const DiagonalPenalty& penalty,
                                  const std::vector<double>& w) {
  const std::size_t o = options.intercept ? 1 : 0;
  const std::size_t nf = data.n_features;
  double positive = 0.0, negative = 0.0;
  std::size_t rows1 = 0, rows0 = 0;
  for (std::size_t i = 0; i < data.n_rows; ++i) {
    if (!(w[i] > 0.0)) continue;
    if (data.label[i] > 0.5) {
      positive += w[i];
      ++rows1;
    } else {
      negative += w[i];
      ++rows0;
    }
  }
  const bool free_intercept = o && !penalty.covers(0);
  if (free_intercept && (positive == 0.0 || negative == 0.0)) return false;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> lo1(nf, inf), hi1(nf, -inf), lo0(nf, inf), hi0(nf, -inf);
  std::vector<char> nonzero(nf, 0), constant(nf, 1), seen(nf, 0);
  std::vector<double> first(nf, 0.0);
  std::vector<std::size_t> seen1(nf, 0), seen0(nf, 0);
  auto visit = [&](std::size_t j, double v, bool y1) {
    if (v != 0.0) nonzero[j] = 1;
    if (!seen[j]) {
      seen[j] = 1;
      first[j] = v;
    } else if (v != first[j]) {
      constant[j] = 0;
    }
    if (y1) {
      lo1[j] = std::min(lo1[j], v);
      hi1[j] = std::max(hi1[j], v);
    } else {
      lo0[j] = std::min(lo0[j], v);
      hi0[j] = std::max(hi0[j], v);
    }
  };
  for (std::size_t i = 0; i < data.n_rows; ++i) {
    if (!(w[i] > 0.0)) continue;
    const bool y1 = data.label[i] > 0.5;
    if (!data.sparse) {
      const double* x = data.dense.data() + i * nf;
      for (std::size_t j = 0; j < nf; ++j) visit(j, x[j], y1);
    } else {
      for (auto e = data.row_ptr[i]; e < data.row_ptr[i + 1]; ++e) {
        visit(data.col[e], data.val[e], y1);
        ++(y1 ? seen1 : seen0)[data.col[e]];
      }
    }
  }
  if (data.sparse)
    for (std::size_t j = 0; j < nf; ++j) {
      if (seen1[j] < rows1) visit(j, 0.0, true);
      if (seen0[j] < rows0) visit(j, 0.0, false);
    }
  for (std::size_t j = 0; j < nf; ++j) {
    if (penalty.covers(o + j)) continue;
    if (!nonzero[j]) return false;
    if (free_intercept && constant[j]) return false;
    if (positive == 0.0 || negative == 0.0) continue;
    bool separates = false;
    if (free_intercept) separates = hi0[j] <= lo1[j] || hi1[j] <= lo0[j];
    else if (!o) separates = (lo1[j] >= 0.0 && hi0[j] <= 0.0) || (hi1[j] <= 0.0 && lo0[j] >= 0.0);
    if (separates) return false;
  }
  return true;
}

double largest_margin(const Rows& data, const double* theta, bool intercept, const std::vector<double>& w) {
  const std::size_t o = intercept ? 1 : 0;
  double largest = 0.0;
  for (std::size_t i = 0; i < data.n_rows; ++i) {
    if (!(w[i] > 0.0)) continue;
    double eta = o ? theta[0] : 0.0;
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

// Percentile intervals of per-parameter samples (rows: parameters; each a vector of draws).
void percentile_interval(std::vector<double>& draws, double level, bool ranks, double* lo, double* hi) {
  if (draws.empty()) {
    *lo = *hi = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  std::sort(draws.begin(), draws.end());
  const double q_lo = 0.5 * (1.0 - level), q_hi = 0.5 * (1.0 + level);
  *lo = ranks ? quantile_inverse_cdf(draws, q_lo) : quantile_linear(draws, q_lo);
  *hi = ranks ? quantile_inverse_cdf(draws, q_hi) : quantile_linear(draws, q_hi);
}

// The replicates of a bootstrap run, fitted in chunks by fit_chunk(first, count) (a
// ReplicateFits) so that the estimates held at once stay within 256 MB; the summary counts
// the used and dropped ones, and use(theta) gets each used replicate's estimate as fitted.
template <class FitChunk, class Use>
void run_replicates(const BootstrapOptions& b, double level, std::size_t n_params, BootstrapSummary& summary,
                    FitChunk&& fit_chunk, Use&& use) {
  summary = BootstrapSummary{};
  summary.requested = b.replicates;
  summary.seed = b.seed;
  summary.level = level;
  const std::size_t chunk = std::max<std::size_t>(
      1, std::min<std::size_t>(b.replicates, (std::size_t{32} << 20) / std::max<std::size_t>(n_params, 1)));
  for (std::size_t done = 0; done < b.replicates; done += chunk) {
    const std::size_t count = std::min(chunk, b.replicates - done);
    const ReplicateFits fits = fit_chunk(done, count);
    summary.batch = fits.batch;
    summary.method = fits.method;
    summary.device = fits.device;
    for (std::size_t j = 0; j < count; ++j) {
      switch (fits.outcome[j]) {
        case ReplicateOutcome::not_estimable: ++summary.dropped_not_estimable; continue;
        case ReplicateOutcome::not_converged: ++summary.dropped_not_converged; continue;
        case ReplicateOutcome::used: break;
      }
      ++summary.used;
      use(fits.theta.data() + j * fits.n_params);
    }
  }
}

}  // namespace

double quantile_linear(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double h = (static_cast<double>(sorted.size()) - 1.0) * q;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

double quantile_inverse_cdf(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double m = static_cast<double>(sorted.size());
  // The smallest x with F(x) >= q; a tiny allowance keeps q * m = integer exact.
  double position = std::ceil(q * m - 1e-9);
  position = std::min(std::max(position, 1.0), m);
  return sorted[static_cast<std::size_t>(position) - 1];
}

// ---------------------------------------------------------------------------------------
// Bradley-Terry

ReplicateFits fit_bradley_terry_replicates(const Comparisons& data, const BradleyTerryOptions& options,
                                           const DiagonalPenalty& penalty, const std::vector<double>& start,
                                           std::uint64_t first, std::size_t count) {
  const std::size_t n_items = data.n_items();
  const std::size_t p = n_items + (options.home_advantage ? 1 : 0);
  if (start.size() != p) throw UsageError("bootstrap: the start has the wrong length");
  ReplicateFits fits;
  fits.n_params = p;
  fits.theta.assign(p * count, std::numeric_limits<double>::quiet_NaN());
  fits.outcome.assign(count, ReplicateOutcome::used);
  const std::uint64_t seed = options.bootstrap.seed;
  BradleyTerryReplicateCheck check(data, options);
  const OptimizerSettings settings = settings_of(options.solver);

  if (options.firth) {
    fits.batch = 1;
    fits.device = "cpu";
    fits.method = "Firth's penalized likelihood (dense Fisher scoring), one replicate at a time";
    for (std::size_t j = 0; j < count; ++j) {
      const std::vector<double> w = replicate_weights(&data.weight, data.size(), seed, first + j);
      const ItemGroups groups = item_groups(data, w.data());
      std::vector<double> theta = start;
      const FirthResult r = firth_bradley_terry(data, options.home_advantage, w.data(), penalty, groups, theta.data(),
                                                settings);
      Comparisons scratch;
      if (!r.failure.empty() || !check.estimable(seed, first + j, scratch))
        fits.outcome[j] = ReplicateOutcome::not_estimable;
      else if (r.optimizer.status != OptimizerStatus::converged) fits.outcome[j] = ReplicateOutcome::not_converged;
      std::copy(theta.begin(), theta.end(), fits.theta.begin() + static_cast<std::ptrdiff_t>(j * p));
    }
    return fits;
  }

  BackendChoice backend = make_bradley_terry_objective(data, options.home_advantage, options.solver.device,
                                                       options.solver.threads);
  if (!backend.objective->supports_replicates()) {
    backend = make_bradley_terry_objective(data, options.home_advantage, Device::cpu, options.solver.threads);
    fits.method = "(the " + std::string(backend.device) + " backend has no replicate batches: on the CPU) ";
  }
  fits.device = backend.device;
  Objective& objective = *backend.objective;
  const std::size_t k_max = batch_size(options.bootstrap.batch, count, data.size(), std::size_t{512} << 20);
  fits.batch = k_max;
  fits.method += "batched Newton-CG, " + std::to_string(k_max) + " replicates per pass over the data";
  BatchSettings batch_settings;
  batch_settings.tolerance = options.solver.tolerance;
  batch_settings.max_iterations = options.solver.max_iterations;
  batch_settings.center_items = penalty.empty() ? n_items : 0;
  batch_settings.gradient_scale = gradient_norm_at_zero(data, options.home_advantage, penalty);
  const int threads = resolve_threads(options.solver.threads);
  const std::size_t n_batches = (count + k_max - 1) / k_max;
  // One batch: the existence checks, then the batched Newton-CG. A replicate's numbers do not
  // depend on the other replicates of its batch, nor on the thread count.
  auto run_batch = [&](Objective& batch_objective, std::size_t index, int check_threads) {
    const std::size_t done = index * k_max;
    const std::size_t k = std::min(k_max, count - done);
    ReplicateBatch batch;
    batch.seed = seed;
    batch.first = first + done;
    batch.count = k;
    std::vector<ReplicateOutcome> outcome(k, ReplicateOutcome::used);
    check_replicates(check, seed, batch.first, k, data.size(), check_threads, outcome);
    std::vector<double> theta;
    newton_replicates(batch_objective, penalty, batch, start, batch_settings, theta, outcome);
    for (std::size_t j = 0; j < k; ++j) {
      fits.outcome[done + j] = outcome[j];
      std::copy(theta.begin() + static_cast<std::ptrdiff_t>(j * p), theta.begin() + static_cast<std::ptrdiff_t>((j + 1) * p),
                fits.theta.begin() + static_cast<std::ptrdiff_t>((done + j) * p));
    }
  };
  // Few distinct pairs (at most items^2, well under the rows: arena data): after the one pass
  // over the rows that draws a batch's weights, every pass runs over the pairs and takes
  // microseconds, too short to share among threads (the barriers would cost more). Then each
  // thread fits whole batches with its own objective instead.
  const double pairs = static_cast<double>(n_items) * static_cast<double>(n_items) * (options.home_advantage ? 2.0 : 1.0);
  const bool batch_per_thread = threads > 1 && n_batches > 1 && fits.device == "cpu" &&
                                pairs <= 0.5 * static_cast<double>(data.size()) && pairs * static_cast<double>(k_max) <= 4e6;
  if (batch_per_thread) {
    std::vector<std::unique_ptr<BradleyTerryCpuObjective>> own(static_cast<std::size_t>(threads));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (std::ptrdiff_t b = 0; b < static_cast<std::ptrdiff_t>(n_batches); ++b) {
      auto& mine = own[static_cast<std::size_t>(omp_get_thread_num())];
      if (!mine) mine = std::make_unique<BradleyTerryCpuObjective>(data, options.home_advantage, 1);
      run_batch(*mine, static_cast<std::size_t>(b), 1);
    }
    fits.method += " (one batch per thread)";
  } else {
    for (std::size_t b = 0; b < n_batches; ++b) run_batch(objective, b, threads);
  }
  return fits;
}

void bootstrap_bradley_terry(const Comparisons& data, const BradleyTerryOptions& options,
                             const DiagonalPenalty& penalty, const std::vector<double>& start, BradleyTerryFit& fit) {
  const auto t0 = std::chrono::steady_clock::now();
  const BootstrapOptions& b = options.bootstrap;
  validate_bootstrap(b, options.ci_level);
  const std::size_t n_items = data.n_items();
  const std::size_t replicates = b.replicates;
  // Strengths of the used replicates: item-major, so each item's draws are contiguous.
  if (static_cast<double>(replicates) * static_cast<double>(n_items) * 12.0 > 8e9)
    throw UsageError("--bootstrap: " + std::to_string(replicates) + " replicates of " + std::to_string(n_items) +
                     " items need more than 8 GB for the percentiles; ask for fewer replicates");
  const bool centre = penalty.empty();
  const std::int64_t reference = fit.reference;
  std::vector<std::vector<double>> strength_draws(n_items), rank_draws(n_items);
  std::vector<double> home_draws;
  BootstrapSummary& summary = fit.bootstrap;
  std::vector<double> s(n_items);
  std::vector<std::size_t> order(n_items);
  run_replicates(
      b, options.ci_level, start.size(), summary,
      [&](std::size_t done, std::size_t count) {
        return fit_bradley_terry_replicates(data, options, penalty, start, done, count);
      },
      [&](const double* theta) {
        std::copy(theta, theta + n_items, s.begin());
        if (centre) {
          const double mean = std::accumulate(s.begin(), s.end(), 0.0) / static_cast<double>(n_items);
          for (double& v : s) v -= mean;
        }
        if (reference >= 0) {
          const double ref = s[static_cast<std::size_t>(reference)];
          for (double& v : s) v -= ref;
        }
        // Ranks: 1 + the number of items strictly stronger.
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return s[x] > s[y]; });
        std::size_t rank = 1;
        for (std::size_t r = 0; r < n_items; ++r) {
          if (r > 0 && s[order[r]] < s[order[r - 1]]) rank = r + 1;
          rank_draws[order[r]].push_back(static_cast<double>(rank));
          strength_draws[order[r]].push_back(s[order[r]]);
        }
        if (options.home_advantage) home_draws.push_back(theta[n_items]);
      });
  fit.boot_lo.assign(n_items, 0.0);
  fit.boot_hi.assign(n_items, 0.0);
  fit.rank_lo.assign(n_items, 0.0);
  fit.rank_hi.assign(n_items, 0.0);
  for (std::size_t i = 0; i < n_items; ++i) {
    percentile_interval(strength_draws[i], options.ci_level, false, &fit.boot_lo[i], &fit.boot_hi[i]);
    percentile_interval(rank_draws[i], options.ci_level, true, &fit.rank_lo[i], &fit.rank_hi[i]);
  }
  if (options.home_advantage) percentile_interval(home_draws, options.ci_level, false, &fit.home_boot_lo, &fit.home_boot_hi);
  summary.seconds = seconds_since(t0);
  if (summary.used == 0) fit.notes.push_back("bootstrap: no replicate had a finite estimate; no intervals");
}

// ---------------------------------------------------------------------------------------
// Logistic regression

ReplicateFits fit_logistic_replicates(const Rows& data, const LogisticOptions& options,
                                      const DiagonalPenalty& penalty, const std::vector<double>& start,
                                      std::uint64_t first, std::size_t count) {
  const std::size_t p = data.n_features + (options.intercept ? 1 : 0);
  if (start.size() != p) throw UsageError("bootstrap: the start has the wrong length");
  ReplicateFits fits;
  fits.n_params = p;
  fits.theta.assign(p * count, std::numeric_limits<double>::quiet_NaN());
  fits.outcome.assign(count, ReplicateOutcome::used);
  const std::uint64_t seed = options.bootstrap.seed;
  const OptimizerSettings settings = settings_of(options.solver);

  if (options.firth) {
    fits.batch = 1;
    fits.device = "cpu";
    fits.method = "Firth's penalized likelihood (dense Fisher scoring), one replicate at a time";
    for (std::size_t j = 0; j < count; ++j) {
      const std::vector<double> w = replicate_weights(&data.weight, data.n_rows, seed, first + j);
      std::vector<double> theta = start;
      const FirthResult r = firth_logistic(data, options.intercept, w.data(), penalty, theta.data(), settings);
      if (!r.failure.empty()) fits.outcome[j] = ReplicateOutcome::not_estimable;
      else if (r.optimizer.status != OptimizerStatus::converged) fits.outcome[j] = ReplicateOutcome::not_converged;
      std::copy(theta.begin(), theta.end(), fits.theta.begin() + static_cast<std::ptrdiff_t>(j * p));
    }
    return fits;
  }

  BackendChoice backend = make_logistic_objective(data, options.intercept, options.solver.device, options.solver.threads);
  if (!backend.objective->supports_replicates()) {
    backend = make_logistic_objective(data, options.intercept, Device::cpu, options.solver.threads);
    fits.method = "(the " + std::string(backend.device) + " backend has no replicate batches: on the CPU) ";
  }
  fits.device = backend.device;
  Objective& objective = *backend.objective;
  const std::size_t k_max = batch_size(options.bootstrap.batch, count, data.n_rows, std::size_t{256} << 20);
  fits.batch = k_max;
  fits.method += "batched Newton-CG, " + std::to_string(k_max) + " replicates per pass over the data";
  BatchSettings batch_settings;
  batch_settings.tolerance = options.solver.tolerance;
  batch_settings.max_iterations = options.solver.max_iterations;
  batch_settings.gradient_scale = gradient_norm_at_zero(data, options.intercept, penalty);
  std::vector<double> theta;
  LogisticOptions refit = options;
  refit.bootstrap = BootstrapOptions{};
  refit.solver.standard_errors = false;
  refit.robust = RobustCovariance::none;
  refit.keep_covariance = false;
  for (std::size_t done = 0; done < count; done += k_max) {
    const std::size_t k = std::min(k_max, count - done);
    ReplicateBatch batch;
    batch.seed = seed;
    batch.first = first + done;
    batch.count = k;
    std::vector<ReplicateOutcome> outcome(k, ReplicateOutcome::used);
    for (std::size_t j = 0; j < k; ++j) {
      const std::vector<double> w = replicate_weights(&data.weight, data.n_rows, seed, batch.first + j);
      if (!logistic_replicate_estimable(data, options, penalty, w)) outcome[j] = ReplicateOutcome::not_estimable;
    }
    newton_replicates(objective, penalty, batch, start, batch_settings, theta, outcome);
    for (std::size_t j = 0; j < k; ++j) {
      const double* tj = theta.data() + j * p;
      if (outcome[j] == ReplicateOutcome::used) {
        // Separation shows as margins running off: the full fit's rule decides.
        const std::vector<double> w = replicate_weights(&data.weight, data.n_rows, seed, batch.first + j);
        if (largest_margin(data, tj, options.intercept, w) > 15.0) {
          Rows copy = data;
          copy.weight = w;
          if (fit_logistic(copy, refit).status == FitStatus::not_estimable) outcome[j] = ReplicateOutcome::not_estimable;
        }
      }
      fits.outcome[done + j] = outcome[j];
      std::copy(tj, tj + p, fits.theta.begin() + static_cast<std::ptrdiff_t>((done + j) * p));
    }
  }
  return fits;
}

void bootstrap_logistic(const Rows& data, const LogisticOptions& options, const DiagonalPenalty& penalty,
                        const std::vector<double>& start, LogisticFit& fit) {
  const auto t0 = std::chrono::steady_clock::now();
  const BootstrapOptions& b = options.bootstrap;
  validate_bootstrap(b, options.ci_level);
  const std::size_t p = start.size();
  std::vector<std::vector<double>> draws(p);
  BootstrapSummary& summary = fit.bootstrap;
  run_replicates(
      b, options.ci_level, p, summary,
      [&](std::size_t done, std::size_t count) {
        return fit_logistic_replicates(data, options, penalty, start, done, count);
      },
      [&](const double* theta) {
        for (std::size_t i = 0; i < p; ++i) draws[i].push_back(theta[i]);
      });
  fit.boot_lo.assign(p, 0.0);
  fit.boot_hi.assign(p, 0.0);
  for (std::size_t i = 0; i < p; ++i) percentile_interval(draws[i], options.ci_level, false, &fit.boot_lo[i], &fit.boot_hi[i]);
  summary.seconds = seconds_since(t0);
  if (summary.used == 0) fit.notes.push_back("bootstrap: no replicate had a finite estimate; no intervals");
}

}  // namespace btfit
