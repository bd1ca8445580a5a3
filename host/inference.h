// Dense Hessians at the optimum and the covariance matrices built from them.
#pragma once

#include <Eigen/Dense>
#include <string>

#include "btfit/data.h"

namespace btfit {

// Hessian of the Bradley-Terry NLL at theta (n_items [+ 1] square): the weighted graph
// Laplacian sum_k w_k p_k (1 - p_k) x_k x_k^T, x_k = e_a - e_b (+ e_h at home).
Eigen::MatrixXd bradley_terry_hessian(const Comparisons& data, const double* theta, bool home);

// Hessian of the logistic NLL at theta: X1^T D X1, X1 = [1, X] with an intercept.
Eigen::MatrixXd logistic_hessian(const Rows& data, const double* theta, bool intercept);

// Covariance from a Hessian. With `null_direction` non-empty (a unit vector spanning the
// null space of a singular H), the Moore-Penrose pseudo-inverse
//   H^+ = (H + u u^T)^-1 - u u^T ;
// otherwise H^-1. Returns false (and says why) when H is not positive definite.
bool invert_hessian(const Eigen::MatrixXd& hessian, const Eigen::VectorXd& null_direction,
                    Eigen::MatrixXd* covariance, std::string* why);

}  // namespace btfit
