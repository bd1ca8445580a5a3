// The "meat" B of the sandwich covariance H^-1 B H^-1 (Huber 1967, White 1980; HC0), and its
// cluster-robust form (Liang and Zeger 1986; Cameron and Miller 2015).
//
// Every observation contributes the score g_k = w_k r_k x_k, r_k = sigmoid(eta_k) - y_k, with
// x_k = e_a - e_b (+ e_h at home) for Bradley-Terry and x_k = [1, x] for logistic regression.
// - HC0: B = sum_k w_k r_k^2 x_k x_k^T. A frequency weight w_k counts w_k independent units,
//   each with the score r_k x_k, so the weight enters once, not squared.
// - Cluster: B = c sum_g u_g u_g^T, u_g = sum_{k in g} w_k r_k x_k, with statsmodels' default
//   small-sample factor c = G/(G-1) * (N-1)/(N-K) (sandwich's vcovCL with type "HC1"): G
//   clusters, N units (the sum of the weights) and K identified parameters.
// Rows of weight 0 take no part, in the clusters' count either.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "btfit/detail/maths.h"
#include "btfit/error.h"
#include "uncertainty.h"

namespace btfit {

namespace {

// Rows of positive weight grouped by cluster id: order[begin[g] .. begin[g+1]) are cluster g's.
struct ClusterGroups {
  std::vector<std::size_t> begin;  // n_ids + 1
  std::vector<std::size_t> order;  // rows of positive weight, by cluster
  std::size_t n_clusters = 0;      // clusters with at least one row of positive weight
  double n_units = 0.0;            // sum of the weights
};

template <typename WeightOf>
ClusterGroups group_by_cluster(const std::vector<std::uint32_t>& cluster, std::size_t n_rows,
                               WeightOf weight_of) {
  if (cluster.size() != n_rows)
    throw UsageError("cluster-robust SEs need one cluster id per row (" + std::to_string(cluster.size()) +
                     " ids for " + std::to_string(n_rows) + " rows)");
  ClusterGroups groups;
  const std::size_t n_ids =
      cluster.empty() ? 0 : std::size_t{*std::max_element(cluster.begin(), cluster.end())} + 1;
  groups.begin.assign(n_ids + 1, 0);
  for (std::size_t k = 0; k < n_rows; ++k) {
    const double w = weight_of(k);
    if (w > 0.0) {
      ++groups.begin[cluster[k] + 1];
      groups.n_units += w;
    }
  }
  for (std::size_t g = 0; g < n_ids; ++g) {
    if (groups.begin[g + 1] > 0) ++groups.n_clusters;
    groups.begin[g + 1] += groups.begin[g];
  }
  groups.order.resize(groups.begin[n_ids]);
  std::vector<std::size_t> next(groups.begin.begin(), groups.begin.end() - 1);
  for (std::size_t k = 0; k < n_rows; ++k)
    if (weight_of(k) > 0.0) groups.order[next[cluster[k]]++] = k;
  return groups;
}

// statsmodels' factor (and a description of it), or false with the reason.
bool cluster_factor(const ClusterGroups& groups, std::size_t k_params, double* factor, std::string* why) {
  const double g = static_cast<double>(groups.n_clusters), n = groups.n_units,
               k = static_cast<double>(k_params);
  if (groups.n_clusters < 2) {
    if (why)
      *why = "cluster-robust SEs need at least 2 clusters (the data have " +
             std::to_string(groups.n_clusters) + ")";
    return false;
  }
  if (!(n > k)) {
    if (why) *why = "cluster-robust SEs need more units (the sum of the weights) than parameters";
    return false;
  }
  *factor = g / (g - 1.0) * (n - 1.0) / (n - k);
  if (why) {
    char text[200];
    std::snprintf(text, sizeof text,
                  "%zu clusters, N = %.10g units, K = %zu parameters, factor G/(G-1) (N-1)/(N-K) = %.10g",
                  groups.n_clusters, n, k_params, *factor);
    *why = text;
  }
  return true;
}

// One cluster's score vector u, kept sparse: add() sums into it and records the entries
// touched; add_outer_to() adds u u^T over those entries to the meat and clears u.
struct SparseScore {
  explicit SparseScore(std::size_t p) : u(p, 0.0), seen(p, 0) {}
  void add(std::size_t index, double value) {
    if (!seen[index]) {
      seen[index] = 1;
      touched.push_back(static_cast<Eigen::Index>(index));
    }
    u[index] += value;
  }
  void add_outer_to(Eigen::MatrixXd& meat) {
    for (const auto i : touched)
      for (const auto j : touched) meat(i, j) += u[static_cast<std::size_t>(i)] * u[static_cast<std::size_t>(j)];
    for (const auto i : touched) {
      u[static_cast<std::size_t>(i)] = 0.0;
      seen[static_cast<std::size_t>(i)] = 0;
    }
    touched.clear();
  }
  std::vector<double> u;
  std::vector<char> seen;
  std::vector<Eigen::Index> touched;
};

}  // namespace

bool bradley_terry_meat(const Comparisons& data, const double* theta, bool home, RobustCovariance kind,
                        std::size_t k_params, Eigen::MatrixXd* meat, std::string* why) {
  const std::size_t n = data.n_items();
  const std::size_t p = n + (home ? 1 : 0);
  const auto h_index = static_cast<Eigen::Index>(n);
  const double h = home ? theta[n] : 0.0;
  const bool flags = home && data.has_home_flags();
  *meat = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(p), static_cast<Eigen::Index>(p));
  auto residual = [&](std::size_t k) {
    const bool at_home = flags && data.at_home[k] != 0;
    return detail::sigmoid(detail::bt_margin(theta, data.a[k], data.b[k], h, at_home)) - data.y(k);
  };
  if (kind == RobustCovariance::hc0) {
    Eigen::MatrixXd& m = *meat;
    for (std::size_t k = 0; k < data.size(); ++k) {
      const double w = data.w(k);
      if (!(w > 0.0)) continue;
      const double r = residual(k);
      const double c = w * r * r;
      const auto a = static_cast<Eigen::Index>(data.a[k]), b = static_cast<Eigen::Index>(data.b[k]);
      m(a, a) += c;
      m(b, b) += c;
      m(a, b) -= c;
      m(b, a) -= c;
      if (flags && data.at_home[k] != 0) {
        m(h_index, h_index) += c;
        m(a, h_index) += c;
        m(h_index, a) += c;
        m(b, h_index) -= c;
        m(h_index, b) -= c;
      }
    }
    return true;
  }
  const ClusterGroups groups =
      group_by_cluster(data.cluster, data.size(), [&](std::size_t k) { return data.w(k); });
  double factor = 1.0;
  if (!cluster_factor(groups, k_params, &factor, why)) return false;
  SparseScore score_sum(p);
  for (std::size_t g = 0; g + 1 < groups.begin.size(); ++g) {
    if (groups.begin[g] == groups.begin[g + 1]) continue;
    for (std::size_t e = groups.begin[g]; e < groups.begin[g + 1]; ++e) {
      const std::size_t k = groups.order[e];
      const double score = data.w(k) * residual(k);
      score_sum.add(data.a[k], score);
      score_sum.add(data.b[k], -score);
      if (flags && data.at_home[k] != 0) score_sum.add(n, score);
    }
    score_sum.add_outer_to(*meat);
  }
  *meat *= factor;
  return true;
}

bool logistic_meat(const Rows& data, const double* theta, bool intercept, RobustCovariance kind,
                   std::size_t k_params, Eigen::MatrixXd* meat, std::string* why) {
  const std::size_t o = intercept ? 1 : 0;
  const std::size_t nf = data.n_features;
  const auto p = static_cast<Eigen::Index>(nf + o);
  const double b0 = intercept ? theta[0] : 0.0;
  const double* beta = theta + o;
  *meat = Eigen::MatrixXd::Zero(p, p);
  auto residual = [&](std::size_t i) {
    double eta = b0;
    if (!data.sparse) {
      const double* x = data.dense.data() + i * nf;
      for (std::size_t j = 0; j < nf; ++j) eta += x[j] * beta[j];
    } else {
      for (auto e = data.row_ptr[i]; e < data.row_ptr[i + 1]; ++e) eta += data.val[e] * beta[data.col[e]];
    }
    return detail::sigmoid(eta) - data.label[i];
  };
  constexpr std::size_t kBlock = 512;

  if (kind == RobustCovariance::hc0) {
    if (!data.sparse) {
      // B = X1^T diag(w r^2) X1, in blocks of rows: rankUpdate of (sqrt(w) |r| x1) rows.
      Eigen::MatrixXd block(static_cast<Eigen::Index>(kBlock), p);
      for (std::size_t begin = 0; begin < data.n_rows; begin += kBlock) {
        const std::size_t rows = std::min(kBlock, data.n_rows - begin);
        for (std::size_t t = 0; t < rows; ++t) {
          const std::size_t i = begin + t;
          const double w = data.w(i);
          const double root = w > 0.0 ? std::sqrt(w) * std::fabs(residual(i)) : 0.0;
          const auto row = static_cast<Eigen::Index>(t);
          if (o) block(row, 0) = root;
          const double* x = data.dense.data() + i * nf;
          for (std::size_t j = 0; j < nf; ++j) block(row, static_cast<Eigen::Index>(o + j)) = root * x[j];
        }
        meat->selfadjointView<Eigen::Lower>().rankUpdate(
            block.topRows(static_cast<Eigen::Index>(rows)).transpose());
      }
      meat->triangularView<Eigen::StrictlyUpper>() = meat->transpose();
      return true;
    }
    Eigen::MatrixXd& m = *meat;
    for (std::size_t i = 0; i < data.n_rows; ++i) {
      const double w = data.w(i);
      if (!(w > 0.0)) continue;
      const double r = residual(i);
      const double c = w * r * r;
      if (o) m(0, 0) += c;
      for (auto e = data.row_ptr[i]; e < data.row_ptr[i + 1]; ++e) {
        const auto j = static_cast<Eigen::Index>(o + data.col[e]);
        if (o) {
          m(0, j) += c * data.val[e];
          m(j, 0) += c * data.val[e];
        }
        for (auto f = data.row_ptr[i]; f < data.row_ptr[i + 1]; ++f)
          m(j, static_cast<Eigen::Index>(o + data.col[f])) += c * data.val[e] * data.val[f];
      }
    }
    return true;
  }

  const ClusterGroups groups =
      group_by_cluster(data.cluster, data.n_rows, [&](std::size_t i) { return data.w(i); });
  double factor = 1.0;
  if (!cluster_factor(groups, k_params, &factor, why)) return false;
  if (!data.sparse) {
    // Cluster score sums as rows of a block, rank-updated a block of clusters at a time.
    Eigen::MatrixXd block = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(kBlock), p);
    Eigen::Index filled = 0;
    auto flush = [&] {
      meat->selfadjointView<Eigen::Lower>().rankUpdate(block.topRows(filled).transpose());
      block.topRows(filled).setZero();
      filled = 0;
    };
    for (std::size_t g = 0; g + 1 < groups.begin.size(); ++g) {
      if (groups.begin[g] == groups.begin[g + 1]) continue;
      for (std::size_t e = groups.begin[g]; e < groups.begin[g + 1]; ++e) {
        const std::size_t i = groups.order[e];
        const double score = data.w(i) * residual(i);
        if (o) block(filled, 0) += score;
        const double* x = data.dense.data() + i * nf;
        for (std::size_t j = 0; j < nf; ++j) block(filled, static_cast<Eigen::Index>(o + j)) += score * x[j];
      }
      if (++filled == static_cast<Eigen::Index>(kBlock)) flush();
    }
    if (filled > 0) flush();
    meat->triangularView<Eigen::StrictlyUpper>() = meat->transpose();
  } else {
    SparseScore score_sum(static_cast<std::size_t>(p));
    for (std::size_t g = 0; g + 1 < groups.begin.size(); ++g) {
      if (groups.begin[g] == groups.begin[g + 1]) continue;
      for (std::size_t e = groups.begin[g]; e < groups.begin[g + 1]; ++e) {
        const std::size_t i = groups.order[e];
        const double score = data.w(i) * residual(i);
        if (o) score_sum.add(0, score);
        for (auto f = data.row_ptr[i]; f < data.row_ptr[i + 1]; ++f)
          score_sum.add(o + data.col[f], score * data.val[f]);
      }
      score_sum.add_outer_to(*meat);
    }
  }
  *meat *= factor;
  return true;
}

}  // namespace btfit
