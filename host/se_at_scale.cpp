// Standard errors without a dense P x P matrix: conjugate gradients on Hessian-vector products.
//
// Exact SEs for chosen items. The covariance is C = H^-1 (a penalty or prior makes H
// positive definite) or, unpenalized, the Moore-Penrose pseudo-inverse of the Laplacian
// Hessian, whose null space is spanned by u = (1, ..., 1, 0) / sqrt(n) (the common shift of
// the n strengths; h, when present, is not in it). For the item i,
//     C e_i = x*,  the solution of H x = e_i - u u'e_i  with  u'x* = 0,
// since H^+ maps onto the range of H, which is orthogonal to u. CG (preconditioned by
// diag(H), each preconditioned residual projected orthogonally to u) solves the consistent
// system; any solution differs from x* by a multiple of u, so
//     Var(s_i) = e_i'x* = x_i - mean(x_1..x_n).
// With a reference item r the right-hand side is e_i - e_r (already orthogonal to u) and
// Var(s_i - s_r) = x_i - x_r; for h, e_h and Var(h) = x_h. One CG solve per item; the solves
// for several items advance together through Objective::hessian_vector_batch (one pass over
// the data per CG step serves all of them).
//
// Every item: the stochastic diagonal estimator of Bekas, Kokiopoulou and Saad (2007), "An
// estimator for the diagonal of a matrix", Applied Numerical Mathematics 57: with Rademacher
// probes v_k (entries +-1 from the counter-based generator) and x_k = C v_k (a CG solve each),
//     diag(C) ~ sum_k v_k * x_k / sum_k v_k * v_k   (elementwise; the denominator is the number
// of probes). It is unbiased; its error per item shrinks as 1/sqrt(probes) and comes from the
// off-diagonal mass of C's row, estimated here from the spread of the probes' products.
#include "se_at_scale.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>
#include <unordered_map>

#include "btfit/detail/rng.h"
#include "btfit/error.h"
#include "btfit/io.h"
#include "csv.h"

namespace btfit {

namespace {

double dot(const double* x, const double* y, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

// Solves H x_j = b_j for K right-hand sides (p x K) by Jacobi-preconditioned CG in lockstep.
class BlockSolver {
 public:
  BlockSolver(Objective& objective, const std::vector<double>& penalty_curvature, const std::vector<double>& diagonal,
              std::size_t center_items, double tolerance)
      : objective_(objective), curvature_(penalty_curvature), diag_(diagonal), center_(center_items),
        tolerance_(tolerance) {}

  // x: p x K on exit. Returns the number of Hessian-vector products.
  std::size_t solve(const std::vector<double>& rhs, std::size_t k, std::vector<double>& x) {
    const std::size_t p = diag_.size();
    x.assign(p * k, 0.0);
    std::vector<double> r = rhs, z(p * k), d(p * k), hd(p * k), zr(k), limit(k);
    std::vector<char> active(k, 1);
    for (std::size_t j = 0; j < k; ++j) {
      double* zj = z.data() + j * p;
      const double* rj = r.data() + j * p;
      for (std::size_t i = 0; i < p; ++i) zj[i] = rj[i] / diag_[i];
      project(zj);
      std::copy(zj, zj + p, d.data() + j * p);
      zr[j] = dot(zj, rj, p);
      limit[j] = tolerance_ * std::sqrt(std::max(zr[j], 0.0));
      if (!(zr[j] > 0.0)) active[j] = 0;
    }
    std::size_t products = 0;
    const std::size_t max_iterations = std::max<std::size_t>(100, std::min<std::size_t>(20 * p, 100000));
    for (std::size_t it = 0; it < max_iterations; ++it) {
      if (std::none_of(active.begin(), active.end(), [](char c) { return c != 0; })) break;
      objective_.hessian_vector_batch(d.data(), k, hd.data());
      ++products;
      for (std::size_t j = 0; j < k; ++j) {
        if (!active[j]) continue;
        double* xj = x.data() + j * p;
        double* rj = r.data() + j * p;
        double* zj = z.data() + j * p;
        double* dj = d.data() + j * p;
        double* hdj = hd.data() + j * p;
        for (std::size_t i = 0; i < p; ++i) hdj[i] += curvature_[i] * dj[i];
        const double curvature = dot(dj, hdj, p);
        if (!(curvature > 0.0)) {
          active[j] = 0;
          continue;
        }
        const double step = zr[j] / curvature;
        for (std::size_t i = 0; i < p; ++i) {
          xj[i] += step * dj[i];
          rj[i] -= step * hdj[i];
          zj[i] = rj[i] / diag_[i];
        }
        project(zj);
        const double zr_new = dot(zj, rj, p);
        if (std::sqrt(std::max(zr_new, 0.0)) <= limit[j]) {
          active[j] = 0;
          continue;
        }
        const double beta = zr_new / zr[j];
        for (std::size_t i = 0; i < p; ++i) dj[i] = zj[i] + beta * dj[i];
        zr[j] = zr_new;
      }
      for (std::size_t j = 0; j < k; ++j)
        if (!active[j]) std::fill(d.begin() + static_cast<std::ptrdiff_t>(j * p),
                                  d.begin() + static_cast<std::ptrdiff_t>((j + 1) * p), 0.0);
    }
    unconverged_ += static_cast<std::size_t>(std::count(active.begin(), active.end(), 1));
    return products;
  }

  // Removes the component along the flat direction (mean of the first center_ entries).
  void project(double* v) const {
    if (center_ == 0) return;
    double mean = 0.0;
    for (std::size_t i = 0; i < center_; ++i) mean += v[i];
    mean /= static_cast<double>(center_);
    for (std::size_t i = 0; i < center_; ++i) v[i] -= mean;
  }
  std::size_t unconverged() const { return unconverged_; }

 private:
  Objective& objective_;
  const std::vector<double>& curvature_;
  const std::vector<double>& diag_;
  std::size_t center_;
  double tolerance_;
  std::size_t unconverged_ = 0;
};

std::string shorten(double x) {
  std::ostringstream out;
  out.precision(2);
  out << x;
  return out.str();
}

}  // namespace

bool large_scale_se_requested(const LargeScaleSeOptions& options) {
  return options.top > 0 || !options.items.empty() || options.probes > 0;
}

LargeScaleSe large_scale_standard_errors(Objective& objective, const DiagonalPenalty& penalty, const double* theta,
                                         std::size_t n_items, bool home_advantage, std::int64_t reference,
                                         const std::vector<std::string>& item_names,
                                         const LargeScaleSeOptions& options) {
  if (!(options.cg_tolerance > 0.0 && options.cg_tolerance <= 0.1))
    throw UsageError("the CG tolerance for standard errors must be in (0, 0.1]");
  const std::size_t p = objective.n_params();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  LargeScaleSe out;
  out.se.assign(n_items, nan);
  out.home_se = nan;

  // Which items get exact SEs.
  std::vector<std::size_t> exact;
  std::vector<char> chosen(n_items, 0);
  if (options.top > 0) {
    std::vector<std::size_t> order(n_items);
    std::iota(order.begin(), order.end(), std::size_t{0});
    const std::size_t top = std::min(options.top, n_items);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(top), order.end(),
                      [&](std::size_t x, std::size_t y) { return theta[x] > theta[y]; });
    for (std::size_t r = 0; r < top; ++r) chosen[order[r]] = 1;
  }
  if (!options.items.empty()) {
    std::unordered_map<std::string, std::size_t> id;
    for (std::size_t i = 0; i < n_items; ++i) id.emplace(item_names[i], i);
    for (const auto& name : options.items) {
      auto it = id.find(name);
      if (it == id.end()) throw UsageError("--se-items: no item named " + name);
      chosen[it->second] = 1;
    }
  }
  for (std::size_t i = 0; i < n_items; ++i)
    if (chosen[i]) exact.push_back(i);

  // The Hessian at theta: data part through the seam, the penalty's diagonal added here.
  std::vector<double> gradient(p), curvature(p), diagonal(p);
  objective.value_gradient(theta, gradient.data());
  penalty.curvature(theta, curvature.data());
  objective.hessian_diagonal(diagonal.data());
  double largest = 0.0;
  for (std::size_t i = 0; i < p; ++i) {
    diagonal[i] += curvature[i];
    largest = std::max(largest, diagonal[i]);
  }
  for (double& v : diagonal) v = (std::isfinite(v) && v > 1e-10 * largest) ? v : std::max(1e-10 * largest, 1e-300);
  const bool flat = penalty.empty();
  BlockSolver solver(objective, curvature, diagonal, flat ? n_items : 0, options.cg_tolerance);
  const std::size_t block = 32;
  const auto ref = reference;

  // Exact: one right-hand side per item (and h).
  std::vector<std::size_t> targets = exact;
  const std::size_t home_target = home_advantage ? n_items : static_cast<std::size_t>(-1);
  if (home_advantage) targets.push_back(home_target);
  std::vector<double> rhs, x;
  for (std::size_t begin = 0; begin < targets.size(); begin += block) {
    const std::size_t k = std::min(block, targets.size() - begin);
    rhs.assign(p * k, 0.0);
    for (std::size_t j = 0; j < k; ++j) {
      const std::size_t i = targets[begin + j];
      double* b = rhs.data() + j * p;
      b[i] = 1.0;
      if (i < n_items && ref >= 0) b[static_cast<std::size_t>(ref)] -= 1.0;
      else if (i < n_items && flat) solver.project(b);
    }
    out.hessian_products += solver.solve(rhs, k, x);
    out.solves += k;
    for (std::size_t j = 0; j < k; ++j) {
      const std::size_t i = targets[begin + j];
      const double* xj = x.data() + j * p;
      double var;
      if (i == home_target) {
        var = xj[i];
      } else if (ref >= 0) {
        var = xj[i] - xj[static_cast<std::size_t>(ref)];
      } else if (flat) {
        var = xj[i] - std::accumulate(xj, xj + n_items, 0.0) / static_cast<double>(n_items);
      } else {
        var = xj[i];
      }
      if (i == home_target) out.home_se = std::sqrt(std::max(var, 0.0));
      else out.se[i] = std::sqrt(std::max(var, 0.0));
    }
  }

  // Stochastic: every item, from Rademacher probes.
  double median_error = nan;
  if (options.probes > 0) {
    std::vector<double> sum(n_items, 0.0), sum_sq(n_items, 0.0);
    for (std::size_t begin = 0; begin < options.probes; begin += block) {
      const std::size_t k = std::min(block, options.probes - begin);
      rhs.assign(p * k, 0.0);
      std::vector<double> probes(p * k);
      for (std::size_t j = 0; j < k; ++j) {
        double* v = probes.data() + j * p;
        for (std::size_t i = 0; i < p; ++i)
          v[i] = (detail::counter_hash(options.seed, begin + j, i) >> 63) ? 1.0 : -1.0;
        std::copy(v, v + p, rhs.data() + j * p);
        if (flat) solver.project(rhs.data() + j * p);
      }
      out.hessian_products += solver.solve(rhs, k, x);
      out.solves += k;
      for (std::size_t j = 0; j < k; ++j) {
        const double* v = probes.data() + j * p;
        double* xj = x.data() + j * p;
        if (flat) solver.project(xj);
        for (std::size_t i = 0; i < n_items; ++i) {
          const double product = ref >= 0 ? (v[i] - v[static_cast<std::size_t>(ref)]) *
                                                (xj[i] - xj[static_cast<std::size_t>(ref)])
                                          : v[i] * xj[i];
          sum[i] += product;
          sum_sq[i] += product * product;
        }
      }
    }
    const double m = static_cast<double>(options.probes);
    std::vector<double> relative;
    for (std::size_t i = 0; i < n_items; ++i) {
      const double var = sum[i] / m;
      if (!chosen[i]) out.se[i] = var > 0.0 ? std::sqrt(var) : nan;
      if (m > 1 && var > 0.0) {
        const double spread = std::sqrt(std::max(sum_sq[i] / m - var * var, 0.0) * m / (m - 1.0));
        relative.push_back(spread / std::sqrt(m) / var);
      }
    }
    if (!relative.empty()) {
      std::nth_element(relative.begin(), relative.begin() + static_cast<std::ptrdiff_t>(relative.size() / 2),
                       relative.end());
      median_error = relative[relative.size() / 2];
    }
  }
  if (ref >= 0) out.se[static_cast<std::size_t>(ref)] = 0.0;

  std::ostringstream method;
  const std::string what = flat ? "pseudo-inverse of the Hessian (mean-zero strengths)"
                                : "inverse Hessian of the penalized objective (penalty/prior included)";
  method << "above the dense limit, " << what << " without a dense matrix: ";
  std::vector<std::string> parts;
  if (!exact.empty() || home_advantage)
    parts.push_back("exact for " + std::to_string(exact.size()) + " item(s)" + (home_advantage ? " and (home)" : "") +
                    " by preconditioned conjugate gradients on Hessian-vector products (one solve each, relative "
                    "residual " + shorten(options.cg_tolerance) + ")");
  if (options.probes > 0)
    parts.push_back(std::string(exact.empty() ? "for every item" : "for the other items") +
                    " a stochastic estimate of the variances (Bekas, Kokiopoulou and Saad 2007: " +
                    std::to_string(options.probes) + " Rademacher probes, one CG solve each; median Monte Carlo " +
                    "relative error of a variance " + shorten(median_error) + ")");
  else
    parts.push_back("the other items have none (--se-probes M estimates them all)");
  for (std::size_t i = 0; i < parts.size(); ++i) method << (i ? "; " : "") << parts[i];
  method << "; " << out.solves << " solves, " << out.hessian_products << " batched Hessian-vector passes";
  if (solver.unconverged() > 0)
    method << "; WARNING: " << solver.unconverged() << " solve(s) stopped at the iteration limit";
  out.method = method.str();
  return out;
}

std::vector<std::string> load_item_list(const std::string& path) {
  CsvReader reader(path);
  const auto header = reader.read_header();
  std::size_t column = header.size();
  for (std::size_t c = 0; c < header.size(); ++c)
    if (header[c] == "item") column = c;
  if (column == header.size()) throw InputError(reader.name(), 1, 0, "no column named item in the header");
  std::vector<std::string> items;
  std::vector<std::string_view> fields;
  while (reader.next(fields)) {
    if (fields.size() != header.size())
      throw InputError(reader.name(), reader.line(), 0,
                       "expected " + std::to_string(header.size()) + " fields, found " + std::to_string(fields.size()));
    if (fields[column].empty()) throw InputError(reader.name(), reader.line(), column + 1, "empty item name");
    items.emplace_back(fields[column]);
  }
  return items;
}

}  // namespace btfit
