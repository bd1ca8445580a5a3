// The shared per-comparison maths and the counter-based generator.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "btfit/detail/maths.h"
#include "btfit/detail/rng.h"

namespace btfit::detail {
namespace {

TEST(Maths, SoftplusIsStableAtExtremes) {
  EXPECT_DOUBLE_EQ(softplus(800.0), 800.0);
  EXPECT_GT(softplus(-800.0), -1.0);
  EXPECT_EQ(softplus(-800.0), 0.0);
  EXPECT_NEAR(softplus(0.0), std::log(2.0), 1e-16);
  EXPECT_NEAR(softplus(-40.0), std::exp(-40.0), 1e-30);
  for (double t : {-3.0, -0.5, 0.1, 2.0, 10.0}) EXPECT_NEAR(softplus(t), std::log1p(std::exp(t)), 1e-14);
}

TEST(Maths, SigmoidSymmetryAndRange) {
  for (double t : {-700.0, -30.0, -1.0, 0.0, 0.5, 30.0, 700.0}) {
    EXPECT_NEAR(sigmoid(t) + sigmoid(-t), 1.0, 1e-15);
    EXPECT_GE(sigmoid(t), 0.0);
    EXPECT_LE(sigmoid(t), 1.0);
  }
  EXPECT_GT(sigmoid(-700.0), 0.0);  // no underflow to 0 for representable values
}

TEST(Maths, BernoulliTermsAreDerivativesOfTheLoss) {
  for (double y : {0.0, 0.5, 1.0}) {
    for (double eta : {-5.0, -0.3, 0.0, 1.7, 20.0}) {
      const double w = 2.5;
      const auto t = bernoulli_terms(eta, y, w);
      const double h = 1e-5;
      const double fd1 = (bernoulli_value(eta + h, y, w) - bernoulli_value(eta - h, y, w)) / (2 * h);
      EXPECT_NEAR(t.residual, fd1, 1e-8);
      const double fd2 = (bernoulli_terms(eta + h, y, w).residual - bernoulli_terms(eta - h, y, w).residual) / (2 * h);
      EXPECT_NEAR(t.curvature, fd2, 1e-8);
      EXPECT_DOUBLE_EQ(t.value, bernoulli_value(eta, y, w));
    }
  }
}

TEST(Rng, UniformIsAFunctionOfItsKeys) {
  EXPECT_EQ(counter_uniform(7, 1, 123), counter_uniform(7, 1, 123));
  EXPECT_NE(counter_uniform(7, 1, 123), counter_uniform(7, 1, 124));
  EXPECT_NE(counter_uniform(7, 1, 123), counter_uniform(8, 1, 123));
  EXPECT_NE(counter_uniform(7, 1, 123), counter_uniform(7, 2, 123));
  double mean = 0.0;
  const int n = 200000;
  for (int k = 0; k < n; ++k) {
    const double u = counter_uniform(1, 0, static_cast<std::uint64_t>(k));
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    mean += u;
  }
  EXPECT_NEAR(mean / n, 0.5, 0.003);  // sd of the mean is 0.00065
}

TEST(Rng, PoissonHasTheRightMeanAndVariance) {
  for (double m : {0.5, 1.0, 3.0, 45.0}) {
    const int n = 100000;
    double s = 0.0, s2 = 0.0;
    for (int k = 0; k < n; ++k) {
      const double x = counter_poisson(m, 11, 5, static_cast<std::uint64_t>(k));
      s += x;
      s2 += x * x;
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    EXPECT_NEAR(mean, m, 5 * std::sqrt(m / n)) << "mean " << m;
    EXPECT_NEAR(var, m, 0.05 * m + 0.02) << "mean " << m;
  }
  EXPECT_EQ(counter_poisson(0.0, 1, 1, 1), 0u);
}

}  // namespace
}  // namespace btfit::detail
