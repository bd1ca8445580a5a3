// The Objective seam on the CPU: gradients and Hessian-vector products against central
// finite differences, the Hessian diagonal against H e_j, and batched evaluation against
// single evaluations; for both models, with weights, ties, home advantage, L2, priors and
// pseudo-comparisons.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "btfit/optimize.h"
#include "objective_cpu.h"

namespace btfit {
namespace {

Comparisons random_comparisons(std::size_t n_items, std::size_t n, bool weights, bool home, unsigned seed) {
  std::mt19937_64 rng(seed);
  Comparisons c;
  for (std::size_t i = 0; i < n_items; ++i) c.item_names.push_back("i" + std::to_string(i));
  std::uniform_int_distribution<std::uint32_t> item(0, static_cast<std::uint32_t>(n_items - 1));
  std::uniform_int_distribution<int> outcome(0, 2);
  std::uniform_real_distribution<double> w(0.1, 3.0);
  std::bernoulli_distribution at_home(0.7);
  for (std::size_t k = 0; k < n; ++k) {
    std::uint32_t a = item(rng), b = item(rng);
    while (b == a) b = item(rng);
    c.add(a, b, 0.5 * outcome(rng), weights ? w(rng) : 1.0, home && at_home(rng));
  }
  if (home && c.at_home.empty()) c.at_home.assign(c.size(), 0);
  return c;
}

Rows random_rows(std::size_t n, std::size_t p, bool sparse, bool weights, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 1.0);
  std::bernoulli_distribution coin(0.5), keep(0.3);
  std::uniform_real_distribution<double> w(0.2, 2.0);
  Rows r;
  r.n_rows = n;
  r.n_features = p;
  r.sparse = sparse;
  for (std::size_t j = 0; j < p; ++j) r.feature_names.push_back("x" + std::to_string(j));
  if (sparse) r.row_ptr.push_back(0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < p; ++j) {
      if (sparse) {
        if (keep(rng)) {
          r.col.push_back(static_cast<std::uint32_t>(j));
          r.val.push_back(z(rng));
        }
      } else {
        r.dense.push_back(z(rng));
      }
    }
    if (sparse) r.row_ptr.push_back(r.col.size());
    r.label.push_back(coin(rng) ? 1.0 : 0.0);
    if (weights) r.weight.push_back(w(rng));
  }
  return r;
}

std::vector<double> random_vector(std::size_t n, unsigned seed, double scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, scale);
  std::vector<double> v(n);
  for (double& x : v) x = z(rng);
  return v;
}

// Checks gradient, HVP and diagonal of `f` at theta by central differences.
void check_derivatives(Objective& f, const std::vector<double>& theta) {
  const std::size_t p = f.n_params();
  std::vector<double> g(p), g_plus(p), g_minus(p), scratch(p);
  const double h = 1e-5;
  // Gradient.
  for (std::size_t j = 0; j < p; ++j) {
    std::vector<double> tp = theta, tm = theta;
    tp[j] += h;
    tm[j] -= h;
    const double fd = (f.value_gradient(tp.data(), scratch.data()) - f.value_gradient(tm.data(), scratch.data())) / (2 * h);
    f.value_gradient(theta.data(), g.data());
    EXPECT_NEAR(g[j], fd, 1e-6 * std::max(1.0, std::fabs(fd))) << "gradient " << j;
  }
  // Hessian-vector product: (g(theta + h v) - g(theta - h v)) / 2h.
  const auto v = random_vector(p, 99, 1.0);
  std::vector<double> tp(theta), tm(theta);
  for (std::size_t j = 0; j < p; ++j) {
    tp[j] += h * v[j];
    tm[j] -= h * v[j];
  }
  f.value_gradient(tp.data(), g_plus.data());
  f.value_gradient(tm.data(), g_minus.data());
  f.value_gradient(theta.data(), g.data());
  std::vector<double> hv(p);
  f.hessian_vector(v.data(), hv.data());
  for (std::size_t j = 0; j < p; ++j) {
    const double fd = (g_plus[j] - g_minus[j]) / (2 * h);
    EXPECT_NEAR(hv[j], fd, 1e-6 * std::max(1.0, std::fabs(fd))) << "Hv " << j;
  }
  // Diagonal: e_j' H e_j.
  std::vector<double> diag(p), e(p, 0.0), he(p);
  f.hessian_diagonal(diag.data());
  for (std::size_t j = 0; j < p; ++j) {
    e.assign(p, 0.0);
    e[j] = 1.0;
    f.hessian_vector(e.data(), he.data());
    EXPECT_NEAR(diag[j], he[j], 1e-12 * std::max(1.0, std::fabs(he[j]))) << "diag " << j;
  }
}

void check_batch(Objective& f, std::size_t k) {
  const std::size_t p = f.n_params();
  std::vector<double> thetas = random_vector(p * k, 7, 0.8);
  std::vector<double> values(k), grads(p * k);
  f.value_gradient_batch(thetas.data(), k, values.data(), grads.data());
  std::vector<double> g(p);
  for (std::size_t i = 0; i < k; ++i) {
    const double v = f.value_gradient(thetas.data() + i * p, g.data());
    EXPECT_NEAR(values[i], v, 1e-11 * std::fabs(v)) << "value " << i;
    for (std::size_t j = 0; j < p; ++j)
      EXPECT_NEAR(grads[i * p + j], g[j], 1e-10 * std::max(1.0, std::fabs(g[j]))) << "vector " << i << " param " << j;
  }
}

struct BtCase {
  bool weights;
  bool home;
  double l2;
  double pseudo;
  bool prior;
  int threads;
};

class BradleyTerrySeam : public ::testing::TestWithParam<BtCase> {};

TEST_P(BradleyTerrySeam, DerivativesAndBatchMatch) {
  const BtCase c = GetParam();
  const Comparisons data = random_comparisons(9, 301, c.weights, c.home, 42);
  BradleyTerryCpuObjective nll(data, c.home, c.threads);
  DiagonalPenalty penalty(nll.n_params());
  for (std::size_t i = 0; i < 9; ++i) {
    penalty.l2[i] = c.l2;
    penalty.pseudo[i] = c.pseudo;
  }
  if (c.prior) {
    penalty.prior_mean[2] = 0.4;
    penalty.prior_precision[2] = 4.0;
    if (c.home) {
      penalty.prior_mean[9] = 0.1;
      penalty.prior_precision[9] = 1.0;
    }
  }
  PenalizedObjective f(nll, penalty);
  check_derivatives(f, random_vector(f.n_params(), 3, 0.7));
  check_batch(f, 1);
  check_batch(f, 5);
}

INSTANTIATE_TEST_SUITE_P(Cases, BradleyTerrySeam,
                         ::testing::Values(BtCase{false, false, 0.0, 0.0, false, 1},
                                           BtCase{true, false, 0.0, 0.0, false, 2},
                                           BtCase{true, true, 0.0, 0.0, false, 2},
                                           BtCase{true, true, 1.5, 0.0, true, 2},
                                           BtCase{false, false, 0.0, 1.0, false, 3},
                                           BtCase{true, true, 0.3, 0.5, true, 1}));

struct RowCase {
  bool sparse;
  bool weights;
  bool intercept;
  double l2;
  bool prior;
  int threads;
};

class LogisticSeam : public ::testing::TestWithParam<RowCase> {};

TEST_P(LogisticSeam, DerivativesAndBatchMatch) {
  const RowCase c = GetParam();
  const Rows data = random_rows(613, 6, c.sparse, c.weights, 5);
  LogisticCpuObjective nll(data, c.intercept, c.threads);
  DiagonalPenalty penalty(nll.n_params());
  for (std::size_t j = c.intercept ? 1 : 0; j < nll.n_params(); ++j) penalty.l2[j] = c.l2;
  if (c.prior) {
    penalty.prior_mean[0] = -0.5;
    penalty.prior_precision[0] = 2.0;
  }
  PenalizedObjective f(nll, penalty);
  check_derivatives(f, random_vector(f.n_params(), 4, 0.4));
  check_batch(f, 1);
  check_batch(f, 4);
}

INSTANTIATE_TEST_SUITE_P(Cases, LogisticSeam,
                         ::testing::Values(RowCase{false, false, true, 0.0, false, 1},
                                           RowCase{false, true, true, 2.0, true, 2},
                                           RowCase{true, false, true, 0.0, false, 2},
                                           RowCase{true, true, false, 0.5, true, 3},
                                           RowCase{false, true, false, 0.0, false, 2}));

TEST(Seam, ResultsDoNotDependOnThreadCountBeyondRounding) {
  const Comparisons data = random_comparisons(50, 5000, true, false, 8);
  BradleyTerryCpuObjective one(data, false, 1), two(data, false, 2);
  const auto theta = random_vector(50, 1, 1.0);
  std::vector<double> g1(50), g2(50);
  const double v1 = one.value_gradient(theta.data(), g1.data());
  const double v2 = two.value_gradient(theta.data(), g2.data());
  EXPECT_NEAR(v1, v2, 1e-12 * v1);
  for (std::size_t j = 0; j < 50; ++j) EXPECT_NEAR(g1[j], g2[j], 1e-10);
}

TEST(Seam, PassesAreCounted) {
  const Comparisons data = random_comparisons(5, 40, false, false, 1);
  BradleyTerryCpuObjective f(data, false, 1);
  std::vector<double> theta(5, 0.0), g(5), thetas(15, 0.0), values(3), grads(15);
  f.value_gradient(theta.data(), g.data());
  f.hessian_vector(theta.data(), g.data());
  f.value_gradient_batch(thetas.data(), 3, values.data(), grads.data());
  EXPECT_EQ(f.passes(), 3u);
}

}  // namespace
}  // namespace btfit
