// Firth's (1993) penalized likelihood for Bradley-Terry and logistic models (host/firth.cpp).
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <vector>

#include "btfit/data.h"
#include "btfit/optimize.h"

namespace btfit {

// The weakly connected groups of the comparison graph (rows of positive weight). An item that
// never plays is a group of its own.
struct ItemGroups {
  std::vector<std::uint32_t> group_of;  // n_items
  std::vector<std::size_t> size;        // per group
  std::size_t count() const { return size.size(); }
};
// row_weights: one weight per comparison, or nullptr for the data's own weights.
ItemGroups item_groups(const Comparisons& data, const double* row_weights);

// Orthonormal directions in which the Bradley-Terry likelihood is flat: per group, the unit
// vector 1/sqrt(n_g) on the group's items (0 on h). With `penalty`, only the groups none of
// whose items the penalty covers (a penalized direction is not flat). n_params x m.
Eigen::MatrixXd group_null_basis(const ItemGroups& groups, std::size_t n_params, const DiagonalPenalty* penalty);

// (H + B B^T)^-1 - B B^T for a Hessian H whose null space is spanned by the orthonormal
// columns of B: the Moore-Penrose pseudo-inverse (H^-1 when B has no columns). False, with a
// reason, when H is not positive definite on the complement of B.
bool invert_hessian_null_space(const Eigen::MatrixXd& hessian, const Eigen::MatrixXd& null_basis,
                               Eigen::MatrixXd* covariance, std::string* why);

struct FirthResult {
  OptimizerResult optimizer;
  double nll = 0.0;        // sum of the negative log-likelihood at the estimate
  double log_det = 0.0;    // log det of the identified Fisher information at the estimate
  double objective = 0.0;  // nll - log_det / 2 + penalty
  std::string failure;     // non-empty: the Fisher information is singular (no unique estimate)
};

// Minimizes  NLL(theta) - (1/2) log det I(theta) + penalty(theta)  by Fisher scoring on the
// adjusted score (Firth 1993; Kosmidis and Firth 2009): theta <- theta - (I + P)^-1 g, with step
// halving on the penalized objective. theta: the start on entry, the estimate on exit.
// row_weights: one per row or comparison, or nullptr for the data's weights.
//
// Bradley-Terry: I is the Laplacian (plus the home row and column) on the identified
// parameters: one reference item per group of `groups` removed, which only shifts log det by a
// constant (log det(I + B B^T) is used, B = group_null_basis(groups, p, nullptr)). Strengths in
// groups no penalty covers come out with mean zero in their group.
FirthResult firth_bradley_terry(const Comparisons& data, bool home_advantage, const double* row_weights,
                                const DiagonalPenalty& penalty, const ItemGroups& groups, double* theta,
                                const OptimizerSettings& settings);

// Logistic: I = X1^T diag(w p (1 - p)) X1, X1 = [1, X] with an intercept.
FirthResult firth_logistic(const Rows& data, bool intercept, const double* row_weights,
                           const DiagonalPenalty& penalty, double* theta, const OptimizerSettings& settings);

}  // namespace btfit
