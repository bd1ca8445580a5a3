// The uncertainty added to a fit after its model-based covariance: robust (sandwich) SEs,
// quasi-variances, Wald intervals and the covariance kept for saved models.
#pragma once

#include <Eigen/Dense>
#include <vector>

#include "btfit/data.h"
#include "btfit/fit.h"
#include "btfit/options.h"

namespace btfit {

// B of the sandwich H^-1 B H^-1 for a Bradley-Terry fit at theta (items [, h]), HC0 or
// cluster-robust (with statsmodels' correction; k_params = identified parameters). Returns
// false, with the reason in *message, when it cannot be formed (fewer than two clusters,
// N <= K); on success *message describes the cluster correction (empty for HC0).
bool bradley_terry_meat(const Comparisons& data, const double* theta, bool home, RobustCovariance kind,
                        std::size_t k_params, Eigen::MatrixXd* meat, std::string* message);
// The same for a logistic fit (intercept first when present).
bool logistic_meat(const Rows& data, const double* theta, bool intercept, RobustCovariance kind,
                   std::size_t k_params, Eigen::MatrixXd* meat, std::string* message);

// Fills the robust, quasi-variance, interval and covariance fields of a fit from the internal
// parameters theta (items mean-zero or as fitted, then h) and the model-based covariance
// (nullptr when there is none: above the dense limit, not requested or failed). Called last,
// after the reference shift of fit->strength.
void add_bradley_terry_uncertainty(const Comparisons& data, const std::vector<double>& theta,
                                   const Eigen::MatrixXd* covariance, bool penalized,
                                   const BradleyTerryOptions& options, BradleyTerryFit* fit);
void add_logistic_uncertainty(const Rows& data, const std::vector<double>& theta,
                              const Eigen::MatrixXd* covariance, const LogisticOptions& options,
                              LogisticFit* fit);

}  // namespace btfit
