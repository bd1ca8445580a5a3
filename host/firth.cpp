// Firth's penalized likelihood: Firth (1993), "Bias reduction of maximum likelihood
// estimates", Biometrika 80; for the logit link the mean bias-reducing adjusted score is the
// gradient of the Jeffreys-prior penalized log-likelihood, and its maximum is finite under
// separation (Kosmidis and Firth 2021, "Jeffreys-prior penalty, finiteness and shrinkage in
// binomial-response generalized linear models", Biometrika 108).
//
// Minimized here (CONVENTIONS.md):
//     f(theta) = NLL(theta) - (1/2) log det I(theta) + penalty(theta),
//     I(theta) = sum_k c_k x_k x_k^T,   c_k = w_k p_k (1 - p_k),   p_k = sigmoid(x_k . theta).
// With the hat values h_k = c_k x_k^T I^-1 x_k, d/dtheta (1/2) log det I = sum_k h_k (1/2 - p_k) x_k,
// so the gradient of f is
//     g = sum_k [w_k (p_k - y_k) - h_k (1/2 - p_k)] x_k + penalty'(theta)
// (minus the adjusted score of Firth). Each iteration is a Fisher-scoring step on it,
//     theta <- theta - alpha (I + P)^-1 g,   P = the penalty's curvature,
// with alpha halved until f decreases enough (Armijo, 1e-4), as brglm2's quasi-Fisher scoring
// with step halving. Rows: x_k = [1, x] (logistic) or e_a - e_b (+ e_h at home; Bradley-Terry).
//
// Bradley-Terry's I is singular: it is flat along the shift of the strengths of each weakly
// connected group. On the identified parameters (one reference item per group removed) its
// determinant is the one of I + B B^T up to a constant, B the orthonormal group directions
// (for a Laplacian, every cofactor equals pdet / n_g), and x_k^T I^+ x_k = x_k^T (I + B B^T)^-1 x_k
// for every row (x_k is orthogonal to B). Dense: O(P^2) memory and O(P^3) time per iteration.
#include "firth.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "btfit/detail/maths.h"

namespace btfit {

namespace {

std::uint32_t find_root(std::vector<std::uint32_t>& parent, std::uint32_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

double norm(const Eigen::VectorXd& v) { return v.norm(); }

// One evaluation of NLL - (1/2) log det I (penalty not included).
struct Evaluation {
  bool ok = false;          // I (plus the flat directions) positive definite
  double nll = 0.0;
  double log_det = 0.0;
  Eigen::MatrixXd fisher;   // p x p, the unpenalized Fisher information
  Eigen::VectorXd gradient;  // of NLL - (1/2) log det I, when asked for
};

using Evaluate = std::function<Evaluation(const Eigen::VectorXd& theta, bool want_gradient)>;

// Fisher scoring with step halving on f = NLL - (1/2) log det I + penalty.
FirthResult minimize_firth(const Evaluate& evaluate, const DiagonalPenalty& penalty, const Eigen::MatrixXd& flat,
                           double* theta_io, std::size_t p, const OptimizerSettings& settings) {
  FirthResult result;
  OptimizerResult& opt = result.optimizer;
  Eigen::VectorXd theta = Eigen::Map<Eigen::VectorXd>(theta_io, static_cast<Eigen::Index>(p));
  Eigen::VectorXd pen_grad(static_cast<Eigen::Index>(p)), pen_curv(static_cast<Eigen::Index>(p));
  auto penalized = [&](const Eigen::VectorXd& t, const Evaluation& ev, double* f, Eigen::VectorXd* g) {
    *f = ev.nll - 0.5 * ev.log_det + penalty.value(t.data());
    if (g != nullptr) {
      pen_grad.setZero();
      penalty.add_gradient(t.data(), pen_grad.data());
      *g = ev.gradient + pen_grad;
    }
  };
  // Each evaluation reads the data twice (information, then hat values and gradient).
  Evaluation ev = evaluate(theta, true);
  opt.passes += 2;
  if (!ev.ok) {
    result.failure = "the Fisher information is singular at the start";
    opt.status = OptimizerStatus::numeric_error;
    return result;
  }
  double f = 0.0;
  Eigen::VectorXd g;
  penalized(theta, ev, &f, &g);
  double gnorm = norm(g);
  opt.initial_gradient_norm = gnorm;
  const double target = settings.tolerance * gnorm;
  opt.status = OptimizerStatus::max_iterations;
  if (!std::isfinite(f) || !g.allFinite()) {
    opt.status = OptimizerStatus::numeric_error;
  } else if (gnorm <= target || gnorm == 0.0) {
    opt.status = OptimizerStatus::converged;
  } else {
    for (int iteration = 1; iteration <= settings.max_iterations; ++iteration) {
      penalty.curvature(theta.data(), pen_curv.data());
      Eigen::MatrixXd a = ev.fisher;
      a.diagonal() += pen_curv;
      if (flat.cols() > 0) a.noalias() += flat * flat.transpose();
      Eigen::LLT<Eigen::MatrixXd> llt(a);
      if (llt.info() != Eigen::Success) {
        opt.status = OptimizerStatus::numeric_error;
        result.failure = "the Fisher information is singular";
        break;
      }
      const Eigen::VectorXd direction = -llt.solve(g);
      const double slope = g.dot(direction);
      if (!(slope < 0.0)) {
        opt.status = OptimizerStatus::no_progress;
        break;
      }
      double alpha = 1.0;
      bool accepted = false;
      Evaluation trial;
      double f_trial = 0.0;
      Eigen::VectorXd g_trial, theta_trial;
      for (int halving = 0; halving < 50; ++halving, alpha *= 0.5) {
        theta_trial = theta + alpha * direction;
        trial = evaluate(theta_trial, true);
        opt.passes += 2;
        if (!trial.ok) continue;
        penalized(theta_trial, trial, &f_trial, &g_trial);
        if (!std::isfinite(f_trial) || !g_trial.allFinite()) continue;
        if (f_trial <= f + 1e-4 * alpha * slope) {
          accepted = true;
          break;
        }
        // Near the optimum f changes by less than its rounding error: judge by the gradient.
        if (-alpha * slope <= 1e-12 * std::max(1.0, std::fabs(f)) && norm(g_trial) < gnorm) {
          accepted = true;
          break;
        }
        if (-alpha * slope <= 1e-14 * std::max(1.0, std::fabs(f))) break;
      }
      if (!accepted) {
        opt.status = OptimizerStatus::no_progress;
        break;
      }
      theta = theta_trial;
      ev = std::move(trial);
      f = f_trial;
      g = g_trial;
      gnorm = norm(g);
      opt.iterations = iteration;
      if (settings.progress) settings.progress(settings.progress_context, iteration, f, gnorm);
      if (gnorm <= target) {
        opt.status = OptimizerStatus::converged;
        break;
      }
    }
  }
  opt.value = f;
  opt.gradient_norm = gnorm;
  result.nll = ev.nll;
  result.log_det = ev.log_det;
  result.objective = f;
  Eigen::Map<Eigen::VectorXd>(theta_io, static_cast<Eigen::Index>(p)) = theta;
  return result;
}

}  // namespace

ItemGroups item_groups(const Comparisons& data, const double* row_weights) {
  const std::size_t n = data.n_items();
  std::vector<std::uint32_t> parent(n);
  std::iota(parent.begin(), parent.end(), 0u);
  for (std::size_t k = 0; k < data.size(); ++k) {
    const double w = row_weights ? row_weights[k] : data.w(k);
    if (!(w > 0.0)) continue;
    const auto ra = find_root(parent, data.a[k]);
    const auto rb = find_root(parent, data.b[k]);
    if (ra != rb) parent[ra] = rb;
  }
  ItemGroups groups;
  groups.group_of.resize(n);
  std::vector<std::int64_t> id(n, -1);
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto r = find_root(parent, i);
    if (id[r] < 0) {
      id[r] = static_cast<std::int64_t>(groups.size.size());
      groups.size.push_back(0);
    }
    groups.group_of[i] = static_cast<std::uint32_t>(id[r]);
    ++groups.size[static_cast<std::size_t>(id[r])];
  }
  return groups;
}

Eigen::MatrixXd group_null_basis(const ItemGroups& groups, std::size_t n_params, const DiagonalPenalty* penalty) {
  std::vector<char> flat(groups.count(), 1);
  if (penalty != nullptr)
    for (std::size_t i = 0; i < groups.group_of.size(); ++i)
      if (penalty->covers(i)) flat[groups.group_of[i]] = 0;
  std::vector<std::int64_t> column(groups.count(), -1);
  Eigen::Index m = 0;
  for (std::size_t g = 0; g < groups.count(); ++g)
    if (flat[g]) column[g] = m++;
  Eigen::MatrixXd basis = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(n_params), m);
  for (std::size_t i = 0; i < groups.group_of.size(); ++i) {
    const auto g = groups.group_of[i];
    if (column[g] >= 0)
      basis(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(column[g])) =
          1.0 / std::sqrt(static_cast<double>(groups.size[g]));
  }
  return basis;
}

bool invert_hessian_null_space(const Eigen::MatrixXd& hessian, const Eigen::MatrixXd& null_basis,
                               Eigen::MatrixXd* covariance, std::string* why) {
  Eigen::MatrixXd h = hessian;
  if (null_basis.cols() > 0) h.noalias() += null_basis * null_basis.transpose();
  Eigen::LLT<Eigen::MatrixXd> llt(h);
  if (llt.info() != Eigen::Success) {
    if (why) *why = "the information matrix at the estimate is not positive definite";
    return false;
  }
  *covariance = llt.solve(Eigen::MatrixXd::Identity(h.rows(), h.cols()));
  if (null_basis.cols() > 0) covariance->noalias() -= null_basis * null_basis.transpose();
  for (Eigen::Index i = 0; i < covariance->rows(); ++i) {
    if (!std::isfinite((*covariance)(i, i)) || (*covariance)(i, i) < -1e-12) {
      if (why) *why = "the inverse information has a non-finite or negative diagonal";
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Bradley-Terry

FirthResult firth_bradley_terry(const Comparisons& data, bool home_advantage, const double* row_weights,
                                const DiagonalPenalty& penalty, const ItemGroups& groups, double* theta,
                                const OptimizerSettings& settings) {
  const std::size_t n_items = data.n_items();
  const std::size_t p = n_items + (home_advantage ? 1 : 0);
  const auto pe = static_cast<Eigen::Index>(p);
  const auto hj = static_cast<Eigen::Index>(n_items);
  const bool flags = home_advantage && data.has_home_flags();
  const Eigen::MatrixXd all_groups = group_null_basis(groups, p, nullptr);
  const Eigen::MatrixXd flat = group_null_basis(groups, p, &penalty);
  auto weight = [&](std::size_t k) { return row_weights ? row_weights[k] : data.w(k); };

  const Evaluate evaluate = [&](const Eigen::VectorXd& t, bool want_gradient) {
    Evaluation ev;
    ev.fisher = Eigen::MatrixXd::Zero(pe, pe);
    ev.gradient = Eigen::VectorXd::Zero(pe);
    const double h = home_advantage ? t[hj] : 0.0;
    for (std::size_t k = 0; k < data.size(); ++k) {
      const double w = weight(k);
      if (!(w > 0.0)) continue;
      const bool at_home = flags && data.at_home[k] != 0;
      const auto a = static_cast<Eigen::Index>(data.a[k]), b = static_cast<Eigen::Index>(data.b[k]);
      const auto terms = detail::bernoulli_terms(detail::bt_margin(t.data(), data.a[k], data.b[k], h, at_home),
                                                 data.y(k), w);
      ev.nll += terms.value;
      ev.gradient[a] += terms.residual;
      ev.gradient[b] -= terms.residual;
      const double c = terms.curvature;
      ev.fisher(a, a) += c;
      ev.fisher(b, b) += c;
      ev.fisher(a, b) -= c;
      ev.fisher(b, a) -= c;
      if (at_home) {
        ev.gradient[hj] += terms.residual;
        ev.fisher(hj, hj) += c;
        ev.fisher(a, hj) += c;
        ev.fisher(hj, a) += c;
        ev.fisher(b, hj) -= c;
        ev.fisher(hj, b) -= c;
      }
    }
    Eigen::MatrixXd identified = ev.fisher;
    identified.noalias() += all_groups * all_groups.transpose();
    Eigen::LLT<Eigen::MatrixXd> llt(identified);
    if (llt.info() != Eigen::Success) return ev;
    const Eigen::MatrixXd& lower = llt.matrixLLT();
    ev.log_det = 2.0 * lower.diagonal().array().log().sum();
    ev.ok = std::isfinite(ev.log_det);
    if (!want_gradient || !ev.ok) return ev;
    const Eigen::MatrixXd inverse = llt.solve(Eigen::MatrixXd::Identity(pe, pe));
    for (std::size_t k = 0; k < data.size(); ++k) {
      const double w = weight(k);
      if (!(w > 0.0)) continue;
      const bool at_home = flags && data.at_home[k] != 0;
      const auto a = static_cast<Eigen::Index>(data.a[k]), b = static_cast<Eigen::Index>(data.b[k]);
      const double eta = detail::bt_margin(t.data(), data.a[k], data.b[k], h, at_home);
      const double prob = detail::sigmoid(eta);
      const double c = w * prob * detail::sigmoid(-eta);
      double quadratic = inverse(a, a) + inverse(b, b) - 2.0 * inverse(a, b);
      if (at_home) quadratic += inverse(hj, hj) + 2.0 * inverse(a, hj) - 2.0 * inverse(b, hj);
      const double adjustment = c * quadratic * (0.5 - prob);  // h_k (1/2 - p_k)
      ev.gradient[a] -= adjustment;
      ev.gradient[b] += adjustment;
      if (at_home) ev.gradient[hj] -= adjustment;
    }
    return ev;
  };

  FirthResult result = minimize_firth(evaluate, penalty, flat, theta, p, settings);
  // Strengths of groups the penalty leaves flat: mean zero in their group.
  if (flat.cols() > 0) {
    Eigen::Map<Eigen::VectorXd> t(theta, pe);
    t -= flat * (flat.transpose() * t);
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// Logistic regression

FirthResult firth_logistic(const Rows& data, bool intercept, const double* row_weights,
                           const DiagonalPenalty& penalty, double* theta, const OptimizerSettings& settings) {
  const std::size_t o = intercept ? 1 : 0;
  const std::size_t nf = data.n_features;
  const std::size_t p = nf + o;
  const auto pe = static_cast<Eigen::Index>(p);
  constexpr std::size_t kBlock = 256;
  auto weight = [&](std::size_t i) { return row_weights ? row_weights[i] : data.w(i); };
  // Rows [begin, begin + rows) as a dense block [1, x] (rows x p).
  auto fill_block = [&](std::size_t begin, std::size_t rows, Eigen::MatrixXd& x1) {
    x1.setZero(static_cast<Eigen::Index>(rows), pe);
    for (std::size_t i = 0; i < rows; ++i) {
      const auto ii = static_cast<Eigen::Index>(i);
      if (o) x1(ii, 0) = 1.0;
      const std::size_t r = begin + i;
      if (!data.sparse) {
        const double* x = data.dense.data() + r * nf;
        for (std::size_t j = 0; j < nf; ++j) x1(ii, static_cast<Eigen::Index>(o + j)) = x[j];
      } else {
        for (auto e = data.row_ptr[r]; e < data.row_ptr[r + 1]; ++e)
          x1(ii, static_cast<Eigen::Index>(o + data.col[e])) = data.val[e];
      }
    }
  };

  const Evaluate evaluate = [&](const Eigen::VectorXd& t, bool want_gradient) {
    Evaluation ev;
    ev.fisher = Eigen::MatrixXd::Zero(pe, pe);
    ev.gradient = Eigen::VectorXd::Zero(pe);
    Eigen::MatrixXd x1;
    Eigen::VectorXd residual, root;
    for (std::size_t begin = 0; begin < data.n_rows; begin += kBlock) {
      const std::size_t rows = std::min(kBlock, data.n_rows - begin);
      fill_block(begin, rows, x1);
      const Eigen::VectorXd eta = x1 * t;
      residual.setZero(static_cast<Eigen::Index>(rows));
      root.setZero(static_cast<Eigen::Index>(rows));
      for (std::size_t i = 0; i < rows; ++i) {
        const double w = weight(begin + i);
        if (!(w > 0.0)) continue;
        const auto ii = static_cast<Eigen::Index>(i);
        const auto terms = detail::bernoulli_terms(eta[ii], data.label[begin + i], w);
        ev.nll += terms.value;
        residual[ii] = terms.residual;
        root[ii] = std::sqrt(terms.curvature);
      }
      ev.gradient.noalias() += x1.transpose() * residual;
      const Eigen::MatrixXd scaled = root.asDiagonal() * x1;
      ev.fisher.selfadjointView<Eigen::Lower>().rankUpdate(scaled.transpose());
    }
    ev.fisher.triangularView<Eigen::StrictlyUpper>() = ev.fisher.transpose();
    Eigen::LLT<Eigen::MatrixXd> llt(ev.fisher);
    if (llt.info() != Eigen::Success) return ev;
    ev.log_det = 2.0 * llt.matrixLLT().diagonal().array().log().sum();
    ev.ok = std::isfinite(ev.log_det);
    if (!want_gradient || !ev.ok) return ev;
    // Hat values h_i = c_i ||L^-1 x1_i||^2, block by block.
    for (std::size_t begin = 0; begin < data.n_rows; begin += kBlock) {
      const std::size_t rows = std::min(kBlock, data.n_rows - begin);
      fill_block(begin, rows, x1);
      const Eigen::VectorXd eta = x1 * t;
      const Eigen::MatrixXd z = llt.matrixL().solve(x1.transpose());  // p x rows
      residual.setZero(static_cast<Eigen::Index>(rows));
      for (std::size_t i = 0; i < rows; ++i) {
        const double w = weight(begin + i);
        if (!(w > 0.0)) continue;
        const auto ii = static_cast<Eigen::Index>(i);
        const double prob = detail::sigmoid(eta[ii]);
        const double c = w * prob * detail::sigmoid(-eta[ii]);
        residual[ii] = c * z.col(ii).squaredNorm() * (0.5 - prob);  // h_i (1/2 - p_i)
      }
      ev.gradient.noalias() -= x1.transpose() * residual;
    }
    return ev;
  };
  return minimize_firth(evaluate, penalty, Eigen::MatrixXd(pe, 0), theta, p, settings);
}

}  // namespace btfit
