// Model-based standard errors: sqrt(diag(H^-1)) with H the Hessian of the objective at the
// optimum (penalty and prior terms included), or the pseudo-inverse for the singular
// Laplacian of an unpenalized Bradley-Terry fit (the covariance of mean-zero strengths).
#include "inference.h"

#include <cmath>

#include "btfit/detail/maths.h"

namespace btfit {

Eigen::MatrixXd bradley_terry_hessian(const Comparisons& data, const double* theta, bool home) {
  const std::size_t n = data.n_items();
  const std::size_t p = n + (home ? 1 : 0);
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(p), static_cast<Eigen::Index>(p));
  const double hv = home ? theta[n] : 0.0;
  const bool flags = home && data.has_home_flags();
  for (std::size_t k = 0; k < data.size(); ++k) {
    const bool at_home = flags && data.at_home[k] != 0;
    const auto a = static_cast<Eigen::Index>(data.a[k]);
    const auto b = static_cast<Eigen::Index>(data.b[k]);
    const double eta = detail::bt_margin(theta, data.a[k], data.b[k], hv, at_home);
    const double c = detail::bernoulli_terms(eta, data.y(k), data.w(k)).curvature;
    h(a, a) += c;
    h(b, b) += c;
    h(a, b) -= c;
    h(b, a) -= c;
    if (at_home) {
      const auto j = static_cast<Eigen::Index>(n);
      h(j, j) += c;
      h(a, j) += c;
      h(j, a) += c;
      h(b, j) -= c;
      h(j, b) -= c;
    }
  }
  return h;
}

Eigen::MatrixXd logistic_hessian(const Rows& data, const double* theta, bool intercept) {
  const std::size_t o = intercept ? 1 : 0;
  const std::size_t nf = data.n_features;
  const auto p = static_cast<Eigen::Index>(nf + o);
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(p, p);
  const double b0 = intercept ? theta[0] : 0.0;
  const double* beta = theta + o;
  if (!data.sparse) {
    constexpr std::size_t kBlock = 512;
    using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::MatrixXd xw;
    for (std::size_t begin = 0; begin < data.n_rows; begin += kBlock) {
      const std::size_t rows = std::min(kBlock, data.n_rows - begin);
      Eigen::Map<const RowMajor> x(data.dense.data() + begin * nf, static_cast<Eigen::Index>(rows),
                                   static_cast<Eigen::Index>(nf));
      Eigen::MatrixXd x1(static_cast<Eigen::Index>(rows), p);
      if (o) x1.col(0).setOnes();
      x1.rightCols(static_cast<Eigen::Index>(nf)) = x;
      Eigen::VectorXd eta = x * Eigen::Map<const Eigen::VectorXd>(beta, static_cast<Eigen::Index>(nf));
      Eigen::VectorXd root(static_cast<Eigen::Index>(rows));
      for (std::size_t i = 0; i < rows; ++i) {
        const double c = detail::bernoulli_terms(eta[static_cast<Eigen::Index>(i)] + b0,
                                                 data.label[begin + i], data.w(begin + i)).curvature;
        root[static_cast<Eigen::Index>(i)] = std::sqrt(c);
      }
      xw = root.asDiagonal() * x1;
      h.selfadjointView<Eigen::Lower>().rankUpdate(xw.transpose());
    }
    h.triangularView<Eigen::StrictlyUpper>() = h.transpose();
    return h;
  }
  for (std::size_t i = 0; i < data.n_rows; ++i) {
    double eta = b0;
    for (auto e = data.row_ptr[i]; e < data.row_ptr[i + 1]; ++e) eta += data.val[e] * beta[data.col[e]];
    const double c = detail::bernoulli_terms(eta, data.label[i], data.w(i)).curvature;
    if (o) h(0, 0) += c;
    for (auto e = data.row_ptr[i]; e < data.row_ptr[i + 1]; ++e) {
      const auto j = static_cast<Eigen::Index>(o + data.col[e]);
      if (o) {
        h(0, j) += c * data.val[e];
        h(j, 0) += c * data.val[e];
      }
      for (auto f = data.row_ptr[i]; f < data.row_ptr[i + 1]; ++f)
        h(j, static_cast<Eigen::Index>(o + data.col[f])) += c * data.val[e] * data.val[f];
    }
  }
  return h;
}

bool invert_hessian(const Eigen::MatrixXd& hessian, const Eigen::VectorXd& null_direction,
                    Eigen::MatrixXd* covariance, std::string* why) {
  Eigen::MatrixXd h = hessian;
  const bool projected = null_direction.size() > 0;
  if (projected) h.noalias() += null_direction * null_direction.transpose();
  Eigen::LLT<Eigen::MatrixXd> llt(h);
  if (llt.info() != Eigen::Success) {
    if (why) *why = "the Hessian at the optimum is not positive definite";
    return false;
  }
  *covariance = llt.solve(Eigen::MatrixXd::Identity(h.rows(), h.cols()));
  if (projected) covariance->noalias() -= null_direction * null_direction.transpose();
  for (Eigen::Index i = 0; i < covariance->rows(); ++i) {
    if (!std::isfinite((*covariance)(i, i)) || (*covariance)(i, i) < 0.0) {
      if (why) *why = "the inverse Hessian has a non-finite or negative diagonal";
      return false;
    }
  }
  return true;
}

}  // namespace btfit
